//! `/api/v1/location` and `/api/v1/nearby`: proximity discovery, as distance buckets only (the
//! rules are in [`crate::services::proximity`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::proximity::{NearbyUser, SetLocationRequest};

use super::extract::{ApiJson, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// `PUT /api/v1/location`: shares the caller's position for five minutes, snapped to a grid
/// cell before it is kept (in the ephemeral store only). Sharing from another cell than the
/// current one is a move; moves are limited.
#[utoipa::path(put, path = "/api/v1/location", tag = "proximity", security(("bearer" = [])),
    request_body = SetLocationRequest,
    responses((status = 204, description = "Shared until five minutes from now"),
              (status = 400, description = "invalid_field: a coordinate is out of range; invalid_json", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "proximity_disabled: `allow_proximity_discovery` is off, or the server offers no proximity discovery", body = ErrorBody),
              (status = 429, description = "rate_limited: the shared position moved to another cell too often; nothing changed", body = ErrorBody)))]
pub async fn set_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<SetLocationRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.proximity.share(&caller, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/location`: stops sharing; the caller disappears from searches at once.
#[utoipa::path(delete, path = "/api/v1/location", tag = "proximity", security(("bearer" = [])),
    responses((status = 204, description = "Not shared (also when it was not)"),
              (status = 401, body = ErrorBody)))]
pub async fn clear_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    state.services.proximity.clear(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/nearby`: users who share their location and allow proximity discovery, within
/// 20 km of the caller's own shared cell, as distance buckets (`<1km`, `1-5km`, `5-20km`),
/// ordered by bucket then username. Users who block the caller or whom the caller blocks are
/// never listed.
#[utoipa::path(get, path = "/api/v1/nearby", tag = "proximity", security(("bearer" = [])),
    responses((status = 200, body = Vec<NearbyUser>),
              (status = 401, body = ErrorBody),
              (status = 403, description = "proximity_disabled", body = ErrorBody),
              (status = 409, description = "location_required: the caller shared no location in the last five minutes", body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn nearby(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<NearbyUser>>, ApiError> {
    Ok(Json(state.services.proximity.nearby(&caller).await?))
}
