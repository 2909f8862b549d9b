//! What the handlers reach: the server's parts, put together once at start-up. Below every
//! handler and middleware (they import it; it imports none of them), so that a handler takes
//! the whole state and a middleware only the part it needs (axum's `FromRef`).

use crate::config::Settings;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::{mqtt, site, tasks, viewer};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    pub tasks: Arc<tasks::Tasks>,
    /// The MQTT subscription's state, when one is configured.
    pub mqtt: Option<Arc<mqtt::MqttStatus>>,
    /// Cancelled when shutdown begins: viewers end their streams, sources stop.
    pub shutdown: CancellationToken,
    /// The same, as event streams look at it on every wake-up.
    pub shutdown_notice: viewer::ShutdownNotice,
    /// The WASM, JS, CSS and icons the pages load.
    pub site: Arc<site::Site>,
}
