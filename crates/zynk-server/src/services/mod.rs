//! Services: the rules of Zynk, free of HTTP. Handlers parse and authorise, call one service,
//! and shape the reply; services own validation, entitlement checks and storage calls.

pub mod accounts;
pub mod auth;
pub mod devices;
pub mod passwords;
pub mod rate_limit;
pub mod tokens;
pub mod validation;

use std::sync::Arc;

use zynk_backends::Ephemeral;
use zynk_backends::sql::AnyStore;

use crate::config::Config;

/// What every service needs: configuration and the two storage seams.
pub struct Context {
    /// The configuration in force.
    pub config: Config,
    /// Durable store.
    pub store: Arc<dyn AnyStore>,
    /// Ephemeral state.
    pub ephemeral: Arc<dyn Ephemeral>,
}

/// The registry of services, one per noun.
#[derive(Clone)]
pub struct Services {
    /// Registration, login, tokens, profiles, account deletion.
    pub accounts: accounts::AccountService,
    /// Bearer-token authentication.
    pub auth: auth::Authenticator,
    /// Devices and sessions of the caller.
    pub devices: devices::DeviceService,
    /// Rate limits.
    pub rate_limits: rate_limit::RateLimiter,
}

impl Services {
    /// Builds every service over one shared context.
    pub fn new(context: Arc<Context>) -> Self {
        let rate_limits = rate_limit::RateLimiter::new(context.clone());
        let passwords = passwords::PasswordHasher::new(context.config.auth.pbkdf2_iterations);
        Self {
            accounts: accounts::AccountService::new(
                context.clone(),
                passwords,
                rate_limits.clone(),
            ),
            auth: auth::Authenticator::new(context.clone()),
            devices: devices::DeviceService::new(context),
            rate_limits,
        }
    }
}
