//! Downloading a file: verified, resumable, partial output removed on failure.

use super::*;

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

pub(super) async fn download_attempt(
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
        let chunk =
            chunk.map_err(|e| ClientError::Transport(crate::client::api::describe_error(&e)))?;
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
