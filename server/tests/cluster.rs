//! Several servers sharing their streams through a real `redis-server`: one sequence per
//! stream whoever publishes, delivery to every node, resume on any node, and what happens
//! when Redis goes away, comes back, loses its data or rolls back, and when a node dies.

mod common;

use app::model::{EventId, Positions, StreamName};
use common::redis_server::RedisServer;
use common::{id, points, publish, publish_raw, wait_for_health, EventReader, TestServer};
use livechart_server::sse::{SseEvent, SseItem};
use std::collections::BTreeSet;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// A node of the cluster on `redis`, quiet (no built-in source), logging next to Redis.
fn node(redis: &RedisServer, label: &str, env: &[(&str, &str)]) -> TestServer {
    let mut all = vec![
        ("LIVECHART_HISTORY_STORE", "redis"),
        ("LIVECHART_REDIS_URL", redis.url.as_str()),
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("RUST_LOG", "info"),
    ];
    all.extend_from_slice(env);
    let log = redis.dir.path().join(format!("{label}.log"));
    TestServer::start_logged(&all, &log)
}

/// Two nodes on `redis`, each following it.
async fn two_nodes(redis: &RedisServer, env: &[(&str, &str)]) -> (TestServer, TestServer) {
    let a = node(redis, "a", env);
    let b = node(redis, "b", env);
    ready(&a).await;
    ready(&b).await;
    (a, b)
}

/// Waits until the node follows Redis (`/healthz` says ok).
async fn ready(server: &TestServer) {
    wait_for_health(server, PATIENCE, |h| h.status == "ok").await;
}

/// Waits until the node has the stream at `seq` or later (another node's publish reaches it
/// through Redis a moment later).
async fn has(server: &TestServer, stream: &str, seq: u64) {
    wait_for_health(server, PATIENCE, |h| {
        h.streams
            .iter()
            .any(|s| s.name.as_str() == stream && s.last_id.is_some_and(|id| id.seq >= seq))
    })
    .await;
}

async fn viewer(server: &TestServer, stream: &str, after: Option<EventId>) -> EventReader {
    let url = server.url(&format!("/api/streams/{stream}/events"));
    match after {
        Some(id) => EventReader::open_with(&url, &[("Last-Event-ID", &id.to_string())]).await,
        None => EventReader::open(&url).await,
    }
}

/// The next `n` events (skipping keep-alives).
async fn take(reader: &mut EventReader, n: usize) -> Vec<SseEvent> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(reader.next_event(PATIENCE).await);
    }
    out
}

fn value(e: &SseEvent) -> f64 {
    points(e)[0].value
}

#[tokio::test]
async fn a_point_published_on_one_node_reaches_every_node_with_the_same_ids_and_bytes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let nodes: Vec<TestServer> = ["a", "b", "c"]
        .iter()
        .map(|l| node(&redis, l, &[]))
        .collect();
    for n in &nodes {
        ready(n).await;
    }
    publish(&nodes[0], "shared", r#"{"value": 0}"#).await;
    let mut readers = Vec::new();
    for n in &nodes {
        has(n, "shared", 1).await;
        let mut r = viewer(n, "shared", None).await;
        assert_eq!(r.next_event(PATIENCE).await.event, "snapshot");
        readers.push(r);
    }
    // Publishers on every node, one after the other: one order everywhere.
    for i in 1..=30 {
        let n = &nodes[i % 3];
        publish(n, "shared", &format!(r#"{{"value": {i}}}"#)).await;
    }
    let seen: Vec<Vec<SseEvent>> = {
        let mut seen = Vec::new();
        for r in &mut readers {
            seen.push(take(r, 30).await);
        }
        seen
    };
    assert_eq!(seen[0], seen[1], "node b saw other events than node a");
    assert_eq!(seen[0], seen[2], "node c saw other events than node a");
    let seqs: Vec<u64> = seen[0].iter().map(|e| id(e).seq).collect();
    assert_eq!(seqs, (2..=31).collect::<Vec<u64>>());
    let values: Vec<f64> = seen[0].iter().map(value).collect();
    assert_eq!(values, (1..=30).map(f64::from).collect::<Vec<_>>());
    // The snapshot a new viewer gets is the same on every node too.
    let mut snapshots = Vec::new();
    for n in &nodes {
        snapshots.push(viewer(n, "shared", None).await.next_event(PATIENCE).await);
    }
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(snapshots[0], snapshots[2]);
}

#[tokio::test]
async fn two_nodes_publishing_at_once_make_one_gapless_sequence() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = two_nodes(&redis, &[]).await;
    publish(&a, "race", r#"{"value": 0}"#).await;
    has(&b, "race", 1).await;
    let mut watcher = viewer(&b, "race", None).await;
    assert_eq!(watcher.next_event(PATIENCE).await.event, "snapshot");
    let mut tasks = Vec::new();
    for (n, server) in [&a, &b].into_iter().enumerate() {
        for worker in 0..4 {
            let base = server.base.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut ids = Vec::new();
                for i in 0..250 {
                    let r = client
                        .post(format!("{base}/api/streams/race/points"))
                        .header("content-type", "application/json")
                        .body(format!(
                            r#"{{"value": {}}}"#,
                            n * 10_000 + worker * 1000 + i
                        ))
                        .send()
                        .await
                        .expect("publish");
                    assert_eq!(r.status(), 200);
                    let receipt: app::model::PublishReceipt = r.json().await.expect("receipt");
                    ids.push(receipt.id);
                }
                ids
            }));
        }
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("publisher"));
    }
    let epochs: BTreeSet<u64> = ids.iter().map(|i| i.epoch).collect();
    assert_eq!(epochs.len(), 1, "one epoch");
    let seqs: BTreeSet<u64> = ids.iter().map(|i| i.seq).collect();
    assert_eq!(seqs.len(), 2000, "every publish got its own id");
    assert_eq!(seqs, (2..=2001).collect::<BTreeSet<u64>>(), "contiguous");
    // The viewer on b got all of them, in order, each once.
    let events = take(&mut watcher, 2000).await;
    let got: Vec<u64> = events.iter().map(|e| id(e).seq).collect();
    assert_eq!(got, (2..=2001).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_viewer_resumes_on_another_node_by_header_query_and_multiplexed_id() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = two_nodes(&redis, &[]).await;
    for i in 1..=5 {
        publish(&a, "one", &format!(r#"{{"value": {i}}}"#)).await;
        publish(&a, "two", &format!(r#"{{"value": {}}}"#, 100 + i)).await;
    }
    let mut on_a = viewer(&a, "one", None).await;
    let start = id(&on_a.next_event(PATIENCE).await);
    assert_eq!(start.seq, 5);
    for i in 6..=8 {
        publish(&b, "one", &format!(r#"{{"value": {i}}}"#)).await;
    }
    let seen = take(&mut on_a, 2).await;
    let last = id(&seen[1]);
    assert_eq!(last.seq, 7);
    drop(on_a);
    // Header.
    has(&b, "one", 8).await;
    let mut on_b = viewer(&b, "one", Some(last)).await;
    let next = on_b.next_event(PATIENCE).await;
    assert_eq!(
        (next.event.as_str(), id(&next).seq, value(&next)),
        ("points", 8, 8.0)
    );
    // Query.
    let url = b.url(&format!("/api/streams/one/events?last_event_id={last}"));
    let mut by_query = EventReader::open(&url).await;
    let next = by_query.next_event(PATIENCE).await;
    assert_eq!((id(&next).seq, value(&next)), (8, 8.0));
    // Multiplexed: positions from a's connection, resumed on b.
    let names = [
        StreamName::parse("one").unwrap(),
        StreamName::parse("two").unwrap(),
    ];
    let mux =
        |server: &TestServer, from: &Positions| server.url(&app::paths::multiplex(&names, from));
    let mut mux_a = EventReader::open(&mux(&a, &Positions::default())).await;
    let mut from = Positions::default();
    while from.0.len() < 2 {
        let e = mux_a.next_event(PATIENCE).await;
        if e.event == "snapshot" {
            let tagged: serde_json::Value = serde_json::from_str(&e.data).expect("tagged");
            let stream = StreamName::parse(tagged["stream"].as_str().expect("stream")).unwrap();
            let at: EventId = tagged["id"].as_str().expect("id").parse().expect("id");
            from.0.push((stream, at));
        }
    }
    drop(mux_a);
    publish(&a, "two", r#"{"value": 106}"#).await;
    publish(&b, "one", r#"{"value": 9}"#).await;
    let mut mux_b = EventReader::open_with(
        &mux(&b, &Positions::default()),
        &[("Last-Event-ID", &from.to_string())],
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        if let Some(SseItem::Event(e)) = mux_b.next_item(PATIENCE).await {
            if e.event == "points" {
                let tagged: serde_json::Value = serde_json::from_str(&e.data).expect("tagged");
                got.push((
                    tagged["stream"].as_str().unwrap_or_default().to_owned(),
                    tagged["id"].as_str().unwrap_or_default().to_owned(),
                ));
            } else {
                assert_ne!(e.event, "reset", "no reset on resume: {e:?}");
                assert_ne!(e.event, "snapshot", "no snapshot on resume: {e:?}");
            }
        }
    }
    got.sort();
    let one = from.get(&names[0]).expect("one");
    let two = from.get(&names[1]).expect("two");
    assert_eq!(
        got,
        vec![
            (
                "one".to_owned(),
                EventId {
                    seq: one.seq + 1,
                    ..one
                }
                .to_string()
            ),
            (
                "two".to_owned(),
                EventId {
                    seq: two.seq + 1,
                    ..two
                }
                .to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn redis_away_gets_503_keeps_viewers_and_they_catch_up_when_it_returns() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let env = [("LIVECHART_SSE_KEEP_ALIVE_MS", "300")];
    let (a, b) = two_nodes(&redis, &env).await;
    let first = publish(&a, "s", r#"{"value": 1}"#).await;
    has(&b, "s", first).await;
    let mut on_b = viewer(&b, "s", None).await;
    assert_eq!(on_b.next_event(PATIENCE).await.event, "snapshot");

    redis.stop();
    let (status, body) =
        publish_raw(&a, "s", Some("application/json"), r#"{"value": 2}"#, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "broker_unavailable", "{body}");
    let r = reqwest::Client::new()
        .post(a.url("/api/streams/s/points"))
        .header("content-type", "application/json")
        .body(r#"{"value": 2}"#)
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    wait_for_health(&b, PATIENCE, |h| h.status == "broker_unavailable").await;
    let health = reqwest::get(b.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 503);
    assert!(common::metrics_text(&b)
        .await
        .contains("livechart_broker_up 0"));
    // The viewer's connection stays open: keep-alives go on.
    let mut comments = 0;
    while comments < 2 {
        match on_b.next_item(PATIENCE).await {
            Some(SseItem::Comment(_)) => comments += 1,
            Some(SseItem::Event(e)) => panic!("nothing was published, got {e:?}"),
            Some(SseItem::Retry(_)) => {}
            None => panic!("the viewer's connection ended while Redis was away"),
        }
    }

    redis.start_again();
    ready(&a).await;
    ready(&b).await;
    let metrics = common::metrics_text(&b).await;
    assert!(metrics.contains("livechart_broker_up 1"), "{metrics}");
    assert!(
        metrics.contains("livechart_broker_resyncs_total 2"),
        "{metrics}"
    );
    let next = publish(&a, "s", r#"{"value": 3}"#).await;
    assert_eq!(
        next,
        first + 1,
        "Redis kept its data: no gap, nothing half-applied"
    );
    let e = on_b.next_event(PATIENCE).await;
    assert_eq!(
        (e.event.as_str(), id(&e).seq, value(&e)),
        ("points", next, 3.0)
    );
}

#[tokio::test]
async fn redis_wiped_or_rolled_back_starts_a_new_epoch_with_a_reset() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = [("LIVECHART_STREAMS_DECLARED", "kept")];
    let (a, b) = two_nodes(&redis, &env).await;
    for i in 1..=5 {
        publish(&a, "kept", &format!(r#"{{"value": {i}}}"#)).await;
    }
    has(&b, "kept", 5).await;
    let mut on_b = viewer(&b, "kept", None).await;
    let before = id(&on_b.next_event(PATIENCE).await);
    assert_eq!(before.seq, 5);

    // Rolled back: Redis forgets events 4 and 5 (as a restore of an older copy would).
    redis.cmd(&["XDEL", "livechart:e:kept", "4-0", "5-0"]);
    redis.cmd(&["XSETID", "livechart:e:kept", "3-0"]);
    redis.cmd(&["HSET", "livechart:s:kept", "seq", "3"]);
    let reset = on_b.next_event(PATIENCE).await;
    assert_eq!(reset.event, "reset", "{reset:?}");
    let snap = on_b.next_event(PATIENCE).await;
    let rebased = id(&snap);
    assert_ne!(rebased.epoch, before.epoch, "a new epoch");
    let next = publish(&a, "kept", r#"{"value": 6}"#).await;
    let e = on_b.next_event(PATIENCE).await;
    assert_eq!(
        (id(&e), value(&e)),
        (
            EventId {
                epoch: rebased.epoch,
                seq: next
            },
            6.0
        )
    );
    // The old id never resumes silently on either node.
    for n in [&a, &b] {
        let mut r = viewer(n, "kept", Some(before)).await;
        assert_eq!(r.next_event(PATIENCE).await.event, "reset");
    }

    // Wiped: everything gone. The declared stream comes back in a new epoch, in-band.
    redis.cmd(&["FLUSHALL"]);
    let reset = on_b.next_event(PATIENCE).await;
    assert_eq!(reset.event, "reset", "{reset:?}");
    let snap = on_b.next_event(PATIENCE).await;
    let wiped = id(&snap);
    assert_ne!(wiped.epoch, rebased.epoch);
    assert_eq!(wiped.seq, 0);
    let next = publish(&b, "kept", r#"{"value": 7}"#).await;
    assert_eq!(next, 1);
    let e = on_b.next_event(PATIENCE).await;
    assert_eq!(
        (id(&e), value(&e)),
        (
            EventId {
                epoch: wiped.epoch,
                seq: 1
            },
            7.0
        )
    );
}

#[tokio::test]
async fn a_viewer_of_a_killed_node_resumes_on_another_with_no_gap() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (mut a, b) = two_nodes(&redis, &[]).await;
    publish(&b, "live", r#"{"value": 0}"#).await;
    has(&a, "live", 1).await;
    let base = b.base.clone();
    let publisher = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for i in 1..=200 {
            let r = client
                .post(format!("{base}/api/streams/live/points"))
                .header("content-type", "application/json")
                .body(format!(r#"{{"value": {i}}}"#))
                .send()
                .await
                .expect("publish");
            assert_eq!(r.status(), 200);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut on_a = viewer(&a, "live", None).await;
    let mut last = id(&on_a.next_event(PATIENCE).await);
    let mut values = Vec::new();
    while values.len() < 40 {
        let e = on_a.next_event(PATIENCE).await;
        assert_eq!(id(&e).seq, last.seq + 1);
        last = id(&e);
        values.push(value(&e));
    }
    a.kill();
    // The connection to a ends; the client goes to b with its last id.
    loop {
        match on_a.next_item_or_end(PATIENCE).await {
            None => break,
            Some(SseItem::Event(e)) => {
                assert_eq!(id(&e).seq, last.seq + 1);
                last = id(&e);
                values.push(value(&e));
            }
            Some(_) => {}
        }
    }
    let mut on_b = viewer(&b, "live", Some(last)).await;
    while values.len() < 200 {
        let e = on_b.next_event(PATIENCE).await;
        assert_eq!(e.event, "points", "{e:?}");
        assert_eq!(
            id(&e),
            EventId {
                seq: last.seq + 1,
                ..last
            },
            "no gap, no repeat"
        );
        last = id(&e);
        values.push(value(&e));
    }
    publisher.await.expect("publisher");
    let first = values[0];
    let expected: Vec<f64> = (0..200).map(|i| first + f64::from(i)).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn an_id_older_than_redis_holds_gets_a_reset_and_the_snapshot() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = [
        ("LIVECHART_HISTORY_RING_EVENTS", "16"),
        ("LIVECHART_HISTORY_WINDOW", "10"),
    ];
    let (a, b) = two_nodes(&redis, &env).await;
    let first = publish(&a, "short", r#"{"value": 1}"#).await;
    let old = {
        let mut r = viewer(&a, "short", None).await;
        id(&r.next_event(PATIENCE).await)
    };
    assert_eq!(old.seq, first);
    for i in 2..=200 {
        publish(&a, "short", &format!(r#"{{"value": {i}}}"#)).await;
    }
    has(&b, "short", 200).await;
    let mut on_b = viewer(&b, "short", Some(old)).await;
    let reset = on_b.next_event(PATIENCE).await;
    assert_eq!(reset.event, "reset");
    assert!(reset.data.contains("too_old"), "{}", reset.data);
    let snap = on_b.next_event(PATIENCE).await;
    let snapshot = common::snapshot(&snap);
    assert_eq!(id(&snap).seq, 200);
    let values: Vec<f64> = snapshot.points.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        (191..=200).map(f64::from).collect::<Vec<_>>(),
        "the window from Redis"
    );
}

#[test]
fn a_bad_redis_url_or_prefix_stops_the_server_with_a_clear_error() {
    let (code, stderr) = common::run_to_exit(
        &[],
        &[
            ("LIVECHART_HISTORY_STORE", "redis"),
            ("LIVECHART_REDIS_URL", "http://user:secret@example/0"),
            ("LIVECHART_REDIS_PREFIX", "no spaces"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("livechart.redis.url"), "{stderr}");
    assert!(stderr.contains("livechart.redis.prefix"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never shown: {stderr}"
    );
}

#[tokio::test]
async fn a_stream_deleted_on_one_node_is_gone_from_every_node_and_idle_ones_expire_everywhere() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = [
        ("LIVECHART_STREAMS_DECLARED", "fixed"),
        ("LIVECHART_STREAMS_IDLE_EXPIRY_MS", "1000"),
    ];
    let (a, b) = two_nodes(&redis, &env).await;
    for stream in ["gone", "idle", "watched"] {
        publish(&a, stream, r#"{"value": 1}"#).await;
        has(&b, stream, 1).await;
    }
    let client = reqwest::Client::new();
    let mut on_b = viewer(&b, "gone", None).await;
    assert_eq!(on_b.next_event(PATIENCE).await.event, "snapshot");
    let mut watching = viewer(&b, "watched", None).await;
    assert_eq!(watching.next_event(PATIENCE).await.event, "snapshot");

    let r = client
        .delete(a.url("/api/streams/gone"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    // b's viewer of it ends, and b no longer has it.
    loop {
        match on_b.next_item_or_end(PATIENCE).await {
            None => break,
            Some(SseItem::Event(e)) => panic!("nothing was published: {e:?}"),
            Some(_) => {}
        }
    }
    let listed: Vec<app::model::StreamInfo> = client
        .get(b.url("/api/streams"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list JSON");
    assert!(listed.iter().all(|s| s.name.as_str() != "gone"));
    // A declared stream cannot be deleted from any node.
    let r = client
        .delete(b.url("/api/streams/fixed"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 409);

    // Nobody publishes for a while: "idle" expires on both nodes, "watched" (a viewer on b
    // only) and "fixed" (declared) stay.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    for n in [&a, &b] {
        let health = wait_for_health(n, PATIENCE, |h| {
            !h.streams.iter().any(|s| s.name.as_str() == "idle")
        })
        .await;
        let names: BTreeSet<&str> = health.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["fixed", "watched"]), "on {}", n.base);
    }
    drop(watching);
}

#[tokio::test]
async fn a_node_serves_its_first_viewer_from_what_redis_holds() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = [("LIVECHART_STREAMS_DECLARED", "early")];
    let (a, _b) = two_nodes(&redis, &env).await;
    let at = EventId {
        seq: publish(&a, "early", r#"{"value": 1}"#).await,
        ..id(&viewer(&a, "early", None).await.next_event(PATIENCE).await)
    };
    // A node just started: its very first viewer, without waiting for anything, starts
    // from Redis' copy (not an empty one that a `reset` would replace a moment later).
    let c = node(&redis, "c", &env);
    let mut first = viewer(&c, "early", None).await;
    let snap = first.next_event(PATIENCE).await;
    assert_eq!(snap.event, "snapshot");
    assert_eq!(id(&snap), at);
    publish(&a, "early", r#"{"value": 2}"#).await;
    let next = first.next_event(PATIENCE).await;
    assert_eq!((next.event.as_str(), id(&next).seq), ("points", at.seq + 1));
}

#[tokio::test]
async fn series_limits_and_unnamed_points_hold_across_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = two_nodes(&redis, &[("LIVECHART_STREAMS_MAX_SERIES", "2")]).await;
    publish(
        &a,
        "lim",
        r#"[{"series": "x", "value": 1}, {"series": "y", "value": 2}]"#,
    )
    .await;
    // Straight to b, whose copy may not have x and y yet: Redis holds the limit either way.
    let (status, body) = publish_raw(
        &b,
        "lim",
        Some("application/json"),
        r#"{"series": "z", "value": 3}"#,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("too_many_series")),
        "{body}"
    );
    let (status, body) =
        publish_raw(&b, "lim", Some("application/json"), r#"{"value": 4}"#, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("ambiguous_series")),
        "{body}"
    );
    // Nothing of either was published.
    let next = publish(&b, "lim", r#"{"series": "x", "value": 5}"#).await;
    assert_eq!(next, 2);
}

#[tokio::test]
async fn every_answer_to_a_publish_is_the_truth_while_redis_stalls() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Redis keeps every event, so that a node started afterwards reads all of them.
    let env = [("LIVECHART_HISTORY_RING_EVENTS", "100000")];
    let a = node(&redis, "a", &env);
    ready(&a).await;
    publish(&a, "stall", r#"{"value": 0}"#).await;

    // Four publishers, one value per request, for as long as the test lasts; Redis freezes
    // for 8 s (longer than a command's 5 s) in the middle of it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut publishers = Vec::new();
    for p in 0..4u32 {
        let (url, stop) = (a.url("/api/streams/stall/points"), stop.clone());
        publishers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answers = Vec::new();
            let mut i = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let value = f64::from(p * 100_000 + i);
                let sent = std::time::Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"value": {value}}}"#))
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await
                    .expect("an answer");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let kind = body["error"].as_str().unwrap_or("").to_owned();
                answers.push((value, status, kind, sent.elapsed()));
                i += 1;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.freeze(true);
    tokio::time::sleep(Duration::from_secs(8)).await;
    redis.freeze(false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for p in publishers {
        answers.extend(p.await.expect("a publisher"));
    }
    ready(&a).await;

    // What Redis holds, through a node that has followed it.
    let b = node(&redis, "b", &env);
    ready(&b).await;
    let mut count = std::collections::BTreeMap::<u64, usize>::new();
    for v in common::held_values(&b, "stall", None).await {
        *count.entry(v as u64).or_default() += 1;
    }
    let (mut ok, mut refused, mut unknown) = (0, 0, 0);
    for (value, status, kind, _) in &answers {
        let n = count.get(&(*value as u64)).copied().unwrap_or(0);
        match (status, kind.as_str()) {
            (200, _) => {
                ok += 1;
                assert_eq!(n, 1, "{value} was answered 200 and is there {n} times");
            }
            (503, "broker_unavailable") => {
                refused += 1;
                assert_eq!(
                    n, 0,
                    "{value} was answered 503 \"nothing was published\" and is there"
                );
            }
            (504, "outcome_unknown") => {
                unknown += 1;
                assert!(n <= 1, "{value} is there {n} times");
            }
            other => panic!("{value}: an unexpected answer {other:?}"),
        }
    }
    eprintln!("answers: {ok} published, {refused} refused, {unknown} unknown");
    // The stall was met: publishes were held past a command's 5 s, and then answered with
    // what had become of them (applied when Redis woke: 200; never: 503).
    let longest = answers.iter().map(|a| a.3).max().unwrap_or_default();
    eprintln!("the longest answer took {longest:?}");
    assert!(
        longest >= Duration::from_secs(5),
        "no publish met the stall"
    );
    assert!(ok > 0);
}

/// The id a publish was answered with; once more after a 503 that published nothing (the
/// first command after Redis came back finds the old connection gone).
async fn publish_id(server: &TestServer, stream: &str, value: f64) -> EventId {
    let body = format!(r#"{{"value": {value}}}"#);
    let mut answer =
        publish_raw(server, stream, Some("application/json"), body.clone(), None).await;
    if answer.0 == 503 && answer.1["error"] == "broker_unavailable" {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        answer = publish_raw(server, stream, Some("application/json"), body, None).await;
    }
    let (status, answer) = answer;
    assert_eq!(status, 200, "{answer}");
    answer["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}

#[tokio::test]
async fn a_redis_restored_while_every_node_was_down_never_reuses_an_id() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let data = common::TempDir::new("node-data");
    let log = redis.dir.path().join("node.log");
    let url = redis.url.clone();
    let env = [
        ("LIVECHART_HISTORY_STORE", "redis"),
        ("LIVECHART_REDIS_URL", url.as_str()),
        ("LIVECHART_DEMO_ENABLED", "false"),
        ("RUST_LOG", "info"),
    ];
    let node = TestServer::start_in(&data, &env, &log);
    ready(&node).await;
    for v in 1..=3 {
        publish_id(&node, "r", f64::from(v)).await;
    }
    // A snapshot of Redis' files, taken with Redis stopped cleanly.
    redis.stop();
    let snapshot = common::TempDir::new("redis-snapshot");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(redis.dir.path().join("appendonlydir"))
        .arg(snapshot.path())
        .status()
        .expect("cp");
    assert!(copied.success());
    redis.start_again();
    ready(&node).await;
    let mut last = publish_id(&node, "r", 4.0).await;
    for v in 5..=6 {
        last = publish_id(&node, "r", f64::from(v)).await;
    }
    // The node keeps what it saw in its data directory (within a second).
    let kept = data.path().join("redis-seen.json");
    let deadline = std::time::Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&kept)
        .unwrap_or_default()
        .contains(&last.to_string())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never kept {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every node down; Redis back from the snapshot (it holds 3 of the stream's 6 events).
    drop(node);
    redis.stop();
    let restored = redis.dir.path().join("appendonlydir");
    std::fs::remove_dir_all(&restored).expect("remove the newer files");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(snapshot.path().join("appendonlydir"))
        .arg(redis.dir.path())
        .status()
        .expect("cp");
    assert!(copied.success());
    redis.start_again();
    let node = TestServer::start_in(&data, &env, &log);
    ready(&node).await;

    // The next event is not (epoch, 4) again with other content: a new epoch.
    let next = publish_id(&node, "r", 7.0).await;
    assert_ne!(next.epoch, last.epoch, "{next} after {last}: an id reused");
    // A viewer that saw up to 6 gets a reset, not 7 as if it followed on.
    let mut resumed = viewer(&node, "r", Some(last)).await;
    let first = resumed.next_event(PATIENCE).await;
    assert_eq!(first.event, "reset", "{first:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("starts a new epoch"), "{text}");
}

#[tokio::test]
async fn a_publish_redis_never_answers_is_504_outcome_unknown_not_a_guess() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = [("LIVECHART_HISTORY_RING_EVENTS", "100000")];
    let a = node(&redis, "a", &env);
    ready(&a).await;
    publish(&a, "silent", r#"{"value": 0}"#).await;
    // Frozen past the command's 5 s and the 10 s of asking what became of it.
    redis.freeze(true);
    let started = std::time::Instant::now();
    let (status, body) = publish_raw(
        &a,
        "silent",
        Some("application/json"),
        r#"{"value": 1}"#.to_owned(),
        None,
    )
    .await;
    let took = started.elapsed();
    redis.freeze(false);
    assert_eq!(
        (status, body["error"].as_str()),
        (504, Some("outcome_unknown")),
        "{body}"
    );
    assert!(took >= Duration::from_secs(15), "answered after {took:?}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("may or may not have been published"),
        "{detail}"
    );
    // Whatever became of it, it is there at most once.
    ready(&a).await;
    let held = common::held_values(&a, "silent", None).await;
    let ones = held.iter().filter(|&&x| x == 1.0).count();
    assert!(ones <= 1, "{held:?}");
}
