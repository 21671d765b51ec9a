//! The caller's devices and sessions: list, revoke, set a push token.

use std::sync::Arc;

use zynk_proto::devices::DeviceView;
use zynk_proto::sessions::SessionView;
use zynk_proto::{DeviceId, SessionId};

use super::auth::AuthContext;
use super::validation;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Closing, Hub};

/// Devices and sessions of the caller.
#[derive(Clone)]
pub struct DeviceService {
    context: Arc<Context>,
    hub: Arc<Hub>,
}

impl DeviceService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self { context, hub }
    }

    /// The caller's devices, oldest first.
    pub async fn list(&self, caller: &AuthContext) -> Result<Vec<DeviceView>, ApiError> {
        let devices = self.context.store.list_devices(caller.user_id).await?;
        Ok(devices
            .into_iter()
            .map(|d| DeviceView {
                device_id: d.id,
                name: d.name,
                platform: d.platform,
                fingerprint: d.fingerprint,
                public_key: d.public_key,
                has_push_token: d.push_token.is_some(),
                last_active_at: d.last_active_at,
                created_at: d.created_at,
                current: d.id == caller.device_id,
            })
            .collect())
    }

    /// Revokes one of the caller's devices: the device and all its sessions are deleted, and its
    /// tokens stop working at once. Another user's device is reported as not found.
    pub async fn revoke(&self, caller: &AuthContext, device_id: DeviceId) -> Result<(), ApiError> {
        let revoked = self
            .context
            .store
            .delete_device(caller.user_id, device_id)
            .await?
            .ok_or_else(|| ApiError::not_found("device"))?;
        self.context.ephemeral.session_revoke(&revoked).await?;
        self.hub
            .close(Closing::Device {
                user_id: caller.user_id,
                device_id,
            })
            .await;
        tracing::info!(user_id = %caller.user_id, device_id = %device_id, "device revoked");
        Ok(())
    }

    /// Sets or clears the push token of one of the caller's devices.
    pub async fn set_push_token(
        &self,
        caller: &AuthContext,
        device_id: DeviceId,
        push_token: Option<&str>,
    ) -> Result<(), ApiError> {
        if let Some(token) = push_token {
            validation::push_token(token)?;
        }
        let found = self
            .context
            .store
            .set_push_token(caller.user_id, device_id, push_token)
            .await?;
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found("device"))
        }
    }

    /// The caller's sessions, newest first.
    pub async fn sessions(&self, caller: &AuthContext) -> Result<Vec<SessionView>, ApiError> {
        let sessions = self.context.store.list_sessions(caller.user_id).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView {
                session_id: s.id,
                device_id: s.device_id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                refresh_expires_at: s.refresh_expires_at,
                current: s.id == caller.session_id,
            })
            .collect())
    }

    /// Revokes one of the caller's sessions. Another user's session is reported as not found.
    pub async fn revoke_session(
        &self,
        caller: &AuthContext,
        session_id: SessionId,
    ) -> Result<(), ApiError> {
        let hash = self
            .context
            .store
            .delete_session(caller.user_id, session_id)
            .await?
            .ok_or_else(|| ApiError::not_found("session"))?;
        self.context.ephemeral.session_revoke(&[hash]).await?;
        self.hub
            .close(Closing::Session {
                user_id: caller.user_id,
                session_id,
            })
            .await;
        Ok(())
    }
}
