//! Looking back: the range query of retained points on the real server, exact and reduced
//! (against a brute-force reduction of what was published), CSV byte for byte, bad
//! parameters, the retention bounds, and retention across a restart.

mod common;

use app::model::{ErrorBody, PublishReceipt};
use app::range::PointsRange;
use common::{TempDir, TestServer};
use std::collections::BTreeMap;

type Published = BTreeMap<String, Vec<(i64, f64)>>;

fn quiet(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("LIVECHART_DEMO_ENABLED", "false")];
    env.extend_from_slice(extra);
    env
}

/// Publishes `n` events of two series, `a` every ms from `t0` and `b` every other, with values
/// that make spikes; returns what was published per series.
async fn publish_series(server: &TestServer, stream: &str, t0: i64, n: i64) -> Published {
    let client = reqwest::Client::new();
    let mut published = Published::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut batch = Vec::new();
        for &i in chunk {
            let ts = t0 + i;
            let a = ((i * 7919) % 1000) as f64 / 8.0 - 60.0;
            batch.push(serde_json::json!({"series": "a", "ts": ts, "value": a}));
            published.entry("a".into()).or_default().push((ts, a));
            if i % 2 == 0 {
                let b = if i == 1234 { 1e12 } else { (i as f64).sin() };
                batch.push(serde_json::json!({"series": "b", "ts": ts, "value": b}));
                published.entry("b".into()).or_default().push((ts, b));
            }
        }
        let r = client
            .post(server.url(&format!("/api/streams/{stream}/points")))
            .json(&batch)
            .send()
            .await
            .expect("publish");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    published
}

async fn range(server: &TestServer, stream: &str, query: &str) -> PointsRange {
    let r = reqwest::get(server.url(&format!("/api/streams/{stream}/points?{query}")))
        .await
        .expect("range");
    assert_eq!(
        r.status(),
        200,
        "{query}: {}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.expect("a PointsRange")
}

/// The M4 reduction done the slow way: per bucket, first, min, max, last, in order.
fn brute(points: &[(i64, f64)], (from, to): (i64, i64), buckets: usize) -> Vec<(i64, f64)> {
    let span = (to - from + 1) as i128;
    let bucket = |ts: i64| ((ts - from) as i128) * buckets as i128 / span;
    let mut out = Vec::new();
    for b in 0..buckets as i128 {
        let inside: Vec<(usize, (i64, f64))> = points
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, p)| bucket(p.0) == b)
            .collect();
        if inside.is_empty() {
            continue;
        }
        let pick = |better: fn(f64, f64) -> bool| {
            inside
                .iter()
                .copied()
                .reduce(|a, x| if better(x.1 .1, a.1 .1) { x } else { a })
                .unwrap()
        };
        let mut kept = vec![
            inside[0],
            pick(|x, a| x < a),
            pick(|x, a| x > a),
            *inside.last().unwrap(),
        ];
        kept.sort_by_key(|k| k.0);
        kept.dedup_by_key(|k| k.0);
        out.extend(kept.into_iter().map(|k| k.1));
    }
    out
}

/// Asserts equal lists, showing only the first difference.
#[track_caller]
fn assert_same<T: PartialEq + std::fmt::Debug>(got: &[T], expected: &[T], what: &str) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "{what}: first difference at {i} of {}/{}: got {:?}, expected {:?}",
            got.len(),
            expected.len(),
            got.get(i),
            expected.get(i)
        );
    }
}

fn pairs(s: &app::range::SeriesPoints) -> Vec<(i64, f64)> {
    s.ts.iter().copied().zip(s.values.iter().copied()).collect()
}

#[tokio::test]
async fn range_query_is_exact_below_max_points_and_reduced_above() {
    let server = TestServer::start(&quiet(&[]));
    let t0: i64 = 1_760_000_000_000;
    let published = publish_series(&server, "r", t0, 6000).await;

    // Everything, reduced to 400 per series: exactly the brute-force M4 of what was sent.
    let all = range(&server, "r", "max_points=400").await;
    assert_eq!(
        (all.from, all.to),
        (t0, t0 + 5999),
        "open ends close on the data"
    );
    assert!(all.reduced);
    assert_eq!(all.last_id.map(|id| id.seq), Some(12));
    for s in &all.series {
        let sent = &published[s.series.as_str()];
        assert_eq!(s.total, sent.len());
        assert!(
            s.reduced && s.ts.len() <= 400,
            "{}: {}",
            s.series,
            s.ts.len()
        );
        assert_same(
            &pairs(s),
            &brute(sent, (all.from, all.to), 100),
            s.series.as_str(),
        );
    }
    // The spike survives the reduction.
    assert!(all.series[1].values.contains(&1e12));

    // A slice with fewer points than max_points: exact, one series.
    let slice = range(
        &server,
        "r",
        &format!(
            "from={}&to={}&series=b&max_points=2000",
            t0 + 1000,
            t0 + 2999
        ),
    )
    .await;
    assert!(!slice.reduced);
    assert_eq!(slice.series.len(), 1);
    let expected: Vec<(i64, f64)> = published["b"]
        .iter()
        .copied()
        .filter(|(ts, _)| (t0 + 1000..=t0 + 2999).contains(ts))
        .collect();
    assert_eq!(pairs(&slice.series[0]), expected);

    // A range with nothing in it, and one with no stream.
    let empty = range(&server, "r", "from=0&to=5").await;
    assert!(empty.series.iter().all(|s| s.total == 0 && s.ts.is_empty()));
    let r = reqwest::get(server.url("/api/streams/nothing/points"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<ErrorBody>().await.unwrap().error, "unknown_stream");
}

#[tokio::test]
async fn csv_is_the_exact_points_byte_for_byte() {
    let server = TestServer::start(&quiet(&[]));
    let t0: i64 = 1_760_000_000_000;
    let mut published = publish_series(&server, "c", t0, 3000).await;
    // Values whose shortest exact form matters.
    let odd = [0.1, -0.0, 1e21, 5e-324, 123456789.125, -3.0];
    let batch: Vec<_> = odd
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"series": "z", "ts": t0 + i as i64, "value": v}))
        .collect();
    let r = reqwest::Client::new()
        .post(server.url("/api/streams/c/points"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    published.insert(
        "z".into(),
        odd.iter()
            .enumerate()
            .map(|(i, v)| (t0 + i as i64, *v))
            .collect(),
    );

    let (from, to) = (t0 + 500, t0 + 2499);
    let mut expected = String::from("series,ts,value\n");
    for (series, points) in &published {
        for (ts, v) in points.iter().filter(|(ts, _)| (from..=to).contains(ts)) {
            expected += &format!("{series},{ts},{}\n", serde_json::to_string(v).unwrap());
        }
    }
    // Both ways of asking: the Accept header, and format=csv.
    let client = reqwest::Client::new();
    let by_accept = client
        .get(server.url(&format!("/api/streams/c/points?from={from}&to={to}")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.status(), 200);
    assert!(by_accept.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = by_accept.text().await.unwrap();
    assert!(
        body.len() > 64 << 10,
        "several chunks: {} bytes",
        body.len()
    );
    let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
    assert_same(&lines(&body), &lines(&expected), "CSV by Accept");
    let by_format = reqwest::get(server.url(&format!(
        "/api/streams/c/points?from={from}&to={to}&format=csv&max_points=4"
    )))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_same(
        &lines(&by_format),
        &lines(&expected),
        "CSV is never reduced",
    );

    // The odd values, with ISO times.
    let z = reqwest::get(server.url("/api/streams/c/points?format=csv&series=z&time=iso"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        z,
        "series,ts,value\n\
         z,2025-10-09T08:53:20.000Z,0.1\n\
         z,2025-10-09T08:53:20.001Z,-0.0\n\
         z,2025-10-09T08:53:20.002Z,1e21\n\
         z,2025-10-09T08:53:20.003Z,5e-324\n\
         z,2025-10-09T08:53:20.004Z,123456789.125\n\
         z,2025-10-09T08:53:20.005Z,-3.0\n"
    );
}

#[tokio::test]
async fn bad_parameters_get_400_with_what_and_where() {
    let server = TestServer::start(&quiet(&[]));
    publish_series(&server, "p", 1000, 10).await;
    for (query, says) in [
        ("from=soon", "`from`"),
        ("to=1e3", "`to`"),
        ("from=10&to=9", "after"),
        ("max_points=0", "`max_points`"),
        ("max_points=99999999999999999999", "`max_points`"),
        ("series=bad%20name", "`series`"),
        ("series=", "`series` is empty"),
        ("format=xlsx", "`format`"),
        ("time=local", "`time`"),
        ("window=5m", "unknown parameter `window`"),
        ("to=1&to=2", "twice"),
    ] {
        let r = reqwest::get(server.url(&format!("/api/streams/p/points?{query}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: ErrorBody = r.json().await.unwrap();
        assert_eq!(body.error, "invalid_range", "{query}");
        assert!(body.detail.contains(says), "{query}: {}", body.detail);
    }
    let r = reqwest::get(server.url("/api/streams/bad%20name/points"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The server still answers.
    assert!(!range(&server, "p", "").await.series.is_empty());
}

#[tokio::test]
async fn retention_holds_its_time_and_byte_bounds() {
    // 10 s of retention, 64 KiB (4,096 points) per stream.
    let server = TestServer::start(&quiet(&[
        ("LIVECHART_HISTORY_RETENTION", "10s"),
        ("LIVECHART_HISTORY_RETENTION_BYTES", "65536"),
    ]));
    let t0: i64 = 1_760_000_000_000;
    // By time: one point a second for a minute; the last 10 s (and the event that reaches
    // back to the cut) stay.
    let client = reqwest::Client::new();
    for i in 0..60 {
        let r = client
            .post(server.url("/api/streams/slow/points"))
            .json(&serde_json::json!({"ts": t0 + i * 1000, "value": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let slow = range(&server, "slow", "").await;
    assert_eq!(slow.series[0].ts.first(), Some(&(t0 + 49_000)));
    assert_eq!(slow.series[0].ts.len(), 11);
    // By bytes: 12,000 points in a few seconds of data time stay within 4,096.
    publish_series(&server, "fast", t0, 8000).await;
    let fast = range(&server, "fast", "max_points=100000").await;
    let kept: usize = fast.series.iter().map(|s| s.total).sum();
    assert!(kept <= 4096 && kept > 4096 - 750, "{kept}");
    // The oldest went first: what is kept is the newest, without holes.
    let a = &fast.series[0];
    assert_eq!(a.ts.last(), Some(&(t0 + 7999)));
    assert!(a.ts.windows(2).all(|w| w[1] == w[0] + 1));
}

#[tokio::test]
async fn retained_points_survive_a_restart() {
    let data = TempDir::new("range-restart");
    let log = TempDir::new("range-restart-log");
    let env = quiet(&[("RUST_LOG", "info")]);
    let t0: i64 = 1_760_000_000_000;
    // Far more events than the ring holds (1,024): the store must keep them for retention.
    let mut server = TestServer::start_in(&data, &env, &log.path().join("server.log"));
    let client = reqwest::Client::new();
    let mut last = None;
    for i in 0..3000 {
        let r = client
            .post(server.url("/api/streams/kept/points"))
            .json(&serde_json::json!({"ts": t0 + i, "value": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        last = Some(r.json::<PublishReceipt>().await.unwrap().id);
    }
    let before = range(&server, "kept", "max_points=100000").await;
    assert_eq!(before.series[0].total, 3000);
    server.terminate(std::time::Duration::from_secs(10));
    let server = TestServer::start_in(&data, &env, &log.path().join("server.log"));
    let after = range(&server, "kept", "max_points=100000").await;
    assert_eq!(after.series, before.series, "every point is back");
    assert_eq!(after.last_id, last);
}

#[tokio::test]
async fn range_queries_answered_at_once_are_bounded() {
    let server = TestServer::start(&quiet(&[]));
    publish_series(&server, "big", 1_760_000_000_000, 600_000).await;
    // Four CSV answers of 900,000 rows (about 22 MB each, uncompressed: far more than the
    // sockets buffer) whose bodies nobody reads: each holds its place until it is written.
    let client = reqwest::Client::new();
    let csv = || {
        client
            .get(server.url("/api/streams/big/points?format=csv"))
            .header("accept-encoding", "identity")
            .send()
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let r = csv().await.expect("a CSV answer");
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    // A fifth query waits for a place, and is refused after 10 s.
    let started = std::time::Instant::now();
    let refused = reqwest::get(server.url("/api/streams/big/points?max_points=8"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.json::<ErrorBody>().await.unwrap().error,
        "too_many_range_queries"
    );
    // Once they go, queries are answered again.
    drop(held);
    let mut answered = false;
    for _ in 0..50 {
        let r = reqwest::get(server.url("/api/streams/big/points?max_points=8"))
            .await
            .unwrap();
        if r.status() == 200 {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "places are given back when the bodies are dropped"
    );
}
