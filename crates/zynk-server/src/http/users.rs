//! `/api/v1/users`: the caller's account, profile, privacy settings and deletion; other users'
//! public profiles.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::users::{
    DeleteAccountRequest, Me, PrivacySettings, PrivacyUpdate, Profile, ProfileUpdate, PublicProfile,
};
use zynk_proto::{ErrorBody, UserId};

use super::extract::{ApiJson, Caller};
use super::hardening::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/users/me`: the calling account, device and session.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Me>, ApiError> {
    Ok(Json(state.services.accounts.me(&caller).await?))
}

/// `DELETE /api/v1/users/me`: deletes the account and everything that belongs to it.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses((status = 204, description = "Account deleted"),
              (status = 400, body = ErrorBody), (status = 401, description = "Wrong password or no valid token", body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 429, description = "Too many password checks; see `Retry-After`", body = ErrorBody)))]
pub async fn delete_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ClientAddr(ip): ClientAddr,
    ApiJson(request): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .accounts
        .delete_account(&caller, &request.password, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/users/me/profile`: the caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me/profile", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(state.services.accounts.own_profile(&caller).await?))
}

/// `PATCH /api/v1/users/me/profile`: changes display name, avatar URL or bio.
#[utoipa::path(patch, path = "/api/v1/users/me/profile", tag = "users", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_profile(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(update): ApiJson<ProfileUpdate>,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(
        state
            .services
            .accounts
            .update_profile(&caller, &update)
            .await?,
    ))
}

/// `GET /api/v1/users/me/privacy`: the caller's privacy settings.
#[utoipa::path(get, path = "/api/v1/users/me/privacy", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = PrivacySettings), (status = 401, body = ErrorBody)))]
pub async fn get_privacy(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<PrivacySettings>, ApiError> {
    Ok(Json(state.services.accounts.privacy(&caller).await?))
}

/// `PATCH /api/v1/users/me/privacy`: changes some privacy settings.
#[utoipa::path(patch, path = "/api/v1/users/me/privacy", tag = "users", security(("bearer" = [])),
    request_body = PrivacyUpdate,
    responses((status = 200, body = PrivacySettings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_privacy(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(update): ApiJson<PrivacyUpdate>,
) -> Result<Json<PrivacySettings>, ApiError> {
    let settings = state
        .services
        .accounts
        .update_privacy(&caller, &update)
        .await?;
    if update.who_can_message.is_some() {
        // Who may message the caller may have changed: cached send decisions go.
        state.services.contacts.changed().await;
    }
    if update.show_online_status.is_some() || update.show_last_seen.is_some() {
        // Contacts see the status as it may now be seen.
        state
            .services
            .presence
            .privacy_changed(caller.user_id)
            .await;
    }
    Ok(Json(settings))
}

/// `GET /api/v1/users/{user_id}`: another user's public profile.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The user")),
    responses((status = 200, body = PublicProfile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<PublicProfile>, ApiError> {
    let user_id: UserId = super::extract::parse_id(&user_id, "user")?;
    Ok(Json(state.services.accounts.public_profile(user_id).await?))
}

/// `GET /api/v1/users/by-username/{username}`: looks a user up by username.
#[utoipa::path(get, path = "/api/v1/users/by-username/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path, description = "Username, matched case-insensitively")),
    responses((status = 200, body = PublicProfile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user_by_username(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Path(username): Path<String>,
) -> Result<Json<PublicProfile>, ApiError> {
    Ok(Json(
        state
            .services
            .accounts
            .public_profile_by_username(&username)
            .await?,
    ))
}
