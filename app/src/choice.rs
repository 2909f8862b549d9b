//! What a chart is asked to show: the last N points, the last span of time, or a fixed
//! range in the past; as the address writes them (`?window=100`, `?window=5m`,
//! `?from=…&to=…`), and how a drag or a zoom moves a range. Pure logic, unit-tested natively.

use serde::{Deserialize, Serialize};

/// The time windows a chart offers, in milliseconds, with their address form.
pub const TIME_CHOICES: [(i64, &str); 5] = [
    (30_000, "30s"),
    (60_000, "1m"),
    (300_000, "5m"),
    (900_000, "15m"),
    (3_600_000, "1h"),
];

/// The point counts a stream page's address accepts.
pub const PAGE_POINTS: std::ops::RangeInclusive<usize> = 2..=1000;
/// The time windows an address accepts: one second to a week.
pub const PAGE_SPAN_MS: std::ops::RangeInclusive<i64> = 1000..=604_800_000;

/// How much of its stream a chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowChoice {
    /// The last N points of each series.
    Points(usize),
    /// The last span of time (ms), filled from the retained history.
    Time(i64),
}

impl WindowChoice {
    /// Reads `100` (points) or `5m`, `30s`, `1h` (time), as in `?window=`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(n) = text.parse::<usize>() {
            return if PAGE_POINTS.contains(&n) {
                Ok(WindowChoice::Points(n))
            } else {
                Err(format!(
                    "window={n}: expected a whole number of points from {} to {}, or a time \
                     such as 5m.",
                    PAGE_POINTS.start(),
                    PAGE_POINTS.end()
                ))
            };
        }
        let bad = || {
            format!(
                "window={:?}: expected a number of points (e.g. 100) or a time (30s, 5m, 1h).",
                text.chars().take(40).collect::<String>()
            )
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let n: i64 = number.parse().map_err(|_| bad())?;
        let scale = match unit {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(scale).ok_or_else(bad)?;
        if !PAGE_SPAN_MS.contains(&ms) {
            return Err(format!("window={text}: a time window is 1s to 7d."));
        }
        Ok(WindowChoice::Time(ms))
    }

    /// The address form, which [`WindowChoice::parse`] reads back.
    pub fn key(self) -> String {
        match self {
            WindowChoice::Points(n) => n.to_string(),
            WindowChoice::Time(ms) => {
                let (scale, unit) = [(3_600_000, "h"), (60_000, "m"), (1000, "s")]
                    .into_iter()
                    .find(|(scale, _)| ms % scale == 0)
                    .unwrap_or((1000, "s"));
                format!("{}{unit}", ms / scale)
            }
        }
    }

    /// How the chart's menu names it.
    pub fn label(self) -> String {
        match self {
            WindowChoice::Points(n) => format!("{n} points"),
            WindowChoice::Time(_) => {
                let key = self.key();
                let (n, unit) = key.split_at(key.len() - 1);
                match unit {
                    "h" => format!("{n} h"),
                    "m" => format!("{n} min"),
                    _ => format!("{n} s"),
                }
            }
        }
    }
}

/// A fixed range in the past, as `?from=&to=` write it: both ends, `from` before `to`.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<Option<(i64, i64)>, String> {
    match (from, to) {
        (None, None) => Ok(None),
        (Some(f), Some(t)) => {
            let (Ok(f), Ok(t)) = (f.trim().parse::<i64>(), t.trim().parse::<i64>()) else {
                return Err(
                    "from and to: expected times in milliseconds since the Unix epoch.".into(),
                );
            };
            if f >= t {
                return Err(format!("from ({f}) must be before to ({t})."));
            }
            Ok(Some((f, t)))
        }
        _ => Err("give both from and to for a range in the past, or neither.".into()),
    }
}

/// The shortest range zooming in reaches: 10 ms.
pub const MIN_SPAN_MS: i64 = 10;
/// The longest range zooming out reaches: a year.
pub const MAX_SPAN_MS: i64 = 366 * 86_400_000;

/// `range` moved later by `dt` ms (earlier when negative).
pub fn pan((from, to): (i64, i64), dt: i64) -> (i64, i64) {
    (from.saturating_add(dt), to.saturating_add(dt))
}

/// `range` zoomed by `factor` (below 1: in) around the instant `at`, which stays where it
/// is on screen; the span stays within [`MIN_SPAN_MS`]..=[`MAX_SPAN_MS`].
pub fn zoom((from, to): (i64, i64), at: i64, factor: f64) -> (i64, i64) {
    let span = (to - from).max(1) as f64;
    let new_span = (span * factor).clamp(MIN_SPAN_MS as f64, MAX_SPAN_MS as f64);
    let left = ((at - from) as f64 / span).clamp(0.0, 1.0);
    let from = at as f64 - new_span * left;
    let from = from.round() as i64;
    (from, from.saturating_add(new_span.round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_through_the_address() {
        for text in [
            "20", "500", "30s", "1m", "5m", "15m", "1h", "90s", "2h", "7d",
        ] {
            let c = WindowChoice::parse(text).unwrap();
            assert_eq!(WindowChoice::parse(&c.key()), Ok(c), "{text}");
        }
        assert_eq!(WindowChoice::parse("5m"), Ok(WindowChoice::Time(300_000)));
        assert_eq!(WindowChoice::Time(300_000).key(), "5m");
        assert_eq!(WindowChoice::Time(90_000).key(), "90s");
        assert_eq!(WindowChoice::Time(300_000).label(), "5 min");
        assert_eq!(WindowChoice::Time(30_000).label(), "30 s");
        assert_eq!(WindowChoice::Time(3_600_000).label(), "1 h");
        assert_eq!(WindowChoice::Points(100).label(), "100 points");
        for bad in [
            "",
            "1",
            "1001",
            "5x",
            "m",
            "0s",
            "8d",
            "-5m",
            "99999999999999999999h",
        ] {
            assert!(WindowChoice::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_from_the_address() {
        assert_eq!(parse_range(None, None), Ok(None));
        assert_eq!(parse_range(Some("10"), Some("20")), Ok(Some((10, 20))));
        assert!(parse_range(Some("20"), Some("10")).is_err());
        assert!(parse_range(Some("10"), None).is_err());
        assert!(parse_range(Some("x"), Some("20")).is_err());
    }

    #[test]
    fn pan_and_zoom_keep_the_pointer_still() {
        assert_eq!(pan((1000, 2000), -300), (700, 1700));
        assert_eq!(pan((i64::MIN, 0), -1), (i64::MIN, -1));
        // Zooming in around 1250: a quarter from the left stays a quarter from the left.
        assert_eq!(zoom((1000, 2000), 1250, 0.5), (1125, 1625));
        assert_eq!(zoom((1000, 2000), 1250, 2.0), (750, 2750));
        // Bounded both ways.
        assert_eq!(zoom((0, 20), 10, 0.01), (5, 15));
        let (f, t) = zoom((0, MAX_SPAN_MS), 0, 10.0);
        assert_eq!(t - f, MAX_SPAN_MS);
    }
}
