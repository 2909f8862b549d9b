//! A point as it travels in events, and as a publisher sends it (validated once, here).

use super::*;

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

/// Milliseconds since the Unix epoch by this machine's clock (0 if the clock is before it).
/// Native only: in the browser, time comes from `Date.now()`.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
