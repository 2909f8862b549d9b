//! The browser side of [`LiveChart`](crate::LiveChart): the `EventSource` connection, drawing
//! with plotters on the canvas, and resizing. Compiled only with the `hydrate` feature and run
//! only from effects, so server-side rendering never touches `web_sys`.

use crate::chart::{ChartState, ConnState};
use crate::model::{event_name, events_path, EventId, Point, Reset, Snapshot, StreamName};
use crate::plot::{self, Frame};
use crate::window::Mapping;
use leptos::logging::warn;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use send_wrapper::SendWrapper;
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventSource, HtmlCanvasElement, MessageEvent, ResizeObserver};

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
        .try_with_untracked(|w| draw(canvas, title, w, state.y_range, hover.as_ref()));
    match drawn {
        Some(Ok(mapping)) => {
            state.mapping.try_set(Some(mapping));
            state.draws.try_update(|n| *n += 1);
        }
        Some(Err(err)) => warn!("livechart: drawing the chart failed: {err}"),
        None => {}
    }
}

/// Draws one frame and returns where the plotting area ended up, in CSS pixels.
fn draw(
    canvas: &HtmlCanvasElement,
    title: &str,
    w: &crate::window::Window,
    y_range: Option<(f64, f64)>,
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
        title,
        y_range,
        hover,
        scale: dpr,
        utc_offset_min: local_offset_minutes(),
        now_ms: js_sys::Date::now() as i64,
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
            warn!("livechart: no ResizeObserver, the chart will not follow its container: {e:?}");
            None
        }
    }
}

/// One chart's subscription. The browser's `EventSource` reconnects by itself after a dropped
/// connection, sending `Last-Event-ID` so that the server resumes exactly after the last event
/// applied; when it gives up (an HTTP error closes it for good) this reopens it with a capped
/// exponential backoff, resuming from the same id, so a chart never stays dead.
struct Connection {
    path: String,
    state: ChartState,
    open: RefCell<Option<OpenSource>>,
    failures: Cell<u32>,
    closed: Cell<bool>,
    /// A `reset` arrived: the next `snapshot` joins the window after a gap marker instead of
    /// replacing it.
    gap_pending: Cell<bool>,
}

/// What a connection does with one of its `EventSource`'s events.
type Handler = fn(&Rc<Connection>, &MessageEvent);

struct OpenSource {
    es: EventSource,
    _callbacks: Vec<Closure<dyn FnMut(MessageEvent)>>,
}

impl Drop for OpenSource {
    fn drop(&mut self) {
        self.es.close();
    }
}

impl Connection {
    fn start(path: String, state: ChartState) -> Rc<Self> {
        let conn = Rc::new(Connection {
            path,
            state,
            open: RefCell::new(None),
            failures: Cell::new(0),
            closed: Cell::new(false),
            gap_pending: Cell::new(false),
        });
        Connection::open(&conn);
        conn
    }

    /// The stream's URL, resuming after the last event applied (the server's first paint or
    /// a previous connection), so that nothing is missed or repeated.
    fn url(&self) -> String {
        match self.state.last_id.try_get_untracked().flatten() {
            Some(id) => format!("{}?last_event_id={id}", self.path),
            None => self.path.clone(),
        }
    }

    fn open(this: &Rc<Self>) {
        if this.closed.get() {
            return;
        }
        let url = this.url();
        let es = match EventSource::new(&url) {
            Ok(es) => es,
            Err(e) => {
                warn!("livechart: cannot open {url}: {e:?}");
                this.retry_later();
                return;
            }
        };
        let weak = Rc::downgrade(this);
        let handler = |f: Handler| {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                if let Some(c) = weak.upgrade() {
                    f(&c, &ev);
                }
            })
        };
        let on_open = handler(|c, _| {
            c.failures.set(0);
            c.state.status.try_set(ConnState::Live);
        });
        let on_error = handler(|c, _| c.on_error());
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut callbacks = vec![on_open, on_error];
        let listeners: [(&str, Handler); 3] = [
            (event_name::POINTS, |c, ev| c.on_points(ev)),
            (event_name::SNAPSHOT, |c, ev| c.on_snapshot(ev)),
            (event_name::RESET, |c, ev| c.on_reset(ev)),
        ];
        for (name, f) in listeners {
            let cb = handler(f);
            if let Err(e) = es.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref()) {
                warn!("livechart: cannot listen for `{name}` events: {e:?}");
            }
            callbacks.push(cb);
        }
        *this.open.borrow_mut() = Some(OpenSource {
            es,
            _callbacks: callbacks,
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

    /// The event's data as `T`; a malformed event is skipped with a warning, never applied.
    fn parse<T: DeserializeOwned>(&self, ev: &MessageEvent) -> Option<T> {
        let kind = ev.type_();
        let Some(data) = ev.data().as_string() else {
            warn!(
                "livechart: skipped a `{kind}` event without text data on {}",
                self.path
            );
            return None;
        };
        // JSON has no NaN or infinity (serde_json refuses 1e400), so parsed values are finite.
        match serde_json::from_str::<T>(&data) {
            Ok(value) => Some(value),
            Err(e) => {
                let shown: String = data.chars().take(200).collect();
                warn!(
                    "livechart: skipped a malformed `{kind}` event on {}: {e}; data: {shown}",
                    self.path
                );
                None
            }
        }
    }

    fn on_points(&self, ev: &MessageEvent) {
        let Some(points) = self.parse::<Vec<Point>>(ev) else {
            return;
        };
        self.state.points.try_update(|w| {
            for p in &points {
                w.push(p);
            }
        });
        if let Ok(id) = ev.last_event_id().parse::<EventId>() {
            self.state.last_id.try_set(Some(id));
        }
    }

    fn on_snapshot(&self, ev: &MessageEvent) {
        let Some(snapshot) = self.parse::<Snapshot>(ev) else {
            return;
        };
        let after_gap = self.gap_pending.replace(false);
        self.state.points.try_update(|w| {
            if after_gap {
                w.join_after_gap(&snapshot.points);
            } else {
                w.replace(&snapshot.points);
            }
        });
        self.state.last_id.try_set(snapshot.last_id);
    }

    fn on_reset(&self, ev: &MessageEvent) {
        if let Some(reset) = self.parse::<Reset>(ev) {
            leptos::logging::log!(
                "livechart: {} resumed with a gap ({}): {}",
                self.path,
                reset.reason.as_str(),
                reset.detail
            );
            self.gap_pending.set(true);
            self.state.resets.try_update(|n| *n += 1);
        }
    }

    fn close(&self) {
        self.closed.set(true);
        self.open.borrow_mut().take();
    }
}
