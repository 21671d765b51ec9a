//! Fixed-window rate limits on the ephemeral store: per client address and endpoint
//! (`ratelimit:{ip}:{endpoint}`, data model 4.8), per user and endpoint, and login attempts per
//! username.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Context;
use crate::error::ApiError;

/// Applies the configured limits.
#[derive(Clone)]
pub struct RateLimiter {
    context: Arc<Context>,
}

impl RateLimiter {
    /// A limiter over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.context.config.rate_limits.window_secs)
    }

    async fn hit(&self, key: &str, limit: u64) -> Result<(), ApiError> {
        if !self.context.config.rate_limits.enabled {
            return Ok(());
        }
        let decision = self
            .context
            .ephemeral
            .rate_limit_hit(key, limit, self.window())
            .await?;
        if decision.allowed {
            Ok(())
        } else {
            Err(ApiError::rate_limited(
                decision.reset_after.as_secs_f64().ceil() as u64,
            ))
        }
    }

    /// Counts a request from `ip` to `endpoint` (a route template).
    pub async fn check_ip(&self, ip: IpAddr, endpoint: &str) -> Result<(), ApiError> {
        let limits = &self.context.config.rate_limits;
        let limit = limits
            .per_ip_endpoints
            .get(endpoint)
            .copied()
            .unwrap_or(limits.per_ip);
        self.hit(&format!("{ip}:{endpoint}"), limit).await
    }

    /// Counts a request by `user_id` to `endpoint`.
    pub async fn check_user(&self, user_id: Uuid, endpoint: &str) -> Result<(), ApiError> {
        let limit = self.context.config.rate_limits.per_user;
        self.hit(&format!("user:{user_id}:{endpoint}"), limit).await
    }

    /// Counts a login attempt for `username` (case-insensitively).
    pub async fn check_login(&self, username: &str) -> Result<(), ApiError> {
        let limit = self.context.config.rate_limits.login_per_username;
        self.hit(&format!("login:{}", username.to_ascii_lowercase()), limit)
            .await
    }
}
