//! API errors: one type, [`ApiError`], answered as `{"error": kind, "detail": what and where}`,
//! and the conversions from what handlers fail with.

use crate::hub::PublishError;
use app::model::{ErrorBody, StreamName};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

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

pub fn unknown_stream(name: &StreamName) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_stream",
        format!("there is no stream named \"{name}\""),
    )
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
        E::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_point"),
        // Removed twice while publishing: a client may simply try again.
        E::Removed => (StatusCode::SERVICE_UNAVAILABLE, "stream_removed"),
        E::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        E::Broker(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
        // Not a 503: retrying blindly may publish twice.
        E::OutcomeUnknown(_) => (StatusCode::GATEWAY_TIMEOUT, "outcome_unknown"),
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
