//! The rest of InfluxDB's HTTP API that clients call around their writes, answered the way a
//! write-only endpoint reasonably can: `GET|HEAD /ping` (the 1.x clients' and Telegraf's
//! check, and the 2.x clients' `ping()`), `GET /health` (the 2.x clients' `health()`), and
//! `/query` for the database statements clients and Telegraf send before writing.
//!
//! `/query` answers `CREATE DATABASE` (accepted: the measurement names the stream, there is no
//! database to make), `SHOW DATABASES` (one, `livechart`), and refuses `DROP DATABASE` inside
//! its result (nothing is dropped: streams are deleted one by one, `DELETE
//! /api/streams/{name}`). Anything else is a 400 whose `error` says so: the data is read with
//! `GET /api/streams/{name}/points`, not InfluxQL.

use crate::auth;
use crate::error::ApiError;
use crate::extract::query;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

/// The version clients are told: the last 1.x, whose API (`/write`, `/query`, `/ping`) this
/// follows; 2.x clients read only the status.
pub const VERSION: &str = "1.8.10";

/// The one database `SHOW DATABASES` lists.
const DATABASE: &str = "livechart";

/// The most statements one `/query` may hold.
const MAX_STATEMENTS: usize = 16;

fn version_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::HeaderName::from_static("x-influxdb-version"),
            HeaderValue::from_static(VERSION),
        ),
        (
            header::HeaderName::from_static("x-influxdb-build"),
            HeaderValue::from_static("OSS"),
        ),
    ]
}

/// `GET|HEAD /ping`: 204, with the version.
pub async fn ping() -> Response {
    (StatusCode::NO_CONTENT, version_headers()).into_response()
}

/// `GET /health`: InfluxDB 2's answer (`status: pass`). Whether publishes work now is
/// `/healthz`'s business.
pub async fn health() -> Response {
    let body = serde_json::json!({
        "name": "livechart",
        "message": "ready for writes",
        "status": "pass",
        "checks": [],
        "version": VERSION,
        "commit": env!("CARGO_PKG_VERSION"),
    });
    (version_headers(), Json(body)).into_response()
}

/// `GET|POST /query?q=…` (or `q` in a form body): the database statements, `;`-separated.
pub async fn query_statements(
    State(state): State<AppState>,
    query_: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let params = query(query_)?;
    auth::require_publish_influx(&settings.auth.publish_token, &headers, &params)?;
    let q = match params.get("q") {
        Some(q) => q.clone(),
        None => {
            let bytes = super::read_ingest_body(settings, &headers, body).await?;
            form_q(&bytes).unwrap_or_default()
        }
    };
    let statements: Vec<&str> = q
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if statements.is_empty() {
        return Ok(refuse("missing required parameter \"q\""));
    }
    if statements.len() > MAX_STATEMENTS {
        return Ok(refuse(&format!(
            "{} statements; at most {MAX_STATEMENTS} in one query",
            statements.len()
        )));
    }
    let mut results = Vec::with_capacity(statements.len());
    for (id, statement) in statements.iter().enumerate() {
        let words: Vec<String> = statement
            .split_whitespace()
            .take(2)
            .map(str::to_ascii_uppercase)
            .collect();
        let result = match (
            words.first().map(String::as_str),
            words.get(1).map(String::as_str),
        ) {
            (Some("CREATE"), Some("DATABASE")) => serde_json::json!({ "statement_id": id }),
            (Some("SHOW"), Some("DATABASES")) => serde_json::json!({
                "statement_id": id,
                "series": [{ "name": "databases", "columns": ["name"], "values": [[DATABASE]] }],
            }),
            (Some("DROP"), Some("DATABASE")) => serde_json::json!({
                "statement_id": id,
                "error": "livechart keeps streams, not databases: nothing was dropped (delete a \
                          stream with DELETE /api/streams/{name})",
            }),
            _ => {
                let shown: String = statement.chars().take(80).collect();
                return Ok(refuse(&format!(
                    "livechart takes writes only: /query answers CREATE DATABASE, SHOW \
                     DATABASES and DROP DATABASE, not {shown:?}; read a stream with GET \
                     /api/streams/{{name}}/points"
                )));
            }
        };
        results.push(result);
    }
    Ok((
        version_headers(),
        Json(serde_json::json!({ "results": results })),
    )
        .into_response())
}

/// InfluxDB's own error answer: 400 and `{"error": "…"}`, which its clients show.
fn refuse(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        version_headers(),
        Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// `q` of an `application/x-www-form-urlencoded` body.
fn form_q(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::form_q;

    #[test]
    fn q_from_a_form_body() {
        assert_eq!(
            form_q(b"db=x&q=CREATE+DATABASE+%22t%22").as_deref(),
            Some("CREATE DATABASE \"t\"")
        );
        assert_eq!(form_q(b"db=x"), None);
    }
}
