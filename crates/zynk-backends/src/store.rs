//! The durable store, split by aggregate. [`Store`] is everything together.
//!
//! Users, devices, sessions, conversations, messages and groups are named by `zynk_proto`'s
//! typed ids ([`UserId`], [`DeviceId`], …); other ids (history rows, credentials, anchors,
//! related entities) are plain UUIDs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use zynk_ledger::{BatchHeader, Block, Ed25519PublicKey, Hash32, Transaction, ZynkDid};
use zynk_proto::{
    ConversationId, DeviceId, FileId, MessageId, PublicationStatus, RequestState, SessionId, UserId,
};

use crate::error::StoreError;
use crate::files::{CreateFileOutcome, FilePart, FileRecord, NewFile};
use crate::ledger::{
    AnchorWrite, BlockWrite, Head, IdentityState, MerkleEntry, PendingTx, ProofRecord, TxEntry,
    UnanchoredMessage,
};
use crate::model::*;

/// Accounts, profiles and privacy settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates user, profile, device and session in one transaction.
    /// Fails with [`StoreError::UsernameTaken`] or [`StoreError::FingerprintTaken`].
    async fn create_account(
        &self,
        account: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Finds a user by username, case-insensitively.
    async fn find_user_by_username(&self, username: &str)
    -> Result<Option<UserRecord>, StoreError>;
    /// Reads a user.
    async fn get_user(&self, user_id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the password hash (used to upgrade old hashes at login).
    async fn set_password_hash(
        &self,
        user_id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Reads a profile with username and identity key.
    async fn get_profile(&self, user_id: UserId) -> Result<Option<ProfileRecord>, StoreError>;
    /// Applies profile changes; returns the new profile, or `None` if the user does not exist.
    async fn update_profile(
        &self,
        user_id: UserId,
        changes: &ProfileChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Replaces the privacy settings; returns the new profile, or `None` if the user does not exist.
    async fn set_privacy(
        &self,
        user_id: UserId,
        privacy: &Privacy,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Deletes the account and everything that belongs to it; returns the access token hashes of
    /// the sessions it removed, or `None` if there was no such user.
    async fn delete_user(&self, user_id: UserId)
    -> Result<Option<RevokedAccessHashes>, StoreError>;
    /// Replaces the password hash (and the identity backup, when given) if the stored hash is
    /// still `change.old_hash`, and ends the other sessions when asked, in one transaction.
    /// Returns the access token hashes of the sessions it ended, or `None` if the user is gone
    /// or the hash changed meanwhile (nothing written).
    async fn change_password(
        &self,
        change: &PasswordChange,
        now: DateTime<Utc>,
    ) -> Result<Option<RevokedAccessHashes>, StoreError>;
}

/// Devices.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers the login's device (or refreshes name, platform and key of the account's device
    /// with that fingerprint) and creates a session for it, in one transaction. Returns the
    /// device id. Fails with [`StoreError::FingerprintTaken`] if another account owns the
    /// fingerprint.
    async fn login_device(
        &self,
        user_id: UserId,
        device: &NewDevice,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<DeviceId, StoreError>;
    /// The user's devices, oldest first.
    async fn list_devices(&self, user_id: UserId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Deletes one of the user's devices and its sessions; returns the access token hashes of
    /// those sessions, or `None` if the user has no such device.
    async fn delete_device(
        &self,
        user_id: UserId,
        device_id: DeviceId,
    ) -> Result<Option<RevokedAccessHashes>, StoreError>;
    /// Devices of these users that have a push token: `(user, device, token)`.
    async fn push_targets(
        &self,
        user_ids: &[UserId],
    ) -> Result<Vec<(UserId, DeviceId, String)>, StoreError>;
    /// Sets or clears the push token of one of the user's devices; false if there is no such
    /// device of that user.
    async fn set_push_token(
        &self,
        user_id: UserId,
        device_id: DeviceId,
        push_token: Option<&str>,
    ) -> Result<bool, StoreError>;
}

/// Sessions and refresh-token rotation.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Reads the session whose current access token has this hash.
    async fn session_by_access_hash(
        &self,
        access_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Rotates the session whose current refresh token has `refresh_hash` to the new hashes
    /// and expiries; detects replay of a rotated token and then revokes the session.
    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        next: &SessionTokens,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Whether the session still exists (not logged out, revoked or purged).
    async fn session_exists(&self, session_id: SessionId) -> Result<bool, StoreError>;
    /// The user's sessions, newest first.
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes one of the user's sessions; returns its access hash, or `None` if not found.
    async fn delete_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<Option<String>, StoreError>;
    /// Records use of a session and activity of its device and user.
    async fn touch_session(
        &self,
        session_id: SessionId,
        device_id: DeviceId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes sessions whose refresh token expired before `now`; returns how many.
    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Identity backups, device keys, one-time and fallback keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores (replaces) the user's encrypted identity backup.
    async fn put_identity_backup(
        &self,
        user_id: UserId,
        ciphertext: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Reads the user's encrypted identity backup.
    async fn get_identity_backup(&self, user_id: UserId) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores, in one transaction, a device's key bundle (an identical re-upload is accepted, a
    /// different one is a conflict), new one-time keys (key ids already stored are ignored) and a
    /// replacement fallback key; nothing is stored if the device would then hold more than
    /// `max_one_time_keys` one-time keys.
    async fn upload_keys(
        &self,
        device_id: DeviceId,
        bundle: Option<&serde_json::Value>,
        one_time_keys: &[StoredKey],
        fallback_key: Option<&StoredKey>,
        max_one_time_keys: u64,
        now: DateTime<Utc>,
    ) -> Result<KeyUpload, StoreError>;
    /// The device's key stock.
    async fn key_stock(&self, device_id: DeviceId) -> Result<KeyStock, StoreError>;
    /// Identity keys and device bundles of the users that exist among `user_ids`.
    async fn query_keys(&self, user_ids: &[UserId]) -> Result<Vec<UserKeysRecord>, StoreError>;
    /// Claims one key per device (a one-time key, removed atomically so it is handed out once
    /// even under concurrent claims, else the fallback key). Devices with no key, or not owned
    /// by the given user, are absent from the result.
    async fn claim_keys(&self, devices: &[(UserId, DeviceId)]) -> Result<Vec<Claimed>, StoreError>;
    /// Of `devices`, those that exist, belong to the user named with them and hold a one-time
    /// or fallback key, read without the writer (so a claim of unknown devices never takes the
    /// write transaction).
    async fn claimable_devices(
        &self,
        devices: &[(UserId, DeviceId)],
    ) -> Result<Vec<(UserId, DeviceId)>, StoreError>;
}

/// The durable to-device inbox.
#[async_trait]
pub trait ToDeviceStore: Send + Sync {
    /// Stores payloads for each recipient; a repeated `(sender device, txn_id, recipient)` is
    /// stored once.
    async fn send_to_device(
        &self,
        sender_user_id: UserId,
        sender_device_id: DeviceId,
        txn_id: &str,
        event_type: &str,
        messages: &[NewToDevice],
        now: DateTime<Utc>,
    ) -> Result<ToDeviceOutcome, StoreError>;
    /// How many payloads wait in each of `devices`' inboxes (devices with none are absent).
    async fn inbox_sizes(&self, devices: &[DeviceId]) -> Result<Vec<(DeviceId, u64)>, StoreError>;
    /// The device's inbox after `since`, at most `limit` (plus whether more follow).
    async fn to_device_inbox(
        &self,
        device_id: DeviceId,
        since: i64,
        limit: u32,
    ) -> Result<(Vec<ToDeviceRecord>, bool), StoreError>;
    /// Deletes the device's payloads up to `up_to`; returns how many.
    async fn ack_to_device(&self, device_id: DeviceId, up_to: i64) -> Result<u64, StoreError>;
    /// Deletes payloads older than `cutoff` (undelivered for too long); returns how many.
    async fn purge_to_device_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Conversations, participants and their cursors.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Opens the 1:1 conversation of two users (one per pair): returns it as `viewer` sees it and
    /// whether it was created now. `None` if `other` does not exist.
    async fn open_one_to_one(
        &self,
        viewer: UserId,
        other: UserId,
        anchor_expiring: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<(ConversationRecord, bool)>, StoreError>;
    /// The viewer's conversations, most recently active first.
    async fn list_conversations(
        &self,
        viewer: UserId,
    ) -> Result<Vec<ConversationRecord>, StoreError>;
    /// One conversation as `viewer` sees it; `None` unless the viewer participates.
    async fn get_conversation(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
    ) -> Result<Option<ConversationRecord>, StoreError>;
    /// The participants' user ids.
    async fn participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<UserId>, StoreError>;
    /// Moves participants' cursors forward (read implies delivered, unless the user's read
    /// receipts are off: then reading never moves the delivered cursor others see; both
    /// clamped to the conversation's last sequence number), all in one transaction. One
    /// result per move, in order: `None` unless that user participates.
    async fn advance_cursors(
        &self,
        moves: &[CursorMove],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<ParticipantRecord>>, StoreError>;
    /// [`Self::advance_cursors`], telling for each move whether anything moved.
    async fn move_cursors(
        &self,
        moves: &[CursorMove],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<CursorOutcome>>, StoreError>;
}

/// Messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a batch of messages in one transaction (group commit): each gets the next
    /// sequence number of its conversation; an item that fails does not affect the others.
    /// A message with a [`RelationWrite`] is stored only if its target meets the stated
    /// preconditions at that point of the transaction (otherwise
    /// [`InsertOutcome::InvalidRelation`]), and the relation's effect on the target is applied
    /// in the same transaction. Returns one outcome per item, in order, once the transaction is
    /// durable.
    async fn insert_messages(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, StoreError>;
    /// How many batches may be written at once (1 for SQLite's single writer).
    fn parallel_writers(&self) -> usize;
    /// A page of a conversation's history, without expired messages.
    async fn history(
        &self,
        conversation_id: ConversationId,
        range: HistoryRange,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError>;
    /// One message (not expired).
    async fn get_message(
        &self,
        message_id: MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<MessageRecord>, StoreError>;
    /// Removes messages whose self-destruct time has come; returns them.
    async fn purge_expired_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ExpiredMessage>, StoreError>;
    /// Removes messages soft-deleted before `cutoff`; returns how many.
    async fn purge_deleted_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The embedded ledger (data model 11.6): its head and validator, blocks, batch headers and
/// trees, transactions, identity states, pending transactions, and message anchoring. Reads of
/// a record check that it is stored under its own key; a record that does not decode or does
/// not match its key is [`StoreError::Corrupt`].
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Messages with no inclusion proof yet, oldest first; self-destructing messages only in
    /// conversations that opted in.
    async fn unanchored_messages(&self, limit: u32) -> Result<Vec<UnanchoredMessage>, StoreError>;
    /// The ledger's head; `None` before the first batch or block.
    async fn head(&self) -> Result<Option<Head>, StoreError>;
    /// The validator key recorded at the ledger's first start.
    async fn validator(&self) -> Result<Option<Ed25519PublicKey>, StoreError>;
    /// Records `key` as the validator if none is recorded yet. True if `key` is (now) the
    /// validator, false if the ledger was started with another key.
    async fn claim_validator(&self, key: &Ed25519PublicKey) -> Result<bool, StoreError>;
    /// The block with this index.
    async fn block(&self, index: u64) -> Result<Option<Block>, StoreError>;
    /// Every block, by index.
    async fn blocks(&self) -> Result<Vec<Block>, StoreError>;
    /// The signed header of the batch at this height.
    async fn batch_header(&self, height: u64) -> Result<Option<BatchHeader>, StoreError>;
    /// Every batch header, by height.
    async fn batch_headers(&self) -> Result<Vec<BatchHeader>, StoreError>;
    /// A sealed transaction with the block holding it.
    async fn tx_entry(&self, hash: &Hash32) -> Result<Option<TxEntry>, StoreError>;
    /// The leaves of the batch tree with this root.
    async fn merkle_entry(&self, root: &Hash32) -> Result<Option<MerkleEntry>, StoreError>;
    /// An identity's state as the sealed blocks record it.
    async fn identity_state(&self, did: &ZynkDid) -> Result<Option<IdentityState>, StoreError>;
    /// Every identity state.
    async fn identity_states(&self) -> Result<Vec<IdentityState>, StoreError>;
    /// Transactions waiting for a block, oldest first, at most `limit`.
    async fn pending_transactions(&self, limit: u32) -> Result<Vec<Transaction>, StoreError>;
    /// The transaction with this hash if it waits for a block.
    async fn pending_transaction(&self, hash: &Hash32) -> Result<Option<Transaction>, StoreError>;
    /// Writes a sealed batch atomically; false (nothing written) if the head is no longer
    /// `write.expected_head`. Fails with [`StoreError::InvalidWrite`] if the block holds no
    /// `message_anchor` of the batch.
    async fn commit_anchor(
        &self,
        write: &AnchorWrite,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Writes a block of pending transactions atomically (see [`BlockWrite`]); false (nothing
    /// written) if the head is no longer `write.expected_head`.
    async fn commit_block(
        &self,
        write: &BlockWrite,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The stored inclusion proof of a message, if it was anchored.
    async fn message_proof(&self, message_id: MessageId)
    -> Result<Option<ProofRecord>, StoreError>;
}

/// Ledger identities, trust scores, key rotation and credentials.
#[async_trait]
pub trait TrustStore: Send + Sync {
    /// The ledger identity of a user.
    async fn identity_by_user(&self, user_id: UserId)
    -> Result<Option<IdentityRecord>, StoreError>;
    /// The ledger identity with this DID.
    async fn identity_by_did(&self, did: &str) -> Result<Option<IdentityRecord>, StoreError>;
    /// Applies a trust change atomically: score (compare-and-set), evidence, history row and
    /// pending ledger transaction.
    async fn apply_trust_change(
        &self,
        change: &TrustChange,
        now: DateTime<Utc>,
    ) -> Result<TrustOutcome, StoreError>;
    /// Trust changes of an identity, newest first.
    async fn trust_history(
        &self,
        did: &str,
        limit: u32,
    ) -> Result<Vec<TrustHistoryRecord>, StoreError>;
    /// Identities after `after` (by DID) with their milestone counts, for the milestone job.
    async fn trust_standings(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TrustStanding>, StoreError>;
    /// Messages a user sent, counted up to `cap`.
    async fn messages_sent(&self, user_id: UserId, cap: u64) -> Result<u64, StoreError>;
    /// Whether two users share a conversation.
    async fn share_conversation(&self, a: UserId, b: UserId) -> Result<bool, StoreError>;
    /// Whether `sender` sent at least one message into a conversation `recipient` is part of.
    async fn has_sent_to(&self, sender: UserId, recipient: UserId) -> Result<bool, StoreError>;
    /// Replaces a user's identity key (compare-and-set on the old key) with its ledger
    /// transaction; false if the key changed meanwhile.
    async fn rotate_identity_key(
        &self,
        rotation: &KeyRotation,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records an issued credential with its ledger transaction.
    async fn record_credential(
        &self,
        credential: &CredentialRecord,
        tx: &PendingTx,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The EVM publication outbox (chain = "evm").
#[async_trait]
pub trait EvmStore: Send + Sync {
    /// Outbox rows still `queued` or `sent`, in queue order.
    async fn evm_outbox_open(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records that a queued row was signed (before it is broadcast) and its pending
    /// `blockchain_transactions` row; false (nothing written) if the row is no longer queued
    /// (another publisher took it).
    async fn evm_mark_sent(
        &self,
        sent: &EvmSent,
        item: &OutboxItemRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Marks a row that cannot be published at all as failed, so it no longer blocks the queue.
    async fn evm_mark_unpublishable(&self, seq: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Puts a signed row back in the queue (its nonce went to another transaction); its
    /// publication is marked failed.
    async fn evm_requeue(
        &self,
        seq: i64,
        evm_tx_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records a receipt.
    async fn evm_mark_done(&self, done: &EvmDone, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The latest publication of a ledger transaction.
    async fn evm_publication(
        &self,
        ledger_tx_hash: &str,
    ) -> Result<Option<EvmPublication>, StoreError>;
    /// Outbox rows by status.
    async fn evm_outbox_counts(&self) -> Result<Vec<(PublicationStatus, i64)>, StoreError>;
}

/// Blocks and message requests (the request state of 1:1 participants).
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Records that `blocker` blocks `blocked` (again: no change). False if `blocked` does not
    /// exist.
    async fn block_user(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Lifts a block; false if there was none.
    async fn unblock_user(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError>;
    /// The users `blocker` blocked, most recent first.
    async fn list_blocks(&self, blocker: UserId) -> Result<Vec<BlockRecord>, StoreError>;
    /// Whether `blocker` blocks `blocked`.
    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError>;
    /// Blocks both ways, the common groups, `other`'s `who_can_message` and their 1:1
    /// conversation with its request states. `None` if `other` does not exist.
    async fn contact_standing(
        &self,
        user: UserId,
        other: UserId,
    ) -> Result<Option<ContactStanding>, StoreError>;
    /// Opens the 1:1 conversation of two users like [`ConversationStore::open_one_to_one`];
    /// when it is created now, `viewer` starts `accepted` and `other` in `other_state`. An
    /// existing conversation keeps its states.
    async fn open_one_to_one_as(
        &self,
        viewer: UserId,
        other: UserId,
        anchor_expiring: bool,
        other_state: RequestState,
        now: DateTime<Utc>,
    ) -> Result<Option<(ConversationRecord, bool)>, StoreError>;
    /// The viewer's message requests: 1:1 conversations with at least one message whose viewer
    /// side is `pending`, most recently active first.
    async fn list_requests(&self, viewer: UserId) -> Result<Vec<ConversationRecord>, StoreError>;
    /// Sets the user's request state in a 1:1 conversation if it is one of `from`. Returns the
    /// state before (changed or not), or `None` if the user is not a participant of such a
    /// conversation (groups included).
    async fn set_request_state(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        from: &[RequestState],
        to: RequestState,
        now: DateTime<Utc>,
    ) -> Result<Option<RequestState>, StoreError>;
}

/// Health and schema upkeep.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Makes sure message partitions exist ahead of time (PostgreSQL); returns how many it made.
    async fn ensure_partitions(&self) -> Result<u32, StoreError>;
    /// Moves committed WAL content into the database file without blocking writers (SQLite; a
    /// no-op on PostgreSQL). Run periodically.
    async fn checkpoint(&self) -> Result<(), StoreError>;
    /// The engine's name: `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;
}

/// Operations (issue 16): analytics events and their daily aggregates, the expiry of messages
/// no recipient received, and the job runner's locks and records.
#[async_trait]
pub trait OperationsStore: Send + Sync {
    /// Writes a batch of analytics events in one statement per chunk; events of users deleted
    /// meanwhile are skipped. Returns how many were written.
    async fn record_events(&self, events: &[AnalyticsEvent]) -> Result<u64, StoreError>;
    /// Recomputes the daily aggregates (per event type, and per user and event type) from the
    /// latest aggregated day on (or from the first raw event); returns the latest day it
    /// aggregated, if any.
    async fn rollup_analytics(&self) -> Result<Option<chrono::NaiveDate>, StoreError>;
    /// Deletes raw events older than `cutoff` (on PostgreSQL whole monthly partitions are
    /// dropped first); returns how many rows and partitions went.
    async fn purge_events_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The daily totals per event type from `since` (inclusive), by day then type.
    async fn daily_totals(&self, since: chrono::NaiveDate) -> Result<Vec<DailyCount>, StoreError>;
    /// The daily counts of one user per event type from `since` (inclusive).
    async fn user_daily_counts(
        &self,
        user_id: UserId,
        since: chrono::NaiveDate,
    ) -> Result<Vec<DailyCount>, StoreError>;
    /// Removes conversation messages (not membership records) created before `cutoff` that no
    /// participant other than the sender has received (their delivered cursor is below the
    /// message); returns them, at most `limit`, in id order after `after`.
    async fn purge_undelivered_messages(
        &self,
        cutoff: DateTime<Utc>,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<UndeliveredMessage>, StoreError>;
    /// Takes the job's lock unless another runner (node) holds it.
    async fn try_lock_job(&self, job: &str)
    -> Result<Option<crate::job_lock::JobLock>, StoreError>;
    /// When the job's last recorded run started (on any node).
    async fn job_last_started(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records a finished run (adding its counts to the job's totals).
    async fn record_job_run(&self, run: &JobRun) -> Result<(), StoreError>;
    /// The recorded last run of every job, by name.
    async fn job_runs(&self) -> Result<Vec<JobRunRecord>, StoreError>;
}

/// Encrypted files and their resumable uploads (the blobs themselves are in
/// [`crate::blob::BlobStore`]).
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Writes a new file row (status `uploading`, nothing stored yet) unless the uploader's
    /// usage (every file of theirs not deleted, unfinished ones at their declared size) plus
    /// this file would exceed `quota_bytes`; checked and written in one transaction.
    async fn create_file(
        &self,
        file: &NewFile,
        quota_bytes: i64,
        now: DateTime<Utc>,
    ) -> Result<CreateFileOutcome, StoreError>;
    /// Reads a file (deleted and expired ones too: the caller decides).
    async fn get_file(&self, file_id: FileId) -> Result<Option<FileRecord>, StoreError>;
    /// Bytes the user's files take against the quota.
    async fn file_usage(&self, user_id: UserId) -> Result<i64, StoreError>;
    /// Records a stored part of an unfinished upload and moves its offset from
    /// `part.from_offset` to `part.to_offset`, only if it still stands at `from_offset` and the
    /// file is neither complete nor deleted; false (nothing written) otherwise.
    async fn record_file_part(
        &self,
        file_id: FileId,
        part: &FilePart,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The part ids of an unfinished upload, in order.
    async fn file_parts(&self, file_id: FileId) -> Result<Vec<String>, StoreError>;
    /// Marks a fully uploaded file complete (its parts, upload handle and hash state are
    /// dropped); false unless it was `uploading` with every byte stored.
    async fn complete_file(&self, file_id: FileId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Soft-deletes a file; false if there is no such file or it is deleted already.
    async fn soft_delete_file(
        &self,
        file_id: FileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Removes a file's row (and its parts); false if there was none.
    async fn remove_file(&self, file_id: FileId) -> Result<bool, StoreError>;
    /// Files whose blobs and rows are due for removal, oldest first: expired ones (`expires_at`
    /// at or before `now`), deleted ones, and uploads not continued since `stale_before`.
    async fn files_to_remove(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError>;
    /// Every file row, for the orphan check.
    async fn all_files(&self) -> Result<Vec<FileRecord>, StoreError>;
}

/// The whole durable store.
pub trait Store:
    AccountStore
    + DeviceStore
    + SessionStore
    + KeyStore
    + ToDeviceStore
    + ConversationStore
    + MessageStore
    + LedgerStore
    + TrustStore
    + EvmStore
    + FileStore
    + MaintenanceStore
    + ContactStore
    + GroupStore
    + CallStore
    + OperationsStore
{
}

impl<T> Store for T where
    T: AccountStore
        + DeviceStore
        + SessionStore
        + KeyStore
        + ToDeviceStore
        + ConversationStore
        + MessageStore
        + LedgerStore
        + TrustStore
        + EvmStore
        + FileStore
        + MaintenanceStore
        + ContactStore
        + GroupStore
        + CallStore
        + OperationsStore
{
}

/// Groups (issue 10): a group is 1:1 with a conversation of kind `group`, and its members are
/// kept in step with that conversation's participants in the same transaction. Every
/// membership change writes a `membership` message with its own sequence number; rules that
/// depend on the current state (the actor is an admin, the group has room, an admin remains)
/// are checked inside the writing transaction.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates the group, its conversation, the creator as admin and the first members, with
    /// one `added` event per member (the creator's first).
    async fn create_group(
        &self,
        group: &NewGroup,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError>;
    /// One group with its members.
    async fn get_group(
        &self,
        group_id: zynk_proto::GroupId,
    ) -> Result<Option<GroupRecord>, StoreError>;
    /// The groups the user is a member of, most recently changed first.
    async fn list_groups(&self, user_id: UserId) -> Result<Vec<GroupRecord>, StoreError>;
    /// The group whose conversation this is (`None` for a 1:1 conversation or none at all).
    async fn group_of_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<zynk_proto::GroupId>, StoreError>;
    /// The `joined_seq` of a member; `None` unless the user is a member.
    async fn member_joined_seq(
        &self,
        group_id: zynk_proto::GroupId,
        user_id: UserId,
    ) -> Result<Option<i64>, StoreError>;
    /// Changes settings if `actor` is an admin; writes one `updated` event with the fields that
    /// really changed (none if nothing did).
    async fn update_group(
        &self,
        group_id: zynk_proto::GroupId,
        actor: UserId,
        changes: &GroupChanges,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError>;
    /// Takes a user whose account is being deleted out of every group they are in, one group
    /// per transaction: a `deleted` event per group (stored with the longest-standing remaining
    /// member as its sender, since the account's own messages go with it), then `promoted` for
    /// that member if no admin remains; a group whose last member this was ends (deleted with
    /// its conversation). Returns each group touched with its write, for delivery.
    async fn remove_from_all_groups(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<(zynk_proto::GroupId, GroupWrite)>, StoreError>;
    /// Applies a membership change by `actor`. Leaving as the last admin promotes the
    /// longest-standing member; the last member leaving ends the group (the group and its
    /// conversation are deleted).
    async fn change_membership(
        &self,
        group_id: zynk_proto::GroupId,
        actor: UserId,
        change: MembershipChange,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError>;
}

/// Calls (issue 12): records and their state machine. Every write checks the state inside its
/// transaction, so concurrent answers, hang-ups and the missed sweep on several nodes cannot
/// both win.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// Creates a call in state `initiated` with every participant of the conversation (the
    /// initiator joined now). `NotFound` unless the initiator is a participant; `Active` if the
    /// conversation already has a call that is not over.
    async fn create_call(
        &self,
        call: &NewCall,
        now: DateTime<Utc>,
    ) -> Result<CallOutcome, StoreError>;
    /// One call with its participants.
    async fn get_call(&self, call_id: zynk_proto::CallId)
    -> Result<Option<CallRecord>, StoreError>;
    /// The calls the user takes part in, newest first, older than `before` if given.
    async fn list_calls(
        &self,
        user_id: UserId,
        before: Option<zynk_proto::CallId>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError>;
    /// Applies `action` by `actor` (who must be a participant) to the call.
    async fn call_action(
        &self,
        call_id: zynk_proto::CallId,
        actor: UserId,
        action: CallAction,
        now: DateTime<Utc>,
    ) -> Result<CallOutcome, StoreError>;
    /// Calls still waiting for `user_id` to answer: `initiated` or `ringing`, started by someone
    /// else, and neither answered nor declined by the user; newest first, at most `limit`.
    async fn calls_awaiting_answer(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError>;
    /// Marks calls created before `cutoff` that nobody answered `missed` (at most `limit`);
    /// returns them. Each call is returned by exactly one caller, whichever node runs it.
    async fn expire_unanswered_calls(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError>;
}
