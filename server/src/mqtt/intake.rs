//! The messages read from the broker and waiting for the hub, between the task that drives the
//! connection and the task that publishes.
//!
//! Why not a bounded channel: the connection's task must never wait on the publishing one.
//! Acknowledgements go out only while the connection is driven (`EventLoop::poll`), so a
//! connection task stuck on a full channel while the publisher waited for room to acknowledge
//! stalled the intake for good (a burst of ~650 QoS 1 messages was enough). Here pushing never
//! waits; the connection task pauses reading only while the intake is over its bound, and the
//! publisher never waits on an acknowledgement (see `super::Acks`), so the two cannot wait on
//! each other.

use rumqttc::Publish;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The most messages waiting before the connection stops reading (and the broker holds the
/// rest), and the most payload bytes.
pub const MAX_WAITING: usize = 10_000;
pub const MAX_WAITING_BYTES: usize = 64 << 20;

/// One message read from the broker.
#[derive(Debug)]
pub struct Waiting {
    pub message: Publish,
    /// When it was read.
    pub since: Instant,
    /// Its payload's size when that is over the limit (the payload itself is not kept).
    pub oversize: Option<usize>,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Waiting>,
    bytes: usize,
}

#[derive(Debug, Default)]
pub struct Intake {
    queue: Mutex<Queue>,
    /// A message was pushed.
    pushed: Notify,
    /// A message was taken.
    taken: Notify,
}

impl Intake {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a message; never waits.
    pub fn push(&self, waiting: Waiting) {
        let mut q = self.queue();
        q.bytes += waiting.message.payload.len();
        q.items.push_back(waiting);
        drop(q);
        self.pushed.notify_one();
    }

    /// Whether the intake is over its bound: the connection reads nothing more until it is
    /// not.
    pub fn is_full(&self) -> bool {
        let q = self.queue();
        q.items.len() >= MAX_WAITING || q.bytes >= MAX_WAITING_BYTES
    }

    /// Waits until the intake is down to half its bound.
    pub async fn has_room(&self) {
        loop {
            let taken = self.taken.notified();
            {
                let q = self.queue();
                if q.items.len() <= MAX_WAITING / 2 && q.bytes <= MAX_WAITING_BYTES / 2 {
                    return;
                }
            }
            taken.await;
        }
    }

    /// The oldest message, once there is one, or `None` after `wait`.
    pub async fn take(&self, wait: Duration) -> Option<Waiting> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let pushed = self.pushed.notified();
            let next = {
                let mut q = self.queue();
                let next = q.items.pop_front();
                if let Some(w) = &next {
                    q.bytes -= w.message.payload.len();
                }
                next
            };
            if let Some(w) = next {
                self.taken.notify_one();
                return Some(w);
            }
            if tokio::time::timeout_at(deadline, pushed).await.is_err() {
                return None;
            }
        }
    }

    /// Up to `max` more messages, oldest first, those already waiting: never waits.
    pub fn take_now(&self, max: usize) -> Vec<Waiting> {
        let mut q = self.queue();
        let n = max.min(q.items.len());
        let taken: Vec<Waiting> = q.items.drain(..n).collect();
        q.bytes -= taken.iter().map(|w| w.message.payload.len()).sum::<usize>();
        drop(q);
        if !taken.is_empty() {
            self.taken.notify_one();
        }
        taken
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue().items.len()
    }

    /// How long the oldest message has waited.
    pub fn oldest(&self) -> Option<Duration> {
        self.queue().items.front().map(|w| w.since.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::QoS;

    fn message(n: usize) -> Waiting {
        Waiting {
            message: Publish::new("t", QoS::AtLeastOnce, vec![b'x'; n]),
            since: Instant::now(),
            oversize: None,
        }
    }

    #[tokio::test]
    async fn takes_in_order_and_counts_what_waits() {
        let intake = Intake::default();
        assert!(intake.take(Duration::from_millis(5)).await.is_none());
        intake.push(message(1));
        intake.push(message(2));
        assert_eq!(intake.len(), 2);
        assert!(intake.oldest().is_some());
        let first = intake.take(Duration::ZERO).await.expect("a message");
        assert_eq!(first.message.payload.len(), 1);
        assert_eq!(intake.len(), 1);
        assert!(!intake.is_full());
        intake.push(message(3));
        intake.push(message(4));
        let sizes: Vec<usize> = intake
            .take_now(2)
            .iter()
            .map(|w| w.message.payload.len())
            .collect();
        assert_eq!(sizes, [2, 3]);
        assert_eq!(intake.len(), 1);
        assert_eq!(intake.take_now(5).len(), 1);
        assert!(intake.take_now(5).is_empty());
    }

    #[tokio::test]
    async fn full_at_its_bound_and_room_again_at_half() {
        let intake = std::sync::Arc::new(Intake::default());
        for _ in 0..MAX_WAITING {
            intake.push(message(0));
        }
        assert!(intake.is_full());
        let waiter = tokio::spawn({
            let intake = intake.clone();
            async move { intake.has_room().await }
        });
        for _ in 0..MAX_WAITING / 2 {
            intake.take(Duration::ZERO).await.expect("a message");
        }
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("room once down to half")
            .expect("the waiter");
        // Bytes count too.
        let intake = Intake::default();
        intake.push(message(MAX_WAITING_BYTES));
        assert!(intake.is_full());
    }
}
