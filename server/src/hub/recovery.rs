//! A hub opened on a store: the streams an earlier run left, rebuilt before anyone connects.

use super::commit::Committer;
use super::store::{self, Recovered, Store, StoreError};
use super::stream::Stream;
use super::{Hub, Limits};
use app::model::StreamName;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

impl Hub {
    /// A hub on `store`: the streams an earlier run left are back (their ids continue), and
    /// from now on nothing is applied before the store has committed it. After an unclean
    /// stop that may have lost events, recovered streams continue in the new `epoch`.
    pub fn open(limits: Limits, epoch: u64, mut store: Box<dyn Store>) -> Result<Self, StoreError> {
        let Recovered { streams, unclean } = store.recover()?;
        let mut hub = Hub::new(limits, epoch);
        if !store.is_durable() {
            return Ok(hub);
        }
        if unclean && !streams.is_empty() {
            tracing::warn!(
                streams = streams.len(),
                "the last run stopped uncleanly with durability = \"relaxed\": its last events \
                 may be lost, so its streams continue in a new epoch"
            );
        }
        for s in streams.iter().filter(|s| s.gap) {
            tracing::warn!(
                stream = %s.name,
                "events are missing from the history file: the stream continues in a new epoch, \
                 and its viewers get a reset"
            );
        }
        let checkpoints: HashMap<StreamName, u64> = streams
            .iter()
            .map(|s| match (&s.checkpoint, unclean || s.gap) {
                (_, true) => (s.name.clone(), s.last_seq()),
                (Some((seq, _)), false) => (s.name.clone(), *seq),
                (None, false) => (s.name.clone(), 0),
            })
            .collect();
        let recovered: Vec<(bool, Stream)> = streams
            .into_iter()
            .map(|s| {
                let fresh = unclean || s.gap;
                let stream = Stream::recovered(
                    s,
                    fresh.then_some(epoch),
                    hub.limits.clone(),
                    hub.catalog.clone(),
                    None,
                );
                (fresh, stream)
            })
            .collect();
        // The new epochs start from the recovered windows, and nothing of the old ids stays.
        for (fresh, stream) in &recovered {
            if *fresh {
                let (seq, window) = stream.window_points();
                store.commit(&[store::Change::Rebase {
                    stream: stream.name(),
                    epoch,
                    seq,
                    window: &window,
                }])?;
            }
        }
        let committer = Committer::start(store, hub.limits.ring_events, checkpoints)
            .map_err(|e| StoreError::Failed(format!("cannot start the commit thread: {e}")))?;
        let queue = committer.queue();
        let count = recovered.len();
        let mut map = BTreeMap::new();
        for (_, stream) in recovered {
            let stream = stream.with_commits(queue.clone());
            map.insert(stream.name().clone(), Arc::new(stream));
        }
        if count > hub.limits.max_streams {
            tracing::warn!(
                streams = count,
                max = hub.limits.max_streams,
                "more streams kept than streams.max allows: all are kept, no new ones are created"
            );
        }
        *hub.streams
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = map;
        hub.committer = Some(committer);
        if count > 0 {
            tracing::info!(streams = count, "history recovered");
        }
        Ok(hub)
    }
}
