//! `/api/v1/ledger`, message proofs, identities (DID documents, identity proofs, key
//! rotation) and credentials: the routes of the ledger service.

use axum::Json;
use axum::extract::{Path, State};
use zynk_proto::{ErrorBody, MessageId};

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
    params(("message_id" = inline(zynk_proto::MessageId), Path, description = "Message")),
    responses((status = 200, description = "The proof (see docs/proofs.md)", content_type = "application/json"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn proof(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(message_id): Path<String>,
) -> Result<Json<zynk_ledger::MessageProof>, ApiError> {
    let id: MessageId = super::extract::parse_id(&message_id, "message")?;
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

/// `GET /api/v1/identities/{did}/proof`: key transparency. The identity's current key as the
/// ledger records it: the `identity_registration` (or rotation) transaction, the signed header
/// of its block and the transaction's inclusion path (`zynk_ledger::IdentityProof`). 404 until
/// a block holds it.
#[utoipa::path(get, path = "/api/v1/identities/{did}/proof", tag = "ledger", security(("bearer" = [])),
    params(("did" = String, Path, description = "A did:zynk DID")),
    responses((status = 200, description = "The identity proof (see docs/proofs.md)", content_type = "application/json"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn identity_proof(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Path(did): Path<String>,
) -> Result<Json<zynk_ledger::IdentityProof>, ApiError> {
    Ok(Json(state.services.ledger.identity_proof(&did).await?))
}

/// `POST /api/v1/credentials`: issues the caller a verified-identity Verifiable Credential
/// (VC-JWT, EdDSA, issuer = the node's `did:key`), recorded by a `credential_issuance`
/// transaction.
#[utoipa::path(post, path = "/api/v1/credentials", tag = "ledger", security(("bearer" = [])),
    responses((status = 201, body = zynk_proto::trust::CredentialResponse),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn issue_credential(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<
    (
        axum::http::StatusCode,
        Json<zynk_proto::trust::CredentialResponse>,
    ),
    ApiError,
> {
    // Each credential is a permanent ledger entry: a bounded number per user and day.
    state
        .services
        .rate_limits
        .check_key(
            &format!("credentials:{}", caller.user_id),
            state.context.config.rate_limits.credentials_per_day,
            std::time::Duration::from_secs(24 * 3600),
        )
        .await?;
    let credential = state.services.ledger.issue_credential(&caller).await?;
    Ok((axum::http::StatusCode::CREATED, Json(credential)))
}

/// `PUT /api/v1/users/me/identity-key`: rotates the caller's identity key. The request carries
/// the new key and the current key's signature over
/// `"zynk/identity-rotation/v1" 0x00 ‖ did ‖ 0x00 ‖ new_key`; the rotation becomes a new
/// `identity_registration` ledger transaction for the same DID.
#[utoipa::path(put, path = "/api/v1/users/me/identity-key", tag = "ledger", security(("bearer" = [])),
    request_body = zynk_proto::trust::RotateIdentityKeyRequest,
    responses((status = 204, description = "Rotated"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rotate_identity_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    super::extract::ApiJson(request): super::extract::ApiJson<
        zynk_proto::trust::RotateIdentityKeyRequest,
    >,
) -> Result<axum::http::StatusCode, ApiError> {
    state
        .services
        .ledger
        .rotate_identity_key(&caller, &request)
        .await?;
    state
        .services
        .accounts
        .forget_identity(caller.user_id)
        .await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
