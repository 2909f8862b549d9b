//! `livechart load`: a load generator for benchmarks (see BENCHMARKS.md), never run by tests.
//!
//! It opens N event-stream connections to one stream (spread over several 127.0.0.x source
//! addresses, so that more connections fit than one address has ephemeral ports), publishes
//! points at a fixed rate through the ingest endpoint with the publish time (µs since the
//! epoch) as each point's value, and reports one JSON line: connections, deliveries, gaps and
//! duplicates by id, publish→receive latency percentiles (HDR histogram), the server's CPU
//! seconds and peak RSS (from /proc, given its pid) and the generator's own.
//!
//! Connections are plain HTTP/1.1 with a small hand-rolled reader (`conn.rs`); the ingest
//! benchmark is `ingest.rs`; what the processes cost, `proc.rs`.

use hdrhistogram::Histogram;
use livechart_server::sse::{SseItem, SseParser};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

mod conn;
mod ingest;
mod proc;

use conn::*;
use ingest::*;
use proc::*;

#[derive(clap::Args, Clone, Debug, Serialize)]
pub struct Args {
    /// The server, e.g. http://127.0.0.1:3000 (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The stream to load (created by the first publish).
    #[arg(long, default_value = "load", value_parser = |s: &str| app::model::StreamName::parse(s))]
    pub stream: app::model::StreamName,
    /// Event-stream connections to open.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Events published per second (0: none, idle connections only).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Points per published event.
    #[arg(long, default_value_t = 1)]
    pub points: usize,
    /// How long to measure, after all connections are open.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Connections opened per second while ramping up.
    #[arg(long, default_value_t = 5000)]
    pub ramp: u64,
    /// Spread connections over 127.0.0.1 … 127.0.0.N as source addresses.
    #[arg(long, default_value_t = 4)]
    pub sources: u8,
    /// The server's process id, to read its CPU time and memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// More servers of the same cluster (several nodes on one Redis): viewers are spread
    /// over `--url` and these, round-robin; publishing goes to `--url` only.
    #[arg(long = "also-url")]
    pub also_urls: Vec<String>,
    /// More processes whose CPU time and memory the report gives (other nodes, Redis).
    #[arg(long = "watch-pid")]
    pub watch_pids: Vec<u32>,
    /// Instead of viewers: this many publishers posting batches of `--points` as fast as the
    /// server accepts them, for `--seconds` (the ingest benchmark).
    #[arg(long)]
    pub ingest_clients: Option<usize>,
    /// Measure another server the same way (nginx with nchan, say): its event-stream URL,
    /// which every viewer opens instead of Livechart's. Needs `--peer-publish`.
    #[arg(long, requires = "peer_publish")]
    pub peer_subscribe: Option<String>,
    /// The peer's URL that each message is POSTed to, with `--peer-body` as the body.
    #[arg(long, requires = "peer_subscribe")]
    pub peer_publish: Option<String>,
    /// The body of a message to the peer: `{seq}` becomes its number (from 1) and `{us}` the
    /// publish time (µs since the epoch). Viewers read both back from each event's data, as
    /// the numbers after `"seq":` and `"value":`.
    #[arg(long, default_value = r#"{"seq":{seq},"value":{us}}"#)]
    pub peer_body: String,
}

/// What a run publishes to and what its viewers read events from.
enum Target {
    /// Livechart: points POSTed to a stream; events numbered by their ids.
    Livechart { points_url: String },
    /// Another server: `body` POSTed to `url`; events numbered by the `"seq"` in their data.
    Peer { url: String, body: String },
}

impl Target {
    /// Publishes one event: number `seq` (a peer's), `points` points (Livechart's).
    async fn publish(
        &self,
        client: &reqwest::Client,
        seq: u64,
        points: usize,
    ) -> Result<(), String> {
        match self {
            Target::Livechart { points_url } => publish(client, points_url, points).await,
            Target::Peer { url, body } => {
                let body = body
                    .replace("{seq}", &seq.to_string())
                    .replace("{us}", &now_us().to_string());
                send(client.post(url).body(body)).await
            }
        }
    }
}

fn latency(h: &Histogram<u64>) -> Option<Latency> {
    let ms = |v: u64| v as f64 / 1000.0;
    (!h.is_empty()).then(|| Latency {
        p50: ms(h.value_at_quantile(0.5)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        samples: h.len(),
    })
}

/// The report: one JSON line.
#[derive(Serialize)]
struct Report {
    params: Args,
    connected: usize,
    failed: usize,
    /// Connections that ended before the run did.
    dropped: u64,
    published_events: u64,
    publish_errors: u64,
    delivered_events: u64,
    delivered_points: u64,
    deliveries_per_s: f64,
    gaps: u64,
    duplicates: u64,
    /// Connections that saw every event published during the measurement.
    complete_connections: u64,
    latency_ms: Option<Latency>,
    server: Option<ProcStats>,
    /// The `--watch-pid` processes, in order.
    watched: Vec<ProcStats>,
    generator: ProcStats,
    machine: Machine,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p99: f64,
    p999: f64,
    pub(super) max: f64,
    pub(super) samples: u64,
}

/// Counters shared by all connections.
#[derive(Default)]
struct Totals {
    pub(super) events: AtomicU64,
    pub(super) points: AtomicU64,
    pub(super) gaps: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) complete: AtomicU64,
}

/// Latency histograms, sharded to keep lock contention low.
struct Latencies(Vec<Mutex<Histogram<u64>>>);

impl Latencies {
    fn new() -> Self {
        Latencies(
            (0..16)
                .map(|_| {
                    Mutex::new(
                        Histogram::new_with_bounds(1, 600_000_000, 3)
                            .unwrap_or_else(|_| unreachable!("constant, valid bounds")),
                    )
                })
                .collect(),
        )
    }

    fn record(&self, shard: usize, micros: &[u64]) {
        let mut h = self.0[shard % self.0.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &m in micros {
            h.saturating_record(m.max(1));
        }
    }

    fn merged(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 600_000_000, 3)
            .unwrap_or_else(|_| unreachable!("constant, valid bounds"));
        for shard in &self.0 {
            let h = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = all.add(&*h);
        }
        all
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `http://host:port` → the socket address (loopback tests only: no DNS).
fn server_addr(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url}: only http:// is supported"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = host
        .parse::<SocketAddr>()
        .map_err(|e| format!("--url {url}: expected http://IP:PORT ({e})"))?;
    Ok((addr, host.to_owned()))
}

/// Runs the load and prints the report. Exit code 0, or 2 for bad arguments.
pub async fn run(args: Args) -> u8 {
    let subscribe_to = args.peer_subscribe.as_ref().unwrap_or(&args.url);
    let targets: Result<Vec<(SocketAddr, String)>, String> = std::iter::once(subscribe_to)
        .chain(&args.also_urls)
        .map(|u| server_addr(u))
        .collect();
    let targets = match targets {
        Ok(t) => t,
        Err(e) => {
            eprintln!("livechart load: {e}");
            return 2;
        }
    };
    if args.sources == 0 || !(args.rate.is_finite() && args.rate >= 0.0) || args.points == 0 {
        eprintln!("livechart load: --sources and --points must be at least 1, --rate a number ≥ 0");
        return 2;
    }
    let client = reqwest::Client::new();
    let points_url = format!(
        "{}{}",
        args.url.trim_end_matches('/'),
        app::paths::points(&args.stream)
    );
    let (target, path) = match (&args.peer_subscribe, &args.peer_publish) {
        (Some(subscribe), Some(publish)) => {
            let path = subscribe
                .strip_prefix("http://")
                .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
                .unwrap_or_else(|| "/".to_owned());
            let target = Target::Peer {
                url: publish.clone(),
                body: args.peer_body.clone(),
            };
            (target, path)
        }
        _ => {
            // Create the stream so that the connections find it.
            if let Err(e) = publish(&client, &points_url, args.points).await {
                eprintln!("livechart load: cannot publish to {points_url}: {e}");
                return 1;
            }
            if let Some(clients) = args.ingest_clients {
                return run_ingest(args, points_url, clients.max(1)).await;
            }
            let target = Target::Livechart {
                points_url: points_url.clone(),
            };
            (target, app::paths::events(&args.stream))
        }
    };
    let peer = matches!(target, Target::Peer { .. });

    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Latencies::new());
    // Published events are numbered by the server; connections compare against the range
    // published during the measurement.
    let measuring = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // Ramp up.
    let mut tasks = Vec::with_capacity(args.viewers);
    let mut connected = 0usize;
    let mut failed = 0usize;
    let pause = Duration::from_secs_f64(1.0 / args.ramp.max(1) as f64);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(1024);
    for i in 0..args.viewers {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources as usize) as u8);
        let (addr, host) = &targets[i % targets.len()];
        let conn = Conn {
            id: i,
            addr: *addr,
            source: IpAddr::V4(source),
            host: host.clone(),
            path: path.clone(),
            totals: totals.clone(),
            latencies: latencies.clone(),
            measuring: measuring.clone(),
            stop: stop_rx.clone(),
            peer,
        };
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move { conn.run(ready).await }));
        if i % 100 == 99 {
            tokio::time::sleep(pause * 100).await;
        }
    }
    drop(ready_tx);
    while let Some(ok) = ready_rx.recv().await {
        if ok {
            connected += 1;
        } else {
            failed += 1;
        }
        if connected + failed == args.viewers {
            break;
        }
    }
    eprintln!(
        "livechart load: {connected} connected, {failed} failed; measuring for {} s",
        args.seconds
    );

    // Measure: publish at the rate for the duration.
    let mut published = 0u64;
    let mut publish_errors = 0u64;
    let server_before = args.server_pid.map(|pid| proc_stats(Some(pid)));
    let watched_before = watched_stats(&args.watch_pids);
    let self_before = proc_stats(None);
    let delivered_before = totals.events.load(Ordering::Relaxed);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut peak_server = server_before.map_or(0, |s| s.rss_kib);
    measuring.store(1, Ordering::Relaxed);
    if args.rate > 0.0 {
        let every = Duration::from_secs_f64(1.0 / args.rate);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        while Instant::now() < deadline {
            tick.tick().await;
            // One at a time: at the rates measured an answer takes far less than a tick.
            match target.publish(&client, published + 1, args.points).await {
                Ok(()) => published += 1,
                Err(_) => publish_errors += 1,
            }
            if published.is_multiple_of(64) {
                if let Some(pid) = args.server_pid {
                    peak_server = peak_server.max(proc_stats(Some(pid)).rss_kib);
                }
            }
        }
    } else {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(pid) = args.server_pid {
                peak_server = peak_server.max(proc_stats(Some(pid)).rss_kib);
            }
        }
    }
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elapsed = start.elapsed().as_secs_f64();
    measuring.store(2, Ordering::Relaxed);
    let server_after = args.server_pid.map(|pid| proc_stats(Some(pid)));
    let watched = spent(&watched_before, &watched_stats(&args.watch_pids));
    let self_after = proc_stats(None);
    let delivered = totals.events.load(Ordering::Relaxed) - delivered_before;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }

    let h = latencies.merged();
    let report = Report {
        connected,
        failed,
        dropped: totals.dropped.load(Ordering::Relaxed),
        published_events: published,
        publish_errors,
        delivered_events: delivered,
        delivered_points: totals.points.load(Ordering::Relaxed),
        deliveries_per_s: delivered as f64 / elapsed,
        gaps: totals.gaps.load(Ordering::Relaxed),
        duplicates: totals.duplicates.load(Ordering::Relaxed),
        complete_connections: totals.complete.load(Ordering::Relaxed),
        latency_ms: latency(&h),
        server: server_before.zip(server_after).map(|(b, a)| ProcStats {
            cpu_s: a.cpu_s - b.cpu_s,
            rss_kib: a.rss_kib,
            peak_rss_kib: peak_server.max(a.rss_kib),
        }),
        watched,
        generator: ProcStats {
            cpu_s: self_after.cpu_s - self_before.cpu_s,
            rss_kib: self_after.rss_kib,
            peak_rss_kib: self_after.peak_rss_kib,
        },
        machine: machine(),
        params: args,
    };
    match serde_json::to_string(&report) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("livechart load: cannot encode the report: {e}"),
    }
    0
}

async fn publish(client: &reqwest::Client, url: &str, points: usize) -> Result<(), String> {
    let us = now_us();
    let body: Vec<serde_json::Value> = (0..points)
        .map(|_| serde_json::json!({ "value": us as f64 }))
        .collect();
    send(client.post(url).json(&body)).await
}

/// Sends a publish; anything but a success status is an error.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_from_points_data() {
        let data = r#"[{"series":"value","ts":1,"value":1763700000123456.0},{"series":"value","ts":2,"value":5}]"#;
        assert_eq!(values(data).collect::<Vec<_>>(), [1_763_700_000_123_456, 5]);
        // A peer's message, as the default --peer-body writes it.
        let peer = r#"{"seq":42,"value":1763700000123456}"#;
        assert_eq!(number_after(peer, "\"seq\":").collect::<Vec<_>>(), [42]);
        assert_eq!(values(peer).collect::<Vec<_>>(), [1_763_700_000_123_456]);
        assert!(server_addr("https://x").is_err());
        assert_eq!(
            server_addr("http://127.0.0.1:3000/").unwrap().0,
            "127.0.0.1:3000".parse().unwrap()
        );
    }
}
