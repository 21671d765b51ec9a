//! Encrypted blobs (files and thumbnails, ciphertext only) behind one seam, [`BlobStore`]: a
//! local directory ([`local::LocalBlobStore`], the embedded default) or S3-compatible object
//! storage ([`s3::S3BlobStore`], through `object_store`).
//!
//! Uploads are resumable and survive a restart of the server: an upload is begun once (its
//! handle is kept by the caller, in the database), then written part by part, each part at its
//! index and byte offset, and completed with the handles of every part in order. The local
//! store writes each part into one staging file at its offset; S3 stores each part as a part of
//! one multipart upload (the object store keeps the parts; the caller keeps their ids). Reads
//! and writes are streamed: memory does not grow with the size of a blob.

pub mod local;
pub mod s3;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

/// A stream of blob bytes.
pub type BlobStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// What can go wrong in a [`BlobStore`] call.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob (or no upload) under that key.
    #[error("no such blob: {0}")]
    NotFound(String),
    /// The requested range does not lie inside the blob.
    #[error("range not satisfiable: {0}")]
    InvalidRange(String),
    /// The storage URL or settings are invalid.
    #[error("invalid blob storage configuration: {0}")]
    Config(String),
    /// The storage failed or is unreachable.
    #[error("blob storage error: {0}")]
    Storage(String),
}

impl From<std::io::Error> for BlobError {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            BlobError::NotFound(err.to_string())
        } else {
            BlobError::Storage(err.to_string())
        }
    }
}

/// One stored blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: DateTime<Utc>,
}

/// Storage of finished blobs and of resumable uploads.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// `local` or `s3`.
    fn kind(&self) -> &'static str;

    /// Starts an upload that will become the blob `key`; returns its handle (kept by the
    /// caller to write parts and complete or abort it, after a restart too).
    async fn begin_upload(&self, key: &str) -> Result<String, BlobError>;

    /// Writes part `index` (0-based) of an upload, which starts at byte `offset` of the blob.
    /// Every part but the last must have the same size, at least 5 MiB (S3's rule). Writing a
    /// part again replaces it. Returns the part's handle, once the part is durable.
    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        index: u32,
        offset: u64,
        data: Vec<Bytes>,
    ) -> Result<String, BlobError>;

    /// Makes the upload's parts (their handles, in order) the blob `key`.
    async fn complete_upload(
        &self,
        key: &str,
        upload: &str,
        parts: &[String],
    ) -> Result<(), BlobError>;

    /// Drops an unfinished upload and its parts (no error if it is gone already).
    async fn abort_upload(&self, key: &str, upload: &str) -> Result<(), BlobError>;

    /// Streams the blob, or the bytes `range` of it.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobStream, BlobError>;

    /// The blob's size, or `None` if there is no such blob.
    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError>;

    /// Deletes the blob (no error if it is gone already).
    async fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Every finished blob.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError>;

    /// Unfinished uploads this store can see without the caller's handles (the local store's
    /// staging files; S3 keeps them out of listings): `(key, handle, last written)`.
    async fn list_uploads(&self) -> Result<Vec<(String, String, DateTime<Utc>)>, BlobError>;
}

/// Opens the blob store named by `url`: `file:///ABSOLUTE/PATH` (or a bare path) for a local
/// directory, `s3://ACCESS_KEY:SECRET_KEY@HOST[:PORT]/BUCKET` (HTTPS) or
/// `s3+http://ACCESS_KEY:SECRET_KEY@HOST[:PORT]/BUCKET` (plain HTTP, e.g. a server on
/// loopback) for S3-compatible storage, with an optional `?region=NAME` (default `us-east-1`).
/// Keys left out of an S3 URL are read from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
pub async fn open(url: &str) -> Result<Arc<dyn BlobStore>, BlobError> {
    if let Some(rest) = url.strip_prefix("s3+http://") {
        return Ok(Arc::new(s3::S3BlobStore::connect(rest, false)?));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        return Ok(Arc::new(s3::S3BlobStore::connect(rest, true)?));
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("file://") {
        return Err(BlobError::Config(format!(
            "unsupported storage URL {:?}: use file:///PATH, s3://… or s3+http://…",
            crate::blob::redact(url)
        )));
    }
    Ok(Arc::new(local::LocalBlobStore::open(path.into()).await?))
}

/// `url` with the secret key (the password part) hidden.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Checks a blob key: non-empty segments of `[A-Za-z0-9._-]` separated by `/`, no `..`.
pub(crate) fn check_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(BlobError::Config(format!("invalid blob key {key:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_secrets_redacted() {
        assert!(check_key("files/0190-ab_c.d").is_ok());
        for bad in ["", "/a", "a//b", "../x", "a/../b", "a b", "a/"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert_eq!(
            redact("s3+http://key:secret@127.0.0.1:9000/bucket"),
            "s3+http://key:***@127.0.0.1:9000/bucket"
        );
        assert_eq!(redact("file:///tmp/x"), "file:///tmp/x");
    }
}
