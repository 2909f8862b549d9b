//! Looking back: the range query over a stream's retained points
//! (`GET /api/streams/{name}/points?from=&to=&series=&max_points=&format=&time=`), its
//! parameters, checked in one place, and its answer. The server answers it, the browser asks
//! it for time windows, zoom and pan, and for CSV export.

use crate::model::{EventId, SeriesName, StreamName};
use serde::{Deserialize, Serialize};

/// The points per series an answer holds when `max_points` is not given.
pub const DEFAULT_MAX_POINTS: usize = 2_000;
/// The most points per series a JSON answer may ask for.
pub const MAX_MAX_POINTS: usize = 100_000;
/// The most points (rows) one CSV answer holds; a larger range is refused (narrow it by time
/// or series).
pub const MAX_CSV_POINTS: usize = 5_000_000;

/// How the answer is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RangeFormat {
    /// [`PointsRange`], reduced per series above `max_points`.
    #[default]
    Json,
    /// `series,ts,value` rows of the exact points, never reduced.
    Csv,
}

/// How CSV writes times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// Milliseconds since the Unix epoch, as published.
    #[default]
    Ms,
    /// ISO 8601 in UTC with milliseconds, e.g. `2026-12-03T15:00:00.123Z`.
    Iso,
}

/// A range query's parameters, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeQuery {
    /// The earliest time (ms since the epoch, inclusive); the oldest retained when absent.
    pub from: Option<i64>,
    /// The latest time (inclusive); the newest retained when absent.
    pub to: Option<i64>,
    /// The series to answer; every series of the stream when absent.
    pub series: Option<Vec<SeriesName>>,
    /// The most points per series ([`DEFAULT_MAX_POINTS`] when absent).
    pub max_points: usize,
    pub format: RangeFormat,
    pub time: TimeFormat,
}

impl Default for RangeQuery {
    /// Everything retained, [`DEFAULT_MAX_POINTS`] per series, as JSON.
    fn default() -> Self {
        RangeQuery {
            from: None,
            to: None,
            series: None,
            max_points: DEFAULT_MAX_POINTS,
            format: RangeFormat::Json,
            time: TimeFormat::Ms,
        }
    }
}

impl RangeQuery {
    /// Reads the query string's parameters (each `(name, value)` already percent-decoded);
    /// the error names the parameter and what was wrong. Unknown parameters are refused, so
    /// that a misspelt one is not silently ignored.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut q = RangeQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(format!("`{name}` is given twice"));
            }
            seen.push(name);
            let time = |value: &str| {
                value.parse::<i64>().map_err(|_| {
                    format!(
                        "`{name}` must be a time in milliseconds since the Unix epoch, not {:?}",
                        shorten(value)
                    )
                })
            };
            match name {
                "from" => q.from = Some(time(value)?),
                "to" => q.to = Some(time(value)?),
                "series" => {
                    // No stream has more series than this: a longer list is refused before
                    // it is parsed, and repeats are found by hashing.
                    let most = crate::window::MAX_SERIES;
                    let too_many = || format!("`series` names more than {most} series, the most a stream has");
                    if value.len() > most * (crate::model::MAX_NAME_LEN + 1) {
                        return Err(too_many());
                    }
                    let mut list = Vec::new();
                    let mut seen = std::collections::HashSet::new();
                    for s in value.split(',').filter(|s| !s.is_empty()) {
                        let s = SeriesName::parse(s)
                            .map_err(|e| format!("`series`: {:?}: {e}", shorten(s)))?;
                        if seen.insert(s.clone()) {
                            if list.len() == most {
                                return Err(too_many());
                            }
                            list.push(s);
                        }
                    }
                    if list.is_empty() {
                        return Err("`series` is empty: name at least one series, or leave it out for all".into());
                    }
                    q.series = Some(list);
                }
                "max_points" => {
                    q.max_points = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (4..=MAX_MAX_POINTS).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "`max_points` must be a whole number from 4 to {MAX_MAX_POINTS}, not {:?}",
                                shorten(value)
                            )
                        })?
                }
                "format" => {
                    q.format = match value {
                        "json" => RangeFormat::Json,
                        "csv" => RangeFormat::Csv,
                        _ => {
                            return Err(format!(
                                "`format` must be `json` or `csv`, not {:?}",
                                shorten(value)
                            ))
                        }
                    }
                }
                "time" => {
                    q.time = match value {
                        "ms" => TimeFormat::Ms,
                        "iso" => TimeFormat::Iso,
                        _ => {
                            return Err(format!(
                                "`time` must be `ms` or `iso`, not {:?}",
                                shorten(value)
                            ))
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown parameter `{}`: expected from, to, series, max_points, format or time",
                        shorten(other)
                    ))
                }
            }
        }
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if from > to {
                return Err(format!("`from` ({from}) is after `to` ({to})"));
            }
        }
        Ok(q)
    }

    /// The query's path for `stream`, with only the parameters that differ from the defaults.
    pub fn path(&self, stream: &StreamName) -> String {
        let mut params: Vec<String> = Vec::new();
        if let Some(from) = self.from {
            params.push(format!("from={from}"));
        }
        if let Some(to) = self.to {
            params.push(format!("to={to}"));
        }
        if let Some(series) = &self.series {
            let names: Vec<&str> = series.iter().map(SeriesName::as_str).collect();
            params.push(format!("series={}", names.join(",")));
        }
        if self.max_points != DEFAULT_MAX_POINTS {
            params.push(format!("max_points={}", self.max_points));
        }
        if self.format == RangeFormat::Csv {
            params.push("format=csv".into());
        }
        if self.time == TimeFormat::Iso {
            params.push("time=iso".into());
        }
        let path = crate::paths::points(stream);
        if params.is_empty() {
            path
        } else {
            format!("{path}?{}", params.join("&"))
        }
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The JSON answer of a range query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointsRange {
    pub stream: StreamName,
    /// The range answered (the retained extent where the query left an end open).
    pub from: i64,
    pub to: i64,
    /// The last event included: live events after it continue the answer with no gap and no
    /// repeat.
    pub last_id: Option<EventId>,
    /// Whether any series was reduced.
    pub reduced: bool,
    pub series: Vec<SeriesPoints>,
}

/// One series of a [`PointsRange`]: times and values, in time order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoints {
    pub series: SeriesName,
    /// The points the range holds, before any reduction.
    pub total: usize,
    /// Whether `ts`/`values` are the per-bucket first, last, minimum and maximum of more.
    pub reduced: bool,
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<RangeQuery, String> {
        RangeQuery::parse(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, ""))),
        )
    }

    #[test]
    fn defaults_and_round_trip() {
        let q = parse("").unwrap();
        assert_eq!(q, RangeQuery::default());
        assert_eq!(q.max_points, DEFAULT_MAX_POINTS);
        assert_eq!((q.from, q.to, q.series.clone()), (None, None, None));
        let stream = StreamName::parse("s").unwrap();
        assert_eq!(q.path(&stream), "/api/streams/s/points");
        let q = parse("from=-5&to=10&series=a,b,a&max_points=4&format=csv&time=iso").unwrap();
        assert_eq!(q.series.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            q.path(&stream),
            "/api/streams/s/points?from=-5&to=10&series=a,b&max_points=4&format=csv&time=iso"
        );
        assert_eq!(parse(q.path(&stream).split_once('?').unwrap().1), Ok(q));
    }

    #[test]
    fn bad_parameters_say_which_and_why() {
        for (q, says) in [
            ("from=yesterday", "`from`"),
            ("to=1.5", "`to`"),
            ("from=10&to=5", "after"),
            ("max_points=3", "`max_points`"),
            ("max_points=100001", "`max_points`"),
            ("max_points=-1", "`max_points`"),
            ("series=", "`series` is empty"),
            ("series=a%20b", "`series`"),
            ("format=xml", "`format`"),
            ("time=local", "`time`"),
            ("limit=5", "unknown parameter `limit`"),
            ("from=1&from=2", "twice"),
            (
                format!("series={}", vec!["a"; 70_000].join(",")).as_str(),
                "more than 64",
            ),
            (
                format!(
                    "series={}",
                    (0..65)
                        .map(|i| format!("s{i}"))
                        .collect::<Vec<_>>()
                        .join(",")
                )
                .as_str(),
                "more than 64",
            ),
        ] {
            let err = parse(q).unwrap_err();
            assert!(err.contains(says), "{q}: {err}");
        }
    }
}
