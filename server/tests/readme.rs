//! The README's examples run as written: every shell block marked `<!-- example -->` runs, in
//! order, against a fresh server (and a real mosquitto for the MQTT one). Only the address
//! (`http://127.0.0.1:3000`, the broker's port) and the binary's path are replaced; `curl`
//! fails on an HTTP error, so an example the server refuses fails here.

mod common;

use common::mosquitto::Mosquitto;
use common::{workspace_root, TempDir, TestServer};
use std::time::Duration;

/// The marked blocks, in order.
fn examples(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- example -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence, "```sh",
            "an example is a ```sh block, right after its marker"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

#[tokio::test]
async fn every_example_in_the_readme_runs_as_written() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let blocks = examples(&readme);
    assert!(blocks.len() >= 5, "{} examples found", blocks.len());
    let url = broker.url();
    let server = TestServer::start(&[
        ("LIVECHART_MQTT_URL", url.as_str()),
        ("LIVECHART_MQTT_TOPICS", "robot/#,lab/#"),
    ]);
    common::wait_for_health(&server, Duration::from_secs(10), |h| {
        h.mqtt.as_ref().is_some_and(|m| m.subscribed == 2)
    })
    .await;
    let dir = TempDir::new("readme");
    let prelude = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --fail-with-body --silent --show-error --max-time 3 \"$@\"; }}\n\
         mosquitto_pub() {{ command mosquitto_pub -h 127.0.0.1 -p {} -q 1 \"$@\"; }}\n",
        broker.port
    );
    for (i, block) in blocks.iter().enumerate() {
        let script = block
            .replace("http://127.0.0.1:3000", &server.base)
            .replace("target/release/livechart", env!("CARGO_BIN_EXE_livechart"));
        let out = tokio::process::Command::new("bash")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .await
            .expect("run bash");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        // An event stream follows until it is stopped: here, by curl's --max-time (28).
        let follows = script.contains("curl -N");
        let ok = if follows {
            out.status.code() == Some(28) && stdout.contains("event: snapshot")
        } else {
            out.status.success()
        };
        assert!(
            ok,
            "example {} failed ({}):\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            i + 1,
            out.status
        );
    }
    // What they did is there.
    let robot: app::model::StreamInfo = reqwest::get(server.url("/api/streams/robot"))
        .await
        .expect("GET /api/streams/robot")
        .json()
        .await
        .expect("stream JSON");
    let series: Vec<&str> = robot.series.iter().map(|s| s.as_str()).collect();
    for name in ["temp", "hum", "load.left", "temp.left"] {
        assert!(series.contains(&name), "{name} in {series:?}");
    }
    let csv = std::fs::read_to_string(dir.path().join("robot.csv")).expect("robot.csv");
    assert!(csv.starts_with("series,ts,value\n"), "{csv}");
    common::wait_for_health(&server, Duration::from_secs(10), |h| {
        h.mqtt.as_ref().is_some_and(|m| m.published == 3)
    })
    .await;
}
