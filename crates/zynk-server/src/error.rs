//! The API error: a stable code, a message for humans, the right status, and for 429 a
//! `Retry-After`. Internal failures are logged with their detail and answered with a generic
//! message, so no secret or internal state leaks into a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zynk_backends::StoreError;
use zynk_backends::ephemeral::EphemeralError;
use zynk_proto::{ErrorBody, ErrorCode, ErrorDetail};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// The message for humans.
    pub message: String,
    /// Seconds until a rate-limited client may retry.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 with no valid token.
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "a valid bearer access token is required",
        )
    }

    /// 404 for a resource that does not exist or is not the caller's.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 400 for a bad field.
    pub fn invalid_field(field: &str, why: &str) -> Self {
        Self::new(ErrorCode::InvalidField, format!("`{field}` {why}"))
    }

    /// 429 with the time to wait.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many requests; retry in {retry_after_secs} s"),
            retry_after: Some(retry_after_secs.max(1)),
        }
    }

    /// 500; `detail` goes to the log only.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// 503; `detail` goes to the log only.
    pub fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "backing service unavailable");
        Self::new(
            ErrorCode::Unavailable,
            "a backing service is unavailable; retry later",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UsernameTaken => Self::new(ErrorCode::UsernameTaken, "username is taken"),
            StoreError::FingerprintTaken => Self::new(
                ErrorCode::FingerprintTaken,
                "this device fingerprint is registered to another account",
            ),
            other if other.is_unavailable() => Self::unavailable(&other),
            other => Self::internal(&other),
        }
    }
}

impl From<EphemeralError> for ApiError {
    fn from(err: EphemeralError) -> Self {
        match err {
            EphemeralError::Redis(ref e) if e.is_io_error() || e.is_connection_dropped() => {
                Self::unavailable(&err)
            }
            other => Self::internal(&other),
        }
    }
}
