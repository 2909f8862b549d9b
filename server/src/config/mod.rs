//! Runtime configuration.
//!
//! One file, `Leptos.toml` by default, holds both halves: the `[livechart.*]` tables are ours,
//! and `[package.metadata.leptos]` (last in the file: Leptos reads from its header to the end)
//! holds the site settings. `LEPTOS_*` environment variables override the Leptos half (that is
//! how `cargo leptos` passes its settings), `LIVECHART_*` ones override ours. Everything is
//! validated before the server starts; an error names the key and where it came from.

mod duration;
mod env;
mod open_files;
mod secret;
mod validate;

use crate::hub::store::Durability;
use app::model::StreamName;
pub use duration::Duration;
pub use env::{apply_env, ENV_OVERRIDES};
use leptos::config::LeptosOptions;
use open_files::open_file_limit;
pub use open_files::raise_open_file_limit;
pub use secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file read when none is given.
pub const DEFAULT_FILE: &str = "Leptos.toml";

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub leptos: LeptosOptions,
    pub settings: Settings,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub demo: DemoSettings,
    pub sse: SseSettings,
    pub history: HistorySettings,
    pub streams: StreamSettings,
    pub ingest: IngestSettings,
    pub limits: LimitSettings,
    pub connections: ConnectionSettings,
    pub auth: AuthSettings,
    pub shutdown: ShutdownSettings,
    pub tasks: TaskSettings,
    pub system: SystemSettings,
    pub classic: ClassicSettings,
    pub redis: RedisSettings,
    pub mqtt: MqttSettings,
}

/// Subscriptions to an MQTT broker (off while `url` is empty).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MqttSettings {
    /// `mqtt://host[:1883]` or `mqtts://host[:8883]`; empty: no MQTT.
    pub url: String,
    /// The client id: the broker keeps this client's session (subscriptions, messages not
    /// yet acknowledged) under it across reconnections. Empty: one made from the machine's
    /// name and the data directory (`mqtt::default_client_id`).
    pub client_id: String,
    pub username: String,
    pub password: Secret,
    /// A PEM file of the CA that signed the broker's certificate (mqtts with a private CA);
    /// the system's roots are trusted too.
    pub ca_cert: Option<PathBuf>,
    /// Topic filters and how their topics become streams (README, "MQTT").
    pub subscribe: Vec<MqttSubscription>,
}

/// One topic filter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MqttSubscription {
    /// `robot/#`, `lab/+/temp`, …
    pub filter: String,
    /// Every message of this filter goes to this stream (default: from the topic).
    #[serde(default)]
    pub stream: Option<StreamName>,
}

impl MqttSettings {
    pub fn is_enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// The broker's address from `url`: TLS or not, host, port.
    pub fn address(&self) -> Result<(bool, String, u16), String> {
        let (tls, rest) = if let Some(rest) = self.url.strip_prefix("mqtt://") {
            (false, rest)
        } else if let Some(rest) = self.url.strip_prefix("mqtts://") {
            (true, rest)
        } else {
            return Err("must start with mqtt:// or mqtts://".to_owned());
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '@', '?', '#', ' ']) {
            return Err(
                "must be mqtt://host[:port] (credentials go in username and password)".to_owned(),
            );
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port =
                    port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("port {port:?} is not a port number (1 to 65535)")
                    })?;
                (host, port)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("has no host".to_owned());
        }
        Ok((tls, host.to_owned(), port))
    }
}

/// Why `filter` is not an MQTT topic filter (`#` only last and alone in its level, `+` alone
/// in its level), if it is not.
pub fn filter_problem(filter: &str) -> Option<String> {
    if filter.is_empty() || filter.len() > 1024 {
        return Some("must be 1 to 1024 bytes long".to_owned());
    }
    if filter.contains(char::is_control) {
        return Some("must not hold control characters".to_owned());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Some("`#` must be a whole level, and the last".to_owned());
        }
        if level.contains('+') && *level != "+" {
            return Some("`+` must be a whole level".to_owned());
        }
    }
    None
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSettings")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("ca_cert", &self.ca_cert)
            .field("subscribe", &self.subscribe)
            .finish_non_exhaustive()
    }
}

/// Where the nodes of a cluster share their streams (`history.store = "redis"`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db` or `redis+unix:///path/to/socket?db=N`.
    pub url: String,
    /// Every key this cluster uses starts with this and a colon: several clusters (or other
    /// applications) can share one Redis.
    pub prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            prefix: "livechart".to_owned(),
        }
    }
}

impl RedisSettings {
    /// The URL without its password, for logs and errors.
    pub fn shown_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***{}", &self.url[..scheme], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.shown_url())
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Simulated long-running tasks (`POST /api/tasks`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TaskSettings {
    /// Defaults for a task started without a body.
    pub duration_ms: u64,
    pub steps: u32,
    /// The most a request may ask for.
    pub max_duration_ms: u64,
    pub max_steps: u32,
    /// Tasks running at once; more are refused (429 too_many_tasks).
    pub max_running: usize,
    /// Starts allowed per minute, in bursts of up to `burst` (429 rate_limited).
    pub per_minute: u32,
    pub burst: u32,
    /// How long a finished task nobody watched is kept for a late viewer.
    pub linger_ms: u64,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            duration_ms: 10_000,
            steps: 20,
            max_duration_ms: 3_600_000,
            max_steps: 10_000,
            max_running: 16,
            per_minute: 30,
            burst: 10,
            linger_ms: 30_000,
        }
    }
}

/// The built-in source of this machine's CPU and memory use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemSettings {
    pub enabled: bool,
    pub stream: StreamName,
    pub interval_ms: u64,
    /// One series per core besides the total (as many as the stream's series limit allows).
    pub per_core: bool,
}

impl Default for SystemSettings {
    fn default() -> Self {
        SystemSettings {
            enabled: true,
            stream: StreamName::parse("system").expect("'system' is a valid stream name"),
            interval_ms: 1000,
            per_core: true,
        }
    }
}

/// The classic two-event-types demo: a `counter` and a `time` series on one stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClassicSettings {
    pub enabled: bool,
    pub stream: StreamName,
}

impl Default for ClassicSettings {
    fn default() -> Self {
        ClassicSettings {
            enabled: true,
            stream: StreamName::parse("classic").expect("'classic' is a valid stream name"),
        }
    }
}

/// The built-in demo source: a random value once per interval.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DemoSettings {
    pub enabled: bool,
    pub stream: StreamName,
    pub interval_ms: u64,
    pub min: f64,
    pub max: f64,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            enabled: true,
            stream: StreamName::parse("demo").expect("'demo' is a valid stream name"),
            interval_ms: 1000,
            min: 0.0,
            max: 100.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SseSettings {
    /// Sent once as `retry:`: how long a browser waits before reconnecting.
    pub retry_ms: u64,
    /// A comment is sent after this long without events, so idle connections stay open.
    pub keep_alive_ms: u64,
    /// A connection is closed after about this long (0: never); the browser reconnects and
    /// resumes without a gap. Keeps load balanced and long-lived proxies honest.
    pub max_connection_ms: u64,
}

impl Default for SseSettings {
    fn default() -> Self {
        SseSettings {
            retry_ms: 2000,
            keep_alive_ms: 15_000,
            max_connection_ms: 3_600_000,
        }
    }
}

/// What each stream remembers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HistorySettings {
    /// Recent events kept for resuming viewers; a viewer further behind is reset.
    pub ring_events: usize,
    /// The most bytes those events may take per stream (the oldest go first).
    pub ring_bytes: usize,
    /// Points per series in the snapshot a new viewer (and the first paint) gets.
    pub window: usize,
    /// How far back each stream keeps every point for the range query, by the stream's own
    /// clock (its newest point's time): `"1h"`, `"15m"`, … or milliseconds.
    pub retention: Duration,
    /// The most bytes a stream's retained points may take (16 a point), in memory and in the
    /// store; the oldest go first.
    pub retention_bytes: usize,
    /// Where the history lives between runs.
    pub store: StoreKind,
    /// The embedded store's directory (created when missing). `--data-dir` and
    /// `LIVECHART_DATA_DIR` override it.
    pub data_dir: PathBuf,
    /// How hard each commit of the embedded store works to survive a machine crash.
    pub durability: Durability,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            ring_events: 1024,
            ring_bytes: 8 << 20,
            window: 500,
            retention: Duration(3_600_000),
            retention_bytes: 16 << 20,
            store: StoreKind::Embedded,
            data_dir: PathBuf::from("data"),
            durability: Durability::Commit,
        }
    }
}

/// Which store keeps the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// A file in the data directory: history survives restarts (the default).
    Embedded,
    /// Nothing is kept: history lasts as long as the process.
    Memory,
    /// Redis Streams, shared by every server pointed at the same Redis (`[livechart.redis]`).
    Redis,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamSettings {
    /// Whether publishing to an unknown stream creates it (otherwise: 404).
    pub auto_create: bool,
    /// The most streams the server holds.
    pub max: usize,
    /// The most series one stream may have.
    pub max_series: usize,
    /// Streams that exist from the start, whether or not anyone publishes.
    pub declared: Vec<StreamName>,
    /// A stream nobody published to or watched for this long is deleted (0: never). Declared
    /// streams and those of the built-in sources stay.
    pub idle_expiry_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            auto_create: true,
            max: 100,
            max_series: 16,
            declared: Vec::new(),
            idle_expiry_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestSettings {
    /// The largest request body accepted by `POST /api/streams/{name}/points`.
    pub max_body_bytes: usize,
    /// The most points in one request.
    pub max_points: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            max_body_bytes: 1 << 20,
            max_points: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitSettings {
    /// The most event-stream connections at once; more get 503 with `Retry-After`.
    pub max_viewers: usize,
    /// The most streams one multiplexed connection (`/api/events?streams=`) follows.
    pub max_streams_per_connection: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_viewers: 10_000,
            max_streams_per_connection: 32,
        }
    }
}

/// What any one connection may cost: how many are open at once, and how long each may keep
/// the server waiting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectionSettings {
    /// Open connections at once; more are refused with a short 503. 0: the process's
    /// open-file limit less 64 (a larger value is lowered to that too).
    pub max: usize,
    /// A request head must arrive within this long (from connecting, or from its first byte
    /// on a kept-alive connection).
    pub head_timeout_ms: u64,
    /// A kept-alive connection with no request in flight is closed after this long.
    pub idle_timeout_ms: u64,
    /// A write the client takes nothing of for this long ends the connection (and frees a
    /// viewer's slot).
    pub write_timeout_ms: u64,
    /// A request body gets this long, plus one second per `min-body-rate` bytes received.
    pub body_timeout_ms: u64,
    /// Bytes per second a request body must average after `body-timeout-ms`.
    pub min_body_rate: u64,
    /// Open connections at once from one client address. 0: half of the connection limit,
    /// for every address but loopback ones (a reverse proxy on this machine carries every
    /// client); a number: that many for every address, loopback included.
    pub max_per_client: usize,
    /// A range answer (`GET /api/streams/{name}/points`, JSON or CSV) must be taken whole
    /// within this long: its connection ends then, and the query place it held is free.
    pub answer_timeout_ms: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max: 0,
            head_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            write_timeout_ms: 30_000,
            body_timeout_ms: 10_000,
            answer_timeout_ms: 60_000,
            max_per_client: 0,
            min_body_rate: 1024,
        }
    }
}

impl ConnectionSettings {
    /// The connections allowed at once: `max`, kept below the process's open-file limit
    /// (64 files are left for everything else), and at least 16.
    pub fn effective_max(&self) -> usize {
        let room = open_file_limit().map_or(usize::MAX, |n| n.saturating_sub(64));
        match self.max {
            0 => room,
            n => n.min(room),
        }
        .max(16)
    }

    /// One client address's share of the connections, and whether loopback addresses are
    /// held to it.
    pub fn client_share(&self) -> (usize, bool) {
        match self.max_per_client {
            0 => ((self.effective_max() / 2).max(1), false),
            n => (n, true),
        }
    }
}

/// Optional bearer tokens. Empty means open.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthSettings {
    /// Required to publish (`Authorization: Bearer <token>`).
    pub publish_token: Secret,
    /// Required to view pages and event streams.
    pub view_token: Secret,
    /// The host names this server answers to (the `Host` header, or HTTP/2's authority,
    /// without its port); a name starting with `.` also allows its subdomains. Empty: any,
    /// which a page on another site can use through DNS rebinding (see `origin.rs`).
    pub allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("publish_token", &self.publish_token)
            .field("view_token", &self.view_token)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShutdownSettings {
    /// After SIGTERM/Ctrl-C, how long open connections get to finish before the process exits.
    pub grace_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        ShutdownSettings { grace_ms: 5000 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: the [package.metadata.leptos] section is invalid: {message}")]
    Leptos { path: PathBuf, message: String },
    #[error("the Leptos settings (built-in defaults with LEPTOS_* from the environment) are invalid: {message}")]
    Defaults { message: String },
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        var: &'static str,
        value: String,
        message: String,
    },
    #[error("invalid configuration ({origin}):\n  - {}", problems.join("\n  - "))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

/// The Leptos settings of a server started without a configuration file (a deployed binary
/// alone in its directory); `LEPTOS_*` variables override them, as they do a file's.
const BUILT_IN_LEPTOS: &str = r#"[package.metadata.leptos]
output-name = "livechart"
site-root = "site"
site-pkg-dir = "pkg"
site-addr = "127.0.0.1:3000"
reload-port = 3001
"#;

/// Loads the configuration from `explicit`, or from `Leptos.toml` in the working directory
/// when it exists, then applies the environment overrides and validates the result.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let default = Path::new(DEFAULT_FILE);
    let path = explicit.or_else(|| default.exists().then_some(default));
    let (leptos, mut settings, origin) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let settings = parse_settings(&text).map_err(|message| ConfigError::Syntax {
                path: path.to_owned(),
                message,
            })?;
            // A file with only `[livechart.*]` tables (what a user given the binary alone
            // writes) takes the built-in Leptos settings, as a start without a file does.
            let leptos = match leptos::config::get_config_from_str(&text) {
                Err(leptos::config::errors::LeptosConfigError::ConfigSectionNotFound) => {
                    built_in_leptos()?
                }
                leptos => leptos.map_err(|e| ConfigError::Leptos {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?,
            };
            (leptos, settings, path.display().to_string())
        }
        None => (
            built_in_leptos()?,
            Settings::default(),
            "built-in defaults".to_owned(),
        ),
    };
    let from_env = apply_env(&mut settings, |var| std::env::var(var).ok())?;
    settings
        .validate()
        .map_err(|problems| ConfigError::Invalid {
            origin: if from_env.is_empty() {
                origin
            } else {
                format!("{origin}, and the environment")
            },
            problems: problems
                .into_iter()
                .map(|p| env::name_the_source(p, &from_env))
                .collect(),
        })?;
    Ok(Config { leptos, settings })
}

fn built_in_leptos() -> Result<LeptosOptions, ConfigError> {
    leptos::config::get_config_from_str(BUILT_IN_LEPTOS).map_err(|e| ConfigError::Defaults {
        message: e.to_string(),
    })
}

/// Reads the `[livechart]` tables of a configuration file; other tables are Leptos' business.
pub fn parse_settings(text: &str) -> Result<Settings, String> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        livechart: Settings,
    }
    toml::from_str::<File>(text)
        .map(|f| f.livechart)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
