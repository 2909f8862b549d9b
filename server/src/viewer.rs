//! One viewer's HTTP response body: `retry:` once, then what the viewer has to send (snapshot
//! or replay, then live frames; bursts coalesced into one write), a keep-alive comment when
//! idle, and a clean end with a reconnect hint when the server shuts down or the connection
//! has lived its maximum lifetime. Either way the browser reconnects with `Last-Event-ID` and
//! resumes where it was.

use crate::hub::{MuxViewer, Next, Viewer};
use crate::sse;
use axum::body::Body;
use bytes::Bytes;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

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

/// Per connection, the timers and the shutdown signal are created once and kept armed: at
/// 10,000 viewers, re-registering them for every event took about 5 % of the server's time
/// (timer wheel, and the lock of the token all viewers shared).
struct State<F> {
    viewer: F,
    opts: BodyOptions,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    phase: Phase,
    /// When something was last written; the keep-alive fires `keep_alive` after it.
    last_sent: Instant,
    /// Armed for the earliest moment a keep-alive may be due; re-armed when it fires early.
    keep_alive: Pin<Box<Sleep>>,
    end: Option<Pin<Box<Sleep>>>,
    /// The second write of a [`Next::FramesThen`].
    queued: Option<Bytes>,
}

enum Wake {
    Shutdown,
    Feed(Next),
    KeepAlive,
    End,
}

/// The streaming body for one connection. It owns the feed: when the client goes away, hyper
/// drops the body, and with it the subscription.
pub fn body<F: Feed>(viewer: F, opts: BodyOptions, shutdown: CancellationToken) -> Body {
    let now = Instant::now();
    // Up to 10 % earlier, so that viewers who connected together do not all reconnect together.
    let end = opts
        .lifetime
        .map(|l| Box::pin(sleep_until(now + l.mul_f64(1.0 - fastrand::f64() * 0.1))));
    let state = State {
        keep_alive: Box::pin(sleep_until(now + opts.keep_alive)),
        viewer,
        opts,
        // A token of its own: polling the shared one takes its lock, which 10,000 viewers
        // woken together fought over.
        shutdown: Box::pin(shutdown.child_token().cancelled_owned()),
        phase: Phase::Start,
        last_sent: now,
        end,
        queued: None,
    };
    Body::from_stream(futures_util::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        st.last_sent = Instant::now();
        Some((Ok::<Bytes, Infallible>(chunk), st))
    }))
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
        let wake = tokio::select! {
            biased;
            _ = st.shutdown.as_mut() => Wake::Shutdown,
            next = st.viewer.next() => Wake::Feed(next),
            _ = st.keep_alive.as_mut() => Wake::KeepAlive,
            _ = async {
                match st.end.as_mut() {
                    Some(end) => end.as_mut().await,
                    None => std::future::pending().await,
                }
            } => Wake::End,
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
                    st.keep_alive.as_mut().reset(now + st.opts.keep_alive);
                    return Some(Bytes::from_static(sse::KEEP_ALIVE));
                }
                // Something was written since it was armed: wait the rest of the idle time.
                st.keep_alive.as_mut().reset(due);
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
