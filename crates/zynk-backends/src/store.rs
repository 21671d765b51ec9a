//! The durable store, split by aggregate. [`Store`] is everything together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::*;

/// Accounts, profiles and privacy settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates user, profile, device and session in one transaction.
    /// Fails with [`StoreError::UsernameTaken`] or [`StoreError::FingerprintTaken`].
    async fn create_account(
        &self,
        account: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Finds a user by username, case-insensitively.
    async fn find_user_by_username(&self, username: &str)
    -> Result<Option<UserRecord>, StoreError>;
    /// Reads a user.
    async fn get_user(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the password hash (used to upgrade old hashes at login).
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Reads a profile with username and identity key.
    async fn get_profile(&self, user_id: Uuid) -> Result<Option<ProfileRecord>, StoreError>;
    /// Applies profile changes; returns the new profile, or `None` if the user does not exist.
    async fn update_profile(
        &self,
        user_id: Uuid,
        changes: &ProfileChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Replaces the privacy settings; returns the new profile, or `None` if the user does not exist.
    async fn set_privacy(
        &self,
        user_id: Uuid,
        privacy: &Privacy,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Deletes the account and everything that belongs to it; returns the access token hashes of
    /// the sessions it removed, or `None` if there was no such user.
    async fn delete_user(&self, user_id: Uuid) -> Result<Option<RevokedAccessHashes>, StoreError>;
}

/// Devices.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers the login's device (or refreshes name, platform and key of the account's device
    /// with that fingerprint) and creates a session for it, in one transaction. Returns the
    /// device id. Fails with [`StoreError::FingerprintTaken`] if another account owns the
    /// fingerprint.
    async fn login_device(
        &self,
        user_id: Uuid,
        device: &NewDevice,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError>;
    /// The user's devices, oldest first.
    async fn list_devices(&self, user_id: Uuid) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Deletes one of the user's devices and its sessions; returns the access token hashes of
    /// those sessions, or `None` if the user has no such device.
    async fn delete_device(
        &self,
        user_id: Uuid,
        device_id: Uuid,
    ) -> Result<Option<RevokedAccessHashes>, StoreError>;
    /// Sets or clears the push token of one of the user's devices; false if there is no such
    /// device of that user.
    async fn set_push_token(
        &self,
        user_id: Uuid,
        device_id: Uuid,
        push_token: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// Sessions and refresh-token rotation.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Reads the session whose current access token has this hash.
    async fn session_by_access_hash(
        &self,
        access_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Rotates the session whose current refresh token has `refresh_hash` to the new hashes
    /// and expiries; detects replay of a rotated token and then revokes the session.
    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        next: &SessionTokens,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;
    /// The user's sessions, newest first.
    async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes one of the user's sessions; returns its access hash, or `None` if not found.
    async fn delete_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<String>, StoreError>;
    /// Records use of a session and activity of its device and user.
    async fn touch_session(
        &self,
        session_id: Uuid,
        device_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes sessions whose refresh token expired before `now`; returns how many.
    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Health and schema upkeep.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Makes sure message partitions exist ahead of time (PostgreSQL); returns how many it made.
    async fn ensure_partitions(&self) -> Result<u32, StoreError>;
    /// The engine's name: `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;
}

/// The whole durable store.
pub trait Store: AccountStore + DeviceStore + SessionStore + MaintenanceStore {}

impl<T: AccountStore + DeviceStore + SessionStore + MaintenanceStore> Store for T {}
