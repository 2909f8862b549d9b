//! Every connection has a deadline for what it owes: its request head, its next request, its
//! body, and taking what is written to it. Clients that miss them lose their connection, and
//! nobody else is locked out for longer than that.

mod common;

use common::{publish_raw, wait_for_health, EventReader, TestServer};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PATIENCE: Duration = Duration::from_secs(10);

/// Short deadlines, so that the tests see them pass.
const QUICK: &[(&str, &str)] = &[
    ("LIVECHART_CONNECTIONS_HEAD_TIMEOUT_MS", "1000"),
    ("LIVECHART_CONNECTIONS_IDLE_TIMEOUT_MS", "1000"),
    ("LIVECHART_CONNECTIONS_WRITE_TIMEOUT_MS", "1000"),
    ("LIVECHART_CONNECTIONS_BODY_TIMEOUT_MS", "1000"),
    ("LIVECHART_CONNECTIONS_MIN_BODY_RATE", "1000"),
];

fn start(extra: &[(&str, &str)]) -> TestServer {
    let env: Vec<(&str, &str)> = QUICK.iter().chain(extra).copied().collect();
    TestServer::start(&env)
}

fn addr(server: &TestServer) -> std::net::SocketAddr {
    server
        .url("")
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

/// A connection from 127.0.0.`source` (spreading many connections over several addresses),
/// with a small receive buffer when `rcvbuf` is given.
async fn connect(server: &TestServer, source: u8, rcvbuf: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    socket
        .bind(([127, 0, 0, source], 0).into())
        .expect("bind the source address");
    socket.connect(addr(server)).await.expect("connect")
}

/// How long until the server closes the connection (reading and dropping what it sends);
/// `None` if it is still open after `limit`.
async fn closed_after(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = start(&[]);
    let mut tasks = Vec::new();
    for i in 0..200u8 {
        let mut socket = connect(&server, 2 + i % 4, None).await;
        tasks.push(tokio::spawn(async move {
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .expect("write");
            // The answer comes, then the connection idles until the server closes it.
            closed_after(&mut socket, PATIENCE).await
        }));
    }
    for task in tasks {
        let closed = task
            .await
            .expect("task")
            .expect("an idle connection was kept open");
        assert!(closed < Duration::from_secs(5), "closed after {closed:?}");
    }
    // A connection hyper keeps (it sent a body) is closed too.
    let mut socket = connect(&server, 2, None).await;
    socket
        .write_all(b"PUT /api/streams/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let closed = closed_after(&mut socket, PATIENCE).await;
    assert!(
        closed.is_some(),
        "a kept-alive connection after a body was kept open"
    );
}

#[tokio::test]
async fn slow_heads_slow_bodies_and_silent_protocols_are_cut_off() {
    let server = start(&[]);
    let cases: [(&str, &[u8], bool); 4] = [
        // One byte of a head every 300 ms: never finished in time.
        (
            "slow head",
            b"GET /healthz HTTP/1.1\r\nHost: example.com\r\nX: y\r\n\r\n",
            true,
        ),
        ("HTTP/0.9 line", b"GET /api/streams/demo/events\r\n", false),
        (
            "HTTP/2 preface, then silence",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            false,
        ),
        ("nothing at all", b"", false),
    ];
    for (what, bytes, trickle) in cases {
        let mut socket = connect(&server, 3, None).await;
        let started = Instant::now();
        if trickle {
            for b in bytes {
                if socket.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                if started.elapsed() > Duration::from_secs(6) {
                    break;
                }
            }
        } else if !bytes.is_empty() {
            socket.write_all(bytes).await.expect("write");
        }
        let closed = closed_after(&mut socket, PATIENCE).await;
        let elapsed = started.elapsed();
        assert!(closed.is_some(), "{what}: still open after {elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(6),
            "{what}: closed after {elapsed:?}"
        );
    }

    // A body at 10 bytes a second, far below the 1,000 required after the first second.
    let mut socket = connect(&server, 3, None).await;
    socket
        .write_all(b"POST /api/streams/slow/points HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n[")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < PATIENCE {
        if socket.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("body_too_slow"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_flood_of_idle_connections_locks_nobody_out_for_long() {
    let server = start(&[("LIVECHART_CONNECTIONS_MAX", "50")]);
    // More silent connections than the server takes.
    let mut flood = Vec::new();
    for i in 0..80u8 {
        flood.push(connect(&server, 2 + i % 4, None).await);
    }
    // A real client gets in again within the head timeout (1 s), plus slack for a busy machine.
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut refused = 0;
    loop {
        match client.get(server.url("/healthz")).send().await {
            Ok(r) if r.status() == 200 => break,
            _ => refused += 1,
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "locked out for {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("in after {:?} ({refused} refused tries)", started.elapsed());
    let metrics = common::metrics_text(&server).await;
    assert!(
        metrics.contains("livechart_connections_refused_total "),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"livechart_connections_timed_out_total{deadline="head"}"#),
        "{metrics}"
    );
    drop(flood);
}

/// Publishes batches of `points` points (about 45 bytes each) to `stream`, `count` times.
async fn publish_batches(server: &TestServer, stream: &str, points: usize, count: usize) {
    let batch: Vec<String> = (0..points)
        .map(|i| {
            format!(
                r#"{{"ts":{},"value":{i}.5}}"#,
                1_700_000_000_000u64 + i as u64
            )
        })
        .collect();
    let body = format!("[{}]", batch.join(","));
    for _ in 0..count {
        let (status, answer) =
            publish_raw(server, stream, Some("application/json"), body.clone(), None).await;
        assert_eq!(status, 200, "{answer}");
    }
}

#[tokio::test]
async fn readers_that_stop_reading_lose_their_slots() {
    let server = start(&[("LIVECHART_LIMITS_MAX_VIEWERS", "200")]);
    publish_batches(&server, "busy", 1, 1).await;
    let mut stuck = Vec::new();
    for i in 0..150u8 {
        let mut socket = connect(&server, 2 + i % 4, Some(1024)).await;
        socket
            .write_all(b"GET /api/streams/busy/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        stuck.push(socket);
    }
    wait_for_health(&server, PATIENCE, |h| h.connections >= 150).await;
    // A busy stream: each reader is offered megabytes it never takes, until every socket
    // is full (however large the machine's send buffers) and the write timeout lets it go.
    let started = Instant::now();
    loop {
        publish_batches(&server, "busy", 2000, 10).await;
        let health = wait_for_health(&server, PATIENCE, |_| true).await;
        if health.connections == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{} stuck readers still hold their slots",
            health.connections
        );
    }
    let metrics = common::metrics_text(&server).await;
    assert!(
        metrics.contains(r#"livechart_connections_timed_out_total{deadline="write"} "#),
        "{metrics}"
    );
    // New viewers are admitted.
    let mut reader = EventReader::open(&server.url("/api/streams/busy/events")).await;
    reader.next_event(PATIENCE).await;
    drop(stuck);
}

/// The server's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[tokio::test]
async fn lagging_viewers_of_large_batches_stay_within_memory() {
    const VIEWERS: usize = 2000;
    let server = TestServer::start(&[
        ("LIVECHART_INGEST_MAX_POINTS", "40000"),
        ("LIVECHART_INGEST_MAX_BODY_BYTES", "4194304"),
        ("LIVECHART_LIMITS_MAX_VIEWERS", "5000"),
        // Readers stay lagging for the whole measurement.
        ("LIVECHART_CONNECTIONS_WRITE_TIMEOUT_MS", "120000"),
    ]);
    // Batches of about 900 KB; the ring (8 MiB, both encodings) holds the last four.
    publish_batches(&server, "big", 20_000, 6).await;
    let health = wait_for_health(&server, PATIENCE, |_| true).await;
    let last = health
        .streams
        .iter()
        .find(|s| s.name.as_str() == "big")
        .and_then(|s| s.last_id)
        .expect("the stream's last id");
    let before = rss_bytes(server.pid());
    // Every viewer resumes three batches back: it is behind from its first write on, and
    // never reads (a tiny receive buffer), so each holds what it is sending.
    let resume = format!("{:x}-{}", last.epoch, last.seq - 3);
    let request = format!(
        "GET /api/streams/big/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {resume}\r\n\r\n"
    );
    let mut readers = Vec::with_capacity(VIEWERS);
    for i in 0..VIEWERS {
        let mut socket = connect(&server, 2 + (i % 8) as u8, Some(4096)).await;
        socket.write_all(request.as_bytes()).await.unwrap();
        readers.push(socket);
    }
    wait_for_health(&server, PATIENCE, |h| h.connections >= VIEWERS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_bytes(server.pid());
    let grown = after.saturating_sub(before);
    eprintln!(
        "lagging viewers: RSS {} -> {} MiB, {} B per viewer",
        before >> 20,
        after >> 20,
        grown / VIEWERS as u64
    );
    // Each viewer holds at most one 64 KiB chunk or a frame shared with the ring (a copy
    // of its 900 KB batch per viewer would be 1.8 GB). A generous bound.
    assert!(grown < 300 << 20, "RSS grew by {} MiB", grown >> 20);
    drop(readers);
}

#[test]
fn the_server_raises_its_soft_open_file_limit_to_the_hard_one() {
    let server = TestServer::start_with_file_limit(&[], 512, 4096);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid()))
        .expect("read the server's limits");
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{files}");
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share_of_the_connections() {
    let server = start(&[
        ("LIVECHART_CONNECTIONS_MAX", "100"),
        ("LIVECHART_CONNECTIONS_MAX_PER_CLIENT", "5"),
        ("LIVECHART_CONNECTIONS_IDLE_TIMEOUT_MS", "30000"),
        ("LIVECHART_CONNECTIONS_HEAD_TIMEOUT_MS", "30000"),
    ]);
    // Five silent connections from one address: its whole share.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect(&server, 2, None).await);
    }
    let mut sixth = connect(&server, 2, None).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, sixth.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("too_many_client_connections"),
        "{answer}"
    );
    // Another address is served meanwhile.
    let mut other = connect(&server, 3, None).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, other.read_to_end(&mut answer)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // A connection given back is a place again.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = connect(&server, 2, None).await;
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, again.read_to_end(&mut answer)).await;
        if String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
