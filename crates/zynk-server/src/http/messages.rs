//! `/api/v1/conversations/{id}/messages` and `/api/v1/messages`: sending messages, history and
//! single messages.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use zynk_proto::ErrorBody;
use zynk_proto::messages::{Message, MessagePage, SendMessageRequest, SendMessageResponse};

use super::extract::{ApiJson, ApiQuery, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/conversations/{conversation_id}/messages`: sends a message (201; 200 for an
/// idempotent retry of the same message id).
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation")),
    request_body = SendMessageRequest,
    responses((status = 201, body = SendMessageResponse), (status = 200, description = "Retry of a stored message", body = SendMessageResponse),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
    ApiJson(body): ApiJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<SendMessageResponse>), ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    let sent = state.services.messages.send(&caller, id, &body).await?;
    Ok((
        if sent.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(sent),
    ))
}

/// Query of a history page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages after this sequence number, ascending (default: from the start).
    after: Option<i64>,
    /// Messages before this sequence number (the newest of them), ascending.
    before: Option<i64>,
    /// At most this many (default 100; values outside 1-500 are clamped).
    limit: Option<u32>,
}

/// `GET /api/v1/conversations/{conversation_id}/messages`: a page of history.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = inline(zynk_proto::ConversationId), Path, description = "Conversation"), HistoryQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    Ok(Json(
        state
            .services
            .messages
            .history(&caller, id, query.after, query.before, query.limit)
            .await?,
    ))
}

/// `GET /api/v1/messages/{message_id}`: one message of one of the caller's conversations.
#[utoipa::path(get, path = "/api/v1/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("message_id" = inline(zynk_proto::MessageId), Path, description = "Message")),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(message_id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    let id = parse_id(&message_id, "message")?;
    Ok(Json(state.services.messages.get(&caller, id).await?))
}
