// Devices (included into each engine module).

fn device_from_row(row: &DbRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("device_name")?,
        fingerprint: row.try_get("device_fingerprint")?,
        public_key: row.try_get("public_key")?,
        push_token: row.try_get("push_token")?,
        platform: row.try_get("platform")?,
        last_active_at: row.try_get("last_active_at")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn login_device(
        &self,
        user_id: UserId,
        device: &NewDevice,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<DeviceId, StoreError> {
        let mut tx = self.begin().await?;
        let existing: Option<(DeviceId, UserId, String)> = sqlx::query_as(
            "SELECT id, user_id, public_key FROM devices WHERE device_fingerprint = $1",
        )
                .bind(&device.fingerprint)
                .fetch_optional(&mut *tx)
                .await?;
        let device_id = match existing {
            Some((id, owner, old_key)) if owner == user_id => {
                if old_key != device.public_key {
                    // A reinstalled device with new keys: what it published under the old key
                    // is void.
                    for table in ["device_keys", "device_one_time_keys", "device_fallback_keys"] {
                        let sql = format!("DELETE FROM {table} WHERE device_id = $1");
                        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut *tx).await?;
                    }
                }
                sqlx::query(
                    "UPDATE devices SET device_name = $2, platform = $3, public_key = $4, \
                     last_active_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(&device.name)
                .bind(&device.platform)
                .bind(&device.public_key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                id
            }
            Some(_) => return Err(StoreError::FingerprintTaken),
            None => {
                insert_device(&mut tx, user_id, device, now).await?;
                device.id
            }
        };
        insert_session(&mut tx, user_id, device_id, session, now).await?;
        tx.commit().await?;
        Ok(device_id)
    }

    async fn list_devices(&self, user_id: UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, device_name, device_fingerprint, public_key, push_token, \
             platform, last_active_at, created_at FROM devices WHERE user_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn delete_device(
        &self,
        user_id: UserId,
        device_id: DeviceId,
    ) -> Result<Option<RevokedAccessHashes>, StoreError> {
        let mut tx = self.begin().await?;
        let hashes: Vec<String> = sqlx::query_scalar(
            "SELECT session_token FROM sessions WHERE device_id = $1 AND user_id = $2",
        )
        .bind(device_id)
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(device_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((deleted > 0).then_some(hashes))
    }

    async fn push_targets(&self, user_ids: &[UserId]) -> Result<Vec<(UserId, DeviceId, String)>, StoreError> {
        let mut targets = Vec::new();
        for &user_id in user_ids {
            let rows: Vec<(UserId, DeviceId, String)> = sqlx::query_as(
                "SELECT user_id, id, push_token FROM devices WHERE user_id = $1 AND push_token IS NOT NULL",
            )
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
            targets.extend(rows);
        }
        Ok(targets)
    }

    async fn set_push_token(
        &self,
        user_id: UserId,
        device_id: DeviceId,
        push_token: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated =
            sqlx::query("UPDATE devices SET push_token = $3 WHERE id = $1 AND user_id = $2")
                .bind(device_id)
                .bind(user_id)
                .bind(push_token)
                .execute(&self.write)
                .await?
                .rows_affected();
        Ok(updated > 0)
    }
}
