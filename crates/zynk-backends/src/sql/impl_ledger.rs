// The embedded ledger in `ledger_kv` and message anchoring (included into each engine module).
// Keys and JSON encodings come from `crate::ledger::entries`.

/// Moves the ledger's head from `expected` to `new` inside `tx` (locking it on PostgreSQL;
/// SQLite's single writer serialises); false, writing nothing, if it is not at `expected`.
async fn advance_head(
    tx: &mut Transaction<'static, Db>,
    expected: Option<&Head>,
    new: &Head,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let lock = match DIALECT {
        super::Dialect::Postgres => "SELECT value FROM ledger_kv WHERE key = 'head' FOR UPDATE",
        super::Dialect::Sqlite => "SELECT value FROM ledger_kv WHERE key = 'head'",
    };
    let stored: Option<Vec<u8>> = sqlx::query_scalar(lock).fetch_optional(&mut **tx).await?;
    let current = stored.as_deref().map(entries::decode_head).transpose()?;
    if current.as_ref() != expected {
        return Ok(false);
    }
    let new = entries::encode("head", new)?;
    let written = if current.is_none() {
        sqlx::query(
            "INSERT INTO ledger_kv (key, value, height, created_at) VALUES ('head', $1, NULL, $2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(new)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query("UPDATE ledger_kv SET value = $1 WHERE key = 'head'")
            .bind(new)
            .execute(&mut **tx)
            .await?
            .rows_affected()
    };
    Ok(written > 0)
}

/// Inserts new ledger entries inside `tx`.
async fn insert_entries(
    tx: &mut Transaction<'static, Db>,
    entries: &[entries::Entry],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (key, value, height) in entries {
        sqlx::query("INSERT INTO ledger_kv (key, value, height, created_at) VALUES ($1, $2, $3, $4)")
            .bind(key)
            .bind(value)
            .bind(height)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records a pending ledger transaction inside `tx`: its `blockchain_transactions` row and its
/// `pending:{hash}` entry, which the block sealer consumes.
async fn insert_pending_tx(
    tx: &mut Transaction<'static, Db>,
    pending: &PendingTx,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let hash = pending.hash();
    sqlx::query(
        "INSERT INTO blockchain_transactions (id, transaction_hash, transaction_type, user_id, \
         related_entity_id, status, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(Uuid::now_v7())
    .bind(hash.to_string())
    .bind(pending.transaction.type_name())
    .bind(pending.user_id)
    .bind(pending.related_entity_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let json = crate::ledger::pending_json(&pending.transaction)?;
    insert_entries(tx, &[(entries::pending_key(&hash), json, None)], now).await
}

/// The hash of `block`'s transaction that anchors the batch of `header`.
fn anchoring_transaction(block: &Block, header: &BatchHeader) -> Result<Hash32, StoreError> {
    block
        .transactions
        .iter()
        .find(|tx| {
            matches!(tx, zynk_ledger::Transaction::MessageAnchor(a)
                if a.batch_id == header.batch_id && a.merkle_root == header.root)
        })
        .map(zynk_ledger::Transaction::hash)
        .ok_or_else(|| {
            StoreError::InvalidWrite(format!(
                "block {} holds no message_anchor of batch {}",
                block.index, header.height
            ))
        })
}

impl SqlStore {
    /// The value and height stored under `key`.
    async fn ledger_entry(&self, key: &str) -> Result<Option<(Vec<u8>, Option<i64>)>, StoreError> {
        Ok(sqlx::query_as("SELECT value, height FROM ledger_kv WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    /// Entries whose key starts with `prefix` (which holds no `%` or `_`), by height, then
    /// time, then key; at most `limit`.
    async fn ledger_entries(&self, prefix: &str, limit: Option<u32>) -> Result<Vec<entries::Entry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT key, value, height FROM ledger_kv WHERE key LIKE $1 \
             ORDER BY height, created_at, key LIMIT $2",
        )
        .bind(format!("{prefix}%"))
        .bind(limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.read)
        .await?)
    }
}

#[async_trait]
impl LedgerStore for SqlStore {
    async fn unanchored_messages(&self, limit: u32) -> Result<Vec<UnanchoredMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.seq, m.created_at, m.content_hash FROM messages m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE NOT EXISTS (SELECT 1 FROM message_merkle_proofs p WHERE p.message_id = m.id) \
             AND (m.expires_at IS NULL OR c.anchor_expiring) \
             ORDER BY m.created_at, m.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UnanchoredMessage {
                    id: row.try_get("id")?,
                    seq: row.try_get("seq")?,
                    created_at: row.try_get("created_at")?,
                    content_hash: row.try_get("content_hash")?,
                })
            })
            .collect()
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let entry = self.ledger_entry(entries::HEAD).await?;
        entry.map(|(value, _)| entries::decode_head(&value)).transpose()
    }

    async fn validator(&self) -> Result<Option<Ed25519PublicKey>, StoreError> {
        let entry = self.ledger_entry(entries::VALIDATOR).await?;
        entry.map(|(value, _)| entries::decode_validator(&value)).transpose()
    }

    async fn claim_validator(&self, key: &Ed25519PublicKey) -> Result<bool, StoreError> {
        let written = sqlx::query(
            "INSERT INTO ledger_kv (key, value, height, created_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(entries::VALIDATOR)
        .bind(key.to_did_key().into_bytes())
        .bind(crate::now())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(written > 0 || self.validator().await? == Some(*key))
    }

    async fn block(&self, index: u64) -> Result<Option<Block>, StoreError> {
        let key = entries::block_key(index);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, height)| entries::decode_block(&key, &value, height)).transpose()
    }

    async fn blocks(&self) -> Result<Vec<Block>, StoreError> {
        let mut blocks = self
            .ledger_entries(entries::BLOCK_PREFIX, None)
            .await?
            .iter()
            .map(|(key, value, height)| entries::decode_block(key, value, *height))
            .collect::<Result<Vec<_>, _>>()?;
        blocks.sort_by_key(|b| b.index);
        Ok(blocks)
    }

    async fn batch_header(&self, height: u64) -> Result<Option<BatchHeader>, StoreError> {
        let key = entries::batch_key(height);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, stored)| entries::decode_batch_header(&key, &value, stored)).transpose()
    }

    async fn batch_headers(&self) -> Result<Vec<BatchHeader>, StoreError> {
        let mut headers = self
            .ledger_entries(entries::BATCH_PREFIX, None)
            .await?
            .iter()
            .map(|(key, value, height)| entries::decode_batch_header(key, value, *height))
            .collect::<Result<Vec<_>, _>>()?;
        headers.sort_by_key(|h| h.height);
        Ok(headers)
    }

    async fn tx_entry(&self, hash: &Hash32) -> Result<Option<TxEntry>, StoreError> {
        let key = entries::tx_key(hash);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, _)| entries::decode_tx_entry(&key, &value)).transpose()
    }

    async fn merkle_entry(&self, root: &Hash32) -> Result<Option<MerkleEntry>, StoreError> {
        let key = entries::merkle_key(root);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, _)| entries::decode_merkle_entry(&key, &value)).transpose()
    }

    async fn identity_state(&self, did: &ZynkDid) -> Result<Option<IdentityState>, StoreError> {
        let key = entries::identity_key(did);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, _)| entries::decode_identity_state(&key, &value)).transpose()
    }

    async fn identity_states(&self) -> Result<Vec<IdentityState>, StoreError> {
        self.ledger_entries(entries::IDENTITY_PREFIX, None)
            .await?
            .iter()
            .map(|(key, value, _)| entries::decode_identity_state(key, value))
            .collect()
    }

    async fn pending_transactions(&self, limit: u32) -> Result<Vec<zynk_ledger::Transaction>, StoreError> {
        self.ledger_entries(entries::PENDING_PREFIX, Some(limit))
            .await?
            .iter()
            .map(|(key, value, _)| entries::decode_pending(key, value))
            .collect()
    }

    async fn pending_transaction(&self, hash: &Hash32) -> Result<Option<zynk_ledger::Transaction>, StoreError> {
        let key = entries::pending_key(hash);
        let entry = self.ledger_entry(&key).await?;
        entry.map(|(value, _)| entries::decode_pending(&key, &value)).transpose()
    }

    async fn commit_anchor(&self, write: &AnchorWrite, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let header = &write.header;
        let anchor_tx = anchoring_transaction(&write.block, header)?;
        let height = entries::height(header.height)?;
        let mut new_entries = vec![entries::block_entry(&write.block)?];
        new_entries.extend(entries::tx_entries(&write.block)?);
        new_entries.push((entries::batch_key(header.height), entries::encode("batch header", header)?, Some(height)));
        let merkle = MerkleEntry::new(header.root, write.leaves.clone());
        new_entries.push((entries::merkle_key(&header.root), entries::encode_sorted("batch tree", &merkle)?, None));
        let message_count = i32::try_from(write.messages.len())
            .map_err(|_| StoreError::InvalidWrite("too many messages in one batch".into()))?;
        let mut proofs = Vec::with_capacity(write.messages.len());
        for message in &write.messages {
            let document = zynk_ledger::proof::SiblingsDoc { siblings: message.path.clone() };
            let document = serde_json::to_value(document)
                .map_err(|e| StoreError::InvalidWrite(format!("proof: {e}")))?;
            let leaf_index = i32::try_from(message.leaf_index)
                .map_err(|_| StoreError::InvalidWrite(format!("leaf index {}", message.leaf_index)))?;
            proofs.push((message, document, leaf_index));
        }

        let mut tx = self.begin().await?;
        if !advance_head(&mut tx, write.expected_head.as_ref(), &write.new_head, now).await? {
            return Ok(false);
        }
        insert_entries(&mut tx, &new_entries, now).await?;
        sqlx::query(
            "INSERT INTO message_anchors (id, merkle_root, message_count, transaction_hash, \
             block_number, anchored_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(write.anchor_id)
        .bind(hex::encode(header.root.as_bytes()))
        .bind(message_count)
        .bind(anchor_tx.to_string())
        .bind(height)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO blockchain_transactions (id, transaction_hash, transaction_type, \
             block_number, block_hash, related_entity_id, status, created_at, confirmed_at) \
             VALUES ($1, $2, 'message_anchor', $3, $4, $5, 'confirmed', $6, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(anchor_tx.to_string())
        .bind(height)
        .bind(write.block.hash.to_string())
        .bind(write.anchor_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for chunk in proofs.chunks(500) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO message_merkle_proofs (message_id, content_hash, merkle_root_id, proof, \
                 leaf_index, created_at) ",
            );
            insert.push_values(chunk, |mut row, (message, document, leaf_index)| {
                row.push_bind(message.message_id)
                    .push_bind(message.content_hash.clone())
                    .push_bind(write.anchor_id)
                    .push_bind(sqlx::types::Json(document.clone()))
                    .push_bind(*leaf_index)
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
        }
        insert_outbox(&mut tx, &write.outbox, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn commit_block(&self, write: &BlockWrite, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let block = &write.block;
        let block_number = entries::height(block.index)?;
        let block_hash = block.hash.to_string();
        let mut new_entries = vec![entries::block_entry(block)?];
        new_entries.extend(entries::tx_entries(block)?);
        let states = write
            .identity_states
            .iter()
            .map(|state| Ok((entries::identity_key(&state.did), entries::encode("identity state", state)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let hashes: Vec<Hash32> = block.transactions.iter().map(zynk_ledger::Transaction::hash).collect();

        let mut tx = self.begin().await?;
        if !advance_head(&mut tx, write.expected_head.as_ref(), &write.new_head, now).await? {
            return Ok(false);
        }
        insert_entries(&mut tx, &new_entries, now).await?;
        for (key, value) in &states {
            sqlx::query(
                "INSERT INTO ledger_kv (key, value, height, created_at) VALUES ($1, $2, NULL, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for hash in &hashes {
            sqlx::query("DELETE FROM ledger_kv WHERE key = $1")
                .bind(entries::pending_key(hash))
                .execute(&mut *tx)
                .await?;
        }
        for hash in &hashes {
            sqlx::query(
                "UPDATE blockchain_transactions SET status = 'confirmed', block_number = $2, \
                 block_hash = $3, confirmed_at = $4 WHERE transaction_hash = $1",
            )
            .bind(hash.to_string())
            .bind(block_number)
            .bind(&block_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for registration in &block.transactions {
            let zynk_ledger::Transaction::IdentityRegistration(r) = registration else {
                continue;
            };
            sqlx::query(
                "UPDATE blockchain_identities SET transaction_hash = $2, block_number = $3, \
                 blockchain_registered_at = $4, updated_at = $4, is_verified = $5 WHERE did = $1",
            )
            .bind(r.did.to_string())
            .bind(registration.hash().to_string())
            .bind(block_number)
            .bind(now)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        }
        insert_outbox(&mut tx, &write.outbox, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn message_proof(&self, message_id: MessageId) -> Result<Option<ProofRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT p.proof, p.leaf_index, a.block_number FROM message_merkle_proofs p \
             JOIN message_anchors a ON a.id = p.merkle_root_id WHERE p.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let document: sqlx::types::Json<zynk_ledger::proof::SiblingsDoc> =
            row.try_get("proof").map_err(|e| corrupt("message_merkle_proofs.proof", e))?;
        let leaf_index: i32 = row.try_get("leaf_index")?;
        let height: Option<i64> = row.try_get("block_number")?;
        let height = height.ok_or_else(|| corrupt("message_anchors.block_number", "missing"))?;
        Ok(Some(ProofRecord {
            path: document.0.siblings,
            leaf_index: u64::try_from(leaf_index).map_err(|e| corrupt("message_merkle_proofs.leaf_index", e))?,
            height: u64::try_from(height).map_err(|e| corrupt("message_anchors.block_number", e))?,
        }))
    }
}
