//! A stream fed by a broker (Redis): its events are numbered there and applied here by the
//! node's follower in Redis' order; when the two disagree (a gap, another epoch) the stream
//! is rebuilt from Redis' copy, and viewers whose position is gone get a `reset`.

use super::{Prepared, Retained, Stream};
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
            // What Redis keeps of the past is the window: the retained points start over
            // from it.
            st.retained = Retained::new(self.limits.retention);
            st.retained.push(seq, &window);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::text;
    use crate::hub::{Hub, Limits};
    use app::model::StreamName;

    fn hub() -> Hub {
        Hub::new(
            Limits {
                ring_events: 8,
                ring_bytes: 1 << 20,
                window: 4,
                retention: crate::hub::RetentionLimits {
                    ms: 60_000,
                    bytes: 1 << 20,
                },
                max_streams: 4,
                max_series: 4,
                max_viewers: 8,
            },
            5,
        )
    }

    fn points(value: f64) -> Vec<Point> {
        vec![Point {
            series: SeriesName::default_series(),
            ts: 1,
            value,
        }]
    }

    fn loaded(epoch: u64, seq: u64, events: std::ops::RangeInclusive<u64>) -> Loaded {
        Loaded {
            epoch,
            seq,
            meta: StreamMeta::default(),
            window: points(seq as f64),
            events: events.map(|n| (n, points(n as f64))).collect(),
        }
    }

    #[tokio::test]
    async fn only_the_next_event_of_the_same_epoch_is_applied() {
        let hub = hub();
        let s = hub.declare(&StreamName::parse("t").unwrap()).unwrap();
        assert_eq!(s.follow(5, 1, points(1.0)), Followed::Applied);
        assert_eq!(s.follow(5, 1, points(1.0)), Followed::Duplicate);
        assert_eq!(s.follow(5, 3, points(3.0)), Followed::OutOfStep, "a gap");
        assert_eq!(
            s.follow(6, 2, points(2.0)),
            Followed::OutOfStep,
            "another epoch"
        );
        assert_eq!(s.follow(5, 2, points(2.0)), Followed::Applied);
        assert_eq!(s.position(), EventId { epoch: 5, seq: 2 });
    }

    #[tokio::test]
    async fn sync_catches_up_in_step_and_otherwise_rebuilds_with_a_reset() {
        let hub = hub();
        let s = hub.declare(&StreamName::parse("t").unwrap()).unwrap();
        s.follow(5, 1, points(1.0));
        let mut v = s.subscribe(None, hub.admit().unwrap());
        assert!(text(&mut v).await.contains("event: snapshot"));
        // Redis is ahead in the same epoch and holds what follows: appended, no reset.
        s.sync(loaded(5, 3, 1..=3));
        let caught_up = text(&mut v).await;
        assert!(
            caught_up.starts_with("id: 5-2\nevent: points"),
            "{caught_up}"
        );
        assert!(caught_up.contains("id: 5-3\n"), "{caught_up}");
        // Another epoch: rebuilt, and the viewer starts over with a reset and the snapshot.
        s.sync(loaded(9, 2, 1..=2));
        let rebuilt = text(&mut v).await;
        assert!(rebuilt.starts_with("event: reset\n"), "{rebuilt}");
        assert!(rebuilt.contains("restarted"), "{rebuilt}");
        assert!(rebuilt.contains("id: 9-2\nevent: snapshot"), "{rebuilt}");
        assert_eq!(s.position(), EventId { epoch: 9, seq: 2 });
        // The same epoch with a gap (what this node missed was trimmed): rebuilt, and a viewer
        // whose position is gone gets a reset.
        s.sync(loaded(9, 20, 15..=20));
        let lagged = text(&mut v).await;
        assert!(lagged.starts_with("event: reset\n"), "{lagged}");
        assert!(lagged.contains("lagged"), "{lagged}");
        assert!(lagged.contains("id: 9-20\nevent: snapshot"), "{lagged}");
        assert_eq!(s.follow(9, 21, points(21.0)), Followed::Applied);
        assert!(text(&mut v).await.starts_with("id: 9-21\nevent: points"));
    }
}
