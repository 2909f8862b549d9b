//! One viewer's HTTP response body: `retry:` once, then every frame of the stream as it comes
//! (bursts coalesced into one write), a keep-alive comment when idle, and a clean end with a
//! reconnect hint when the server shuts down.

use crate::hub::{Next, Viewer};
use crate::sse;
use axum::body::Body;
use bytes::Bytes;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct BodyOptions {
    pub retry_ms: u64,
    pub keep_alive: Duration,
}

enum Phase {
    Start,
    Live,
    Done,
}

struct State {
    viewer: Viewer,
    opts: BodyOptions,
    shutdown: CancellationToken,
    phase: Phase,
    idle_until: Instant,
}

/// The streaming body for one connection. It owns the [`Viewer`]: when the client goes away,
/// hyper drops the body, and with it the subscription.
pub fn body(viewer: Viewer, opts: BodyOptions, shutdown: CancellationToken) -> Body {
    let idle_until = Instant::now() + opts.keep_alive;
    let state = State {
        viewer,
        opts,
        shutdown,
        phase: Phase::Start,
        idle_until,
    };
    Body::from_stream(futures_util::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        st.idle_until = Instant::now() + st.opts.keep_alive;
        Some((Ok::<Bytes, Infallible>(chunk), st))
    }))
}

async fn next_chunk(st: &mut State) -> Option<Bytes> {
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
            }
        }
    }
}
