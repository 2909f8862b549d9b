//! Reading a request head off the socket, within its deadlines, and deciding who serves it.

use axum::body::Body;
use bytes::BytesMut;
use http::{HeaderName, HeaderValue, Method, Request, Uri, Version};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// The longest request head served here; a longer one goes to hyper, which has its own limit.
pub(super) const MAX_HEAD: usize = 8 * 1024;
/// The most header lines served here; more go to hyper.
const MAX_HEADERS: usize = 48;

pub(super) enum Head {
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

/// Why no head was read.
#[derive(Debug)]
pub(super) enum HeadError {
    /// Closed or failed.
    Closed,
    /// Nothing arrived within the idle time of a kept-alive connection.
    Idle,
    /// A head was begun but not finished in time (or none came on a new connection).
    Slow,
}

/// Reads until a request head is complete (or cannot be), and says who serves it; the bytes
/// stay in `buf` for hyper. A new connection (`idle` is `None`) has `head` from now to send
/// its head; a kept-alive one waits `idle` for the first byte, then has `head` to finish.
pub(super) async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    idle: Option<Duration>,
    head: Duration,
) -> Result<Head, HeadError> {
    let now = Instant::now();
    let waiting_first_byte = idle.is_some() && buf.is_empty();
    let mut deadline = now + idle.filter(|_| waiting_first_byte).unwrap_or(head);
    let mut begun = !waiting_first_byte;
    loop {
        match parse_head(buf) {
            Head::Partial if buf.len() < MAX_HEAD => {}
            Head::Partial => return Ok(Head::Other),
            head => return Ok(head),
        }
        buf.reserve(1024);
        let read = timeout_at(deadline, stream.read_buf(buf)).await;
        match read {
            Err(_) if begun => return Err(HeadError::Slow),
            Err(_) => return Err(HeadError::Idle),
            Ok(Err(_) | Ok(0)) => return Err(HeadError::Closed),
            Ok(Ok(_)) => {}
        }
        if !begun {
            begun = true;
            deadline = Instant::now() + head;
        }
    }
}

/// Parses a request head; only a plain `GET` of an event-stream path, without a body and with
/// nothing after it, is taken. Everything unusual (bad syntax included) is left to hyper, which
/// answers it as it answers any request.
pub(super) fn parse_head(buf: &[u8]) -> Head {
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
    // Only origin-form targets (`/path?query`) are served here; hyper and the router answer
    // the others (authority form, asterisk form, absolute form) with their errors.
    let Some(Ok(uri)) = parsed
        .path
        .filter(|p| p.starts_with('/'))
        .map(str::parse::<Uri>)
    else {
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
pub(super) fn is_event_stream_path(path: &str) -> bool {
    use app::paths;
    [paths::EVENTS, paths::STREAM_EVENTS, paths::TASK_EVENTS]
        .iter()
        .any(|pattern| paths::matches(pattern, path))
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
            // Authority, asterisk and absolute forms: the router's error, through hyper.
            "GET a:1 HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "GET http://x/api/events HTTP/1.1\r\n\r\n",
            "CONNECT h:443 HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(head(raw), Head::Other), "{raw:?}");
        }
        assert!(matches!(
            head("GET /api/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Head::EventStream(_)
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Any bytes: no panic, and a head is only taken when it parses completely.
            #[test]
            fn any_bytes_are_classified_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                if let Head::EventStream(r) = parse_head(&bytes) {
                    prop_assert!(is_event_stream_path(r.uri().path()));
                }
            }

            /// Heads made of plausible pieces, to reach the deeper branches.
            #[test]
            fn plausible_heads_are_classified_without_panicking(
                method in prop::sample::select(vec!["GET", "HEAD", "POST", "CONNECT", "OPTIONS", "G\u{0}T"]),
                target in "[ -~]{0,40}",
                version in prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", ""]),
                headers in prop::collection::vec(("[!-~]{0,12}", "[ -~]{0,20}"), 0..60),
                tail in "[ -~\r\n]{0,20}",
            ) {
                let mut raw = format!("{method} {target} {version}\r\n");
                for (k, v) in headers {
                    raw.push_str(&format!("{k}: {v}\r\n"));
                }
                raw.push_str("\r\n");
                raw.push_str(&tail);
                let _ = parse_head(raw.as_bytes());
            }
        }
    }
}
