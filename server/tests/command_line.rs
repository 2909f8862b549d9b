//! The binary as a user given only the binary meets it: flags after the subcommand, the
//! address on the command line, a configuration file of `[livechart.*]` tables only, a log
//! that is plain text when it is not a terminal, `--help`, and a bad value named with its
//! true source.

mod common;

use common::{run_to_exit, TempDir, TestServer};

#[tokio::test]
async fn flags_after_the_subcommand_a_port_and_a_file_of_livechart_tables_only() {
    let dir = TempDir::new("cli");
    // What the README's examples give a user: no Leptos section at all.
    std::fs::write(
        dir.path().join("mine.toml"),
        "[livechart.demo]\nenabled = false\n\n[livechart.streams]\ndeclared = [\"mine\"]\n",
    )
    .unwrap();
    let data = dir.path().join("history");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = dir.path().join("server.log");
    let server = TestServer::start_with_args(
        &[
            "serve",
            "--config",
            "mine.toml",
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            &port.to_string(),
        ],
        &[("RUST_LOG", "info")],
        dir.path(),
        &log,
    );
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"), "--port");
    let streams: Vec<app::model::StreamInfo> = reqwest::get(server.url("/api/streams"))
        .await
        .expect("GET /api/streams")
        .json()
        .await
        .expect("JSON");
    let names: Vec<String> = streams.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["mine"], "the file's tables, not the defaults");
    assert!(data.join("history.sqlite3").exists(), "--data-dir");
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
}

#[test]
fn help_names_the_address_and_the_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livechart"))
        .arg("--help")
        .output()
        .expect("run livechart --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for says in [
        "--addr",
        "--port",
        "LEPTOS_SITE_ADDR",
        "LIVECHART_MQTT_URL",
        "--data-dir",
    ] {
        assert!(help.contains(says), "{says} missing from:\n{help}");
    }
}

#[test]
fn a_bad_value_from_the_environment_is_named_as_such() {
    let (code, stderr) = run_to_exit(&[], &[("LIVECHART_STREAMS_MAX", "0")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("livechart.streams.max")
            && stderr.contains("set by the environment variable LIVECHART_STREAMS_MAX"),
        "{stderr}"
    );
}
