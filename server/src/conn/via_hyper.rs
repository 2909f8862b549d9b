//! Connections served by hyper: lent for plain requests (and taken back when hyper is idle),
//! or left to it for good (bodies, HTTP/1.0 keep-alive, HTTP/2). Either way the connection
//! keeps its deadlines: hyper's head timeout, a write that makes no progress for the write
//! timeout fails, and a connection with no request in flight for the idle timeout is closed
//! gracefully, then dropped if it does not close within the head timeout.

use super::{Deadlines, Gone};
use axum::body::Body;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, sleep_until, Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The largest request head hyper reads (its HTTP/1 read buffer; the header list of an
/// HTTP/2 request): 64 KiB, where hyper's default is about 400 KiB. A longer head gets `431`
/// (HTTP/1: hyper closes the connection); nothing the API takes comes near it (32 stream names
/// and their positions are under 4 KiB).
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Lends the connection to hyper's HTTP/1 for plain requests, and takes it back once hyper
/// is idle after a response (with any bytes hyper read beyond it). `Ok(None)`: the connection
/// is done (closed, or shut down); a request with a body makes hyper keep the connection to
/// its end: what was left of an unread body could not be told apart from the next request.
pub(super) async fn lend(
    mut io: Prefixed,
    router: &Router,
    deadlines: Deadlines,
    shutdown: &CancellationToken,
) -> Result<Option<Prefixed>, Gone> {
    let counts = Arc::new(Counts::default());
    io.gate = Some(counts.clone());
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(deadlines.head)
        .serve_connection(TokioIo::new(io), counted(router, &counts));
    let taken_back = drive(&mut Http1(&mut conn), &counts, true, deadlines, shutdown).await?;
    if !taken_back {
        return Ok(None);
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    io.gate = None;
    if !parts.read_buf.is_empty() {
        let mut prefix = BytesMut::from(parts.read_buf);
        prefix.extend_from_slice(&io.prefix);
        io.prefix = prefix.freeze();
    }
    Ok(Some(io))
}

/// Any other connection: hyper serves it to its end (HTTP/1.1 keep-alive or HTTP/2).
pub(super) async fn own(
    io: Prefixed,
    router: Router,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) -> Result<(), Gone> {
    let counts = Arc::new(Counts::default());
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(deadlines.head);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(100)
        // A peer that stops answering pings is gone.
        .keep_alive_interval(deadlines.idle)
        .keep_alive_timeout(deadlines.head);
    let service = counted(&router, &counts);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    drive(
        &mut Auto(conn.as_mut()),
        &counts,
        false,
        deadlines,
        &shutdown,
    )
    .await
    .map(|_| ())
}

/// The two kinds of hyper connection, as [`drive`] needs them.
trait Served {
    fn poll_serve(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>>;
    fn close_gracefully(&mut self);
}

type Http1Conn = hyper::server::conn::http1::Connection<TokioIo<Prefixed>, CountedService>;
struct Http1<'a>(&'a mut Http1Conn);

impl Served for Http1<'_> {
    fn poll_serve(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.0
            .poll_without_shutdown(cx)
            .map(|r| r.map_err(|e| tracing::trace!("connection ended with an error: {e}")))
    }

    fn close_gracefully(&mut self) {
        Pin::new(&mut *self.0).graceful_shutdown();
    }
}

type AutoConn<'a> = hyper_util::server::conn::auto::UpgradeableConnection<
    'a,
    TokioIo<Prefixed>,
    CountedService,
    TokioExecutor,
>;
struct Auto<'a, 'b>(Pin<&'a mut AutoConn<'b>>);

impl Served for Auto<'_, '_> {
    fn poll_serve(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.0
            .as_mut()
            .poll(cx)
            .map(|r| r.map_err(|e| tracing::trace!("connection ended with an error: {e}")))
    }

    fn close_gracefully(&mut self) {
        self.0.as_mut().graceful_shutdown();
    }
}

/// Runs a hyper connection until it ends. With `take_back`, it is closed gracefully as soon
/// as every request so far is answered (hyper then hands the connection back: `Ok(true)`),
/// unless a request had a body. Otherwise an idle connection is closed after the idle
/// timeout, and dropped if it has not closed within the head timeout after that.
async fn drive(
    conn: &mut impl Served,
    counts: &Counts,
    take_back: bool,
    deadlines: Deadlines,
    shutdown: &CancellationToken,
) -> Result<bool, Gone> {
    let mut stop = std::pin::pin!(shutdown.cancelled());
    let (mut stopping, mut taking_back, mut closing) = (false, false, false);
    let mut idle_since: Option<Instant> = None;
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    // Armed while responses are in flight: when the next of them may be due.
    let mut watch: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| {
        counts.register(cx.waker());
        if !stopping && stop.as_mut().poll(cx).is_ready() {
            stopping = true;
            conn.close_gracefully();
        }
        loop {
            // Checked before hyper is polled: polled first, it would read a request that has
            // just arrived and serve it itself, event streams included.
            let answered = take_back && counts.in_flight_none() && counts.answered_some();
            if answered && !counts.kept() && !taking_back && !stopping {
                // Every response so far is complete: hyper closes at once if idle, else as
                // soon as the last one is written (its head already promised keep-alive).
                taking_back = true;
                conn.close_gracefully();
            }
            if let Poll::Ready(result) = conn.poll_serve(cx) {
                return Poll::Ready(match result {
                    Ok(()) if closing => Err(Gone::Idle),
                    Ok(()) if taking_back && !stopping => Ok(true),
                    Ok(()) => Ok(false),
                    Err(()) => Err(Gone::Closed),
                });
            }
            // A response hyper has not taken anything of for the write timeout (an HTTP/2
            // stream whose window stays shut never has its body polled, so the body's own
            // timers never run), or past its answer's deadline, ends the connection: dropping
            // it drops every body on it, and what they hold.
            if !counts.in_flight_none() {
                let now = Instant::now();
                match counts.due(deadlines.write) {
                    Some((due, gone)) if due <= now => return Poll::Ready(Err(gone)),
                    due => {
                        // Checked again by then, or within a write timeout (a response that
                        // starts waiting meanwhile is due no later than that).
                        let at = due
                            .map_or(now + deadlines.write, |(d, _)| d.min(now + deadlines.write));
                        let t = watch.get_or_insert_with(|| Box::pin(sleep_until(at)));
                        // An earlier check still to come stands (it looks again then).
                        if t.deadline() > at || t.deadline() <= now {
                            t.as_mut().reset(at);
                        }
                        if t.as_mut().poll(cx).is_ready() {
                            continue;
                        }
                    }
                }
            }
            if stopping || taking_back {
                // hyper is finishing what it has; the server's grace bounds shutdown.
                return Poll::Pending;
            }
            if closing {
                let expired = timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready());
                return if expired {
                    Poll::Ready(Err(Gone::Idle))
                } else {
                    Poll::Pending
                };
            }
            if !counts.in_flight_none() {
                idle_since = None;
                return Poll::Pending;
            }
            if take_back && counts.answered_some() && !counts.kept() {
                // The last response was finished during that poll: take the connection back.
                continue;
            }
            let now = Instant::now();
            let since = *idle_since.get_or_insert(now);
            let due = since + deadlines.idle;
            let t = timer.get_or_insert_with(|| Box::pin(sleep(deadlines.idle)));
            if t.deadline() != due {
                t.as_mut().reset(due);
            }
            if t.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            closing = true;
            t.as_mut().reset(now + deadlines.head);
            conn.close_gracefully();
        }
    })
    .await
}

/// Requests hyper has been given, and responses it has finished with, on one connection.
#[derive(Default)]
pub(super) struct Counts {
    started: AtomicU64,
    finished: AtomicU64,
    /// A request had a body: hyper keeps the connection.
    kept: AtomicBool,
    /// The connection's task, woken when a response is finished (with HTTP/2 that happens in
    /// another task).
    waker: Mutex<Option<Waker>>,
    /// The responses in flight, as far as their deadlines go.
    watches: Mutex<Vec<Arc<Watch>>>,
}

/// A handler's promise that its response ends by `Instant`, whatever the client reads: set as
/// a response extension (range answers), the connection enforces it.
#[derive(Clone, Copy, Debug)]
pub struct AnswerDeadline(pub std::time::Instant);

/// One response in flight: since when it has waited for hyper to take its next frame (none
/// while the body itself has nothing ready), and the deadline of the whole answer.
struct Watch {
    waiting_since: Mutex<Option<Instant>>,
    deadline: Option<Instant>,
}

impl Watch {
    fn waiting(&self, since: Option<Instant>) {
        *self
            .waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = since;
    }
}

impl Counts {
    fn in_flight_none(&self) -> bool {
        self.finished.load(Ordering::SeqCst) == self.started.load(Ordering::SeqCst)
    }

    fn answered_some(&self) -> bool {
        self.started.load(Ordering::SeqCst) > 0
    }

    fn kept(&self) -> bool {
        self.kept.load(Ordering::SeqCst)
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// When the first response in flight is due, and what that deadline is.
    fn due(&self, write: Duration) -> Option<(Instant, Gone)> {
        let watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches
            .iter()
            .flat_map(|w| {
                let waiting = *w
                    .waiting_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                [
                    waiting.map(|since| (since + write, Gone::WriteTimeout)),
                    w.deadline.map(|d| (d, Gone::AnswerDeadline)),
                ]
            })
            .flatten()
            .min_by_key(|(due, _)| *due)
    }

    fn watch(&self, deadline: Option<Instant>) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            waiting_since: Mutex::new(Some(Instant::now())),
            deadline,
        });
        self.watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(watch.clone());
        watch
    }

    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

type BoxedAnswer =
    Pin<Box<dyn Future<Output = Result<http::Response<Counted>, Infallible>> + Send>>;

/// The router as a hyper service that counts requests and finished responses.
pub(super) struct CountedService {
    router: Router,
    counts: Arc<Counts>,
}

fn counted(router: &Router, counts: &Arc<Counts>) -> CountedService {
    CountedService {
        router: router.clone(),
        counts: counts.clone(),
    }
}

impl hyper::service::Service<Request<Incoming>> for CountedService {
    type Response = http::Response<Counted>;
    type Error = Infallible;
    type Future = BoxedAnswer;

    fn call(&self, request: Request<Incoming>) -> BoxedAnswer {
        let (router, counts) = (self.router.clone(), self.counts.clone());
        counts.started.fetch_add(1, Ordering::SeqCst);
        if !http_body::Body::is_end_stream(request.body()) {
            counts.kept.store(true, Ordering::SeqCst);
        }
        Box::pin(async move {
            let Ok(response) = router.oneshot(request.map(Body::new)).await;
            let deadline = response
                .extensions()
                .get::<AnswerDeadline>()
                .map(|d| Instant::from_std(d.0));
            let watch = counts.watch(deadline);
            Ok(response.map(|body| Counted {
                body,
                counts,
                watch,
            }))
        })
    }
}

/// A response body that counts itself finished when hyper drops it (written, or failed).
pub(super) struct Counted {
    body: Body,
    counts: Arc<Counts>,
    watch: Arc<Watch>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|w| !Arc::ptr_eq(w, &self.watch));
        self.counts.finish();
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        // A frame given: from now on hyper owes the next poll. Nothing ready: the body's own
        // timers and wake-ups are in charge.
        self.watch.waiting(match &polled {
            Poll::Ready(Some(Ok(_))) => Some(Instant::now()),
            _ => None,
        });
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A socket whose first bytes were already read (they are read again first), and whose
/// writes fail once they make no progress for `stall`: a client that stops reading cannot
/// hold a response, and its connection, for ever.
pub(super) struct Prefixed {
    pub(super) prefix: Bytes,
    pub(super) stream: TcpStream,
    stall: Duration,
    /// Armed when a write found the socket full; disarmed by any progress.
    blocked: Option<Pin<Box<Sleep>>>,
    /// While lent: hyper reads only what was read before (the request it was lent for), not
    /// the socket, unless a request has a body. The next request stays in the socket until
    /// the connection is taken back, so that an event stream sent right after a page is never
    /// read (and served) by hyper.
    gate: Option<Arc<Counts>>,
}

impl Prefixed {
    pub(super) fn new(stream: TcpStream, stall: Duration) -> Self {
        Prefixed {
            prefix: Bytes::new(),
            stream,
            stall,
            blocked: None,
            gate: None,
        }
    }

    /// A write's outcome, with the stall timer armed while it is pending.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.blocked = None;
            return polled;
        }
        let stall = self.stall;
        let timer = self.blocked.get_or_insert_with(|| Box::pin(sleep(stall)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing for the write timeout",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            if self
                .gate
                .as_ref()
                .is_some_and(|c| c.answered_some() && !c.kept())
            {
                // Woken when the response is done (the connection is then taken back).
                return Poll::Pending;
            }
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.bounded(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.bounded(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.bounded(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.bounded(cx, polled)
    }
}
