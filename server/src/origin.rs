//! What a browser may do on another site's behalf. A page anywhere can make its visitor's
//! browser send a request to a server it can reach (one on `localhost`, or on the visitor's
//! network): a `POST` of a form or a `no-cors` fetch needs no preflight, so without a check
//! any web page could publish, fill `streams.max` or start tasks. Two rules stop it:
//!
//! - **Writes from other sites are refused**: a request with any method but `GET`, `HEAD` or
//!   `OPTIONS` whose `Sec-Fetch-Site` is `cross-site` or `same-site`, or, from a browser too
//!   old to send that, whose `Origin` names another host than the request's, gets `403
//!   cross_site_request`. Both headers are set by the browser and cannot be set by a page;
//!   clients that are not browsers (curl, Telegraf, InfluxDB's libraries, `livechart
//!   publish`) send neither and are unaffected, whatever their `Content-Type` (the line
//!   protocol keeps `text/plain`).
//! - **Other host names are refused when an allow-list is set** (`auth.allowed-hosts`):
//!   DNS rebinding makes a page's own origin point at this server, so that its requests are
//!   same-origin by every header; only the `Host` it sends tells them apart.

use crate::config::Settings;
use crate::error::{quoted, ApiError};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The middleware: both rules, before anything else sees the request.
pub async fn guard(State(settings): State<Arc<Settings>>, req: Request, next: Next) -> Response {
    let host = request_host(&req);
    let allowed = &settings.auth.allowed_hosts;
    if !allowed.is_empty() && !host.is_some_and(|h| host_allowed(allowed, h)) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            format!(
                "this server does not answer to the host {} (livechart.auth.allowed-hosts)",
                host.map_or_else(|| "(none given)".to_owned(), quoted)
            ),
        )
        .into_response();
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        if let Some(why) = cross_site(req.headers(), host) {
            return ApiError::new(StatusCode::FORBIDDEN, "cross_site_request", why).into_response();
        }
    }
    next.run(req).await
}

/// The host the request is for, without its port: the `Host` header, else the target's
/// authority (HTTP/2's `:authority`).
fn request_host(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .map(without_port)
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`.
fn without_port(authority: &str) -> &str {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn host_allowed(allowed: &[String], host: &str) -> bool {
    allowed.iter().any(|a| match a.strip_prefix('.') {
        Some(domain) => {
            host.eq_ignore_ascii_case(domain)
                || (host.len() > a.len()
                    && host.is_char_boundary(host.len() - a.len())
                    && host[host.len() - a.len()..].eq_ignore_ascii_case(a))
        }
        None => host.eq_ignore_ascii_case(a),
    })
}

/// Why a write is from another site's page, if it is.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    let refused = |by: &str| {
        format!(
            "a page on another site may not change anything here ({by}); publish from a program, \
             or from a page this server serves"
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => None,
            other => Some(refused(&format!("Sec-Fetch-Site: {}", quoted(other)))),
        };
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("null");
    let origin_host = origin
        .split_once("://")
        .map(|(_, authority)| without_port(authority));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(refused(&format!("Origin: {}", quoted(origin)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hosts_match_by_name_or_domain_without_port() {
        let allowed = vec!["charts.example.com".to_owned(), ".lan".to_owned()];
        for (host, ok) in [
            ("charts.example.com", true),
            ("CHARTS.example.com", true),
            ("example.com", false),
            ("evil.charts.example.com", false),
            ("lan", true),
            ("pi.lan", true),
            ("pilan", false),
            ("evil.com", false),
        ] {
            assert_eq!(host_allowed(&allowed, host), ok, "{host}");
        }
        assert_eq!(without_port("a.b:3000"), "a.b");
        assert_eq!(without_port("[::1]:3000"), "[::1]");
        assert_eq!(without_port("[::1]"), "[::1]");
    }

    #[test]
    fn writes_from_other_sites_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        let host = Some("127.0.0.1");
        assert!(cross_site(&headers(&[]), host).is_none(), "curl, Telegraf");
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-origin")]), host).is_none());
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")]), host).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")]), host).is_some());
        assert!(cross_site(&headers(&[("origin", "http://127.0.0.1:3000")]), host).is_none());
        assert!(cross_site(&headers(&[("origin", "https://evil.example")]), host).is_some());
        assert!(cross_site(&headers(&[("origin", "null")]), host).is_some());
    }
}
