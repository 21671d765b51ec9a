//! The identity backup: the user's identity seed encrypted under the
//! password-derived [`BackupKey`], stored opaquely by the server so that a new
//! device of the user can sign its keys after logging in.
//!
//! # Format (version 1)
//!
//! `IdentityBackup.ciphertext` is standard (padded) base64 of
//!
//! ```text
//! offset size field
//!      0    1 version = 1
//!      1   12 random AES-GCM nonce
//!     13   48 AES-256-GCM(key = backup_key, plaintext = 32-byte identity seed) ‖ 16-byte tag
//! ```
//!
//! with associated data `"zynk/identity-backup/v1" 0x00 ‖ user_id` (the
//! account's UUID, hyphenated lowercase), so a backup cannot be moved to
//! another account.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use zeroize::Zeroizing;
use zynk_proto::users::IdentityBackup;

use super::credentials::BackupKey;
use super::error::{BackupError, ClientError};
use super::util::{base64_decode, base64_encode, random_bytes};
use crate::crypto::{IdentityKey, UserIdentity};

/// The current backup format version.
pub const BACKUP_VERSION: u8 = 1;
const AAD_TAG: &[u8] = b"zynk/identity-backup/v1\0";
const NONCE_LEN: usize = 12;
const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
const BACKUP_LEN: usize = 1 + NONCE_LEN + SEED_LEN + TAG_LEN;

fn aad(user_id: &str) -> Vec<u8> {
    [AAD_TAG, user_id.as_bytes()].concat()
}

fn cipher(key: &BackupKey) -> Result<Aes256Gcm, BackupError> {
    Aes256Gcm::new_from_slice(key.as_bytes())
        .map_err(|_| BackupError::Malformed("backup key length".into()))
}

/// Encrypt `identity`'s seed for `user_id` under `key`.
pub fn seal_identity(
    identity: &UserIdentity,
    user_id: &str,
    key: &BackupKey,
) -> Result<IdentityBackup, ClientError> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    let seed = identity.export_seed();
    let ciphertext = cipher(key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: seed.as_slice(),
                aad: &aad(user_id),
            },
        )
        .map_err(|_| BackupError::Malformed("encryption failed".into()))?;
    let mut out = Vec::with_capacity(BACKUP_LEN);
    out.push(BACKUP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(IdentityBackup {
        ciphertext: base64_encode(&out),
    })
}

/// Decrypt a backup of `user_id` and check that it holds the identity whose
/// public key is `expected` (the account's key as the server reports it).
pub fn open_identity(
    backup: &IdentityBackup,
    user_id: &str,
    key: &BackupKey,
    expected: &IdentityKey,
) -> Result<UserIdentity, BackupError> {
    let bytes = base64_decode(&backup.ciphertext)
        .ok_or_else(|| BackupError::Malformed("not base64".into()))?;
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(BackupError::Malformed("empty".into()));
    };
    if version != BACKUP_VERSION {
        return Err(BackupError::UnsupportedVersion(version));
    }
    if bytes.len() != BACKUP_LEN {
        return Err(BackupError::Malformed(format!(
            "{} bytes, expected {BACKUP_LEN}",
            bytes.len()
        )));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let mut nonce_bytes = [0u8; NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    let plaintext = Zeroizing::new(
        cipher(key)?
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad: &aad(user_id),
                },
            )
            .map_err(|_| BackupError::WrongPasswordOrTampered)?,
    );
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    if plaintext.len() != SEED_LEN {
        return Err(BackupError::Malformed("seed length".into()));
    }
    seed.copy_from_slice(&plaintext);
    let identity = UserIdentity::from_seed(&seed);
    if identity.public_key() != *expected {
        return Err(BackupError::IdentityMismatch);
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BackupKey {
        BackupKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip_restores_the_same_identity() {
        let identity = UserIdentity::generate().unwrap();
        let backup = seal_identity(&identity, "user-1", &key(1)).unwrap();
        let restored = open_identity(&backup, "user-1", &key(1), &identity.public_key()).unwrap();
        assert_eq!(restored.public_key(), identity.public_key());
        // Fresh nonce: two backups of one identity differ.
        let again = seal_identity(&identity, "user-1", &key(1)).unwrap();
        assert_ne!(again.ciphertext, backup.ciphertext);
        // The seed is not visible in the backup.
        let seed = crate::crypto::encode_base64(identity.export_seed().as_slice());
        assert!(!backup.ciphertext.contains(&seed));
    }

    #[test]
    fn wrong_key_other_account_and_tampering_fail() {
        let identity = UserIdentity::generate().unwrap();
        let public = identity.public_key();
        let backup = seal_identity(&identity, "user-1", &key(1)).unwrap();
        assert_eq!(
            open_identity(&backup, "user-1", &key(2), &public).err(),
            Some(BackupError::WrongPasswordOrTampered)
        );
        assert_eq!(
            open_identity(&backup, "user-2", &key(1), &public).err(),
            Some(BackupError::WrongPasswordOrTampered)
        );
        let bytes = base64_decode(&backup.ciphertext).unwrap();
        for index in 1..bytes.len() {
            let mut altered = bytes.clone();
            altered[index] ^= 0x80;
            let altered = IdentityBackup {
                ciphertext: base64_encode(&altered),
            };
            assert_eq!(
                open_identity(&altered, "user-1", &key(1), &public).err(),
                Some(BackupError::WrongPasswordOrTampered),
                "byte {index}"
            );
        }
        let mut version = bytes.clone();
        version[0] = 9;
        let version = IdentityBackup {
            ciphertext: base64_encode(&version),
        };
        assert_eq!(
            open_identity(&version, "user-1", &key(1), &public).err(),
            Some(BackupError::UnsupportedVersion(9))
        );
        let truncated = IdentityBackup {
            ciphertext: base64_encode(&bytes[..20]),
        };
        assert!(matches!(
            open_identity(&truncated, "user-1", &key(1), &public),
            Err(BackupError::Malformed(_))
        ));
        let garbage = IdentityBackup {
            ciphertext: "%%%".into(),
        };
        assert!(open_identity(&garbage, "user-1", &key(1), &public).is_err());
    }

    #[test]
    fn a_backup_of_another_identity_is_rejected() {
        let identity = UserIdentity::generate().unwrap();
        let other = UserIdentity::generate().unwrap().public_key();
        let backup = seal_identity(&identity, "user-1", &key(1)).unwrap();
        assert_eq!(
            open_identity(&backup, "user-1", &key(1), &other).err(),
            Some(BackupError::IdentityMismatch)
        );
    }
}
