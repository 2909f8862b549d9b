//! `GET /metrics`: Prometheus (OpenMetrics) text, via the `prometheus-client` crate.
//!
//! Per-stream numbers live in the hub as plain atomics (the hot path only adds to them) and
//! are read at scrape time by a collector; only request rejections are counted here.

use crate::error::Rejected;
use crate::hub::Hub;
use crate::mqtt::MqttStatus;
use crate::tasks::Tasks;
use app::model::ResetReason;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadlineLabel {
    deadline: &'static str,
}

/// What the accept loop counts: open connections, refusals, and connections ended by a
/// deadline.
#[derive(Clone, Debug, Default)]
pub struct ConnMetrics {
    pub open: Gauge,
    pub refused: Counter,
    timed_out: Family<DeadlineLabel, Counter>,
}

impl ConnMetrics {
    /// Counts a connection closed because it missed `deadline` (`head`, `idle`, `write`).
    pub fn timed_out(&self, deadline: &'static str) {
        self.timed_out
            .get_or_create(&DeadlineLabel { deadline })
            .inc();
    }
}

/// The registry and the counters handlers update.
pub struct Metrics {
    registry: Registry,
    rejected: Family<ReasonLabel, Counter>,
    pub connections: ConnMetrics,
}

impl Metrics {
    pub fn new(hub: Arc<Hub>, tasks: Arc<Tasks>, mqtt: Option<Arc<MqttStatus>>) -> Self {
        let mut registry = Registry::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "livechart_rejected_requests",
            "API requests refused, by error kind (the `error` field of the answer)",
            rejected.clone(),
        );
        let connections = ConnMetrics::default();
        registry.register(
            "livechart_connections_open",
            "TCP connections open now (pages, API calls and event streams)",
            connections.open.clone(),
        );
        registry.register(
            "livechart_connections_refused",
            "Connections refused at once because connections.max were open",
            connections.refused.clone(),
        );
        registry.register(
            "livechart_connections_timed_out",
            "Connections closed for missing a deadline: head, idle or write",
            connections.timed_out.clone(),
        );
        registry.register_collector(Box::new(HubCollector(hub, tasks)));
        if let Some(m) = mqtt {
            registry.register_collector(Box::new(MqttCollector(m.clone())));
            for (name, help, counter) in [
                (
                    "livechart_mqtt_connections",
                    "Connections made to the MQTT broker",
                    &m.connections,
                ),
                (
                    "livechart_mqtt_messages_published",
                    "MQTT messages published to a stream",
                    &m.published,
                ),
                (
                    "livechart_mqtt_points",
                    "Points published from MQTT messages",
                    &m.points,
                ),
                (
                    "livechart_mqtt_messages_unreadable",
                    "MQTT messages skipped: topic or payload unreadable",
                    &m.unreadable,
                ),
                (
                    "livechart_mqtt_messages_refused",
                    "MQTT messages refused by a limit (streams, series)",
                    &m.refused,
                ),
                (
                    "livechart_mqtt_messages_retained",
                    "Retained MQTT messages sent again on subscribing, not charted again",
                    &m.retained,
                ),
            ] {
                registry.register(name, help, counter.clone());
            }
            registry.register(
                "livechart_mqtt_up",
                "1 while connected to the MQTT broker, else 0",
                m.up.clone(),
            );
        }
        Metrics {
            registry,
            rejected,
            connections,
        }
    }

    /// Counts one refused request.
    pub fn reject(&self, kind: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: kind.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Reads the MQTT intake at scrape time: what waits, and for how long.
#[derive(Debug)]
struct MqttCollector(Arc<MqttStatus>);

impl Collector for MqttCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(self.0.waiting() as i64);
        gauge.encode(encoder.encode_descriptor(
            "livechart_mqtt_messages_waiting",
            "MQTT messages read from the broker and not yet published",
            None,
            gauge.metric_type(),
        )?)?;
        let age = self.0.oldest_waiting().map_or(0.0, |d| d.as_secs_f64());
        let gauge = ConstGauge::new(age);
        gauge.encode(encoder.encode_descriptor(
            "livechart_mqtt_oldest_waiting_seconds",
            "How long the oldest waiting MQTT message has waited (0: none waits)",
            None,
            gauge.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Reads the hub's (and the tasks') counters at scrape time.
struct HubCollector(Arc<Hub>, Arc<Tasks>);

impl std::fmt::Debug for HubCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HubCollector").field(&self.0).finish()
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let hub = &self.0;
        let streams = hub.streams();

        let gauge = ConstGauge::new(hub.viewers() as i64);
        gauge.encode(encoder.encode_descriptor(
            "livechart_connections",
            "Event-stream connections open, over all streams",
            None,
            gauge.metric_type(),
        )?)?;
        let gauge = ConstGauge::new(streams.len() as i64);
        gauge.encode(encoder.encode_descriptor(
            "livechart_streams",
            "Streams the server holds",
            None,
            gauge.metric_type(),
        )?)?;
        let (held, running, started) = self.1.counts();
        for (name, help, value) in [
            ("livechart_tasks_running", "Tasks running", running),
            (
                "livechart_tasks_held",
                "Tasks held: running, or finished and still watched",
                held,
            ),
        ] {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counter = ConstCounter::new(started);
        counter.encode(encoder.encode_descriptor(
            "livechart_tasks_started",
            "Tasks started",
            None,
            counter.metric_type(),
        )?)?;

        if let Some(stats) = hub.commit_stats() {
            counters(
                &mut encoder,
                &[
                    (
                        "livechart_history_commits",
                        "Transactions the embedded store committed",
                        &stats.commits,
                    ),
                    (
                        "livechart_history_commit_failures",
                        "Transactions that failed (publishes refused with storage_unavailable)",
                        &stats.failures,
                    ),
                    (
                        "livechart_history_events_committed",
                        "Events made durable before being shown",
                        &stats.events,
                    ),
                ],
            )?;
        }

        if let Some(broker) = hub.broker() {
            let gauge = ConstGauge::new(i64::from(broker.is_up()));
            gauge.encode(encoder.encode_descriptor(
                "livechart_broker_up",
                "1 while this node follows Redis (connected and caught up), else 0",
                None,
                gauge.metric_type(),
            )?)?;
            counters(
                &mut encoder,
                &[
                    (
                        "livechart_broker_resyncs",
                        "Times this node (re)connected to Redis and read every stream again",
                        &broker.stats.resyncs,
                    ),
                    (
                        "livechart_broker_epochs_lost",
                        "Streams that started a new epoch because Redis had lost their history",
                        &broker.stats.lost,
                    ),
                ],
            )?;
        }

        type Read = fn(&crate::hub::Stream) -> u64;
        // (name, help, is a counter (else a gauge), how to read it)
        let per_stream: [(&str, &str, bool, Read); 8] = [
            (
                "livechart_events_published",
                "Events published",
                true,
                |s| s.counters().events.load(Ordering::Relaxed),
            ),
            (
                "livechart_points_published",
                "Points published",
                true,
                |s| s.counters().points.load(Ordering::Relaxed),
            ),
            (
                "livechart_events_delivered",
                "Events written to viewers, once per viewer",
                true,
                |s| s.counters().delivered.load(Ordering::Relaxed),
            ),
            (
                "livechart_resumes",
                "Viewers resumed from the history without a gap",
                true,
                |s| s.counters().resumed.load(Ordering::Relaxed),
            ),
            ("livechart_viewers", "Viewers connected", false, |s| {
                s.counters().viewers.load(Ordering::Relaxed) as u64
            }),
            (
                "livechart_ring_events",
                "Events held for resuming viewers",
                false,
                |s| s.ring_usage().0 as u64,
            ),
            (
                "livechart_ring_bytes",
                "Bytes of the events held",
                false,
                |s| s.ring_usage().1 as u64,
            ),
            ("livechart_series", "Series of the stream", false, |s| {
                s.series_count() as u64
            }),
        ];
        for (name, help, counter, read) in per_stream {
            let kind = if counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for s in &streams {
                let labels = [("stream", s.name().as_str())];
                let metric = family.encode_family(&labels)?;
                let value = read(s);
                if counter {
                    ConstCounter::new(value).encode(metric)?;
                } else {
                    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "livechart_resets",
            "Viewers reset instead of resumed (lagged: resynchronised after falling behind)",
            None,
            MetricType::Counter,
        )?;
        for s in &streams {
            for reason in [
                ResetReason::TooOld,
                ResetReason::Restarted,
                ResetReason::UnknownId,
                ResetReason::Lagged,
            ] {
                let n = s.counters().resets[reason as usize].load(Ordering::Relaxed);
                let labels = [("stream", s.name().as_str()), ("reason", reason.as_str())];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Encodes counters read from atomics: (name, help, value).
fn counters(
    encoder: &mut DescriptorEncoder,
    list: &[(&str, &str, &AtomicU64)],
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in list {
        let counter = ConstCounter::new(value.load(Ordering::Relaxed));
        counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
    }
    Ok(())
}

/// Middleware: counts (and logs, at debug level) every refused request by kind. Only the
/// path is logged: queries and headers may hold tokens.
pub async fn count_rejections(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = next.run(req).await;
    if let Some(Rejected(kind)) = response.extensions().get::<Rejected>() {
        metrics.reject(kind);
        tracing::debug!(%method, %path, status = response.status().as_u16(), kind, "request refused");
    }
    response
}
