//! The validator key file: the 32-byte Ed25519 seed that signs every batch header and block.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;

/// Why the ledger could not start.
#[derive(Debug, thiserror::Error)]
#[error("ledger key {path}: {reason}")]
pub struct LedgerKeyError {
    path: String,
    reason: String,
}

/// Reads the validator key file (32-byte Ed25519 seed), creating it (mode 0600) if missing.
pub fn load_or_create_key(path: &PathBuf) -> Result<SigningKey, LedgerKeyError> {
    let fail = |reason: String| LedgerKeyError {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| fail("must hold exactly 32 bytes".into()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| fail(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            }
            write_private(path, &seed).map_err(|e| fail(e.to_string()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Reads an existing validator key file (for verification: never creates one).
pub fn load_existing_key(path: &PathBuf) -> Result<SigningKey, LedgerKeyError> {
    if !path.is_file() {
        return Err(LedgerKeyError {
            path: path.display().to_string(),
            reason: "not found".into(),
        });
    }
    load_or_create_key(path)
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
