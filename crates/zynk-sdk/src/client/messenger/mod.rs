//! [`Messenger`]: one logged-in device. It owns the [`CryptoMachine`], the
//! typed [`ApiClient`] and the client state, and turns user actions into
//! encrypted traffic:
//!
//! - account: [`Messenger::register`], [`Messenger::login`] (identity restored
//!   from the password-encrypted backup), [`Messenger::logout`];
//! - keys (`keys`): device-key and one-time-key upload and replenishment,
//!   device lists checked against pinned identity keys, safety numbers;
//! - sending (`send`): 1:1 conversations, room-key sharing over Olm,
//!   encrypted text, replies, edits, reactions and deletions;
//! - receiving (`sync`): to-device inbox first, then history after each
//!   conversation's cursor, decryption, receipts, WebSocket frames;
//! - history for new devices (`forward`): room keys forwarded to, and asked
//!   of, the account's own other devices;
//! - verifiable history (`proof`): a message's ledger inclusion proof checked
//!   against the device's own copy, under a ledger key pinned on first use;
//! - trust (`trust`): the account's trust score, spam reports and vouches for
//!   contacts, score changes from the WebSocket, verifiable credentials.
//! - contacts (`contacts`): blocking, message requests (listed, accepted,
//!   declined) and the conversation list with unread counts.
//!
//! The state is saved with [`Messenger::save`] into bytes encrypted under the
//! user's password ([`Vault`]); natively the CLI keeps them in its home
//! directory, in the browser the caller stores them.

mod calls;
mod contacts;
mod forward;
mod groups;
mod keys;
mod password;
mod presence;
mod proof;
mod proximity;
mod send;
mod shared;
mod sync;
mod trust;

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;
use zynk_proto::auth::{DeviceInfo, LoginRequest, RegisterRequest};
use zynk_proto::devices::DeviceView;
use zynk_proto::ids::{DeviceId, UserId};

use super::api::{ApiClient, check_username};
use super::backup::{open_identity, seal_identity};
use super::credentials::Credentials;
use super::error::{ClientError, VaultError};
use super::session::{Secret, Session};
use super::state::{ClientData, STATE_VERSION, StoredState};
use super::util::{base64_decode, base64_encode, random_bytes};
use super::vault::Vault;
use crate::crypto::{CryptoMachine, IdentityKey, KdfParams, PendingDevice, UserIdentity};

pub use calls::{CALL_SIGNAL_EVENT, ReceivedCallSignal};
pub use contacts::{BlockedUser, ConversationView, RequestView};
pub use keys::SafetyNumberReport;
pub use presence::{LiveEvent, PresenceView};
pub use send::{SendOptions, SendReceipt};
pub use sync::{FrameOutcome, SyncReport};
pub use trust::{TrustAction, TrustScoreChange};

/// Argon2id costs of the inner crypto state: its passphrase is a random
/// 256-bit key kept inside the password-encrypted file, so stretching it
/// adds nothing.
const INNER_KDF: KdfParams = KdfParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// The fewest characters (Unicode scalar values) a new account's password
/// may have. The server only ever sees the derived secret, so it cannot
/// enforce a length itself; logins are not checked, so older accounts keep
/// working.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Refuse a password too short for a new account.
fn check_new_password(password: &str) -> Result<(), ClientError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ClientError::Invalid(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// How this device describes itself to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDescription {
    /// Device name shown in device lists.
    pub name: String,
    /// `android`, `ios` or `web` (the values the server accepts).
    pub platform: String,
    /// Stable, unique fingerprint of this installation, 1-64 characters.
    pub fingerprint: String,
}

impl DeviceDescription {
    /// A description with a fresh random fingerprint (`zynk-<uuid>`).
    pub fn new(name: impl Into<String>, platform: impl Into<String>) -> Result<Self, ClientError> {
        Ok(Self {
            name: name.into(),
            platform: platform.into(),
            fingerprint: format!("zynk-{}", super::util::new_random_id()?.simple()),
        })
    }
}

/// Who this device is: its account, ids and server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whoami {
    /// Username.
    pub username: String,
    /// Account id.
    pub user_id: UserId,
    /// This device.
    pub device_id: DeviceId,
    /// The server URL.
    pub server_url: String,
    /// The user's identity key (base64).
    pub identity_key: String,
    /// This device's Ed25519 key (base64).
    pub device_key: String,
}

/// One logged-in device: crypto state, HTTP client and client state.
pub struct Messenger {
    api: ApiClient,
    machine: CryptoMachine,
    username: String,
    crypto_key: Secret,
    data: ClientData,
    /// Call signalling received and not yet taken (not persisted: it is only useful live).
    call_signals: Vec<ReceivedCallSignal>,
}

impl fmt::Debug for Messenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messenger")
            .field("server", &self.api.base_url())
            .field("username", &self.username)
            .field("session", &self.api.session())
            .field("machine", &self.machine)
            .finish_non_exhaustive()
    }
}

fn device_info(device: &DeviceDescription, pending: &PendingDevice) -> DeviceInfo {
    DeviceInfo {
        name: device.name.clone(),
        platform: device.platform.clone(),
        fingerprint: device.fingerprint.clone(),
        public_key: pending.ed25519_key(),
    }
}

fn new_crypto_key() -> Result<Secret, ClientError> {
    Ok(Secret::new(base64_encode(&random_bytes::<32>()?)))
}

impl Messenger {
    fn assemble(
        api: ApiClient,
        machine: CryptoMachine,
        username: String,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            api,
            machine,
            username,
            crypto_key: new_crypto_key()?,
            data: ClientData::default(),
            call_signals: Vec::new(),
        })
    }

    /// Create an account: checks that `password` has at least
    /// [`MIN_PASSWORD_CHARS`] characters, derives the credentials from it (see
    /// [`super::credentials`]), generates the identity key and this device's
    /// Olm account, and registers. The identity backup and the device keys
    /// are uploaded by [`Self::complete_setup`]: save the state first (the
    /// identity now exists only here), then call it.
    pub async fn register(
        api: ApiClient,
        username: &str,
        password: &str,
        device: &DeviceDescription,
    ) -> Result<Self, ClientError> {
        check_username(username)?;
        check_new_password(password)?;
        let mut api = api;
        let credentials = Credentials::derive(username, password)?;
        let identity = UserIdentity::generate()?;
        let pending = PendingDevice::new();
        // Proofs of possession: both keys sign the statement naming the username and them.
        let statement = zynk_proto::possession::register_bytes(
            username,
            identity.public_key().as_bytes(),
            &pending.ed25519_bytes(),
        );
        let request = RegisterRequest {
            username: username.to_owned(),
            password: credentials.auth_secret().to_owned(),
            identity_key: identity.public_key().to_base64(),
            device: device_info(device, &pending),
            identity_signature: Some(identity.sign(&statement)),
            device_signature: Some(pending.sign(&statement)),
        };
        let session = api.register(&request).await?;
        let backup = seal_identity(
            &identity,
            &session.user_id.to_string(),
            credentials.backup_key(),
        )?;
        let machine = pending.into_machine(
            session.user_id.to_string(),
            session.device_id.to_string(),
            identity,
        );
        let mut messenger = Self::assemble(api, machine, username.to_owned())?;
        messenger.data.setup.backup_pending = Some(backup);
        messenger
            .data
            .usernames
            .insert(session.user_id, username.to_owned());
        Ok(messenger)
    }

    /// Log in on a new device: logs in with the derived secret, fetches and
    /// decrypts the identity backup (a wrong password or a backup made with
    /// another password gives [`ClientError::Backup`]), and creates this
    /// device's Olm account. Save the state, then call
    /// [`Self::complete_setup`] to upload the device's signed keys.
    pub async fn login(
        api: ApiClient,
        username: &str,
        password: &str,
        device: &DeviceDescription,
    ) -> Result<Self, ClientError> {
        check_username(username)?;
        let mut api = api;
        let credentials = Credentials::derive(username, password)?;
        let pending = PendingDevice::new();
        let statement = zynk_proto::possession::login_bytes(username, &pending.ed25519_bytes());
        let request = LoginRequest {
            username: username.to_owned(),
            password: credentials.auth_secret().to_owned(),
            device: device_info(device, &pending),
            device_signature: Some(pending.sign(&statement)),
        };
        let session = api.login(&request).await?;
        let identity = match restore_identity(&mut api, &session, &credentials).await {
            Ok(identity) => identity,
            Err(error) => {
                // Do not leave a device without keys registered.
                let _ = api.revoke_device(session.device_id).await;
                return Err(error);
            }
        };
        let machine = pending.into_machine(
            session.user_id.to_string(),
            session.device_id.to_string(),
            identity,
        );
        let mut messenger = Self::assemble(api, machine, username.to_owned())?;
        messenger
            .data
            .usernames
            .insert(session.user_id, username.to_owned());
        Ok(messenger)
    }

    /// End this device: revokes it on the server (its sessions end and other
    /// users stop encrypting to it). The caller then erases the local state.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        let device_id = self.device_id()?;
        match self.api.revoke_device(device_id).await {
            Ok(()) | Err(ClientError::SessionEnded(_)) => {}
            Err(error) => {
                self.api.logout().await.map_err(|_| error)?;
            }
        }
        self.api.set_session(None);
        Ok(())
    }

    /// The caller's devices on the server.
    pub async fn devices(&mut self) -> Result<Vec<DeviceView>, ClientError> {
        self.api.devices().await
    }

    /// This device's account, ids and keys (no network).
    pub fn whoami(&self) -> Result<Whoami, ClientError> {
        Ok(Whoami {
            username: self.username.clone(),
            user_id: self.user_id()?,
            device_id: self.device_id()?,
            server_url: self.api.base_url().to_owned(),
            identity_key: self.machine.identity_key().to_base64(),
            device_key: self.machine.ed25519_key(),
        })
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The server URL.
    pub fn server_url(&self) -> &str {
        self.api.base_url()
    }

    /// The session, if logged in.
    pub fn session(&self) -> Option<&Session> {
        self.api.session()
    }

    /// The account id.
    pub fn user_id(&self) -> Result<UserId, ClientError> {
        self.api
            .session()
            .map(|s| s.user_id)
            .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))
    }

    /// This device's id.
    pub fn device_id(&self) -> Result<DeviceId, ClientError> {
        self.api
            .session()
            .map(|s| s.device_id)
            .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))
    }

    /// The crypto state (read-only).
    pub fn machine(&self) -> &CryptoMachine {
        &self.machine
    }

    /// The client state (read-only).
    pub fn data(&self) -> &ClientData {
        &self.data
    }

    /// The HTTP client (e.g. for endpoints this type does not wrap).
    pub fn api(&mut self) -> &mut ApiClient {
        &mut self.api
    }

    /// Serialize the whole state and encrypt it with `vault`. Messages that
    /// have self-destructed by now are left out (see [`Self::remove_expired`]).
    pub fn save(&self, vault: &Vault) -> Result<Vec<u8>, ClientError> {
        let mut data = self.data.clone();
        data.remove_expired(super::util::now());
        let crypto = self
            .machine
            .save_with_params(self.crypto_key.expose(), INNER_KDF)?;
        let stored = StoredState {
            version: STATE_VERSION,
            server_url: self.api.base_url().to_owned(),
            username: self.username.clone(),
            session: self.api.session().cloned(),
            crypto_key: self.crypto_key.clone(),
            crypto: base64_encode(&crypto),
            data,
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| VaultError::Save(e.to_string()))?,
        );
        Ok(vault.seal(&json)?)
    }

    /// Decrypt and restore a state written by [`Self::save`]. `cached` is a
    /// vault unlocked before (its key is reused if it fits, sparing the key
    /// derivation); the returned vault saves the state again. A wrong
    /// password gives [`VaultError::WrongPasswordOrTampered`].
    pub fn load(
        bytes: &[u8],
        password: &str,
        cached: Option<&Vault>,
        http: Option<reqwest::Client>,
    ) -> Result<(Self, Vault), ClientError> {
        let (vault, plaintext) = Vault::unlock(bytes, password, cached)?;
        let stored: StoredState =
            serde_json::from_slice(&plaintext).map_err(|e| VaultError::Corrupt(e.to_string()))?;
        if stored.version != STATE_VERSION {
            return Err(VaultError::Corrupt(format!("state version {}", stored.version)).into());
        }
        let crypto = Zeroizing::new(
            base64_decode(&stored.crypto)
                .ok_or_else(|| VaultError::Corrupt("crypto state is not base64".into()))?,
        );
        let machine = CryptoMachine::load(&crypto, stored.crypto_key.expose())?;
        let mut api = match http {
            Some(http) => ApiClient::with_http(&stored.server_url, http),
            None => ApiClient::new(&stored.server_url),
        };
        api.set_session(stored.session);
        Ok((
            Self {
                api,
                machine,
                username: stored.username,
                crypto_key: stored.crypto_key,
                data: stored.data,
                call_signals: Vec::new(),
            },
            vault,
        ))
    }
}

/// Fetch and decrypt the identity backup of the logged-in account.
async fn restore_identity(
    api: &mut ApiClient,
    session: &Session,
    credentials: &Credentials,
) -> Result<UserIdentity, ClientError> {
    let me = api.me().await?;
    let expected = IdentityKey::from_base64(&me.identity_key)
        .map_err(|e| ClientError::Protocol(format!("account identity key: {e}")))?;
    let backup = api
        .identity_backup()
        .await?
        .ok_or(super::error::BackupError::Missing)?;
    Ok(open_identity(
        &backup,
        &session.user_id.to_string(),
        credentials.backup_key(),
        &expected,
    )?)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::client::state::ConversationState;
    use crate::client::timeline::{Entry, EntryBody};
    use crate::crypto::RoomEventContent;
    use zynk_proto::ConversationKind;
    use zynk_proto::ids::{ConversationId, MessageId, SessionId};

    const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    const TOKEN: &str = "zat_marker_token_value";
    const TEXT: &str = "marker secret message text";

    fn messenger() -> Messenger {
        let (user, device) = (UserId::from_u128(1), DeviceId::from_u128(2));
        let mut api = ApiClient::new("http://127.0.0.1:9");
        api.set_session(Some(Session {
            user_id: user,
            device_id: device,
            session_id: SessionId::from_u128(3),
            access_token: Secret::new(TOKEN),
            access_token_expires_at: DateTime::UNIX_EPOCH,
            refresh_token: Secret::new("zrt_marker_refresh"),
            refresh_token_expires_at: DateTime::UNIX_EPOCH,
        }));
        let machine = PendingDevice::new().into_machine(
            user.to_string(),
            device.to_string(),
            UserIdentity::generate().unwrap(),
        );
        let mut messenger = Messenger::assemble(api, machine, "alice".into()).unwrap();
        let mut conversation = ConversationState::new(
            ConversationId::from_u128(4),
            ConversationKind::OneToOne,
            vec![user],
        );
        conversation.upsert(Entry {
            seq: 1,
            message_id: MessageId::from_u128(5),
            sender_id: user,
            created_at: DateTime::UNIX_EPOCH,
            body: EntryBody::Decrypted {
                content: RoomEventContent::text(TEXT),
                sender_device: device.to_string(),
                sent_at_ms: 0,
            },
            ciphertext: None,
            expires_at: None,
        });
        messenger
            .data
            .conversations
            .insert(conversation.id, conversation);
        messenger
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }

    #[test]
    fn state_round_trips_encrypted_without_plaintext_secrets() {
        let original = messenger();
        let vault = Vault::create_with_params("password", FAST).unwrap();
        let bytes = original.save(&vault).unwrap();
        for secret in [TOKEN, "zrt_marker_refresh", TEXT, "alice"] {
            assert!(!contains(&bytes, secret), "{secret} in the state file");
        }
        let (loaded, reopened) = Messenger::load(&bytes, "password", None, None).unwrap();
        assert_eq!(loaded.session(), original.session());
        assert_eq!(loaded.data(), original.data());
        assert_eq!(loaded.username(), "alice");
        assert_eq!(loaded.server_url(), "http://127.0.0.1:9");
        assert_eq!(
            loaded.machine().identity_key(),
            original.machine().identity_key()
        );
        assert_eq!(
            loaded.machine().ed25519_key(),
            original.machine().ed25519_key()
        );
        // Saving again with the reopened vault needs no password.
        let again = loaded.save(&reopened).unwrap();
        assert!(Messenger::load(&again, "password", None, None).is_ok());
        assert!(matches!(
            Messenger::load(&bytes, "wrong", None, None),
            Err(ClientError::Vault(VaultError::WrongPasswordOrTampered))
        ));
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() - 1);
        assert!(Messenger::load(&truncated, "password", None, None).is_err());
    }

    #[test]
    fn debug_output_hides_tokens_and_text() {
        let text = format!("{:?}", messenger());
        assert!(!text.contains(TOKEN));
        assert!(!text.contains(TEXT));
    }

    #[test]
    fn new_passwords_need_ten_characters() {
        for short in ["", "a", "123456789", "ééééééééé"] {
            let error = check_new_password(short).unwrap_err();
            assert_eq!(
                error.to_string(),
                "the password must be at least 10 characters"
            );
        }
        // Characters, not bytes: nine two-byte characters are too few, ten
        // are enough.
        assert!(check_new_password("éééééééééé").is_ok());
        assert!(check_new_password("0123456789").is_ok());
    }

    fn device() -> DeviceDescription {
        DeviceDescription::new("test", "web").unwrap()
    }

    #[tokio::test]
    async fn register_refuses_a_short_password_before_any_request() {
        // Nothing listens on port 9: reaching the network would be a
        // transport error.
        let api = ApiClient::new("http://127.0.0.1:9");
        let error = Messenger::register(api, "alice", "short", &device())
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Invalid(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the password must be at least 10 characters"
        );
    }

    #[tokio::test]
    async fn login_does_not_check_the_password_length() {
        let api = ApiClient::new("http://127.0.0.1:9");
        let error = Messenger::login(api, "alice", "short", &device())
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Transport(_)), "{error:?}");
    }

    fn expiring(seq: i64, expires_at: Option<DateTime<chrono::Utc>>) -> Entry {
        Entry {
            seq,
            message_id: MessageId::from_u128(100 + seq as u128),
            sender_id: UserId::from_u128(1),
            created_at: DateTime::UNIX_EPOCH,
            body: EntryBody::Decrypted {
                content: RoomEventContent::text(format!("message {seq}")),
                sender_device: DeviceId::from_u128(2).to_string(),
                sent_at_ms: 0,
            },
            ciphertext: None,
            expires_at,
        }
    }

    fn add(messenger: &mut Messenger, entry: Entry) {
        messenger
            .data
            .conversations
            .get_mut(&ConversationId::from_u128(4))
            .unwrap()
            .upsert(entry);
    }

    fn stored_ids(messenger: &Messenger) -> Vec<MessageId> {
        messenger.data().conversations[&ConversationId::from_u128(4)]
            .entries
            .iter()
            .map(|e| e.message_id)
            .collect()
    }

    #[tokio::test]
    async fn expired_messages_are_not_shown_and_are_deleted() {
        let past = DateTime::from_timestamp(1_000_000_000, 0);
        let future = DateTime::from_timestamp(4_000_000_000, 0);
        let mut messenger = messenger();
        add(&mut messenger, expiring(2, past));
        add(&mut messenger, expiring(3, future));
        let views = messenger.timeline(ConversationId::from_u128(4)).await;
        let shown: Vec<MessageId> = views.iter().map(|v| v.id).collect();
        assert_eq!(
            shown,
            vec![MessageId::from_u128(5), MessageId::from_u128(103)]
        );
        assert_eq!(stored_ids(&messenger), shown, "deleted locally too");
    }

    #[test]
    fn expired_messages_are_left_out_of_the_saved_state() {
        let mut messenger = messenger();
        add(
            &mut messenger,
            expiring(2, DateTime::from_timestamp(1_000_000_000, 0)),
        );
        add(&mut messenger, expiring(3, None));
        let vault = Vault::create_with_params("password", FAST).unwrap();
        let bytes = messenger.save(&vault).unwrap();
        let (loaded, _) = Messenger::load(&bytes, "password", None, None).unwrap();
        assert_eq!(
            stored_ids(&loaded),
            vec![MessageId::from_u128(5), MessageId::from_u128(103)]
        );
        // With an explicit time, the later expiry applies too.
        let mut loaded = loaded;
        add(
            &mut loaded,
            expiring(4, DateTime::from_timestamp(2_000_000_000, 0)),
        );
        assert_eq!(
            loaded.remove_expired(DateTime::from_timestamp(1_999_999_999, 0).unwrap()),
            0
        );
        assert_eq!(
            loaded.remove_expired(DateTime::from_timestamp(2_000_000_000, 0).unwrap()),
            1
        );
    }
}
