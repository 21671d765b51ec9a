//! Blocking and message requests.
//!
//! A blocked user cannot open a 1:1 conversation with the blocker or send into their 1:1
//! conversation, and is not told: the refusal is `recipient_not_accepting`, exactly as when the
//! recipient only accepts contacts or declined the request. Blocks do not apply inside group
//! conversations. Message requests are 1:1 conversations whose caller side is `pending`: they are
//! listed by `GET /api/v1/requests` instead of `GET /api/v1/conversations`, readable, never
//! pushed, and accepted (explicitly or by replying) or declined by the recipient.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// A user the caller blocked: `GET /api/v1/blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedUser {
    /// The blocked user.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// When the caller blocked them.
    pub blocked_at: chrono::DateTime<chrono::Utc>,
}
