//! One named stream: its numbering, its two encodings of every event, the ring of recent
//! events and the window of recent points, and where a new viewer starts.

use super::commit::{CommitQueue, Job};
use super::cursor::{Cursor, Viewer};
use super::store::RecoveredStream;
use super::{check_series_limit, read, Admission, Limits, PublishError};
use crate::sse;
use app::model::{
    event_name, EventId, NewPoint, Point, Reset, ResetReason, SeriesName, Snapshot, StreamInfo,
    StreamMeta, StreamName, StreamStatus,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::watch;

/// One event, encoded once for each kind of connection: a stream's own endpoint, and the
/// multiplexed one (where the data is wrapped in a [`Tagged`](app::model::Tagged) naming the
/// stream). Cloning it clones references, not the bytes.
#[derive(Clone, Debug)]
pub(super) struct Frame {
    seq: u64,
    bytes: Bytes,
    mux: Bytes,
}

impl Frame {
    pub(super) fn get(&self, encoding: Encoding) -> &Bytes {
        match encoding {
            Encoding::Single => &self.bytes,
            Encoding::Mux => &self.mux,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len() + self.mux.len()
    }
}

/// Which encoding of its frames a connection receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `GET /api/streams/{name}/events`: the data as is, with the event's own id.
    Single,
    /// `GET /api/events?streams=…`: the data tagged with its stream and id.
    Mux,
}

/// A publish that passed validation and has its sequence number, waiting to be applied
/// (at once in memory; after its commit with a durable store).
pub(super) struct Prepared {
    pub(super) seq: u64,
    pub(super) points: Vec<Point>,
    frame: Frame,
}

/// What publishers have been handed, ahead of what is applied (committed): the next
/// sequence number and the series that validation must count.
struct Sequencer {
    last_seq: u64,
    series: BTreeSet<SeriesName>,
    /// Bumped when handed-out numbers are taken back after a failed commit.
    generation: u64,
}

/// One named stream.
pub struct Stream {
    pub(super) name: StreamName,
    epoch: u64,
    /// Declared or fed by a source: never removed.
    pinned: AtomicBool,
    sequencer: Mutex<Sequencer>,
    /// Where publishes go to be made durable; `None`: applied at once (memory store).
    commits: Option<CommitQueue>,
    /// Removed from the hub: publishing fails, viewers are let go.
    closed: AtomicBool,
    /// When it was last published to or watched (ms since the epoch), for expiry.
    last_active_ms: AtomicI64,
    limits: Limits,
    pub(super) state: RwLock<State>,
    meta: RwLock<StreamMeta>,
    /// The hub's catalog version, bumped when this stream gains a series or a description.
    catalog: Arc<watch::Sender<u64>>,
    /// The last sequence number, for waking viewers. One value however many events were
    /// published: a woken viewer reads what it needs from the ring.
    seq_tx: watch::Sender<u64>,
    /// The encoded snapshot of the current window, reused until the next publish.
    snapshot_cache: Mutex<Option<(u64, Frame)>>,
    pub(super) counters: Counters,
}

/// What metrics report about a stream.
#[derive(Default)]
pub struct Counters {
    pub viewers: AtomicUsize,
    pub events: AtomicU64,
    pub points: AtomicU64,
    /// Events written to viewers (each event counted once per viewer).
    pub delivered: AtomicU64,
    pub resumed: AtomicU64,
    /// Resets by reason, in [`ResetReason`] order.
    pub resets: [AtomicU64; 4],
}

pub(super) struct State {
    pub(super) last_seq: u64,
    /// Frames `last_seq - ring.len() + 1 ..= last_seq`, oldest first.
    pub(super) ring: VecDeque<Frame>,
    ring_bytes: usize,
    window: BTreeMap<SeriesName, VecDeque<(i64, f64)>>,
}

impl State {
    /// The oldest sequence number still in the ring (`last_seq + 1` when it is empty).
    pub(super) fn first_seq(&self) -> u64 {
        self.ring.front().map_or(self.last_seq + 1, |f| f.seq)
    }
}

/// Where a new viewer starts.
enum Start {
    /// Right after this sequence number, from the ring.
    Resume(u64),
    /// With the current window, after a `reset` if it is not a fresh start.
    Snapshot(Option<(ResetReason, String)>),
}

impl Stream {
    pub(super) fn new(
        name: StreamName,
        epoch: u64,
        pinned: bool,
        limits: Limits,
        catalog: Arc<watch::Sender<u64>>,
        commits: Option<CommitQueue>,
    ) -> Self {
        Stream {
            name,
            epoch,
            pinned: AtomicBool::new(pinned),
            sequencer: Mutex::new(Sequencer {
                last_seq: 0,
                series: BTreeSet::new(),
                generation: 0,
            }),
            commits,
            closed: AtomicBool::new(false),
            last_active_ms: AtomicI64::new(app::model::now_ms()),
            meta: RwLock::new(StreamMeta::default()),
            catalog,
            state: RwLock::new(State {
                last_seq: 0,
                ring: VecDeque::with_capacity(limits.ring_events.min(4096)),
                ring_bytes: 0,
                window: BTreeMap::new(),
            }),
            limits,
            seq_tx: watch::Sender::new(0),
            snapshot_cache: Mutex::new(None),
            counters: Counters::default(),
        }
    }

    pub fn name(&self) -> &StreamName {
        &self.name
    }

    /// A stream as an earlier run left it: its ring rebuilt from the events kept, its window
    /// from the checkpoint and the events after it. `epoch` replaces the stream's own when its
    /// ids cannot be trusted (then the ring starts empty: no id of the old epoch resumes).
    pub(super) fn recovered(
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
        for (seq, points) in rec.events {
            if seq > after {
                stream.apply_points(&mut st, &points);
            }
            if seq > ring_from && epoch.is_none() {
                let data = serde_json::to_string(&points).unwrap_or_else(|_| unreachable_json());
                let frame = stream.encode(Some(stream.id(seq)), seq, event_name::POINTS, &data);
                stream.push_frame(&mut st, frame);
            }
        }
        st.last_seq = last_seq;
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

    pub fn is_pinned(&self) -> bool {
        self.pinned.load(Ordering::SeqCst)
    }

    /// Keeps the stream for good (a recovered stream that the configuration declares).
    pub(super) fn set_pinned(&self) {
        self.pinned.store(true, Ordering::SeqCst);
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(super) fn touch(&self) {
        self.last_active_ms
            .fetch_max(app::model::now_ms(), Ordering::Relaxed);
    }

    /// Marks the stream removed, under its lock (no publish is half done), and wakes its
    /// viewers so that they end.
    pub(super) fn close(&self) {
        self.close_if(|| true);
    }

    /// Closes the stream if it may expire: not pinned, nobody watching, and nothing
    /// published or watched since `cutoff_ms`.
    pub(super) fn close_if_idle(&self, cutoff_ms: i64) -> bool {
        self.close_if(|| {
            !self.is_pinned()
                && self.counters.viewers.load(Ordering::SeqCst) == 0
                && self.last_active_ms.load(Ordering::Relaxed) < cutoff_ms
        })
    }

    /// Closes the stream if `condition` holds, judged under the stream's lock: no publish is
    /// handed a sequence number after it.
    fn close_if(&self, condition: impl FnOnce() -> bool) -> bool {
        let sq = self
            .sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let closing = condition();
        if closing {
            self.closed.store(true, Ordering::SeqCst);
        }
        drop(sq);
        if closing {
            self.seq_tx.send_modify(|_| {});
        }
        closing
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Sets how the stream wants to be shown (validated by the caller).
    pub fn set_meta(&self, meta: StreamMeta) {
        let mut current = self.meta.write().unwrap_or_else(PoisonError::into_inner);
        if *current != meta {
            *current = meta;
            drop(current);
            self.catalog.send_modify(|v| *v += 1);
        }
    }

    pub fn meta(&self) -> StreamMeta {
        read(&self.meta).clone()
    }

    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            name: self.name.clone(),
            meta: self.meta(),
            series: read(&self.state).window.keys().cloned().collect(),
        }
    }

    /// Encodes one event for both kinds of connection.
    fn encode(&self, id: Option<EventId>, seq: u64, event: &str, data: &str) -> Frame {
        Frame {
            seq,
            bytes: sse::encode_event(id, event, data),
            mux: sse::encode_event(None, event, &tagged_json(&self.name, id, data)),
        }
    }

    pub(super) fn id(&self, seq: u64) -> EventId {
        EventId {
            epoch: self.epoch,
            seq,
        }
    }

    pub fn last_seq(&self) -> u64 {
        read(&self.state).last_seq
    }

    /// Publishes a batch of points as one `points` event and returns its id once it is
    /// applied: durable (with a durable store) and handed to viewers. Series are resolved and
    /// limits checked before anything changes.
    pub async fn publish(
        self: &Arc<Self>,
        batch: &[NewPoint],
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        let (id, committed) = {
            let mut sq = self
                .sequencer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if self.is_closed() {
                return Err(PublishError::Removed);
            }
            let (prepared, new_series) = self.prepare(&sq, batch, now_ms)?;
            let id = self.id(prepared.seq);
            self.touch();
            let Some(queue) = &self.commits else {
                sq.last_seq = prepared.seq;
                sq.series.extend(new_series);
                // Applied under the sequencer's lock: in the order the numbers were given.
                self.apply(prepared);
                return Ok(id);
            };
            let (reply, committed) = tokio::sync::oneshot::channel();
            let seq = prepared.seq;
            queue
                .send(Job::Event {
                    stream: self.clone(),
                    generation: sq.generation,
                    prepared,
                    reply,
                })
                .map_err(|e| PublishError::Storage(e.0))?;
            sq.last_seq = seq;
            sq.series.extend(new_series);
            (id, committed)
        };
        match committed.await {
            Ok(Ok(())) => Ok(id),
            Ok(Err(e)) => Err(PublishError::Storage(e.0)),
            Err(_) => Err(PublishError::Storage("the server is shutting down".into())),
        }
    }

    /// Validates a batch against what publishers have been handed so far and encodes it as
    /// the next event; returns it with the series it adds.
    fn prepare(
        &self,
        sq: &Sequencer,
        batch: &[NewPoint],
        now_ms: i64,
    ) -> Result<(Prepared, BTreeSet<SeriesName>), PublishError> {
        let only: Option<SeriesName> = match sq.series.len() {
            0 => Some(SeriesName::default_series()),
            1 => sq.series.iter().next().cloned(),
            _ => None,
        };
        let mut points = Vec::with_capacity(batch.len());
        let mut new_series = BTreeSet::new();
        for (index, p) in batch.iter().enumerate() {
            if !p.value.is_finite() {
                return Err(PublishError::NotFinite {
                    index,
                    value: p.value,
                });
            }
            let series = match (&p.series, &only) {
                (Some(s), _) => s.clone(),
                (None, Some(s)) => s.clone(),
                (None, None) => {
                    return Err(PublishError::AmbiguousSeries {
                        index,
                        series: sq.series.iter().cloned().collect(),
                    })
                }
            };
            if !sq.series.contains(&series) {
                new_series.insert(series.clone());
            }
            points.push(Point {
                series,
                ts: p.ts.unwrap_or(now_ms),
                value: p.value,
            });
        }
        check_series_limit(sq.series.len(), &new_series, self.limits.max_series)?;
        let seq = sq.last_seq + 1;
        let data = serde_json::to_string(&points).unwrap_or_else(|_| unreachable_json());
        let frame = self.encode(Some(self.id(seq)), seq, event_name::POINTS, &data);
        Ok((Prepared { seq, points, frame }, new_series))
    }

    /// Makes a prepared event part of the stream: ring, window, and viewers woken.
    pub(super) fn apply(&self, prepared: Prepared) {
        let Prepared { seq, points, frame } = prepared;
        let new_series = {
            // One lock for all three: a snapshot taken at `last_seq` has its window.
            let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
            st.last_seq = seq;
            self.push_frame(&mut st, frame);
            self.apply_points(&mut st, &points)
        };
        if new_series {
            self.catalog.send_modify(|v| *v += 1);
        }
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        self.counters
            .points
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        self.seq_tx.send_replace(seq);
        self.touch();
    }

    /// Appends a frame to the ring, dropping the oldest beyond its limits.
    fn push_frame(&self, st: &mut State, frame: Frame) {
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
    fn apply_points(&self, st: &mut State, points: &[Point]) -> bool {
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
    pub(super) fn rollback(&self) {
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
    pub(super) fn handed_out(&self) -> u64 {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_seq
    }

    /// The same stream, committing through `queue` from now on.
    pub(super) fn with_commits(mut self, queue: CommitQueue) -> Self {
        self.commits = Some(queue);
        self
    }

    pub(super) fn generation(&self) -> u64 {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// The window as points, and the sequence number it is as of.
    pub(super) fn window_points(&self) -> (u64, Vec<Point>) {
        let st = read(&self.state);
        (st.last_seq, snapshot_of(&st, self.epoch).points)
    }

    /// The current window and the id of the last event in it.
    pub fn snapshot(&self) -> Snapshot {
        snapshot_of(&read(&self.state), self.epoch)
    }

    /// The snapshot as an encoded `snapshot` event (id: the last event), encoded once per
    /// stream position however many viewers start from it.
    fn snapshot_frame(&self, st: &State, encoding: Encoding) -> Bytes {
        let mut cache = self
            .snapshot_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((seq, frame)) = cache.as_ref() {
            if *seq == st.last_seq {
                return frame.get(encoding).clone();
            }
        }
        let snapshot = snapshot_of(st, self.epoch);
        let data = serde_json::to_string(&snapshot).unwrap_or_else(|_| unreachable_json());
        let frame = self.encode(snapshot.last_id, st.last_seq, event_name::SNAPSHOT, &data);
        let bytes = frame.get(encoding).clone();
        *cache = Some((st.last_seq, frame));
        bytes
    }

    /// A `reset` event (this connection's own, a few hundred bytes) and the snapshot that
    /// follows it (shared by every viewer at this position, never copied). The reset has no
    /// id, so a client's last id only moves with the snapshot.
    pub(super) fn reset_frames(
        &self,
        st: &State,
        reason: ResetReason,
        detail: String,
        encoding: Encoding,
    ) -> (Bytes, Bytes) {
        self.counters.resets[reason as usize].fetch_add(1, Ordering::Relaxed);
        let data =
            serde_json::to_string(&Reset { reason, detail }).unwrap_or_else(|_| unreachable_json());
        let reset = self.encode(None, 0, event_name::RESET, &data);
        (
            reset.get(encoding).clone(),
            self.snapshot_frame(st, encoding),
        )
    }

    fn start_for(&self, st: &State, resume: Option<EventId>) -> Start {
        let Some(id) = resume else {
            return Start::Snapshot(None);
        };
        let current = self.id(st.last_seq);
        if id.epoch != self.epoch {
            return Start::Snapshot(Some((
                ResetReason::Restarted,
                format!("event {id} is from an earlier run of the server; the stream is now at {current}"),
            )));
        }
        if id.seq > st.last_seq {
            return Start::Snapshot(Some((
                ResetReason::UnknownId,
                format!("event {id} was never sent; the stream is at {current}"),
            )));
        }
        if id.seq + 1 < st.first_seq() {
            return Start::Snapshot(Some((
                ResetReason::TooOld,
                format!(
                    "events after {id} are no longer held (the oldest held is {})",
                    self.id(st.first_seq())
                ),
            )));
        }
        Start::Resume(id.seq)
    }

    /// Starts a viewer after `resume` (replaying what it missed from the ring) or, without
    /// one, with a snapshot.
    pub fn subscribe(self: &Arc<Self>, resume: Option<EventId>, admission: Admission) -> Viewer {
        Viewer {
            cursor: self.cursor(resume, Encoding::Single),
            _admission: admission,
        }
    }

    /// A position in this stream for one connection. Position and snapshot are taken under
    /// one lock: nothing published meanwhile is missed or sent twice.
    pub(super) fn cursor(self: &Arc<Self>, resume: Option<EventId>, encoding: Encoding) -> Cursor {
        let rx = self.seq_tx.subscribe();
        let st = read(&self.state);
        let (next, reset, pending) = match self.start_for(&st, resume) {
            Start::Resume(seq) => {
                self.counters.resumed.fetch_add(1, Ordering::Relaxed);
                (seq + 1, None, None)
            }
            Start::Snapshot(None) => (
                st.last_seq + 1,
                None,
                Some(self.snapshot_frame(&st, encoding)),
            ),
            Start::Snapshot(Some((reason, detail))) => {
                let (reset, snapshot) = self.reset_frames(&st, reason, detail, encoding);
                (st.last_seq + 1, Some(reset), Some(snapshot))
            }
        };
        drop(st);
        self.counters.viewers.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Cursor {
            stream: self.clone(),
            rx,
            next,
            reset,
            pending,
            encoding,
        }
    }

    pub fn status(&self) -> StreamStatus {
        let st = read(&self.state);
        StreamStatus {
            name: self.name.clone(),
            series: st.window.keys().cloned().collect(),
            viewers: self.counters.viewers.load(Ordering::Relaxed),
            published: self.counters.events.load(Ordering::Relaxed),
            last_id: (st.last_seq > 0).then(|| self.id(st.last_seq)),
            history: st.ring.len(),
        }
    }

    /// (events, bytes) held in the ring.
    pub fn ring_usage(&self) -> (usize, usize) {
        let st = read(&self.state);
        (st.ring.len(), st.ring_bytes)
    }

    pub fn series_count(&self) -> usize {
        read(&self.state).window.len()
    }
}

fn snapshot_of(st: &State, epoch: u64) -> Snapshot {
    let points = st
        .window
        .iter()
        .flat_map(|(series, samples)| {
            samples.iter().map(|&(ts, value)| Point {
                series: series.clone(),
                ts,
                value,
            })
        })
        .collect();
    Snapshot {
        last_id: Some(EventId {
            epoch,
            seq: st.last_seq,
        }),
        points,
    }
}

/// The JSON of a [`Tagged`](app::model::Tagged) event around already-encoded `data`, so that
/// the data is serialized once for both encodings.
fn tagged_json(stream: &StreamName, id: Option<EventId>, data: &str) -> String {
    // Stream names are `[A-Za-z0-9_.-]` and ids `hex-digits`: nothing to escape.
    match id {
        Some(id) => format!(r#"{{"stream":"{stream}","id":"{id}","data":{data}}}"#),
        None => format!(r#"{{"stream":"{stream}","data":{data}}}"#),
    }
}

/// Points, snapshots and resets are plain structs of strings and finite numbers: JSON
/// encoding them cannot fail.
pub(super) fn unreachable_json() -> String {
    unreachable!("encoding a point, snapshot or reset as JSON cannot fail")
}
