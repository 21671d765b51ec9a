//! `POST /api/v1/users/me/password`: password change.

use axum::extract::State;
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::users::ChangePasswordRequest;

use super::extract::{ApiJson, Caller};
use super::hardening::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/users/me/password`: changes the password after checking the old one; stores
/// the identity backup sealed under the new password with it; ends every other session unless
/// `keep_other_sessions`.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "New password too short or long, malformed backup or body", body = ErrorBody),
        (status = 401, description = "Wrong old password, or no valid token", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, description = "Too many password checks; see `Retry-After`", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ClientAddr(ip): ClientAddr,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .accounts
        .change_password(&caller, &request, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
