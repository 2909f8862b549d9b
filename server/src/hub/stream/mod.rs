//! One named stream: its numbering, its two encodings of every event, the ring of recent
//! events and the window of recent points, and where a new viewer starts.

mod publish;
mod remote;
mod retained;

use publish::Sequencer;
pub(super) use publish::{resolve, Applied, Prepared, Resolved, Staged};
pub(super) use remote::{Followed, Loaded};
use retained::Retained;
pub use retained::{ExactPoints, RetentionLimits};

use super::broker::Broker;
use super::commit::CommitQueue;
use super::cursor::{Cursor, Viewer};
use super::{read, Admission, Limits};
use crate::sse;
use app::model::{
    event_name, EventId, Point, Reset, ResetReason, SeriesName, Snapshot, StreamInfo, StreamMeta,
    StreamName, StreamStatus,
};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
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

/// One named stream.
pub struct Stream {
    pub(super) name: StreamName,
    /// Changes only with a broker, when Redis lost the stream's history: written under the
    /// state's write lock, so a reader holding the state sees the epoch of its events.
    epoch: AtomicU64,
    /// Declared or fed by a source: never removed.
    pinned: AtomicBool,
    sequencer: Mutex<Sequencer>,
    /// Where publishes go to be made durable; `None`: applied at once (memory store).
    commits: Option<CommitQueue>,
    /// With a broker: where publishes go (Redis numbers them; the follower applies them).
    broker: Option<Arc<Broker>>,
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
    snapshot_cache: Mutex<Option<((u64, u64), Frame)>>,
    /// The oldest event with retained points (the next one when none): the store keeps
    /// events from here on. Read by the committer without the state's lock.
    retained_from: AtomicU64,
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
    /// Every point of the retention period, for the range query.
    retained: Retained,
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
            epoch: AtomicU64::new(epoch),
            pinned: AtomicBool::new(pinned),
            sequencer: Mutex::new(Sequencer::new()),
            commits,
            broker: None,
            closed: AtomicBool::new(false),
            last_active_ms: AtomicI64::new(app::model::now_ms()),
            meta: RwLock::new(StreamMeta::default()),
            catalog,
            state: RwLock::new(State {
                last_seq: 0,
                ring: VecDeque::with_capacity(limits.ring_events.min(4096)),
                ring_bytes: 0,
                window: BTreeMap::new(),
                retained: Retained::new(limits.retention),
            }),
            limits,
            seq_tx: watch::Sender::new(0),
            snapshot_cache: Mutex::new(None),
            retained_from: AtomicU64::new(1),
            counters: Counters::default(),
        }
    }

    pub fn name(&self) -> &StreamName {
        &self.name
    }

    pub fn is_pinned(&self) -> bool {
        self.pinned.load(Ordering::SeqCst)
    }

    /// Keeps the stream for good (a recovered stream that the configuration declares).
    pub(super) fn set_pinned(&self) {
        self.pinned.store(true, Ordering::SeqCst);
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// When it was last published to or watched (ms since the epoch).
    pub(super) fn last_active(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
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
            epoch: self.epoch(),
            seq,
        }
    }

    pub fn last_seq(&self) -> u64 {
        read(&self.state).last_seq
    }

    /// The current window and the id of the last event in it.
    pub fn snapshot(&self) -> Snapshot {
        snapshot_of(&read(&self.state), self.epoch())
    }

    /// The snapshot as an encoded `snapshot` event (id: the last event), encoded once per
    /// stream position however many viewers start from it.
    fn snapshot_frame(&self, st: &State, encoding: Encoding) -> Bytes {
        let mut cache = self
            .snapshot_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let position = (self.epoch(), st.last_seq);
        if let Some((at, frame)) = cache.as_ref() {
            if *at == position {
                return frame.get(encoding).clone();
            }
        }
        let snapshot = snapshot_of(st, position.0);
        let data = serde_json::to_string(&snapshot).unwrap_or_else(|_| unreachable_json());
        let frame = self.encode(snapshot.last_id, st.last_seq, event_name::SNAPSHOT, &data);
        let bytes = frame.get(encoding).clone();
        *cache = Some((position, frame));
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
        if id.epoch != current.epoch {
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
        let epoch = self.epoch();
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
            epoch,
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
