//! A hub opened on a store: the streams an earlier run left, rebuilt before anyone connects.

use super::commit::{Committer, Rebase};
use super::store::{Recovered, Store, StoreError};
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
        let Recovered {
            streams,
            unclean,
            unwritable,
        } = store.recover()?;
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
        // The new epochs start from the recovered windows, and nothing of the old ids stays:
        // written before anything else (with it, while the disk refuses writes).
        let rebases = recovered
            .iter()
            .filter(|(fresh, _)| *fresh)
            .map(|(_, stream)| {
                let (seq, window) = stream.window_points();
                Rebase {
                    stream: stream.name().clone(),
                    epoch,
                    seq,
                    window,
                }
            })
            .collect();
        let committer = Committer::start(
            store,
            hub.limits.ring_events,
            checkpoints,
            rebases,
            unwritable,
        )
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
