//! S3-compatible object storage through `object_store`: finished blobs are objects of one
//! bucket; an upload is one multipart upload whose id and part ids the caller keeps, so it can
//! be continued and completed after a restart. Unfinished multipart uploads are not listed by
//! S3: the caller aborts them with the ids it kept (and a bucket lifecycle rule for incomplete
//! multipart uploads catches any it lost).

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use super::{BlobError, BlobInfo, BlobStore, BlobStream, check_key};

/// Blobs in one bucket of an S3-compatible server.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    bucket: String,
}

fn storage_error(err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
        other => BlobError::Storage(other.to_string()),
    }
}

impl S3BlobStore {
    /// Connects to `ACCESS_KEY:SECRET_KEY@HOST[:PORT]/BUCKET[?region=NAME]` (the part of the
    /// storage URL after the scheme) over HTTPS (`https`) or plain HTTP.
    pub fn connect(rest: &str, https: bool) -> Result<Self, BlobError> {
        // The HTTP client uses rustls with the ring provider, as everywhere in Zynk.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (userinfo, hostpath) = match rest.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, rest),
        };
        let (host, bucket) = hostpath.split_once('/').ok_or_else(|| {
            BlobError::Config(
                "an S3 storage URL needs a bucket: s3://KEY:SECRET@HOST/BUCKET".into(),
            )
        })?;
        let bucket = bucket.trim_end_matches('/');
        if host.is_empty() || bucket.is_empty() || bucket.contains('/') {
            return Err(BlobError::Config(
                "an S3 storage URL has the form s3://KEY:SECRET@HOST[:PORT]/BUCKET".into(),
            ));
        }
        let mut region = "us-east-1".to_owned();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("region", value)) if !value.is_empty() => region = value.to_owned(),
                _ => {
                    return Err(BlobError::Config(format!(
                        "unknown S3 storage URL parameter {pair:?} (only region=NAME)"
                    )));
                }
            }
        }
        let scheme = if https { "https" } else { "http" };
        let mut builder = AmazonS3Builder::from_env()
            .with_endpoint(format!("{scheme}://{host}"))
            .with_bucket_name(bucket)
            .with_region(region)
            .with_allow_http(!https)
            .with_virtual_hosted_style_request(false);
        if let Some(userinfo) = userinfo {
            let (key, secret) = userinfo.split_once(':').ok_or_else(|| {
                BlobError::Config("an S3 storage URL names ACCESS_KEY:SECRET_KEY together".into())
            })?;
            builder = builder
                .with_access_key_id(percent_decode(key))
                .with_secret_access_key(percent_decode(secret));
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: bucket.to_owned(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn path(key: &str) -> Result<ObjectPath, BlobError> {
        check_key(key)?;
        ObjectPath::parse(key).map_err(|e| BlobError::Config(e.to_string()))
    }
}

/// Decodes `%XX` escapes (keys with reserved characters in a URL).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl BlobStore for S3BlobStore {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn begin_upload(&self, key: &str) -> Result<String, BlobError> {
        let path = Self::path(key)?;
        self.store
            .create_multipart(&path)
            .await
            .map_err(storage_error)
    }

    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        index: u32,
        _offset: u64,
        data: Vec<Bytes>,
    ) -> Result<String, BlobError> {
        let path = Self::path(key)?;
        let payload: PutPayload = data.into_iter().collect();
        let part = self
            .store
            .put_part(&path, &upload.to_owned(), index as usize, payload)
            .await
            .map_err(storage_error)?;
        Ok(part.content_id)
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: &str,
        parts: &[String],
    ) -> Result<(), BlobError> {
        let path = Self::path(key)?;
        let parts = parts
            .iter()
            .map(|id| PartId {
                content_id: id.clone(),
            })
            .collect();
        self.store
            .complete_multipart(&path, &upload.to_owned(), parts)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn abort_upload(&self, key: &str, upload: &str) -> Result<(), BlobError> {
        let path = Self::path(key)?;
        match self.store.abort_multipart(&path, &upload.to_owned()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobStream, BlobError> {
        let path = Self::path(key)?;
        if let Some(r) = &range
            && r.start >= r.end
        {
            return Err(BlobError::InvalidRange(format!("{}..{}", r.start, r.end)));
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(storage_error)?;
        Ok(result.into_stream().map_err(storage_error).boxed())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = Self::path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = Self::path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut found: Vec<BlobInfo> = self
            .store
            .list(None)
            .map_ok(|meta| BlobInfo {
                key: meta.location.to_string(),
                size: meta.size,
                last_modified: meta.last_modified,
            })
            .try_collect()
            .await
            .map_err(storage_error)?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn list_uploads(&self) -> Result<Vec<(String, String, DateTime<Utc>)>, BlobError> {
        Ok(Vec::new())
    }
}
