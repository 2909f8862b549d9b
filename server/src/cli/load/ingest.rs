//! `livechart load --ingest`: publishers only, for the ingest benchmarks.

use super::*;

/// The ingest benchmark's report.
#[derive(Serialize)]
struct IngestReport {
    params: Args,
    requests: u64,
    errors: u64,
    points_per_s: f64,
    request_ms: Option<Latency>,
    server: Option<ProcStats>,
    /// The `--watch-pid` processes, in order.
    watched: Vec<ProcStats>,
    generator: ProcStats,
    machine: Machine,
}

/// Posts batches from `clients` tasks for the duration and reports accepted points per second.
pub(super) async fn run_ingest(args: Args, points_url: String, clients: usize) -> u8 {
    let client = reqwest::Client::new();
    let body: Vec<serde_json::Value> = (0..args.points)
        .map(|i| serde_json::json!({ "value": i as f64 }))
        .collect();
    let body = match serde_json::to_vec(&body) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            eprintln!("livechart load: {e}");
            return 1;
        }
    };
    let latencies = Arc::new(Latencies::new());
    let errors = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let server_before = args.server_pid.map(|pid| proc_stats(Some(pid)));
    let watched_before = watched_stats(&args.watch_pids);
    let self_before = proc_stats(None);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (client, url, body) = (client.clone(), points_url.clone(), body.clone());
            let (latencies, errors, requests) =
                (latencies.clone(), errors.clone(), requests.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let ok = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        requests.fetch_add(1, Ordering::Relaxed);
                        latencies.record(i, &[sent.elapsed().as_micros() as u64]);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_after = args.server_pid.map(|pid| proc_stats(Some(pid)));
    let watched = spent(&watched_before, &watched_stats(&args.watch_pids));
    let self_after = proc_stats(None);
    let h = latencies.merged();
    let requests = requests.load(Ordering::Relaxed);
    let report = IngestReport {
        requests,
        errors: errors.load(Ordering::Relaxed),
        points_per_s: (requests * args.points as u64) as f64 / elapsed,
        request_ms: latency(&h),
        server: server_before.zip(server_after).map(|(b, a)| ProcStats {
            cpu_s: a.cpu_s - b.cpu_s,
            rss_kib: a.rss_kib,
            peak_rss_kib: a.peak_rss_kib,
        }),
        watched,
        generator: ProcStats {
            cpu_s: self_after.cpu_s - self_before.cpu_s,
            ..self_after
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
