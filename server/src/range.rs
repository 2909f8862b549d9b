//! `GET /api/streams/{name}/points`: a stream's retained points in a range of time, as JSON
//! (reduced per series above `max_points`, see `app::reduce`) or as CSV (`Accept: text/csv`
//! or `format=csv`: the exact points, streamed, at most `MAX_CSV_POINTS`). The parameters are
//! checked by `app::range::RangeQuery`, the one definition the browser also uses.

use crate::error::{unknown_stream, ApiError};
use crate::extract::stream_name;
use crate::AppState;
use app::axis::format_iso_utc;
use app::range::{RangeFormat, RangeQuery, TimeFormat, MAX_CSV_POINTS};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// The size of each piece of a CSV answer.
const CSV_CHUNK_BYTES: usize = 64 << 10;

/// Range queries answered at once. Each copies up to a stream's retention (16 MiB by default)
/// and works a core for milliseconds, so their number is bounded, not their callers': a CSV
/// holds its place until its body is written.
const MAX_RUNNING: usize = 4;
static RUNNING: Semaphore = Semaphore::const_new(MAX_RUNNING);
/// How long a query waits for a place before it is refused.
const WAIT_FOR_PLACE: Duration = Duration::from_secs(10);

pub async fn points_range(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = stream_name(path)?;
    let bad = |detail: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_range", detail);
    let Query(pairs) = query.map_err(|e| bad(e.body_text()))?;
    let mut q = RangeQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| bad(format!("query string: {e}")))?;
    if accepts_csv(&headers) && !pairs.iter().any(|(k, _)| k == "format") {
        q.format = RangeFormat::Csv;
    }
    let stream = state.hub.get(&name).ok_or_else(|| unknown_stream(&name))?;
    let permit = tokio::time::timeout(WAIT_FOR_PLACE, RUNNING.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_range_queries",
                format!("{MAX_RUNNING} range queries are being answered; try again shortly"),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        })?;
    // The copy and the reduction are CPU work bounded by the retention: off the runtime's
    // threads, so that a query of a million points does not hold up event delivery.
    let answer = tokio::task::spawn_blocking(move || match q.format {
        RangeFormat::Json => Ok(Json(stream.range(&q)).into_response()),
        RangeFormat::Csv => {
            let (range, points) = stream.range_exact(&q, MAX_CSV_POINTS);
            let points = points.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "range_too_large",
                    format!(
                        "the range holds more than {MAX_CSV_POINTS} points, the most one CSV \
                         answer holds: narrow it with from, to or series"
                    ),
                )
            })?;
            Ok(csv_response(&name, range, points, q.time, permit))
        }
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the range query failed: {e}"),
        )
    })??;
    Ok(answer)
}

/// Whether the client asked for CSV by its `Accept` header.
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// `series,ts,value` rows, series by series in time order, written a chunk at a time.
fn csv_response(
    name: &app::model::StreamName,
    (from, to): (i64, i64),
    points: crate::hub::ExactPoints,
    time: TimeFormat,
    permit: SemaphorePermit<'static>,
) -> Response {
    let rows = points
        .into_iter()
        .flat_map(|(series, points)| points.into_iter().map(move |p| (series.clone(), p)));
    let mut rows = rows.peekable();
    let mut header_done = false;
    let chunks = std::iter::from_fn(move || {
        // The place is given back when the body is done (or dropped).
        let _held = &permit;
        let mut out = String::with_capacity(CSV_CHUNK_BYTES + 256);
        if !header_done {
            header_done = true;
            out.push_str("series,ts,value\n");
        }
        let (mut ryu, mut itoa) = (ryu::Buffer::new(), itoa::Buffer::new());
        while out.len() < CSV_CHUNK_BYTES {
            let Some((series, (ts, value))) = rows.next() else {
                break;
            };
            // Series names are [A-Za-z0-9_.-]: nothing to quote.
            out.push_str(series.as_str());
            out.push(',');
            match time {
                TimeFormat::Ms => out.push_str(itoa.format(ts)),
                TimeFormat::Iso => out.push_str(&format_iso_utc(ts)),
            }
            out.push(',');
            out.push_str(ryu.format_finite(value));
            out.push('\n');
        }
        (!out.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(out)))
    });
    let mut response = Body::from_stream(futures_util::stream::iter(chunks)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // Named like the browser's export: stream and range.
    let file = format!("attachment; filename=\"{name}-{from}-{to}.csv\"");
    if let Ok(v) = HeaderValue::from_str(&file) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
