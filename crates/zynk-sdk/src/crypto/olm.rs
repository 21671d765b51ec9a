//! Pairwise Olm sessions between devices: the session store (several sessions
//! per peer device, tried before any new session is created), pre-key replay
//! detection, and the to-device wire envelope.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use vodozemac::Curve25519PublicKey;
use vodozemac::olm::{
    Account, DecryptionError, OlmMessage, Session, SessionConfig, SessionCreationError,
    SessionPickle,
};
use zeroize::Zeroizing;

use super::device_keys::OLM_ALGORITHM;
use super::encoding::{decode_base64, decode_fixed, encode_base64};
use super::error::{OlmError, StoreError};

/// Sessions kept per peer device; the least recently used one is dropped
/// beyond this. Two are normal (both sides starting a session at once), a few
/// more cover a peer that restored an old backup.
const MAX_SESSIONS_PER_DEVICE: usize = 8;

/// Most session ids remembered for pre-key replay detection; the oldest are
/// forgotten beyond this (their one-time keys are long used up by then).
const MAX_REMEMBERED_SESSION_IDS: usize = 4096;

/// An Olm-encrypted to-device message as carried by the server. Its `Debug`
/// shows the ciphertext length only, so it can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedToDevice {
    /// Always [`OLM_ALGORITHM`].
    pub algorithm: String,
    /// The sender device's Curve25519 key, base64.
    pub sender_key: String,
    /// 0 = pre-key message (establishes a session), 1 = normal message.
    pub message_type: u8,
    /// The Olm message, base64.
    pub ciphertext: String,
}

impl EncryptedToDevice {
    /// Parse the envelope into the sender key and the Olm message.
    pub(crate) fn parse(&self) -> Result<(Curve25519PublicKey, OlmMessage), OlmError> {
        if self.algorithm != OLM_ALGORITHM {
            return Err(OlmError::UnsupportedAlgorithm(self.algorithm.clone()));
        }
        let sender_key =
            Curve25519PublicKey::from_bytes(decode_fixed::<32>("sender key", &self.sender_key)?);
        let bytes = decode_base64("ciphertext", &self.ciphertext)?;
        let message = OlmMessage::from_parts(usize::from(self.message_type), &bytes)
            .map_err(|e| OlmError::Malformed(e.to_string()))?;
        Ok((sender_key, message))
    }

    fn new(sender_key: Curve25519PublicKey, message: &OlmMessage) -> Self {
        let (message_type, bytes) = message.to_parts();
        Self {
            algorithm: OLM_ALGORITHM.to_owned(),
            sender_key: sender_key.to_base64(),
            message_type: u8::try_from(message_type).unwrap_or(u8::MAX),
            ciphertext: encode_base64(&bytes),
        }
    }
}

impl fmt::Debug for EncryptedToDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedToDevice")
            .field("algorithm", &self.algorithm)
            .field("sender_key", &self.sender_key)
            .field("message_type", &self.message_type)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

struct SessionEntry {
    session: Session,
    last_used: u64,
}

/// All Olm sessions of this device, keyed by the peer's Curve25519 key.
#[derive(Default)]
pub(crate) struct OlmSessions {
    by_peer: BTreeMap<String, Vec<SessionEntry>>,
    /// Ids of every session this device created, in creation order, so a
    /// replayed pre-key message cannot re-create an evicted session (fallback
    /// keys are not consumed by use).
    known_ids: Vec<String>,
    known_id_set: BTreeSet<String>,
    clock: u64,
}

impl OlmSessions {
    /// Whether at least one session with `peer` exists.
    pub(crate) fn has_session(&self, peer: &Curve25519PublicKey) -> bool {
        self.by_peer
            .get(&peer.to_base64())
            .is_some_and(|s| !s.is_empty())
    }

    /// Number of sessions with `peer`.
    pub(crate) fn session_count(&self, peer: &Curve25519PublicKey) -> usize {
        self.by_peer.get(&peer.to_base64()).map_or(0, Vec::len)
    }

    /// Create an outbound session to `peer` from its (verified) one-time or
    /// fallback key; it becomes the preferred session for sending.
    pub(crate) fn create_outbound(
        &mut self,
        account: &Account,
        peer: Curve25519PublicKey,
        one_time_key: Curve25519PublicKey,
    ) -> Result<String, OlmError> {
        let session = account
            .create_outbound_session(SessionConfig::version_1(), peer, one_time_key)
            .map_err(creation_error)?;
        let id = session.session_id();
        self.insert(peer, session);
        Ok(id)
    }

    /// Encrypt `plaintext` for `peer` with its most recently used session.
    pub(crate) fn encrypt(
        &mut self,
        own_key: Curve25519PublicKey,
        peer: &Curve25519PublicKey,
        plaintext: &[u8],
    ) -> Result<Option<EncryptedToDevice>, OlmError> {
        self.clock += 1;
        let clock = self.clock;
        let Some(entry) = self
            .by_peer
            .get_mut(&peer.to_base64())
            .and_then(|s| s.iter_mut().max_by_key(|e| e.last_used))
        else {
            return Ok(None);
        };
        let message = entry
            .session
            .encrypt(plaintext)
            .map_err(|_| OlmError::NonContributoryKey)?;
        entry.last_used = clock;
        Ok(Some(EncryptedToDevice::new(own_key, &message)))
    }

    /// Decrypt a message from `sender`: existing sessions first; a pre-key
    /// message for no known session creates a new inbound session (consuming
    /// the one-time key). Failed attempts leave every session unchanged.
    pub(crate) fn decrypt(
        &mut self,
        account: &mut Account,
        sender: Curve25519PublicKey,
        message: &OlmMessage,
    ) -> Result<Zeroizing<Vec<u8>>, OlmError> {
        self.clock += 1;
        let clock = self.clock;
        let peer = sender.to_base64();
        match message {
            OlmMessage::PreKey(pre_key) => {
                let id = pre_key.session_id();
                let existing = self
                    .by_peer
                    .get_mut(&peer)
                    .and_then(|s| s.iter_mut().find(|e| e.session.session_id() == id));
                if let Some(entry) = existing {
                    let plaintext = entry.session.decrypt(message).map_err(decryption_error)?;
                    entry.last_used = clock;
                    return Ok(Zeroizing::new(plaintext));
                }
                if self.known_id_set.contains(&id) {
                    return Err(OlmError::Replayed);
                }
                let result = account
                    .create_inbound_session(SessionConfig::version_1(), sender, pre_key)
                    .map_err(creation_error)?;
                self.insert(sender, result.session);
                Ok(Zeroizing::new(result.plaintext))
            }
            OlmMessage::Normal(_) => {
                let sessions = self
                    .by_peer
                    .get_mut(&peer)
                    .map_or(&mut [][..], |s| s.as_mut_slice());
                sessions.sort_by_key(|e| std::cmp::Reverse(e.last_used));
                let mut replayed = false;
                for entry in sessions.iter_mut() {
                    match entry.session.decrypt(message) {
                        Ok(plaintext) => {
                            entry.last_used = clock;
                            return Ok(Zeroizing::new(plaintext));
                        }
                        Err(DecryptionError::MissingMessageKey(_)) => replayed = true,
                        Err(_) => {}
                    }
                }
                if replayed {
                    Err(OlmError::Replayed)
                } else {
                    Err(OlmError::Undecryptable(
                        "no session with the sender decrypts it".into(),
                    ))
                }
            }
        }
    }

    fn insert(&mut self, peer: Curve25519PublicKey, session: Session) {
        self.clock += 1;
        let id = session.session_id();
        if self.known_id_set.insert(id.clone()) {
            self.known_ids.push(id);
            if self.known_ids.len() > MAX_REMEMBERED_SESSION_IDS {
                let forgotten = self.known_ids.remove(0);
                self.known_id_set.remove(&forgotten);
            }
        }
        let sessions = self.by_peer.entry(peer.to_base64()).or_default();
        sessions.push(SessionEntry {
            session,
            last_used: self.clock,
        });
        if sessions.len() > MAX_SESSIONS_PER_DEVICE
            && let Some((oldest, _)) = sessions.iter().enumerate().min_by_key(|(_, e)| e.last_used)
        {
            sessions.remove(oldest);
        }
    }

    /// Serializable form with every session pickle encrypted by `pickle_key`.
    pub(crate) fn to_persisted(&self, pickle_key: &[u8; 32]) -> PersistedOlmSessions {
        PersistedOlmSessions {
            sessions: self
                .by_peer
                .iter()
                .flat_map(|(peer, sessions)| {
                    sessions.iter().map(move |entry| PersistedOlmSession {
                        peer_key: peer.clone(),
                        last_used: entry.last_used,
                        pickle: entry.session.pickle().encrypt(pickle_key),
                    })
                })
                .collect(),
            known_session_ids: self.known_ids.clone(),
            clock: self.clock,
        }
    }

    /// Restore from [`Self::to_persisted`] output.
    pub(crate) fn from_persisted(
        persisted: PersistedOlmSessions,
        pickle_key: &[u8; 32],
    ) -> Result<Self, StoreError> {
        let mut by_peer: BTreeMap<String, Vec<SessionEntry>> = BTreeMap::new();
        for stored in persisted.sessions {
            let pickle = SessionPickle::from_encrypted(&stored.pickle, pickle_key)
                .map_err(|e| StoreError::Corrupt(format!("olm session pickle: {e}")))?;
            by_peer
                .entry(stored.peer_key)
                .or_default()
                .push(SessionEntry {
                    session: Session::from_pickle(pickle),
                    last_used: stored.last_used,
                });
        }
        let known_id_set = persisted.known_session_ids.iter().cloned().collect();
        Ok(Self {
            by_peer,
            known_ids: persisted.known_session_ids,
            known_id_set,
            clock: persisted.clock,
        })
    }
}

impl fmt::Debug for OlmSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: BTreeMap<&str, usize> = self
            .by_peer
            .iter()
            .map(|(peer, s)| (peer.as_str(), s.len()))
            .collect();
        f.debug_struct("OlmSessions")
            .field("sessions_per_peer", &counts)
            .finish_non_exhaustive()
    }
}

/// Persisted form of [`OlmSessions`] (pickles encrypted).
#[derive(Serialize, Deserialize)]
pub(crate) struct PersistedOlmSessions {
    sessions: Vec<PersistedOlmSession>,
    known_session_ids: Vec<String>,
    clock: u64,
}

#[derive(Serialize, Deserialize)]
struct PersistedOlmSession {
    peer_key: String,
    last_used: u64,
    pickle: String,
}

fn creation_error(error: SessionCreationError) -> OlmError {
    match error {
        SessionCreationError::NonContributoryKey => OlmError::NonContributoryKey,
        SessionCreationError::Decryption(e) => decryption_error(e),
        other => OlmError::SessionCreation(other.to_string()),
    }
}

fn decryption_error(error: DecryptionError) -> OlmError {
    match error {
        DecryptionError::MissingMessageKey(_) => OlmError::Replayed,
        DecryptionError::NonContributoryKey => OlmError::NonContributoryKey,
        other => OlmError::Undecryptable(other.to_string()),
    }
}
