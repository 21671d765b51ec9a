//! Registration, login, token refresh, logout, profiles, privacy settings and account deletion.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use zynk_backends::model::{
    NewAccount, NewDevice, NewSession, PendingIdentity, Privacy, ProfileChanges, ProfileRecord,
    RefreshOutcome,
};
use zynk_proto::auth::{AuthResponse, DeviceInfo, LoginRequest, RegisterRequest};
use zynk_proto::users::{
    ChangePasswordRequest, Me, PrivacySettings, PrivacyUpdate, Profile, ProfileUpdate,
    PublicProfile,
};
use zynk_proto::{DeviceId, ErrorCode, SessionId, UserId};

use super::auth::AuthContext;
use super::password_guard::PasswordGuard;
use super::passwords::{PasswordHasher, Verification};
use super::rate_limit::RateLimiter;
use super::tokens::{self, IssuedTokens, REFRESH_PREFIX, hash_token, well_formed};
use super::validation;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Closing, Hub};

/// Accounts and their sessions.
#[derive(Clone)]
pub struct AccountService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    passwords: PasswordHasher,
    guard: PasswordGuard,
    identities: Arc<DashMap<UserId, (Arc<Identity>, Instant)>>,
}

/// The parts of an account that never change (name, identity key, creation time), cached per
/// node so `GET /users/me` needs no database read. The session check before it still decides
/// whether the caller may see them.
struct Identity {
    username: String,
    public_key: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// How long an account's identity stays cached on a node.
const IDENTITY_TTL: Duration = Duration::from_secs(300);

/// The publish/subscribe channel on which a node announces that a user's identity key changed,
/// so every node drops its cached copy (payload: the user id as text).
pub const IDENTITY_CHANGED_CHANNEL: &str = "identity-changed";

fn invalid_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "unknown username or wrong password",
    )
}

/// The checks of a device description in a register or login body (public for the fuzz
/// targets, which run them on arbitrary bodies).
pub fn validate_device(device: &DeviceInfo) -> Result<(), ApiError> {
    validation::visible_name(
        "device.name",
        &device.name,
        validation::MAX_NAME_CHARS,
        true,
    )?;
    validation::platform(&device.platform)?;
    validation::fingerprint(&device.fingerprint)?;
    validation::ed25519_key("device.public_key", &device.public_key)?;
    Ok(())
}

fn new_device(device: &DeviceInfo) -> NewDevice {
    NewDevice {
        id: DeviceId::new_v7(),
        name: device.name.clone(),
        platform: device.platform.clone(),
        fingerprint: device.fingerprint.clone(),
        public_key: device.public_key.clone(),
    }
}

fn privacy_to_wire(p: Privacy) -> PrivacySettings {
    PrivacySettings {
        show_online_status: p.show_online_status,
        show_last_seen: p.show_last_seen,
        allow_read_receipts: p.allow_read_receipts,
        allow_proximity_discovery: p.allow_proximity_discovery,
        who_can_message: p.who_can_message,
    }
}

fn profile_to_wire(p: ProfileRecord) -> Profile {
    Profile {
        user_id: p.user_id,
        username: p.username,
        display_name: p.display_name,
        avatar_url: p.avatar_url,
        bio: p.bio,
        last_seen_at: p.last_seen_at,
        privacy: privacy_to_wire(p.privacy),
        updated_at: p.updated_at,
    }
}

fn auth_response(
    user_id: UserId,
    device_id: DeviceId,
    session_id: SessionId,
    t: IssuedTokens,
) -> AuthResponse {
    AuthResponse {
        user_id,
        device_id,
        session_id,
        access_token: t.access_token,
        access_token_expires_at: t.stored.expires_at,
        refresh_token: t.refresh_token,
        refresh_token_expires_at: t.stored.refresh_expires_at,
        token_type: "Bearer".into(),
    }
}

/// Drops cached identities other nodes announce as changed, for as long as the cache lives.
async fn forget_changed_identities(
    context: Arc<Context>,
    identities: std::sync::Weak<DashMap<UserId, (Arc<Identity>, Instant)>>,
) {
    use futures::StreamExt as _;
    loop {
        let mut changes = match context.ephemeral.subscribe(IDENTITY_CHANGED_CHANNEL).await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to identity changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(payload) = changes.next().await {
            let Some(identities) = identities.upgrade() else {
                return;
            };
            if let Some(user_id) = std::str::from_utf8(&payload)
                .ok()
                .and_then(|s| s.parse::<uuid::Uuid>().ok())
            {
                identities.remove(&UserId::from_uuid(user_id));
            }
        }
        if identities.strong_count() == 0 {
            return;
        }
    }
}

impl AccountService {
    /// A service over the shared context.
    pub fn new(
        context: Arc<Context>,
        hub: Arc<Hub>,
        passwords: PasswordHasher,
        rate_limits: RateLimiter,
    ) -> Self {
        let _ = rate_limits;
        let identities: Arc<DashMap<UserId, (Arc<Identity>, Instant)>> = Arc::default();
        tokio::spawn(forget_changed_identities(
            context.clone(),
            Arc::downgrade(&identities),
        ));
        Self {
            guard: PasswordGuard::new(context.clone()),
            context,
            hub,
            passwords,
            identities,
        }
    }

    /// Drops this node's cached identity of `user_id` and tells the other nodes to do the same
    /// (after its identity key changed).
    pub async fn forget_identity(&self, user_id: UserId) {
        self.identities.remove(&user_id);
        if let Err(err) = self
            .context
            .ephemeral
            .publish(IDENTITY_CHANGED_CHANNEL, user_id.to_string().as_bytes())
            .await
        {
            tracing::warn!(error = %err, "cannot announce an identity change to other nodes");
        }
    }

    fn issue(&self, now: chrono::DateTime<chrono::Utc>) -> Result<IssuedTokens, ApiError> {
        let auth = &self.context.config.auth;
        tokens::issue(now, auth.access_token_ttl_secs, auth.refresh_token_ttl_secs)
            .map_err(|e| ApiError::internal(&e))
    }

    /// Creates an account with its first device and session.
    pub async fn register(
        &self,
        request: &RegisterRequest,
        ip: IpAddr,
    ) -> Result<AuthResponse, ApiError> {
        validation::username(&request.username)?;
        validation::password(
            &request.password,
            self.context.config.auth.min_password_chars,
        )?;
        let identity_key = validation::ed25519_key("identity_key", &request.identity_key)?;
        validate_device(&request.device)?;
        let device_key = validation::ed25519_key("device.public_key", &request.device.public_key)?;
        let statement =
            zynk_proto::possession::register_bytes(&request.username, &identity_key, &device_key);
        super::possession::verify(
            "identity_signature",
            request.identity_signature.as_deref(),
            &identity_key,
            &statement,
            "identity key's signature over the registration statement",
        )?;
        super::possession::verify(
            "device_signature",
            request.device_signature.as_deref(),
            &device_key,
            &statement,
            "device key's signature over the registration statement",
        )?;
        // Fail fast on a taken name before spending a password hash on it.
        if self
            .context
            .store
            .find_user_by_username(&request.username)
            .await?
            .is_some()
        {
            return Err(ApiError::new(ErrorCode::UsernameTaken, "username is taken"));
        }
        let admitted = self.guard.hash(ip)?;
        let password_hash = self
            .passwords
            .hash(&request.password)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        drop(admitted);
        let now = zynk_backends::now();
        let tokens = self.issue(now)?;
        let user_id = UserId::new_v7();
        let key = validation::ed25519_key("identity_key", &request.identity_key)?;
        let did = zynk_ledger::ZynkDid::new(user_id.as_uuid());
        let registration = zynk_ledger::Transaction::IdentityRegistration(
            zynk_ledger::block::IdentityRegistration {
                did,
                public_key: zynk_ledger::Ed25519PublicKey(key),
                user_id: user_id.as_uuid(),
            },
        );
        let identity = PendingIdentity {
            did: did.to_string(),
            transaction: registration,
        };
        let account = NewAccount {
            identity,
            user_id,
            username: request.username.clone(),
            password_hash,
            public_key: request.identity_key.clone(),
            device: new_device(&request.device),
            session: NewSession {
                id: SessionId::new_v7(),
                tokens: tokens.stored.clone(),
            },
        };
        self.context.store.create_account(&account, now).await?;
        self.context.analytics.record(
            account.user_id,
            crate::services::analytics::EventKind::UserRegistered,
        );
        super::ledger::cache_pending(&self.context, &account.identity.transaction).await;
        tracing::info!(user_id = %account.user_id, device_id = %account.device.id, "account registered");
        Ok(auth_response(
            account.user_id,
            account.device.id,
            account.session.id,
            tokens,
        ))
    }

    /// Logs in on a device (registering the device if its fingerprint is new).
    pub async fn login(
        &self,
        request: &LoginRequest,
        ip: IpAddr,
    ) -> Result<AuthResponse, ApiError> {
        // Usernames are ASCII by rule: anything else fails before any lookup, so no
        // case-folding other than ASCII's is ever applied (PostgreSQL's `lower()` folds the
        // Kelvin sign to `k`).
        if validation::username(&request.username).is_err()
            || request.password.chars().count() > validation::MAX_PASSWORD_CHARS
        {
            return Err(invalid_credentials());
        }
        validate_device(&request.device)?;
        let device_key = validation::ed25519_key("device.public_key", &request.device.public_key)?;
        super::possession::verify(
            "device_signature",
            request.device_signature.as_deref(),
            &device_key,
            &zynk_proto::possession::login_bytes(&request.username, &device_key),
            "device key's signature over the login statement",
        )?;
        let Some(user) = self
            .context
            .store
            .find_user_by_username(&request.username)
            .await?
        else {
            let account = format!("name:{}", request.username.to_ascii_lowercase());
            let _admitted = self.guard.check(&account, ip).await?;
            self.passwords
                .verify_dummy(&request.password)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            self.guard.failed(&account, ip).await?;
            return Err(invalid_credentials());
        };
        let account = user.id.to_string();
        let _admitted = self.guard.check(&account, ip).await?;
        let verdict = self
            .passwords
            .verify(&request.password, &user.password_hash)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if verdict == Verification::Mismatch {
            self.guard.failed(&account, ip).await?;
        }
        let now = zynk_backends::now();
        match verdict {
            Verification::Mismatch => {
                tracing::info!(user_id = %user.id, "login failed: wrong password");
                return Err(invalid_credentials());
            }
            Verification::MatchNeedsUpgrade => {
                let upgraded = self
                    .passwords
                    .hash(&request.password)
                    .await
                    .map_err(|e| ApiError::internal(&e))?;
                self.context
                    .store
                    .set_password_hash(user.id, &upgraded, now)
                    .await?;
                tracing::info!(user_id = %user.id, iterations = self.passwords.iterations(), "password hash upgraded");
            }
            Verification::Match => {}
        }
        let tokens = self.issue(now)?;
        let session = NewSession {
            id: SessionId::new_v7(),
            tokens: tokens.stored.clone(),
        };
        let device_id = self
            .context
            .store
            .login_device(user.id, &new_device(&request.device), &session, now)
            .await?;
        tracing::info!(user_id = %user.id, device_id = %device_id, "logged in");
        self.context
            .analytics
            .record(user.id, crate::services::analytics::EventKind::UserLogin);
        Ok(auth_response(user.id, device_id, session.id, tokens))
    }

    /// Rotates a refresh token. A token that was already rotated away revokes its session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthResponse, ApiError> {
        let invalid = || {
            ApiError::new(
                ErrorCode::InvalidRefreshToken,
                "refresh token is invalid or expired",
            )
        };
        if !well_formed(refresh_token, REFRESH_PREFIX) {
            return Err(invalid());
        }
        let now = zynk_backends::now();
        let tokens = self.issue(now)?;
        let outcome = self
            .context
            .store
            .rotate_refresh(&hash_token(refresh_token), &tokens.stored, now)
            .await?;
        match outcome {
            RefreshOutcome::Rotated {
                session,
                old_access_hash,
            } => {
                self.context
                    .ephemeral
                    .session_revoke(&[old_access_hash])
                    .await?;
                Ok(auth_response(
                    session.user_id,
                    session.device_id,
                    session.id,
                    tokens,
                ))
            }
            RefreshOutcome::Reused {
                user_id,
                session_id,
                access_hash,
            } => {
                self.context
                    .ephemeral
                    .session_revoke(&[access_hash])
                    .await?;
                self.hub
                    .close(Closing::Session {
                        user_id,
                        session_id,
                    })
                    .await;
                tracing::warn!(session_id = %session_id, "refresh token replayed; session revoked");
                Err(ApiError::new(
                    ErrorCode::RefreshTokenReused,
                    "this refresh token was already used; the session has been revoked",
                ))
            }
            RefreshOutcome::Expired | RefreshOutcome::Unknown => Err(invalid()),
        }
    }

    /// Ends the caller's session.
    pub async fn logout(&self, caller: &AuthContext) -> Result<(), ApiError> {
        let removed = self
            .context
            .store
            .delete_session(caller.user_id, caller.session_id)
            .await?;
        let mut hashes = vec![caller.access_hash.clone()];
        hashes.extend(removed);
        self.context.ephemeral.session_revoke(&hashes).await?;
        self.hub
            .close(Closing::Session {
                user_id: caller.user_id,
                session_id: caller.session_id,
            })
            .await;
        Ok(())
    }

    /// The caller's account.
    pub async fn me(&self, caller: &AuthContext) -> Result<Me, ApiError> {
        let cached = self
            .identities
            .get(&caller.user_id)
            .filter(|e| e.1.elapsed() < IDENTITY_TTL)
            .map(|e| e.0.clone());
        let identity = match cached {
            Some(identity) => identity,
            None => {
                let user = self
                    .context
                    .store
                    .get_user(caller.user_id)
                    .await?
                    .ok_or_else(ApiError::unauthenticated)?;
                let identity = Arc::new(Identity {
                    username: user.username,
                    public_key: user.public_key,
                    created_at: user.created_at,
                });
                if self.identities.len() > 100_000 {
                    self.identities
                        .retain(|_, (_, at)| at.elapsed() < IDENTITY_TTL);
                }
                self.identities
                    .insert(caller.user_id, (identity.clone(), Instant::now()));
                identity
            }
        };
        Ok(Me {
            user_id: caller.user_id,
            username: identity.username.clone(),
            identity_key: identity.public_key.clone(),
            device_id: caller.device_id,
            session_id: caller.session_id,
            created_at: identity.created_at,
        })
    }

    /// The caller's own profile.
    pub async fn own_profile(&self, caller: &AuthContext) -> Result<Profile, ApiError> {
        let profile = self.context.store.get_profile(caller.user_id).await?;
        profile
            .map(profile_to_wire)
            .ok_or_else(ApiError::unauthenticated)
    }

    /// Another user's profile as the caller may see it (any signed-in user may look a user up;
    /// last-seen time only if that user shows it).
    pub async fn public_profile(&self, user_id: UserId) -> Result<PublicProfile, ApiError> {
        let p = self
            .context
            .store
            .get_profile(user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(PublicProfile {
            user_id: p.user_id,
            username: p.username,
            identity_key: p.public_key,
            display_name: p.display_name,
            avatar_url: p.avatar_url,
            bio: p.bio,
            last_seen_at: p.privacy.show_last_seen.then_some(p.last_seen_at).flatten(),
        })
    }

    /// Looks a user up by username (case-insensitively).
    pub async fn public_profile_by_username(
        &self,
        username: &str,
    ) -> Result<PublicProfile, ApiError> {
        if validation::username(username).is_err() {
            return Err(ApiError::not_found("user"));
        }
        let user = self
            .context
            .store
            .find_user_by_username(username)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        self.public_profile(user.id).await
    }

    /// Changes the caller's profile.
    pub async fn update_profile(
        &self,
        caller: &AuthContext,
        update: &ProfileUpdate,
    ) -> Result<Profile, ApiError> {
        if let Some(Some(name)) = &update.display_name {
            validation::visible_name("display_name", name, validation::MAX_NAME_CHARS, true)?;
        }
        if let Some(Some(url)) = &update.avatar_url {
            validation::url("avatar_url", url)?;
        }
        if let Some(Some(bio)) = &update.bio {
            validation::text("bio", bio, validation::MAX_BIO_CHARS, false)?;
        }
        let changes = ProfileChanges {
            display_name: update.display_name.clone(),
            avatar_url: update.avatar_url.clone(),
            bio: update.bio.clone(),
        };
        let profile = self
            .context
            .store
            .update_profile(caller.user_id, &changes, zynk_backends::now())
            .await?;
        profile
            .map(profile_to_wire)
            .ok_or_else(ApiError::unauthenticated)
    }

    /// The caller's privacy settings.
    pub async fn privacy(&self, caller: &AuthContext) -> Result<PrivacySettings, ApiError> {
        Ok(self.own_profile(caller).await?.privacy)
    }

    /// Changes some of the caller's privacy settings.
    pub async fn update_privacy(
        &self,
        caller: &AuthContext,
        update: &PrivacyUpdate,
    ) -> Result<PrivacySettings, ApiError> {
        let current = self
            .context
            .store
            .get_profile(caller.user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?
            .privacy;
        let next = Privacy {
            show_online_status: update
                .show_online_status
                .unwrap_or(current.show_online_status),
            show_last_seen: update.show_last_seen.unwrap_or(current.show_last_seen),
            allow_read_receipts: update
                .allow_read_receipts
                .unwrap_or(current.allow_read_receipts),
            allow_proximity_discovery: update
                .allow_proximity_discovery
                .unwrap_or(current.allow_proximity_discovery),
            who_can_message: update.who_can_message.unwrap_or(current.who_can_message),
        };
        let profile = self
            .context
            .store
            .set_privacy(caller.user_id, &next, zynk_backends::now())
            .await?;
        let profile = profile.ok_or_else(ApiError::unauthenticated)?;
        if !profile.privacy.allow_proximity_discovery {
            self.context
                .ephemeral
                .location_remove(caller.user_id)
                .await?;
        }
        Ok(privacy_to_wire(profile.privacy))
    }

    /// Deletes the caller's account and everything that belongs to it, after checking the
    /// password.
    pub async fn delete_account(
        &self,
        caller: &AuthContext,
        password: &str,
        ip: IpAddr,
    ) -> Result<(), ApiError> {
        if password.chars().count() > validation::MAX_PASSWORD_CHARS {
            return Err(invalid_credentials());
        }
        // The gate first: a refused check costs no database read.
        let account = caller.user_id.to_string();
        let _admitted = self.guard.check(&account, ip).await?;
        let user = self
            .context
            .store
            .get_user(caller.user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let verdict = self
            .passwords
            .verify(password, &user.password_hash)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if verdict == Verification::Mismatch {
            self.guard.failed(&account, ip).await?;
            return Err(invalid_credentials());
        }
        // Out of every group first, with an event each group's members see.
        super::groups::remove_deleted_account(&self.context, &self.hub, user.id).await?;
        let revoked = self
            .context
            .store
            .delete_user(user.id)
            .await?
            .unwrap_or_default();
        self.context.ephemeral.session_revoke(&revoked).await?;
        self.hub.close(Closing::User { user_id: user.id }).await;
        self.identities.remove(&user.id);
        self.context.ephemeral.location_remove(user.id).await?;
        tracing::info!(user_id = %user.id, "account deleted");
        Ok(())
    }

    /// Changes the caller's password after checking the old one (through the password gate),
    /// with the identity backup sealed under the new one when given; ends every other session
    /// of the account unless asked to keep them.
    pub async fn change_password(
        &self,
        caller: &AuthContext,
        request: &ChangePasswordRequest,
        ip: IpAddr,
    ) -> Result<(), ApiError> {
        validation::password(
            &request.new_password,
            self.context.config.auth.min_password_chars,
        )?;
        if request.old_password.chars().count() > validation::MAX_PASSWORD_CHARS {
            return Err(invalid_credentials());
        }
        let backup = match &request.identity_backup {
            Some(backup) => {
                let bytes = super::keys::decode_base64(&backup.ciphertext).ok_or_else(|| {
                    ApiError::invalid_field("identity_backup.ciphertext", "must be standard base64")
                })?;
                if bytes.is_empty() || bytes.len() > zynk_proto::users::MAX_IDENTITY_BACKUP_BYTES {
                    return Err(ApiError::invalid_field(
                        "identity_backup.ciphertext",
                        "must be 1 to 4096 bytes",
                    ));
                }
                Some(bytes)
            }
            None => None,
        };
        let account = caller.user_id.to_string();
        let _admitted = self.guard.check(&account, ip).await?;
        let user = self
            .context
            .store
            .get_user(caller.user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let verdict = self
            .passwords
            .verify(&request.old_password, &user.password_hash)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if verdict == Verification::Mismatch {
            self.guard.failed(&account, ip).await?;
            return Err(invalid_credentials());
        }
        let new_hash = self
            .passwords
            .hash(&request.new_password)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let others: Vec<SessionId> = if request.keep_other_sessions {
            Vec::new()
        } else {
            self.context
                .store
                .list_sessions(caller.user_id)
                .await?
                .into_iter()
                .map(|s| s.id)
                .filter(|id| *id != caller.session_id)
                .collect()
        };
        let change = zynk_backends::model::PasswordChange {
            user_id: caller.user_id,
            old_hash: user.password_hash,
            new_hash,
            identity_backup: backup,
            keep_only_session: (!request.keep_other_sessions).then_some(caller.session_id),
        };
        let revoked = self
            .context
            .store
            .change_password(&change, zynk_backends::now())
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidCredentials,
                    "the password was changed meanwhile; sign in again",
                )
            })?;
        self.context.ephemeral.session_revoke(&revoked).await?;
        for session_id in others {
            self.hub
                .close(Closing::Session {
                    user_id: caller.user_id,
                    session_id,
                })
                .await;
        }
        tracing::info!(user_id = %caller.user_id, sessions_ended = revoked.len(), "password changed");
        Ok(())
    }
}
