//! `/api/v1/users/me/trust`, `/api/v1/users/{id}/report` and `/api/v1/users/{id}/vouch`: trust
//! scores, spam reports and vouches.

use axum::Json;
use axum::extract::{Path, State};
use zynk_proto::{ErrorBody, UserId};

use super::extract::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/users/me/trust`: the caller's trust score, the rate-limit share it gives and
/// its history (newest first; reporters and vouchers are not named).
#[utoipa::path(get, path = "/api/v1/users/me/trust", tag = "trust", security(("bearer" = [])),
    responses((status = 200, body = zynk_proto::trust::TrustReport), (status = 401, body = ErrorBody)))]
pub async fn my_trust(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<zynk_proto::trust::TrustReport>, ApiError> {
    Ok(Json(state.services.trust.report_for(&caller).await?))
}

fn user_path(user_id: &str) -> Result<UserId, ApiError> {
    super::extract::parse_id(user_id, "user")
}

/// `POST /api/v1/users/{user_id}/report`: reports a user you share a conversation with for spam
/// (`{"reason": "spam"}`; once per day per user; weighted by your own score).
#[utoipa::path(post, path = "/api/v1/users/{user_id}/report", tag = "trust", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The reported user")),
    request_body = zynk_proto::trust::ReportRequest,
    responses((status = 200, body = zynk_proto::trust::TrustActionResult), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn report_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    super::extract::ApiJson(request): super::extract::ApiJson<zynk_proto::trust::ReportRequest>,
) -> Result<Json<zynk_proto::trust::TrustActionResult>, ApiError> {
    let target = user_path(&user_id)?;
    Ok(Json(
        state
            .services
            .trust
            .report(&caller, target, &request.reason)
            .await?,
    ))
}

/// `POST /api/v1/users/{user_id}/vouch`: vouches for a user you share a conversation with (for
/// example after comparing safety numbers); once per user, weighted by your own score.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/vouch", tag = "trust", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The user vouched for")),
    responses((status = 200, body = zynk_proto::trust::TrustActionResult),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn vouch_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<zynk_proto::trust::TrustActionResult>, ApiError> {
    let target = user_path(&user_id)?;
    Ok(Json(state.services.trust.vouch(&caller, target).await?))
}
