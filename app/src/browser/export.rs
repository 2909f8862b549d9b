//! Saving a chart as the user sees it: a PNG of the canvas at its device pixel ratio, with
//! the chart's title and legend drawn above it. (The CSV is a plain link to the range query.)

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlAnchorElement, HtmlCanvasElement};

/// Draws `title` and the `legend` (series and their colours) above a copy of `canvas`, in
/// the theme's colours, and offers it as the download `file`.
pub(crate) fn save_png(
    canvas: &HtmlCanvasElement,
    title: &str,
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
    let head = (40.0 * dpr).round();
    let out: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "not a canvas".to_owned())?;
    out.set_width(canvas.width());
    out.set_height(canvas.height() + head as u32);
    let ctx: CanvasRenderingContext2d = out
        .get_context("2d")
        .map_err(js)?
        .ok_or("no 2d context")?
        .dyn_into()
        .map_err(|_| "not a 2d context".to_owned())?;
    ctx.set_fill_style_str(&background);
    ctx.fill_rect(0.0, 0.0, f64::from(out.width()), f64::from(out.height()));
    ctx.set_text_baseline("middle");
    ctx.set_fill_style_str(&text);
    ctx.set_font(&format!("600 {}px sans-serif", (16.0 * dpr).round()));
    let middle = head / 2.0;
    let mut x = 12.0 * dpr;
    ctx.fill_text(title, x, middle).map_err(js)?;
    x += ctx.measure_text(title).map_err(js)?.width() + 24.0 * dpr;
    ctx.set_font(&format!("{}px sans-serif", (13.0 * dpr).round()));
    for (name, colour) in legend {
        ctx.set_fill_style_str(colour);
        let size = 10.0 * dpr;
        ctx.fill_rect(x, middle - size / 2.0, size, size);
        x += size + 5.0 * dpr;
        ctx.set_fill_style_str(&text);
        ctx.fill_text(name, x, middle).map_err(js)?;
        x += ctx.measure_text(name).map_err(js)?.width() + 16.0 * dpr;
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
