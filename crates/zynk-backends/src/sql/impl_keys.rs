// Identity backups, device keys, one-time keys and the to-device inbox (included into each
// engine module).

fn to_device_from_row(row: &DbRow) -> Result<ToDeviceRecord, StoreError> {
    let content: sqlx::types::Json<serde_json::Value> =
        row.try_get("content").map_err(|e| corrupt("to_device content", e))?;
    Ok(ToDeviceRecord {
        id: row.try_get("id")?,
        recipient_device_id: row.try_get("recipient_device_id")?,
        sender_user_id: row.try_get("sender_user_id")?,
        sender_device_id: row.try_get("sender_device_id")?,
        event_type: row.try_get("event_type")?,
        content: content.0,
        created_at: row.try_get("created_at")?,
    })
}

async fn stock_in<'e, E>(executor: E, device_id: DeviceId) -> Result<KeyStock, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM device_one_time_keys WHERE device_id = $1) AS otk, \
         (SELECT COUNT(*) FROM device_fallback_keys WHERE device_id = $1) AS fallback, \
         (SELECT COUNT(*) FROM device_keys WHERE device_id = $1) AS bundle",
    )
    .bind(device_id)
    .fetch_one(executor)
    .await?;
    let otk: i64 = row.try_get("otk")?;
    let fallback: i64 = row.try_get("fallback")?;
    let bundle: i64 = row.try_get("bundle")?;
    Ok(KeyStock {
        one_time_keys: u64::try_from(otk).unwrap_or(0),
        fallback_key: fallback > 0,
        device_keys: bundle > 0,
    })
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn put_identity_backup(
        &self,
        user_id: UserId,
        ciphertext: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO identity_backups (user_id, ciphertext, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(ciphertext)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_identity_backup(&self, user_id: UserId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT ciphertext FROM identity_backups WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn upload_keys(
        &self,
        device_id: DeviceId,
        bundle: Option<&serde_json::Value>,
        one_time_keys: &[StoredKey],
        fallback_key: Option<&StoredKey>,
        max_one_time_keys: u64,
        now: DateTime<Utc>,
    ) -> Result<KeyUpload, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(bundle) = bundle {
            // Concurrent first uploads: one inserts, the others compare with what it stored.
            sqlx::query(
                "INSERT INTO device_keys (device_id, key_bundle, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (device_id) DO NOTHING",
            )
            .bind(device_id)
            .bind(sqlx::types::Json(bundle))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let stored: sqlx::types::Json<serde_json::Value> =
                sqlx::query_scalar("SELECT key_bundle FROM device_keys WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if &stored.0 != bundle {
                return Ok(KeyUpload::BundleConflict);
            }
        }
        for key in one_time_keys {
            sqlx::query(
                "INSERT INTO device_one_time_keys (device_id, key_id, public_key, signature, \
                 created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, key_id) DO NOTHING",
            )
            .bind(device_id)
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(&key.signature)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(key) = fallback_key {
            sqlx::query(
                "INSERT INTO device_fallback_keys (device_id, key_id, public_key, signature, \
                 created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET \
                 key_id = excluded.key_id, public_key = excluded.public_key, \
                 signature = excluded.signature, created_at = excluded.created_at",
            )
            .bind(device_id)
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(&key.signature)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let stock = stock_in(&mut *tx, device_id).await?;
        if stock.one_time_keys > max_one_time_keys {
            // Dropping the transaction rolls the whole upload back.
            return Ok(KeyUpload::TooManyKeys);
        }
        tx.commit().await?;
        Ok(KeyUpload::Stored(stock))
    }

    async fn key_stock(&self, device_id: DeviceId) -> Result<KeyStock, StoreError> {
        stock_in(&self.read, device_id).await
    }

    async fn query_keys(&self, user_ids: &[UserId]) -> Result<Vec<UserKeysRecord>, StoreError> {
        let mut users = Vec::with_capacity(user_ids.len());
        for &user_id in user_ids {
            let identity: Option<String> =
                sqlx::query_scalar("SELECT public_key FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.read)
                    .await?;
            let Some(identity_key) = identity else { continue };
            let bundles: Vec<sqlx::types::Json<serde_json::Value>> = sqlx::query_scalar(
                "SELECT k.key_bundle FROM device_keys k JOIN devices d ON d.id = k.device_id \
                 WHERE d.user_id = $1 ORDER BY d.created_at, d.id",
            )
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
            users.push(UserKeysRecord {
                user_id,
                identity_key,
                bundles: bundles.into_iter().map(|b| b.0).collect(),
            });
        }
        Ok(users)
    }

    async fn claimable_devices(
        &self,
        devices: &[(UserId, DeviceId)],
    ) -> Result<Vec<(UserId, DeviceId)>, StoreError> {
        let mut found = Vec::with_capacity(devices.len());
        for &(user_id, device_id) in devices {
            let claimable: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM devices d WHERE d.id = $1 AND d.user_id = $2 AND (EXISTS \
                 (SELECT 1 FROM device_one_time_keys k WHERE k.device_id = d.id) OR EXISTS \
                 (SELECT 1 FROM device_fallback_keys f WHERE f.device_id = d.id))",
            )
            .bind(device_id)
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?;
            if claimable.is_some() {
                found.push((user_id, device_id));
            }
        }
        Ok(found)
    }

    async fn claim_keys(&self, devices: &[(UserId, DeviceId)]) -> Result<Vec<Claimed>, StoreError> {
        // SKIP LOCKED lets concurrent claims on PostgreSQL take different keys; SQLite's single
        // writer serialises claims.
        let take_one_time = match DIALECT {
            super::Dialect::Postgres => {
                "DELETE FROM device_one_time_keys WHERE (device_id, key_id) = (SELECT device_id, \
                 key_id FROM device_one_time_keys WHERE device_id = $1 ORDER BY created_at, key_id \
                 LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING key_id, public_key, signature"
            }
            super::Dialect::Sqlite => {
                "DELETE FROM device_one_time_keys WHERE rowid = (SELECT rowid FROM \
                 device_one_time_keys WHERE device_id = $1 ORDER BY created_at, key_id LIMIT 1) \
                 RETURNING key_id, public_key, signature"
            }
        };
        let mut tx = self.begin().await?;
        let mut claimed = Vec::with_capacity(devices.len());
        for &(user_id, device_id) in devices {
            let owned: Option<DeviceId> =
                sqlx::query_scalar("SELECT id FROM devices WHERE id = $1 AND user_id = $2")
                    .bind(device_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owned.is_none() {
                continue;
            }
            let one_time: Option<(String, String, String)> = sqlx::query_as(take_one_time)
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
            let (key, fallback) = match one_time {
                Some((key_id, public_key, signature)) => {
                    (StoredKey { key_id, public_key, signature }, false)
                }
                None => {
                    let fallback: Option<(String, String, String)> = sqlx::query_as(
                        "SELECT key_id, public_key, signature FROM device_fallback_keys \
                         WHERE device_id = $1",
                    )
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((key_id, public_key, signature)) = fallback else { continue };
                    (StoredKey { key_id, public_key, signature }, true)
                }
            };
            let remaining: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM device_one_time_keys WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_one(&mut *tx)
                    .await?;
            claimed.push(Claimed {
                user_id,
                device_id,
                key,
                fallback,
                remaining: u64::try_from(remaining).unwrap_or(0),
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }
}

#[async_trait]
impl ToDeviceStore for SqlStore {
    async fn inbox_sizes(&self, devices: &[DeviceId]) -> Result<Vec<(DeviceId, u64)>, StoreError> {
        let mut sizes = Vec::new();
        for &device_id in devices {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM to_device_messages WHERE recipient_device_id = $1",
            )
            .bind(device_id)
            .fetch_one(&self.read)
            .await?;
            if count > 0 {
                sizes.push((device_id, u64::try_from(count).unwrap_or(0)));
            }
        }
        Ok(sizes)
    }

    async fn send_to_device(
        &self,
        sender_user_id: UserId,
        sender_device_id: DeviceId,
        txn_id: &str,
        event_type: &str,
        messages: &[NewToDevice],
        now: DateTime<Utc>,
    ) -> Result<ToDeviceOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let mut outcome = ToDeviceOutcome::default();
        for message in messages {
            let exists: Option<DeviceId> =
                sqlx::query_scalar("SELECT id FROM devices WHERE id = $1 AND user_id = $2")
                    .bind(message.recipient_device_id)
                    .bind(message.recipient_user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                outcome.unknown.push((message.recipient_user_id, message.recipient_device_id));
                continue;
            }
            let row = sqlx::query(
                "INSERT INTO to_device_messages (recipient_device_id, sender_user_id, \
                 sender_device_id, event_type, txn_id, content, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (sender_device_id, txn_id, recipient_device_id) DO NOTHING \
                 RETURNING id, recipient_device_id, sender_user_id, sender_device_id, event_type, \
                 content, created_at",
            )
            .bind(message.recipient_device_id)
            .bind(sender_user_id)
            .bind(sender_device_id)
            .bind(event_type)
            .bind(txn_id)
            .bind(sqlx::types::Json(&message.content))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => outcome.stored.push(to_device_from_row(&row)?),
                None => outcome.duplicates += 1,
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn to_device_inbox(
        &self,
        device_id: DeviceId,
        since: i64,
        limit: u32,
    ) -> Result<(Vec<ToDeviceRecord>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT id, recipient_device_id, sender_user_id, sender_device_id, event_type, content, \
             created_at FROM to_device_messages WHERE recipient_device_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(device_id)
        .bind(since)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut records = rows.iter().map(to_device_from_row).collect::<Result<Vec<_>, _>>()?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        Ok((records, more))
    }

    async fn ack_to_device(&self, device_id: DeviceId, up_to: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM to_device_messages WHERE recipient_device_id = $1 AND id <= $2")
            .bind(device_id)
            .bind(up_to)
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    async fn purge_to_device_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM to_device_messages WHERE created_at < $1")
            .bind(cutoff)
            .execute(&self.write)
            .await?
            .rows_affected())
    }
}
