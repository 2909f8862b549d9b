//! Runtime configuration.
//!
//! One file, `Leptos.toml` by default, holds both halves: the `[livechart.*]` tables are ours,
//! and `[package.metadata.leptos]` (last in the file: Leptos reads from its header to the end)
//! holds the site settings. `LEPTOS_*` environment variables override the Leptos half (that is
//! how `cargo leptos` passes its settings), `LIVECHART_*` ones override ours. Everything is
//! validated before the server starts; an error names the key and where it came from.

use crate::hub::store::Durability;
use app::model::StreamName;
use leptos::config::LeptosOptions;
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
    /// Where the history lives between runs.
    pub store: StoreKind,
    /// The embedded store's directory (created when missing). `--data-dir` and
    /// `LIVECHART_DATA_DIR` override it.
    pub data_dir: PathBuf,
    /// How hard each commit of the embedded store works to survive a machine crash.
    pub durability: Durability,
}

/// Which store keeps the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// A file in the data directory: history survives restarts (the default).
    Embedded,
    /// Nothing is kept: history lasts as long as the process.
    Memory,
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestSettings {
    /// The largest request body accepted by `POST /api/streams/{name}/points`.
    pub max_body_bytes: usize,
    /// The most points in one request.
    pub max_points: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitSettings {
    /// The most event-stream connections at once; more get 503 with `Retry-After`.
    pub max_viewers: usize,
    /// The most streams one multiplexed connection (`/api/events?streams=`) follows.
    pub max_streams_per_connection: usize,
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
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max: 0,
            head_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            write_timeout_ms: 30_000,
            body_timeout_ms: 10_000,
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
}

/// The soft limit on open files of this process, when it has one.
fn open_file_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY)
            .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    None
}

/// Optional bearer tokens. Empty means open.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthSettings {
    /// Required to publish (`Authorization: Bearer <token>`).
    pub publish_token: Secret,
    /// Required to view pages and event streams.
    pub view_token: Secret,
}

/// A token: compared in constant time, never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(token: &str) -> Self {
        Secret(token.to_owned())
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether `given` is this token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn problem(&self) -> Option<&'static str> {
        let t = &self.0;
        if t.is_empty() {
            None
        } else if t.len() < 16 || t.len() > 512 {
            Some("must be 16 to 512 characters long")
        } else if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b))
        {
            Some("may only use letters, digits and . _ ~ + / = -")
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "Secret(***)"
        } else {
            "Secret(unset)"
        })
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("publish_token", &self.publish_token)
            .field("view_token", &self.view_token)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShutdownSettings {
    /// After SIGTERM/Ctrl-C, how long open connections get to finish before the process exits.
    pub grace_ms: u64,
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

impl Default for SseSettings {
    fn default() -> Self {
        SseSettings {
            retry_ms: 2000,
            keep_alive_ms: 15_000,
            max_connection_ms: 3_600_000,
        }
    }
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            ring_events: 1024,
            ring_bytes: 8 << 20,
            window: 500,
            store: StoreKind::Embedded,
            data_dir: PathBuf::from("data"),
            durability: Durability::Commit,
        }
    }
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

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            max_body_bytes: 1 << 20,
            max_points: 10_000,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_viewers: 10_000,
            max_streams_per_connection: 32,
        }
    }
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
    #[error("no {DEFAULT_FILE} in the working directory and LEPTOS_OUTPUT_NAME is not set: pass --config FILE (or set LIVECHART_CONFIG); the Leptos settings from the environment failed with: {message}")]
    NoFile { message: String },
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
            let leptos =
                leptos::config::get_config_from_str(&text).map_err(|e| ConfigError::Leptos {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
            (leptos, settings, path.display().to_string())
        }
        None => {
            let leptos = leptos::config::get_configuration(None)
                .map_err(|e| ConfigError::NoFile {
                    message: e.to_string(),
                })?
                .leptos_options;
            (leptos, Settings::default(), "built-in defaults".to_owned())
        }
    };
    apply_env(&mut settings, |var| std::env::var(var).ok())?;
    settings
        .validate()
        .map_err(|problems| ConfigError::Invalid { origin, problems })?;
    Ok(Config { leptos, settings })
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

type Apply = fn(&mut Settings, &str) -> Result<(), String>;

/// Every `LIVECHART_*` override, and the key it sets.
pub const ENV_OVERRIDES: &[(&str, Apply)] = &[
    ("LIVECHART_DEMO_ENABLED", |s, v| {
        parse_bool(v).map(|b| s.demo.enabled = b)
    }),
    ("LIVECHART_DEMO_STREAM", |s, v| {
        StreamName::parse(v)
            .map(|n| s.demo.stream = n)
            .map_err(|e| e.to_string())
    }),
    ("LIVECHART_DEMO_INTERVAL_MS", |s, v| {
        parse_whole(v).map(|n| s.demo.interval_ms = n)
    }),
    ("LIVECHART_SSE_RETRY_MS", |s, v| {
        parse_whole(v).map(|n| s.sse.retry_ms = n)
    }),
    ("LIVECHART_SSE_KEEP_ALIVE_MS", |s, v| {
        parse_whole(v).map(|n| s.sse.keep_alive_ms = n)
    }),
    ("LIVECHART_SSE_MAX_CONNECTION_MS", |s, v| {
        parse_whole(v).map(|n| s.sse.max_connection_ms = n)
    }),
    ("LIVECHART_HISTORY_RING_EVENTS", |s, v| {
        parse_whole(v).map(|n| s.history.ring_events = n)
    }),
    ("LIVECHART_HISTORY_RING_BYTES", |s, v| {
        parse_whole(v).map(|n| s.history.ring_bytes = n)
    }),
    ("LIVECHART_HISTORY_WINDOW", |s, v| {
        parse_whole(v).map(|n| s.history.window = n)
    }),
    ("LIVECHART_HISTORY_STORE", |s, v| {
        parse_word(v).map(|k| s.history.store = k)
    }),
    ("LIVECHART_HISTORY_DATA_DIR", |s, v| {
        parse_dir(v).map(|d| s.history.data_dir = d)
    }),
    // The short name the README gives (and `--data-dir` reads): wins over the one above.
    ("LIVECHART_DATA_DIR", |s, v| {
        parse_dir(v).map(|d| s.history.data_dir = d)
    }),
    ("LIVECHART_HISTORY_DURABILITY", |s, v| {
        parse_word(v).map(|d| s.history.durability = d)
    }),
    ("LIVECHART_STREAMS_AUTO_CREATE", |s, v| {
        parse_bool(v).map(|b| s.streams.auto_create = b)
    }),
    ("LIVECHART_STREAMS_MAX", |s, v| {
        parse_whole(v).map(|n| s.streams.max = n)
    }),
    ("LIVECHART_STREAMS_MAX_SERIES", |s, v| {
        parse_whole(v).map(|n| s.streams.max_series = n)
    }),
    ("LIVECHART_STREAMS_DECLARED", |s, v| {
        v.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| StreamName::parse(n).map_err(|e| format!("stream {n:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(|names| s.streams.declared = names)
    }),
    ("LIVECHART_STREAMS_IDLE_EXPIRY_MS", |s, v| {
        parse_whole(v).map(|n| s.streams.idle_expiry_ms = n)
    }),
    ("LIVECHART_CONNECTIONS_MAX", |s, v| {
        parse_whole(v).map(|n| s.connections.max = n)
    }),
    ("LIVECHART_CONNECTIONS_HEAD_TIMEOUT_MS", |s, v| {
        parse_whole(v).map(|n| s.connections.head_timeout_ms = n)
    }),
    ("LIVECHART_CONNECTIONS_IDLE_TIMEOUT_MS", |s, v| {
        parse_whole(v).map(|n| s.connections.idle_timeout_ms = n)
    }),
    ("LIVECHART_CONNECTIONS_WRITE_TIMEOUT_MS", |s, v| {
        parse_whole(v).map(|n| s.connections.write_timeout_ms = n)
    }),
    ("LIVECHART_CONNECTIONS_BODY_TIMEOUT_MS", |s, v| {
        parse_whole(v).map(|n| s.connections.body_timeout_ms = n)
    }),
    ("LIVECHART_CONNECTIONS_MIN_BODY_RATE", |s, v| {
        parse_whole(v).map(|n| s.connections.min_body_rate = n)
    }),
    ("LIVECHART_INGEST_MAX_BODY_BYTES", |s, v| {
        parse_whole(v).map(|n| s.ingest.max_body_bytes = n)
    }),
    ("LIVECHART_INGEST_MAX_POINTS", |s, v| {
        parse_whole(v).map(|n| s.ingest.max_points = n)
    }),
    ("LIVECHART_LIMITS_MAX_VIEWERS", |s, v| {
        parse_whole(v).map(|n| s.limits.max_viewers = n)
    }),
    ("LIVECHART_LIMITS_MAX_STREAMS_PER_CONNECTION", |s, v| {
        parse_whole(v).map(|n| s.limits.max_streams_per_connection = n)
    }),
    ("LIVECHART_AUTH_PUBLISH_TOKEN", |s, v| {
        s.auth.publish_token = Secret::new(v);
        Ok(())
    }),
    ("LIVECHART_AUTH_VIEW_TOKEN", |s, v| {
        s.auth.view_token = Secret::new(v);
        Ok(())
    }),
    ("LIVECHART_TASKS_DURATION_MS", |s, v| {
        parse_whole(v).map(|n| s.tasks.duration_ms = n)
    }),
    ("LIVECHART_TASKS_STEPS", |s, v| {
        parse_whole(v).map(|n| s.tasks.steps = n)
    }),
    ("LIVECHART_TASKS_MAX_RUNNING", |s, v| {
        parse_whole(v).map(|n| s.tasks.max_running = n)
    }),
    ("LIVECHART_TASKS_PER_MINUTE", |s, v| {
        parse_whole(v).map(|n| s.tasks.per_minute = n)
    }),
    ("LIVECHART_TASKS_BURST", |s, v| {
        parse_whole(v).map(|n| s.tasks.burst = n)
    }),
    ("LIVECHART_TASKS_LINGER_MS", |s, v| {
        parse_whole(v).map(|n| s.tasks.linger_ms = n)
    }),
    ("LIVECHART_SYSTEM_ENABLED", |s, v| {
        parse_bool(v).map(|b| s.system.enabled = b)
    }),
    ("LIVECHART_SYSTEM_INTERVAL_MS", |s, v| {
        parse_whole(v).map(|n| s.system.interval_ms = n)
    }),
    ("LIVECHART_SYSTEM_PER_CORE", |s, v| {
        parse_bool(v).map(|b| s.system.per_core = b)
    }),
    ("LIVECHART_CLASSIC_ENABLED", |s, v| {
        parse_bool(v).map(|b| s.classic.enabled = b)
    }),
    ("LIVECHART_SHUTDOWN_GRACE_MS", |s, v| {
        parse_whole(v).map(|n| s.shutdown.grace_ms = n)
    }),
];

/// Applies the overrides that `lookup` finds; nothing is applied unless all of them parse.
pub fn apply_env(
    settings: &mut Settings,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let mut next = settings.clone();
    for (var, apply) in ENV_OVERRIDES {
        if let Some(value) = lookup(var) {
            apply(&mut next, value.trim()).map_err(|message| ConfigError::Env {
                var,
                // A token's value is never repeated back.
                value: if var.ends_with("_TOKEN") {
                    "***".to_owned()
                } else {
                    value.clone()
                },
                message,
            })?;
        }
    }
    *settings = next;
    Ok(())
}

/// A whole non-negative number (`u64` for durations, `usize` for sizes and counts).
fn parse_whole<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| "expected a whole non-negative number".to_owned())
}

/// One of an enum's words, as the configuration file spells them.
fn parse_word<T: serde::de::DeserializeOwned>(v: &str) -> Result<T, String> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(v))
        .map_err(|e| e.to_string())
}

fn parse_dir(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("expected a directory, got nothing".to_owned());
    }
    Ok(PathBuf::from(v))
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

impl Settings {
    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.history.data_dir.as_os_str().is_empty() {
            problems.push("livechart.history.data-dir = \"\": must name a directory".to_owned());
        }
        let mut range = |key: &str, value: u64, lo: u64, hi: u64| {
            if !(lo..=hi).contains(&value) {
                problems.push(format!("livechart.{key} = {value}: must be {lo} to {hi}"));
            }
        };
        range("demo.interval-ms", self.demo.interval_ms, 1, 86_400_000);
        range("sse.retry-ms", self.sse.retry_ms, 100, 600_000);
        range("sse.keep-alive-ms", self.sse.keep_alive_ms, 100, 3_600_000);
        if self.sse.max_connection_ms != 0 {
            range(
                "sse.max-connection-ms",
                self.sse.max_connection_ms,
                1000,
                604_800_000,
            );
        }
        let h = &self.history;
        range("history.ring-events", h.ring_events as u64, 16, 1_048_576);
        range("history.ring-bytes", h.ring_bytes as u64, 64 << 10, 1 << 32);
        range("history.window", h.window as u64, 1, 100_000);
        range("streams.max", self.streams.max as u64, 1, 100_000);
        range("streams.max-series", self.streams.max_series as u64, 1, 64);
        range(
            "ingest.max-body-bytes",
            self.ingest.max_body_bytes as u64,
            1024,
            1 << 30,
        );
        range(
            "ingest.max-points",
            self.ingest.max_points as u64,
            1,
            1_000_000,
        );
        range(
            "limits.max-viewers",
            self.limits.max_viewers as u64,
            1,
            1_000_000,
        );
        range(
            "limits.max-streams-per-connection",
            self.limits.max_streams_per_connection as u64,
            1,
            1024,
        );
        range("shutdown.grace-ms", self.shutdown.grace_ms, 0, 600_000);
        let c = &self.connections;
        range("connections.max", c.max as u64, 0, 1_000_000);
        range(
            "connections.head-timeout-ms",
            c.head_timeout_ms,
            100,
            600_000,
        );
        range(
            "connections.idle-timeout-ms",
            c.idle_timeout_ms,
            100,
            3_600_000,
        );
        range(
            "connections.write-timeout-ms",
            c.write_timeout_ms,
            100,
            3_600_000,
        );
        range(
            "connections.body-timeout-ms",
            c.body_timeout_ms,
            100,
            3_600_000,
        );
        range("connections.min-body-rate", c.min_body_rate, 1, 1 << 30);
        if self.streams.idle_expiry_ms != 0 {
            range(
                "streams.idle-expiry-ms",
                self.streams.idle_expiry_ms,
                1000,
                31_536_000_000,
            );
        }
        let t = &self.tasks;
        range("tasks.max-duration-ms", t.max_duration_ms, 100, 86_400_000);
        range(
            "tasks.duration-ms",
            t.duration_ms,
            100,
            t.max_duration_ms.max(100),
        );
        range("tasks.max-steps", u64::from(t.max_steps), 1, 1_000_000);
        range(
            "tasks.steps",
            u64::from(t.steps),
            1,
            u64::from(t.max_steps.max(1)),
        );
        range("tasks.max-running", t.max_running as u64, 1, 100_000);
        range("tasks.per-minute", u64::from(t.per_minute), 1, 1_000_000);
        range("tasks.burst", u64::from(t.burst), 1, 1_000_000);
        range("tasks.linger-ms", t.linger_ms, 0, 86_400_000);
        range(
            "system.interval-ms",
            self.system.interval_ms,
            200,
            86_400_000,
        );
        if h.ring_events < h.window {
            problems.push(format!(
                "livechart.history.ring-events = {}: must be at least history.window ({})",
                h.ring_events, h.window
            ));
        }
        let sources = [
            ("demo", self.demo.enabled, &self.demo.stream),
            ("system", self.system.enabled, &self.system.stream),
            ("classic", self.classic.enabled, &self.classic.stream),
        ];
        let built_in: Vec<_> = sources.iter().filter(|s| s.1).collect();
        for (i, (key, _, name)) in built_in.iter().enumerate() {
            if let Some((other, _, _)) = built_in[..i].iter().find(|s| s.2 == *name) {
                problems.push(format!(
                    "livechart.{key}.stream = \"{name}\": already the stream of livechart.{other}"
                ));
            }
        }
        if self.streams.declared.len() + built_in.len() > self.streams.max {
            problems.push(format!(
                "livechart.streams.declared: {} streams (with the built-in sources) exceed streams.max = {}",
                self.streams.declared.len() + built_in.len(),
                self.streams.max
            ));
        }
        for (key, secret) in [
            ("auth.publish-token", &self.auth.publish_token),
            ("auth.view-token", &self.auth.view_token),
        ] {
            if let Some(problem) = secret.problem() {
                problems.push(format!("livechart.{key}: {problem}"));
            }
        }
        let (min, max) = (self.demo.min, self.demo.max);
        if !min.is_finite() {
            problems.push(format!(
                "livechart.demo.min = {min}: must be a finite number"
            ));
        }
        if !(max.is_finite() && max > min) {
            problems.push(format!(
                "livechart.demo.max = {max}: must be finite and greater than demo.min"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse_settings("").unwrap(), Settings::default());
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn the_shipped_file_parses_and_validates() {
        let text = include_str!("../../Leptos.toml");
        let settings = parse_settings(text).unwrap();
        settings.validate().unwrap();
        let leptos = leptos::config::get_config_from_str(text).unwrap();
        assert_eq!(&*leptos.output_name, "livechart");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let err = parse_settings("[livechart.demo]\ninterval = 5\n").unwrap_err();
        assert!(err.contains("unknown field `interval`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse_settings("[livechart.sse]\nretry-ms = \"soon\"\n").unwrap_err();
        assert!(err.contains("retry-ms"), "{err}");
        let err = parse_settings("[livechart.demo]\nstream = \"a b\"\n").unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }

    #[test]
    fn validation_lists_every_problem() {
        let mut s = Settings::default();
        s.demo.interval_ms = 0;
        s.demo.max = -1.0;
        s.sse.keep_alive_ms = 5;
        let problems = s.validate().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("livechart.demo.interval-ms = 0"));
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let mut s = Settings::default();
        s.auth.publish_token = Secret::new("short");
        let problems = s.validate().unwrap_err();
        assert_eq!(
            problems,
            ["livechart.auth.publish-token: must be 16 to 512 characters long"]
        );
        s.auth.publish_token = Secret::new("a-long-enough-token-1234");
        assert!(s.validate().is_ok());
        assert!(s.auth.publish_token.matches("a-long-enough-token-1234"));
        assert!(!s.auth.publish_token.matches("a-long-enough-token-1235"));
        assert!(!s.auth.publish_token.matches(""));
        assert!(!format!("{s:?}").contains("a-long-enough"));
        let err = apply_env(&mut s, |k| {
            (k == "LIVECHART_STREAMS_MAX").then(|| "lots".to_owned())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("LIVECHART_STREAMS_MAX=\"lots\""),
            "{err}"
        );
        let err = apply_env(&mut s, |k| match k {
            "LIVECHART_AUTH_VIEW_TOKEN" => Some("x".repeat(20)),
            "LIVECHART_STREAMS_DECLARED" => Some("ok, bad name".to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("\"bad name\""), "{err}");
        assert!(
            !s.auth.view_token.is_set(),
            "nothing applied after an error"
        );
    }

    #[test]
    fn env_overrides_apply_all_or_nothing() {
        let mut s = Settings::default();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        apply_env(
            &mut s,
            env(&[
                ("LIVECHART_DEMO_INTERVAL_MS", "50"),
                ("LIVECHART_DEMO_ENABLED", "off"),
            ]),
        )
        .unwrap();
        assert_eq!(s.demo.interval_ms, 50);
        assert!(!s.demo.enabled);

        let before = s.clone();
        let err = apply_env(
            &mut s,
            env(&[
                ("LIVECHART_SSE_RETRY_MS", "300"),
                ("LIVECHART_SSE_KEEP_ALIVE_MS", "often"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("LIVECHART_SSE_KEEP_ALIVE_MS=\"often\""),
            "{err}"
        );
        assert_eq!(s, before, "a failed override must change nothing");
    }
}
