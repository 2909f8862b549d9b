//! `LIVECHART_*` environment variables: each one overrides one key of the file.

use super::{ConfigError, Secret, Settings};
use app::model::StreamName;
use std::path::PathBuf;

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
    ("LIVECHART_HISTORY_RETENTION", |s, v| {
        super::Duration::parse(v).map(|d| s.history.retention = d)
    }),
    ("LIVECHART_HISTORY_RETENTION_BYTES", |s, v| {
        parse_whole(v).map(|n| s.history.retention_bytes = n)
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
    ("LIVECHART_REDIS_URL", |s, v| {
        s.redis.url = v.to_owned();
        Ok(())
    }),
    ("LIVECHART_REDIS_PREFIX", |s, v| {
        s.redis.prefix = v.to_owned();
        Ok(())
    }),
    ("LIVECHART_MQTT_URL", |s, v| {
        s.mqtt.url = v.trim().to_owned();
        Ok(())
    }),
    // A list of filters, each with the default mapping (a configured list is replaced).
    ("LIVECHART_MQTT_TOPICS", |s, v| {
        s.mqtt.subscribe = v
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| super::MqttSubscription {
                filter: f.to_owned(),
                stream: None,
            })
            .collect();
        Ok(())
    }),
    ("LIVECHART_MQTT_CLIENT_ID", |s, v| {
        s.mqtt.client_id = v.to_owned();
        Ok(())
    }),
    ("LIVECHART_MQTT_USERNAME", |s, v| {
        s.mqtt.username = v.to_owned();
        Ok(())
    }),
    ("LIVECHART_MQTT_PASSWORD", |s, v| {
        s.mqtt.password = Secret::new(v);
        Ok(())
    }),
    ("LIVECHART_MQTT_CA_CERT", |s, v| {
        s.mqtt.ca_cert = (!v.is_empty()).then(|| PathBuf::from(v));
        Ok(())
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
    ("LIVECHART_CONNECTIONS_MAX_PER_CLIENT", |s, v| {
        parse_whole(v).map(|n| s.connections.max_per_client = n)
    }),
    ("LIVECHART_CONNECTIONS_ANSWER_TIMEOUT_MS", |s, v| {
        parse_whole(v).map(|n| s.connections.answer_timeout_ms = n)
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
    ("LIVECHART_AUTH_ALLOWED_HOSTS", |s, v| {
        s.auth.allowed_hosts = v
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
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
) -> Result<Vec<&'static str>, ConfigError> {
    let mut next = settings.clone();
    let mut applied = Vec::new();
    for (var, apply) in ENV_OVERRIDES {
        if let Some(value) = lookup(var) {
            applied.push(*var);
            apply(&mut next, value.trim()).map_err(|message| ConfigError::Env {
                var,
                // A token's value is never repeated back.
                value: if var.ends_with("_TOKEN") || var.ends_with("_URL") {
                    "***".to_owned()
                } else {
                    value.clone()
                },
                message,
            })?;
        }
    }
    *settings = next;
    Ok(applied)
}

/// A validation problem (`livechart.mqtt.url = …: why`) with the environment variable that
/// set the value, when one did: the file (or the built-in defaults) did not.
pub fn name_the_source(problem: String, applied: &[&str]) -> String {
    let Some(key) = problem.split([' ', ':']).next() else {
        return problem;
    };
    let Some(rest) = key.strip_prefix("livechart.") else {
        return problem;
    };
    let var = format!("LIVECHART_{}", rest.replace(['.', '-'], "_").to_uppercase());
    let alias = match rest {
        "history.data-dir" => "LIVECHART_DATA_DIR",
        "mqtt.subscribe" => "LIVECHART_MQTT_TOPICS",
        _ => "",
    };
    match applied.iter().find(|a| **a == var || **a == alias) {
        Some(var) => format!("{problem} (set by the environment variable {var})"),
        None => problem,
    }
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
