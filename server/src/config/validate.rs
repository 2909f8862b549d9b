//! Checks of a whole configuration: every problem at once, each naming its key.

use super::Settings;

impl Settings {
    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.history.data_dir.as_os_str().is_empty() {
            problems.push("livechart.history.data-dir = \"\": must name a directory".to_owned());
        }
        let mut range = |key: &str, value: u64, lo: u64, hi: u64| {
            if !(lo..=hi).contains(&value) {
                problems.push(format!("livechart.{key} = {value}: must be {lo} to {hi}"));
            }
        };
        range("demo.interval-ms", self.demo.interval_ms, 1, 86_400_000);
        range("sse.retry-ms", self.sse.retry_ms, 100, 600_000);
        range("sse.keep-alive-ms", self.sse.keep_alive_ms, 100, 3_600_000);
        if self.sse.max_connection_ms != 0 {
            range(
                "sse.max-connection-ms",
                self.sse.max_connection_ms,
                1000,
                604_800_000,
            );
        }
        let h = &self.history;
        range("history.ring-events", h.ring_events as u64, 16, 1_048_576);
        range("history.ring-bytes", h.ring_bytes as u64, 64 << 10, 1 << 32);
        range("history.window", h.window as u64, 1, 100_000);
        range(
            "history.retention",
            h.retention.ms(),
            1000,
            365 * 86_400_000,
        );
        range(
            "history.retention-bytes",
            h.retention_bytes as u64,
            64 << 10,
            1 << 30,
        );
        range("streams.max", self.streams.max as u64, 1, 100_000);
        range("streams.max-series", self.streams.max_series as u64, 1, 64);
        range(
            "ingest.max-body-bytes",
            self.ingest.max_body_bytes as u64,
            1024,
            1 << 30,
        );
        range(
            "ingest.max-points",
            self.ingest.max_points as u64,
            1,
            1_000_000,
        );
        range(
            "limits.max-viewers",
            self.limits.max_viewers as u64,
            1,
            1_000_000,
        );
        range(
            "limits.max-streams-per-connection",
            self.limits.max_streams_per_connection as u64,
            1,
            app::model::MAX_STREAMS_PER_CONNECTION as u64,
        );
        range("shutdown.grace-ms", self.shutdown.grace_ms, 0, 600_000);
        let c = &self.connections;
        range("connections.max", c.max as u64, 0, 1_000_000);
        range(
            "connections.max-per-client",
            c.max_per_client as u64,
            0,
            1_000_000,
        );
        range(
            "connections.head-timeout-ms",
            c.head_timeout_ms,
            100,
            600_000,
        );
        range(
            "connections.idle-timeout-ms",
            c.idle_timeout_ms,
            100,
            3_600_000,
        );
        range(
            "connections.write-timeout-ms",
            c.write_timeout_ms,
            100,
            3_600_000,
        );
        range(
            "connections.body-timeout-ms",
            c.body_timeout_ms,
            100,
            3_600_000,
        );
        range("connections.min-body-rate", c.min_body_rate, 1, 1 << 30);
        range(
            "connections.answer-timeout-ms",
            c.answer_timeout_ms,
            100,
            3_600_000,
        );
        if self.streams.idle_expiry_ms != 0 {
            range(
                "streams.idle-expiry-ms",
                self.streams.idle_expiry_ms,
                1000,
                31_536_000_000,
            );
        }
        let t = &self.tasks;
        range("tasks.max-duration-ms", t.max_duration_ms, 100, 86_400_000);
        range(
            "tasks.duration-ms",
            t.duration_ms,
            100,
            t.max_duration_ms.max(100),
        );
        range("tasks.max-steps", u64::from(t.max_steps), 1, 1_000_000);
        range(
            "tasks.steps",
            u64::from(t.steps),
            1,
            u64::from(t.max_steps.max(1)),
        );
        range("tasks.max-running", t.max_running as u64, 1, 100_000);
        range("tasks.per-minute", u64::from(t.per_minute), 1, 1_000_000);
        range("tasks.burst", u64::from(t.burst), 1, 1_000_000);
        range("tasks.linger-ms", t.linger_ms, 0, 86_400_000);
        range(
            "system.interval-ms",
            self.system.interval_ms,
            200,
            86_400_000,
        );
        if h.ring_events < h.window {
            problems.push(format!(
                "livechart.history.ring-events = {}: must be at least history.window ({})",
                h.ring_events, h.window
            ));
        }
        let sources = [
            ("demo", self.demo.enabled, &self.demo.stream),
            ("system", self.system.enabled, &self.system.stream),
            ("classic", self.classic.enabled, &self.classic.stream),
        ];
        let built_in: Vec<_> = sources.iter().filter(|s| s.1).collect();
        for (i, (key, _, name)) in built_in.iter().enumerate() {
            if let Some((other, _, _)) = built_in[..i].iter().find(|s| s.2 == *name) {
                problems.push(format!(
                    "livechart.{key}.stream = \"{name}\": already the stream of livechart.{other}"
                ));
            }
        }
        if self.streams.declared.len() + built_in.len() > self.streams.max {
            problems.push(format!(
                "livechart.streams.declared: {} streams (with the built-in sources) exceed streams.max = {}",
                self.streams.declared.len() + built_in.len(),
                self.streams.max
            ));
        }
        for (key, secret) in [
            ("auth.publish-token", &self.auth.publish_token),
            ("auth.view-token", &self.auth.view_token),
        ] {
            if let Some(problem) = secret.problem() {
                problems.push(format!("livechart.{key}: {problem}"));
            }
        }
        for host in &self.auth.allowed_hosts {
            if let Err(problem) = check_allowed_host(host) {
                problems.push(format!("livechart.auth.allowed-hosts: {host:?}: {problem}"));
            }
        }
        if self.history.store == super::StoreKind::Redis {
            if let Err(e) = redis::Client::open(self.redis.url.as_str()) {
                problems.push(format!(
                    "livechart.redis.url = \"{}\": {e}",
                    self.redis.shown_url()
                ));
            }
        }
        let prefix = &self.redis.prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            problems.push(format!(
                "livechart.redis.prefix = {:?}: must be 1 to 64 letters, digits, _ . -",
                prefix.chars().take(80).collect::<String>()
            ));
        }
        let mqtt = &self.mqtt;
        if mqtt.is_enabled() {
            if let Err(e) = mqtt.address() {
                problems.push(format!("livechart.mqtt.url = {:?}: {e}", mqtt.url));
            }
            let id = &mqtt.client_id;
            if id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                problems.push(format!(
                    "livechart.mqtt.client-id = {:?}: must be empty or 1 to 128 visible ASCII characters",
                    id.chars().take(80).collect::<String>()
                ));
            }
            if mqtt.subscribe.is_empty() {
                problems.push(
                    "livechart.mqtt.subscribe: no topic filters (add [[livechart.mqtt.subscribe]] \
                     filter = \"robot/#\", or set LIVECHART_MQTT_TOPICS)"
                        .to_owned(),
                );
            }
            for (i, sub) in mqtt.subscribe.iter().enumerate() {
                if let Some(e) = super::filter_problem(&sub.filter) {
                    problems.push(format!(
                        "livechart.mqtt.subscribe[{i}].filter = {:?}: {e}",
                        sub.filter.chars().take(80).collect::<String>()
                    ));
                }
            }
            if let Some(path) = &mqtt.ca_cert {
                if !path.is_file() {
                    problems.push(format!(
                        "livechart.mqtt.ca-cert = {:?}: no such file",
                        path.display()
                    ));
                }
            }
        }
        let (min, max) = (self.demo.min, self.demo.max);
        if !min.is_finite() {
            problems.push(format!(
                "livechart.demo.min = {min}: must be a finite number"
            ));
        }
        if !(max.is_finite() && max > min) {
            problems.push(format!(
                "livechart.demo.max = {max}: must be finite and greater than demo.min"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Whether `host` is a usable entry of `auth.allowed-hosts`: a host name or an IP address
/// (IPv6 in brackets), without port or scheme, optionally starting with `.`.
pub fn check_allowed_host(host: &str) -> Result<(), String> {
    let name = host.strip_prefix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Err("must be a host name such as charts.example.com".into());
    }
    if name.starts_with('[') && name.ends_with(']') {
        return name[1..name.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv6 address in brackets".into());
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        Ok(())
    } else {
        Err("only letters, digits, `-` and `.` (no port, no scheme, no `*`)".into())
    }
}
