//! Password handling: the raw password never leaves the client. It is
//! stretched once per login into a master key, which is split into the
//! secret sent to the server as the account "password" and the key that
//! encrypts the identity backup (which never leaves the client).
//!
//! # Derivation (version 1, fixed: changing it locks users out)
//!
//! ```text
//! master      = Argon2id(v=0x13, m=19456 KiB, t=2, p=1, 32-byte output,
//!                        password = UTF-8 password,
//!                        salt     = "zynk-auth-v1:" ‖ ASCII-lowercase(username))
//! auth_secret = standard base64 (padded, 44 chars) of
//!               HKDF-SHA256(ikm = master, salt = none, info = "zynk/auth-secret/v1",  L = 32)
//! backup_key  = HKDF-SHA256(ikm = master, salt = none, info = "zynk/identity-backup/v1", L = 32)
//! ```
//!
//! The server stores `auth_secret` behind its own password hash (PBKDF2), so
//! neither a database leak nor the server itself learns the password or the
//! backup key. The salt is the username, so the same password gives a
//! different master key for every account; usernames are compared
//! case-insensitively by the server and lowercased here.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::ClientError;

/// Prefix of the Argon2id salt; the lowercased username follows it.
pub const AUTH_SALT_PREFIX: &str = "zynk-auth-v1:";
/// HKDF info of the authentication secret.
pub const AUTH_SECRET_INFO: &[u8] = b"zynk/auth-secret/v1";
/// HKDF info of the identity backup key.
pub const BACKUP_KEY_INFO: &[u8] = b"zynk/identity-backup/v1";
/// Argon2id memory cost in KiB (19 MiB, OWASP's recommendation).
pub const AUTH_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const AUTH_ITERATIONS: u32 = 2;
/// Argon2id lanes.
pub const AUTH_PARALLELISM: u32 = 1;

/// The 32-byte key that encrypts the identity backup. Never leaves the
/// client; zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct BackupKey(Zeroizing<[u8; 32]>);

impl BackupKey {
    /// Wrap raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw key.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

/// What a password turns into: the server-facing secret and the backup key.
/// Zeroized on drop, redacted in `Debug`.
pub struct Credentials {
    auth_secret: Zeroizing<String>,
    backup_key: BackupKey,
}

impl Credentials {
    /// Derive the credentials of `username` from `password` (see the module
    /// documentation). Costs one Argon2id run (19 MiB).
    pub fn derive(username: &str, password: &str) -> Result<Self, ClientError> {
        Self::derive_with_params(
            username,
            password,
            AUTH_MEMORY_KIB,
            AUTH_ITERATIONS,
            AUTH_PARALLELISM,
        )
    }

    /// [`Self::derive`] with other Argon2id costs (tests only: any other
    /// value gives different secrets and cannot log in).
    pub(crate) fn derive_with_params(
        username: &str,
        password: &str,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, ClientError> {
        let params = Params::new(memory_kib, iterations, parallelism, Some(32))
            .map_err(|e| ClientError::Invalid(format!("key derivation parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = format!("{AUTH_SALT_PREFIX}{}", username.to_ascii_lowercase());
        let mut master = Zeroizing::new([0u8; 32]);
        argon2
            .hash_password_into(password.as_bytes(), salt.as_bytes(), master.as_mut_slice())
            .map_err(|e| ClientError::Invalid(format!("password key derivation: {e}")))?;
        let hkdf = Hkdf::<Sha256>::new(None, master.as_slice());
        let mut auth = Zeroizing::new([0u8; 32]);
        let mut backup = [0u8; 32];
        hkdf.expand(AUTH_SECRET_INFO, auth.as_mut_slice())
            .and_then(|()| hkdf.expand(BACKUP_KEY_INFO, &mut backup))
            .map_err(|_| ClientError::Invalid("HKDF output length".into()))?;
        let backup_key = BackupKey::from_bytes(backup);
        zeroize::Zeroize::zeroize(&mut backup);
        Ok(Self {
            auth_secret: Zeroizing::new(STANDARD.encode(auth.as_slice())),
            backup_key,
        })
    }

    /// The secret sent as the `password` field of register, login and
    /// account deletion.
    pub fn auth_secret(&self) -> &str {
        &self.auth_secret
    }

    /// The identity backup key.
    pub fn backup_key(&self) -> &BackupKey {
        &self.backup_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_derivation_is_deterministic_case_insensitive_and_separated() {
        let a = Credentials::derive_with_params("Alice", "pw", 64, 1, 1).unwrap();
        let b = Credentials::derive_with_params("alice", "pw", 64, 1, 1).unwrap();
        assert_eq!(a.auth_secret(), b.auth_secret());
        assert_eq!(a.backup_key().as_bytes(), b.backup_key().as_bytes());
        assert_eq!(a.auth_secret().len(), 44);
        // The two outputs are independent of each other.
        assert_ne!(
            STANDARD.decode(a.auth_secret()).unwrap(),
            a.backup_key().as_bytes().to_vec()
        );
        // Another user or password gives other secrets.
        let c = Credentials::derive_with_params("bob", "pw", 64, 1, 1).unwrap();
        let d = Credentials::derive_with_params("alice", "pw2", 64, 1, 1).unwrap();
        assert_ne!(a.auth_secret(), c.auth_secret());
        assert_ne!(a.auth_secret(), d.auth_secret());
        assert_ne!(a.backup_key().as_bytes(), d.backup_key().as_bytes());
    }

    /// Known-answer vectors with the real parameters, computed independently
    /// (Python `cryptography`: `Argon2id` then `HKDF(SHA256)`).
    #[test]
    fn derivation_vectors() {
        let vectors = [
            (
                "Alice_1",
                "correct horse battery staple",
                "tEnx2axLjAQCLNOZWiQnuaWyyk30iHMI1NV3XW9aBo4=",
                "08dce16c48812d5e9b46e41ab4ea5c24fc4647684e535fd49cce317e57253082",
            ),
            (
                "bob",
                "p\u{e4}ssw\u{f6}rd \u{1f511}",
                "JGTyDwy+KUS3UPKrF8v7T/ZEj3QkTwADAfAkp5CSt68=",
                "4bf3934dfbe14723025ca39750b13cbbb718f011d65eaee40d19a2b8445e8762",
            ),
        ];
        for (username, password, auth_secret, backup_key) in vectors {
            let creds = Credentials::derive(username, password).unwrap();
            assert_eq!(creds.auth_secret(), auth_secret, "{username}");
            assert_eq!(hex::encode(creds.backup_key().as_bytes()), backup_key);
        }
    }

    #[test]
    fn debug_is_redacted() {
        let creds = Credentials::derive_with_params("alice", "pw", 64, 1, 1).unwrap();
        let text = format!("{creds:?} {:?}", creds.backup_key());
        assert!(!text.contains(creds.auth_secret()));
        assert!(text.contains("redacted"));
    }
}
