//! `/api/v1/users/{user_id}/presence`: another user's presence, as far as the caller may see
//! it. The live side (the `presence` and `typing` frames) is in the WebSocket edge.

use axum::Json;
use axum::extract::{Path, State};
use zynk_proto::presence::UserPresence;
use zynk_proto::{ErrorBody, UserId};

use super::extract::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/users/{user_id}/presence`: a user's status and last-seen time, `null` where
/// their privacy settings hide it. Only for users who share a conversation with the caller
/// (and neither blocks the other); anyone else is "not found".
#[utoipa::path(get, path = "/api/v1/users/{user_id}/presence", tag = "users", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The user")),
    responses((status = 200, body = UserPresence),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such user (or not a user id), or one who does not show their presence to the caller", body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn get_presence(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<UserPresence>, ApiError> {
    let user_id: UserId = super::extract::parse_id(&user_id, "user")?;
    Ok(Json(state.services.presence.get(&caller, user_id).await?))
}
