//! Request parsing shared by the handlers: the stream name in the path, resume positions,
//! query strings and bodies (size, pace, `Content-Encoding`). Each failure is an [`ApiError`]
//! that says what was wrong and where.

use crate::config::ConnectionSettings;
use crate::error::{quoted, ApiError};
use app::model::StreamName;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

pub fn stream_name(path: Result<Path<String>, PathRejection>) -> Result<StreamName, ApiError> {
    let Path(raw) =
        path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))?;
    StreamName::parse(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_stream_name",
            format!("stream name {} in the URL: {e}", quoted(&raw)),
        )
    })
}

/// Where a connection resumes: the `Last-Event-ID` header (sent by a reconnecting
/// `EventSource`) wins over `?last_event_id=` (set by a page that rendered a window). An empty
/// value (what a browser sends before it has seen any id) is none.
pub fn resume_from<T>(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    expected: &str,
) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let bad = |source: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_last_event_id",
            format!("{source}: {e}{expected}"),
        )
    };
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| bad("Last-Event-ID header", &"not visible ASCII"))
        })
        .transpose()?
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if let Some(text) = header {
        return text
            .parse()
            .map(Some)
            .map_err(|e| bad("Last-Event-ID header", &e));
    }
    match query.get("last_event_id").map(|v| v.trim()) {
        Some(v) if !v.is_empty() => v.parse().map(Some).map_err(|e| bad("last_event_id", &e)),
        _ => Ok(None),
    }
}

pub fn query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// A JSON request body as `T`; an empty body is `None`. Errors say where in the body.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pace: &ConnectionSettings,
) -> Result<Option<T>, ApiError> {
    let bytes = read_body(headers, body, limit, pace).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ));
    }
    let invalid = |detail: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", detail);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        match at.as_str() {
            "." => invalid(format!("body: {}", e.inner())),
            _ => invalid(format!("body, field {at}: {}", e.inner())),
        }
    })?;
    de.end().map_err(|e| invalid(format!("body: {e}")))?;
    Ok(Some(value))
}

/// How a request body is encoded (`Content-Encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContentEncoding {
    Identity,
    /// What Telegraf and the InfluxDB client libraries send by default.
    Gzip,
}

fn encoding(headers: &HeaderMap) -> Result<ContentEncoding, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(ContentEncoding::Identity);
    };
    match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
        Ok(v) if v.is_empty() || v == "identity" => Ok(ContentEncoding::Identity),
        Ok(v) if v == "gzip" || v == "x-gzip" => Ok(ContentEncoding::Gzip),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            format!(
                "Content-Encoding {} is not accepted: send gzip, or no encoding",
                quoted(value.to_str().unwrap_or("(not text)"))
            ),
        )),
    }
}

/// Reads the body and undoes its `Content-Encoding`, refusing more than `limit` bytes (before
/// and after decompression) with 413, and a body that arrives too slowly with 408: it gets
/// `body-timeout-ms`, plus a second per `min-body-rate` bytes received, so a client trickling
/// bytes cannot hold the connection for ever.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pace: &ConnectionSettings,
) -> Result<Bytes, ApiError> {
    let encoding = encoding(headers)?;
    let raw = read_raw(headers, body, limit, pace).await?;
    match encoding {
        ContentEncoding::Identity => Ok(raw),
        ContentEncoding::Gzip => gunzip(&raw, limit),
    }
}

/// A gzip body, decompressed to at most `limit` bytes.
fn gunzip(raw: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    use std::io::Read;
    let mut out = Vec::new();
    // One byte more than allowed tells "too large" from "exactly the limit".
    let mut decoder = flate2::read::MultiGzDecoder::new(raw).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            format!("the body is not valid gzip (Content-Encoding: gzip): {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than the {limit} bytes accepted once decompressed \
                 (split the batch)"
            ),
        ));
    }
    Ok(Bytes::from(out))
}

/// The body's bytes as sent.
async fn read_raw(
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
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "body_unreadable",
                    format!("the body could not be read: {e}"),
                ))
            }
        }
    }
}
