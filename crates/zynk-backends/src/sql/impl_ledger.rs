// The embedded ledger's key-value store and message anchoring (included into each engine
// module).

/// Moves the ledger's `head` from `expected` to `new` inside `tx` (locking it on PostgreSQL;
/// SQLite's single writer serialises); false, writing nothing, if it is not at `expected`.
async fn advance_head(
    tx: &mut Transaction<'static, Db>,
    expected: Option<&[u8]>,
    new: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let lock = match DIALECT {
        super::Dialect::Postgres => "SELECT value FROM ledger_kv WHERE key = 'head' FOR UPDATE",
        super::Dialect::Sqlite => "SELECT value FROM ledger_kv WHERE key = 'head'",
    };
    let current: Option<Vec<u8>> = sqlx::query_scalar(lock).fetch_optional(&mut **tx).await?;
    if current.as_deref() != expected {
        return Ok(false);
    }
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

/// Inserts new ledger entries `(key, value, height)` inside `tx`.
async fn insert_entries(
    tx: &mut Transaction<'static, Db>,
    entries: &[(String, Vec<u8>, Option<i64>)],
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

    async fn ledger_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM ledger_kv WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn ledger_put_new(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let written = sqlx::query(
            "INSERT INTO ledger_kv (key, value, height, created_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(crate::now())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(written > 0)
    }

    async fn ledger_scan(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>, Option<i64>)>, StoreError> {
        let pattern = format!("{}%", prefix.replace('%', "").replace('_', "\\_"));
        Ok(sqlx::query_as(
            "SELECT key, value, height FROM ledger_kv WHERE key LIKE $1 ESCAPE '\\' \
             ORDER BY height, created_at, key",
        )
        .bind(pattern)
        .fetch_all(&self.read)
        .await?)
    }

    async fn commit_anchor(&self, write: &AnchorWrite, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !advance_head(&mut tx, write.expected_head.as_deref(), &write.new_head, now).await? {
            return Ok(false);
        }
        insert_entries(&mut tx, &write.entries, now).await?;
        sqlx::query(
            "INSERT INTO message_anchors (id, merkle_root, message_count, transaction_hash, \
             block_number, anchored_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(write.anchor_id)
        .bind(&write.merkle_root)
        .bind(i32::try_from(write.proofs.len()).unwrap_or(i32::MAX))
        .bind(&write.transaction_hash)
        .bind(write.height)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO blockchain_transactions (id, transaction_hash, transaction_type, \
             block_number, block_hash, related_entity_id, status, created_at, confirmed_at) \
             VALUES ($1, $2, 'message_anchor', $3, $4, $5, 'confirmed', $6, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(&write.transaction_hash)
        .bind(write.height)
        .bind(&write.block_hash)
        .bind(write.anchor_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for chunk in write.proofs.chunks(500) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO message_merkle_proofs (message_id, content_hash, merkle_root_id, proof, \
                 leaf_index, created_at) ",
            );
            insert.push_values(chunk, |mut row, (message_id, content_hash, siblings, leaf_index)| {
                row.push_bind(*message_id)
                    .push_bind(content_hash.clone())
                    .push_bind(write.anchor_id)
                    .push_bind(sqlx::types::Json(siblings.clone()))
                    .push_bind(i32::try_from(*leaf_index).unwrap_or(i32::MAX))
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
        }
        insert_outbox(&mut tx, &write.outbox, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn commit_block(&self, write: &BlockWrite, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !advance_head(&mut tx, write.expected_head.as_deref(), &write.new_head, now).await? {
            return Ok(false);
        }
        insert_entries(&mut tx, &write.entries, now).await?;
        for (key, value) in &write.upserts {
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
        for key in &write.consumed {
            sqlx::query("DELETE FROM ledger_kv WHERE key = $1").bind(key).execute(&mut *tx).await?;
        }
        for hash in &write.confirmed {
            sqlx::query(
                "UPDATE blockchain_transactions SET status = 'confirmed', block_number = $2, \
                 block_hash = $3, confirmed_at = $4 WHERE transaction_hash = $1",
            )
            .bind(hash)
            .bind(write.block_number)
            .bind(&write.block_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for (did, hash) in &write.identities {
            sqlx::query(
                "UPDATE blockchain_identities SET transaction_hash = $2, block_number = $3, \
                 blockchain_registered_at = $4, updated_at = $4, is_verified = $5 WHERE did = $1",
            )
            .bind(did)
            .bind(hash)
            .bind(write.block_number)
            .bind(now)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        }
        insert_outbox(&mut tx, &write.outbox, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn message_proof(&self, message_id: Uuid) -> Result<Option<ProofRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT p.proof, p.leaf_index, a.block_number FROM message_merkle_proofs p \
             JOIN message_anchors a ON a.id = p.merkle_root_id WHERE p.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let siblings: sqlx::types::Json<serde_json::Value> =
            row.try_get("proof").map_err(|e| corrupt("proof", e))?;
        let leaf_index: i32 = row.try_get("leaf_index")?;
        let height: Option<i64> = row.try_get("block_number")?;
        Ok(Some(ProofRecord {
            siblings: siblings.0,
            leaf_index: i64::from(leaf_index),
            height: height.ok_or_else(|| corrupt("message_anchors.block_number", "missing"))?,
        }))
    }
}
