//! A chart's axes: the value range that fits the data, the round values and times the labels
//! sit at, and how those labels read. Pure logic, shared by SSR and WASM.
//!
//! Every function here is total: any finite or infinite input, any span from nothing to the
//! whole valid range, gives at most [`MAX_TICKS`] labels of bounded length. A chart's cost
//! must not depend on the data's span (one tick per day over 275,000 years once took the
//! server down).

/// The most labels an axis gets, whatever the data.
pub const MAX_TICKS: usize = 16;

/// One day in milliseconds: time steps from here on are whole days and labels are dates.
pub const DAY_MS: i64 = 86_400_000;

/// The y range for `values`: the declared range when there is one (widened if data falls
/// outside it), otherwise the data's extent with 5 % headroom on each side. Always finite,
/// with `lo < hi`.
pub fn value_range(values: impl Iterator<Item = f64>, declared: Option<(f64, f64)>) -> (f64, f64) {
    let extent =
        values
            .filter(|v| v.is_finite())
            .fold(None, |acc: Option<(f64, f64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            });
    let declared = declared.filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo < hi);
    let (lo, hi) = match (extent, declared) {
        (None, Some(d)) => return d,
        (Some((lo, hi)), Some((dlo, dhi))) => return (dlo.min(lo), dhi.max(hi)),
        (None, None) => return (0.0, 1.0),
        (Some(e), None) => e,
    };
    // Halves, so that a range as wide as ±1e308 does not overflow.
    let pad = if lo == hi {
        if lo == 0.0 {
            1.0
        } else {
            lo.abs() * 0.1
        }
    } else {
        (hi / 2.0 - lo / 2.0) * 0.1
    };
    ((lo - pad).max(-f64::MAX), (hi + pad).min(f64::MAX))
}

/// The value axis' labels: round values in `lo..=hi` (1, 2 or 5 × 10^k apart, about `n`
/// intervals, all inside the range) and the step between them (for [`value_label`]).
pub fn value_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let lone = |v: f64| (if v.is_finite() { vec![v] } else { Vec::new() }, 1.0);
    if !(lo.is_finite() && hi.is_finite()) || n == 0 {
        return lone(lo);
    }
    if hi <= lo {
        return lone(lo);
    }
    let n = n.min(MAX_TICKS - 1) as f64;
    // Half the raw step, without computing `hi - lo` (which overflows for ±1e308).
    let half = hi / (2.0 * n) - lo / (2.0 * n);
    if !half.is_normal() {
        return (vec![lo, hi], half);
    }
    let mag = 10f64.powi((half.log10() + std::f64::consts::LOG10_2).floor() as i32);
    let intervals = |step: f64| (hi / step - lo / step - n).abs();
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .filter(|s| s.is_normal())
        .fold(f64::NAN, |best, s| {
            if best.is_nan() || intervals(s) < intervals(best) {
                s
            } else {
                best
            }
        });
    let (first, last) = ((lo / step).ceil(), (hi / step).floor());
    let count = last - first + 1.0;
    if !(count.is_finite() && (1.0..=MAX_TICKS as f64).contains(&count)) {
        return (vec![lo, hi], step);
    }
    let ticks = (0..count as usize)
        .map(|k| (first + k as f64) * step)
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    (ticks, step)
}

/// [`value_ticks`] for values that are all whole numbers (states, counts): never a tick
/// between two integers, so the labels say 0, 1, 2, 3, not 0.5 or 1.5.
pub fn whole_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let (ticks, step) = value_ticks(lo, hi, n);
    if step >= 1.0 || !(lo.is_finite() && hi.is_finite()) {
        return (ticks, step);
    }
    // A step under 1 means a span of a few units: every whole number in it, a handful.
    let (first, last) = (lo.ceil(), hi.floor());
    if first > last {
        return (ticks, step);
    }
    let whole = (0..MAX_TICKS)
        .map(|k| first + k as f64)
        .take_while(|v| *v <= last)
        .collect();
    (whole, 1.0)
}

/// A value as a person reads it: about four significant digits (`4689`, `21.53`, `0.5`,
/// `0.001235`), the whole part never cut below a million, and `1.235e9` or `1.2e-7` beyond;
/// never the sixteen digits of the `f64`.
pub fn readable_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let exponent = v.abs().log10().floor();
    let trim = |text: String| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        }
    };
    if (-3.0..6.0).contains(&exponent) {
        let decimals = (3.0 - exponent).max(0.0) as usize;
        return trim(format!("{v:.decimals$}"));
    }
    let mut mantissa = v / 10f64.powi(exponent as i32);
    let mut exponent = exponent as i32;
    // Rounding 9.9996 to three decimals gives 10.000: carry it into the exponent.
    if (mantissa.abs() * 1000.0).round() >= 10_000.0 {
        mantissa /= 10.0;
        exponent += 1;
    }
    format!("{}e{exponent}", trim(format!("{mantissa:.3}")))
}

/// A value label that tells labels `step` apart on an axis whose largest magnitude is `top`:
/// fixed decimals for everyday magnitudes; for very large or very fine ones, scientific
/// notation with the axis' common exponent (`0.5e308`, `1.0e308`), never hundreds of digits.
pub fn value_label(v: f64, step: f64, top: f64) -> String {
    let digits = |x: f64| x.abs().log10().floor();
    let step_digits = if step.is_normal() { digits(step) } else { 0.0 };
    let top = top.abs().max(v.abs()).min(f64::MAX);
    if top >= 1e9 || -step_digits > 6.0 {
        // Written with the fixed-point formatting the other labels use (`{:e}` would add its
        // own formatter to the WASM).
        let exponent = if top.is_normal() { digits(top) } else { 0.0 };
        let decimals = (exponent - step_digits).clamp(0.0, 15.0) as usize;
        let mantissa = v / 10f64.powi(exponent as i32);
        if mantissa == 0.0 || !mantissa.is_finite() {
            return "0".to_owned();
        }
        format!("{mantissa:.decimals$}e{exponent}")
    } else {
        let decimals = (-step_digits).clamp(0.0, 6.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// Whether time labels `step_ms` apart are dates (wider than clock times).
pub fn is_date_step(step_ms: i64) -> bool {
    step_ms >= DAY_MS
}

/// The time axis' labels: round times in `t0..=t1` (multiples of 1, 2 or 5 ms up to whole
/// hours, then 1, 2, 5, 10 … days, counted in the viewer's time zone `offset_minutes` east of
/// UTC; about `n` intervals) and the step between them (for [`time_label`]).
pub fn time_ticks(t0: i64, t1: i64, offset_minutes: i32, n: usize) -> (Vec<i64>, i64) {
    const STEPS_MS: [i64; 26] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000,
    ];
    if t1 <= t0 || n == 0 {
        return (vec![t0], 1000);
    }
    let n = n.min(MAX_TICKS - 1) as f64;
    let span = t1 as f64 - t0 as f64;
    let intervals = |step: i64| (span / step as f64 - n).abs();
    // Whole days from 1 up to 5 × 10^9 (more than the whole i64 range), 1-2-5 apart.
    let days = (0..10).flat_map(|k| [1, 2, 5].map(|m| m * 10i64.pow(k) * DAY_MS));
    let step = STEPS_MS.into_iter().chain(days).fold(1, |best, s| {
        if intervals(s) < intervals(best) {
            s
        } else {
            best
        }
    });
    // Saturating: t0 may be anywhere in i64 (valid data is far inside it).
    let offset = i64::from(offset_minutes) * 60_000;
    let local = t0.saturating_add(offset);
    let first = local
        .div_euclid(step)
        .saturating_add(i64::from(local.rem_euclid(step) != 0))
        .saturating_mul(step)
        .saturating_sub(offset);
    let count = t1.saturating_sub(first).div_euclid(step).saturating_add(1);
    if !(1..=MAX_TICKS as i64).contains(&count) {
        return (vec![t0, t1], step);
    }
    let ticks = (0..count).map(|k| first.saturating_add(k * step)).collect();
    (ticks, step)
}

/// A time label that tells labels `step_ms` apart: the local date for steps of a day or
/// more, else the local clock with as many decimals as the step needs.
pub fn time_label(ts_ms: i64, offset_minutes: i32, step_ms: i64) -> String {
    if is_date_step(step_ms) {
        let local = ts_ms.saturating_add(i64::from(offset_minutes) * 60_000);
        let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS));
        return format!("{y:04}-{m:02}-{d:02}");
    }
    format_clock(ts_ms, offset_minutes, time_decimals(step_ms as f64))
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
    let shifted = ts_ms
        .saturating_add(i64::from(offset_minutes) * 60_000)
        .saturating_add(unit / 2);
    let local = shifted.div_euclid(unit) * unit;
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
    let days = ts_ms.div_euclid(DAY_MS);
    let ms_of_day = ts_ms.rem_euclid(DAY_MS);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_to_about_four_digits() {
        for (v, text) in [
            (4689.266483771699, "4689"),
            (21.5, "21.5"),
            (21.534, "21.53"),
            (0.5, "0.5"),
            (0.0012346, "0.001235"),
            (-3.0, "-3"),
            (0.0, "0"),
            (123456.7, "123457"),
            (1_234_567.0, "1.235e6"),
            (9.99996e8, "1e9"),
            (1.2e-7, "1.2e-7"),
            (-2.5e300, "-2.5e300"),
            (f64::MAX, "1.798e308"),
        ] {
            assert_eq!(readable_value(v), text, "{v}");
        }
        assert_eq!(whole_ticks(0.0, 3.0, 5), (vec![0.0, 1.0, 2.0, 3.0], 1.0));
        assert_eq!(whole_ticks(0.0, 100.0, 5).1, 20.0);
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
        // The widest data stays finite.
        assert_eq!(
            value_range([-f64::MAX, f64::MAX].into_iter(), None),
            (-f64::MAX, f64::MAX)
        );
        let (lo, hi) = value_range([f64::MAX].into_iter(), None);
        assert!(lo < hi && hi.is_finite(), "{lo} {hi}");
    }

    #[test]
    fn value_ticks_are_round_and_inside() {
        assert_eq!(
            value_ticks(0.0, 100.0, 5),
            (vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0], 20.0)
        );
        assert_eq!(
            value_ticks(9.5, 20.5, 5),
            (vec![10.0, 12.0, 14.0, 16.0, 18.0, 20.0], 2.0)
        );
        let (ticks, step) = value_ticks(-0.013, 0.042, 5);
        let labels: Vec<String> = ticks.iter().map(|&v| value_label(v, step, 0.042)).collect();
        assert_eq!(labels, ["-0.01", "0.00", "0.01", "0.02", "0.03", "0.04"]);
        let (ticks, step) = value_ticks(0.0, 2.5, 5);
        assert_eq!(ticks, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(value_label(1.5, step, 2.5), "1.5");
        assert_eq!(
            value_label(400.0, value_ticks(0.0, 999.0, 5).1, 999.0),
            "400"
        );
        // A range of one value gets one label; nonsense gets none.
        assert_eq!(value_ticks(3.0, 3.0, 5).0, vec![3.0]);
        assert!(value_ticks(f64::NAN, f64::NAN, 5).0.is_empty());
    }

    #[test]
    fn extreme_values_get_a_few_short_labels() {
        let (ticks, step) = value_ticks(-f64::MAX, f64::MAX, 5);
        assert!((2..=MAX_TICKS).contains(&ticks.len()), "{ticks:?}");
        assert!(ticks.iter().all(|v| v.is_finite()));
        assert_eq!(value_label(1e308, step, f64::MAX), "1e308");
        // One exponent for the whole axis.
        let (ticks, step) = value_ticks(-1.2e308, 1.2e308, 5);
        let labels: Vec<String> = ticks
            .iter()
            .map(|&v| value_label(v, step, 1.2e308))
            .collect();
        assert_eq!(labels, ["-1.0e308", "-0.5e308", "0", "0.5e308", "1.0e308"]);
        // Tiny differences of huge values, and subnormal ranges.
        let (ticks, step) = value_ticks(1e300, 1e300 * (1.0 + 1e-14), 5);
        assert!(!ticks.is_empty() && ticks.len() <= MAX_TICKS, "{ticks:?}");
        assert!(value_label(ticks[0], step, 1e300).len() < 32);
        let (ticks, _) = value_ticks(-5e-324, 5e-324, 5);
        assert!(ticks.len() <= MAX_TICKS, "{ticks:?}");
        let (ticks, step) = value_ticks(0.0, 1e-9, 5);
        assert_eq!(value_label(ticks[1], step, 1e-9), "0.2e-9");
    }

    #[test]
    fn time_ticks_are_round_in_local_time() {
        // 12:00:00.300 to 12:00:04.700 UTC: whole seconds.
        let noon = 12 * 3_600_000;
        let (ticks, step) = time_ticks(noon + 300, noon + 4_700, 0, 4);
        assert_eq!(ticks, (1..=4).map(|s| noon + s * 1000).collect::<Vec<_>>());
        assert_eq!(time_label(ticks[0], 0, step), "12:00:01");
        // 1.5 s of data: 500 ms apart, one decimal.
        let (ticks, step) = time_ticks(noon, noon + 1_500, 0, 4);
        assert_eq!((ticks.len(), step), (4, 500));
        assert_eq!(time_label(ticks[1], 0, step), "12:00:00.5");
        // Two hours in UTC+05:30: ticks fall on the local half hour, not UTC's.
        let (ticks, _) = time_ticks(noon + 60_000, noon + 7_200_000, 330, 4);
        assert_eq!(ticks[1] - ticks[0], 1_800_000);
        assert!(ticks.iter().all(|t| (t + 330 * 60_000) % 1_800_000 == 0));
        assert_eq!(time_ticks(5, 5, 0, 4), (vec![5], 1000));
    }

    #[test]
    fn long_spans_are_labelled_by_date() {
        // Two weeks: a label every few days, at local midnight.
        let (ticks, step) = time_ticks(0, 14 * DAY_MS, 60, 4);
        assert_eq!(step, 5 * DAY_MS);
        assert!(ticks.iter().all(|t| (t + 3_600_000) % DAY_MS == 0));
        assert_eq!(time_label(ticks[0], 60, step), "1970-01-06");
        // The whole valid range: a handful of labels, not 10^8.
        let (ticks, step) = time_ticks(0, crate::model::MAX_TS, 0, 4);
        assert!((2..=MAX_TICKS).contains(&ticks.len()), "{}", ticks.len());
        assert_eq!(time_label(crate::model::MAX_TS, 0, step), "275760-09-13");
        let (ticks, _) = time_ticks(i64::MIN, i64::MAX, -720, 4);
        assert!((1..=MAX_TICKS).contains(&ticks.len()));
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any f64 bit pattern: NaN, infinities, subnormals and ±1e308 included.
        fn any_f64() -> impl Strategy<Value = f64> {
            prop_oneof![
                any::<u64>().prop_map(f64::from_bits),
                Just(f64::MAX),
                Just(-f64::MAX),
                Just(0.0),
                -1e6f64..1e6,
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn value_axis_is_bounded(a in any_f64(), b in any_f64(), n in 0usize..100) {
                let (lo, hi) = value_range([a, b].into_iter(), None);
                prop_assert!(lo.is_finite() && hi.is_finite() && lo < hi, "{lo} {hi}");
                for (lo, hi) in [(lo, hi), (a, b)] {
                    let (ticks, step) = value_ticks(lo, hi, n);
                    prop_assert!(ticks.len() <= MAX_TICKS);
                    for v in ticks {
                        let label = value_label(v, step, lo.abs().max(hi.abs()));
                        prop_assert!(label.len() <= 32, "{v} {step}: {label}");
                    }
                }
            }

            #[test]
            fn time_axis_is_bounded(
                t0 in any::<i64>(),
                t1 in any::<i64>(),
                offset in -1440i32..=1440,
                n in 0usize..100,
            ) {
                let (ticks, step) = time_ticks(t0, t1, offset, n);
                prop_assert!(!ticks.is_empty() && ticks.len() <= MAX_TICKS);
                for t in ticks {
                    prop_assert!(time_label(t, offset, step).len() <= 24);
                }
            }

            #[test]
            fn valid_time_ranges_get_round_ticks_inside(
                t0 in 0i64..=crate::model::MAX_TS,
                span in 1i64..=crate::model::MAX_TS,
                offset in -720i32..=840,
            ) {
                let t1 = t0.saturating_add(span);
                let (ticks, step) = time_ticks(t0, t1, offset, 4);
                prop_assert!((1..=MAX_TICKS).contains(&ticks.len()), "{t0} {t1} {step}");
                for t in ticks {
                    prop_assert!((t0..=t1).contains(&t));
                    prop_assert_eq!((t + i64::from(offset) * 60_000).rem_euclid(step), 0);
                }
            }
        }
    }
}
