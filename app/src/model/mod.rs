//! The typed events that travel from a publisher to the chart.
//!
//! These are the only definitions: the server serializes them into SSE frames and parses
//! publishes into them, the WASM frontend and the `livechart publish` client use the very same
//! types, so the sides cannot drift apart.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// SSE event names (`event:` field) used on a stream.
pub mod event_name {
    /// One published batch: a JSON array of [`Point`](super::Point)s.
    pub const POINTS: &str = "points";
    /// The stream's current window, a [`Snapshot`](super::Snapshot): the first event of a
    /// fresh subscription, and the event after every `reset`.
    pub const SNAPSHOT: &str = "snapshot";
    /// The viewer could not be resumed without a gap, a [`Reset`](super::Reset); a `snapshot`
    /// follows.
    pub const RESET: &str = "reset";
    /// On a multiplexed connection: every stream of the server, [`Vec<StreamInfo>`]
    /// (super::StreamInfo), first and whenever a stream, a series or a description is added.
    pub const STREAMS: &str = "streams";
    /// A task's state, a [`TaskProgress`](super::TaskProgress).
    pub const PROGRESS: &str = "progress";
}

mod health;
mod id;
mod names;
mod point;
mod stream;
mod task;
#[cfg(test)]
mod tests;

pub use health::*;
pub use id::*;
pub use names::*;
pub use point::*;
pub use stream::*;
pub use task::*;
