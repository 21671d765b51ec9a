//! `/api/v1/conversations`: the caller's conversations and their delivered/read cursors.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::conversations::{Conversation, CreateConversationRequest, ReceiptRequest};

use super::extract::{ApiJson, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/conversations`: opens the 1:1 conversation with a user (201 when new).
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations", security(("bearer" = [])),
    request_body = CreateConversationRequest,
    responses((status = 201, body = Conversation), (status = 200, description = "Already existed", body = Conversation),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_conversation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateConversationRequest>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let (conversation, created) = state.services.conversations.open(&caller, &body).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(conversation),
    ))
}

/// `GET /api/v1/conversations`: the caller's conversations with unread counts.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Conversation>), (status = 401, body = ErrorBody)))]
pub async fn list_conversations(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    Ok(Json(state.services.conversations.list(&caller).await?))
}

/// `GET /api/v1/conversations/{conversation_id}`: one of the caller's conversations.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation")),
    responses((status = 200, body = Conversation), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    Ok(Json(state.services.conversations.get(&caller, id).await?))
}

/// `POST /api/v1/conversations/{conversation_id}/receipts`: moves the caller's delivered/read
/// cursors forward.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/receipts", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation")),
    request_body = ReceiptRequest,
    responses((status = 204, description = "Recorded"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn receipts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
    ApiJson(body): ApiJson<ReceiptRequest>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    state
        .services
        .conversations
        .receipt(&caller, id, &body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
