//! Independent Server-Sent Events parsers against both event endpoints, across a restart of
//! the server: Node's `eventsource` 3 (which drops a block that has an id and no data) and 5,
//! and Python's `sseclient-py`, each on `/api/streams/{name}/events` and on
//! `/api/events?streams=`. Every reader must chart every value once, in order: no gap, no
//! repeat. (Chromium's `EventSource` is in end2end.)

mod common;

use common::{workspace_root, TempDir, TestServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

fn node_ready() -> bool {
    let ready = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && workspace_root()
            .join("end2end/node_modules/eventsource3")
            .exists();
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node or end2end/node_modules is missing (.ci/setup installs them); CI=true, so this fails"
        );
        eprintln!("SKIPPED: node or end2end/node_modules is missing (run .ci/setup)");
    }
    ready
}

fn start(dir: &TempDir, port: u16) -> TestServer {
    let addr = format!("127.0.0.1:{port}");
    TestServer::start_in(
        dir,
        &[
            ("LEPTOS_SITE_ADDR", addr.as_str()),
            ("LIVECHART_DEMO_ENABLED", "false"),
            ("LIVECHART_SSE_RETRY_MS", "300"),
        ],
        &dir.path().join("server.log"),
    )
}

async fn publish(server: &TestServer, values: std::ops::RangeInclusive<u32>) {
    let client = reqwest::Client::new();
    for v in values {
        let r = client
            .post(server.url("/api/streams/resume/points"))
            .json(&serde_json::json!({ "value": v }))
            .send()
            .await
            .expect("publish");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn three_parsers_resume_both_endpoints_across_a_restart() {
    if !node_ready() {
        return;
    }
    let dir = TempDir::new("clients");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = start(&dir, port);
    // The readers connect before the stream exists: the single-stream endpoint follows it
    // from its creation (a 404 would close an EventSource for good).
    let Some(python) = common::python() else {
        return;
    };
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let mut readers: Vec<std::process::Child> = [
        Command::new("node")
            .current_dir(workspace_root().join("end2end"))
            .args(["clients/read_events.mjs", &server.base, "resume", "30"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node"),
        Command::new(python)
            .arg(workspace_root().join("server/tests/python/read_events.py"))
            .args([&server.base, "resume", "30"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python"),
    ]
    .into_iter()
    .collect();
    for reader in &mut readers {
        let stdout = reader.stdout.take().expect("the reader's stdout");
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
    }
    drop(lines_tx);
    let mut lines = Vec::new();
    let mut next_line = || {
        let line = lines_rx
            .recv_timeout(PATIENCE)
            .expect("a line from the readers");
        lines.push(line.clone());
        line
    };
    // Every reader waits on the stream before it exists.
    common::wait_for_health(&server, PATIENCE, |h| h.connections >= 6).await;
    publish(&server, 1..=10).await;
    let mut connected = 0;
    while connected < 6 {
        if next_line().contains("connected") {
            connected += 1;
        }
    }
    publish(&server, 11..=20).await;
    // Time for the readers to take them, then a restart under them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate(PATIENCE).expect("stops on SIGTERM");
    drop(server);
    let server = start(&dir, port);
    publish(&server, 21..=30).await;

    let statuses = tokio::task::spawn_blocking(move || {
        readers
            .iter_mut()
            .map(|r| r.wait().expect("wait for a reader"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    let rest: Vec<String> = lines_rx.try_iter().collect();
    let expected: Vec<Option<f64>> = (1..=30).map(|v| Some(f64::from(v))).collect();
    let mut reports = 0;
    for line in rest.iter().chain(lines.iter()) {
        let Ok(report) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(name) = report["reader"].as_str() else {
            continue;
        };
        reports += 1;
        let values: Vec<Option<f64>> = report["values"]
            .as_array()
            .map(|v| v.iter().map(serde_json::Value::as_f64).collect())
            .unwrap_or_default();
        assert_eq!(values, expected, "{name}: every value once, in order");
    }
    assert!(statuses.iter().all(|s| s.success()), "the readers finished");
    assert_eq!(reports, 6);
    drop(server);
}
