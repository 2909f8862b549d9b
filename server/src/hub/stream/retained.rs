//! A stream's retained history: every point of the last `history.retention` (by the stream's
//! own clock: the newest point's time, so that replayed or skewed data is kept like live
//! data), at most `history.retention-bytes` (16 bytes a point), for the range query.
//!
//! Points are kept per series in arrival order, and dropped a whole event at a time, oldest
//! first: the events' order is the columns' order, so dropping an event pops its points
//! from the front of each column, and the store can delete the event once nothing of it is
//! retained ([`Retained::first_seq`]).

use super::{State, Stream};
use crate::hub::read;
use crate::hub::store::codec::Columns;
use app::model::{Point, SeriesName};
use app::range::{PointsRange, RangeQuery, SeriesPoints};
use app::reduce::m4;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;

/// What one point costs, for `retention-bytes`: its time and value.
const POINT_BYTES: usize = 16;

/// How much a stream retains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionLimits {
    pub ms: i64,
    pub bytes: usize,
}

pub(in crate::hub) struct Retained {
    limits: RetentionLimits,
    names: BTreeMap<SeriesName, usize>,
    columns: Vec<Column>,
    /// The events whose points are retained, oldest first.
    events: VecDeque<EventSpan>,
    /// (column, points) of each event in `events`, in the same order: one flat queue, so that
    /// an event costs no allocation of its own.
    parts: VecDeque<(u32, u32)>,
    /// The column the last point went to: a batch of one series looks its name up once.
    last_column: Option<usize>,
    points: usize,
    newest_ts: i64,
}

/// One series' retained points, in arrival order.
struct Column {
    name: SeriesName,
    samples: VecDeque<(i64, f64)>,
    /// How many samples are earlier in time than the one before them: with none, the column
    /// is sorted and a range is two binary searches.
    inversions: usize,
}

struct EventSpan {
    seq: u64,
    newest_ts: i64,
    /// Its entries in `Retained::parts` (one per series it has points of).
    parts: u32,
}

impl EventSpan {
    fn new(seq: u64) -> Self {
        EventSpan {
            seq,
            newest_ts: i64::MIN,
            parts: 0,
        }
    }
}

impl Retained {
    pub(in crate::hub) fn new(limits: RetentionLimits) -> Self {
        Retained {
            limits,
            names: BTreeMap::new(),
            columns: Vec::new(),
            events: VecDeque::new(),
            parts: VecDeque::new(),
            last_column: None,
            points: 0,
            newest_ts: i64::MIN,
        }
    }

    /// Adds event `seq`'s points, then drops what falls outside the limits.
    pub(in crate::hub) fn push(&mut self, seq: u64, points: &[Point]) {
        let mut event = EventSpan::new(seq);
        for p in points {
            let column = self.column(&p.series);
            self.append(&mut event, column, p.ts, p.value);
        }
        self.close(event);
    }

    /// The same for an event as the store keeps it: each series looked up once, not per
    /// point.
    pub(in crate::hub) fn push_columns(&mut self, seq: u64, event: &Columns) {
        let columns: Vec<usize> = event.names.iter().map(|n| self.column(n)).collect();
        let mut span = EventSpan::new(seq);
        for &(i, ts, value) in &event.points {
            self.append(&mut span, columns[usize::from(i)], ts, value);
        }
        self.close(span);
    }

    /// The column of `series`, created when new.
    fn column(&mut self, series: &SeriesName) -> usize {
        if let Some(c) = self
            .last_column
            .filter(|&c| self.columns[c].name == *series)
        {
            return c;
        }
        let c = match self.names.get(series) {
            Some(&c) => c,
            None => {
                self.names.insert(series.clone(), self.columns.len());
                self.columns.push(Column {
                    name: series.clone(),
                    samples: VecDeque::new(),
                    inversions: 0,
                });
                self.columns.len() - 1
            }
        };
        self.last_column = Some(c);
        c
    }

    fn append(&mut self, event: &mut EventSpan, column: usize, ts: i64, value: f64) {
        let col = &mut self.columns[column];
        if col.samples.back().is_some_and(|(last, _)| ts < *last) {
            col.inversions += 1;
        }
        col.samples.push_back((ts, value));
        // This event's entries are the last `event.parts` of the queue.
        let mine = self.parts.len() - event.parts as usize;
        match self
            .parts
            .range_mut(mine..)
            .find(|(c, _)| *c as usize == column)
        {
            Some((_, n)) => *n += 1,
            None => {
                self.parts.push_back((column as u32, 1));
                event.parts += 1;
            }
        }
        event.newest_ts = event.newest_ts.max(ts);
        self.points += 1;
    }

    /// Records an event whose points were appended, then drops what falls outside the limits.
    fn close(&mut self, event: EventSpan) {
        if event.parts == 0 {
            return;
        }
        self.newest_ts = self.newest_ts.max(event.newest_ts);
        self.events.push_back(event);
        self.evict();
    }

    /// Drops the oldest events while the retained points are older than the retention or
    /// take more than its bytes. The newest event always stays.
    fn evict(&mut self) {
        let cutoff = self.newest_ts.saturating_sub(self.limits.ms);
        let most = (self.limits.bytes / POINT_BYTES).max(1);
        while self.events.len() > 1 {
            let Some(front) = self.events.front() else {
                break;
            };
            if front.newest_ts >= cutoff && self.points <= most {
                break;
            }
            if let Some(event) = self.events.pop_front() {
                self.drop_event(event);
            }
        }
    }

    fn drop_event(&mut self, event: EventSpan) {
        for _ in 0..event.parts {
            let Some((column, n)) = self.parts.pop_front() else {
                break;
            };
            let col = &mut self.columns[column as usize];
            let n = (n as usize).min(col.samples.len());
            if col.inversions == 0 {
                col.samples.drain(..n);
            } else {
                for _ in 0..n {
                    let Some((ts, _)) = col.samples.pop_front() else {
                        break;
                    };
                    if col.samples.front().is_some_and(|(next, _)| *next < ts) {
                        col.inversions -= 1;
                    }
                }
            }
            self.points -= n;
        }
    }

    /// The oldest event with retained points (`None`: nothing retained).
    pub(in crate::hub) fn first_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    pub(in crate::hub) fn len(&self) -> usize {
        self.points
    }

    /// The retained extent over `series` (all when `None`): oldest and newest time.
    pub(in crate::hub) fn extent(&self, series: Option<&[SeriesName]>) -> Option<(i64, i64)> {
        self.selected(series)
            .filter_map(|(_, col)| col.extent())
            .reduce(|(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
    }

    /// Each selected series' points in `from..=to`, in time order: exact when there are at
    /// most `max_points`, else reduced to at most `max_points` (M4, `max_points / 4` buckets).
    #[cfg(test)]
    pub(in crate::hub) fn query(
        &self,
        series: Option<&[SeriesName]>,
        range: (i64, i64),
        max_points: usize,
    ) -> Vec<SeriesPoints> {
        self.copy(series, range, usize::MAX)
            .map_or_else(Vec::new, |c| c.reduce(max_points))
    }

    /// The exact points in `from..=to` of each selected series, series by series in time
    /// order, up to `most` in all; `None` when there are more.
    #[cfg(test)]
    pub(in crate::hub) fn exact(
        &self,
        series: Option<&[SeriesName]>,
        range: (i64, i64),
        most: usize,
    ) -> Option<ExactPoints> {
        self.copy(series, range, most).map(RangeCopy::exact)
    }

    /// The points in `from..=to` of each selected series, copied as they are (a sorted column
    /// costs two binary searches and one copy); `None` when there are more than `most` in all.
    /// This is all a range query does under the stream's lock: sorting and reducing happen
    /// on the copy, so applying events (to this stream, and through the one committer to
    /// every other) never waits for them.
    pub(in crate::hub) fn copy(
        &self,
        series: Option<&[SeriesName]>,
        (from, to): (i64, i64),
        most: usize,
    ) -> Option<RangeCopy> {
        let mut left = most;
        let mut out = Vec::new();
        for (name, col) in self.selected(series) {
            let (points, sorted) = col.copy_range((from, to), left)?;
            left -= points.len();
            out.push(CopiedSeries {
                name: name.clone(),
                points,
                sorted,
            });
        }
        Some(RangeCopy {
            range: (from, to),
            series: out,
        })
    }

    /// The selected columns, by name; unknown names are skipped.
    fn selected<'a>(
        &'a self,
        series: Option<&'a [SeriesName]>,
    ) -> impl Iterator<Item = (&'a SeriesName, &'a Column)> + 'a {
        self.names
            .iter()
            .filter(move |(name, _)| series.is_none_or(|s| s.contains(name)))
            .map(|(name, &c)| (name, &self.columns[c]))
    }
}

/// The exact points of a range, series by series, for CSV.
pub type ExactPoints = Vec<(SeriesName, Vec<(i64, f64)>)>;

/// A range's points as copied from the columns, to be answered without the stream's lock.
pub(in crate::hub) struct RangeCopy {
    range: (i64, i64),
    series: Vec<CopiedSeries>,
}

struct CopiedSeries {
    name: SeriesName,
    points: Vec<(i64, f64)>,
    /// In time order already (else sorted before use).
    sorted: bool,
}

impl CopiedSeries {
    fn into_sorted(mut self) -> (SeriesName, Vec<(i64, f64)>) {
        if !self.sorted {
            // Stable: equal times keep their arrival order.
            self.points.sort_by_key(|(ts, _)| *ts);
        }
        (self.name, self.points)
    }
}

impl RangeCopy {
    /// Each series exact when it has at most `max_points`, else reduced to at most
    /// `max_points` (M4, `max_points / 4` buckets).
    pub(in crate::hub) fn reduce(self, max_points: usize) -> Vec<SeriesPoints> {
        let (from, to) = self.range;
        self.series
            .into_iter()
            .map(|copied| {
                let (series, points) = copied.into_sorted();
                let total = points.len();
                let reduced = total > max_points;
                let (ts, values) = if reduced {
                    let mut out = Vec::with_capacity(max_points);
                    m4(points, |p| *p, (from, to), max_points / 4, &mut out);
                    out.into_iter().unzip()
                } else {
                    points.into_iter().unzip()
                };
                SeriesPoints {
                    series,
                    total,
                    reduced,
                    ts,
                    values,
                }
            })
            .collect()
    }

    /// Every point, series by series in time order.
    pub(in crate::hub) fn exact(self) -> ExactPoints {
        self.series
            .into_iter()
            .map(CopiedSeries::into_sorted)
            .collect()
    }
}

impl Stream {
    /// Records where the retained events start, for the committer (under the state's lock).
    pub(super) fn note_retained(&self, st: &State) {
        let from = st.retained.first_seq().unwrap_or(st.last_seq + 1);
        self.retained_from.store(from, Ordering::Relaxed);
    }

    /// The oldest event the store must keep for the retained points.
    pub(in crate::hub) fn retained_from(&self) -> u64 {
        self.retained_from.load(Ordering::Relaxed)
    }

    /// Points retained, over all series.
    pub fn retained_points(&self) -> usize {
        read(&self.state).retained.len()
    }

    /// The range query's JSON answer: the range (open ends closed at the retained extent),
    /// each series exact or reduced to `max_points`, and the last event it includes. Only the
    /// copy of the points is taken under the state's lock.
    pub fn range(&self, q: &RangeQuery) -> PointsRange {
        let series = q.series.as_deref();
        let (range, last_seq, copy) = {
            let st = read(&self.state);
            let range = closed(q, st.retained.extent(series));
            (
                range,
                st.last_seq,
                st.retained.copy(series, range, usize::MAX),
            )
        };
        let answer = copy.map_or_else(Vec::new, |c| c.reduce(q.max_points));
        PointsRange {
            stream: self.name.clone(),
            from: range.0,
            to: range.1,
            last_id: (last_seq > 0).then(|| self.id(last_seq)),
            reduced: answer.iter().any(|s| s.reduced),
            series: answer,
        }
    }

    /// The range (open ends closed) and its exact points, at most `most` (`None` when there
    /// are more).
    pub fn range_exact(&self, q: &RangeQuery, most: usize) -> ((i64, i64), Option<ExactPoints>) {
        let series = q.series.as_deref();
        let (range, copy) = {
            let st = read(&self.state);
            let range = closed(q, st.retained.extent(series));
            (range, st.retained.copy(series, range, most))
        };
        (range, copy.map(RangeCopy::exact))
    }
}

/// The query's range with open ends closed at the retained extent (or at each other).
fn closed(q: &RangeQuery, extent: Option<(i64, i64)>) -> (i64, i64) {
    let (lo, hi) = extent.unwrap_or((0, 0));
    let to = q.to.unwrap_or(hi.max(q.from.unwrap_or(hi)));
    let from = q.from.unwrap_or(lo.min(to));
    (from, to)
}

impl Column {
    /// The oldest and newest time: the ends of a sorted column, else found by a scan.
    fn extent(&self) -> Option<(i64, i64)> {
        let (first, last) = (self.samples.front()?.0, self.samples.back()?.0);
        if self.inversions == 0 {
            return Some((first, last));
        }
        self.samples
            .iter()
            .map(|(ts, _)| (*ts, *ts))
            .reduce(|(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
    }

    /// This column's points in `from..=to` and whether they are in time order; `None` when
    /// there are more than `most`.
    fn copy_range(&self, (from, to): (i64, i64), most: usize) -> Option<(Vec<(i64, f64)>, bool)> {
        if self.inversions == 0 {
            let start = self.samples.partition_point(|(ts, _)| *ts < from);
            let end = self.samples.partition_point(|(ts, _)| *ts <= to);
            let total = end.saturating_sub(start);
            if total > most {
                return None;
            }
            let mut points = Vec::with_capacity(total);
            points.extend(self.samples.range(start..start + total).copied());
            Some((points, true))
        } else {
            let inside: Vec<(i64, f64)> = self
                .samples
                .iter()
                .copied()
                .filter(|(ts, _)| (from..=to).contains(ts))
                .collect();
            (inside.len() <= most).then_some((inside, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(series: &str, ts: i64, value: f64) -> Point {
        Point {
            series: SeriesName::parse(series).unwrap(),
            ts,
            value,
        }
    }

    fn limits(ms: i64, points: usize) -> RetentionLimits {
        RetentionLimits {
            ms,
            bytes: points * POINT_BYTES,
        }
    }

    fn all(r: &Retained) -> Vec<(String, Vec<(i64, f64)>)> {
        r.exact(None, (i64::MIN, i64::MAX), usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(s, p)| (s.to_string(), p))
            .collect()
    }

    #[test]
    fn drops_the_oldest_first_by_time() {
        let mut r = Retained::new(limits(1000, 1_000_000));
        for i in 0..30 {
            r.push(i as u64 + 1, &[p("a", i * 100, i as f64)]);
        }
        // Newest at 2900: everything from 1900 on stays.
        let kept = all(&r);
        assert_eq!(kept[0].1.first(), Some(&(1900, 19.0)));
        assert_eq!(kept[0].1.len(), 11);
        assert_eq!(r.first_seq(), Some(20));
    }

    #[test]
    fn an_event_from_the_store_is_retained_like_a_published_one() {
        let batch = [p("b", 5, 1.0), p("a", 3, 2.0), p("b", 4, 3.0)];
        let stored =
            crate::hub::store::codec::decode_columns(&crate::hub::store::codec::encode(&batch))
                .unwrap();
        let (mut published, mut recovered) =
            (Retained::new(limits(10, 2)), Retained::new(limits(10, 2)));
        for seq in 1..=3 {
            published.push(seq, &batch);
            recovered.push_columns(seq, &stored);
        }
        assert_eq!(all(&published), all(&recovered));
        assert_eq!(published.first_seq(), recovered.first_seq());
        assert_eq!(
            recovered.len(),
            3,
            "the newest event alone, over the 2-point bound"
        );
    }

    #[test]
    fn holds_the_byte_bound_at_any_rate() {
        let mut r = Retained::new(limits(i64::MAX, 1000));
        for e in 0..10_000u64 {
            let batch: Vec<Point> = (0..7)
                .map(|i| p(["a", "b"][i % 2], e as i64, i as f64))
                .collect();
            r.push(e + 1, &batch);
            assert!(r.len() <= 1000, "after event {e}: {}", r.len());
        }
        assert!(r.len() > 1000 - 7);
        assert_eq!(r.first_seq(), Some(10_000 - 1000 / 7 + 1));
        // Both columns lost their oldest points, none of their newest.
        for (_, points) in all(&r) {
            assert_eq!(points.last().map(|p| p.0), Some(9_999));
        }
        // One event larger than the bound is kept whole, alone.
        let big: Vec<Point> = (0..1500).map(|i| p("a", 20_000 + i, 0.0)).collect();
        r.push(10_001, &big);
        assert_eq!((r.len(), r.first_seq()), (1500, Some(10_001)));
    }

    #[test]
    fn ranges_exact_and_reduced_in_order_even_out_of_order() {
        let mut r = Retained::new(limits(i64::MAX, 1_000_000));
        for i in 0..1000 {
            r.push(
                i as u64 + 1,
                &[p("a", i, (i % 10) as f64), p("b", 1000 - i, 1.0)],
            );
        }
        let answer = r.query(None, (100, 199), 1000);
        assert_eq!(answer.len(), 2);
        assert!(!answer[0].reduced);
        assert_eq!(answer[0].ts, (100..200).collect::<Vec<_>>());
        // b arrived newest-first: answered in time order.
        assert_eq!(answer[1].ts, (100..200).collect::<Vec<_>>());
        let reduced = r.query(Some(&[SeriesName::parse("a").unwrap()]), (0, 999), 40);
        assert_eq!(reduced.len(), 1);
        assert!(reduced[0].reduced && reduced[0].total == 1000);
        assert!(reduced[0].ts.len() <= 40);
        assert!(reduced[0].values.contains(&9.0) && reduced[0].values.contains(&0.0));
        assert_eq!(r.extent(None), Some((0, 1000)));
        assert!(
            r.exact(None, (0, 1000), 1999).is_none(),
            "2,000 points > 1,999"
        );
        // Eviction keeps the inversion count right: the column becomes sorted again.
        let mut r = Retained::new(limits(i64::MAX, 3));
        r.push(1, &[p("a", 10, 0.0)]);
        r.push(2, &[p("a", 5, 0.0)]);
        r.push(3, &[p("a", 6, 0.0)]);
        r.push(4, &[p("a", 7, 0.0)]);
        assert_eq!(r.columns[0].inversions, 0);
        assert_eq!(r.query(None, (0, 100), 100)[0].ts, [5, 6, 7]);
    }
}
