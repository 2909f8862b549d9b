//! A stream fed by a broker (Redis): its events are numbered there and applied here by the
//! node's follower in Redis' order; when the two disagree (a gap, another epoch) the stream
//! is rebuilt from Redis' copy, and viewers whose position is gone get a `reset`.

use super::{Prepared, Stream};
use crate::hub::broker::Broker;
use crate::hub::read;
use app::model::{EventId, Point, SeriesName, StreamMeta};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

/// What Redis holds of a stream, read at one moment.
#[derive(Debug)]
pub(in crate::hub) struct Loaded {
    pub(in crate::hub) epoch: u64,
    /// The last sequence number.
    pub(in crate::hub) seq: u64,
    pub(in crate::hub) meta: StreamMeta,
    /// The window as of `seq`.
    pub(in crate::hub) window: Vec<Point>,
    /// The newest events of `epoch`, oldest first, each following the one before and the
    /// last being `seq` (possibly none).
    pub(in crate::hub) events: Vec<(u64, Vec<Point>)>,
}

/// What one event read from Redis did.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::hub) enum Followed {
    Applied,
    /// Already here (read again after a reconnect).
    Duplicate,
    /// Not the next one: the stream must be read again.
    OutOfStep,
}

impl Stream {
    /// The same stream, publishing through `broker` from now on.
    pub(in crate::hub) fn with_broker(mut self, broker: Arc<Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    pub(in crate::hub) fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.as_ref()
    }

    /// The id of the last event applied.
    pub(in crate::hub) fn position(&self) -> EventId {
        let st = read(&self.state);
        self.id(st.last_seq)
    }

    /// The series the stream has.
    pub(in crate::hub) fn series_set(&self) -> BTreeSet<SeriesName> {
        read(&self.state).window.keys().cloned().collect()
    }

    /// Resolves once `id` is applied here, or the stream is closed.
    pub(in crate::hub) async fn reached(&self, id: EventId) {
        let mut rx = self.seq_tx.subscribe();
        loop {
            let here = self.position();
            if (here.epoch == id.epoch && here.seq >= id.seq) || self.is_closed() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Applies the event Redis numbered `seq` in `epoch`, if it is the next one.
    pub(in crate::hub) fn follow(&self, epoch: u64, seq: u64, points: Vec<Point>) -> Followed {
        // Only the follower applies events to this stream: what is read here stays true.
        let here = self.position();
        if epoch == here.epoch && seq <= here.seq {
            return Followed::Duplicate;
        }
        if epoch != here.epoch || seq != here.seq + 1 {
            return Followed::OutOfStep;
        }
        let applied = self.apply(self.prepared(seq, points));
        self.announce(applied);
        Followed::Applied
    }

    /// Brings the stream to what Redis holds: the events it lacks appended when they follow
    /// on from its last one; otherwise (another epoch, a gap) everything replaced.
    pub(in crate::hub) fn sync(&self, loaded: Loaded) {
        self.set_meta(loaded.meta.clone());
        let here = self.position();
        if loaded.epoch == here.epoch && loaded.seq >= here.seq {
            let mut missing = loaded.events.iter().filter(|(seq, _)| *seq > here.seq);
            let follows_on = match missing.clone().next() {
                Some((first, _)) => *first == here.seq + 1,
                None => loaded.seq == here.seq,
            };
            if follows_on {
                for (seq, points) in missing.by_ref() {
                    let applied = self.apply(self.prepared(*seq, points.clone()));
                    self.announce(applied);
                }
                return;
            }
        }
        let Loaded {
            epoch,
            seq,
            window,
            events,
            ..
        } = loaded;
        let series_changed = {
            let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
            let before: Vec<SeriesName> = st.window.keys().cloned().collect();
            self.epoch.store(epoch, Ordering::SeqCst);
            st.ring.clear();
            st.ring_bytes = 0;
            st.window.clear();
            self.apply_points(&mut st, &window);
            for (n, points) in events {
                let Prepared { frame, .. } = self.prepared(n, points);
                self.push_frame(&mut st, frame);
            }
            st.last_seq = seq;
            !st.window.keys().eq(before.iter())
        };
        let mut sq = self
            .sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sq.last_seq = seq;
        sq.series = self.series_set();
        drop(sq);
        if series_changed {
            self.catalog.send_modify(|v| *v += 1);
        }
        // Every viewer looks again: a new epoch or a gap gives it a `reset`.
        self.seq_tx.send_modify(|v| *v = seq);
    }
}
