//! The built-in `system` source: this machine's CPU use (total and per core) and memory use,
//! in percent, once per interval. Figures come from the `sysinfo` crate.

use crate::config::SystemSettings;
use crate::hub::Stream;
use app::model::{now_ms, NewPoint, SeriesName, StreamMeta};
use std::sync::Arc;
use std::time::Duration;
use sysinfo::System;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How the `system` stream describes itself.
pub fn meta() -> StreamMeta {
    StreamMeta {
        title: Some("This machine: CPU and memory".to_owned()),
        unit: Some("%".to_owned()),
        min: Some(0.0),
        max: Some(100.0),
        ..StreamMeta::default()
    }
}

fn series(name: &str) -> Option<SeriesName> {
    SeriesName::parse(name).ok()
}

/// One reading: `cpu` (all cores), `cpu0`… (each core, up to `cores`), `mem` (used).
fn sample(sys: &mut System, cores: usize) -> Vec<NewPoint> {
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let point = |name: &str, value: f64| NewPoint {
        series: series(name),
        ts: None,
        value: round(value.clamp(0.0, 100.0)),
    };
    let mut points = vec![point("cpu", f64::from(sys.global_cpu_usage()))];
    for (i, cpu) in sys.cpus().iter().take(cores).enumerate() {
        points.push(point(&format!("cpu{i}"), f64::from(cpu.cpu_usage())));
    }
    let total = sys.total_memory();
    if total > 0 {
        points.push(point(
            "mem",
            sys.used_memory() as f64 * 100.0 / total as f64,
        ));
    }
    points
}

/// Publishes a reading every `interval_ms` until `shutdown`. `max_series` caps the per-core
/// series so that the stream stays within its limit.
pub fn spawn(
    stream: Arc<Stream>,
    settings: SystemSettings,
    max_series: usize,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    stream.set_meta(meta());
    tokio::spawn(async move {
        let mut sys = System::new();
        let cores = if settings.per_core {
            max_series.saturating_sub(2)
        } else {
            0
        };
        // CPU use is a difference between two readings: take the first one now.
        sys.refresh_cpu_usage();
        let mut tick = tokio::time::interval(Duration::from_millis(settings.interval_ms));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let points = sample(&mut sys, cores);
            if let Err(e) = stream.publish(&points, now_ms()).await {
                tracing::warn!(stream = %stream.name(), "system figures not published: {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_has_plausible_figures() {
        let mut sys = System::new();
        sys.refresh_cpu_usage();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let points = sample(&mut sys, 1);
        let names: Vec<&str> = points
            .iter()
            .filter_map(|p| p.series.as_ref().map(SeriesName::as_str))
            .collect();
        assert_eq!(names.first(), Some(&"cpu"));
        assert!(names.contains(&"mem"), "{names:?}");
        assert!(names.len() <= 3, "per-core series are capped: {names:?}");
        for p in &points {
            assert!((0.0..=100.0).contains(&p.value), "{p:?}");
        }
        let mem = points.last().map(|p| p.value).unwrap_or_default();
        assert!(mem > 0.0, "some memory is always in use");
        assert_eq!(meta().validate(), Ok(()));
    }
}
