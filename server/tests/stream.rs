//! The SSE stream of the real server, read by a real HTTP client.

mod common;

use app::model::ErrorBody;
use common::{points, run_to_exit, seq, snapshot, wait_for_health, EventReader, TestServer};
use livechart_server::sse::SseItem;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

fn fast() -> TestServer {
    TestServer::start(&[
        ("LIVECHART_DEMO_INTERVAL_MS", "100"),
        ("LIVECHART_SSE_RETRY_MS", "1500"),
    ])
}

#[tokio::test]
async fn headers_format_and_increasing_ids() {
    let server = fast();
    let mut reader = EventReader::open(&server.url("/api/streams/demo/events")).await;
    let h = &reader.response_headers;
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");

    // `retry:` comes first, once, then the current window.
    assert_eq!(reader.next_item(PATIENCE).await, Some(SseItem::Retry(1500)));
    let first = reader.next_event(PATIENCE).await;
    let window = snapshot(&first);
    assert_eq!(window.last_id.map(|id| id.seq), Some(seq(&first)));

    let mut last_id = seq(&first);
    for _ in 0..8 {
        let e = reader.next_event(PATIENCE).await;
        let id = seq(&e);
        assert_eq!(id, last_id + 1, "ids increase by one with nothing skipped");
        last_id = id;
        let batch = points(&e);
        assert_eq!(batch.len(), 1, "the demo publishes one point per event");
        let p = &batch[0];
        assert_eq!(p.series.as_str(), "value");
        assert!(
            (0.0..=100.0).contains(&p.value),
            "demo value {} out of 0..=100",
            p.value
        );
        assert!(
            p.ts > 1_600_000_000_000,
            "ts is milliseconds since the epoch: {}",
            p.ts
        );
    }
}

#[tokio::test]
async fn the_configured_rate_sets_the_cadence() {
    let server = fast();
    let mut reader = EventReader::open(&server.url("/api/streams/demo/events")).await;
    reader.next_event(PATIENCE).await; // the snapshot
    let mut ts = Vec::new();
    for _ in 0..9 {
        let e = reader.next_event(PATIENCE).await;
        ts.push(points(&e)[0].ts);
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    // Producer timestamps: one point per 100 ms interval, never faster.
    assert!(
        gaps[0] >= 80,
        "points came faster than the interval: {gaps:?}"
    );
    let median = gaps[gaps.len() / 2];
    assert!(
        (80..=300).contains(&median),
        "median gap {median} ms for a 100 ms interval: {gaps:?}"
    );
}

#[tokio::test]
async fn two_clients_see_the_same_events() {
    let server = fast();
    let url = server.url("/api/streams/demo/events");
    let mut a = EventReader::open(&url).await;
    let mut b = EventReader::open(&url).await;
    a.next_event(PATIENCE).await; // snapshots
    b.next_event(PATIENCE).await;
    let mut ea = vec![a.next_event(PATIENCE).await];
    let mut eb = vec![b.next_event(PATIENCE).await];
    let id = seq;
    // Align on the first id both have seen, then compare five events.
    let start = id(&ea[0]).max(id(&eb[0]));
    for (reader, events) in [(&mut a, &mut ea), (&mut b, &mut eb)] {
        while id(events.last().unwrap()) < start + 4 {
            events.push(reader.next_event(PATIENCE).await);
        }
        events.retain(|e| (start..start + 5).contains(&id(e)));
    }
    assert_eq!(ea.len(), 5);
    assert_eq!(ea, eb, "both clients received identical events");
}

#[tokio::test]
async fn a_dropped_client_costs_nothing_afterwards() {
    let server = fast();
    let url = server.url("/api/streams/demo/events");
    let mut reader = EventReader::open(&url).await;
    reader.next_event(PATIENCE).await;
    let viewers = |n: usize| {
        move |h: &app::model::Health| {
            h.streams
                .iter()
                .any(|s| s.name.as_str() == "demo" && s.viewers == n)
        }
    };
    wait_for_health(&server, PATIENCE, viewers(1)).await;

    drop(reader);
    // The connection's task ended and released its subscription.
    wait_for_health(&server, PATIENCE, viewers(0)).await;

    // And the server still serves others.
    let mut again = EventReader::open(&url).await;
    again.next_event(PATIENCE).await;
    wait_for_health(&server, PATIENCE, viewers(1)).await;
}

#[tokio::test]
async fn keep_alive_comments_when_idle() {
    // The first demo point comes at once, then nothing for a minute.
    let server = TestServer::start(&[
        ("LIVECHART_DEMO_INTERVAL_MS", "60000"),
        ("LIVECHART_SSE_KEEP_ALIVE_MS", "150"),
    ]);
    let mut reader = EventReader::open(&server.url("/api/streams/demo/events")).await;
    let mut comments = 0;
    while comments < 3 {
        match reader.next_item(PATIENCE).await {
            Some(SseItem::Comment(c)) => {
                assert_eq!(c, "keep-alive");
                comments += 1;
            }
            Some(_) => {}
            None => panic!("stream ended"),
        }
    }
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let server = fast();
    let client = reqwest::Client::new();
    let long = format!("/api/streams/{}/events", "x".repeat(65));
    // (method, path, status, error kind, something the detail must say)
    let cases: &[(&str, &str, u16, &str, &str)] = &[
        (
            "GET",
            "/api/streams/no%20way/events",
            400,
            "invalid_stream_name",
            "position 2",
        ),
        (
            "GET",
            "/api/streams/a%2Fb/events",
            400,
            "invalid_stream_name",
            "'/'",
        ),
        ("GET", &long, 400, "invalid_stream_name", "65 characters"),
        (
            "GET",
            "/api/streams/%FF/events",
            400,
            "invalid_path",
            "UTF-8",
        ),
        (
            "GET",
            "/api/streams/nope/points",
            404,
            "unknown_stream",
            "\"nope\"",
        ),
        (
            "GET",
            "/api/streams/nope",
            404,
            "unknown_stream",
            "\"nope\"",
        ),
        (
            "POST",
            "/api/streams/demo/events",
            405,
            "method_not_allowed",
            "POST",
        ),
        ("DELETE", "/healthz", 405, "method_not_allowed", "/healthz"),
        (
            "GET",
            "/api/nothing/here",
            404,
            "not_found",
            "/api/nothing/here",
        ),
    ];
    for &(method, path, status, kind, says) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        let what = format!("{method} {path}");
        assert_eq!(resp.status().as_u16(), status, "{what}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{what}");
        let body: ErrorBody = resp.json().await.expect("error body is JSON");
        assert_eq!(body.error, kind, "{what}");
        assert!(
            body.detail.contains(says),
            "{what}: {:?} does not say {says:?}",
            body.detail
        );
    }

    // None of that disturbed the stream.
    let mut reader = EventReader::open(&server.url("/api/streams/demo/events")).await;
    reader.next_event(PATIENCE).await;
}

#[tokio::test]
async fn shutdown_tells_viewers_to_reconnect_and_exits() {
    let mut server = fast();
    let mut reader = EventReader::open(&server.url("/api/streams/demo/events")).await;
    reader.next_event(PATIENCE).await;

    let tail = shut_down(&mut server, &mut reader).await;
    assert!(tail.contains(&SseItem::Retry(1500)), "{tail:?}");
}

/// Stops the server (SIGTERM, well within its grace period) and returns what `reader` saw
/// last, which holds the reconnect hint, up to the end of its stream.
async fn shut_down(server: &mut TestServer, reader: &mut EventReader) -> Vec<SseItem> {
    let status = server
        .terminate(PATIENCE)
        .expect("the server exits within its grace period");
    assert!(status.success(), "clean exit: {status:?}");
    let mut tail = Vec::new();
    while let Some(item) = reader.next_item(PATIENCE).await {
        tail.push(item);
    }
    assert!(
        tail.contains(&SseItem::Comment("server shutting down, reconnect".into())),
        "{tail:?}"
    );
    tail
}

/// Keep-alives go on after events stop, although each event moved the next one later (its
/// timer fired early and was set again).
#[tokio::test]
async fn keep_alives_resume_after_events_stop() {
    let server = TestServer::start(&[
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("LIVECHART_SSE_KEEP_ALIVE_MS", "300"),
    ]);
    common::publish(&server, "quiet", r#"{"value": 0}"#).await;
    let mut reader = EventReader::open(&server.url("/api/streams/quiet/events")).await;
    assert_eq!(reader.next_event(PATIENCE).await.event, "snapshot");
    for i in 1..=6 {
        common::publish(&server, "quiet", &format!(r#"{{"value": {i}}}"#)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut events, mut keep_alives) = (0, 0);
    while keep_alives < 3 {
        match reader.next_item(PATIENCE).await {
            Some(SseItem::Event(_)) => events += 1,
            Some(SseItem::Comment(c)) => {
                assert_eq!(c, "keep-alive");
                keep_alives += 1;
            }
            Some(_) => {}
            None => panic!("the stream ended; {events} events, {keep_alives} keep-alives"),
        }
    }
    assert_eq!(events, 6, "every event, then keep-alives");
}

/// A viewer that nothing wakes (no events, its keep-alive a minute away) still hears the
/// shutdown at once: the notice wakes it.
#[tokio::test]
async fn an_idle_viewer_hears_the_shutdown() {
    let mut server = TestServer::start(&[
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("LIVECHART_SSE_KEEP_ALIVE_MS", "60000"),
        ("LIVECHART_SHUTDOWN_GRACE_MS", "30000"),
    ]);
    common::publish(&server, "quiet", r#"{"value": 0}"#).await;
    let mut reader = EventReader::open(&server.url("/api/streams/quiet/events")).await;
    assert_eq!(reader.next_event(PATIENCE).await.event, "snapshot");

    shut_down(&mut server, &mut reader).await;
}

#[tokio::test]
async fn pages_are_compressed_event_streams_are_not() {
    let server = fast();
    let client = reqwest::Client::new();
    let page = client
        .get(server.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );

    let events = client
        .get(server.url("/api/streams/demo/events"))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.headers().get("content-encoding").is_none(),
        "{:?}",
        events.headers()
    );
    // And the first bytes are plain SSE, not a compressed frame held back in a buffer.
    let mut body = events.bytes_stream();
    let first = futures_util::StreamExt::next(&mut body)
        .await
        .unwrap()
        .unwrap();
    assert!(first.starts_with(b"retry: 1500"), "{first:?}");
}

#[tokio::test]
async fn the_page_is_rendered_on_the_server() {
    let server = fast();
    let resp = reqwest::get(server.url("/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"data-stream="demo""#), "{html}");
    assert!(html.contains(r#"data-state="connecting""#));
    assert!(html.contains("<canvas"));
    // The first paint is drawn on the server: an SVG chart behind the canvas.
    assert!(html.contains("<svg"), "no server-drawn chart");
    assert!(
        html.contains("/pkg/livechart.js"),
        "the page loads the WASM glue"
    );

    let missing = reqwest::get(server.url("/no/such/page")).await.unwrap();
    assert_eq!(missing.status(), 404);
    for bad in [
        "/streams/no%20way",
        "/streams/demo?window=0",
        "/streams/demo?window=x",
    ] {
        let resp = reqwest::get(server.url(bad)).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Bad address"), "{bad}: {html}");
    }
}

#[test]
fn bad_configuration_is_refused_with_the_reason() {
    let (code, stderr) = run_to_exit(&[], &[("LIVECHART_DEMO_INTERVAL_MS", "soon")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("LIVECHART_DEMO_INTERVAL_MS=\"soon\""),
        "{stderr}"
    );

    let (code, stderr) = run_to_exit(&[], &[("LIVECHART_SSE_KEEP_ALIVE_MS", "1")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("livechart.sse.keep-alive-ms = 1"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("livechart-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[livechart.demo]\ninterval-ms = 10\ncolour = \"red\"\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("bad.toml") && stderr.contains("colour") && stderr.contains("line 3"),
        "{stderr}"
    );

    let (code, stderr) = run_to_exit(&["--config", "/nonexistent/livechart.toml"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/livechart.toml"), "{stderr}");
}

/// Sends `request` on `socket` and reads the answer until `done` says it is complete (or
/// fails the test after PATIENCE).
async fn exchange(
    socket: &mut tokio::net::TcpStream,
    request: &[u8],
    done: impl Fn(&str) -> bool,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    socket.write_all(request).await.expect("write");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !done(&seen) {
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("timed out; so far: {seen:?}"))
            .expect("read");
        assert!(n > 0, "closed early; so far: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

#[tokio::test]
async fn event_streams_are_served_on_every_kind_of_connection() {
    let server = fast();
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(&addr);
    let events = b"GET /api/streams/demo/events HTTP/1.1\r\nHost: x\r\n\r\n";
    let two_events = |s: &str| s.matches("event: points").count() >= 2;

    // A fresh HTTP/1.1 connection: the body runs until the connection closes (no chunk
    // framing, no length), which it does when the stream ends.
    let mut socket = connect().await.unwrap();
    let seen = exchange(&mut socket, events, two_events).await;
    let (head, body) = seen.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for line in ["content-type: text/event-stream", "connection: close"] {
        assert!(head.contains(line), "{line} missing: {head}");
    }
    for absent in ["transfer-encoding", "content-length"] {
        assert!(!head.contains(absent), "{absent} present: {head}");
    }
    assert!(head.contains("\r\ndate: "), "{head}");
    assert!(body.starts_with("retry: 1500\n"), "{body:?}");

    // HTTP/1.0: the same.
    let mut socket = connect().await.unwrap();
    let http10 = b"GET /api/streams/demo/events HTTP/1.0\r\n\r\n";
    let seen = exchange(&mut socket, http10, two_events).await;
    let (head, body) = seen.split_once("\r\n\r\n").unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert!(body.starts_with("retry: 1500\n"), "{body:?}");

    // A kept-alive connection stays kept alive across plain requests (the second one sent
    // before the first answer), and a stream after them is written the same way, closing the
    // connection at its end.
    let mut socket = connect().await.unwrap();
    let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let twice = format!("{healthz}{healthz}");
    let seen = exchange(&mut socket, twice.as_bytes(), |s| {
        s.matches("\"streams\"").count() == 2 && s.ends_with('}')
    })
    .await;
    assert!(
        !seen.to_ascii_lowercase().contains("connection: close"),
        "{seen}"
    );
    for _ in 0..2 {
        exchange(&mut socket, healthz.as_bytes(), |s| {
            s.contains("\"streams\"") && s.ends_with('}')
        })
        .await;
    }
    let seen = exchange(&mut socket, events, two_events).await;
    let lower = seen.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 ok\r\n"), "{seen}");
    assert!(lower.contains("connection: close\r\n"), "{seen}");
    assert!(seen.contains("retry: 1500\n"), "{seen}");

    // After a request with a body the connection stays with hyper, and still streams.
    let mut socket = connect().await.unwrap();
    let point = r#"{"value": 1}"#;
    let post = format!(
        "POST /api/streams/kept/points HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{point}",
        point.len()
    );
    let seen = exchange(&mut socket, post.as_bytes(), |s| s.ends_with('}')).await;
    assert!(
        seen.to_ascii_lowercase().starts_with("http/1.1 20"),
        "{seen}"
    );
    let seen = exchange(&mut socket, events, two_events).await;
    assert!(seen.contains("retry: 1500\n"), "{seen}");

    // Errors come back whole, with their length, on a fresh connection too.
    let mut socket = connect().await.unwrap();
    let bad = b"GET /api/streams/nope!/events HTTP/1.1\r\nHost: x\r\n\r\n";
    let seen = exchange(&mut socket, bad, |s| s.ends_with('}')).await;
    let lower = seen.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 400 bad request\r\n"), "{seen}");
    let (_, body) = seen.split_once("\r\n\r\n").unwrap();
    assert!(
        lower.contains(&format!("content-length: {}\r\n", body.len())),
        "{seen}"
    );
    let error: ErrorBody = serde_json::from_str(body).unwrap();
    assert_eq!(error.error, "invalid_stream_name");
}
