//! Checks of proof-of-possession signatures (`zynk_proto::possession`): a key is recorded only
//! when its holder signed a statement naming the account and the key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zynk_proto::ErrorCode;

use crate::error::ApiError;

/// Checks that `signature` (the request field `field`) is `key`'s Ed25519 signature over
/// `statement`; `what` names the key and statement for the error message.
pub fn verify(
    field: &str,
    signature: Option<&str>,
    key: &[u8; 32],
    statement: &[u8],
    what: &str,
) -> Result<(), ApiError> {
    let Some(signature) = signature else {
        return Err(ApiError::new(
            ErrorCode::InvalidSignature,
            format!("`{field}` is required: the {what} (proof of possession, see docs/api.md)"),
        ));
    };
    let bytes = STANDARD_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSignature,
                format!("`{field}` must be 64 bytes, unpadded standard base64"),
            )
        })?;
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidKey,
            format!("the key `{field}` signs for is invalid"),
        )
    })?;
    verifying
        .verify_strict(statement, &ed25519_dalek::Signature::from_bytes(&bytes))
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidSignature,
                format!("`{field}` does not verify: it must be the {what}"),
            )
        })
}
