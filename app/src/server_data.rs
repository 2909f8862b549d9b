//! What the server lends the pages while rendering them: the streams it has and their current
//! windows. The server provides a [`ServerStreams`] context; in the browser there is none, and
//! pages fall back to what the event stream sends.

use crate::model::{Snapshot, StreamInfo, StreamName};
use std::sync::Arc;

/// Read access to the server's streams.
pub trait StreamDirectory: Send + Sync {
    /// The current window of a stream and the id of its last event, if the stream exists.
    fn snapshot(&self, stream: &StreamName) -> Option<Snapshot>;
    /// Every stream with its description and series, by name.
    fn catalog(&self) -> Vec<StreamInfo>;
    /// The most streams one page may show (they share one connection).
    fn max_streams(&self) -> usize;
}

/// The context the server provides while rendering pages.
#[derive(Clone)]
pub struct ServerStreams(pub Arc<dyn StreamDirectory>);

/// The stream's current window, when rendering on the server.
pub fn snapshot(stream: &StreamName) -> Option<Snapshot> {
    leptos::prelude::use_context::<ServerStreams>().and_then(|s| s.0.snapshot(stream))
}

/// Every stream with its description, when rendering on the server.
pub fn catalog() -> Vec<StreamInfo> {
    leptos::prelude::use_context::<ServerStreams>().map_or_else(Vec::new, |s| s.0.catalog())
}

/// The most streams one page may show: the server's limit per connection, or the most any
/// configuration allows where there is no server.
pub fn max_streams() -> usize {
    leptos::prelude::use_context::<ServerStreams>()
        .map_or(crate::model::MAX_STREAMS_PER_CONNECTION, |s| {
            s.0.max_streams()
        })
}
