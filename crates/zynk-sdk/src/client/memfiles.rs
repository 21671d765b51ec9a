//! Files held in memory, for clients without a file system (the browser client): the same
//! format and protocol as [`super::files`] (a fresh key per file, AES-256-GCM STREAM segments,
//! the ciphertext uploaded to `/api/v1/files` in parts, the key and name announced inside the
//! end-to-end-encrypted message), with the plaintext and ciphertext as byte buffers, upload
//! progress reported per part, and a thumbnail the caller made (in a browser, with a canvas).
//! Builds on every target.

use reqwest::Method;
use sha2::{Digest, Sha256};
use zynk_proto::files::{
    CreateFileRequest, FileInfo, FileStatus, UPLOAD_CONTENT_TYPE, UPLOAD_OFFSET_HEADER,
};
use zynk_proto::ids::{ConversationId, FileId, MessageId};
use zynk_proto::messages::MessageMetadata;

use super::api::{ApiClient, describe_error, error_of};
use super::error::ClientError;
use super::messenger::{Messenger, SendReceipt};
use super::timeline::EntryBody;
use crate::crypto::file::{
    CHUNK_SIZE, EncryptedBlob, FILE_FORMAT, FileCryptoError, FileDescriptor, FileKey, FileMetadata,
    Thumbnail, decrypt_bytes, encrypt_bytes,
};
use crate::crypto::{RoomEventContent, RoomEventKind};

/// Ciphertext bytes per upload request (progress is reported after each).
pub const UPLOAD_PART: usize = 1024 * 1024;

/// A file to send, in memory.
#[derive(Clone, Debug, Default)]
pub struct FileToSend {
    /// Its name (no directories).
    pub name: String,
    /// Its media type.
    pub mime_type: String,
    /// Its content.
    pub data: Vec<u8>,
    /// Width and height, for images.
    pub metadata: FileMetadata,
    /// A small JPEG preview with its width and height, for images.
    pub thumbnail: Option<(Vec<u8>, u32, u32)>,
    /// Seconds until the file expires on the server (3600-2592000).
    pub expires_in_secs: Option<u64>,
}

fn crypto_error(e: FileCryptoError) -> ClientError {
    ClientError::Invalid(format!("the file does not verify: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Encrypt `plaintext` under a fresh key: the blob as announced and the ciphertext.
fn seal(plaintext: &[u8]) -> Result<(EncryptedBlob, Vec<u8>), ClientError> {
    let key = FileKey::generate()?;
    let ciphertext = encrypt_bytes(&key, plaintext).map_err(crypto_error)?;
    let blob = EncryptedBlob {
        file_id: String::new(),
        key: key.key_base64(),
        nonce_prefix: key.nonce_prefix_base64(),
        chunk_size: CHUNK_SIZE as u32,
        sha256: sha256_hex(plaintext),
        size: plaintext.len() as u64,
        ciphertext_sha256: sha256_hex(&ciphertext),
    };
    Ok((blob, ciphertext))
}

impl ApiClient {
    /// `PATCH /files/{id}/upload`: one part of an upload, at `offset`.
    pub async fn upload_file_part(
        &mut self,
        file_id: FileId,
        offset: u64,
        part: Vec<u8>,
    ) -> Result<FileInfo, ClientError> {
        let response = self
            .authorized(Method::PATCH, &format!("/files/{file_id}/upload"))?
            .header("content-type", UPLOAD_CONTENT_TYPE)
            .header(UPLOAD_OFFSET_HEADER, offset.to_string())
            .body(part)
            .send()
            .await
            .map_err(|e| ClientError::Transport(describe_error(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe_error(&e)))?;
        if !(200..300).contains(&status) {
            return Err(error_of(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("upload: {e}")))
    }

    /// `GET /files/{id}/content`: a whole (small enough) file's ciphertext.
    pub async fn file_content(&mut self, file_id: FileId) -> Result<Vec<u8>, ClientError> {
        let response = self
            .authorized(Method::GET, &format!("/files/{file_id}/content"))?
            .send()
            .await
            .map_err(|e| ClientError::Transport(describe_error(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe_error(&e)))?;
        if !(200..300).contains(&status) {
            return Err(error_of(status, &bytes));
        }
        Ok(bytes.to_vec())
    }
}

impl Messenger {
    /// Uploads `ciphertext` to a new file of `conversation` in parts of [`UPLOAD_PART`],
    /// calling `progress(sent, total)` after each; returns the file id.
    async fn upload_ciphertext(
        &mut self,
        conversation: ConversationId,
        ciphertext: &[u8],
        expires_in_secs: Option<u64>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<FileId, ClientError> {
        let total = ciphertext.len() as u64;
        let info = self
            .api()
            .post::<FileInfo, _>(
                "/files",
                &CreateFileRequest {
                    conversation_id: conversation,
                    size: total,
                    sha256: sha256_hex(ciphertext),
                    expires_in_secs,
                },
            )
            .await?;
        let mut offset = info.offset;
        progress(offset, total);
        while offset < total {
            let end = (offset as usize + UPLOAD_PART).min(ciphertext.len());
            let part = ciphertext[offset as usize..end].to_vec();
            let info = self
                .api()
                .upload_file_part(info.file_id, offset, part)
                .await?;
            if info.offset <= offset && info.status != FileStatus::Complete {
                return Err(ClientError::Protocol(format!(
                    "the upload did not move past byte {offset}"
                )));
            }
            offset = info.offset;
            progress(offset, total);
            if info.status == FileStatus::Complete {
                break;
            }
        }
        Ok(info.file_id)
    }

    /// Encrypts and sends a file held in memory to `conversation` (with its thumbnail, if
    /// given), reporting upload progress as `(bytes sent, ciphertext bytes)`.
    pub async fn send_file_bytes(
        &mut self,
        conversation: ConversationId,
        file: &FileToSend,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<SendReceipt, ClientError> {
        let name = file
            .name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        if name.is_empty() {
            return Err(ClientError::Invalid("the file has no name".into()));
        }
        self.complete_setup().await?;
        let thumbnail = match &file.thumbnail {
            Some((jpeg, width, height)) => {
                let (mut blob, ciphertext) = seal(jpeg)?;
                let id = self
                    .upload_ciphertext(
                        conversation,
                        &ciphertext,
                        file.expires_in_secs,
                        &mut |_, _| {},
                    )
                    .await?;
                blob.file_id = id.to_string();
                Some(Thumbnail {
                    blob,
                    mime_type: "image/jpeg".into(),
                    width: *width,
                    height: *height,
                })
            }
            None => None,
        };
        let (mut blob, ciphertext) = seal(&file.data)?;
        let id = self
            .upload_ciphertext(conversation, &ciphertext, file.expires_in_secs, progress)
            .await?;
        blob.file_id = id.to_string();
        let mime_type = if file.mime_type.trim().is_empty() {
            "application/octet-stream".to_owned()
        } else {
            file.mime_type.trim().to_owned()
        };
        let descriptor = FileDescriptor {
            format: FILE_FORMAT.into(),
            blob,
            name,
            mime_type,
            metadata: file.metadata.clone(),
            thumbnail,
        };
        let extra = serde_json::to_value(&descriptor)
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

    /// The file a message of this device's history announces.
    pub fn file_descriptor(&self, message_id: MessageId) -> Result<FileDescriptor, ClientError> {
        let entry = self
            .data()
            .conversations
            .values()
            .find_map(|c| c.entry(message_id))
            .ok_or_else(|| ClientError::UnknownMessage(format!("{message_id} on this device")))?;
        match &entry.body {
            EntryBody::Decrypted { content, .. } if content.kind == RoomEventKind::File => {
                let extra = content.extra.clone().ok_or_else(|| {
                    ClientError::Invalid("the file message carries no file".into())
                })?;
                serde_json::from_value(extra).map_err(|e| {
                    ClientError::Invalid(format!("the file message is malformed: {e}"))
                })
            }
            _ => Err(ClientError::Invalid(format!(
                "message {message_id} is not a file this device can read"
            ))),
        }
    }

    /// Downloads, decrypts and checks the file a message announces.
    pub async fn file_bytes(&mut self, message_id: MessageId) -> Result<Vec<u8>, ClientError> {
        let descriptor = self.file_descriptor(message_id)?;
        self.blob_bytes(&descriptor.blob).await
    }

    /// Downloads, decrypts and checks the thumbnail of the file a message announces (`None`
    /// when it has none).
    pub async fn file_thumbnail(
        &mut self,
        message_id: MessageId,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        match self.file_descriptor(message_id)?.thumbnail {
            Some(thumbnail) => self.blob_bytes(&thumbnail.blob).await.map(Some),
            None => Ok(None),
        }
    }

    async fn blob_bytes(&mut self, blob: &EncryptedBlob) -> Result<Vec<u8>, ClientError> {
        let id: FileId = blob
            .file_id
            .parse()
            .map_err(|_| ClientError::Invalid("the file id is invalid".into()))?;
        let ciphertext = self.api().file_content(id).await?;
        if sha256_hex(&ciphertext) != blob.ciphertext_sha256 {
            return Err(ClientError::Invalid(
                "the file does not verify: its ciphertext was changed".into(),
            ));
        }
        decrypt_bytes(blob, &ciphertext).map_err(crypto_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_with_their_blob_and_not_altered() {
        let data = vec![7u8; CHUNK_SIZE * 2 + 5];
        let (blob, ciphertext) = seal(&data).unwrap();
        assert_eq!(blob.size, data.len() as u64);
        assert_eq!(blob.ciphertext_sha256, sha256_hex(&ciphertext));
        assert_eq!(decrypt_bytes(&blob, &ciphertext).unwrap(), data);
        let mut altered = ciphertext.clone();
        altered[10] ^= 1;
        assert!(decrypt_bytes(&blob, &altered).is_err());
        // Each file gets its own key.
        let (other, _) = seal(&data).unwrap();
        assert_ne!(other.key, blob.key);
    }
}
