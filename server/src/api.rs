//! The HTTP API handlers: SSE subscription, health, metrics, and JSON errors for everything
//! else under `/api`. Publishing is in `ingest`.

use crate::config::ConnectionSettings;
use crate::hub::{Admission, PublishError, RemoveError};
use crate::viewer::{self, BodyOptions, Feed};
use crate::{auth, ingest, AppState};
use app::model::{
    ErrorBody, EventId, Health, Positions, StreamInfo, StreamMeta, StreamName, MAX_NAME_LEN,
};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

/// An API failure: an HTTP status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    header: Option<(HeaderName, HeaderValue)>,
}

/// Marks a response as a refused request of this kind, for the metrics.
#[derive(Clone, Copy, Debug)]
pub struct Rejected(pub &'static str);

/// The longest `detail` an error carries: details quote input (through [`quoted`]), and an
/// answer must not echo kilobytes of it back.
const MAX_DETAIL_CHARS: usize = 480;

/// How much of a piece of input an error message quotes.
const QUOTED_CHARS: usize = 200;

/// `text` quoted for an error message (as Rust's `{:?}` does), cut after 200 characters.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!(
            "{:?}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        ),
    }
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
            detail.truncate(cut);
            detail.push_str("… (cut)");
        }
        ApiError {
            status,
            kind,
            detail,
            header: None,
        }
    }

    /// Adds a header to the answer (`Retry-After`, `WWW-Authenticate`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.header = Some((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.to_owned(),
            detail: self.detail,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, value);
        }
        response.extensions_mut().insert(Rejected(self.kind));
        response
    }
}

/// Middleware: counts (and logs, at debug level) every refused request by kind. Only the
/// path is logged: queries and headers may hold tokens.
pub async fn count_rejections(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = next.run(req).await;
    if let Some(Rejected(kind)) = response.extensions().get::<Rejected>() {
        state.metrics.reject(kind);
        tracing::debug!(%method, %path, status = response.status().as_u16(), kind, "request refused");
    }
    response
}

/// Middleware: only origin-form request targets (`/path?query`) reach the routes. `CONNECT`
/// and authority-form (`a:1`), asterisk-form (`*`) or other odd targets are answered here,
/// before any handler could trip over a URI without a path.
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
fn resume_from<T>(
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

fn query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

pub fn unknown_stream(name: &StreamName) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_stream",
        format!("there is no stream named \"{name}\""),
    )
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

/// The answer to a publish (or description) the hub refused. `place` says where in the body
/// the point it is about came from, for errors about one point.
pub fn publish_error(e: &PublishError, stream: &StreamName, place: Option<&str>) -> ApiError {
    use PublishError as E;
    let (status, kind) = match e {
        E::UnknownStream(_) => (StatusCode::NOT_FOUND, "unknown_stream"),
        E::TooManyStreams(_) => (StatusCode::UNPROCESSABLE_ENTITY, "too_many_streams"),
        E::TooManySeries { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too_many_series"),
        E::AmbiguousSeries { .. } => (StatusCode::BAD_REQUEST, "ambiguous_series"),
        E::NotFinite { .. } => (StatusCode::BAD_REQUEST, "invalid_point"),
        // Removed twice while publishing: a client may simply try again.
        E::Removed => (StatusCode::SERVICE_UNAVAILABLE, "stream_removed"),
        E::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        E::Broker(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
    };
    let detail = match place {
        Some(at) => format!("{at}: {e}"),
        None => format!("stream \"{stream}\": {e}"),
    };
    let error = ApiError::new(status, kind, detail);
    match e {
        E::Storage(_) | E::Broker(_) => {
            error.with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        }
        _ => error,
    }
}

/// An event-stream response that sends what `feed` produces until either side ends it.
pub fn event_stream<F: Feed>(state: &AppState, feed: F) -> Response {
    let sse = &state.settings.sse;
    let opts = BodyOptions {
        retry_ms: sse.retry_ms,
        keep_alive: Duration::from_millis(sse.keep_alive_ms),
        lifetime: (sse.max_connection_ms > 0).then(|| Duration::from_millis(sse.max_connection_ms)),
    };
    let mut response = viewer::body(feed, opts, state.shutdown.clone()).into_response();
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
    let stream = state.hub.get(&name).ok_or_else(|| unknown_stream(&name))?;
    let admission = admit(&state)?;
    Ok(event_stream(&state, stream.subscribe(resume, admission)))
}

/// The streams of `?streams=a,b,c`: valid names, none twice, not too many. Streams that do not
/// exist yet are followed once they do.
fn listed_streams(state: &AppState, list: Option<&String>) -> Result<Vec<StreamName>, ApiError> {
    let bad = |detail: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_streams", detail);
    let max = state.settings.limits.max_streams_per_connection;
    let names = list.map_or("", String::as_str);
    if names.len() > max * (MAX_NAME_LEN + 1) {
        return Err(bad(format!(
            "streams: at most {max} streams per connection"
        )));
    }
    let mut streams: Vec<StreamName> = Vec::new();
    for (i, raw) in names.split(',').map(str::trim).enumerate() {
        if raw.is_empty() {
            continue;
        }
        let name = StreamName::parse(raw)
            .map_err(|e| bad(format!("streams, item {} ({}): {e}", i + 1, quoted(raw))))?;
        if streams.contains(&name) {
            return Err(bad(format!("streams: \"{name}\" is listed twice")));
        }
        if streams.len() == max {
            return Err(bad(format!(
                "streams: at most {max} streams per connection"
            )));
        }
        streams.push(name);
    }
    Ok(streams)
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

/// A JSON request body as `T`; an empty body is `None`. Errors say where in the body.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pace: &ConnectionSettings,
) -> Result<Option<T>, ApiError> {
    let bytes = ingest::read_body(headers, body, limit, pace).await?;
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
/// or while a node sharing its streams through Redis is not following it.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let shutting_down = state.shutdown.is_cancelled();
    let broker_down = state.hub.broker().is_some_and(|b| !b.is_up());
    let body = Health {
        status: if shutting_down {
            "shutting_down"
        } else if broker_down {
            "broker_unavailable"
        } else {
            "ok"
        }
        .to_owned(),
        connections: state.hub.viewers(),
        streams: state.hub.status(),
    };
    let status = if shutting_down || broker_down {
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
