//! Bearer tokens: one to publish, one to view. Either is optional; a token is compared in
//! constant time and never logged or echoed.

use crate::config::{AuthSettings, Secret};
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The cookie a page opened with `?token=` sets, so that its event streams are let in too.
pub const VIEW_COOKIE: &str = "livechart_token";

/// The token in `Authorization: Bearer <token>`, `Token <token>` as InfluxDB's clients and
/// Telegraf send it, or the password of `Basic` (any user name), as InfluxDB 1.x clients send
/// it and InfluxDB 2 takes it: `Ok(None)` without the header, `Err` when the header is there
/// but holds none of them.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
                return Some(token.trim().to_owned());
            }
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(token.trim())
                .ok()?;
            let (_user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
            Some(password.to_owned())
        })
        .map(Some)
        .ok_or_else(|| {
            unauthorized(
                "the Authorization header must be `Bearer <token>`, `Token <token>`, or Basic \
                 with the token as the password",
            )
        })
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"livechart\""),
    )
}

fn forbidden(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("the {what} token given is not the right one"),
    )
}

/// Publishing needs the publish token, when one is configured.
pub fn require_publish(secret: &Secret, headers: &HeaderMap) -> Result<(), ApiError> {
    require_publish_or(secret, headers, None)
}

/// The same for InfluxDB's API, whose 1.x clients may send the token as `?p=` (with `?u=`,
/// any user name) instead of a header.
pub fn require_publish_influx(
    secret: &Secret,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Result<(), ApiError> {
    require_publish_or(secret, headers, query.get("p").map(String::as_str))
}

fn require_publish_or(
    secret: &Secret,
    headers: &HeaderMap,
    password: Option<&str>,
) -> Result<(), ApiError> {
    if !secret.is_set() {
        return Ok(());
    }
    match bearer(headers)?.or_else(|| password.map(str::to_owned)) {
        None => Err(unauthorized(
            "publishing needs a token: send `Authorization: Bearer <token>` (or `Token <token>`)",
        )),
        Some(t) if secret.matches(&t) => Ok(()),
        Some(_) => Err(forbidden("publish")),
    }
}

/// Starting a task is something a viewer does from the page: it needs the view token (as a
/// bearer token or the page's cookie) when one is configured, or the publish token.
pub fn require_view_or_publish(auth: &AuthSettings, headers: &HeaderMap) -> Result<(), ApiError> {
    if !auth.view_token.is_set() {
        return Ok(());
    }
    let given = match bearer(headers)? {
        Some(t) => Some(t),
        None => cookie_token(headers).map(str::to_owned),
    };
    match given {
        None => Err(unauthorized(
            "starting a task needs the view token: send `Authorization: Bearer <token>` or open the page with ?token=",
        )),
        Some(t)
            if auth.view_token.matches(&t)
                || (auth.publish_token.is_set() && auth.publish_token.matches(&t)) =>
        {
            Ok(())
        }
        Some(_) => Err(forbidden("view")),
    }
}

/// Paths anyone may fetch even when viewing needs a token: health, metrics, the static
/// assets (code and styles, no data), and InfluxDB's `/ping`, `/health` and `/query` (which
/// asks for the publish token itself: InfluxDB clients send that one).
fn is_public(path: &str) -> bool {
    path == app::paths::HEALTH
        || path == app::paths::METRICS
        || path == app::paths::INFLUX_PING
        || path == app::paths::INFLUX_HEALTH
        || path == app::paths::INFLUX_QUERY
        || path.starts_with("/pkg/")
        || path.starts_with("/favicon.")
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == VIEW_COOKIE)
        .map(|(_, v)| v)
}

/// `?token=` as given: percent escapes are decoded, but a `+` stays a `+` (tokens may hold
/// one, and a link pasted as the README shows it does not encode it).
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned()
        })
}

/// Middleware: with a view token configured, pages and event streams need it, as a bearer
/// token, the `livechart_token` cookie, or `?token=` (which then sets the cookie).
pub async fn require_view(
    State(settings): State<Arc<crate::config::Settings>>,
    req: Request,
    next: Next,
) -> Response {
    let secret = &settings.auth.view_token;
    // Viewing is reading: publishing (POST) has its own token.
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if !secret.is_set() || !reading || is_public(req.uri().path()) {
        return next.run(req).await;
    }
    // A token in the address wins over the cookie: it is what the user just typed, and a
    // correct one replaces a stale cookie.
    let from_query = query_token(req.uri().query());
    let given = match bearer(req.headers()) {
        Err(e) => return e.into_response(),
        Ok(Some(t)) => Some(t),
        Ok(None) => from_query
            .clone()
            .or_else(|| cookie_token(req.headers()).map(str::to_owned)),
    };
    match given {
        None => unauthorized(
            "viewing needs a token: open the page with ?token=<token>, or send `Authorization: Bearer <token>`",
        )
        .into_response(),
        Some(t) if !secret.matches(&t) => forbidden("view").into_response(),
        Some(t) => {
            let mut response = next.run(req).await;
            if from_query.as_deref() == Some(t.as_str()) {
                // Tokens are restricted to cookie-safe characters (see config validation).
                let cookie = format!("{VIEW_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict");
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            response
        }
    }
}
