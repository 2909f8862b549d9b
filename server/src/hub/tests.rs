//! The hub from the outside: numbering, snapshots and resume, limits, removal, and what a
//! viewer holds when it falls behind.

use super::*;
use app::model::{Point, ResetReason, Snapshot};

/// Which store a test's hub runs on: every test here runs on both.
#[derive(Clone, Copy)]
enum Kind {
    Memory,
    Embedded,
}

/// A hub on that store (the embedded one in a fresh directory, left behind in the system's
/// temporary directory only if the test fails before the hub is dropped).
fn new_hub(store: Kind, limits: Limits, epoch: u64) -> Hub {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    match store {
        Kind::Memory => Hub::new(limits, epoch),
        Kind::Embedded => {
            let dir = std::env::temp_dir().join(format!(
                "livechart-hub-test-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let store = store::Embedded::open(&dir, store::Durability::Relaxed).unwrap();
            let hub = Hub::open(limits, epoch, Box::new(store)).unwrap();
            // The file stays open (and usable) until the hub is dropped.
            std::fs::remove_dir_all(&dir).unwrap();
            hub
        }
    }
}

fn name(s: &str) -> StreamName {
    StreamName::parse(s).unwrap()
}

fn limits(ring: usize) -> Limits {
    Limits {
        ring_events: ring,
        ring_bytes: 1 << 20,
        window: 3,
        retention: RetentionLimits {
            ms: 60_000,
            bytes: 1 << 20,
        },
        max_streams: 4,
        max_series: 2,
        max_viewers: 3,
    }
}

fn pt(value: f64) -> NewPoint {
    NewPoint {
        series: None,
        ts: Some(1),
        value,
    }
}

pub(super) async fn text(v: &mut Viewer) -> String {
    match v.next().await {
        Next::Frames(b) => String::from_utf8(b.to_vec()).unwrap(),
        Next::FramesThen(a, b) => String::from_utf8([a, b].concat()).unwrap(),
        Next::Closed => panic!("closed"),
    }
}

fn ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.split_once('-').unwrap().1.parse().unwrap())
        .collect()
}

async fn fresh_viewer_gets_snapshot_then_live_frames_shared(store: Kind) {
    let hub = new_hub(store, limits(16), 0xab);
    let s = hub.declare(&name("t")).unwrap();
    s.publish(&[pt(1.0)], 0).await.unwrap();
    let mut a = s.subscribe(None, hub.admit().unwrap());
    let mut b = s.subscribe(None, hub.admit().unwrap());
    let first = text(&mut a).await;
    assert!(first.starts_with("id: ab-1\nevent: snapshot\n"), "{first}");
    assert!(first.contains(r#""points":[{"series":"value","ts":1,"value":1.0}]"#));
    assert_eq!(text(&mut b).await, first);
    assert_eq!(s.publish(&[pt(2.0)], 0).await.unwrap().to_string(), "ab-2");
    assert_eq!(s.publish(&[pt(3.0)], 0).await.unwrap().seq, 3);
    let (ta, tb) = (text(&mut a).await, text(&mut b).await);
    // Both frames in one chunk, and the very same bytes for both viewers.
    assert_eq!(ids(&ta), vec![2, 3]);
    assert_eq!(ta, tb);
    assert_eq!(hub.viewers(), 2);
    drop(a);
    assert_eq!(hub.viewers(), 1);
    assert_eq!(s.status().viewers, 1);
}

async fn resume_replays_exactly_what_was_missed(store: Kind) {
    let hub = new_hub(store, limits(16), 7);
    let s = hub.declare(&name("t")).unwrap();
    for v in 0..5 {
        s.publish(&[pt(v as f64)], 0).await.unwrap();
    }
    let mut v = s.subscribe(Some(EventId { epoch: 7, seq: 2 }), hub.admit().unwrap());
    assert_eq!(ids(&text(&mut v).await), vec![3, 4, 5]);
    s.publish(&[pt(9.0)], 0).await.unwrap();
    assert_eq!(ids(&text(&mut v).await), vec![6]);
    // Up to date: nothing is replayed, the next event is live.
    let mut w = s.subscribe(Some(EventId { epoch: 7, seq: 6 }), hub.admit().unwrap());
    s.publish(&[pt(9.0)], 0).await.unwrap();
    assert_eq!(ids(&text(&mut w).await), vec![7]);
}

async fn stale_foreign_and_future_ids_reset(store: Kind) {
    let hub = new_hub(store, limits(16), 7);
    let s = hub.declare(&name("t")).unwrap();
    for v in 0..40 {
        s.publish(&[pt(v as f64)], 0).await.unwrap();
    }
    for (resume, reason) in [
        (EventId { epoch: 7, seq: 3 }, "too_old"),
        (EventId { epoch: 6, seq: 39 }, "restarted"),
        (EventId { epoch: 7, seq: 41 }, "unknown_id"),
    ] {
        let mut v = s.subscribe(Some(resume), hub.admit().unwrap());
        let t = text(&mut v).await;
        assert!(t.starts_with("event: reset\n"), "{t}");
        assert!(t.contains(&format!(r#""reason":"{reason}""#)), "{t}");
        assert!(t.contains("id: 7-40\nevent: snapshot\n"), "{t}");
    }
    // The oldest resumable id: everything after it is still held.
    let mut v = s.subscribe(Some(EventId { epoch: 7, seq: 24 }), hub.admit().unwrap());
    assert_eq!(ids(&text(&mut v).await), (25..=40).collect::<Vec<_>>());
}

async fn a_viewer_behind_the_ring_is_resynced(store: Kind) {
    let hub = new_hub(store, limits(16), 1);
    let s = hub.declare(&name("t")).unwrap();
    let mut slow = s.subscribe(None, hub.admit().unwrap());
    text(&mut slow).await;
    for v in 0..20 {
        s.publish(&[pt(v as f64)], 0).await.unwrap();
    }
    let t = text(&mut slow).await;
    assert!(t.contains(r#""reason":"lagged""#), "{t}");
    assert!(t.contains("id: 1-20\nevent: snapshot"), "{t}");
    // The window has the last 3 points.
    assert!(
        t.contains(r#"{"series":"value","ts":1,"value":17.0}"#),
        "{t}"
    );
    s.publish(&[pt(0.0)], 0).await.unwrap();
    assert_eq!(ids(&text(&mut slow).await), vec![21]);
    assert_eq!(
        s.counters().resets[ResetReason::Lagged as usize].load(Ordering::Relaxed),
        1
    );
}

async fn publish_is_all_or_nothing(store: Kind) {
    let hub = new_hub(store, limits(16), 1);
    let t = name("t");
    let named = |s: &str, v: f64| NewPoint {
        series: Some(SeriesName::parse(s).unwrap()),
        ts: None,
        value: v,
    };
    hub.publish(&t, &[named("a", 1.0), named("b", 2.0)], true, 5)
        .await
        .unwrap();
    let s = hub.get(&t).unwrap();
    // Which series? The stream has two.
    let err = hub
        .publish(&t, &[named("a", 1.0), pt(2.0)], true, 5)
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert!(err.to_string().contains("2 series (a, b)"), "{err}");
    // A third series is one too many; a bad value anywhere refuses the batch.
    let err = hub
        .publish(&t, &[named("c", 1.0)], true, 5)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::TooManySeries { total: 3, .. }),
        "{err}"
    );
    let err = hub
        .publish(&t, &[named("a", 1.0), named("a", f64::NAN)], true, 5)
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(s.last_seq(), 1);
    assert_eq!(s.snapshot().points.len(), 2);
    assert_eq!(
        s.snapshot().points[0].ts,
        5,
        "server time when ts is absent"
    );
    // Unknown streams: refused without auto-create, and never half-created.
    let u = name("u");
    assert_eq!(
        hub.publish(&u, &[pt(1.0)], false, 0).await,
        Err(PublishError::UnknownStream(u.clone()))
    );
    let too_many = [named("x", 1.0), named("y", 1.0), named("z", 1.0)];
    assert!(hub.publish(&u, &too_many, true, 0).await.is_err());
    assert!(hub.get(&u).is_none());
}

async fn stream_and_viewer_limits(store: Kind) {
    let hub = new_hub(store, limits(16), 1);
    for i in 0..4 {
        hub.declare(&name(&format!("s{i}"))).unwrap();
    }
    assert_eq!(
        hub.declare(&name("s9")).err(),
        Some(PublishError::TooManyStreams(4))
    );
    assert!(
        hub.declare(&name("s0")).is_ok(),
        "existing streams are still found"
    );
    let a: Vec<_> = (0..3).map(|_| hub.admit().unwrap()).collect();
    assert!(hub.admit().is_err());
    drop(a);
    assert!(hub.admit().is_ok());
}

async fn ring_is_bounded_by_events_and_bytes(store: Kind) {
    let mut l = limits(16);
    l.ring_bytes = 2000;
    let hub = new_hub(store, l, 1);
    let s = hub.declare(&name("t")).unwrap();
    for v in 0..100 {
        s.publish(&[pt(v as f64)], 0).await.unwrap();
    }
    let (events, bytes) = s.ring_usage();
    assert!(
        events <= 16 && bytes <= 2000,
        "{events} events, {bytes} bytes"
    );
    assert!(events > 5);
    assert_eq!(s.snapshot().points.len(), 3);
}

async fn mux_text(v: &mut MuxViewer) -> String {
    match v.next().await {
        Next::Frames(b) => String::from_utf8(b.to_vec()).unwrap(),
        Next::FramesThen(a, b) => String::from_utf8([a, b].concat()).unwrap(),
        Next::Closed => panic!("closed"),
    }
}

/// The `data:` of every event named `event` in `text`.
fn data_of<'a>(text: &'a str, event: &str) -> Vec<&'a str> {
    let marker = format!("event: {event}\ndata: ");
    text.match_indices(&marker)
        .map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            &rest[..rest.find('\n').unwrap()]
        })
        .collect()
}

async fn one_connection_follows_several_streams_and_resumes_all(store: Kind) {
    use app::model::{StreamInfo, Tagged};
    let hub = Arc::new(new_hub(store, limits(16), 0xe));
    let (a, b) = (
        hub.declare(&name("a")).unwrap(),
        hub.declare(&name("b")).unwrap(),
    );
    a.publish(&[pt(1.0)], 0).await.unwrap();
    let ab = [name("a"), name("b")];
    let mut v = hub.subscribe_many(&ab, Positions::default(), hub.admit().unwrap());
    let first = mux_text(&mut v).await;
    // The catalog, a snapshot of each stream, then the positions as the connection's id.
    let catalog: Vec<StreamInfo> = serde_json::from_str(data_of(&first, "streams")[0]).unwrap();
    assert_eq!(
        catalog.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let snaps = data_of(&first, "snapshot");
    let snap: Tagged<Snapshot> = serde_json::from_str(snaps[0]).unwrap();
    assert_eq!((snap.stream.as_str(), snap.data.points.len()), ("a", 1));
    assert_eq!(snap.id.map(|i| i.seq), Some(1));
    assert!(first.ends_with("id: a:e-1,b:e-0\n\n"), "{first}");
    assert!(!first.contains("id: e-"), "frames carry no id of their own");
    assert_eq!(
        (a.status().viewers, b.status().viewers, hub.viewers()),
        (1, 1, 1)
    );

    b.publish(&[pt(5.0)], 0).await.unwrap();
    let next = mux_text(&mut v).await;
    // A new series changed the catalog; then b's event, tagged.
    assert_eq!(data_of(&next, "streams").len(), 1);
    let ev: Tagged<Vec<Point>> = serde_json::from_str(data_of(&next, "points")[0]).unwrap();
    assert_eq!((ev.stream.as_str(), ev.id.map(|i| i.seq)), ("b", Some(1)));
    assert!(next.ends_with("id: a:e-1,b:e-1\n\n"), "{next}");

    // Resuming from those positions replays exactly what was missed, in both streams.
    drop(v);
    a.publish(&[pt(2.0)], 0).await.unwrap();
    b.publish(&[pt(6.0)], 0).await.unwrap();
    let from: Positions = "a:e-1,b:e-1".parse().unwrap();
    let mut w = hub.subscribe_many(&ab, from, hub.admit().unwrap());
    let replay = mux_text(&mut w).await;
    assert!(data_of(&replay, "snapshot").is_empty(), "{replay}");
    assert_eq!(data_of(&replay, "points").len(), 2);
    assert!(replay.ends_with("id: a:e-2,b:e-2\n\n"), "{replay}");
    drop(w);
    assert_eq!((a.status().viewers, hub.viewers()), (0, 0));
}

async fn descriptions_reach_the_catalog(store: Kind) {
    let hub = Arc::new(new_hub(store, limits(16), 1));
    let meta = StreamMeta {
        unit: Some("°C".into()),
        ..StreamMeta::default()
    };
    assert!(hub.describe(&name("t"), meta.clone(), false).await.is_err());
    hub.describe(&name("t"), meta.clone(), true).await.unwrap();
    let tu = [name("t"), name("u")];
    let mut v = hub.subscribe_many(&tu, Positions::default(), hub.admit().unwrap());
    let text = mux_text(&mut v).await;
    assert!(
        text.contains(r#"{"name":"t","meta":{"unit":"°C"},"series":[]}"#),
        "{text}"
    );
    assert_eq!(hub.catalog()[0].meta, meta);
    // A stream created later reaches the open connection, and is followed if asked for.
    let later = hub.clone();
    tokio::spawn(async move { later.declare(&name("u")) });
    let text = mux_text(&mut v).await;
    assert!(
        text.contains(r#"{"name":"u","meta":{},"series":[]}"#),
        "{text}"
    );
    let u_snapshot = r#"data: {"stream":"u","id":"1-0","data":{"last_id":"1-0","points":[]}}"#;
    assert!(text.contains(u_snapshot), "{text}");
}

async fn large_frames_are_shared_and_small_ones_coalesced_within_the_bound(store: Kind) {
    let mut l = limits(64);
    l.ring_bytes = 16 << 20;
    let hub = new_hub(store, l, 1);
    let s = hub.declare(&name("t")).unwrap();
    let mut a = s.subscribe(None, hub.admit().unwrap());
    let mut b = s.subscribe(None, hub.admit().unwrap());
    text(&mut a).await;
    text(&mut b).await;
    // Two batches larger than a chunk: each goes out as it is in the ring, shared.
    let big: Vec<NewPoint> = (0..3000).map(|i| pt(f64::from(i))).collect();
    s.publish(&big, 0).await.unwrap();
    s.publish(&big, 0).await.unwrap();
    for _ in 0..2 {
        let (Next::Frames(x), Next::Frames(y)) = (a.next().await, b.next().await) else {
            panic!("not one frame each")
        };
        assert!(x.len() > MAX_COALESCED_BYTES);
        assert_eq!(x.as_ptr(), y.as_ptr(), "the same bytes, not copies");
    }
    // Many small events: one chunk, within the bound.
    for v in 0..40 {
        s.publish(&[pt(f64::from(v))], 0).await.unwrap();
    }
    let chunk = text(&mut a).await;
    assert_eq!(ids(&chunk).len(), 40);
    assert!(chunk.len() <= MAX_COALESCED_BYTES);
}

async fn removed_streams_end_their_viewers_and_return_with_a_new_epoch(store: Kind) {
    let hub = Arc::new(new_hub(store, limits(16), 1));
    let s = hub.declare(&name("t")).unwrap();
    s.publish(&[pt(1.0)], 0).await.unwrap();
    let mut v = s.subscribe(None, hub.admit().unwrap());
    text(&mut v).await;
    let mut m = hub.subscribe_many(&[name("t")], Positions::default(), hub.admit().unwrap());
    mux_text(&mut m).await;

    hub.remove(&name("t")).unwrap();
    assert!(matches!(v.next().await, Next::Closed));
    assert_eq!(s.publish(&[pt(2.0)], 0).await, Err(PublishError::Removed));
    assert!(hub.get(&name("t")).is_none());
    let catalog = mux_text(&mut m).await;
    assert!(!catalog.contains(r#""name":"t""#), "{catalog}");

    // The name is free again; its ids start over in a new epoch, and the multiplexed
    // connection follows the new stream from a snapshot.
    let id = hub.publish(&name("t"), &[pt(3.0)], true, 0).await.unwrap();
    assert!(id.epoch > 1 && id.seq == 1, "{id}");
    let mut text = mux_text(&mut m).await;
    if !text.contains("event: snapshot") {
        text = mux_text(&mut m).await;
    }
    assert!(text.contains(&format!(r#""last_id":"{id}""#)), "{text}");

    hub.pin(&name("p")).unwrap();
    assert_eq!(hub.remove(&name("p")), Err(RemoveError::Pinned(name("p"))));
    assert_eq!(hub.remove(&name("x")), Err(RemoveError::Unknown(name("x"))));
}

async fn idle_streams_expire_unless_watched_or_pinned(store: Kind) {
    let hub = new_hub(store, limits(16), 1);
    hub.declare(&name("a")).unwrap();
    let b = hub.declare(&name("b")).unwrap();
    hub.pin(&name("c")).unwrap();
    let watched = b.subscribe(None, hub.admit().unwrap());
    let now = app::model::now_ms();
    assert!(
        hub.expire_idle(now, 5_000).is_empty(),
        "nothing is idle yet"
    );
    assert_eq!(hub.expire_idle(now + 10_000, 5_000), vec![name("a")]);
    drop(watched);
    assert_eq!(
        hub.expire_idle(app::model::now_ms() + 10_000, 5_000),
        vec![name("b")]
    );
    assert_eq!(hub.catalog().len(), 1, "the pinned stream stays");
}

/// Every test above, once per store.
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Kind::Memory).await
            })*
        }
        mod embedded {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Kind::Embedded).await
            })*
        }
    };
}

on_both_stores!(
    fresh_viewer_gets_snapshot_then_live_frames_shared,
    resume_replays_exactly_what_was_missed,
    stale_foreign_and_future_ids_reset,
    a_viewer_behind_the_ring_is_resynced,
    publish_is_all_or_nothing,
    stream_and_viewer_limits,
    ring_is_bounded_by_events_and_bytes,
    one_connection_follows_several_streams_and_resumes_all,
    descriptions_reach_the_catalog,
    large_frames_are_shared_and_small_ones_coalesced_within_the_bound,
    removed_streams_end_their_viewers_and_return_with_a_new_epoch,
    idle_streams_expire_unless_watched_or_pinned,
);
