//! Fixed-window rate limits on the ephemeral store: per client address and endpoint
//! (`ratelimit:{ip}:{endpoint}`, data model 4.8) and per user and endpoint (password checks
//! have their own gate, [`super::password_guard`]). Per-user limits shrink for users with low trust scores (see [`super::trust`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use zynk_proto::UserId;

use crate::context::Context;
use crate::error::ApiError;

/// Applies the configured limits.
#[derive(Clone)]
pub struct RateLimiter {
    context: Arc<Context>,
    /// Trust scores by user, with when they were read (for `trust.score_cache_secs`).
    scores: Arc<DashMap<UserId, (u8, Instant)>>,
}

impl RateLimiter {
    /// A limiter over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            scores: Arc::default(),
        }
    }

    /// The share of the per-user limits (percent) a user with `score` gets.
    pub fn percent_for_score(&self, score: u8) -> u8 {
        let trust = &self.context.config.trust;
        if score < trust.severe_below {
            trust.severe_percent
        } else if score < trust.restricted_below {
            trust.restricted_percent
        } else {
            100
        }
    }

    /// Drops the cached score of `user_id` (after it changed on this node).
    pub fn forget_score(&self, user_id: UserId) {
        self.scores.remove(&user_id);
    }

    async fn score(&self, user_id: UserId) -> Result<u8, ApiError> {
        let ttl = Duration::from_secs(self.context.config.trust.score_cache_secs);
        if let Some(entry) = self.scores.get(&user_id)
            && entry.1.elapsed() < ttl
        {
            return Ok(entry.0);
        }
        let score = self
            .context
            .store
            .identity_by_user(user_id)
            .await?
            .map_or(50, |i| {
                u8::try_from(i.trust_score.clamp(0, 100)).unwrap_or(0)
            });
        if self.scores.len() > 100_000 {
            self.scores.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        self.scores.insert(user_id, (score, Instant::now()));
        Ok(score)
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

    /// Counts a request by `user_id` to `endpoint`; the limit shrinks with a low trust score.
    pub async fn check_user(&self, user_id: UserId, endpoint: &str) -> Result<(), ApiError> {
        if !self.context.config.rate_limits.enabled {
            return Ok(());
        }
        let percent = self.percent_for_score(self.score(user_id).await?);
        let limit = (self.context.config.rate_limits.per_user * u64::from(percent) / 100).max(1);
        self.hit(&format!("user:{user_id}:{endpoint}"), limit).await
    }

    /// Counts one event against `key` with its own `limit` per `window` (for limits that are
    /// not per endpoint: key claims, to-device volume, credentials).
    pub async fn check_key(&self, key: &str, limit: u64, window: Duration) -> Result<(), ApiError> {
        if !self.context.config.rate_limits.enabled {
            return Ok(());
        }
        let decision = self
            .context
            .ephemeral
            .rate_limit_hit(key, limit, window)
            .await?;
        if decision.allowed {
            Ok(())
        } else {
            Err(ApiError::rate_limited(
                decision.reset_after.as_secs_f64().ceil() as u64,
            ))
        }
    }
}
