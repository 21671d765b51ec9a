//! Conformance of the typed ledger store (`LedgerStore`), each test on SQLite (a migrated temp
//! file) and on PostgreSQL (a fresh migrated database, dropped afterwards): the head's
//! compare-and-set, the validator claim, sealed batches and blocks read back record by record,
//! pending transactions consumed by a block, identity states, message proofs, and the exact
//! `ledger_kv` bytes: those written by earlier versions read back, and typed writes store the
//! same bytes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use serde_json::json;
use uuid::Uuid;
use zynk_backends::StoreError;
use zynk_backends::ledger::{
    AnchorWrite, AnchoredMessage, BlockWrite, Head, IdentityState, MerkleEntry, ProofRecord,
    TxEntry,
};
use zynk_backends::model::{
    InsertOutcome, NewAccount, NewDevice, NewMessage, NewSession, PendingIdentity, SessionTokens,
};
use zynk_backends::sql::{self, AnyStore, PoolSettings};
use zynk_ledger::block::{CredentialIssuance, IdentityRegistration, MessageAnchor};
use zynk_ledger::proof::{HASH_ALG, PROOF_VERSION};
use zynk_ledger::{
    Anchor, BatchHeader, Block, ChainTip, Ed25519PublicKey, Hash32, MerkleTree, MessageLeaf,
    MessageProof, Signature64, Transaction, UnixMillis, ZynkDid,
};
use zynk_proto::{DeviceId, MessageId, MessageType, SessionId, UserId};

/// One test per engine for each named test function.
macro_rules! ledger_store_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(&super::Engine::sqlite().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(&super::Engine::postgres().await).await
                }
            }
        )*
    };
}

ledger_store_tests!(
    head_compare_and_set,
    validator_claim,
    anchor_round_trip,
    block_round_trip,
    pending_transactions_consumed_by_a_block,
    identity_states,
    message_proofs,
    todays_bytes_read_back,
    typed_writes_keep_todays_bytes,
);

// ---------------------------------------------------------------------------------------------
// Engines.

/// A freshly migrated store, with raw access to its `ledger_kv` table.
struct Engine {
    store: Arc<dyn AnyStore>,
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop afterwards.
    pg_database: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("ZYNK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl Engine {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
        let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
        store.migrate_up().await.unwrap();
        Self {
            store,
            url,
            _dir: Some(dir),
            pg_database: None,
        }
    }

    async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("zynk_test_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
        store.migrate_up().await.unwrap();
        Self {
            store,
            url,
            _dir: None,
            pg_database: Some(name),
        }
    }

    fn store(&self) -> &dyn AnyStore {
        self.store.as_ref()
    }

    /// Inserts a `ledger_kv` row as it is, bypassing the typed store.
    async fn raw_put(&self, key: &str, value: &[u8], height: Option<i64>) {
        let sql = "INSERT INTO ledger_kv (key, value, height, created_at) VALUES ($1, $2, $3, $4)";
        if self.pg_database.is_none() {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(key)
                .bind(value)
                .bind(height)
                .bind(zynk_backends::now())
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(key)
                .bind(value)
                .bind(height)
                .bind(zynk_backends::now())
                .execute(&mut c)
                .await
                .unwrap();
        }
    }

    /// The value and height of a `ledger_kv` row as stored.
    async fn raw_get(&self, key: &str) -> Option<(Vec<u8>, Option<i64>)> {
        let sql = "SELECT value, height FROM ledger_kv WHERE key = $1";
        if self.pg_database.is_none() {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_as(sql)
                .bind(key)
                .fetch_optional(&mut c)
                .await
                .unwrap()
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_as(sql)
                .bind(key)
                .fetch_optional(&mut c)
                .await
                .unwrap()
        }
    }

    /// The value stored under `key`; panics if there is none.
    async fn raw_value(&self, key: &str) -> Vec<u8> {
        self.raw_get(key)
            .await
            .unwrap_or_else(|| panic!("{key} is stored"))
            .0
    }

    /// The stored proof document of a message, as text (the exact bytes on SQLite; PostgreSQL
    /// normalises JSONB).
    async fn raw_proof(&self, message_id: MessageId) -> String {
        if self.pg_database.is_none() {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_scalar(
                "SELECT CAST(proof AS TEXT) FROM message_merkle_proofs WHERE message_id = $1",
            )
            .bind(message_id)
            .fetch_one(&mut c)
            .await
            .unwrap()
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_scalar(
                "SELECT proof::text FROM message_merkle_proofs WHERE message_id = $1",
            )
            .bind(message_id)
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    }

    /// How many `ledger_kv` rows there are.
    async fn raw_count(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM ledger_kv";
        if self.pg_database.is_none() {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else {
            return;
        };
        // Drop cannot await: drop the database from a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await
                {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn validator_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn public(key: &SigningKey) -> Ed25519PublicKey {
    Ed25519PublicKey::from(&key.verifying_key())
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn registration(user_id: Uuid, key_seed: u8) -> Transaction {
    Transaction::IdentityRegistration(IdentityRegistration {
        did: ZynkDid::new(user_id),
        public_key: public(&SigningKey::from_bytes(&[key_seed; 32])),
        user_id,
    })
}

fn trust_update(did: ZynkDid, old: u8, new: u8) -> Transaction {
    Transaction::TrustScoreUpdate(zynk_ledger::block::TrustScoreUpdate {
        did,
        old_score: zynk_ledger::block::TrustScore::new(old).unwrap(),
        new_score: zynk_ledger::block::TrustScore::new(new).unwrap(),
        reason: zynk_ledger::block::TrustReason::ManualAdjustment,
        changed_at: 1_800_000_000_000,
    })
}

fn credential(n: u8) -> Transaction {
    Transaction::CredentialIssuance(CredentialIssuance {
        credential_id_hash: Hash32::sha256(&[n]),
        subject_did: format!("did:zynk:{}", Uuid::from_u128(u128::from(n))),
        issuer_did: public(&validator_key()).to_did_key(),
    })
}

/// An account (user, device, session) with its pending `identity_registration`, created at
/// `at`; returns the user and the registration.
async fn account(store: &dyn AnyStore, name: &str, at: DateTime<Utc>) -> (UserId, Transaction) {
    let user_id = UserId::new_v7();
    let transaction = registration(user_id.as_uuid(), name.len() as u8 + name.as_bytes()[0]);
    let device_key = format!("device-key-{name}");
    store
        .create_account(
            &NewAccount {
                user_id,
                username: name.to_owned(),
                password_hash: "$pbkdf2-sha256$test".into(),
                public_key: format!("identity-key-{name}"),
                device: NewDevice {
                    id: DeviceId::new_v7(),
                    name: "phone".into(),
                    platform: "android".into(),
                    fingerprint: format!("fingerprint-{name}"),
                    public_key: device_key,
                },
                session: NewSession {
                    id: SessionId::new_v7(),
                    tokens: SessionTokens {
                        access_hash: format!("access-{name}"),
                        refresh_hash: format!("refresh-{name}"),
                        expires_at: at + Duration::hours(1),
                        refresh_expires_at: at + Duration::days(30),
                    },
                },
                identity: PendingIdentity {
                    did: ZynkDid::new(user_id.as_uuid()).to_string(),
                    transaction: transaction.clone(),
                },
            },
            at,
        )
        .await
        .unwrap();
    (user_id, transaction)
}

/// Two accounts, a conversation between them and `count` messages from the first.
async fn messages(store: &dyn AnyStore, count: usize) -> Vec<MessageId> {
    let (ann, _) = account(store, "ann", t0()).await;
    let (bob, _) = account(store, "bob", t0()).await;
    send(store, ann, bob, count).await
}

/// `count` messages from `sender` to `recipient` in their 1:1 conversation.
async fn send(
    store: &dyn AnyStore,
    sender: UserId,
    recipient: UserId,
    count: usize,
) -> Vec<MessageId> {
    let (conversation, _) = store
        .open_one_to_one(sender, recipient, false, t0())
        .await
        .unwrap()
        .unwrap();
    let device = store.list_devices(sender).await.unwrap()[0].id;
    let batch: Vec<NewMessage> = (0..count)
        .map(|_| {
            let content = Uuid::new_v4().as_bytes().to_vec();
            NewMessage {
                id: MessageId::new_v7(),
                conversation_id: conversation.id,
                sender_id: sender,
                sender_device_id: device,
                content_hash: hex::encode(Hash32::sha256(&content).as_bytes()),
                encrypted_content: content,
                message_type: MessageType::Text,
                metadata: json!({}),
                relation: None,
                expires_at: None,
            }
        })
        .collect();
    let outcomes = store.insert_messages(&batch, t0()).await.unwrap();
    outcomes
        .iter()
        .map(|outcome| match outcome {
            InsertOutcome::Created(m) => m.id,
            other => panic!("message not stored: {other:?}"),
        })
        .collect()
}

fn block_after(tip: Option<&ChainTip>, transactions: Vec<Transaction>) -> Block {
    let timestamp = tip.map_or(1_800_000_000, |t| t.timestamp + 1);
    Block::seal(tip, timestamp, transactions, &validator_key()).unwrap()
}

/// A block write of `transactions` after `expected` (the head read before), with the identity
/// states `states` changed by it.
fn block_write(
    expected: Option<Head>,
    transactions: Vec<Transaction>,
    states: &mut Vec<IdentityState>,
) -> BlockWrite {
    let head = expected.clone().unwrap_or_default();
    let block = block_after(head.block.as_ref(), transactions);
    for (index, tx) in block.transactions.iter().enumerate() {
        let Some(did) = IdentityState::subject(tx) else {
            continue;
        };
        let position = match states.iter().position(|s| s.did == did) {
            Some(position) => position,
            None => {
                states.push(IdentityState::new(did));
                states.len() - 1
            }
        };
        states[position].apply(tx, block.index, index as u64);
    }
    BlockWrite {
        expected_head: expected,
        new_head: Head {
            block: Some(ChainTip::of(&block)),
            ..head
        },
        block,
        identity_states: states.clone(),
        outbox: Vec::new(),
    }
}

/// A sealed batch of the store's unanchored messages, after the current head.
struct Batch {
    write: AnchorWrite,
    leaves: Vec<MessageLeaf>,
    tree: MerkleTree,
}

async fn batch(store: &dyn AnyStore) -> Batch {
    let expected = store.head().await.unwrap();
    let head = expected.clone().unwrap_or_default();
    let unanchored = store.unanchored_messages(100).await.unwrap();
    let leaves: Vec<MessageLeaf> = unanchored
        .iter()
        .map(|m| {
            MessageLeaf::new(
                m.id.as_uuid(),
                Hash32::new(hex::decode(&m.content_hash).unwrap().try_into().unwrap()),
                m.seq as u64,
                m.created_at.timestamp_millis() as u64,
            )
        })
        .collect();
    let leaf_hashes: Vec<Hash32> = leaves.iter().map(MessageLeaf::leaf_hash).collect();
    let tree = MerkleTree::from_leaf_hashes(leaf_hashes.clone());
    let key = validator_key();
    let header = BatchHeader {
        height: head.batches,
        batch_id: format!("batch-{}", head.batches),
        prev_header_hash: head.last_header_hash.unwrap_or(Hash32::ZERO),
        root: tree.root(),
        tree_size: tree.len(),
        first_seq: leaves.iter().map(|l| l.seq).min().unwrap(),
        last_seq: leaves.iter().map(|l| l.seq).max().unwrap(),
        closed_at: UnixMillis(1_800_000_000_000),
        signer: format!("{}#ledger", public(&key).to_did_key()),
        signature: Signature64::UNSIGNED,
    }
    .signed(&key);
    let anchor = Transaction::MessageAnchor(MessageAnchor {
        batch_id: header.batch_id.clone(),
        merkle_root: header.root,
        tree_size: header.tree_size,
        first_seq: header.first_seq,
        last_seq: header.last_seq,
    });
    let block = block_after(head.block.as_ref(), vec![anchor]);
    let messages = leaves
        .iter()
        .zip(&unanchored)
        .enumerate()
        .map(|(index, (leaf, m))| AnchoredMessage {
            message_id: m.id,
            content_hash: m.content_hash.clone(),
            path: MessageProof::build(&tree, leaf, index as u64, &header, None)
                .unwrap()
                .path,
            leaf_index: index as u64,
        })
        .collect();
    let write = AnchorWrite {
        expected_head: expected,
        new_head: Head {
            batches: head.batches + 1,
            last_header_hash: Some(header.header_hash()),
            block: Some(ChainTip::of(&block)),
        },
        block,
        header,
        leaves: leaf_hashes,
        anchor_id: Uuid::now_v7(),
        messages,
        outbox: Vec::new(),
    };
    Batch {
        write,
        leaves,
        tree,
    }
}

// ---------------------------------------------------------------------------------------------
// Today's `ledger_kv` encodings, as the server wrote them before the store was typed.

fn todays_head(batches: u64, last_header_hash: Option<Hash32>, tip: &ChainTip) -> Vec<u8> {
    let last = last_header_hash.map_or("null".to_owned(), |h| format!("\"{h}\""));
    format!(
        r#"{{"batches":{batches},"last_header_hash":{last},"block":[{},"{}",{}]}}"#,
        tip.index, tip.hash, tip.timestamp
    )
    .into_bytes()
}

fn todays_tx_entry(tx: &Transaction, block: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "hash": tx.hash(), "type": tx.type_name(), "block_number": block, "data": tx,
    }))
    .unwrap()
}

fn todays_merkle_entry(root: Hash32, leaves: &[Hash32]) -> Vec<u8> {
    let size = leaves.len() as u64;
    serde_json::to_vec(&json!({
        "root": root, "leaves": leaves,
        "tree_depth": 64 - (size.max(1) - 1).leading_zeros(), "message_count": size,
    }))
    .unwrap()
}

fn todays_identity_state(
    did: ZynkDid,
    key: Ed25519PublicKey,
    score: u8,
    tx: Hash32,
    block: u64,
    index: u64,
) -> Vec<u8> {
    format!(
        r#"{{"did":"{did}","public_key":"{}","trust_score":{score},"is_active":true,"tx_hash":"{tx}","block_number":{block},"tx_index":{index}}}"#,
        key.to_multibase()
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Tests.

async fn head_compare_and_set(engine: &Engine) {
    let store = engine.store();
    assert_eq!(store.head().await.unwrap(), None);
    let mut states = Vec::new();
    let first = block_write(None, vec![credential(1)], &mut states);
    assert!(store.commit_block(&first, t0()).await.unwrap());
    assert_eq!(store.head().await.unwrap(), Some(first.new_head.clone()));

    // A writer that read the head before the first block: nothing of it is written.
    let rows = engine.raw_count().await;
    let stale = block_write(None, vec![credential(2)], &mut Vec::new());
    assert!(!store.commit_block(&stale, t0()).await.unwrap());
    let stale_next = block_write(Some(Head::default()), vec![credential(2)], &mut Vec::new());
    assert!(!store.commit_block(&stale_next, t0()).await.unwrap());
    assert_eq!(engine.raw_count().await, rows);
    assert_eq!(store.head().await.unwrap(), Some(first.new_head.clone()));
    assert!(
        store
            .tx_entry(&credential(2).hash())
            .await
            .unwrap()
            .is_none()
    );

    // The same for a batch, whose messages then stay unanchored.
    let ids = messages(store, 2).await;
    let mut stale_batch = batch(store).await;
    stale_batch.write.expected_head = None;
    assert!(!store.commit_anchor(&stale_batch.write, t0()).await.unwrap());
    assert_eq!(
        engine.raw_count().await,
        rows + 2,
        "only the two accounts' pending entries"
    );
    assert_eq!(store.batch_header(0).await.unwrap(), None);
    assert_eq!(store.message_proof(ids[0]).await.unwrap(), None);
    assert_eq!(store.unanchored_messages(10).await.unwrap().len(), 2);

    // With the current head expected, both go through.
    let second = block_write(
        store.head().await.unwrap(),
        vec![credential(2)],
        &mut states,
    );
    assert!(store.commit_block(&second, t0()).await.unwrap());
    let sealed = batch(store).await;
    assert!(store.commit_anchor(&sealed.write, t0()).await.unwrap());
    assert_eq!(
        store.head().await.unwrap(),
        Some(sealed.write.new_head.clone())
    );
    assert_eq!(sealed.write.new_head.block.unwrap().index, 2);
}

async fn validator_claim(engine: &Engine) {
    let store = engine.store();
    let first = public(&validator_key());
    let other = public(&SigningKey::from_bytes(&[10; 32]));
    assert_eq!(store.validator().await.unwrap(), None);
    assert!(
        store.claim_validator(&first).await.unwrap(),
        "first claim wins"
    );
    assert!(
        store.claim_validator(&first).await.unwrap(),
        "the same key again"
    );
    assert!(
        !store.claim_validator(&other).await.unwrap(),
        "another key is refused"
    );
    assert_eq!(store.validator().await.unwrap(), Some(first));
}

async fn anchor_round_trip(engine: &Engine) {
    let store = engine.store();
    let ids = messages(store, 3).await;
    let unanchored = store.unanchored_messages(10).await.unwrap();
    assert_eq!(unanchored.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    let sealed = batch(store).await;
    let write = &sealed.write;

    // A block that does not anchor the batch is refused, and nothing is written.
    let mut wrong = write.clone();
    wrong.block = block_after(None, vec![credential(1)]);
    assert!(matches!(
        store.commit_anchor(&wrong, t0()).await,
        Err(StoreError::InvalidWrite(_))
    ));
    assert_eq!(store.head().await.unwrap(), None);

    assert!(store.commit_anchor(write, t0()).await.unwrap());
    assert_eq!(store.head().await.unwrap(), Some(write.new_head.clone()));
    assert_eq!(store.block(0).await.unwrap(), Some(write.block.clone()));
    assert_eq!(store.block(1).await.unwrap(), None);
    assert_eq!(store.blocks().await.unwrap(), vec![write.block.clone()]);
    assert_eq!(
        store.batch_header(0).await.unwrap(),
        Some(write.header.clone())
    );
    assert_eq!(store.batch_header(1).await.unwrap(), None);
    assert_eq!(
        store.batch_headers().await.unwrap(),
        vec![write.header.clone()]
    );
    let anchor = &write.block.transactions[0];
    assert_eq!(
        store.tx_entry(&anchor.hash()).await.unwrap(),
        Some(TxEntry::new(anchor, 0))
    );
    assert_eq!(
        store.merkle_entry(&write.header.root).await.unwrap(),
        Some(MerkleEntry::new(write.header.root, write.leaves.clone()))
    );
    assert_eq!(store.merkle_entry(&Hash32::ZERO).await.unwrap(), None);
    assert!(store.unanchored_messages(10).await.unwrap().is_empty());

    // A second batch follows the first.
    let (carl, _) = account(store, "carl", t0()).await;
    let (dora, _) = account(store, "dora", t0()).await;
    send(store, carl, dora, 1).await;
    let more = batch(store).await;
    assert_eq!(more.write.header.height, 1);
    assert!(store.commit_anchor(&more.write, t0()).await.unwrap());
    assert_eq!(
        store.batch_headers().await.unwrap(),
        vec![write.header.clone(), more.write.header.clone()]
    );
    assert_eq!(
        store.blocks().await.unwrap(),
        vec![write.block.clone(), more.write.block.clone()]
    );
}

async fn block_round_trip(engine: &Engine) {
    let store = engine.store();
    let mut states = Vec::new();
    let did = ZynkDid::new(Uuid::from_u128(42));
    let first = block_write(
        None,
        vec![credential(1), registration(did.uuid(), 3)],
        &mut states,
    );
    assert!(store.commit_block(&first, t0()).await.unwrap());
    let second = block_write(
        Some(first.new_head.clone()),
        vec![trust_update(did, 50, 60), credential(2)],
        &mut states,
    );
    assert!(store.commit_block(&second, t0()).await.unwrap());
    assert_eq!(store.head().await.unwrap(), Some(second.new_head.clone()));
    assert_eq!(store.head().await.unwrap().unwrap().batches, 0);
    assert_eq!(store.block(0).await.unwrap(), Some(first.block.clone()));
    assert_eq!(store.block(1).await.unwrap(), Some(second.block.clone()));
    assert_eq!(
        store.blocks().await.unwrap(),
        vec![first.block.clone(), second.block.clone()]
    );
    for (block, write) in [(0, &first), (1, &second)] {
        for tx in &write.block.transactions {
            assert_eq!(
                store.tx_entry(&tx.hash()).await.unwrap(),
                Some(TxEntry::new(tx, block))
            );
        }
    }
    assert_eq!(store.tx_entry(&credential(3).hash()).await.unwrap(), None);
    assert!(store.batch_headers().await.unwrap().is_empty());
    let state = store.identity_state(&did).await.unwrap().unwrap();
    assert_eq!(state.trust_score, 60);
    assert_eq!(state.block_number, Some(0));
    assert_eq!(state.tx_index, Some(1));
}

async fn pending_transactions_consumed_by_a_block(engine: &Engine) {
    let store = engine.store();
    let (ann, ann_tx) = account(store, "ann", t0()).await;
    let (bob, bob_tx) = account(store, "bob", t0() + Duration::seconds(1)).await;
    let (_, carl_tx) = account(store, "carl", t0() + Duration::seconds(2)).await;
    assert_eq!(
        store.pending_transactions(10).await.unwrap(),
        vec![ann_tx.clone(), bob_tx.clone(), carl_tx.clone()],
        "oldest first"
    );
    assert_eq!(
        store.pending_transactions(2).await.unwrap(),
        vec![ann_tx.clone(), bob_tx.clone()]
    );
    assert_eq!(
        store.pending_transaction(&bob_tx.hash()).await.unwrap(),
        Some(bob_tx.clone())
    );
    assert_eq!(
        store
            .pending_transaction(&credential(1).hash())
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .identity_by_user(ann)
            .await
            .unwrap()
            .unwrap()
            .is_verified
    );

    let mut states = Vec::new();
    let write = block_write(None, vec![ann_tx.clone(), bob_tx.clone()], &mut states);
    assert!(store.commit_block(&write, t0()).await.unwrap());
    assert_eq!(
        store.pending_transactions(10).await.unwrap(),
        vec![carl_tx.clone()]
    );
    assert_eq!(
        store.pending_transaction(&ann_tx.hash()).await.unwrap(),
        None
    );
    for (user, tx) in [(ann, &ann_tx), (bob, &bob_tx)] {
        assert_eq!(
            store.tx_entry(&tx.hash()).await.unwrap(),
            Some(TxEntry::new(tx, 0))
        );
        let identity = store.identity_by_user(user).await.unwrap().unwrap();
        assert!(identity.is_verified, "the block registers {user}");
        assert_eq!(identity.transaction_hash, Some(tx.hash().to_string()));
        assert_eq!(identity.block_number, Some(0));
    }
}

async fn identity_states(engine: &Engine) {
    let store = engine.store();
    let ann = ZynkDid::new(Uuid::from_u128(1));
    let bob = ZynkDid::new(Uuid::from_u128(2));
    assert_eq!(store.identity_state(&ann).await.unwrap(), None);
    assert!(store.identity_states().await.unwrap().is_empty());
    let mut states = Vec::new();
    let first = block_write(
        None,
        vec![registration(ann.uuid(), 1), registration(bob.uuid(), 2)],
        &mut states,
    );
    assert!(store.commit_block(&first, t0()).await.unwrap());
    let expected_ann = IdentityState {
        did: ann,
        public_key: Some(public(&SigningKey::from_bytes(&[1; 32]))),
        trust_score: 50,
        is_active: true,
        tx_hash: Some(registration(ann.uuid(), 1).hash()),
        block_number: Some(0),
        tx_index: Some(0),
    };
    assert_eq!(
        store.identity_state(&ann).await.unwrap(),
        Some(expected_ann.clone())
    );
    let mut all = store.identity_states().await.unwrap();
    all.sort_by_key(|s| s.did);
    assert_eq!(all, states);

    // A later block replaces a state: a trust change and a key rotation of bob.
    let mut changed = vec![states[1].clone()];
    let second = block_write(
        Some(first.new_head.clone()),
        vec![trust_update(bob, 50, 20), registration(bob.uuid(), 5)],
        &mut changed,
    );
    assert!(store.commit_block(&second, t0()).await.unwrap());
    let bob_state = store.identity_state(&bob).await.unwrap().unwrap();
    assert_eq!(bob_state, changed[0]);
    assert_eq!(bob_state.trust_score, 20);
    assert_eq!(
        bob_state.public_key,
        Some(public(&SigningKey::from_bytes(&[5; 32])))
    );
    assert_eq!(
        (bob_state.block_number, bob_state.tx_index),
        (Some(1), Some(1))
    );
    assert_eq!(store.identity_states().await.unwrap().len(), 2);
    assert_eq!(
        store.identity_state(&ann).await.unwrap(),
        Some(expected_ann)
    );
}

async fn message_proofs(engine: &Engine) {
    let store = engine.store();
    let ids = messages(store, 5).await;
    assert_eq!(
        store.message_proof(ids[0]).await.unwrap(),
        None,
        "not anchored yet"
    );
    let sealed = batch(store).await;
    assert!(store.commit_anchor(&sealed.write, t0()).await.unwrap());
    let key = validator_key().verifying_key();
    assert_eq!(sealed.write.messages.len(), ids.len());
    for (index, (message, leaf)) in sealed.write.messages.iter().zip(&sealed.leaves).enumerate() {
        let record = store
            .message_proof(message.message_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record,
            ProofRecord {
                path: message.path.clone(),
                leaf_index: index as u64,
                height: 0,
            }
        );
        // What the store returns makes a proof that holds under the validator key.
        let header = store.batch_header(record.height).await.unwrap().unwrap();
        let proof = MessageProof {
            version: PROOF_VERSION.to_owned(),
            hash_alg: HASH_ALG.to_owned(),
            message_id: message.message_id.as_uuid(),
            batch_id: header.batch_id.clone(),
            leaf_hash: leaf.leaf_hash(),
            leaf_index: record.leaf_index,
            tree_size: header.tree_size,
            path: record.path,
            root: header.root,
            anchor: Some(Anchor::embedded(&header)),
            batch_header: header,
            checkpoint: None,
        };
        proof.verify_for_message(leaf, &key).unwrap();
    }
    assert_eq!(sealed.tree.len(), 5);
    assert_eq!(
        store.message_proof(MessageId::new_v7()).await.unwrap(),
        None
    );
}

async fn todays_bytes_read_back(engine: &Engine) {
    let store = engine.store();
    let key = validator_key();
    let did = ZynkDid::new(Uuid::from_u128(7));
    let identity_key = public(&SigningKey::from_bytes(&[4; 32]));
    let reg = registration(did.uuid(), 4);
    let block = block_after(None, vec![reg.clone()]);
    let tip = ChainTip::of(&block);
    let root = Hash32::sha256(b"root");
    let leaves = vec![
        Hash32::sha256(b"a"),
        Hash32::sha256(b"b"),
        Hash32::sha256(b"c"),
    ];
    let header = BatchHeader {
        height: 0,
        batch_id: "batch-0".into(),
        prev_header_hash: Hash32::ZERO,
        root,
        tree_size: 3,
        first_seq: 1,
        last_seq: 3,
        closed_at: UnixMillis(1_800_000_000_000),
        signer: format!("{}#ledger", public(&key).to_did_key()),
        signature: Signature64::UNSIGNED,
    }
    .signed(&key);
    let pending = credential(3);

    engine
        .raw_put("validator", public(&key).to_did_key().as_bytes(), None)
        .await;
    engine
        .raw_put(
            "head",
            &todays_head(1, Some(header.header_hash()), &tip),
            None,
        )
        .await;
    engine
        .raw_put("block:0", &serde_json::to_vec(&block).unwrap(), Some(0))
        .await;
    engine
        .raw_put(
            &format!("tx:{}", reg.hash()),
            &todays_tx_entry(&reg, 0),
            None,
        )
        .await;
    engine
        .raw_put("batch:0", &serde_json::to_vec(&header).unwrap(), Some(0))
        .await;
    engine
        .raw_put(
            &format!("merkle:{root}"),
            &todays_merkle_entry(root, &leaves),
            None,
        )
        .await;
    engine
        .raw_put(
            &format!("state:identity:{did}"),
            &todays_identity_state(did, identity_key, 50, reg.hash(), 0, 0),
            None,
        )
        .await;
    engine
        .raw_put(
            &format!("pending:{}", pending.hash()),
            &serde_json::to_vec(&pending).unwrap(),
            None,
        )
        .await;

    assert_eq!(store.validator().await.unwrap(), Some(public(&key)));
    assert_eq!(
        store.head().await.unwrap(),
        Some(Head {
            batches: 1,
            last_header_hash: Some(header.header_hash()),
            block: Some(tip),
        })
    );
    assert_eq!(store.block(0).await.unwrap(), Some(block.clone()));
    assert_eq!(store.blocks().await.unwrap(), vec![block.clone()]);
    assert_eq!(
        store.tx_entry(&reg.hash()).await.unwrap(),
        Some(TxEntry::new(&reg, 0))
    );
    assert_eq!(store.batch_header(0).await.unwrap(), Some(header.clone()));
    assert_eq!(store.batch_headers().await.unwrap(), vec![header]);
    let tree = store.merkle_entry(&root).await.unwrap().unwrap();
    assert_eq!(tree, MerkleEntry::new(root, leaves));
    assert_eq!(tree.tree_depth, 2);
    let state = IdentityState {
        did,
        public_key: Some(identity_key),
        trust_score: 50,
        is_active: true,
        tx_hash: Some(reg.hash()),
        block_number: Some(0),
        tx_index: Some(0),
    };
    assert_eq!(
        store.identity_state(&did).await.unwrap(),
        Some(state.clone())
    );
    assert_eq!(store.identity_states().await.unwrap(), vec![state]);
    assert_eq!(
        store.pending_transactions(10).await.unwrap(),
        vec![pending.clone()]
    );

    // The ledger goes on from what was stored: a block sealed on top of it consumes the pending
    // entry.
    let expected = store.head().await.unwrap();
    let next = block_write(expected, vec![pending.clone()], &mut Vec::new());
    assert!(store.commit_block(&next, t0()).await.unwrap());
    assert!(store.pending_transactions(10).await.unwrap().is_empty());
    assert_eq!(store.head().await.unwrap().unwrap().batches, 1);

    // An entry stored under another record's key is reported, not returned.
    engine
        .raw_put("block:5", &serde_json::to_vec(&block).unwrap(), Some(5))
        .await;
    assert!(matches!(store.block(5).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.blocks().await, Err(StoreError::Corrupt(_))));
}

async fn typed_writes_keep_todays_bytes(engine: &Engine) {
    let store = engine.store();
    let key = validator_key();
    assert!(store.claim_validator(&public(&key)).await.unwrap());
    assert_eq!(
        engine.raw_value("validator").await,
        public(&key).to_did_key().into_bytes()
    );

    let (ann, reg) = account(store, "ann", t0()).await;
    let did = ZynkDid::new(ann.as_uuid());
    assert_eq!(
        engine.raw_get(&format!("pending:{}", reg.hash())).await,
        Some((serde_json::to_vec(&reg).unwrap(), None))
    );
    let mut states = Vec::new();
    let write = block_write(None, vec![reg.clone()], &mut states);
    assert!(store.commit_block(&write, t0()).await.unwrap());
    let tip = ChainTip::of(&write.block);
    assert_eq!(
        engine.raw_value("head").await,
        format!(
            r#"{{"batches":0,"last_header_hash":null,"block":[0,"{}",{}]}}"#,
            tip.hash, tip.timestamp
        )
        .into_bytes()
    );
    assert_eq!(
        engine.raw_get("block:0").await,
        Some((serde_json::to_vec(&write.block).unwrap(), Some(0)))
    );
    assert_eq!(
        engine.raw_get(&format!("tx:{}", reg.hash())).await,
        Some((todays_tx_entry(&reg, 0), None))
    );
    let Transaction::IdentityRegistration(r) = &reg else {
        panic!("an identity registration")
    };
    assert_eq!(
        engine.raw_get(&format!("state:identity:{did}")).await,
        Some((
            todays_identity_state(did, r.public_key, 50, reg.hash(), 0, 0),
            None
        ))
    );
    assert_eq!(
        engine.raw_get(&format!("pending:{}", reg.hash())).await,
        None
    );

    // A batch: its block, transaction, header and tree, the head, and each proof document.
    let (bob, _) = account(store, "bob", t0()).await;
    send(store, ann, bob, 3).await;
    let sealed = batch(store).await;
    let write = &sealed.write;
    assert!(store.commit_anchor(write, t0()).await.unwrap());
    let header = &write.header;
    assert_eq!(
        engine.raw_value("head").await,
        todays_head(1, Some(header.header_hash()), &ChainTip::of(&write.block))
    );
    assert_eq!(
        engine.raw_get("block:1").await,
        Some((serde_json::to_vec(&write.block).unwrap(), Some(1)))
    );
    let anchor = &write.block.transactions[0];
    assert_eq!(
        engine.raw_get(&format!("tx:{}", anchor.hash())).await,
        Some((todays_tx_entry(anchor, 1), None))
    );
    assert_eq!(
        engine.raw_get("batch:0").await,
        Some((serde_json::to_vec(header).unwrap(), Some(0)))
    );
    assert_eq!(
        engine.raw_get(&format!("merkle:{}", header.root)).await,
        Some((todays_merkle_entry(header.root, &write.leaves), None))
    );
    assert_eq!(write.messages.len(), 3);
    for message in &write.messages {
        let document = serde_json::to_value(
            MessageProof::build(
                &sealed.tree,
                &sealed.leaves[message.leaf_index as usize],
                message.leaf_index,
                header,
                None,
            )
            .unwrap()
            .siblings_doc(),
        )
        .unwrap();
        let stored = engine.raw_proof(message.message_id).await;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&stored).unwrap(),
            document
        );
        if engine.pg_database.is_none() {
            assert_eq!(stored, document.to_string(), "the exact text on SQLite");
        }
    }
}
