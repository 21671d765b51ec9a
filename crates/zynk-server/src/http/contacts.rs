//! Blocking (`/api/v1/users/{user_id}/block`, `/api/v1/blocks`) and message requests
//! (`/api/v1/requests`, `/api/v1/conversations/{conversation_id}/accept|decline`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::contacts::BlockedUser;
use zynk_proto::conversations::Conversation;

use super::extract::{Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `PUT /api/v1/users/{user_id}/block`: blocks a user (idempotent). They can no longer open a
/// 1:1 conversation with the caller or send into it, and are not told.
#[utoipa::path(put, path = "/api/v1/users/{user_id}/block", tag = "contacts", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The user to block")),
    responses((status = 204, description = "Blocked (or already blocked)"),
              (status = 400, description = "The caller themself", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn block_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    state.services.contacts.block(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/{user_id}/block`: lifts a block (idempotent).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/block", tag = "contacts", security(("bearer" = [])),
    params(("user_id" = inline(zynk_proto::UserId), Path, description = "The user to unblock")),
    responses((status = 204, description = "Not blocked (any more)"),
              (status = 400, description = "The caller themself", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn unblock_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    state.services.contacts.unblock(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/blocks`: the users the caller blocked, most recent first.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, body = Vec<BlockedUser>), (status = 401, body = ErrorBody)))]
pub async fn list_blocks(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<BlockedUser>>, ApiError> {
    Ok(Json(state.services.contacts.blocks(&caller).await?))
}

/// `GET /api/v1/requests`: the caller's message requests: 1:1 conversations with at least one
/// message that the caller has not accepted (`request_state` `pending`), most recently active
/// first. They are not in `GET /api/v1/conversations`.
#[utoipa::path(get, path = "/api/v1/requests", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, body = Vec<Conversation>), (status = 401, body = ErrorBody)))]
pub async fn list_requests(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    Ok(Json(state.services.conversations.requests(&caller).await?))
}

/// `POST /api/v1/conversations/{conversation_id}/accept`: accepts a message request (or a
/// declined conversation); accepting an accepted one changes nothing.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/accept", tag = "contacts", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation")),
    responses((status = 200, description = "Accepted", body = Conversation), (status = 401, body = ErrorBody),
              (status = 404, description = "Not a conversation of the caller", body = ErrorBody),
              (status = 409, description = "`not_a_request`: a group conversation", body = ErrorBody)))]
pub async fn accept_request(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    Ok(Json(
        state.services.conversations.accept(&caller, id).await?,
    ))
}

/// `POST /api/v1/conversations/{conversation_id}/decline`: declines a message request: it is
/// hidden from the caller and the other side's sends are refused as if blocked. Declining a
/// declined request changes nothing.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/decline", tag = "contacts", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation")),
    responses((status = 204, description = "Declined"), (status = 401, body = ErrorBody),
              (status = 404, description = "Not a conversation of the caller", body = ErrorBody),
              (status = 409, description = "`not_a_request`: accepted already, or a group", body = ErrorBody)))]
pub async fn decline_request(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    state.services.conversations.decline(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
