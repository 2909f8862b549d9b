//! `livechart publish`: reads points from standard input and posts them to a stream in
//! batches, so that `sensor_reader | livechart publish --stream robot` just works.
//!
//! Each line is a bare number (`21.5`), one or more `series=value` pairs (`temp=21.5
//! hum=40`), or a JSON point (`{"series": "temp", "value": 21.5}`). A line is stamped with the
//! time it was read unless it carries `ts`. Accepted points wait in a bounded buffer while the
//! server is unreachable; when the buffer is full, reading stops (and says so) until there is
//! room again, so no accepted line is ever dropped.

use app::model::{ErrorBody, NewPoint, PublishReceipt, SeriesName, StreamName};
use std::io::BufRead;
use std::time::Duration;
use tokio::sync::mpsc;

/// Options of `livechart publish`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The stream to publish to.
    #[arg(long, value_parser = |s: &str| StreamName::parse(s))]
    pub stream: StreamName,
    /// The server's base URL: `http://…` or `https://…`.
    #[arg(long, env = "LIVECHART_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A PEM file of the CA that signed the server's certificate (a private CA); the
    /// system's roots are trusted too.
    #[arg(long, env = "LIVECHART_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// The publish token, when the server requires one.
    #[arg(long, env = "LIVECHART_PUBLISH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The series of bare numbers (default: the stream's single series).
    #[arg(long, value_parser = |s: &str| SeriesName::parse(s))]
    pub series: Option<SeriesName>,
    /// The most points in one request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// How long to wait for more lines before sending a batch, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub linger_ms: u64,
    /// How many points may wait while the server is unreachable.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub buffer: u32,
    /// The longest wait between retries, in milliseconds.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub max_retry_ms: u64,
}

/// Runs the publisher until standard input ends and everything read is published. Returns
/// the process exit code.
pub async fn run(args: Args) -> u8 {
    let base = args.url.trim_end_matches('/');
    let endpoint = format!("{base}{}", app::paths::points(&args.stream));
    match reqwest::Url::parse(&endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => {
            eprintln!(
                "livechart publish: --url {:?} is not an http:// or https:// URL",
                args.url
            );
            return 2;
        }
    }
    let client = match client(args.ca_cert.as_deref()) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("livechart publish: {e}");
            return 2;
        }
    };
    let (tx, rx) = mpsc::channel::<NewPoint>(args.buffer as usize);
    let series = args.series.clone();
    let buffer = args.buffer;
    let reader = std::thread::spawn(move || read_stdin(tx, series.as_ref(), buffer));
    let code = send_batches(rx, &client, &endpoint, &args).await;
    // The reader ends by itself at end of input; after a fatal error, do not wait for it.
    if code == 0 {
        let _ = reader.join();
    }
    code
}

/// Reads lines into the channel; blocks (and says so) while the channel is full.
fn read_stdin(tx: mpsc::Sender<NewPoint>, series: Option<&SeriesName>, buffer: u32) {
    let stdin = std::io::stdin();
    let mut skipped = 0u64;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("livechart publish: cannot read standard input: {e}");
                break;
            }
        };
        let points = match app::plain::parse_line(&line, series, app::model::now_ms()) {
            Ok(points) => points,
            Err(e) => {
                skipped += 1;
                eprintln!("livechart publish: line {}: {e}; skipped", i + 1);
                continue;
            }
        };
        for p in points {
            match tx.try_send(p) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(p)) => {
                    eprintln!(
                        "livechart publish: buffer full ({buffer} points waiting for the server); \
                         reading paused"
                    );
                    if tx.blocking_send(p).is_err() {
                        return;
                    }
                    eprintln!("livechart publish: reading resumed");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }
    if skipped > 0 {
        eprintln!("livechart publish: {skipped} unreadable line(s) skipped");
    }
}

/// The HTTP client: rustls (no system OpenSSL), trusting the system's roots and `ca_cert`.
fn client(ca_cert: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_native_certs(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--ca-cert {}: no PEM certificate in the file",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot start an HTTP client: {e}"))
}

async fn send_batches(
    mut rx: mpsc::Receiver<NewPoint>,
    client: &reqwest::Client,
    endpoint: &str,
    args: &Args,
) -> u8 {
    let linger = Duration::from_millis(args.linger_ms);
    let (mut sent_points, mut requests) = (0u64, 0u64);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < args.batch as usize {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => batch.push(p),
                Ok(None) | Err(_) => break,
            }
        }
        match post_until_done(client, endpoint, args, &batch).await {
            Ok(()) => {
                sent_points += batch.len() as u64;
                requests += 1;
            }
            Err(message) => {
                eprintln!("livechart publish: {message}");
                return 1;
            }
        }
    }
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "livechart publish: published {} in {}",
        plural(sent_points, "point"),
        plural(requests, "request")
    );
    0
}

/// Posts one batch, retrying with backoff while the server is unreachable or overloaded.
/// Fails only when the server refuses the batch itself (which retrying cannot fix).
async fn post_until_done(
    client: &reqwest::Client,
    endpoint: &str,
    args: &Args,
    batch: &[NewPoint],
) -> Result<(), String> {
    let body = serde_json::to_vec(batch).map_err(|e| format!("cannot encode points: {e}"))?;
    let mut delay = Duration::from_millis(100);
    let max_delay = Duration::from_millis(args.max_retry_ms);
    let mut failing = false;
    loop {
        let mut request = client
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        let problem = match request.send().await {
            Ok(response) if response.status().is_success() => {
                if failing {
                    eprintln!("livechart publish: server reachable again");
                }
                if let Ok(receipt) = response.json::<PublishReceipt>().await {
                    tracing::debug!(id = %receipt.id, points = receipt.points, "published");
                }
                return Ok(());
            }
            Ok(response) => {
                let status = response.status();
                let detail = match response.json::<ErrorBody>().await {
                    Ok(e) => format!("{}: {}", e.error, e.detail),
                    Err(_) => "no details".to_owned(),
                };
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                if !retryable {
                    return Err(format!(
                        "the server refused a batch of {} points ({status}): {detail}",
                        batch.len()
                    ));
                }
                format!("server answered {status} ({detail})")
            }
            // A certificate that is not trusted stays untrusted: retrying cannot help.
            Err(e) if untrusted(&e) => {
                return Err(format!(
                    "cannot reach {endpoint}: {} (for a private CA, give its certificate with \
                     --ca-cert FILE)",
                    chain(&e)
                ))
            }
            Err(e) => format!("cannot reach {endpoint}: {}", chain(&e)),
        };
        if !failing {
            eprintln!(
                "livechart publish: {problem}; retrying (up to every {} ms), {} points held",
                max_delay.as_millis(),
                batch.len()
            );
            failing = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max_delay);
    }
}

/// Whether a request failed on the server's certificate (rustls refused it).
fn untrusted(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(mut err) = source {
        source = err.source();
        // I/O errors wrap (and hide from `source()`) what they carry, sometimes twice.
        while let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            err = inner;
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
    }
    false
}

/// An error with its causes, which reqwest keeps out of its own message.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}
