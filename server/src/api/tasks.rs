//! `POST /api/tasks` and `GET /api/tasks/{id}/events`: the HTTP side of the task registry
//! ([`crate::tasks`]).

use super::{admit, event_stream};
use crate::auth;
use crate::error::ApiError;
use crate::extract::json_body;
use crate::state::AppState;
use crate::tasks::StartError;
use app::model::{TaskId, TaskSpec};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// `POST /api/tasks`: starts a task; the body (optional) is a [`TaskSpec`].
pub async fn start_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require_view_or_publish(&state.settings.auth, &headers)?;
    let spec: TaskSpec = json_body(&headers, body, 16 << 10, &state.settings.connections)
        .await?
        .unwrap_or_default();
    let created = state.tasks.start(spec).map_err(|e| match e {
        StartError::Invalid(detail) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_task",
            format!("body: {detail}"),
        ),
        StartError::TooMany { retry_after_s, .. }
        | StartError::RateLimited { retry_after_s, .. } => {
            let kind = if matches!(e, StartError::TooMany { .. }) {
                "too_many_tasks"
            } else {
                "rate_limited"
            };
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, kind, e.to_string()).with_header(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after_s.to_string())
                    .unwrap_or(HeaderValue::from_static("1")),
            )
        }
    })?;
    let location = HeaderValue::from_str(&created.events).ok();
    let mut response = (StatusCode::ACCEPTED, Json(created)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/tasks/{id}/events`: the task's progress as Server-Sent Events, ending after the
/// final state.
pub async fn task_events(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) =
        path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))?;
    let id: TaskId = raw.parse().map_err(|e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_task_id",
            format!("URL: {e}"),
        )
    })?;
    let admission = admit(&state)?;
    let viewer = state.tasks.watch(id, admission).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_task",
            format!(
                "there is no task {id} (finished tasks are forgotten once nobody watches them)"
            ),
        )
    })?;
    Ok(event_stream(&state, viewer))
}
