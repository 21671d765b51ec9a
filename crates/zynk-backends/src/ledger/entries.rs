//! How the ledger's records are laid out in `ledger_kv` (data model 11.6): the key of each record
//! and its JSON value. Databases written by earlier versions hold these exact bytes and
//! `zynkd ledger verify` reads them, so the encodings here must not change.
//!
//! | key | value |
//! |---|---|
//! | `head` | [`Head`] |
//! | `validator` | the validator's `did:key`, as text (not JSON) |
//! | `block:{n}` (height `n`) | [`Block`] |
//! | `tx:{hash}` | [`TxEntry`], object keys sorted |
//! | `batch:{n}` (height `n`) | [`BatchHeader`] |
//! | `merkle:{root}` | [`MerkleEntry`], object keys sorted |
//! | `state:identity:{did}` | [`IdentityState`] |
//! | `pending:{hash}` | [`Transaction`] |
//!
//! Hashes in keys are written `0x` + 64 hex digits.

use serde::Serialize;
use serde::de::DeserializeOwned;
use zynk_ledger::{BatchHeader, Block, Ed25519PublicKey, Hash32, Transaction, ZynkDid};

use super::{Head, IdentityState, MerkleEntry, TxEntry};
use crate::error::StoreError;

/// A row of `ledger_kv`: key, value and height (blocks and batch headers only).
pub(crate) type Entry = (String, Vec<u8>, Option<i64>);

/// Key of the [`Head`].
pub(crate) const HEAD: &str = "head";
/// Key of the validator's `did:key`.
pub(crate) const VALIDATOR: &str = "validator";
/// Prefix of the blocks' keys.
pub(crate) const BLOCK_PREFIX: &str = "block:";
/// Prefix of the batch headers' keys.
pub(crate) const BATCH_PREFIX: &str = "batch:";
/// Prefix of the identity states' keys.
pub(crate) const IDENTITY_PREFIX: &str = "state:identity:";
/// Prefix of the pending transactions' keys.
pub(crate) const PENDING_PREFIX: &str = "pending:";

/// `block:{index}`.
pub(crate) fn block_key(index: u64) -> String {
    format!("{BLOCK_PREFIX}{index}")
}

/// `tx:{hash}`.
pub(crate) fn tx_key(hash: &Hash32) -> String {
    format!("tx:{hash}")
}

/// `batch:{height}`.
pub(crate) fn batch_key(height: u64) -> String {
    format!("{BATCH_PREFIX}{height}")
}

/// `merkle:{root}`.
pub(crate) fn merkle_key(root: &Hash32) -> String {
    format!("merkle:{root}")
}

/// `state:identity:{did}`.
pub(crate) fn identity_key(did: &ZynkDid) -> String {
    format!("{IDENTITY_PREFIX}{did}")
}

/// `pending:{hash}`.
pub(crate) fn pending_key(hash: &Hash32) -> String {
    format!("{PENDING_PREFIX}{hash}")
}

/// Compact JSON of `value`, fields in declaration order.
pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::InvalidWrite(format!("{what}: {e}")))
}

/// Compact JSON of `value` with the keys of every object sorted, as the `tx:` and `merkle:`
/// entries have always been written.
pub(crate) fn encode_sorted<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    let fail = |e: serde_json::Error| StoreError::InvalidWrite(format!("{what}: {e}"));
    let value = serde_json::to_value(value).map_err(fail)?;
    serde_json::to_vec(&sorted(value)).map_err(fail)
}

/// `value` with every object's keys in ascending order, whatever map serde_json is built with.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(String, Value)> = map.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(fields.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The `block:` entry of `block`: key, value and height.
pub(crate) fn block_entry(block: &Block) -> Result<Entry, StoreError> {
    Ok((
        block_key(block.index),
        encode("block", block)?,
        Some(height(block.index)?),
    ))
}

/// The `tx:` entries of every transaction of `block`.
pub(crate) fn tx_entries(block: &Block) -> Result<Vec<Entry>, StoreError> {
    block
        .transactions
        .iter()
        .map(|tx| {
            let entry = TxEntry::new(tx, block.index);
            Ok((
                tx_key(&entry.hash),
                encode_sorted("transaction entry", &entry)?,
                None,
            ))
        })
        .collect()
}

/// `n` as a stored height (`BIGINT`).
pub(crate) fn height(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::InvalidWrite(format!("height {n} is out of range")))
}

/// Decodes the JSON stored under `key`.
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{key}: {e}")))
}

/// Decodes the JSON stored under `key` (at `stored_height`), checking it is stored under its
/// own key (`own_key`) and, for blocks and batch headers, at its own height (`own_height`).
fn decode_in_place<T: DeserializeOwned>(
    key: &str,
    bytes: &[u8],
    stored_height: Option<i64>,
    own_key: impl FnOnce(&T) -> (String, Option<u64>),
) -> Result<T, StoreError> {
    let value: T = decode(key, bytes)?;
    let (expected_key, own_height) = own_key(&value);
    if key != expected_key || stored_height != own_height.and_then(|h| i64::try_from(h).ok()) {
        return Err(StoreError::Corrupt(format!(
            "{key}: stored under the wrong key or height"
        )));
    }
    Ok(value)
}

/// A block, checked to be stored under its own key and height.
pub(crate) fn decode_block(
    key: &str,
    bytes: &[u8],
    height: Option<i64>,
) -> Result<Block, StoreError> {
    decode_in_place(key, bytes, height, |b: &Block| {
        (block_key(b.index), Some(b.index))
    })
}

/// A batch header, checked to be stored under its own key and height.
pub(crate) fn decode_batch_header(
    key: &str,
    bytes: &[u8],
    height: Option<i64>,
) -> Result<BatchHeader, StoreError> {
    decode_in_place(key, bytes, height, |h: &BatchHeader| {
        (batch_key(h.height), Some(h.height))
    })
}

/// A `tx:` entry, checked to be stored under its own hash.
pub(crate) fn decode_tx_entry(key: &str, bytes: &[u8]) -> Result<TxEntry, StoreError> {
    decode_in_place(key, bytes, None, |e: &TxEntry| (tx_key(&e.hash), None))
}

/// A `merkle:` entry, checked to be stored under its own root.
pub(crate) fn decode_merkle_entry(key: &str, bytes: &[u8]) -> Result<MerkleEntry, StoreError> {
    decode_in_place(key, bytes, None, |e: &MerkleEntry| {
        (merkle_key(&e.root), None)
    })
}

/// An identity state, checked to be stored under its own DID.
pub(crate) fn decode_identity_state(key: &str, bytes: &[u8]) -> Result<IdentityState, StoreError> {
    decode_in_place(key, bytes, None, |s: &IdentityState| {
        (identity_key(&s.did), None)
    })
}

/// A pending transaction, checked to be stored under its own hash.
pub(crate) fn decode_pending(key: &str, bytes: &[u8]) -> Result<Transaction, StoreError> {
    decode_in_place(key, bytes, None, |tx: &Transaction| {
        (pending_key(&tx.hash()), None)
    })
}

/// The head.
pub(crate) fn decode_head(bytes: &[u8]) -> Result<Head, StoreError> {
    decode(HEAD, bytes)
}

/// The validator's key, stored as its `did:key` text.
pub(crate) fn decode_validator(bytes: &[u8]) -> Result<Ed25519PublicKey, StoreError> {
    let did =
        std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{VALIDATOR}: {e}")))?;
    Ed25519PublicKey::from_did_key(did)
        .map_err(|e| StoreError::Corrupt(format!("{VALIDATOR}: {e}")))
}

/// `Head::block` as the array `[index, hash, timestamp]`.
pub(crate) mod tip_as_array {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use zynk_ledger::{ChainTip, Hash32};

    pub(crate) fn serialize<S: Serializer>(
        tip: &Option<ChainTip>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        tip.map(|t| (t.index, t.hash, t.timestamp))
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<ChainTip>, D::Error> {
        let tip: Option<(u64, Hash32, u64)> = Option::deserialize(deserializer)?;
        Ok(tip.map(|(index, hash, timestamp)| ChainTip {
            index,
            hash,
            timestamp,
        }))
    }
}
