//! The one gate in front of every password check (login, account deletion, password change)
//! and password hash (registration, password change).
//!
//! Counts, on the ephemeral store (so every node shares them):
//! - `pw:ip:{ip}`: every check from an address (`rate_limits.password_per_address`);
//! - `pwfail:{account}:{ip}`: failed checks of an account from one address
//!   (`rate_limits.password_failures_per_address`), refused beyond;
//! - `pwfail:{account}`: failed checks of an account from anywhere
//!   (`rate_limits.login_per_username`): beyond it, addresses that failed on the account are
//!   refused and the others are slowed down by `rate_limits.password_slowdown_ms`, so a
//!   stranger's wrong guesses never lock the owner out.
//!
//! And, per node, the checks in flight: one account (`auth.password_checks_per_account`) or one
//! address (`auth.password_checks_per_address`) may have only a few running or waiting for the
//! hashing pool at once; more get 429 with `Retry-After: 1` at once, so the pool stays fair.
//!
//! `{account}` is the user id, or `name:` and the ASCII-lowercased username for a login of an
//! unknown name.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::context::Context;
use crate::error::ApiError;

/// Guards password checks.
#[derive(Clone)]
pub struct PasswordGuard {
    context: Arc<Context>,
    in_flight: Arc<DashMap<String, usize>>,
}

/// A password check admitted by the gate; its place in flight is freed when dropped.
pub struct Admitted {
    in_flight: Arc<DashMap<String, usize>>,
    keys: Vec<String>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        for key in &self.keys {
            self.in_flight.remove_if_mut(key, |_, count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
        }
    }
}

fn busy() -> ApiError {
    let mut error = ApiError::rate_limited(1);
    error.message = "a password check for this account or address is already running; retry \
                     in 1 s"
        .into();
    error
}

impl PasswordGuard {
    /// A guard over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            in_flight: Arc::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.context.config.rate_limits.window_secs)
    }

    fn refused(&self) -> ApiError {
        ApiError::rate_limited(self.context.config.rate_limits.window_secs)
    }

    /// Takes places in flight for `keys` (all or none).
    fn enter(&self, keys: &[(String, usize)]) -> Result<Admitted, ApiError> {
        let mut taken = Vec::with_capacity(keys.len());
        for (key, cap) in keys {
            let mut entry = self.in_flight.entry(key.clone()).or_insert(0);
            if *entry >= *cap {
                drop(entry);
                drop(Admitted {
                    in_flight: self.in_flight.clone(),
                    keys: taken,
                });
                return Err(busy());
            }
            *entry += 1;
            drop(entry);
            taken.push(key.clone());
        }
        Ok(Admitted {
            in_flight: self.in_flight.clone(),
            keys: taken,
        })
    }

    /// Admits a check of `account`'s password from `ip`, or refuses it (429); may wait first
    /// (the slow-down). Hold the result while hashing.
    pub async fn check(&self, account: &str, ip: IpAddr) -> Result<Admitted, ApiError> {
        let limits = &self.context.config.rate_limits;
        if limits.enabled {
            let ephemeral = &self.context.ephemeral;
            let from_address = ephemeral
                .rate_limit_hit(
                    &format!("pw:ip:{ip}"),
                    limits.password_per_address,
                    self.window(),
                )
                .await?;
            if !from_address.allowed {
                return Err(ApiError::rate_limited(
                    from_address.reset_after.as_secs_f64().ceil() as u64,
                ));
            }
            let failed_here = ephemeral
                .rate_limit_peek(&format!("pwfail:{account}:{ip}"))
                .await?;
            if failed_here >= limits.password_failures_per_address {
                return Err(self.refused());
            }
            let failed_anywhere = ephemeral
                .rate_limit_peek(&format!("pwfail:{account}"))
                .await?;
            if failed_anywhere >= limits.login_per_username {
                if failed_here > 0 {
                    return Err(self.refused());
                }
                tokio::time::sleep(Duration::from_millis(limits.password_slowdown_ms)).await;
            }
        }
        let auth = &self.context.config.auth;
        self.enter(&[
            (format!("acct:{account}"), auth.password_checks_per_account),
            (format!("ip:{ip}"), auth.password_checks_per_address),
        ])
    }

    /// Admits hashing a new password for a request from `ip` (registration).
    pub fn hash(&self, ip: IpAddr) -> Result<Admitted, ApiError> {
        self.enter(&[(
            format!("ip:{ip}"),
            self.context.config.auth.password_checks_per_address,
        )])
    }

    /// Records a failed check of `account`'s password from `ip`.
    pub async fn failed(&self, account: &str, ip: IpAddr) -> Result<(), ApiError> {
        if !self.context.config.rate_limits.enabled {
            return Ok(());
        }
        let ephemeral = &self.context.ephemeral;
        let window = self.window();
        ephemeral
            .rate_limit_hit(&format!("pwfail:{account}:{ip}"), u64::MAX, window)
            .await?;
        ephemeral
            .rate_limit_hit(&format!("pwfail:{account}"), u64::MAX, window)
            .await?;
        Ok(())
    }
}
