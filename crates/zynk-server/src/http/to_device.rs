//! `/api/v1/to-device`: device-to-device payloads and the calling device's inbox.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use zynk_proto::ErrorBody;
use zynk_proto::to_device::{
    ToDeviceAck, ToDeviceInbox, ToDeviceSendRequest, ToDeviceSendResponse,
};

use super::extract::{ApiJson, ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/to-device`: sends payloads to devices' inboxes.
#[utoipa::path(post, path = "/api/v1/to-device", tag = "to-device", security(("bearer" = [])),
    request_body = ToDeviceSendRequest,
    responses((status = 200, body = ToDeviceSendResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn send_to_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ToDeviceSendRequest>,
) -> Result<Json<ToDeviceSendResponse>, ApiError> {
    Ok(Json(state.services.to_device.send(&caller, &body).await?))
}

/// Query of the inbox.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Return payloads after this inbox id (default 0).
    since: Option<i64>,
    /// At most this many (default 100; values outside 1-500 are clamped).
    limit: Option<i64>,
}

/// `GET /api/v1/to-device`: the calling device's inbox.
#[utoipa::path(get, path = "/api/v1/to-device", tag = "to-device", security(("bearer" = [])),
    params(InboxQuery),
    responses((status = 200, body = ToDeviceInbox), (status = 401, body = ErrorBody)))]
pub async fn to_device_inbox(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<ToDeviceInbox>, ApiError> {
    let inbox = state
        .services
        .to_device
        .inbox(
            &caller,
            query.since.unwrap_or(0),
            query
                .limit
                .map_or(100, |limit| u32::try_from(limit.max(0)).unwrap_or(u32::MAX)),
        )
        .await?;
    Ok(Json(inbox))
}

/// `POST /api/v1/to-device/ack`: deletes processed payloads from the calling device's inbox.
#[utoipa::path(post, path = "/api/v1/to-device/ack", tag = "to-device", security(("bearer" = [])),
    request_body = ToDeviceAck,
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody)))]
pub async fn ack_to_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ToDeviceAck>,
) -> Result<StatusCode, ApiError> {
    state.services.to_device.ack(&caller, body.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}
