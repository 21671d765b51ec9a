//! Encrypted files: starting a resumable upload, its state, and a file's public facts. The
//! server sees ciphertext only: its size and SHA-256, never the name, type, key or content,
//! which travel inside the end-to-end-encrypted message that announces the file.
//!
//! Routes (see docs/api.md): `POST /api/v1/files` starts an upload; `PATCH
//! /api/v1/files/{file_id}/upload` with `Upload-Offset` appends bytes; `GET
//! /api/v1/files/{file_id}` reads the state; `GET /api/v1/files/{file_id}/content` downloads
//! (with `Range`); `DELETE /api/v1/files/{file_id}` deletes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, FileId, UserId};

/// The request header naming where the bytes of a `PATCH` start, and the response header
/// naming where the server's copy of the upload ends.
pub const UPLOAD_OFFSET_HEADER: &str = "upload-offset";
/// The media type of a `PATCH` body.
pub const UPLOAD_CONTENT_TYPE: &str = "application/offset+octet-stream";
/// Shortest expiry a file may be given, in seconds (1 hour).
pub const MIN_EXPIRY_SECS: u64 = 3600;
/// Longest expiry a file may be given, in seconds (30 days).
pub const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;

/// `POST /api/v1/files`: starts the upload of an encrypted file to a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateFileRequest {
    /// The conversation whose participants may read the file (the caller must be one).
    pub conversation_id: ConversationId,
    /// Size of the ciphertext in bytes.
    pub size: u64,
    /// SHA-256 of the ciphertext, 64 lowercase hex digits: checked once every byte arrived.
    pub sha256: String,
    /// Seconds until the file expires (3600-2592000); absent: it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Bytes are still expected; continue at `offset`.
    Uploading,
    /// Every byte arrived and matched the declared size and hash.
    Complete,
}

/// A file as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileInfo {
    /// The file id.
    pub file_id: FileId,
    /// Its conversation.
    pub conversation_id: Option<ConversationId>,
    /// Who uploads or uploaded it.
    pub uploader_id: UserId,
    /// Ciphertext size in bytes.
    pub size: u64,
    /// SHA-256 of the ciphertext (hex).
    pub sha256: String,
    /// Upload state.
    pub status: FileStatus,
    /// Bytes the server has stored: where the upload continues (equal to `size` once complete).
    pub offset: u64,
    /// Every `PATCH` body but the last must be a whole number of parts of this size; a body's
    /// trailing bytes short of a whole part (unless they end the file) are not stored.
    pub part_size: u64,
    /// When the file expires (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the upload started.
    pub created_at: DateTime<Utc>,
    /// When the upload completed.
    pub completed_at: Option<DateTime<Utc>>,
}
