//! `/api/v1/keys` and `/api/v1/users/me/identity-backup`: device keys, one-time keys and the
//! encrypted identity backup.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::keys::{
    KeyCounts, KeysClaimRequest, KeysClaimResponse, KeysQueryRequest, KeysQueryResponse,
    KeysUploadRequest,
};
use zynk_proto::users::IdentityBackup;

use super::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// `PUT /api/v1/users/me/identity-backup`: stores the caller's encrypted identity key.
#[utoipa::path(put, path = "/api/v1/users/me/identity-backup", tag = "keys", security(("bearer" = [])),
    request_body = IdentityBackup,
    responses((status = 204, description = "Stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn put_identity_backup(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<IdentityBackup>,
) -> Result<StatusCode, ApiError> {
    state.services.keys.put_backup(&caller, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/users/me/identity-backup`: the caller's encrypted identity key.
#[utoipa::path(get, path = "/api/v1/users/me/identity-backup", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = IdentityBackup), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_identity_backup(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<IdentityBackup>, ApiError> {
    Ok(Json(state.services.keys.get_backup(&caller).await?))
}

/// `POST /api/v1/keys/upload`: the calling device's key bundle, one-time keys, fallback key.
#[utoipa::path(post, path = "/api/v1/keys/upload", tag = "keys", security(("bearer" = [])),
    request_body = KeysUploadRequest,
    responses((status = 200, body = KeyCounts), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn upload_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<KeysUploadRequest>,
) -> Result<Json<KeyCounts>, ApiError> {
    Ok(Json(state.services.keys.upload(&caller, &body).await?))
}

/// `GET /api/v1/keys/count`: the calling device's key stock.
#[utoipa::path(get, path = "/api/v1/keys/count", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyCounts), (status = 401, body = ErrorBody)))]
pub async fn key_count(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<KeyCounts>, ApiError> {
    Ok(Json(state.services.keys.count(&caller).await?))
}

/// `POST /api/v1/keys/query`: identity keys and device bundles of users.
#[utoipa::path(post, path = "/api/v1/keys/query", tag = "keys", security(("bearer" = [])),
    request_body = KeysQueryRequest,
    responses((status = 200, body = KeysQueryResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn query_keys(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    ApiJson(body): ApiJson<KeysQueryRequest>,
) -> Result<Json<KeysQueryResponse>, ApiError> {
    Ok(Json(state.services.keys.query(&body.user_ids).await?))
}

/// `POST /api/v1/keys/claim`: one one-time (or fallback) key per device.
#[utoipa::path(post, path = "/api/v1/keys/claim", tag = "keys", security(("bearer" = [])),
    request_body = KeysClaimRequest,
    responses((status = 200, body = KeysClaimResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, description = "Too many keys claimed by the caller, in all or from one device", body = ErrorBody)))]
pub async fn claim_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<KeysClaimRequest>,
) -> Result<Json<KeysClaimResponse>, ApiError> {
    Ok(Json(
        state.services.keys.claim(&caller, &body.devices).await?,
    ))
}
