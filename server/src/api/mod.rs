//! The HTTP API handlers: SSE subscription, the stream catalog, health, metrics, and the
//! answers for unknown paths and methods; task handlers in [`tasks`]. Publishing is in
//! `ingest`, the range query in `range`; errors are `error::ApiError`, request parsing is in
//! `extract`.

pub mod tasks;

use crate::auth;
use crate::error::{publish_error, quoted, unknown_stream, ApiError};
use crate::extract::{json_body, query, resume_from, stream_name};
use crate::hub::{Admission, RemoveError};
use crate::state::AppState;
use crate::viewer::{self, BodyOptions, Feed};
use app::model::{EventId, Health, Positions, StreamInfo, StreamMeta, StreamName};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::time::Duration;

/// The longest path served: far beyond any route's (names are at most 64 characters).
const MAX_PATH: usize = 1024;

/// Middleware: only origin-form request targets (`/path?query`) of at most [`MAX_PATH`]
/// bytes reach the routes. `CONNECT` and authority-form (`a:1`), asterisk-form (`*`) or other
/// odd targets are answered here, before any handler could trip over a URI without a path.
pub async fn require_origin_form(req: Request, next: Next) -> Response {
    if req.method() == Method::CONNECT {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "CONNECT is not allowed: this is not a proxy",
        )
        .into_response();
    }
    let uri = req.uri();
    if uri.path().len() > MAX_PATH {
        // No route has such a path; the file server would try it on the disk (and log it).
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the path is {} bytes long; none here is over {MAX_PATH}",
                uri.path().len()
            ),
        )
        .into_response();
    }
    if uri.path_and_query().is_none() || !uri.path().starts_with('/') {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_target",
            "the request target must be a path such as /api/streams (origin form)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Lets one more event-stream connection in, or says why not (shutting down, full).
pub fn admit(state: &AppState) -> Result<Admission, ApiError> {
    let retry_after = || {
        // Whole seconds, rounded up: at least the browser's own reconnect delay.
        let secs = state.settings.sse.retry_ms.div_ceil(1000).max(1);
        HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("1"))
    };
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .with_header(header::RETRY_AFTER, retry_after()));
    }
    state.hub.admit().map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_viewers",
            e.to_string(),
        )
        .with_header(header::RETRY_AFTER, retry_after())
    })
}

/// An event-stream response that sends what `feed` produces until either side ends it.
pub fn event_stream<F: Feed>(state: &AppState, feed: F) -> Response {
    let sse = &state.settings.sse;
    let opts = BodyOptions {
        retry_ms: sse.retry_ms,
        keep_alive: Duration::from_millis(sse.keep_alive_ms),
        lifetime: (sse.max_connection_ms > 0).then(|| Duration::from_millis(sse.max_connection_ms)),
    };
    let (body, chunks) = viewer::body(feed, opts, &state.shutdown_notice);
    let mut response = body.into_response();
    response.extensions_mut().insert(chunks);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers proxied responses unless told not to; an event stream must not wait.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `GET /api/streams/{name}/events`: the stream as Server-Sent Events.
pub async fn stream_events(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query_: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = stream_name(path)?;
    let resume = resume_from::<EventId>(&headers, &query(query_)?, "")?;
    match state.hub.get(&name) {
        Some(stream) => {
            let admission = admit(&state)?;
            Ok(event_stream(&state, stream.subscribe(resume, admission)))
        }
        // A publish may create it: followed from then on.
        None if state.settings.streams.auto_create => {
            let admission = admit(&state)?;
            Ok(event_stream(
                &state,
                state.hub.await_stream(name, resume, admission),
            ))
        }
        None => Err(unknown_stream(&name)),
    }
}

/// The streams of `?streams=a,b,c`: valid names, none twice, not too many. Streams that do not
/// exist yet are followed once they do.
fn listed_streams(state: &AppState, list: Option<&String>) -> Result<Vec<StreamName>, ApiError> {
    let max = state.settings.limits.max_streams_per_connection;
    app::model::parse_stream_list(list.map_or("", String::as_str), max).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_streams",
            format!("streams: {e}"),
        )
    })
}

/// `GET /api/events?streams=a,b`: several streams on one connection, plus the catalog.
pub async fn multiplex_events(
    State(state): State<AppState>,
    query_: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query(query_)?;
    let streams = listed_streams(&state, query.get("streams"))?;
    // Both carry every stream's position.
    let from = resume_from::<Positions>(&headers, &query, " (expected STREAM:EPOCH-SEQ,…)")?
        .unwrap_or_default();
    let admission = admit(&state)?;
    let viewer = state.hub.subscribe_many(&streams, from, admission);
    Ok(event_stream(&state, viewer))
}

/// `GET /api/streams`: every stream with its description and series.
pub async fn list_streams(State(state): State<AppState>) -> Json<Vec<StreamInfo>> {
    Json(state.hub.catalog())
}

/// `GET /api/streams/{name}`: one stream's description and series, as the list has it.
pub async fn stream_info(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<StreamInfo>, ApiError> {
    let name = stream_name(path)?;
    let stream = state.hub.get(&name).ok_or_else(|| unknown_stream(&name))?;
    Ok(Json(stream.info()))
}

/// `PUT /api/streams/{name}`: sets a stream's title, unit and value range (creating the stream
/// when publishing would).
pub async fn describe_stream(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StreamInfo>, ApiError> {
    auth::require_publish(&state.settings.auth.publish_token, &headers)?;
    let name = stream_name(path)?;
    let meta: StreamMeta = json_body(&headers, body, 64 << 10, &state.settings.connections)
        .await?
        .unwrap_or_default();
    meta.validate().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_meta",
            format!("body: {e}"),
        )
    })?;
    let stream = state
        .hub
        .describe(&name, meta, state.settings.streams.auto_create)
        .await
        .map_err(|e| publish_error(&e, &name, None))?;
    Ok(Json(stream.info()))
}

/// `DELETE /api/streams/{name}`: removes a stream and its history (publish token). Its
/// viewers' connections end; a multiplexed one waits for the stream to come back.
pub async fn delete_stream(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth::require_publish(&state.settings.auth.publish_token, &headers)?;
    let name = stream_name(path)?;
    state.hub.delete(&name).await.map_err(|e| match e {
        RemoveError::Unknown(n) => unknown_stream(&n),
        RemoveError::Pinned(_) => {
            ApiError::new(StatusCode::CONFLICT, "pinned_stream", e.to_string())
        }
        RemoveError::Broker(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_unavailable",
            e.to_string(),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /metrics`: Prometheus text format (OpenMetrics).
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.encode(),
    )
        .into_response()
}

/// `GET /healthz`: 200 with every stream's counters while serving; 503 once shutting down,
/// while a node sharing its streams through Redis is not following it, or while history
/// writes fail (publishes are refused: the node is not healthy, whatever else works).
pub async fn healthz(State(state): State<AppState>) -> Response {
    let shutting_down = state.shutdown.is_cancelled();
    let broker_down = state.hub.broker().is_some_and(|b| !b.is_up());
    let failing = state.hub.commit_stats().and_then(|c| c.failing());
    let body = Health {
        status: if shutting_down {
            "shutting_down"
        } else if broker_down {
            "broker_unavailable"
        } else if failing.is_some() {
            "degraded"
        } else {
            "ok"
        }
        .to_owned(),
        problem: failing
            .as_ref()
            .map(|e| format!("history writes fail, publishes are refused: {e}")),
        connections: state.hub.viewers(),
        streams: state.hub.status(),
        mqtt: state.mqtt.as_ref().map(|m| app::model::MqttHealth {
            connected: m.is_connected(),
            subscribed: m.subscribed(),
            published: m.published.get(),
            unreadable: m.unreadable.get(),
            refused: m.refused.get(),
            retained: m.retained.get(),
            last_error: m.last_error(),
            waiting: m.waiting() as u64,
            oldest_waiting_ms: m.oldest_waiting().map(|d| d.as_millis() as u64),
        }),
    };
    let status = if shutting_down || broker_down || failing.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Any other path under `/api`.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no API endpoint at {}", quoted(uri.path())),
    )
}

/// A known path with a method it does not serve.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", quoted(uri.path())),
    )
}
