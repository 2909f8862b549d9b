//! What the committer has done, for `/metrics` and `/healthz`, and whether history writes
//! fail. A disk that is nearly full lets small commits through and refuses big ones, so
//! writes alternate between working and failing: the state says "failing" from the first
//! failure until writes have worked for [`QUIET`] without one, and the log says so once each
//! way (with a reminder a minute while it lasts), never once per commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long writes must work, without a failure, before they count as working again.
pub const QUIET: Duration = Duration::from_secs(5);
/// How often the log reminds that writes still fail.
const REMIND: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct CommitStats {
    /// Transactions committed (groups, and checkpoints).
    pub commits: AtomicU64,
    /// Transactions that failed (nothing of them applied).
    pub failures: AtomicU64,
    /// Events made durable.
    pub events: AtomicU64,
    failing: Mutex<Option<Failing>>,
}

/// A spell of failing writes.
#[derive(Debug)]
struct Failing {
    /// What the last failure said.
    why: String,
    since: Instant,
    last_failure: Instant,
    /// The last time the log said so.
    logged: Instant,
    /// Failures in this spell.
    count: u64,
    /// A write has worked since the last failure.
    worked: bool,
}

impl CommitStats {
    /// Why history writes fail now, if they do (until they have worked for [`QUIET`]).
    pub fn failing(&self) -> Option<String> {
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing
            .as_ref()
            .filter(|f| !(f.worked && f.last_failure.elapsed() >= QUIET))
            .map(|f| f.why.clone())
    }

    /// A write failed (`what`: the kind of write, for the log).
    pub(super) fn failed(&self, what: &str, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        match failing.as_mut() {
            None => {
                tracing::error!(
                    "{what} failed ({why}): publishes are refused while history writes fail"
                );
                *failing = Some(Failing {
                    why: why.to_owned(),
                    since: now,
                    last_failure: now,
                    logged: now,
                    count: 1,
                    worked: false,
                });
            }
            Some(f) => {
                f.why = why.to_owned();
                f.last_failure = now;
                f.count += 1;
                f.worked = false;
                if now.duration_since(f.logged) >= REMIND {
                    f.logged = now;
                    tracing::error!(
                        failures = f.count,
                        "history writes still fail, for {} s: {why}",
                        now.duration_since(f.since).as_secs()
                    );
                }
            }
        }
    }

    /// A write worked.
    pub(super) fn worked(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = failing.as_mut() {
            f.worked = true;
            if f.last_failure.elapsed() >= QUIET {
                tracing::info!(
                    failures = f.count,
                    "history writes work again, after {} s",
                    f.since.elapsed().as_secs()
                );
                *failing = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_lasts_until_writes_have_worked_for_a_while() {
        let stats = CommitStats::default();
        assert_eq!(stats.failing(), None);
        stats.failed("a history write", "disk full");
        stats.worked();
        assert_eq!(
            stats.failing().as_deref(),
            Some("disk full"),
            "one success is not enough"
        );
        stats.failed("a history write", "still full");
        assert_eq!(stats.failing().as_deref(), Some("still full"));
        assert_eq!(stats.failures.load(Ordering::Relaxed), 2);
        // Writes that worked after the last failure, longer ago than QUIET.
        stats.failing.lock().unwrap().as_mut().unwrap().last_failure -= QUIET;
        assert_eq!(
            stats.failing().as_deref(),
            Some("still full"),
            "none worked since"
        );
        stats.worked();
        assert_eq!(stats.failing(), None);
        assert!(stats.failing.lock().unwrap().is_none(), "the spell is over");
    }
}
