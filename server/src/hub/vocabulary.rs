//! The hub's vocabulary, below everything else in it: its limits, what publishing and
//! fail with, and the admission a viewer holds.

use super::store::StoreError;
use super::RetentionLimits;
use app::model::{PointError, SeriesName, StreamName};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The hub's limits, from the configuration.
#[derive(Clone, Debug)]
pub struct Limits {
    pub ring_events: usize,
    pub ring_bytes: usize,
    pub window: usize,
    pub retention: RetentionLimits,
    pub max_streams: usize,
    pub max_series: usize,
    pub max_viewers: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PublishError {
    #[error("there is no stream named \"{0}\" and streams are not created on publish here")]
    UnknownStream(StreamName),
    #[error("the server already has its maximum of {0} streams")]
    TooManyStreams(usize),
    #[error(
        "this would give the stream {total} series ({new} new: {names}); at most {max} are allowed"
    )]
    TooManySeries {
        total: usize,
        new: usize,
        names: String,
        max: usize,
    },
    #[error("the stream has {} series ({}): say which one with \"series\"", .series.len(), names(.series))]
    AmbiguousSeries {
        index: usize,
        series: Vec<SeriesName>,
    },
    #[error("{}: {error}", .error.field())]
    Invalid { index: usize, error: PointError },
    /// The stream was removed while this was under way (the hub retries once).
    #[error("the stream was removed meanwhile")]
    Removed,
    /// The store could not make it durable: nothing was applied, publish again later.
    #[error("the history could not be written ({0}); nothing was published, try again")]
    Storage(String),
    /// Redis could not be reached: nothing was published, publish again later.
    #[error("{0}; nothing was published, try again")]
    Broker(String),
    /// Redis took the call and then stayed silent past every wait: the batch may have been
    /// published or not. Publishing it again may publish it twice; reading the stream
    /// (`GET /api/streams/{name}/points`) tells which.
    #[error(
        "{0}: the points may or may not have been published; read the stream before publishing them again"
    )]
    OutcomeUnknown(String),
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Failed(why) => PublishError::Storage(why),
            StoreError::Unknown(why) => PublishError::OutcomeUnknown(format!(
                "the history file could not be written ({why}), and could not be read back"
            )),
        }
    }
}

impl PublishError {
    /// The point the error is about, for errors about one point.
    pub fn index(&self) -> Option<usize> {
        match self {
            PublishError::AmbiguousSeries { index, .. } | PublishError::Invalid { index, .. } => {
                Some(*index)
            }
            _ => None,
        }
    }
}

fn names(series: &[SeriesName]) -> String {
    series
        .iter()
        .map(SeriesName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// No more viewers fit.
#[derive(Debug, thiserror::Error)]
#[error("the server has its maximum of {0} viewers connected")]
pub struct TooManyViewers(pub usize);

/// One admitted connection, counted until dropped.
pub struct Admission(pub(super) Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) fn check_series_limit(
    existing: usize,
    new: &BTreeSet<SeriesName>,
    max: usize,
) -> Result<(), PublishError> {
    if existing + new.len() > max {
        let shown: Vec<SeriesName> = new.iter().take(5).cloned().collect();
        let more = if new.len() > 5 { ", …" } else { "" };
        return Err(PublishError::TooManySeries {
            total: existing + new.len(),
            new: new.len(),
            names: format!("{}{more}", names(&shown)),
            max,
        });
    }
    Ok(())
}
