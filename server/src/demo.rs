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
    stream.set_meta(app::model::StreamMeta {
        title: Some("Demo: a random value".to_owned()),
        unit: None,
        min: Some(settings.min),
        max: Some(settings.max),
        ..Default::default()
    });
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
            if let Err(e) = stream.publish(&[point], now).await {
                tracing::warn!(stream = %stream.name(), "demo point not published: {e}");
            }
        }
    })
}

/// The classic demo of two event types on one stream: a `counter` event at irregular
/// intervals and a `time` event every second. Each event type is a series of the stream:
/// `time` is the seconds of the server's clock (a sawtooth, 0 to 59) and `counter` counts the
/// counter events since the minute began (a staircase that starts again with each minute), so
/// both share one 0–60 axis and the legend tells them apart.
pub fn spawn_classic(stream: Arc<Stream>, shutdown: CancellationToken) -> JoinHandle<()> {
    stream.set_meta(app::model::StreamMeta {
        title: Some("Two event types: counter and time".to_owned()),
        unit: None,
        min: Some(0.0),
        max: Some(60.0),
        // A count and the clock's seconds: each holds until its next event.
        interpolation: Some(app::model::Interpolation::Step),
        ..Default::default()
    });
    tokio::spawn(async move {
        let series = |name: &str| app::model::SeriesName::parse(name).ok();
        let (counter, time) = (series("counter"), series("time"));
        let mut count = 0u64;
        let mut minute = now_ms().div_euclid(60_000);
        let mut rng = fastrand::Rng::new();
        let mut next_count = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let point = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(next_count) => {
                    let now_minute = now_ms().div_euclid(60_000);
                    if now_minute != minute {
                        minute = now_minute;
                        count = 0;
                    }
                    count += 1;
                    next_count += Duration::from_millis(rng.u64(400..=2000));
                    NewPoint { series: counter.clone(), ts: None, value: count as f64 }
                }
                _ = tick.tick() => {
                    let secs = now_ms().div_euclid(1000).rem_euclid(60);
                    NewPoint { series: time.clone(), ts: None, value: secs as f64 }
                }
            };
            if let Err(e) = stream.publish(&[point], now_ms()).await {
                tracing::warn!(stream = %stream.name(), "classic demo event not published: {e}");
            }
        }
    })
}
