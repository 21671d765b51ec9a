//! The networking and messaging layer of the SDK, on top of [`crate::crypto`].
//!
//! - [`ApiClient`]: typed HTTP client of every `/api/v1` endpoint, with
//!   errors carrying the server's code and automatic token refresh.
//! - [`EventStream`]: the WebSocket frames, over tokio-tungstenite natively
//!   and gloo-net in the browser ([`FrameTransport`]).
//! - [`Credentials`]: password → authentication secret + backup key.
//! - [`Messenger`]: a logged-in device that registers, logs in, shares keys,
//!   sends and receives encrypted messages, and saves its state encrypted
//!   ([`Vault`]).
//! - [`ProofCheck`]: a message's ledger inclusion proof checked offline
//!   against the device's own copy, under a ledger key pinned on first use.
//! - [`timeline`]: stored messages folded into what the user sees, and the
//!   [`MessageView`] display/JSON form.
//! - `Home` (native only): the on-disk home directory with its lock.
//! - [`files`] (native only): encrypted file uploads (resumable) and downloads
//!   for [`Messenger`].
//! - [`memfiles`]: the same files held in memory (the browser client).

mod api;
mod backup;
pub mod credentials;
mod error;
mod events;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod group_secrets;
#[cfg(not(target_arch = "wasm32"))]
mod home;
mod ledger;
pub mod memfiles;
mod messenger;
mod session;
mod state;
pub mod timeline;
#[cfg(not(target_arch = "wasm32"))]
pub mod tls;
mod util;
mod vault;

pub use api::ApiClient;
pub use backup::{BACKUP_VERSION, open_identity, seal_identity};
pub use credentials::{BackupKey, Credentials};
pub use error::{BackupError, ClientError, VaultError};
pub use events::{EventStream, FrameTransport};
#[cfg(not(target_arch = "wasm32"))]
pub use home::{Home, HomeLock};
pub use ledger::{CiphertextSource, LedgerInfo, PinnedLedger, ProofCheck, ProofVerdict};
pub use memfiles::FileToSend;
pub use messenger::{
    BlockedUser, CALL_SIGNAL_EVENT, ConversationView, DeviceDescription, FrameOutcome, LiveEvent,
    MIN_PASSWORD_CHARS, Messenger, PresenceView, ReceivedCallSignal, RequestView,
    SafetyNumberReport, SendOptions, SendReceipt, SyncReport, TrustAction, TrustScoreChange,
    Whoami,
};
pub use session::{Secret, Session};
pub use state::{ClientData, ConversationState, IdentityCheck, SetupState};
pub use timeline::{Entry, EntryBody, FileSummary, MessageView, TimelineItem};
pub use util::{new_message_id, now_ms};
pub use vault::Vault;
