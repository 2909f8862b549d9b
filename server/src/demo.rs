//! The built-in demo source: one generator feeding one stream, whoever watches.

use crate::config::DemoSettings;
use crate::hub::Stream;
use app::model::{now_ms, NewPoint};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Publishes a random value in `[min, max)` every `interval_ms` until `shutdown`.
pub fn spawn(
    stream: Arc<Stream>,
    settings: DemoSettings,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(settings.interval_ms));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut rng = fastrand::Rng::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let raw = settings.min + rng.f64() * (settings.max - settings.min);
            // Two decimals read better in a terminal and in tooltips.
            let value = ((raw * 100.0).round() / 100.0).clamp(settings.min, settings.max);
            let now = now_ms();
            let point = NewPoint {
                series: None,
                ts: Some(now),
                value,
            };
            if let Err(e) = stream.publish(&[point], now) {
                tracing::warn!(stream = %stream.name(), "demo point not published: {e}");
            }
        }
    })
}
