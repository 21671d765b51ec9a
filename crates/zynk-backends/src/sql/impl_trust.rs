// Ledger identities, trust scores, key rotation and credentials (included into each engine
// module).

const IDENTITY_COLUMNS: &str = "bi.did, bi.user_id, bi.public_key, bi.trust_score, bi.is_verified, \
     bi.transaction_hash, bi.block_number, u.created_at AS account_created_at";

fn identity_from_row(row: &DbRow) -> Result<IdentityRecord, StoreError> {
    Ok(IdentityRecord {
        did: row.try_get("did")?,
        user_id: row.try_get("user_id")?,
        public_key: row.try_get("public_key")?,
        trust_score: row.try_get::<i32, _>("trust_score")?,
        is_verified: row.try_get("is_verified")?,
        transaction_hash: row.try_get("transaction_hash")?,
        block_number: row.try_get("block_number")?,
        account_created_at: row.try_get("account_created_at")?,
    })
}

#[async_trait]
impl TrustStore for SqlStore {
    async fn identity_by_user(&self, user_id: UserId) -> Result<Option<IdentityRecord>, StoreError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM blockchain_identities bi JOIN users u ON u.id = bi.user_id \
             WHERE bi.user_id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_optional(&self.read).await?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn identity_by_did(&self, did: &str) -> Result<Option<IdentityRecord>, StoreError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM blockchain_identities bi JOIN users u ON u.id = bi.user_id \
             WHERE bi.did = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(did).fetch_optional(&self.read).await?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn apply_trust_change(
        &self,
        change: &TrustChange,
        now: DateTime<Utc>,
    ) -> Result<TrustOutcome, StoreError> {
        let mut tx = self.begin().await?;
        // The evidence first: a duplicate report or vouch changes nothing.
        let inserted = match &change.evidence {
            TrustEvidence::None => 1,
            TrustEvidence::Report { reporter, day } => sqlx::query(
                "INSERT INTO trust_reports (reporter_id, target_id, day, weight, created_at) \
                 SELECT $1, user_id, $3, $4, $5 FROM blockchain_identities WHERE did = $2 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(reporter)
            .bind(&change.did)
            .bind(day)
            .bind(change.old_score - change.new_score)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            TrustEvidence::Vouch { voucher } => sqlx::query(
                "INSERT INTO trust_vouches (voucher_id, target_id, weight, created_at) \
                 SELECT $1, user_id, $3, $4 FROM blockchain_identities WHERE did = $2 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(voucher)
            .bind(&change.did)
            .bind(change.new_score - change.old_score)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if inserted == 0 {
            return Ok(TrustOutcome::Duplicate);
        }
        let current: Option<i32> =
            sqlx::query_scalar("SELECT trust_score FROM blockchain_identities WHERE did = $1")
                .bind(&change.did)
                .fetch_optional(&mut *tx)
                .await?;
        if current != Some(change.old_score) {
            return Ok(TrustOutcome::ScoreChanged);
        }
        if change.new_score != change.old_score {
            let updated = sqlx::query(
                "UPDATE blockchain_identities SET trust_score = $2, updated_at = $4 \
                 WHERE did = $1 AND trust_score = $3",
            )
            .bind(&change.did)
            .bind(change.new_score)
            .bind(change.old_score)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(TrustOutcome::ScoreChanged);
            }
            sqlx::query(
                "INSERT INTO trust_score_history (id, did, old_score, new_score, change_reason, \
                 transaction_hash, changed_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(change.history_id)
            .bind(&change.did)
            .bind(change.old_score)
            .bind(change.new_score)
            .bind(change.reason)
            .bind(change.tx.as_ref().map(|t| t.hash().to_string()))
            .bind(change.changed_by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(pending) = &change.tx {
                insert_pending_tx(&mut tx, pending, now).await?;
            }
        }
        tx.commit().await?;
        Ok(TrustOutcome::Applied)
    }

    async fn trust_history(
        &self,
        did: &str,
        limit: u32,
    ) -> Result<Vec<TrustHistoryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, old_score, new_score, change_reason, transaction_hash, changed_by, created_at \
             FROM trust_score_history WHERE did = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(did)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TrustHistoryRecord {
                    id: row.try_get("id")?,
                    old_score: row.try_get::<i32, _>("old_score")?,
                    new_score: row.try_get::<i32, _>("new_score")?,
                    reason: row.try_get("change_reason")?,
                    transaction_hash: row.try_get("transaction_hash")?,
                    changed_by: row.try_get("changed_by")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn trust_standings(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TrustStanding>, StoreError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS}, \
             (SELECT COUNT(*) FROM trust_score_history h WHERE h.did = bi.did \
              AND h.change_reason = 'account_age_milestone') AS age_milestones, \
             (SELECT COUNT(*) FROM trust_score_history h WHERE h.did = bi.did \
              AND h.change_reason = 'message_volume_threshold') AS volume_milestones, \
             (SELECT COUNT(*) FROM trust_score_history h WHERE h.did = bi.did) AS changes \
             FROM blockchain_identities bi JOIN users u ON u.id = bi.user_id \
             WHERE bi.did > $1 ORDER BY bi.did LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(TrustStanding {
                    identity: identity_from_row(row)?,
                    age_milestones: row.try_get("age_milestones")?,
                    volume_milestones: row.try_get("volume_milestones")?,
                    changes: row.try_get("changes")?,
                })
            })
            .collect()
    }

    async fn messages_sent(&self, user_id: UserId, cap: u64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM message_refs WHERE sender_id = $1 LIMIT $2) sent",
        )
        .bind(user_id)
        .bind(i64::try_from(cap).unwrap_or(i64::MAX))
        .fetch_one(&self.read)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn share_conversation(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        let shared: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM conversation_participants p JOIN conversation_participants q \
             ON q.conversation_id = p.conversation_id WHERE p.user_id = $1 AND q.user_id = $2 LIMIT 1",
        )
        .bind(a)
        .bind(b)
        .fetch_optional(&self.read)
        .await?;
        Ok(shared.is_some())
    }

    async fn has_sent_to(&self, sender: UserId, recipient: UserId) -> Result<bool, StoreError> {
        let sent: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM conversation_participants p JOIN message_refs m \
             ON m.conversation_id = p.conversation_id WHERE p.user_id = $2 AND m.sender_id = $1 \
             LIMIT 1",
        )
        .bind(sender)
        .bind(recipient)
        .fetch_optional(&self.read)
        .await?;
        Ok(sent.is_some())
    }

    async fn rotate_identity_key(
        &self,
        rotation: &KeyRotation,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET public_key = $2, updated_at = $4 WHERE id = $1 AND public_key = $3",
        )
        .bind(rotation.user_id)
        .bind(&rotation.new_public_key)
        .bind(&rotation.old_public_key)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        // The identity is unverified until a block holds the new key.
        sqlx::query(
            "UPDATE blockchain_identities SET public_key = $2, is_verified = $3, updated_at = $4 \
             WHERE did = $1",
        )
        .bind(&rotation.did)
        .bind(&rotation.new_public_key)
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_pending_tx(&mut tx, &rotation.tx, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_credential(
        &self,
        credential: &CredentialRecord,
        pending: &PendingTx,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO credentials (id, user_id, subject_did, issuer_did, credential_type, \
             transaction_hash, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(credential.id)
        .bind(credential.user_id)
        .bind(&credential.subject_did)
        .bind(&credential.issuer_did)
        .bind(&credential.credential_type)
        .bind(&credential.transaction_hash)
        .bind(credential.issued_at)
        .bind(credential.expires_at)
        .execute(&mut *tx)
        .await?;
        insert_pending_tx(&mut tx, pending, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
