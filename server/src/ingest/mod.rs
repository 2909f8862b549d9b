//! Publishing over HTTP: Livechart's own JSON and NDJSON (`POST /api/streams/{name}/points`,
//! in [`json`]) and the Influx line protocol (`POST /api/v2/write`, `POST /write`, in
//! [`influx`] and [`line_protocol`]), with the InfluxDB calls clients make around writes
//! (`/ping`, `/health`, `/query`, in [`influx_api`]).
//!
//! Every body is read whole (within the size limit, gzip undone by [`crate::extract`]) and
//! every point validated by [`app::model::NewPoint::validate`] before the hub sees any of
//! them: a request is published whole, or not at all.

pub mod influx;
pub mod influx_api;
pub mod json;
pub mod line_protocol;

use crate::auth;
use crate::config::Settings;
use crate::error::{publish_error, ApiError};
use crate::extract::{read_body, stream_name};
use crate::state::AppState;
use app::model::{now_ms, PublishReceipt};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
pub use json::{format, parse, Format};

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
    let bytes = read_ingest_body(settings, &headers, body).await?;
    let (points, places) = parse(&bytes, format, settings.ingest.max_points)?;
    let id = state
        .hub
        .publish(&name, &points, settings.streams.auto_create, now_ms())
        .await
        .map_err(|e| {
            let place = e.index().and_then(|i| places.get(i));
            publish_error(&e, &name, place.map(|p| p.as_str()))
        })?;
    tracing::debug!(stream = %name, %id, points = points.len(), "published");
    Ok(Json(PublishReceipt {
        id,
        points: points.len(),
    }))
}

/// A publishing body, within `ingest.max-body-bytes` and the connection's pace (see
/// [`read_body`]).
pub(crate) async fn read_ingest_body(
    settings: &Settings,
    headers: &HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, ApiError> {
    read_body(
        headers,
        body,
        settings.ingest.max_body_bytes,
        &settings.connections,
    )
    .await
}
