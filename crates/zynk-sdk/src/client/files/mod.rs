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

mod download;
mod upload;

pub use download::*;
pub use upload::*;

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
