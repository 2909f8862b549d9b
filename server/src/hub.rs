//! The fan-out hub: named streams, each numbering its events, encoding each one exactly once
//! into shared bytes, and keeping two bounded histories: a ring of recent *events* (to resume
//! viewers without a gap) and a window of recent *points* per series (the snapshot a new
//! viewer and the first paint start from).
//!
//! Viewers have no queue of their own. A viewer is a cursor into its stream's ring: it wakes
//! when the stream's sequence number moves, takes every frame from its cursor on (as one
//! chunk), and advances. A viewer whose cursor has fallen out of the ring is resynchronised
//! with a `reset` and a snapshot. So a viewer costs the same however far behind it is, and
//! the memory of all viewers together is the ring.

use crate::sse;
use app::model::{
    event_name, EventId, NewPoint, Point, Positions, Reset, ResetReason, SeriesName, Snapshot,
    StreamInfo, StreamMeta, StreamName, StreamStatus,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use tokio::sync::watch;

/// The hub's limits, from the configuration.
#[derive(Clone, Debug)]
pub struct Limits {
    pub ring_events: usize,
    pub ring_bytes: usize,
    pub window: usize,
    pub max_streams: usize,
    pub max_series: usize,
    pub max_viewers: usize,
}

/// One event, encoded once for each kind of connection: a stream's own endpoint, and the
/// multiplexed one (where the data is wrapped in a [`Tagged`](app::model::Tagged) naming the
/// stream). Cloning it clones references, not the bytes.
#[derive(Clone, Debug)]
struct Frame {
    seq: u64,
    bytes: Bytes,
    mux: Bytes,
}

impl Frame {
    fn get(&self, encoding: Encoding) -> &Bytes {
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

/// All streams of this server.
pub struct Hub {
    epoch: u64,
    /// The epoch last given to a stream created after a deletion (see [`Hub::remove`]).
    last_epoch: AtomicU64,
    /// Whether any stream was ever removed: from then on new streams get fresh epochs.
    removed_any: AtomicBool,
    limits: Limits,
    streams: RwLock<BTreeMap<StreamName, Arc<Stream>>>,
    viewers: Arc<AtomicUsize>,
    /// Bumped whenever the catalog (streams, their series, their descriptions) changes.
    catalog: Arc<watch::Sender<u64>>,
    /// The encoded `streams` event of a catalog version.
    catalog_cache: Mutex<Option<(u64, Bytes)>>,
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
    #[error("value {value} is not a finite number")]
    NotFinite { index: usize, value: f64 },
    /// The stream was removed while this was under way (the hub retries once).
    #[error("the stream was removed meanwhile")]
    Removed,
}

/// Why a stream could not be removed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RemoveError {
    #[error("there is no stream named \"{0}\"")]
    Unknown(StreamName),
    #[error("stream \"{0}\" is declared in the configuration or fed by a built-in source")]
    Pinned(StreamName),
}

impl PublishError {
    /// The point the error is about, for errors about one point.
    pub fn index(&self) -> Option<usize> {
        match self {
            PublishError::AmbiguousSeries { index, .. } | PublishError::NotFinite { index, .. } => {
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
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// `epoch` tells this run's event ids from those of earlier runs: use something that
    /// differs per start, such as the start time in milliseconds.
    pub fn new(limits: Limits, epoch: u64) -> Self {
        Hub {
            epoch,
            last_epoch: AtomicU64::new(epoch),
            removed_any: AtomicBool::new(false),
            limits,
            streams: RwLock::new(BTreeMap::new()),
            viewers: Arc::new(AtomicUsize::new(0)),
            catalog: Arc::new(watch::Sender::new(0)),
            catalog_cache: Mutex::new(None),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn get(&self, name: &StreamName) -> Option<Arc<Stream>> {
        read(&self.streams).get(name).cloned()
    }

    /// The stream of that name, created if there is room.
    pub fn declare(&self, name: &StreamName) -> Result<Arc<Stream>, PublishError> {
        self.create(name, false)
    }

    /// The same for a stream that must stay (declared in the configuration, or fed by a
    /// built-in source): it is never removed or expired.
    pub fn pin(&self, name: &StreamName) -> Result<Arc<Stream>, PublishError> {
        self.create(name, true)
    }

    fn create(&self, name: &StreamName, pinned: bool) -> Result<Arc<Stream>, PublishError> {
        // Pinned streams are created at start-up, before anyone can publish: a stream found
        // here was made by the same call before.
        if let Some(s) = self.get(name) {
            return Ok(s);
        }
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = streams.get(name) {
            return Ok(s.clone());
        }
        if streams.len() >= self.limits.max_streams {
            return Err(PublishError::TooManyStreams(self.limits.max_streams));
        }
        let stream = Arc::new(Stream::new(
            name.clone(),
            self.new_epoch(),
            pinned,
            self.limits.clone(),
            self.catalog.clone(),
        ));
        streams.insert(name.clone(), stream.clone());
        drop(streams);
        self.catalog.send_modify(|v| *v += 1);
        tracing::info!(stream = %name, "stream created");
        Ok(stream)
    }

    /// The epoch of a new stream: the hub's, until a stream has been removed; from then on
    /// one never used before (at least the current time in milliseconds), so that the ids of
    /// a removed stream never resume a new stream of the same name.
    fn new_epoch(&self) -> u64 {
        if !self.removed_any.load(Ordering::SeqCst) {
            return self.epoch;
        }
        let now = u64::try_from(app::model::now_ms()).unwrap_or(0);
        let previous = self
            .last_epoch
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |e| Some(now.max(e + 1)))
            .unwrap_or(self.epoch);
        now.max(previous + 1)
    }

    /// Removes a stream: its viewers' connections end (a multiplexed one stops following it
    /// and waits for it to come back), and a new stream of that name starts a new epoch.
    pub fn remove(&self, name: &StreamName) -> Result<(), RemoveError> {
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        let stream = streams
            .get(name)
            .ok_or_else(|| RemoveError::Unknown(name.clone()))?;
        if stream.is_pinned() {
            return Err(RemoveError::Pinned(name.clone()));
        }
        stream.close();
        self.removed_any.store(true, Ordering::SeqCst);
        streams.remove(name);
        drop(streams);
        self.catalog.send_modify(|v| *v += 1);
        tracing::info!(stream = %name, "stream removed");
        Ok(())
    }

    /// Removes every stream (not pinned) that nobody has published to or watched for
    /// `idle_ms`; returns their names.
    pub fn expire_idle(&self, now_ms: i64, idle_ms: u64) -> Vec<StreamName> {
        let cutoff = now_ms.saturating_sub(i64::try_from(idle_ms).unwrap_or(i64::MAX));
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        let expired: Vec<StreamName> = streams
            .values()
            .filter(|s| s.close_if_idle(cutoff))
            .map(|s| s.name.clone())
            .collect();
        for name in &expired {
            streams.remove(name);
        }
        drop(streams);
        if !expired.is_empty() {
            self.removed_any.store(true, Ordering::SeqCst);
            self.catalog.send_modify(|v| *v += 1);
            tracing::info!(streams = ?expired, "idle streams expired");
        }
        expired
    }

    /// Sets a stream's description, creating the stream when `create` allows.
    pub fn describe(
        &self,
        name: &StreamName,
        meta: StreamMeta,
        create: bool,
    ) -> Result<Arc<Stream>, PublishError> {
        // Once more if the stream was removed meanwhile: the description goes to its successor.
        for _ in 0..2 {
            let stream = match self.get(name) {
                Some(s) => s,
                None if create => self.declare(name)?,
                None => return Err(PublishError::UnknownStream(name.clone())),
            };
            stream.set_meta(meta.clone());
            if !stream.is_closed() {
                return Ok(stream);
            }
        }
        Err(PublishError::Removed)
    }

    /// Every stream as the dashboard lists it, by name.
    pub fn catalog(&self) -> Vec<StreamInfo> {
        self.streams().iter().map(|s| s.info()).collect()
    }

    /// The catalog as an encoded `streams` event, encoded once per version.
    fn catalog_frame(&self, version: u64) -> Bytes {
        let mut cache = self
            .catalog_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((v, bytes)) = cache.as_ref() {
            if *v == version {
                return bytes.clone();
            }
        }
        let data = serde_json::to_string(&self.catalog()).unwrap_or_else(|_| unreachable_json());
        let bytes = sse::encode_event(None, event_name::STREAMS, &data);
        *cache = Some((version, bytes.clone()));
        bytes
    }

    /// One connection following several streams, each from its own position (a fresh
    /// snapshot where `from` has none), preceded by the catalog. Streams that do not exist
    /// yet are followed from the moment they are created.
    pub fn subscribe_many(
        self: &Arc<Self>,
        names: &[StreamName],
        from: Positions,
        admission: Admission,
    ) -> MuxViewer {
        MuxViewer {
            hub: self.clone(),
            cursors: Vec::with_capacity(names.len()),
            waiting: names.to_vec(),
            from,
            catalog: self.catalog.subscribe(),
            catalog_sent: None,
            turn: 0,
            positions_due: false,
            _admission: admission,
        }
    }

    /// Publishes a batch as one event, creating the stream first when `create` allows. All or
    /// nothing: on any error no event exists and no stream was created.
    pub fn publish(
        &self,
        name: &StreamName,
        batch: &[NewPoint],
        create: bool,
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        // Once more if the stream was removed meanwhile: the batch goes to its successor.
        match self.publish_once(name, batch, create, now_ms) {
            Err(PublishError::Removed) => self.publish_once(name, batch, create, now_ms),
            other => other,
        }
    }

    fn publish_once(
        &self,
        name: &StreamName,
        batch: &[NewPoint],
        create: bool,
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        if let Some(stream) = self.get(name) {
            return stream.publish(batch, now_ms);
        }
        if !create {
            return Err(PublishError::UnknownStream(name.clone()));
        }
        // A new stream has no series yet: the batch alone must fit.
        let distinct: BTreeSet<SeriesName> = batch
            .iter()
            .map(|p| p.series.clone().unwrap_or_else(SeriesName::default_series))
            .collect();
        check_series_limit(0, &distinct, self.limits.max_series)?;
        let stream = self.declare(name)?;
        let result = stream.publish(batch, now_ms);
        if result.is_err() {
            let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
            if streams
                .get(name)
                .is_some_and(|s| s.last_seq() == 0 && !s.is_pinned())
            {
                streams.remove(name);
            }
        }
        result
    }

    /// Admits one more viewer connection, or refuses when the limit is reached.
    pub fn admit(&self) -> Result<Admission, TooManyViewers> {
        let max = self.limits.max_viewers;
        self.viewers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Admission(self.viewers.clone()))
            .map_err(|_| TooManyViewers(max))
    }

    /// Viewer connections open now, over all streams.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    pub fn streams(&self) -> Vec<Arc<Stream>> {
        read(&self.streams).values().cloned().collect()
    }

    /// Every stream's state, ordered by name.
    pub fn status(&self) -> Vec<StreamStatus> {
        self.streams().iter().map(|s| s.status()).collect()
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn check_series_limit(
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

/// One named stream.
pub struct Stream {
    name: StreamName,
    epoch: u64,
    /// Declared or fed by a source: never removed.
    pinned: bool,
    /// Removed from the hub: publishing fails, viewers are let go.
    closed: AtomicBool,
    /// When it was last published to or watched (ms since the epoch), for expiry.
    last_active_ms: AtomicI64,
    limits: Limits,
    state: RwLock<State>,
    meta: RwLock<StreamMeta>,
    /// The hub's catalog version, bumped when this stream gains a series or a description.
    catalog: Arc<watch::Sender<u64>>,
    /// The last sequence number, for waking viewers. One value however many events were
    /// published: a woken viewer reads what it needs from the ring.
    seq_tx: watch::Sender<u64>,
    /// The encoded snapshot of the current window, reused until the next publish.
    snapshot_cache: Mutex<Option<(u64, Frame)>>,
    counters: Counters,
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

struct State {
    last_seq: u64,
    /// Frames `last_seq - ring.len() + 1 ..= last_seq`, oldest first.
    ring: VecDeque<Frame>,
    ring_bytes: usize,
    window: BTreeMap<SeriesName, VecDeque<(i64, f64)>>,
}

impl State {
    /// The oldest sequence number still in the ring (`last_seq + 1` when it is empty).
    fn first_seq(&self) -> u64 {
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
    fn new(
        name: StreamName,
        epoch: u64,
        pinned: bool,
        limits: Limits,
        catalog: Arc<watch::Sender<u64>>,
    ) -> Self {
        Stream {
            name,
            epoch,
            pinned,
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

    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn touch(&self) {
        self.last_active_ms
            .fetch_max(app::model::now_ms(), Ordering::Relaxed);
    }

    /// Marks the stream removed, under its lock (no publish is half done), and wakes its
    /// viewers so that they end.
    fn close(&self) {
        let st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        self.closed.store(true, Ordering::SeqCst);
        drop(st);
        self.seq_tx.send_modify(|_| {});
    }

    /// Closes the stream if it may expire: not pinned, nobody watching, and nothing
    /// published or watched since `cutoff_ms`.
    fn close_if_idle(&self, cutoff_ms: i64) -> bool {
        let st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let idle = !self.is_pinned()
            && self.counters.viewers.load(Ordering::SeqCst) == 0
            && self.last_active_ms.load(Ordering::Relaxed) < cutoff_ms;
        if idle {
            self.closed.store(true, Ordering::SeqCst);
        }
        drop(st);
        if idle {
            self.seq_tx.send_modify(|_| {});
        }
        idle
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

    fn id(&self, seq: u64) -> EventId {
        EventId {
            epoch: self.epoch,
            seq,
        }
    }

    pub fn last_seq(&self) -> u64 {
        read(&self.state).last_seq
    }

    /// Publishes a batch of points as one `points` event and returns its id. Series are
    /// resolved and limits checked before anything changes.
    pub fn publish(&self, batch: &[NewPoint], now_ms: i64) -> Result<EventId, PublishError> {
        let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if self.is_closed() {
            return Err(PublishError::Removed);
        }
        let only: Option<SeriesName> = match st.window.len() {
            0 => Some(SeriesName::default_series()),
            1 => st.window.keys().next().cloned(),
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
                        series: st.window.keys().cloned().collect(),
                    })
                }
            };
            if !st.window.contains_key(&series) {
                new_series.insert(series.clone());
            }
            points.push(Point {
                series,
                ts: p.ts.unwrap_or(now_ms),
                value: p.value,
            });
        }
        check_series_limit(st.window.len(), &new_series, self.limits.max_series)?;

        // Valid: from here on nothing fails.
        let seq = st.last_seq + 1;
        let id = self.id(seq);
        let data = serde_json::to_string(&points).unwrap_or_else(|_| unreachable_json());
        let frame = self.encode(Some(id), seq, event_name::POINTS, &data);
        st.last_seq = seq;
        st.ring_bytes += frame.len();
        st.ring.push_back(frame);
        while st.ring.len() > self.limits.ring_events
            || (st.ring_bytes > self.limits.ring_bytes && st.ring.len() > 1)
        {
            if let Some(old) = st.ring.pop_front() {
                st.ring_bytes -= old.len();
            }
        }
        let window = self.limits.window;
        for p in &points {
            let samples = st.window.entry(p.series.clone()).or_default();
            if samples.len() == window {
                samples.pop_front();
            }
            samples.push_back((p.ts, p.value));
        }
        drop(st);
        if !new_series.is_empty() {
            self.catalog.send_modify(|v| *v += 1);
        }
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        self.counters
            .points
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        self.seq_tx.send_replace(seq);
        self.touch();
        Ok(id)
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
    fn reset_frames(
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
    fn cursor(self: &Arc<Self>, resume: Option<EventId>, encoding: Encoding) -> Cursor {
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
fn unreachable_json() -> String {
    unreachable!("encoding a point, snapshot or reset as JSON cannot fail")
}

/// One connection's position in one stream. Dropping it (the connection ended) releases
/// everything it held.
struct Cursor {
    stream: Arc<Stream>,
    rx: watch::Receiver<u64>,
    /// The next sequence number to send.
    next: u64,
    /// A `reset` to send first, if the start (or a lag) needs one.
    reset: Option<Bytes>,
    /// What to send before anything from the ring: the snapshot (shared, not copied).
    pending: Option<Bytes>,
    encoding: Encoding,
}

/// A subscriber of one stream (`GET /api/streams/{name}/events`).
pub struct Viewer {
    cursor: Cursor,
    _admission: Admission,
}

/// What a viewer gets when it asks for more.
pub enum Next {
    /// One or more frames, concatenated for a single write.
    Frames(Bytes),
    /// Two writes, in this order: a frame too large to copy into a chunk (shared as it is in
    /// the ring), and what goes after it.
    FramesThen(Bytes, Bytes),
    /// The stream is gone.
    Closed,
}

/// How much a viewer copies into one write at most when it has fallen behind; a single frame
/// larger than this is sent as it is (shared bytes), never copied.
pub const MAX_COALESCED_BYTES: usize = 64 * 1024;

impl Viewer {
    /// Waits until there is something to send, then takes everything pending (up to
    /// [`MAX_COALESCED_BYTES`]) so that a burst costs one write, not one per event. Ends once
    /// the stream is removed and everything before that was sent.
    pub async fn next(&mut self) -> Next {
        loop {
            self.cursor.rx.borrow_and_update();
            if let Some(bytes) = self.cursor.take(MAX_COALESCED_BYTES) {
                // A `reset` leaves its snapshot pending: both go now, the snapshot uncopied.
                return match self.cursor.pending.take() {
                    Some(snapshot) => Next::FramesThen(bytes, snapshot),
                    None => Next::Frames(bytes),
                };
            }
            if self.cursor.stream.is_closed() || self.cursor.rx.changed().await.is_err() {
                return Next::Closed;
            }
        }
    }
}

impl Cursor {
    /// What this connection has to send from this stream now, if anything: frames (copied
    /// into one chunk) up to `room` bytes, or one frame larger than that as it is when `room`
    /// is the whole [`MAX_COALESCED_BYTES`] (nothing else goes in this chunk).
    fn take(&mut self, room: usize) -> Option<Bytes> {
        let alone = room >= MAX_COALESCED_BYTES;
        if let Some(bytes) = self.reset.take() {
            return Some(bytes);
        }
        if let Some(bytes) = self.pending.take() {
            if alone || bytes.len() <= room {
                return Some(bytes);
            }
            self.pending = Some(bytes);
            return None;
        }
        let st = read(&self.stream.state);
        if self.next > st.last_seq {
            return None;
        }
        let first = st.first_seq();
        if self.next < first {
            // Fell out of the ring: what it missed is gone, so start it over.
            let detail = format!(
                "this connection fell {} events behind, more than the {} held",
                st.last_seq + 1 - self.next,
                st.ring.len()
            );
            let (reset, snapshot) =
                self.stream
                    .reset_frames(&st, ResetReason::Lagged, detail, self.encoding);
            self.next = st.last_seq + 1;
            self.pending = Some(snapshot);
            return Some(reset);
        }
        let start = (self.next - first) as usize;
        let frames = st.ring.range(start..).map(|f| f.get(self.encoding));
        // How many frames fit in `room`, and their size.
        let (mut count, mut size) = (0usize, 0usize);
        for frame in frames.clone() {
            if size + frame.len() > room {
                break;
            }
            count += 1;
            size += frame.len();
        }
        let chunk = match count {
            0 if !alone => return None,
            // One frame (or one too large for a chunk, alone in it): shared, not copied.
            0 | 1 => {
                count = 1;
                frames.clone().next().cloned()?
            }
            _ => {
                let mut buf = Vec::with_capacity(size);
                for frame in frames.take(count) {
                    buf.extend_from_slice(frame);
                }
                Bytes::from(buf)
            }
        };
        self.next += count as u64;
        self.stream
            .counters
            .delivered
            .fetch_add(count as u64, Ordering::Relaxed);
        Some(chunk)
    }

    /// The id of the last event this connection has been sent (or started after).
    fn position(&self) -> EventId {
        self.stream.id(self.next - 1)
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.stream.touch();
        self.stream.counters.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A subscriber of several streams on one connection (`GET /api/events?streams=…`).
///
/// Frames carry no `id:` of their own (each names its stream and id in its data); after every
/// batch the connection sends one id line listing its position in every stream
/// ([`Positions`]), so a browser reconnecting with `Last-Event-ID` resumes all of them.
pub struct MuxViewer {
    hub: Arc<Hub>,
    cursors: Vec<Cursor>,
    /// Streams asked for that do not exist yet, and where the client said it was.
    waiting: Vec<StreamName>,
    from: Positions,
    catalog: watch::Receiver<u64>,
    /// The catalog version this connection has been sent.
    catalog_sent: Option<u64>,
    /// Where the round of streams starts next time.
    turn: usize,
    /// Frames were sent since the last positions line.
    positions_due: bool,
    _admission: Admission,
}

impl MuxViewer {
    /// Starts following the awaited streams that exist now (new streams change the catalog,
    /// so this runs whenever it does).
    fn start_created(&mut self) {
        let (hub, from, cursors) = (&self.hub, &self.from, &mut self.cursors);
        self.waiting.retain(|name| match hub.get(name) {
            Some(stream) => {
                cursors.push(stream.cursor(from.get(name), Encoding::Mux));
                false
            }
            None => true,
        });
    }

    /// Waits until any stream (or the catalog) has something, then takes everything pending
    /// from all of them as one chunk: at most [`MAX_COALESCED_BYTES`] copied, or one larger
    /// frame as it is and, as a second write, the few bytes after it.
    pub async fn next(&mut self) -> Next {
        loop {
            let mut pieces: Vec<Bytes> = Vec::new();
            let mut room = MAX_COALESCED_BYTES;
            // `changed()` below marks versions seen, so compare with what was sent.
            let version = *self.catalog.borrow_and_update();
            if self.catalog_sent != Some(version) {
                self.catalog_sent = Some(version);
                let catalog = self.hub.catalog_frame(version);
                room = room.saturating_sub(catalog.len());
                pieces.push(catalog);
                self.stop_following_removed();
                self.start_created();
            }
            // Round robin, so that a stream far behind does not starve the others.
            let (n, start) = (self.cursors.len(), self.turn);
            self.turn = self.turn.wrapping_add(1);
            for i in 0..n {
                let c = &mut self.cursors[start.wrapping_add(i) % n];
                c.rx.borrow_and_update();
                let offer = if pieces.is_empty() {
                    MAX_COALESCED_BYTES
                } else {
                    room
                };
                if let Some(bytes) = c.take(offer) {
                    room = room.saturating_sub(bytes.len());
                    pieces.push(bytes);
                    self.positions_due = true;
                }
            }
            if self.positions_due && !pieces.is_empty() {
                self.positions_due = false;
                let positions = Positions(
                    self.cursors
                        .iter()
                        .map(|c| (c.stream.name.clone(), c.position()))
                        .collect(),
                );
                // An id with no data sets the client's last event id without an event.
                pieces.push(sse::encode_id(&positions.to_string()));
            }
            match pieces.len() {
                0 => {}
                1 => return Next::Frames(pieces.swap_remove(0)),
                _ if pieces[0].len() > MAX_COALESCED_BYTES => {
                    let rest = concat(&pieces[1..]);
                    return Next::FramesThen(pieces.swap_remove(0), rest);
                }
                _ => return Next::Frames(concat(&pieces)),
            }
            let mut waits: Vec<_> = self
                .cursors
                .iter_mut()
                .map(|c| Box::pin(c.rx.changed()))
                .collect();
            waits.push(Box::pin(self.catalog.changed()));
            let (result, _, _) = futures_util::future::select_all(waits).await;
            if result.is_err() {
                return Next::Closed;
            }
        }
    }

    /// Stops following streams that were removed (after sending what they had); they are
    /// awaited again, and followed from a fresh start if they come back.
    fn stop_following_removed(&mut self) {
        let waiting = &mut self.waiting;
        self.cursors.retain(|c| {
            let gone = c.stream.is_closed() && c.reset.is_none() && c.pending.is_none();
            if gone {
                waiting.push(c.stream.name.clone());
            }
            !gone
        });
    }
}

/// The pieces of a chunk as one buffer.
fn concat(pieces: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        out.extend_from_slice(p);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StreamName {
        StreamName::parse(s).unwrap()
    }

    fn limits(ring: usize) -> Limits {
        Limits {
            ring_events: ring,
            ring_bytes: 1 << 20,
            window: 3,
            max_streams: 4,
            max_series: 2,
            max_viewers: 3,
        }
    }

    fn pt(value: f64) -> NewPoint {
        NewPoint {
            series: None,
            ts: Some(1),
            value,
        }
    }

    async fn text(v: &mut Viewer) -> String {
        match v.next().await {
            Next::Frames(b) => String::from_utf8(b.to_vec()).unwrap(),
            Next::FramesThen(a, b) => String::from_utf8([a, b].concat()).unwrap(),
            Next::Closed => panic!("closed"),
        }
    }

    fn ids(text: &str) -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(|id| id.split_once('-').unwrap().1.parse().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn fresh_viewer_gets_snapshot_then_live_frames_shared() {
        let hub = Hub::new(limits(16), 0xab);
        let s = hub.declare(&name("t")).unwrap();
        s.publish(&[pt(1.0)], 0).unwrap();
        let mut a = s.subscribe(None, hub.admit().unwrap());
        let mut b = s.subscribe(None, hub.admit().unwrap());
        let first = text(&mut a).await;
        assert!(first.starts_with("id: ab-1\nevent: snapshot\n"), "{first}");
        assert!(first.contains(r#""points":[{"series":"value","ts":1,"value":1.0}]"#));
        assert_eq!(text(&mut b).await, first);
        assert_eq!(s.publish(&[pt(2.0)], 0).unwrap().to_string(), "ab-2");
        assert_eq!(s.publish(&[pt(3.0)], 0).unwrap().seq, 3);
        let (ta, tb) = (text(&mut a).await, text(&mut b).await);
        // Both frames in one chunk, and the very same bytes for both viewers.
        assert_eq!(ids(&ta), vec![2, 3]);
        assert_eq!(ta, tb);
        assert_eq!(hub.viewers(), 2);
        drop(a);
        assert_eq!(hub.viewers(), 1);
        assert_eq!(s.status().viewers, 1);
    }

    #[tokio::test]
    async fn resume_replays_exactly_what_was_missed() {
        let hub = Hub::new(limits(16), 7);
        let s = hub.declare(&name("t")).unwrap();
        for v in 0..5 {
            s.publish(&[pt(v as f64)], 0).unwrap();
        }
        let mut v = s.subscribe(Some(EventId { epoch: 7, seq: 2 }), hub.admit().unwrap());
        assert_eq!(ids(&text(&mut v).await), vec![3, 4, 5]);
        s.publish(&[pt(9.0)], 0).unwrap();
        assert_eq!(ids(&text(&mut v).await), vec![6]);
        // Up to date: nothing is replayed, the next event is live.
        let mut w = s.subscribe(Some(EventId { epoch: 7, seq: 6 }), hub.admit().unwrap());
        s.publish(&[pt(9.0)], 0).unwrap();
        assert_eq!(ids(&text(&mut w).await), vec![7]);
    }

    #[tokio::test]
    async fn stale_foreign_and_future_ids_reset() {
        let hub = Hub::new(limits(16), 7);
        let s = hub.declare(&name("t")).unwrap();
        for v in 0..40 {
            s.publish(&[pt(v as f64)], 0).unwrap();
        }
        for (resume, reason) in [
            (EventId { epoch: 7, seq: 3 }, "too_old"),
            (EventId { epoch: 6, seq: 39 }, "restarted"),
            (EventId { epoch: 7, seq: 41 }, "unknown_id"),
        ] {
            let mut v = s.subscribe(Some(resume), hub.admit().unwrap());
            let t = text(&mut v).await;
            assert!(t.starts_with("event: reset\n"), "{t}");
            assert!(t.contains(&format!(r#""reason":"{reason}""#)), "{t}");
            assert!(t.contains("id: 7-40\nevent: snapshot\n"), "{t}");
        }
        // The oldest resumable id: everything after it is still held.
        let mut v = s.subscribe(Some(EventId { epoch: 7, seq: 24 }), hub.admit().unwrap());
        assert_eq!(ids(&text(&mut v).await), (25..=40).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_viewer_behind_the_ring_is_resynced() {
        let hub = Hub::new(limits(16), 1);
        let s = hub.declare(&name("t")).unwrap();
        let mut slow = s.subscribe(None, hub.admit().unwrap());
        text(&mut slow).await;
        for v in 0..20 {
            s.publish(&[pt(v as f64)], 0).unwrap();
        }
        let t = text(&mut slow).await;
        assert!(t.contains(r#""reason":"lagged""#), "{t}");
        assert!(t.contains("id: 1-20\nevent: snapshot"), "{t}");
        // The window has the last 3 points.
        assert!(
            t.contains(r#"{"series":"value","ts":1,"value":17.0}"#),
            "{t}"
        );
        s.publish(&[pt(0.0)], 0).unwrap();
        assert_eq!(ids(&text(&mut slow).await), vec![21]);
        assert_eq!(
            s.counters().resets[ResetReason::Lagged as usize].load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn publish_is_all_or_nothing() {
        let hub = Hub::new(limits(16), 1);
        let t = name("t");
        let named = |s: &str, v: f64| NewPoint {
            series: Some(SeriesName::parse(s).unwrap()),
            ts: None,
            value: v,
        };
        hub.publish(&t, &[named("a", 1.0), named("b", 2.0)], true, 5)
            .unwrap();
        let s = hub.get(&t).unwrap();
        // Which series? The stream has two.
        let err = hub
            .publish(&t, &[named("a", 1.0), pt(2.0)], true, 5)
            .unwrap_err();
        assert_eq!(err.index(), Some(1));
        assert!(err.to_string().contains("2 series (a, b)"), "{err}");
        // A third series is one too many; a bad value anywhere refuses the batch.
        let err = hub.publish(&t, &[named("c", 1.0)], true, 5).unwrap_err();
        assert!(
            matches!(err, PublishError::TooManySeries { total: 3, .. }),
            "{err}"
        );
        let err = hub
            .publish(&t, &[named("a", 1.0), named("a", f64::NAN)], true, 5)
            .unwrap_err();
        assert_eq!(err.index(), Some(1));
        assert_eq!(s.last_seq(), 1);
        assert_eq!(s.snapshot().points.len(), 2);
        assert_eq!(
            s.snapshot().points[0].ts,
            5,
            "server time when ts is absent"
        );
        // Unknown streams: refused without auto-create, and never half-created.
        let u = name("u");
        assert_eq!(
            hub.publish(&u, &[pt(1.0)], false, 0),
            Err(PublishError::UnknownStream(u.clone()))
        );
        let too_many = [named("x", 1.0), named("y", 1.0), named("z", 1.0)];
        assert!(hub.publish(&u, &too_many, true, 0).is_err());
        assert!(hub.get(&u).is_none());
    }

    #[test]
    fn stream_and_viewer_limits() {
        let hub = Hub::new(limits(16), 1);
        for i in 0..4 {
            hub.declare(&name(&format!("s{i}"))).unwrap();
        }
        assert_eq!(
            hub.declare(&name("s9")).err(),
            Some(PublishError::TooManyStreams(4))
        );
        assert!(
            hub.declare(&name("s0")).is_ok(),
            "existing streams are still found"
        );
        let a: Vec<_> = (0..3).map(|_| hub.admit().unwrap()).collect();
        assert!(hub.admit().is_err());
        drop(a);
        assert!(hub.admit().is_ok());
    }

    #[test]
    fn ring_is_bounded_by_events_and_bytes() {
        let mut l = limits(16);
        l.ring_bytes = 2000;
        let hub = Hub::new(l, 1);
        let s = hub.declare(&name("t")).unwrap();
        for v in 0..100 {
            s.publish(&[pt(v as f64)], 0).unwrap();
        }
        let (events, bytes) = s.ring_usage();
        assert!(
            events <= 16 && bytes <= 2000,
            "{events} events, {bytes} bytes"
        );
        assert!(events > 5);
        assert_eq!(s.snapshot().points.len(), 3);
    }

    async fn mux_text(v: &mut MuxViewer) -> String {
        match v.next().await {
            Next::Frames(b) => String::from_utf8(b.to_vec()).unwrap(),
            Next::FramesThen(a, b) => String::from_utf8([a, b].concat()).unwrap(),
            Next::Closed => panic!("closed"),
        }
    }

    /// The `data:` of every event named `event` in `text`.
    fn data_of<'a>(text: &'a str, event: &str) -> Vec<&'a str> {
        let marker = format!("event: {event}\ndata: ");
        text.match_indices(&marker)
            .map(|(i, _)| {
                let rest = &text[i + marker.len()..];
                &rest[..rest.find('\n').unwrap()]
            })
            .collect()
    }

    #[tokio::test]
    async fn one_connection_follows_several_streams_and_resumes_all() {
        use app::model::{StreamInfo, Tagged};
        let hub = Arc::new(Hub::new(limits(16), 0xe));
        let (a, b) = (
            hub.declare(&name("a")).unwrap(),
            hub.declare(&name("b")).unwrap(),
        );
        a.publish(&[pt(1.0)], 0).unwrap();
        let ab = [name("a"), name("b")];
        let mut v = hub.subscribe_many(&ab, Positions::default(), hub.admit().unwrap());
        let first = mux_text(&mut v).await;
        // The catalog, a snapshot of each stream, then the positions as the connection's id.
        let catalog: Vec<StreamInfo> = serde_json::from_str(data_of(&first, "streams")[0]).unwrap();
        assert_eq!(
            catalog.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let snaps = data_of(&first, "snapshot");
        let snap: Tagged<Snapshot> = serde_json::from_str(snaps[0]).unwrap();
        assert_eq!((snap.stream.as_str(), snap.data.points.len()), ("a", 1));
        assert_eq!(snap.id.map(|i| i.seq), Some(1));
        assert!(first.ends_with("id: a:e-1,b:e-0\n\n"), "{first}");
        assert!(!first.contains("id: e-"), "frames carry no id of their own");
        assert_eq!(
            (a.status().viewers, b.status().viewers, hub.viewers()),
            (1, 1, 1)
        );

        b.publish(&[pt(5.0)], 0).unwrap();
        let next = mux_text(&mut v).await;
        // A new series changed the catalog; then b's event, tagged.
        assert_eq!(data_of(&next, "streams").len(), 1);
        let ev: Tagged<Vec<Point>> = serde_json::from_str(data_of(&next, "points")[0]).unwrap();
        assert_eq!((ev.stream.as_str(), ev.id.map(|i| i.seq)), ("b", Some(1)));
        assert!(next.ends_with("id: a:e-1,b:e-1\n\n"), "{next}");

        // Resuming from those positions replays exactly what was missed, in both streams.
        drop(v);
        a.publish(&[pt(2.0)], 0).unwrap();
        b.publish(&[pt(6.0)], 0).unwrap();
        let from: Positions = "a:e-1,b:e-1".parse().unwrap();
        let mut w = hub.subscribe_many(&ab, from, hub.admit().unwrap());
        let replay = mux_text(&mut w).await;
        assert!(data_of(&replay, "snapshot").is_empty(), "{replay}");
        assert_eq!(data_of(&replay, "points").len(), 2);
        assert!(replay.ends_with("id: a:e-2,b:e-2\n\n"), "{replay}");
        drop(w);
        assert_eq!((a.status().viewers, hub.viewers()), (0, 0));
    }

    #[tokio::test]
    async fn descriptions_reach_the_catalog() {
        let hub = Arc::new(Hub::new(limits(16), 1));
        let meta = StreamMeta {
            unit: Some("°C".into()),
            ..StreamMeta::default()
        };
        assert!(hub.describe(&name("t"), meta.clone(), false).is_err());
        hub.describe(&name("t"), meta.clone(), true).unwrap();
        let tu = [name("t"), name("u")];
        let mut v = hub.subscribe_many(&tu, Positions::default(), hub.admit().unwrap());
        let text = mux_text(&mut v).await;
        assert!(
            text.contains(r#"{"name":"t","meta":{"unit":"°C"},"series":[]}"#),
            "{text}"
        );
        assert_eq!(hub.catalog()[0].meta, meta);
        // A stream created later reaches the open connection, and is followed if asked for.
        let later = hub.clone();
        tokio::spawn(async move { later.declare(&name("u")) });
        let text = mux_text(&mut v).await;
        assert!(
            text.contains(r#"{"name":"u","meta":{},"series":[]}"#),
            "{text}"
        );
        let u_snapshot = r#"data: {"stream":"u","id":"1-0","data":{"last_id":"1-0","points":[]}}"#;
        assert!(text.contains(u_snapshot), "{text}");
    }

    #[tokio::test]
    async fn large_frames_are_shared_and_small_ones_coalesced_within_the_bound() {
        let mut l = limits(64);
        l.ring_bytes = 16 << 20;
        let hub = Hub::new(l, 1);
        let s = hub.declare(&name("t")).unwrap();
        let mut a = s.subscribe(None, hub.admit().unwrap());
        let mut b = s.subscribe(None, hub.admit().unwrap());
        text(&mut a).await;
        text(&mut b).await;
        // Two batches larger than a chunk: each goes out as it is in the ring, shared.
        let big: Vec<NewPoint> = (0..3000).map(|i| pt(f64::from(i))).collect();
        s.publish(&big, 0).unwrap();
        s.publish(&big, 0).unwrap();
        for _ in 0..2 {
            let (Next::Frames(x), Next::Frames(y)) = (a.next().await, b.next().await) else {
                panic!("not one frame each")
            };
            assert!(x.len() > MAX_COALESCED_BYTES);
            assert_eq!(x.as_ptr(), y.as_ptr(), "the same bytes, not copies");
        }
        // Many small events: one chunk, within the bound.
        for v in 0..40 {
            s.publish(&[pt(f64::from(v))], 0).unwrap();
        }
        let chunk = text(&mut a).await;
        assert_eq!(ids(&chunk).len(), 40);
        assert!(chunk.len() <= MAX_COALESCED_BYTES);
    }

    #[tokio::test]
    async fn removed_streams_end_their_viewers_and_return_with_a_new_epoch() {
        let hub = Arc::new(Hub::new(limits(16), 1));
        let s = hub.declare(&name("t")).unwrap();
        s.publish(&[pt(1.0)], 0).unwrap();
        let mut v = s.subscribe(None, hub.admit().unwrap());
        text(&mut v).await;
        let mut m = hub.subscribe_many(&[name("t")], Positions::default(), hub.admit().unwrap());
        mux_text(&mut m).await;

        hub.remove(&name("t")).unwrap();
        assert!(matches!(v.next().await, Next::Closed));
        assert_eq!(s.publish(&[pt(2.0)], 0), Err(PublishError::Removed));
        assert!(hub.get(&name("t")).is_none());
        let catalog = mux_text(&mut m).await;
        assert!(!catalog.contains(r#""name":"t""#), "{catalog}");

        // The name is free again; its ids start over in a new epoch, and the multiplexed
        // connection follows the new stream from a snapshot.
        let id = hub.publish(&name("t"), &[pt(3.0)], true, 0).unwrap();
        assert!(id.epoch > 1 && id.seq == 1, "{id}");
        let mut text = mux_text(&mut m).await;
        if !text.contains("event: snapshot") {
            text = mux_text(&mut m).await;
        }
        assert!(text.contains(&format!(r#""last_id":"{id}""#)), "{text}");

        hub.pin(&name("p")).unwrap();
        assert_eq!(hub.remove(&name("p")), Err(RemoveError::Pinned(name("p"))));
        assert_eq!(hub.remove(&name("x")), Err(RemoveError::Unknown(name("x"))));
    }

    #[test]
    fn idle_streams_expire_unless_watched_or_pinned() {
        let hub = Hub::new(limits(16), 1);
        hub.declare(&name("a")).unwrap();
        let b = hub.declare(&name("b")).unwrap();
        hub.pin(&name("c")).unwrap();
        let watched = b.subscribe(None, hub.admit().unwrap());
        let now = app::model::now_ms();
        assert!(
            hub.expire_idle(now, 5_000).is_empty(),
            "nothing is idle yet"
        );
        assert_eq!(hub.expire_idle(now + 10_000, 5_000), vec![name("a")]);
        drop(watched);
        assert_eq!(
            hub.expire_idle(app::model::now_ms() + 10_000, 5_000),
            vec![name("b")]
        );
        assert_eq!(hub.catalog().len(), 1, "the pinned stream stays");
    }
}
