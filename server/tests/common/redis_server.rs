//! A real `redis-server` for a test: its own process on a Unix socket in a temporary
//! directory, with the append-only file on (`appendfsync always`), stopped when dropped.

use super::TempDir;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub dir: TempDir,
    /// `redis+unix://…` for the servers under test.
    pub url: String,
}

impl RedisServer {
    /// A fresh Redis, or `None` when `redis-server` is not installed and this is not CI
    /// (`CI=true` makes a missing Redis a failure, never a skip).
    pub fn start() -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is not installed (.ci/setup installs it); CI=true, so this fails"
            );
            eprintln!("SKIPPED: redis-server is not installed (run .ci/setup)");
            return None;
        }
        let dir = TempDir::new("redis");
        let url = format!("redis+unix://{}/redis.sock", dir.str());
        let mut redis = RedisServer {
            child: None,
            dir,
            url,
        };
        redis.start_again();
        Some(redis)
    }

    /// Starts the process (again) on the same directory: with the append-only file, it
    /// comes back with its data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let dir = self.dir.str();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(format!("{dir}/redis.sock"))
            .args(["--unixsocketperm", "700", "--dir", dir])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction", "--daemonize", "no"])
            .stdout(
                std::fs::File::create(format!("{dir}/redis.log")).expect("create the Redis log"),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.try_cmd(&["PING"]).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process (SIGTERM: the append-only file is complete) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP: it holds its connections and answers nothing, as a
    /// stalled host) or lets it go on (SIGCONT).
    pub fn freeze(&self, frozen: bool) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([
                    if frozen { "-STOP" } else { "-CONT" },
                    &child.id().to_string(),
                ])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill: {status}");
        }
    }

    fn try_cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn)
    }

    /// Runs one command (`FLUSHALL`, `HSET …`) and returns its answer.
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
