//! The publishing side: takes what the intake holds, publishes it to the hub, then
//! acknowledges it to the broker, in the order it came.
//!
//! A backlog (a device flushing its buffer, a broker's queue after a restart) is taken in
//! batches: every message waiting, up to [`MAX_BATCH`], and their points go to the hub in one
//! publish per stream, so a backlog drains at the rate of group commits, not at one commit per
//! message. Each stream's points keep the order of their messages. A batch the hub refuses
//! (a limit, a series it cannot resolve) is published again message by message, so that only
//! the message at fault is refused.

use super::intake::Waiting;
use super::{mapping, shown, MqttStatus, Publishing, MAX_BACKOFF};
use crate::config::MqttSettings;
use crate::hub::{Hub, PublishError};
use app::model::{NewPoint, StreamName};
use rumqttc::{AsyncClient, Publish, QoS};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The most messages taken at once.
const MAX_BATCH: usize = 1024;
/// Acknowledgements held while the connection's queue is full: at most one per packet id.
const MAX_UNSENT_ACKS: usize = 65_535;

/// Publishes the messages to the hub, then acknowledges them to the broker. Messages the hub
/// cannot take now (storage or Redis away) are retried until it can, holding the rest back.
pub(super) async fn take(
    client: AsyncClient,
    hub: Arc<Hub>,
    settings: Arc<MqttSettings>,
    limits: Publishing,
    status: Arc<MqttStatus>,
    shutdown: CancellationToken,
) {
    let mut acks = Acks::default();
    loop {
        acks.send(&client);
        // While acknowledgements wait, come back for them soon.
        let wait = if acks.unsent.is_empty() { 1000 } else { 20 };
        let next = tokio::select! {
            next = status.intake.take(Duration::from_millis(wait)) => next,
            () = shutdown.cancelled() => {
                acks.send(&client);
                return;
            }
        };
        let Some(first) = next else {
            continue;
        };
        let mut batch = vec![first];
        batch.extend(status.intake.take_now(MAX_BATCH - 1));
        let turn = Turn {
            hub: &hub,
            settings: &settings,
            limits,
            status: &status,
            shutdown: &shutdown,
        };
        let done = turn.publish(&batch).await;
        let all = done == batch.len();
        for waiting in batch.into_iter().take(done) {
            if waiting.message.qos != QoS::AtMostOnce {
                acks.push(&client, waiting.message);
            }
        }
        if !all {
            // Shutting down: the rest is not acknowledged, so the broker sends it again.
            acks.send(&client);
            return;
        }
    }
}

/// What one batch is published with.
struct Turn<'a> {
    hub: &'a Hub,
    settings: &'a MqttSettings,
    limits: Publishing,
    status: &'a MqttStatus,
    shutdown: &'a CancellationToken,
}

/// Messages of one stream, in order, published as one.
struct Group<'a> {
    stream: &'a StreamName,
    /// Indexes into the batch.
    messages: Vec<usize>,
    points: usize,
}

/// How publishing some points ended.
enum Published {
    Yes,
    /// Refused for good (a limit, an unresolvable series): publishing it again would not help.
    Refused(PublishError),
    /// Shutdown came first.
    Stopped,
}

impl Turn<'_> {
    /// Publishes a batch; returns how many of its messages, from the first, are done with
    /// (published, or counted as unreadable or refused): all of them unless shutdown came first.
    async fn publish(&self, batch: &[Waiting]) -> usize {
        let now = app::model::now_ms();
        let parsed: Vec<Option<(StreamName, Vec<NewPoint>)>> =
            batch.iter().map(|w| self.parse(w, now)).collect();
        let mut groups: Vec<Group<'_>> = Vec::new();
        let mut open: HashMap<&StreamName, usize> = HashMap::new();
        for (i, (stream, points)) in parsed
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
        {
            match open.get(stream) {
                Some(&g) if groups[g].points + points.len() <= self.limits.max_points => {
                    groups[g].messages.push(i);
                    groups[g].points += points.len();
                }
                _ => {
                    open.insert(stream, groups.len());
                    groups.push(Group {
                        stream,
                        messages: vec![i],
                        points: points.len(),
                    });
                }
            }
        }
        let mut done: Vec<bool> = parsed.iter().map(Option::is_none).collect();
        let finished = |done: &[bool]| done.iter().take_while(|d| **d).count();
        for group in &groups {
            let points = |i: usize| parsed[i].as_ref().map_or(&[][..], |p| &p.1[..]);
            let first = &batch[group.messages[0]].message;
            let result = if let [only] = group.messages[..] {
                self.publish_points(first, group.stream, points(only), now)
                    .await
            } else {
                let all: Vec<NewPoint> = group
                    .messages
                    .iter()
                    .flat_map(|&i| points(i).iter().cloned())
                    .collect();
                self.publish_points(first, group.stream, &all, now).await
            };
            match result {
                Published::Yes => self.count(group.messages.len(), group.points),
                Published::Stopped => return finished(&done),
                Published::Refused(e) if group.messages.len() == 1 => {
                    self.refused(first, group.stream, &e);
                }
                // One of them is at fault: each on its own.
                Published::Refused(_) => {
                    for &i in &group.messages {
                        let message = &batch[i].message;
                        match self
                            .publish_points(message, group.stream, points(i), now)
                            .await
                        {
                            Published::Yes => self.count(1, points(i).len()),
                            Published::Refused(e) => self.refused(message, group.stream, &e),
                            Published::Stopped => return finished(&done),
                        }
                        done[i] = true;
                    }
                }
            }
            for &i in &group.messages {
                done[i] = true;
            }
        }
        batch.len()
    }

    /// A message's stream and points, or `None` when it is skipped (retained, oversize,
    /// unreadable: counted, and logged when it is a problem, here).
    fn parse(&self, waiting: &Waiting, now: i64) -> Option<(StreamName, Vec<NewPoint>)> {
        let topic = &waiting.message.topic;
        if waiting.message.retain {
            // The broker's copy of an earlier message, sent again because the server
            // subscribed (on every connection): charted when it was published, if the server
            // was subscribed then, and never again.
            self.status.retained.inc();
            tracing::debug!(topic = %shown(topic), "MQTT retained message not charted again");
            return None;
        }
        let reason = if let Some(size) = waiting.oversize {
            format!(
                "a message of {size} bytes, over ingest.max-body-bytes ({})",
                self.limits.max_message_bytes
            )
        } else {
            match mapping::points(
                &self.settings.subscribe,
                topic,
                &waiting.message.payload,
                now,
                self.limits.max_points,
            ) {
                Ok(parsed) => return Some(parsed),
                Err(reason) => reason,
            }
        };
        self.status.unreadable.inc();
        tracing::warn!(topic = %shown(topic), "MQTT message skipped: {reason}");
        self.status
            .set_error(format!("topic {}: {reason}", shown(topic)));
        None
    }

    /// Publishes points, retrying while the hub cannot take them now. `message`: the first
    /// message they came in, for the log.
    async fn publish_points(
        &self,
        message: &Publish,
        stream: &StreamName,
        points: &[NewPoint],
        now: i64,
    ) -> Published {
        let mut delay = Duration::from_millis(100);
        loop {
            match self
                .hub
                .publish(stream, points, self.limits.auto_create, now)
                .await
            {
                Ok(_) => return Published::Yes,
                // (Points whose outcome is unknown are published again: at least once.)
                Err(
                    e @ (PublishError::Storage(_)
                    | PublishError::Broker(_)
                    | PublishError::OutcomeUnknown(_)),
                ) => {
                    tracing::warn!(topic = %shown(&message.topic), "MQTT messages wait: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.shutdown.cancelled() => return Published::Stopped,
                    }
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Published::Refused(e),
            }
        }
    }

    fn count(&self, messages: usize, points: usize) {
        self.status.published.inc_by(messages as u64);
        self.status.points.inc_by(points as u64);
    }

    fn refused(&self, message: &Publish, stream: &StreamName, e: &PublishError) {
        let topic = shown(&message.topic);
        self.status.refused.inc();
        tracing::warn!(%topic, %stream, "MQTT message refused: {e}");
        self.status.set_error(format!("topic {topic}: {e}"));
    }
}

/// Acknowledgements, in the order the messages came. Handing one to the connection never
/// waits: one that finds its queue full waits here, and the ones after it behind it (the
/// broker expects them in order), until the connection has taken them.
#[derive(Default)]
struct Acks {
    unsent: VecDeque<Publish>,
}

impl Acks {
    fn push(&mut self, client: &AsyncClient, mut message: Publish) {
        message.payload = bytes::Bytes::new();
        self.unsent.push_back(message);
        if self.unsent.len() > MAX_UNSENT_ACKS {
            // More than packet ids exist: the oldest belong to a connection long gone.
            self.unsent.pop_front();
        }
        self.send(client);
    }

    fn send(&mut self, client: &AsyncClient) {
        while let Some(message) = self.unsent.front() {
            if client.try_ack(message).is_err() {
                return;
            }
            self.unsent.pop_front();
        }
    }
}
