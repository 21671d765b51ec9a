//! `/api/v1/groups`: groups of up to 256 members, their settings and membership. A group's
//! messages go through its conversation (`/api/v1/conversations/{conversation_id}/messages`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use zynk_proto::ErrorBody;
use zynk_proto::groups::{AddMemberRequest, CreateGroupRequest, Group, UpdateGroupRequest};

use super::extract::{ApiJson, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /api/v1/groups`: creates a group; the caller is its first admin, `members` join at once.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    request_body = CreateGroupRequest,
    responses((status = 201, body = Group),
              (status = 400, description = "invalid_field, invalid_json", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: a member is no user", body = ErrorBody),
              (status = 409, description = "group_full: more members than max_members", body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, Json<Group>), ApiError> {
    let group = state.services.groups.create(&caller, &body).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// `GET /api/v1/groups`: the caller's groups, most recently changed first.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = Vec<Group>), (status = 401, body = ErrorBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Group>>, ApiError> {
    Ok(Json(state.services.groups.list(&caller).await?))
}

/// `GET /api/v1/groups/{group_id}`: one of the caller's groups with its members.
#[utoipa::path(get, path = "/api/v1/groups/{group_id}", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group")),
    responses((status = 200, body = Group), (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such group, or the caller is not a member", body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(group_id): Path<String>,
) -> Result<Json<Group>, ApiError> {
    let id = parse_id(&group_id, "group")?;
    Ok(Json(state.services.groups.get(&caller, id).await?))
}

/// `PATCH /api/v1/groups/{group_id}`: changes name, description or avatar URL (admins).
#[utoipa::path(patch, path = "/api/v1/groups/{group_id}", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group")),
    request_body = UpdateGroupRequest,
    responses((status = 200, body = Group),
              (status = 400, description = "invalid_field, invalid_json", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "forbidden: the caller is not an admin", body = ErrorBody),
              (status = 404, description = "not_found: no such group, or the caller is not a member", body = ErrorBody)))]
pub async fn update_group(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(group_id): Path<String>,
    ApiJson(body): ApiJson<UpdateGroupRequest>,
) -> Result<Json<Group>, ApiError> {
    let id = parse_id(&group_id, "group")?;
    Ok(Json(
        state.services.groups.update(&caller, id, &body).await?,
    ))
}

/// `POST /api/v1/groups/{group_id}/members`: adds a user (admins).
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/members", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group")),
    request_body = AddMemberRequest,
    responses((status = 200, description = "The group with its new member", body = Group),
              (status = 400, description = "invalid_json", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "forbidden: the caller is not an admin", body = ErrorBody),
              (status = 404, description = "not_found: no such group (or the caller is not a member), or no such user", body = ErrorBody),
              (status = 409, description = "already_member, group_full", body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(group_id): Path<String>,
    ApiJson(body): ApiJson<AddMemberRequest>,
) -> Result<Json<Group>, ApiError> {
    let id = parse_id(&group_id, "group")?;
    Ok(Json(state.services.groups.add(&caller, id, &body).await?))
}

/// `DELETE /api/v1/groups/{group_id}/members/{user_id}`: removes a member (admins; the caller
/// removing themself leaves).
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/members/{user_id}", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group"),
           ("user_id" = inline(zynk_proto::UserId), Path, description = "Member")),
    responses((status = 204, description = "Removed"),
              (status = 401, body = ErrorBody),
              (status = 403, description = "forbidden: the caller is not an admin", body = ErrorBody),
              (status = 404, description = "not_found (no such group, or the caller is not a member), not_group_member", body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((group_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&group_id, "group")?;
    let user = parse_id(&user_id, "user")?;
    state.services.groups.remove(&caller, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/groups/{group_id}/members/{user_id}/promote`: makes a member an admin (admins;
/// promoting an admin changes nothing).
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/members/{user_id}/promote", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group"),
           ("user_id" = inline(zynk_proto::UserId), Path, description = "Member")),
    responses((status = 200, body = Group),
              (status = 401, body = ErrorBody),
              (status = 403, description = "forbidden: the caller is not an admin", body = ErrorBody),
              (status = 404, description = "not_found (no such group, or the caller is not a member), not_group_member", body = ErrorBody)))]
pub async fn promote_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((group_id, user_id)): Path<(String, String)>,
) -> Result<Json<Group>, ApiError> {
    let id = parse_id(&group_id, "group")?;
    let user = parse_id(&user_id, "user")?;
    Ok(Json(
        state.services.groups.promote(&caller, id, user).await?,
    ))
}

/// `POST /api/v1/groups/{group_id}/members/{user_id}/demote`: makes an admin a plain member
/// (admins; never the last admin).
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/members/{user_id}/demote", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group"),
           ("user_id" = inline(zynk_proto::UserId), Path, description = "Member")),
    responses((status = 200, body = Group),
              (status = 401, body = ErrorBody),
              (status = 403, description = "forbidden: the caller is not an admin", body = ErrorBody),
              (status = 404, description = "not_found (no such group, or the caller is not a member), not_group_member", body = ErrorBody),
              (status = 409, description = "last_admin", body = ErrorBody)))]
pub async fn demote_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((group_id, user_id)): Path<(String, String)>,
) -> Result<Json<Group>, ApiError> {
    let id = parse_id(&group_id, "group")?;
    let user = parse_id(&user_id, "user")?;
    Ok(Json(state.services.groups.demote(&caller, id, user).await?))
}

/// `POST /api/v1/groups/{group_id}/leave`: the caller leaves (the last admin leaving promotes
/// the longest-standing member; the last member leaving ends the group).
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/leave", tag = "groups", security(("bearer" = [])),
    params(("group_id" = inline(zynk_proto::GroupId), Path, description = "Group")),
    responses((status = 204, description = "Left"),
              (status = 401, body = ErrorBody),
              (status = 404, description = "not_found: no such group, or the caller is not a member", body = ErrorBody)))]
pub async fn leave_group(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(group_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&group_id, "group")?;
    state.services.groups.leave(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
