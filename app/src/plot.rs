//! Drawing a [`Window`] with plotters, generic over the backend: the browser draws on a
//! `<canvas>`, the server renders the same picture as SVG for the first paint, before (or
//! without) WebAssembly. One drawing routine, so both look alike.

use crate::axis::{time_label, time_ticks, value_label, value_range, value_ticks, whole_ticks};
use crate::model::{Interpolation, Point, StreamMeta};
use crate::theme::Palette;
use crate::window::{Mapping, Window};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How one frame is drawn, besides the data.
pub struct Frame<'a> {
    /// The stream's description: the unit for the value axis, a fixed value range (widened
    /// by outliers), how lines join points and where they break.
    pub meta: &'a StreamMeta,
    pub hover: Option<&'a Point>,
    /// Device pixels per CSS pixel.
    pub scale: f64,
    /// Minutes east of UTC for the time labels.
    pub utc_offset_min: i32,
    /// "Now", for the time axis of an empty chart.
    pub now_ms: i64,
    /// The theme's colours.
    pub palette: &'a Palette,
}

/// Draws `w` filling `root`; returns where the plotting area went, in backend pixels.
///
/// Only plotters' basic elements (paths, circles, text) are drawn, placed with the same
/// [`Mapping`] the tooltip uses: the chart builder and its mesh cost the WASM about a third
/// more for the same picture.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    w: &Window,
    f: &Frame,
) -> Result<Mapping, String> {
    let s = |css_px: f64| (css_px * f.scale).round() as i32;
    let p = f.palette;
    root.fill(&p.background).map_err(|e| e.to_string())?;
    let (width, height) = root.dim_in_pixel();
    // Room for the value labels and axis name on the left, the time labels and axis name
    // below, and half of the last time label (centred on the right edge).
    let (left, right) = (s(68.0), width as i32 - s(36.0));
    let (top, bottom) = (s(12.0), height as i32 - s(56.0));
    let (t0, t1) = w.time_range().unwrap_or((f.now_ms - 20_000, f.now_ms));
    let (v0, v1) = value_range(w.points().map(|p| p.value), f.meta.range());
    let m = Mapping {
        x_px: (f64::from(left), f64::from(right.max(left + 1))),
        y_px: (f64::from(top), f64::from(bottom.max(top + 1))),
        t: (t0 as f64, t1 as f64),
        v: (v0, v1),
    };
    let at = |ts: i64, v: f64| {
        let (x, y) = m.to_screen(ts, v);
        (x.round() as i32, y.round() as i32)
    };
    let mut out = Painter { root, err: None };
    let thin = |c: RGBColor| c.stroke_width(1);
    let label = |size: f64, color: &RGBColor, h: HPos, v: VPos| {
        ("sans-serif", f64::from(s(size)))
            .into_font()
            .color(color)
            .pos(Pos::new(h, v))
    };

    // The grid: a line at each label, a lighter one halfway between.
    let whole = w.points().all(|p| p.value.fract() == 0.0);
    let (ticks, v_step) = if whole {
        whole_ticks(v0, v1, 5)
    } else {
        value_ticks(v0, v1, 5)
    };
    let v_top = v0.abs().max(v1.abs());
    let (mut times, mut t_step) = time_ticks(t0, t1, f.utc_offset_min, 4);
    // As many time labels as fit side by side (about 7 CSS pixels a character, and a gap), at
    // any width: on a phone, or for dates, fewer.
    let widest = times
        .iter()
        .map(|&t| time_label(t, f.utc_offset_min, t_step).chars().count())
        .max()
        .unwrap_or(8);
    let fit = ((right - left) / s(7.0 * widest as f64 + 16.0).max(1)).clamp(1, 4) as usize;
    if fit < times.len() {
        (times, t_step) = time_ticks(t0, t1, f.utc_offset_min, fit);
    }
    for (v, bold) in grid(&ticks, |gap| gap / 2.0, (v0, v1)) {
        let y = at(t0, v).1;
        let style = thin(if bold { p.grid_bold } else { p.grid });
        out.path(vec![(left, y), (right, y)], style);
    }
    for (t, bold) in grid(&times, |gap| gap / 2, (t0, t1)) {
        let x = at(t, v0).0;
        let style = thin(if bold { p.grid_bold } else { p.grid });
        out.path(vec![(x, top), (x, bottom)], style);
    }
    out.path(
        vec![(left, top), (left, bottom), (right, bottom)],
        thin(p.muted),
    );

    // Labels and axis names.
    for &v in &ticks {
        let y = at(t0, v).1;
        out.path(vec![(left - s(4.0), y), (left, y)], thin(p.muted));
        let text = value_label(v, v_step, v_top);
        out.text(
            text,
            (left - s(7.0), y),
            label(12.0, &p.muted, HPos::Right, VPos::Center),
        );
    }
    for &t in &times {
        let x = at(t, v0).0;
        out.path(vec![(x, bottom), (x, bottom + s(4.0))], thin(p.muted));
        let text = time_label(t, f.utc_offset_min, t_step);
        // Centred under its tick, but kept inside the picture (about 7 pixels a character).
        let half = s(3.5 * text.len() as f64);
        let x = x.min(width as i32 - half - s(2.0)).max(half);
        out.text(
            text,
            (x, bottom + s(8.0)),
            label(12.0, &p.muted, HPos::Center, VPos::Top),
        );
    }
    let centre = ((left + right) / 2, (top + bottom) / 2);
    let name = label(13.0, &p.text, HPos::Center, VPos::Top);
    out.text(
        "Time".to_owned(),
        (centre.0, bottom + s(30.0)),
        name.clone(),
    );
    let unit = f.meta.unit.as_deref().unwrap_or("Value").to_owned();
    out.text(
        unit,
        (s(12.0), centre.1),
        name.transform(FontTransform::Rotate270),
    );

    // The data: a line per run between breaks (missed events, or a pause in the data longer
    // than the series' gap), a dot per point, a dashed marker where events were missed.
    // Never broken closer than 10 pixels: a reduced series (M4, 4 pixels a bucket) has points
    // up to a bucket apart, and at 3 pixels a 50 Hz minute on a phone fell apart into dots.
    let px_ms = (t1 as f64 - t0 as f64) / f64::from((right - left).max(1));
    let step = f.meta.interpolation == Some(Interpolation::Step);
    for (i, (_, samples)) in w.series().enumerate() {
        let color = p.series_colour(i);
        let gap = gap_ms(samples, f.meta.gap_ms).max((10.0 * px_ms) as i64);
        let breaks = |e: usize| {
            e == samples.len() || samples[e].gap_before || samples[e].ts - samples[e - 1].ts > gap
        };
        let mut start = 0;
        for end in (1..=samples.len()).filter(|&e| breaks(e)) {
            let mut run: Vec<(i32, i32)> = Vec::with_capacity((end - start) * 2);
            for x in samples.range(start..end) {
                let here = at(x.ts, x.value);
                if let (true, Some(&(_, y))) = (step, run.last()) {
                    // Held at the last value until this point's time, then up or down.
                    run.push((here.0, y));
                }
                run.push(here);
            }
            if let [lone] = run[..] {
                // A point alone between two breaks: a dot, or it would not show at all.
                out.circle(lone, s(2.5), color.filled());
            }
            let stroke = color.stroke_width(s(2.0) as u32);
            if p.series_repeats(i) {
                // A colour seen before on this chart: dashed, so the two are told apart.
                for piece in dashed(&run, f64::from(s(8.0)), f64::from(s(5.0))) {
                    out.path(piece, stroke);
                }
            } else {
                out.path(run, stroke);
            }
            start = end;
        }
        // A dot per point while they are apart; a dense line (a time window) is just a line.
        if samples.len() as i32 * s(6.0) <= right - left {
            for x in samples {
                out.circle(at(x.ts, x.value), s(3.0), color.filled());
            }
        }
        for pair in samples.iter().zip(samples.iter().skip(1)) {
            if pair.1.gap_before {
                let x = at(pair.0.ts / 2 + pair.1.ts / 2, v0).0;
                let (dash, space) = (s(6.0), s(4.0));
                for y in (top..bottom).step_by((dash + space).max(1) as usize) {
                    let end = (y + dash).min(bottom);
                    out.path(vec![(x, y), (x, end)], p.gap.stroke_width(s(2.0) as u32));
                }
            }
        }
    }
    if let Some(h) = f.hover.filter(|h| w.contains(h)) {
        let i = w.series().position(|(n, _)| *n == h.series).unwrap_or(0);
        let ring = p.series_colour(i).stroke_width(s(2.0) as u32);
        out.circle(at(h.ts, h.value), s(6.0), ring);
    }
    if w.is_empty() {
        let style = label(14.0, &p.muted, HPos::Center, VPos::Center);
        out.text("Waiting for data…".to_owned(), centre, style);
    }
    if let Some(e) = out.err {
        return Err(e);
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(m)
}

/// The grid lines along an axis: a line at each label (`true`: drawn stronger) and a lighter
/// one halfway between labels and before the first one, all inside `range`.
fn grid<T>(labels: &[T], half: impl Fn(T) -> T, range: (T, T)) -> Vec<(T, bool)>
where
    T: Copy + PartialOrd + std::ops::Add<Output = T> + std::ops::Sub<Output = T>,
{
    let mut lines: Vec<(T, bool)> = labels.iter().map(|&l| (l, true)).collect();
    if let [first, second, ..] = labels {
        let half = half(*second - *first);
        let before = std::iter::once(*first - half);
        let between = labels.iter().map(|&l| l + half);
        lines.extend(before.chain(between).map(|l| (l, false)));
    }
    lines.retain(|(l, _)| *l >= range.0 && *l <= range.1);
    lines
}

/// Draws elements on an area, remembering the first failure (drawing goes on: a frame with
/// one element missing beats no frame).
struct Painter<'a, DB: DrawingBackend> {
    root: &'a DrawingArea<DB, Shift>,
    err: Option<String>,
}

impl<DB: DrawingBackend> Painter<'_, DB> {
    fn path(&mut self, points: Vec<(i32, i32)>, style: ShapeStyle) {
        let result = self.root.draw(&PathElement::new(points, style));
        self.keep(result);
    }

    fn circle(&mut self, centre: (i32, i32), radius: i32, style: ShapeStyle) {
        let result = self.root.draw(&Circle::new(centre, radius.max(1), style));
        self.keep(result);
    }

    fn text(&mut self, text: String, at: (i32, i32), style: TextStyle) {
        let result = self.root.draw(&Text::new(text, at, style));
        self.keep(result);
    }

    fn keep<E: std::fmt::Display>(&mut self, result: Result<(), E>) {
        if let (Err(e), None) = (result, &self.err) {
            self.err = Some(e.to_string());
        }
    }
}

/// Where a series' line breaks: `declared` (the stream's `gap_ms`), else three times its
/// usual interval (the mean time between its points, missed events aside), so that a
/// dropout shows as one and jitter does not. Never breaks a series of fewer than three
/// points. (A mean, not a median: sorting would cost the WASM a few kilobytes.)
fn gap_ms(
    samples: &std::collections::VecDeque<crate::window::Sample>,
    declared: Option<u64>,
) -> i64 {
    if let Some(gap) = declared {
        return i64::try_from(gap).unwrap_or(i64::MAX);
    }
    let (mut sum, mut count) = (0i128, 0i64);
    for (a, b) in samples.iter().zip(samples.iter().skip(1)) {
        let dt = b.ts.saturating_sub(a.ts);
        if !b.gap_before && dt > 0 {
            sum += i128::from(dt);
            count += 1;
        }
    }
    if count < 2 {
        return i64::MAX;
    }
    i64::try_from(sum * 3 / i128::from(count)).unwrap_or(i64::MAX)
}

/// The size of the server-rendered picture; the browser scales it to the plot's box.
#[cfg(feature = "ssr")]
pub const SVG_SIZE: (u32, u32) = (880, 320);

/// The chart as an SVG document, for the server-rendered first paint (time labels in UTC).
#[cfg(feature = "ssr")]
pub fn svg(w: &Window, meta: &StreamMeta, now_ms: i64) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        let frame = Frame {
            meta,
            hover: None,
            scale: 1.0,
            utc_offset_min: 0,
            now_ms,
            // Light, recoloured by the page's CSS in the dark theme (theme::page_css).
            palette: &crate::theme::LIGHT,
        };
        if let Err(e) = draw(&root, w, &frame) {
            leptos::logging::warn!("livechart: rendering the first-paint chart failed: {e}");
        }
    }
    out
}

/// A polyline cut into dashes `dash` long with `space` between them (pixels, along the line).
fn dashed(line: &[(i32, i32)], dash: f64, space: f64) -> Vec<Vec<(i32, i32)>> {
    let period = dash + space;
    let mut out: Vec<Vec<(i32, i32)>> = Vec::new();
    let mut current: Vec<(i32, i32)> = Vec::new();
    // How far into the pattern (dash, then space) the walk along the line is.
    let mut phase = 0.0_f64;
    for pair in line.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let (dx, dy) = (f64::from(x1 - x0), f64::from(y1 - y0));
        let length = dx.hypot(dy);
        let at = |d: f64| {
            let k = if length > 0.0 { d / length } else { 0.0 };
            (x0 + (dx * k).round() as i32, y0 + (dy * k).round() as i32)
        };
        let mut d = 0.0;
        while d < length {
            let in_dash = phase < dash;
            let step = if in_dash {
                dash - phase
            } else {
                period - phase
            }
            .min(length - d);
            if in_dash {
                if current.is_empty() {
                    current.push(at(d));
                }
                current.push(at(d + step));
            }
            d += step;
            phase += step;
            if in_dash && phase >= dash - 1e-9 {
                out.push(std::mem::take(&mut current));
            }
            if phase >= period - 1e-9 {
                phase = 0.0;
            }
        }
    }
    if current.len() > 1 {
        out.push(current);
    }
    out
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn a_dashed_line_is_dashes_and_spaces_along_its_length() {
        // 30 px straight, then 26 px down: dashes of 8 with 5 between, carried round the corner.
        let pieces = dashed(&[(0, 0), (30, 0), (30, 26)], 8.0, 5.0);
        assert_eq!(pieces[0], vec![(0, 0), (8, 0)]);
        assert_eq!(pieces[1], vec![(13, 0), (21, 0)]);
        // The third dash starts at 26 and turns the corner at 30.
        assert_eq!(pieces[2], vec![(26, 0), (30, 0), (30, 4)]);
        assert_eq!(pieces[3], vec![(30, 9), (30, 17)]);
        assert_eq!(pieces[4], vec![(30, 22), (30, 26)]);
        assert_eq!(pieces.len(), 5);
        assert!(dashed(&[(3, 3)], 8.0, 5.0).is_empty());
    }

    use super::*;
    use crate::model::SeriesName;

    fn pt(series: &str, ts: i64, value: f64) -> Point {
        Point {
            series: SeriesName::parse(series).unwrap(),
            ts,
            value,
        }
    }

    fn unit(unit: &str) -> StreamMeta {
        StreamMeta {
            unit: Some(unit.to_owned()),
            ..StreamMeta::default()
        }
    }

    /// The point lists of the lines drawn in series colour `i`, each as (x, y) pairs.
    fn lines_of(svg: &str, i: usize) -> Vec<Vec<(f64, f64)>> {
        let RGBColor(r, g, b) = crate::theme::LIGHT.series_colour(i);
        let colour = format!("stroke=\"#{r:02X}{g:02X}{b:02X}\"");
        svg.split("<polyline")
            .skip(1)
            .filter(|line| line.split("/>").next().is_some_and(|l| l.contains(&colour)))
            .map(|line| {
                let points = line.split("points=\"").nth(1).unwrap_or("");
                points
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .filter_map(|xy| xy.split_once(','))
                    .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_dropout_breaks_the_line_and_steps_are_drawn_as_steps() {
        // One point a second, then nothing for 30 s, then one a second again.
        let mut w = Window::new(100);
        for t in (0..10).chain(40..50) {
            w.push(&pt("v", t * 1_000, (t % 3) as f64));
        }
        let lines = lines_of(&svg(&w, &StreamMeta::default(), 0), 0);
        assert_eq!(lines.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10]);
        // A declared gap longer than the dropout joins it again.
        let joined = StreamMeta {
            gap_ms: Some(60_000),
            ..StreamMeta::default()
        };
        assert_eq!(lines_of(&svg(&w, &joined, 0), 0).len(), 1);
        // Steps: held level until the next point, then straight up or down.
        let step = StreamMeta {
            interpolation: Some(Interpolation::Step),
            ..StreamMeta::default()
        };
        let lines = lines_of(&svg(&w, &step, 0), 0);
        assert_eq!(lines.iter().map(Vec::len).collect::<Vec<_>>(), vec![19, 19]);
        for line in &lines {
            for pair in line.windows(2) {
                let level = pair[0].1 == pair[1].1;
                let upright = pair[0].0 == pair[1].0;
                assert!(level || upright, "a ramp in a step line: {pair:?}");
            }
        }
    }

    #[test]
    fn time_labels_never_overlap_on_a_narrow_chart() {
        let mut w = Window::new(100);
        for k in 0..100 {
            w.push(&pt("v", 1_764_770_000_000 + k * 100, k as f64));
        }
        for width in [200u32, 320, 880] {
            let mut out = String::new();
            {
                let root = SVGBackend::with_string(&mut out, (width, 260)).into_drawing_area();
                let meta = StreamMeta::default();
                let frame = Frame {
                    meta: &meta,
                    hover: None,
                    scale: 1.0,
                    utc_offset_min: 0,
                    now_ms: 0,
                    palette: &crate::theme::LIGHT,
                };
                draw(&root, &w, &frame).unwrap();
            }
            // The time labels: the texts with a clock time, left to right.
            let mut labels: Vec<(f64, usize)> = out
                .split("<text")
                .skip(1)
                .filter_map(|t| {
                    let x: f64 = t.split("x=\"").nth(1)?.split('"').next()?.parse().ok()?;
                    let label = t.split('>').nth(1)?.split('<').next()?.trim();
                    label.contains(':').then_some((x, label.chars().count()))
                })
                .collect();
            labels.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(!labels.is_empty(), "{width}: no time label");
            for pair in labels.windows(2) {
                let room = 3.5 * (pair[0].1 + pair[1].1) as f64;
                assert!(pair[1].0 - pair[0].0 >= room, "{width}: {pair:?} overlap");
            }
        }
    }

    #[test]
    fn whole_numbers_get_whole_labels() {
        let mut w = Window::new(20);
        for (t, v) in [(0, 0.0), (1_000, 3.0), (2_000, 1.0), (3_000, 2.0)] {
            w.push(&pt("state", t, v));
        }
        let svg = svg(&w, &StreamMeta::default(), 0);
        let labels: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1))
            .map(|t| t.split('<').next().unwrap_or("").trim())
            .collect();
        for v in ["0", "1", "2", "3"] {
            assert!(labels.contains(&v), "{v} in {labels:?}");
        }
        assert!(!labels.iter().any(|l| l.contains(".5")), "{labels:?}");
    }

    #[test]
    fn svg_draws_lines_unit_and_gap_marker() {
        let mut w = Window::new(20);
        for i in 0..5 {
            w.push(&pt("temp", 1_000 * i, i as f64));
            w.push(&pt("hum", 1_000 * i, 10.0 - i as f64));
        }
        w.join_after_gap(&[pt("temp", 9_000, 3.0)]);
        let svg = svg(&w, &unit("°C"), 0);
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        // The unit labels the value axis; each series has its colour; the gap is dashed.
        let texts: Vec<&str> = svg.split("<text").skip(1).collect();
        assert!(texts.iter().any(|t| t.contains(">\n°C\n<")), "unit missing");
        assert!(svg.matches("<polyline").count() >= 3, "lines missing");
        for i in 0..2 {
            let RGBColor(r, g, b) = crate::theme::LIGHT.series_colour(i);
            assert!(
                svg.contains(&format!("#{r:02X}{g:02X}{b:02X}")),
                "colour {i}"
            );
        }
        assert!(svg.contains("#B45309"), "gap marker missing");
    }

    #[test]
    fn svg_of_an_empty_window_says_waiting() {
        let svg = svg(&Window::new(20), &StreamMeta::default(), 1_000_000);
        assert!(svg.contains("Waiting for data"));
    }

    #[test]
    fn the_poison_window_draws_a_small_picture() {
        // Two points 275,000 years apart once made one tick per day: 10^8 of them.
        let mut w = Window::new(20);
        w.push(&pt("value", 0, 1.0));
        w.push(&pt("value", crate::model::MAX_TS, 2.0));
        let svg = svg(&w, &StreamMeta::default(), 0);
        assert!(svg.len() < 20_000, "{} bytes", svg.len());
        assert!(svg.contains("275760-09-13"), "the last label is a date");
    }

    mod properties {
        use super::*;
        use crate::axis::MAX_TICKS;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = f64> {
            prop_oneof![
                Just(f64::MAX),
                Just(-f64::MAX),
                Just(f64::MIN_POSITIVE),
                Just(0.0),
                any::<f64>().prop_filter("finite", |v| v.is_finite()),
            ]
        }

        fn ts() -> impl Strategy<Value = i64> {
            prop_oneof![
                Just(0),
                Just(crate::model::MAX_TS),
                0..=crate::model::MAX_TS
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn any_data_draws_a_bounded_picture(
                points in prop::collection::vec((0usize..3, ts(), value()), 0..40),
                range in prop::option::of((value(), value())),
            ) {
                let mut w = Window::new(20);
                for (series, ts, value) in points {
                    w.push(&pt(["a", "b", "c"][series], ts, value));
                }
                let meta = StreamMeta {
                    min: range.map(|r| r.0),
                    max: range.map(|r| r.1),
                    ..unit("u")
                };
                let svg = svg(&w, &meta, 0);
                // Labels: both axes, the axis names, the empty-chart note.
                let texts = svg.matches("<text").count();
                prop_assert!(texts <= 2 * MAX_TICKS + 3, "{texts} labels");
                prop_assert!(svg.len() < 40_000, "{} bytes", svg.len());
            }
        }
    }
}
