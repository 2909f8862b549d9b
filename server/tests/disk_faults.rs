//! A disk that fails under the embedded store, then a SIGKILL while it fails: what the server
//! answered must be what its history holds at the next start. A file-size limit
//! (`prlimit(RLIMIT_FSIZE)` of the running server) stands in for a full disk; a library
//! preloaded into the server makes `fsync` fail, as a failing filesystem does.

mod common;

use app::model::{ErrorBody, Health, PublishReceipt};
use common::{held_values, limit_file_size, wait_for_health, TempDir, TestServer};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn start(dir: &TempDir, log: &TempDir, env: &[(&str, String)]) -> TestServer {
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([("LIVECHART_DEMO_ENABLED", "false"), ("RUST_LOG", "info")]);
    TestServer::start_in(dir, &env, &log.path().join("server.log"))
}

/// A failing filesystem: a library preloaded into the server makes `fsync` and `fdatasync`
/// fail with EIO (after doing nothing) while `trigger` exists.
struct FailingSync {
    dir: TempDir,
}

const FAILING_SYNC_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
static int failing(void) {
    const char *t = getenv("FAIL_SYNC_WHILE");
    return t && access(t, F_OK) == 0;
}
int fsync(int fd) {
    if (failing()) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}
int fdatasync(int fd) {
    if (failing()) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
"#;

impl FailingSync {
    fn build() -> FailingSync {
        let dir = TempDir::new("failing-sync");
        let source = dir.path().join("failing_sync.c");
        std::fs::write(&source, FAILING_SYNC_C).unwrap();
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(dir.path().join("failing_sync.so"))
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("cc (the C compiler Rust links with)");
        assert!(status.success(), "compile the preloaded library");
        FailingSync { dir }
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("LD_PRELOAD", format!("{}/failing_sync.so", self.dir.str())),
            ("FAIL_SYNC_WHILE", format!("{}/failing", self.dir.str())),
        ]
    }

    fn fail(&self, failing: bool) {
        let trigger = self.dir.path().join("failing");
        if failing {
            std::fs::write(trigger, "").unwrap();
        } else {
            let _ = std::fs::remove_file(trigger);
        }
    }
}

/// What the publishers were told, batch by batch (each batch's values are its own).
#[derive(Default)]
struct Answers {
    acknowledged: Vec<Vec<f64>>,
    refused: Vec<Vec<f64>>,
    unknown: Vec<Vec<f64>>,
    other: Vec<String>,
}

/// Eight publishers of small batches of distinct values, until `stop`.
fn publishers(
    server: &TestServer,
    answers: &Arc<Mutex<Answers>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = server.url("/api/streams/disk/points");
    let client = reqwest::Client::new();
    (0..8u32)
        .map(|p| {
            let (answers, url, client, stop) =
                (answers.clone(), url.clone(), client.clone(), stop.clone());
            tokio::spawn(async move {
                // At most 8 × 1,000 batches of 5.5 points: all of it fits one range answer.
                for i in 0..1000u32 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let size = 1 + (i * 7 + p) % 10;
                    let values: Vec<f64> = (0..size)
                        .map(|k| f64::from(p) * 1e7 + f64::from(i) * 100.0 + f64::from(k))
                        .collect();
                    let body: Vec<_> = values
                        .iter()
                        .map(|v| serde_json::json!({"value": v}))
                        .collect();
                    let Ok(r) = client.post(&url).json(&body).send().await else {
                        return;
                    };
                    let status = r.status().as_u16();
                    let text = if matches!(status, 200 | 503 | 504) {
                        String::new()
                    } else {
                        r.text().await.unwrap_or_default()
                    };
                    let mut a = answers.lock().unwrap();
                    match status {
                        200 => a.acknowledged.push(values),
                        503 => a.refused.push(values),
                        504 => a.unknown.push(values),
                        s => a.other.push(format!("{s} {text}")),
                    }
                }
            })
        })
        .collect()
}

/// Publishes through `flips` spells of `fault` (each until a few more publishes were refused
/// or answered `outcome_unknown`), kills the server during the last once every publish was
/// answered, starts it again without the fault, and compares what it holds with what the
/// publishers were told.
async fn publish_through_faults(
    label: &str,
    env: &[(&str, String)],
    fault: impl Fn(&TestServer, &TempDir, bool),
    flips: usize,
) -> Answers {
    let (dir, log) = (TempDir::new(label), TempDir::new(&format!("{label}-log")));
    let mut server = start(&dir, &log, env);
    let answers: Arc<Mutex<Answers>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = publishers(&server, &answers, &stop);
    let failed = || {
        let a = answers.lock().unwrap();
        a.refused.len() + a.unknown.len()
    };
    for flip in 1..=flips {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fault(&server, &dir, true);
        let until = Instant::now() + Duration::from_secs(5);
        while failed() < 5 * flip && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if flip < flips {
            fault(&server, &dir, false);
        }
    }
    // Every publish answered, the last write tried having failed: then the kill.
    stop.store(true, Ordering::Relaxed);
    for p in publishing {
        let _ = p.await;
    }
    server.kill();
    fault(&server, &dir, false);
    drop(server);

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let server = start(&dir, &log, &[]);
    let held: BTreeSet<u64> = held_values(&server, "disk", None)
        .await
        .into_iter()
        .map(|v| v as u64)
        .collect();
    let present = |batch: &Vec<f64>| batch.iter().any(|v| held.contains(&(*v as u64)));
    let whole = |batch: &Vec<f64>| batch.iter().all(|v| held.contains(&(*v as u64)));
    assert!(
        answers.other.is_empty(),
        "only 200, 503, 504: {:?}",
        answers.other
    );
    assert!(
        answers.refused.len() + answers.unknown.len() >= 5 * flips,
        "the fault refused publishes: {} refused, {} unknown",
        answers.refused.len(),
        answers.unknown.len()
    );
    eprintln!(
        "{label}, {flips} spells: {} held, {} acknowledged, {} refused, {} unknown",
        held.len(),
        answers.acknowledged.len(),
        answers.refused.len(),
        answers.unknown.len()
    );
    let lost = answers.acknowledged.iter().filter(|b| !whole(b)).count();
    let applied = answers.refused.iter().filter(|b| present(b)).count();
    let halves = answers
        .unknown
        .iter()
        .filter(|b| present(b) && !whole(b))
        .count();
    assert_eq!(
        (lost, applied, halves),
        (0, 0, 0),
        "of {} acknowledged batches, {lost} are missing; of {} refused, {applied} are there; \
         of {} with an unknown outcome, {halves} are there in part",
        answers.acknowledged.len(),
        answers.refused.len(),
        answers.unknown.len()
    );
    answers
}

#[tokio::test]
async fn a_kill_while_the_disk_is_full_keeps_exactly_what_was_acknowledged() {
    let size =
        |dir: &TempDir, name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    for flips in [3, 5] {
        let answers = publish_through_faults(
            "full",
            &[],
            |server, dir, full| {
                if full {
                    let limit = size(dir, "history.sqlite3").max(size(dir, "history.sqlite3-wal"));
                    limit_file_size(server.pid(), limit).expect("prlimit");
                } else {
                    // (Lifted after the kill too, when there is no process any more.)
                    let _ = limit_file_size(server.pid(), libc::RLIM_INFINITY);
                }
            },
            flips,
        )
        .await;
        // A write that fails for room never half-writes: nothing is of unknown outcome.
        assert!(
            answers.unknown.is_empty(),
            "{} unknown",
            answers.unknown.len()
        );
    }
}

#[tokio::test]
async fn a_kill_while_fsync_fails_keeps_no_publish_answered_503() {
    let sync = FailingSync::build();
    let env = sync.env();
    for flips in [3, 5] {
        publish_through_faults("eio", &env, |_, _, failing| sync.fail(failing), flips).await;
    }
}

const PATIENCE: Duration = Duration::from_secs(10);

async fn publish(server: &TestServer, value: f64) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/streams/disk/points"))
        .json(&serde_json::json!({ "value": value }))
        .send()
        .await
        .expect("publish")
}

async fn health(server: &TestServer) -> (u16, Health) {
    let r = reqwest::get(server.url("/healthz"))
        .await
        .expect("GET /healthz");
    (r.status().as_u16(), r.json().await.expect("health JSON"))
}

/// A start on a disk with no room: the server serves what the file holds, says it is degraded
/// and why, refuses publishes with 503, and takes them once there is room; on a new data
/// directory too, where the file itself cannot be made yet.
#[tokio::test]
async fn a_start_on_a_full_disk_serves_and_refuses_publishes_until_there_is_room() {
    let (dir, log) = (TempDir::new("start-full"), TempDir::new("start-full-log"));
    let mut server = start(&dir, &log, &[]);
    for v in 1..=3 {
        assert_eq!(publish(&server, f64::from(v)).await.status(), 200);
    }
    server.terminate(PATIENCE).expect("stops on SIGTERM");
    let fresh = TempDir::new("start-full-new");
    for (dir, held) in [(&dir, vec![1.0, 2.0, 3.0]), (&fresh, vec![])] {
        let env = [
            ("LIVECHART_DATA_DIR", dir.str()),
            ("LIVECHART_DEMO_ENABLED", "false"),
        ];
        // The log file cannot grow either: lost lines, not a reason to stop.
        std::fs::write(log.path().join("full.log"), "an earlier line\n").unwrap();
        let mut server =
            TestServer::start_with_file_size_limit(&env, 1, &log.path().join("full.log"));
        let (status, h) = health(&server).await;
        assert_eq!((status, h.status.as_str()), (503, "degraded"));
        let problem = h.problem.unwrap_or_default();
        assert!(
            problem.contains("history writes fail") && problem.contains("history.sqlite3"),
            "{problem}"
        );
        assert_eq!(held_values(&server, "disk", None).await, held);
        let refused = publish(&server, 4.0).await;
        assert_eq!(refused.status(), 503);
        let body: ErrorBody = refused.json().await.expect("error JSON");
        assert_eq!(body.error, "storage_unavailable", "{}", body.detail);

        limit_file_size(server.pid(), libc::RLIM_INFINITY).expect("prlimit");
        let taken = publish(&server, 4.0).await;
        assert_eq!(taken.status(), 200);
        let id = taken.json::<PublishReceipt>().await.expect("receipt").id;
        assert_eq!(id.seq, held.len() as u64 + 1, "the ids go on");
        wait_for_health(&server, PATIENCE, |h| h.status == "ok").await;
        server.terminate(PATIENCE).expect("stops on SIGTERM");

        let server = start(dir, &log, &[]);
        let mut all = held.clone();
        all.push(4.0);
        assert_eq!(held_values(&server, "disk", None).await, all);
    }
}
