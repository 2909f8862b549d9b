//! The `livechart` binary: the server (default), `livechart publish`, which feeds a stream
//! from standard input, or `livechart load`, the benchmarks' load generator.

use clap::{Parser, Subcommand};
mod cli;

use cli::{load, publish};
use livechart_server::{bind, config, open_store, panics, serve, shutdown_signal, site};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Live charts over Server-Sent Events.
#[derive(Parser)]
#[command(
    name = "livechart",
    version,
    about,
    after_help = "Settings: the configuration file's [livechart.*] tables (every key is in the \
Leptos.toml that ships with livechart), each overridden by an environment variable: \
livechart.mqtt.url by LIVECHART_MQTT_URL, livechart.history.data-dir by LIVECHART_DATA_DIR, \
and so on (README, \"Configuration\"). The address to listen on: --addr or --port, else \
LEPTOS_SITE_ADDR, else site-addr in the file's [package.metadata.leptos], else 127.0.0.1:3000."
)]
struct Cli {
    #[command(flatten)]
    serving: Serving,
    #[command(subcommand)]
    command: Option<Command>,
}

/// How the server runs: given before `serve` (or without it), or after it.
#[derive(clap::Args)]
struct Serving {
    /// The configuration file (default: ./Leptos.toml when it exists).
    #[arg(long, env = "LIVECHART_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the embedded store keeps the history (default: ./data; also LIVECHART_DATA_DIR
    /// or `livechart.history.data-dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The address to listen on, HOST:PORT (default: 127.0.0.1:3000; also LEPTOS_SITE_ADDR
    /// or site-addr in the configuration file).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<std::net::SocketAddr>,
    /// The port to listen on, on the configured host (0: any free port, printed at start).
    #[arg(long, value_name = "PORT", conflicts_with = "addr")]
    port: Option<u16>,
}

impl Serving {
    /// These flags, with `after`'s (given after `serve`) where both say something.
    fn then(self, after: Serving) -> Serving {
        Serving {
            config: after.config.or(self.config),
            data_dir: after.data_dir.or(self.data_dir),
            addr: after.addr.or(self.addr),
            port: after.port.or(self.port),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the pages and the API (the default).
    Serve(Serving),
    /// Read points from standard input (numbers, series=value pairs or JSON points, one line
    /// each) and publish them to a stream, retrying while the server is unreachable.
    Publish(publish::Args),
    /// Benchmark a running server: open many event-stream connections, publish at a rate,
    /// report deliveries, gaps, latency and CPU/memory as one JSON line (see BENCHMARKS.md).
    Load(load::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    livechart_server::survive_file_size_limit();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A log that cannot be written (a full disk under a redirected standard error) is lost,
    // never a reason to stop: without this, the write error is reported with `eprintln!`,
    // whose own failure panics.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .init();
    let cli = Cli::parse();
    let serving = match cli.command {
        Some(Command::Publish(args)) => return ExitCode::from(publish::run(args).await),
        Some(Command::Load(args)) => return ExitCode::from(load::run(args).await),
        Some(Command::Serve(after)) => cli.serving.then(after),
        None => cli.serving,
    };

    panics::install_hook();
    let mut config = match config::load(serving.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            complain(&format!("livechart: {e}"));
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = serving.data_dir {
        config.settings.history.data_dir = dir;
    }
    if let Some(addr) = serving.addr {
        config.leptos.site_addr = addr;
    }
    if let Some(port) = serving.port {
        config.leptos.site_addr.set_port(port);
    }
    if let Some((before, after)) = config::raise_open_file_limit() {
        tracing::info!(
            before,
            after,
            "raised the open-file limit to its hard limit"
        );
    }
    // A release binary carries its site; one whose site is from another build refuses to
    // start rather than serve pages that never come alive.
    let site = match site::Site::for_options(&config.leptos) {
        Ok(site) => site,
        Err(e) => {
            complain(&format!("livechart: {e}"));
            return ExitCode::from(2);
        }
    };
    let store = match open_store(&config.settings.history) {
        Ok(store) => store,
        Err(e) => {
            complain(&format!("livechart: {e}"));
            return ExitCode::from(2);
        }
    };
    let addr = config.leptos.site_addr;
    let listener = match bind(addr) {
        Ok(listener) => listener,
        Err(e) => {
            complain(&format!("livechart: cannot listen on {addr}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read this line to learn the port when LEPTOS_SITE_ADDR asks for port 0.
    match listener.local_addr() {
        Ok(local) => say(&format!("livechart listening on http://{local}")),
        Err(e) => complain(&format!(
            "livechart: listening, but the local address is unknown: {e}"
        )),
    }
    let auth = &config.settings.auth;
    if !addr.ip().is_loopback() && !auth.publish_token.is_set() && auth.allowed_hosts.is_empty() {
        tracing::warn!(
            %addr,
            "listening beyond loopback with open publishing and any host name: anyone who \
             reaches this address may publish, and a web page may reach it by DNS rebinding; \
             set livechart.auth.publish-token and livechart.auth.allowed-hosts"
        );
    }
    match serve(config, site, store, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(&format!("livechart: server error: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// A line on standard output; lost, not a panic, when it cannot be written.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A line on standard error; lost, not a panic, when it cannot be written.
fn complain(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
