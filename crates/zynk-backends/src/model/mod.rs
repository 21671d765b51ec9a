//! Records read from and written to the store.
//!
//! Ids are `zynk_proto`'s typed ids where they name a user, device, session, conversation or
//! message. Columns holding a closed vocabulary (`conversations.type`, `messages.message_type`,
//! the publication `status` columns) are carried as their enums ([`ConversationKind`],
//! [`MessageType`], [`PublicationStatus`]), parsed once when a row is read; a stored value
//! outside the vocabulary is [`crate::StoreError::Corrupt`] naming the column.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zynk_proto::{
    ConversationId, ConversationKind, DeviceId, MessageId, MessageType, PublicationStatus,
    RequestState, SessionId, UserId, WhoCanMessage,
};

use crate::ledger::PendingTx;

mod accounts;
mod calls;
mod contacts;
mod evm;
mod groups;
mod keys;
mod messaging;
mod operations;
mod trust;

pub use accounts::*;
pub use calls::*;
pub use contacts::*;
pub use evm::*;
pub use groups::*;
pub use keys::*;
pub use messaging::*;
pub use operations::*;
pub use trust::*;
