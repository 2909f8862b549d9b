//! The Influx line protocol, as Telegraf and the InfluxDB client libraries write it:
//!
//! ```text
//! measurement[,tag=value…] field=value[,field=value…] [timestamp]
//! ```
//!
//! Mapping (README, "Influx line protocol"): the measurement is the stream; each field is a
//! series named after it, followed by the values of the line's tags in the order of their
//! keys (`usage_idle.cpu0.web1` for `cpu,host=web1,cpu=cpu0 usage_idle=97`). Tag values are
//! data (host names, paths), so characters a series name cannot hold become `_`; measurement
//! and field keys are names, so they are refused instead. Floats, integers (`5i`), unsigned
//! integers (`5u`) and booleans (1 and 0) are values; a string field is refused.
//!
//! Every error names the line, and the body is all or nothing.

use app::model::{NewPoint, SeriesName, StreamName};
use std::fmt;

/// How the timestamps of a body are written (`precision=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// InfluxDB 2's names (`ns`, `us`, `ms`, `s`) and 1.x's (`n`, `u`, `ms`, `s`, `m`, `h`).
    pub fn parse(text: &str) -> Result<Precision, String> {
        Ok(match text {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µ" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => {
                return Err(format!(
                    "precision {text:?} is not one of ns, us, ms, s (or 1.x's n, u, m, h)"
                ))
            }
        })
    }

    /// `t` in this precision as milliseconds since the epoch (rounded down), if it fits.
    fn to_ms(self, t: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(t.div_euclid(1_000_000)),
            Precision::Microseconds => Some(t.div_euclid(1_000)),
            Precision::Milliseconds => Some(t),
            Precision::Seconds => t.checked_mul(1_000),
            Precision::Minutes => t.checked_mul(60_000),
            Precision::Hours => t.checked_mul(3_600_000),
        }
    }
}

/// One field of one line, ready to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePoint {
    pub stream: StreamName,
    pub point: NewPoint,
    /// 1-based, for errors found later (a limit of the stream it goes to).
    pub line: usize,
}

/// What is wrong with a body, and on which line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why parsing stopped: a bad line, or more points than allowed (counted to the end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    Line(LineError),
    TooMany(usize),
}

/// Parses a whole body: every point, or the first error. `now_ms` stamps lines without a
/// timestamp. At most `max_points` fields in all.
pub fn parse(
    body: &str,
    precision: Precision,
    now_ms: i64,
    max_points: usize,
) -> Result<Vec<LinePoint>, BodyError> {
    let mut points = Vec::new();
    let mut total = 0usize;
    for (i, raw) in body.split('\n').enumerate() {
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = |message: String| {
            BodyError::Line(LineError {
                line: i + 1,
                message,
            })
        };
        let line = Line::parse(trimmed).map_err(at)?;
        total += line.fields.len();
        if total > max_points {
            // Keep counting (cheaply) so that the answer says how many there were.
            continue;
        }
        let ts = match line.timestamp {
            None => now_ms,
            Some(t) => precision
                .to_ms(t)
                .ok_or_else(|| at(format!("timestamp {t} is out of range")))?,
        };
        let stream = StreamName::parse(&line.measurement).map_err(|e| {
            at(format!(
                "measurement {:?} cannot be a stream name: {e}",
                line.measurement
            ))
        })?;
        let suffix = line.tag_suffix();
        for (key, value) in line.fields {
            let name = format!("{key}{suffix}");
            let series = SeriesName::parse(&name)
                .map_err(|e| at(format!("field {key:?} gives the series {name:?}: {e}")))?;
            let point = NewPoint {
                series: Some(series),
                ts: Some(ts),
                value,
            };
            point
                .validate()
                .map_err(|e| at(format!("field {key:?}: {}: {e}", e.field())))?;
            points.push(LinePoint {
                stream: stream.clone(),
                point,
                line: i + 1,
            });
        }
    }
    if total > max_points {
        return Err(BodyError::TooMany(total));
    }
    Ok(points)
}

/// One line, unescaped.
struct Line {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, f64)>,
    timestamp: Option<i64>,
}

impl Line {
    fn parse(text: &str) -> Result<Line, String> {
        let mut cur = Scanner { text, pos: 0 };
        let measurement = cur.name(&[',', ' '])?;
        if measurement.is_empty() {
            return Err("the line has no measurement".into());
        }
        let mut tags = Vec::new();
        while cur.peek() == Some(',') {
            cur.pos += 1;
            let key = cur.name(&['=', ',', ' '])?;
            if cur.peek() != Some('=') || key.is_empty() {
                return Err(format!(
                    "tag {key:?}: expected key=value at column {}",
                    cur.pos + 1
                ));
            }
            cur.pos += 1;
            let value = cur.name(&[',', ' '])?;
            if value.is_empty() {
                return Err(format!("tag {key:?} has an empty value"));
            }
            tags.push((key, value));
        }
        if cur.peek() != Some(' ') {
            return Err("the line has no fields (expected a space, then field=value)".into());
        }
        cur.skip_spaces();
        let mut fields = Vec::new();
        loop {
            let key = cur.name(&['=', ',', ' '])?;
            if key.is_empty() || cur.peek() != Some('=') {
                return Err(if key.is_empty() && fields.is_empty() {
                    "the line has no fields (expected field=value)".to_owned()
                } else {
                    format!(
                        "field {key:?}: expected key=value at column {}",
                        cur.pos + 1
                    )
                });
            }
            cur.pos += 1;
            let value = cur.field_value(&key)?;
            fields.push((key, value));
            match cur.peek() {
                Some(',') => cur.pos += 1,
                _ => break,
            }
        }
        let timestamp = match cur.peek() {
            None => None,
            Some(_) => {
                cur.skip_spaces();
                let rest = cur.rest().trim_end();
                if rest.is_empty() {
                    None
                } else {
                    Some(parse_timestamp(rest)?)
                }
            }
        };
        Ok(Line {
            measurement,
            tags,
            fields,
            timestamp,
        })
    }

    /// `.v1.v2…`: the tag values in the order of their keys, each made a valid name part.
    fn tag_suffix(&self) -> String {
        let mut tags: Vec<&(String, String)> = self.tags.iter().collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let mut suffix = String::new();
        for (_, value) in tags {
            suffix.push('.');
            suffix.extend(value.chars().map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            }));
        }
        suffix
    }
}

fn parse_timestamp(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "timestamp {text:?} is not an integer (or there is more after the fields)"
        ));
    }
    text.parse()
        .map_err(|_| format!("timestamp {text} is out of range"))
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    /// A measurement, tag key, tag value or field key: up to the first unescaped `stops`.
    /// A backslash escapes a comma, an equals sign, a space or a backslash; before anything
    /// else it is itself (as InfluxDB reads it).
    fn name(&mut self, stops: &[char]) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            if stops.contains(&c) {
                self.pos += i;
                return Ok(out);
            }
            if c == '\\' {
                match chars.clone().next() {
                    None => {
                        return Err(format!(
                            "bad escape at column {}: a backslash ends the line",
                            self.pos + i + 1
                        ))
                    }
                    Some((_, next @ (',' | '=' | ' ' | '\\'))) => {
                        chars.next();
                        out.push(next);
                    }
                    Some(_) => out.push('\\'),
                }
                continue;
            }
            out.push(c);
        }
        self.pos = self.text.len();
        Ok(out)
    }

    /// A field's value, up to the next `,` or space.
    fn field_value(&mut self, key: &str) -> Result<f64, String> {
        if self.peek() == Some('"') {
            return Err(format!(
                "field {key:?} is a string; only numbers and booleans can be charted \
                 (drop it, e.g. with Telegraf's fieldexclude)"
            ));
        }
        let start = self.pos;
        let end = self.text[start..]
            .find([',', ' '])
            .map_or(self.text.len(), |i| start + i);
        self.pos = end;
        let text = &self.text[start..end];
        let bad = || {
            format!("field {key:?}: {text:?} is not a number, an integer (5i), an unsigned integer (5u) or a boolean")
        };
        match text {
            "" => Err(format!("field {key:?} has no value")),
            "t" | "T" | "true" | "True" | "TRUE" => Ok(1.0),
            "f" | "F" | "false" | "False" | "FALSE" => Ok(0.0),
            _ if text.ends_with('i') => text[..text.len() - 1]
                .parse::<i64>()
                .map(|v| v as f64)
                .map_err(|_| bad()),
            _ if text.ends_with('u') => text[..text.len() - 1]
                .parse::<u64>()
                .map(|v| v as f64)
                .map_err(|_| bad()),
            // Rust also reads `inf`, `NaN` and `infinity`: the protocol has none of them.
            _ if text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) =>
            {
                text.parse::<f64>().map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests;
