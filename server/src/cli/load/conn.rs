//! One event-stream connection of a run: plain HTTP/1.1 over a `TcpStream` with a small
//! hand-rolled reader (status line, headers, a chunked or a plain body, SSE lines), a few KiB
//! each, so that the generator is not the bottleneck.

use super::*;

/// One event-stream connection.
pub(super) struct Conn {
    pub(super) id: usize,
    pub(super) addr: SocketAddr,
    pub(super) source: IpAddr,
    pub(super) host: String,
    pub(super) path: String,
    pub(super) totals: Arc<Totals>,
    pub(super) latencies: Arc<Latencies>,
    pub(super) measuring: Arc<AtomicU64>,
    pub(super) stop: tokio::sync::watch::Receiver<bool>,
    /// Reading a peer's events: any event whose data has a `"seq":` number.
    pub(super) peer: bool,
}

impl Conn {
    /// Opens the event stream; returns the reader after the headers and whether the body is
    /// chunked (Livechart's and nchan's are not: they run until the connection closes; a
    /// proxy may chunk them).
    pub(super) async fn connect(&self) -> std::io::Result<(BufReader<TcpStream>, bool)> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.source, 0))?;
        let mut stream = socket.connect(self.addr).await?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            self.path, self.host
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::with_capacity(4096, stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        if !line.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!("answered {}", line.trim())));
        }
        let mut chunked = false;
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 || line == "\r\n" {
                break;
            }
            let header = line.to_ascii_lowercase();
            if header.starts_with("transfer-encoding:") && header.contains("chunked") {
                chunked = true;
            }
        }
        Ok((reader, chunked))
    }

    pub(super) async fn run(mut self, ready: tokio::sync::mpsc::Sender<bool>) {
        let (mut reader, chunked) = match self.connect().await {
            Ok(r) => {
                let _ = ready.send(true).await;
                r
            }
            Err(_) => {
                let _ = ready.send(false).await;
                return;
            }
        };
        let mut parser = SseParser::new();
        let mut last_seq: Option<u64> = None;
        let mut first_measured: Option<u64> = None;
        let mut gaps_here = 0u64;
        let mut line = String::new();
        let mut chunk = Vec::with_capacity(4096);
        let mut lat = Vec::with_capacity(64);
        loop {
            let size = if chunked {
                // Chunk size line, then the chunk.
                line.clear();
                let read = tokio::select! {
                    r = reader.read_line(&mut line) => r,
                    _ = self.stop.changed() => break,
                };
                let size = match read {
                    Ok(0) | Err(_) => {
                        self.totals.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(_) => usize::from_str_radix(line.trim(), 16).unwrap_or(0),
                };
                if size == 0 {
                    self.totals.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                chunk.resize(size + 2, 0);
                if reader.read_exact(&mut chunk).await.is_err() {
                    self.totals.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                size
            } else {
                // A body that runs until the connection closes: whatever has arrived.
                chunk.resize(4096, 0);
                let read = tokio::select! {
                    r = reader.read(&mut chunk) => r,
                    _ = self.stop.changed() => break,
                };
                match read {
                    Ok(0) | Err(_) => {
                        self.totals.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(n) => n,
                }
            };
            let received = now_us();
            let measuring = self.measuring.load(Ordering::Relaxed) == 1;
            for item in parser.push(&chunk[..size]) {
                let SseItem::Event(e) = item else { continue };
                let seq = if self.peer {
                    number_after(&e.data, "\"seq\":").next()
                } else {
                    e.id.as_deref()
                        .and_then(|id| id.rsplit_once('-'))
                        .and_then(|(_, s)| s.parse::<u64>().ok())
                };
                let Some(seq) = seq else { continue };
                if self.peer || e.event == "points" {
                    match last_seq {
                        Some(last) if seq <= last => {
                            self.totals.duplicates.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Some(last) if seq > last + 1 => {
                            gaps_here += 1;
                            self.totals.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    self.totals.events.fetch_add(1, Ordering::Relaxed);
                    if measuring {
                        first_measured.get_or_insert(seq);
                        for v in values(&e.data) {
                            self.totals.points.fetch_add(1, Ordering::Relaxed);
                            lat.push(received.saturating_sub(v));
                        }
                    }
                }
                last_seq = Some(seq);
            }
            if !lat.is_empty() {
                self.latencies.record(self.id, &lat);
                lat.clear();
            }
        }
        if gaps_here == 0 && first_measured.is_some() {
            self.totals.complete.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `"value":` numbers of a points event, without a full JSON parse.
pub(super) fn values(data: &str) -> impl Iterator<Item = u64> + '_ {
    number_after(data, "\"value\":")
}

/// The numbers that follow `key` in `data` (each up to the next `,` or `}`).
pub(super) fn number_after<'a>(data: &'a str, key: &'a str) -> impl Iterator<Item = u64> + 'a {
    data.split(key).skip(1).filter_map(|rest| {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end].trim().parse::<f64>().ok().map(|v| v as u64)
    })
}
