//! Test harness: the real `livechart` binary on an ephemeral port, and a real HTTP client
//! reading its event streams.

#![allow(dead_code)] // each test file uses a different part of the harness

use futures_util::StreamExt;
use livechart_server::sse::{SseEvent, SseItem, SseParser};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workspace root, where the shipped Leptos.toml lives.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running server process, killed when dropped.
pub struct TestServer {
    child: Child,
    pub base: String,
}

impl TestServer {
    /// Starts the server with the shipped configuration plus `env` overrides.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_livechart"));
        cmd.current_dir(workspace_root())
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start the livechart binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .trim()
            .strip_prefix("livechart listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        TestServer { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -TERM failed");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (for configuration errors) and returns (exit code, stderr).
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_livechart"))
        .current_dir(workspace_root())
        .args(args)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the livechart binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An open SSE response, parsed as it arrives.
pub struct EventReader {
    pub response_headers: reqwest::header::HeaderMap,
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    queue: VecDeque<SseItem>,
}

impl EventReader {
    pub async fn open(url: &str) -> Self {
        let response = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .expect("connect");
        assert_eq!(response.status(), 200, "GET {url}");
        EventReader {
            response_headers: response.headers().clone(),
            body: response.bytes_stream().boxed(),
            parser: SseParser::new(),
            queue: VecDeque::new(),
        }
    }

    /// The next item, or `None` when the stream ended. Panics after `limit` without one.
    pub async fn next_item(&mut self, limit: Duration) -> Option<SseItem> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("nothing arrived within {limit:?}"));
            match chunk {
                Some(Ok(bytes)) => self.queue.extend(self.parser.push(&bytes)),
                Some(Err(e)) => panic!("stream broke: {e}"),
                None => return None,
            }
        }
    }

    /// The next event, skipping comments and retry fields.
    pub async fn next_event(&mut self, limit: Duration) -> SseEvent {
        loop {
            match self.next_item(limit).await {
                Some(SseItem::Event(e)) => return e,
                Some(_) => continue,
                None => panic!("the stream ended"),
            }
        }
    }
}

/// Polls `GET /healthz` until `pred` holds; panics after `limit`.
pub async fn wait_for_health(
    server: &TestServer,
    limit: Duration,
    pred: impl Fn(&app::model::Health) -> bool,
) -> app::model::Health {
    let deadline = Instant::now() + limit;
    loop {
        let health: app::model::Health = reqwest::get(server.url("/healthz"))
            .await
            .expect("GET /healthz")
            .json()
            .await
            .expect("health JSON");
        if pred(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "health never matched; last: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
