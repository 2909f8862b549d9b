//! The typed events that travel from a publisher to the chart.
//!
//! These are the only definitions: the server serializes them into SSE frames, the WASM
//! frontend deserializes the very same types, so the two sides cannot drift apart.

use serde::{Deserialize, Serialize};
use std::fmt;

/// SSE event names (`event:` field) used on a stream.
pub mod event_name {
    /// One [`Point`](super::Point) as JSON.
    pub const POINT: &str = "point";
}

/// One data point: when the producer measured it and what it measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Producer timestamp, milliseconds since the Unix epoch.
    pub ts: i64,
    /// The measured value; always finite.
    pub value: f64,
}

/// The body of every 4xx/5xx answer of the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short machine-readable kind, e.g. `invalid_stream_name`.
    pub error: String,
    /// What was wrong and where, for a human.
    pub detail: String,
}

/// One stream's counters, as `GET /healthz` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub name: StreamName,
    /// Connections currently receiving this stream.
    pub viewers: usize,
    /// Events published since the server started.
    pub published: u64,
    /// The id of the newest event, if any.
    pub last_id: Option<u64>,
}

/// The body of `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` while serving, `shutting_down` once a shutdown has begun.
    pub status: String,
    pub streams: Vec<StreamStatus>,
}

/// The longest stream or series name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// A validated stream name: `[A-Za-z0-9_.-]{1,64}`.
///
/// Names are rejected, never escaped, so that a name is the same string in a URL, a log line,
/// a metric label and the UI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StreamName(String);

/// Why a name was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong { len: usize },
    BadChar { ch: char, index: usize },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(
                f,
                "name is empty (1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -)"
            ),
            NameError::TooLong { len } => {
                write!(
                    f,
                    "name is {len} characters long; at most {MAX_NAME_LEN} are allowed"
                )
            }
            NameError::BadChar { ch, index } => write!(
                f,
                "character {ch:?} at position {index} is not allowed (only A-Z a-z 0-9 _ . -)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

impl StreamName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let len = name.chars().count();
        if len > MAX_NAME_LEN {
            return Err(NameError::TooLong { len });
        }
        if let Some((index, ch)) = name
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(NameError::BadChar { ch, index });
        }
        Ok(StreamName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StreamName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The SSE endpoint of a stream, relative to the site root.
pub fn events_path(stream: &StreamName) -> String {
    format!("/api/streams/{stream}/events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_charset() {
        for ok in ["demo", "a", "robot-1.temp_C", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(StreamName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_with_position() {
        assert_eq!(StreamName::parse(""), Err(NameError::Empty));
        assert_eq!(
            StreamName::parse(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong {
                len: MAX_NAME_LEN + 1
            })
        );
        assert_eq!(
            StreamName::parse("ab/c"),
            Err(NameError::BadChar { ch: '/', index: 2 })
        );
        assert_eq!(
            StreamName::parse("é"),
            Err(NameError::BadChar { ch: 'é', index: 0 })
        );
        assert!(StreamName::parse("a b")
            .unwrap_err()
            .to_string()
            .contains("position 1"));
    }

    #[test]
    fn point_json_shape_is_stable() {
        let p = Point {
            ts: 1_763_700_000_123,
            value: 21.5,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"ts":1763700000123,"value":21.5}"#);
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), p);
    }

    #[test]
    fn point_values_from_json_are_always_finite() {
        for bad in [
            r#"{"ts":1,"value":1e400}"#,
            r#"{"ts":1,"value":NaN}"#,
            r#"{"ts":1,"value":null}"#,
        ] {
            assert!(serde_json::from_str::<Point>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_deserialize_validated() {
        assert!(serde_json::from_str::<StreamName>(r#""ok""#).is_ok());
        assert!(serde_json::from_str::<StreamName>(r#""no way""#).is_err());
    }
}
