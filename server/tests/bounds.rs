//! Nothing one kind of request makes the server build may take its memory, and no client
//! holds a shared place past its deadline: pages that name many streams, slow readers of large
//! range answers (JSON and CSV), long lists in ids and queries. Each runs against the real
//! binary under an address-space limit (an answer built whole would abort it), checks its
//! peak memory, and checks that a healthy viewer is still served afterwards.

mod common;

use common::{publish_raw, EventReader, TestServer};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const PATIENCE: Duration = Duration::from_secs(20);
/// The address space the server may map. Its threads' stacks and allocator arenas reserve
/// most of what it maps before it does anything; what it holds is checked by `VmHWM`.
const ADDRESS_SPACE: u64 = 3 << 30;
const MB: u64 = 1 << 20;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client")
}

/// Publishes `series` series of `per_series` points each to `stream`, 10,000 points a
/// request (the default most), `step_ms` apart ending now.
async fn fill(server: &TestServer, stream: &str, series: usize, per_series: usize, step_ms: i64) {
    let now = app::model::now_ms();
    let total = series * per_series;
    let mut body = String::new();
    let mut in_body = 0;
    for i in 0..total {
        let (s, k) = (i % series, i / series);
        let ts = now - (per_series - k) as i64 * step_ms;
        body += &format!(
            "{{\"series\":\"s{s:02}\",\"ts\":{ts},\"value\":{}}}\n",
            (k as f64) * 1.5 + s as f64
        );
        in_body += 1;
        if in_body == 10_000 || i + 1 == total {
            let (status, answer) = publish_raw(
                server,
                stream,
                Some("application/x-ndjson"),
                std::mem::take(&mut body),
                None,
            )
            .await;
            assert_eq!(status, 200, "fill {stream}: {answer}");
            in_body = 0;
        }
    }
}

/// Publishes one point to `pulse` and expects `viewer` to show it: the server still serves.
async fn still_serves(server: &TestServer, viewer: &mut EventReader, value: f64) {
    let (status, answer) = publish_raw(
        server,
        "pulse",
        Some("application/json"),
        format!("{{\"value\":{value}}}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "publish to pulse: {answer}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let e = viewer.next_event(PATIENCE).await;
        if e.event == "points" && common::points(&e).iter().any(|p| p.value == value) {
            return;
        }
        assert!(Instant::now() < deadline, "the healthy viewer saw {value}");
    }
}

/// A viewer of `pulse`, which exists once this returns.
async fn healthy_viewer(server: &TestServer) -> EventReader {
    let (status, _) = publish_raw(
        server,
        "pulse",
        Some("application/json"),
        r#"{"value":0}"#.to_owned(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let mut viewer = EventReader::open(&server.url("/api/streams/pulse/events")).await;
    assert_eq!(viewer.next_event(PATIENCE).await.event, "snapshot");
    viewer
}

/// Opens `n` connections that each send `request` and then read nothing.
async fn silent_readers(
    server: &TestServer,
    request: &str,
    n: usize,
) -> Vec<tokio::net::TcpStream> {
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let mut sockets = Vec::new();
    for _ in 0..n {
        let mut socket = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        socket.write_all(request.as_bytes()).await.expect("send");
        sockets.push(socket);
    }
    sockets
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
}

#[tokio::test]
async fn a_page_naming_many_streams_is_refused_or_bounded() {
    let mut server = TestServer::start_with_memory_limit(&[], ADDRESS_SPACE);
    let mut viewer = healthy_viewer(&server).await;
    // 40 streams of 16 series × 500 points: every chart's window full.
    let names: Vec<String> = (0..40).map(|i| format!("full{i:02}")).collect();
    for name in &names {
        fill(&server, name, 16, 500, 50).await;
    }
    let before = server.peak_rss();

    // 12,000 names that do not exist, in a 56 KB address: refused, saying why.
    let fake: Vec<String> = (0..12_000).map(|i| format!("{i:x}")).collect();
    let response = client()
        .get(server.url(&format!("/?streams={}", fake.join(","))))
        .send()
        .await
        .map_err(|e| e.without_url())
        .expect("the long address");
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("at most 32 streams"),
        "{}",
        &page[..page.len().min(2000)]
    );
    assert!(
        page.len() < 100_000,
        "the refusal is short: {} bytes",
        page.len()
    );

    // Without a choice the dashboard shows 12 and says how many it leaves out.
    let page = client()
        .get(server.url("/"))
        .send()
        .await
        .expect("the dashboard")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Showing the first 12 of 42 streams"),
        "the page says what it leaves out"
    );
    // One more real stream than a page may show: refused the same way.
    let response = client()
        .get(server.url(&format!("/?streams={}", names[..33].join(","))))
        .send()
        .await
        .expect("33 streams");
    assert_eq!(response.status(), 400);

    // The most a page may show, eight at once: each page within its budget.
    let url = server.url(&format!("/?streams={}", names[..32].join(",")));
    let pages: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let response = client().get(&url).send().await.expect("page");
                assert_eq!(response.status(), 200);
                response.text().await.expect("page text")
            })
        })
        .collect();
    for page in pages {
        let page = page.await.unwrap();
        assert_eq!(
            page.matches("<li data-stream=\"full").count(),
            40,
            "the list names every stream"
        );
        eprintln!("a page of 32 full streams: {} bytes", page.len());
        assert!(
            page.len() < 3_000_000,
            "a page's first paint has a budget: {} bytes",
            page.len()
        );
    }
    let peak = server.peak_rss();
    eprintln!(
        "peak resident memory: {} MB before the pages, {} MB after",
        before / MB,
        peak / MB
    );
    assert!(
        peak < before + 300 * MB,
        "eight pages cost {} MB",
        (peak - before) / MB
    );
    assert!(server.is_running());
    still_serves(&server, &mut viewer, 1.0).await;
}

/// 16 series × 60,000 points: a 14.5 MB JSON answer, 25 MB as CSV.
async fn big_stream(server: &TestServer) {
    fill(server, "big", 16, 60_000, 50).await;
}

#[tokio::test]
async fn slow_readers_of_a_large_answer_hold_a_socket_buffer_not_the_answer() {
    let mut server = TestServer::start_with_memory_limit(
        &[("LIVECHART_CONNECTIONS_ANSWER_TIMEOUT_MS", "4000")],
        ADDRESS_SPACE,
    );
    let mut viewer = healthy_viewer(&server).await;
    big_stream(&server).await;
    let before = server.peak_rss();
    // 60 readers of everything, exact, who read nothing.
    let readers = silent_readers(
        &server,
        &get("/api/streams/big/points?max_points=100000"),
        60,
    )
    .await;
    // Long enough for every one to be answered that would be (a query waits 10 s for a
    // place), and for two rounds of their deadline.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let peak = server.peak_rss();
    eprintln!(
        "60 silent readers of a 14.5 MB answer: peak {} MB, {} MB before",
        peak / MB,
        before / MB
    );
    assert!(server.is_running());
    assert!(
        peak < before + 250 * MB,
        "60 slow readers cost {} MB",
        (peak - before) / MB
    );
    still_serves(&server, &mut viewer, 2.0).await;
    // Their deadline frees the places: an ordinary query is answered.
    let response = client()
        .get(server.url("/api/streams/big/points?max_points=400"))
        .send()
        .await
        .expect("a query after them");
    assert_eq!(response.status(), 200);
    let answer: app::range::PointsRange = response.json().await.expect("the answer");
    assert_eq!(answer.series.len(), 16);
    assert!(answer
        .series
        .iter()
        .all(|s| s.total == 60_000 && s.ts.len() <= 400));
    drop(readers);
}

#[tokio::test]
async fn a_streamed_answer_is_the_same_json() {
    let server = TestServer::start(&[]);
    fill(&server, "exact", 3, 5_000, 50).await;
    let response = client()
        .get(server.url("/api/streams/exact/points?max_points=100000"))
        .send()
        .await
        .expect("exact");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = response.text().await.unwrap();
    let answer: app::range::PointsRange = serde_json::from_str(&text).expect("valid JSON");
    // Written piece by piece, it is exactly what serializing the whole answer gives.
    assert_eq!(serde_json::to_string(&answer).unwrap(), text);
    assert_eq!(answer.series.len(), 3);
    for (i, s) in answer.series.iter().enumerate() {
        assert_eq!((s.total, s.ts.len(), s.reduced), (5_000, 5_000, false));
        assert_eq!(s.values[10], 10.0 * 1.5 + i as f64);
    }
}

#[tokio::test]
async fn slow_csv_readers_cannot_hold_the_query_places() {
    let server = TestServer::start_with_memory_limit(
        &[("LIVECHART_CONNECTIONS_ANSWER_TIMEOUT_MS", "3000")],
        ADDRESS_SPACE,
    );
    let mut viewer = healthy_viewer(&server).await;
    big_stream(&server).await;
    // Four downloads that read nothing hold the four places...
    let readers = silent_readers(&server, &get("/api/streams/big/points?format=csv"), 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ... until their deadline: a look-back waiting for a place gets one.
    let started = Instant::now();
    let response = client()
        .get(server.url("/api/streams/big/points?max_points=100"))
        .send()
        .await
        .expect("a query while they wait");
    eprintln!("answered after {:?}", started.elapsed());
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    still_serves(&server, &mut viewer, 4.0).await;
    drop(readers);
}

#[tokio::test]
async fn long_lists_are_refused_before_they_are_worked_through() {
    let server = TestServer::start_with_memory_limit(&[], ADDRESS_SPACE);
    let mut viewer = healthy_viewer(&server).await;
    publish_raw(
        &server,
        "a",
        Some("application/json"),
        r#"[{"series":"x","value":1}]"#.to_owned(),
        None,
    )
    .await;
    // A composite id of 5,000 positions (43 KB) and a query naming 12,000 series.
    let id: Vec<String> = (0..5_000).map(|i| format!("{i:x}:1-1")).collect();
    let response = client()
        .get(server.url("/api/events?streams=a"))
        .header("Last-Event-ID", id.join(","))
        .send()
        .await
        .expect("a long id");
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("more than 1024"), "{text}");
    let series: Vec<String> = (0..12_000).map(|i| format!("{i:x}")).collect();
    let response = client()
        .get(server.url(&format!(
            "/api/streams/a/points?series={}",
            series.join(",")
        )))
        .send()
        .await
        .map_err(|e| e.without_url())
        .expect("a long series list");
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("more than 64 series"), "{text}");
    // A bad stream name is quoted, not echoed whole.
    let response = client()
        .get(server.url(&format!("/streams/{}", "x".repeat(900))))
        .send()
        .await
        .expect("a long name");
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("900 characters long") && !page.contains(&"x".repeat(100)));
    // A head longer than 64 KiB is not read at all.
    let response = client()
        .get(server.url("/api/streams/a/points"))
        .header("X-Padding", "p".repeat(70_000))
        .send()
        .await
        .expect("a long head");
    assert_eq!(response.status(), 431);
    still_serves(&server, &mut viewer, 5.0).await;
}

/// Whether a new viewer of `pulse` is let in now (`200`), or refused for want of a slot.
async fn viewer_admitted(server: &TestServer) -> u16 {
    client()
        .get(server.url("/api/streams/pulse/events"))
        .send()
        .await
        .expect("a viewer")
        .status()
        .as_u16()
}

#[tokio::test]
async fn http2_viewers_whose_window_stays_shut_are_let_go() {
    let server = TestServer::start(&[
        ("LIVECHART_LIMITS_MAX_VIEWERS", "20"),
        ("LIVECHART_CONNECTIONS_WRITE_TIMEOUT_MS", "1000"),
    ]);
    let mut viewer = healthy_viewer(&server).await;
    // One HTTP/2 connection opens a viewer in every slot left and never lets a byte of
    // their bodies through (a stream window of zero).
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (h2, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .expect("an HTTP/2 handshake");
    let connection = tokio::spawn(connection);
    let mut held = Vec::new();
    for _ in 0..19 {
        let request = http::Request::get(format!("http://{addr}/api/streams/pulse/events"))
            .body(())
            .expect("a request");
        let (response, _) = h2
            .clone()
            .ready()
            .await
            .expect("ready")
            .send_request(request, true)
            .expect("send");
        held.push(response);
    }
    for response in &mut held {
        let response = response.await.expect("a response head");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(viewer_admitted(&server).await, 503, "every slot is held");
    // Their write timeout ends the connection, and their slots are free again.
    let deadline = Instant::now() + PATIENCE;
    loop {
        if viewer_admitted(&server).await == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck HTTP/2 viewers still hold every slot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ended = tokio::time::timeout(PATIENCE, connection).await;
    assert!(ended.is_ok(), "the server ended the connection");
    still_serves(&server, &mut viewer, 3.0).await;
}

/// Publishes to `quiet` one at a time for `rounds`, returning each one's latency, sorted.
async fn publish_latencies(server: &TestServer, rounds: usize) -> Vec<Duration> {
    let client = client();
    let url = server.url("/api/streams/quiet/points");
    let mut took = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let started = Instant::now();
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(format!("{{\"value\":{i}}}"))
            .send()
            .await
            .expect("publish");
        assert_eq!(response.status(), 200, "publish {i} while others look back");
        took.push(started.elapsed());
    }
    took.sort();
    took
}

fn summary(took: &[Duration]) -> String {
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    format!(
        "median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}

/// Range queries over a million points on one stream while another is published to: every
/// publish and every query is answered. The times are printed for BENCHMARKS.md ((k), run
/// against the release binary), not asserted. The queries and the publishes run on threads
/// of their own, so that one does not wait for the other in the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn publishing_goes_on_while_a_million_points_are_looked_back_on() {
    let server = TestServer::start(&[("LIVECHART_DEMO_ENABLED", "false")]);
    // Within the hour retained.
    fill(&server, "huge", 1, 1_000_000, 3).await;
    let quiet = publish_latencies(&server, 400).await;
    eprintln!("publishes alone: {}", summary(&quiet));
    let (busy, answered) = publishing_while_looking_back(&server).await;
    eprintln!(
        "publishes during {answered} range queries over 1,000,000 points: {}",
        summary(&busy)
    );
    // One point from the past: the series went back in time once, and every query of it
    // filters and sorts its million points.
    let (status, answer) = publish_raw(
        &server,
        "huge",
        Some("application/json"),
        format!(
            "{{\"ts\":{},\"value\":-1}}",
            app::model::now_ms() - 1_000_000
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (busy, answered) = publishing_while_looking_back(&server).await;
    eprintln!(
        "publishes during {answered} range queries over 1,000,000 points out of order: {}",
        summary(&busy)
    );
}

/// Two clients query `huge` in a loop (reduced to 2,000 points, and to 100,000) and a third
/// publishes to it every 5 ms, while `quiet` is published to; the latencies of the
/// publishes to `quiet`, and how many queries were answered.
async fn publishing_while_looking_back(server: &TestServer) -> (Vec<Duration>, usize) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lookers: Vec<_> = ["2000", "100000"]
        .into_iter()
        .map(|most| {
            let url = server.url(&format!("/api/streams/huge/points?max_points={most}"));
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = client().get(&url).send().await.expect("range");
                    assert_eq!(response.status(), 200);
                    // Taken, not parsed: the client's own work would be measured too.
                    let body = response.bytes().await.expect("the answer");
                    assert!(body.starts_with(b"{\"stream\":\"huge\"") && body.ends_with(b"]}]}"));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    // The stream looked back on is live: its events go through the one committer too.
    let live = {
        let (url, stop) = (server.url("/api/streams/huge/points"), stop.clone());
        tokio::spawn(async move {
            let client = client();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(r#"{"value":1}"#)
                    .send()
                    .await
                    .expect("publish to huge");
                assert_eq!(response.status(), 200);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let busy = publish_latencies(server, 400).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    live.await.unwrap();
    let mut answered = 0;
    for l in lookers {
        answered += l.await.unwrap();
    }
    assert!(answered >= 2, "the queries ran meanwhile");
    (busy, answered)
}
