//! `/api/v1/ledger` and message proofs.

use axum::Json;
use axum::extract::{Path, State};
use uuid::Uuid;
use zynk_proto::ErrorBody;

use super::extract::Caller;
use crate::error::ApiError;
use crate::services::ledger::LedgerInfo;
use crate::state::AppState;

/// `GET /api/v1/ledger`: the ledger's chain and validator key (clients pin it).
#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = LedgerInfo), (status = 401, body = ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> Result<Json<LedgerInfo>, ApiError> {
    Ok(Json(state.services.ledger.info().await?))
}

/// `GET /api/v1/messages/{message_id}/proof`: the message's inclusion proof (participants
/// only; 404 until its batch is sealed). The JSON is `zynk_ledger::MessageProof`: `leaf_hash`,
/// `leaf_index`, `tree_size`, `path` (`[{"hash", "position"}]`), `root`, the signed
/// `batch_header` and the `anchor`.
#[utoipa::path(get, path = "/api/v1/messages/{message_id}/proof", tag = "ledger", security(("bearer" = [])),
    params(("message_id" = Uuid, Path, description = "Message")),
    responses((status = 200, description = "The proof (see docs/proofs.md)", content_type = "application/json"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn proof(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(message_id): Path<String>,
) -> Result<Json<zynk_ledger::MessageProof>, ApiError> {
    let id: Uuid = message_id
        .parse()
        .map_err(|_| ApiError::not_found("message"))?;
    Ok(Json(state.services.ledger.proof(&caller, id).await?))
}

/// `GET /api/v1/identities/{did}`: the W3C DID document of `did:zynk:<user id>`, listing the
/// user's identity key (`#key-1`, `Multikey`, `publicKeyMultibase`). Served as
/// `application/did+json`.
#[utoipa::path(get, path = "/api/v1/identities/{did}", tag = "ledger", security(("bearer" = [])),
    params(("did" = String, Path, description = "A did:zynk DID")),
    responses((status = 200, description = "The DID document", content_type = "application/did+json"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn identity(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Path(did): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let document = state.services.ledger.did_document(&did).await?;
    let body = serde_json::to_string(&document).map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/did+json")],
        body,
    )
        .into_response())
}
