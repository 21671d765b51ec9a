//! `/api/v1/devices` and `/api/v1/sessions`: the caller's devices and sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::devices::{DeviceView, PushTokenRequest};
use zynk_proto::sessions::SessionView;

use super::extract::{ApiJson, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/devices`: the caller's devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = Vec<DeviceView>), (status = 401, body = ErrorBody)))]
pub async fn list_devices(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    Ok(Json(state.services.devices.list(&caller).await?))
}

/// `DELETE /api/v1/devices/{device_id}`: revokes a device; its sessions stop working at once.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}", tag = "devices", security(("bearer" = [])),
    params(("device_id" = inline(zynk_proto::DeviceId), Path, description = "One of the caller's devices")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .devices
        .revoke(&caller, parse_id(&device_id, "device")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/devices/{device_id}/push-token`: sets (or with `null` clears) the push token.
#[utoipa::path(put, path = "/api/v1/devices/{device_id}/push-token", tag = "devices", security(("bearer" = [])),
    params(("device_id" = inline(zynk_proto::DeviceId), Path, description = "One of the caller's devices")),
    request_body = PushTokenRequest,
    responses((status = 204, description = "Set"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_push_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(device_id): Path<String>,
    ApiJson(request): ApiJson<PushTokenRequest>,
) -> Result<StatusCode, ApiError> {
    let device_id = parse_id(&device_id, "device")?;
    state
        .services
        .devices
        .set_push_token(&caller, device_id, request.push_token.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/sessions`: the caller's sessions.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    Ok(Json(state.services.devices.sessions(&caller).await?))
}

/// `DELETE /api/v1/sessions/{session_id}`: revokes one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/sessions/{session_id}", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = inline(zynk_proto::SessionId), Path, description = "One of the caller's sessions")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .devices
        .revoke_session(&caller, parse_id(&session_id, "session")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
