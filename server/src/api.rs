//! The HTTP API handlers: SSE subscription, health, and JSON errors for everything else
//! under `/api`.

use crate::viewer::{self, BodyOptions};
use crate::AppState;
use app::model::{ErrorBody, Health, StreamName};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// An API failure: an HTTP status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.to_owned(),
            detail: self.detail,
        };
        (self.status, Json(body)).into_response()
    }
}

fn stream_name(path: Result<Path<String>, PathRejection>) -> Result<StreamName, ApiError> {
    let Path(raw) =
        path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))?;
    StreamName::parse(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_stream_name",
            format!("stream name {raw:?} in the URL: {e}"),
        )
    })
}

/// `GET /api/streams/{name}/events`: the stream as Server-Sent Events.
pub async fn stream_events(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = stream_name(path)?;
    let stream = state.hub.get(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_stream",
            format!("there is no stream named \"{name}\""),
        )
    })?;
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    let sse = &state.settings.sse;
    let opts = BodyOptions {
        retry_ms: sse.retry_ms,
        keep_alive: Duration::from_millis(sse.keep_alive_ms),
    };
    let body = viewer::body(stream.subscribe(), opts, state.shutdown.clone());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers proxied responses unless told not to; an event stream must not wait.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// `GET /healthz`: 200 with every stream's counters while serving, 503 once shutting down.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let shutting_down = state.shutdown.is_cancelled();
    let body = Health {
        status: if shutting_down { "shutting_down" } else { "ok" }.to_owned(),
        streams: state.hub.status(),
    };
    let status = if shutting_down {
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
        format!("no API endpoint at {}", uri.path()),
    )
}

/// A known path with a method it does not serve.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
