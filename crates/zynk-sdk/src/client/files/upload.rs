//! Preparing a file for upload (hashes, thumbnail) and the upload routes.

use super::*;

/// A thumbnail made and encrypted before upload.
#[derive(Clone, Serialize, Deserialize)]
pub struct PreparedThumbnail {
    pub(super) key: String,
    pub(super) nonce_prefix: String,
    /// The encrypted JPEG, base64.
    pub(super) ciphertext: String,
    pub(super) sha256: String,
    pub(super) size: u64,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// A file read once (hashed, thumbnailed) and ready to upload: the state of a send, to keep
/// until it is announced so that a rerun continues the same upload.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingUpload {
    /// The file.
    pub path: PathBuf,
    /// Its size when it was read.
    pub size: u64,
    /// Its modification time when it was read (seconds since the epoch).
    pub modified: u64,
    pub(super) key: String,
    pub(super) nonce_prefix: String,
    /// SHA-256 of the plaintext.
    pub sha256: String,
    /// SHA-256 of the ciphertext.
    pub ciphertext_sha256: String,
    /// The name announced.
    pub name: String,
    /// The media type announced.
    pub mime_type: String,
    /// Dimensions (images).
    pub metadata: FileMetadata,
    pub(super) thumbnail: Option<PreparedThumbnail>,
    /// The server's file id, once the upload started.
    pub file_id: Option<FileId>,
    /// The conversation it goes to.
    pub conversation_id: Option<ConversationId>,
    /// Seconds until the file expires.
    pub expires_in_secs: Option<u64>,
}

impl std::fmt::Debug for PendingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingUpload")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("file_id", &self.file_id)
            .finish_non_exhaustive()
    }
}

pub(super) fn stat(path: &Path) -> Result<(u64, u64), ClientError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(ClientError::Invalid(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((meta.len(), modified))
}

/// A JPEG preview of the image at `path` (at most 320 pixels a side), if it is one this build
/// decodes.
pub(super) fn make_thumbnail(path: &Path, size: u64) -> Option<(Vec<u8>, u32, u32, u32, u32)> {
    if size > THUMBNAIL_MAX_INPUT {
        return None;
    }
    let mut reader = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    let (width, height) = (picture.width(), picture.height());
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    small
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .ok()?;
    Some((jpeg, small.width(), small.height(), width, height))
}

impl PendingUpload {
    /// Reads `path` once: hashes, encrypts under a fresh key to hash the ciphertext, and makes a
    /// thumbnail of an image (blocking I/O).
    pub fn prepare(path: &Path, expires_in_secs: Option<u64>) -> Result<Self, ClientError> {
        let (size, modified) = stat(path)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ClientError::Invalid(format!("{} has no usable name", path.display())))?
            .to_owned();
        let key = FileKey::generate()?;
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        // One pass: the plaintext hash as it is read, the ciphertext hash as it is sealed.
        let plain_hasher = HashingReader {
            inner: BufReader::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
        };
        let mut reader =
            EncryptingReader::new(plain_hasher, &key, size, 0).map_err(crypto_error)?;
        let mut cipher_hasher = Sha256::new();
        let mut buffer = vec![0u8; READ_CHUNK];
        loop {
            let n = reader.read(&mut buffer).map_err(|e| io_error(path, e))?;
            if n == 0 {
                break;
            }
            cipher_hasher.update(&buffer[..n]);
        }
        let sha256 = hex::encode(reader.into_inner().hasher.finalize());
        let mime_type = guess_mime(&name).to_owned();
        let mut metadata = FileMetadata::default();
        let mut thumbnail = None;
        if mime_type.starts_with("image/")
            && let Some((jpeg, w, h, width, height)) = make_thumbnail(path, size)
        {
            metadata.width = Some(width);
            metadata.height = Some(height);
            let thumb_key = FileKey::generate()?;
            let ciphertext = encrypt_bytes(&thumb_key, &jpeg).map_err(crypto_error)?;
            thumbnail = Some(PreparedThumbnail {
                key: thumb_key.key_base64(),
                nonce_prefix: thumb_key.nonce_prefix_base64(),
                ciphertext: crate::client::util::base64_encode(&ciphertext),
                sha256: hex::encode(Sha256::digest(&jpeg)),
                size: jpeg.len() as u64,
                width: w,
                height: h,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            size,
            modified,
            key: key.key_base64(),
            nonce_prefix: key.nonce_prefix_base64(),
            sha256,
            ciphertext_sha256: hex::encode(cipher_hasher.finalize()),
            name,
            mime_type,
            metadata,
            thumbnail,
            file_id: None,
            conversation_id: None,
            expires_in_secs,
        })
    }

    /// Whether the file on disk is still the one that was read (size and modification time).
    pub fn matches_disk(&self) -> bool {
        stat(&self.path)
            .is_ok_and(|(size, modified)| size == self.size && modified == self.modified)
    }

    pub(super) fn file_key(&self) -> Result<FileKey, ClientError> {
        FileKey::from_base64(&self.key, &self.nonce_prefix).map_err(crypto_error)
    }

    /// Ciphertext length.
    pub fn ciphertext_len(&self) -> u64 {
        ciphertext_len(self.size)
    }
}

pub(super) struct HashingReader<R> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Seek> Seek for HashingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl ApiClient {
    /// `POST /files`: starts an upload.
    pub async fn create_file(
        &mut self,
        request: &CreateFileRequest,
    ) -> Result<FileInfo, ClientError> {
        self.post("/files", request).await
    }

    /// `GET /files/{id}`: a file's state (refreshes an expired token).
    pub async fn file_info(&mut self, file_id: FileId) -> Result<FileInfo, ClientError> {
        self.get(&format!("/files/{file_id}")).await
    }

    /// `DELETE /files/{id}`.
    pub async fn delete_file(&mut self, file_id: FileId) -> Result<(), ClientError> {
        self.request(
            Method::DELETE,
            &format!("/files/{file_id}"),
            None::<&()>,
            crate::client::api::Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `PATCH /files/{id}/upload` with a streamed body starting at `offset`.
    pub async fn upload_file_bytes(
        &mut self,
        file_id: FileId,
        offset: u64,
        length: u64,
        body: reqwest::Body,
    ) -> Result<FileInfo, ClientError> {
        let response = self
            .authorized(Method::PATCH, &format!("/files/{file_id}/upload"))?
            .header("content-type", UPLOAD_CONTENT_TYPE)
            .header(UPLOAD_OFFSET_HEADER, offset.to_string())
            .header("content-length", length.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Transport(crate::client::api::describe_error(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(crate::client::api::describe_error(&e)))?;
        if !(200..300).contains(&status) {
            return Err(crate::client::api::error_of(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("upload: {e}")))
    }

    /// `GET /files/{id}/content` from byte `from` on: the streamed response.
    pub async fn download_file_from(
        &mut self,
        file_id: FileId,
        from: u64,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self.authorized(Method::GET, &format!("/files/{file_id}/content"))?;
        if from > 0 {
            request = request.header("range", format!("bytes={from}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(crate::client::api::describe_error(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(crate::client::api::error_of(status, &bytes));
        }
        if (from > 0) != (status == 206) {
            return Err(ClientError::Protocol(format!(
                "asked for bytes {from}- and got HTTP {status}"
            )));
        }
        Ok(response)
    }
}

/// Uploads (or continues uploading) `data` (an in-memory ciphertext, e.g. a thumbnail).
pub(super) async fn upload_bytes(
    api: &mut ApiClient,
    file_id: FileId,
    data: Vec<u8>,
) -> Result<(), ClientError> {
    let info = api.file_info(file_id).await?;
    if info.status == FileStatus::Complete {
        return Ok(());
    }
    let rest = data[info.offset as usize..].to_vec();
    let length = rest.len() as u64;
    let done = api
        .upload_file_bytes(file_id, info.offset, length, reqwest::Body::from(rest))
        .await?;
    if done.status != FileStatus::Complete {
        return Err(ClientError::Protocol(
            "the server did not complete a small upload".into(),
        ));
    }
    Ok(())
}

/// The ciphertext of `pending` from `offset` on, as a streamed request body.
pub(super) fn upload_body(
    pending: &PendingUpload,
    offset: u64,
    progress: Progress,
) -> Result<reqwest::Body, ClientError> {
    let file = File::open(&pending.path).map_err(|e| io_error(&pending.path, e))?;
    let reader = EncryptingReader::new(
        BufReader::with_capacity(1 << 20, file),
        &pending.file_key()?,
        pending.size,
        offset,
    )
    .map_err(crypto_error)?;
    let stream = futures::stream::unfold((reader, offset), move |(mut reader, done)| {
        let progress = progress.clone();
        async move {
            let mut buffer = vec![0u8; READ_CHUNK];
            let mut filled = 0;
            while filled < READ_CHUNK {
                match reader.read(&mut buffer[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Some((Err(e), (reader, done))),
                }
            }
            if filled == 0 {
                return None;
            }
            buffer.truncate(filled);
            let done = done + filled as u64;
            progress(done);
            Some((Ok(buffer), (reader, done)))
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}
