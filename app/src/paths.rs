//! Every URL path of the API, defined once. The server routes by the patterns (axum's
//! `{name}` syntax); the browser, `livechart publish`, `livechart load` and the tests build
//! addresses with the functions, which fill the same patterns.
//!
//! The page routes live in the router of `shell.rs` (Leptos' `path!` macro needs literals);
//! [`page`] builds the address of a stream's page.

use crate::model::{Positions, StreamName, TaskId};

/// `GET`: every stream with its description and series.
pub const STREAMS: &str = "/api/streams";
/// `PUT` describes a stream, `DELETE` removes it.
pub const STREAM: &str = "/api/streams/{name}";
/// `POST` publishes JSON or NDJSON, `GET` is the range query.
pub const STREAM_POINTS: &str = "/api/streams/{name}/points";
/// `GET`: the stream as Server-Sent Events.
pub const STREAM_EVENTS: &str = "/api/streams/{name}/events";
/// `GET`: several streams on one connection.
pub const EVENTS: &str = "/api/events";
/// `POST` starts a task.
pub const TASKS: &str = "/api/tasks";
/// `GET`: a task's progress as Server-Sent Events.
pub const TASK_EVENTS: &str = "/api/tasks/{id}/events";
/// `POST`: the Influx line protocol, as InfluxDB 2 takes it.
pub const INFLUX_WRITE: &str = "/api/v2/write";
/// `POST`: the Influx line protocol, as InfluxDB 1.x takes it.
pub const INFLUX_V1_WRITE: &str = "/write";
/// `GET`, `HEAD`: 204 with the version header InfluxDB clients read before writing.
pub const INFLUX_PING: &str = "/ping";
/// `GET`: InfluxDB 2's health answer.
pub const INFLUX_HEALTH: &str = "/health";
/// `GET`, `POST`: InfluxQL, as far as a write-only endpoint answers it (database statements).
pub const INFLUX_QUERY: &str = "/query";
pub const HEALTH: &str = "/healthz";
pub const METRICS: &str = "/metrics";

/// A stream's points endpoint: `POST` publishes, `GET` is the range query.
pub fn points(stream: &StreamName) -> String {
    STREAM_POINTS.replace("{name}", stream.as_str())
}

/// A stream's event stream.
pub fn events(stream: &StreamName) -> String {
    STREAM_EVENTS.replace("{name}", stream.as_str())
}

/// A task's progress events.
pub fn task_events(id: TaskId) -> String {
    TASK_EVENTS.replace("{id}", &id.to_string())
}

/// The multiplexed endpoint for these streams, resuming each after `from` when given.
pub fn multiplex(streams: &[StreamName], from: &Positions) -> String {
    let list: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
    let mut path = format!("{EVENTS}?streams={}", list.join(","));
    if !from.0.is_empty() {
        path.push_str(&format!("&last_event_id={from}"));
    }
    path
}

/// Whether `path` is one the route `pattern` takes: the same segments, a `{…}` segment
/// standing for any non-empty one.
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut given = path.split('/');
    for want in pattern.split('/') {
        match given.next() {
            Some(seg) if want.starts_with('{') && !seg.is_empty() => {}
            Some(seg) if seg == want => {}
            _ => return false,
        }
    }
    given.next().is_none()
}

/// The page that shows one stream.
pub fn page(stream: &StreamName) -> String {
    format!("/streams/{stream}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_filled() {
        let s = StreamName::parse("robot.arm").unwrap();
        assert_eq!(points(&s), "/api/streams/robot.arm/points");
        assert_eq!(events(&s), "/api/streams/robot.arm/events");
        assert_eq!(page(&s), "/streams/robot.arm");
        assert!(matches(STREAM_EVENTS, "/api/streams/x/events"));
        assert!(matches(EVENTS, "/api/events"));
        for no in [
            "/api/streams//events",
            "/api/streams/x/events/",
            "/api/events/x",
            "/api",
        ] {
            assert!(!matches(STREAM_EVENTS, no) && !matches(EVENTS, no), "{no}");
        }
    }
}
