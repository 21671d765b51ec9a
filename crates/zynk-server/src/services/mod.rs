//! Services: the rules of Zynk, free of HTTP. Handlers (and the WebSocket edge) parse and
//! authorise, call one service, and shape the reply; services own validation, entitlement
//! checks and storage calls. They work over the shared [`Context`] (configuration and storage
//! seams) and reach connected devices through the realtime layer below them
//! ([`crate::realtime`]): events are published to and connections closed through its hub.
//!
//! Users, devices, sessions, conversations and messages are named by `zynk_proto`'s typed ids
//! from the handlers down to the store; request strings that name a closed vocabulary (a message
//! type, a conversation type) are parsed into their enums once, in validation. `zynk-ledger`
//! takes plain UUIDs: ids are converted (`as_uuid`, `from_uuid`) where a ledger transaction is
//! built or read.

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod calls;
pub mod connections;
pub mod contacts;
pub mod conversations;
pub mod devices;
pub mod evm;
pub mod files;
pub mod groups;
pub mod keys;
pub mod ledger;
pub mod messages;
pub mod password_guard;
pub mod passwords;
pub mod possession;
pub mod presence;
pub mod proximity;
pub mod rate_limit;
pub mod to_device;
pub mod tokens;
pub mod trust;
pub mod validation;

use std::sync::Arc;

use crate::context::Context;
use crate::realtime::{Hub, PushSender};

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
    /// Device keys, one-time keys, identity backups.
    pub keys: keys::KeyService,
    /// The to-device channel.
    pub to_device: to_device::ToDeviceService,
    /// Conversations and cursors.
    pub conversations: conversations::ConversationService,
    /// Messages.
    pub messages: messages::MessageService,
    /// Groups and their membership.
    pub groups: groups::GroupService,
    /// The embedded ledger and message anchoring.
    pub ledger: ledger::LedgerService,
    /// Trust scores.
    pub trust: trust::TrustService,
    /// The EVM publisher (`chain = "evm"`).
    pub evm: Option<evm::EvmPublisher>,
    /// This node's device connections.
    pub connections: connections::ConnectionService,
    /// Blocks and message requests.
    pub contacts: contacts::ContactService,
    /// Encrypted files.
    pub files: files::FileService,
    /// Presence and typing indicators.
    pub presence: presence::PresenceService,
    /// Calls and TURN credentials.
    pub calls: calls::CallService,
    /// Location sharing and nearby search.
    pub proximity: proximity::ProximityService,
}

impl Services {
    /// Builds every service over one shared context and starts their background tasks.
    pub fn start(
        context: Arc<Context>,
        hub: Arc<Hub>,
        pusher: Option<Arc<dyn PushSender>>,
        ledger_key: ed25519_dalek::SigningKey,
    ) -> Self {
        let rate_limits = rate_limit::RateLimiter::new(context.clone());
        let passwords = passwords::PasswordHasher::new(context.config.auth.pbkdf2_iterations);
        let conversations = conversations::ConversationService::new(context.clone(), hub.clone());
        let messages = messages::MessageService::start(
            context.clone(),
            hub.clone(),
            conversations.clone(),
            pusher,
        );
        let groups = groups::GroupService::new(context.clone(), hub.clone(), conversations.clone());
        let ledger = ledger::LedgerService::new(context.clone(), messages.clone(), ledger_key);
        let trust = trust::TrustService::new(context.clone(), hub.clone(), rate_limits.clone());
        let auth = auth::Authenticator::new(context.clone());
        let presence = presence::PresenceService::new(
            context.clone(),
            hub.clone(),
            conversations.clone(),
            auth.clone(),
        );
        let calls = calls::CallService::new(
            context.clone(),
            hub.clone(),
            conversations.contacts().clone(),
            messages.clone(),
        );
        let proximity = proximity::ProximityService::new(context.clone(), rate_limits.clone());
        Self {
            proximity,
            ledger,
            trust,
            evm: None,
            accounts: accounts::AccountService::new(
                context.clone(),
                hub.clone(),
                passwords,
                rate_limits.clone(),
            ),
            auth,
            presence,
            devices: devices::DeviceService::new(context.clone(), hub.clone()),
            rate_limits,
            keys: keys::KeyService::new(context.clone(), hub.clone()),
            to_device: to_device::ToDeviceService::new(context.clone(), hub.clone()),
            files: files::FileService::new(context.clone()),
            connections: connections::ConnectionService::new(context, hub),
            contacts: conversations.contacts().clone(),
            conversations,
            messages,
            groups,
            calls,
        }
    }
}
