//! Accounts, profiles, devices and sessions.

use super::*;

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Account id.
    pub id: UserId,
    /// Username in its registered case.
    pub username: String,
    /// PHC password hash string.
    pub password_hash: String,
    /// User identity public key.
    pub public_key: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// The privacy settings as stored in `user_profiles.privacy_settings`: four flags and
/// `who_can_message` (absent in settings stored before it existed: `everyone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privacy {
    /// Others may see online status.
    pub show_online_status: bool,
    /// Others may see last-seen time.
    pub show_last_seen: bool,
    /// Read receipts are sent.
    pub allow_read_receipts: bool,
    /// Discoverable by proximity.
    pub allow_proximity_discovery: bool,
    /// Who may start a 1:1 conversation with the user.
    #[serde(default)]
    pub who_can_message: WhoCanMessage,
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            show_online_status: true,
            show_last_seen: true,
            allow_read_receipts: true,
            allow_proximity_discovery: true,
            who_can_message: WhoCanMessage::Everyone,
        }
    }
}

/// A row of `user_profiles` joined with the username and identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// Account id.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// User identity public key.
    pub public_key: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Biography.
    pub bio: Option<String>,
    /// Last activity.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Privacy settings.
    pub privacy: Privacy,
    /// Last profile change.
    pub updated_at: DateTime<Utc>,
}

/// Profile fields to change: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// Display name.
    pub display_name: Option<Option<String>>,
    /// Avatar URL.
    pub avatar_url: Option<Option<String>>,
    /// Biography.
    pub bio: Option<Option<String>>,
}

/// A device to register (or to refresh, for a known fingerprint of the same account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Id to use if the device is new.
    pub id: DeviceId,
    /// Device name.
    pub name: String,
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// Client-chosen fingerprint.
    pub fingerprint: String,
    /// Device Ed25519 public key.
    pub public_key: String,
}

/// A row of `devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device id.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Device name.
    pub name: Option<String>,
    /// Client-chosen fingerprint.
    pub fingerprint: String,
    /// Device public key.
    pub public_key: String,
    /// Push token, if set.
    pub push_token: Option<String>,
    /// Platform.
    pub platform: String,
    /// Last activity.
    pub last_active_at: Option<DateTime<Utc>>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// A session (token family) to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Session id.
    pub id: SessionId,
    /// Its first tokens.
    pub tokens: SessionTokens,
}

/// The token hashes and expiries of a session. Fields hold SHA-256 hashes, never tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTokens {
    /// Hash of the access token.
    pub access_hash: String,
    /// Hash of the refresh token.
    pub refresh_hash: String,
    /// Access token expiry.
    pub expires_at: DateTime<Utc>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// A row of `sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// Hash of the current access token.
    pub access_hash: String,
    /// Access token expiry.
    pub expires_at: DateTime<Utc>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: DateTime<Utc>,
}

/// A new account: user, profile, first device and first session, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Account id.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// PHC password hash.
    pub password_hash: String,
    /// User identity key.
    pub public_key: String,
    /// First device.
    pub device: NewDevice,
    /// First session.
    pub session: NewSession,
    /// The `identity_registration` ledger transaction of the account, pending until a block
    /// includes it.
    pub identity: PendingIdentity,
}

/// A new identity's DID and its pending ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIdentity {
    /// `did:zynk:<user id>`.
    pub did: String,
    /// Its `identity_registration` transaction.
    pub transaction: zynk_ledger::Transaction,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: the session now holds the new token hashes. Carries the session
    /// and the hash of the access token it replaced (to drop from caches).
    Rotated {
        /// The session after rotation.
        session: SessionRecord,
        /// The access token hash that stopped being valid.
        old_access_hash: String,
    },
    /// The token had already been rotated away: the whole session was revoked. Carries the
    /// access token hash that stopped being valid.
    Reused {
        /// The owner of the revoked session.
        user_id: UserId,
        /// The revoked session.
        session_id: SessionId,
        /// Its access token hash, to drop from caches.
        access_hash: String,
    },
    /// The current refresh token of a session whose refresh lifetime is over.
    Expired,
    /// No session knows this token.
    Unknown,
}

/// Token hashes of sessions that a deletion removed, so caches can drop them.
pub type RevokedAccessHashes = Vec<String>;

/// A password change (`AccountStore::change_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    /// The account.
    pub user_id: UserId,
    /// The hash the old password was checked against: the change applies only while it is
    /// still the stored one (so two concurrent changes cannot both succeed).
    pub old_hash: String,
    /// The new password hash.
    pub new_hash: String,
    /// A new identity backup sealed under the new password, stored with the change.
    pub identity_backup: Option<Vec<u8>>,
    /// `Some(session)`: every other session of the account ends; `None`: all stay.
    pub keep_only_session: Option<SessionId>,
}
