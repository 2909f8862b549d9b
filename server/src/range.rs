//! `GET /api/streams/{name}/points`: a stream's retained points in a range of time, as JSON
//! (reduced per series above `max_points`, see `app::reduce`) or as CSV (`Accept: text/csv`
//! or `format=csv`: the exact points, at most `MAX_CSV_POINTS`). The parameters are checked
//! by `app::range::RangeQuery`, the one definition the browser also uses.
//!
//! Both are written as they are sent, 64 KiB at a time, from one copy of the points taken for
//! the answer: a slow reader holds that copy and a socket buffer, never the whole text. At most
//! [`MAX_RUNNING`] answers exist at once, each holding its place until it is written, and no
//! longer than `connections.answer-timeout-ms` (the connection enforces it, whatever the
//! client reads): so the memory of range answers is bounded, and so is the time four slow
//! readers can keep every other look-back waiting.

use crate::conn::AnswerDeadline;
use crate::error::{unknown_stream, ApiError};
use crate::extract::stream_name;
use crate::state::AppState;
use app::axis::format_iso_utc;
use app::range::{PointsRange, RangeFormat, RangeQuery, TimeFormat, MAX_CSV_POINTS};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The size of each piece of an answer.
const CHUNK_BYTES: usize = 64 << 10;

/// Range answers in flight at once. Each copies up to a stream's retention (16 MiB by default)
/// and works a core for milliseconds, so their number is bounded, not their callers': an
/// answer holds its place until its body is written (or its deadline ends it).
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
    let deadline =
        Instant::now() + Duration::from_millis(state.settings.connections.answer_timeout_ms);
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
    let mut answer = tokio::task::spawn_blocking(move || match q.format {
        RangeFormat::Json => Ok(json_response(stream.range(&q), permit)),
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
    answer.extensions_mut().insert(AnswerDeadline(deadline));
    Ok(answer)
}

/// A body written `CHUNK_BYTES` at a time by `fill` (which appends the next piece and says
/// whether there is more), holding `permit` until it is done or dropped.
fn chunked_body(
    permit: SemaphorePermit<'static>,
    mut fill: impl FnMut(&mut String) -> bool + Send + 'static,
) -> Body {
    let mut more = true;
    let chunks = std::iter::from_fn(move || {
        // The place is given back when the body is done (or dropped).
        let _held = &permit;
        if !more {
            return None;
        }
        let mut out = String::with_capacity(CHUNK_BYTES + 256);
        while more && out.len() < CHUNK_BYTES {
            more = fill(&mut out);
        }
        (!out.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(out)))
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// The [`PointsRange`] as JSON, written as it is sent: the text `serde_json` would make of it.
fn json_response(answer: PointsRange, permit: SemaphorePermit<'static>) -> Response {
    let PointsRange {
        stream,
        from,
        to,
        last_id,
        reduced,
        series,
    } = answer;
    // Where the writing is: before the head; in series `i` at its head, its times or its
    // values, at item `at`; after the last series.
    enum Part {
        Head,
        Series(usize),
        Times(usize, usize),
        Values(usize, usize),
        Done,
    }
    let mut part = Part::Head;
    let (mut ryu, mut itoa) = (ryu::Buffer::new(), itoa::Buffer::new());
    let body = chunked_body(permit, move |out| {
        part = match part {
            Part::Head => {
                let last_id = last_id.map_or_else(|| "null".to_owned(), |id| format!("\"{id}\""));
                // Names are [A-Za-z0-9_.-]: nothing to escape.
                out.push_str(&format!(
                    "{{\"stream\":\"{stream}\",\"from\":{from},\"to\":{to},\"last_id\":{last_id},\"reduced\":{reduced},\"series\":["
                ));
                Part::Series(0)
            }
            Part::Series(i) => match series.get(i) {
                Some(s) => {
                    out.push_str(&format!(
                        "{}{{\"series\":\"{}\",\"total\":{},\"reduced\":{},\"ts\":[",
                        if i == 0 { "" } else { "," },
                        s.series,
                        s.total,
                        s.reduced
                    ));
                    Part::Times(i, 0)
                }
                None => {
                    out.push_str("]}");
                    Part::Done
                }
            },
            Part::Times(i, at) => {
                match write_some(out, &series[i].ts, at, |o, t| o.push_str(itoa.format(t))) {
                    Some(next) => Part::Times(i, next),
                    None => {
                        out.push_str("],\"values\":[");
                        Part::Values(i, 0)
                    }
                }
            }
            // Values are finite (checked when published).
            Part::Values(i, at) => {
                match write_some(out, &series[i].values, at, |o, v| {
                    o.push_str(ryu.format_finite(v));
                }) {
                    Some(next) => Part::Values(i, next),
                    None => {
                        out.push_str("]}");
                        Part::Series(i + 1)
                    }
                }
            }
            Part::Done => Part::Done,
        };
        !matches!(part, Part::Done)
    });
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Writes up to 1,024 of `items` from `at` on, comma-separated (as the items of one JSON
/// array); the position to go on from, or `None` once all are written.
fn write_some<T: Copy>(
    out: &mut String,
    items: &[T],
    at: usize,
    mut write: impl FnMut(&mut String, T),
) -> Option<usize> {
    let end = items.len().min(at + 1024);
    for (k, item) in items[at..end].iter().enumerate() {
        if at + k > 0 {
            out.push(',');
        }
        write(out, *item);
    }
    (end < items.len()).then_some(end)
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
    let mut rows = points
        .into_iter()
        .flat_map(|(series, points)| points.into_iter().map(move |p| (series.clone(), p)));
    let mut header_done = false;
    let (mut ryu, mut itoa) = (ryu::Buffer::new(), itoa::Buffer::new());
    let body = chunked_body(permit, move |out| {
        if !header_done {
            header_done = true;
            out.push_str("series,ts,value\n");
        }
        let Some((series, (ts, value))) = rows.next() else {
            return false;
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
        true
    });
    let mut response = body.into_response();
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
