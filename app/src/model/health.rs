//! What `GET /healthz` answers.

use super::*;

/// One stream's state, as `GET /healthz` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub name: StreamName,
    pub series: Vec<SeriesName>,
    /// Connections currently receiving this stream.
    pub viewers: usize,
    /// Events published since the server started.
    pub published: u64,
    /// The id of the newest event, if any.
    pub last_id: Option<EventId>,
    /// Events held for resuming viewers.
    pub history: usize,
}

/// The body of `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` while serving, `shutting_down` once a shutdown has begun, `broker_unavailable`
    /// while a node sharing its streams through Redis is not following it, `degraded` while
    /// history writes fail (publishes are refused; `problem` says why).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Event-stream connections open (a multiplexed one counts once).
    #[serde(default)]
    pub connections: usize,
    pub streams: Vec<StreamStatus>,
    /// The MQTT subscription, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttHealth>,
}

/// The MQTT subscription's state, as `GET /healthz` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttHealth {
    pub connected: bool,
    /// Topic filters the broker granted on the current connection.
    pub subscribed: usize,
    /// Messages published to a stream, skipped as unreadable, refused by a limit.
    pub published: u64,
    pub unreadable: u64,
    pub refused: u64,
    /// Retained messages the broker sent again on subscribing (not charted: see README).
    #[serde(default)]
    pub retained: u64,
    /// The latest problem: a lost connection, or a message that was not published.
    pub last_error: Option<String>,
    /// Messages read from the broker and not yet published, and how long the oldest has
    /// waited (ms): a count that stays up with a growing age is a stalled intake.
    #[serde(default)]
    pub waiting: u64,
    #[serde(default)]
    pub oldest_waiting_ms: Option<u64>,
}
