//! History that survives a restart: the real binary on a data directory, stopped with SIGTERM
//! or SIGKILL and started again on the same directory; bad files, a busy or unusable
//! directory, a full disk, and limits changed between runs.

mod common;

use app::model::{ErrorBody, EventId, PublishReceipt, StreamInfo};
use common::{
    id, limit_file_size, points, run_to_exit, snapshot, wait_for_health, EventReader, TempDir,
    TestServer,
};
use livechart_server::sse::{SseEvent, SseItem};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(10);

/// A quiet server (no demo) on `dir`, logging to `dir`'s sibling log file.
fn start(dir: &TempDir, log: &TempDir, env: &[(&str, &str)]) -> TestServer {
    let mut env = env.to_vec();
    env.push(("LIVECHART_DEMO_ENABLED", "false"));
    env.push(("RUST_LOG", "info"));
    TestServer::start_in(dir, &env, &log.path().join("server.log"))
}

fn log_text(log: &TempDir) -> String {
    std::fs::read_to_string(log.path().join("server.log")).unwrap_or_default()
}

async fn publish(server: &TestServer, stream: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/api/streams/{stream}/points")))
        .json(&body)
        .send()
        .await
        .expect("publish")
}

async fn publish_ok(server: &TestServer, stream: &str, body: serde_json::Value) -> EventId {
    let r = publish(server, stream, body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    r.json::<PublishReceipt>().await.expect("receipt").id
}

/// The snapshot event a new viewer of `stream` starts with.
async fn first_event(server: &TestServer, stream: &str) -> SseEvent {
    let mut r = EventReader::open(&server.url(&format!("/api/streams/{stream}/events"))).await;
    r.next_event(PATIENCE).await
}

/// Every event after `after`, read until the stream's last id is reached.
async fn events_after(
    server: &TestServer,
    stream: &str,
    after: EventId,
    last: u64,
) -> Vec<SseEvent> {
    let mut r = EventReader::open_with(
        &server.url(&format!("/api/streams/{stream}/events")),
        &[("Last-Event-ID", &after.to_string())],
    )
    .await;
    let mut out = Vec::new();
    while out.last().map_or(after.seq, |e: &SseEvent| id(e).seq) < last {
        out.push(r.next_event(PATIENCE).await);
    }
    out
}

#[tokio::test]
async fn after_sigterm_ids_continue_and_readers_resume_without_a_gap() {
    let (dir, log) = (TempDir::new("sigterm"), TempDir::new("sigterm-log"));
    let mut server = start(&dir, &log, &[]);
    let described = reqwest::Client::new()
        .put(server.url("/api/streams/kept"))
        .json(&serde_json::json!({"title": "Kept across restarts", "unit": "°C"}))
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), 200);
    let mut ids = Vec::new();
    for v in 0..30 {
        ids.push(
            publish_ok(
                &server,
                "kept",
                serde_json::json!([{"series": "a", "ts": 1_000 + v, "value": v}, {"series": "b", "ts": 1_000 + v, "value": 0.1 * v as f64}]),
            )
            .await,
        );
    }
    // What a reader that saw up to event 12 missed, and what a new viewer starts from.
    let missed_before = events_after(&server, "kept", ids[11], 30).await;
    let snapshot_before = first_event(&server, "kept").await;
    assert_eq!(server.terminate(PATIENCE).and_then(|s| s.code()), Some(0));

    let server = start(&dir, &log, &[]);
    let snapshot_after = first_event(&server, "kept").await;
    assert_eq!(
        snapshot_after.data, snapshot_before.data,
        "the same window, byte for byte"
    );
    assert_eq!(snapshot_after.id, snapshot_before.id);
    let missed_after = events_after(&server, "kept", ids[11], 30).await;
    assert_eq!(
        missed_after.len(),
        18,
        "events 13..=30, no reset, nothing twice"
    );
    for (a, b) in missed_before.iter().zip(&missed_after) {
        assert_eq!(
            (a.event.as_str(), &a.id, &a.data),
            ("points", &b.id, &b.data)
        );
    }
    // Ids continue in the same epoch.
    let next = publish_ok(
        &server,
        "kept",
        serde_json::json!({"series": "a", "value": 99}),
    )
    .await;
    assert_eq!((next.epoch, next.seq), (ids[0].epoch, 31));
    let streams: Vec<StreamInfo> = reqwest::get(server.url("/api/streams"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept = streams
        .iter()
        .find(|s| s.name.as_str() == "kept")
        .expect("listed");
    assert_eq!(kept.meta.title.as_deref(), Some("Kept across restarts"));
    assert_eq!(kept.series.len(), 2);
}

#[tokio::test]
async fn after_sigkill_mid_burst_every_acknowledged_publish_is_there() {
    let (dir, log) = (TempDir::new("sigkill"), TempDir::new("sigkill-log"));
    let mut server = start(&dir, &log, &[]);
    // A viewer records everything it is shown; four publishers record their receipts.
    let seen: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    publish_ok(&server, "burst", serde_json::json!({"value": -2})).await;
    let mut reader = EventReader::open(&server.url("/api/streams/burst/events")).await;
    let seen_by_reader = seen.clone();
    let viewer = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(PATIENCE, reader.next_item(PATIENCE)).await {
                Ok(Some(SseItem::Event(e))) if e.event == "points" => {
                    seen_by_reader.lock().unwrap().insert(id(&e).seq, e.data);
                }
                Ok(Some(_)) => {}
                _ => return,
            }
        }
    });
    let acked: Arc<Mutex<BTreeMap<u64, f64>>> = Arc::default();
    let url = server.url("/api/streams/burst/points");
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let (acked, url) = (acked.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..10_000 {
                    let value = f64::from(p * 100_000 + i);
                    let Ok(r) = client
                        .post(&url)
                        .json(&serde_json::json!({"value": value}))
                        .send()
                        .await
                    else {
                        return;
                    };
                    let Ok(receipt) = r.json::<PublishReceipt>().await else {
                        return;
                    };
                    acked.lock().unwrap().insert(receipt.id.seq, value);
                }
            })
        })
        .collect();
    // Kill it in the middle of the burst (well inside the ring of 1,024 events).
    let deadline = Instant::now() + PATIENCE;
    while acked.lock().unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for p in publishers {
        p.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "the burst was under way: {} acknowledged",
        acked.len()
    );
    assert!(acked.len() < 1000, "killed mid-burst, within the ring");
    let _ = viewer.await;
    let seen = seen.lock().unwrap().clone();

    let server = start(&dir, &log, &[]);
    let first = first_event(&server, "burst").await;
    let epoch = snapshot(&first).last_id.expect("an id").epoch;
    let last = id(&first).seq;
    let all = events_after(&server, "burst", EventId { epoch, seq: 0 }, last).await;
    let restored: BTreeMap<u64, String> = all.iter().map(|e| (id(e).seq, e.data.clone())).collect();
    assert_eq!(
        restored.keys().copied().collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "every id once, none skipped"
    );
    for (seq, value) in &acked {
        let e = all
            .iter()
            .find(|e| id(e).seq == *seq)
            .expect("acknowledged event present");
        assert_eq!(
            points(e)[0].value,
            *value,
            "event {seq} has the content it was acknowledged with"
        );
    }
    for (seq, data) in &seen {
        assert_eq!(
            restored.get(seq),
            Some(data),
            "event {seq} as the viewer saw it"
        );
    }
    // The same epoch goes on after them.
    let next = publish_ok(&server, "burst", serde_json::json!({"value": -1})).await;
    assert_eq!((next.epoch, next.seq), (epoch, last + 1));
}

#[tokio::test]
async fn a_corrupt_file_is_moved_aside_and_the_server_starts_fresh() {
    let (dir, log) = (TempDir::new("corrupt"), TempDir::new("corrupt-log"));
    let file = dir.path().join("history.sqlite3");
    std::fs::write(
        &file,
        b"this is not a database, it is what a broken disk left".repeat(200),
    )
    .unwrap();
    let server = start(&dir, &log, &[]);
    let id = publish_ok(&server, "fresh", serde_json::json!({"value": 1})).await;
    assert_eq!(id.seq, 1);
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("history.sqlite3.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let text = log_text(&log);
    assert!(
        text.contains(&aside[0]),
        "the log names the file it moved: {text}"
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_directory_exits_2_naming_it() {
    let (dir, log) = (TempDir::new("busy"), TempDir::new("busy-log"));
    let _first = start(&dir, &log, &[]);
    let (code, stderr) = run_to_exit(&[], &[("LIVECHART_DATA_DIR", dir.str())]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(dir.str()) && stderr.contains("in use"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unusable_data_directory_exits_2_naming_it() {
    let scratch = TempDir::new("unusable");
    let file = scratch.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let dir = file.join("data");
    let dir = dir.to_str().unwrap();
    let (code, stderr) = run_to_exit(&["--data-dir", dir], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(dir), "{stderr}");
}

#[tokio::test]
async fn limits_changed_between_runs_are_honoured() {
    let (dir, log) = (TempDir::new("limits"), TempDir::new("limits-log"));
    let mut server = start(
        &dir,
        &log,
        &[
            ("LIVECHART_HISTORY_RING_EVENTS", "64"),
            ("LIVECHART_HISTORY_WINDOW", "50"),
        ],
    );
    let mut last = None;
    for v in 0..100 {
        last = Some(publish_ok(&server, "lim", serde_json::json!({"ts": v, "value": v})).await);
    }
    let last = last.unwrap();
    assert_eq!(server.terminate(PATIENCE).and_then(|s| s.code()), Some(0));

    let server = start(
        &dir,
        &log,
        &[
            ("LIVECHART_HISTORY_RING_EVENTS", "16"),
            ("LIVECHART_HISTORY_WINDOW", "5"),
        ],
    );
    let window = snapshot(&first_event(&server, "lim").await);
    let values: Vec<f64> = window.points.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        vec![95.0, 96.0, 97.0, 98.0, 99.0],
        "the smaller window"
    );
    // The smaller ring: 90 is still held, 50 no longer.
    let replay = events_after(&server, "lim", EventId { seq: 90, ..last }, 100).await;
    assert_eq!(
        replay.iter().map(|e| id(e).seq).collect::<Vec<_>>(),
        (91..=100).collect::<Vec<_>>()
    );
    let mut old = EventReader::open_with(
        &server.url("/api/streams/lim/events"),
        &[("Last-Event-ID", &EventId { seq: 50, ..last }.to_string())],
    )
    .await;
    let reset = old.next_event(PATIENCE).await;
    assert_eq!(reset.event, "reset");
    assert!(reset.data.contains("too_old"), "{}", reset.data);
}

#[tokio::test]
async fn a_full_disk_refuses_publishes_with_503_and_recovers() {
    let (dir, log) = (TempDir::new("full"), TempDir::new("full-log"));
    let server = start(&dir, &log, &[("LIVECHART_SSE_KEEP_ALIVE_MS", "200")]);
    let before = publish_ok(&server, "disk", serde_json::json!({"value": 1})).await;
    let mut viewer = EventReader::open(&server.url("/api/streams/disk/events")).await;
    assert_eq!(viewer.next_event(PATIENCE).await.event, "snapshot");

    // No file may grow past its current size: big batches soon need room.
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    limit_file_size(
        server.pid(),
        size("history.sqlite3").max(size("history.sqlite3-wal")),
    )
    .expect("prlimit");
    let batch: Vec<serde_json::Value> =
        (0..2000).map(|i| serde_json::json!({"value": i})).collect();
    let mut refused = None;
    for _ in 0..50 {
        let r = publish(&server, "disk", serde_json::json!(batch)).await;
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let refused = refused.expect("a publish was refused once the file could not grow");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: ErrorBody = refused.json().await.unwrap();
    assert_eq!(body.error, "storage_unavailable", "{}", body.detail);
    let last_good = {
        let health: serde_json::Value = reqwest::get(server.url("/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = health["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "disk")
            .unwrap()
            .clone();
        s["last_id"].as_str().unwrap().parse::<EventId>().unwrap()
    };

    // The viewer keeps its stream (keep-alives go on) and sees only what was committed.
    let mut got_keep_alive = false;
    let mut shown = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match viewer.next_item(PATIENCE).await {
            Some(SseItem::Comment(_)) => got_keep_alive = true,
            Some(SseItem::Event(e)) => shown.push(id(&e).seq),
            _ => {}
        }
        if got_keep_alive && shown.last().is_none_or(|s| *s == last_good.seq) {
            break;
        }
    }
    assert!(got_keep_alive, "the viewer's stream stays open");
    assert!(
        shown.iter().all(|s| *s <= last_good.seq),
        "nothing uncommitted shown: {shown:?}"
    );

    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("livechart_history_commit_failures_total "))
        .expect("the failures are counted");
    assert!(failures.trim().parse::<u64>().unwrap() >= 1, "{failures}");
    // The node says it is not healthy while writes fail, and why.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    let health: app::model::Health = health.json().await.unwrap();
    assert_eq!(health.status, "degraded");
    assert!(
        health
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("history writes fail"),
        "{:?}",
        health.problem
    );

    // A disk with a little room takes small writes and refuses big ones: the log says that
    // writes fail once, not once per commit, and the node stays degraded through it.
    let mut last_good = last_good;
    let mut small_taken = 0;
    for _ in 0..10 {
        let r = publish(&server, "disk", serde_json::json!({"value": 5})).await;
        if r.status() == 200 {
            small_taken += 1;
            last_good = r.json::<PublishReceipt>().await.expect("receipt").id;
        }
        let r = publish(&server, "disk", serde_json::json!(batch)).await;
        assert_eq!(r.status(), 503, "the big ones are refused");
        let health = reqwest::get(server.url("/healthz")).await.unwrap();
        assert_eq!(health.status(), 503, "degraded throughout");
    }
    let lines = |text: &str| log_text(&log).matches(text).count();
    assert_eq!(
        (lines("publishes are refused while"), lines("work again")),
        (1, 0),
        "one error for the whole spell ({small_taken} small writes worked in it)"
    );

    // Room again: publishing works, with the next id (nothing was half-written), and after
    // a few seconds of writes that work, the node is healthy again and the log says so.
    limit_file_size(server.pid(), libc::RLIM_INFINITY).expect("prlimit");
    let again = publish_ok(&server, "disk", serde_json::json!({"value": 7})).await;
    assert_eq!((again.epoch, again.seq), (before.epoch, last_good.seq + 1));
    let health = wait_for_health(&server, PATIENCE, |h| h.status == "ok").await;
    assert_eq!(health.problem, None);
    let last = publish_ok(&server, "disk", serde_json::json!({"value": 8})).await;
    assert_eq!(lines("history writes work again"), 1);
    loop {
        let e = viewer.next_event(PATIENCE).await;
        if id(&e).seq == again.seq {
            assert_eq!(points(&e)[0].value, 7.0);
        }
        if id(&e).seq == last.seq {
            break;
        }
    }
}

#[tokio::test]
async fn relaxed_durability_starts_a_new_epoch_after_an_unclean_stop_only() {
    let (dir, log) = (TempDir::new("relaxed"), TempDir::new("relaxed-log"));
    let relaxed = [("LIVECHART_HISTORY_DURABILITY", "relaxed")];
    let mut server = start(&dir, &log, &relaxed);
    let first = publish_ok(
        &server,
        "r",
        serde_json::json!([{"ts": 1, "value": 1}, {"ts": 2, "value": 2}]),
    )
    .await;
    // A clean stop: the same epoch goes on.
    assert_eq!(server.terminate(PATIENCE).and_then(|s| s.code()), Some(0));
    let mut server = start(&dir, &log, &relaxed);
    let second = publish_ok(&server, "r", serde_json::json!({"ts": 3, "value": 3})).await;
    assert_eq!((second.epoch, second.seq), (first.epoch, 2));
    // An unclean one: the last moments may be lost, so no id of that epoch is trusted again.
    server.kill();
    let server = start(&dir, &log, &relaxed);
    let mut resumed = EventReader::open_with(
        &server.url("/api/streams/r/events"),
        &[("Last-Event-ID", &second.to_string())],
    )
    .await;
    let reset = resumed.next_event(PATIENCE).await;
    assert_eq!(reset.event, "reset");
    assert!(reset.data.contains("restarted"), "{}", reset.data);
    // The window is kept; the ids go on in the new epoch.
    let window = snapshot(&resumed.next_event(PATIENCE).await);
    assert_eq!(
        window.points.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0]
    );
    let third = publish_ok(&server, "r", serde_json::json!({"ts": 4, "value": 4})).await;
    assert_ne!(third.epoch, first.epoch);
    assert!(log_text(&log).contains("new epoch"), "the log says why");
    // What the range query shows is what the file holds: the same after a clean restart.
    assert_eq!(
        common::held_values(&server, "r", None).await,
        [1.0, 2.0, 3.0, 4.0]
    );
    let mut server = server;
    assert_eq!(server.terminate(PATIENCE).and_then(|s| s.code()), Some(0));
    let server = start(&dir, &log, &relaxed);
    assert_eq!(
        common::held_values(&server, "r", None).await,
        [1.0, 2.0, 3.0, 4.0]
    );
}

/// Publishers and a deleter racing on one name, then a clean stop or a kill, four times over:
/// after each restart the stream is the last one created (its epoch the newest acknowledged),
/// it holds exactly the points acknowledged in that epoch, nothing of a deleted stream comes
/// back, and a viewer resuming with an id from before a deletion gets a `reset`.
#[tokio::test]
async fn a_deletion_racing_publishes_is_for_good_across_restarts_and_kills() {
    let (dir, log) = (TempDir::new("delete-race"), TempDir::new("delete-race-log"));
    let client = reqwest::Client::new();
    // Every value ever acknowledged, by its id (values are unique over the whole test).
    let mut acked_all: BTreeMap<EventId, f64> = BTreeMap::new();
    for round in 0..4u32 {
        let mut server = start(&dir, &log, &[]);
        let acked: Arc<Mutex<BTreeMap<EventId, f64>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = server.url("/api/streams/race/points");
        let publishers: Vec<_> = (0..4u32)
            .map(|p| {
                let (acked, url, stop, client) =
                    (acked.clone(), url.clone(), stop.clone(), client.clone());
                tokio::spawn(async move {
                    // Under the ring's 1,024 events per round, so every id stays replayable.
                    for i in 0..200u32 {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let value = f64::from(round * 1_000_000 + p * 10_000 + i);
                        let Ok(r) = client
                            .post(&url)
                            .json(&serde_json::json!({"value": value}))
                            .send()
                            .await
                        else {
                            return;
                        };
                        if let Ok(receipt) = r.json::<PublishReceipt>().await {
                            acked.lock().unwrap().insert(receipt.id, value);
                        }
                    }
                })
            })
            .collect();
        let mut deletes = 0;
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let r = client
                .delete(server.url("/api/streams/race"))
                .send()
                .await
                .expect("DELETE");
            if r.status() == 204 || r.status() == 200 {
                deletes += 1;
            }
        }
        // The last creation publishes for a while after the last deletion, then everything
        // stops, cleanly or not.
        let before = acked.lock().unwrap().len();
        let deadline = Instant::now() + PATIENCE;
        while acked.lock().unwrap().len() < before + 20 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for p in publishers {
            p.await.unwrap();
        }
        assert!(deletes >= 2, "round {round}: the deletions raced publishes");
        if round % 2 == 0 {
            server.terminate(PATIENCE).expect("stops on SIGTERM");
        } else {
            server.kill();
        }
        acked_all.extend(acked.lock().unwrap().iter().map(|(k, v)| (*k, *v)));

        let server = start(&dir, &log, &[]);
        let newest = acked_all.keys().map(|id| id.epoch).max().expect("acked");
        let answer: serde_json::Value = client
            .get(server.url("/api/streams/race/points?max_points=100000"))
            .send()
            .await
            .expect("range")
            .json()
            .await
            .expect("range JSON");
        let last: EventId = answer["last_id"]
            .as_str()
            .expect("the stream exists with its last id")
            .parse()
            .expect("EPOCH-SEQ");
        assert_eq!(
            last.epoch, newest,
            "round {round}: the stream is the last one created, not a deleted one"
        );
        let mut kept: Vec<f64> = answer["series"][0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect();
        kept.sort_by(f64::total_cmp);
        let mut expected: Vec<f64> = acked_all
            .iter()
            .filter(|(id, _)| id.epoch == newest)
            .map(|(_, v)| *v)
            .collect();
        expected.sort_by(f64::total_cmp);
        assert_eq!(
            kept, expected,
            "round {round}: exactly what was acknowledged since the last deletion"
        );
        assert_eq!(
            last.seq,
            acked_all.keys().filter(|id| id.epoch == newest).count() as u64,
            "round {round}: one id per acknowledged event"
        );
        // Every id of a deleted stream is announced as lost, never resumed.
        let old = acked_all
            .keys()
            .filter(|id| id.epoch < newest)
            .max()
            .copied()
            .expect("ids from before a deletion");
        let mut r = EventReader::open_with(
            &server.url("/api/streams/race/events"),
            &[("Last-Event-ID", &old.to_string())],
        )
        .await;
        assert_eq!(
            r.next_event(PATIENCE).await.event,
            "reset",
            "round {round}: {old} is from before a deletion"
        );
        drop(server);
    }
}

/// `.` and `..` were accepted as stream names before they were refused: a file holding one
/// still opens, without it, and keeps everything else.
#[tokio::test]
async fn a_stream_named_dot_dot_in_an_older_file_is_left_out_not_the_file() {
    let (dir, log) = (TempDir::new("dots"), TempDir::new("dots-log"));
    let mut server = start(&dir, &log, &[]);
    let kept = publish_ok(&server, "kept", serde_json::json!({"value": 7})).await;
    server.terminate(PATIENCE).expect("stops on SIGTERM");
    let file = livechart_server::hub::store::Embedded::file_name(dir.path());
    let db = rusqlite::Connection::open(&file).expect("the history file");
    db.execute("INSERT INTO streams (name, epoch) VALUES ('..', 1)", [])
        .expect("an old row");
    drop(db);

    let server = start(&dir, &log, &[]);
    let list: Vec<StreamInfo> = reqwest::get(server.url("/api/streams"))
        .await
        .expect("list")
        .json()
        .await
        .expect("list JSON");
    let names: Vec<String> = list.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, vec!["kept".to_owned()]);
    let first = first_event(&server, "kept").await;
    assert_eq!(snapshot(&first).last_id, Some(kept), "the file was kept");
    assert!(log_text(&log).contains("no longer a valid name"));
    let (status, _) = common::publish_raw(
        &server,
        "..",
        Some("application/json"),
        r#"{"value":1}"#.to_owned(),
        None,
    )
    .await;
    assert_ne!(status, 200, "`..` is not a stream name");
}

/// A history file left by a run of this server, with one stream of five events, stopped
/// cleanly; `spoil` then changes it with SQL.
async fn spoiled_file(label: &str, spoil: &str) -> (TempDir, TempDir, EventId) {
    let (dir, log) = (TempDir::new(label), TempDir::new(&format!("{label}-log")));
    let mut server = start(&dir, &log, &[]);
    let mut last = None;
    for v in 1..=5 {
        last = Some(publish_ok(&server, "kept", serde_json::json!({"value": v})).await);
    }
    server.terminate(PATIENCE).expect("stops on SIGTERM");
    let file = livechart_server::hub::store::Embedded::file_name(dir.path());
    let db = rusqlite::Connection::open(&file).expect("the history file");
    db.execute_batch(spoil).expect("spoil the file");
    drop(db);
    (dir, log, last.expect("an id"))
}

fn moved_aside(dir: &TempDir) -> Vec<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.starts_with("history.sqlite3.unreadable-")
                && !n.ends_with("-wal")
                && !n.ends_with("-shm")
        })
        .collect()
}

#[tokio::test]
async fn every_kind_of_unusable_history_file_is_moved_aside_and_the_server_serves() {
    let kinds = [
        (
            "another program's database",
            "DROP TABLE events; DROP TABLE streams; DROP TABLE meta;
             CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('ada');",
        ),
        (
            "a table more",
            "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hello');",
        ),
        (
            "a column more",
            "ALTER TABLE streams ADD COLUMN created TEXT;",
        ),
        (
            "a required column more in events",
            "ALTER TABLE events ADD COLUMN extra TEXT NOT NULL DEFAULT '';",
        ),
        (
            "a value of another type",
            "UPDATE streams SET epoch = 'not a number';",
        ),
        (
            "a trigger that refuses every write",
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no'); END;",
        ),
        (
            "an index that refuses new writes",
            "CREATE UNIQUE INDEX one_more ON events ((1)) WHERE seq > 5;",
        ),
        (
            "a description that is not JSON",
            "UPDATE streams SET meta = '{not json';",
        ),
    ];
    for (kind, spoil) in kinds {
        let (dir, log, _) = spoiled_file("spoiled", spoil).await;
        let server = start(&dir, &log, &[]);
        // It serves, and takes publishes: into a new file.
        let id = publish_ok(&server, "fresh", serde_json::json!({"value": 1})).await;
        assert_eq!(id.seq, 1, "{kind}");
        let aside = moved_aside(&dir);
        assert_eq!(aside.len(), 1, "{kind}: {aside:?}");
        let text = log_text(&log);
        assert!(
            text.contains(&aside[0]),
            "{kind}: the log names the file it moved: {text}"
        );
        // And it starts again on the new file as it left it.
        drop(server);
        let server = start(&dir, &log, &[]);
        let again = publish_ok(&server, "fresh", serde_json::json!({"value": 2})).await;
        assert_eq!(again.seq, 2, "{kind}");
        assert_eq!(moved_aside(&dir).len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn a_truncated_history_file_is_moved_aside() {
    let (dir, log, _) = spoiled_file("truncated", "").await;
    // Enough events for several pages, then cut the file short.
    let server = start(&dir, &log, &[]);
    for v in 0..300 {
        publish_ok(
            &server,
            "big",
            serde_json::json!([{"value": v}, {"value": v}]),
        )
        .await;
    }
    drop(server);
    let file = livechart_server::hub::store::Embedded::file_name(dir.path());
    let db = rusqlite::Connection::open(&file).expect("the history file");
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(db);
    let len = std::fs::metadata(&file).expect("the file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let server = start(&dir, &log, &[]);
    publish_ok(&server, "fresh", serde_json::json!({"value": 1})).await;
    assert_eq!(moved_aside(&dir).len(), 1);
}

#[tokio::test]
async fn events_missing_from_the_file_start_a_new_epoch_and_a_viewer_gets_a_reset() {
    let (dir, log, last) = spoiled_file("holey", "DELETE FROM events WHERE seq = 3;").await;
    let server = start(&dir, &log, &[]);
    // A viewer resuming from before the hole does not cross it silently.
    let url = server.url("/api/streams/kept/events");
    let resume = EventId {
        epoch: last.epoch,
        seq: 2,
    };
    let mut reader = EventReader::open_with(&url, &[("Last-Event-ID", &resume.to_string())]).await;
    let first = reader.next_event(PATIENCE).await;
    assert_eq!(first.event, "reset", "{first:?}");
    let id = publish_ok(&server, "kept", serde_json::json!({"value": 6})).await;
    assert_ne!(id.epoch, last.epoch, "a new epoch after the hole");
    assert!(log_text(&log).contains("events are missing"));
    assert!(moved_aside(&dir).is_empty(), "the file is kept");
}
