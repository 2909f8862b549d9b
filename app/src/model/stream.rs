//! What a stream sends and says about itself: its snapshot, resets, descriptions, the
//! catalog entry, and a multiplexed connection's tagged events.

use super::*;

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
