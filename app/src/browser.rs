//! The browser side of [`LiveChart`](crate::LiveChart): the `EventSource` connection, drawing
//! with plotters on the canvas, and resizing. Compiled only with the `hydrate` feature and run
//! only from effects, so server-side rendering never touches `web_sys`.

use crate::chart::{ChartState, ConnState};
use crate::model::{event_name, events_path, Point, StreamName};
use crate::window::{format_clock, label_decimals, time_decimals, value_range, Mapping, Window};
use leptos::logging::warn;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;
use send_wrapper::SendWrapper;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventSource, HtmlCanvasElement, MessageEvent, ResizeObserver};

const TEXT: RGBColor = RGBColor(31, 41, 55);
const MUTED: RGBColor = RGBColor(90, 99, 112);
const GRID: RGBColor = RGBColor(236, 239, 243);
const GRID_BOLD: RGBColor = RGBColor(214, 219, 226);
const LINE: RGBColor = RGBColor(37, 99, 235);

/// Minutes east of UTC in the viewer's time zone.
pub(crate) fn local_offset_minutes() -> i32 {
    // getTimezoneOffset() counts minutes *west* of UTC.
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

/// Wires a mounted chart to its stream and its canvas. Everything is torn down when the
/// component unmounts: the `EventSource` is closed and the resize observer disconnected.
pub(crate) fn start(
    state: ChartState,
    stream: StreamName,
    title: String,
    canvas: NodeRef<leptos::html::Canvas>,
    plot: NodeRef<leptos::html::Div>,
) {
    // Bumped whenever the plot's box changes size, so that the drawing effect re-runs.
    let resized = RwSignal::new(0u32);

    Effect::new(move |_| {
        let Some(plot_el) = plot.get() else { return };
        let conn = Connection::start(events_path(&stream), state);
        let observer = observe_resize(&plot_el, resized);
        state.hydrated.set(true);
        let teardown = SendWrapper::new(move || {
            conn.close();
            if let Some((observer, _callback)) = observer {
                observer.disconnect();
            }
        });
        on_cleanup(move || (teardown.take())());
    });

    // However fast events arrive, draw at most once per animation frame.
    let pending = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        state.points.track();
        state.hover.track();
        resized.track();
        if pending.replace(true) {
            return;
        }
        let pending = pending.clone();
        let title = title.clone();
        request_animation_frame(move || {
            pending.set(false);
            if let Some(Some(el)) = canvas.try_get_untracked() {
                render(&el, &title, state);
            }
        });
    });
}

fn render(canvas: &HtmlCanvasElement, title: &str, state: ChartState) {
    // After unmount the signals are gone and there is nothing left to draw.
    let Some(hover) = state.hover.try_get_untracked() else {
        return;
    };
    let drawn = state
        .points
        .try_with_untracked(|w| draw(canvas, title, w, state.y_range, hover));
    match drawn {
        Some(Ok(mapping)) => {
            state.mapping.try_set(Some(mapping));
            state.draws.try_update(|n| *n += 1);
        }
        Some(Err(err)) => warn!("livechart: drawing the chart failed: {err}"),
        None => {}
    }
}

/// Draws one frame and returns where the plotting area ended up, for hover lookups.
fn draw(
    canvas: &HtmlCanvasElement,
    title: &str,
    w: &Window,
    y_range: Option<(f64, f64)>,
    hover: Option<Point>,
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
    let s = |css_px: f64| css_px * dpr;
    let err = |e: &dyn std::fmt::Display| e.to_string();

    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| "the canvas has no 2d context".to_string())?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;

    let (t0, t1) = w.time_range().unwrap_or_else(|| {
        let now = js_sys::Date::now() as i64;
        (now - 20_000, now)
    });
    let (v0, v1) = value_range(w.points(), y_range);
    let decimals = label_decimals(v1 - v0);
    let offset = local_offset_minutes();
    const X_LABELS: usize = 5;
    let t_decimals = time_decimals((t1 - t0) as f64 / (X_LABELS - 1) as f64);
    let font = |size: f64, color: &RGBColor| ("sans-serif", s(size)).into_font().color(color);

    let mut chart = ChartBuilder::on(&root)
        .caption(title, font(16.0, &TEXT))
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
        .x_label_formatter(&|t| format_clock(*t, offset, t_decimals))
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .label_style(font(12.0, &MUTED))
        .axis_desc_style(font(13.0, &TEXT))
        .max_light_lines(2)
        .light_line_style(GRID.stroke_width(1))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .axis_style(MUTED.stroke_width(1))
        .draw()
        .map_err(|e| err(&e))?;

    let line = LINE.stroke_width(s(2.0) as u32);
    chart
        .draw_series(LineSeries::new(w.points().map(|p| (p.ts, p.value)), line))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            w.points()
                .map(|p| Circle::new((p.ts, p.value), s(3.0) as u32, LINE.filled())),
        )
        .map_err(|e| err(&e))?;
    if let Some(h) = hover.filter(|h| w.contains(h)) {
        chart
            .draw_series(std::iter::once(Circle::new(
                (h.ts, h.value),
                s(6.0) as u32,
                line,
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

    let css = |px: i32| f64::from(px) / dpr;
    Ok(Mapping {
        x_px: (css(xr.start), css(xr.end)),
        y_px: (css(yr.start), css(yr.end)),
        t: (t0 as f64, t1 as f64),
        v: (v0, v1),
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
            warn!("livechart: no ResizeObserver, the chart will not follow its container: {e:?}");
            None
        }
    }
}

/// One chart's subscription. The browser's `EventSource` reconnects by itself after a dropped
/// connection (sending `Last-Event-ID`); when it gives up (an HTTP error closes it for good)
/// this reopens it with a capped exponential backoff, so a chart never stays dead.
struct Connection {
    url: String,
    state: ChartState,
    open: RefCell<Option<OpenSource>>,
    failures: Cell<u32>,
    closed: Cell<bool>,
}

struct OpenSource {
    es: EventSource,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_point: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for OpenSource {
    fn drop(&mut self) {
        self.es.close();
    }
}

impl Connection {
    fn start(url: String, state: ChartState) -> Rc<Self> {
        let conn = Rc::new(Connection {
            url,
            state,
            open: RefCell::new(None),
            failures: Cell::new(0),
            closed: Cell::new(false),
        });
        Connection::open(&conn);
        conn
    }

    fn open(this: &Rc<Self>) {
        if this.closed.get() {
            return;
        }
        let es = match EventSource::new(&this.url) {
            Ok(es) => es,
            Err(e) => {
                warn!("livechart: cannot open {}: {e:?}", this.url);
                this.retry_later();
                return;
            }
        };
        let weak = Rc::downgrade(this);
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new({
            let weak = weak.clone();
            move |_| {
                if let Some(c) = weak.upgrade() {
                    c.failures.set(0);
                    c.state.status.try_set(ConnState::Live);
                }
            }
        });
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
            let weak = weak.clone();
            move |_| {
                if let Some(c) = weak.upgrade() {
                    c.on_error();
                }
            }
        });
        let on_point = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(c) = weak.upgrade() {
                c.on_point(&ev);
            }
        });
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        if let Err(e) = es
            .add_event_listener_with_callback(event_name::POINT, on_point.as_ref().unchecked_ref())
        {
            warn!(
                "livechart: cannot listen for `{}` events: {e:?}",
                event_name::POINT
            );
        }
        *this.open.borrow_mut() = Some(OpenSource {
            es,
            _on_open: on_open,
            _on_error: on_error,
            _on_point: on_point,
        });
    }

    fn on_error(self: &Rc<Self>) {
        self.state.status.try_set(ConnState::Reconnecting);
        let given_up = self
            .open
            .borrow()
            .as_ref()
            .is_some_and(|o| o.es.ready_state() == EventSource::CLOSED);
        if given_up {
            self.retry_later();
        }
    }

    /// Reopens after a delay: 0.5 s, doubling up to 10 s. The old source is dropped in the
    /// timer, never inside its own error callback.
    fn retry_later(self: &Rc<Self>) {
        let failures = self.failures.get();
        self.failures.set(failures.saturating_add(1));
        let delay = (500u64 << failures.min(5)).min(10_000);
        let weak = Rc::downgrade(self);
        set_timeout(
            move || {
                if let Some(c) = weak.upgrade() {
                    c.open.borrow_mut().take();
                    Connection::open(&c);
                }
            },
            Duration::from_millis(delay),
        );
    }

    fn on_point(&self, ev: &MessageEvent) {
        let Some(data) = ev.data().as_string() else {
            warn!(
                "livechart: skipped a `point` event without text data on {}",
                self.url
            );
            return;
        };
        // JSON has no NaN or infinity (serde_json refuses 1e400), so a parsed value is finite.
        match serde_json::from_str::<Point>(&data) {
            Ok(point) => {
                self.state.points.try_update(|w| w.push(point));
                if let Ok(id) = ev.last_event_id().parse::<u64>() {
                    self.state.last_id.try_set(Some(id));
                }
            }
            Err(e) => {
                let shown: String = data.chars().take(200).collect();
                warn!(
                    "livechart: skipped a malformed `point` event on {}: {e}; data: {shown}",
                    self.url
                );
            }
        }
    }

    fn close(&self) {
        self.closed.set(true);
        self.open.borrow_mut().take();
    }
}
