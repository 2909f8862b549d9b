//! Micro-benchmarks of the hot paths (divan): encoding an event, fanning one event out to
//! 10,000 viewers in-process, parsing + validating an ingest body, and the range query over
//! retained points.
//!
//!   cargo bench -p server --bench hot_paths

use app::model::{EventId, NewPoint, StreamName};
use app::range::RangeQuery;
use livechart_server::hub::{Hub, Limits, Next, RetentionLimits, Stream};
use livechart_server::ingest::{self, Format};
use livechart_server::sse;
use std::sync::Arc;

fn main() {
    divan::main();
}

fn points_json(n: usize) -> String {
    let points: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"series":"temp","ts":{},"value":{}.5}}"#,
                1_763_700_000_000u64 + i as u64,
                i
            )
        })
        .collect();
    format!("[{}]", points.join(","))
}

/// One event, framed for the wire (the JSON already made, as the hub does it).
#[divan::bench(args = [1, 100])]
fn encode_event(bencher: divan::Bencher, points: usize) {
    let data = points_json(points);
    let id = EventId {
        epoch: 0x19a9f3c2b41,
        seq: 17,
    };
    bencher.bench(|| sse::encode_event(Some(id), "points", divan::black_box(&data)));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn limits() -> Limits {
    Limits {
        ring_events: 1024,
        ring_bytes: 8 << 20,
        window: 500,
        retention: RetentionLimits {
            ms: i64::MAX,
            bytes: 16 << 20,
        },
        max_streams: 10,
        max_series: 16,
        max_viewers: 20_000,
    }
}

/// Publishing one event and handing it to 10,000 subscribed viewers (each takes its chunk,
/// as a connection's body does before writing it).
#[divan::bench(sample_count = 20)]
fn fan_out_to_10k_viewers(bencher: divan::Bencher) {
    let rt = runtime();
    let hub = Arc::new(Hub::new(limits(), 1));
    let stream = hub
        .declare(&StreamName::parse("bench").expect("a valid name"))
        .expect("room for a stream");
    let mut viewers: Vec<_> = (0..10_000)
        .map(|_| stream.subscribe(None, hub.admit().expect("room for a viewer")))
        .collect();
    // Take the snapshots first.
    rt.block_on(async {
        for v in &mut viewers {
            let _ = v.next().await;
        }
    });
    let point = [NewPoint {
        series: None,
        ts: Some(1),
        value: 1.0,
    }];
    bencher.bench_local(|| {
        rt.block_on(async {
            stream.publish(&point, 1).await.expect("a valid point");
            let mut bytes = 0;
            for v in &mut viewers {
                if let Next::Frames(b) = v.next().await {
                    bytes += b.len();
                }
            }
            bytes
        })
    });
}

/// Parsing and validating an ingest body of 1,000 points.
#[divan::bench(args = [Format::Json, Format::Ndjson])]
fn ingest_parse_1000_points(bencher: divan::Bencher, format: Format) {
    let body = match format {
        Format::Json => points_json(1000),
        Format::Ndjson => (0..1000)
            .map(|i| format!(r#"{{"series":"temp","value":{i}.5}}"#))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    bencher
        .bench(|| ingest::parse(divan::black_box(body.as_bytes()), format, 10_000).expect("valid"));
}

/// Publishing a batch of `n` points to a stream of the memory store: validation, numbering,
/// encoding, ring, window and retained points (16 MiB of them once full), no viewer.
#[divan::bench(args = [1, 100, 1000], sample_count = 50)]
fn publish_memory_store(bencher: divan::Bencher, n: usize) {
    let rt = runtime();
    let hub = Arc::new(Hub::new(limits(), 1));
    let stream = hub
        .declare(&StreamName::parse("bench").expect("a valid name"))
        .expect("room for a stream");
    let series = app::model::SeriesName::parse("temp").expect("a valid name");
    let mut ts = 0i64;
    bencher.bench_local(|| {
        let batch: Vec<NewPoint> = (0..n)
            .map(|i| {
                ts += 1;
                NewPoint {
                    series: Some(series.clone()),
                    ts: Some(ts),
                    value: i as f64,
                }
            })
            .collect();
        rt.block_on(stream.publish(&batch, 0))
            .expect("valid points")
    });
}

/// A stream holding `n` retained points of one series, 1 ms apart, published 1,000 a time.
fn retained_stream(n: usize) -> (Arc<Hub>, Arc<Stream>) {
    let rt = runtime();
    let hub = Arc::new(Hub::new(limits(), 1));
    let stream = hub
        .declare(&StreamName::parse("bench").expect("a valid name"))
        .expect("room for a stream");
    rt.block_on(async {
        for start in (0..n).step_by(1000) {
            let batch: Vec<NewPoint> = (start..(start + 1000).min(n))
                .map(|i| NewPoint {
                    series: None,
                    ts: Some(i as i64),
                    value: ((i * 7919) % 1000) as f64,
                })
                .collect();
            stream.publish(&batch, 0).await.expect("valid points");
        }
    });
    assert_eq!(stream.retained_points(), n);
    (hub, stream)
}

const RETAINED: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The range query over every retained point, reduced to 2,000 (the JSON answer's points).
#[divan::bench(args = RETAINED, sample_count = 20)]
fn range_reduced_to_2000(bencher: divan::Bencher, n: usize) {
    let (_hub, stream) = retained_stream(n);
    let q = RangeQuery::default();
    bencher.bench(|| stream.range(divan::black_box(&q)));
}

/// The range query answered exactly (up to the most a JSON answer may ask for, 100,000).
#[divan::bench(args = [10_000, 100_000], sample_count = 20)]
fn range_exact(bencher: divan::Bencher, n: usize) {
    let (_hub, stream) = retained_stream(n);
    let q = RangeQuery {
        max_points: 100_000,
        ..RangeQuery::default()
    };
    bencher.bench(|| stream.range(divan::black_box(&q)));
}

/// The exact points a CSV answer copies out before writing them.
#[divan::bench(args = RETAINED, sample_count = 20)]
fn range_csv_copy(bencher: divan::Bencher, n: usize) {
    let (_hub, stream) = retained_stream(n);
    let q = RangeQuery::default();
    bencher.bench(|| stream.range_exact(divan::black_box(&q), app::range::MAX_CSV_POINTS));
}

/// Parsing and validating a line-protocol body of 1,000 fields (Telegraf-like: two tags,
/// five fields a line, nanosecond timestamps).
#[divan::bench]
fn line_protocol_parse_1000_fields(bencher: divan::Bencher) {
    use livechart_server::ingest::line_protocol::{parse, Precision};
    let body: String = (0..200)
        .map(|i| {
            format!(
                "cpu,host=web1,cpu=cpu{} usage_user={i}.5,usage_system=1.25,usage_idle=97.5,\
                 procs={i}i,up=true 170000000{i:04}000000\n",
                i % 4
            )
        })
        .collect();
    bencher.bench(|| {
        parse(divan::black_box(&body), Precision::Nanoseconds, 0, 10_000).expect("valid")
    });
}
