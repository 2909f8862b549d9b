//! What a hostile or careless client sends must cost only its own request: poison data,
//! odd request targets, tokens written loosely, streams that pile up, inputs echoed back.

mod common;

use common::{metrics_text, publish, publish_raw, TestServer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATIENCE: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client")
}

/// Sends raw bytes on a new connection and reads until the server closes it (or `limit`).
async fn raw(server: &TestServer, request: &[u8], limit: Duration) -> String {
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    socket.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pages_of_poison_data_stay_small() {
    let server = TestServer::start(&[]);
    // 275,000 years between two points, the widest values, one point, equal values.
    publish(
        &server,
        "poison",
        r#"[{"ts":0,"value":1},{"ts":8640000000000000,"value":2}]"#,
    )
    .await;
    publish(
        &server,
        "wide",
        r#"[{"ts":1,"value":-1e308},{"ts":8640000000000,"value":1e308}]"#,
    )
    .await;
    publish(&server, "lone", r#"{"ts":5,"value":4.9e-324}"#).await;
    publish(
        &server,
        "flat",
        r#"[{"ts":5,"value":7},{"ts":6,"value":7}]"#,
    )
    .await;
    for path in [
        "/streams/poison",
        "/streams/wide",
        "/streams/lone",
        "/streams/flat",
        "/",
    ] {
        let started = std::time::Instant::now();
        let response = client().get(server.url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        let page = response.text().await.expect("page");
        // The page holds its points (window, table) and a picture with a few labels.
        assert!(page.len() < 400_000, "{path}: {} bytes", page.len());
        assert!(page.contains("<svg"), "{path}: no picture");
        eprintln!("{path}: {} bytes in {:?}", page.len(), started.elapsed());
    }
    let poison = client()
        .get(server.url("/streams/poison"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        poison.contains("275760-09-13"),
        "the time axis is labelled by date"
    );
}

#[tokio::test]
async fn odd_request_targets_get_an_error_and_no_panic() {
    let dir = tempdir();
    let log = dir.join("server.log");
    let server = TestServer::start_logged(
        &[("LIVECHART_AUTH_VIEW_TOKEN", "view-token-0123456789")],
        &log,
    );
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    let long_page = format!(
        "GET /streams/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "b".repeat(5000)
    );
    for (request, status) in [
        (long_path.as_str(), "414"),
        (long_page.as_str(), "414"),
        ("GET a:1 HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        ("HEAD a:1 HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        (
            "POST a:1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "400",
        ),
        ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        ("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "405"),
    ] {
        let answer = raw(
            &server,
            request
                .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            PATIENCE,
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{request:?} -> {answer:?}"
        );
        if !request.starts_with("HEAD") {
            assert!(answer.contains(r#""error":"#), "a JSON error: {answer:?}");
        }
    }
    // Everyone else is still served.
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(server);
    let log = std::fs::read_to_string(&log).expect("read the log");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("failed while answering"), "{log}");
    assert!(
        !log.contains("ERROR"),
        "nothing here is the server's error: {log}"
    );
}

#[tokio::test]
async fn view_tokens_with_plus_and_stale_cookies() {
    let token = "abc+def/ghi=jkl-0123";
    let server = TestServer::start(&[("LIVECHART_AUTH_VIEW_TOKEN", token)]);
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PATIENCE)
        .build()
        .unwrap();
    // As the README shows it (`+` not encoded), and percent-encoded: both are the token.
    for query in ["abc+def/ghi=jkl-0123", "abc%2Bdef%2Fghi%3Djkl-0123"] {
        let r = no_redirect
            .get(server.url(&format!("/api/streams?token={query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "?token={query}");
    }
    // A correct ?token= wins over a stale cookie, and replaces it.
    let r = no_redirect
        .get(server.url("/api/streams?token=abc+def/ghi=jkl-0123"))
        .header("cookie", "livechart_token=stale-token-from-before-0000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("livechart_token={token};")),
        "{cookie}"
    );
    // A stale cookie alone is still refused.
    let r = no_redirect
        .get(server.url("/api/streams"))
        .header("cookie", "livechart_token=stale-token-from-before-0000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn streams_can_be_deleted_and_expire_when_idle() {
    let token = "publish-token-0123456789";
    let server = TestServer::start(&[
        ("LIVECHART_AUTH_PUBLISH_TOKEN", token),
        ("LIVECHART_STREAMS_MAX", "4"),
        ("LIVECHART_STREAMS_IDLE_EXPIRY_MS", "1500"),
    ]);
    let post = |name: &'static str| {
        publish_raw(
            &server,
            name,
            Some("application/json"),
            r#"{"value":1}"#.to_owned(),
            Some(token),
        )
    };
    for name in ["a", "b", "c"] {
        assert_eq!(post(name).await.0, 200);
    }
    // The fourth slot is the demo's: full.
    let (status, answer) = post("d").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("too_many_streams"))
    );

    let delete = |name: &'static str, auth: Option<&'static str>| {
        let mut r = client().delete(server.url(&format!("/api/streams/{name}")));
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(delete("a", None).await.unwrap().status(), 401);
    assert_eq!(delete("a", Some(token)).await.unwrap().status(), 204);
    assert_eq!(delete("a", Some(token)).await.unwrap().status(), 404);
    let pinned = delete("demo", Some(token)).await.unwrap();
    assert_eq!(pinned.status(), 409, "the demo's stream stays");
    assert_eq!(post("d").await.0, 200, "the freed name makes room");

    // Nobody publishes or watches b, c and d: they expire; the demo stays.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let list: Vec<app::model::StreamInfo> = client()
            .get(server.url("/api/streams"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        if names == ["demo"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never expired: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for name in ["x", "y", "z"] {
        assert_eq!(
            post(name).await.0,
            200,
            "names do not fill the limit for good"
        );
    }
}

#[tokio::test]
async fn error_details_quote_little_of_the_input() {
    let server = TestServer::start(&[]);
    let long = "k".repeat(60_000);
    let body = format!(r#"{{"value":1,"{long}":2}}"#);
    let (status, answer) = publish_raw(&server, "s", Some("application/json"), body, None).await;
    assert_eq!(status, 400);
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.len() < 600, "{} bytes of detail", detail.len());
    assert!(detail.contains("unknown field"), "{detail}");
    let (status, answer) = publish_raw(
        &server,
        "s",
        Some(&format!("text/{}", "x".repeat(4000))),
        "{}".to_owned(),
        None,
    )
    .await;
    assert_eq!(status, 415);
    assert!(answer["detail"].as_str().unwrap().len() < 600);
    // An unknown path is quoted in part; one longer than any route is refused unread.
    for (length, status) in [(900, 404), (6000, 414)] {
        let path = format!("/api/{}", "p".repeat(length));
        let r = client().get(server.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), status, "a path of {length}");
        assert!(r.text().await.unwrap().len() < 700);
    }
    assert!(metrics_text(&server)
        .await
        .contains("livechart_rejected_requests"));
}

#[tokio::test]
async fn integral_timestamps_written_as_floats_are_accepted() {
    let server = TestServer::start(&[]);
    for (body, ts) in [
        (r#"{"ts":1.0,"value":1}"#, Some(1i64)),
        (r#"{"ts":1e3,"value":1}"#, Some(1000)),
        (r#"{"ts":8.64e15,"value":1}"#, Some(8_640_000_000_000_000)),
        (r#"{"ts":1.5,"value":1}"#, None),
        (r#"{"ts":1e16,"value":1}"#, None),
        (r#"{"ts":-1.0,"value":1}"#, None),
    ] {
        let (status, answer) = publish_raw(
            &server,
            "f",
            Some("application/json"),
            body.to_owned(),
            None,
        )
        .await;
        match ts {
            Some(_) => assert_eq!(status, 200, "{body}: {answer}"),
            None => assert_eq!(status, 400, "{body}: {answer}"),
        }
    }
    let snapshot: app::model::Snapshot = {
        let mut r = common::EventReader::open(&server.url("/api/streams/f/events")).await;
        common::snapshot(&r.next_event(PATIENCE).await)
    };
    let times: Vec<i64> = snapshot.points.iter().map(|p| p.ts).collect();
    assert_eq!(times, [1, 1000, 8_640_000_000_000_000]);
}

/// A fresh directory under the system's temporary directory.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "livechart-test-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}
