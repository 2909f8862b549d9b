//! A real `mosquitto` broker for a test: its own process on a free loopback port, with a
//! configuration file in a temporary directory, stopped when dropped.

use super::TempDir;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    child: Option<Child>,
    pub dir: TempDir,
    pub port: u16,
}

impl Mosquitto {
    /// A fresh broker without persistence (a restart forgets every session), or `None`
    /// when `mosquitto` is not installed and this is not CI (`CI=true` makes it a failure).
    pub fn start() -> Option<Mosquitto> {
        Self::start_with("")
    }

    /// The same, with more settings for its listener (TLS certificates).
    pub fn start_with(listener_settings: &str) -> Option<Mosquitto> {
        if !installed("mosquitto") || !installed("mosquitto_pub") {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mosquitto or mosquitto_pub is not installed (.ci/setup installs them); CI=true, so this fails"
            );
            eprintln!("SKIPPED: mosquitto is not installed (run .ci/setup)");
            return None;
        }
        let dir = TempDir::new("mosquitto");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "listener {port} 127.0.0.1\n{listener_settings}\nallow_anonymous true\n\
             persistence false\nlog_dest file {}/mosquitto.log\n",
            dir.str()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).expect("write the config");
        let mut broker = Mosquitto {
            child: None,
            dir,
            port,
        };
        broker.start_again();
        Some(broker)
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on the same port, and waits until it takes connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mosquitto is already running");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Publishes one message with `mosquitto_pub` at QoS 1.
    pub fn publish(&self, topic: &str, payload: &str) {
        self.publish_with(&["-h", "127.0.0.1"], topic, payload);
    }

    /// The same, with more options for `mosquitto_pub` (`--cafile`, `-h localhost`).
    pub fn publish_with(&self, options: &[&str], topic: &str, payload: &str) {
        let status = Command::new("mosquitto_pub")
            .args(options)
            .args(["-p", &self.port.to_string(), "-q", "1"])
            .args(["-t", topic, "-m", payload])
            .status()
            .expect("run mosquitto_pub");
        assert!(
            status.success(),
            "mosquitto_pub {topic} {payload:?}: {status}"
        );
    }
}

impl Mosquitto {
    /// Publishes each `(topic, payload)` at QoS 1, as fast as the broker takes them (a device
    /// flushing its buffer), and returns once the broker has acknowledged every one.
    /// (`mosquitto_pub -l` cannot do this: at the end of its input it disconnects with
    /// messages unsent, about 65 % of 100,000.)
    pub async fn publish_all(&self, messages: &[(String, String)]) {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let mut options = MqttOptions::new("test-publisher", "127.0.0.1", self.port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_inflight(100);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let n = messages.len();
        let acks = tokio::spawn(async move {
            let mut acked = 0;
            while acked < n {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                    Ok(_) => {}
                    Err(e) => {
                        panic!("the test publisher's connection: {e} ({acked} of {n} acknowledged)")
                    }
                }
            }
            eventloop
        });
        for (topic, payload) in messages {
            client
                .publish(
                    topic.as_str(),
                    QoS::AtLeastOnce,
                    false,
                    payload.as_bytes().to_vec(),
                )
                .await
                .expect("queue a message");
        }
        let mut eventloop = tokio::time::timeout(Duration::from_secs(120), acks)
            .await
            .expect("the broker acknowledged every message within 120 s")
            .expect("the publisher task");
        client.disconnect().await.expect("disconnect");
        let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn installed(name: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("command -v {name} || test -x /usr/sbin/{name}"),
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian puts the broker in /usr/sbin, which a non-root PATH may lack.
fn mosquitto_bin() -> &'static str {
    if std::path::Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}
