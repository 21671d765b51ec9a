//! Saving and loading a [`CryptoMachine`]: the whole state serialized to JSON
//! (vodozemac pickles encrypted with the pickle key), then sealed with the
//! passphrase (see [`crate::crypto::store`]).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::CryptoMachine;
use crate::crypto::account::DeviceAccount;
use crate::crypto::device_keys::DeviceKeys;
use crate::crypto::encoding::{decode_fixed, encode_base64};
use crate::crypto::error::StoreError;
use crate::crypto::identity::UserIdentity;
use crate::crypto::megolm::{GroupSessions, PersistedGroupSessions, RotationPolicy};
use crate::crypto::olm::{OlmSessions, PersistedOlmSessions};
use crate::crypto::registry::DeviceRegistry;
use crate::crypto::store::{self, KdfParams};
use crate::crypto::trust::TrustStore;

/// Version of the JSON inside the sealed file.
const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct PersistedMachine {
    version: u32,
    user_id: String,
    device_id: String,
    /// The identity seed, base64; only ever inside the sealed file.
    identity_seed: SeedText,
    account: String,
    olm: PersistedOlmSessions,
    groups: PersistedGroupSessions,
    trust: TrustStore,
    devices: Vec<DeviceKeys>,
    policy: RotationPolicy,
}

/// Base64 of the identity seed; zeroized on drop.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct SeedText(String);

impl Drop for SeedText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl CryptoMachine {
    /// Serialize and encrypt the whole state under `passphrase` with the
    /// default Argon2id parameters ([`KdfParams::default`]).
    pub fn save(&self, passphrase: &str) -> Result<Vec<u8>, StoreError> {
        self.save_with_params(passphrase, KdfParams::default())
    }

    /// Like [`Self::save`] with explicit Argon2id parameters (stored in the
    /// file header, so [`Self::load`] needs no extra input).
    pub fn save_with_params(
        &self,
        passphrase: &str,
        params: KdfParams,
    ) -> Result<Vec<u8>, StoreError> {
        let keys = store::prepare_seal(passphrase, params)?;
        let pickle_key = keys.pickle_key();
        let seed = self.identity.export_seed();
        let persisted = PersistedMachine {
            version: STATE_VERSION,
            user_id: self.user_id().to_owned(),
            device_id: self.device_id().to_owned(),
            identity_seed: SeedText(encode_base64(seed.as_slice())),
            account: self.account.encrypted_pickle(pickle_key),
            olm: self.olm.to_persisted(pickle_key),
            groups: self.groups.to_persisted(pickle_key),
            trust: self.trust.clone(),
            devices: self.registry.to_persisted(),
            policy: self.policy,
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&persisted).map_err(|e| StoreError::Save(e.to_string()))?,
        );
        store::seal(&keys, &plaintext)
    }

    /// Decrypt and restore a state written by [`Self::save`]. A wrong
    /// passphrase or a modified file gives
    /// [`StoreError::WrongPassphraseOrTampered`].
    pub fn load(bytes: &[u8], passphrase: &str) -> Result<Self, StoreError> {
        let opened = store::open(bytes, passphrase)?;
        let persisted: PersistedMachine = serde_json::from_slice(&opened.plaintext)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let PersistedMachine {
            version,
            user_id,
            device_id,
            identity_seed,
            account,
            olm,
            groups,
            trust,
            devices,
            policy,
        } = persisted;
        if version != STATE_VERSION {
            return Err(StoreError::Corrupt(format!("state version {version}")));
        }
        let seed = Zeroizing::new(
            decode_fixed::<32>("identity seed", &identity_seed.0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        let identity = UserIdentity::from_seed(&seed);
        let pickle_key = &opened.pickle_key;
        let account =
            DeviceAccount::from_encrypted_pickle(user_id, device_id, &account, pickle_key)?;
        let olm = OlmSessions::from_persisted(olm, pickle_key)?;
        let groups = GroupSessions::from_persisted(groups, pickle_key)?;
        let registry = DeviceRegistry::from_persisted(devices, |user| {
            matches!(trust.usable_key(user), Ok(Some(_)))
        });
        Ok(Self {
            identity,
            account,
            olm,
            groups,
            trust,
            registry,
            policy,
        })
    }
}
