//! Livechart's server: wires configuration, the hub, the sources and the routes. Each concern
//! has its module; this file only puts them together.

pub mod api;
pub mod auth;
pub mod config;
pub mod conn;
pub mod demo;
pub mod error;
pub mod extract;
pub mod hub;
pub mod ingest;
pub mod metrics;
pub mod mqtt;
pub mod origin;
pub mod panics;
pub mod range;
pub mod site;
pub mod sse;
pub mod state;
pub mod system;
pub mod tasks;
pub mod viewer;

pub use state::AppState;

use app::model::{Snapshot, StreamInfo, StreamName};
use app::paths;
use app::server_data::{ServerStreams, StreamDirectory};
use app::{shell, App};
use axum::response::Redirect;
use axum::routing::{any, get, post};
use axum::Router;
use config::{Config, HistorySettings, StoreKind};
use hub::store::{Embedded, Memory, OpenError, Store};
use hub::{Broker, Hub, Limits, RetentionLimits};
use leptos_axum::{generate_route_list, LeptosRoutes};
use metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

/// Pages read the hub through this while rendering.
struct HubDirectory {
    hub: Arc<Hub>,
    max_streams: usize,
}

impl StreamDirectory for HubDirectory {
    fn snapshot(&self, stream: &StreamName) -> Option<Snapshot> {
        self.hub.get(stream).map(|s| s.snapshot())
    }

    fn catalog(&self) -> Vec<StreamInfo> {
        self.hub.catalog()
    }

    fn max_streams(&self) -> usize {
        self.max_streams
    }
}

/// All routes: the API, the server-rendered pages, and the static site as fallback.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let directory = ServerStreams(Arc::new(HubDirectory {
        hub: state.hub.clone(),
        max_streams: state.settings.limits.max_streams_per_connection,
    }));
    let router = Router::new()
        .route(paths::STREAMS, get(api::list_streams))
        .route(
            paths::STREAM,
            get(api::stream_info)
                .put(api::describe_stream)
                .delete(api::delete_stream),
        )
        .route(
            paths::STREAM_POINTS,
            post(ingest::publish_points).get(range::points_range),
        )
        .route(paths::TASKS, post(api::tasks::start_task))
        .route(paths::INFLUX_WRITE, post(ingest::influx::write))
        .route(paths::INFLUX_V1_WRITE, post(ingest::influx::write))
        .route(paths::INFLUX_PING, get(ingest::influx_api::ping))
        .route(paths::INFLUX_HEALTH, get(ingest::influx_api::health))
        .route(
            paths::INFLUX_QUERY,
            get(ingest::influx_api::query_statements).post(ingest::influx_api::query_statements),
        )
        .route("/api/{*rest}", any(api::not_found))
        .route(paths::HEALTH, get(api::healthz))
        .route(paths::METRICS, get(api::metrics))
        // Browsers ask for /favicon.ico whatever the page links; the icon is an SVG.
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/favicon.svg") }),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || leptos::prelude::provide_context(directory.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Pages, JS and WASM shrink several times over. Event streams are added below, outside
        // this layer: they are never compressed, and passing each event through the
        // compression wrapper cost 3 % of the server's time at 10,000 viewers.
        .layer(CompressionLayer::new())
        // The site's files are precompressed: the package, and each file at the root (the icon).
        .route(
            &format!("/{}/{{*file}}", state.site.pkg_dir()),
            get(site::serve_file),
        );
    let router = state
        .site
        .root_files()
        .into_iter()
        .fold(router, |router, name| {
            router.route(&format!("/{name}"), get(site::serve_file))
        })
        .route(paths::EVENTS, get(api::multiplex_events))
        .route(paths::STREAM_EVENTS, get(api::stream_events))
        .route(paths::TASK_EVENTS, get(api::tasks::task_events))
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_view,
        ))
        .layer(axum::middleware::from_fn(api::require_origin_form))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_rejections,
        ))
        .layer(CatchPanicLayer::custom(panics::answer))
        .layer(axum::middleware::map_response(revalidate_by_default));
    router.with_state(state)
}

/// Pages, API answers and event streams are never reused without asking: `no-cache` unless
/// the answer says otherwise (fingerprinted site files are cached for a year).
async fn revalidate_by_default(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-cache"));
    response
}

/// Binds the listening socket with a backlog large enough for bursts of reconnecting viewers.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// A write (of the history, of the log) that would pass the process's file-size limit fails
/// as a write error, as on a full disk, instead of killing the process: `SIGXFSZ` is ignored.
/// Called first, before anything is logged.
pub fn survive_file_size_limit() {
    // SAFETY: setting a signal's disposition to "ignore" touches no memory of this process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The store the configuration asks for, opened (and its directory locked).
pub fn open_store(history: &HistorySettings) -> Result<Box<dyn Store>, OpenError> {
    if history.store == StoreKind::Redis {
        // Nothing is kept on this machine: Redis holds it (see `serve`).
        return Ok(Box::new(Memory));
    }
    Ok(match history.store {
        StoreKind::Memory | StoreKind::Redis => Box::new(Memory),
        StoreKind::Embedded => {
            let store = Embedded::open(&history.data_dir, history.durability)?;
            tracing::info!(
                file = %Embedded::file_name(&history.data_dir).display(),
                durability = ?history.durability,
                "history kept in the embedded store"
            );
            Box::new(store)
        }
    })
}

/// Serves until `stop` resolves, then shuts down: viewers are told to reconnect, sources stop,
/// open connections get `shutdown.grace-ms` to close, and the store commits and closes.
pub async fn serve(
    mut config: Config,
    site: site::Site,
    store: Box<dyn Store>,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Pages link the site's files where it says (a fingerprinted directory when embedded).
    config.leptos.site_pkg_dir = site.linked_pkg_dir().into();
    tracing::info!(site = %site.describe(), "site");
    if let Some(warning) = site.check_directory() {
        tracing::warn!("{warning}");
    }
    let settings = Arc::new(config.settings);
    let limits = Limits {
        ring_events: settings.history.ring_events,
        ring_bytes: settings.history.ring_bytes,
        window: settings.history.window,
        retention: RetentionLimits {
            ms: i64::try_from(settings.history.retention.ms()).unwrap_or(i64::MAX),
            bytes: settings.history.retention_bytes,
        },
        max_streams: settings.streams.max,
        max_series: settings.streams.max_series,
        max_viewers: settings.limits.max_viewers,
    };
    // Ids from an earlier run must not be mistaken for this run's: the epoch is the start time.
    let epoch = u64::try_from(app::model::now_ms()).unwrap_or(0);
    let hub = match settings.history.store {
        StoreKind::Redis => {
            let r = &settings.redis;
            let seen_dir = Some(settings.history.data_dir.as_path());
            let broker = Broker::new(&r.url, r.shown_url(), &r.prefix, limits.clone(), seen_dir)
                .map_err(std::io::Error::other)?;
            tracing::info!(url = %broker.url(), prefix = %r.prefix, "streams shared through Redis");
            Hub::shared(limits, broker)
        }
        _ => Hub::open(limits, epoch, store).map_err(std::io::Error::other)?,
    };
    let hub = Arc::new(hub);
    let shutdown = CancellationToken::new();

    // Validation checked that these fit within streams.max.
    for name in &settings.streams.declared {
        hub.pin(name).map_err(std::io::Error::other)?;
    }
    if settings.demo.enabled {
        let stream = hub
            .pin(&settings.demo.stream)
            .map_err(std::io::Error::other)?;
        demo::spawn(stream, settings.demo.clone(), shutdown.clone());
    }
    if settings.system.enabled {
        let stream = hub
            .pin(&settings.system.stream)
            .map_err(std::io::Error::other)?;
        let max_series = settings.streams.max_series;
        system::spawn(
            stream,
            settings.system.clone(),
            max_series,
            shutdown.clone(),
        );
    }
    if settings.classic.enabled {
        let stream = hub
            .pin(&settings.classic.stream)
            .map_err(std::io::Error::other)?;
        demo::spawn_classic(stream, shutdown.clone());
    }

    // With Redis: the pinned streams are made there, then everything is read, before the
    // first connection is taken (for at most a few seconds: a node whose Redis is away
    // serves anyway, answering 503 on /healthz and to publishes until it is back).
    hub.follow(shutdown.clone());
    if let Some(broker) = hub.broker() {
        if !broker.wait_up(Duration::from_secs(5)).await {
            tracing::warn!(url = %broker.url(), "Redis is not reachable yet: serving anyway, publishing fails until it is");
        }
    }

    let mqtt = if settings.mqtt.is_enabled() {
        let status = Arc::new(mqtt::MqttStatus::default());
        let limits = mqtt::Publishing {
            auto_create: settings.streams.auto_create,
            max_points: settings.ingest.max_points,
            max_message_bytes: settings.ingest.max_body_bytes,
        };
        let mut mqtt_settings = settings.mqtt.clone();
        if mqtt_settings.client_id.is_empty() {
            mqtt_settings.client_id = mqtt::default_client_id(&settings.history.data_dir);
        }
        let closed = mqtt::spawn(
            mqtt_settings,
            hub.clone(),
            limits,
            status.clone(),
            shutdown.clone(),
        )
        .map_err(std::io::Error::other)?;
        Some((status, closed))
    } else {
        None
    };
    let (mqtt, mqtt_closed) = mqtt.unzip();
    let tasks = tasks::Tasks::new(settings.tasks.clone(), shutdown.clone());
    let state = AppState {
        leptos_options: config.leptos,
        metrics: Arc::new(Metrics::new(hub.clone(), tasks.clone(), mqtt.clone())),
        hub,
        tasks,
        mqtt,
        settings: settings.clone(),
        shutdown: shutdown.clone(),
        shutdown_notice: viewer::ShutdownNotice::follow(shutdown.clone()),
        site: Arc::new(site),
    };
    if settings.streams.idle_expiry_ms > 0 {
        spawn_expiry(
            state.hub.clone(),
            settings.streams.idle_expiry_ms,
            shutdown.clone(),
        );
    }
    let c = &settings.connections;
    let max_connections = c.effective_max();
    tracing::info!(max_connections, "connection limit");
    let options = conn::Options {
        deadlines: conn::Deadlines {
            head: Duration::from_millis(c.head_timeout_ms),
            idle: Duration::from_millis(c.idle_timeout_ms),
            write: Duration::from_millis(c.write_timeout_ms),
            lifetime: (settings.sse.max_connection_ms > 0)
                .then(|| Duration::from_millis(settings.sse.max_connection_ms)),
        },
        max_connections,
        client_share: c.client_share(),
        metrics: state.metrics.connections.clone(),
    };
    let hub = state.hub.clone();
    let accept = conn::serve(listener, router(state), shutdown.clone(), options);
    tokio::pin!(accept);
    tokio::select! {
        () = &mut accept => {}
        () = stop => {
            tracing::info!("shutting down: telling viewers to reconnect");
            shutdown.cancel();
            let grace = Duration::from_millis(settings.shutdown.grace_ms);
            if tokio::time::timeout(grace, accept).await.is_err() {
                tracing::warn!("connections still open after {grace:?}; exiting anyway");
            }
        }
    }
    // MQTT's last acknowledgements go out (what it published needs the store open).
    if let Some(closed) = mqtt_closed {
        let _ = tokio::time::timeout(mqtt::CLOSE_WAIT + Duration::from_secs(1), closed).await;
    }
    // Publishes still waiting get their commit; then the store is closed cleanly.
    if let Err(e) = tokio::task::spawn_blocking(move || hub.close()).await {
        tracing::error!("closing the history store: {e}");
    }
    Ok(())
}

/// Removes idle streams (`streams.idle-expiry-ms`), checking a few times per expiry period
/// (at least every minute).
fn spawn_expiry(hub: Arc<Hub>, idle_ms: u64, shutdown: CancellationToken) {
    let every = Duration::from_millis((idle_ms / 4).clamp(250, 60_000));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            hub.expire(app::model::now_ms(), idle_ms).await;
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
