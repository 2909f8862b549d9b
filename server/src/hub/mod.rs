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

mod awaited;
mod broker;
mod commit;
mod cursor;
mod mux;
mod recovery;
pub mod store;
mod stream;
#[cfg(test)]
mod tests;
mod vocabulary;

use vocabulary::check_series_limit;
pub use vocabulary::{Admission, Limits, PublishError, TooManyViewers};

pub use awaited::AwaitedViewer;
pub use broker::{Broker, BrokerError, BrokerStats};
pub use cursor::{Next, Viewer, MAX_COALESCED_BYTES};
pub use mux::MuxViewer;
use stream::unreachable_json;
pub use stream::{Counters, Encoding, ExactPoints, RetentionLimits, Stream};

use crate::sse;
use app::model::{
    event_name, EventId, NewPoint, Positions, SeriesName, StreamInfo, StreamMeta, StreamName,
    StreamStatus,
};
use bytes::Bytes;
pub use commit::CommitStats;
use commit::{CommitQueue, Committer, Job};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use tokio::sync::watch;

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("epoch", &self.epoch()).finish()
    }
}

/// Why a stream could not be removed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RemoveError {
    #[error("there is no stream named \"{0}\"")]
    Unknown(StreamName),
    #[error("stream \"{0}\" is declared in the configuration or fed by a built-in source")]
    Pinned(StreamName),
    #[error("{0}; nothing was removed, try again")]
    Broker(BrokerError),
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
    /// With a durable store: the thread that commits before anything is applied.
    committer: Option<Committer>,
    /// With Redis: where publishes go, and the streams the follower keeps in step.
    broker: Option<Arc<Broker>>,
}

impl Hub {
    /// A hub that keeps history in memory only. `epoch` tells this run's event ids from those
    /// of earlier runs: use something that differs per start, such as the start time in ms.
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
            committer: None,
            broker: None,
        }
    }

    /// A hub whose streams are shared with other servers through Redis. Nothing is here
    /// until [`Hub::follow`] has read it from Redis.
    pub fn shared(limits: Limits, broker: Broker) -> Self {
        let mut hub = Hub::new(limits, 0);
        hub.broker = Some(Arc::new(broker));
        hub
    }

    /// With Redis: starts the task that keeps this hub's streams in step with it, until
    /// `shutdown`.
    pub fn follow(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        if let Some(broker) = &self.broker {
            broker::spawn_follower(self.clone(), broker.clone(), shutdown);
        }
    }

    /// The link to Redis, when streams are shared through it.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.as_ref()
    }

    /// What the committer has done (none with the memory store).
    pub fn commit_stats(&self) -> Option<&CommitStats> {
        self.committer.as_ref().map(|c| &*c.stats)
    }

    fn commits(&self) -> Option<CommitQueue> {
        self.committer.as_ref().map(Committer::queue)
    }

    /// Commits what is queued and closes the store (a clean stop). Blocks until done.
    pub fn close(&self) {
        if let Some(c) = &self.committer {
            c.close();
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
            if pinned {
                s.set_pinned();
            }
            return Ok(s);
        }
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = streams.get(name) {
            return Ok(s.clone());
        }
        if streams.len() >= self.limits.max_streams {
            return Err(PublishError::TooManyStreams(self.limits.max_streams));
        }
        let stream = Arc::new(self.new_stream(name, self.new_epoch(), pinned));
        streams.insert(name.clone(), stream.clone());
        drop(streams);
        self.catalog.send_modify(|v| *v += 1);
        tracing::info!(stream = %name, "stream created");
        Ok(stream)
    }

    fn new_stream(&self, name: &StreamName, epoch: u64, pinned: bool) -> Stream {
        let stream = Stream::new(
            name.clone(),
            epoch,
            pinned,
            self.limits.clone(),
            self.catalog.clone(),
            self.commits(),
        );
        match &self.broker {
            Some(broker) => {
                if pinned {
                    broker.add_pinned(name);
                }
                stream.with_broker(broker.clone())
            }
            None => stream,
        }
    }

    /// With Redis: this node's copy of a stream Redis has, made when missing (Redis holds
    /// the limits; the follower calls this).
    fn adopt(&self, name: &StreamName, epoch: u64) -> Arc<Stream> {
        if let Some(s) = self.get(name) {
            return s;
        }
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        let stream = streams
            .entry(name.clone())
            .or_insert_with(|| Arc::new(self.new_stream(name, epoch, false)))
            .clone();
        drop(streams);
        self.catalog.send_modify(|v| *v += 1);
        stream
    }

    /// With Redis: drops this node's copy of a stream Redis no longer has (its viewers end
    /// as for a removal). A pinned stream stays: the follower makes it again in Redis.
    fn drop_local(&self, name: &StreamName) {
        if self.unregister(name, || {}).is_ok() {
            tracing::info!(stream = %name, "stream removed (by another node, or lost by Redis)");
        }
    }

    /// Waits (briefly) until this node has applied `id` of stream `name`, which Redis has.
    async fn wait_applied(
        &self,
        name: &StreamName,
        id: app::model::EventId,
    ) -> Option<Arc<Stream>> {
        if !self.broker.as_ref().is_some_and(|b| b.is_up()) {
            // The follower is away: nothing would arrive to wait for.
            return self.get(name);
        }
        let mut catalog = self.catalog.subscribe();
        let found = async {
            loop {
                if let Some(s) = self.get(name) {
                    return s;
                }
                if catalog.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let stream = tokio::time::timeout(broker::APPLY_WAIT, found).await.ok()?;
        broker::wait_applied(&stream, id).await;
        Some(stream)
    }

    /// Removes a stream (with Redis: from every node).
    pub async fn delete(&self, name: &StreamName) -> Result<(), RemoveError> {
        let Some(broker) = &self.broker else {
            return self.remove(name);
        };
        match broker.remove(name, None).await {
            Ok(broker::Removal::Removed) => {
                // Here at once; other nodes when their followers read the catalog.
                let _ = self.unregister(name, || {});
                tracing::info!(stream = %name, "stream removed");
                Ok(())
            }
            Ok(broker::Removal::Pinned) => Err(RemoveError::Pinned(name.clone())),
            Ok(_) => Err(RemoveError::Unknown(name.clone())),
            Err(e) => Err(RemoveError::Broker(e)),
        }
    }

    /// Removes the streams nobody published to or watched for `idle_ms` (with Redis: on any
    /// node; streams with viewers here are noted in Redis first).
    pub async fn expire(&self, now_ms: i64, idle_ms: u64) -> Vec<StreamName> {
        let Some(broker) = &self.broker else {
            return self.expire_idle(now_ms, idle_ms);
        };
        let cutoff = now_ms.saturating_sub(i64::try_from(idle_ms).unwrap_or(i64::MAX));
        let (watched, idle): (Vec<_>, Vec<_>) = self
            .streams()
            .into_iter()
            .filter(|s| !s.is_pinned())
            .partition(|s| s.counters.viewers.load(Ordering::SeqCst) > 0);
        let watched: Vec<StreamName> = watched.iter().map(|s| s.name().clone()).collect();
        if let Err(e) = broker.watched(&watched, now_ms).await {
            tracing::debug!("expiry: {e}");
            return Vec::new();
        }
        let mut expired = Vec::new();
        for s in idle.iter().filter(|s| s.last_active() < cutoff) {
            if let Ok(broker::Removal::Removed) = broker.remove(s.name(), Some(cutoff)).await {
                let _ = self.unregister(s.name(), || {});
                expired.push(s.name().clone());
            }
        }
        if !expired.is_empty() {
            tracing::info!(streams = ?expired, "idle streams expired");
        }
        expired
    }

    /// The epoch of a new stream: the hub's, until a stream has been removed; from then on
    /// one never used before (at least the current time in milliseconds), so that the ids of
    /// a removed stream never resume a new stream of the same name.
    fn new_epoch(&self) -> u64 {
        if !self.removed_any.load(Ordering::SeqCst) {
            return self.epoch;
        }
        let now = u64::try_from(app::model::now_ms()).unwrap_or(0);
        let next = |last: u64| now.max(last + 1);
        let last = self
            .last_epoch
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |e| Some(next(e)))
            .unwrap_or(self.epoch);
        next(last)
    }

    /// Removes a stream: its viewers' connections end (a multiplexed one stops following it
    /// and waits for it to come back), and a new stream of that name starts a new epoch.
    pub fn remove(&self, name: &StreamName) -> Result<(), RemoveError> {
        // Under the registry's lock: no stream of that name is created with an old epoch.
        self.unregister(name, || {
            self.removed_any.store(true, Ordering::SeqCst);
            self.forget(name);
        })?;
        tracing::info!(stream = %name, "stream removed");
        Ok(())
    }

    /// Closes a stream (not a pinned one) and takes it out of the registry; `meanwhile` runs
    /// under the registry's lock, between the two.
    fn unregister(&self, name: &StreamName, meanwhile: impl FnOnce()) -> Result<(), RemoveError> {
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        let stream = streams
            .get(name)
            .ok_or_else(|| RemoveError::Unknown(name.clone()))?;
        if stream.is_pinned() {
            return Err(RemoveError::Pinned(name.clone()));
        }
        stream.close();
        meanwhile();
        streams.remove(name);
        drop(streams);
        self.catalog.send_modify(|v| *v += 1);
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
        if !expired.is_empty() {
            self.removed_any.store(true, Ordering::SeqCst);
        }
        for name in &expired {
            streams.remove(name);
            self.forget(name);
        }
        drop(streams);
        if !expired.is_empty() {
            self.catalog.send_modify(|v| *v += 1);
            tracing::info!(streams = ?expired, "idle streams expired");
        }
        expired
    }

    /// A removed stream's history goes from the store too (once the removal commits; it is
    /// retried with every later commit until then). Called under the registry's write lock,
    /// after the stream was closed: the removal is queued after the stream's last event and
    /// before the first of any stream created again under that name.
    fn forget(&self, name: &StreamName) {
        if let Some(queue) = self.commits() {
            // Fails only while stopping, when nothing more is written anyway.
            let _ = queue.send(Job::Remove(name.clone()));
        }
    }

    /// Sets a stream's description (durably, with a durable store), creating the stream when
    /// `create` allows.
    pub async fn describe(
        &self,
        name: &StreamName,
        meta: StreamMeta,
        create: bool,
    ) -> Result<Arc<Stream>, PublishError> {
        if let Some(broker) = &self.broker {
            let id = broker.describe(name, &meta, create).await?;
            let stream = self
                .wait_applied(name, id)
                .await
                .ok_or(PublishError::Removed)?;
            stream.set_meta(meta);
            return Ok(stream);
        }
        // Once more if the stream was removed meanwhile: the description goes to its successor.
        for _ in 0..2 {
            let stream = match self.get(name) {
                Some(s) => s,
                None if create => self.declare(name)?,
                None => return Err(PublishError::UnknownStream(name.clone())),
            };
            match self.commits() {
                None => stream.set_meta(meta.clone()),
                Some(queue) => {
                    let (reply, committed) = tokio::sync::oneshot::channel();
                    queue.send(Job::Describe {
                        stream: stream.clone(),
                        meta: meta.clone(),
                        reply,
                    })?;
                    commit::answer(committed).await?;
                }
            }
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
    pub(super) fn catalog_frame(&self, version: u64) -> Bytes {
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
        MuxViewer::new(
            self.clone(),
            names,
            from,
            self.catalog.subscribe(),
            admission,
        )
    }

    /// Publishes a batch as one event, creating the stream first when `create` allows. All or
    /// nothing: on any error no event exists and no stream was created.
    pub async fn publish(
        &self,
        name: &StreamName,
        batch: &[NewPoint],
        create: bool,
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        if let Some(broker) = &self.broker {
            let local = self.get(name);
            let id = broker
                .publish(name, local.as_deref(), batch, create, now_ms)
                .await?;
            self.wait_applied(name, id).await;
            return Ok(id);
        }
        // Once more if the stream was removed meanwhile: the batch goes to its successor.
        match self.publish_once(name, batch, create, now_ms).await {
            Err(PublishError::Removed) => self.publish_once(name, batch, create, now_ms).await,
            other => other,
        }
    }

    async fn publish_once(
        &self,
        name: &StreamName,
        batch: &[NewPoint],
        create: bool,
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        if let Some(stream) = self.get(name) {
            return stream.publish(batch, now_ms).await;
        }
        if !create {
            return Err(PublishError::UnknownStream(name.clone()));
        }
        self.fits_new_stream(batch)?;
        let stream = self.declare(name)?;
        let result = stream.publish(batch, now_ms).await;
        if result.is_err() {
            self.forget_unused(&[stream]);
        }
        result
    }

    /// Takes streams created for a refused batch out of the registry again, each only if it
    /// is still the one of its name and nothing was ever published to it.
    fn forget_unused(&self, created: &[Arc<Stream>]) {
        let mut all = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        for s in created {
            if all
                .get(s.name())
                .is_some_and(|x| Arc::ptr_eq(x, s) && x.handed_out() == 0 && !x.is_pinned())
            {
                all.remove(s.name());
            }
        }
    }

    /// Publishes one event to each of several streams (distinct names), creating them when
    /// `create` allows: all or nothing, whatever publishes run at the same time. Every
    /// stream's sequencer is locked (in name order, the one order anything holds two in),
    /// every batch is checked against its stream as it is at that moment, and only then does
    /// any take a number; a stream created for a refused body is removed again. Only a store
    /// that fails to commit (or a Redis node, whose streams are published one script each)
    /// can leave some written: the answer is then the error. On error, the index of the batch
    /// it concerns.
    pub async fn publish_all(
        &self,
        batches: &[(&StreamName, &[NewPoint])],
        create: bool,
        now_ms: i64,
    ) -> Result<Vec<EventId>, (usize, PublishError)> {
        if self.broker.is_some() {
            let mut ids = Vec::with_capacity(batches.len());
            for (i, (name, batch)) in batches.iter().enumerate() {
                ids.push(
                    self.publish(name, batch, create, now_ms)
                        .await
                        .map_err(|e| (i, e))?,
                );
            }
            return Ok(ids);
        }
        // Once more if a stream was removed meanwhile: the body goes to its successor.
        match self.publish_all_once(batches, create, now_ms).await {
            Err((_, PublishError::Removed)) => self.publish_all_once(batches, create, now_ms).await,
            other => other,
        }
    }

    async fn publish_all_once(
        &self,
        batches: &[(&StreamName, &[NewPoint])],
        create: bool,
        now_ms: i64,
    ) -> Result<Vec<EventId>, (usize, PublishError)> {
        let mut streams = Vec::with_capacity(batches.len());
        let mut created = Vec::new();
        for (i, (name, batch)) in batches.iter().enumerate() {
            let stream = match self.get(name) {
                Some(s) => Ok(s),
                None if !create => Err(PublishError::UnknownStream((*name).clone())),
                None => self
                    .fits_new_stream(batch)
                    .and_then(|()| self.declare(name))
                    .inspect(|s| created.push(s.clone())),
            };
            match stream {
                Ok(s) => streams.push(s),
                Err(e) => {
                    self.forget_unused(&created);
                    return Err((i, e));
                }
            }
        }
        let staged = match Self::stage_all(&streams, batches, now_ms) {
            Ok(staged) => staged,
            Err(e) => {
                self.forget_unused(&created);
                return Err(e);
            }
        };
        let mut ids = Vec::with_capacity(staged.len());
        let mut failed = None;
        for (i, (id, s)) in staged.into_iter().enumerate() {
            match streams[i].finish(s).await {
                Ok(()) => ids.push(id),
                Err(e) => failed = failed.or(Some((i, e))),
            }
        }
        failed.map_or(Ok(ids), Err)
    }

    /// Locks every stream's sequencer in name order, checks each batch, and only when all
    /// pass gives each its number (synchronous: no lock is held across an await).
    fn stage_all(
        streams: &[Arc<Stream>],
        batches: &[(&StreamName, &[NewPoint])],
        now_ms: i64,
    ) -> Result<Vec<(EventId, stream::Staged)>, (usize, PublishError)> {
        // `at[i]`: where batch `i`'s stream's lock is.
        let mut order: Vec<usize> = (0..streams.len()).collect();
        order.sort_by(|&a, &b| streams[a].name().cmp(streams[b].name()));
        let mut at = vec![0; streams.len()];
        for (k, &i) in order.iter().enumerate() {
            at[i] = k;
        }
        let mut locked: Vec<_> = order.iter().map(|&i| streams[i].sequencer()).collect();
        let mut checked = Vec::with_capacity(streams.len());
        for (i, stream) in streams.iter().enumerate() {
            checked.push(
                stream
                    .check_locked(&locked[at[i]], batches[i].1, now_ms)
                    .map_err(|e| (i, e))?,
            );
        }
        let mut staged = Vec::with_capacity(streams.len());
        for (i, (prepared, new_series)) in checked.into_iter().enumerate() {
            let id = streams[i].id(prepared.seq);
            // Fails only once the committer has stopped (the server is stopping).
            let s = streams[i]
                .stage(&mut locked[at[i]], prepared, new_series)
                .map_err(|e| (i, e))?;
            staged.push((id, s));
        }
        Ok(staged)
    }

    /// A new stream has no series yet: the batch alone must fit its series limit.
    fn fits_new_stream(&self, batch: &[NewPoint]) -> Result<(), PublishError> {
        let distinct: BTreeSet<SeriesName> = batch
            .iter()
            .map(|p| p.series.clone().unwrap_or_else(SeriesName::default_series))
            .collect();
        check_series_limit(0, &distinct, self.limits.max_series)
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
