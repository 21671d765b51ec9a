// Sessions and refresh-token rotation (included into each engine module).

const SESSION_COLUMNS: &str = "id, user_id, device_id, session_token, expires_at, \
     refresh_expires_at, created_at, last_used_at";

fn session_from_row(row: &DbRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        device_id: row.try_get("device_id")?,
        access_hash: row.try_get("session_token")?,
        expires_at: row.try_get("expires_at")?,
        refresh_expires_at: row.try_get("refresh_expires_at")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn session_by_access_hash(
        &self,
        access_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_token = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(access_hash)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        next: &SessionTokens,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let sql = match DIALECT {
            super::Dialect::Postgres => {
                format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_token = $1 FOR UPDATE")
            }
            super::Dialect::Sqlite => {
                format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_token = $1")
            }
        };
        let current = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(refresh_hash)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = current {
            let session = session_from_row(&row)?;
            if session.refresh_expires_at <= now {
                return Ok(RefreshOutcome::Expired);
            }
            sqlx::query(
                "INSERT INTO session_refresh_history (refresh_token, session_id, rotated_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(refresh_hash)
            .bind(session.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE sessions SET session_token = $2, refresh_token = $3, expires_at = $4, \
                 refresh_expires_at = $5, last_used_at = $6 WHERE id = $1",
            )
            .bind(session.id)
            .bind(&next.access_hash)
            .bind(&next.refresh_hash)
            .bind(next.expires_at)
            .bind(next.refresh_expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let old_access_hash = session.access_hash.clone();
            let session = SessionRecord {
                access_hash: next.access_hash.clone(),
                expires_at: next.expires_at,
                refresh_expires_at: next.refresh_expires_at,
                last_used_at: now,
                ..session
            };
            return Ok(RefreshOutcome::Rotated { session, old_access_hash });
        }
        let replayed: Option<SessionId> = sqlx::query_scalar(
            "SELECT session_id FROM session_refresh_history WHERE refresh_token = $1",
        )
        .bind(refresh_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(session_id) = replayed else {
            return Ok(RefreshOutcome::Unknown);
        };
        // The session may have been deleted concurrently (logout): then there is nothing left
        // to revoke and the token is simply unknown.
        let revoked: Option<(String, UserId)> =
            sqlx::query_as("DELETE FROM sessions WHERE id = $1 RETURNING session_token, user_id")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        let Some((access_hash, user_id)) = revoked else {
            return Ok(RefreshOutcome::Unknown);
        };
        Ok(RefreshOutcome::Reused { user_id, session_id, access_hash })
    }

    async fn session_exists(&self, session_id: SessionId) -> Result<bool, StoreError> {
        let found: Option<SessionId> = sqlx::query_scalar("SELECT id FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(found.is_some())
    }

    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(&self.read).await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_session(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<Option<String>, StoreError> {
        let hash: Option<String> = sqlx::query_scalar(
            "DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING session_token",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&self.write)
        .await?;
        Ok(hash)
    }

    async fn touch_session(
        &self,
        session_id: SessionId,
        device_id: DeviceId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE devices SET last_active_at = $2 WHERE id = $1")
            .bind(device_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE user_profiles SET last_seen_at = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE refresh_expires_at <= $1")
            .bind(now)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(deleted)
    }
}
