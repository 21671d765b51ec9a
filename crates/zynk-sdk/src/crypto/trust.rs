//! Trust store: each contact's identity key pinned on first use, whether the
//! user verified it (safety numbers), and key changes held back until the user
//! accepts or re-verifies them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::TrustError;
use super::identity::IdentityKey;

/// What the trust store knows about one contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    /// The identity key in use for this contact.
    pub pinned: IdentityKey,
    /// Whether the user verified `pinned` (e.g. compared safety numbers).
    pub verified: bool,
    /// A different key the server presented and the user has not accepted.
    pub pending: Option<IdentityKey>,
    /// Whether a pending change replaced a verified key: the contact is then
    /// blocked until re-verified.
    pub pending_was_verified: bool,
}

/// Trust level of a contact's current identity key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustLevel {
    /// Pinned on first use, never verified.
    Unverified,
    /// Verified by the user.
    Verified,
    /// The key changed and the change is not accepted yet: do not encrypt
    /// to or accept new devices of this contact.
    Changed,
    /// A verified contact's key changed: blocked until re-verified.
    Blocked,
}

/// Outcome of presenting a contact's identity key to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyObservation {
    /// First time this contact was seen: the key is now pinned (TOFU).
    FirstUse,
    /// The key matches the pinned one.
    Known {
        /// Whether the contact is verified.
        verified: bool,
    },
}

/// Remembers each contact's identity key (trust on first use) and its
/// verification state. A key change is never accepted silently.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustStore {
    entries: BTreeMap<String, TrustEntry>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Present the identity key the server reports for `user_id`.
    ///
    /// Pins it if the user is new. If it differs from the pinned key the
    /// change is recorded as pending and [`TrustError::IdentityKeyChanged`]
    /// is returned; the old key stays pinned.
    pub fn observe(
        &mut self,
        user_id: &str,
        key: &IdentityKey,
    ) -> Result<KeyObservation, TrustError> {
        let Some(entry) = self.entries.get_mut(user_id) else {
            self.entries.insert(
                user_id.to_owned(),
                TrustEntry {
                    pinned: *key,
                    verified: false,
                    pending: None,
                    pending_was_verified: false,
                },
            );
            return Ok(KeyObservation::FirstUse);
        };
        if entry.pinned == *key {
            return Ok(KeyObservation::Known {
                verified: entry.verified,
            });
        }
        entry.pending = Some(*key);
        entry.pending_was_verified = entry.verified;
        Err(TrustError::IdentityKeyChanged {
            user_id: user_id.to_owned(),
            pinned: entry.pinned.to_base64(),
            offered: key.to_base64(),
            was_verified: entry.verified,
        })
    }

    /// Pin `key` for `user_id` as verified (the user's own identity key).
    pub(crate) fn pin_verified(&mut self, user_id: &str, key: IdentityKey) {
        self.entries.insert(
            user_id.to_owned(),
            TrustEntry {
                pinned: key,
                verified: true,
                pending: None,
                pending_was_verified: false,
            },
        );
    }

    /// Accept a reported key change for an unverified contact: `key` becomes
    /// pinned (unverified). A verified contact must be re-verified instead
    /// ([`TrustError::ReverificationRequired`]).
    pub fn accept_change(&mut self, user_id: &str, key: &IdentityKey) -> Result<(), TrustError> {
        let entry = self.entry_mut(user_id)?;
        if entry.pending != Some(*key) {
            return Err(TrustError::KeyNotOffered {
                user_id: user_id.to_owned(),
            });
        }
        if entry.pending_was_verified {
            return Err(TrustError::ReverificationRequired {
                user_id: user_id.to_owned(),
            });
        }
        entry.pinned = *key;
        entry.verified = false;
        entry.pending = None;
        Ok(())
    }

    /// Dismiss a reported key change: the pinned key (and its verification
    /// state) stays, the offered key is forgotten.
    pub fn reject_change(&mut self, user_id: &str) -> Result<(), TrustError> {
        let entry = self.entry_mut(user_id)?;
        entry.pending = None;
        entry.pending_was_verified = false;
        Ok(())
    }

    /// Record that the user verified `key` for `user_id` out of band (safety
    /// numbers). `key` must be the pinned or the pending key; it becomes the
    /// pinned, verified key and any block is lifted.
    pub fn mark_verified(&mut self, user_id: &str, key: &IdentityKey) -> Result<(), TrustError> {
        let entry = self.entry_mut(user_id)?;
        if entry.pinned != *key && entry.pending != Some(*key) {
            return Err(TrustError::KeyNotOffered {
                user_id: user_id.to_owned(),
            });
        }
        entry.pinned = *key;
        entry.verified = true;
        entry.pending = None;
        entry.pending_was_verified = false;
        Ok(())
    }

    /// Withdraw verification of a contact (it stays pinned, unverified).
    pub fn unverify(&mut self, user_id: &str) -> Result<(), TrustError> {
        self.entry_mut(user_id)?.verified = false;
        Ok(())
    }

    /// The trust level of a contact, `None` if never seen.
    pub fn level(&self, user_id: &str) -> Option<TrustLevel> {
        self.entries
            .get(user_id)
            .map(|entry| match (entry.pending, entry.pending_was_verified) {
                (Some(_), true) => TrustLevel::Blocked,
                (Some(_), false) => TrustLevel::Changed,
                (None, _) if entry.verified => TrustLevel::Verified,
                (None, _) => TrustLevel::Unverified,
            })
    }

    /// The pinned key of a contact, if usable: `Ok(None)` if never seen and an
    /// error while a key change is unresolved.
    pub fn usable_key(&self, user_id: &str) -> Result<Option<IdentityKey>, TrustError> {
        let Some(entry) = self.entries.get(user_id) else {
            return Ok(None);
        };
        match entry.pending {
            None => Ok(Some(entry.pinned)),
            Some(_) if entry.pending_was_verified => Err(TrustError::ReverificationRequired {
                user_id: user_id.to_owned(),
            }),
            Some(offered) => Err(TrustError::IdentityKeyChanged {
                user_id: user_id.to_owned(),
                pinned: entry.pinned.to_base64(),
                offered: offered.to_base64(),
                was_verified: false,
            }),
        }
    }

    /// Everything known about a contact.
    pub fn entry(&self, user_id: &str) -> Option<&TrustEntry> {
        self.entries.get(user_id)
    }

    fn entry_mut(&mut self, user_id: &str) -> Result<&mut TrustEntry, TrustError> {
        self.entries
            .get_mut(user_id)
            .ok_or_else(|| TrustError::UnknownUser {
                user_id: user_id.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::identity::UserIdentity;

    fn key() -> IdentityKey {
        UserIdentity::generate().unwrap().public_key()
    }

    #[test]
    fn first_use_pins_and_same_key_is_known() {
        let mut store = TrustStore::new();
        let k = key();
        assert_eq!(store.observe("bob", &k), Ok(KeyObservation::FirstUse));
        assert_eq!(
            store.observe("bob", &k),
            Ok(KeyObservation::Known { verified: false })
        );
        assert_eq!(store.level("bob"), Some(TrustLevel::Unverified));
        assert_eq!(store.usable_key("bob"), Ok(Some(k)));
        assert_eq!(store.usable_key("carol"), Ok(None));
    }

    #[test]
    fn change_of_unverified_key_is_reported_and_needs_acceptance() {
        let mut store = TrustStore::new();
        let (old, new) = (key(), key());
        store.observe("bob", &old).unwrap();
        let err = store.observe("bob", &new).unwrap_err();
        assert!(matches!(
            err,
            TrustError::IdentityKeyChanged {
                was_verified: false,
                ..
            }
        ));
        assert_eq!(store.level("bob"), Some(TrustLevel::Changed));
        assert!(store.usable_key("bob").is_err());
        // The old key stays pinned; presenting it again does not clear the change.
        assert_eq!(store.entry("bob").unwrap().pinned, old);
        assert_eq!(
            store.accept_change("bob", &key()),
            Err(TrustError::KeyNotOffered {
                user_id: "bob".into()
            })
        );
        // Rejecting keeps the old key; a later accept needs a new offer.
        store.reject_change("bob").unwrap();
        assert_eq!(store.usable_key("bob"), Ok(Some(old)));
        assert!(store.accept_change("bob", &new).is_err());
        assert!(store.observe("bob", &new).is_err());
        store.accept_change("bob", &new).unwrap();
        assert_eq!(store.usable_key("bob"), Ok(Some(new)));
        assert_eq!(store.level("bob"), Some(TrustLevel::Unverified));
    }

    #[test]
    fn verified_contact_with_changed_key_is_blocked_until_reverified() {
        let mut store = TrustStore::new();
        let (old, new) = (key(), key());
        store.observe("bob", &old).unwrap();
        store.mark_verified("bob", &old).unwrap();
        assert_eq!(store.level("bob"), Some(TrustLevel::Verified));
        let err = store.observe("bob", &new).unwrap_err();
        assert!(matches!(
            err,
            TrustError::IdentityKeyChanged {
                was_verified: true,
                ..
            }
        ));
        assert_eq!(store.level("bob"), Some(TrustLevel::Blocked));
        assert_eq!(
            store.usable_key("bob"),
            Err(TrustError::ReverificationRequired {
                user_id: "bob".into()
            })
        );
        assert_eq!(
            store.accept_change("bob", &new),
            Err(TrustError::ReverificationRequired {
                user_id: "bob".into()
            })
        );
        store.mark_verified("bob", &new).unwrap();
        assert_eq!(store.level("bob"), Some(TrustLevel::Verified));
        assert_eq!(store.usable_key("bob"), Ok(Some(new)));
    }

    #[test]
    fn unknown_users_and_foreign_keys_are_errors() {
        let mut store = TrustStore::new();
        assert!(matches!(
            store.mark_verified("x", &key()),
            Err(TrustError::UnknownUser { .. })
        ));
        store.observe("bob", &key()).unwrap();
        assert!(matches!(
            store.mark_verified("bob", &key()),
            Err(TrustError::KeyNotOffered { .. })
        ));
        store.unverify("bob").unwrap();
    }
}
