use super::*;

#[test]
fn accepts_documented_charset() {
    for ok in ["demo", "a", "robot-1.temp_C", &"x".repeat(MAX_NAME_LEN)] {
        assert_eq!(StreamName::parse(ok).unwrap().as_str(), ok);
        assert_eq!(SeriesName::parse(ok).unwrap().as_str(), ok);
    }
    assert_eq!(SeriesName::default_series().as_str(), DEFAULT_SERIES);
    assert!(SeriesName::parse(DEFAULT_SERIES).is_ok());
    for dots in [".", ".."] {
        assert_eq!(StreamName::parse(dots), Err(NameError::Dots));
    }
    assert!(StreamName::parse("...").is_ok() && StreamName::parse(".a").is_ok());
}

#[test]
fn stream_lists_are_bounded_and_checked_in_one_pass() {
    let names = |v: Vec<StreamName>| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(parse_stream_list(" a, b ,,c", 3).unwrap()),
        vec!["a", "b", "c"]
    );
    let err = |raw: &str, max| parse_stream_list(raw, max).unwrap_err();
    assert!(err("a,b,c,d", 3).contains("at most 3"));
    assert!(err("a,b,a", 3).contains("listed twice"));
    assert!(err("a,b%2Fc", 3).contains("item 2"));
    // Longer than `max` names could be: refused before any is parsed.
    assert!(err(&"x,".repeat(100_000), 32).contains("at most 32"));
    let many: Vec<String> = (0..1024).map(|i| format!("s{i}:1-{i}")).collect();
    assert_eq!(many.join(",").parse::<Positions>().unwrap().0.len(), 1024);
    let more: Vec<String> = (0..1025).map(|i| format!("s{i}:1-{i}")).collect();
    assert!(more
        .join(",")
        .parse::<Positions>()
        .unwrap_err()
        .contains("more than 1024"));
}

#[test]
fn rejects_with_position() {
    assert_eq!(StreamName::parse(""), Err(NameError::Empty));
    assert_eq!(
        StreamName::parse(&"x".repeat(MAX_NAME_LEN + 1)),
        Err(NameError::TooLong {
            len: MAX_NAME_LEN + 1
        })
    );
    assert_eq!(
        SeriesName::parse("ab/c"),
        Err(NameError::BadChar { ch: '/', index: 2 })
    );
    assert_eq!(
        StreamName::parse("é"),
        Err(NameError::BadChar { ch: 'é', index: 0 })
    );
    assert!(StreamName::parse("a b")
        .unwrap_err()
        .to_string()
        .contains("position 1"));
}

#[test]
fn point_json_shape_is_stable() {
    let p = Point {
        series: SeriesName::parse("temp").unwrap(),
        ts: 1_763_700_000_123,
        value: 21.5,
    };
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"series":"temp","ts":1763700000123,"value":21.5}"#);
    assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), p);
    let bare = NewPoint {
        series: None,
        ts: None,
        value: 1.0,
    };
    assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"value":1.0}"#);
}

#[test]
fn point_values_from_json_are_always_finite() {
    for bad in [
        r#"{"series":"a","ts":1,"value":1e400}"#,
        r#"{"series":"a","ts":1,"value":NaN}"#,
        r#"{"series":"a","ts":1,"value":null}"#,
        r#"{"series":"a b","ts":1,"value":1}"#,
    ] {
        assert!(serde_json::from_str::<Point>(bad).is_err(), "{bad}");
    }
}

#[test]
fn event_ids_round_trip_and_order() {
    let id = EventId {
        epoch: 0x19a9f3c2b41,
        seq: 17,
    };
    assert_eq!(id.to_string(), "19a9f3c2b41-17");
    assert_eq!("19a9f3c2b41-17".parse::<EventId>(), Ok(id));
    assert_eq!(serde_json::to_string(&id).unwrap(), r#""19a9f3c2b41-17""#);
    assert!(
        id < EventId {
            epoch: id.epoch,
            seq: 18
        }
    );
    for bad in [
        "", "17", "-", "x-1", "1-", "1-x", "1-+2", "1--2", "1-2-3", "1 -2",
    ] {
        let err = bad.parse::<EventId>().unwrap_err();
        assert!(err.to_string().contains("EPOCH-SEQ"), "{bad}: {err}");
    }
    assert!("1-99999999999999999999".parse::<EventId>().is_err());
}

#[test]
fn reset_reasons_are_snake_case() {
    let r = Reset {
        reason: ResetReason::TooOld,
        detail: "x".into(),
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"reason":"too_old","detail":"x"}"#
    );
    for reason in [
        ResetReason::TooOld,
        ResetReason::Restarted,
        ResetReason::UnknownId,
        ResetReason::Lagged,
    ] {
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(json, format!("\"{}\"", reason.as_str()));
    }
}

#[test]
fn names_deserialize_validated() {
    assert!(serde_json::from_str::<StreamName>(r#""ok""#).is_ok());
    assert!(serde_json::from_str::<SeriesName>(r#""no way""#).is_err());
}

#[test]
fn positions_round_trip_and_refuse_nonsense() {
    let p: Positions = "a:1f-3, b.x:1f-0".parse().unwrap();
    assert_eq!(p.to_string(), "a:1f-3,b.x:1f-0");
    assert_eq!(
        p.get(&StreamName::parse("b.x").unwrap()),
        Some(EventId {
            epoch: 0x1f,
            seq: 0
        })
    );
    assert_eq!("".parse::<Positions>(), Ok(Positions::default()));
    for (bad, says) in [
        ("a", "item 1"),
        ("a:1-1,b/c:1-1", "item 2"),
        ("a:1-x", "EPOCH-SEQ"),
        ("a:1-1,a:1-2", "twice"),
    ] {
        let err = bad.parse::<Positions>().unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
    let path = crate::paths::multiplex(&[StreamName::parse("a").unwrap()], &p);
    assert_eq!(path, "/api/events?streams=a&last_event_id=a:1f-3,b.x:1f-0");
}

#[test]
fn task_ids_are_16_hex_digits() {
    let id = TaskId(0xabc);
    assert_eq!(id.to_string(), "0000000000000abc");
    assert_eq!("0000000000000abc".parse::<TaskId>(), Ok(id));
    assert_eq!(serde_json::to_string(&id).unwrap(), r#""0000000000000abc""#);
    for bad in ["", "abc", "000000000000abcg", "00000000000000abc"] {
        assert!(bad.parse::<TaskId>().is_err(), "{bad}");
    }
    assert_eq!(
        crate::paths::task_events(id),
        "/api/tasks/0000000000000abc/events"
    );
}

#[test]
fn stream_meta_is_validated_field_by_field() {
    let ok = StreamMeta {
        title: Some("Robot arm".into()),
        unit: Some("°C".into()),
        min: Some(-10.0),
        max: Some(50.0),
        interpolation: Some(Interpolation::Step),
        gap_ms: Some(30_000),
        window: Some("1h".into()),
    };
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(ok.range(), Some((-10.0, 50.0)));
    let bad = |f: fn(&mut StreamMeta)| {
        let mut m = ok.clone();
        f(&mut m);
        m.validate().unwrap_err()
    };
    assert!(bad(|m| m.title = Some(String::new())).contains("\"title\""));
    assert!(bad(|m| m.unit = Some("x".repeat(17))).contains("\"unit\""));
    assert!(bad(|m| m.title = Some("a\nb".into())).contains("control"));
    assert!(bad(|m| m.min = Some(60.0)).contains("below"));
    assert!(bad(|m| m.max = None).contains("both"));
    assert!(serde_json::from_str::<StreamMeta>(r#"{"colour":"red"}"#).is_err());
    assert!(bad(|m| m.gap_ms = Some(0)).contains("\"gap_ms\""));
    assert!(bad(|m| m.gap_ms = Some(MAX_GAP_MS + 1)).contains("\"gap_ms\""));
    let step: StreamMeta =
        serde_json::from_str(r#"{"interpolation":"step","gap_ms":5000}"#).unwrap();
    assert_eq!(
        (step.interpolation, step.gap_ms),
        (Some(Interpolation::Step), Some(5000))
    );
    assert!(serde_json::from_str::<StreamMeta>(r#"{"interpolation":"spline"}"#).is_err());
    assert!(bad(|m| m.window = Some("5 parsecs".into())).contains("\"window\""));
    let windowed = StreamMeta {
        window: Some("5m".into()),
        ..StreamMeta::default()
    };
    assert_eq!(windowed.validate(), Ok(()));
    assert_eq!(
        windowed.window_choice(),
        Some(crate::choice::WindowChoice::Time(300_000))
    );
}
