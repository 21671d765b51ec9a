//! Builders for the records the tests store, and ids made through one helper per kind (the
//! typed ids of `zynk_proto`).

use crate::harness::{Arg, TestDb};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;
use zynk_backends::ledger::PendingTx;
use zynk_backends::model::*;
use zynk_ledger::block::{
    CredentialIssuance, IdentityRegistration, TrustReason, TrustScore, TrustScoreUpdate,
};
use zynk_ledger::{Ed25519PublicKey, Hash32, Transaction, ZynkDid};

pub use zynk_proto::{
    ConversationId, ConversationKind, DeviceId, MessageId, MessageType, SessionId, UserId,
};

/// A new user id.
pub fn new_user_id() -> UserId {
    UserId::new_v7()
}

/// A new device id.
pub fn new_device_id() -> DeviceId {
    DeviceId::new_v7()
}

/// A new session id.
pub fn new_session_id() -> SessionId {
    SessionId::new_v7()
}

/// A new message id (time-ordered, as clients make them).
pub fn new_message_id() -> MessageId {
    MessageId::new_v7()
}

/// A conversation id no conversation has.
pub fn unknown_conversation_id() -> ConversationId {
    ConversationId::new_v7()
}

/// Any other id the store keeps as a plain UUID (history rows, credentials, related entities).
pub fn new_uuid() -> Uuid {
    Uuid::now_v7()
}

/// 64 random lowercase hex characters: the shape of a SHA-256 token or content hash.
pub fn random_hex64() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// A ledger transaction hash (`0x` + 64 hex).
pub fn tx_hash() -> String {
    format!("0x{}", random_hex64())
}

/// The current time at the precision both engines store.
pub fn now() -> DateTime<Utc> {
    zynk_backends::now()
}

/// `seconds` after `t` (negative: before).
pub fn plus(t: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    t + TimeDelta::seconds(seconds)
}

/// Fresh session tokens valid from `now`: access for an hour, refresh for thirty days.
pub fn tokens(now: DateTime<Utc>) -> SessionTokens {
    SessionTokens {
        access_hash: random_hex64(),
        refresh_hash: random_hex64(),
        expires_at: plus(now, 3600),
        refresh_expires_at: plus(now, 30 * 86_400),
    }
}

/// A new session valid from `now`.
pub fn new_session(now: DateTime<Utc>) -> NewSession {
    NewSession {
        id: new_session_id(),
        tokens: tokens(now),
    }
}

/// A new web device with a random fingerprint and key.
pub fn new_device(name: &str) -> NewDevice {
    NewDevice {
        id: new_device_id(),
        name: name.to_owned(),
        platform: "web".to_owned(),
        fingerprint: Uuid::new_v4().simple().to_string(),
        public_key: format!("device-key-{}", Uuid::new_v4().simple()),
    }
}

/// A complete registration for `username`.
pub fn new_account(username: &str, now: DateTime<Utc>) -> NewAccount {
    let user_id = new_user_id();
    NewAccount {
        user_id,
        username: username.to_owned(),
        password_hash: format!("$pbkdf2-sha256$i=1000${username}"),
        public_key: format!("identity-key-{}", Uuid::new_v4().simple()),
        device: new_device(&format!("{username}'s first device")),
        session: new_session(now),
        identity: PendingIdentity {
            did: format!("did:zynk:{user_id}"),
            transaction: transaction("identity_registration", user_id),
        },
    }
}

/// A registered account: what the tests need to act as it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user.
    pub user_id: UserId,
    /// Identity key.
    pub public_key: String,
    /// DID.
    pub did: String,
    /// The first device.
    pub device_id: DeviceId,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The first session.
    pub session_id: SessionId,
    /// Its tokens.
    pub tokens: SessionTokens,
}

impl Account {
    /// The account `new` describes, once stored.
    pub fn from_new(new: &NewAccount) -> Self {
        Self {
            user_id: new.user_id,
            public_key: new.public_key.clone(),
            did: new.identity.did.clone(),
            device_id: new.device.id,
            fingerprint: new.device.fingerprint.clone(),
            session_id: new.session.id,
            tokens: new.session.tokens.clone(),
        }
    }
}

/// Registers `username` at `now`.
pub async fn register_at(db: &TestDb, username: &str, now: DateTime<Utc>) -> Account {
    let new = new_account(username, now);
    db.create_account(&new, now)
        .await
        .unwrap_or_else(|e| panic!("register {username}: {e}"));
    Account::from_new(&new)
}

/// Registers `username` now.
pub async fn register(db: &TestDb, username: &str) -> Account {
    register_at(db, username, now()).await
}

/// Adds a device (with its own session) to `account`; returns the device id and its tokens.
pub async fn add_device(
    db: &TestDb,
    account: &Account,
    name: &str,
    now: DateTime<Utc>,
) -> (DeviceId, NewSession) {
    let session = new_session(now);
    let device = db
        .login_device(account.user_id, &new_device(name), &session, now)
        .await
        .expect("login a new device");
    (device, session)
}

/// The 1:1 conversation of `a` and `b`, opened by `a`.
pub async fn one_to_one(db: &TestDb, a: &Account, b: &Account) -> ConversationId {
    db.open_one_to_one(a.user_id, b.user_id, false, now())
        .await
        .expect("open a conversation")
        .expect("the other user exists")
        .0
        .id
}

/// A text message from `sender`'s first device with a random ciphertext.
pub fn text(conversation: ConversationId, sender: &Account) -> NewMessage {
    let body = Uuid::new_v4().as_bytes().to_vec();
    NewMessage {
        id: new_message_id(),
        conversation_id: conversation,
        sender_id: sender.user_id,
        sender_device_id: sender.device_id,
        encrypted_content: body,
        content_hash: random_hex64(),
        message_type: MessageType::Text,
        metadata: serde_json::json!({"v": 1}),
        relation: None,
        expires_at: None,
    }
}

/// A message from `sender` relating to `target`, in one of the three shapes the store carries
/// out: `edit` (the sender's own target, marked edited), `delete` (the sender's own target,
/// deleted) and `reaction` (anyone's target, left as it is). Which relation type takes which
/// shape is the message service's rule, tested there.
pub fn related(
    conversation: ConversationId,
    sender: &Account,
    kind: &str,
    target: MessageId,
) -> NewMessage {
    NewMessage {
        relation: Some(relation(kind, target)),
        ..text(conversation, sender)
    }
}

/// The relation write of a shape named as in [`related`].
pub fn relation(kind: &str, target: MessageId) -> RelationWrite {
    let (require_same_sender, effect) = match kind {
        "edit" => (true, RelationEffect::MarkEdited),
        "delete" => (true, RelationEffect::Delete),
        "reaction" => (false, RelationEffect::None),
        other => panic!("no relation shape {other:?}"),
    };
    RelationWrite {
        target,
        require_same_sender,
        effect,
    }
}

/// Stores one message and returns what was stored; panics unless it was created.
pub async fn send(db: &TestDb, message: NewMessage, now: DateTime<Utc>) -> MessageRecord {
    match db
        .insert_messages(&[message], now)
        .await
        .expect("insert")
        .pop()
    {
        Some(InsertOutcome::Created(record)) => record,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// The sequence number of a created or existing message; panics on any other outcome.
pub fn seq_of(outcome: &InsertOutcome) -> i64 {
    match outcome {
        InsertOutcome::Created(m) | InsertOutcome::Existing(m) => m.seq,
        other => panic!("expected a stored message, got {other:?}"),
    }
}

/// A one-time or fallback key with the given id.
pub fn key(key_id: &str) -> StoredKey {
    StoredKey {
        key_id: key_id.to_owned(),
        public_key: format!("pk-{key_id}-{}", Uuid::new_v4().simple()),
        signature: format!("sig-{key_id}"),
    }
}

/// A ledger transaction of type `tx_type` waiting for a block, with random content (so each is
/// distinct).
pub fn pending_tx(tx_type: &'static str, user: Option<UserId>) -> PendingTx {
    PendingTx {
        transaction: transaction(tx_type, user.unwrap_or_else(new_user_id)),
        user_id: user,
        related_entity_id: Some(new_uuid()),
    }
}

/// A ledger transaction of type `tx_type` about `user`, with random content.
pub fn transaction(tx_type: &str, user: UserId) -> Transaction {
    let did = ZynkDid::new(user.as_uuid());
    let random = || Hash32::sha256(Uuid::new_v4().as_bytes());
    match tx_type {
        "identity_registration" => Transaction::IdentityRegistration(IdentityRegistration {
            did,
            public_key: Ed25519PublicKey(random().0),
            user_id: user.as_uuid(),
        }),
        "trust_score_update" => Transaction::TrustScoreUpdate(TrustScoreUpdate {
            did,
            old_score: TrustScore::new(50).expect("a score"),
            new_score: TrustScore::new(60).expect("a score"),
            reason: TrustReason::ManualAdjustment,
            changed_at: u64::from(random().0[0]) + 1_700_000_000_000,
        }),
        "credential_issuance" => Transaction::CredentialIssuance(CredentialIssuance {
            credential_id_hash: random(),
            subject_did: did.to_string(),
            issuer_did: "did:key:z6MkTest".into(),
        }),
        other => panic!("no pending transaction type {other:?}"),
    }
}

/// Sorted copy.
pub fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v
}

/// Whether a pending ledger transaction is recorded: its `blockchain_transactions` row and the
/// `pending:{hash}` entry the block sealer consumes.
pub async fn pending_tx_recorded(db: &TestDb, hash: &str) -> bool {
    let rows = db
        .count(
            "SELECT COUNT(*) FROM blockchain_transactions WHERE transaction_hash = $1 \
             AND status = 'pending'",
            &[Arg::text(hash)],
        )
        .await;
    let entries = db
        .count(
            "SELECT COUNT(*) FROM ledger_kv WHERE key = $1",
            &[Arg::text(format!("pending:{hash}"))],
        )
        .await;
    assert_eq!(rows, entries, "row and ledger entry of {hash} go together");
    rows == 1
}
