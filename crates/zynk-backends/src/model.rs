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

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Account id.
    pub id: UserId,
    /// Username in its registered case.
    pub username: String,
    /// PHC password hash string.
    pub password_hash: String,
    /// User identity public key.
    pub public_key: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// The privacy settings as stored in `user_profiles.privacy_settings`: four flags and
/// `who_can_message` (absent in settings stored before it existed: `everyone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privacy {
    /// Others may see online status.
    pub show_online_status: bool,
    /// Others may see last-seen time.
    pub show_last_seen: bool,
    /// Read receipts are sent.
    pub allow_read_receipts: bool,
    /// Discoverable by proximity.
    pub allow_proximity_discovery: bool,
    /// Who may start a 1:1 conversation with the user.
    #[serde(default)]
    pub who_can_message: WhoCanMessage,
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            show_online_status: true,
            show_last_seen: true,
            allow_read_receipts: true,
            allow_proximity_discovery: true,
            who_can_message: WhoCanMessage::Everyone,
        }
    }
}

/// A row of `user_profiles` joined with the username and identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// Account id.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// User identity public key.
    pub public_key: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Biography.
    pub bio: Option<String>,
    /// Last activity.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Privacy settings.
    pub privacy: Privacy,
    /// Last profile change.
    pub updated_at: DateTime<Utc>,
}

/// Profile fields to change: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// Display name.
    pub display_name: Option<Option<String>>,
    /// Avatar URL.
    pub avatar_url: Option<Option<String>>,
    /// Biography.
    pub bio: Option<Option<String>>,
}

/// A device to register (or to refresh, for a known fingerprint of the same account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Id to use if the device is new.
    pub id: DeviceId,
    /// Device name.
    pub name: String,
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// Client-chosen fingerprint.
    pub fingerprint: String,
    /// Device Ed25519 public key.
    pub public_key: String,
}

/// A row of `devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device id.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Device name.
    pub name: Option<String>,
    /// Client-chosen fingerprint.
    pub fingerprint: String,
    /// Device public key.
    pub public_key: String,
    /// Push token, if set.
    pub push_token: Option<String>,
    /// Platform.
    pub platform: String,
    /// Last activity.
    pub last_active_at: Option<DateTime<Utc>>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// A session (token family) to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Session id.
    pub id: SessionId,
    /// Its first tokens.
    pub tokens: SessionTokens,
}

/// The token hashes and expiries of a session. Fields hold SHA-256 hashes, never tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTokens {
    /// Hash of the access token.
    pub access_hash: String,
    /// Hash of the refresh token.
    pub refresh_hash: String,
    /// Access token expiry.
    pub expires_at: DateTime<Utc>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// A row of `sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// Hash of the current access token.
    pub access_hash: String,
    /// Access token expiry.
    pub expires_at: DateTime<Utc>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: DateTime<Utc>,
}

/// A new account: user, profile, first device and first session, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Account id.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// PHC password hash.
    pub password_hash: String,
    /// User identity key.
    pub public_key: String,
    /// First device.
    pub device: NewDevice,
    /// First session.
    pub session: NewSession,
    /// The `identity_registration` ledger transaction of the account, pending until a block
    /// includes it.
    pub identity: PendingIdentity,
}

/// A new identity's DID and its pending ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIdentity {
    /// `did:zynk:<user id>`.
    pub did: String,
    /// Its `identity_registration` transaction.
    pub transaction: zynk_ledger::Transaction,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: the session now holds the new token hashes. Carries the session
    /// and the hash of the access token it replaced (to drop from caches).
    Rotated {
        /// The session after rotation.
        session: SessionRecord,
        /// The access token hash that stopped being valid.
        old_access_hash: String,
    },
    /// The token had already been rotated away: the whole session was revoked. Carries the
    /// access token hash that stopped being valid.
    Reused {
        /// The owner of the revoked session.
        user_id: UserId,
        /// The revoked session.
        session_id: SessionId,
        /// Its access token hash, to drop from caches.
        access_hash: String,
    },
    /// The current refresh token of a session whose refresh lifetime is over.
    Expired,
    /// No session knows this token.
    Unknown,
}

/// Token hashes of sessions that a deletion removed, so caches can drop them.
pub type RevokedAccessHashes = Vec<String>;

/// A signed one-time or fallback key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id.
    pub key_id: String,
    /// Public key.
    pub public_key: String,
    /// Signature.
    pub signature: String,
}

/// Key stock of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStock {
    /// Unclaimed one-time keys.
    pub one_time_keys: u64,
    /// Whether a fallback key is stored.
    pub fallback_key: bool,
    /// Whether the device key bundle is stored.
    pub device_keys: bool,
}

/// The outcome of a key upload (all of it is stored, or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUpload {
    /// Stored; the device's stock afterwards.
    Stored(KeyStock),
    /// A different key bundle is already stored for the device.
    BundleConflict,
    /// The device would hold more one-time keys than allowed.
    TooManyKeys,
}

/// A claimed key: a one-time key (removed from the store) or the fallback key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Owner.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// The key.
    pub key: StoredKey,
    /// Whether it is the fallback key.
    pub fallback: bool,
    /// One-time keys the device has left after this claim.
    pub remaining: u64,
}

/// A user's identity key and device bundles.
#[derive(Debug, Clone, PartialEq)]
pub struct UserKeysRecord {
    /// User.
    pub user_id: UserId,
    /// Identity key.
    pub identity_key: String,
    /// Bundles (JSON as uploaded).
    pub bundles: Vec<serde_json::Value>,
}

/// A to-device payload to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToDevice {
    /// Recipient owner (checked).
    pub recipient_user_id: UserId,
    /// Recipient device.
    pub recipient_device_id: DeviceId,
    /// Payload.
    pub content: serde_json::Value,
}

/// A stored to-device payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ToDeviceRecord {
    /// Inbox position.
    pub id: i64,
    /// Recipient device.
    pub recipient_device_id: DeviceId,
    /// Sender.
    pub sender_user_id: Option<UserId>,
    /// Sending device.
    pub sender_device_id: Option<DeviceId>,
    /// Event type.
    pub event_type: String,
    /// Payload.
    pub content: serde_json::Value,
    /// Send time.
    pub created_at: DateTime<Utc>,
}

/// What a to-device send stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToDeviceOutcome {
    /// Newly stored payloads (to push to connected devices).
    pub stored: Vec<ToDeviceRecord>,
    /// Recipients already holding this transaction (a retry).
    pub duplicates: u64,
    /// Recipients (user, device) that do not exist.
    pub unknown: Vec<(UserId, DeviceId)>,
}

/// A move of one participant's cursors (see [`crate::store::ConversationStore::advance_cursors`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorMove {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Participant.
    pub user_id: UserId,
    /// New delivered cursor, if it moves.
    pub delivered_up_to: Option<i64>,
    /// New read cursor, if it moves.
    pub read_up_to: Option<i64>,
}

/// A participant row with its owner's read-receipt setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    /// User.
    pub user_id: UserId,
    /// Role.
    pub role: String,
    /// Delivered cursor.
    pub last_delivered_seq: i64,
    /// Read cursor.
    pub last_read_seq: i64,
    /// Whether the user sends read receipts.
    pub read_receipts: bool,
    /// Join time.
    pub joined_at: DateTime<Utc>,
}

/// A conversation as one participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// Id.
    pub id: ConversationId,
    /// One-to-one or group.
    pub kind: ConversationKind,
    /// Highest sequence number.
    pub last_seq: i64,
    /// Whether self-destructing messages are anchored.
    pub anchor_expiring: bool,
    /// Messages from others after the viewer's read cursor.
    pub unread_count: i64,
    /// The viewer's side of a message request (`accepted` in groups).
    pub request_state: RequestState,
    /// Participants.
    pub participants: Vec<ParticipantRecord>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Client-chosen id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sender.
    pub sender_id: UserId,
    /// Sending device.
    pub sender_device_id: DeviceId,
    /// Ciphertext.
    pub encrypted_content: Vec<u8>,
    /// Hex SHA-256 of the ciphertext.
    pub content_hash: String,
    /// Type.
    pub message_type: MessageType,
    /// Routing metadata (JSON object).
    pub metadata: serde_json::Value,
    /// The relation to an earlier message, as the message service decided it.
    pub relation: Option<RelationWrite>,
    /// Self-destruct time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a new message does to an earlier message of its conversation (an edit, a reaction, a
/// deletion): the preconditions the store checks and the effect it applies, both inside the
/// transaction that stores the new message. Which relation requires what is the message
/// service's rule; the store only carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationWrite {
    /// The earlier message. It must be in the new message's conversation, not deleted and not
    /// expired.
    pub target: MessageId,
    /// The target must also have been sent by the new message's sender.
    pub require_same_sender: bool,
    /// What storing the new message does to the target.
    pub effect: RelationEffect,
}

/// What storing a related message does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationEffect {
    /// Nothing: the target is left as it is.
    None,
    /// Sets the target's `edited_at` to the time of storing.
    MarkEdited,
    /// Soft-deletes the target: sets its `deleted_at` and wipes its stored ciphertext.
    Delete,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sequence number.
    pub seq: i64,
    /// Sender.
    pub sender_id: UserId,
    /// Sending device.
    pub sender_device_id: Option<DeviceId>,
    /// Ciphertext (empty once deleted).
    pub encrypted_content: Vec<u8>,
    /// Hash of the ciphertext as sent.
    pub content_hash: String,
    /// Type.
    pub message_type: MessageType,
    /// Metadata JSON.
    pub metadata: Option<serde_json::Value>,
    /// Send time.
    pub created_at: DateTime<Utc>,
    /// Last edit.
    pub edited_at: Option<DateTime<Utc>>,
    /// Deletion.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Self-destruct time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The outcome of storing one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Created(MessageRecord),
    /// Already stored with the same content (an idempotent retry).
    Existing(MessageRecord),
    /// The id is taken by different content, another conversation or another sender.
    IdConflict,
    /// The relation's target is missing, deleted, expired, in another conversation, or not the
    /// sender's where [`RelationWrite::require_same_sender`] asks for it.
    InvalidRelation,
}

/// Which page of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRange {
    /// Messages with `seq > after`, ascending.
    After(i64),
    /// Messages with `seq < before`, the newest first (returned ascending).
    Before(i64),
}

/// A message removed because it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiredMessage {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Message.
    pub message_id: MessageId,
}

/// A user's ledger identity (data model 11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// `did:zynk:<user id>`.
    pub did: String,
    /// The user.
    pub user_id: UserId,
    /// Identity key, base64.
    pub public_key: String,
    /// Trust score, 0–100.
    pub trust_score: i32,
    /// Whether the registration is in a block.
    pub is_verified: bool,
    /// Hash of the transaction that registered the current key.
    pub transaction_hash: Option<String>,
    /// Block holding it.
    pub block_number: Option<i64>,
    /// When the account was created.
    pub account_created_at: DateTime<Utc>,
}

/// What justifies a trust change, recorded with it so that it counts once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustEvidence {
    /// Milestones and administrator changes.
    None,
    /// A spam report (one per reporter, target and UTC day).
    Report {
        /// Who reported.
        reporter: UserId,
        /// The UTC day.
        day: chrono::NaiveDate,
    },
    /// A vouch (one per voucher and target).
    Vouch {
        /// Who vouched.
        voucher: UserId,
    },
}

/// One trust score change, applied atomically with its history row and ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustChange {
    /// Whose score.
    pub did: String,
    /// The score the change starts from (compare-and-set).
    pub old_score: i32,
    /// The new score; equal to `old_score` records only the evidence.
    pub new_score: i32,
    /// Data model 11.5 change reason.
    pub reason: &'static str,
    /// Who caused it.
    pub changed_by: Option<UserId>,
    /// The history row's id.
    pub history_id: Uuid,
    /// Reporter or voucher.
    pub evidence: TrustEvidence,
    /// The `trust_score_update` transaction (absent when the score does not change).
    pub tx: Option<PendingTx>,
}

/// How [`crate::store::TrustStore::apply_trust_change`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustOutcome {
    /// Written.
    Applied,
    /// The score is no longer `old_score`; nothing written (read again and retry).
    ScoreChanged,
    /// The same report or vouch exists; nothing written.
    Duplicate,
}

/// A row of `trust_score_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustHistoryRecord {
    /// Row id.
    pub id: Uuid,
    /// Score before.
    pub old_score: i32,
    /// Score after.
    pub new_score: i32,
    /// Change reason.
    pub reason: String,
    /// Ledger transaction.
    pub transaction_hash: Option<String>,
    /// Who caused it.
    pub changed_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What the milestone job needs to know about one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStanding {
    /// The identity.
    pub identity: IdentityRecord,
    /// Account-age milestones already credited.
    pub age_milestones: i64,
    /// Message-volume milestones already credited.
    pub volume_milestones: i64,
    /// Trust changes recorded so far.
    pub changes: i64,
}

/// An issued verifiable credential (the JWT itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Credential id (the JWT's `jti` is `urn:uuid:<id>`).
    pub id: Uuid,
    /// Subject.
    pub user_id: UserId,
    /// Subject DID.
    pub subject_did: String,
    /// Issuer DID.
    pub issuer_did: String,
    /// Credential type.
    pub credential_type: String,
    /// Its `credential_issuance` transaction.
    pub transaction_hash: String,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
}

/// A new identity key for an existing identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The user.
    pub user_id: UserId,
    /// Their DID.
    pub did: String,
    /// The key the rotation replaces (compare-and-set).
    pub old_public_key: String,
    /// The new key, base64.
    pub new_public_key: String,
    /// The `identity_registration` transaction recording it.
    pub tx: PendingTx,
}

/// A sealed ledger transaction to publish to the EVM registry, queued with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The ledger transaction hash (`0x` + 64 hex).
    pub ledger_tx_hash: String,
    /// Data model 11.2 type.
    pub tx_type: &'static str,
    /// The ledger transaction's JSON.
    pub tx_json: Vec<u8>,
    /// Batch height, for `message_anchor`.
    pub height: Option<i64>,
    /// The user it concerns.
    pub user_id: Option<UserId>,
    /// The entity it records.
    pub related_entity_id: Option<Uuid>,
}

/// A row of `evm_outbox` not confirmed or failed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Queue order.
    pub seq: i64,
    /// What was queued.
    pub item: OutboxItemRecord,
    /// Queued or sent.
    pub status: PublicationStatus,
    /// The signer nonce, once signed.
    pub nonce: Option<i64>,
    /// The Ethereum transaction hash, once signed.
    pub evm_tx_hash: Option<String>,
    /// The signed transaction, once signed.
    pub raw_tx: Option<Vec<u8>>,
}

/// [`OutboxItem`] as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItemRecord {
    /// The ledger transaction hash.
    pub ledger_tx_hash: String,
    /// Data model 11.2 type.
    pub tx_type: String,
    /// The ledger transaction's JSON.
    pub tx_json: Vec<u8>,
    /// Batch height, for `message_anchor`.
    pub height: Option<i64>,
    /// The user it concerns.
    pub user_id: Option<UserId>,
    /// The entity it records.
    pub related_entity_id: Option<Uuid>,
}

/// An outbox row was signed: recorded before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmSent {
    /// Outbox row.
    pub seq: i64,
    /// Signer nonce.
    pub nonce: i64,
    /// Ethereum transaction hash (`0x` + 64 hex).
    pub evm_tx_hash: String,
    /// Signed transaction bytes.
    pub raw_tx: Vec<u8>,
    /// CAIP-2 chain (`eip155:<id>`).
    pub chain: String,
    /// Signer address.
    pub from_address: String,
    /// Registry address.
    pub to_address: String,
}

/// A published transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmDone {
    /// Outbox row.
    pub seq: i64,
    /// Ethereum transaction hash.
    pub evm_tx_hash: String,
    /// False when it reverted.
    pub success: bool,
    /// Block number.
    pub block_number: i64,
    /// Block hash (`0x` + 64 hex).
    pub block_hash: String,
    /// Gas used.
    pub gas_used: i64,
    /// Log index of the registry event.
    pub log_index: Option<i64>,
}

/// The EVM publication of a ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmPublication {
    /// CAIP-2 chain.
    pub chain: String,
    /// Ethereum transaction hash.
    pub evm_tx_hash: String,
    /// Registry address.
    pub to_address: Option<String>,
    /// Block number.
    pub block_number: Option<i64>,
    /// Block hash.
    pub block_hash: Option<String>,
    /// Gas used.
    pub gas_used: Option<i64>,
    /// Log index of the registry event.
    pub log_index: Option<i64>,
    /// Pending, confirmed or failed.
    pub status: PublicationStatus,
}

/// A block, as its author lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// The blocked user.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// When the block was made.
    pub blocked_at: DateTime<Utc>,
}

/// The 1:1 conversation of two users with each side's request state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairConversation {
    /// The conversation.
    pub id: ConversationId,
    /// The state of the user the standing was asked for.
    pub user_state: RequestState,
    /// The state of the other user.
    pub other_state: RequestState,
}

/// Everything that decides whether `user` may message `other` in a 1:1 conversation, read in
/// one go (see `ContactStore::contact_standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactStanding {
    /// `user` blocked `other`.
    pub user_blocks_other: bool,
    /// `other` blocked `user`.
    pub other_blocks_user: bool,
    /// The two are members of at least one common group.
    pub share_group: bool,
    /// `other`'s privacy setting.
    pub other_who_can_message: WhoCanMessage,
    /// Their 1:1 conversation, if one exists.
    pub conversation: Option<PairConversation>,
}
/// A member of a group (`group_members` with the username).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    /// User.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// Role.
    pub role: zynk_proto::groups::GroupRole,
    /// Join time.
    pub joined_at: DateTime<Utc>,
    /// Sequence number of the event that added the member.
    pub joined_seq: i64,
    /// Who added them.
    pub invited_by: Option<UserId>,
}

/// A row of `groups` with its members, longest-standing first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// Id.
    pub id: zynk_proto::GroupId,
    /// The group's conversation.
    pub conversation_id: ConversationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Most members.
    pub max_members: u32,
    /// Encryption mode.
    pub encryption_mode: zynk_proto::groups::EncryptionMode,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Members.
    pub members: Vec<GroupMemberRecord>,
}

/// A group to create, with its conversation and first members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// Id.
    pub id: zynk_proto::GroupId,
    /// Id of its conversation.
    pub conversation_id: ConversationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Encryption mode.
    pub encryption_mode: zynk_proto::groups::EncryptionMode,
    /// Most members (2-256).
    pub max_members: u32,
    /// The creator: the first admin.
    pub created_by: UserId,
    /// Other first members, distinct, without the creator.
    pub members: Vec<UserId>,
}

/// Settings to change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New avatar URL.
    pub avatar_url: Option<Option<String>>,
}

/// A membership change asked for by `actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// An admin adds a user.
    Add(UserId),
    /// An admin removes a member (not themself: they leave).
    Remove(UserId),
    /// An admin makes a member an admin.
    Promote(UserId),
    /// An admin makes an admin (possibly themself) a plain member.
    Demote(UserId),
    /// The actor leaves.
    Leave,
}

/// What a group write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWrite {
    /// The group afterwards; `None` when it ended (its last member left).
    pub group: Option<GroupRecord>,
    /// The `membership` messages written, in sequence order.
    pub events: Vec<MessageRecord>,
    /// Who should hear of it: the members before and after the change.
    pub audience: Vec<UserId>,
}

/// The outcome of a group write. Nothing is written unless it is `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Written.
    Done(Box<GroupWrite>),
    /// No such group, or the actor is not a member.
    NotFound,
    /// The actor is not an admin.
    NotAdmin,
    /// A named user does not exist.
    UnknownUser(UserId),
    /// The user to add is already a member.
    AlreadyMember,
    /// The user is not a member.
    NotMember,
    /// The group would exceed `max_members`.
    Full,
    /// The change would leave members without an admin.
    LastAdmin,
}

/// A password change (`AccountStore::change_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    /// The account.
    pub user_id: UserId,
    /// The hash the old password was checked against: the change applies only while it is
    /// still the stored one (so two concurrent changes cannot both succeed).
    pub old_hash: String,
    /// The new password hash.
    pub new_hash: String,
    /// A new identity backup sealed under the new password, stored with the change.
    pub identity_backup: Option<Vec<u8>>,
    /// `Some(session)`: every other session of the account ends; `None`: all stay.
    pub keep_only_session: Option<SessionId>,
}

/// The result of one cursor move (`ConversationStore::move_cursors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorOutcome {
    /// The participant after the move.
    pub participant: ParticipantRecord,
    /// Whether the delivered cursor moved.
    pub delivered_moved: bool,
    /// Whether the read cursor moved.
    pub read_moved: bool,
}

impl CursorOutcome {
    /// Whether either cursor moved (a receipt that moves nothing announces nothing).
    pub fn moved(&self) -> bool {
        self.delivered_moved || self.read_moved
    }
}

/// One participant of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParticipantRecord {
    /// The participant.
    pub user_id: UserId,
    /// When they joined; `None` if never.
    pub joined_at: Option<DateTime<Utc>>,
    /// When they left or declined; `None` while in the call or never joined.
    pub left_at: Option<DateTime<Utc>>,
}

/// A call with its participants (the initiator first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The call.
    pub id: zynk_proto::CallId,
    /// Its state.
    pub status: zynk_proto::calls::CallStatus,
    /// Audio or video.
    pub call_type: zynk_proto::calls::CallType,
    /// The conversation (the column is nullable).
    pub conversation_id: Option<ConversationId>,
    /// Who started it (`None` once their account is deleted).
    pub initiator_id: Option<UserId>,
    /// Whether the conversation is a group (several callees join and leave).
    pub group: bool,
    /// The participants, the initiator first, then by user id.
    pub participants: Vec<CallParticipantRecord>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When first answered.
    pub started_at: Option<DateTime<Utc>>,
    /// When over.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from `started_at` to `ended_at`.
    pub duration_seconds: Option<i64>,
}

/// A new call: the initiator (joined at once) and the conversation's other participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// The call's id.
    pub id: zynk_proto::CallId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The caller.
    pub initiator_id: UserId,
    /// Audio or video.
    pub call_type: zynk_proto::calls::CallType,
}

/// What a participant does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    /// A callee device was reached: `initiated` → `ringing`.
    Ring,
    /// A callee answers (or, in a group call in progress, joins or rejoins).
    Answer,
    /// A callee declines a ringing call.
    Decline,
    /// A participant hangs up: leaves, or ends the call; the initiator ending an unanswered
    /// call makes it `missed`.
    End,
}

/// The outcome of a call write. Nothing is written unless it is `Done` (or `Unchanged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Written; `event` names what happened (`created`, `ringing`, `answered`, `joined`,
    /// `left`, `declined`, `ended`, `missed`).
    Done {
        /// The call afterwards.
        call: Box<CallRecord>,
        /// What happened.
        event: &'static str,
    },
    /// Nothing to do (ringing an already ringing call).
    Unchanged(Box<CallRecord>),
    /// No such call or conversation, or the actor does not take part.
    NotFound,
    /// The transition is not allowed from the current state.
    Illegal(zynk_proto::calls::CallStatus),
    /// The conversation already has an active call.
    Active,
}
