//! Panics: none is expected, but one must cost only the request it happened in. A panic
//! while a request is answered becomes that request's 500 (`CatchPanicLayer` in the router);
//! a panic elsewhere ends only its own task. Each place that panics is logged once, with its
//! message; later panics there are counted at debug level, so that a client repeating a bad
//! request cannot flood the log.

use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// Replaces the default panic message (printed for every panic) with one log line per place.
pub fn install_hook() {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
        let message = message(info.payload());
        let first = SEEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashSet::new)
            .insert(place.clone());
        if first {
            tracing::error!(%place, "a task failed: {message} (logged once per place)");
        } else {
            tracing::debug!(%place, "a task failed again: {message}");
        }
    }));
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The answer to a request whose handler panicked.
pub fn answer(_payload: Box<dyn Any + Send>) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server failed while answering this request (it is logged); other requests are not affected",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::routing::get;
    use axum::Router;
    use http::Request;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_costs_its_own_request_only() {
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }))
            .layer(CatchPanicLayer::custom(answer));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let boom = app.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(boom.into_body(), 4096).await.unwrap();
        let error: app::model::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(error.error, "internal_error");
        let fine = app.oneshot(get("/fine")).await.unwrap();
        assert_eq!(fine.status(), StatusCode::OK);
    }

    #[test]
    fn messages_are_read_from_either_payload() {
        assert_eq!(message(&"static"), "static");
        assert_eq!(message(&String::from("owned")), "owned");
        assert_eq!(message(&42), "(no message)");
    }
}
