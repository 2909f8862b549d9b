//! Connections: the accept loop, and who serves each request.
//!
//! An event stream (`GET /api/events`, `/api/streams/{name}/events`,
//! `/api/tasks/{id}/events`) is served here: its request head is read and parsed, the router
//! answers it like any request, and the response body is written straight to the socket,
//! chunk by chunk, until it ends; then the connection closes. A plain `GET` or `HEAD` is lent
//! to hyper's HTTP/1 and the connection comes back once hyper is idle after the response, so
//! that an event stream on a kept-alive connection (browsers reuse the one that brought the
//! page) is served here too. Anything else (a request with a body, HTTP/1.0 keep-alive,
//! HTTP/2, bad syntax) is left to hyper for the rest of the connection, with the bytes
//! already read.
//!
//! Why not hyper for everything: a viewer is a connection that waits, for days, between
//! events. hyper keeps a read buffer (16 KiB once a request is parsed) and a write buffer
//! (8 KiB) for a connection's whole life, and a minimum of 8 KiB each. An event stream needs
//! neither once its request is read: the hub's shared bytes go to the socket as they are.
//! Served here, an idle viewer costs under 5 KB of server memory instead of about 19 KB
//! (BENCHMARKS.md). An event stream requested after a request with a body on the same
//! connection stays with hyper: correct, only larger.

use axum::body::Body;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future as _;
use std::io::{self, IoSlice, Write as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The longest request head served here; a longer one goes to hyper, which has its own limit.
const MAX_HEAD: usize = 8 * 1024;
/// The most header lines served here; more go to hyper.
const MAX_HEADERS: usize = 48;
/// How long a new connection may take to send its first request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `shutdown` is cancelled, then waits for the open ones to end
/// (event streams end themselves on shutdown; hyper connections finish their requests).
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                tracker.spawn(connection(stream, router.clone(), shutdown.clone()));
            }
            // The client gave up before we accepted: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of file descriptors, most likely: wait for connections to close.
                tracing::error!("accepting a connection failed: {e}");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(stream: TcpStream, router: Router, shutdown: CancellationToken) {
    // Events are written as soon as they are due; a partial packet must not wait for an ACK.
    let _ = stream.set_nodelay(true);
    let mut io = Prefixed {
        prefix: Bytes::new(),
        stream,
    };
    loop {
        let mut buf = BytesMut::from(std::mem::take(&mut io.prefix));
        let head = tokio::select! {
            read = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut io.stream, &mut buf)) => read,
            () = shutdown.cancelled() => return,
        };
        // Closed, or silent for too long, before a whole request head arrived.
        let Ok(Ok(head)) = head else { return };
        io.prefix = buf.freeze();
        match head {
            Head::EventStream(request) => {
                tracing::debug!(path = request.uri().path(), "event stream served directly");
                io.prefix = Bytes::new();
                return serve_event_stream(io.stream, *request, router).await;
            }
            // Boxed, like hyper's connection below: an event stream's connection keeps this
            // function's state for its whole life, and should not carry room for hyper's.
            Head::Lend => match Box::pin(lend_to_hyper(io, &router, &shutdown)).await {
                Some(back) => io = back,
                None => return,
            },
            Head::Other | Head::Partial => {
                tracing::debug!("connection handed to hyper");
                return Box::pin(serve_hyper(io, router, shutdown)).await;
            }
        }
    }
}

/// Reads until a request head is complete (or cannot be), and says who serves it; the bytes
/// stay in `buf` for hyper.
async fn read_head(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<Head> {
    loop {
        match parse_head(buf) {
            Head::Partial if buf.len() < MAX_HEAD => {}
            Head::Partial => return Ok(Head::Other),
            head => return Ok(head),
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

enum Head {
    /// Not all of the head yet.
    Partial,
    /// Anything unusual (a body, HTTP/1.0 keep-alive, HTTP/2, bad syntax, a huge head): hyper
    /// serves the connection from here on.
    Other,
    /// A plain `GET` or `HEAD` without a body: hyper answers it, and the connection comes back
    /// here for its next request, so that an event stream on a kept-alive connection is still
    /// served directly.
    Lend,
    EventStream(Box<Request<Body>>),
}

/// Parses a request head; only a plain `GET` of an event-stream path, without a body and with
/// nothing after it, is taken. Everything unusual (bad syntax included) is left to hyper, which
/// answers it as it answers any request.
fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Head::Other,
    };
    // A body, or a switch of protocols, is hyper's business for good.
    let unusual = parsed.headers.iter().any(|h| {
        let name = h.name;
        (name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            || ["transfer-encoding", "upgrade", "expect"]
                .iter()
                .any(|u| name.eq_ignore_ascii_case(u))
    });
    let method = parsed.method.unwrap_or_default();
    if unusual || !matches!(method, "GET" | "HEAD") {
        return Head::Other;
    }
    let Some(Ok(uri)) = parsed.path.map(str::parse::<Uri>) else {
        return Head::Other;
    };
    if method != "GET" || len != buf.len() || !is_event_stream_path(uri.path()) {
        return if version == Version::HTTP_11 {
            Head::Lend
        } else {
            Head::Other
        };
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let map = request.headers_mut();
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Head::Other;
        };
        map.append(name, value);
    }
    Head::EventStream(Box::new(request))
}

/// The paths of the event-stream routes (the router decides the rest, names included).
fn is_event_stream_path(path: &str) -> bool {
    let mut segments = path.strip_prefix("/api/").unwrap_or_default().split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("events"), None, None, None) => true,
        (Some("streams" | "tasks"), Some(id), Some("events"), None) => !id.is_empty(),
        _ => false,
    }
}

/// How a response body is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    /// HTTP/1.0: the body ends when the connection does.
    Close,
}

/// Answers one event-stream request through the router and writes the response, then closes
/// the connection. Stops as soon as the client is gone (a read sees the end or an error).
async fn serve_event_stream(mut stream: TcpStream, request: Request<Body>, router: Router) {
    let version = request.version();
    let Ok(response) = router.oneshot(request).await;
    let (parts, mut body) = response.into_parts();
    let framing = if http_body::Body::is_end_stream(&body) {
        Framing::Length(0)
    } else if let Some(n) = http_body::Body::size_hint(&body).exact() {
        Framing::Length(n)
    } else if version == Version::HTTP_11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    if stream
        .write_all(&response_head(&parts, framing))
        .await
        .is_err()
    {
        return;
    }
    let (mut reader, mut writer) = stream.split();
    let mut probe = [0u8; 16];
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            read = reader.read(&mut probe) => match read {
                // Anything the client sends now is ignored; the end of its side ends ours.
                Ok(n) if n > 0 => continue,
                _ => return,
            },
        };
        let data = match frame {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
            Some(Err(e)) => {
                tracing::debug!("an event stream's body failed: {e}");
                return;
            }
        };
        let written = match framing {
            Framing::Chunked => write_chunk(&mut writer, &data).await,
            _ => writer.write_all(&data).await,
        };
        if written.is_err() {
            return;
        }
    }
    if framing == Framing::Chunked && writer.write_all(b"0\r\n\r\n").await.is_err() {
        return;
    }
    let _ = writer.shutdown().await;
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
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Close => {}
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

/// One chunk of a chunked body, in one system call when the socket takes it all.
async fn write_chunk(w: &mut (impl AsyncWrite + Unpin), data: &Bytes) -> io::Result<()> {
    let mut size = [0u8; 18];
    let mut cursor = io::Cursor::new(&mut size[..]);
    write!(cursor, "{:x}\r\n", data.len())?;
    let n = cursor.position() as usize;
    let mut slices = [
        IoSlice::new(&size[..n]),
        IoSlice::new(data),
        IoSlice::new(b"\r\n"),
    ];
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        let written = w.write_vectored(bufs).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, written);
    }
    Ok(())
}

/// Lends the connection to hyper's HTTP/1 for plain requests, and takes it back once hyper
/// is idle after a response (with any bytes hyper read beyond it). `None`: the connection is
/// done (closed, failed, shutting down), or a request with a body came, after which hyper
/// keeps the connection to its end: what was left of an unread body could not be told apart
/// from the next request.
async fn lend_to_hyper(
    io: Prefixed,
    router: &Router,
    shutdown: &CancellationToken,
) -> Option<Prefixed> {
    let counts = Arc::new(Counts::default());
    let service = {
        let (router, counts) = (router.clone(), counts.clone());
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let (router, counts) = (router.clone(), counts.clone());
            counts.started.fetch_add(1, Ordering::SeqCst);
            if !http_body::Body::is_end_stream(request.body()) {
                counts.kept.store(true, Ordering::SeqCst);
            }
            let answer: BoxedAnswer = Box::pin(async move {
                let Ok(response) = router.oneshot(request.map(Body::new)).await;
                Ok(response.map(|body| Counted { body, counts }))
            });
            answer
        })
    };
    let mut conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    let mut stop = std::pin::pin!(shutdown.cancelled());
    let (mut stopping, mut taking_back) = (false, false);
    let served = std::future::poll_fn(|cx| {
        if !stopping && stop.as_mut().poll(cx).is_ready() {
            stopping = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        if !stopping && !taking_back && counts.idle() {
            // Every response so far is complete: hyper closes at once if idle, else as soon
            // as the last one is written (its head already promised keep-alive).
            taking_back = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        conn.poll_without_shutdown(cx)
    })
    .await;
    if served.is_err() || stopping || !taking_back {
        return None;
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    if !parts.read_buf.is_empty() {
        let mut prefix = BytesMut::from(parts.read_buf);
        prefix.extend_from_slice(&io.prefix);
        io.prefix = prefix.freeze();
    }
    Some(io)
}

type BoxedAnswer =
    Pin<Box<dyn std::future::Future<Output = Result<http::Response<Counted>, Infallible>> + Send>>;

/// Requests hyper has been given, and responses it has finished with, on one lent connection.
#[derive(Default)]
struct Counts {
    started: AtomicU64,
    finished: AtomicU64,
    /// A request had a body: hyper keeps the connection.
    kept: AtomicBool,
}

impl Counts {
    fn idle(&self) -> bool {
        let started = self.started.load(Ordering::SeqCst);
        !self.kept.load(Ordering::SeqCst)
            && started > 0
            && self.finished.load(Ordering::SeqCst) == started
    }
}

/// A response body that counts itself finished when hyper drops it (written, or failed).
struct Counted {
    body: Body,
    counts: Arc<Counts>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Any other connection: hyper serves it (HTTP/1.1 keep-alive or HTTP/2), finishing its
/// requests when shutdown begins.
async fn serve_hyper(io: Prefixed, router: Router, shutdown: CancellationToken) {
    let service = TowerToHyperService::new(router);
    let builder = Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!("connection ended with an error: {e}");
            }
            return;
        }
        () = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// A socket whose first bytes were already read: they are read again first.
struct Prefixed {
    prefix: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
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
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_event_stream_paths_are_taken() {
        for path in [
            "/api/events",
            "/api/streams/demo/events",
            "/api/tasks/7/events",
        ] {
            assert!(is_event_stream_path(path), "{path}");
        }
        for path in [
            "/",
            "/api",
            "/api/",
            "/api/events/x",
            "/api/streams//events",
            "/api/streams/demo",
            "/api/streams/demo/points",
            "/api/streams/demo/events/",
            "/streams/demo/events",
        ] {
            assert!(!is_event_stream_path(path), "{path}");
        }
    }

    fn head(raw: &str) -> Head {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn a_plain_get_of_an_event_stream_is_taken_with_its_headers() {
        let raw = "GET /api/events?streams=a,b HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n";
        let Head::EventStream(r) = head(raw) else {
            panic!("not taken")
        };
        assert_eq!(r.uri().path(), "/api/events");
        assert_eq!(r.uri().query(), Some("streams=a,b"));
        assert_eq!(r.version(), Version::HTTP_11);
        assert_eq!(r.headers()["last-event-id"], "5");
        assert_eq!(r.headers().get_all("cookie").iter().count(), 2);
    }

    #[test]
    fn other_plain_requests_are_lent_to_hyper_and_anything_unusual_is_left_to_it() {
        assert!(matches!(
            head("GET /api/events HTTP/1.1\r\nHost: x\r\n"),
            Head::Partial
        ));
        for raw in [
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            "HEAD /api/events HTTP/1.1\r\n\r\n",
            // A second request already behind the first.
            "GET /api/events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(head(raw), Head::Lend), "{raw:?}");
        }
        for raw in [
            "POST /api/events HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.0\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert!(matches!(head(raw), Head::Other), "{raw:?}");
        }
        assert!(matches!(
            head("GET /api/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Head::EventStream(_)
        ));
    }

    #[tokio::test]
    async fn chunks_are_framed() {
        let mut out = Vec::new();
        write_chunk(&mut out, &Bytes::from_static(b"data: 1\n\n"))
            .await
            .unwrap();
        assert_eq!(out, b"9\r\ndata: 1\n\n\r\n");
    }
}
