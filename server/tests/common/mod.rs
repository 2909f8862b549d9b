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

/// The server binary: this build's, or `LIVECHART_BIN` (benchmarks run the tests that
/// measure against the release binary: see BENCHMARKS.md).
fn binary() -> PathBuf {
    std::env::var_os("LIVECHART_BIN")
        .map(|b| workspace_root().join(b))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_livechart")))
}

/// A fresh, empty directory under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "livechart-{label}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A log file a server's standard error is appended to (kept across restarts).
fn append_to(log: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the log file")
}

/// A running server process, killed when dropped.
pub struct TestServer {
    child: Child,
    pub base: String,
    /// The data directory the server made for itself (none when the test gave one).
    _data: Option<TempDir>,
}

impl TestServer {
    /// Starts the server with the shipped configuration plus `env` overrides.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::spawn(env, Stdio::inherit())
    }

    /// Starts the server with its log (standard error) written to `log`.
    pub fn start_logged(env: &[(&str, &str)], log: &std::path::Path) -> Self {
        let file = std::fs::File::create(log).expect("create the log file");
        Self::spawn(env, Stdio::from(file))
    }

    /// Starts the server on the data directory `dir` (kept across restarts).
    pub fn start_in(dir: &TempDir, env: &[(&str, &str)], log: &std::path::Path) -> Self {
        let mut env = env.to_vec();
        env.push(("LIVECHART_DATA_DIR", dir.str()));
        Self::spawn(&env, Stdio::from(append_to(log)))
    }

    /// Starts the binary with command-line `args`, in the directory `cwd`, its log appended
    /// to `log`.
    pub fn start_with_args(
        args: &[&str],
        env: &[(&str, &str)],
        cwd: &std::path::Path,
        log: &std::path::Path,
    ) -> Self {
        let file = append_to(log);
        let (args, cwd): (Vec<String>, PathBuf) = (
            args.iter().map(|a| (*a).to_owned()).collect(),
            cwd.to_owned(),
        );
        Self::spawn_with(env, Stdio::from(file), move |cmd| {
            cmd.args(&args);
            cmd.current_dir(&cwd);
        })
    }

    /// Starts the server as a process whose open-file limit is `soft` under `hard`.
    pub fn start_with_file_limit(env: &[(&str, &str)], soft: u64, hard: u64) -> Self {
        Self::start_with_rlimit(env, Stdio::inherit(), libc::RLIMIT_NOFILE, soft, hard)
    }

    /// Starts the server as a process that may map at most `bytes` of address space: an
    /// answer it tried to build beyond that would abort it.
    pub fn start_with_memory_limit(env: &[(&str, &str)], bytes: u64) -> Self {
        Self::start_with_rlimit(env, Stdio::inherit(), libc::RLIMIT_AS, bytes, bytes)
    }

    /// Starts the server as a process no file of which may grow past `bytes`: a full disk
    /// from the start (`SIGXFSZ` is ignored, so writes fail with EFBIG), for its log (appended
    /// to `log`) too.
    pub fn start_with_file_size_limit(
        env: &[(&str, &str)],
        bytes: u64,
        log: &std::path::Path,
    ) -> Self {
        let file = append_to(log);
        Self::start_with_rlimit(
            env,
            Stdio::from(file),
            libc::RLIMIT_FSIZE,
            bytes,
            libc::RLIM_INFINITY,
        )
    }

    fn start_with_rlimit(
        env: &[(&str, &str)],
        stderr: Stdio,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> Self {
        use std::os::unix::process::CommandExt;
        Self::spawn_with(env, stderr, |cmd| {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: between fork and exec, setrlimit only reads the struct it is given.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(resource, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        })
    }

    fn spawn(env: &[(&str, &str)], stderr: Stdio) -> Self {
        Self::spawn_with(env, stderr, |_| {})
    }

    fn spawn_with(env: &[(&str, &str)], stderr: Stdio, adjust: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = Command::new(binary());
        cmd.current_dir(workspace_root());
        adjust(&mut cmd);
        // Each server its own empty history, unless the test gives it one.
        let data =
            (!env.iter().any(|(k, _)| *k == "LIVECHART_DATA_DIR")).then(|| TempDir::new("data"));
        if let Some(dir) = &data {
            cmd.env("LIVECHART_DATA_DIR", dir.path());
        }
        cmd.env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            // Only the demo source, unless a test asks for the others: tests count streams.
            .env("LIVECHART_SYSTEM_ENABLED", "false")
            .env("LIVECHART_CLASSIC_ENABLED", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr);
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
        TestServer {
            child,
            base,
            _data: data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The process's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_kb("VmHWM:") * 1024
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a size in kB")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
/// A binary still running after 20 s is killed (code `None`): a refusal never takes that long.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let data = TempDir::new("data");
    let stderr = TempDir::new("stderr");
    let stderr_file = stderr.path().join("stderr");
    let mut child = Command::new(binary())
        .current_dir(workspace_root())
        .env("LIVECHART_DATA_DIR", data.path())
        .args(args)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).expect("create the stderr file"))
        .spawn()
        .expect("run the livechart binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        code,
        std::fs::read_to_string(&stderr_file).unwrap_or_default(),
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
        Self::open_with(url, &[]).await
    }

    /// Opens with extra request headers (`Last-Event-ID`, `Authorization`).
    pub async fn open_with(url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = reqwest::Client::new().get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("connect");
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
        self.read_item(limit)
            .await
            .unwrap_or_else(|e| panic!("stream broke: {e}"))
    }

    /// The next item, or `None` when the stream ended or broke (its server was killed).
    pub async fn next_item_or_end(&mut self, limit: Duration) -> Option<SseItem> {
        self.read_item(limit).await.unwrap_or(None)
    }

    async fn read_item(&mut self, limit: Duration) -> reqwest::Result<Option<SseItem>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Ok(Some(item));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("nothing arrived within {limit:?}"));
            match chunk {
                Some(chunk) => self.queue.extend(self.parser.push(&chunk?)),
                None => return Ok(None),
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

/// The sequence number of an event's `EPOCH-SEQ` id.
pub fn seq(e: &SseEvent) -> u64 {
    id(e).seq
}

pub fn id(e: &SseEvent) -> app::model::EventId {
    e.id.as_deref()
        .expect("the event has an id")
        .parse()
        .expect("the id is EPOCH-SEQ")
}

/// The points of a `points` event.
pub fn points(e: &SseEvent) -> Vec<app::model::Point> {
    assert_eq!(e.event, "points", "{e:?}");
    serde_json::from_str(&e.data).expect("points data is a JSON array of points")
}

/// The snapshot of a `snapshot` event.
pub fn snapshot(e: &SseEvent) -> app::model::Snapshot {
    assert_eq!(e.event, "snapshot", "{e:?}");
    serde_json::from_str(&e.data).expect("snapshot data")
}

/// Reads a multiplexed connection's `points` events until `n` points arrived, as (stream,
/// series, ts, value); panics when they have not all arrived within `limit`.
pub async fn tagged_points(
    reader: &mut EventReader,
    n: usize,
    limit: Duration,
) -> Vec<(String, String, i64, f64)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while got.len() < n {
        let Ok(e) = tokio::time::timeout_at(deadline, reader.next_event(limit)).await else {
            panic!("only {} of {n} points arrived: {got:?}", got.len());
        };
        if e.event != "points" {
            continue;
        }
        let t: app::model::Tagged<Vec<app::model::Point>> =
            serde_json::from_str(&e.data).expect("tagged points");
        for p in t.data {
            got.push((t.stream.to_string(), p.series.to_string(), p.ts, p.value));
        }
    }
    got
}

/// Posts a body to a stream's points endpoint; returns the status and the JSON answer.
pub async fn publish_raw(
    server: &TestServer,
    stream: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/streams/{stream}/points")))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = request.send().await.expect("POST points");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Publishes JSON and expects success; returns the event's sequence number.
pub async fn publish(server: &TestServer, stream: &str, json: &str) -> u64 {
    let (status, answer) = publish_raw(
        server,
        stream,
        Some("application/json"),
        json.to_owned(),
        None,
    )
    .await;
    assert_eq!(status, 200, "publish {json}: {answer}");
    let id: app::model::EventId = answer["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("EPOCH-SEQ");
    id.seq
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

/// The values the server holds of `stream` (its `series`, or its first), in order, from the
/// range query, unreduced up to 100,000 points.
pub async fn held_values(server: &TestServer, stream: &str, series: Option<&str>) -> Vec<f64> {
    let only = series.map_or_else(String::new, |s| format!("&series={s}"));
    let range: serde_json::Value = reqwest::get(server.url(&format!(
        "/api/streams/{stream}/points?max_points=100000{only}"
    )))
    .await
    .expect("GET points")
    .json()
    .await
    .expect("JSON");
    range["series"][0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default()
}

/// `prlimit(RLIMIT_FSIZE)` of another process: no file may grow past `bytes`.
pub fn limit_file_size(pid: u32, bytes: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system call on a pid this test started; the struct outlives the call.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The Python that has the test clients (`influxdb-client`, `sseclient-py`):
/// `LIVECHART_PYTHON`, or the virtual environment `.ci/setup` makes in `target/python`.
/// `None` (a skip) when there is none and this is not CI.
pub fn python() -> Option<PathBuf> {
    let path = std::env::var_os("LIVECHART_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/python/bin/python"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing (.ci/setup makes it, with the test clients); CI=true, so this fails",
        path.display()
    );
    eprintln!("SKIPPED: no Python with the test clients (run .ci/setup)");
    None
}

/// `GET /metrics`, as text.
pub async fn metrics_text(server: &TestServer) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

pub mod mosquitto;
pub mod redis_server;
pub mod tls_proxy;
