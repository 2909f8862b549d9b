//! Publishing, history and resume, limits and tokens, against the real server over HTTP.

mod common;

use common::{
    id, points, publish, publish_raw, seq, snapshot, wait_for_health, EventReader, TestServer,
};
use livechart_server::sse::{SseEvent, SseItem, SseParser};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATIENCE: Duration = Duration::from_secs(10);
const QUIET: (&str, &str) = ("LIVECHART_DEMO_ENABLED", "false");

fn events_url(server: &TestServer, stream: &str) -> String {
    server.url(&format!("/api/streams/{stream}/events"))
}

fn values(events: &[SseEvent]) -> Vec<f64> {
    events
        .iter()
        .flat_map(|e| points(e).into_iter().map(|p| p.value))
        .collect()
}

async fn take(reader: &mut EventReader, n: usize) -> Vec<SseEvent> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(reader.next_event(PATIENCE).await);
    }
    out
}

#[tokio::test]
async fn published_points_reach_every_subscriber_in_order() {
    let server = TestServer::start(&[QUIET]);
    publish(&server, "robot", r#"{"value": 0}"#).await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut r = EventReader::open(&events_url(&server, "robot")).await;
        let first = snapshot(&r.next_event(PATIENCE).await);
        assert_eq!(first.points.len(), 1);
        readers.push(r);
    }
    // One point, an array, NDJSON: each request is one event.
    let before = app_now();
    publish(&server, "robot", r#"{"value": 1}"#).await;
    publish(
        &server,
        "robot",
        r#"[{"value": 2, "ts": 1763700000123}, {"value": 3}]"#,
    )
    .await;
    let (status, answer) = publish_raw(
        &server,
        "robot",
        Some("application/x-ndjson"),
        "{\"value\": 4}\n\n{\"value\": 5}\n",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["points"], 2);
    let (status, _) = publish_raw(
        &server,
        "robot",
        Some("application/json; charset=utf-8"),
        r#"{"series": "value", "value": 6}"#,
        None,
    )
    .await;
    assert_eq!(status, 200);

    let mut seen = Vec::new();
    for r in &mut readers {
        let events = take(r, 4).await;
        let seqs: Vec<u64> = events.iter().map(seq).collect();
        assert_eq!(seqs, [2, 3, 4, 5], "consecutive ids, in publish order");
        assert_eq!(values(&events), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let batch = points(&events[1]);
        assert_eq!(batch[0].ts, 1_763_700_000_123, "a given ts is kept");
        assert!(batch[1].ts >= before, "a missing ts is the server's time");
        assert!(batch.iter().all(|p| p.series.as_str() == "value"));
        seen.push(events);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "identical events for all"
    );
}

fn app_now() -> i64 {
    app::model::now_ms()
}

/// (content type, stream, body, status, error kind, something the detail must say)
type Case<'a> = (Option<&'a str>, &'a str, Vec<u8>, u16, &'a str, &'a str);

#[tokio::test]
async fn bad_publishes_are_refused_whole_and_change_nothing() {
    let server = TestServer::start(&[
        QUIET,
        ("LIVECHART_INGEST_MAX_BODY_BYTES", "4096"),
        ("LIVECHART_INGEST_MAX_POINTS", "5"),
        ("LIVECHART_STREAMS_MAX_SERIES", "3"),
        ("LIVECHART_STREAMS_MAX", "3"),
    ]);
    publish(&server, "t", r#"{"series": "a", "value": 1}"#).await;
    publish(
        &server,
        "two",
        r#"[{"series": "a", "value": 1}, {"series": "b", "value": 2}]"#,
    )
    .await;
    publish(&server, "full", r#"{"value": 1}"#).await;
    let mut watcher = EventReader::open(&events_url(&server, "t")).await;
    watcher.next_event(PATIENCE).await;
    let before = health(&server).await;

    const J: Option<&str> = Some("application/json");
    const N: Option<&str> = Some("application/x-ndjson");
    let long = "x".repeat(65);
    let long_series = format!(r#"{{"series": "{long}", "value": 1}}"#);
    let six = format!("[{}]", [r#"{"value": 1}"#; 6].join(","));
    let six_lines = [r#"{"value": 1}"#; 6].join("\n");
    let big = format!(
        r#"{{"value": 1, "series": "a", "ts": 1{}}}"#,
        "0".repeat(5000)
    );
    let cases: Vec<Case> = vec![
        // Malformed JSON, and the numbers JSON cannot carry.
        (J, "t", br#"{"value": 1"#.to_vec(), 400, "invalid_json", "EOF"),
        (J, "t", b"".to_vec(), 400, "invalid_json", "body: invalid JSON"),
        (J, "t", br#"{"value": NaN}"#.to_vec(), 400, "invalid_json", "line 1"),
        (J, "t", br#"{"value": Infinity}"#.to_vec(), 400, "invalid_json", "column"),
        (J, "t", br#"{"value": 1e999}"#.to_vec(), 400, "invalid_json", "out of range"),
        (J, "t", br#"{"value": -1e999}"#.to_vec(), 400, "invalid_json", "out of range"),
        (J, "t", b"\xff\xfe".to_vec(), 400, "invalid_json", "body"),
        // Wrong types and missing values.
        (J, "t", br#"{"value": "NaN"}"#.to_vec(), 400, "invalid_point", "body.value: invalid type: string \"NaN\", expected a number"),
        (J, "t", br#"{"value": null}"#.to_vec(), 400, "invalid_point", "body.value: invalid type: null, expected a number"),
        (J, "t", br#"{"series": "a"}"#.to_vec(), 400, "invalid_point", "body: missing field `value`"),
        (J, "t", br#"{"value": true}"#.to_vec(), 400, "invalid_point", "body.value: invalid type: boolean `true`"),
        (J, "t", br#"{"value": [1]}"#.to_vec(), 400, "invalid_point", "body.value: invalid type: sequence"),
        (J, "t", b"42".to_vec(), 400, "invalid_point", "body: invalid type: integer `42`, expected a point object such as"),
        (J, "t", br#""21.5""#.to_vec(), 400, "invalid_point", "body: invalid type: string \"21.5\""),
        (J, "t", br#"{"value": 1, "colour": "red"}"#.to_vec(), 400, "invalid_point", "body.colour: unknown field `colour`"),
        // A batch is all or nothing: a good first point is not applied either.
        (J, "t", br#"[{"series": "a", "value": 1}, {"series": "a", "value": "x"}]"#.to_vec(), 400, "invalid_point", "points[1].value"),
        (J, "t", br#"[{"series": "a", "value": 1}, {"series": "", "value": 2}]"#.to_vec(), 400, "invalid_point", "points[1].series: name is empty"),
        // Series names.
        (J, "t", br#"{"series": "a b", "value": 1}"#.to_vec(), 400, "invalid_point", "position 1"),
        (J, "t", br#"{"series": "<x>", "value": 1}"#.to_vec(), 400, "invalid_point", "'<'"),
        (J, "t", long_series.into_bytes(), 400, "invalid_point", "65 characters"),
        (J, "t", br#"{"series": 5, "value": 1}"#.to_vec(), 400, "invalid_point", "body.series: invalid type: integer `5`, expected a string"),
        // Timestamps.
        (J, "t", br#"{"value": 1, "ts": "now"}"#.to_vec(), 400, "invalid_point", "body.ts: invalid type: string \"now\", expected milliseconds"),
        (J, "t", br#"{"value": 1, "ts": 1.5}"#.to_vec(), 400, "invalid_point", "whole number"),
        (J, "t", br#"{"value": 1, "ts": -1}"#.to_vec(), 400, "invalid_point", "out of range"),
        (J, "t", br#"{"value": 1, "ts": 9000000000000000}"#.to_vec(), 400, "invalid_point", "out of range"),
        // NDJSON errors name the line.
        (N, "t", b"{\"value\": 1}\n{\"value\": 2}\n{\"value\":".to_vec(), 400, "invalid_json", "line 3: invalid JSON at column"),
        (N, "t", b"{\"series\": \"a\", \"value\": 1}\n\n{\"value\": \"x\"}".to_vec(), 400, "invalid_point", "line 3: value: invalid type: string \"x\", expected a number"),
        (N, "t", b"1\n2\n".to_vec(), 400, "invalid_point", "line 1: invalid type: integer `1`, expected a point object"),
        // Empty and oversized.
        (J, "t", b"[]".to_vec(), 400, "no_points", "no points"),
        (N, "t", b"\n \n".to_vec(), 400, "no_points", "no points"),
        (J, "t", six.into_bytes(), 413, "too_many_points", "6 points in one request; at most 5"),
        (N, "t", six_lines.into_bytes(), 413, "too_many_points", "6 points"),
        (J, "t", big.into_bytes(), 413, "body_too_large", "4096 bytes"),
        // Content types.
        (Some("text/plain"), "t", br#"{"value": 1}"#.to_vec(), 415, "unsupported_media_type", "\"text/plain\""),
        (None, "t", br#"{"value": 1}"#.to_vec(), 415, "unsupported_media_type", "no Content-Type"),
        (Some("application/x-www-form-urlencoded"), "t", b"value=1".to_vec(), 415, "unsupported_media_type", "application/x-ndjson"),
        // Stream names in the URL.
        (J, "bad%20name", br#"{"value": 1}"#.to_vec(), 400, "invalid_stream_name", "position 3"),
        (J, &long, br#"{"value": 1}"#.to_vec(), 400, "invalid_stream_name", "65 characters"),
        // Series and stream limits.
        (J, "two", br#"{"value": 1}"#.to_vec(), 400, "ambiguous_series", "body: the stream has 2 series (a, b)"),
        (J, "t", br#"[{"series": "b", "value": 1}, {"series": "c", "value": 1}, {"series": "d", "value": 1}]"#.to_vec(), 422, "too_many_series", "4 series (3 new: b, c, d); at most 3"),
        (J, "another", br#"{"value": 1}"#.to_vec(), 422, "too_many_streams", "maximum of 3 streams"),
    ];
    assert!(cases.len() >= 30);
    for (ct, stream, body, status, kind, says) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let what = format!("{ct:?} {stream} {shown}");
        let (got, answer) = publish_raw(&server, stream, ct, body, None).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"], kind, "{what}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(says),
            "{what}: {detail:?} does not say {says:?}"
        );
        assert_eq!(
            health(&server).await,
            before,
            "{what} changed the server's state"
        );
    }

    // Nothing was published in between: the next event follows the last good one.
    publish(&server, "t", r#"{"series": "a", "value": 42}"#).await;
    let e = watcher.next_event(PATIENCE).await;
    assert_eq!((seq(&e), values(&[e])), (2, vec![42.0]));
}

async fn health(server: &TestServer) -> Value {
    reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_streams_are_404_without_auto_create() {
    let server = TestServer::start(&[
        QUIET,
        ("LIVECHART_STREAMS_AUTO_CREATE", "false"),
        ("LIVECHART_STREAMS_DECLARED", "robot, prices"),
    ]);
    let (status, answer) = publish_raw(
        &server,
        "nope",
        Some("application/json"),
        r#"{"value": 1}"#,
        None,
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "unknown_stream");
    assert!(answer["detail"].as_str().unwrap().contains("\"nope\""));
    // Declared streams exist from the start and take points.
    assert_eq!(publish(&server, "prices", r#"{"value": 1}"#).await, 1);
    let h = health(&server).await;
    let names: Vec<&str> = h["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prices", "robot"]);
}

#[tokio::test]
async fn resume_after_a_drop_has_no_gap_and_no_duplicate() {
    let server = TestServer::start(&[QUIET]);
    for v in 1..=5 {
        publish(&server, "r", &format!(r#"{{"value": {v}}}"#)).await;
    }
    let url = events_url(&server, "r");
    let mut first = EventReader::open(&url).await;
    let snap = first.next_event(PATIENCE).await;
    assert_eq!(seq(&snap), 5);
    let epoch = id(&snap).epoch;
    drop(first);

    // Missed while disconnected: 6 to 10.
    for v in 6..=10 {
        publish(&server, "r", &format!(r#"{{"value": {v}}}"#)).await;
    }
    let last = format!("{epoch:x}-5");
    // A reconnecting EventSource sends the header; a new page uses the query.
    let header = EventReader::open_with(&url, &[("Last-Event-ID", last.as_str())]).await;
    let query = EventReader::open(&format!("{url}?last_event_id={last}")).await;
    // When both are there, the header (newer: the browser's own reconnect) wins.
    let both = EventReader::open_with(
        &format!("{url}?last_event_id={epoch:x}-2"),
        &[("Last-Event-ID", &format!("{epoch:x}-8"))],
    )
    .await;
    let mut readers = [header, query];
    for r in &mut readers {
        let events = take(r, 5).await;
        let seqs: Vec<u64> = events.iter().map(seq).collect();
        assert_eq!(seqs, [6, 7, 8, 9, 10]);
        assert_eq!(values(&events), [6.0, 7.0, 8.0, 9.0, 10.0]);
    }
    let mut both = both;
    assert_eq!(seq(&both.next_event(PATIENCE).await), 9);

    // Then live, still without a repeat.
    publish(&server, "r", r#"{"value": 11}"#).await;
    for r in &mut readers {
        let e = r.next_event(PATIENCE).await;
        assert_eq!((seq(&e), values(&[e])), (11, vec![11.0]));
    }

    // A malformed id is a clear 400, not a silent fresh start.
    for (query, header) in [("?last_event_id=12", None), ("", Some("yesterday"))] {
        let mut request = reqwest::Client::new().get(format!("{url}{query}"));
        if let Some(h) = header {
            request = request.header("last-event-id", h);
        }
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_last_event_id");
        assert!(
            body["detail"].as_str().unwrap().contains("EPOCH-SEQ"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_resume_older_than_the_history_gets_reset_and_the_window() {
    let server = TestServer::start(&[
        QUIET,
        ("LIVECHART_HISTORY_RING_EVENTS", "16"),
        ("LIVECHART_HISTORY_WINDOW", "4"),
    ]);
    for v in 1..=40 {
        publish(&server, "s", &format!(r#"{{"value": {v}}}"#)).await;
    }
    let url = events_url(&server, "s");
    let epoch = id(&EventReader::open(&url).await.next_event(PATIENCE).await).epoch;
    let mut last = 40;
    for (resume, reason) in [
        (format!("{epoch:x}-3"), "too_old"),
        (format!("{:x}-39", epoch - 1), "restarted"),
        (format!("{epoch:x}-99"), "unknown_id"),
    ] {
        let mut r = EventReader::open_with(&url, &[("Last-Event-ID", resume.as_str())]).await;
        let reset = r.next_event(PATIENCE).await;
        assert_eq!(reset.event, "reset", "{resume}");
        let body: Value = serde_json::from_str(&reset.data).unwrap();
        assert_eq!(body["reason"], reason, "{resume}");
        let snap = r.next_event(PATIENCE).await;
        assert_eq!(seq(&snap), last);
        let window: Vec<f64> = snapshot(&snap).points.iter().map(|p| p.value).collect();
        let expected: Vec<f64> = (last - 3..=last).map(|v| v as f64).collect();
        assert_eq!(window, expected, "{resume}");
        last += 1;
        publish(&server, "s", &format!(r#"{{"value": {last}}}"#)).await;
        let live = r.next_event(PATIENCE).await;
        assert_eq!((seq(&live), values(&[live])), (last, vec![last as f64]));
    }
    // The oldest resumable id still replays in full.
    let oldest = last - 16;
    let mut r = EventReader::open(&format!("{url}?last_event_id={epoch:x}-{oldest}")).await;
    assert_eq!(seq(&r.next_event(PATIENCE).await), oldest + 1);
}

/// An event stream read straight from a socket (so that its receive buffer can be small): its
/// body is everything after the head, until the connection closes.
struct RawStream {
    sock: tokio::net::TcpStream,
    raw: Vec<u8>,
    in_body: bool,
    parser: SseParser,
}

impl RawStream {
    /// Reads until `stop` holds for the events read so far.
    async fn read_until(&mut self, stop: impl Fn(&[SseEvent]) -> bool) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !stop(&events) {
            let n = tokio::time::timeout(PATIENCE, self.sock.read(&mut buf))
                .await
                .expect("data within the patience")
                .expect("read");
            assert!(n > 0, "the stream ended");
            self.raw.extend_from_slice(&buf[..n]);
            let body = self.body_bytes();
            for item in self.parser.push(&body) {
                if let SseItem::Event(e) = item {
                    events.push(e);
                }
            }
        }
        events
    }

    /// Takes the body bytes received so far.
    fn body_bytes(&mut self) -> Vec<u8> {
        if !self.in_body {
            let find =
                |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return Vec::new();
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(!head.contains("transfer-encoding"), "{head}");
            self.raw.drain(..end + 4);
            self.in_body = true;
        }
        std::mem::take(&mut self.raw)
    }
}

#[tokio::test]
async fn a_stalled_reader_is_resynced_and_does_not_slow_others() {
    let server = TestServer::start(&[
        QUIET,
        ("LIVECHART_HISTORY_RING_EVENTS", "64"),
        ("LIVECHART_HISTORY_WINDOW", "10"),
    ]);
    publish(&server, "s", r#"{"value": 0}"#).await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    // A client that asks for the stream and then reads nothing, with a small receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut sock = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = format!("GET /api/streams/s/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut stalled = RawStream {
        sock,
        raw: Vec::new(),
        in_body: false,
        parser: SseParser::new(),
    };
    wait_for_health(&server, PATIENCE, |h| h.streams[0].viewers == 1).await;
    let mut healthy = EventReader::open(&events_url(&server, "s")).await;
    healthy.next_event(PATIENCE).await;

    // ~20 MB: far more than socket buffers and the 64 events of history hold.
    let batch = format!("[{}]", vec![r#"{"value": 123.456}"#; 1000].join(","));
    for n in 2..=400u64 {
        publish(&server, "s", &batch).await;
        let e = healthy.next_event(PATIENCE).await;
        assert_eq!(seq(&e), n, "the healthy reader gets every event, in order");
        assert_eq!(e.event, "points");
    }

    // The stalled reader wakes up: what its buffers held, then a reset and the window.
    let events = stalled
        .read_until(|ev| ev.iter().any(|e| e.event == "snapshot" && seq(e) > 1))
        .await;
    let reset = events
        .iter()
        .position(|e| e.event == "reset")
        .expect("a reset after falling behind");
    assert!(
        events[reset].data.contains(r#""reason":"lagged""#),
        "{}",
        events[reset].data
    );
    let before: Vec<u64> = events[1..reset].iter().map(seq).collect();
    assert!(
        before.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap before the reset"
    );
    assert!(
        before.len() < 300,
        "it really was behind: {} events",
        before.len()
    );
    let snap = &events[reset + 1];
    assert_eq!((snap.event.as_str(), seq(snap)), ("snapshot", 400));
    publish(&server, "s", r#"{"value": 1}"#).await;
    let live = stalled.read_until(|ev| !ev.is_empty()).await;
    assert_eq!(seq(&live[0]), 401);

    let metrics = common::metrics_text(&server).await;
    assert!(
        metrics.contains(r#"livechart_resets_total{stream="s",reason="lagged"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn viewer_limit_is_503_with_retry_after() {
    let server = TestServer::start(&[
        ("LIVECHART_LIMITS_MAX_VIEWERS", "2"),
        ("LIVECHART_SSE_RETRY_MS", "2500"),
    ]);
    let url = events_url(&server, "demo");
    let a = EventReader::open(&url).await;
    let _b = EventReader::open(&url).await;
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "3");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_many_viewers");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("maximum of 2 viewers"));
    drop(a);
    wait_for_health(&server, PATIENCE, |h| h.streams[0].viewers == 1).await;
    let mut c = EventReader::open(&url).await;
    assert_eq!(c.next_event(PATIENCE).await.event, "snapshot");
}

#[tokio::test]
async fn connections_end_after_their_lifetime_and_resume_gaplessly() {
    let server = TestServer::start(&[
        ("LIVECHART_SSE_MAX_CONNECTION_MS", "1000"),
        ("LIVECHART_DEMO_INTERVAL_MS", "100"),
    ]);
    let url = events_url(&server, "demo");
    let mut r = EventReader::open(&url).await;
    let mut last = None;
    let mut ended_with = None;
    while let Some(item) = r.next_item(PATIENCE).await {
        match item {
            SseItem::Event(e) => last = Some(e),
            SseItem::Comment(c) => ended_with = Some(c),
            SseItem::Retry(_) => {}
        }
    }
    assert_eq!(
        ended_with.as_deref(),
        Some("connection lifetime reached, reconnect")
    );
    let last = last.expect("events before the end");
    let resume = last.id.clone().unwrap();
    let mut again = EventReader::open_with(&url, &[("Last-Event-ID", resume.as_str())]).await;
    let next = again.next_event(PATIENCE).await;
    assert_eq!(next.event, "points");
    assert_eq!(seq(&next), seq(&last) + 1);
}

#[tokio::test]
async fn tokens_guard_publishing_and_viewing_and_stay_out_of_logs() {
    const PUBLISH: &str = "publish-token-0123456789";
    const VIEW: &str = "view-token-abcdefghijklm";
    let log = std::env::temp_dir().join(format!("livechart-auth-{}.log", std::process::id()));
    let server = TestServer::start_logged(
        &[
            QUIET,
            ("LIVECHART_AUTH_PUBLISH_TOKEN", PUBLISH),
            ("LIVECHART_AUTH_VIEW_TOKEN", VIEW),
            ("RUST_LOG", "debug"),
        ],
        &log,
    );
    let json = Some("application/json");
    let body = r#"{"value": 1}"#;
    let (status, answer) = publish_raw(&server, "p", json, body, None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, answer) =
        publish_raw(&server, "p", json, body, Some("wrong-token-0123456789")).await;
    assert_eq!((status, answer["error"].as_str()), (403, Some("forbidden")));
    let (status, answer) = publish_raw(&server, "p", json, body, Some(PUBLISH)).await;
    assert_eq!(status, 200, "{answer}");
    let client = reqwest::Client::new();
    // Basic auth: the token is the password (as InfluxDB 1.x clients send it); a scheme that
    // is none of those is 401, saying which ones are.
    let with_auth = |value: String| {
        client
            .post(server.url("/api/streams/p/points"))
            .header("authorization", value)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    use base64::Engine;
    let basic = |password: &str| {
        let pair = format!("user:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    assert_eq!(with_auth(basic("pass")).await.unwrap().status(), 403);
    assert_eq!(with_auth(basic(PUBLISH)).await.unwrap().status(), 200);
    let resp = with_auth("Digest username=x".to_owned()).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));

    // Viewing: refused without the token, let in with it in any of three ways.
    let url = events_url(&server, "p");
    let get = |url: String, header: Option<(&'static str, String)>| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some((k, v)) = header {
                request = request.header(k, v);
            }
            request.send().await.unwrap()
        }
    };
    assert_eq!(get(url.clone(), None).await.status(), 401);
    assert_eq!(
        get(format!("{url}?token=nope-nope-nope-nope"), None)
            .await
            .status(),
        403
    );
    let bearer = Some(("authorization", format!("Bearer {VIEW}")));
    assert_eq!(get(url.clone(), bearer).await.status(), 200);
    assert_eq!(get(format!("{url}?token={VIEW}"), None).await.status(), 200);
    assert_eq!(get(server.url("/"), None).await.status(), 401);
    let page = get(server.url(&format!("/streams/p?token={VIEW}")), None).await;
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        get(url.clone(), Some(("cookie", cookie))).await.status(),
        200
    );
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(get(server.url("/healthz"), None).await.status(), 200);
    assert_eq!(get(server.url("/metrics"), None).await.status(), 200);

    drop(server);
    let logs = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        logs.contains("stream created"),
        "debug logs were written: {logs}"
    );
    assert!(
        !logs.contains(PUBLISH) && !logs.contains(VIEW),
        "a token was logged"
    );
}

#[tokio::test]
async fn metrics_count_what_happens() {
    let server = TestServer::start(&[QUIET]);
    for v in 0..3 {
        publish(
            &server,
            "m",
            &format!(r#"[{{"value": {v}}}, {{"value": {v}}}]"#),
        )
        .await;
    }
    let _ = publish_raw(&server, "m", Some("application/json"), "{", None).await;
    let _ = publish_raw(&server, "m", Some("text/csv"), "1", None).await;
    let mut r = EventReader::open(&events_url(&server, "m")).await;
    r.next_event(PATIENCE).await;
    let resp = reqwest::get(server.url("/metrics")).await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = resp.text().await.unwrap();
    for line in [
        r#"livechart_events_published_total{stream="m"} 3"#,
        r#"livechart_points_published_total{stream="m"} 6"#,
        r#"livechart_viewers{stream="m"} 1"#,
        r#"livechart_ring_events{stream="m"} 3"#,
        r#"livechart_series{stream="m"} 1"#,
        r#"livechart_rejected_requests_total{reason="invalid_json"} 1"#,
        r#"livechart_rejected_requests_total{reason="unsupported_media_type"} 1"#,
        "livechart_connections 1",
        "livechart_streams 1",
        "# EOF",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
