//! Saving a chart as the user sees it: a PNG of the canvas at its device pixel ratio, with
//! the chart's title and legend drawn above it. (The CSV is a plain link to the range query.)

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlAnchorElement, HtmlCanvasElement};

/// Draws `title`, the time range shown and the whole `legend` (series and their colours,
/// wrapped onto as many rows as they need) above a copy of `canvas`, in the theme's colours,
/// and offers it as the download `file`.
pub(crate) fn save_png(
    canvas: &HtmlCanvasElement,
    title: &str,
    range: Option<(i64, i64)>,
    legend: &[(String, String)],
    palette: &crate::theme::Palette,
    file: &str,
) -> Result<(), String> {
    let (background, text) = (
        crate::theme::hex(palette.background),
        crate::theme::hex(palette.text),
    );
    let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let document = leptos::prelude::document();
    let dpr = leptos::prelude::window().device_pixel_ratio().max(1.0);
    let out: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "not a canvas".to_owned())?;
    let ctx: CanvasRenderingContext2d = out
        .get_context("2d")
        .map_err(js)?
        .ok_or("no 2d context")?
        .dyn_into()
        .map_err(|_| "not a 2d context".to_owned())?;
    let (title_font, small_font) = (
        format!("600 {}px sans-serif", (16.0 * dpr).round()),
        format!("{}px sans-serif", (13.0 * dpr).round()),
    );
    // Where each legend entry goes: after the title and range on the first row, then on as
    // many more rows as the width needs. Measured first, so that the picture is tall enough.
    let width = f64::from(canvas.width());
    let (margin, row) = (12.0 * dpr, 24.0 * dpr);
    // The range in UTC, the date once when both ends share it.
    let when = range.map(|(from, to)| {
        let (a, b) = (
            crate::axis::format_iso_utc(from),
            crate::axis::format_iso_utc(to),
        );
        let same_day = a.get(..10).is_some() && a.get(..10) == b.get(..10);
        format!("{a} – {}", if same_day { &b[11..] } else { &b[..] })
    });
    ctx.set_font(&title_font);
    let title_end = margin + ctx.measure_text(title).map_err(js)?.width() + 16.0 * dpr;
    ctx.set_font(&small_font);
    let when_width = match &when {
        Some(when) => ctx.measure_text(when).map_err(js)?.width(),
        None => 0.0,
    };
    // The range beside the title when it fits, else on a row of its own.
    let (when_at, mut line, mut x) = if title_end + when_width <= width - margin {
        ((title_end, 0.0), 0.0, title_end + when_width + 24.0 * dpr)
    } else {
        ((margin, 1.0), 1.0, margin + when_width + 24.0 * dpr)
    };
    let swatch = 10.0 * dpr;
    let mut placed = Vec::with_capacity(legend.len());
    for (name, colour) in legend {
        let w = swatch + 5.0 * dpr + ctx.measure_text(name).map_err(js)?.width();
        if x + w > width - margin && x > margin {
            line += 1.0;
            x = margin;
        }
        placed.push((x, line, name, colour));
        x += w + 16.0 * dpr;
    }
    let head = (row * (line + 1.0) + 16.0 * dpr).round();
    out.set_width(canvas.width());
    out.set_height(canvas.height() + head as u32);
    ctx.set_fill_style_str(&background);
    ctx.fill_rect(0.0, 0.0, f64::from(out.width()), f64::from(out.height()));
    ctx.set_text_baseline("middle");
    let middle = |line: f64| 8.0 * dpr + row * line + row / 2.0;
    ctx.set_fill_style_str(&text);
    ctx.set_font(&title_font);
    ctx.fill_text(title, margin, middle(0.0)).map_err(js)?;
    ctx.set_font(&small_font);
    if let Some(when) = &when {
        ctx.set_fill_style_str(&crate::theme::hex(palette.muted));
        ctx.fill_text(when, when_at.0, middle(when_at.1))
            .map_err(js)?;
    }
    for (i, (x, line, name, colour)) in placed.into_iter().enumerate() {
        ctx.set_fill_style_str(colour);
        if palette.series_repeats(i) {
            // Its line is dashed: two dashes, as on the page's legend.
            let (w, h) = (swatch * 0.4, 3.0 * dpr);
            ctx.fill_rect(x, middle(line) - h / 2.0, w, h);
            ctx.fill_rect(x + swatch - w, middle(line) - h / 2.0, w, h);
        } else {
            ctx.fill_rect(x, middle(line) - swatch / 2.0, swatch, swatch);
        }
        ctx.set_fill_style_str(&text);
        ctx.fill_text(name, x + swatch + 5.0 * dpr, middle(line))
            .map_err(js)?;
    }
    ctx.draw_image_with_html_canvas_element(canvas, 0.0, head)
        .map_err(js)?;
    let url = out.to_data_url_with_type("image/png").map_err(js)?;
    let link: HtmlAnchorElement = document
        .create_element("a")
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "not a link".to_owned())?;
    link.set_href(&url);
    link.set_download(file);
    link.click();
    Ok(())
}
