//! The device's Olm account (Curve25519 + Ed25519 keys, one-time and fallback
//! keys): signed key bundles and one-time key replenishment.

use std::fmt;

use vodozemac::olm::{Account, AccountPickle};

use super::device_keys::{
    DeviceKeys, MEGOLM_ALGORITHM, OLM_ALGORITHM, OneTimeKeyUpload, SignedOneTimeKey,
};
use super::encoding::encode_base64;
use super::error::StoreError;
use super::identity::UserIdentity;

/// A device's Olm account. Holds secrets: `Debug` shows public keys only and
/// vodozemac zeroizes the key material on drop.
pub(crate) struct DeviceAccount {
    user_id: String,
    device_id: String,
    account: Account,
}

impl DeviceAccount {
    /// Create an account with fresh identity keys.
    pub(crate) fn new(user_id: String, device_id: String) -> Self {
        Self {
            user_id,
            device_id,
            account: Account::new(),
        }
    }

    /// Wrap an existing account (created before the server assigned ids).
    pub(crate) fn from_account(user_id: String, device_id: String, account: Account) -> Self {
        Self {
            user_id,
            device_id,
            account,
        }
    }

    pub(crate) fn user_id(&self) -> &str {
        &self.user_id
    }

    pub(crate) fn device_id(&self) -> &str {
        &self.device_id
    }

    pub(crate) fn inner(&self) -> &Account {
        &self.account
    }

    pub(crate) fn inner_mut(&mut self) -> &mut Account {
        &mut self.account
    }

    /// The device-key bundle, signed by the device key and by `identity`.
    pub(crate) fn device_keys(&self, identity: &UserIdentity) -> DeviceKeys {
        let keys = self.account.identity_keys();
        let algorithms = vec![OLM_ALGORITHM.to_owned(), MEGOLM_ALGORITHM.to_owned()];
        let message = DeviceKeys::signed_bytes(
            &self.user_id,
            &self.device_id,
            keys.curve25519.as_bytes(),
            keys.ed25519.as_bytes(),
            &algorithms,
        );
        DeviceKeys {
            user_id: self.user_id.clone(),
            device_id: self.device_id.clone(),
            curve25519: keys.curve25519.to_base64(),
            ed25519: keys.ed25519.to_base64(),
            algorithms,
            device_signature: self.sign(&message),
            identity_signature: identity.sign(&message),
        }
    }

    /// Generate enough one-time keys that the server holds `target` (capped
    /// at the account's maximum) given that it reports `server_remaining`,
    /// generate a fallback key when `fallback_needed`, and return every
    /// unpublished key, signed. Call [`Self::mark_keys_as_published`] once
    /// the server has stored them.
    pub(crate) fn keys_to_upload(
        &mut self,
        server_remaining: usize,
        target: usize,
        fallback_needed: bool,
    ) -> OneTimeKeyUpload {
        let target = target.min(self.account.max_number_of_one_time_keys());
        let unpublished = self.account.one_time_keys().len();
        let wanted = target.saturating_sub(server_remaining.saturating_add(unpublished));
        if wanted > 0 {
            self.account.generate_one_time_keys(wanted);
        }
        if fallback_needed && self.account.fallback_key().is_empty() {
            self.account.generate_fallback_key();
        }
        let mut one_time_keys: Vec<_> = self
            .account
            .one_time_keys()
            .into_iter()
            .map(|(key_id, key)| self.signed_key(key_id.to_base64(), key, false))
            .collect();
        one_time_keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        let fallback_key = self
            .account
            .fallback_key()
            .into_iter()
            .next()
            .map(|(key_id, key)| self.signed_key(key_id.to_base64(), key, true));
        OneTimeKeyUpload {
            one_time_keys,
            fallback_key,
        }
    }

    /// Mark all current one-time and fallback keys as published.
    pub(crate) fn mark_keys_as_published(&mut self) {
        self.account.mark_keys_as_published();
    }

    /// Sign a domain-separated statement with the device Ed25519 key.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        encode_base64(&self.account.sign(message).to_bytes())
    }

    fn signed_key(
        &self,
        key_id: String,
        key: vodozemac::Curve25519PublicKey,
        fallback: bool,
    ) -> SignedOneTimeKey {
        SignedOneTimeKey::new_signed(&self.user_id, &self.device_id, key_id, key, fallback, |m| {
            self.sign(m)
        })
    }

    /// The account pickle, encrypted with `pickle_key`.
    pub(crate) fn encrypted_pickle(&self, pickle_key: &[u8; 32]) -> String {
        self.account.pickle().encrypt(pickle_key)
    }

    /// Restore from an encrypted pickle.
    pub(crate) fn from_encrypted_pickle(
        user_id: String,
        device_id: String,
        pickle: &str,
        pickle_key: &[u8; 32],
    ) -> Result<Self, StoreError> {
        let pickle = AccountPickle::from_encrypted(pickle, pickle_key)
            .map_err(|e| StoreError::Corrupt(format!("account pickle: {e}")))?;
        Ok(Self {
            user_id,
            device_id,
            account: Account::from_pickle(pickle),
        })
    }
}

impl fmt::Debug for DeviceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.account.identity_keys();
        f.debug_struct("DeviceAccount")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("curve25519", &keys.curve25519.to_base64())
            .field("ed25519", &keys.ed25519.to_base64())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::encoding::{decode_fixed, encode_base64};
    use crate::crypto::error::VerificationError;

    fn setup() -> (UserIdentity, DeviceAccount) {
        (
            UserIdentity::generate().unwrap(),
            DeviceAccount::new("alice".into(), "PHONE".into()),
        )
    }

    fn flip_signature(signature: &str) -> String {
        let mut bytes = decode_fixed::<64>("sig", signature).unwrap();
        bytes[0] ^= 0x01;
        encode_base64(&bytes)
    }

    #[test]
    fn device_keys_verify_under_the_identity_key() {
        let (identity, account) = setup();
        let keys = account.device_keys(&identity);
        let device = keys.verify("alice", &identity.public_key()).unwrap();
        assert_eq!(device.device_id(), "PHONE");
        assert_eq!(device.curve25519_base64(), keys.curve25519);
    }

    #[test]
    fn device_keys_negative_vectors() {
        let (identity, account) = setup();
        let keys = account.device_keys(&identity);
        let trusted = identity.public_key();

        let mut altered = keys.clone();
        altered.identity_signature = flip_signature(&keys.identity_signature);
        assert_eq!(
            altered.verify("alice", &trusted),
            Err(VerificationError::BadIdentitySignature)
        );

        let mut altered = keys.clone();
        altered.device_signature = flip_signature(&keys.device_signature);
        assert_eq!(
            altered.verify("alice", &trusted),
            Err(VerificationError::BadDeviceSignature)
        );

        // Wrong identity key: signed by someone else.
        let stranger = UserIdentity::generate().unwrap();
        assert_eq!(
            keys.verify("alice", &stranger.public_key()),
            Err(VerificationError::BadIdentitySignature)
        );

        // Swapped Curve25519 key (the server substitutes its own key).
        let other = DeviceAccount::new("alice".into(), "PHONE".into());
        let mut swapped = keys.clone();
        swapped.curve25519 = other.device_keys(&identity).curve25519;
        assert_eq!(
            swapped.verify("alice", &trusted),
            Err(VerificationError::BadDeviceSignature)
        );

        // Swapped Ed25519 key with a re-made self-signature still lacks the
        // identity signature.
        let mut swapped = other.device_keys(&stranger);
        swapped.curve25519 = keys.curve25519.clone();
        assert!(swapped.verify("alice", &trusted).is_err());

        // Renamed device or user.
        let mut renamed = keys.clone();
        renamed.device_id = "LAPTOP".into();
        assert_eq!(
            renamed.verify("alice", &trusted),
            Err(VerificationError::BadDeviceSignature)
        );
        assert!(matches!(
            keys.verify("bob", &trusted),
            Err(VerificationError::UserMismatch { .. })
        ));

        // Dropped algorithm.
        let mut downgraded = keys.clone();
        downgraded.algorithms.pop();
        assert_eq!(
            downgraded.verify("alice", &trusted),
            Err(VerificationError::BadDeviceSignature)
        );

        let mut garbage = keys;
        garbage.ed25519 = "%%%".into();
        assert!(matches!(
            garbage.verify("alice", &trusted),
            Err(VerificationError::Malformed(_))
        ));
    }

    #[test]
    fn one_time_keys_are_signed_and_replenished_to_target() {
        let (identity, mut account) = setup();
        let device = account
            .device_keys(&identity)
            .verify("alice", &identity.public_key())
            .unwrap();

        let upload = account.keys_to_upload(0, 20, true);
        assert_eq!(upload.one_time_keys.len(), 20);
        let fallback = upload.fallback_key.clone().unwrap();
        assert!(fallback.fallback);
        for key in &upload.one_time_keys {
            assert!(!key.fallback);
            key.verify(&device).unwrap();
        }
        fallback.verify(&device).unwrap();

        // Before publishing, the same keys are offered again, none added.
        assert_eq!(account.keys_to_upload(0, 20, true), upload);
        account.mark_keys_as_published();
        assert!(account.keys_to_upload(20, 20, false).is_empty());

        // The server used 15: generate exactly those back.
        let refill = account.keys_to_upload(5, 20, false);
        assert_eq!(refill.one_time_keys.len(), 15);
        account.mark_keys_as_published();

        // The target is capped by vodozemac's maximum.
        let capped = account.keys_to_upload(0, 10_000, false);
        assert_eq!(
            capped.one_time_keys.len(),
            account.inner().max_number_of_one_time_keys()
        );
    }

    #[test]
    fn one_time_key_negative_vectors() {
        let (identity, mut account) = setup();
        let device = account
            .device_keys(&identity)
            .verify("alice", &identity.public_key())
            .unwrap();
        let upload = account.keys_to_upload(0, 2, true);
        let key = upload.one_time_keys[0].clone();

        let mut altered = key.clone();
        altered.signature = flip_signature(&key.signature);
        assert_eq!(
            altered.verify(&device),
            Err(VerificationError::BadOneTimeKeySignature)
        );

        // A one-time key signature does not pass as a fallback key.
        let mut relabelled = key.clone();
        relabelled.fallback = true;
        assert_eq!(
            relabelled.verify(&device),
            Err(VerificationError::BadOneTimeKeySignature)
        );

        // A key swapped for another one.
        let mut swapped = key.clone();
        swapped.key = upload.one_time_keys[1].key.clone();
        assert_eq!(
            swapped.verify(&device),
            Err(VerificationError::BadOneTimeKeySignature)
        );

        // A key of another device does not verify under this device.
        let (other_identity, other_account) = setup();
        let other_device = other_account
            .device_keys(&other_identity)
            .verify("alice", &other_identity.public_key())
            .unwrap();
        assert_eq!(
            key.verify(&other_device),
            Err(VerificationError::BadOneTimeKeySignature)
        );

        let mut truncated = key;
        truncated.key.truncate(10);
        assert!(matches!(
            truncated.verify(&device),
            Err(VerificationError::Malformed(_))
        ));
    }

    #[test]
    fn pickle_round_trip_and_wrong_key() {
        let (_, account) = setup();
        let pickle = account.encrypted_pickle(&[1; 32]);
        let restored =
            DeviceAccount::from_encrypted_pickle("alice".into(), "PHONE".into(), &pickle, &[1; 32])
                .unwrap();
        assert_eq!(
            restored.inner().identity_keys(),
            account.inner().identity_keys()
        );
        assert!(
            DeviceAccount::from_encrypted_pickle("alice".into(), "PHONE".into(), &pickle, &[2; 32])
                .is_err()
        );
        assert!(!format!("{account:?}").contains("secret"));
    }
}
