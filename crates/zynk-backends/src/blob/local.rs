//! The local blob directory (the embedded default): finished blobs under `ROOT/objects/KEY`,
//! unfinished uploads as staging files `ROOT/uploads/HANDLE`, written in place at each part's
//! offset and synced before a part counts as stored; completing an upload renames its staging
//! file into place.

use std::io::SeekFrom;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{BlobError, BlobInfo, BlobStore, BlobStream, check_key};

/// Read buffer of a download stream.
const READ_CHUNK: usize = 256 * 1024;

/// Blobs in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Opens (creating if missing) the blob directory `root`.
    pub async fn open(root: PathBuf) -> Result<Self, BlobError> {
        for dir in ["objects", "uploads"] {
            tokio::fs::create_dir_all(root.join(dir))
                .await
                .map_err(|e| {
                    BlobError::Config(format!("cannot create {}: {e}", root.join(dir).display()))
                })?;
        }
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_path(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        Ok(self.root.join("objects").join(key))
    }

    fn staging_path(&self, upload: &str) -> Result<PathBuf, BlobError> {
        let valid = !upload.is_empty()
            && upload.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' || b == b'~'
            });
        if !valid {
            return Err(BlobError::Config(format!(
                "invalid upload handle {upload:?}"
            )));
        }
        Ok(self.root.join("uploads").join(upload))
    }
}

/// The handle of an upload to `key`: the key (with `/` as `~`), `~`, a random id.
fn handle_for(key: &str) -> String {
    format!(
        "{}~{}",
        key.replace('/', "~"),
        uuid::Uuid::new_v4().simple()
    )
}

/// The key a handle was made for.
fn key_of_handle(upload: &str) -> Option<String> {
    let (key, _) = upload.rsplit_once('~')?;
    Some(key.replace('~', "/"))
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn modified(meta: &std::fs::Metadata) -> DateTime<Utc> {
    meta.modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Storage(format!("blob task failed: {e}")))?
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn begin_upload(&self, key: &str) -> Result<String, BlobError> {
        check_key(key)?;
        let handle = handle_for(key);
        let path = self.staging_path(&handle)?;
        let dir = self.root.join("uploads");
        blocking(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?
                .sync_all()?;
            sync_dir(&dir)
        })
        .await?;
        Ok(handle)
    }

    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        _index: u32,
        offset: u64,
        data: Vec<Bytes>,
    ) -> Result<String, BlobError> {
        check_key(key)?;
        let path = self.staging_path(upload)?;
        blocking(move || {
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            let mut at = offset;
            for chunk in &data {
                file.write_all_at(chunk, at)?;
                at += chunk.len() as u64;
            }
            file.sync_data()?;
            Ok(at.to_string())
        })
        .await
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: &str,
        parts: &[String],
    ) -> Result<(), BlobError> {
        let target = self.object_path(key)?;
        let staging = self.staging_path(upload)?;
        // Each part's handle is the offset where it ended: the last one is the blob's length.
        let length: u64 = match parts.last() {
            Some(end) => end
                .parse()
                .map_err(|_| BlobError::Storage(format!("invalid part handle {end:?}")))?,
            None => 0,
        };
        blocking(move || {
            let file = std::fs::OpenOptions::new().write(true).open(&staging)?;
            file.set_len(length)?;
            file.sync_all()?;
            let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&parent)?;
            std::fs::rename(&staging, &target)?;
            sync_dir(&parent)?;
            if let Some(uploads) = staging.parent() {
                sync_dir(uploads)?;
            }
            Ok(())
        })
        .await
    }

    async fn abort_upload(&self, _key: &str, upload: &str) -> Result<(), BlobError> {
        let path = self.staging_path(upload)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobStream, BlobError> {
        let path = self.object_path(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => BlobError::NotFound(key.to_owned()),
                _ => e.into(),
            })?;
        let size = file.metadata().await?.len();
        let range = match range {
            Some(r) if r.start >= r.end || r.end > size => {
                return Err(BlobError::InvalidRange(format!(
                    "{}..{} of a {size}-byte blob",
                    r.start, r.end
                )));
            }
            Some(r) => r,
            None => 0..size,
        };
        file.seek(SeekFrom::Start(range.start)).await?;
        let reader = file.take(range.end - range.start);
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)
            .map(|item| item.map_err(BlobError::from));
        Ok(stream.boxed())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = self.object_path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.object_path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let objects = self.root.join("objects");
        blocking(move || {
            let mut found = Vec::new();
            let mut dirs = vec![(objects.clone(), String::new())];
            while let Some((dir, prefix)) = dirs.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let key = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    };
                    let meta = entry.metadata()?;
                    if meta.is_dir() {
                        dirs.push((entry.path(), key));
                    } else {
                        found.push(BlobInfo {
                            key,
                            size: meta.len(),
                            last_modified: modified(&meta),
                        });
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
        .await
    }

    async fn list_uploads(&self) -> Result<Vec<(String, String, DateTime<Utc>)>, BlobError> {
        let uploads = self.root.join("uploads");
        blocking(move || {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&uploads)? {
                let entry = entry?;
                let handle = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata()?;
                if let Some(key) = key_of_handle(&handle) {
                    found.push((key, handle, modified(&meta)));
                }
            }
            found.sort();
            Ok(found)
        })
        .await
    }
}
