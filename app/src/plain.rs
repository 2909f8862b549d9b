//! Points as plain text, one line at a time: what `livechart publish` reads from a pipe and
//! what an MQTT message may carry.
//!
//! A line is a bare number (`21.5`, or a boolean: `true` 1, `false` 0), one or more
//! `series=value` pairs (`temp=21.5 hum=40`),
//! a JSON point (`{"series": "temp", "value": 21.5}`) or a JSON array of points. Every point
//! is checked by [`NewPoint::validate`].

use crate::model::{NewPoint, SeriesName};

/// Parses one input line into points (none for a blank line or a `#` comment).
pub fn parse_line(
    line: &str,
    series: Option<&SeriesName>,
    now_ms: i64,
) -> Result<Vec<NewPoint>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Vec::new());
    }
    if line.starts_with('{') || line.starts_with('[') {
        let mut points: Vec<NewPoint> = if line.starts_with('{') {
            serde_json::from_str(line).map(|p| vec![p])
        } else {
            serde_json::from_str(line)
        }
        .map_err(|e| format!("not a JSON point: {e}"))?;
        for p in &mut points {
            p.ts.get_or_insert(now_ms);
            p.validate().map_err(|e| format!("{}: {e}", e.field()))?;
        }
        return Ok(points);
    }
    let number = |text: &str| -> Result<f64, String> {
        // Booleans chart as 1 and 0, as in the line protocol.
        let value = match text {
            "true" | "True" | "TRUE" => 1.0,
            "false" | "False" | "FALSE" => 0.0,
            _ => text
                .parse::<f64>()
                .map_err(|_| format!("{text:?} is not a finite number"))?,
        };
        let point = NewPoint {
            series: None,
            ts: Some(now_ms),
            value,
        };
        point.validate().map_err(|e| format!("{text:?}: {e}"))?;
        Ok(value)
    };
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    if let [single] = tokens.as_slice() {
        if !single.contains('=') {
            return Ok(vec![NewPoint {
                series: series.cloned(),
                ts: Some(now_ms),
                value: number(single)?,
            }]);
        }
    }
    tokens
        .iter()
        .map(|t| {
            let (name, value) = t.split_once('=').ok_or_else(|| {
                format!("{t:?}: expected a number, series=value pairs, or a JSON point")
            })?;
            let name = SeriesName::parse(name).map_err(|e| format!("series {name:?}: {e}"))?;
            Ok(NewPoint {
                series: Some(name),
                ts: Some(now_ms),
                value: number(value)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> SeriesName {
        SeriesName::parse(name).unwrap()
    }

    #[test]
    fn lines_of_every_form() {
        let p = parse_line(" 21.5 ", None, 7).unwrap();
        assert_eq!(
            p,
            vec![NewPoint {
                series: None,
                ts: Some(7),
                value: 21.5
            }]
        );
        let p = parse_line("3", Some(&s("temp")), 7).unwrap();
        assert_eq!(p[0].series, Some(s("temp")));
        let p = parse_line("temp=21.5 hum=40,co2=400", None, 7).unwrap();
        let names: Vec<_> = p.iter().map(|p| p.series.clone().unwrap()).collect();
        assert_eq!(names, [s("temp"), s("hum"), s("co2")]);
        let p = parse_line(r#"{"series":"a","value":1,"ts":5}"#, None, 7).unwrap();
        assert_eq!(p[0].ts, Some(5));
        let p = parse_line("true", None, 7).unwrap();
        assert_eq!(p[0].value, 1.0);
        let p = parse_line("on=FALSE off=True", None, 7).unwrap();
        assert_eq!((p[0].value, p[1].value), (0.0, 1.0));
        let p = parse_line(r#"{"value":1}"#, None, 7).unwrap();
        assert_eq!(p[0].ts, Some(7), "stamped when read");
        assert!(parse_line("", None, 0).unwrap().is_empty());
        assert!(parse_line("# header", None, 0).unwrap().is_empty());
        let p = parse_line(r#"[{"series":"a","value":1},{"value":2,"ts":3}]"#, None, 7).unwrap();
        assert_eq!((p.len(), p[0].ts, p[1].ts), (2, Some(7), Some(3)));
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, says) in [
            ("abc", "not a finite number"),
            ("NaN", "not a finite number"),
            ("inf", "not a finite number"),
            ("1 2", "series=value"),
            ("a b=1", "series=value"),
            ("bad name=1", "series=value"),
            ("t@=1", "series \"t@\""),
            ("t=x", "not a finite number"),
            (r#"{"value":"1"}"#, "not a JSON point"),
            (r#"{"value":1,"extra":2}"#, "not a JSON point"),
            (r#"{"value":1,"ts":-5}"#, "ts: -5 is out of range"),
            (
                r#"[{"value":1},{"value":2,"ts":1.5}]"#,
                "not a whole number",
            ),
            ("1e400", "not a finite number"),
        ] {
            let err = parse_line(line, None, 0).unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }
}
