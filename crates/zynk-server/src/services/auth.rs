//! Bearer-token authentication: the session cache first, the store on a miss. Last-use times
//! are written at most once a minute per session, so authentication stays a read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use zynk_backends::ephemeral::CachedSession;
use zynk_proto::{DeviceId, ErrorCode, SessionId, UserId};

use super::tokens::{ACCESS_PREFIX, hash_token, well_formed};
use crate::context::Context;
use crate::error::ApiError;

/// How often a session's `last_used_at` (and its device's and user's activity) is written.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// The account.
    pub user_id: UserId,
    /// The device.
    pub device_id: DeviceId,
    /// The session.
    pub session_id: SessionId,
    /// Hash of the presented access token.
    pub access_hash: String,
}

/// Resolves access tokens to callers.
#[derive(Clone)]
pub struct Authenticator {
    context: Arc<Context>,
    touched: Arc<DashMap<SessionId, Instant>>,
}

impl Authenticator {
    /// An authenticator over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            touched: Arc::default(),
        }
    }

    /// Checks an access token. Fails with `unauthenticated` for an unknown, revoked or malformed
    /// token and `token_expired` for an expired one.
    pub async fn authenticate(&self, token: &str) -> Result<AuthContext, ApiError> {
        if !well_formed(token, ACCESS_PREFIX) {
            return Err(ApiError::unauthenticated());
        }
        let access_hash = hash_token(token);
        let now = zynk_backends::now();
        let cached = self.context.ephemeral.session_get(&access_hash).await?;
        let session = match cached {
            Some(session) => session,
            None => {
                let record = self
                    .context
                    .store
                    .session_by_access_hash(&access_hash)
                    .await?
                    .ok_or_else(ApiError::unauthenticated)?;
                let session = CachedSession {
                    user_id: record.user_id,
                    device_id: record.device_id,
                    session_id: record.id,
                    expires_at_ms: record.expires_at.timestamp_millis(),
                };
                let left = record.expires_at - now;
                if let Ok(ttl) = left.to_std() {
                    self.context
                        .ephemeral
                        .session_put(&access_hash, &session, ttl)
                        .await?;
                }
                session
            }
        };
        if session.expires_at_ms <= now.timestamp_millis() {
            return Err(ApiError::new(
                ErrorCode::TokenExpired,
                "the access token has expired",
            ));
        }
        self.touch(&session).await;
        Ok(AuthContext {
            user_id: session.user_id,
            device_id: session.device_id,
            session_id: session.session_id,
            access_hash,
        })
    }

    /// Records WebSocket activity of a connected caller (the last-seen time of the user and of
    /// the device), throttled like HTTP activity.
    pub async fn record_activity(&self, caller: &AuthContext) {
        self.touch(&CachedSession {
            user_id: caller.user_id,
            device_id: caller.device_id,
            session_id: caller.session_id,
            expires_at_ms: 0,
        })
        .await;
    }

    /// Records activity, at most once per [`TOUCH_INTERVAL`] per session on this node. A failure
    /// is logged, never fatal to the request.
    async fn touch(&self, session: &CachedSession) {
        let now = Instant::now();
        let due = match self.touched.get(&session.session_id) {
            Some(last) => now.duration_since(*last) >= TOUCH_INTERVAL,
            None => true,
        };
        if !due {
            return;
        }
        self.touched.insert(session.session_id, now);
        if self.touched.len() > 100_000 {
            self.touched
                .retain(|_, last| now.duration_since(*last) < TOUCH_INTERVAL);
        }
        let result = self
            .context
            .store
            .touch_session(
                session.session_id,
                session.device_id,
                session.user_id,
                zynk_backends::now(),
            )
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not record session activity");
        }
    }
}
