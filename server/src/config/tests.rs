use super::*;

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(parse_settings("").unwrap(), Settings::default());
    assert!(Settings::default().validate().is_ok());
}

#[test]
fn the_shipped_file_parses_and_validates() {
    let text = include_str!("../../../Leptos.toml");
    let settings = parse_settings(text).unwrap();
    settings.validate().unwrap();
    let leptos = leptos::config::get_config_from_str(text).unwrap();
    assert_eq!(&*leptos.output_name, "livechart");
}

#[test]
fn unknown_keys_and_wrong_types_are_named() {
    let err = parse_settings("[livechart.demo]\ninterval = 5\n").unwrap_err();
    assert!(err.contains("unknown field `interval`"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    let err = parse_settings("[livechart.sse]\nretry-ms = \"soon\"\n").unwrap_err();
    assert!(err.contains("retry-ms"), "{err}");
    let err = parse_settings("[livechart.demo]\nstream = \"a b\"\n").unwrap_err();
    assert!(err.contains("not allowed"), "{err}");
}

#[test]
fn validation_lists_every_problem() {
    let mut s = Settings::default();
    s.demo.interval_ms = 0;
    s.demo.max = -1.0;
    s.sse.keep_alive_ms = 5;
    let problems = s.validate().unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("livechart.demo.interval-ms = 0"));
}

#[test]
fn tokens_are_checked_and_never_printed() {
    let mut s = Settings::default();
    s.auth.publish_token = Secret::new("short");
    let problems = s.validate().unwrap_err();
    assert_eq!(
        problems,
        ["livechart.auth.publish-token: must be 16 to 512 characters long"]
    );
    s.auth.publish_token = Secret::new("a-long-enough-token-1234");
    assert!(s.validate().is_ok());
    assert!(s.auth.publish_token.matches("a-long-enough-token-1234"));
    assert!(!s.auth.publish_token.matches("a-long-enough-token-1235"));
    assert!(!s.auth.publish_token.matches(""));
    assert!(!format!("{s:?}").contains("a-long-enough"));
    let err = apply_env(&mut s, |k| {
        (k == "LIVECHART_STREAMS_MAX").then(|| "lots".to_owned())
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("LIVECHART_STREAMS_MAX=\"lots\""),
        "{err}"
    );
    let err = apply_env(&mut s, |k| match k {
        "LIVECHART_AUTH_VIEW_TOKEN" => Some("x".repeat(20)),
        "LIVECHART_STREAMS_DECLARED" => Some("ok, bad name".to_owned()),
        _ => None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("\"bad name\""), "{err}");
    assert!(
        !s.auth.view_token.is_set(),
        "nothing applied after an error"
    );
}

#[test]
fn env_overrides_apply_all_or_nothing() {
    let mut s = Settings::default();
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    apply_env(
        &mut s,
        env(&[
            ("LIVECHART_DEMO_INTERVAL_MS", "50"),
            ("LIVECHART_DEMO_ENABLED", "off"),
        ]),
    )
    .unwrap();
    assert_eq!(s.demo.interval_ms, 50);
    assert!(!s.demo.enabled);

    let before = s.clone();
    let err = apply_env(
        &mut s,
        env(&[
            ("LIVECHART_SSE_RETRY_MS", "300"),
            ("LIVECHART_SSE_KEEP_ALIVE_MS", "often"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("LIVECHART_SSE_KEEP_ALIVE_MS=\"often\""),
        "{err}"
    );
    assert_eq!(s, before, "a failed override must change nothing");
}

#[test]
fn a_bad_value_names_the_variable_that_set_it() {
    let applied = ["LIVECHART_MQTT_URL", "LIVECHART_MQTT_TOPICS"];
    assert_eq!(
        super::env::name_the_source("livechart.mqtt.url = \"x\": bad".into(), &applied),
        "livechart.mqtt.url = \"x\": bad (set by the environment variable LIVECHART_MQTT_URL)"
    );
    assert!(
        super::env::name_the_source("livechart.mqtt.subscribe: none".into(), &applied)
            .ends_with("LIVECHART_MQTT_TOPICS)")
    );
    assert_eq!(
        super::env::name_the_source("livechart.streams.max = 0: bad".into(), &applied),
        "livechart.streams.max = 0: bad",
        "from the file"
    );
}

#[test]
fn allowed_hosts_are_host_names_or_addresses() {
    for ok in ["a.example", ".lan", "[::1]", "10.0.0.1"] {
        assert!(super::validate::check_allowed_host(ok).is_ok(), "{ok}");
    }
    for bad in ["", "*", "a.example:80", "http://a", "[zz]"] {
        assert!(super::validate::check_allowed_host(bad).is_err(), "{bad}");
    }
}
