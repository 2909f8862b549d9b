//! `livechart publish`, end to end: lines piped in arrive on a subscriber, and nothing read is
//! lost while the server is down.

mod common;

use common::{points, snapshot, EventReader, TestServer};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(15);

/// A running `livechart publish`, its standard error collected line by line.
struct Publisher {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Publisher {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_livechart"))
            .arg("publish")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start livechart publish");
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(lines).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Publisher {
            child,
            stdin,
            stderr,
        }
    }

    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(text.as_bytes())
            .expect("write to the publisher");
        stdin.flush().unwrap();
    }

    /// Closes standard input and waits for the exit code.
    fn finish(&mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the publisher did not exit: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.log().iter().any(|l| l.contains(needle)) {
            assert!(
                Instant::now() < deadline,
                "never said {needle:?}: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn piped_lines_arrive_on_a_subscriber() {
    let server = TestServer::start(&[
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("LIVECHART_STREAMS_DECLARED", "robot,multi"),
    ]);
    let mut robot = EventReader::open(&server.url("/api/streams/robot/events")).await;
    assert!(snapshot(&robot.next_event(PATIENCE).await)
        .points
        .is_empty());

    let mut p = Publisher::start(&[
        "--stream",
        "robot",
        "--url",
        &server.base,
        "--linger-ms",
        "20",
    ]);
    p.write("1\n2.5\n# a comment\nnot a number\n-3e2\n");
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(points(&robot.next_event(PATIENCE).await));
    }
    let values: Vec<f64> = got.iter().map(|p| p.value).collect();
    assert_eq!(values, [1.0, 2.5, -300.0]);
    assert!(got.iter().all(|p| p.series.as_str() == "value"));
    assert_eq!(p.finish(), 0);
    let log = p.log();
    assert!(
        log.iter()
            .any(|l| l.contains("line 4") && l.contains("skipped")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("published 3 points")),
        "{log:?}"
    );

    // Pairs and JSON lines, several series at once.
    let mut multi = EventReader::open(&server.url("/api/streams/multi/events")).await;
    multi.next_event(PATIENCE).await;
    let mut p = Publisher::start(&["--stream", "multi", "--url", &server.base]);
    p.write("temp=21.5 hum=40\n{\"series\": \"temp\", \"ts\": 1763700000123, \"value\": 22}\n");
    assert_eq!(p.finish(), 0);
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(points(&multi.next_event(PATIENCE).await));
    }
    let seen: Vec<(&str, f64)> = got.iter().map(|p| (p.series.as_str(), p.value)).collect();
    assert_eq!(seen, [("temp", 21.5), ("hum", 40.0), ("temp", 22.0)]);
    assert_eq!(got[2].ts, 1_763_700_000_123);
}

#[tokio::test]
async fn nothing_is_lost_while_the_server_is_down() {
    // A port with nobody listening, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut p = Publisher::start(&[
        "--stream",
        "late",
        "--url",
        &url,
        "--batch",
        "5",
        "--buffer",
        "10",
        "--linger-ms",
        "10",
        "--max-retry-ms",
        "200",
    ]);
    let lines: String = (1..=50).map(|v| format!("{v}\n")).collect();
    // More lines than the buffer holds: the publisher stops reading and says so.
    let writer = {
        let mut stdin = p.stdin.take().unwrap();
        std::thread::spawn(move || {
            stdin.write_all(lines.as_bytes()).unwrap();
            stdin
        })
    };
    p.wait_for_log("cannot reach");
    p.wait_for_log("buffer full");

    let addr = format!("127.0.0.1:{port}");
    let server = TestServer::start(&[
        ("LEPTOS_SITE_ADDR", addr.as_str()),
        ("LIVECHART_DEMO_ENABLED", "false"),
    ]);
    p.stdin = Some(writer.join().unwrap());
    assert_eq!(p.finish(), 0, "{:?}", p.log());
    assert!(
        p.log().iter().any(|l| l.contains("published 50 points")),
        "{:?}",
        p.log()
    );

    // Every value, once, in order: the window (120 by default) holds them all.
    let mut r = EventReader::open(&server.url("/api/streams/late/events")).await;
    let window = snapshot(&r.next_event(PATIENCE).await);
    let values: Vec<f64> = window.points.iter().map(|p| p.value).collect();
    assert_eq!(values, (1..=50).map(f64::from).collect::<Vec<_>>());
    let ts: Vec<i64> = window.points.iter().map(|p| p.ts).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "stamped when read, in order"
    );
}

#[test]
fn bad_arguments_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_livechart"))
        .args(["publish", "--stream", "no way"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--stream") && stderr.contains("position 2"),
        "{stderr}"
    );
}

#[tokio::test]
async fn publishes_over_https_through_a_tls_proxy_with_a_private_ca() {
    let server = TestServer::start(&[
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("LIVECHART_STREAMS_DECLARED", "tls"),
    ]);
    let upstream = server.base.trim_start_matches("http://").to_owned();
    let Some(proxy) = common::tls_proxy::TlsProxy::start(&upstream) else {
        return;
    };
    let mut tls = EventReader::open(&server.url("/api/streams/tls/events")).await;
    tls.next_event(PATIENCE).await;

    // Without the CA, the certificate is not trusted: a clear error at once, not retries.
    let url = proxy.url();
    let mut p = Publisher::start(&["--stream", "tls", "--url", &url]);
    p.write("1\n");
    assert_eq!(p.finish(), 1);
    let log = p.log();
    assert!(
        log.iter()
            .any(|l| l.contains("certificate") && l.contains("--ca-cert")),
        "{log:?}"
    );

    let ca = proxy.ca();
    let mut p = Publisher::start(&["--stream", "tls", "--url", &url, "--ca-cert", &ca]);
    p.write("1\n2\nx=3\n");
    assert_eq!(p.finish(), 0, "{:?}", p.log());
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(points(&tls.next_event(PATIENCE).await));
    }
    let values: Vec<(String, f64)> = got
        .iter()
        .map(|p| (p.series.to_string(), p.value))
        .collect();
    assert_eq!(
        values,
        [
            ("value".into(), 1.0),
            ("value".into(), 2.0),
            ("x".into(), 3.0)
        ]
    );

    // A file that holds no certificate is refused before anything is read.
    let bogus = proxy.dir.path().join("san.ext");
    let mut p = Publisher::start(&[
        "--stream",
        "tls",
        "--url",
        &url,
        "--ca-cert",
        bogus.to_str().unwrap(),
    ]);
    assert_eq!(p.finish(), 2);
    assert!(
        p.log().iter().any(|l| l.contains("--ca-cert")),
        "{:?}",
        p.log()
    );
}
