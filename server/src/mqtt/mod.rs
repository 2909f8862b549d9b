//! MQTT: subscribes to the configured topic filters and publishes what arrives
//! ([`mapping`] says how a message becomes points of a stream).
//!
//! Messages arrive with QoS 1 on a persistent session (`clean session` off, the configured
//! client id), and each is acknowledged only once the hub has it (durable, with a durable
//! store), in the order received: a message the server did not take is sent again by the
//! broker after a reconnection, so nothing acknowledged is lost, and a message may arrive
//! twice after a crash. The connection is re-established with backoff (100 ms doubling to
//! 10 s) and the filters subscribed again on every connection. An unreadable or oversize
//! message is counted, logged with its topic and reason, and acknowledged: it is never
//! retried, never fatal, and holds up nothing behind it.
//!
//! Two tasks: [`read`] drives the connection and puts messages in the [`Intake`]; [`take`]
//! publishes them (in batches: see `publisher`) and acknowledges. Neither ever waits on the
//! other (see `intake`).

mod intake;
pub mod mapping;
mod publisher;

use intake::{Intake, Waiting};
use publisher::take;

use crate::config::MqttSettings;
use crate::hub::Hub;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, Transport};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Requests to the connection (acknowledgements, subscriptions) it has not sent yet; an
/// acknowledgement that finds it full waits in [`take`]'s own list instead.
const REQUESTS: usize = 4096;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A connection that lasts this long resets the back-off; one closed sooner does not.
const STABLE: Duration = Duration::from_secs(10);
/// At shutdown, the longest wait for the last acknowledgements and the disconnection.
pub const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// The largest message read at all: up to it, a message over `ingest.max-body-bytes` is read,
/// counted and acknowledged; a larger one ends the connection (the broker's own
/// `message_size_limit` should keep such messages out).
const READ_LIMIT: usize = 16 << 20;

/// The connection's state and counts, for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
pub struct MqttStatus {
    connected: AtomicBool,
    /// Filters the broker granted on this connection.
    subscribed: AtomicUsize,
    pub up: Gauge,
    pub connections: Counter,
    pub published: Counter,
    pub points: Counter,
    pub unreadable: Counter,
    pub refused: Counter,
    pub retained: Counter,
    last_error: Mutex<Option<String>>,
    /// Messages read and not yet published.
    intake: Intake,
}

impl MqttStatus {
    fn set_connected(&self, yes: bool) {
        self.connected.store(yes, Ordering::Relaxed);
        self.subscribed.store(0, Ordering::Relaxed);
        self.up.set(i64::from(yes));
    }

    /// The topic filters the broker granted on the current connection.
    pub fn subscribed(&self) -> usize {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Messages read from the broker and not yet published.
    pub fn waiting(&self) -> usize {
        self.intake.len()
    }

    /// How long the oldest of them has waited: a growing age is a stalled intake.
    pub fn oldest_waiting(&self) -> Option<Duration> {
        self.intake.oldest()
    }

    fn set_error(&self, e: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e);
    }
}

/// Starts the subscription (settings validated at start-up). Returns at once; the tasks end
/// at shutdown, the returned one once the acknowledgements of what was published have gone
/// out and the connection is closed (at most [`CLOSE_WAIT`] after shutdown began): the hub
/// must stay open until then.
pub fn spawn(
    settings: MqttSettings,
    hub: Arc<Hub>,
    limits: Publishing,
    status: Arc<MqttStatus>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let options = options(&settings, limits.max_message_bytes.max(READ_LIMIT))?;
    let (client, eventloop) = AsyncClient::new(options, REQUESTS);
    let settings = Arc::new(settings);
    let taking = tokio::spawn(take(
        client.clone(),
        hub,
        settings.clone(),
        limits,
        status.clone(),
        shutdown.clone(),
    ));
    Ok(tokio::spawn(read(
        eventloop, client, settings, limits, status, shutdown, taking,
    )))
}

/// The client id when none is configured: `livechart-` and 8 hex digits of a hash of this
/// machine's name and the data directory's path. Two servers (on two machines, or on two
/// directories of one) get two ids, and so two sessions, instead of taking one session from
/// each other; one server gets the same id at every start, so its session (and what the
/// broker kept for it meanwhile) is still there.
pub fn default_client_id(data_dir: &std::path::Path) -> String {
    let mut host = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let named = unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0;
    let host = if named {
        let end = host.iter().position(|b| *b == 0).unwrap_or(host.len());
        &host[..end]
    } else {
        &[][..]
    };
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    // FNV-1a: the same value for the same input in every build (the standard hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for byte in host
        .iter()
        .chain(b"\0")
        .chain(dir.as_os_str().as_encoded_bytes())
    {
        hash = (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
    }
    format!("livechart-{hash:08x}")
}

/// What a message may hold and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct Publishing {
    pub auto_create: bool,
    pub max_points: usize,
    pub max_message_bytes: usize,
}

fn options(settings: &MqttSettings, max_bytes: usize) -> Result<MqttOptions, String> {
    let (tls, host, port) = settings.address()?;
    let mut options = MqttOptions::new(settings.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(max_bytes, 64 << 10);
    if !settings.username.is_empty() || settings.password.is_set() {
        options.set_credentials(settings.username.clone(), settings.password.expose());
    }
    if tls {
        options.set_transport(Transport::tls_with_config(
            tls_config(settings.ca_cert.as_deref())?.into(),
        ));
    }
    Ok(options)
}

/// A TLS client configuration trusting the system's roots and `ca_cert`, on ring (as the
/// HTTP client's TLS), without depending on a process-wide default provider.
fn tls_config(ca_cert: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("livechart.mqtt.ca-cert {:?}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "livechart.mqtt.ca-cert {:?}: no certificate in the file",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("livechart.mqtt.ca-cert {:?}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Drives the connection: reconnects with backoff, subscribes on every connection, and
/// hands messages to [`take`] through the intake, never waiting for it: while the intake is
/// over its bound it stops reading (the broker holds the rest), and only then.
async fn read(
    mut eventloop: EventLoop,
    client: AsyncClient,
    settings: Arc<MqttSettings>,
    limits: Publishing,
    status: Arc<MqttStatus>,
    shutdown: CancellationToken,
    taking: tokio::task::JoinHandle<()>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut failing = false;
    // When the current connection was accepted.
    let mut connected_at: Option<Instant> = None;
    loop {
        if status.intake.is_full() {
            tracing::warn!(
                waiting = status.intake.len(),
                "MQTT: the hub is behind; reading paused until half the waiting messages are published"
            );
            tokio::select! {
                () = status.intake.has_room() => {}
                () = shutdown.cancelled() => break,
            }
        }
        let event = tokio::select! {
            event = eventloop.poll() => event,
            () = shutdown.cancelled() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                status.set_connected(true);
                status.connections.inc();
                connected_at = Some(Instant::now());
                tracing::info!(url = %settings.url, session_present = ack.session_present, "MQTT connected");
                // The request queue holds far more than the filters: this cannot block.
                for sub in &settings.subscribe {
                    if let Err(e) = client.try_subscribe(sub.filter.clone(), QoS::AtLeastOnce) {
                        tracing::error!(filter = %sub.filter, "MQTT subscribe: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                for code in &ack.return_codes {
                    if matches!(code, rumqttc::SubscribeReasonCode::Failure) {
                        let e = "the broker refused a subscription (its ACL?)".to_owned();
                        tracing::error!("MQTT: {e}");
                        status.set_error(e);
                    } else {
                        status.subscribed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(mut message))) => {
                let size = message.payload.len();
                let oversize = (size > limits.max_message_bytes).then_some(size);
                if oversize.is_some() {
                    // Counted and acknowledged by `take`, in its turn; not kept.
                    message.payload = bytes::Bytes::new();
                }
                status.intake.push(Waiting {
                    message,
                    since: Instant::now(),
                    oversize,
                });
            }
            Ok(_) => {}
            Err(e) => {
                status.set_connected(false);
                let mut e = e.to_string();
                match connected_at.take().map(|t| t.elapsed()) {
                    // A connection that lasted: the back-off starts over.
                    Some(lasted) if lasted >= STABLE => {
                        backoff = Duration::from_millis(100);
                        failing = false;
                    }
                    // Closed as soon as it was accepted: most often another client with the
                    // same client id taking the session over (and this one taking it back
                    // would knock that one off in turn). The back-off keeps growing.
                    Some(lasted) => {
                        e = format!(
                            "{e}: the broker closed the connection {} ms after accepting it; is \
                             another client using the client id {:?}? (each server needs its own \
                             livechart.mqtt.client-id)",
                            lasted.as_millis(),
                            settings.client_id
                        );
                        if !failing {
                            tracing::warn!(url = %settings.url, "MQTT {e}; retrying in {} ms", backoff.as_millis());
                            failing = true;
                        }
                    }
                    None => {}
                }
                if failing {
                    tracing::debug!(url = %settings.url, "MQTT still unreachable: {e}");
                } else {
                    tracing::warn!(url = %settings.url, "MQTT connection lost or refused: {e}; retrying");
                    failing = true;
                }
                status.set_error(e);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    close(&mut eventloop, &client, taking).await;
    status.set_connected(false);
}

/// At shutdown: drives the connection until the publishing side has ended and handed over
/// its acknowledgements, and they and a disconnection have gone out (at most [`CLOSE_WAIT`]),
/// so a clean stop has the broker send again nothing that was published.
async fn close(
    eventloop: &mut EventLoop,
    client: &AsyncClient,
    taking: tokio::task::JoinHandle<()>,
) {
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    tokio::pin!(taking);
    let mut taken = false;
    loop {
        tokio::select! {
            _ = &mut taking, if !taken => {
                taken = true;
                let _ = client.try_disconnect();
            }
            event = eventloop.poll() => match event {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            },
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// A topic quoted for a log line or `/healthz`: at most 200 characters of it (topics may be
/// 65,535 bytes long).
fn shown(topic: &str) -> String {
    match topic.char_indices().nth(200) {
        Some((cut, _)) => format!("{:?}…", &topic[..cut]),
        None => format!("{topic:?}"),
    }
}
