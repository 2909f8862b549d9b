//! The page's one `EventSource`: opened for exactly the streams its charts show, resumed
//! after a break, and each event handed to the charts of its stream.

use super::{history, parse, warn_js};
use crate::feed::{ChartState, ConnState, Feed};
use crate::model::{event_name, Point, Positions, Reset, Snapshot, StreamInfo, StreamName, Tagged};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventSource, MessageEvent};

/// The page's clock: the browser's, corrected by how far it was from the server's when the
/// page was rendered, advanced once a second (a time window's axis moves on with it).
fn keep_time(feed: Feed) {
    let offset = feed.now.get_untracked() - js_sys::Date::now() as i64;
    let tick = move || {
        let _ = feed.now.try_set(js_sys::Date::now() as i64 + offset);
    };
    tick();
    let _ = set_interval_with_handle(tick, Duration::from_secs(1));
}

/// Keeps the page's one connection open for exactly the streams its charts show: whenever
/// that set changes, the connection is reopened (after the current round of changes, so
/// that a page mounting twelve charts opens one connection, not twelve).
pub(crate) fn start_feed(feed: Feed) {
    keep_time(feed);
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

pub(super) struct OpenSource {
    pub(super) es: EventSource,
    pub(super) _callbacks: Vec<Closure<dyn FnMut(MessageEvent)>>,
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
        crate::paths::multiplex(&self.names, &from)
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
        let now = self.feed.now.try_get_untracked().unwrap_or(0);
        for chart in self.charts(&t.stream) {
            chart.heard.try_set(now);
            history::take_live(&chart, t.id, &t.data);
            let away = chart.paused.try_with_untracked(Option::is_some) == Some(true)
                || chart.past.try_with_untracked(Option::is_some) == Some(true);
            if away {
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
            history::after_snapshot(&chart);
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
