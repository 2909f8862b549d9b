//! A page's single event connection, shared by all its charts, and the state of each chart
//! it drives.
//!
//! Browsers allow six connections per site over HTTP/1.1, across all tabs: one `EventSource`
//! per chart would stall the seventh chart. So a page has one [`Feed`]: charts register the
//! stream they show, and the browser side (`crate::browser`) keeps one multiplexed
//! connection (`/api/events?streams=…`) open for exactly the registered streams, handing
//! each event to the charts of its stream. The connection also brings the catalog of
//! streams, which the dashboard lists. The feed also carries what the page's charts share:
//! the instant under the pointer (the crosshair) and, when they are kept in step, the range
//! in the past they all show.

use crate::choice::WindowChoice;
use crate::model::{EventId, Point, StreamInfo, StreamMeta, StreamName};
use crate::window::{Mapping, Window};
use leptos::prelude::*;

/// What the chart knows of its connection, shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Before the first successful connection.
    Connecting,
    /// Events are flowing.
    Live,
    /// The connection dropped; the browser (or the chart) is reconnecting.
    Reconnecting,
}

impl ConnState {
    pub fn label(self) -> &'static str {
        match self {
            ConnState::Connecting => "Connecting…",
            ConnState::Live => "Live",
            ConnState::Reconnecting => "Connection lost. Reconnecting…",
        }
    }

    /// A stable key for styling and tests (`data-state`).
    pub fn key(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Live => "live",
            ConnState::Reconnecting => "reconnecting",
        }
    }
}

/// The page's connection state, catalog and registered charts. Signals only: `Copy`.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct Feed {
    /// Registered charts: (registration id, stream, state).
    pub charts: RwSignal<Vec<(u64, StreamName, ChartState)>>,
    /// Every stream of the server, as last announced.
    pub catalog: RwSignal<Vec<StreamInfo>>,
    pub status: RwSignal<ConnState>,
    /// The instant under the pointer on any chart: every chart draws a line there.
    pub crosshair: RwSignal<Option<i64>>,
    /// Whether the charts move into the past together.
    pub in_step: RwSignal<bool>,
    /// The range every chart shows while in step (`None`: live).
    pub shared_range: RwSignal<Option<(i64, i64)>>,
    next_id: StoredValue<u64>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl Feed {
    /// Creates the page's feed and provides it to the components below. The catalog starts
    /// as the server rendered it. The browser connects it (`crate::browser::start_feed`).
    pub fn provide(catalog: Vec<StreamInfo>) -> Feed {
        let feed = Feed {
            charts: RwSignal::new(Vec::new()),
            catalog: RwSignal::new(catalog),
            status: RwSignal::new(ConnState::Connecting),
            crosshair: RwSignal::new(None),
            in_step: RwSignal::new(false),
            shared_range: RwSignal::new(None),
            next_id: StoredValue::new(0),
        };
        provide_context(feed);
        feed
    }

    /// Adds a chart of `stream`; the connection follows it from now on.
    pub fn register(&self, stream: StreamName, state: ChartState) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.charts.update(|c| c.push((id, stream, state)));
        id
    }

    pub fn unregister(&self, id: u64) {
        self.charts.try_update(|c| c.retain(|(i, _, _)| *i != id));
    }

    /// How `stream` wants to be shown (tracked: changes when the catalog does).
    pub fn meta(&self, stream: &StreamName) -> StreamMeta {
        self.catalog.with(|c| {
            c.iter()
                .find(|s| s.name == *stream)
                .map(|s| s.meta.clone())
                .unwrap_or_default()
        })
    }
}

/// Everything the browser side needs to drive one chart. Signals are `Copy`, so this is too.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct ChartState {
    pub stream: StoredValue<StreamName>,
    /// Everything received, [`KEPT_POINTS`](crate::window::KEPT_POINTS) per series at most.
    pub points: RwSignal<Window>,
    /// What the chart is asked to show: the last N points or the last span of time.
    pub choice: RwSignal<WindowChoice>,
    /// With a time window: its points, filled from the range query and extended live,
    /// reduced as they arrive.
    pub timed: RwSignal<Window>,
    /// A fixed range in the past is shown (dragged, zoomed, or from the address).
    pub past: RwSignal<Option<(i64, i64)>>,
    /// What the range query answered for the past range (the last answer while the next
    /// one loads).
    pub past_points: RwSignal<Option<Window>>,
    /// A range query is on its way.
    pub loading: RwSignal<bool>,
    /// The browser's bookkeeping of range queries (see `crate::browser::history`).
    pub fetch: StoredValue<Fetching>,
    /// The page's connection state.
    pub status: RwSignal<ConnState>,
    /// The id of the last event applied: the point to resume from.
    pub last_id: RwSignal<Option<EventId>>,
    /// How often the server said events were missed (`reset`).
    pub resets: RwSignal<u64>,
    /// A `reset` arrived: the next snapshot joins the window after a gap marker.
    pub gap_pending: StoredValue<bool>,
    /// The point nearest the pointer, while the pointer is on this chart.
    pub hover: RwSignal<Option<Point>>,
    pub hydrated: RwSignal<bool>,
    /// Frames drawn so far (exposed as `data-draws`: drawing is once per animation frame).
    pub draws: RwSignal<u64>,
    /// Where the last frame put the plotting area (CSS pixels); written by each draw, so the
    /// tooltip follows its point as the window slides.
    pub mapping: RwSignal<Option<Mapping>>,
    /// While paused: the window as it was when paused, which is what is drawn. Points keep
    /// arriving meanwhile (bounded as always).
    pub paused: RwSignal<Option<Window>>,
    /// Points received since pausing.
    pub unseen: RwSignal<u64>,
    /// What is drawn: the chosen window of the visible series, live, paused or past.
    pub view: Memo<Window>,
    pub meta: Memo<StreamMeta>,
    /// The body of the table of points shown. The table is for reading, not for watching:
    /// rewriting a thousand rows on every event kept a core busy, so the browser rewrites it
    /// at most once a second.
    pub table: NodeRef<leptos::html::Tbody>,
}

/// Range queries of one chart: the time window's, whose answer live events must continue
/// without a gap or a repeat, and the past range's, one at a time.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct Fetching {
    /// Bumped for each time-window query: an answer for an older one is dropped.
    pub generation: u64,
    /// While the time window's query is out: the live events received meanwhile, applied
    /// after the answer when they are newer than it. `None`: no query is out.
    pub held: Option<Vec<(Option<EventId>, Vec<Point>)>>,
    /// Points held; beyond a bound the window is asked again instead.
    pub held_points: usize,
    /// The past range's query is out, and the range moved since it was sent.
    pub past_out: bool,
    pub past_again: bool,
}
