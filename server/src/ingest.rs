//! `POST /api/streams/{name}/points`: one point, an array of points (`application/json`) or
//! one point per line (`application/x-ndjson`).
//!
//! The whole body is read (within the size limit) and every point validated before the hub
//! sees any of them: a batch is published as one event, or not at all. Errors say what was
//! wrong and where: `points[3].value`, `line 7`.

use crate::api::{quoted, stream_name, ApiError};
use crate::config::ConnectionSettings;
use crate::{auth, AppState};
use app::model::{now_ms, NewPoint, PublishReceipt, SeriesName, MAX_TS};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// How the body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One point object, or an array of them.
    Json,
    /// One point object per line; blank lines are skipped.
    Ndjson,
}

const ACCEPTED: &str = "send application/json (one point or an array of points) or \
                        application/x-ndjson (one point per line)";

/// The body's format, from `Content-Type` (parameters such as `charset` are ignored).
pub fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let unsupported = |detail: String| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(format!("no Content-Type: {ACCEPTED}")));
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Format::Ndjson),
        _ => Err(unsupported(format!(
            "Content-Type {} is not accepted: {ACCEPTED}",
            quoted(value.to_str().unwrap_or("(not text)"))
        ))),
    }
}

fn invalid(kind: &'static str, detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, kind, detail)
}

fn too_many(n: usize, max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_points",
        format!("{n} points in one request; at most {max} are accepted (split the batch)"),
    )
}

/// Parses and validates a whole body. Returns the points and, for each, where it was in the
/// body (for errors found later, such as an ambiguous series).
pub fn parse(
    body: &[u8],
    format: Format,
    max_points: usize,
) -> Result<(Vec<NewPoint>, Vec<String>), ApiError> {
    let mut points = Vec::new();
    let mut places = Vec::new();
    match format {
        Format::Json => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| invalid("invalid_json", format!("body: invalid JSON: {e}")))?;
            match value {
                Value::Array(items) => {
                    if items.len() > max_points {
                        return Err(too_many(items.len(), max_points));
                    }
                    for (i, item) in items.into_iter().enumerate() {
                        let at = format!("points[{i}]");
                        points.push(point(item, &at)?);
                        places.push(at);
                    }
                }
                other => {
                    points.push(point(other, "body")?);
                    places.push("body".to_owned());
                }
            }
        }
        Format::Ndjson => {
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if points.len() == max_points {
                    let total = points.len()
                        + body
                            .split(|&b| b == b'\n')
                            .skip(i)
                            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                            .count();
                    return Err(too_many(total, max_points));
                }
                let at = format!("line {}", i + 1);
                let value: Value = serde_json::from_slice(line).map_err(|e| {
                    let full = e.to_string();
                    let msg = full
                        .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
                        .unwrap_or(&full);
                    invalid(
                        "invalid_json",
                        format!("{at}: invalid JSON at column {}: {msg}", e.column()),
                    )
                })?;
                points.push(point(value, &at)?);
                places.push(at);
            }
        }
    }
    if points.is_empty() {
        return Err(invalid(
            "no_points",
            "the body holds no points: send at least one, e.g. {\"value\": 21.5}".to_owned(),
        ));
    }
    Ok((points, places))
}

/// `points[1].value`, `body.value`, `line 3: value`.
fn field(at: &str, name: &str) -> String {
    if at.starts_with("line ") {
        format!("{at}: {name}")
    } else {
        format!("{at}.{name}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One point from its JSON, checked field by field.
fn point(value: Value, at: &str) -> Result<NewPoint, ApiError> {
    let bad = |detail: String| invalid("invalid_point", detail);
    let Value::Object(map) = value else {
        return Err(bad(format!(
            "{at}: expected a point object like {{\"series\": \"temp\", \"value\": 21.5}}, got {}",
            kind(&value)
        )));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "series" | "ts" | "value"))
    {
        return Err(bad(format!(
            "{at}: unknown field {} (a point has \"series\", \"ts\" and \"value\")",
            quoted(k)
        )));
    }
    let value = match map.get("value") {
        None | Some(Value::Null) => {
            return Err(bad(format!(
                "{}: missing (every point needs a number)",
                field(at, "value")
            )))
        }
        // serde_json only produces finite numbers (it refuses NaN, Infinity and 1e400).
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
            bad(format!(
                "{}: {n} is not a finite number",
                field(at, "value")
            ))
        })?,
        Some(other) => {
            return Err(bad(format!(
                "{}: expected a number, got {}",
                field(at, "value"),
                kind(other)
            )))
        }
    };
    Ok(NewPoint {
        series: series(&map, at)?,
        ts: ts(&map, at)?,
        value,
    })
}

fn series(map: &Map<String, Value>, at: &str) -> Result<Option<SeriesName>, ApiError> {
    match map.get("series") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => SeriesName::parse(s).map(Some).map_err(|e| {
            invalid(
                "invalid_point",
                format!("{}: series name {}: {e}", field(at, "series"), quoted(s)),
            )
        }),
        Some(other) => Err(invalid(
            "invalid_point",
            format!(
                "{}: expected a string, got {}",
                field(at, "series"),
                kind(other)
            ),
        )),
    }
}

fn ts(map: &Map<String, Value>, at: &str) -> Result<Option<i64>, ApiError> {
    let bad = |detail: String| invalid("invalid_point", format!("{}: {detail}", field(at, "ts")));
    match map.get("ts") {
        None | Some(Value::Null) => Ok(None),
        // Integral numbers written as floats (`1.0`, `1e3`) are whole numbers too.
        Some(Value::Number(n)) => match n.as_i64().or_else(|| whole(n.as_f64()?)) {
            Some(ts) if (0..=MAX_TS).contains(&ts) => Ok(Some(ts)),
            Some(_) => Err(bad(format!(
                "{n} is out of range (0 to {MAX_TS} milliseconds since the Unix epoch)"
            ))),
            None if n.as_f64().is_some_and(|f| f.fract() == 0.0) => Err(bad(format!(
                "{n} is out of range (0 to {MAX_TS} milliseconds since the Unix epoch)"
            ))),
            None => Err(bad(format!(
                "{n} is not a whole number of milliseconds since the Unix epoch"
            ))),
        },
        Some(other) => Err(bad(format!(
            "expected milliseconds since the Unix epoch as a number, got {}",
            kind(other)
        ))),
    }
}

/// `f` as an `i64` when it is a whole number that fits.
fn whole(f: f64) -> Option<i64> {
    // 2^63 itself does not fit; everything below it that is whole does, exactly.
    (f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
        .then_some(f as i64)
}

/// Reads the body, refusing more than `limit` bytes with 413, and a body that arrives too
/// slowly with 408: it gets `body-timeout-ms`, plus a second per `min-body-rate` bytes
/// received, so a client trickling bytes cannot hold the connection for ever.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pace: &ConnectionSettings,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than the {limit} bytes accepted (split the batch)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let start = Instant::now();
    let grace = Duration::from_millis(pace.body_timeout_ms);
    let rate = pace.min_body_rate.max(1) as f64;
    let mut body = Limited::new(body, limit);
    let mut out = BytesMut::new();
    loop {
        let earned = Duration::from_secs_f64(out.len() as f64 / rate);
        let frame = match timeout_at(start + grace + earned, body.frame()).await {
            Ok(frame) => frame,
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_too_slow",
                    format!(
                        "the body came slower than {} bytes per second after the first {} ms \
                         ({} bytes in {} ms)",
                        pace.min_body_rate,
                        pace.body_timeout_ms,
                        out.len(),
                        start.elapsed().as_millis()
                    ),
                )
                .with_header(header::CONNECTION, HeaderValue::from_static("close")))
            }
        };
        match frame {
            None => return Ok(out.freeze()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Some(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(too_large())
            }
            Some(Err(e)) => {
                return Err(invalid(
                    "body_unreadable",
                    format!("the body could not be read: {e}"),
                ))
            }
        }
    }
}

/// `POST /api/streams/{name}/points`.
pub async fn publish_points(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PublishReceipt>, ApiError> {
    let settings = &state.settings;
    auth::require_publish(&settings.auth.publish_token, &headers)?;
    let name = stream_name(path)?;
    let format = format(&headers)?;
    let bytes = read_body(
        &headers,
        body,
        settings.ingest.max_body_bytes,
        &settings.connections,
    )
    .await?;
    let (points, places) = parse(&bytes, format, settings.ingest.max_points)?;
    let id = state
        .hub
        .publish(&name, &points, settings.streams.auto_create, now_ms())
        .await
        .map_err(|e| {
            let place = e.index().and_then(|i| places.get(i));
            crate::api::publish_error(&e, &name, place.map(|p| p.as_str()))
        })?;
    tracing::debug!(stream = %name, %id, points = points.len(), "published");
    Ok(Json(PublishReceipt {
        id,
        points: points.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str, format: Format) -> (String, String) {
        let e = parse(body.as_bytes(), format, 3).unwrap_err();
        (e.kind.to_owned(), e.detail)
    }

    #[test]
    fn json_single_array_and_ndjson() {
        let (p, at) = parse(br#"{"value": 1}"#, Format::Json, 3).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(at, ["body"]);
        let (p, at) = parse(
            br#"[{"series":"a","ts":5,"value":1.5},{"value":-2}]"#,
            Format::Json,
            3,
        )
        .unwrap();
        assert_eq!(p[0].series.as_ref().unwrap().as_str(), "a");
        assert_eq!((p[0].ts, p[1].ts, p[1].value), (Some(5), None, -2.0));
        assert_eq!(at, ["points[0]", "points[1]"]);
        let (p, at) = parse(b"{\"value\":1}\r\n\n  \n{\"value\":2}\n", Format::Ndjson, 3).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(at, ["line 1", "line 4"]);
    }

    #[test]
    fn errors_say_where() {
        let (k, d) = err(r#"[{"value":1},{"value":"x"}]"#, Format::Json);
        assert_eq!(
            (k.as_str(), d.as_str()),
            (
                "invalid_point",
                "points[1].value: expected a number, got a string"
            )
        );
        let (k, d) = err("{\"value\":1}\n{\"value\":\n", Format::Ndjson);
        assert_eq!(k, "invalid_json");
        assert!(d.starts_with("line 2: invalid JSON at column"), "{d}");
        let (_, d) = err(r#"{"value":1,"val":2}"#, Format::Json);
        assert!(d.contains("unknown field \"val\""), "{d}");
        let (_, d) = err(r#"{"value":1,"ts":1.5}"#, Format::Json);
        assert!(d.starts_with("body.ts: 1.5 is not a whole number"), "{d}");
        let (k, d) = err(
            "[{\"value\":1},{\"value\":1},{\"value\":1},{\"value\":1}]",
            Format::Json,
        );
        assert_eq!(k, "too_many_points");
        assert!(d.starts_with("4 points"), "{d}");
        let (k, d) = err(
            "{\"value\":1}\n{\"value\":1}\n{\"value\":1}\n\n{\"value\":1}\n{\"value\":1}",
            Format::Ndjson,
        );
        assert_eq!(k, "too_many_points");
        assert!(d.starts_with("5 points"), "{d}");
        assert_eq!(err("[]", Format::Json).0, "no_points");
        assert_eq!(err("\n\n", Format::Ndjson).0, "no_points");
    }

    #[test]
    fn whole_timestamps_may_be_written_as_floats() {
        let ts = |body: &str| parse(body.as_bytes(), Format::Json, 3).map(|(p, _)| p[0].ts);
        assert_eq!(ts(r#"{"value":1,"ts":1.0}"#).unwrap(), Some(1));
        assert_eq!(ts(r#"{"value":1,"ts":1e3}"#).unwrap(), Some(1000));
        assert_eq!(ts(r#"{"value":1,"ts":0.0}"#).unwrap(), Some(0));
        for (bad, says) in [
            (r#"{"value":1,"ts":1.5}"#, "not a whole number"),
            (r#"{"value":1,"ts":1e300}"#, "out of range"),
            (r#"{"value":1,"ts":18446744073709551615}"#, "out of range"),
            (r#"{"value":1,"ts":-1e3}"#, "out of range"),
        ] {
            let e = ts(bad).unwrap_err();
            assert!(e.detail.contains(says), "{bad}: {}", e.detail);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// JSON-ish text: the characters points are made of, in any order.
        fn jsonish() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop::sample::select(vec![
                    "{",
                    "}",
                    "[",
                    "]",
                    ",",
                    ":",
                    "\"value\"",
                    "\"ts\"",
                    "\"series\"",
                    "1",
                    "-2.5e3",
                    "1e400",
                    "null",
                    "true",
                    "\"a\"",
                    "\"a b\"",
                    "\n",
                    " ",
                    "\r\n",
                    "\"x\"",
                    "9007199254740993",
                    "0.0",
                ]),
                0..60,
            )
            .prop_map(|parts| parts.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Any body: no panic; a success holds 1 to `max` points with finite values and
            /// timestamps in range; an error says what is wrong in a bounded message.
            #[test]
            fn any_body_is_parsed_or_refused_cleanly(
                text in prop_oneof![jsonish(), any::<String>()],
                ndjson in any::<bool>(),
            ) {
                let format = if ndjson { Format::Ndjson } else { Format::Json };
                match parse(text.as_bytes(), format, 5) {
                    Ok((points, places)) => {
                        prop_assert!((1..=5).contains(&points.len()));
                        prop_assert_eq!(points.len(), places.len());
                        for p in points {
                            prop_assert!(p.value.is_finite());
                            prop_assert!(p.ts.is_none_or(|t| (0..=MAX_TS).contains(&t)));
                        }
                    }
                    Err(e) => prop_assert!(!e.detail.is_empty() && e.detail.chars().count() < 600),
                }
            }
        }
    }
}
