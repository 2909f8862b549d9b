//! Reducing many points to what a pixel column can show without losing a spike: per bucket of
//! time, the first, the last, the minimum and the maximum (M4, as uPlot, Rerun and Netdata
//! do). One function, used by the server's range query and by the browser's time windows, so
//! both draw the same shape.

/// Keeps, of `items` (sorted by time), the first, minimum, maximum and last of every bucket
/// of `buckets` equal slices of `from..=to`, in their original order, into `out`. At most
/// `4 × buckets` items come out; items outside the range count in the nearest end bucket.
/// `key` gives an item's time and value.
pub fn m4<T: Copy>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> (i64, f64),
    (from, to): (i64, i64),
    buckets: usize,
    out: &mut Vec<T>,
) {
    // i128 with at most 2^40 buckets: a range from i64::MIN to i64::MAX times the bucket
    // count does not overflow.
    let buckets = (buckets as u64).clamp(1, 1 << 40) as i128;
    let span = (i128::from(to) - i128::from(from)).max(0) + 1;
    let bucket_of = |ts: i64| -> i128 {
        let offset = (i128::from(ts) - i128::from(from)).clamp(0, span - 1);
        offset * buckets / span
    };
    let mut current: Option<(i128, Bucket<T>)> = None;
    for (index, item) in items.into_iter().enumerate() {
        let (ts, value) = key(&item);
        let b = bucket_of(ts);
        match &mut current {
            Some((cb, bucket)) if *cb == b => bucket.add(index, item, value),
            _ => {
                if let Some((_, bucket)) = current.take() {
                    bucket.flush(out);
                }
                current = Some((b, Bucket::new(index, item, value)));
            }
        }
    }
    if let Some((_, bucket)) = current {
        bucket.flush(out);
    }
}

/// The items of one bucket worth keeping, each with its position in the input.
struct Bucket<T> {
    first: (usize, T),
    min: (usize, T, f64),
    max: (usize, T, f64),
    last: (usize, T),
}

impl<T: Copy> Bucket<T> {
    fn new(index: usize, item: T, value: f64) -> Self {
        Bucket {
            first: (index, item),
            min: (index, item, value),
            max: (index, item, value),
            last: (index, item),
        }
    }

    fn add(&mut self, index: usize, item: T, value: f64) {
        // Strict comparisons: of equal extremes the earliest is kept.
        if value < self.min.2 {
            self.min = (index, item, value);
        }
        if value > self.max.2 {
            self.max = (index, item, value);
        }
        self.last = (index, item);
    }

    fn flush(self, out: &mut Vec<T>) {
        let mut kept = [
            self.first,
            (self.min.0, self.min.1),
            (self.max.0, self.max.1),
            self.last,
        ];
        kept.sort_by_key(|(i, _)| *i);
        let mut previous = None;
        for (i, item) in kept {
            if previous != Some(i) {
                out.push(item);
                previous = Some(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(points: &[(i64, f64)], range: (i64, i64), buckets: usize) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        m4(points.iter().copied(), |p| *p, range, buckets, &mut out);
        out
    }

    /// What every bucket must keep, computed the slow way.
    fn brute(points: &[(i64, f64)], (from, to): (i64, i64), buckets: usize) -> Vec<(i64, f64)> {
        let span = (to - from + 1) as i128;
        let mut out = Vec::new();
        for b in 0..buckets as i128 {
            let inside: Vec<(usize, (i64, f64))> = points
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, (ts, _))| {
                    (i128::from(*ts) - i128::from(from)).clamp(0, span - 1) * buckets as i128 / span
                        == b
                })
                .collect();
            let Some(first) = inside.first().copied() else {
                continue;
            };
            let last = *inside.last().unwrap();
            let min = inside
                .iter()
                .copied()
                .fold(first, |a, x| if x.1 .1 < a.1 .1 { x } else { a });
            let max = inside
                .iter()
                .copied()
                .fold(first, |a, x| if x.1 .1 > a.1 .1 { x } else { a });
            let mut kept = vec![first, min, max, last];
            kept.sort_by_key(|k| k.0);
            kept.dedup_by_key(|k| k.0);
            out.extend(kept.into_iter().map(|k| k.1));
        }
        out
    }

    #[test]
    fn keeps_first_last_min_and_max_of_every_bucket() {
        // 1,000 points of a sawtooth with one spike each way, in 10 buckets.
        let mut points: Vec<(i64, f64)> = (0..1000).map(|i| (i, (i % 37) as f64)).collect();
        points[503].1 = 1e9;
        points[777].1 = -1e9;
        let out = reduce(&points, (0, 999), 10);
        assert!(out.len() <= 40);
        assert_eq!(out, brute(&points, (0, 999), 10));
        assert!(out.contains(&(503, 1e9)) && out.contains(&(777, -1e9)));
        assert_eq!(out.first(), Some(&(0, 0.0)));
        assert_eq!(out.last(), Some(&(999, (999 % 37) as f64)));
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
    }

    #[test]
    fn below_the_limit_nothing_is_lost() {
        let points: Vec<(i64, f64)> = (0..16).map(|i| (i * 100, (i * 7 % 5) as f64)).collect();
        // 16 evenly spread points in 8 buckets: a first and a last in each, every one kept.
        // (The range query answers exactly below `max_points` without reducing at all.)
        assert_eq!(reduce(&points, (0, 1599), 8), points);
    }

    #[test]
    fn gaps_one_point_equal_times_and_empty_buckets() {
        assert!(reduce(&[], (0, 10), 4).is_empty());
        assert_eq!(reduce(&[(5, 1.0)], (0, 10), 4), [(5, 1.0)]);
        assert_eq!(reduce(&[(5, 1.0)], (5, 5), 1), [(5, 1.0)]);
        // Equal timestamps share a bucket; their extremes are kept in arrival order.
        let same = [(7, 3.0), (7, 9.0), (7, -2.0), (7, 4.0), (7, 5.0)];
        assert_eq!(
            reduce(&same, (0, 100), 10),
            [(7, 3.0), (7, 9.0), (7, -2.0), (7, 5.0)]
        );
        // A long gap: the buckets between have nothing and add nothing.
        let gap: Vec<(i64, f64)> = (0..100)
            .map(|i| (i, i as f64))
            .chain((0..100).map(|i| (1_000_000 + i, -(i as f64))))
            .collect();
        let out = reduce(&gap, (0, 1_000_099), 1000);
        assert_eq!(out, brute(&gap, (0, 1_000_099), 1000));
        assert!(out.len() <= 8, "two busy buckets: {}", out.len());
        // Points outside the range count in the end buckets.
        assert_eq!(
            reduce(&[(-50, 1.0), (500, 2.0)], (0, 100), 2),
            [(-50, 1.0), (500, 2.0)]
        );
    }

    #[test]
    fn any_range_and_bucket_count_without_overflow() {
        let points = [(i64::MIN, 1.0), (0, -1.0), (i64::MAX, 2.0)];
        assert_eq!(
            reduce(&points, (i64::MIN, i64::MAX), usize::MAX),
            points.to_vec()
        );
        assert_eq!(reduce(&points, (i64::MIN, i64::MAX), 0).len(), 3);
        // A reversed range is one bucket.
        assert_eq!(reduce(&points, (10, -10), 5).len(), 3);
    }

    #[test]
    fn random_series_match_the_brute_force() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50 {
            let n = (next() % 500) as usize;
            let mut ts = 0i64;
            let points: Vec<(i64, f64)> = (0..n)
                .map(|_| {
                    ts += (next() % 5) as i64;
                    (ts, (next() % 1000) as f64 - 500.0)
                })
                .collect();
            let buckets = 1 + (next() % 40) as usize;
            let range = (0, ts.max(1));
            assert_eq!(
                reduce(&points, range, buckets),
                brute(&points, range, buckets)
            );
        }
    }
}
