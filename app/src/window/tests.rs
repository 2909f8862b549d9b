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
    let latest: Vec<(String, f64)> = w.latest_values().map(|(n, v)| (n.to_string(), v)).collect();
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
fn a_time_window_keeps_its_span_and_reduces_instead_of_forgetting() {
    let mut w = Window::spanning(60_000);
    // An hour of 100 Hz data, with one spike.
    for i in 0..360_000i64 {
        let v = if i == 359_000 { 1e6 } else { (i % 100) as f64 };
        w.push(&p(i * 10, v));
        assert!(w.len() <= TIME_WINDOW_POINTS);
    }
    let v = w.view_span(60_000, 0, |_| false);
    assert_eq!(v.time_range(), Some((3_599_990 - 60_000, 3_599_990)));
    // Ten seconds after the last point, the span ends at now: the line stops short of it.
    let later = w.view_span(60_000, 3_609_990, |_| false);
    assert_eq!(later.time_range(), Some((3_609_990 - 60_000, 3_609_990)));
    assert_eq!(ts_of(&later, "a").last(), Some(&3_599_990));
    let kept = ts_of(&v, "a");
    assert!(kept.first().is_some_and(|&t| t >= 3_599_990 - 60_000));
    assert_eq!(kept.last(), Some(&3_599_990));
    assert!(
        v.points().any(|p| p.value == 1e6),
        "the spike survives reduction"
    );
    assert!(v.points().any(|p| p.value == 0.0) && v.points().any(|p| p.value == 99.0));
    // Out-of-order times cannot grow it either.
    let mut w = Window::spanning(i64::MAX);
    for i in 0..20_000i64 {
        w.push(&p(if i % 2 == 0 { i } else { -i }, 0.0));
    }
    assert!(w.len() <= TIME_WINDOW_POINTS);
}

#[test]
fn a_range_answer_fills_and_views_within_its_range() {
    use crate::range::{PointsRange, SeriesPoints};
    let answer = PointsRange {
        stream: crate::model::StreamName::parse("s").unwrap(),
        from: 0,
        to: 100,
        last_id: None,
        reduced: false,
        series: vec![SeriesPoints {
            series: s("a"),
            total: 3,
            reduced: false,
            ts: vec![10, 50, 90],
            values: vec![1.0, 2.0, 3.0],
        }],
    };
    let w = Window::of_range(&answer, (0, 100));
    assert_eq!(w.time_range(), Some((0, 100)));
    let v = w.view_range((40, 95), |_| false);
    assert_eq!(ts_of(&v, "a"), [50, 90]);
    assert_eq!(v.time_range(), Some((40, 95)));
    let at: Vec<(String, f64)> = w
        .values_at(60)
        .map(|(n, s)| (n.to_string(), s.value))
        .collect();
    assert_eq!(at, [("a".to_owned(), 2.0)]);
    assert_eq!(w.values_at(5).count(), 0, "before the series begins");
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
