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

/// Series colours, in series-name order (Tableau 10, readable on white).
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

/// How one frame is drawn, besides the data.
pub struct Frame<'a> {
    pub title: &'a str,
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
        .caption(f.title, font(16.0, &TEXT))
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
        .y_desc("Value")
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

    let multi = w.series_count() > 1;
    for (i, (name, samples)) in w.series().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = color.stroke_width(s(2.0) as u32);
        // A gap breaks the line: each run between gaps is its own line.
        let mut start = 0;
        let mut labelled = false;
        for end in (1..=samples.len()).filter(|&e| e == samples.len() || samples[e].gap_before) {
            let run = samples.range(start..end).map(|x| (x.ts, x.value));
            let drawn = chart
                .draw_series(LineSeries::new(run, line))
                .map_err(|e| err(&e))?;
            if multi && !labelled {
                let r = s(6.0) as i32;
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - r / 2), (x + 2 * r, y + r / 2)], color.filled())
                });
                labelled = true;
            }
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
        let ring = PALETTE[i % PALETTE.len()].stroke_width(s(2.0) as u32);
        chart
            .draw_series(std::iter::once(Circle::new(
                (h.ts, h.value),
                s(6.0) as u32,
                ring,
            )))
            .map_err(|e| err(&e))?;
    }
    if multi {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(font(12.0, &TEXT))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID_BOLD)
            .draw()
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
pub fn svg(w: &Window, title: &str, y_range: Option<(f64, f64)>, now_ms: i64) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        let frame = Frame {
            title,
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
    fn svg_draws_lines_legend_and_gap_marker() {
        let mut w = Window::new(20);
        for i in 0..5 {
            w.push(&pt("temp", 1_000 * i, i as f64));
            w.push(&pt("hum", 1_000 * i, 10.0 - i as f64));
        }
        w.join_after_gap(&[pt("temp", 9_000, 3.0)]);
        let svg = svg(&w, "Robot", None, 0);
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("Robot"));
        // A legend names both series; the gap is dashed (many short segments).
        let texts: Vec<&str> = svg.split("<text").skip(1).collect();
        let labelled = |name: &str| texts.iter().any(|t| t.contains(&format!(">\n{name}\n<")));
        assert!(labelled("temp") && labelled("hum"), "legend missing");
        assert!(svg.matches("<polyline").count() >= 3, "lines missing");
        assert!(svg.contains("#B45309"), "gap marker missing");
    }

    #[test]
    fn svg_of_an_empty_window_says_waiting() {
        let svg = svg(&Window::new(20), "Empty", None, 1_000_000);
        assert!(svg.contains("Waiting for data"));
    }
}
