//! `/api/v1/auth`: register, login, refresh, logout.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::auth::{AuthResponse, LoginRequest, RefreshRequest, RegisterRequest};

use super::extract::{ApiJson, Caller};
use super::hardening::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/auth/register`: creates an account with its first device and session.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 400, description = "Invalid username, password, key, platform or field", body = ErrorBody),
        (status = 409, description = "Username or device fingerprint taken", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let response = state.services.accounts.register(&request, ip).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// `POST /api/v1/auth/login`: logs in on a device, registering the device if it is new.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Unknown username or wrong password", body = ErrorBody),
        (status = 409, description = "Device fingerprint belongs to another account", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(state.services.accounts.login(&request, ip).await?))
}

/// `POST /api/v1/auth/refresh`: rotates the refresh token and issues a new access token.
/// Replaying a rotated refresh token revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = AuthResponse),
        (status = 401, description = "Invalid, expired or replayed refresh token", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(
        state
            .services
            .accounts
            .refresh(&request.refresh_token)
            .await?,
    ))
}

/// `POST /api/v1/auth/logout`: ends the calling session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out"), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    state.services.accounts.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
