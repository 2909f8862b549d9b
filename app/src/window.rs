//! What a chart shows: the sliding window of recent points, the axis ranges that fit them, and
//! the mapping between data and screen used for hovering. Pure logic, shared by SSR and WASM,
//! so it is unit-tested natively.

use crate::model::{Point, SeriesName};
use std::collections::{BTreeMap, VecDeque};

/// The number of points per series a chart shows by default.
pub const DEFAULT_WINDOW: usize = 20;

/// The window sizes a chart offers.
pub const WINDOW_CHOICES: [usize; 4] = [20, 50, 100, 500];

/// The points per series a chart keeps, whatever it shows: switching to a larger window shows
/// history at once instead of waiting for it.
pub const KEPT_POINTS: usize = 500;

/// The most series one chart draws; points of further series are ignored (the server's
/// per-stream limit is lower by default).
pub const MAX_SERIES: usize = 64;

/// One point of one series as a chart keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub ts: i64,
    pub value: f64,
    /// Events were missed between the previous sample and this one: the line is broken here
    /// and a gap marker drawn.
    pub gap_before: bool,
}

/// The most recent points of every series of a stream, oldest first, each series in a
/// fixed-capacity buffer: memory never grows past `capacity` × [`MAX_SERIES`] samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    capacity: usize,
    series: BTreeMap<SeriesName, VecDeque<Sample>>,
    latest: Option<Point>,
}

impl Window {
    /// A window of `capacity` points per series (at least one).
    pub fn new(capacity: usize) -> Self {
        Window {
            capacity: capacity.max(1),
            series: BTreeMap::new(),
            latest: None,
        }
    }

    /// Adds a point, dropping its series' oldest when full.
    pub fn push(&mut self, point: &Point) {
        self.push_sample(point, false);
    }

    fn push_sample(&mut self, point: &Point, gap_before: bool) -> bool {
        if !self.series.contains_key(&point.series) && self.series.len() >= MAX_SERIES {
            return false;
        }
        let capacity = self.capacity;
        let samples = self
            .series
            .entry(point.series.clone())
            .or_insert_with(|| VecDeque::with_capacity(capacity));
        if samples.len() == capacity {
            samples.pop_front();
            // A gap before the oldest sample has nothing left to separate.
            if let Some(first) = samples.front_mut() {
                first.gap_before = false;
            }
        }
        samples.push_back(Sample {
            ts: point.ts,
            value: point.value,
            gap_before: gap_before && !samples.is_empty(),
        });
        self.latest = Some(point.clone());
        true
    }

    /// Replaces everything with a snapshot (a fresh subscription: nothing was shown before).
    pub fn replace(&mut self, points: &[Point]) {
        self.series.clear();
        self.latest = None;
        for p in points {
            self.push(p);
        }
    }

    /// Joins a snapshot taken after missed events: points the window already has (by series
    /// and time) are skipped, and the first new point of each series is marked as following a
    /// gap.
    pub fn join_after_gap(&mut self, points: &[Point]) {
        let mut gapped: Vec<&SeriesName> = Vec::new();
        for p in points {
            let last_ts = self
                .series
                .get(&p.series)
                .and_then(|s| s.back())
                .map(|s| s.ts);
            if last_ts.is_some_and(|ts| p.ts <= ts) {
                continue;
            }
            let first_after_gap = !gapped.contains(&&p.series);
            if self.push_sample(p, first_after_gap) && first_after_gap {
                gapped.push(&p.series);
            }
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What a chart shows of this window: the last `last` points of each series, with the
    /// series in `hidden` kept but empty (so that every series keeps its colour).
    pub fn view(&self, last: usize, hidden: impl Fn(&SeriesName) -> bool) -> Window {
        let series = self
            .series
            .iter()
            .map(|(name, samples)| {
                let mut kept: VecDeque<Sample> = if hidden(name) {
                    VecDeque::new()
                } else {
                    samples
                        .range(samples.len().saturating_sub(last)..)
                        .copied()
                        .collect()
                };
                // A gap before the first sample shown has nothing to separate.
                if let Some(first) = kept.front_mut() {
                    first.gap_before = false;
                }
                (name.clone(), kept)
            })
            .collect();
        Window {
            capacity: last.max(1),
            series,
            latest: self.latest.clone(),
        }
    }

    /// The latest value of every series, by name.
    pub fn latest_values(&self) -> impl Iterator<Item = (&SeriesName, f64)> {
        self.series
            .iter()
            .filter_map(|(name, samples)| samples.back().map(|s| (name, s.value)))
    }

    /// Points held, over all series.
    pub fn len(&self) -> usize {
        self.series.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.series.values().all(VecDeque::is_empty)
    }

    /// Every series with its samples, by name.
    pub fn series(&self) -> impl Iterator<Item = (&SeriesName, &VecDeque<Sample>)> {
        self.series.iter()
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Every point, series by series.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        self.series.iter().flat_map(|(name, samples)| {
            samples.iter().map(|s| Point {
                series: name.clone(),
                ts: s.ts,
                value: s.value,
            })
        })
    }

    /// Gap markers currently shown.
    pub fn gaps(&self) -> usize {
        self.series
            .values()
            .flatten()
            .filter(|s| s.gap_before)
            .count()
    }

    /// The point received last.
    pub fn latest(&self) -> Option<&Point> {
        self.latest.as_ref()
    }

    /// The earliest and latest timestamp over all series; a lone instant gets a one-second
    /// span around it so that the axis is never empty.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (lo, hi) =
            self.series
                .values()
                .flatten()
                .fold(None, |acc: Option<(i64, i64)>, s| match acc {
                    None => Some((s.ts, s.ts)),
                    Some((lo, hi)) => Some((lo.min(s.ts), hi.max(s.ts))),
                })?;
        Some(if lo == hi {
            (lo - 500, hi + 500)
        } else {
            (lo, hi)
        })
    }

    /// Whether this exact point is still in the window.
    pub fn contains(&self, point: &Point) -> bool {
        self.series
            .get(&point.series)
            .is_some_and(|s| s.iter().any(|x| x.ts == point.ts && x.value == point.value))
    }

    /// The average time between consecutive points of the longest series, in milliseconds.
    pub fn spacing_ms(&self) -> Option<f64> {
        let samples = self.series.values().max_by_key(|s| s.len())?;
        let (first, last) = (samples.front()?, samples.back()?);
        (samples.len() > 1).then(|| (last.ts - first.ts) as f64 / (samples.len() - 1) as f64)
    }

    /// The point nearest to the screen position `(ts, value)` under `mapping`'s scale: by
    /// time first, then by value among series sampled at about the same time.
    pub fn nearest(&self, ts: f64, value: Option<f64>) -> Option<Point> {
        let mut best: Option<(f64, f64, Point)> = None;
        for p in self.points() {
            let dt = (p.ts as f64 - ts).abs();
            let dv = value.map_or(0.0, |v| (p.value - v).abs());
            let better = match &best {
                None => true,
                Some((bt, bv, _)) => dt < *bt || (dt == *bt && dv < *bv),
            };
            if better {
                best = Some((dt, dv, p));
            }
        }
        best.map(|(_, _, p)| p)
    }
}

/// The y range for `values`: the declared range when there is one (widened if data falls
/// outside it), otherwise the data's extent with 5 % headroom on each side.
pub fn value_range(values: impl Iterator<Item = f64>, declared: Option<(f64, f64)>) -> (f64, f64) {
    let (lo, hi) = values
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

/// The value axis' labels: round values in `lo..=hi` (1, 2 or 5 × 10^k apart, about `n`
/// intervals, all inside the range) and how many decimals tell them apart.
pub fn value_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) || n == 0 {
        return (if lo.is_finite() { vec![lo] } else { Vec::new() }, 2);
    }
    let raw = span / n as f64;
    let exp = raw.log10().floor() as i32;
    let mag = 10f64.powi(exp);
    // The round step giving the number of intervals nearest to `n`.
    let intervals = |step: f64| (span / step - n as f64).abs();
    let (mult, step) = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| (m, m * mag))
        .fold((1.0, mag), |best, c| {
            if intervals(c.1) < intervals(best.1) {
                c
            } else {
                best
            }
        });
    // 1, 2 or 5 × 10^exp needs -exp decimals (none from 10 up).
    let decimals = if mult >= 10.0 { -exp - 1 } else { -exp }.clamp(0, 6) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

/// The time axis' labels: round times in `t0..=t1` (multiples of 1, 2 or 5 ms up to whole
/// hours, counted in the viewer's time zone `offset_minutes` east of UTC; about `n`
/// intervals) and how many decimals of a second tell them apart.
pub fn time_ticks(t0: i64, t1: i64, offset_minutes: i32, n: usize) -> (Vec<i64>, usize) {
    const STEPS_MS: [i64; 27] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000, 86_400_000,
    ];
    if t1 <= t0 || n == 0 {
        return (vec![t0], 0);
    }
    let span = (t1 - t0) as f64;
    let intervals = |step: i64| (span / step as f64 - n as f64).abs();
    let step = STEPS_MS.into_iter().fold(STEPS_MS[0], |best, s| {
        if intervals(s) < intervals(best) {
            s
        } else {
            best
        }
    });
    let offset = i64::from(offset_minutes) * 60_000;
    let first = (t0 + offset).div_euclid(step) * step - offset;
    let first = if first < t0 { first + step } else { first };
    let ticks = (0..)
        .map(|k| first + k * step)
        .take_while(|t| *t <= t1)
        .collect();
    (ticks, time_decimals(step as f64))
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

    /// The value under screen y.
    pub fn value_at(&self, y: f64) -> f64 {
        let (y0, y1) = self.y_px;
        if y1 == y0 {
            return self.v.0;
        }
        self.v.0 + (y1 - y) / (y1 - y0) * (self.v.1 - self.v.0)
    }

    /// The screen position of a point.
    pub fn to_screen(&self, ts: i64, value: f64) -> (f64, f64) {
        let fx = if self.t.1 == self.t.0 {
            0.5
        } else {
            (ts as f64 - self.t.0) / (self.t.1 - self.t.0)
        };
        let fy = if self.v.1 == self.v.0 {
            0.5
        } else {
            (value - self.v.0) / (self.v.1 - self.v.0)
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

    fn s(name: &str) -> SeriesName {
        SeriesName::parse(name).unwrap()
    }

    fn p(ts: i64, value: f64) -> Point {
        sp("a", ts, value)
    }

    fn sp(series: &str, ts: i64, value: f64) -> Point {
        Point {
            series: s(series),
            ts,
            value,
        }
    }

    fn ts_of(w: &Window, series: &str) -> Vec<i64> {
        w.series()
            .find(|(n, _)| n.as_str() == series)
            .map(|(_, v)| v.iter().map(|x| x.ts).collect())
            .unwrap_or_default()
    }

    #[test]
    fn window_slides_per_series_and_keeps_order() {
        let mut w = Window::new(3);
        for i in 0..5 {
            w.push(&p(i, i as f64));
        }
        w.push(&sp("b", 10, 1.0));
        assert_eq!(w.len(), 4);
        assert_eq!(w.series_count(), 2);
        assert_eq!(ts_of(&w, "a"), vec![2, 3, 4]);
        assert_eq!(ts_of(&w, "b"), vec![10]);
        assert_eq!(w.latest(), Some(&sp("b", 10, 1.0)));
    }

    #[test]
    fn a_view_shows_the_tail_of_visible_series_and_keeps_colours() {
        let mut w = Window::new(KEPT_POINTS);
        for i in 0..30 {
            w.push(&sp("a", i, i as f64));
            w.push(&sp("b", i, -(i as f64)));
        }
        w.join_after_gap(&[sp("a", 100, 1.0)]);
        let v = w.view(20, |_| false);
        assert_eq!((v.len(), v.capacity()), (40, 20));
        assert_eq!(ts_of(&v, "a").first(), Some(&11));
        assert_eq!(v.gaps(), 1, "the gap inside the view stays");
        // Hidden series are still listed (their colour is their place), but empty.
        let hidden = s("b");
        let v = w.view(5, |n| *n == hidden);
        assert_eq!(v.series_count(), 2);
        assert!(ts_of(&v, "b").is_empty());
        assert_eq!(ts_of(&v, "a"), [26, 27, 28, 29, 100]);
        let v = w.view(1, |_| false);
        assert_eq!(v.gaps(), 0, "a gap before the first point shown is dropped");
        let latest: Vec<(String, f64)> =
            w.latest_values().map(|(n, v)| (n.to_string(), v)).collect();
        assert_eq!(latest, [("a".to_owned(), 1.0), ("b".to_owned(), -29.0)]);
    }

    #[test]
    fn window_capacity_is_at_least_one() {
        let mut w = Window::new(0);
        w.push(&p(1, 1.0));
        w.push(&p(2, 2.0));
        assert_eq!(w.len(), 1);
        assert_eq!(w.capacity(), 1);
    }

    #[test]
    fn window_memory_is_bounded() {
        let mut w = Window::new(DEFAULT_WINDOW);
        for i in 0..10_000 {
            w.push(&sp(&format!("s{}", i % 100), i, 0.0));
        }
        assert_eq!(w.series_count(), MAX_SERIES);
        assert_eq!(w.len(), DEFAULT_WINDOW * MAX_SERIES);
    }

    #[test]
    fn snapshot_replaces_and_gap_join_marks_and_dedupes() {
        let mut w = Window::new(10);
        w.replace(&[p(1, 1.0), p(2, 2.0), sp("b", 2, 5.0)]);
        assert_eq!(w.len(), 3);
        assert_eq!(w.gaps(), 0);
        // After missed events: 2 is already shown, 7 and 8 are new, b gets a gap too.
        w.join_after_gap(&[p(2, 2.0), p(7, 7.0), p(8, 8.0), sp("b", 9, 6.0)]);
        assert_eq!(ts_of(&w, "a"), vec![1, 2, 7, 8]);
        assert_eq!(w.gaps(), 2);
        let flags: Vec<bool> = w
            .series()
            .next()
            .unwrap()
            .1
            .iter()
            .map(|s| s.gap_before)
            .collect();
        assert_eq!(flags, vec![false, false, true, false]);
        // A series the window did not have starts without a gap marker.
        w.join_after_gap(&[sp("c", 9, 1.0)]);
        assert_eq!(w.gaps(), 2);
        w.replace(&[]);
        assert!(w.is_empty());
        assert_eq!(w.latest(), None);
    }

    #[test]
    fn gap_marker_leaves_with_its_predecessor() {
        let mut w = Window::new(2);
        w.push(&p(1, 1.0));
        w.join_after_gap(&[p(5, 5.0)]);
        assert_eq!(w.gaps(), 1);
        w.push(&p(6, 6.0));
        assert_eq!(ts_of(&w, "a"), vec![5, 6]);
        assert_eq!(w.gaps(), 0);
    }

    #[test]
    fn time_range_never_empty() {
        let mut w = Window::new(5);
        assert_eq!(w.time_range(), None);
        w.push(&p(10_000, 1.0));
        assert_eq!(w.time_range(), Some((9_500, 10_500)));
        w.push(&p(12_000, 1.0));
        assert_eq!(w.time_range(), Some((10_000, 12_000)));
        w.push(&p(16_000, 1.0));
        assert_eq!(w.spacing_ms(), Some(3000.0));
        w.push(&sp("b", 8_000, 1.0));
        assert_eq!(w.time_range(), Some((8_000, 16_000)));
    }

    #[test]
    fn nearest_point_by_time_then_value() {
        let mut w = Window::new(5);
        for ts in [1000, 2000, 3000] {
            w.push(&p(ts, ts as f64));
            w.push(&sp("b", ts, 0.0));
        }
        assert!(w.contains(&p(2000, 2000.0)));
        assert!(!w.contains(&p(2000, 1.0)));
        assert_eq!(w.nearest(2400.0, Some(1900.0)).unwrap(), p(2000, 2000.0));
        assert_eq!(w.nearest(2600.0, Some(10.0)).unwrap(), sp("b", 3000, 0.0));
        assert_eq!(w.nearest(-5.0, None).unwrap().ts, 1000);
        assert!(Window::new(2).nearest(1.0, None).is_none());
    }

    #[test]
    fn declared_range_is_kept_and_widened_by_outliers() {
        assert_eq!(
            value_range([10.0, 90.0].into_iter(), Some((0.0, 100.0))),
            (0.0, 100.0)
        );
        assert_eq!(
            value_range([-5.0, 120.0].into_iter(), Some((0.0, 100.0))),
            (-5.0, 120.0)
        );
        assert_eq!(
            value_range([].into_iter(), Some((0.0, 100.0))),
            (0.0, 100.0)
        );
    }

    #[test]
    fn fitted_range_has_headroom() {
        assert_eq!(value_range([10.0, 20.0].into_iter(), None), (9.5, 20.5));
        assert_eq!(value_range([50.0, 50.0].into_iter(), None), (45.0, 55.0));
        assert_eq!(value_range([0.0].into_iter(), None), (-1.0, 1.0));
        assert_eq!(value_range([].into_iter(), None), (0.0, 1.0));
    }

    #[test]
    fn value_ticks_are_round_and_inside() {
        assert_eq!(
            value_ticks(0.0, 100.0, 5),
            (vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0], 0)
        );
        assert_eq!(
            value_ticks(9.5, 20.5, 5),
            (vec![10.0, 12.0, 14.0, 16.0, 18.0, 20.0], 0)
        );
        let (ticks, decimals) = value_ticks(-0.013, 0.042, 5);
        assert_eq!(decimals, 2);
        let expected = [-0.01, 0.0, 0.01, 0.02, 0.03, 0.04];
        assert_eq!(ticks.len(), expected.len());
        assert!(
            ticks
                .iter()
                .zip(expected)
                .all(|(t, e)| (t - e).abs() < 1e-12),
            "{ticks:?}"
        );
        assert_eq!(
            value_ticks(0.0, 2.5, 5),
            (vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 1)
        );
        assert_eq!(value_ticks(0.0, 999.0, 5).1, 0);
        // A range of one value gets one label; nonsense gets none.
        assert_eq!(value_ticks(3.0, 3.0, 5).0, vec![3.0]);
        assert!(value_ticks(f64::NAN, f64::NAN, 5).0.is_empty());
    }

    #[test]
    fn time_ticks_are_round_in_local_time() {
        // 12:00:00.300 to 12:00:04.700 UTC: whole seconds.
        let noon = 12 * 3_600_000;
        let (ticks, decimals) = time_ticks(noon + 300, noon + 4_700, 0, 4);
        assert_eq!(ticks, (1..=4).map(|s| noon + s * 1000).collect::<Vec<_>>());
        assert_eq!(decimals, 0);
        // 1.5 s of data: 500 ms apart, one decimal.
        let (ticks, decimals) = time_ticks(noon, noon + 1_500, 0, 4);
        assert_eq!((ticks.len(), ticks[1] - ticks[0], decimals), (4, 500, 1));
        // Two hours in UTC+05:30: ticks fall on the local half hour, not UTC's.
        let (ticks, _) = time_ticks(noon + 60_000, noon + 7_200_000, 330, 4);
        assert_eq!(ticks[1] - ticks[0], 1_800_000);
        assert!(ticks.iter().all(|t| (t + 330 * 60_000) % 1_800_000 == 0));
        assert_eq!(time_ticks(5, 5, 0, 4), (vec![5], 0));
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
        assert_eq!(m.value_at(110.0), 50.0);
        assert_eq!(m.to_screen(1500, 50.0), (250.0, 110.0));
        assert_eq!(m.to_screen(2000, 100.0), (450.0, 10.0));
        assert_eq!(m.to_screen(1000, 0.0), (50.0, 210.0));
    }
}
