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

/// The shape rules every JSON body obeys before it is parsed: the top level is an object (serde
/// would otherwise read a struct from an array of its fields in order, which docs/api.md's
/// strict bodies rule out), and no string holds U+0000 (PostgreSQL's `jsonb` cannot store it,
/// so both engines refuse it alike).
pub fn check_body_shape(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
            ));
        }
        // Empty: the parser answers.
        None => return Ok(()),
    }
    if holds_escaped_nul(bytes) {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            "strings must not contain U+0000 (NUL)",
        ));
    }
    Ok(())
}

/// Whether a JSON string in `bytes` holds the escape `\u0000` (a raw NUL byte is not valid
/// JSON and fails parsing anyway).
fn holds_escaped_nul(bytes: &[u8]) -> bool {
    let (mut in_string, mut i) = (false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => {
                    if bytes.get(i + 1) == Some(&b'u')
                        && bytes
                            .get(i + 2..i + 6)
                            .is_some_and(|hex| hex.iter().all(|&h| h == b'0'))
                    {
                        return true;
                    }
                    // Skip the escaped character.
                    i += 2;
                    continue;
                }
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        }
        i += 1;
    }
    false
}

/// Adds the answers every operation can give to the OpenAPI document where a handler's
/// annotation leaves them out: 400, 413 and 415 to operations with a JSON body (malformed or
/// non-object JSON, too deep, too large, wrong media type), 401 to operations that need a
/// token, 429 to `/api/v1` operations (rate limits) and 503 to all (`too_many_connections`,
/// `request_timeout`, a backing service down). Each with the error body.
pub fn complete_error_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let answer = |description: &str| -> RefOr<utoipa::openapi::Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| answer(description));
            };
            if operation.request_body.is_some() {
                add(
                    "400",
                    "Invalid body: malformed JSON, not an object, a wrong field, U+0000 in a string, or nested too deep",
                );
                add("413", "The body is larger than `limits.max_body_bytes`");
                add("415", "The body is not `application/json`");
            }
            let has_query = operation.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
            });
            if has_query {
                add("400", "A malformed query string");
            }
            if path.contains('{') {
                add(
                    "404",
                    "No such resource (a malformed id is not found either)",
                );
            }
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add("401", "No valid access token");
            }
            if path.starts_with("/api/v1") {
                add("429", "Rate limited; see `Retry-After`");
            }
            add(
                "503",
                "Too many connections, the request took too long, or a backing service is down; see `Retry-After` where given",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_objects_without_nul() {
        assert!(check_body_shape(br#" {"a": "b"}"#).is_ok());
        assert!(check_body_shape(br#"["one_to_one", "x"]"#).is_err());
        assert!(check_body_shape(br#""text""#).is_err());
        assert!(check_body_shape(br#"{"a": "x\u0000y"}"#).is_err());
        assert!(check_body_shape(br#"{"a\u0000": 1}"#).is_err());
        // An escaped backslash followed by the text u0000 is no NUL.
        assert!(check_body_shape(br#"{"a": "x\\u0000"}"#).is_ok());
        assert!(check_body_shape(br#"{"a": "\u00001"}"#).is_err());
        assert!(check_body_shape(br#"{"a": "\u0001"}"#).is_ok());
    }
}
