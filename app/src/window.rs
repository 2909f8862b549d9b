//! What a chart shows: the sliding window of recent points, the axis ranges that fit them, and
//! the mapping between data and screen used for hovering. Pure logic, shared by SSR and WASM,
//! so it is unit-tested natively.

use crate::model::Point;
use std::collections::VecDeque;

/// The number of points a chart keeps by default.
pub const DEFAULT_WINDOW: usize = 20;

/// A fixed-capacity window of the most recent points, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    capacity: usize,
    points: VecDeque<Point>,
}

impl Window {
    /// A window of `capacity` points (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Window {
            capacity,
            points: VecDeque::with_capacity(capacity),
        }
    }

    /// Adds a point, dropping the oldest when full. Memory never grows past `capacity`.
    pub fn push(&mut self, point: Point) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn points(&self) -> impl ExactSizeIterator<Item = &Point> + DoubleEndedIterator + Clone {
        self.points.iter()
    }

    pub fn latest(&self) -> Option<&Point> {
        self.points.back()
    }

    /// The first and last timestamp; a lone point gets a one-second span around it so that
    /// the axis is never empty.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let first = self.points.front()?.ts;
        let last = self.points.back()?.ts;
        let (lo, hi) = (first.min(last), first.max(last));
        Some(if lo == hi {
            (lo - 500, hi + 500)
        } else {
            (lo, hi)
        })
    }

    /// Whether this exact point is still in the window.
    pub fn contains(&self, point: &Point) -> bool {
        self.points.contains(point)
    }

    /// The average time between consecutive points, in milliseconds.
    pub fn spacing_ms(&self) -> Option<f64> {
        let (first, last) = (self.points.front()?, self.points.back()?);
        (self.points.len() > 1)
            .then(|| (last.ts - first.ts) as f64 / (self.points.len() - 1) as f64)
    }

    /// The point whose timestamp is nearest to `ts`.
    pub fn nearest(&self, ts: f64) -> Option<&Point> {
        self.points.iter().min_by(|a, b| {
            let da = (a.ts as f64 - ts).abs();
            let db = (b.ts as f64 - ts).abs();
            da.total_cmp(&db)
        })
    }
}

/// The y range for `points`: the declared range when there is one (widened if data falls
/// outside it), otherwise the data's extent with 5 % headroom on each side.
pub fn value_range<'a>(
    points: impl Iterator<Item = &'a Point>,
    declared: Option<(f64, f64)>,
) -> (f64, f64) {
    let (lo, hi) = points
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .map_or((f64::NAN, f64::NAN), |r| r);
    if let Some((dlo, dhi)) = declared {
        if lo.is_nan() {
            return (dlo, dhi);
        }
        return (dlo.min(lo), dhi.max(hi));
    }
    if lo.is_nan() {
        return (0.0, 1.0);
    }
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// How many decimals make labels on an axis spanning `span` readable without noise.
pub fn label_decimals(span: f64) -> usize {
    if !span.is_finite() || span <= 0.0 {
        return 2;
    }
    (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
}

/// How many decimals of a second tell apart times `step_ms` apart (0 to 3).
pub fn time_decimals(step_ms: f64) -> usize {
    match step_ms {
        s if s >= 1000.0 || !s.is_finite() => 0,
        s if s >= 100.0 => 1,
        s if s >= 10.0 => 2,
        _ => 3,
    }
}

/// `HH:MM:SS` (with `decimals` digits of the second, at most 3) of a millisecond timestamp
/// shifted by `offset_minutes` (east of UTC positive).
pub fn format_clock(ts_ms: i64, offset_minutes: i32, decimals: usize) -> String {
    // Rounded, not truncated, to the shown precision: a point at 12:00:04.96 sits on the
    // axis tick of 12:00:05 and its tooltip says so.
    let unit = 10i64.pow(3 - decimals.min(3) as u32);
    let local = (ts_ms + i64::from(offset_minutes) * 60_000 + unit / 2).div_euclid(unit) * unit;
    let secs = local.div_euclid(1000).rem_euclid(86_400);
    let clock = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    match decimals.min(3) {
        0 => clock,
        d => {
            let frac = format!("{:03}", local.rem_euclid(1000));
            format!("{clock}.{}", &frac[..d])
        }
    }
}

/// An ISO 8601 UTC timestamp (`2025-11-21T05:20:00.123Z`) of a millisecond timestamp.
/// Computed without a clock library so that server and browser render the same text.
pub fn format_iso_utc(ts_ms: i64) -> String {
    let days = ts_ms.div_euclid(86_400_000);
    let ms_of_day = ts_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Where the plotting area of the last drawn frame sits on screen (CSS pixels) and which data
/// ranges it shows: enough to map the mouse to a point and a point back to the screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapping {
    pub x_px: (f64, f64),
    pub y_px: (f64, f64),
    pub t: (f64, f64),
    pub v: (f64, f64),
}

impl Mapping {
    /// The timestamp under screen x.
    pub fn ts_at(&self, x: f64) -> f64 {
        let (x0, x1) = self.x_px;
        if x1 == x0 {
            return self.t.0;
        }
        self.t.0 + (x - x0) / (x1 - x0) * (self.t.1 - self.t.0)
    }

    /// The screen position of a point.
    pub fn to_screen(&self, p: &Point) -> (f64, f64) {
        let fx = if self.t.1 == self.t.0 {
            0.5
        } else {
            (p.ts as f64 - self.t.0) / (self.t.1 - self.t.0)
        };
        let fy = if self.v.1 == self.v.0 {
            0.5
        } else {
            (p.value - self.v.0) / (self.v.1 - self.v.0)
        };
        // Screen y grows downwards: the top of the area shows the largest value.
        (
            self.x_px.0 + fx * (self.x_px.1 - self.x_px.0),
            self.y_px.1 - fy * (self.y_px.1 - self.y_px.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ts: i64, value: f64) -> Point {
        Point { ts, value }
    }

    #[test]
    fn window_slides_and_keeps_order() {
        let mut w = Window::new(3);
        for i in 0..5 {
            w.push(p(i, i as f64));
        }
        assert_eq!(w.len(), 3);
        let ts: Vec<i64> = w.points().map(|p| p.ts).collect();
        assert_eq!(ts, vec![2, 3, 4]);
        assert_eq!(w.latest(), Some(&p(4, 4.0)));
    }

    #[test]
    fn window_capacity_is_at_least_one() {
        let mut w = Window::new(0);
        w.push(p(1, 1.0));
        w.push(p(2, 2.0));
        assert_eq!(w.len(), 1);
        assert_eq!(w.capacity(), 1);
    }

    #[test]
    fn window_memory_is_bounded() {
        let mut w = Window::new(DEFAULT_WINDOW);
        for i in 0..10_000 {
            w.push(p(i, 0.0));
        }
        assert_eq!(w.len(), DEFAULT_WINDOW);
    }

    #[test]
    fn time_range_never_empty() {
        let mut w = Window::new(5);
        assert_eq!(w.time_range(), None);
        w.push(p(10_000, 1.0));
        assert_eq!(w.time_range(), Some((9_500, 10_500)));
        w.push(p(12_000, 1.0));
        assert_eq!(w.time_range(), Some((10_000, 12_000)));
        w.push(p(16_000, 1.0));
        assert_eq!(w.spacing_ms(), Some(3000.0));
    }

    #[test]
    fn nearest_point_by_time() {
        let mut w = Window::new(5);
        for ts in [1000, 2000, 3000] {
            w.push(p(ts, ts as f64));
        }
        assert!(w.contains(&p(2000, 2000.0)));
        assert!(!w.contains(&p(2000, 1.0)));
        assert_eq!(w.nearest(2400.0).unwrap().ts, 2000);
        assert_eq!(w.nearest(2600.0).unwrap().ts, 3000);
        assert_eq!(w.nearest(-5.0).unwrap().ts, 1000);
        assert!(Window::new(2).nearest(1.0).is_none());
    }

    #[test]
    fn declared_range_is_kept_and_widened_by_outliers() {
        let pts = [p(0, 10.0), p(1, 90.0)];
        assert_eq!(value_range(pts.iter(), Some((0.0, 100.0))), (0.0, 100.0));
        let out = [p(0, -5.0), p(1, 120.0)];
        assert_eq!(value_range(out.iter(), Some((0.0, 100.0))), (-5.0, 120.0));
        assert_eq!(value_range([].iter(), Some((0.0, 100.0))), (0.0, 100.0));
    }

    #[test]
    fn fitted_range_has_headroom() {
        let pts = [p(0, 10.0), p(1, 20.0)];
        assert_eq!(value_range(pts.iter(), None), (9.5, 20.5));
        let flat = [p(0, 50.0), p(1, 50.0)];
        assert_eq!(value_range(flat.iter(), None), (45.0, 55.0));
        let zero = [p(0, 0.0)];
        assert_eq!(value_range(zero.iter(), None), (-1.0, 1.0));
        assert_eq!(value_range([].iter(), None), (0.0, 1.0));
    }

    #[test]
    fn decimals_follow_span() {
        assert_eq!(label_decimals(100.0), 0);
        assert_eq!(label_decimals(10.0), 1);
        assert_eq!(label_decimals(1.0), 2);
        assert_eq!(label_decimals(0.01), 4);
        assert_eq!(label_decimals(0.0), 2);
    }

    #[test]
    fn time_precision_follows_spacing() {
        assert_eq!(time_decimals(1000.0), 0);
        assert_eq!(time_decimals(4750.0), 0);
        assert_eq!(time_decimals(250.0), 1);
        assert_eq!(time_decimals(25.0), 2);
        assert_eq!(time_decimals(1.0), 3);
        assert_eq!(time_decimals(f64::NAN), 0);
    }

    #[test]
    fn clock_and_iso_formatting() {
        // 2025-11-21T05:20:00.123Z
        let ts = 1_763_702_400_123;
        assert_eq!(format_clock(ts, 0, 0), "05:20:00");
        assert_eq!(format_clock(ts, 60, 0), "06:20:00");
        assert_eq!(format_clock(ts, -330, 0), "23:50:00");
        assert_eq!(format_clock(ts, 0, 1), "05:20:00.1");
        assert_eq!(format_clock(ts, 0, 3), "05:20:00.123");
        assert_eq!(format_clock(ts, 0, 9), "05:20:00.123");
        assert_eq!(format_clock(-1, 0, 3), "23:59:59.999");
        assert_eq!(format_clock(ts + 380, 0, 0), "05:20:01");
        assert_eq!(format_clock(ts + 376, 0, 2), "05:20:00.50");
        assert_eq!(format_clock(86_399_600, 0, 0), "00:00:00");
        assert_eq!(format_iso_utc(ts), "2025-11-21T05:20:00.123Z");
        assert_eq!(format_iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_iso_utc(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn mapping_round_trips() {
        let m = Mapping {
            x_px: (50.0, 450.0),
            y_px: (10.0, 210.0),
            t: (1000.0, 2000.0),
            v: (0.0, 100.0),
        };
        assert_eq!(m.ts_at(250.0), 1500.0);
        assert_eq!(m.to_screen(&p(1500, 50.0)), (250.0, 110.0));
        assert_eq!(m.to_screen(&p(2000, 100.0)), (450.0, 10.0));
        assert_eq!(m.to_screen(&p(1000, 0.0)), (50.0, 210.0));
    }
}
