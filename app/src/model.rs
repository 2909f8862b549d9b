//! The typed events that travel from a publisher to the chart.
//!
//! These are the only definitions: the server serializes them into SSE frames and parses
//! publishes into them, the WASM frontend and the `livechart publish` client use the very same
//! types, so the sides cannot drift apart.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// SSE event names (`event:` field) used on a stream.
pub mod event_name {
    /// One published batch: a JSON array of [`Point`](super::Point)s.
    pub const POINTS: &str = "points";
    /// The stream's current window, a [`Snapshot`](super::Snapshot): the first event of a
    /// fresh subscription, and the event after every `reset`.
    pub const SNAPSHOT: &str = "snapshot";
    /// The viewer could not be resumed without a gap, a [`Reset`](super::Reset); a `snapshot`
    /// follows.
    pub const RESET: &str = "reset";
    /// On a multiplexed connection: every stream of the server, [`Vec<StreamInfo>`]
    /// (super::StreamInfo), first and whenever a stream, a series or a description is added.
    pub const STREAMS: &str = "streams";
    /// A task's state, a [`TaskProgress`](super::TaskProgress).
    pub const PROGRESS: &str = "progress";
}

/// The series a point without one belongs to, on a stream that has no series yet.
pub const DEFAULT_SERIES: &str = "value";

/// One data point as it travels in events: which series, when it was measured, what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub series: SeriesName,
    /// Producer timestamp, milliseconds since the Unix epoch.
    pub ts: i64,
    /// The measured value; always finite.
    pub value: f64,
}

/// A point as a publisher sends it: the series may be left out when the stream has a single
/// series, the timestamp when the server's clock will do.
///
/// Every way in (JSON and NDJSON bodies, the Influx line protocol, MQTT payloads, the lines of
/// `livechart publish`, the built-in sources) builds one of these and calls
/// [`NewPoint::validate`]: the series is valid by its type, the rest is checked there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesName>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_ms"
    )]
    pub ts: Option<i64>,
    pub value: f64,
}

/// The latest timestamp accepted: JavaScript's `Date` ends here (year 275760).
pub const MAX_TS: i64 = 8_640_000_000_000_000;
const _: () = assert!(MAX_TS == 8640000000000000, "TS_RANGE says so");

/// Why a [`NewPoint`] is refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointError {
    NotFinite(f64),
    TsOutOfRange(i64),
}

impl PointError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            PointError::NotFinite(_) => "value",
            PointError::TsOutOfRange(_) => "ts",
        }
    }
}

impl fmt::Display for PointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointError::NotFinite(v) => write!(f, "{v} is not a finite number"),
            PointError::TsOutOfRange(ts) => f.write_str(&TS_RANGE.replace("{}", &ts.to_string())),
        }
    }
}

impl std::error::Error for PointError {}

impl NewPoint {
    /// The one check of a point, whatever it came in as: a finite value, and a timestamp
    /// (when given) between the Unix epoch and [`MAX_TS`].
    pub fn validate(&self) -> Result<(), PointError> {
        if !self.value.is_finite() {
            return Err(PointError::NotFinite(self.value));
        }
        match self.ts {
            Some(ts) if !(0..=MAX_TS).contains(&ts) => Err(PointError::TsOutOfRange(ts)),
            _ => Ok(()),
        }
    }
}

/// `ts` as whole milliseconds; a whole number written as a float (`1.0`, `1e3`) is one too.
/// The range is [`NewPoint::validate`]'s to check; what cannot be an `i64` is refused here.
fn whole_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct Whole;
    impl<'de> serde::de::Visitor<'de> for Whole {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("milliseconds since the Unix epoch as a whole number")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(TS_RANGE.replace("{}", &v.to_string())))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // 2^63 itself does not fit; everything below it that is whole does, exactly.
            if v.fract() != 0.0 {
                Err(E::custom(format!(
                    "{v} is not a whole number of milliseconds since the Unix epoch"
                )))
            } else if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
                Ok(Some(v as i64))
            } else {
                // 1e300 written out would be 301 digits.
                Err(E::custom(TS_RANGE.replace("{}", &format!("{v:e}"))))
            }
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Whole)
        }
    }
    d.deserialize_any(Whole)
}

/// How a timestamp out of range is told (`{}` is the timestamp).
const TS_RANGE: &str =
    "{} is out of range (0 to 8640000000000000 milliseconds since the Unix epoch)";

/// A stream-scoped event id, `EPOCH-SEQ` on the wire (`id:` field, `Last-Event-ID`).
///
/// `seq` increases by one per event. `epoch` names the life of the stream's history: it
/// changes when the server restarts (history is not persisted), so an id from before a restart
/// is recognisably foreign instead of silently meaning a different event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// Why a string is not an [`EventId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEventId(pub String);

impl fmt::Display for BadEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(80).collect();
        write!(
            f,
            "{shown:?} is not an event id: expected EPOCH-SEQ as sent in the `id:` field \
             (hexadecimal epoch, decimal sequence number, e.g. 19a9f3c2b41-17)"
        )
    }
}

impl std::error::Error for BadEventId {}

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadEventId(s.to_owned());
        let (epoch, seq) = s.split_once('-').ok_or_else(bad)?;
        let digits = |t: &str, hex: bool| {
            !t.is_empty()
                && t.len() <= 20
                && t.chars().all(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
        };
        if !digits(epoch, true) || !digits(seq, false) {
            return Err(bad());
        }
        Ok(EventId {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A stream's current window: the most recent points of every series, oldest first, and the
/// id of the last event they include. Resuming after `last_id` continues exactly after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_id: Option<EventId>,
    pub points: Vec<Point>,
}

/// Why a viewer was reset instead of resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The requested id is older than the history the server still holds.
    TooOld,
    /// The id is from another epoch: the server restarted and its history began again.
    Restarted,
    /// The id is from this epoch but was never issued.
    UnknownId,
    /// The viewer fell further behind than the history holds and was resynchronised.
    Lagged,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::TooOld => "too_old",
            ResetReason::Restarted => "restarted",
            ResetReason::UnknownId => "unknown_id",
            ResetReason::Lagged => "lagged",
        }
    }
}

/// The data of a `reset` event: some events were missed; the `snapshot` that follows is the
/// current window, and a chart marks the gap instead of joining its lines across it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub reason: ResetReason,
    pub detail: String,
}

/// What `POST /api/streams/{name}/points` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReceipt {
    /// The id of the event that carries the batch.
    pub id: EventId,
    /// How many points it holds.
    pub points: usize,
}

/// The body of every 4xx/5xx answer of the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short machine-readable kind, e.g. `invalid_stream_name`.
    pub error: String,
    /// What was wrong and where, for a human.
    pub detail: String,
}

/// How a stream wants to be shown; everything is optional. Set with
/// `PUT /api/streams/{name}` (or by the source that owns the stream).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamMeta {
    /// A human title for the chart (the stream's name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The unit of the values, shown on the value axis, e.g. `°C` or `%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A fixed value axis from `min` to `max` (both or neither); without it the axis fits
    /// the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// How a line goes from one point to the next: straight (`linear`, the default), or held
    /// until the next point (`step`: states and counters sent when they change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<Interpolation>,
    /// A line breaks where two points of a series are further apart than this, in ms; the
    /// default is three times the series' usual interval, so a dropout is seen as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_ms: Option<u64>,
    /// What its charts show unless the address says: points (`"100"`) or a time (`"5m"`), as
    /// `?window=` writes it; so that a 50 Hz stream does not open on 0.4 s of data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// How a line joins two points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Straight from one point to the next.
    #[default]
    Linear,
    /// Level until the next point, then up or down: a value that holds until it changes.
    Step,
}

/// The longest `gap_ms` accepted: a year.
pub const MAX_GAP_MS: u64 = 365 * 86_400_000;

/// The longest title and unit accepted, in characters.
pub const MAX_TITLE_LEN: usize = 80;
pub const MAX_UNIT_LEN: usize = 16;

impl StreamMeta {
    /// Checks lengths, characters and the range; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, text, max) in [
            ("title", &self.title, MAX_TITLE_LEN),
            ("unit", &self.unit, MAX_UNIT_LEN),
        ] {
            let Some(text) = text else { continue };
            let len = text.chars().count();
            if len == 0 || len > max {
                return Err(format!(
                    "\"{field}\" must be 1 to {max} characters, not {len}"
                ));
            }
            if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
                return Err(format!(
                    "\"{field}\" has the control character {c:?} at position {i}"
                ));
            }
        }
        if let Some(window) = &self.window {
            crate::choice::WindowChoice::parse(window).map_err(|e| format!("\"window\": {e}"))?;
        }
        if let Some(gap) = self.gap_ms {
            if !(1..=MAX_GAP_MS).contains(&gap) {
                return Err(format!(
                    "\"gap_ms\" must be 1 to {MAX_GAP_MS} (a year), not {gap}"
                ));
            }
        }
        match (self.min, self.max) {
            (None, None) => Ok(()),
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo < hi => Ok(()),
            (Some(lo), Some(hi)) => Err(format!(
                "\"min\" ({lo}) must be below \"max\" ({hi}), both finite"
            )),
            _ => Err("give both \"min\" and \"max\" for a fixed range, or neither".to_owned()),
        }
    }

    /// The window its charts open on, when the stream declares one.
    pub fn window_choice(&self) -> Option<crate::choice::WindowChoice> {
        self.window
            .as_deref()
            .and_then(|w| crate::choice::WindowChoice::parse(w).ok())
    }

    /// The fixed value range, when the stream declares one.
    pub fn range(&self) -> Option<(f64, f64)> {
        self.min.zip(self.max)
    }
}

/// A stream as the dashboard lists it (`streams` events, `GET /api/streams`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub name: StreamName,
    #[serde(default)]
    pub meta: StreamMeta,
    /// Its series so far, by name.
    #[serde(default)]
    pub series: Vec<SeriesName>,
}

impl StreamInfo {
    /// The chart's title: the declared one, else the stream's name.
    pub fn title(&self) -> String {
        self.meta
            .title
            .clone()
            .unwrap_or_else(|| self.name.to_string())
    }
}

/// An event of one stream on a multiplexed connection (`GET /api/events?streams=a,b`): the
/// stream it belongs to, its id there, and the same data the stream's own endpoint sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tagged<T> {
    pub stream: StreamName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EventId>,
    pub data: T,
}

/// Where a multiplexed connection is in each of its streams: `a:EPOCH-SEQ,b:EPOCH-SEQ` on the
/// wire. The server sends it as the connection's event id after every batch, so a browser's
/// `Last-Event-ID` resumes every stream at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions(pub Vec<(StreamName, EventId)>);

impl Positions {
    pub fn get(&self, stream: &StreamName) -> Option<EventId> {
        self.0.iter().find(|(s, _)| s == stream).map(|(_, id)| *id)
    }
}

impl fmt::Display for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (stream, id)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{stream}:{id}")?;
        }
        Ok(())
    }
}

impl FromStr for Positions {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Bounded before anything is parsed, and duplicates found by hashing: a long
        // composite id costs its length, not its square.
        let max = MAX_STREAMS_PER_CONNECTION;
        if s.len() > max * (MAX_NAME_LEN + 2 + 2 * 20 + 1) {
            return Err(format!("more than {max} streams' positions"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<(StreamName, EventId)> = Vec::new();
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            if out.len() == max {
                return Err(format!("more than {max} streams' positions"));
            }
            let shown: String = part.chars().take(2 * MAX_NAME_LEN).collect();
            let (name, id) = part
                .split_once(':')
                .ok_or_else(|| format!("item {} ({shown:?}) is not STREAM:EPOCH-SEQ", i + 1))?;
            let name = StreamName::parse(name)
                .map_err(|e| format!("item {} ({shown:?}): stream name: {e}", i + 1))?;
            let id = id
                .parse()
                .map_err(|e| format!("item {} ({shown:?}): {e}", i + 1))?;
            if !seen.insert(name.clone()) {
                return Err(format!("stream \"{name}\" is given twice"));
            }
            out.push((name, id));
        }
        Ok(Positions(out))
    }
}

/// A task's id, as in `/api/tasks/{id}/events`: 16 hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for TaskId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            let shown: String = s.chars().take(40).collect();
            return Err(format!(
                "{shown:?} is not a task id (16 hexadecimal digits, as POST /api/tasks returned)"
            ));
        }
        u64::from_str_radix(s, 16)
            .map(TaskId)
            .map_err(|e| e.to_string())
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What `POST /api/tasks` accepts (an empty body takes the configured defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// How long the simulated task runs, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// In how many steps it reports progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// A name to show with its progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What `POST /api/tasks` answers (202 Accepted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreated {
    pub id: TaskId,
    /// Where its progress streams: `/api/tasks/{id}/events`.
    pub events: String,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Running,
    Done,
    /// Stopped before the end (the server shut down).
    Cancelled,
}

impl TaskStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// One `progress` event of a task; the last one has a final status, then the stream ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskProgress {
    pub id: TaskId,
    pub label: String,
    pub step: u32,
    pub steps: u32,
    /// 0 to 100.
    pub percent: f64,
    pub status: TaskStatus,
    pub message: String,
}

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

/// The longest stream or series name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// The most streams one connection (`/api/events?streams=`), one page (`/?streams=`) or one
/// composite `Last-Event-ID` may name, whatever the configuration says: the configured
/// `limits.max-streams-per-connection` is checked against it at start-up.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// Why a name was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        len: usize,
    },
    BadChar {
        ch: char,
        index: usize,
    },
    /// `.` or `..`: a path segment that means something else in every URL and file path.
    Dots,
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
            NameError::Dots => write!(
                f,
                "`.` and `..` are not names: they mean this and the parent path segment"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks `[A-Za-z0-9_.-]{1,64}`. Names are rejected, never escaped, so that a name is the
/// same string in a URL, a log line, a metric label and the UI.
fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong { len });
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        Some((index, ch)) => Err(NameError::BadChar { ch, index }),
        None if matches!(name, "." | "..") => Err(NameError::Dots),
        None => Ok(()),
    }
}

/// A comma-separated list of stream names (`?streams=a,b`): each valid, none twice, at most
/// `max` of them. Blank items are skipped. Checked in time linear in the input, and refused
/// before any name is parsed when the text is longer than `max` names could be; the error
/// says which item is wrong and why.
pub fn parse_stream_list(raw: &str, max: usize) -> Result<Vec<StreamName>, String> {
    let too_many = || format!("at most {max} streams may be listed");
    if raw.len() > max.saturating_mul(MAX_NAME_LEN + 2) {
        return Err(too_many());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, part) in raw.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let name = StreamName::parse(part).map_err(|e| {
            let shown: String = part.chars().take(MAX_NAME_LEN + 1).collect();
            format!("item {} ({shown:?}): {e}", i + 1)
        })?;
        if !seen.insert(name.clone()) {
            return Err(format!("\"{name}\" is listed twice"));
        }
        if out.len() == max {
            return Err(too_many());
        }
        out.push(name);
    }
    Ok(out)
}

/// Defines a validated name type: parsed with [`check_name`], serialized as a plain string,
/// and refused when deserialized from anything else.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(name: &str) -> Result<Self, NameError> {
                check_name(name).map(|()| $name(name.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A validated stream name: `[A-Za-z0-9_.-]{1,64}`.
    StreamName
);
name_type!(
    /// A validated series name: `[A-Za-z0-9_.-]{1,64}`.
    SeriesName
);

impl SeriesName {
    /// The series of points published without one to a stream without series.
    pub fn default_series() -> Self {
        SeriesName(DEFAULT_SERIES.to_owned())
    }
}

/// Milliseconds since the Unix epoch by this machine's clock (0 if the clock is before it).
/// Native only: in the browser, time comes from `Date.now()`.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_charset() {
        for ok in ["demo", "a", "robot-1.temp_C", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(StreamName::parse(ok).unwrap().as_str(), ok);
            assert_eq!(SeriesName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(SeriesName::default_series().as_str(), DEFAULT_SERIES);
        assert!(SeriesName::parse(DEFAULT_SERIES).is_ok());
        for dots in [".", ".."] {
            assert_eq!(StreamName::parse(dots), Err(NameError::Dots));
        }
        assert!(StreamName::parse("...").is_ok() && StreamName::parse(".a").is_ok());
    }

    #[test]
    fn stream_lists_are_bounded_and_checked_in_one_pass() {
        let names = |v: Vec<StreamName>| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(parse_stream_list(" a, b ,,c", 3).unwrap()),
            vec!["a", "b", "c"]
        );
        let err = |raw: &str, max| parse_stream_list(raw, max).unwrap_err();
        assert!(err("a,b,c,d", 3).contains("at most 3"));
        assert!(err("a,b,a", 3).contains("listed twice"));
        assert!(err("a,b%2Fc", 3).contains("item 2"));
        // Longer than `max` names could be: refused before any is parsed.
        assert!(err(&"x,".repeat(100_000), 32).contains("at most 32"));
        let many: Vec<String> = (0..1024).map(|i| format!("s{i}:1-{i}")).collect();
        assert_eq!(many.join(",").parse::<Positions>().unwrap().0.len(), 1024);
        let more: Vec<String> = (0..1025).map(|i| format!("s{i}:1-{i}")).collect();
        assert!(more
            .join(",")
            .parse::<Positions>()
            .unwrap_err()
            .contains("more than 1024"));
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
            SeriesName::parse("ab/c"),
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
            series: SeriesName::parse("temp").unwrap(),
            ts: 1_763_700_000_123,
            value: 21.5,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"series":"temp","ts":1763700000123,"value":21.5}"#);
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), p);
        let bare = NewPoint {
            series: None,
            ts: None,
            value: 1.0,
        };
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"value":1.0}"#);
    }

    #[test]
    fn point_values_from_json_are_always_finite() {
        for bad in [
            r#"{"series":"a","ts":1,"value":1e400}"#,
            r#"{"series":"a","ts":1,"value":NaN}"#,
            r#"{"series":"a","ts":1,"value":null}"#,
            r#"{"series":"a b","ts":1,"value":1}"#,
        ] {
            assert!(serde_json::from_str::<Point>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_round_trip_and_order() {
        let id = EventId {
            epoch: 0x19a9f3c2b41,
            seq: 17,
        };
        assert_eq!(id.to_string(), "19a9f3c2b41-17");
        assert_eq!("19a9f3c2b41-17".parse::<EventId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""19a9f3c2b41-17""#);
        assert!(
            id < EventId {
                epoch: id.epoch,
                seq: 18
            }
        );
        for bad in [
            "", "17", "-", "x-1", "1-", "1-x", "1-+2", "1--2", "1-2-3", "1 -2",
        ] {
            let err = bad.parse::<EventId>().unwrap_err();
            assert!(err.to_string().contains("EPOCH-SEQ"), "{bad}: {err}");
        }
        assert!("1-99999999999999999999".parse::<EventId>().is_err());
    }

    #[test]
    fn reset_reasons_are_snake_case() {
        let r = Reset {
            reason: ResetReason::TooOld,
            detail: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"reason":"too_old","detail":"x"}"#
        );
        for reason in [
            ResetReason::TooOld,
            ResetReason::Restarted,
            ResetReason::UnknownId,
            ResetReason::Lagged,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }

    #[test]
    fn names_deserialize_validated() {
        assert!(serde_json::from_str::<StreamName>(r#""ok""#).is_ok());
        assert!(serde_json::from_str::<SeriesName>(r#""no way""#).is_err());
    }

    #[test]
    fn positions_round_trip_and_refuse_nonsense() {
        let p: Positions = "a:1f-3, b.x:1f-0".parse().unwrap();
        assert_eq!(p.to_string(), "a:1f-3,b.x:1f-0");
        assert_eq!(
            p.get(&StreamName::parse("b.x").unwrap()),
            Some(EventId {
                epoch: 0x1f,
                seq: 0
            })
        );
        assert_eq!("".parse::<Positions>(), Ok(Positions::default()));
        for (bad, says) in [
            ("a", "item 1"),
            ("a:1-1,b/c:1-1", "item 2"),
            ("a:1-x", "EPOCH-SEQ"),
            ("a:1-1,a:1-2", "twice"),
        ] {
            let err = bad.parse::<Positions>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let path = crate::paths::multiplex(&[StreamName::parse("a").unwrap()], &p);
        assert_eq!(path, "/api/events?streams=a&last_event_id=a:1f-3,b.x:1f-0");
    }

    #[test]
    fn task_ids_are_16_hex_digits() {
        let id = TaskId(0xabc);
        assert_eq!(id.to_string(), "0000000000000abc");
        assert_eq!("0000000000000abc".parse::<TaskId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""0000000000000abc""#);
        for bad in ["", "abc", "000000000000abcg", "00000000000000abc"] {
            assert!(bad.parse::<TaskId>().is_err(), "{bad}");
        }
        assert_eq!(
            crate::paths::task_events(id),
            "/api/tasks/0000000000000abc/events"
        );
    }

    #[test]
    fn stream_meta_is_validated_field_by_field() {
        let ok = StreamMeta {
            title: Some("Robot arm".into()),
            unit: Some("°C".into()),
            min: Some(-10.0),
            max: Some(50.0),
            interpolation: Some(Interpolation::Step),
            gap_ms: Some(30_000),
            window: Some("1h".into()),
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.range(), Some((-10.0, 50.0)));
        let bad = |f: fn(&mut StreamMeta)| {
            let mut m = ok.clone();
            f(&mut m);
            m.validate().unwrap_err()
        };
        assert!(bad(|m| m.title = Some(String::new())).contains("\"title\""));
        assert!(bad(|m| m.unit = Some("x".repeat(17))).contains("\"unit\""));
        assert!(bad(|m| m.title = Some("a\nb".into())).contains("control"));
        assert!(bad(|m| m.min = Some(60.0)).contains("below"));
        assert!(bad(|m| m.max = None).contains("both"));
        assert!(serde_json::from_str::<StreamMeta>(r#"{"colour":"red"}"#).is_err());
        assert!(bad(|m| m.gap_ms = Some(0)).contains("\"gap_ms\""));
        assert!(bad(|m| m.gap_ms = Some(MAX_GAP_MS + 1)).contains("\"gap_ms\""));
        let step: StreamMeta =
            serde_json::from_str(r#"{"interpolation":"step","gap_ms":5000}"#).unwrap();
        assert_eq!(
            (step.interpolation, step.gap_ms),
            (Some(Interpolation::Step), Some(5000))
        );
        assert!(serde_json::from_str::<StreamMeta>(r#"{"interpolation":"spline"}"#).is_err());
        assert!(bad(|m| m.window = Some("5 parsecs".into())).contains("\"window\""));
        let windowed = StreamMeta {
            window: Some("5m".into()),
            ..StreamMeta::default()
        };
        assert_eq!(windowed.validate(), Ok(()));
        assert_eq!(
            windowed.window_choice(),
            Some(crate::choice::WindowChoice::Time(300_000))
        );
    }
}
