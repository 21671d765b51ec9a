//! The records of [`crate::store::FileStore`]: encrypted files and their resumable uploads.
//! The server knows a file's ciphertext only: its declared size and SHA-256, where it is
//! stored, who uploaded it to which conversation, and when it expires.

use chrono::{DateTime, Utc};
use zynk_proto::{ConversationId, FileId, UserId};

/// Where a file's upload stands (`files.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Parts are still arriving.
    Uploading,
    /// Every byte arrived and the size and hash matched.
    Complete,
}

impl FileStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Uploading => "uploading",
            FileStatus::Complete => "complete",
        }
    }
}

impl std::str::FromStr for FileStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uploading" => Ok(FileStatus::Uploading),
            "complete" => Ok(FileStatus::Complete),
            other => Err(format!("unknown file status: {other:?}")),
        }
    }
}

/// A file whose upload is starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Its id.
    pub id: FileId,
    /// Who uploads it.
    pub uploader_id: UserId,
    /// The conversation whose participants may read it.
    pub conversation_id: ConversationId,
    /// Declared ciphertext size in bytes.
    pub file_size: i64,
    /// Declared SHA-256 of the ciphertext, lowercase hex.
    pub content_hash: String,
    /// Size of every upload part but the last.
    pub part_size: i64,
    /// The blob key.
    pub storage_path: String,
    /// The blob store's handle of the upload.
    pub upload_id: String,
    /// The SHA-256 state of zero bytes.
    pub hash_state: Vec<u8>,
    /// When it expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Its id.
    pub id: FileId,
    /// Who uploaded it.
    pub uploader_id: UserId,
    /// Its conversation (`None` once the conversation is gone).
    pub conversation_id: Option<ConversationId>,
    /// Declared ciphertext size in bytes.
    pub file_size: i64,
    /// The blob key.
    pub storage_path: String,
    /// Declared SHA-256 of the ciphertext, lowercase hex.
    pub content_hash: String,
    /// Upload state.
    pub status: FileStatus,
    /// Size of every upload part but the last.
    pub part_size: i64,
    /// Bytes stored so far: where the upload continues.
    pub uploaded_bytes: i64,
    /// The blob store's handle of the unfinished upload.
    pub upload_id: Option<String>,
    /// The SHA-256 state after `uploaded_bytes` (unfinished uploads only).
    pub hash_state: Option<Vec<u8>>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the upload started.
    pub created_at: DateTime<Utc>,
    /// When a part was last stored (or the row changed).
    pub updated_at: DateTime<Utc>,
    /// When the upload completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When the uploader deleted it.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What [`crate::store::FileStore::create_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateFileOutcome {
    /// The row was written.
    Created,
    /// The uploader's files (not deleted, unfinished ones counted at their declared size)
    /// would exceed the quota; nothing was written.
    OverQuota {
        /// Bytes the uploader uses now.
        used: i64,
    },
}

/// One stored part of an unfinished upload, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// Its index (0-based).
    pub part_number: u32,
    /// The blob store's id of the part.
    pub part_id: String,
    /// Where the upload stood before the part (the compare-and-set value).
    pub from_offset: i64,
    /// Where it stands after.
    pub to_offset: i64,
    /// The SHA-256 state after the part.
    pub hash_state: Vec<u8>,
}
