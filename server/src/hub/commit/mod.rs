//! Group commit: one thread takes every change queued since its last commit, makes them
//! durable in one transaction, and only then applies them to the streams (ring, window,
//! viewers woken) and answers the publishers. So an event a viewer sees, or a publisher is
//! told about, survives a crash; and many publishes share one fsync.
//!
//! A failed commit applies nothing: its publishers get `storage_unavailable`, and each stream
//! involved forgets the sequence numbers it handed out but never committed (jobs still queued
//! for it are refused too, since their numbers follow the lost ones).

mod stats;

pub use stats::CommitStats;

use super::store::{Change, Store, StoreError};
use super::stream::{Applied, Prepared, Stream};
use app::model::{Point, StreamMeta, StreamName};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The most jobs one commit takes; the rest wait for the next.
const MAX_GROUP: usize = 4096;

/// What a publisher or the registry hands to the committer.
pub(super) enum Job {
    Event {
        stream: Arc<Stream>,
        /// The stream's generation when the sequence number was handed out.
        generation: u64,
        prepared: Prepared,
        /// Answered once applied; the publisher then wakes the viewers.
        reply: oneshot::Sender<Result<Applied, StoreError>>,
    },
    Describe {
        stream: Arc<Stream>,
        meta: StreamMeta,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Queued under the registry's lock as the stream is closed, so after every event the
    /// removed stream was given and before any of a new stream of that name; its history goes
    /// once this commits (retried first with every later commit until one succeeds).
    Remove(StreamName),
    /// Commit what is queued, close the store and end.
    Close(oneshot::Sender<()>),
}

/// The way into the committer, cloned into every stream.
#[derive(Clone)]
pub(super) struct CommitQueue(mpsc::Sender<Job>);

impl CommitQueue {
    /// Queues a job; an error when the committer has ended (the server is stopping).
    pub(super) fn send(&self, job: Job) -> Result<(), StoreError> {
        self.0.send(job).map_err(|_| shutting_down())
    }
}

/// Waits for a job's answer; an error if the committer ended first (the server is stopping).
pub(super) async fn answer<T>(
    rx: oneshot::Receiver<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    rx.await.unwrap_or_else(|_| Err(shutting_down()))
}

fn shutting_down() -> StoreError {
    StoreError::Failed("the server is shutting down".into())
}

/// A recovered stream that continues in a new epoch ([`Change::Rebase`]): written before
/// anything else, retried with every commit until one works.
pub(super) struct Rebase {
    pub stream: StreamName,
    pub epoch: u64,
    pub seq: u64,
    pub window: Vec<Point>,
}

/// The committer thread and the queue to it.
pub(super) struct Committer {
    queue: CommitQueue,
    pub(super) stats: Arc<CommitStats>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Committer {
    /// Starts the thread. `checkpoints`: each recovered stream's checkpoint sequence number;
    /// `unwritable`: why the store could not write at all when it opened.
    pub(super) fn start(
        store: Box<dyn Store>,
        ring_events: usize,
        checkpoints: HashMap<StreamName, u64>,
        rebases: Vec<Rebase>,
        unwritable: Option<String>,
    ) -> std::io::Result<Committer> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(CommitStats::default());
        if let Some(why) = unwritable {
            stats.failed("writing the history file at start", &why);
        }
        let mut state = Thread {
            stats: stats.clone(),
            store,
            ring_events: ring_events as u64,
            checkpoints,
            removals: Vec::new(),
            rebases,
        };
        let thread = std::thread::Builder::new()
            .name("history-commit".into())
            .spawn(move || state.run(rx))?;
        Ok(Committer {
            queue: CommitQueue(tx),
            stats,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(super) fn queue(&self) -> CommitQueue {
        self.queue.clone()
    }

    /// Commits everything queued, closes the store and waits for the thread (blocking).
    pub(super) fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Job::Close(tx)).is_ok() {
            let _ = rx.blocking_recv();
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

struct Thread {
    store: Box<dyn Store>,
    stats: Arc<CommitStats>,
    ring_events: u64,
    /// Per stream, the sequence number of its last checkpoint (0: none).
    checkpoints: HashMap<StreamName, u64>,
    /// Streams removed whose removal is not durable yet.
    removals: Vec<StreamName>,
    /// Recovered streams whose new epoch is not durable yet.
    rebases: Vec<Rebase>,
}

impl Thread {
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        if !self.rebases.is_empty() {
            let changes = pending_changes(&self.rebases, &self.removals);
            let result = self.store.commit(&changes);
            drop(changes);
            self.record("a history write", &result);
            if result.is_ok() {
                self.rebases.clear();
            }
        }
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if let Some(done) = self.group(jobs) {
                self.store.close();
                let _ = done.send(());
                return;
            }
        }
        // Every queue is gone: the hub was dropped without closing.
        self.store.close();
    }

    /// Commits and applies one group; returns the closer's reply when asked to close.
    fn group(&mut self, jobs: Vec<Job>) -> Option<oneshot::Sender<()>> {
        let mut close = None;
        let mut live = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Close(done) => close = Some(done),
                Job::Event {
                    stream,
                    generation,
                    reply,
                    ..
                } if generation != stream.generation() => {
                    let _ = reply.send(Err(StoreError::Failed(
                        "an earlier write of this stream failed; publish again".into(),
                    )));
                }
                // Removed meanwhile: written now, it would bring back the removed stream's
                // row (and its epoch) after its removal. The describer tries its successor.
                Job::Describe { stream, reply, .. } if stream.is_closed() => {
                    let _ = reply.send(Ok(()));
                }
                Job::Remove(name) => {
                    self.checkpoints.remove(&name);
                    live.push(Job::Remove(name));
                }
                job => live.push(job),
            }
        }
        // Removals an earlier commit failed to make durable come first (everything queued
        // since came after them), then every job in the order it was queued: a removal
        // between two events of one name deletes the first stream's events and leaves the
        // second's, never the other way round.
        let mut changes = pending_changes(&self.rebases, &self.removals);
        for job in &live {
            changes.push(match job {
                Job::Event {
                    stream, prepared, ..
                } => {
                    // Kept while the ring, the window (until a checkpoint covers it) or
                    // the retained points need it.
                    let checkpoint = self.checkpoints.get(stream.name()).copied().unwrap_or(0);
                    let ring = prepared.seq.saturating_sub(self.ring_events);
                    let retained = stream.retained_from().saturating_sub(1);
                    Change::Event {
                        stream: stream.name(),
                        epoch: stream.epoch(),
                        seq: prepared.seq,
                        points: &prepared.points,
                        keep_after: checkpoint.min(ring).min(retained),
                    }
                }
                Job::Describe { stream, meta, .. } => Change::Describe {
                    stream: stream.name(),
                    epoch: stream.epoch(),
                    meta,
                },
                Job::Remove(stream) => Change::Remove { stream },
                Job::Close(_) => continue,
            });
        }
        let result = self.store.commit(&changes);
        drop(changes);
        self.record("a history write", &result);
        match result {
            Ok(()) => {
                self.removals.clear();
                self.rebases.clear();
                let mut touched = Vec::new();
                for job in live {
                    match job {
                        Job::Event {
                            stream,
                            prepared,
                            reply,
                            ..
                        } => {
                            self.stats.events.fetch_add(1, Ordering::Relaxed);
                            let applied = stream.apply(prepared);
                            // A publisher gone meanwhile cannot wake the viewers: do it here.
                            if let Err(Ok(applied)) = reply.send(Ok(applied)) {
                                stream.announce(applied);
                            }
                            touched.push(stream);
                        }
                        Job::Describe {
                            stream,
                            meta,
                            reply,
                        } => {
                            stream.set_meta(meta);
                            let _ = reply.send(Ok(()));
                        }
                        Job::Remove(_) | Job::Close(_) => {}
                    }
                }
                self.checkpoint(touched);
            }
            Err(e) => {
                for job in live {
                    match job {
                        Job::Event { stream, reply, .. } => {
                            stream.rollback();
                            let _ = reply.send(Err(e.clone()));
                        }
                        Job::Describe { reply, .. } => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        // Retried first with every later commit until one succeeds.
                        Job::Remove(name) => self.removals.push(name),
                        Job::Close(_) => {}
                    }
                }
            }
        }
        close
    }

    fn record(&self, what: &str, result: &Result<(), StoreError>) {
        match result {
            Ok(()) => self.stats.worked(),
            Err(e) => self.stats.failed(what, &e.to_string()),
        }
    }

    /// Writes a checkpoint of each stream that has gone a ring's length since its last one,
    /// so that the events before it can leave the file.
    fn checkpoint(&mut self, mut streams: Vec<Arc<Stream>>) {
        streams.sort_by(|a, b| a.name().cmp(b.name()));
        streams.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for stream in streams {
            let since = self.checkpoints.get(stream.name()).copied().unwrap_or(0);
            // Only the committer applies events, so nothing moves between these two reads.
            if stream.last_seq() < since + self.ring_events || stream.is_closed() {
                continue;
            }
            let (seq, window): (u64, Vec<Point>) = stream.window_points();
            let change = Change::Checkpoint {
                stream: stream.name(),
                seq,
                window: &window,
            };
            let result = self.store.commit(&[change]);
            self.record("a checkpoint of the history", &result);
            // Not lost when it fails: the events stay until a later checkpoint succeeds.
            if result.is_ok() {
                self.checkpoints.insert(stream.name().clone(), seq);
            }
        }
    }
}

/// What an earlier commit failed to make durable, to come first in the next.
fn pending_changes<'a>(rebases: &'a [Rebase], removals: &'a [StreamName]) -> Vec<Change<'a>> {
    let rebases = rebases.iter().map(|r| Change::Rebase {
        stream: &r.stream,
        epoch: r.epoch,
        seq: r.seq,
        window: &r.window,
    });
    let removals = removals.iter().map(|stream| Change::Remove { stream });
    rebases.chain(removals).collect()
}
