//! Encrypted files for [`Messenger`] (native builds): a file is read twice, never held in
//! memory whole. The first pass hashes the plaintext, encrypts it to hash the ciphertext (the
//! server checks that hash at the end) and makes a thumbnail of an image; the second pass
//! encrypts again from wherever the server's copy of the upload ends (the same key gives the
//! same ciphertext, so an upload cut off at any byte, or a rerun after the process was killed,
//! continues there). A download writes the verified plaintext to a partial file next to the
//! target and continues from its last whole segment; a segment that does not verify, or a
//! plaintext hash that differs from the announced one, removes the partial file.
//!
//! The announcing message (`message_type` `image`, `video`, `audio` or `file`) is an
//! encrypted event of kind `file` whose `extra` is the [`FileDescriptor`]: names, keys and
//! hashes never reach the server in the clear.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zynk_proto::ErrorCode;
use zynk_proto::files::{
    CreateFileRequest, FileInfo, FileStatus, UPLOAD_CONTENT_TYPE, UPLOAD_OFFSET_HEADER,
};
use zynk_proto::ids::{ConversationId, FileId, MessageId};
use zynk_proto::messages::MessageMetadata;

use super::api::ApiClient;
use super::error::ClientError;
use super::messenger::{Messenger, SendReceipt};
use super::timeline::EntryBody;
use crate::crypto::file::{
    CHUNK_SIZE, DecryptingWriter, EncryptedBlob, EncryptingReader, FILE_FORMAT, FileCryptoError,
    FileDescriptor, FileKey, FileMetadata, SEGMENT_SIZE, Thumbnail, ciphertext_len, decrypt_bytes,
    encrypt_bytes,
};
use crate::crypto::{RoomEventContent, RoomEventKind};

/// Bytes done so far of a transfer (ciphertext bytes on the wire, counting what was already
/// there when it resumed).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Largest thumbnail side in pixels.
const THUMBNAIL_SIDE: u32 = 320;
/// Images larger than this are not decoded for a thumbnail.
const THUMBNAIL_MAX_INPUT: u64 = 64 * 1024 * 1024;
/// Ciphertext bytes per read while uploading.
const READ_CHUNK: usize = 256 * 1024;
/// Attempts of one transfer before giving up (each continues where the last stopped).
const ATTEMPTS: u32 = 5;

fn io_error(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Storage(format!("{}: {e}", path.display()))
}

fn crypto_error(e: FileCryptoError) -> ClientError {
    match e {
        FileCryptoError::Io(e) => ClientError::Storage(e.to_string()),
        other => ClientError::Invalid(format!("the file does not verify: {other}")),
    }
}

/// The media type of a file, from its name's extension.
pub fn guess_mime(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4" | "m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mov") => "video/quicktime",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga" | "opus") => "audio/ogg",
        Some("wav") => "audio/wav",
        Some("m4a") => "audio/mp4",
        Some("flac") => "audio/flac",
        Some("pdf") => "application/pdf",
        Some("txt" | "md") => "text/plain",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// A thumbnail made and encrypted before upload.
#[derive(Clone, Serialize, Deserialize)]
pub struct PreparedThumbnail {
    key: String,
    nonce_prefix: String,
    /// The encrypted JPEG, base64.
    ciphertext: String,
    sha256: String,
    size: u64,
    width: u32,
    height: u32,
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
    key: String,
    nonce_prefix: String,
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
    thumbnail: Option<PreparedThumbnail>,
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

fn stat(path: &Path) -> Result<(u64, u64), ClientError> {
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
fn make_thumbnail(path: &Path, size: u64) -> Option<(Vec<u8>, u32, u32, u32, u32)> {
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
                ciphertext: super::util::base64_encode(&ciphertext),
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

    fn file_key(&self) -> Result<FileKey, ClientError> {
        FileKey::from_base64(&self.key, &self.nonce_prefix).map_err(crypto_error)
    }

    /// Ciphertext length.
    pub fn ciphertext_len(&self) -> u64 {
        ciphertext_len(self.size)
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
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
            super::api::Auth::Bearer,
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
            .map_err(|e| ClientError::Transport(super::api::describe_error(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(super::api::describe_error(&e)))?;
        if !(200..300).contains(&status) {
            return Err(super::api::error_of(status, &bytes));
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
            .map_err(|e| ClientError::Transport(super::api::describe_error(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(super::api::error_of(status, &bytes));
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
async fn upload_bytes(
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
fn upload_body(
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

/// Where a downloaded file goes while it arrives: `.NAME.zynkpart` beside the target.
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!(".{name}.zynkpart"))
}

/// Why a download failed: kept partial output can be resumed, verification failures cannot.
#[derive(Debug)]
pub enum DownloadError {
    /// The bytes do not verify: the partial output was removed.
    Verification(String),
    /// Anything else (network, server, disk): the partial output is kept for a rerun.
    Other(ClientError),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::Verification(why) => write!(f, "{why}; the partial file was removed"),
            DownloadError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl From<ClientError> for DownloadError {
    fn from(e: ClientError) -> Self {
        DownloadError::Other(e)
    }
}

/// Downloads and decrypts `blob` to `target` (not overwritten unless `force`), continuing a
/// partial download left by an earlier run.
pub async fn download_blob(
    api: &mut ApiClient,
    blob: &EncryptedBlob,
    target: &Path,
    progress: Progress,
) -> Result<(), DownloadError> {
    let key = blob
        .file_key()
        .map_err(|e| DownloadError::Verification(e.to_string()))?;
    let file_id: FileId = blob
        .file_id
        .parse()
        .map_err(|_| DownloadError::Verification("the announced file id is invalid".into()))?;
    let partial = partial_path(target);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match download_attempt(api, blob, &key, file_id, target, &partial, progress.clone()).await {
            Ok(()) => return Ok(()),
            Err(DownloadError::Verification(why)) => {
                let _ = std::fs::remove_file(&partial);
                return Err(DownloadError::Verification(why));
            }
            Err(DownloadError::Other(ClientError::Transport(why))) if attempt < ATTEMPTS => {
                let _ = why;
                continue;
            }
            Err(other) => return Err(other),
        }
    }
}

async fn download_attempt(
    api: &mut ApiClient,
    blob: &EncryptedBlob,
    key: &FileKey,
    file_id: FileId,
    target: &Path,
    partial: &Path,
    progress: Progress,
) -> Result<(), DownloadError> {
    // Whole segments already written (and verified) by an earlier run.
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(partial)
        .map_err(|e| io_error(partial, e))?;
    let existing = out.metadata().map_err(|e| io_error(partial, e))?.len();
    let segments_done = (existing / CHUNK_SIZE as u64).min(blob.size / CHUNK_SIZE as u64);
    let keep = segments_done * CHUNK_SIZE as u64;
    out.set_len(keep).map_err(|e| io_error(partial, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut left = keep;
    out.seek(SeekFrom::Start(0))
        .map_err(|e| io_error(partial, e))?;
    while left > 0 {
        let want = left.min(buffer.len() as u64) as usize;
        let n = out
            .read(&mut buffer[..want])
            .map_err(|e| io_error(partial, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        left -= n as u64;
    }
    out.seek(SeekFrom::Start(keep))
        .map_err(|e| io_error(partial, e))?;
    let from = segments_done * SEGMENT_SIZE as u64;
    let response = api.download_file_from(file_id, from).await?;
    let writer = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut decrypting = DecryptingWriter::new(writer, key, blob.size, segments_done, hasher);
    let mut stream = response.bytes_stream();
    let mut done = from;
    progress(done);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ClientError::Transport(super::api::describe_error(&e)))?;
        decrypting.push(&chunk).map_err(|e| match e {
            FileCryptoError::Io(e) => DownloadError::Other(io_error(partial, e)),
            other => DownloadError::Verification(format!("the file does not verify: {other}")),
        })?;
        done += chunk.len() as u64;
        progress(done);
    }
    let writer = decrypting.finish(&blob.sha256).map_err(|e| match e {
        FileCryptoError::Io(e) => DownloadError::Other(io_error(partial, e)),
        other => DownloadError::Verification(format!("the file does not verify: {other}")),
    })?;
    let file = writer
        .into_inner()
        .map_err(|e| DownloadError::Other(io_error(partial, e.into_error())))?;
    file.sync_all().map_err(|e| io_error(partial, e))?;
    drop(file);
    std::fs::rename(partial, target).map_err(|e| io_error(target, e))?;
    Ok(())
}

impl Messenger {
    /// Starts the upload of `pending` to its conversation (or finds the one started by an
    /// earlier run): the device's keys are set up and the upload gets its id. Save the state
    /// (this device's and `pending`) after this step: the transfer that follows can take long.
    pub async fn start_file_upload(
        &mut self,
        pending: &mut PendingUpload,
    ) -> Result<FileId, ClientError> {
        let conversation = pending
            .conversation_id
            .ok_or_else(|| ClientError::Invalid("no conversation chosen for the file".into()))?;
        if !pending.matches_disk() {
            return Err(ClientError::Invalid(format!(
                "{} changed since it was read; send it again",
                pending.path.display()
            )));
        }
        self.complete_setup().await?;
        let file_id = match pending.file_id {
            Some(id) => id,
            None => {
                let info = self
                    .api()
                    .create_file(&CreateFileRequest {
                        conversation_id: conversation,
                        size: pending.ciphertext_len(),
                        sha256: pending.ciphertext_sha256.clone(),
                        expires_in_secs: pending.expires_in_secs,
                    })
                    .await?;
                pending.file_id = Some(info.file_id);
                info.file_id
            }
        };
        // Refreshes an expired access token now, so none is refreshed mid-transfer.
        self.api().file_info(file_id).await?;
        Ok(file_id)
    }

    /// Uploads the ciphertext of `pending` from where the server's copy ends (after
    /// [`Self::start_file_upload`]).
    pub async fn upload_file(
        &mut self,
        pending: &PendingUpload,
        progress: Progress,
    ) -> Result<(), ClientError> {
        let file_id = pending
            .file_id
            .ok_or_else(|| ClientError::Invalid("the upload was not started".into()))?;
        self.upload_pending(pending, file_id, progress).await
    }

    /// Uploads the thumbnail and sends the encrypted announcement of an uploaded file; returns
    /// the message's receipt.
    pub async fn finish_file_send(
        &mut self,
        pending: &PendingUpload,
    ) -> Result<SendReceipt, ClientError> {
        let conversation = pending
            .conversation_id
            .ok_or_else(|| ClientError::Invalid("no conversation chosen for the file".into()))?;
        let file_id = pending
            .file_id
            .ok_or_else(|| ClientError::Invalid("the upload was not started".into()))?;
        let thumbnail = match &pending.thumbnail {
            Some(thumb) => Some(
                self.upload_thumbnail(conversation, thumb, pending.expires_in_secs)
                    .await?,
            ),
            None => None,
        };
        let key = pending.file_key()?;
        let descriptor = FileDescriptor {
            format: FILE_FORMAT.into(),
            blob: EncryptedBlob {
                file_id: file_id.to_string(),
                key: key.key_base64(),
                nonce_prefix: key.nonce_prefix_base64(),
                chunk_size: CHUNK_SIZE as u32,
                sha256: pending.sha256.clone(),
                size: pending.size,
                ciphertext_sha256: pending.ciphertext_sha256.clone(),
            },
            name: pending.name.clone(),
            mime_type: pending.mime_type.clone(),
            metadata: pending.metadata.clone(),
            thumbnail,
        };
        self.announce_file(conversation, &descriptor).await
    }

    /// The whole send in one call: [`Self::start_file_upload`], [`Self::upload_file`],
    /// [`Self::finish_file_send`].
    pub async fn send_file(
        &mut self,
        pending: &mut PendingUpload,
        progress: Progress,
    ) -> Result<SendReceipt, ClientError> {
        self.start_file_upload(pending).await?;
        self.upload_file(pending, progress).await?;
        self.finish_file_send(pending).await
    }

    async fn upload_pending(
        &mut self,
        pending: &PendingUpload,
        file_id: FileId,
        progress: Progress,
    ) -> Result<(), ClientError> {
        if !pending.matches_disk() {
            return Err(ClientError::Invalid(format!(
                "{} changed since its upload started; send it again as a new file",
                pending.path.display()
            )));
        }
        let total = pending.ciphertext_len();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let info = self.api().file_info(file_id).await?;
            progress(info.offset);
            if info.status == FileStatus::Complete {
                return Ok(());
            }
            let body = upload_body(pending, info.offset, progress.clone())?;
            match self
                .api()
                .upload_file_bytes(file_id, info.offset, total - info.offset, body)
                .await
            {
                Ok(info) if info.status == FileStatus::Complete => return Ok(()),
                Ok(_) | Err(ClientError::Transport(_)) if attempt < ATTEMPTS => continue,
                Err(e) if e.is(ErrorCode::UploadOffsetMismatch) && attempt < ATTEMPTS => continue,
                Ok(info) => {
                    return Err(ClientError::Protocol(format!(
                        "the upload stopped at byte {} of {total}",
                        info.offset
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn upload_thumbnail(
        &mut self,
        conversation: ConversationId,
        thumb: &PreparedThumbnail,
        expires_in_secs: Option<u64>,
    ) -> Result<Thumbnail, ClientError> {
        let ciphertext = super::util::base64_decode(&thumb.ciphertext)
            .ok_or_else(|| ClientError::Invalid("stored thumbnail is corrupt".into()))?;
        let info = self
            .api()
            .create_file(&CreateFileRequest {
                conversation_id: conversation,
                size: ciphertext.len() as u64,
                sha256: hex::encode(Sha256::digest(&ciphertext)),
                expires_in_secs,
            })
            .await?;
        let ciphertext_sha256 = hex::encode(Sha256::digest(&ciphertext));
        upload_bytes(self.api(), info.file_id, ciphertext).await?;
        Ok(Thumbnail {
            blob: EncryptedBlob {
                file_id: info.file_id.to_string(),
                key: thumb.key.clone(),
                nonce_prefix: thumb.nonce_prefix.clone(),
                chunk_size: CHUNK_SIZE as u32,
                sha256: thumb.sha256.clone(),
                size: thumb.size,
                ciphertext_sha256,
            },
            mime_type: "image/jpeg".into(),
            width: thumb.width,
            height: thumb.height,
        })
    }

    /// The conversation of a group named by its group id, its name (unique among this user's
    /// groups) or its conversation id; this user must be a member (fetched from the server and
    /// remembered).
    pub async fn group_conversation(&mut self, group: &str) -> Result<ConversationId, ClientError> {
        let id = match self.find_group(group).await {
            Ok(found) => found.conversation_id,
            // A group conversation's own id names the group too.
            Err(error) => match group.parse::<ConversationId>() {
                Ok(id) => id,
                Err(_) => return Err(error),
            },
        };
        let conversation = self.api().conversation(id).await?;
        if conversation.kind != zynk_proto::ConversationKind::Group {
            return Err(ClientError::Invalid(format!(
                "{group} is not a group conversation"
            )));
        }
        self.record_conversation(&conversation)?;
        Ok(id)
    }

    /// Sends the encrypted announcement of an uploaded file.
    pub async fn announce_file(
        &mut self,
        conversation: ConversationId,
        descriptor: &FileDescriptor,
    ) -> Result<SendReceipt, ClientError> {
        let extra = serde_json::to_value(descriptor)
            .map_err(|e| ClientError::Invalid(format!("cannot encode the file: {e}")))?;
        let content = RoomEventContent {
            kind: RoomEventKind::File,
            body: None,
            relates_to: None,
            mentions: Vec::new(),
            extra: Some(extra),
        };
        self.send_event_as(
            conversation,
            content,
            MessageMetadata::default(),
            descriptor.message_type(),
        )
        .await
    }

    /// The file a message announces, from this device's decrypted copy (syncing first if it
    /// is not here yet).
    pub async fn file_of(&mut self, message_id: MessageId) -> Result<FileDescriptor, ClientError> {
        if let Some(found) = self.local_file_of(message_id)? {
            return Ok(found);
        }
        self.sync().await?;
        self.local_file_of(message_id)?.ok_or_else(|| {
            ClientError::Invalid(format!(
                "message {message_id} is not a file this device can read"
            ))
        })
    }

    fn local_file_of(&self, message_id: MessageId) -> Result<Option<FileDescriptor>, ClientError> {
        for conversation in self.data().conversations.values() {
            for entry in &conversation.entries {
                if entry.message_id != message_id {
                    continue;
                }
                return match &entry.body {
                    EntryBody::Decrypted { content, .. } if content.kind == RoomEventKind::File => {
                        let extra = content.extra.clone().ok_or_else(|| {
                            ClientError::Invalid("the file message carries no file".into())
                        })?;
                        serde_json::from_value(extra).map(Some).map_err(|e| {
                            ClientError::Invalid(format!("the file message is malformed: {e}"))
                        })
                    }
                    EntryBody::Decrypted { .. } => Err(ClientError::Invalid(format!(
                        "message {message_id} is not a file"
                    ))),
                    _ => Err(ClientError::Invalid(format!(
                        "message {message_id} cannot be decrypted on this device"
                    ))),
                };
            }
        }
        Ok(None)
    }

    /// Downloads and decrypts the file `descriptor` announces to `target`.
    pub async fn download_file(
        &mut self,
        descriptor: &FileDescriptor,
        target: &Path,
        progress: Progress,
    ) -> Result<(), DownloadError> {
        download_blob(self.api(), &descriptor.blob, target, progress).await
    }

    /// Fetches and decrypts a file's thumbnail (small: in memory).
    pub async fn thumbnail(&mut self, thumbnail: &Thumbnail) -> Result<Vec<u8>, ClientError> {
        let file_id: FileId = thumbnail
            .blob
            .file_id
            .parse()
            .map_err(|_| ClientError::Invalid("the thumbnail's file id is invalid".into()))?;
        let response = self.api().download_file_from(file_id, 0).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(super::api::describe_error(&e)))?;
        decrypt_bytes(&thumbnail.blob, &bytes).map_err(crypto_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_partial_names() {
        assert_eq!(guess_mime("a.JPG"), "image/jpeg");
        assert_eq!(guess_mime("noext"), "application/octet-stream");
        assert_eq!(
            partial_path(Path::new("/tmp/x/report.pdf")),
            PathBuf::from("/tmp/x/.report.pdf.zynkpart")
        );
    }

    #[test]
    fn a_prepared_file_hashes_plaintext_and_ciphertext_and_thumbnails_images() {
        let dir = std::env::temp_dir().join(format!("zynk-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("picture.png");
        let picture = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 7]));
        picture.save(&path).unwrap();
        let pending = PendingUpload::prepare(&path, None).unwrap();
        let plain = std::fs::read(&path).unwrap();
        assert_eq!(pending.sha256, hex::encode(Sha256::digest(&plain)));
        let cipher = encrypt_bytes(&pending.file_key().unwrap(), &plain).unwrap();
        assert_eq!(
            pending.ciphertext_sha256,
            hex::encode(Sha256::digest(&cipher))
        );
        assert_eq!(pending.mime_type, "image/png");
        assert_eq!(
            (pending.metadata.width, pending.metadata.height),
            (Some(640), Some(480))
        );
        let thumb = pending.thumbnail.as_ref().expect("a thumbnail");
        assert_eq!((thumb.width, thumb.height), (320, 240));
        assert!(pending.matches_disk());
        std::fs::write(&path, b"changed").unwrap();
        assert!(!pending.matches_disk());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
