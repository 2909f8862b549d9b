//! Simulated long-running tasks and their progress streams: the registry (the HTTP handlers,
//! `POST /api/tasks` and `GET /api/tasks/{id}/events`, are in `api::tasks`).
//!
//! A task's progress is state, not history: a viewer gets the current state on connecting and
//! every change after it (a slow viewer may skip intermediate steps, never the last one). A
//! task is forgotten once it has finished and its last viewer has left, or `linger-ms` after
//! finishing when nobody watched it by then.

use crate::config::TaskSettings;
use crate::hub::{Admission, Next};
use crate::sse;
use crate::viewer::Feed;
use app::model::{event_name, TaskCreated, TaskId, TaskProgress, TaskSpec, TaskStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest label accepted.
pub const MAX_LABEL_LEN: usize = 64;

/// Every task this server knows.
pub struct Tasks {
    settings: TaskSettings,
    shutdown: CancellationToken,
    inner: Mutex<Inner>,
}

struct Inner {
    tasks: HashMap<TaskId, Arc<Task>>,
    /// Task starts left in the bucket (refilled at `per-minute`, up to `burst`).
    tokens: f64,
    refilled: Instant,
    started: u64,
}

impl Inner {
    /// Tasks that have not reached a final state.
    fn running(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| !t.progress.borrow().status.is_final())
            .count()
    }
}

struct Task {
    progress: watch::Sender<TaskProgress>,
    viewers: AtomicUsize,
}

/// Why a task was not started.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error("{running} tasks are running, the most allowed at once; wait for one to finish")]
    TooMany { running: usize, retry_after_s: u64 },
    #[error("tasks are being started faster than {per_minute} per minute (bursts of {burst}); try again in {retry_after_s} s")]
    RateLimited {
        per_minute: u32,
        burst: u32,
        retry_after_s: u64,
    },
}

impl Tasks {
    pub fn new(settings: TaskSettings, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Tasks {
            inner: Mutex::new(Inner {
                tasks: HashMap::new(),
                tokens: f64::from(settings.burst),
                refilled: Instant::now(),
                started: 0,
            }),
            settings,
            shutdown,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tasks held now (running, or finished and still watched) and tasks started so far.
    pub fn counts(&self) -> (usize, usize, u64) {
        let inner = self.lock();
        let running = inner.running();
        (inner.tasks.len(), running, inner.started)
    }

    /// Checks the spec against the limits, then starts the task.
    pub fn start(self: &Arc<Self>, spec: TaskSpec) -> Result<TaskCreated, StartError> {
        let s = &self.settings;
        let duration_ms = spec.duration_ms.unwrap_or(s.duration_ms);
        let steps = spec.steps.unwrap_or(s.steps);
        if !(100..=s.max_duration_ms).contains(&duration_ms) {
            return Err(StartError::Invalid(format!(
                "\"duration_ms\" is {duration_ms}: must be 100 to {}",
                s.max_duration_ms
            )));
        }
        if !(1..=s.max_steps).contains(&steps) {
            return Err(StartError::Invalid(format!(
                "\"steps\" is {steps}: must be 1 to {}",
                s.max_steps
            )));
        }
        if let Some(label) = &spec.label {
            let len = label.chars().count();
            if len == 0 || len > MAX_LABEL_LEN || label.chars().any(char::is_control) {
                return Err(StartError::Invalid(format!(
                    "\"label\" must be 1 to {MAX_LABEL_LEN} characters without control characters"
                )));
            }
        }

        let mut inner = self.lock();
        let running = inner.running();
        if running >= s.max_running {
            return Err(StartError::TooMany {
                running,
                retry_after_s: 1,
            });
        }
        let now = Instant::now();
        let per_ms = f64::from(s.per_minute) / 60_000.0;
        let elapsed = now.duration_since(inner.refilled).as_secs_f64() * 1000.0;
        inner.tokens = (inner.tokens + elapsed * per_ms).min(f64::from(s.burst));
        inner.refilled = now;
        if inner.tokens < 1.0 {
            let wait_ms = (1.0 - inner.tokens) / per_ms;
            return Err(StartError::RateLimited {
                per_minute: s.per_minute,
                burst: s.burst,
                retry_after_s: (wait_ms / 1000.0).ceil().max(1.0) as u64,
            });
        }
        inner.tokens -= 1.0;

        let mut id = TaskId(fastrand::u64(..));
        while inner.tasks.contains_key(&id) {
            id = TaskId(fastrand::u64(..));
        }
        inner.started += 1;
        let label = spec
            .label
            .unwrap_or_else(|| format!("Task {}", inner.started));
        let first = TaskProgress {
            id,
            label,
            step: 0,
            steps,
            percent: 0.0,
            status: TaskStatus::Running,
            message: "Starting".to_owned(),
        };
        let task = Arc::new(Task {
            progress: watch::Sender::new(first),
            viewers: AtomicUsize::new(0),
        });
        inner.tasks.insert(id, task.clone());
        drop(inner);
        tracing::info!(task = %id, duration_ms, steps, "task started");
        tokio::spawn(run(
            Arc::downgrade(self),
            id,
            task,
            Duration::from_millis(duration_ms),
            steps,
            self.shutdown.clone(),
        ));
        Ok(TaskCreated {
            id,
            events: app::paths::task_events(id),
        })
    }

    /// A viewer of the task's progress, if the task is still known.
    pub fn watch(self: &Arc<Self>, id: TaskId, admission: Admission) -> Option<TaskViewer> {
        let task = self.lock().tasks.get(&id)?.clone();
        task.viewers.fetch_add(1, Ordering::Relaxed);
        let mut rx = task.progress.subscribe();
        rx.mark_changed();
        Some(TaskViewer {
            tasks: Arc::downgrade(self),
            id,
            task,
            rx,
            done: false,
            _admission: admission,
        })
    }

    /// Forgets a finished task nobody watches.
    fn reap(&self, id: TaskId) {
        let mut inner = self.lock();
        let idle = inner.tasks.get(&id).is_some_and(|t| {
            t.progress.borrow().status.is_final() && t.viewers.load(Ordering::Relaxed) == 0
        });
        if idle {
            inner.tasks.remove(&id);
            tracing::debug!(task = %id, "task forgotten");
        }
    }
}

/// Runs the simulated work: `steps` even steps over `duration`.
async fn run(
    tasks: Weak<Tasks>,
    id: TaskId,
    task: Arc<Task>,
    duration: Duration,
    steps: u32,
    shutdown: CancellationToken,
) {
    let start = Instant::now();
    for step in 1..=steps {
        let at = start + duration.mul_f64(f64::from(step) / f64::from(steps));
        tokio::select! {
            _ = shutdown.cancelled() => {
                task.progress.send_modify(|p| {
                    p.status = TaskStatus::Cancelled;
                    p.message = "Cancelled: the server is shutting down".to_owned();
                });
                return;
            }
            _ = tokio::time::sleep_until(at) => {}
        }
        task.progress.send_modify(|p| {
            p.step = step;
            p.percent = f64::from(step) * 100.0 / f64::from(steps);
            if step == steps {
                p.status = TaskStatus::Done;
                p.message = format!("Done in {:.1} s", start.elapsed().as_secs_f64());
            } else {
                p.message = format!("Step {step} of {steps}");
            }
        });
    }
    tracing::info!(task = %id, "task done");
    drop(task);
    // Nobody may ever come to look: forget it after a while if so.
    let Some(linger) = tasks.upgrade().map(|t| t.settings.linger_ms) else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(linger)).await;
    if let Some(tasks) = tasks.upgrade() {
        tasks.reap(id);
    }
}

/// One connection following a task's progress; it ends after the final state.
pub struct TaskViewer {
    tasks: Weak<Tasks>,
    id: TaskId,
    task: Arc<Task>,
    rx: watch::Receiver<TaskProgress>,
    done: bool,
    _admission: Admission,
}

impl TaskViewer {
    async fn next(&mut self) -> Next {
        if self.done {
            return Next::Closed;
        }
        if self.rx.changed().await.is_err() {
            return Next::Closed;
        }
        let progress = self.rx.borrow_and_update().clone();
        self.done = progress.status.is_final();
        let data = serde_json::to_string(&progress)
            .unwrap_or_else(|_| unreachable!("a task's progress always encodes as JSON"));
        // The step as id: a reconnecting client says how far it got (the server sends the
        // current state either way).
        let step = progress.step.to_string();
        Next::Frames(sse::encode_event_with_id(
            &step,
            event_name::PROGRESS,
            &data,
        ))
    }
}

impl Feed for TaskViewer {
    fn next(&mut self) -> impl std::future::Future<Output = Next> + Send {
        TaskViewer::next(self)
    }
}

impl Drop for TaskViewer {
    fn drop(&mut self) {
        self.task.viewers.fetch_sub(1, Ordering::Relaxed);
        if let Some(tasks) = self.tasks.upgrade() {
            tasks.reap(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TaskSettings {
        TaskSettings {
            burst: 3,
            per_minute: 6,
            max_running: 2,
            ..TaskSettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limits_refuse_with_the_reason() {
        let tasks = Tasks::new(settings(), CancellationToken::new());
        let spec = |d: u64| TaskSpec {
            duration_ms: Some(d),
            ..TaskSpec::default()
        };
        assert!(matches!(
            tasks.start(spec(50)),
            Err(StartError::Invalid(m)) if m.contains("duration_ms")
        ));
        let bad_steps = TaskSpec {
            steps: Some(0),
            ..TaskSpec::default()
        };
        assert!(matches!(
            tasks.start(bad_steps),
            Err(StartError::Invalid(_))
        ));
        tasks.start(spec(1000)).unwrap();
        tasks.start(spec(1000)).unwrap();
        assert!(matches!(
            tasks.start(spec(1000)),
            Err(StartError::TooMany { running: 2, .. })
        ));
        // Both finish; the third start uses the last token of the burst, the fourth waits.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        tasks.start(spec(100)).unwrap();
        let err = tasks.start(spec(100)).unwrap_err();
        assert!(matches!(err, StartError::RateLimited { .. }), "{err}");
        assert!(err.to_string().contains("6 per minute"), "{err}");
        assert!(
            matches!(
                err,
                StartError::RateLimited {
                    retry_after_s: 9,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
