//! Event streams written straight to the socket: the router's response, chunk by chunk, each
//! in one system call when the socket takes it, and never waiting on a client for longer than
//! the connection's deadlines allow.
//!
//! The body is delimited by the end of the connection, for HTTP/1.1 as for 1.0 (RFC 9112,
//! 6.3): the connection closes after an event stream anyway, so chunked framing would only add
//! a size line and a CRLF to every event, and two buffers to every write (5–9 % of the
//! server's time at 5,000 viewers × 10 events/s, BENCHMARKS.md (j)). nchan does the same.

use super::{Deadlines, Gone};
use crate::viewer::{ChunkStream, Chunks};
use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use std::io::{self, IoSlice, Write as _};
use std::time::SystemTime;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How a response body is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    /// The body ends when the connection does.
    Close,
}

/// What the response's body is written from.
enum Source {
    /// An event stream's own chunks ([`Chunks`]).
    Chunks(ChunkStream),
    /// Any other body, through the router's layers.
    Body(Body),
}

/// What the source gives next.
enum Item {
    Data(Bytes),
    /// A frame with nothing to write (trailers, an empty chunk).
    Skip,
    End,
    Failed,
}

impl Source {
    async fn next(&mut self) -> Item {
        match self {
            Source::Chunks(chunks) => match chunks.next().await {
                Some(data) if data.is_empty() => Item::Skip,
                Some(data) => Item::Data(data),
                None => Item::End,
            },
            Source::Body(body) => match body.frame().await {
                None => Item::End,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => Item::Data(data),
                    _ => Item::Skip,
                },
                Some(Err(e)) => {
                    tracing::debug!("an event stream's body failed: {e}");
                    Item::Failed
                }
            },
        }
    }
}

/// What bounds a write: no progress for `stall` ends it, and so do the end of the
/// connection's life and the server's shutdown, even while the socket is full.
struct WriteBounds<'a> {
    stall: std::time::Duration,
    end: Option<Instant>,
    shutdown: &'a CancellationToken,
}

/// Answers one event-stream request through the router and writes the response, then closes
/// the connection. Stops as soon as the client is gone (a read sees the end or an error), or
/// stops taking what is written.
pub(super) async fn serve_event_stream(
    stream: TcpStream,
    request: Request<Body>,
    router: Router,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) -> Result<(), Gone> {
    // Boxed: the router's future is large and needed only until the response head; inline,
    // every viewer's connection would keep room for it for its whole life.
    let Ok(response) = Box::pin(router.oneshot(request)).await;
    let (mut parts, body) = response.into_parts();
    // An event stream's chunks are taken straight from the response, unless a layer changed
    // how its body is encoded.
    let chunks = parts
        .extensions
        .remove::<Chunks>()
        .filter(|_| !parts.headers.contains_key(http::header::CONTENT_ENCODING))
        .and_then(|c| c.take());
    let (mut source, framing) = match chunks {
        Some(chunks) => {
            // Not kept for the stream's life: it holds nothing to send.
            drop(body);
            (Source::Chunks(chunks), Framing::Close)
        }
        None => {
            let framing = if http_body::Body::is_end_stream(&body) {
                Framing::Length(0)
            } else if let Some(n) = http_body::Body::size_hint(&body).exact() {
                Framing::Length(n)
            } else {
                Framing::Close
            };
            (Source::Body(body), framing)
        }
    };
    let bounds = WriteBounds {
        stall: deadlines.write,
        // The body ends itself a little before (viewer.rs); this is for a blocked write.
        end: deadlines.lifetime.map(|l| Instant::now() + l),
        shutdown: &shutdown,
    };
    {
        let head = response_head(&parts, framing);
        write_all(&stream, &mut [IoSlice::new(&head)], &bounds).await?;
    }
    drop(parts);
    let mut probe = [0u8; 16];
    loop {
        let next = tokio::select! {
            next = source.next() => next,
            // Registers the task's waker in the socket's one reader slot (a readable()
            // future would be linked into its waiter list and out again for every event).
            ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx)) => {
                // Anything the client sends now is ignored; the end of its side ends ours.
                match ready.and_then(|()| stream.try_read(&mut probe)) {
                    Ok(0) => return Err(Gone::Closed),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Err(Gone::Closed),
                }
            }
        };
        let data = match next {
            Item::Data(data) => data,
            Item::Skip => continue,
            Item::End => break,
            Item::Failed => return Err(Gone::Closed),
        };
        write_all(&stream, &mut [IoSlice::new(&data)], &bounds).await?;
    }
    Ok(())
}

/// The status line and headers; the connection closes after this response.
fn response_head(parts: &http::response::Parts, framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    let status = parts.status;
    let reason = status.canonical_reason().unwrap_or("");
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", status.as_str());
    for (name, value) in &parts.headers {
        if [
            http::header::CONTENT_LENGTH,
            http::header::TRANSFER_ENCODING,
            http::header::CONNECTION,
        ]
        .contains(name)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(
        out,
        "date: {}\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    );
    match framing {
        Framing::Length(n) => {
            let _ = write!(out, "content-length: {n}\r\n");
        }
        Framing::Close => {}
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

/// Writes every slice. The socket is tried first without a timer (the common case: it takes
/// everything at once); only a full socket arms one, so an idle or keeping-up viewer costs no
/// timer per write.
async fn write_all(
    stream: &TcpStream,
    mut bufs: &mut [IoSlice<'_>],
    bounds: &WriteBounds<'_>,
) -> Result<(), Gone> {
    // When the socket filled up with nothing written since; progress resets it.
    let mut blocked_since: Option<Instant> = None;
    while !bufs.is_empty() {
        let written = match bufs {
            [one] => stream.try_write(one),
            _ => stream.try_write_vectored(bufs),
        };
        match written {
            Ok(0) => return Err(Gone::Closed),
            Ok(n) => {
                IoSlice::advance_slices(&mut bufs, n);
                blocked_since = None;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(Gone::Closed),
        }
        // Full: wait for room, but not for ever.
        let stalled = *blocked_since.get_or_insert_with(Instant::now) + bounds.stall;
        let (deadline, why) = match bounds.end {
            Some(end) if end < stalled => (end, Gone::Lifetime),
            _ => (stalled, Gone::WriteTimeout),
        };
        // Boxed: the timer and the shutdown wait are only allocated while a socket is full,
        // instead of reserving room in every viewer's connection for its whole life.
        Box::pin(wait_for_room(stream, deadline, why, bounds.shutdown)).await?;
    }
    Ok(())
}

/// Waits until the socket takes more, until `deadline` (then `why`), or until shutdown.
async fn wait_for_room(
    stream: &TcpStream,
    deadline: Instant,
    why: Gone,
    shutdown: &CancellationToken,
) -> Result<(), Gone> {
    tokio::select! {
        ready = stream.writable() => ready.map_err(|_| Gone::Closed),
        () = sleep_until(deadline) => Err(why),
        () = shutdown.cancelled() => Err(Gone::Shutdown),
    }
}
