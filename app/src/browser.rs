//! The browser side: the page's one `EventSource` for all its charts ([`Feed`]), drawing with
//! plotters on each chart's canvas, resizing, and tasks (start, follow progress). Compiled
//! only with the `hydrate` feature and run only from effects and event handlers, so
//! server-side rendering never touches `web_sys`.

use crate::chart::{table_html, ChartState, ConnState};
use crate::feed::Feed;
use crate::model::{
    event_name, multiplex_path, task_events_path, ErrorBody, Point, Positions, Reset, Snapshot,
    StreamInfo, StreamMeta, StreamName, Tagged, TaskCreated, TaskId, TaskProgress, TaskSpec,
};
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

/// How often, at most, a chart rewrites its table of points.
const TABLE_EVERY_MS: f64 = 1000.0;

/// Minutes east of UTC in the viewer's time zone.
pub(crate) fn local_offset_minutes() -> i32 {
    // getTimezoneOffset() counts minutes *west* of UTC.
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

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
    // Bumped whenever the plot's box changes size, so that the drawing effect re-runs.
    let resized = RwSignal::new(0u32);

    Effect::new(move |_| {
        let Some(plot_el) = plot.get() else { return };
        let id = feed.register(stream.clone(), state);
        let observer = observe_resize(&plot_el, resized);
        state.hydrated.set(true);
        let teardown = SendWrapper::new(move || {
            feed.unregister(id);
            if let Some((observer, _callback)) = observer {
                observer.disconnect();
            }
        });
        on_cleanup(move || (teardown.take())());
    });

    // The table of points follows the view at most once a second: at once after a quiet
    // second, otherwise when the second is up. (It starts as rendered.)
    let last_table = Rc::new(Cell::new(f64::NEG_INFINITY));
    let table_due = Rc::new(Cell::new(false));
    Effect::new(move |mounted: Option<()>| {
        state.view.track();
        if mounted.is_none() || table_due.replace(true) {
            return;
        }
        let wait = (last_table.get() + TABLE_EVERY_MS - js_sys::Date::now()).max(0.0);
        let (last_table, table_due) = (last_table.clone(), table_due.clone());
        set_timeout(
            move || {
                table_due.set(false);
                last_table.set(js_sys::Date::now());
                let html = state.view.try_with_untracked(table_html);
                if let (Some(html), Some(Some(body))) = (html, state.table.try_get_untracked()) {
                    body.set_inner_html(&html);
                }
            },
            Duration::from_millis(wait as u64),
        );
    });

    // However fast events arrive, draw at most once per animation frame (and not at all in a
    // background tab, where animation frames wait until the tab is shown again).
    let pending = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        state.view.track();
        state.meta.track();
        state.hover.track();
        resized.track();
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
        unit: meta.unit.as_deref(),
        y_range: meta.range(),
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
            warn_js(
                "no ResizeObserver, the chart will not follow its container",
                &e,
            );
            None
        }
    }
}

/// Keeps the page's one connection open for exactly the streams its charts show: whenever
/// that set changes, the connection is reopened (after the current round of changes, so
/// that a page mounting twelve charts opens one connection, not twelve).
pub(crate) fn start_feed(feed: Feed) {
    let names = Memo::new(move |_| {
        let mut names: Vec<StreamName> = feed
            .charts
            .with(|c| c.iter().map(|(_, n, _)| n.clone()).collect());
        names.sort();
        names.dedup();
        names
    });
    let current: Rc<RefCell<Option<Rc<Connection>>>> = Rc::default();
    let scheduled = Rc::new(Cell::new(false));
    {
        let current = current.clone();
        Effect::new(move |_| {
            names.track();
            if scheduled.replace(true) {
                return;
            }
            let (current, scheduled) = (current.clone(), scheduled.clone());
            set_timeout(
                move || {
                    scheduled.set(false);
                    let Some(names) = names.try_get_untracked() else {
                        return;
                    };
                    if let Some(old) = current.borrow_mut().take() {
                        old.close();
                    }
                    *current.borrow_mut() = Some(Connection::start(feed, names));
                },
                Duration::ZERO,
            );
        });
    }
    let teardown = SendWrapper::new(move || {
        if let Some(conn) = current.borrow_mut().take() {
            conn.close();
        }
    });
    on_cleanup(move || (teardown.take())());
}

/// The page's subscription to a set of streams. The browser's `EventSource` reconnects by
/// itself after a dropped connection, sending `Last-Event-ID` (the server sends every
/// stream's position as the connection's id), so the server resumes each stream exactly
/// after the last event received; when it gives up (an HTTP error closes it for good) this
/// reopens it with a capped exponential backoff, resuming from the charts' positions.
struct Connection {
    feed: Feed,
    names: Vec<StreamName>,
    open: RefCell<Option<OpenSource>>,
    failures: Cell<u32>,
    closed: Cell<bool>,
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
    fn start(feed: Feed, names: Vec<StreamName>) -> Rc<Self> {
        let conn = Rc::new(Connection {
            feed,
            names,
            open: RefCell::new(None),
            failures: Cell::new(0),
            closed: Cell::new(false),
        });
        Connection::open(&conn);
        conn
    }

    /// The charts showing `stream`.
    fn charts(&self, stream: &StreamName) -> Vec<ChartState> {
        self.feed
            .charts
            .try_with_untracked(|c| {
                c.iter()
                    .filter(|(_, n, _)| n == stream)
                    .map(|(_, _, s)| *s)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The streams' URL, resuming each after the last event its charts applied (the server's
    /// first paint or a previous connection), so that nothing is missed or repeated.
    fn url(&self) -> String {
        let from = Positions(
            self.names
                .iter()
                .filter_map(|name| {
                    let id = self
                        .charts(name)
                        .first()
                        .and_then(|c| c.last_id.try_get_untracked().flatten())?;
                    Some((name.clone(), id))
                })
                .collect(),
        );
        multiplex_path(&self.names, &from)
    }

    fn open(this: &Rc<Self>) {
        if this.closed.get() {
            return;
        }
        let url = this.url();
        let es = match EventSource::new(&url) {
            Ok(es) => es,
            Err(e) => {
                warn_js(&format!("cannot open {url}"), &e);
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
            c.feed.status.try_set(ConnState::Live);
        });
        let on_error = handler(|c, _| c.on_error());
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut callbacks = vec![on_open, on_error];
        let listeners: [(&str, Handler); 4] = [
            (event_name::POINTS, |c, ev| c.on_points(ev)),
            (event_name::SNAPSHOT, |c, ev| c.on_snapshot(ev)),
            (event_name::RESET, |c, ev| c.on_reset(ev)),
            (event_name::STREAMS, |c, ev| c.on_streams(ev)),
        ];
        for (name, f) in listeners {
            let cb = handler(f);
            if let Err(e) = es.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref()) {
                warn_js(&format!("cannot listen for `{name}` events"), &e);
            }
            callbacks.push(cb);
        }
        *this.open.borrow_mut() = Some(OpenSource {
            es,
            _callbacks: callbacks,
        });
    }

    fn on_error(self: &Rc<Self>) {
        self.feed.status.try_set(ConnState::Reconnecting);
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

    fn on_points(&self, ev: &MessageEvent) {
        let Some(t) = parse::<Tagged<Vec<Point>>>(ev) else {
            return;
        };
        for chart in self.charts(&t.stream) {
            chart.points.try_update(|w| {
                for p in &t.data {
                    w.push(p);
                }
            });
            if chart.paused.try_with_untracked(Option::is_some) == Some(true) {
                chart.unseen.try_update(|n| *n += t.data.len() as u64);
            }
            if t.id.is_some() {
                chart.last_id.try_set(t.id);
            }
        }
    }

    fn on_snapshot(&self, ev: &MessageEvent) {
        let Some(t) = parse::<Tagged<Snapshot>>(ev) else {
            return;
        };
        for chart in self.charts(&t.stream) {
            let after_gap = chart.gap_pending.try_get_value() == Some(true);
            chart.gap_pending.try_set_value(false);
            chart.points.try_update(|w| {
                if after_gap {
                    w.join_after_gap(&t.data.points);
                } else {
                    w.replace(&t.data.points);
                }
            });
            chart.last_id.try_set(t.data.last_id);
        }
    }

    fn on_reset(&self, ev: &MessageEvent) {
        let Some(t) = parse::<Tagged<Reset>>(ev) else {
            return;
        };
        leptos::logging::log!(
            "livechart: {} resumed with a gap ({}): {}",
            t.stream,
            t.data.reason.as_str(),
            t.data.detail
        );
        for chart in self.charts(&t.stream) {
            chart.gap_pending.try_set_value(true);
            chart.resets.try_update(|n| *n += 1);
        }
    }

    fn on_streams(&self, ev: &MessageEvent) {
        if let Some(catalog) = parse::<Vec<StreamInfo>>(ev) {
            self.feed.catalog.try_set(catalog);
        }
    }

    fn close(&self) {
        self.closed.set(true);
        self.open.borrow_mut().take();
    }
}

/// Logs a warning with the JavaScript error itself, which the console shows in full.
fn warn_js(what: &str, error: &wasm_bindgen::JsValue) {
    web_sys::console::warn_2(&format!("livechart: {what}:").into(), error);
}

/// The event's data as `T`; a malformed event is skipped with a warning, never applied.
fn parse<T: DeserializeOwned>(ev: &MessageEvent) -> Option<T> {
    let kind = ev.type_();
    let Some(data) = ev.data().as_string() else {
        warn!("livechart: skipped a `{kind}` event without text data");
        return None;
    };
    // JSON has no NaN or infinity (serde_json refuses 1e400), so parsed values are finite.
    match serde_json::from_str::<T>(&data) {
        Ok(value) => Some(value),
        Err(e) => {
            let shown: String = data.chars().take(200).collect();
            warn!("livechart: skipped a malformed `{kind}` event: {e}; data: {shown}");
            None
        }
    }
}

/// Starts a task (`POST /api/tasks`); the answer, or what went wrong in words, goes to `done`.
pub(crate) fn start_task(spec: TaskSpec, done: impl FnOnce(Result<TaskCreated, String>) + 'static) {
    leptos::task::spawn_local(async move {
        let result = async {
            let response = gloo_net::http::Request::post("/api/tasks")
                .json(&spec)
                .map_err(|e| e.to_string())?
                .send()
                .await
                .map_err(|e| format!("the server could not be reached: {e}"))?;
            if response.ok() {
                response
                    .json::<TaskCreated>()
                    .await
                    .map_err(|e| e.to_string())
            } else {
                let status = response.status();
                Err(match response.json::<ErrorBody>().await {
                    Ok(body) => body.detail,
                    Err(_) => format!("the server answered {status}"),
                })
            }
        }
        .await;
        done(result);
    });
}

/// Follows a task's progress until it ends (or the component goes away). `update` gets each
/// progress event, or `None` and whether the stream is lost for good after an error; it
/// answers whether the task is still wanted (the stream is closed when not).
pub(crate) fn follow_task(
    id: TaskId,
    update: impl Fn(Option<TaskProgress>, bool) -> bool + 'static,
) {
    let url = task_events_path(id);
    let es = match EventSource::new(&url) {
        Ok(es) => es,
        Err(e) => {
            warn_js(&format!("cannot open {url}"), &e);
            update(None, true);
            return;
        }
    };
    let update = Rc::new(update);
    let on_progress = {
        let (es, update) = (es.clone(), update.clone());
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(p) = parse::<TaskProgress>(&ev) {
                // After the last state the server ends the stream: do not reconnect.
                let last = p.status.is_final();
                if !update(Some(p), false) || last {
                    es.close();
                }
            }
        })
    };
    let on_error = {
        let es = es.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
            // Closed for good (the task is unknown by now); otherwise the browser retries.
            if !update(None, es.ready_state() == EventSource::CLOSED) {
                es.close();
            }
        })
    };
    if let Err(e) = es.add_event_listener_with_callback(
        event_name::PROGRESS,
        on_progress.as_ref().unchecked_ref(),
    ) {
        warn_js("cannot listen for progress", &e);
    }
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let source = SendWrapper::new(OpenSource {
        es,
        _callbacks: vec![on_progress, on_error],
    });
    on_cleanup(move || drop(source.take()));
}
