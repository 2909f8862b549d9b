//! How an MQTT message becomes points of a stream.
//!
//! The topic's last level names the series, the levels before it (joined with `.`) the
//! stream: `robot/arm/temp` → stream `robot.arm`, series `temp`. A one-level topic is a stream
//! whose series the payload names (or its default series). A subscription with a `stream`
//! sends every message to that stream, and the levels its filter's wildcards matched name
//! the series: `home/+/temperature` on `home/kitchen/temperature` → series `kitchen`.
//! A payload that names its own series (`temp=21.5 hum=40`, a JSON point with `series`)
//! puts them under the topic's series: `robot/arm/env` with `temp=21.5` → `env.temp`.
//!
//! The payload is the text `livechart publish` reads ([`app::plain`]): a bare number,
//! `series=value` pairs, a JSON point or array of points, one or more lines of them.

use crate::config::MqttSubscription;
use app::model::{NewPoint, SeriesName, StreamName};

/// Whether `topic` matches the topic filter `filter` (`+` one level, `#` the rest).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (l, Some(t)) if l == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// The stream and points of one message, or why it cannot be read (in at most about 300
/// characters: the reason is logged and shown, and may quote the payload). `max_points`
/// bounds the points of one message, as `ingest.max-points` bounds a request.
pub fn points(
    subscriptions: &[MqttSubscription],
    topic: &str,
    payload: &[u8],
    now_ms: i64,
    max_points: usize,
) -> Result<(StreamName, Vec<NewPoint>), String> {
    read(subscriptions, topic, payload, now_ms, max_points).map_err(|e| {
        match e.char_indices().nth(300) {
            Some((cut, _)) => format!("{}… (cut)", &e[..cut]),
            None => e,
        }
    })
}

fn read(
    subscriptions: &[MqttSubscription],
    topic: &str,
    payload: &[u8],
    now_ms: i64,
    max_points: usize,
) -> Result<(StreamName, Vec<NewPoint>), String> {
    let subscription = subscriptions.iter().find(|s| matches(&s.filter, topic));
    let (stream, base) = target(topic, subscription)?;
    let text =
        std::str::from_utf8(payload).map_err(|_| "the payload is not UTF-8 text".to_owned())?;
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = app::plain::parse_line(line, None, now_ms).map_err(|e| {
            if text.lines().nth(1).is_some() {
                format!("line {}: {e}", i + 1)
            } else {
                e
            }
        })?;
        for mut p in parsed {
            p.series = match (&base, p.series.take()) {
                (Some(b), Some(s)) => Some(series(&format!("{b}.{s}"))?),
                (Some(b), None) => Some(b.clone()),
                (None, s) => s,
            };
            points.push(p);
            if points.len() > max_points {
                return Err(format!(
                    "more than {max_points} points in one message (ingest.max-points)"
                ));
            }
        }
    }
    if points.is_empty() {
        return Err("the payload holds no points".to_owned());
    }
    Ok((stream, points))
}

/// The stream a topic goes to, and the series the topic names (if any).
fn target(
    topic: &str,
    subscription: Option<&MqttSubscription>,
) -> Result<(StreamName, Option<SeriesName>), String> {
    let levels: Vec<&str> = topic.split('/').collect();
    if levels.iter().any(|l| l.is_empty()) {
        return Err(format!("the topic {topic:?} has an empty level"));
    }
    if let Some(sub) = subscription {
        if let Some(stream) = &sub.stream {
            let wild = wildcard_levels(&sub.filter, &levels).join(".");
            let base = (!wild.is_empty()).then(|| series(&wild)).transpose()?;
            return Ok((stream.clone(), base));
        }
    }
    let (stream_levels, last) = match levels.split_last() {
        Some((only, [])) => (std::slice::from_ref(only), None),
        Some((last, rest)) => (rest, Some(*last)),
        None => return Err("the topic is empty".to_owned()),
    };
    let name = stream_levels.join(".");
    let stream = StreamName::parse(&name)
        .map_err(|e| format!("the topic's levels give the stream name {name:?}: {e}"))?;
    let base = last.map(series).transpose()?;
    Ok((stream, base))
}

/// The levels of a topic that the filter's `+` and `#` matched.
fn wildcard_levels<'a>(filter: &str, levels: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (i, f) in filter.split('/').enumerate() {
        match f {
            "+" => out.extend(levels.get(i).copied()),
            "#" => {
                out.extend(levels.iter().skip(i).copied());
                break;
            }
            _ => {}
        }
    }
    out
}

fn series(name: &str) -> Result<SeriesName, String> {
    SeriesName::parse(name).map_err(|e| format!("series {name:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(filter: &str, stream: Option<&str>) -> MqttSubscription {
        MqttSubscription {
            filter: filter.into(),
            stream: stream.map(|s| StreamName::parse(s).unwrap()),
        }
    }

    fn read(topic: &str, payload: &str) -> Result<(String, Vec<(String, f64)>), String> {
        let subs = [
            sub("fixed/#", Some("all")),
            sub("home/+/temperature", Some("home")),
            sub("exact/topic", Some("exact")),
            sub("#", None),
        ];
        points(&subs, topic, payload.as_bytes(), 9, 4).map(|(stream, points)| {
            let points = points
                .into_iter()
                .map(|p| {
                    assert_eq!(p.ts, Some(9));
                    (p.series.map(|s| s.to_string()).unwrap_or_default(), p.value)
                })
                .collect();
            (stream.to_string(), points)
        })
    }

    fn row(series: &str, value: f64) -> (String, f64) {
        (series.into(), value)
    }

    #[test]
    fn filters_match_as_mqtt_says() {
        for (filter, topic, yes) in [
            ("a/#", "a/b/c", true),
            ("a/#", "a", true),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a/b/d", false),
            ("a/+", "a/b/c", false),
            ("a/b", "a/b", true),
            ("a/b", "a/bc", false),
            ("+", "a", true),
            ("#", "a/b", true),
        ] {
            assert_eq!(matches(filter, topic), yes, "{filter} {topic}");
        }
    }

    #[test]
    fn topics_and_payloads_become_streams_and_series() {
        assert_eq!(
            read("robot/arm/temp", "21.5"),
            Ok(("robot.arm".into(), vec![row("temp", 21.5)]))
        );
        assert_eq!(
            read("robot/arm/env", "temp=21.5 hum=40"),
            Ok((
                "robot.arm".into(),
                vec![row("env.temp", 21.5), row("env.hum", 40.0)]
            ))
        );
        assert_eq!(
            read("lab", r#"[{"series":"a","value":1},{"value":2}]"#),
            Ok(("lab".into(), vec![row("a", 1.0), row("", 2.0)]))
        );
        assert_eq!(
            read("fixed/x/temp", "1\n2\n"),
            Ok(("all".into(), vec![row("x.temp", 1.0), row("x.temp", 2.0)]))
        );
        assert_eq!(
            read("home/kitchen/temperature", "21"),
            Ok(("home".into(), vec![row("kitchen", 21.0)]))
        );
        assert_eq!(
            read("exact/topic", "a=1"),
            Ok(("exact".into(), vec![row("a", 1.0)]))
        );
    }

    #[test]
    fn unreadable_messages_say_why() {
        for (topic, payload, says) in [
            ("a/b", "abc", "not a finite number"),
            ("a/b", "", "no points"),
            ("a/b", "1\nx=", "line 2"),
            ("a b/c", "1", "stream name"),
            ("a//c", "1", "empty level"),
            ("/a", "1", "empty level"),
            ("a/b c", "1", "series \"b c\""),
            ("a/b", "1\n2\n3\n4\n5", "more than 4 points"),
            ("a/b", r#"{"value":1,"ts":-1}"#, "out of range"),
        ] {
            let e = read(topic, payload).unwrap_err();
            assert!(e.contains(says), "{topic} {payload:?}: {e}");
        }
        let long = format!("x{}", "9".repeat(100_000));
        let e = read("a/b", &long).unwrap_err();
        assert!(e.len() < 400 && e.ends_with("(cut)"), "{} bytes", e.len());
        let subs = [sub("#", None)];
        assert!(points(&subs, "a/b", &[0xff, 0xfe], 0, 4)
            .unwrap_err()
            .contains("UTF-8"));
    }
}
