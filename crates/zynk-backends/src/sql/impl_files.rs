// Encrypted files and their resumable uploads (included into each engine module).

use crate::files::{CreateFileOutcome, FilePart, FileRecord, FileStatus, NewFile};
use zynk_proto::FileId;

const FILE_COLUMNS: &str = "id, uploader_id, conversation_id, file_size, storage_path, \
     content_hash, status, part_size, uploaded_bytes, upload_id, hash_state, expires_at, \
     created_at, updated_at, completed_at, deleted_at";

fn file_from_row(row: &DbRow) -> Result<FileRecord, StoreError> {
    Ok(FileRecord {
        id: row.try_get("id")?,
        uploader_id: row.try_get("uploader_id")?,
        conversation_id: row.try_get("conversation_id")?,
        file_size: row.try_get("file_size")?,
        storage_path: row.try_get("storage_path")?,
        content_hash: row.try_get("content_hash")?,
        status: vocabulary_column::<FileStatus>(row, "files", "status")?,
        part_size: row.try_get("part_size")?,
        uploaded_bytes: row.try_get("uploaded_bytes")?,
        upload_id: row.try_get("upload_id")?,
        hash_state: row.try_get("hash_state")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// What counts against a user's quota: every file not deleted.
const USAGE_SQL: &str =
    "SELECT COALESCE(SUM(file_size), 0) FROM files WHERE uploader_id = $1 AND deleted_at IS NULL";

async fn usage_in<'c, E>(executor: E, user_id: UserId) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast back.
    let sql = match DIALECT {
        super::Dialect::Sqlite => USAGE_SQL.to_owned(),
        super::Dialect::Postgres => {
            USAGE_SQL.replace("COALESCE(SUM(file_size), 0)", "COALESCE(SUM(file_size), 0)::BIGINT")
        }
    };
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_one(executor)
        .await?)
}

#[async_trait]
impl FileStore for SqlStore {
    async fn create_file(
        &self,
        file: &NewFile,
        quota_bytes: i64,
        now: DateTime<Utc>,
    ) -> Result<CreateFileOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if DIALECT == super::Dialect::Postgres {
            // One quota check at a time per user.
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(file.uploader_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let used = usage_in(&mut *tx, file.uploader_id).await?;
        if used.saturating_add(file.file_size) > quota_bytes {
            return Ok(CreateFileOutcome::OverQuota { used });
        }
        sqlx::query(
            "INSERT INTO files (id, uploader_id, conversation_id, file_size, storage_path, \
             content_hash, status, part_size, uploaded_bytes, upload_id, hash_state, expires_at, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'uploading', $7, 0, $8, $9, \
             $10, $11, $11)",
        )
        .bind(file.id)
        .bind(file.uploader_id)
        .bind(file.conversation_id)
        .bind(file.file_size)
        .bind(&file.storage_path)
        .bind(&file.content_hash)
        .bind(file.part_size)
        .bind(&file.upload_id)
        .bind(&file.hash_state)
        .bind(file.expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CreateFileOutcome::Created)
    }

    async fn get_file(&self, file_id: FileId) -> Result<Option<FileRecord>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(file_id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(file_from_row)
            .transpose()
    }

    async fn file_usage(&self, user_id: UserId) -> Result<i64, StoreError> {
        usage_in(&self.read, user_id).await
    }

    async fn record_file_part(
        &self,
        file_id: FileId,
        part: &FilePart,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE files SET uploaded_bytes = $3, hash_state = $4, updated_at = $5 \
             WHERE id = $1 AND uploaded_bytes = $2 AND status = 'uploading' \
             AND deleted_at IS NULL AND $3 <= file_size",
        )
        .bind(file_id)
        .bind(part.from_offset)
        .bind(part.to_offset)
        .bind(&part.hash_state)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !moved {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO file_upload_parts (file_id, part_number, part_id) VALUES ($1, $2, $3) \
             ON CONFLICT (file_id, part_number) DO UPDATE SET part_id = excluded.part_id",
        )
        .bind(file_id)
        .bind(i64::from(part.part_number))
        .bind(&part.part_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn file_parts(&self, file_id: FileId) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT part_id FROM file_upload_parts WHERE file_id = $1 ORDER BY part_number",
        )
        .bind(file_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn complete_file(
        &self,
        file_id: FileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE files SET status = 'complete', upload_id = NULL, hash_state = NULL, \
             completed_at = $2, updated_at = $2 WHERE id = $1 AND status = 'uploading' \
             AND uploaded_bytes = file_size AND deleted_at IS NULL",
        )
        .bind(file_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if done {
            sqlx::query("DELETE FROM file_upload_parts WHERE file_id = $1")
                .bind(file_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(done)
    }

    async fn soft_delete_file(
        &self,
        file_id: FileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE files SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(file_id)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected()
            > 0)
    }

    async fn remove_file(&self, file_id: FileId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM file_upload_parts WHERE file_id = $1")
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(file_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(removed)
    }

    async fn files_to_remove(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE (expires_at IS NOT NULL AND expires_at <= $1) \
             OR deleted_at IS NOT NULL OR (status = 'uploading' AND updated_at < $2) \
             ORDER BY created_at, id LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(stale_before)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(file_from_row)
            .collect()
    }

    async fn all_files(&self) -> Result<Vec<FileRecord>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files ORDER BY created_at, id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(file_from_row)
            .collect()
    }
}
