use super::*;

fn ok(body: &str) -> Vec<(String, String, i64, f64)> {
    parse(body, Precision::Nanoseconds, 42, 100)
        .unwrap_or_else(|e| panic!("{body}: {e:?}"))
        .into_iter()
        .map(|p| {
            (
                p.stream.to_string(),
                p.point.series.map(|s| s.to_string()).unwrap_or_default(),
                p.point.ts.unwrap_or(-1),
                p.point.value,
            )
        })
        .collect()
}

fn err(body: &str) -> LineError {
    match parse(body, Precision::Nanoseconds, 42, 100) {
        Err(BodyError::Line(e)) => e,
        other => panic!("{body}: {other:?}"),
    }
}

fn row(stream: &str, series: &str, ts: i64, value: f64) -> (String, String, i64, f64) {
    (stream.into(), series.into(), ts, value)
}

#[test]
fn fields_tags_and_timestamps() {
    assert_eq!(
        ok("cpu,host=web1,cpu=cpu0 usage_idle=97.5,usage_user=2i 1700000000123456789"),
        [
            row("cpu", "usage_idle.cpu0.web1", 1_700_000_000_123, 97.5),
            row("cpu", "usage_user.cpu0.web1", 1_700_000_000_123, 2.0),
        ]
    );
    // Tags in any order give the same series; no timestamp means now.
    assert_eq!(
        ok("cpu,cpu=cpu0,host=web1 usage_idle=1"),
        [row("cpu", "usage_idle.cpu0.web1", 42, 1.0)]
    );
    assert_eq!(
        ok("m v=1u,up=t,down=FALSE,x=-1.5e3,y=.5"),
        [
            row("m", "v", 42, 1.0),
            row("m", "up", 42, 1.0),
            row("m", "down", 42, 0.0),
            row("m", "x", 42, -1500.0),
            row("m", "y", 42, 0.5),
        ]
    );
    // Blank lines, comments, CRLF and trailing spaces are fine.
    assert_eq!(
        ok("# hello\r\n\r\n  m v=1 5000000\r\nm v=2  6000000  \n"),
        [row("m", "v", 5, 1.0), row("m", "v", 6, 2.0)]
    );
}

#[test]
fn escapes_are_honoured() {
    // An escaped space and comma in a tag value become `_` in the series name; an escaped
    // equals sign in a tag key is part of the key (which orders the tags).
    assert_eq!(
        ok(r"disk,path=/var/my\ data,dev=sd\,a used=1"),
        [row("disk", "used.sd_a._var_my_data", 42, 1.0)]
    );
    assert_eq!(ok(r"m,a\=b=x v=1"), [row("m", "v.x", 42, 1.0)]);
    // A backslash before anything else is itself.
    assert_eq!(ok(r"m,t=a\b v=1"), [row("m", "v.a_b", 42, 1.0)]);
    let e = err(r"my\ measurement v=1");
    assert!(e.message.contains("measurement \"my measurement\""), "{e}");
    let e = err("m,t=x\\");
    assert!(e.message.contains("bad escape"), "{e}");
}

#[test]
fn precisions() {
    let at = |p: Precision, t: &str| {
        parse(&format!("m v=1 {t}"), p, 0, 10).map(|v| v[0].point.ts.unwrap_or(-1))
    };
    assert_eq!(at(Precision::Nanoseconds, "1999999"), Ok(1));
    assert_eq!(at(Precision::Microseconds, "1999"), Ok(1));
    assert_eq!(at(Precision::Milliseconds, "1999"), Ok(1999));
    assert_eq!(at(Precision::Seconds, "2"), Ok(2000));
    assert_eq!(at(Precision::Minutes, "1"), Ok(60_000));
    assert_eq!(at(Precision::Hours, "1"), Ok(3_600_000));
    for (text, p) in [
        ("ns", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("us", Precision::Microseconds),
        ("u", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
    ] {
        assert_eq!(Precision::parse(text), Ok(p));
    }
    assert!(Precision::parse("d").unwrap_err().contains("\"d\""));
}

#[test]
fn bad_lines_name_their_line() {
    for (body, line, says) in [
        ("m", 1, "no fields"),
        ("m ", 1, "no fields"),
        ("m,t=1", 1, "no fields"),
        ("ok v=1\nm s=\"on\"", 2, "is a string"),
        ("m v=abc", 1, "not a number"),
        ("m v=NaN", 1, "not a number"),
        ("m v=inf", 1, "not a number"),
        ("m v=1e400", 1, "not a finite number"),
        ("m v=", 1, "no value"),
        ("m v", 1, "expected key=value"),
        ("m v=1,", 1, "expected key=value"),
        ("m,t v=1", 1, "tag \"t\""),
        ("m,t= v=1", 1, "empty value"),
        ("m v=1 12x", 1, "not an integer"),
        ("m v=1 1 2", 1, "not an integer"),
        ("m v=1 99999999999999999999", 1, "out of range"),
        ("m v=1 -5000000", 1, "out of range"),
        (",t=1 v=1", 1, "no measurement"),
        ("a/b v=1", 1, "cannot be a stream name"),
        ("m bad/name=1", 1, "gives the series"),
        ("m v=1i5", 1, "not a number"),
        ("m v=18446744073709551616u", 1, "not a number"),
        ("\n\nm v=1\nm\n", 4, "no fields"),
    ] {
        let e = err(body);
        assert_eq!(e.line, line, "{body:?}: {e}");
        assert!(e.message.contains(says), "{body:?}: {e}");
    }
    let long = format!("m,t={} v=1", "x".repeat(70));
    assert!(err(&long).message.contains("at most 64"));
    let huge = parse("m v=1 9223372036854775807", Precision::Seconds, 0, 10);
    assert!(matches!(huge, Err(BodyError::Line(e)) if e.message.contains("out of range")));
}

#[test]
fn too_many_points_are_counted_to_the_end() {
    let body = "m a=1,b=2\nm a=1,b=2\nm a=1\n";
    assert_eq!(
        parse(body, Precision::Nanoseconds, 0, 3),
        Err(BodyError::TooMany(5))
    );
    assert_eq!(
        parse(body, Precision::Nanoseconds, 0, 5).map(|p| p.len()),
        Ok(5)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn linish() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "m",
                "cpu",
                ",",
                "=",
                " ",
                "\\",
                "\"",
                "t",
                "1",
                "-2.5e3",
                "5i",
                "7u",
                "true",
                "\n",
                "\r\n",
                "#",
                "1700000000000000000",
                "é",
                "x y",
                "9e999",
            ]),
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Any body: no panic; a success holds valid points within the bound; an error names
        /// a line of the body.
        #[test]
        fn any_body_is_parsed_or_refused_cleanly(text in prop_oneof![linish(), any::<String>()]) {
            let lines = text.split('\n').count();
            match parse(&text, Precision::Nanoseconds, 7, 6) {
                Ok(points) => {
                    prop_assert!(points.len() <= 6);
                    for p in points {
                        prop_assert!(p.point.validate().is_ok());
                        prop_assert!(p.line >= 1 && p.line <= lines);
                    }
                }
                Err(BodyError::Line(e)) => prop_assert!(e.line >= 1 && e.line <= lines),
                Err(BodyError::TooMany(n)) => prop_assert!(n > 6),
            }
        }
    }
}
