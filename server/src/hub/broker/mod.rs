//! Scale-out: several servers share one set of streams through Redis Streams.
//!
//! Redis numbers every event (one Lua script per publish, `scripts.rs`), so two nodes
//! publishing to one stream produce one gapless sequence. Nothing is applied where it is
//! published: each node's follower (`follow.rs`) reads every stream from Redis in order and
//! applies what it reads to the node's in-memory streams, its own publishes included, so
//! every node has one order and viewers are served exactly as on a single server (the ring,
//! the cursors, the coalesced writes). A publisher is answered once Redis has the event and
//! this node has applied it (or after a short wait, if the follower is behind).
//!
//! The epoch lives in Redis too. It changes only when Redis lost a stream's history: a wipe
//! (the instance mark is gone) or a rollback (a node has seen a sequence number Redis no
//! longer has). Viewers then get a `reset`, never a silent gap or a reused id.

mod follow;
mod replies;
mod scripts;
mod seen;

pub(super) use follow::spawn as spawn_follower;

use super::stream::{resolve, Resolved, Stream};
use super::{Limits, PublishError};
use crate::hub::store::codec;
use app::model::{EventId, NewPoint, SeriesName, StreamMeta, StreamName, DEFAULT_SERIES};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use replies::Reply;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Redis could not be reached or answered with an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Redis at {url} is unavailable: {message}")]
pub struct BrokerError {
    pub url: String,
    pub message: String,
}

/// What happened between this node and Redis, for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Times the follower (re)connected and read everything again.
    pub resyncs: AtomicU64,
    /// Streams that started a new epoch because Redis had lost their history.
    pub lost: AtomicU64,
}

/// This node's link to Redis.
pub struct Broker {
    client: redis::Client,
    url: String,
    prefix: String,
    /// This node's mark for a Redis data set it finds empty (see `scripts.rs`).
    instance: String,
    manager: tokio::sync::Mutex<Link>,
    limits: Limits,
    pinned: Mutex<BTreeSet<StreamName>>,
    /// The follower is connected and has read everything.
    up: tokio::sync::watch::Sender<bool>,
    pub stats: BrokerStats,
    /// The furthest position of each stream this node saw, kept in its data directory.
    seen: seen::Seen,
}

/// The shared connection, or why there is none.
enum Link {
    None,
    Up(ConnectionManager),
    /// The last attempt failed at this moment, with this error: until `RETRY_AFTER` has
    /// passed, commands fail at once instead of queueing behind another attempt.
    Failed(Instant, String),
}

/// How long after a failed connection attempt commands fail without another one.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Whether a command failed before Redis could have received it: the connection was refused
/// or already closed when it was written. Anything else (a timeout, a connection lost while
/// waiting for the answer) leaves the outcome open.
fn not_sent(e: &redis::RedisError) -> bool {
    use std::error::Error;
    // (redis keeps the I/O error behind an `Arc`.)
    type Shared = std::sync::Arc<dyn Error + Send + Sync>;
    let io = e.source().and_then(|s| {
        s.downcast_ref::<std::io::Error>().or_else(|| {
            s.downcast_ref::<Shared>()
                .and_then(|a| (**a).downcast_ref::<std::io::Error>())
        })
    });
    io.is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotConnected
                | std::io::ErrorKind::NotFound
        )
    })
}

/// How long a node keeps asking what became of a publish call that went unanswered.
const SETTLE_FOR: Duration = Duration::from_secs(10);

/// How a removal through Redis ended.
#[derive(Debug, PartialEq)]
pub(super) enum Removal {
    Removed,
    Unknown,
    Pinned,
    /// Published to or watched since the cutoff (expiry only).
    Active,
}

/// How long a publisher waits for its event to be applied here before it is answered
/// anyway (Redis has it; the follower is behind).
pub(super) const APPLY_WAIT: Duration = Duration::from_secs(2);

impl Broker {
    /// A broker for the Redis at `url` (checked when the configuration was validated); it
    /// connects when first used, and again whenever the connection is lost.
    /// `seen_dir`: where this node keeps the positions it saw (its data directory).
    pub fn new(
        url: &str,
        shown_url: String,
        prefix: &str,
        limits: Limits,
        seen_dir: Option<&std::path::Path>,
    ) -> Result<Self, BrokerError> {
        let client = redis::Client::open(url).map_err(|e| BrokerError {
            url: shown_url.clone(),
            message: e.to_string(),
        })?;
        Ok(Broker {
            client,
            url: shown_url,
            prefix: prefix.to_owned(),
            instance: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            manager: tokio::sync::Mutex::new(Link::None),
            limits,
            pinned: Mutex::new(BTreeSet::new()),
            up: tokio::sync::watch::Sender::new(false),
            stats: BrokerStats::default(),
            seen: seen::Seen::open(seen_dir),
        })
    }

    /// Whether this node follows Redis now (connected, and caught up once).
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    fn set_up(&self, up: bool) {
        self.up.send_if_modified(|u| std::mem::replace(u, up) != up);
    }

    /// Waits until the follower has read everything once, or `limit` passed: a node starts
    /// serving with its streams in place (otherwise an early viewer would start from an
    /// empty copy and get a `reset` a moment later).
    pub async fn wait_up(&self, limit: Duration) -> bool {
        let mut rx = self.up.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The Redis URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A command failed: unless Redis itself answered with an error, the shared connection
    /// is dropped, and the next command connects again.
    async fn failed(&self, e: redis::RedisError) -> BrokerError {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            *self.manager.lock().await = Link::None;
        }
        self.error(e)
    }

    fn error(&self, e: impl std::fmt::Display) -> BrokerError {
        BrokerError {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    fn key(&self, kind: &str, name: &StreamName) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    pub(super) fn add_pinned(&self, name: &StreamName) {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone());
    }

    fn pinned(&self) -> Vec<StreamName> {
        let pinned = self.pinned.lock().unwrap_or_else(PoisonError::into_inner);
        pinned.iter().cloned().collect()
    }

    fn is_pinned(&self, name: &StreamName) -> bool {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(name)
    }

    /// The shared connection for publishes and the like. Commands time out, a broken
    /// connection is replaced by the next command, and after a failed attempt commands fail
    /// at once for a second: publishers never queue up behind a Redis that is down.
    async fn manager(&self) -> Result<ConnectionManager, BrokerError> {
        let mut slot = self.manager.lock().await;
        match &*slot {
            Link::Up(m) => return Ok(m.clone()),
            // (Unless the follower has reached Redis since: then it is worth trying.)
            Link::Failed(at, e) if at.elapsed() < RETRY_AFTER && !self.is_up() => {
                return Err(self.error(e))
            }
            _ => {}
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        match self.client.get_connection_manager_with_config(config).await {
            Ok(m) => {
                *slot = Link::Up(m.clone());
                Ok(m)
            }
            Err(e) => {
                *slot = Link::Failed(Instant::now(), e.to_string());
                Err(self.error(e))
            }
        }
    }

    /// Appends a batch to a stream in Redis (creating it when `create` allows) and returns
    /// its id. `local`: this node's copy of the stream, whose series resolve unnamed points
    /// and whose position tells Redis what this node has seen. Redis checks the limits and
    /// the series again, atomically; when its series differ from the copy's, the batch is
    /// resolved again against Redis' and retried.
    pub(super) async fn publish(
        &self,
        name: &StreamName,
        local: Option<&Stream>,
        batch: &[NewPoint],
        create: bool,
        now_ms: i64,
    ) -> Result<EventId, PublishError> {
        let (mut known, seen) = match local {
            Some(s) => (s.series_set(), s.position()),
            None => (BTreeSet::new(), EventId { epoch: 0, seq: 0 }),
        };
        let mut conn = self.manager().await?;
        // Names this call in Redis: if its answer never comes, `settle` finds out what
        // became of it.
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        for _ in 0..3 {
            let Resolved {
                points, unnamed, ..
            } = resolve(&known, batch, now_ms, self.limits.max_series)?;
            let mut windows: BTreeMap<&SeriesName, Vec<u8>> = BTreeMap::new();
            for p in &points {
                let w = windows.entry(&p.series).or_default();
                w.extend_from_slice(&p.ts.to_le_bytes());
                w.extend_from_slice(&p.value.to_le_bytes());
            }
            let mut call = scripts::PUBLISH_SCRIPT.prepare_invoke();
            call.arg(&self.prefix)
                .arg(name.as_str())
                .arg(u8::from(create))
                .arg(self.limits.max_streams)
                .arg(self.limits.max_series)
                .arg(self.limits.window)
                .arg(self.limits.ring_events)
                .arg(seen.epoch)
                .arg(seen.seq)
                .arg(unnamed.as_ref().map_or("", SeriesName::as_str))
                .arg(DEFAULT_SERIES)
                .arg(&self.instance)
                .arg(now_ms)
                .arg(codec::encode(&points))
                .arg(windows.len());
            for (series, blob) in &windows {
                call.arg(series.as_str()).arg(blob.as_slice());
            }
            call.arg(&token);
            let reply: redis::Value = match call.invoke_async(&mut conn).await {
                Ok(r) => r,
                // Never written (the connection was gone): nothing was published.
                Err(e) if not_sent(&e) => return Err(self.failed(e).await.into()),
                // Sent, perhaps run, perhaps still waiting in Redis: find out before answering.
                Err(e) => {
                    let e = self.failed(e).await;
                    return self.settle(&token, e).await;
                }
            };
            match Reply::parse(&reply).map_err(|e| self.error(e))? {
                Reply::Position(id) => return Ok(id),
                Reply::Word(w, _) if w == "unknown_stream" => {
                    return Err(PublishError::UnknownStream(name.clone()))
                }
                Reply::Word(w, _) if w == "too_many_streams" => {
                    return Err(PublishError::TooManyStreams(self.limits.max_streams))
                }
                // Redis' series differ from this node's copy: resolving against them
                // again gives the error (too many series, ambiguous) or a retry that fits.
                Reply::Word(w, series) if w == "too_many_series" || w == "series" => {
                    known = series;
                }
                Reply::Word(w, _) => {
                    return Err(self.error(format!("unexpected answer {w:?}")).into())
                }
            }
        }
        Err(self
            .error("the stream's series changed three times during one publish")
            .into())
    }

    /// What became of a publish call whose answer never came (`first`: why), asked until
    /// Redis answers or [`SETTLE_FOR`] has passed: applied (its id), or not, and then never
    /// (the call is cancelled in the same step). Only when Redis stays silent that long is
    /// the outcome unknown, and the publisher is told so.
    async fn settle(&self, token: &str, first: BrokerError) -> Result<EventId, PublishError> {
        let deadline = Instant::now() + SETTLE_FOR;
        let mut last = first.clone();
        loop {
            if let Ok(mut conn) = self.manager().await {
                let mut call = scripts::OUTCOME_SCRIPT.prepare_invoke();
                call.arg(&self.prefix).arg(token);
                match call.invoke_async::<redis::Value>(&mut conn).await {
                    Ok(reply) => {
                        return match replies::outcome(&reply) {
                            Ok(replies::Outcome::Cancelled) => Err(first.into()),
                            Ok(replies::Outcome::Applied(id)) => Ok(id),
                            Ok(replies::Outcome::Unknown(what)) => {
                                Err(PublishError::OutcomeUnknown(format!(
                                    "{first}; then Redis said the call is {what:?}"
                                )))
                            }
                            Err(e) => Err(PublishError::OutcomeUnknown(format!(
                                "{first}; then Redis answered {e}"
                            ))),
                        };
                    }
                    Err(e) => last = self.failed(e).await,
                }
            }
            if Instant::now() >= deadline {
                return Err(PublishError::OutcomeUnknown(format!(
                    "{first}; Redis did not say within {} s whether it was applied ({last})",
                    SETTLE_FOR.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sets a stream's description in Redis (creating the stream when `create` allows);
    /// returns the stream's position then.
    pub(super) async fn describe(
        &self,
        name: &StreamName,
        meta: &StreamMeta,
        create: bool,
    ) -> Result<EventId, PublishError> {
        let json = serde_json::to_string(meta).map_err(|e| self.error(e))?;
        let mut conn = self.manager().await?;
        let reply: redis::RedisResult<redis::Value> = scripts::DESCRIBE_SCRIPT
            .arg(&self.prefix)
            .arg(name.as_str())
            .arg(u8::from(create))
            .arg(self.limits.max_streams)
            .arg(json)
            .arg(&self.instance)
            .invoke_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e).await.into()),
        };
        match Reply::parse(&reply).map_err(|e| self.error(e))? {
            Reply::Position(id) => Ok(id),
            Reply::Word(w, _) if w == "unknown_stream" => {
                Err(PublishError::UnknownStream(name.clone()))
            }
            Reply::Word(w, _) if w == "too_many_streams" => {
                Err(PublishError::TooManyStreams(self.limits.max_streams))
            }
            Reply::Word(w, _) => Err(self.error(format!("unexpected answer {w:?}")).into()),
        }
    }

    /// Removes a stream from Redis; with `cutoff_ms`, only if nobody published to or
    /// watched it since.
    pub(super) async fn remove(
        &self,
        name: &StreamName,
        cutoff_ms: Option<i64>,
    ) -> Result<Removal, BrokerError> {
        let mut conn = self.manager().await?;
        let word: redis::RedisResult<String> = scripts::REMOVE_SCRIPT
            .arg(&self.prefix)
            .arg(name.as_str())
            .arg(cutoff_ms.map(|c| c.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await;
        let word = match word {
            Ok(w) => w,
            Err(e) => return Err(self.failed(e).await),
        };
        match word.as_str() {
            "removed" => Ok(Removal::Removed),
            "unknown_stream" => Ok(Removal::Unknown),
            "pinned" => Ok(Removal::Pinned),
            "active" => Ok(Removal::Active),
            other => Err(self.error(format!("unexpected answer {other:?}"))),
        }
    }

    /// Notes in Redis that these streams have viewers on this node now (for expiry).
    pub(super) async fn watched(
        &self,
        names: &[StreamName],
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager().await?;
        let mut call = scripts::WATCHED_SCRIPT.prepare_invoke();
        call.arg(&self.prefix).arg(now_ms);
        for n in names {
            call.arg(n.as_str());
        }
        let done: redis::RedisResult<String> = call.invoke_async(&mut conn).await;
        match done {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e).await),
        }
    }
}

impl From<BrokerError> for PublishError {
    fn from(e: BrokerError) -> Self {
        PublishError::Broker(e.to_string())
    }
}

/// A stream's copy on this node waits until it has applied `id` (or is closed, or
/// `APPLY_WAIT` passed). Not while the follower is away: nothing would arrive.
pub(super) async fn wait_applied(stream: &Stream, id: EventId) {
    if stream.broker().is_some_and(|b| b.is_up()) {
        let _ = tokio::time::timeout(APPLY_WAIT, stream.reached(id)).await;
    }
}
