//! Keys, the to-device channel, conversations, messages and receipts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;
use zynk_proto::ErrorBody;
use zynk_proto::conversations::{Conversation, CreateConversationRequest, ReceiptRequest};
use zynk_proto::keys::{
    KeyCounts, KeysClaimRequest, KeysClaimResponse, KeysQueryRequest, KeysQueryResponse,
    KeysUploadRequest,
};
use zynk_proto::messages::{Message, MessagePage, SendMessageRequest, SendMessageResponse};
use zynk_proto::to_device::{
    ToDeviceAck, ToDeviceInbox, ToDeviceSendRequest, ToDeviceSendResponse,
};
use zynk_proto::users::IdentityBackup;

use super::extract::{ApiJson, ApiQuery, Caller};
use crate::error::ApiError;
use crate::state::AppState;

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

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
    responses((status = 200, body = KeysClaimResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn claim_keys(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    ApiJson(body): ApiJson<KeysClaimRequest>,
) -> Result<Json<KeysClaimResponse>, ApiError> {
    Ok(Json(state.services.keys.claim(&body.devices).await?))
}

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
pub struct InboxQuery {
    /// Return payloads after this inbox id (default 0).
    since: Option<i64>,
    /// At most this many (1-500, default 100).
    limit: Option<u32>,
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
            query.limit.unwrap_or(100),
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
    params(("conversation_id" = Uuid, Path, description = "Conversation")),
    responses((status = 200, body = Conversation), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation_id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let id = parse_id(&conversation_id, "conversation")?;
    Ok(Json(state.services.conversations.get(&caller, id).await?))
}

/// `POST /api/v1/conversations/{conversation_id}/messages`: sends a message (201; 200 for an
/// idempotent retry of the same message id).
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = Uuid, Path, description = "Conversation")),
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
pub struct HistoryQuery {
    /// Messages after this sequence number, ascending (default: from the start).
    after: Option<i64>,
    /// Messages before this sequence number (the newest of them), ascending.
    before: Option<i64>,
    /// At most this many (1-500, default 100).
    limit: Option<u32>,
}

/// `GET /api/v1/conversations/{conversation_id}/messages`: a page of history.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = Uuid, Path, description = "Conversation"), HistoryQuery),
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
    params(("message_id" = Uuid, Path, description = "Message")),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(message_id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    let id = parse_id(&message_id, "message")?;
    Ok(Json(state.services.messages.get(&caller, id).await?))
}

/// `POST /api/v1/conversations/{conversation_id}/receipts`: moves the caller's delivered/read
/// cursors forward.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/receipts", tag = "messages", security(("bearer" = [])),
    params(("conversation_id" = Uuid, Path, description = "Conversation")),
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
