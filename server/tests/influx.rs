//! The Influx line protocol over HTTP: InfluxDB's official Python client (`influxdb-client`
//! from PyPI) writes to `/api/v2/write`; Telegraf-style gzip bodies go to both paths; bad
//! bodies are refused whole, naming the line. And the InfluxDB API around writes (`/ping`,
//! `/health`, `/query`), with InfluxDB's 1.x and 2.x Python clients and its JavaScript client.

mod common;

use app::model::Health;
use common::{tagged_points, EventReader, TestServer};
use std::io::Write;
use std::time::Duration;

const TOKEN: &str = "influx-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

fn row(stream: &str, series: &str, ts: i64, value: f64) -> (String, String, i64, f64) {
    (stream.into(), series.into(), ts, value)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("gzip");
    e.finish().expect("gzip")
}

async fn health(server: &TestServer) -> Health {
    reqwest::get(server.url("/healthz"))
        .await
        .expect("GET /healthz")
        .json()
        .await
        .expect("health JSON")
}

#[tokio::test]
async fn the_official_python_client_writes_with_tags_and_precisions() {
    let Some(python) = common::python() else {
        return;
    };
    let server = TestServer::start(&[
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_AUTH_PUBLISH_TOKEN", TOKEN),
        ("LIVECHART_STREAMS_DECLARED", "cpu,env"),
    ]);
    let mut reader = EventReader::open(&server.url("/api/events?streams=cpu,env")).await;
    let script = common::workspace_root().join("server/tests/python/influx_write.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([&server.base, TOKEN])
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["ok", "ok", "ok", "ok", "refused 400"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = tagged_points(&mut reader, 6, WAIT).await;
    // Order is kept within a stream; a multiplexed connection that falls behind may send one
    // stream's waiting events before another's, so the streams are compared one by one.
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            // The client writes fields in the order of their keys.
            row("cpu", "procs.cpu0.web1", 1_700_000_000_123, 12.0),
            row("cpu", "usage_idle.cpu0.web1", 1_700_000_000_123, 97.5),
            row("cpu", "usage_idle.cpu0.web1", 1_700_000_001_000, 96.0),
            row("env", "temp.lab_1", 1_700_000_002_000, 21.5),
            row("env", "ok.lab_1", 1_700_000_002_000, 1.0),
            row("env", "temp.lab_1", 1_700_000_003_000, 22.25),
        ]
    );
    // The refused write (a string field) left nothing behind.
    let env = health(&server)
        .await
        .streams
        .into_iter()
        .find(|s| s.name.as_str() == "env")
        .expect("env");
    assert_eq!(env.published, 2);
}

/// POSTs a line-protocol body; returns the status and the answer's text.
async fn write(
    server: &TestServer,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", "text/plain; charset=utf-8")
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A bad write: path, body, headers, then the status, error kind and words the answer holds.
type Case<'a> = (
    &'a str,
    Vec<u8>,
    &'a [(&'a str, &'a str)],
    u16,
    &'a str,
    &'a str,
);

#[tokio::test]
async fn gzip_bodies_both_paths_and_a_table_of_bad_inputs() {
    let server = TestServer::start(&[
        // Nothing else may change the server's state while the table runs.
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_AUTH_PUBLISH_TOKEN", TOKEN),
        ("LIVECHART_STREAMS_MAX", "3"),
        ("LIVECHART_STREAMS_MAX_SERIES", "3"),
        ("LIVECHART_INGEST_MAX_POINTS", "5"),
        ("LIVECHART_STREAMS_DECLARED", "mem,net"),
    ]);
    let token = format!("Token {TOKEN}");
    let auth = [("authorization", token.as_str())];
    let gz = [
        ("authorization", token.as_str()),
        ("content-encoding", "gzip"),
    ];
    let br = [
        ("authorization", token.as_str()),
        ("content-encoding", "br"),
    ];
    let mut reader = EventReader::open(&server.url("/api/events?streams=mem,net")).await;

    // What Telegraf's outputs.influxdb_v2 sends: gzip, nanoseconds, several measurements.
    let body = "mem,host=h1 used_percent=41.5,free=1024i 1700000000000000000\n\
                net,host=h1,interface=eth0 bytes_recv=99u 1700000000000000000\n";
    let (status, text) = write(
        &server,
        "/api/v2/write?org=o&bucket=telegraf",
        gzip(body),
        &gz,
    )
    .await;
    assert_eq!((status, text.as_str()), (204, ""));
    // The 1.x path, seconds, Bearer as well as Token.
    let bearer = format!("Bearer {TOKEN}");
    let (status, _) = write(
        &server,
        "/write?db=telegraf&precision=s",
        b"mem,host=h1 used_percent=42 1700000001".to_vec(),
        &[("authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(status, 204);
    let mut got = tagged_points(&mut reader, 4, WAIT).await;
    got.sort_by(|a, b| a.0.cmp(&b.0)); // in order within each stream (see above)
    assert_eq!(
        got,
        [
            row("mem", "used_percent.h1", 1_700_000_000_000, 41.5),
            row("mem", "free.h1", 1_700_000_000_000, 1024.0),
            row("mem", "used_percent.h1", 1_700_000_001_000, 42.0),
            row("net", "bytes_recv.h1.eth0", 1_700_000_000_000, 99.0),
        ]
    );

    let before = health(&server).await;
    let too_many_series = "net a=1,b=2,c=3\n";
    let cases: Vec<Case> = vec![
        (
            "/api/v2/write",
            b"mem".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 1: the line has no fields",
        ),
        (
            "/api/v2/write",
            b"mem v=1\nmem s=\"on\"".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 2: field \"s\" is a string",
        ),
        (
            "/api/v2/write",
            b"mem,t=x\\".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 1: bad escape",
        ),
        (
            "/api/v2/write",
            b"mem v=1 yesterday".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 1: timestamp \"yesterday\"",
        ),
        (
            "/api/v2/write?precision=d",
            b"mem v=1".to_vec(),
            &auth,
            400,
            "invalid_precision",
            "precision \"d\"",
        ),
        // A bad line among good ones: nothing is applied.
        (
            "/api/v2/write",
            b"mem v=1\nmem v=2\nmem v=x\nmem v=4".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 3:",
        ),
        (
            "/api/v2/write",
            gzip("mem v=1\n\nmem v=\n"),
            &gz,
            400,
            "invalid_line_protocol",
            "line 3: field \"v\" has no value",
        ),
        (
            "/api/v2/write",
            b"not gzip".to_vec(),
            &gz,
            400,
            "body_unreadable",
            "not valid gzip",
        ),
        (
            "/api/v2/write",
            b"mem v=1".to_vec(),
            &br,
            415,
            "unsupported_content_encoding",
            "\"br\"",
        ),
        (
            "/api/v2/write",
            b"\xff v=1".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 1: the body is not UTF-8",
        ),
        (
            "/api/v2/write",
            b"mem a=1,b=2,c=3\nmem d=4,e=5,f=6".to_vec(),
            &auth,
            413,
            "too_many_points",
            "6 points",
        ),
        (
            "/api/v2/write",
            b"\n# only a comment\n".to_vec(),
            &auth,
            400,
            "no_points",
            "no lines",
        ),
        // Limits hold across streams: the good first line is not applied either.
        (
            "/api/v2/write",
            format!("mem used_percent.h1=1\n{too_many_series}").into_bytes(),
            &auth,
            422,
            "too_many_series",
            "stream \"net\" (from line 2): this would give the stream 4 series",
        ),
        (
            "/api/v2/write",
            b"mem v=1\na v=1\nb v=1\nc v=1".to_vec(),
            &auth,
            422,
            "too_many_streams",
            "maximum of 3 streams",
        ),
        (
            "/api/v2/write",
            b"mem v=1".to_vec(),
            &[],
            401,
            "unauthorized",
            "Token <token>",
        ),
        (
            "/api/v2/write",
            b"mem v=1".to_vec(),
            &[("authorization", "Token wrong-token-0123456789")],
            403,
            "forbidden",
            "publish token",
        ),
        (
            "/write",
            b"mem v=1 1.5".to_vec(),
            &auth,
            400,
            "invalid_line_protocol",
            "line 1: timestamp",
        ),
    ];
    for (path, body, headers, status, kind, says) in cases {
        let what = format!(
            "{path} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        let (got, text) = write(&server, path, body, headers).await;
        assert_eq!(got, status, "{what}: {text}");
        let answer: serde_json::Value = serde_json::from_str(&text).expect("a JSON error");
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
}

/// Two bodies that each fit a stream's series limit alone, but not both, sent at once, sixty
/// times: exactly one is written, and the other leaves nothing, not even in its other stream.
#[tokio::test]
async fn racing_bodies_are_each_all_or_nothing() {
    let server = TestServer::start(&[
        ("LIVECHART_STREAMS_MAX_SERIES", "4"),
        ("LIVECHART_STREAMS_MAX", "1000"),
    ]);
    let client = reqwest::Client::new();
    let write = |body: String| {
        let request = client
            .post(server.url("/api/v2/write?org=o&bucket=b"))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body);
        async move {
            let r = request.send().await.expect("write");
            r.status().as_u16()
        }
    };
    let points_of = |stream: String| {
        let request = client.get(server.url(&format!("/api/streams/{stream}/points")));
        async move {
            let r = request.send().await.expect("range");
            if r.status() == 404 {
                return 0;
            }
            let answer: app::range::PointsRange = r.json().await.expect("range JSON");
            answer.series.iter().map(|s| s.total).sum::<usize>()
        }
    };
    for round in 0..60 {
        let a = format!("own_a{round} v=1\nshared{round} a1=1,a2=1,a3=1");
        let b = format!("own_b{round} v=1\nshared{round} b1=1,b2=1,b3=1");
        let (sa, sb) = tokio::join!(write(a), write(b));
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [204, 422],
            "round {round}: one body fits, not both"
        );
        let (loser, winner) = if sa == 204 { ("b", "a") } else { ("a", "b") };
        assert_eq!(
            points_of(format!("own_{loser}{round}")).await,
            0,
            "round {round}: the refused body wrote nothing"
        );
        assert_eq!(points_of(format!("own_{winner}{round}")).await, 1);
        assert_eq!(points_of(format!("shared{round}")).await, 3);
    }
}

/// What InfluxDB clients and Telegraf call around their writes: `/ping`, `/health`, `/query`
/// (database statements), and the token as the password of Basic or `?p=`. InfluxDB's
/// Python clients (1.x and 2.x) and its JavaScript client, unmodified.
#[tokio::test]
async fn influxdb_clients_ping_check_health_create_databases_and_write() {
    let Some(python) = common::python() else {
        return;
    };
    let server = TestServer::start(&[
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_AUTH_PUBLISH_TOKEN", TOKEN),
        ("LIVECHART_AUTH_VIEW_TOKEN", "another-token-for-viewing"),
    ]);
    let script = common::workspace_root().join("server/tests/python/influx_clients.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([&server.base, TOKEN])
        .output()
        .await
        .expect("run the Python clients");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "version 1.8.10",
            "created",
            "databases ['livechart']",
            "written True"
        ]
    );
    assert!(
        lines[4].starts_with("refused SELECT * FROM v1 | 400:"),
        "{}",
        lines[4]
    );
    assert!(
        lines[4].contains("/api/streams/{name}/points"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].starts_with("refused DROP DATABASE lab | livechart keeps streams"),
        "{}",
        lines[5]
    );
    assert_eq!(
        lines[6..],
        [
            "wrong password refused 403",
            "v2 ping True",
            "v2 health pass"
        ]
    );

    let node = common::workspace_root().join("end2end");
    if node
        .join("node_modules/@influxdata/influxdb-client")
        .exists()
    {
        let out = tokio::process::Command::new("node")
            .current_dir(&node)
            .args(["clients/influx_js.mjs", &server.base, TOKEN])
            .output()
            .await
            .expect("run the JavaScript client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            ["ping ok", "health pass", "write ok"],
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "end2end/node_modules is missing (.ci/setup installs it); CI=true, so this fails"
        );
    }

    let client = reqwest::Client::new();
    // HEAD /ping, as Telegraf's outputs.influxdb checks.
    let ping = client
        .head(server.url("/ping"))
        .send()
        .await
        .expect("HEAD /ping");
    assert_eq!(ping.status(), 204);
    assert_eq!(ping.headers()["x-influxdb-version"], "1.8.10");
    // The token as ?u=&p=, and CREATE DATABASE as a form body (Grafana, curl -d).
    let r = client
        .post(server.url(&format!("/write?db=lab&u=any&p={TOKEN}")))
        .body("params temp=3")
        .send()
        .await
        .expect("write with ?p=");
    assert_eq!(r.status(), 204);
    let r = client
        .post(server.url(&format!("/query?u=any&p={TOKEN}")))
        .form(&[("q", "CREATE DATABASE \"telegraf\"")])
        .send()
        .await
        .expect("query as a form");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"results":[{"statement_id":0}]}"#
    );
    let r = client
        .get(server.url("/query?q=SHOW%20DATABASES"))
        .send()
        .await
        .expect("query without the token");
    assert_eq!(r.status(), 401);
    // What the clients wrote arrived.
    let streams: Vec<String> = health(&server)
        .await
        .streams
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    for name in ["v1", "js", "params"] {
        assert!(streams.iter().any(|s| s == name), "{name} in {streams:?}");
    }
}
