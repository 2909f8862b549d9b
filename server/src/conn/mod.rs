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
//!
//! Nothing a client does holds the server for long ([`Deadlines`]): its request head must come
//! within the head timeout, a kept-alive connection with nothing in flight is closed after the
//! idle timeout, a write it takes nothing of fails after the write timeout, and at most
//! `connections.max` connections are open (more are refused at once, cheaply).

mod direct;
mod head;
mod via_hyper;
pub use via_hyper::AnswerDeadline;

use crate::metrics::ConnMetrics;
use axum::Router;
use bytes::{Bytes, BytesMut};
use head::{read_head, Head, HeadError};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use via_hyper::Prefixed;

/// How long a connection may keep the server waiting, whoever serves it.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// A request head must be complete this long after the connection opened, or after its
    /// first byte on a kept-alive connection.
    pub head: Duration,
    /// A kept-alive connection with no request in flight is closed after this long.
    pub idle: Duration,
    /// A write that makes no progress for this long ends the connection.
    pub write: Duration,
    /// An event stream served here ends at the latest this long after it began, even while
    /// its socket is full (`None`: never).
    pub lifetime: Option<Duration>,
}

/// How many connections the accept loop lets in, and its deadlines.
#[derive(Clone, Debug)]
pub struct Options {
    pub deadlines: Deadlines,
    /// Open connections at once; more are refused at once with a short 503.
    pub max_connections: usize,
    /// Open connections at once from one address, and whether loopback addresses count
    /// (else they are exempt: a reverse proxy on this machine).
    pub client_share: (usize, bool),
    pub metrics: ConnMetrics,
}

/// Why a connection ended, besides the client closing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gone {
    Closed,
    Shutdown,
    Lifetime,
    SlowHead,
    Idle,
    WriteTimeout,
    /// A response past the deadline its handler set for the whole answer.
    AnswerDeadline,
}

impl Gone {
    /// The deadline this was, for the metrics.
    fn deadline(self) -> Option<&'static str> {
        match self {
            Gone::SlowHead => Some("head"),
            Gone::Idle => Some("idle"),
            Gone::WriteTimeout => Some("write"),
            Gone::AnswerDeadline => Some("answer"),
            Gone::Closed | Gone::Shutdown | Gone::Lifetime => None,
        }
    }
}

/// What a refused connection is told (written only if the socket takes it at once).
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 87\r\n\r\n\
{\"error\":\"too_many_connections\",\"detail\":\"the server has all the connections it takes\"}";

/// What a client over its share is told.
const REFUSED_CLIENT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 96\r\n\r\n\
{\"error\":\"too_many_client_connections\",\"detail\":\"this address has its share of the connections\"}";

/// Accepts connections until `shutdown` is cancelled, then waits for the open ones to end
/// (event streams end themselves on shutdown; hyper connections finish their requests).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    options: Options,
) {
    let tracker = TaskTracker::new();
    let open = Arc::new(AtomicUsize::new(0));
    let clients = Arc::new(Clients::default());
    let (share, loopback_counts) = options.client_share;
    let mut refusals = Throttled::new("connections refused: the server has its maximum open");
    let mut shares = Throttled::new("connections refused: a client address has its share open");
    let mut failures = Throttled::new("accepting connections fails");
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                if open.load(Ordering::Relaxed) >= options.max_connections {
                    let _ = stream.try_write(REFUSED);
                    options.metrics.refused.inc();
                    refusals.note(&format!("{} open", options.max_connections));
                    continue;
                }
                let counted = loopback_counts || !peer.ip().is_loopback();
                let client = match counted.then(|| clients.enter(peer.ip(), share)) {
                    Some(None) => {
                        let _ = stream.try_write(REFUSED_CLIENT);
                        options.metrics.refused.inc();
                        shares.note(&format!("{} has {share}", peer.ip()));
                        continue;
                    }
                    Some(Some(client)) => Some(client),
                    None => None,
                };
                let guard = OpenConnection::new(&open, &options.metrics);
                let (router, shutdown, options) =
                    (router.clone(), shutdown.clone(), options.clone());
                tracker.spawn(async move {
                    let _open = (guard, client);
                    let gone = connection(stream, router, shutdown, options.deadlines).await;
                    if let Some(deadline) = gone.deadline() {
                        options.metrics.timed_out(deadline);
                    }
                });
            }
            // The client gave up before we accepted: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of file descriptors, most likely: back off (10 ms doubling up to 1 s)
                // while connections close, and say so once in a while, not every time.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                failures.note(&e.to_string());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
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

/// Open connections per client address (only addresses with one open are kept).
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

impl Clients {
    /// One more connection from `ip`, unless it has `share` open already.
    fn enter(self: &Arc<Self>, ip: IpAddr, share: usize) -> Option<ClientConnection> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= share {
            return None;
        }
        *n += 1;
        Some(ClientConnection {
            clients: self.clone(),
            ip,
        })
    }
}

/// One open connection of a client address, counted until dropped.
struct ClientConnection {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// One open connection, counted until dropped.
struct OpenConnection {
    open: Arc<AtomicUsize>,
    metrics: ConnMetrics,
}

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>, metrics: &ConnMetrics) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        metrics.open.inc();
        OpenConnection {
            open: open.clone(),
            metrics: metrics.clone(),
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics.open.dec();
    }
}

/// A warning logged at most once every ten seconds, with how often it happened meanwhile.
struct Throttled {
    what: &'static str,
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(what: &'static str) -> Self {
        Throttled {
            what,
            last: None,
            since: 0,
        }
    }

    fn note(&mut self, detail: &str) {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|t| now < t + Self::EVERY) {
            return;
        }
        tracing::warn!(
            "{} ({detail}): {} time(s) since the last report",
            self.what,
            self.since
        );
        self.last = Some(now);
        self.since = 0;
    }
}

async fn connection(
    stream: TcpStream,
    router: Router,
    shutdown: CancellationToken,
    deadlines: Deadlines,
) -> Gone {
    // Events are written as soon as they are due; a partial packet must not wait for an ACK.
    let _ = stream.set_nodelay(true);
    let mut io = Prefixed::new(stream, deadlines.write);
    // The first head must come within the head timeout; later ones within the idle timeout.
    let mut idle = None;
    loop {
        let mut buf = BytesMut::from(std::mem::take(&mut io.prefix));
        let head = tokio::select! {
            read = read_head(&mut io.stream, &mut buf, idle, deadlines.head) => read,
            () = shutdown.cancelled() => return Gone::Shutdown,
        };
        let head = match head {
            Ok(head) => head,
            Err(HeadError::Closed) => return Gone::Closed,
            Err(HeadError::Idle) => return Gone::Idle,
            Err(HeadError::Slow) => return Gone::SlowHead,
        };
        io.prefix = buf.freeze();
        idle = Some(deadlines.idle);
        let served = match head {
            Head::EventStream(request) => {
                tracing::debug!(path = request.uri().path(), "event stream served directly");
                // The head's read buffer (a kilobyte or two) must not live as long as the
                // stream: this function's state does.
                io.prefix = Bytes::new();
                direct::serve_event_stream(io.stream, *request, router, deadlines, shutdown).await
            }
            // Boxed: an event stream's connection keeps this function's state for its whole
            // life, and should not carry room for hyper's.
            Head::Lend => {
                match Box::pin(via_hyper::lend(io, &router, deadlines, &shutdown)).await {
                    Ok(Some(back)) => {
                        io = back;
                        continue;
                    }
                    Ok(None) => Ok(()),
                    Err(gone) => Err(gone),
                }
            }
            Head::Other | Head::Partial => {
                tracing::debug!("connection handed to hyper");
                Box::pin(via_hyper::own(io, router, deadlines, shutdown)).await
            }
        };
        return served.err().unwrap_or(Gone::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_their_length() {
        for answer in [REFUSED, REFUSED_CLIENT] {
            let text = std::str::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let length = format!("content-length: {}", body.len());
            assert!(head.lines().any(|l| l.trim_end() == length), "{text}");
            serde_json::from_str::<app::model::ErrorBody>(body).unwrap();
        }
    }
}
