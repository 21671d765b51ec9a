//! Request extractors that answer failures with the API's error shape: a JSON body with size,
//! depth and media-type checks, the authenticated caller, and ids in paths.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use zynk_proto::ErrorCode;

use crate::error::ApiError;
use crate::services::auth::AuthContext;
use crate::state::AppState;

/// The typed id (a [`zynk_proto::UserId`], [`zynk_proto::MessageId`], …) in a path segment;
/// anything but a UUID is a 404 for `what`, as an unknown id is.
pub fn parse_id<Id: std::str::FromStr>(raw: &str, what: &str) -> Result<Id, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

/// A JSON request body: `Content-Type: application/json`, at most `limits.max_body_bytes`
/// bytes, at most `limits.max_json_depth` levels deep, matching `T` exactly.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(ref inner)
                if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "body exceeds {} bytes",
                        state.context.config.limits.max_body_bytes
                    ),
                )
            }
            other => ApiError::new(
                ErrorCode::InvalidJson,
                format!("could not read body: {other}"),
            ),
        })?;
        let max_depth = state.context.config.limits.max_json_depth;
        if json_depth_exceeds(&bytes, max_depth) {
            return Err(ApiError::new(
                ErrorCode::JsonTooDeep,
                format!("JSON nests deeper than {max_depth} levels"),
            ));
        }
        super::hardening::check_body_shape(&bytes)?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
    }
}

/// Whether the JSON text nests arrays/objects deeper than `max` (strings are skipped, so
/// brackets inside them do not count). Runs before parsing, in one pass.
pub fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The authenticated caller, from `Authorization: Bearer <access token>`. Also counts the
/// request against the caller's per-user rate limit.
pub struct Caller(pub AuthContext);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let caller = state.services.auth.authenticate(token.trim()).await?;
        let endpoint = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("");
        state
            .services
            .rate_limits
            .check_user(caller.user_id, endpoint)
            .await?;
        Ok(Caller(caller))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A query string parsed into `T`; a malformed one is a 400 with the API's error body.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidField,
                    format!("invalid query string: {}", e.body_text()),
                )
            })
    }
}

/// The client's address: the TCP peer, or, when `trust_forwarded_for` is on, the last
/// `X-Forwarded-For` entry (the one the trusted reverse proxy appended; earlier entries come
/// from the client and can be forged).
pub fn client_ip(
    parts_headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded: bool,
) -> IpAddr {
    if trust_forwarded {
        // The last entry of the last header line: what the trusted proxy appended, whether it
        // appends to the client's line or adds a line of its own.
        let forwarded = parts_headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.map(|p| p.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The peer address if the server was started with connect info.
pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_takes_the_proxys_entry() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 443)));
        let mut headers = axum::http::HeaderMap::new();
        headers.append("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        assert_eq!(client_ip(&headers, peer, true), IpAddr::from([1, 2, 3, 4]));
        headers.append("x-forwarded-for", "5.6.7.8".parse().unwrap());
        assert_eq!(client_ip(&headers, peer, true), IpAddr::from([5, 6, 7, 8]));
        assert_eq!(
            client_ip(&headers, peer, false),
            IpAddr::from([10, 0, 0, 1])
        );
        let mut junk = axum::http::HeaderMap::new();
        junk.append("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(client_ip(&junk, peer, true), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn depth_counts_structure_not_strings() {
        assert!(!json_depth_exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(json_depth_exceeds(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(!json_depth_exceeds(br#"{"a":"[[[[[[[[\"[[["}"#, 1));
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(json_depth_exceeds(deep.as_bytes(), 32));
    }
}
