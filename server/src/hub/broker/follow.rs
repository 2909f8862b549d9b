//! The follower: one task per node that reads every stream from Redis, in order, and applies
//! it to the node's streams.
//!
//! It has a connection of its own, so its blocking `XREAD` never stalls a publish, and it
//! never abandons a read on a connection it keeps: a read that fails or times out ends the
//! session, and the connection is dropped with it (a dropped blocking read would leave its
//! reply pending on the connection, to be taken as the answer to the next command). Each
//! (re)connection starts by reading everything again, so nothing missed while Redis was
//! away is skipped: a stream whose events are still in Redis catches up, one whose events
//! were trimmed is rebuilt and its viewers get a `reset`.

use super::replies::{self, Entry};
use super::{scripts, Broker, BrokerError};
use crate::hub::stream::{Followed, Stream};
use crate::hub::Hub;
use app::model::StreamName;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long one `XREAD` blocks: also how soon a stopping server notices.
const BLOCK_MS: u64 = 1000;
/// Entries taken per stream per read.
const READ_COUNT: usize = 512;
/// How often the follower compares every stream's position with Redis' (a wipe, a
/// rollback, a removal whose catalog entry was trimmed).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Starts following Redis for `hub` until `shutdown`.
pub(in crate::hub) fn spawn(hub: Arc<Hub>, broker: Arc<Broker>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut failing = false;
        loop {
            // Cancelling drops the session's connection with any read in flight: nothing of
            // it is reused.
            let result = tokio::select! {
                r = session(&hub, &broker, &mut failing) => r,
                () = shutdown.cancelled() => return,
            };
            broker.set_up(false);
            if let Err(e) = result {
                if failing {
                    tracing::debug!("{e}");
                } else {
                    tracing::warn!(
                        "{e}; publishing fails until it is back, viewers stay connected"
                    );
                    failing = true;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
}

async fn session(hub: &Hub, broker: &Broker, failing: &mut bool) -> Result<(), BrokerError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_millis(BLOCK_MS + 5000)));
    let conn = broker
        .client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| broker.error(e))?;
    let mut f = Follower {
        hub,
        broker,
        conn,
        instance: String::new(),
        catalog_last: "0-0".to_owned(),
    };
    f.resync().await?;
    broker.stats.resyncs.fetch_add(1, Ordering::Relaxed);
    broker.set_up(true);
    if std::mem::take(failing) {
        tracing::info!(url = %broker.url, "following Redis again");
    } else {
        tracing::info!(url = %broker.url, "following Redis");
    }
    let mut checked = Instant::now();
    loop {
        f.read().await?;
        if checked.elapsed() >= CHECK_EVERY {
            f.check().await?;
            checked = Instant::now();
        }
    }
}

struct Follower<'a> {
    hub: &'a Hub,
    broker: &'a Broker,
    conn: MultiplexedConnection,
    /// The instance mark of the data set followed ('' before one was seen).
    instance: String,
    /// The last catalog entry read.
    catalog_last: String,
}

impl Follower<'_> {
    fn fail(&self, e: impl std::fmt::Display) -> BrokerError {
        self.broker.error(e)
    }

    /// Reads everything again: the catalog's position, the pinned streams made sure of, and
    /// every stream brought to what Redis holds (streams Redis no longer has go).
    async fn resync(&mut self) -> Result<(), BrokerError> {
        let p = &self.broker.prefix;
        let last: redis::Value = redis::cmd("XREVRANGE")
            .arg(format!("{p}:catalog"))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        let last = replies::entries(&last).map_err(|e| self.fail(e))?;
        self.catalog_last = last
            .first()
            .map_or_else(|| "0-0".to_owned(), |e| e.id.clone());
        for name in self.broker.pinned() {
            self.pin(&name).await?;
        }
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{p}:streams"))
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        let names: BTreeSet<StreamName> = names
            .iter()
            .filter_map(|n| StreamName::parse(n).ok())
            .collect();
        for stream in self.hub.streams() {
            if !names.contains(stream.name()) {
                self.broker.seen.forget(stream.name());
                self.hub.drop_local(stream.name());
            }
        }
        for name in &names {
            self.sync(name).await?;
        }
        let instance: Option<String> = redis::cmd("GET")
            .arg(format!("{p}:instance"))
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        self.instance = instance.unwrap_or_default();
        Ok(())
    }

    async fn pin(&mut self, name: &StreamName) -> Result<(), BrokerError> {
        let _: redis::Value = scripts::PIN_SCRIPT
            .arg(&self.broker.prefix)
            .arg(name.as_str())
            .arg(&self.broker.instance)
            .invoke_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Brings one stream to what Redis holds: created here if new, removed if gone (a
    /// pinned one is made again), caught up or rebuilt. A stream Redis holds less of than
    /// this node has seen in the same epoch was rolled back: it gets a new epoch first.
    async fn sync(&mut self, name: &StreamName) -> Result<(), BrokerError> {
        for _ in 0..3 {
            let reply: redis::Value = scripts::LOAD_SCRIPT
                .arg(&self.broker.prefix)
                .arg(name.as_str())
                .arg(self.broker.limits.ring_events)
                .invoke_async(&mut self.conn)
                .await
                .map_err(|e| self.fail(e))?;
            let loaded = match replies::loaded(&reply) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(stream = %name, "Redis holds something unreadable for this stream: {e}; it is left as it is here");
                    return Ok(());
                }
            };
            let Some(loaded) = loaded else {
                if self.broker.is_pinned(name) {
                    self.pin(name).await?;
                    continue;
                }
                self.broker.seen.forget(name);
                self.hub.drop_local(name);
                return Ok(());
            };
            let stream = self.hub.adopt(name, loaded.epoch);
            // What this node has of it, or what a run before it on this data directory saw:
            // after every node restarted, only the latter knows Redis went back in time.
            let here = stream.position();
            let seen = match self.broker.seen.of(name) {
                Some(kept) if kept.epoch == loaded.epoch && kept.seq > here.seq => kept,
                _ => here,
            };
            if loaded.epoch == seen.epoch && loaded.seq < seen.seq {
                tracing::warn!(
                    stream = %name,
                    redis = loaded.seq,
                    seen = %seen,
                    "Redis holds fewer events than this node has seen (restored or failed over?): the stream starts a new epoch"
                );
                let _: String = scripts::REBASE_SCRIPT
                    .arg(&self.broker.prefix)
                    .arg(name.as_str())
                    .arg(seen.epoch)
                    .arg(seen.seq)
                    .invoke_async(&mut self.conn)
                    .await
                    .map_err(|e| self.fail(e))?;
                continue;
            }
            if loaded.epoch != seen.epoch && seen.seq > 0 {
                self.broker.stats.lost.fetch_add(1, Ordering::Relaxed);
            }
            stream.sync(loaded);
            return Ok(());
        }
        Err(self.fail(format!("stream {name} kept changing while it was read")))
    }

    /// One blocking read of the catalog and every stream from where this node is, applied.
    async fn read(&mut self) -> Result<(), BrokerError> {
        let p = &self.broker.prefix;
        let streams = self.hub.streams();
        let mut by_key: HashMap<String, Arc<Stream>> = HashMap::with_capacity(streams.len());
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(format!("{p}:catalog"));
        for s in &streams {
            let key = self.broker.key("e", s.name());
            cmd.arg(&key);
            by_key.insert(key, s.clone());
        }
        cmd.arg(&self.catalog_last);
        for s in &streams {
            cmd.arg(format!("{}-0", s.position().seq));
        }
        let reply: redis::Value = cmd
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        let reply = replies::read_reply(&reply).map_err(|e| self.fail(e))?;
        let mut to_sync: BTreeSet<StreamName> = BTreeSet::new();
        for (key, entries) in reply {
            if key == format!("{p}:catalog") {
                for entry in &entries {
                    self.catalog_last.clone_from(&entry.id);
                    if let Some(name) = entry.stream().and_then(|n| StreamName::parse(&n).ok()) {
                        to_sync.insert(name);
                    }
                }
                continue;
            }
            let Some(stream) = by_key.get(&key) else {
                continue;
            };
            if !apply(stream, &entries) {
                to_sync.insert(stream.name().clone());
            }
        }
        for name in &to_sync {
            self.sync(name).await?;
        }
        Ok(())
    }

    /// Compares every stream's position with Redis': a new instance mark means Redis lost
    /// everything (read it all again); a stream missing, in another epoch or behind this
    /// node is brought in line.
    async fn check(&mut self) -> Result<(), BrokerError> {
        let streams = self.hub.streams();
        let mut call = scripts::POSITIONS_SCRIPT.prepare_invoke();
        call.arg(&self.broker.prefix);
        for s in &streams {
            call.arg(s.name().as_str());
        }
        let reply: Vec<String> = call
            .invoke_async(&mut self.conn)
            .await
            .map_err(|e| self.fail(e))?;
        let Some((instance, positions)) = reply.split_first() else {
            return Err(self.fail("an empty answer to the position check"));
        };
        if !self.instance.is_empty() && *instance != self.instance {
            tracing::warn!("Redis lost its data (wiped, or replaced by another data set): every stream is read again, and viewers start over");
            return self.resync().await;
        }
        self.instance.clone_from(instance);
        let mut to_sync = Vec::new();
        for (stream, pos) in streams.iter().zip(positions.chunks(2)) {
            let seen = stream.position();
            let in_line = match pos {
                [epoch, seq] => {
                    epoch.parse() == Ok(seen.epoch)
                        && seq.parse::<u64>().is_ok_and(|s| s >= seen.seq)
                }
                _ => false,
            };
            if !in_line {
                to_sync.push(stream.name().clone());
            }
        }
        for name in &to_sync {
            self.sync(name).await?;
        }
        // Kept on disk: what this node saw outlives it.
        self.broker.seen.note(
            self.hub
                .streams()
                .iter()
                .map(|s| (s.name().clone(), s.position())),
        );
        Ok(())
    }
}

/// Applies a stream's entries in order; false when they do not follow on from what the
/// stream has (or do not decode), so that it must be read again.
fn apply(stream: &Stream, entries: &[Entry]) -> bool {
    for entry in entries {
        let event = entry.seq().and_then(|seq| entry.event().map(|e| (seq, e)));
        match event {
            Ok((seq, (epoch, points))) => {
                if stream.follow(epoch, seq, points) == Followed::OutOfStep {
                    return false;
                }
            }
            Err(e) => {
                tracing::error!(stream = %stream.name(), "an unreadable event in Redis: {e}");
                return false;
            }
        }
    }
    true
}
