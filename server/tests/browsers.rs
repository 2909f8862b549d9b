//! What a page on another site can make its visitor's browser send: writes without a
//! preflight (a form, a `no-cors` fetch with `text/plain`) are refused by the headers the
//! browser adds, programs that are not browsers publish as before, and a host-name allow-list
//! stops DNS rebinding.

mod common;

use common::TestServer;
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn stream_names(server: &TestServer) -> Vec<String> {
    let list: Vec<app::model::StreamInfo> = client()
        .get(server.url("/api/streams"))
        .send()
        .await
        .expect("GET /api/streams")
        .json()
        .await
        .expect("the list");
    list.into_iter().map(|s| s.name.to_string()).collect()
}

/// Posts `body` to `path` as `content_type` with `headers`; the status and the error kind.
async fn post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = client()
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    (status, answer["error"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn writes_from_another_sites_pages_are_refused_and_programs_still_publish() {
    let server = TestServer::start(&[]);
    let evil_origin = [("origin", "https://evil.example")];
    let cross_site = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ];
    // What a page can send without a preflight, to every way of writing.
    for headers in [&evil_origin[..], &cross_site[..]] {
        for (path, content_type, body) in [
            ("/api/v2/write?bucket=b", "text/plain", "pwned v=1"),
            (
                "/write?db=b",
                "application/x-www-form-urlencoded",
                "pwned v=1",
            ),
            ("/api/streams/pwned/points", "text/plain", r#"{"value":1}"#),
            ("/api/tasks", "text/plain", ""),
        ] {
            let (status, kind) = post(&server, path, content_type, body, headers).await;
            assert_eq!(
                (status, kind.as_str()),
                (403, "cross_site_request"),
                "{path} {headers:?}"
            );
        }
    }
    let deleted = client()
        .delete(server.url("/api/streams/demo"))
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 403);
    assert!(
        !stream_names(&server).await.contains(&"pwned".to_owned()),
        "nothing was written"
    );
    assert!(stream_names(&server).await.contains(&"demo".to_owned()));

    // Programs send neither header: the line protocol as Telegraf sends it, JSON as curl.
    let (status, _) = post(
        &server,
        "/api/v2/write?bucket=b",
        "text/plain; charset=utf-8",
        "lines v=1",
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = post(
        &server,
        "/api/streams/curl/points",
        "application/json",
        r#"{"value":1}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    // The page this server serves: same origin, by either header.
    let (status, _) = post(
        &server,
        "/api/tasks",
        "application/json",
        "{}",
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, 202);
    let own = server.url("");
    let own = own.trim_end_matches('/');
    let (status, _) = post(
        &server,
        "/api/tasks",
        "application/json",
        "{}",
        &[("origin", own)],
    )
    .await;
    assert_eq!(status, 202);
    let names = stream_names(&server).await;
    assert!(names.contains(&"lines".to_owned()) && names.contains(&"curl".to_owned()));
}

#[tokio::test]
async fn an_allow_list_of_host_names_stops_dns_rebinding() {
    let server = TestServer::start(&[("LIVECHART_AUTH_ALLOWED_HOSTS", "charts.example, .lan")]);
    for (host, status) in [
        ("charts.example", 200),
        ("CHARTS.example:3000", 200),
        ("pi.lan", 200),
        ("evil.example", 421),
        ("charts.example.evil.example", 421),
        ("127.0.0.1", 421),
    ] {
        let response = client()
            .get(server.url("/api/streams"))
            .header("host", host)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), status, "Host: {host}");
        if status == 421 {
            let answer: serde_json::Value = response.json().await.expect("an error answer");
            assert_eq!(answer["error"], "unknown_host");
        }
    }
    // Without a list, any name is served.
    let open = TestServer::start(&[]);
    let response = client()
        .get(open.url("/api/streams"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn open_publishing_beyond_loopback_is_warned_about() {
    let dir = common::TempDir::new("beyond-loopback");
    let log = dir.path().join("server.log");
    let server = TestServer::start_logged(&[("LEPTOS_SITE_ADDR", "0.0.0.0:0")], &log);
    // The server is up (it printed its address); the warning came before.
    assert_eq!(
        client()
            .get(server.url("/healthz"))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(
        text.contains("listening beyond loopback with open publishing"),
        "{text}"
    );
    let quiet_log = dir.path().join("quiet.log");
    let quiet = TestServer::start_logged(
        &[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:0"),
            ("LIVECHART_AUTH_PUBLISH_TOKEN", "publish-token-0123456789"),
            ("LIVECHART_AUTH_ALLOWED_HOSTS", "0.0.0.0"),
        ],
        &quiet_log,
    );
    drop(quiet);
    let text = std::fs::read_to_string(&quiet_log).expect("the log");
    assert!(!text.contains("beyond loopback"), "{text}");
}
