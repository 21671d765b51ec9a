// Accounts, profiles and privacy (included into each engine module).

fn user_from_row(row: &DbRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn profile_from_row(row: &DbRow) -> Result<ProfileRecord, StoreError> {
    let privacy: sqlx::types::Json<Privacy> =
        row.try_get("privacy_settings").map_err(|e| corrupt("privacy_settings", e))?;
    Ok(ProfileRecord {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        public_key: row.try_get("public_key")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        bio: row.try_get("bio")?,
        last_seen_at: row.try_get("last_seen_at")?,
        privacy: privacy.0,
        updated_at: row.try_get("updated_at")?,
    })
}

const USER_COLUMNS: &str = "id, username, password_hash, public_key, created_at, updated_at";

const PROFILE_SELECT: &str = "SELECT p.user_id, u.username, u.public_key, p.display_name, \
     p.avatar_url, p.bio, p.last_seen_at, p.privacy_settings, p.updated_at \
     FROM user_profiles p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1";

/// Maps a unique violation on registration to the error the caller acts on.
fn account_conflict(err: sqlx::Error) -> StoreError {
    match violated_unique(&err) {
        Some(name) if name.contains("username") => StoreError::UsernameTaken,
        Some(name) if name.contains("fingerprint") => StoreError::FingerprintTaken,
        _ => StoreError::Database(err),
    }
}

async fn insert_device(
    tx: &mut Transaction<'static, Db>,
    user_id: UserId,
    device: &NewDevice,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO devices (id, user_id, device_name, device_fingerprint, public_key, platform, \
         last_active_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(device.id)
    .bind(user_id)
    .bind(&device.name)
    .bind(&device.fingerprint)
    .bind(&device.public_key)
    .bind(&device.platform)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(account_conflict)?;
    Ok(())
}

async fn insert_session(
    tx: &mut Transaction<'static, Db>,
    user_id: UserId,
    device_id: DeviceId,
    session: &NewSession,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, device_id, session_token, refresh_token, expires_at, \
         refresh_expires_at, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(session.id)
    .bind(user_id)
    .bind(device_id)
    .bind(&session.tokens.access_hash)
    .bind(&session.tokens.refresh_hash)
    .bind(session.tokens.expires_at)
    .bind(session.tokens.refresh_expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_account(
        &self,
        account: &NewAccount,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, public_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(account.user_id)
        .bind(&account.username)
        .bind(&account.password_hash)
        .bind(&account.public_key)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(account_conflict)?;
        sqlx::query(
            "INSERT INTO user_profiles (user_id, privacy_settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(account.user_id)
        .bind(sqlx::types::Json(Privacy::default()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let identity = &account.identity;
        sqlx::query(
            "INSERT INTO blockchain_identities (did, user_id, public_key, trust_score, is_verified, \
             created_at, updated_at) VALUES ($1, $2, $3, 50, $4, $5, $5)",
        )
        .bind(&identity.did)
        .bind(account.user_id)
        .bind(&account.public_key)
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let pending = PendingTx {
            transaction: identity.transaction.clone(),
            user_id: Some(account.user_id),
            related_entity_id: Some(account.user_id.as_uuid()),
        };
        insert_pending_tx(&mut tx, &pending, now).await?;
        insert_device(&mut tx, account.user_id, &account.device, now).await?;
        insert_session(&mut tx, account.user_id, account.device.id, &account.session, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(username).fetch_optional(&self.read).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, user_id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_optional(&self.read).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(
        &self,
        user_id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn get_profile(&self, user_id: UserId) -> Result<Option<ProfileRecord>, StoreError> {
        let row = sqlx::query(PROFILE_SELECT).bind(user_id).fetch_optional(&self.read).await?;
        row.as_ref().map(profile_from_row).transpose()
    }

    async fn update_profile(
        &self,
        user_id: UserId,
        changes: &ProfileChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let mut tx = self.begin().await?;
        // Each field is replaced only when its "change" flag is set.
        let updated = sqlx::query(
            "UPDATE user_profiles SET \
             display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
             avatar_url = CASE WHEN $4 THEN $5 ELSE avatar_url END, \
             bio = CASE WHEN $6 THEN $7 ELSE bio END, \
             updated_at = $8 WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(changes.display_name.is_some())
        .bind(changes.display_name.clone().flatten())
        .bind(changes.avatar_url.is_some())
        .bind(changes.avatar_url.clone().flatten())
        .bind(changes.bio.is_some())
        .bind(changes.bio.clone().flatten())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let row = sqlx::query(PROFILE_SELECT).bind(user_id).fetch_one(&mut *tx).await?;
        let profile = profile_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(profile))
    }

    async fn set_privacy(
        &self,
        user_id: UserId,
        privacy: &Privacy,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE user_profiles SET privacy_settings = $2, updated_at = $3 WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(sqlx::types::Json(privacy))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let row = sqlx::query(PROFILE_SELECT).bind(user_id).fetch_one(&mut *tx).await?;
        let profile = profile_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(profile))
    }

    async fn delete_user(&self, user_id: UserId) -> Result<Option<RevokedAccessHashes>, StoreError> {
        let mut tx = self.begin().await?;
        // Lock the user row first so no session can be added while we collect them.
        let lock = match DIALECT {
            super::Dialect::Postgres => "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            super::Dialect::Sqlite => "SELECT id FROM users WHERE id = $1",
        };
        if sqlx::query(lock).bind(user_id).fetch_optional(&mut *tx).await?.is_none() {
            return Ok(None);
        }
        let hashes: Vec<String> =
            sqlx::query_scalar("SELECT session_token FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        // 1:1 conversations and groups left without any participant go with the account.
        sqlx::query(
            "DELETE FROM conversations WHERE id IN (SELECT conversation_id FROM \
             conversation_participants WHERE user_id = $1) AND NOT EXISTS (SELECT 1 FROM \
             conversation_participants o WHERE o.conversation_id = conversations.id AND \
             o.user_id <> $1)",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(hashes))
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        now: DateTime<Utc>,
    ) -> Result<Option<RevokedAccessHashes>, StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(change.user_id)
        .bind(&change.old_hash)
        .bind(&change.new_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(backup) = &change.identity_backup {
            sqlx::query(
                "INSERT INTO identity_backups (user_id, ciphertext, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET ciphertext = excluded.ciphertext, \
                 updated_at = excluded.updated_at",
            )
            .bind(change.user_id)
            .bind(backup)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let revoked: Vec<String> = match change.keep_only_session {
            Some(keep) => {
                sqlx::query_scalar(
                    "DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING session_token",
                )
                .bind(change.user_id)
                .bind(keep)
                .fetch_all(&mut *tx)
                .await?
            }
            None => Vec::new(),
        };
        tx.commit().await?;
        Ok(Some(revoked))
    }
}
