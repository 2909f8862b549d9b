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

/// Now by this side's clock (ms since the epoch): the server's while rendering, the browser's
/// (uncorrected) in it.
pub(crate) fn local_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(all(not(feature = "hydrate"), not(target_arch = "wasm32")))]
    {
        crate::model::now_ms()
    }
    #[cfg(all(not(feature = "hydrate"), target_arch = "wasm32"))]
    {
        0
    }
}

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

/// What a chart's badge says: the connection's state, or what the chart shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Badge {
    Connection(ConnState),
    /// Data arrives: the stream's newest point came within its expected silence.
    Live,
    /// Nothing for longer than three of the stream's usual intervals (at least 5 s): the age
    /// of its newest point, in ms.
    Stale {
        ago_ms: i64,
    },
    /// Paused by the user: live data keeps arriving beside it.
    Paused,
    /// A range in the past is shown.
    Past,
    /// The page names a stream the server does not have (yet).
    Unknown,
    /// The stream exists and has no point yet.
    Waiting,
}

/// The least silence that makes a stream stale, whatever its usual interval.
pub const STALE_AFTER_MS: i64 = 5_000;

/// What one chart is in, for its [`Badge`].
pub struct Seen {
    pub conn: ConnState,
    pub past: bool,
    pub paused: bool,
    /// The stream is in the catalog.
    pub known: bool,
    /// Now, by the server's clock.
    pub now: i64,
    /// The newest point's time, if any.
    pub newest: Option<i64>,
    /// When live points last arrived (by the same clock; 0: none since the page came).
    pub heard: i64,
    /// The usual time between points, if known.
    pub spacing_ms: Option<f64>,
}

impl Badge {
    pub fn of(s: &Seen) -> Badge {
        if s.conn != ConnState::Live {
            return Badge::Connection(s.conn);
        }
        if s.past {
            return Badge::Past;
        }
        if s.paused {
            return Badge::Paused;
        }
        let Some(newest) = s.newest else {
            return if s.known {
                Badge::Waiting
            } else {
                Badge::Unknown
            };
        };
        let last = newest.max(s.heard);
        let quiet = s.now.saturating_sub(last);
        let limit = ((3.0 * s.spacing_ms.unwrap_or(0.0)) as i64).max(STALE_AFTER_MS);
        if quiet > limit {
            Badge::Stale {
                ago_ms: s.now.saturating_sub(newest),
            }
        } else {
            Badge::Live
        }
    }

    /// A stable key for styling and tests (`data-badge`).
    pub fn key(&self) -> &'static str {
        match self {
            Badge::Connection(c) => c.key(),
            Badge::Live => "live",
            Badge::Stale { .. } => "stale",
            Badge::Paused => "paused",
            Badge::Past => "past",
            Badge::Unknown => "unknown",
            Badge::Waiting => "waiting",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Badge::Connection(c) => c.label().to_owned(),
            Badge::Live => "Live".to_owned(),
            Badge::Stale { ago_ms } => format!("Stale · last point {} ago", ago(*ago_ms)),
            Badge::Paused => "Paused".to_owned(),
            Badge::Past => "Looking back".to_owned(),
            Badge::Unknown => "No such stream (yet)".to_owned(),
            Badge::Waiting => "Waiting for data".to_owned(),
        }
    }
}

/// A duration as a person says it: `8 s`, `2 min`, `3 h`, `2 days`.
pub fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=89 => format!("{s} s"),
        90..=5_399 => format!("{} min", (s + 30) / 60),
        5_400..=129_599 => format!("{} h", (s + 1_800) / 3_600),
        _ => format!("{} days", (s + 43_200) / 86_400),
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
    /// Now, by the server's clock (ms since the epoch): the browser's clock corrected by the
    /// difference seen when the page came, advanced once a second. Time windows end here,
    /// and a chart's badge measures silence against it.
    pub now: RwSignal<i64>,
    next_id: StoredValue<u64>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl Feed {
    /// Creates the page's feed and provides it to the components below. The catalog starts
    /// as the server rendered it. The browser connects it (`crate::browser::start_feed`).
    pub fn provide(catalog: Vec<StreamInfo>, server_now: i64) -> Feed {
        let feed = Feed {
            now: RwSignal::new(server_now),
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
    /// When this chart last received live points, by [`Feed::now`] (0: not yet): a stream
    /// that replays old times is still arriving.
    pub heard: RwSignal<i64>,
    /// While paused: the window as it was when paused, which is what is drawn. Points keep
    /// arriving meanwhile (bounded as always).
    pub paused: RwSignal<Option<Window>>,
    /// Points received since pausing.
    pub unseen: RwSignal<u64>,
    /// What is drawn: the chosen window of the visible series, live, paused or past.
    pub view: Memo<Window>,
    pub meta: Memo<StreamMeta>,
    /// The body of the table of points shown, built only while the table is open (asked
    /// for from the chart's Data menu). It is for reading, not for watching: rows for every
    /// chart on every event made the page's DOM tens of thousands of nodes and kept a core
    /// busy, so the browser rewrites an open table at most once a second.
    pub table: NodeRef<leptos::html::Tbody>,
    pub table_shown: RwSignal<bool>,
    /// The chart writes what it shows into the address under its own name (a dashboard's
    /// chart), not as the page's.
    pub own_address: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> Seen {
        Seen {
            conn: ConnState::Live,
            past: false,
            paused: false,
            known: true,
            now: 1_000_000,
            newest: Some(999_500),
            heard: 0,
            spacing_ms: Some(1_000.0),
        }
    }

    #[test]
    fn the_badge_says_live_only_while_data_arrives() {
        assert_eq!(Badge::of(&seen()), Badge::Live);
        // Silent for two minutes, a point a second: stale, with its age.
        let stopped = Seen {
            newest: Some(1_000_000 - 120_000),
            ..seen()
        };
        assert_eq!(Badge::of(&stopped), Badge::Stale { ago_ms: 120_000 });
        assert_eq!(Badge::of(&stopped).label(), "Stale · last point 2 min ago");
        // Old times that arrive now are arriving.
        let replayed = Seen {
            heard: 999_000,
            ..stopped
        };
        assert_eq!(Badge::of(&replayed), Badge::Live);
        // A point every 10 s is not stale after 20 s; after 31 s it is.
        for (quiet, badge) in [(20_000, "live"), (31_000, "stale")] {
            let slow = Seen {
                newest: Some(1_000_000 - quiet),
                spacing_ms: Some(10_000.0),
                ..seen()
            };
            assert_eq!(Badge::of(&slow).key(), badge, "{quiet}");
        }
        // Paused, past, connection and unknown streams come first.
        assert_eq!(
            Badge::of(&Seen {
                paused: true,
                ..stopped_seen()
            }),
            Badge::Paused
        );
        assert_eq!(
            Badge::of(&Seen {
                past: true,
                paused: true,
                ..seen()
            }),
            Badge::Past
        );
        let lost = Seen {
            conn: ConnState::Reconnecting,
            ..seen()
        };
        assert_eq!(Badge::of(&lost).key(), "reconnecting");
        let unknown = Seen {
            known: false,
            newest: None,
            ..seen()
        };
        assert_eq!(Badge::of(&unknown), Badge::Unknown);
        assert_eq!(
            Badge::of(&Seen {
                newest: None,
                ..seen()
            }),
            Badge::Waiting
        );
        assert_eq!(ago(8_400), "8 s");
        assert_eq!(ago(3 * 3_600_000), "3 h");
        assert_eq!(ago(2 * 86_400_000), "2 days");
    }

    fn stopped_seen() -> Seen {
        Seen {
            newest: Some(0),
            ..seen()
        }
    }
}
