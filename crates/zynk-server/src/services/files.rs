//! Encrypted files: resumable uploads checked against their declared size and SHA-256, ranged
//! downloads for the participants of the file's conversation, deletion by the uploader, the
//! per-user quota and per-file limit, and the lifecycle jobs (expired, deleted and abandoned
//! files removed; orphans found and removed).
//!
//! An upload is cut into parts of `files.part_bytes` (the last may be shorter). A part is
//! written to the blob store, then recorded in the database with the new offset and the
//! SHA-256 state after it, in one compare-and-set: the database's offset is the server's word
//! on where the upload continues, after a restart of either side. Bytes of a request short of a
//! whole part (unless they end the file) are not stored. Once the last byte is stored the hash
//! is compared with the declared one: a mismatch drops the upload and its row.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use futures::{Stream, StreamExt};
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest, Sha256};
use zynk_backends::blob::{BlobError, BlobStream};
use zynk_backends::files::{CreateFileOutcome, FilePart, FileRecord, FileStatus, NewFile};
use zynk_proto::files::{
    CreateFileRequest, FileInfo, FileStatus as WireStatus, MAX_EXPIRY_SECS, MIN_EXPIRY_SECS,
};
use zynk_proto::{ErrorCode, FileId, UserId};

use super::auth::AuthContext;
use super::contacts::{ContactService, SendGate};
use crate::context::Context;
use crate::error::ApiError;

/// Most files handled per run of the cleanup job.
const CLEANUP_BATCH: u32 = 500;
/// Staging files of the local store older than this with no row are orphans.
const STAGING_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Files and their uploads.
#[derive(Clone)]
pub struct FileService {
    context: Arc<Context>,
    /// One upload request at a time per file on this node (the database's compare-and-set
    /// settles races between nodes).
    locks: Arc<DashMap<FileId, Arc<tokio::sync::Mutex<()>>>>,
}

/// What one run of the cleanup job removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupRun {
    /// Expired files.
    pub expired: u64,
    /// Files their uploader deleted.
    pub deleted: u64,
    /// Uploads never finished.
    pub abandoned: u64,
}

/// What one orphan check removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrphanRun {
    /// Blobs without a row.
    pub blobs: u64,
    /// Rows of complete files without a blob.
    pub rows: u64,
    /// Staging files of uploads without a row.
    pub uploads: u64,
}

/// A download: the file, the byte range served, and the bytes.
pub struct Download {
    /// The file.
    pub file: FileInfo,
    /// The range served (the whole file without `Range`).
    pub range: Range<u64>,
    /// Whether a range was asked for.
    pub partial: bool,
    /// The bytes.
    pub body: BlobStream,
}

fn blob_error(err: BlobError) -> ApiError {
    match err {
        BlobError::NotFound(_) => ApiError::new(ErrorCode::FileGone, "the file's data is gone"),
        BlobError::InvalidRange(why) => ApiError::new(ErrorCode::RangeNotSatisfiable, why),
        other => ApiError::unavailable(&other),
    }
}

fn to_wire(file: &FileRecord) -> FileInfo {
    FileInfo {
        file_id: file.id,
        conversation_id: file.conversation_id,
        uploader_id: file.uploader_id,
        size: file.file_size as u64,
        sha256: file.content_hash.clone(),
        status: match file.status {
            FileStatus::Uploading => WireStatus::Uploading,
            FileStatus::Complete => WireStatus::Complete,
        },
        offset: file.uploaded_bytes as u64,
        part_size: file.part_size as u64,
        expires_at: file.expires_at,
        created_at: file.created_at,
        completed_at: file.completed_at,
    }
}

fn hash_state(hasher: &Sha256) -> Vec<u8> {
    hasher.serialize().to_vec()
}

fn restore_hash(state: Option<&[u8]>) -> Result<Sha256, ApiError> {
    let state = state.ok_or_else(|| ApiError::internal(&"unfinished upload without hash state"))?;
    let array = SerializedState::<Sha256>::try_from(state)
        .map_err(|_| ApiError::internal(&"stored hash state has the wrong length"))?;
    Sha256::deserialize(&array).map_err(|_| ApiError::internal(&"stored hash state is invalid"))
}

/// Parses a `Range` header (`bytes=A-B`, `bytes=A-`, `bytes=-N`; one range) against a file of
/// `size` bytes.
pub fn parse_range(header: &str, size: u64) -> Result<Range<u64>, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::RangeNotSatisfiable,
            format!("unsupported or unsatisfiable range {header:?} for a {size}-byte file"),
        )
    };
    let spec = header.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(bad());
    }
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| bad())?;
        if suffix == 0 {
            return Err(bad());
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| bad())?;
        let end: u64 = if end.is_empty() {
            size
        } else {
            end.parse::<u64>()
                .map_err(|_| bad())?
                .saturating_add(1)
                .min(size)
        };
        start..end
    };
    if range.start >= range.end || range.start >= size {
        return Err(bad());
    }
    Ok(range)
}

impl FileService {
    /// The service over the shared context.
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            locks: Arc::new(DashMap::new()),
        }
    }

    /// Whether `user` participates in the file's conversation (read from the store, not the
    /// participant cache, so a removed member loses access at once).
    async fn participates(&self, file: &FileRecord, user: UserId) -> Result<bool, ApiError> {
        let Some(conversation) = file.conversation_id else {
            return Ok(false);
        };
        Ok(self
            .context
            .store
            .participants(conversation)
            .await?
            .contains(&user))
    }

    /// The file as `caller` may see it: 404 unless a participant of its conversation (or its
    /// uploader), 410 once deleted or expired.
    async fn visible(&self, caller: &AuthContext, file_id: FileId) -> Result<FileRecord, ApiError> {
        let file = self
            .context
            .store
            .get_file(file_id)
            .await?
            .ok_or_else(|| ApiError::not_found("file"))?;
        if file.uploader_id != caller.user_id && !self.participates(&file, caller.user_id).await? {
            return Err(ApiError::not_found("file"));
        }
        if file.deleted_at.is_some() {
            return Err(ApiError::new(ErrorCode::FileGone, "the file was deleted"));
        }
        if file.expires_at.is_some_and(|at| at <= zynk_backends::now()) {
            return Err(ApiError::new(ErrorCode::FileGone, "the file expired"));
        }
        Ok(file)
    }

    /// Starts an upload to a conversation the caller participates in and may send into (the
    /// same gate as a message: not into the 1:1 of a user who blocked the caller, declined the
    /// caller's request or accepts only contacts).
    pub async fn create(
        &self,
        caller: &AuthContext,
        request: &CreateFileRequest,
        contacts: &ContactService,
    ) -> Result<FileInfo, ApiError> {
        let config = &self.context.config.files;
        if request.size == 0 {
            return Err(ApiError::invalid_field("size", "must be at least 1"));
        }
        if request.size > config.max_file_bytes {
            return Err(ApiError::new(
                ErrorCode::FileTooLarge,
                format!(
                    "the file is {} bytes; this server accepts at most {} bytes per file",
                    request.size, config.max_file_bytes
                ),
            ));
        }
        let hash_ok = request.sha256.len() == 64
            && request
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hash_ok {
            return Err(ApiError::invalid_field(
                "sha256",
                "must be 64 lowercase hex digits (the SHA-256 of the ciphertext)",
            ));
        }
        if let Some(secs) = request.expires_in_secs
            && !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&secs)
        {
            return Err(ApiError::invalid_field(
                "expires_in_secs",
                "must be between 3600 (1 hour) and 2592000 (30 days), or absent for no expiry",
            ));
        }
        let participants = self
            .context
            .store
            .participants(request.conversation_id)
            .await?;
        if !participants.contains(&caller.user_id) {
            return Err(ApiError::not_found("conversation"));
        }
        if let SendGate::Refused(error) = contacts
            .send_gate(request.conversation_id, caller.user_id, &participants)
            .await?
        {
            return Err(error);
        }
        let now = zynk_backends::now();
        let id = FileId::new_v7();
        let storage_path = format!("files/{id}");
        let upload_id = self
            .context
            .blobs
            .begin_upload(&storage_path)
            .await
            .map_err(blob_error)?;
        let file = NewFile {
            id,
            uploader_id: caller.user_id,
            conversation_id: request.conversation_id,
            file_size: request.size as i64,
            content_hash: request.sha256.clone(),
            part_size: config.part_bytes as i64,
            storage_path: storage_path.clone(),
            upload_id: upload_id.clone(),
            hash_state: hash_state(&Sha256::new()),
            expires_at: request
                .expires_in_secs
                .map(|secs| now + chrono::Duration::seconds(secs as i64)),
        };
        let outcome = self
            .context
            .store
            .create_file(&file, config.quota_bytes as i64, now)
            .await;
        match outcome {
            Ok(CreateFileOutcome::Created) => {}
            Ok(CreateFileOutcome::OverQuota { used }) => {
                self.abort_quietly(&storage_path, &upload_id).await;
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "your files take {used} of your {} bytes; this one needs {} more",
                        config.quota_bytes, request.size
                    ),
                ));
            }
            Err(e) => {
                self.abort_quietly(&storage_path, &upload_id).await;
                return Err(e.into());
            }
        }
        let stored = self
            .context
            .store
            .get_file(id)
            .await?
            .ok_or_else(|| ApiError::internal(&"file row vanished after insert"))?;
        Ok(to_wire(&stored))
    }

    async fn abort_quietly(&self, key: &str, upload: &str) {
        if let Err(e) = self.context.blobs.abort_upload(key, upload).await {
            tracing::warn!(error = %e, "could not abort a blob upload");
        }
    }

    /// The file's state, for participants (and the uploader).
    pub async fn info(&self, caller: &AuthContext, file_id: FileId) -> Result<FileInfo, ApiError> {
        Ok(to_wire(&self.visible(caller, file_id).await?))
    }

    /// Appends `body` to the caller's upload at `offset` (which must be where the server's copy
    /// ends), in whole parts; completes the file when its last byte is stored. Returns the new
    /// state (its `offset` is where to continue).
    pub async fn append<S, E>(
        &self,
        caller: &AuthContext,
        file_id: FileId,
        offset: u64,
        content_length: Option<u64>,
        body: S,
    ) -> Result<FileInfo, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let lock = self
            .locks
            .entry(file_id)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _guard = lock.lock().await;
        let result = self
            .append_locked(caller, file_id, offset, content_length, body)
            .await;
        drop(_guard);
        self.locks
            .remove_if(&file_id, |_, l| Arc::strong_count(l) <= 2);
        result
    }

    async fn append_locked<S, E>(
        &self,
        caller: &AuthContext,
        file_id: FileId,
        offset: u64,
        content_length: Option<u64>,
        mut body: S,
    ) -> Result<FileInfo, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let file = self.visible(caller, file_id).await?;
        if file.uploader_id != caller.user_id {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only the uploader writes a file",
            ));
        }
        if file.status == FileStatus::Complete {
            return Err(ApiError::new(
                ErrorCode::UploadComplete,
                "the upload is complete already",
            ));
        }
        let size = file.file_size as u64;
        let mut position = file.uploaded_bytes as u64;
        if offset != position {
            return Err(ApiError::new(
                ErrorCode::UploadOffsetMismatch,
                format!("the upload continues at byte {position}, not {offset}"),
            ));
        }
        if content_length.is_some_and(|len| offset.saturating_add(len) > size) {
            return Err(ApiError::new(
                ErrorCode::UploadExceedsSize,
                format!("bytes {offset}.. of this length go past the declared size of {size}"),
            ));
        }
        let upload_id = file
            .upload_id
            .clone()
            .ok_or_else(|| ApiError::internal(&"unfinished upload without an upload handle"))?;
        let part_size = file.part_size as u64;
        let mut hasher = restore_hash(file.hash_state.as_deref())?;
        let mut part: Vec<Bytes> = Vec::new();
        let mut part_len: u64 = 0;
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    // The client went away: what is stored stays stored.
                    tracing::debug!(error = %e, "upload body ended early");
                    break;
                }
                None => break,
            };
            if position + part_len + chunk.len() as u64 > size {
                return Err(ApiError::new(
                    ErrorCode::UploadExceedsSize,
                    format!("the bytes sent go past the declared size of {size}"),
                ));
            }
            let mut chunk = chunk;
            while !chunk.is_empty() {
                let room = (part_size - part_len) as usize;
                let take = chunk.split_to(room.min(chunk.len()));
                part_len += take.len() as u64;
                part.push(take);
                if part_len == part_size {
                    position = self
                        .store_part(
                            &file,
                            &upload_id,
                            position,
                            std::mem::take(&mut part),
                            &mut hasher,
                        )
                        .await?;
                    part_len = 0;
                }
            }
        }
        if part_len > 0 && position + part_len == size {
            position = self
                .store_part(&file, &upload_id, position, part, &mut hasher)
                .await?;
        }
        if position == size {
            self.finish(&file, &upload_id, hasher).await?;
        }
        let stored = self
            .context
            .store
            .get_file(file_id)
            .await?
            .ok_or_else(|| ApiError::not_found("file"))?;
        Ok(to_wire(&stored))
    }

    /// Writes one part at `position` and records it; returns the new offset.
    async fn store_part(
        &self,
        file: &FileRecord,
        upload_id: &str,
        position: u64,
        data: Vec<Bytes>,
        hasher: &mut Sha256,
    ) -> Result<u64, ApiError> {
        let len: u64 = data.iter().map(|b| b.len() as u64).sum();
        let index = (position / file.part_size as u64) as u32;
        for chunk in &data {
            hasher.update(chunk);
        }
        let part_id = self
            .context
            .blobs
            .put_part(&file.storage_path, upload_id, index, position, data)
            .await
            .map_err(blob_error)?;
        let part = FilePart {
            part_number: index,
            part_id,
            from_offset: position as i64,
            to_offset: (position + len) as i64,
            hash_state: hash_state(hasher),
        };
        if !self
            .context
            .store
            .record_file_part(file.id, &part, zynk_backends::now())
            .await?
        {
            return Err(ApiError::new(
                ErrorCode::UploadOffsetMismatch,
                "another request moved this upload meanwhile; read its offset and continue there",
            ));
        }
        Ok(position + len)
    }

    /// Checks the hash of a fully stored upload and completes it, or drops it.
    async fn finish(
        &self,
        file: &FileRecord,
        upload_id: &str,
        hasher: Sha256,
    ) -> Result<(), ApiError> {
        let digest = hex::encode(hasher.finalize());
        if digest != file.content_hash {
            self.abort_quietly(&file.storage_path, upload_id).await;
            self.context.store.remove_file(file.id).await?;
            return Err(ApiError::new(
                ErrorCode::FileHashMismatch,
                format!(
                    "the uploaded bytes have SHA-256 {digest}, not the declared {}; the upload was discarded",
                    file.content_hash
                ),
            ));
        }
        let parts = self.context.store.file_parts(file.id).await?;
        if let Err(e) = self
            .context
            .blobs
            .complete_upload(&file.storage_path, upload_id, &parts)
            .await
        {
            // Completed by an earlier request that stopped before recording it: the blob is
            // there, whole.
            let size = self
                .context
                .blobs
                .size(&file.storage_path)
                .await
                .map_err(blob_error)?;
            if size != Some(file.file_size as u64) {
                return Err(blob_error(e));
            }
        }
        if self
            .context
            .store
            .complete_file(file.id, zynk_backends::now())
            .await?
        {
            self.context.analytics.record(
                file.uploader_id,
                crate::services::analytics::EventKind::FileUploaded,
            );
        }
        Ok(())
    }

    /// Opens a complete file (or a range of it) for a participant.
    pub async fn download(
        &self,
        caller: &AuthContext,
        file_id: FileId,
        range: Option<&str>,
    ) -> Result<Download, ApiError> {
        let file = self.visible(caller, file_id).await?;
        if file.status != FileStatus::Complete {
            return Err(ApiError::new(
                ErrorCode::FileNotReady,
                "the file's upload has not completed yet",
            ));
        }
        let size = file.file_size as u64;
        let (range, partial) = match range {
            Some(header) => (parse_range(header, size)?, true),
            None => (0..size, false),
        };
        let body = self
            .context
            .blobs
            .get(&file.storage_path, partial.then(|| range.clone()))
            .await
            .map_err(blob_error)?;
        Ok(Download {
            file: to_wire(&file),
            range,
            partial,
            body,
        })
    }

    /// Soft-deletes the caller's file (the cleanup job removes its bytes and row).
    pub async fn delete(&self, caller: &AuthContext, file_id: FileId) -> Result<(), ApiError> {
        let file = self.visible(caller, file_id).await?;
        if file.uploader_id != caller.user_id {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only the uploader deletes a file",
            ));
        }
        if !self
            .context
            .store
            .soft_delete_file(file_id, zynk_backends::now())
            .await?
        {
            return Err(ApiError::new(ErrorCode::FileGone, "the file was deleted"));
        }
        Ok(())
    }

    /// Removes expired files, deleted files and uploads not continued for
    /// `files.unfinished_upload_secs`, from storage and database.
    pub async fn cleanup(&self) -> Result<CleanupRun, ApiError> {
        let mut run = CleanupRun::default();
        let unfinished =
            chrono::Duration::seconds(self.context.config.files.unfinished_upload_secs as i64);
        loop {
            let now = zynk_backends::now();
            let due = self
                .context
                .store
                .files_to_remove(now, now - unfinished, CLEANUP_BATCH)
                .await?;
            for file in &due {
                if let Some(upload) = &file.upload_id {
                    // An upload aborted before (a run cut short) may answer with an error.
                    self.abort_quietly(&file.storage_path, upload).await;
                }
                self.context
                    .blobs
                    .delete(&file.storage_path)
                    .await
                    .map_err(blob_error)?;
                if self.context.store.remove_file(file.id).await? {
                    if file.deleted_at.is_some() {
                        run.deleted += 1;
                    } else if file.expires_at.is_some_and(|at| at <= now) {
                        run.expired += 1;
                    } else {
                        run.abandoned += 1;
                    }
                }
            }
            if due.len() < CLEANUP_BATCH as usize {
                return Ok(run);
            }
        }
    }

    /// Finds and removes orphans: blobs without a row, rows of complete files without a blob,
    /// and the local store's staging files of uploads without a row.
    pub async fn remove_orphans(&self) -> Result<OrphanRun, ApiError> {
        let mut run = OrphanRun::default();
        let store = &self.context.store;
        let blobs = &self.context.blobs;
        // Rows read before the listing: a file completed after it is not taken for an orphan.
        let rows_before = store.all_files().await?;
        let listed = blobs.list().await.map_err(blob_error)?;
        let uploads = blobs.list_uploads().await.map_err(blob_error)?;
        // Rows read after the listing: a blob listed was written after its row.
        let rows_after = store.all_files().await?;
        let keys: HashSet<&str> = listed.iter().map(|b| b.key.as_str()).collect();
        let paths: HashSet<&str> = rows_after.iter().map(|f| f.storage_path.as_str()).collect();
        let handles: HashSet<&str> = rows_after
            .iter()
            .filter_map(|f| f.upload_id.as_deref())
            .collect();
        for blob in &listed {
            if !paths.contains(blob.key.as_str()) {
                blobs.delete(&blob.key).await.map_err(blob_error)?;
                run.blobs += 1;
            }
        }
        for file in &rows_before {
            if file.status == FileStatus::Complete
                && !keys.contains(file.storage_path.as_str())
                && store.remove_file(file.id).await?
            {
                run.rows += 1;
            }
        }
        let cutoff = zynk_backends::now() - STAGING_GRACE;
        for (key, handle, modified) in &uploads {
            if !handles.contains(handle.as_str()) && *modified < cutoff {
                self.abort_quietly(key, handle).await;
                run.uploads += 1;
            }
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_against_the_size() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), 0..10);
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), 90..100);
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), 90..100);
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), 50..100);
        for bad in [
            "bytes=100-",
            "bytes=5-4",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=x-",
        ] {
            assert!(parse_range(bad, 100).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_state_survives_a_round_trip() {
        let mut hasher = Sha256::new();
        hasher.update(b"first part");
        let restored = restore_hash(Some(&hash_state(&hasher))).unwrap();
        let mut a = hasher;
        let mut b = restored;
        a.update(b"second");
        b.update(b"second");
        assert_eq!(a.finalize(), b.finalize());
        assert!(restore_hash(Some(b"short")).is_err());
    }
}
