//! The bodies of `POST /api/streams/{name}/points`: one point or an array of points
//! (`application/json`), or one point per line (`application/x-ndjson`).
//!
//! Points are read as [`NewPoint`] by its own `Deserialize` and checked by
//! [`NewPoint::validate`]: there is no second reading of the JSON. Errors say what was wrong
//! and where: `points[3].value`, `line 7: ts`.

use crate::error::{quoted, ApiError};
use app::model::NewPoint;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::error::Category;

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

pub(crate) fn too_many(n: usize, max: usize) -> ApiError {
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
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'[') {
                points = read::<Vec<NewPoint>>(body, &|path| match path.split_once(']') {
                    // `[3].value` → `points[3].value`
                    Some((index, rest)) if path.starts_with('[') => {
                        format!("points{index}]{rest}")
                    }
                    _ => "body".to_owned(),
                })?;
                if points.len() > max_points {
                    return Err(too_many(points.len(), max_points));
                }
                places = (0..points.len()).map(|i| format!("points[{i}]")).collect();
            } else {
                points.push(read::<NewPoint>(body, &|path| format!("body.{path}"))?);
                places.push("body".to_owned());
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
                points.push(read::<NewPoint>(line, &|path| format!("{at}: {path}"))?);
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
    for (p, at) in points.iter().zip(&places) {
        p.validate().map_err(|e| {
            let field = if at.starts_with("line ") {
                format!("{at}: {}", e.field())
            } else {
                format!("{at}.{}", e.field())
            };
            invalid("invalid_point", format!("{field}: {e}"))
        })?;
    }
    Ok((points, places))
}

/// `T` from JSON text. A syntax error is `invalid_json` and says where in the text; a
/// point that is well-formed JSON but not a point is `invalid_point` and names the field
/// (`place` turns serde's path, such as `[3].value`, into the body's words).
fn read<T: serde::de::DeserializeOwned>(
    text: &[u8],
    place: &dyn Fn(&str) -> String,
) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let result = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        .and_then(|v| de.end().map(|()| v).map_err(|e| (".".to_owned(), e)));
    result.map_err(|(path, e)| {
        // Both may quote a key of any length: an answer says little of the input back.
        let path = cut(&path, 80);
        let whole = place("").trim_end_matches(['.', ':', ' ']).to_owned();
        // serde_json ends its messages with " at line L column C": the place is said once.
        let full = e.to_string();
        let msg = full
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&full);
        // Say it in the API's words rather than Rust's.
        let msg = cut(msg, 200)
            .replace(
                "expected struct NewPoint",
                "expected a point object such as {\"series\": \"temp\", \"value\": 21.5}",
            )
            .replace("expected f64", "expected a number");
        match e.classify() {
            Category::Data if path != "." => {
                invalid("invalid_point", format!("{}: {msg}", place(&path)))
            }
            Category::Data => invalid("invalid_point", format!("{whole}: {msg}")),
            // One NDJSON line is one line of text: its column says where.
            _ if whole.starts_with("line ") => invalid(
                "invalid_json",
                format!("{whole}: invalid JSON at column {}: {msg}", e.column()),
            ),
            _ => invalid(
                "invalid_json",
                format!(
                    "{whole}: invalid JSON at line {} column {}: {msg}",
                    e.line(),
                    e.column()
                ),
            ),
        }
    })
}

/// `text` cut after `n` characters, marked with `…`.
fn cut(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::MAX_TS;

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
                "points[1].value: invalid type: string \"x\", expected a number"
            )
        );
        let (k, d) = err("{\"value\":1}\n{\"value\":\n", Format::Ndjson);
        assert_eq!(k, "invalid_json");
        assert!(d.starts_with("line 2: invalid JSON at column"), "{d}");
        let (_, d) = err(r#"{"value":1,"val":2}"#, Format::Json);
        assert!(d.starts_with("body.val: unknown field `val`"), "{d}");
        let (k, d) = err(r#"[{"value":1},{"value":2,"ts":-1}]"#, Format::Json);
        assert_eq!((k.as_str(), d.as_str()), ("invalid_point", "points[1].ts: -1 is out of range (0 to 8640000000000000 milliseconds since the Unix epoch)"));
        let (_, d) = err(
            "{\"value\":1}\n{\"series\":\"a b\",\"value\":1}",
            Format::Ndjson,
        );
        assert!(d.starts_with("line 2: series: character ' '"), "{d}");
        let (_, d) = err(r#"[{"value":1},{}]"#, Format::Json);
        assert!(d.starts_with("points[1]: missing field `value`"), "{d}");
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
