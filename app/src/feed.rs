//! A page's single event connection, shared by all its charts.
//!
//! Browsers allow six connections per site over HTTP/1.1, across all tabs: one `EventSource`
//! per chart would stall the seventh chart. So a page has one [`Feed`]: charts register the
//! stream they show, and the browser side (`crate::browser`) keeps one multiplexed
//! connection (`/api/events?streams=…`) open for exactly the registered streams, handing
//! each event to the charts of its stream. The connection also brings the catalog of
//! streams, which the dashboard lists.

use crate::chart::{ChartState, ConnState};
use crate::model::{StreamInfo, StreamMeta, StreamName};
use leptos::prelude::*;

/// The page's connection state, catalog and registered charts. Signals only: `Copy`.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct Feed {
    /// Registered charts: (registration id, stream, state).
    pub charts: RwSignal<Vec<(u64, StreamName, ChartState)>>,
    /// Every stream of the server, as last announced.
    pub catalog: RwSignal<Vec<StreamInfo>>,
    pub status: RwSignal<ConnState>,
    next_id: StoredValue<u64>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl Feed {
    /// Creates the page's feed, provides it to the components below, and (in the browser)
    /// connects it. The catalog starts as the server rendered it.
    pub fn provide(catalog: Vec<StreamInfo>) -> Feed {
        let feed = Feed {
            charts: RwSignal::new(Vec::new()),
            catalog: RwSignal::new(catalog),
            status: RwSignal::new(ConnState::Connecting),
            next_id: StoredValue::new(0),
        };
        provide_context(feed);
        #[cfg(feature = "hydrate")]
        crate::browser::start_feed(feed);
        feed
    }

    /// The page's feed; a component outside any page gets a feed of its own.
    pub fn current() -> Feed {
        use_context::<Feed>().unwrap_or_else(|| Feed::provide(Vec::new()))
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
