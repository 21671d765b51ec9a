//! Key management of [`Messenger`]: finishing setup (device keys, identity
//! backup), one-time key replenishment, device lists checked against each
//! user's pinned identity key, user lookups, safety numbers and verification.

use std::collections::BTreeSet;

use zynk_proto::ids::UserId;
use zynk_proto::keys::{DeviceKeysBundle, KeyCounts, KeysUploadRequest, SignedKey};
use zynk_proto::users::PublicProfile;

use super::Messenger;
use crate::client::error::ClientError;
use crate::crypto::{
    DeviceKeys, DeviceListUpdate, IdentityKey, SafetyNumber, SignedOneTimeKey, TrustError,
    TrustLevel,
};

/// One-time keys this device keeps on the server.
pub(crate) const ONE_TIME_KEY_TARGET: usize = 50;
/// Below this many one-time keys on the server, more are uploaded.
pub(crate) const REPLENISH_BELOW: u64 = 25;

/// A safety number and the contact's trust state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyNumberReport {
    /// The contact's username.
    pub username: String,
    /// The contact's user id.
    pub user_id: UserId,
    /// The 60-digit number (computed with the key that `verify` would
    /// confirm: the newly offered one if the key changed).
    pub number: SafetyNumber,
    /// The contact's trust level.
    pub level: Option<TrustLevel>,
    /// The name belonged to another account this device knew (deleted since
    /// and registered again by someone): messaging it waits for `verify`.
    pub replaced_account: bool,
}

pub(crate) fn bundle_from(keys: DeviceKeys) -> DeviceKeysBundle {
    DeviceKeysBundle {
        user_id: keys.user_id,
        device_id: keys.device_id,
        curve25519: keys.curve25519,
        ed25519: keys.ed25519,
        algorithms: keys.algorithms,
        device_signature: keys.device_signature,
        identity_signature: keys.identity_signature,
    }
}

pub(crate) fn keys_from(bundle: DeviceKeysBundle) -> DeviceKeys {
    DeviceKeys {
        user_id: bundle.user_id,
        device_id: bundle.device_id,
        curve25519: bundle.curve25519,
        ed25519: bundle.ed25519,
        algorithms: bundle.algorithms,
        device_signature: bundle.device_signature,
        identity_signature: bundle.identity_signature,
    }
}

pub(crate) fn signed_key_from(key: SignedOneTimeKey) -> SignedKey {
    SignedKey {
        key_id: key.key_id,
        key: key.key,
        fallback: key.fallback,
        signature: key.signature,
    }
}

pub(crate) fn one_time_key_from(key: SignedKey) -> SignedOneTimeKey {
    SignedOneTimeKey {
        key_id: key.key_id,
        key: key.key,
        fallback: key.fallback,
        signature: key.signature,
    }
}

impl Messenger {
    /// Finish what registration or login left to do: upload the device key
    /// bundle with one-time and fallback keys, and the identity backup.
    /// Cheap when everything is done; every online operation calls it.
    pub async fn complete_setup(&mut self) -> Result<(), ClientError> {
        if !self.data.setup.device_keys_uploaded {
            let upload = self.machine.keys_to_upload(0, ONE_TIME_KEY_TARGET, true);
            let request = KeysUploadRequest {
                device_keys: Some(bundle_from(self.machine.device_keys())),
                one_time_keys: upload
                    .one_time_keys
                    .into_iter()
                    .map(signed_key_from)
                    .collect(),
                fallback_key: upload.fallback_key.map(signed_key_from),
            };
            self.api.upload_keys(&request).await?;
            self.machine.mark_keys_as_published();
            self.data.setup.device_keys_uploaded = true;
        }
        if let Some(backup) = self.data.setup.backup_pending.clone() {
            self.api.put_identity_backup(&backup).await?;
            self.data.setup.backup_pending = None;
        }
        Ok(())
    }

    /// Upload one-time keys (and a fallback key) when the server holds fewer
    /// than the replenish threshold. `counts` is the server's latest report,
    /// fetched if `None`.
    pub async fn replenish_keys(&mut self, counts: Option<KeyCounts>) -> Result<(), ClientError> {
        let counts = match counts {
            Some(counts) => counts,
            None => self.api.key_counts().await?,
        };
        if counts.one_time_key_count >= REPLENISH_BELOW
            && counts.fallback_key_present
            && counts.device_keys_present
        {
            return Ok(());
        }
        let remaining = usize::try_from(counts.one_time_key_count).unwrap_or(usize::MAX);
        let upload = self.machine.keys_to_upload(
            remaining,
            ONE_TIME_KEY_TARGET,
            !counts.fallback_key_present,
        );
        if upload.is_empty() && counts.device_keys_present {
            return Ok(());
        }
        let request = KeysUploadRequest {
            device_keys: (!counts.device_keys_present)
                .then(|| bundle_from(self.machine.device_keys())),
            one_time_keys: upload
                .one_time_keys
                .into_iter()
                .map(signed_key_from)
                .collect(),
            fallback_key: upload.fallback_key.map(signed_key_from),
        };
        self.api.upload_keys(&request).await?;
        self.machine.mark_keys_as_published();
        Ok(())
    }

    /// Fetch the device lists of `user_ids` and check every bundle against
    /// the user's pinned identity key (pinned on first use). Returns one
    /// result per user the server knows; a changed identity key is
    /// [`ClientError::IdentityChanged`] for that user.
    pub async fn refresh_devices(
        &mut self,
        user_ids: &[UserId],
    ) -> Result<Vec<(UserId, Result<DeviceListUpdate, ClientError>)>, ClientError> {
        self.refresh_devices_checked(user_ids, true).await
    }

    /// [`Self::refresh_devices`], with the key-transparency check of each
    /// identity key only if `transparency`. Without it, bundles are still
    /// checked against the pinned key; this is how the account's own device
    /// list is refreshed at every sync (its identity key is pinned from this
    /// device's own copy, so the ledger adds nothing there).
    pub(crate) async fn refresh_devices_checked(
        &mut self,
        user_ids: &[UserId],
        transparency: bool,
    ) -> Result<Vec<(UserId, Result<DeviceListUpdate, ClientError>)>, ClientError> {
        let unique: BTreeSet<UserId> = user_ids.iter().copied().collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let response = self
            .api
            .query_keys(unique.iter().copied().collect())
            .await?;
        let mut results = Vec::new();
        for user in response.users {
            if !unique.contains(&user.user_id) {
                continue;
            }
            let result = match IdentityKey::from_base64(&user.identity_key) {
                Err(e) => Err(ClientError::Protocol(format!(
                    "identity key of {}: {e}",
                    user.user_id
                ))),
                Ok(_)
                    if transparency
                        && let Err(e) = self
                            .check_key_transparency(user.user_id, &user.identity_key)
                            .await =>
                {
                    Err(e)
                }
                Ok(identity_key) => {
                    let devices: Vec<DeviceKeys> =
                        user.devices.into_iter().map(keys_from).collect();
                    match self.machine.update_devices(
                        &user.user_id.to_string(),
                        &identity_key,
                        &devices,
                    ) {
                        Ok(update) => Ok(update),
                        Err(TrustError::IdentityKeyChanged { was_verified, .. }) => {
                            Err(ClientError::IdentityChanged {
                                username: self.username_of(user.user_id).await,
                                was_verified,
                            })
                        }
                        Err(TrustError::ReverificationRequired { .. }) => {
                            Err(ClientError::IdentityChanged {
                                username: self.username_of(user.user_id).await,
                                was_verified: true,
                            })
                        }
                        Err(other) => Err(other.into()),
                    }
                }
            };
            results.push((user.user_id, result));
        }
        Ok(results)
    }

    /// Key transparency: check that `identity_key` (what the server hands out
    /// for `user_id`) is the key the ledger records for `did:zynk:<user_id>`,
    /// with the registration's inclusion proof in a block signed by the
    /// pinned ledger key (pinned on first use, like for message proofs). A
    /// key already checked is not fetched again; a proof from an older block
    /// than one seen before is refused (no rollback of a rotation).
    ///
    /// # Errors
    /// [`ClientError::KeyTransparency`] when the key differs from the
    /// ledger's, the proof does not hold or the identity is not in the
    /// ledger; [`ClientError::LedgerKeyChanged`]; network errors.
    pub async fn check_key_transparency(
        &mut self,
        user_id: UserId,
        identity_key: &str,
    ) -> Result<(), ClientError> {
        let previous = self.data.identity_checks.get(&user_id).cloned();
        if previous
            .as_ref()
            .is_some_and(|c| c.identity_key == identity_key)
        {
            return Ok(());
        }
        let refuse =
            |username: String, reason: String| ClientError::KeyTransparency { username, reason };
        let key_bytes: [u8; 32] = match crate::client::util::base64_decode(identity_key)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            Some(bytes) => bytes,
            None => {
                return Err(refuse(
                    self.username_of(user_id).await,
                    "the identity key is not 32 bytes of base64".into(),
                ));
            }
        };
        let info = self.api.ledger_info().await?;
        let (ledger, ledger_key, newly_pinned) = crate::client::ledger::pin_ledger_key(
            self.data.ledger.as_ref(),
            &info,
            crate::client::util::now_ms(),
        )?;
        let did = zynk_ledger::ZynkDid::new(user_id.as_uuid());
        let Some(proof) = self.api.identity_proof(&did.to_string()).await? else {
            return Err(refuse(
                self.username_of(user_id).await,
                format!("{did} is not recorded in the ledger"),
            ));
        };
        if let Some(previous) = &previous
            && proof.block.index < previous.block
        {
            return Err(refuse(
                self.username_of(user_id).await,
                format!(
                    "the ledger proof comes from block {}, older than block {} seen before",
                    proof.block.index, previous.block
                ),
            ));
        }
        if let Err(e) =
            proof.verify_key(&did, &zynk_ledger::Ed25519PublicKey(key_bytes), &ledger_key)
        {
            return Err(refuse(self.username_of(user_id).await, e.to_string()));
        }
        if newly_pinned {
            self.data.ledger = Some(ledger);
        }
        self.data.identity_checks.insert(
            user_id,
            crate::client::state::IdentityCheck {
                identity_key: identity_key.to_owned(),
                block: proof.block.index,
            },
        );
        Ok(())
    }

    /// Look a user up by name (cached in the client state). A name that now
    /// belongs to another account than the contact this device knew under it
    /// (the account was deleted and the name registered again) is refused with
    /// [`ClientError::AccountReplaced`] until the user compares safety numbers
    /// with the new account and confirms (`verify`).
    pub async fn lookup_user(&mut self, username: &str) -> Result<PublicProfile, ClientError> {
        let profile = self.api.user_by_username(username).await?;
        if let Some(was_verified) = self.replaced_contact(&profile) {
            return Err(ClientError::AccountReplaced {
                username: profile.username,
                was_verified,
            });
        }
        self.data
            .usernames
            .insert(profile.user_id, profile.username.clone());
        Ok(profile)
    }

    /// Whether `profile`'s name belonged to another account this device knew
    /// as a contact (it pinned that account's identity key); if so, whether
    /// that account was verified.
    fn replaced_contact(&self, profile: &PublicProfile) -> Option<bool> {
        self.data
            .usernames
            .iter()
            .filter(|(id, name)| {
                **id != profile.user_id && name.eq_ignore_ascii_case(&profile.username)
            })
            .filter_map(|(id, _)| self.machine.trust_level(&id.to_string()))
            .map(|level| level == TrustLevel::Verified || level == TrustLevel::Blocked)
            .reduce(|a, b| a || b)
    }

    /// The username of `user_id`: from the cache, else from the server,
    /// else the id itself.
    pub async fn username_of(&mut self, user_id: UserId) -> String {
        if let Some(name) = self.data.usernames.get(&user_id) {
            return name.clone();
        }
        match self.api.user(user_id).await {
            Ok(profile) => {
                self.data
                    .usernames
                    .insert(user_id, profile.username.clone());
                profile.username
            }
            Err(_) => user_id.to_string(),
        }
    }

    /// The key `verify` shows and confirms for `user_id`: a pending change if
    /// there is one, else the pinned key.
    fn key_to_verify(&self, user_id: UserId) -> Option<IdentityKey> {
        let entry = self.machine.trust_store().entry(&user_id.to_string())?;
        Some(entry.pending.unwrap_or(entry.pinned))
    }

    /// Fetch `username`'s identity key (pinning it on first use) and compute
    /// the safety number with it.
    pub async fn safety_number(
        &mut self,
        username: &str,
    ) -> Result<SafetyNumberReport, ClientError> {
        // The one place a replaced account is shown rather than refused: its
        // number is what the user compares before accepting it.
        let profile = self.api.user_by_username(username).await?;
        let replaced_account = self.replaced_contact(&profile).is_some();
        let me = self.user_id()?;
        if profile.user_id == me {
            return Err(ClientError::Invalid(
                "a safety number is between you and someone else".into(),
            ));
        }
        // A changed key is reported through the trust level below; any other
        // refusal (a key the ledger does not back) leaves no number to show.
        match self
            .refresh_devices(&[profile.user_id])
            .await?
            .into_iter()
            .next()
        {
            None | Some((_, Ok(_) | Err(ClientError::IdentityChanged { .. }))) => {}
            Some((_, Err(other))) => return Err(other),
        }
        let key = self
            .key_to_verify(profile.user_id)
            .ok_or_else(|| ClientError::UnknownUser(username.to_owned()))?;
        let number = SafetyNumber::compute(
            &me.to_string(),
            &self.machine.identity_key(),
            &profile.user_id.to_string(),
            &key,
        );
        Ok(SafetyNumberReport {
            username: profile.username,
            user_id: profile.user_id,
            number,
            level: self.machine.trust_level(&profile.user_id.to_string()),
            replaced_account,
        })
    }

    /// Mark `username` as verified, if `compared` is the safety number the
    /// user compared with them: it is recomputed with the key that
    /// [`Self::safety_number`] shows (a pending key change if there is one)
    /// and must match exactly, whitespace aside. Otherwise nothing is marked
    /// and the result is [`ClientError::SafetyNumberMismatch`] (the key may
    /// have changed since the number was shown).
    pub async fn verify(
        &mut self,
        username: &str,
        compared: &str,
    ) -> Result<SafetyNumberReport, ClientError> {
        let report = self.safety_number(username).await?;
        let key = self
            .key_to_verify(report.user_id)
            .ok_or_else(|| ClientError::UnknownUser(username.to_owned()))?;
        // The number of exactly the key that is about to be marked verified.
        let number = SafetyNumber::compute(
            &self.user_id()?.to_string(),
            &self.machine.identity_key(),
            &report.user_id.to_string(),
            &key,
        );
        if !safety_number_matches(&number, compared) {
            return Err(ClientError::SafetyNumberMismatch);
        }
        self.machine
            .verify_identity(&report.user_id.to_string(), &key)?;
        // The name now stands for this account on this device.
        self.data.usernames.retain(|id, name| {
            *id == report.user_id || !name.eq_ignore_ascii_case(&report.username)
        });
        self.data
            .usernames
            .insert(report.user_id, report.username.clone());
        // The devices were forgotten if the key changed: fetch them again.
        if let Some((_, Err(error))) = self
            .refresh_devices(&[report.user_id])
            .await?
            .into_iter()
            .next()
        {
            return Err(error);
        }
        Ok(SafetyNumberReport {
            level: self.machine.trust_level(&report.user_id.to_string()),
            replaced_account: false,
            ..report
        })
    }
}

/// Whether `compared` (as typed: whitespace between digits is ignored) is
/// exactly `number`.
fn safety_number_matches(number: &SafetyNumber, compared: &str) -> bool {
    let typed: String = compared.split_whitespace().collect();
    typed == number.digits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CryptoMachine, UserIdentity};

    #[test]
    fn key_types_convert_both_ways_losslessly() {
        let mut machine = CryptoMachine::new("u", "d", UserIdentity::generate().unwrap());
        let keys = machine.device_keys();
        assert_eq!(keys_from(bundle_from(keys.clone())), keys);
        let upload = machine.keys_to_upload(0, 2, true);
        for key in upload.one_time_keys.into_iter().chain(upload.fallback_key) {
            assert_eq!(one_time_key_from(signed_key_from(key.clone())), key);
        }
    }

    #[test]
    fn only_the_exact_safety_number_matches() {
        let (a, b) = (
            UserIdentity::generate().unwrap(),
            UserIdentity::generate().unwrap(),
        );
        let number = SafetyNumber::compute("a", &a.public_key(), "b", &b.public_key());
        let digits = number.digits().to_owned();
        assert!(safety_number_matches(&number, &digits));
        assert!(safety_number_matches(&number, &number.to_string()));
        assert!(safety_number_matches(
            &number,
            &format!("  {}\n", number.groups().join("  "))
        ));
        let mut wrong = digits.clone().into_bytes();
        wrong[59] = if wrong[59] == b'0' { b'1' } else { b'0' };
        assert!(!safety_number_matches(
            &number,
            &String::from_utf8(wrong).unwrap()
        ));
        assert!(!safety_number_matches(&number, &digits[..59]));
        assert!(!safety_number_matches(&number, &format!("{digits}0")));
        assert!(!safety_number_matches(&number, ""));
        assert!(!safety_number_matches(&number, &number.groups().join("-")));
        // Another key's number does not match.
        let c = UserIdentity::generate().unwrap();
        let other = SafetyNumber::compute("a", &a.public_key(), "b", &c.public_key());
        assert!(!safety_number_matches(&number, other.digits()));
    }
}
