//! Publishing to a stream: validation and sequence numbers ahead of the commit (the
//! sequencer), and applying an event once it is durable (ring, window, viewers woken); and a
//! stream rebuilt from what the store kept.

use super::{snapshot_of, unreachable_json, Frame, State, Stream};
use crate::hub::broker::wait_applied;
use crate::hub::commit::{answer, CommitQueue, Job};
use crate::hub::store::RecoveredStream;
use crate::hub::{check_series_limit, read, Limits, PublishError};
use app::model::{event_name, EventId, NewPoint, Point, SeriesName};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::watch;

/// A publish that passed validation and has its sequence number, waiting to be applied
/// (at once in memory; after its commit with a durable store).
pub(in crate::hub) struct Prepared {
    pub(in crate::hub) seq: u64,
    pub(in crate::hub) points: Vec<Point>,
    pub(super) frame: Frame,
}

/// A batch checked against the series of its stream.
pub(in crate::hub) struct Resolved {
    pub(in crate::hub) points: Vec<Point>,
    /// The series the stream does not have yet.
    pub(in crate::hub) new_series: BTreeSet<SeriesName>,
    /// Where points without a series went, if any had none.
    pub(in crate::hub) unnamed: Option<SeriesName>,
}

/// Checks a batch against the series a stream has (`known`): every point valid, every
/// point in a series (one without goes to the stream's only series, or to the default
/// series of a stream without any), and at most `max_series` series in all.
pub(in crate::hub) fn resolve(
    known: &BTreeSet<SeriesName>,
    batch: &[NewPoint],
    now_ms: i64,
    max_series: usize,
) -> Result<Resolved, PublishError> {
    let only: Option<SeriesName> = match known.len() {
        0 => Some(SeriesName::default_series()),
        1 => known.iter().next().cloned(),
        _ => None,
    };
    let mut points = Vec::with_capacity(batch.len());
    let mut new_series = BTreeSet::new();
    let mut unnamed = None;
    for (index, p) in batch.iter().enumerate() {
        if let Err(error) = p.validate() {
            return Err(PublishError::Invalid { index, error });
        }
        let series = match (&p.series, &only) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => {
                unnamed = Some(s.clone());
                s.clone()
            }
            (None, None) => {
                return Err(PublishError::AmbiguousSeries {
                    index,
                    series: known.iter().cloned().collect(),
                })
            }
        };
        if !known.contains(&series) {
            new_series.insert(series.clone());
        }
        points.push(Point {
            series,
            ts: p.ts.unwrap_or(now_ms),
            value: p.value,
        });
    }
    check_series_limit(known.len(), &new_series, max_series)?;
    Ok(Resolved {
        points,
        new_series,
        unnamed,
    })
}

/// What publishers have been handed, ahead of what is applied (committed): the next
/// sequence number and the series that validation must count.
pub(in crate::hub) struct Sequencer {
    pub(super) last_seq: u64,
    pub(super) series: BTreeSet<SeriesName>,
    /// Bumped when handed-out numbers are taken back after a failed commit.
    generation: u64,
}

/// A publish that has its number: applied (memory store), or queued for its commit.
pub(in crate::hub) enum Staged {
    Applied(Applied),
    Queued(tokio::sync::oneshot::Receiver<Result<Applied, crate::hub::store::StoreError>>),
}

/// An event applied to the stream whose viewers are still to be woken ([`Stream::announce`]).
/// The waking is left to the publisher's task, on the runtime: from the committer's thread,
/// waking ten thousand viewers goes through the runtime's remote queue one by one, and the
/// commits behind it wait.
#[must_use]
pub(in crate::hub) struct Applied {
    seq: u64,
    new_series: bool,
}

impl Sequencer {
    pub(super) fn new() -> Self {
        Sequencer {
            last_seq: 0,
            series: BTreeSet::new(),
            generation: 0,
        }
    }
}

impl Stream {
    /// A stream as an earlier run left it: its ring rebuilt from the events kept, its window
    /// from the checkpoint and the events after it. `epoch` replaces the stream's own when its
    /// ids cannot be trusted (then the ring starts empty: no id of the old epoch resumes).
    pub(in crate::hub) fn recovered(
        rec: RecoveredStream,
        epoch: Option<u64>,
        limits: Limits,
        catalog: Arc<watch::Sender<u64>>,
        commits: Option<CommitQueue>,
    ) -> Self {
        let stream = Stream::new(
            rec.name.clone(),
            epoch.unwrap_or(rec.epoch),
            false,
            limits,
            catalog,
            commits,
        );
        *stream.meta.write().unwrap_or_else(PoisonError::into_inner) = rec.meta.clone();
        let last_seq = rec.last_seq();
        let mut st = stream.state.write().unwrap_or_else(PoisonError::into_inner);
        let after = match rec.checkpoint {
            Some((seq, window)) => {
                stream.apply_points(&mut st, &window);
                seq
            }
            None => 0,
        };
        let ring_from = last_seq.saturating_sub(stream.limits.ring_events as u64);
        for (seq, columns) in rec.events {
            st.retained.push_columns(seq, &columns);
            let in_ring = seq > ring_from && epoch.is_none();
            if seq <= after && !in_ring {
                continue;
            }
            let points = columns.to_points();
            if seq > after {
                stream.apply_points(&mut st, &points);
            }
            if in_ring {
                let Prepared { frame, .. } = stream.prepared(seq, points);
                stream.push_frame(&mut st, frame);
            }
        }
        st.last_seq = last_seq;
        stream.note_retained(&st);
        let mut sq = stream
            .sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sq.last_seq = last_seq;
        sq.series = st.window.keys().cloned().collect();
        drop((sq, st));
        stream.seq_tx.send_replace(last_seq);
        stream
    }

    /// Publishes a batch of points as one `points` event and returns its id once it is
    /// applied: durable (with a durable store) and handed to viewers. Series are resolved and
    /// limits checked before anything changes.
    pub async fn publish(
        self: &Arc<Self>,
        batch: &[NewPoint],
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        if let Some(broker) = self.broker() {
            let id = broker
                .publish(&self.name, Some(self), batch, false, now_ms)
                .await?;
            wait_applied(self, id).await;
            return Ok(id);
        }
        let (id, staged) = {
            let mut sq = self.sequencer();
            let (prepared, new_series) = self.check_locked(&sq, batch, now_ms)?;
            let id = self.id(prepared.seq);
            (id, self.stage(&mut sq, prepared, new_series)?)
        };
        self.finish(staged).await?;
        Ok(id)
    }

    /// The sequencer's lock: while it is held no other publish of this stream takes a
    /// number. [`crate::hub::Hub::publish_all`] holds several at once, always in name order.
    pub(in crate::hub) fn sequencer(&self) -> std::sync::MutexGuard<'_, Sequencer> {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks a batch under the sequencer's lock, for [`Stream::stage`]: nothing changes
    /// yet, so an error here leaves the stream as it was.
    pub(in crate::hub) fn check_locked(
        &self,
        sq: &Sequencer,
        batch: &[NewPoint],
        now_ms: i64,
    ) -> Result<(Prepared, BTreeSet<SeriesName>), PublishError> {
        if self.is_closed() {
            return Err(PublishError::Removed);
        }
        self.prepare(sq, batch, now_ms)
    }

    /// Still under the sequencer's lock: the event takes its number and goes to the committer
    /// (in id order, since the lock is held), or with the memory store is applied at once.
    /// Fails only when the committer has stopped (the server is stopping).
    pub(in crate::hub) fn stage(
        self: &Arc<Self>,
        sq: &mut Sequencer,
        prepared: Prepared,
        new_series: BTreeSet<SeriesName>,
    ) -> Result<Staged, PublishError> {
        self.touch();
        let seq = prepared.seq;
        let Some(queue) = &self.commits else {
            sq.last_seq = seq;
            sq.series.extend(new_series);
            // Applied under the sequencer's lock: in the order the numbers were given.
            return Ok(Staged::Applied(self.apply(prepared)));
        };
        let (reply, committed) = tokio::sync::oneshot::channel();
        queue.send(Job::Event {
            stream: self.clone(),
            generation: sq.generation,
            prepared,
            reply,
        })?;
        sq.last_seq = seq;
        sq.series.extend(new_series);
        Ok(Staged::Queued(committed))
    }

    /// After the sequencer's lock is let go: waits for the commit, then wakes the viewers.
    pub(in crate::hub) async fn finish(&self, staged: Staged) -> Result<(), PublishError> {
        let applied = match staged {
            Staged::Applied(applied) => applied,
            Staged::Queued(committed) => answer(committed).await?,
        };
        self.announce(applied);
        Ok(())
    }

    /// Validates a batch against what publishers have been handed so far and encodes it as
    /// the next event; returns it with the series it adds.
    fn prepare(
        &self,
        sq: &Sequencer,
        batch: &[NewPoint],
        now_ms: i64,
    ) -> Result<(Prepared, BTreeSet<SeriesName>), PublishError> {
        let Resolved {
            points, new_series, ..
        } = resolve(&sq.series, batch, now_ms, self.limits.max_series)?;
        let seq = sq.last_seq + 1;
        Ok((self.prepared(seq, points), new_series))
    }

    /// An event ready to apply: its points and their frame, encoded once.
    pub(in crate::hub) fn prepared(&self, seq: u64, points: Vec<Point>) -> Prepared {
        let data = serde_json::to_string(&points).unwrap_or_else(|_| unreachable_json());
        let frame = self.encode(Some(self.id(seq)), seq, event_name::POINTS, &data);
        Prepared { seq, points, frame }
    }

    /// Makes a prepared event part of the stream: ring, window, and viewers woken.
    /// Viewers are not woken here: see [`Applied`].
    pub(in crate::hub) fn apply(&self, prepared: Prepared) -> Applied {
        let Prepared { seq, points, frame } = prepared;
        let new_series = {
            // One lock for all three: a snapshot taken at `last_seq` has its window.
            let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
            st.last_seq = seq;
            self.push_frame(&mut st, frame);
            st.retained.push(seq, &points);
            self.note_retained(&st);
            self.apply_points(&mut st, &points)
        };
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        self.counters
            .points
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        self.touch();
        Applied { seq, new_series }
    }

    /// Wakes the viewers (and, for a new series, the catalog's followers) for an applied event.
    pub(in crate::hub) fn announce(&self, applied: Applied) {
        if applied.new_series {
            self.catalog.send_modify(|v| *v += 1);
        }
        // Announcements may come out of order (one per publisher task): only ever forward.
        self.seq_tx.send_modify(|v| *v = (*v).max(applied.seq));
    }

    /// Appends a frame to the ring, dropping the oldest beyond its limits.
    pub(super) fn push_frame(&self, st: &mut State, frame: Frame) {
        st.ring_bytes += frame.len();
        st.ring.push_back(frame);
        while st.ring.len() > self.limits.ring_events
            || (st.ring_bytes > self.limits.ring_bytes && st.ring.len() > 1)
        {
            if let Some(old) = st.ring.pop_front() {
                st.ring_bytes -= old.len();
            }
        }
    }

    /// Adds points to their series' windows; says whether a series is new.
    pub(super) fn apply_points(&self, st: &mut State, points: &[Point]) -> bool {
        let window = self.limits.window;
        let mut new_series = false;
        for p in points {
            let samples = match st.window.get_mut(&p.series) {
                Some(samples) => samples,
                None => {
                    new_series = true;
                    st.window.entry(p.series.clone()).or_default()
                }
            };
            while samples.len() >= window {
                samples.pop_front();
            }
            samples.push_back((p.ts, p.value));
        }
        new_series
    }

    /// Takes back the sequence numbers handed out but not applied (their commit failed).
    pub(in crate::hub) fn rollback(&self) {
        let mut sq = self
            .sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let st = read(&self.state);
        sq.last_seq = st.last_seq;
        sq.series = st.window.keys().cloned().collect();
        sq.generation += 1;
    }

    /// The last sequence number handed to a publisher (applied or not).
    pub(in crate::hub) fn handed_out(&self) -> u64 {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_seq
    }

    /// The same stream, committing through `queue` from now on.
    pub(in crate::hub) fn with_commits(mut self, queue: CommitQueue) -> Self {
        self.commits = Some(queue);
        self
    }

    pub(in crate::hub) fn generation(&self) -> u64 {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// The window as points, and the sequence number it is as of.
    pub(in crate::hub) fn window_points(&self) -> (u64, Vec<Point>) {
        let st = read(&self.state);
        (st.last_seq, snapshot_of(&st, self.epoch()).points)
    }
}
