//! A chart's canvas: registering with the feed, drawing with plotters at most once per
//! animation frame, following the container's size, and the table of points while it is open.

use super::{history, local_offset_minutes, warn_js};
use crate::feed::{ChartState, Feed};
use crate::markup::table_html;
use crate::model::{Point, StreamMeta, StreamName};
use crate::plot::{self, Frame};
use crate::window::Mapping;
use leptos::logging::warn;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use send_wrapper::SendWrapper;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{HtmlCanvasElement, ResizeObserver};

/// How often, at most, a chart rewrites its table of points.
const TABLE_EVERY_MS: f64 = 1000.0;

/// Wires a mounted chart to the page's feed and to its canvas. Everything is undone when the
/// component unmounts: the chart leaves the feed (which then stops following its stream if
/// no other chart shows it) and the resize observer is disconnected.
pub(crate) fn start_chart(
    state: ChartState,
    feed: Feed,
    stream: StreamName,
    canvas: NodeRef<leptos::html::Canvas>,
    plot: NodeRef<leptos::html::Div>,
) {
    // Bumped whenever the drawing must be redone with the same data: the plot's box changed
    // size, or the theme changed (the page's THEME_SCRIPT says so with `livechart-theme`).
    let redraw = RwSignal::new(0u32);
    let theme = window_event_listener_untyped("livechart-theme", move |_| {
        redraw.try_update(|n| *n = n.wrapping_add(1));
    });
    on_cleanup(move || theme.remove());
    history::start(state, canvas);

    Effect::new(move |_| {
        let Some(plot_el) = plot.get() else { return };
        let id = feed.register(stream.clone(), state);
        let observer = observe_resize(&plot_el, redraw);
        state.hydrated.set(true);
        let teardown = SendWrapper::new(move || {
            feed.unregister(id);
            if let Some((observer, _callback)) = observer {
                observer.disconnect();
            }
        });
        on_cleanup(move || (teardown.take())());
    });

    // An open table of points follows the view at most once a second; a closed one is empty.
    super::throttled(
        TABLE_EVERY_MS,
        move || {
            if state.table_shown.get() {
                state.view.track();
            }
        },
        move || {
            let html = match state.table_shown.try_get_untracked() {
                Some(true) => state.view.try_with_untracked(table_html),
                Some(false) => Some(String::new()),
                None => None,
            };
            if let (Some(html), Some(Some(body))) = (html, state.table.try_get_untracked()) {
                body.set_inner_html(&html);
            }
        },
    );

    // However fast events arrive, draw at most once per animation frame (and not at all in a
    // background tab, where animation frames wait until the tab is shown again).
    let pending = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        state.view.track();
        state.meta.track();
        state.hover.track();
        redraw.track();
        if pending.replace(true) {
            return;
        }
        let pending = pending.clone();
        request_animation_frame(move || {
            pending.set(false);
            if let Some(Some(el)) = canvas.try_get_untracked() {
                render(&el, state);
            }
        });
    });
}

fn render(canvas: &HtmlCanvasElement, state: ChartState) {
    // After unmount the signals are gone and there is nothing left to draw.
    let (Some(hover), Some(meta)) = (
        state.hover.try_get_untracked(),
        state.meta.try_get_untracked(),
    ) else {
        return;
    };
    let drawn = state.view.try_with_untracked(|w| {
        let timing = DrawTiming::start();
        let drawn = draw(canvas, w, &meta, hover.as_ref());
        timing.end(w.len());
        drawn
    });
    match drawn {
        Some(Ok(mapping)) => {
            state.mapping.try_set(Some(mapping));
            state.draws.try_update(|n| *n += 1);
        }
        Some(Err(err)) => warn!("livechart: drawing the chart failed: {err}"),
        None => {}
    }
}

/// Each frame's drawing time as a User Timing measure `livechart:draw:<points>`, so that
/// tools (a `PerformanceObserver`, the browser's profiler) see real frame costs. The entries
/// are cleared from the timeline at once: a page open for days must not keep them all.
struct DrawTiming(Option<web_sys::Performance>);

impl DrawTiming {
    const START: &'static str = "livechart:draw-start";

    fn start() -> Self {
        let perf = window().performance();
        if let Some(p) = &perf {
            // Marking fails only where User Timing is missing; the frame is drawn regardless.
            let _ = p.mark(Self::START);
        }
        DrawTiming(perf)
    }

    fn end(self, points: usize) {
        let Some(p) = self.0 else { return };
        let name = format!("livechart:draw:{points}");
        let _ = p.measure_with_start_mark(&name, Self::START);
        p.clear_marks_with_mark_name(Self::START);
        p.clear_measures_with_measure_name(&name);
    }
}

/// Draws one frame and returns where the plotting area ended up, in CSS pixels.
fn draw(
    canvas: &HtmlCanvasElement,
    w: &crate::window::Window,
    meta: &StreamMeta,
    hover: Option<&Point>,
) -> Result<Mapping, String> {
    // Size the backing store in device pixels so that lines and text are crisp on HiDPI.
    let dpr = window().device_pixel_ratio().max(1.0);
    let css_w = f64::from(canvas.client_width().max(1));
    let css_h = f64::from(canvas.client_height().max(1));
    let (px_w, px_h) = ((css_w * dpr).round() as u32, (css_h * dpr).round() as u32);
    if canvas.width() != px_w {
        canvas.set_width(px_w);
    }
    if canvas.height() != px_h {
        canvas.set_height(px_h);
    }
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| "the canvas has no 2d context".to_string())?;
    let frame = Frame {
        meta,
        hover,
        scale: dpr,
        utc_offset_min: local_offset_minutes(),
        now_ms: js_sys::Date::now() as i64,
        palette: crate::theme::Palette::current(),
    };
    let m = plot::draw(&backend.into_drawing_area(), w, &frame)?;
    let css = |(a, b): (f64, f64)| (a / dpr, b / dpr);
    Ok(Mapping {
        x_px: css(m.x_px),
        y_px: css(m.y_px),
        ..m
    })
}

type ResizeCallback = Closure<dyn FnMut(js_sys::Array)>;

fn observe_resize(
    el: &web_sys::HtmlDivElement,
    resized: RwSignal<u32>,
) -> Option<(ResizeObserver, ResizeCallback)> {
    let callback: ResizeCallback = Closure::new(move |_entries: js_sys::Array| {
        resized.try_update(|n| *n = n.wrapping_add(1));
    });
    match ResizeObserver::new(callback.as_ref().unchecked_ref()) {
        Ok(observer) => {
            observer.observe(el);
            Some((observer, callback))
        }
        Err(e) => {
            warn_js(
                "no ResizeObserver, the chart will not follow its container",
                &e,
            );
            None
        }
    }
}
