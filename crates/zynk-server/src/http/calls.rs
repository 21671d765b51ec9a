//! `/api/v1/calls` and `/api/v1/turn`: call records and their state, and TURN credentials. The
//! SDP and ICE signalling travels end-to-end encrypted over `/api/v1/to-device`; the server
//! only sees state changes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::calls::{Call, CallPage, CallPageQuery, CreateCallRequest, TurnCredentials};

use super::extract::{ApiJson, ApiQuery, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/calls`: calls the other participants of one of the caller's conversations.
#[utoipa::path(post, path = "/api/v1/calls", tag = "calls", security(("bearer" = [])),
    request_body = CreateCallRequest,
    responses((status = 201, description = "The call, `initiated` or already `ringing`", body = Call),
              (status = 400, description = "invalid_json", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "recipient_not_accepting (blocked, or a declined request), forbidden (the caller blocked the other user)", body = ErrorBody),
              (status = 404, description = "not_found: no such conversation, or the caller is not in it", body = ErrorBody),
              (status = 409, description = "call_active: the conversation already has an active call", body = ErrorBody)))]
pub async fn create_call(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateCallRequest>,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let call = state.services.calls.create(&caller, &body).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// `GET /api/v1/calls`: the caller's calls, newest first, paged with `before`.
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls", security(("bearer" = [])),
    params(CallPageQuery),
    responses((status = 200, body = CallPage),
              (status = 400, description = "invalid_field (limit), invalid_json (query)", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list_calls(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<CallPageQuery>,
) -> Result<Json<CallPage>, ApiError> {
    Ok(Json(state.services.calls.list(&caller, &query).await?))
}

/// `GET /api/v1/calls/{call_id}`: one of the caller's calls (a callee fetching a call that has
/// not rung yet makes it `ringing`).
#[utoipa::path(get, path = "/api/v1/calls/{call_id}", tag = "calls", security(("bearer" = [])),
    params(("call_id" = inline(zynk_proto::CallId), Path, description = "Call")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such call, or the caller does not take part", body = ErrorBody)))]
pub async fn get_call(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(call_id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&call_id, "call")?;
    Ok(Json(state.services.calls.get(&caller, id).await?))
}

/// `POST /api/v1/calls/{call_id}/answer`: answers a ringing call, or joins a group call in
/// progress.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/answer", tag = "calls", security(("bearer" = [])),
    params(("call_id" = inline(zynk_proto::CallId), Path, description = "Call")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such call, or the caller does not take part", body = ErrorBody),
              (status = 409, description = "illegal_call_transition: the caller's own call, already answered, or over", body = ErrorBody)))]
pub async fn answer_call(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(call_id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&call_id, "call")?;
    Ok(Json(state.services.calls.answer(&caller, id).await?))
}

/// `POST /api/v1/calls/{call_id}/decline`: declines a ringing call (a group call becomes
/// `declined` once every callee declined).
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/decline", tag = "calls", security(("bearer" = [])),
    params(("call_id" = inline(zynk_proto::CallId), Path, description = "Call")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such call, or the caller does not take part", body = ErrorBody),
              (status = 409, description = "illegal_call_transition: the caller's own call, already answered or declined, or over", body = ErrorBody)))]
pub async fn decline_call(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(call_id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&call_id, "call")?;
    Ok(Json(state.services.calls.decline(&caller, id).await?))
}

/// `POST /api/v1/calls/{call_id}/end`: hangs up. Ends a 1:1 call (with its duration), leaves a
/// group call (which ends when fewer than two remain), or, by the initiator before anyone
/// answered, makes the call `missed`.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/end", tag = "calls", security(("bearer" = [])),
    params(("call_id" = inline(zynk_proto::CallId), Path, description = "Call")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such call, or the caller does not take part", body = ErrorBody),
              (status = 409, description = "illegal_call_transition: the call is over, or the caller is not in it (a callee declines a ringing call instead)", body = ErrorBody)))]
pub async fn end_call(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(call_id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&call_id, "call")?;
    Ok(Json(state.services.calls.end(&caller, id).await?))
}

/// `GET /api/v1/turn`: time-limited TURN credentials (coturn REST scheme).
#[utoipa::path(get, path = "/api/v1/turn", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = TurnCredentials), (status = 401, body = ErrorBody),
              (status = 503, description = "turn_not_configured", body = ErrorBody)))]
pub async fn turn(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<TurnCredentials>, ApiError> {
    Ok(Json(state.services.calls.turn(&caller)?))
}
