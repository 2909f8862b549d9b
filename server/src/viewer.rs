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
use std::time::Duration;
use tokio::time::Instant;
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

struct State<F> {
    viewer: F,
    opts: BodyOptions,
    shutdown: CancellationToken,
    phase: Phase,
    idle_until: Instant,
    end_at: Option<Instant>,
}

/// The streaming body for one connection. It owns the feed: when the client goes away, hyper
/// drops the body, and with it the subscription.
pub fn body<F: Feed>(viewer: F, opts: BodyOptions, shutdown: CancellationToken) -> Body {
    let now = Instant::now();
    let idle_until = now + opts.keep_alive;
    // Up to 10 % earlier, so that viewers who connected together do not all reconnect together.
    let end_at = opts
        .lifetime
        .map(|l| now + l.mul_f64(1.0 - fastrand::f64() * 0.1));
    let state = State {
        viewer,
        opts,
        shutdown,
        phase: Phase::Start,
        idle_until,
        end_at,
    };
    Body::from_stream(futures_util::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        st.idle_until = Instant::now() + st.opts.keep_alive;
        Some((Ok::<Bytes, Infallible>(chunk), st))
    }))
}

async fn next_chunk<F: Feed>(st: &mut State<F>) -> Option<Bytes> {
    match st.phase {
        Phase::Start => {
            st.phase = Phase::Live;
            Some(sse::encode_retry(st.opts.retry_ms))
        }
        Phase::Done => None,
        Phase::Live => {
            tokio::select! {
                biased;
                _ = st.shutdown.cancelled() => {
                    st.phase = Phase::Done;
                    let hint = format!(": server shutting down, reconnect\nretry: {}\n\n", st.opts.retry_ms);
                    Some(Bytes::from(hint))
                }
                next = st.viewer.next() => match next {
                    Next::Frames(bytes) => Some(bytes),
                    Next::Closed => None,
                },
                _ = tokio::time::sleep_until(st.idle_until) => Some(Bytes::from_static(sse::KEEP_ALIVE)),
                _ = sleep_until_opt(st.end_at) => {
                    st.phase = Phase::Done;
                    Some(Bytes::from_static(b": connection lifetime reached, reconnect\n\n"))
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
