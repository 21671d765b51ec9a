//! Small helpers shared by the client modules: clock, ids, encodings.

use base64::Engine;
use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zynk_proto::ids::MessageId;

use super::error::ClientError;

/// Standard base64 that accepts padded and unpadded input (the server's
/// `encrypted_content` may be either).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The current time by this machine's (or the browser's) clock.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    i64::try_from(now_ms())
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch by this machine's clock.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch by the browser's clock.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> u64 {
    let ms = js_sys::Date::now();
    if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    }
}

/// `N` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ClientError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| ClientError::Invalid(format!("random number generator: {e}")))?;
    Ok(bytes)
}

/// A new time-ordered UUID (version 7), e.g. a client-chosen message id.
pub fn new_message_id() -> Result<MessageId, ClientError> {
    let random = random_bytes::<10>()?;
    Ok(MessageId::from_uuid(
        uuid::Builder::from_unix_timestamp_millis(now_ms(), &random).into_uuid(),
    ))
}

/// A new random UUID (version 4), e.g. a transaction id.
pub(crate) fn new_random_id() -> Result<Uuid, ClientError> {
    Ok(uuid::Builder::from_random_bytes(random_bytes::<16>()?).into_uuid())
}

/// Standard padded base64.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64, padded or not.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    LENIENT.decode(text).ok()
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_right_versions() {
        let id = new_message_id().unwrap();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(new_random_id().unwrap().get_version_num(), 4);
        assert_ne!(new_message_id().unwrap(), id);
    }

    #[test]
    fn base64_accepts_both_paddings_and_hash_is_lowercase_hex() {
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
