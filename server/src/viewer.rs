//! One viewer's HTTP response body: `retry:` once, then what the viewer has to send (snapshot
//! or replay, then live frames; bursts coalesced into one write), a keep-alive comment when
//! idle, and a clean end with a reconnect hint when the server shuts down or the connection
//! has lived its maximum lifetime. Either way the browser reconnects with `Last-Event-ID` and
//! resumes where it was.

use crate::hub::{AwaitedViewer, MuxViewer, Next, Viewer};
use crate::sse;
use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// What a connection sends from: one stream, several, or a task.
pub trait Feed: Send + 'static {
    /// Waits for the next chunk to write.
    fn next(&mut self) -> impl std::future::Future<Output = Next> + Send;
}

impl Feed for Viewer {
    fn next(&mut self) -> impl std::future::Future<Output = Next> + Send {
        Viewer::next(self)
    }
}

impl Feed for AwaitedViewer {
    fn next(&mut self) -> impl std::future::Future<Output = Next> + Send {
        AwaitedViewer::next(self)
    }
}

impl Feed for MuxViewer {
    fn next(&mut self) -> impl std::future::Future<Output = Next> + Send {
        MuxViewer::next(self)
    }
}

pub struct BodyOptions {
    pub retry_ms: u64,
    pub keep_alive: Duration,
    /// When the connection is closed for the client to reconnect (`None`: never).
    pub lifetime: Option<Duration>,
}

enum Phase {
    Start,
    Live,
    Done,
}

/// The server's shutdown as the event streams see it. Every viewer looks at it each time it
/// wakes, so it is a flag (one cache line that all of them only read) instead of the
/// cancellation token, whose check takes a lock in memory of its own (4 % of the server's time
/// at 5,000 viewers × 10 events/s); its `Notify` wakes each viewer once, when it is set.
#[derive(Clone)]
pub struct ShutdownNotice(Arc<Notice>);

struct Notice {
    set: AtomicBool,
    notify: Arc<Notify>,
}

impl ShutdownNotice {
    /// A notice given once `token` is cancelled (a task of the current runtime waits for it).
    pub fn follow(token: CancellationToken) -> Self {
        let notice = ShutdownNotice(Arc::new(Notice {
            set: AtomicBool::new(false),
            notify: Arc::new(Notify::new()),
        }));
        let given = notice.clone();
        tokio::spawn(async move {
            token.cancelled().await;
            // Set before the wake-up: a woken viewer sees it.
            given.0.set.store(true, Ordering::Release);
            given.0.notify.notify_waiters();
        });
        notice
    }

    fn is_set(&self) -> bool {
        self.0.set.load(Ordering::Acquire)
    }
}

struct State<F> {
    viewer: F,
    opts: BodyOptions,
    phase: Phase,
    /// When something was last written; the keep-alive fires `keep_alive` after it.
    last_sent: Instant,
    alarms: Alarms,
    /// The second write of a [`Next::FramesThen`].
    queued: Option<Bytes>,
}

/// What wakes a connection besides its feed: the shutdown notice, the keep-alive and the end
/// of its lifetime. They are created once per connection and stay registered with its waker:
/// at 10,000 viewers, registering them again for every event took about 5 % of the server's
/// time, and polling each touches memory of its own. So they are polled only when the waker
/// is not the one they hold, or when their moment has passed; an event's wake-up costs a
/// flag and a clock read besides the feed.
struct Alarms {
    notice: ShutdownNotice,
    /// Created with the body, so that a notice given before its first poll is not missed.
    noticed: Pin<Box<OwnedNotified>>,
    /// Armed for the earliest moment a keep-alive may be due; re-armed when it fires early.
    keep_alive: Pin<Box<Sleep>>,
    keep_alive_at: Instant,
    end: Option<(Pin<Box<Sleep>>, Instant)>,
    /// The waker all of them hold (`None`: one needs polling to hold one).
    registered: Option<Waker>,
}

impl Alarms {
    /// Polled after the notice's flag and the feed, which are looked at every time.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let fresh = !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if fresh && self.noticed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Shutdown);
        }
        let now = Instant::now();
        if (fresh || self.keep_alive_at <= now) && self.keep_alive.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::KeepAlive);
        }
        if let Some((end, at)) = &mut self.end {
            if (fresh || *at <= now) && end.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::End);
            }
        }
        if fresh {
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn rearm_keep_alive(&mut self, at: Instant) {
        self.keep_alive.as_mut().reset(at);
        self.keep_alive_at = at;
        // Polled again before the next wait: a reset timer holds a waker only if it was
        // polled since it fired, which is how it is used here, but not promised.
        self.registered = None;
    }
}

enum Wake {
    Shutdown,
    Feed(Next),
    KeepAlive,
    End,
}

/// An event stream's chunks, as they are produced, one write each.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// The chunks of an event-stream response, in its extensions, for a writer that takes them
/// before the body is polled (`conn/direct.rs`): through the router's layers every chunk went
/// through a box and two error-mapping wrappers, 3–4 % of the server's time at 5,000 viewers.
/// Whoever comes first takes them: that writer, or else the body on its first poll.
#[derive(Clone)]
pub struct Chunks(Arc<Mutex<Option<ChunkStream>>>);

impl Chunks {
    /// The chunks, unless the body (or another writer) has them already.
    pub fn take(&self) -> Option<ChunkStream> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The body of an event-stream response: the [`Chunks`], taken on its first poll.
struct TakenOnFirstPoll {
    chunks: Chunks,
    taken: Option<ChunkStream>,
}

impl Stream for TakenOnFirstPoll {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.taken.is_none() {
            self.taken = self.chunks.take();
        }
        match self.taken.as_mut() {
            Some(chunks) => chunks.as_mut().poll_next(cx).map(|c| c.map(Ok)),
            // Another writer took them: it sends them.
            None => Poll::Ready(None),
        }
    }
}

/// The streaming body for one connection, and its chunks for a writer that takes them
/// directly. Whoever has the chunks owns the feed: when the client goes away, the body (or
/// that writer's connection) is dropped, and with it the subscription.
pub fn body<F: Feed>(viewer: F, opts: BodyOptions, notice: &ShutdownNotice) -> (Body, Chunks) {
    let now = Instant::now();
    // Up to 10 % earlier, so that viewers who connected together do not all reconnect together.
    let end = opts.lifetime.map(|l| {
        let at = now + l.mul_f64(1.0 - fastrand::f64() * 0.1);
        (Box::pin(sleep_until(at)), at)
    });
    let keep_alive_at = now + opts.keep_alive;
    let alarms = Alarms {
        notice: notice.clone(),
        noticed: Box::pin(notice.0.notify.clone().notified_owned()),
        keep_alive: Box::pin(sleep_until(keep_alive_at)),
        keep_alive_at,
        end,
        registered: None,
    };
    let state = State {
        viewer,
        opts,
        phase: Phase::Start,
        last_sent: now,
        alarms,
        queued: None,
    };
    let stream: ChunkStream = Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        st.last_sent = Instant::now();
        Some((chunk, st))
    }));
    let chunks = Chunks(Arc::new(Mutex::new(Some(stream))));
    let body = Body::from_stream(TakenOnFirstPoll {
        chunks: chunks.clone(),
        taken: None,
    });
    (body, chunks)
}

async fn next_chunk<F: Feed>(st: &mut State<F>) -> Option<Bytes> {
    if let Some(bytes) = st.queued.take() {
        return Some(bytes);
    }
    match st.phase {
        Phase::Start => {
            st.phase = Phase::Live;
            return Some(sse::encode_retry(st.opts.retry_ms));
        }
        Phase::Done => return None,
        Phase::Live => {}
    }
    loop {
        let wake = {
            let mut next = pin!(st.viewer.next());
            let alarms = &mut st.alarms;
            std::future::poll_fn(|cx| {
                if alarms.notice.is_set() {
                    return Poll::Ready(Wake::Shutdown);
                }
                if let Poll::Ready(next) = next.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Feed(next));
                }
                alarms.poll(cx)
            })
            .await
        };
        match wake {
            Wake::Shutdown => {
                st.phase = Phase::Done;
                let hint = format!(
                    ": server shutting down, reconnect\nretry: {}\n\n",
                    st.opts.retry_ms
                );
                return Some(Bytes::from(hint));
            }
            Wake::Feed(Next::Frames(bytes)) => return Some(bytes),
            Wake::Feed(Next::FramesThen(first, then)) => {
                st.queued = Some(then);
                return Some(first);
            }
            Wake::Feed(Next::Closed) => return None,
            Wake::KeepAlive => {
                let now = Instant::now();
                let due = st.last_sent + st.opts.keep_alive;
                if due <= now {
                    st.alarms.rearm_keep_alive(now + st.opts.keep_alive);
                    return Some(Bytes::from_static(sse::KEEP_ALIVE));
                }
                // Something was written since it was armed: wait the rest of the idle time.
                st.alarms.rearm_keep_alive(due);
            }
            Wake::End => {
                st.phase = Phase::Done;
                return Some(Bytes::from_static(
                    b": connection lifetime reached, reconnect\n\n",
                ));
            }
        }
    }
}
