//! Opaque bearer tokens: 256 random bits, base64url, with a prefix that tells access and
//! refresh tokens apart (and lets secret scanners spot them). Only SHA-256 hashes are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use zynk_backends::model::SessionTokens;

/// Prefix of access tokens.
pub const ACCESS_PREFIX: &str = "zat_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "zrt_";
/// Length of a token: prefix plus 43 base64url characters (32 bytes).
pub const TOKEN_LEN: usize = 4 + 43;

/// A freshly issued access/refresh pair and what the store keeps of it.
pub struct IssuedTokens {
    /// The access token, given to the client once.
    pub access_token: String,
    /// The refresh token, given to the client once.
    pub refresh_token: String,
    /// Hashes and expiries for the store.
    pub stored: SessionTokens,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

/// Generates one token with `prefix`.
pub fn random_token(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Lowercase hex SHA-256 of a token: what the store and caches key on.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a token with `prefix` (checked before hashing, so junk is
/// rejected cheaply).
pub fn well_formed(token: &str, prefix: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(prefix)
        && token[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issues a new pair valid from `now`.
pub fn issue(
    now: DateTime<Utc>,
    access_ttl_secs: u64,
    refresh_ttl_secs: u64,
) -> Result<IssuedTokens, getrandom::Error> {
    let access_token = random_token(ACCESS_PREFIX)?;
    let refresh_token = random_token(REFRESH_PREFIX)?;
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    let stored = SessionTokens {
        access_hash: hash_token(&access_token),
        refresh_hash: hash_token(&refresh_token),
        expires_at: now + secs(access_ttl_secs),
        refresh_expires_at: now + secs(refresh_ttl_secs),
    };
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_hashed() {
        let a = issue(Utc::now(), 60, 120).unwrap();
        let b = issue(Utc::now(), 60, 120).unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert!(well_formed(&a.access_token, ACCESS_PREFIX));
        assert!(well_formed(&a.refresh_token, REFRESH_PREFIX));
        assert!(!well_formed(&a.access_token, REFRESH_PREFIX));
        assert!(!well_formed("zat_short", ACCESS_PREFIX));
        assert_eq!(a.stored.access_hash, hash_token(&a.access_token));
        assert_eq!(a.stored.access_hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.access_token));
    }
}
