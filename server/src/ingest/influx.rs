//! `POST /api/v2/write` (InfluxDB 2: Telegraf's `outputs.influxdb_v2`, the official client
//! libraries) and `POST /write` (InfluxDB 1.x): the line protocol, parsed by
//! [`line_protocol`], published one event per stream.
//!
//! What clients of InfluxDB expect: `204 No Content` once written, `precision=` for the
//! timestamps (nanoseconds by default), gzip bodies, and the token as
//! `Authorization: Token X` (or `Bearer X`, or the password of Basic, or `?p=`). `bucket`, `org` and `db` are accepted and not
//! used: the measurement alone names the stream.

use super::line_protocol::{self, BodyError, LinePoint, Precision};
use crate::auth;
use crate::error::{publish_error, ApiError};
use crate::extract::query;
use crate::hub::PublishError;
use crate::state::AppState;
use app::model::{now_ms, NewPoint, StreamName};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;

/// `POST /api/v2/write?bucket=B&precision=ns|us|ms|s` and
/// `POST /write?db=B&precision=n|u|ms|s|m|h`: the two paths take the same bodies.
pub async fn write(
    State(state): State<AppState>,
    query_: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let settings = &state.settings;
    let params = query(query_)?;
    auth::require_publish_influx(&settings.auth.publish_token, &headers, &params)?;
    let precision = match params.get("precision").map(String::as_str) {
        None | Some("") => Precision::Nanoseconds,
        Some(p) => Precision::parse(p)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_precision", e))?,
    };
    let bytes = super::read_ingest_body(settings, &headers, body).await?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_line_protocol",
            format!("line {line}: the body is not UTF-8 text"),
        )
    })?;
    let points = line_protocol::parse(text, precision, now_ms(), settings.ingest.max_points)
        .map_err(|e| match e {
            BodyError::Line(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_line_protocol",
                e.to_string(),
            ),
            BodyError::TooMany(n) => super::json::too_many(n, settings.ingest.max_points),
        })?;
    if points.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_points",
            "the body holds no lines: send at least one, e.g. `temp,room=lab value=21.5`",
        ));
    }
    let batches = by_stream(points);
    let create = settings.streams.auto_create;
    let refs: Vec<(&StreamName, &[NewPoint])> = batches
        .iter()
        .map(|b| (&b.stream, b.points.as_slice()))
        .collect();
    let refused = |i: usize, e: &PublishError| {
        let b = &batches[i];
        // A point's error names its line; a stream's (a limit) the stream and its first line.
        let place = match e.index().and_then(|p| b.lines.get(p)) {
            Some(line) => format!("line {line}"),
            None => format!(
                "stream \"{}\" (from line {})",
                b.stream,
                b.lines.first().copied().unwrap_or(1)
            ),
        };
        publish_error(e, &b.stream, Some(&place))
    };
    // Every stream's batch checked and numbered at one moment: all of the body or none.
    let ids = state
        .hub
        .publish_all(&refs, create, now_ms())
        .await
        .map_err(|(i, e)| refused(i, &e))?;
    for (b, id) in batches.iter().zip(ids) {
        tracing::debug!(stream = %b.stream, %id, points = b.points.len(), "published (line protocol)");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The points of one stream, in the order of the body, with the line each came from.
struct Batch {
    stream: StreamName,
    points: Vec<NewPoint>,
    lines: Vec<usize>,
}

/// Groups points by stream, streams in the order they first appear.
fn by_stream(points: Vec<LinePoint>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut index: HashMap<StreamName, usize> = HashMap::new();
    for p in points {
        let i = *index.entry(p.stream.clone()).or_insert_with(|| {
            batches.push(Batch {
                stream: p.stream.clone(),
                points: Vec::new(),
                lines: Vec::new(),
            });
            batches.len() - 1
        });
        batches[i].points.push(p.point);
        batches[i].lines.push(p.line);
    }
    batches
}
