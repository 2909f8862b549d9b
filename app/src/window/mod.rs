//! What a chart shows: the sliding window of recent points, the axis ranges that fit them, and
//! the mapping between data and screen used for hovering. Pure logic, shared by SSR and WASM,
//! so it is unit-tested natively.

use crate::model::{Point, SeriesName};
use crate::range::PointsRange;
use crate::reduce::m4;
use std::collections::{BTreeMap, VecDeque};

mod mapping;
#[cfg(test)]
mod tests;

pub use mapping::Mapping;

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

/// The points per series a time window keeps: when full, the series is reduced to half by
/// [`m4`], so an hour of 100 Hz data costs what 4,096 points cost, and no spike is lost.
pub const TIME_WINDOW_POINTS: usize = 4096;

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
    /// A time window: samples older than this before the newest are dropped, and a full
    /// series is reduced instead of losing its oldest.
    span: Option<i64>,
    /// The time range drawn, when it is not the data's own (a time window, or the past).
    shown: Option<(i64, i64)>,
}

impl Window {
    /// A window of `capacity` points per series (at least one).
    pub fn new(capacity: usize) -> Self {
        Window {
            capacity: capacity.max(1),
            series: BTreeMap::new(),
            latest: None,
            span: None,
            shown: None,
        }
    }

    /// A window of the last `span_ms` of time, [`TIME_WINDOW_POINTS`] per series at most.
    pub fn spanning(span_ms: i64) -> Self {
        Window {
            span: Some(span_ms.max(1)),
            ..Window::new(TIME_WINDOW_POINTS)
        }
    }

    /// The points of a range query's answer, drawn over `range`.
    pub fn of_range(answer: &PointsRange, range: (i64, i64)) -> Self {
        let mut w = Window::new(TIME_WINDOW_POINTS);
        w.fill(answer);
        w.shown = Some(range);
        w
    }

    /// Replaces everything with a range query's answer (series in their order).
    pub fn fill(&mut self, answer: &PointsRange) {
        self.series.clear();
        self.latest = None;
        for s in answer.series.iter().take(MAX_SERIES) {
            let mut samples: VecDeque<Sample> =
                s.ts.iter()
                    .zip(&s.values)
                    .map(|(&ts, &value)| Sample {
                        ts,
                        value,
                        gap_before: false,
                    })
                    .collect();
            if samples.len() > self.capacity {
                samples = reduced(&samples, self.capacity / 2);
            }
            if let Some(last) = samples.back() {
                let newer = self.latest.as_ref().is_none_or(|p| last.ts >= p.ts);
                if newer {
                    self.latest = Some(Point {
                        series: s.series.clone(),
                        ts: last.ts,
                        value: last.value,
                    });
                }
            }
            self.series.insert(s.series.clone(), samples);
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
        if samples.len() >= capacity {
            if self.span.is_some() {
                *samples = reduced(samples, capacity / 2);
            }
            // (Out-of-order times may not reduce: then the oldest go, as in a count window.)
            while samples.len() >= capacity {
                samples.pop_front();
            }
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
        if let Some(span) = self.span {
            let cutoff = point.ts.saturating_sub(span);
            while samples.front().is_some_and(|s| s.ts < cutoff) {
                samples.pop_front();
            }
        }
        self.latest = Some(point.clone());
        true
    }

    /// The time window's length, if this is one.
    pub fn span(&self) -> Option<i64> {
        self.span
    }

    /// What a chart shows of a time window: every sample of the visible series within the
    /// last `span` before `now` (or before the newest point, when that is later), drawn over
    /// exactly that span.
    pub fn view_span(&self, span: i64, now: i64, hidden: impl Fn(&SeriesName) -> bool) -> Window {
        // The span ends at now (or at a point from the future): a stream that stopped is
        // seen to have stopped, and charts of one page share their time axis.
        let end = self.latest.as_ref().map_or(0, |p| p.ts.max(now));
        let range = (end.saturating_sub(span), end);
        let mut w = self.view_within(range, hidden);
        if self.latest.is_some() {
            w.shown = Some(range);
        }
        w
    }

    /// What a chart shows of the past: the visible series' samples in `range`, drawn over it.
    pub fn view_range(&self, range: (i64, i64), hidden: impl Fn(&SeriesName) -> bool) -> Window {
        let mut w = self.view_within(range, hidden);
        w.shown = Some(range);
        w
    }

    fn view_within(&self, (from, to): (i64, i64), hidden: impl Fn(&SeriesName) -> bool) -> Window {
        self.derived(hidden, |samples| {
            samples
                .iter()
                .filter(|s| (from..=to).contains(&s.ts))
                .copied()
                .collect()
        })
    }

    /// The time range drawn (see [`Window::time_range`]) is fixed at `range`.
    pub fn shown_range(&self) -> Option<(i64, i64)> {
        self.shown
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
        let mut w = self.derived(hidden, |samples| {
            samples
                .range(samples.len().saturating_sub(last)..)
                .copied()
                .collect()
        });
        w.capacity = last.max(1);
        w
    }

    /// A window of this one's series, each with the samples `pick` keeps (none for a hidden
    /// series, which keeps its place and so its colour); a gap before the first sample kept
    /// has nothing to separate.
    fn derived(
        &self,
        hidden: impl Fn(&SeriesName) -> bool,
        pick: impl Fn(&VecDeque<Sample>) -> VecDeque<Sample>,
    ) -> Window {
        let series = self
            .series
            .iter()
            .map(|(name, samples)| {
                let mut kept = if hidden(name) {
                    VecDeque::new()
                } else {
                    pick(samples)
                };
                if let Some(first) = kept.front_mut() {
                    first.gap_before = false;
                }
                (name.clone(), kept)
            })
            .collect();
        Window {
            capacity: self.capacity,
            series,
            latest: self.latest.clone(),
            span: None,
            shown: None,
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
        if let Some((lo, hi)) = self.shown {
            return Some((lo, hi.max(lo.saturating_add(1))));
        }
        let (lo, hi) =
            self.series
                .values()
                .flatten()
                .fold(None, |acc: Option<(i64, i64)>, s| match acc {
                    None => Some((s.ts, s.ts)),
                    Some((lo, hi)) => Some((lo.min(s.ts), hi.max(s.ts))),
                })?;
        Some(if lo == hi {
            (lo.saturating_sub(500), hi.saturating_add(500))
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

    /// Each series' sample nearest in time to `ts`, for series whose samples reach over it.
    pub fn values_at(&self, ts: i64) -> impl Iterator<Item = (&SeriesName, Sample)> {
        self.series.iter().filter_map(move |(name, samples)| {
            let (first, last) = (samples.front()?, samples.back()?);
            if ts < first.ts.min(last.ts) || ts > last.ts.max(first.ts) {
                return None;
            }
            let nearest = samples
                .iter()
                .min_by_key(|s| (i128::from(s.ts) - i128::from(ts)).unsigned_abs())?;
            Some((name, *nearest))
        })
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

/// A series reduced to at most `most` samples by M4 over its own extent (a gap marker
/// stays with the sample that carries it, when that one is kept).
fn reduced(samples: &VecDeque<Sample>, most: usize) -> VecDeque<Sample> {
    let (Some(first), Some(last)) = (samples.front(), samples.back()) else {
        return VecDeque::new();
    };
    let mut out = Vec::with_capacity(most);
    m4(
        samples.iter().copied(),
        |s| (s.ts, s.value),
        (first.ts, last.ts),
        (most / 4).max(1),
        &mut out,
    );
    out.into()
}
