//! Middleware against slow or abusive requests: the request timeout.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use zynk_proto::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// Answers 503 `request_timeout` when a request takes longer than
/// `connections.request_timeout_secs` from its headers to its answer.
pub async fn request_timeout(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = Duration::from_secs(state.context.config.connections.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("zynk_http_request_timeouts_total").increment(1);
            let mut error = ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the request took longer than {} s", limit.as_secs()),
            );
            error.retry_after = Some(1);
            error.into_response()
        }
    }
}

/// The client's address, as the rate limits see it (the peer, or the trusted proxy's
/// `X-Forwarded-For` entry with `trust_forwarded_for`).
pub struct ClientAddr(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(super::extract::client_ip(
            &parts.headers,
            super::extract::peer_addr(&parts.extensions),
            state.context.config.trust_forwarded_for,
        )))
    }
}
