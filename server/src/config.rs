//! Runtime configuration.
//!
//! One file, `Leptos.toml` by default, holds both halves: the `[livechart.*]` tables are ours,
//! and `[package.metadata.leptos]` (last in the file: Leptos reads from its header to the end)
//! holds the site settings. `LEPTOS_*` environment variables override the Leptos half (that is
//! how `cargo leptos` passes its settings), `LIVECHART_*` ones override ours. Everything is
//! validated before the server starts; an error names the key and where it came from.

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
    pub hub: HubSettings,
    pub shutdown: ShutdownSettings,
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
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HubSettings {
    /// How many events a viewer may fall behind before it skips ahead.
    pub viewer_buffer: usize,
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
        }
    }
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            viewer_buffer: 1024,
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
        parse_u64(v).map(|n| s.demo.interval_ms = n)
    }),
    ("LIVECHART_SSE_RETRY_MS", |s, v| {
        parse_u64(v).map(|n| s.sse.retry_ms = n)
    }),
    ("LIVECHART_SSE_KEEP_ALIVE_MS", |s, v| {
        parse_u64(v).map(|n| s.sse.keep_alive_ms = n)
    }),
    ("LIVECHART_HUB_VIEWER_BUFFER", |s, v| {
        parse_u64(v).map(|n| s.hub.viewer_buffer = n as usize)
    }),
    ("LIVECHART_SHUTDOWN_GRACE_MS", |s, v| {
        parse_u64(v).map(|n| s.shutdown.grace_ms = n)
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
                value: value.clone(),
                message,
            })?;
        }
    }
    *settings = next;
    Ok(())
}

fn parse_u64(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| "expected a whole non-negative number".to_owned())
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
        let mut range = |key: &str, value: u64, lo: u64, hi: u64| {
            if !(lo..=hi).contains(&value) {
                problems.push(format!("livechart.{key} = {value}: must be {lo} to {hi}"));
            }
        };
        range("demo.interval-ms", self.demo.interval_ms, 1, 86_400_000);
        range("sse.retry-ms", self.sse.retry_ms, 100, 600_000);
        range("sse.keep-alive-ms", self.sse.keep_alive_ms, 100, 3_600_000);
        range(
            "hub.viewer-buffer",
            self.hub.viewer_buffer as u64,
            16,
            1_048_576,
        );
        range("shutdown.grace-ms", self.shutdown.grace_ms, 0, 600_000);
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
