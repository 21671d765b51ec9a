// The EVM publication outbox (included into each engine module).

/// Queues ledger transactions for EVM publication inside `tx` (the block's own transaction).
async fn insert_outbox(
    tx: &mut Transaction<'static, Db>,
    items: &[OutboxItem],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for item in items {
        sqlx::query(
            "INSERT INTO evm_outbox (ledger_tx_hash, transaction_type, tx_json, height, user_id, \
             related_entity_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) \
             ON CONFLICT (ledger_tx_hash) DO NOTHING",
        )
        .bind(&item.ledger_tx_hash)
        .bind(item.tx_type)
        .bind(&item.tx_json)
        .bind(item.height)
        .bind(item.user_id)
        .bind(item.related_entity_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl EvmStore for SqlStore {
    async fn evm_outbox_open(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, ledger_tx_hash, transaction_type, tx_json, height, user_id, \
             related_entity_id, status, nonce, evm_tx_hash, raw_tx FROM evm_outbox \
             WHERE status IN ('queued', 'sent') ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxRow {
                    seq: row.try_get("seq")?,
                    item: OutboxItemRecord {
                        ledger_tx_hash: row.try_get("ledger_tx_hash")?,
                        tx_type: row.try_get("transaction_type")?,
                        tx_json: row.try_get("tx_json")?,
                        height: row.try_get("height")?,
                        user_id: row.try_get("user_id")?,
                        related_entity_id: row.try_get("related_entity_id")?,
                    },
                    status: vocabulary_column(row, "evm_outbox", "status")?,
                    nonce: row.try_get("nonce")?,
                    evm_tx_hash: row.try_get("evm_tx_hash")?,
                    raw_tx: row.try_get("raw_tx")?,
                })
            })
            .collect()
    }

    async fn evm_mark_sent(
        &self,
        sent: &EvmSent,
        item: &OutboxItemRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE evm_outbox SET status = 'sent', nonce = $2, evm_tx_hash = $3, raw_tx = $4, \
             sent_at = $5 WHERE seq = $1 AND status = 'queued'",
        )
        .bind(sent.seq)
        .bind(sent.nonce)
        .bind(&sent.evm_tx_hash)
        .bind(&sent.raw_tx)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO blockchain_transactions (id, transaction_hash, transaction_type, \
             from_address, to_address, user_id, related_entity_id, status, created_at, chain, \
             ledger_tx_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)",
        )
        .bind(Uuid::now_v7())
        .bind(&sent.evm_tx_hash)
        .bind(&item.tx_type)
        .bind(&sent.from_address)
        .bind(&sent.to_address)
        .bind(item.user_id)
        .bind(item.related_entity_id)
        .bind(now)
        .bind(&sent.chain)
        .bind(&item.ledger_tx_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn evm_mark_unpublishable(&self, seq: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE evm_outbox SET status = 'failed', confirmed_at = $2 WHERE seq = $1")
            .bind(seq)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn evm_requeue(
        &self,
        seq: i64,
        evm_tx_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE evm_outbox SET status = 'queued', nonce = NULL, evm_tx_hash = NULL, \
             raw_tx = NULL, sent_at = NULL WHERE seq = $1",
        )
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE blockchain_transactions SET status = 'failed', confirmed_at = $2 \
             WHERE transaction_hash = $1 AND status = 'pending'",
        )
        .bind(evm_tx_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn evm_mark_done(&self, done: &EvmDone, now: DateTime<Utc>) -> Result<(), StoreError> {
        let status =
            if done.success { PublicationStatus::Confirmed } else { PublicationStatus::Failed };
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE evm_outbox SET status = $2, confirmed_at = $3 WHERE seq = $1")
            .bind(done.seq)
            .bind(status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE blockchain_transactions SET status = $2, block_number = $3, block_hash = $4, \
             gas_used = $5, log_index = $6, confirmed_at = $7 WHERE transaction_hash = $1",
        )
        .bind(&done.evm_tx_hash)
        .bind(status.as_str())
        .bind(done.block_number)
        .bind(&done.block_hash)
        .bind(done.gas_used)
        .bind(done.log_index)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn evm_publication(
        &self,
        ledger_tx_hash: &str,
    ) -> Result<Option<EvmPublication>, StoreError> {
        let row = sqlx::query(
            "SELECT chain, transaction_hash, to_address, block_number, block_hash, gas_used, \
             log_index, status FROM blockchain_transactions WHERE ledger_tx_hash = $1 \
             ORDER BY CASE status WHEN 'confirmed' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, \
             created_at DESC LIMIT 1",
        )
        .bind(ledger_tx_hash)
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(EvmPublication {
                chain: row.try_get("chain")?,
                evm_tx_hash: row.try_get("transaction_hash")?,
                to_address: row.try_get("to_address")?,
                block_number: row.try_get("block_number")?,
                block_hash: row.try_get("block_hash")?,
                gas_used: row.try_get("gas_used")?,
                log_index: row.try_get("log_index")?,
                status: vocabulary_column(&row, "blockchain_transactions", "status")?,
            })
        })
        .transpose()
    }

    async fn evm_outbox_counts(&self) -> Result<Vec<(PublicationStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM evm_outbox GROUP BY status ORDER BY status")
                .fetch_all(&self.read)
                .await?;
        rows.into_iter()
            .map(|(status, count)| Ok((parse_vocabulary(&status, "evm_outbox", "status")?, count)))
            .collect()
    }
}
