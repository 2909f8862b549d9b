//! MQTT against a real `mosquitto` broker: messages published with `mosquitto_pub` reach the
//! viewers of the streams their topics map to; a bad payload is counted and the rest flow;
//! after the broker restarts (forgetting every session), the server subscribes again.

mod common;

use common::mosquitto::Mosquitto;
use common::{held_values, metrics_text, tagged_points, wait_for_health, EventReader, TestServer};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn row(stream: &str, series: &str, value: f64) -> (String, String, f64) {
    (stream.into(), series.into(), value)
}

/// Waits until the server is connected and the broker granted its `filters` (publishing
/// before that would lose the messages: QoS 1 keeps nothing for a subscription not yet made).
async fn subscribed(server: &TestServer, filters: usize) {
    wait_for_health(server, WAIT, |h| {
        h.mqtt
            .as_ref()
            .is_some_and(|m| m.connected && m.subscribed == filters)
    })
    .await;
}

fn without_ts(rows: &[(String, String, i64, f64)]) -> Vec<(String, String, f64)> {
    rows.iter()
        .map(|(s, n, _, v)| (s.clone(), n.clone(), *v))
        .collect()
}

#[tokio::test]
async fn messages_of_every_kind_arrive_and_survive_a_broker_restart() {
    let Some(mut broker) = Mosquitto::start() else {
        return;
    };
    let url = broker.url();
    let env = [
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_MQTT_URL", &url),
        ("LIVECHART_MQTT_TOPICS", "robot/#,lab/#"),
        ("LIVECHART_MQTT_CLIENT_ID", "livechart-test"),
        // The streams exist from the start, so that everything arrives as `points` events.
        ("LIVECHART_STREAMS_DECLARED", "robot.arm,lab"),
    ];
    let server = TestServer::start(&env);
    // Publishing before the broker has the subscriptions would lose the messages (QoS 1
    // keeps nothing for a subscription not yet made): wait until both are granted.
    subscribed(&server, 2).await;
    let mut reader = EventReader::open(&server.url("/api/events?streams=robot.arm,lab")).await;

    broker.publish("robot/arm/temp", "21.5");
    broker.publish("robot/arm/env", "temp=1.5 hum=40");
    broker.publish(
        "lab/x",
        r#"{"series": "a", "value": 3, "ts": 1700000000123}"#,
    );
    broker.publish("lab/y", r#"[{"value": 4}, {"series": "b", "value": 5}]"#);
    broker.publish("lab/z", "6\n7");
    let mut got = tagged_points(&mut reader, 8, WAIT).await;
    // In order within each stream; a multiplexed connection that falls behind may send one
    // stream's waiting events before another's.
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        without_ts(&got),
        [
            row("lab", "x.a", 3.0),
            row("lab", "y", 4.0),
            row("lab", "y.b", 5.0),
            row("lab", "z", 6.0),
            row("lab", "z", 7.0),
            row("robot.arm", "temp", 21.5),
            row("robot.arm", "env.temp", 1.5),
            row("robot.arm", "env.hum", 40.0),
        ]
    );
    assert_eq!(got[0].2, 1_700_000_000_123, "the payload's own timestamp");

    // Unreadable payloads and topics are counted and skipped; the rest keep flowing.
    broker.publish("robot/arm/temp", "warm");
    broker.publish("robot/arm bad/temp", "1");
    broker.publish("robot/arm/temp", "22");
    let got = tagged_points(&mut reader, 1, WAIT).await;
    assert_eq!(without_ts(&got), [row("robot.arm", "temp", 22.0)]);
    let health = wait_for_health(&server, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| m.unreadable == 2)
    })
    .await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert_eq!((mqtt.published, mqtt.refused), (6, 0), "{mqtt:?}");
    assert!(
        mqtt.last_error
            .as_deref()
            .unwrap_or("")
            .contains("robot/arm bad/temp"),
        "{mqtt:?}"
    );
    let metrics = metrics_text(&server).await;
    for line in [
        "livechart_mqtt_up 1",
        "livechart_mqtt_messages_published_total 6",
        "livechart_mqtt_messages_unreadable_total 2",
        "livechart_mqtt_points_total 9",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }

    // The broker restarts without the session: the server reconnects and subscribes again.
    broker.stop();
    wait_for_health(&server, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| !m.connected)
    })
    .await;
    assert!(metrics_text(&server).await.contains("livechart_mqtt_up 0"));
    broker.start_again();
    subscribed(&server, 2).await;
    broker.publish("robot/arm/temp", "23");
    let got = tagged_points(&mut reader, 1, WAIT).await;
    assert_eq!(without_ts(&got), [row("robot.arm", "temp", 23.0)]);
    assert!(metrics_text(&server)
        .await
        .contains("livechart_mqtt_connections_total 2"));

    // While the server is away, the broker keeps its session's messages (QoS 1, the same
    // client id, clean session off): the next server with that id gets them.
    drop(reader);
    drop(server);
    broker.publish("robot/arm/temp", "24");
    broker.publish("robot/arm/temp", "25");
    let server = TestServer::start(&env);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let range: serde_json::Value =
            reqwest::get(server.url("/api/streams/robot.arm/points?series=temp"))
                .await
                .expect("GET points")
                .json()
                .await
                .expect("JSON");
        if range["series"][0]["values"] == serde_json::json!([24.0, 25.0]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the held messages never came: {range}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mqtts_with_a_private_ca() {
    if !common::tls_proxy::openssl_installed() {
        return;
    }
    let certs = common::TempDir::new("mqtt-certs");
    common::tls_proxy::make_certificates(&certs);
    let d = certs.str();
    let tls = format!("cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key");
    let Some(broker) = Mosquitto::start_with(&tls) else {
        return;
    };
    let url = format!("mqtts://localhost:{}", broker.port);
    let ca = format!("{d}/ca.pem");
    let server = TestServer::start(&[
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_MQTT_URL", &url),
        ("LIVECHART_MQTT_TOPICS", "robot/#"),
        ("LIVECHART_MQTT_CA_CERT", &ca),
        ("LIVECHART_STREAMS_DECLARED", "robot"),
    ]);
    subscribed(&server, 1).await;
    let mut reader = EventReader::open(&server.url("/api/events?streams=robot")).await;
    broker.publish_with(&["-h", "localhost", "--cafile", &ca], "robot/temp", "5");
    let got = tagged_points(&mut reader, 1, WAIT).await;
    assert_eq!(without_ts(&got), [row("robot", "temp", 5.0)]);

    // Without the private CA the broker's certificate is not trusted: never connected, and
    // /healthz says why.
    let untrusting = TestServer::start(&[
        ("LIVECHART_HISTORY_STORE", "memory"),
        ("LIVECHART_MQTT_URL", &url),
        ("LIVECHART_MQTT_TOPICS", "robot/#"),
        ("LIVECHART_MQTT_CLIENT_ID", "untrusting"),
    ]);
    let health = wait_for_health(&untrusting, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| m.last_error.is_some())
    })
    .await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert!(!mqtt.connected, "{mqtt:?}");
    assert!(
        mqtt.last_error
            .as_deref()
            .unwrap_or("")
            .contains("certificate"),
        "{mqtt:?}"
    );
}

#[tokio::test]
async fn bad_mqtt_settings_stop_the_start_with_the_key_named() {
    for (env, says) in [
        (("LIVECHART_MQTT_URL", "http://x"), "livechart.mqtt.url"),
        (("LIVECHART_MQTT_URL", "mqtt://host:0"), "port"),
        (
            ("LIVECHART_MQTT_TOPICS", "a/#/b"),
            "livechart.mqtt.subscribe[0].filter",
        ),
        (("LIVECHART_MQTT_CLIENT_ID", "has space"), "client-id"),
    ] {
        let mut all = vec![
            ("LIVECHART_MQTT_URL", "mqtt://127.0.0.1:1"),
            ("LIVECHART_MQTT_TOPICS", "a/#"),
        ];
        all.retain(|(k, _)| *k != env.0);
        all.push(env);
        let (code, stderr) = common::run_to_exit(&[], &all);
        assert_eq!(code, Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(says), "{env:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_burst_of_messages_drains_once_each_and_an_oversize_one_blocks_nothing() {
    // The broker holds the whole backlog (mosquitto drops what is past 1,000 queued messages
    // a client by default: README, "MQTT").
    let Some(broker) = Mosquitto::start_with("max_queued_messages 100000") else {
        return;
    };
    let url = broker.url();
    let env = [
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "burst/#"),
        ("LIVECHART_MQTT_CLIENT_ID", "livechart-burst"),
        ("LIVECHART_STREAMS_DECLARED", "burst"),
        ("LIVECHART_INGEST_MAX_BODY_BYTES", "65536"),
    ];
    // The durable store (each publish waits for its commit): the hub is the slow side.
    let server = TestServer::start(&env);
    subscribed(&server, 1).await;

    // A device flushing its buffer, or a broker's backlog: 100,000 messages as fast as the
    // broker takes them.
    let n = 100_000;
    let messages: Vec<(String, String)> = (1..=n)
        .map(|i| ("burst/v".to_owned(), i.to_string()))
        .collect();
    let started = std::time::Instant::now();
    broker.publish_all(&messages).await;
    eprintln!("{n} messages sent in {:?}", started.elapsed());
    let deadline = started + Duration::from_secs(30);
    loop {
        let values = held_values(&server, "burst", Some("v")).await;
        if values.len() >= n {
            // Each message once, in the order sent.
            let expected: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            assert_eq!(values, expected);
            eprintln!("{n} messages drained in {:?}", started.elapsed());
            break;
        }
        if std::time::Instant::now() > deadline {
            let health: serde_json::Value = reqwest::get(server.url("/healthz"))
                .await
                .expect("GET /healthz")
                .json()
                .await
                .expect("health JSON");
            panic!(
                "the burst stalled at {} of {n} messages: {}",
                values.len(),
                health["mqtt"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = wait_for_health(&server, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| m.published == n as u64)
    })
    .await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert_eq!(
        (mqtt.waiting, mqtt.oldest_waiting_ms),
        (0, None),
        "{mqtt:?}"
    );

    // A message over ingest.max-body-bytes is counted and acknowledged; the next one flows.
    broker.publish("burst/big", &"1".repeat(100_000));
    broker.publish("burst/after", "7");
    let deadline = std::time::Instant::now() + WAIT;
    while held_values(&server, "burst", Some("after")).await != [7.0] {
        assert!(
            std::time::Instant::now() < deadline,
            "a message after an oversize one never came"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = wait_for_health(&server, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| m.unreadable == 1)
    })
    .await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert!(
        mqtt.last_error
            .as_deref()
            .unwrap_or("")
            .contains("burst/big"),
        "{mqtt:?}"
    );
    // Acknowledged before a clean stop: a new server with the same session gets nothing
    // again.
    let mut server = server;
    server
        .terminate(Duration::from_secs(10))
        .expect("stops on SIGTERM");
    let server = TestServer::start(&env);
    subscribed(&server, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = wait_for_health(&server, WAIT, |h| h.mqtt.is_some()).await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert_eq!((mqtt.published, mqtt.unreadable), (0, 0), "{mqtt:?}");
}

/// A backlog is published in batches; a message the hub refuses (here: a third series where
/// two are allowed) is refused alone, and the rest of its batch is published, in order.
#[tokio::test]
async fn in_a_backlog_only_the_message_the_hub_refuses_is_refused() {
    let Some(broker) = Mosquitto::start_with("max_queued_messages 100000") else {
        return;
    };
    let url = broker.url();
    let env = [
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "mix/#"),
        ("LIVECHART_MQTT_CLIENT_ID", "livechart-mix"),
        ("LIVECHART_STREAMS_DECLARED", "mix"),
        ("LIVECHART_STREAMS_MAX_SERIES", "2"),
    ];
    // The session is made, then the server is away while the backlog builds up: it comes
    // all at once when the server is back.
    let server = TestServer::start(&env);
    subscribed(&server, 1).await;
    drop(server);
    let n = 3000;
    let series = |i: usize| ["c", "a", "b"][i % 3];
    let messages: Vec<(String, String)> = (1..=n)
        .map(|i| (format!("mix/{}", series(i)), i.to_string()))
        .collect();
    broker.publish_all(&messages).await;

    let server = TestServer::start(&env);
    let health = wait_for_health(&server, WAIT, |h| {
        h.mqtt
            .as_ref()
            .is_some_and(|m| m.published + m.refused == n as u64)
    })
    .await;
    let mqtt = health.mqtt.expect("mqtt health");
    assert_eq!((mqtt.published, mqtt.refused), (2000, 1000), "{mqtt:?}");
    for name in ["a", "b"] {
        let expected: Vec<f64> = (1..=n)
            .filter(|i| series(*i) == name)
            .map(|i| i as f64)
            .collect();
        assert_eq!(held_values(&server, "mix", Some(name)).await, expected);
    }
    assert!(
        mqtt.last_error.as_deref().unwrap_or("").contains("mix/c"),
        "{mqtt:?}"
    );
}

/// The broker sends its retained copy of a topic's last message again on every subscription
/// (every start, every reconnection): charted when it was published, never again.
/// And booleans chart as 1 and 0.
#[tokio::test]
async fn retained_copies_are_not_charted_again_and_booleans_are_numbers() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let url = broker.url();
    let env = [
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "kept/#"),
        ("LIVECHART_STREAMS_DECLARED", "kept"),
    ];
    // Retained before the server ever subscribed: the broker's copy only.
    broker.publish_with(&["-h", "127.0.0.1", "-r"], "kept/old", "5");
    let server = TestServer::start(&env);
    subscribed(&server, 1).await;
    // Published while subscribed: charted (the broker forwards it as a live message).
    broker.publish_with(&["-h", "127.0.0.1", "-r"], "kept/door", "true");
    broker.publish("kept/door", "FALSE");
    wait_for_health(&server, WAIT, |h| {
        h.mqtt
            .as_ref()
            .is_some_and(|m| m.published == 2 && m.retained == 1)
    })
    .await;
    assert_eq!(held_values(&server, "kept", Some("door")).await, [1.0, 0.0]);
    assert!(held_values(&server, "kept", Some("old")).await.is_empty());
    // A restart subscribes again: both retained copies come again, and neither is charted.
    drop(server);
    let server = TestServer::start(&env);
    subscribed(&server, 1).await;
    let health = wait_for_health(&server, WAIT, |h| {
        h.mqtt.as_ref().is_some_and(|m| m.retained == 2)
    })
    .await;
    assert_eq!(health.mqtt.expect("mqtt").published, 0);
    // (A new data directory each start: whatever it holds came after the restart.)
    assert!(held_values(&server, "kept", Some("door")).await.is_empty());
    assert!(metrics_text(&server)
        .await
        .contains("livechart_mqtt_messages_retained_total 2"));
}

/// Two servers given one client id take the broker's session from each other: each backs
/// off (instead of reconnecting ten times a second for ever) and says why. Without a
/// configured id, two servers get two ids.
#[tokio::test]
async fn two_servers_with_one_client_id_back_off_and_say_why() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let url = broker.url();
    let env = [
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "twice/#"),
        ("LIVECHART_MQTT_CLIENT_ID", "the-same"),
    ];
    let one = TestServer::start(&env);
    let two = TestServer::start(&env);
    tokio::time::sleep(Duration::from_secs(6)).await;
    for server in [&one, &two] {
        let health = wait_for_health(server, WAIT, |h| h.mqtt.is_some()).await;
        let mqtt = health.mqtt.expect("mqtt");
        let metrics = metrics_text(server).await;
        let connections: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("livechart_mqtt_connections_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("the connection count");
        // 100 ms doubling: at most 7 tries in 6 s (ten a second before).
        assert!(connections <= 8, "{connections} connections in 6 s");
        let said = mqtt.last_error.unwrap_or_default();
        assert!(said.contains("the client id \"the-same\""), "{said}");
    }
    drop((one, two));

    // The default ids: one each, so both stay connected.
    let env = [
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "twice/#"),
    ];
    let one = TestServer::start(&env);
    let two = TestServer::start(&env);
    subscribed(&one, 1).await;
    subscribed(&two, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for server in [&one, &two] {
        assert!(metrics_text(server)
            .await
            .contains("livechart_mqtt_connections_total 1"));
    }
}
