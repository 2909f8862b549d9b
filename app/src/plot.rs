//! Drawing a [`Window`] with plotters, generic over the backend: the browser draws on a
//! `<canvas>`, the server renders the same picture as SVG for the first paint, before (or
//! without) WebAssembly. One drawing routine, so both look alike.

use crate::model::Point;
use crate::window::{format_clock, label_decimals, time_decimals, value_range, Mapping, Window};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const TEXT: RGBColor = RGBColor(31, 41, 55);
const MUTED: RGBColor = RGBColor(90, 99, 112);
const GRID: RGBColor = RGBColor(236, 239, 243);
const GRID_BOLD: RGBColor = RGBColor(214, 219, 226);
const GAP: RGBColor = RGBColor(180, 83, 9);

/// Series colours, in series-name order (readable on white). The HTML legend uses the same.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(37, 99, 235),
    RGBColor(234, 88, 12),
    RGBColor(22, 163, 74),
    RGBColor(220, 38, 38),
    RGBColor(147, 51, 234),
    RGBColor(13, 148, 136),
    RGBColor(202, 138, 4),
    RGBColor(219, 39, 119),
];

/// The colour of the `i`-th series (by name) of a chart.
pub fn series_colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The same, as CSS.
pub fn series_css(i: usize) -> String {
    let RGBColor(r, g, b) = series_colour(i);
    format!("rgb({r}, {g}, {b})")
}

/// How one frame is drawn, besides the data.
pub struct Frame<'a> {
    /// The unit of the values, for the value axis.
    pub unit: Option<&'a str>,
    /// A fixed value range (widened by outliers); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    pub hover: Option<&'a Point>,
    /// Device pixels per CSS pixel.
    pub scale: f64,
    /// Minutes east of UTC for the time labels.
    pub utc_offset_min: i32,
    /// "Now", for the time axis of an empty chart.
    pub now_ms: i64,
}

/// Draws `w` filling `root`; returns where the plotting area went, in backend pixels.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    w: &Window,
    f: &Frame,
) -> Result<Mapping, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let s = |css_px: f64| css_px * f.scale;
    root.fill(&WHITE).map_err(|e| err(&e))?;

    let (t0, t1) = w.time_range().unwrap_or((f.now_ms - 20_000, f.now_ms));
    let (v0, v1) = value_range(w.points().map(|p| p.value), f.y_range);
    let decimals = label_decimals(v1 - v0);
    const X_LABELS: usize = 5;
    let t_decimals = time_decimals((t1 - t0) as f64 / (X_LABELS - 1) as f64);
    let font = |size: f64, color: &RGBColor| ("sans-serif", s(size)).into_font().color(color);

    let mut chart = ChartBuilder::on(root)
        .margin(s(12.0) as u32)
        // Room for half of the last time label, centred on the right edge.
        .margin_right(s(36.0) as u32)
        .x_label_area_size(s(44.0) as u32)
        .y_label_area_size(s(56.0) as u32)
        .build_cartesian_2d(t0..t1, v0..v1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("Time")
        .y_desc(f.unit.unwrap_or("Value"))
        .x_labels(X_LABELS)
        .y_labels(6)
        .x_label_formatter(&|t| format_clock(*t, f.utc_offset_min, t_decimals))
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .label_style(font(12.0, &MUTED))
        .axis_desc_style(font(13.0, &TEXT))
        .max_light_lines(2)
        .light_line_style(GRID.stroke_width(1))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .axis_style(MUTED.stroke_width(1))
        .draw()
        .map_err(|e| err(&e))?;

    for (i, (_, samples)) in w.series().enumerate() {
        let color = series_colour(i);
        let line = color.stroke_width(s(2.0) as u32);
        // A gap breaks the line: each run between gaps is its own line.
        let mut start = 0;
        for end in (1..=samples.len()).filter(|&e| e == samples.len() || samples[e].gap_before) {
            let run = samples.range(start..end).map(|x| (x.ts, x.value));
            chart
                .draw_series(LineSeries::new(run, line))
                .map_err(|e| err(&e))?;
            start = end;
        }
        chart
            .draw_series(
                samples
                    .iter()
                    .map(|x| Circle::new((x.ts, x.value), s(3.0) as u32, color.filled())),
            )
            .map_err(|e| err(&e))?;
        // Mark each gap halfway between the points it separates.
        for pair in samples.iter().zip(samples.iter().skip(1)) {
            if pair.1.gap_before {
                let mid = pair.0.ts + (pair.1.ts - pair.0.ts) / 2;
                chart
                    .draw_series(DashedLineSeries::new(
                        [(mid, v0), (mid, v1)],
                        s(6.0) as u32,
                        s(4.0) as u32,
                        GAP.stroke_width(s(2.0) as u32),
                    ))
                    .map_err(|e| err(&e))?;
            }
        }
    }
    if let Some(h) = f.hover.filter(|h| w.contains(h)) {
        let i = w.series().position(|(n, _)| *n == h.series).unwrap_or(0);
        let ring = series_colour(i).stroke_width(s(2.0) as u32);
        chart
            .draw_series(std::iter::once(Circle::new(
                (h.ts, h.value),
                s(6.0) as u32,
                ring,
            )))
            .map_err(|e| err(&e))?;
    }

    let (xr, yr) = chart.plotting_area().get_pixel_range();
    if w.is_empty() {
        let style = font(14.0, &MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        let centre = ((xr.start + xr.end) / 2, (yr.start + yr.end) / 2);
        root.draw(&Text::new("Waiting for data…", centre, style))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;

    Ok(Mapping {
        x_px: (f64::from(xr.start), f64::from(xr.end)),
        y_px: (f64::from(yr.start), f64::from(yr.end)),
        t: (t0 as f64, t1 as f64),
        v: (v0, v1),
    })
}

/// The size of the server-rendered picture; the browser scales it to the plot's box.
#[cfg(feature = "ssr")]
pub const SVG_SIZE: (u32, u32) = (880, 320);

/// The chart as an SVG document, for the server-rendered first paint (time labels in UTC).
#[cfg(feature = "ssr")]
pub fn svg(w: &Window, unit: Option<&str>, y_range: Option<(f64, f64)>, now_ms: i64) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        let frame = Frame {
            unit,
            y_range,
            hover: None,
            scale: 1.0,
            utc_offset_min: 0,
            now_ms,
        };
        if let Err(e) = draw(&root, w, &frame) {
            leptos::logging::warn!("livechart: rendering the first-paint chart failed: {e}");
        }
    }
    out
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::model::SeriesName;

    fn pt(series: &str, ts: i64, value: f64) -> Point {
        Point {
            series: SeriesName::parse(series).unwrap(),
            ts,
            value,
        }
    }

    #[test]
    fn svg_draws_lines_unit_and_gap_marker() {
        let mut w = Window::new(20);
        for i in 0..5 {
            w.push(&pt("temp", 1_000 * i, i as f64));
            w.push(&pt("hum", 1_000 * i, 10.0 - i as f64));
        }
        w.join_after_gap(&[pt("temp", 9_000, 3.0)]);
        let svg = svg(&w, Some("°C"), None, 0);
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        // The unit labels the value axis; each series has its colour; the gap is dashed.
        let texts: Vec<&str> = svg.split("<text").skip(1).collect();
        assert!(texts.iter().any(|t| t.contains(">\n°C\n<")), "unit missing");
        assert!(svg.matches("<polyline").count() >= 3, "lines missing");
        for i in 0..2 {
            let RGBColor(r, g, b) = series_colour(i);
            assert!(
                svg.contains(&format!("#{r:02X}{g:02X}{b:02X}")),
                "colour {i}"
            );
        }
        assert!(svg.contains("#B45309"), "gap marker missing");
    }

    #[test]
    fn svg_of_an_empty_window_says_waiting() {
        let svg = svg(&Window::new(20), None, None, 1_000_000);
        assert!(svg.contains("Waiting for data"));
    }
}
