//! Native only: a home directory that holds one device's encrypted state
//! (`state.zynk`, written atomically with owner-only permissions) and a lock
//! file so that several processes using the same home never overwrite each
//! other's changes (Olm and Megolm ratchets must never go backwards).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::error::ClientError;

const STATE_FILE: &str = "state.zynk";
const LOCK_FILE: &str = "lock";

/// A client home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

/// An exclusive lock on a home; released when dropped.
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
}

fn storage(what: &str, path: &Path, error: &std::io::Error) -> ClientError {
    ClientError::Storage(format!("{what} {}: {error}", path.display()))
}

impl Home {
    /// The home at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The encrypted state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn ensure_dir(&self) -> Result<(), ClientError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .map_err(|e| storage("cannot create", &self.dir, &e))
    }

    /// Wait for and take the exclusive lock of this home.
    pub fn lock(&self) -> Result<HomeLock, ClientError> {
        self.ensure_dir()?;
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| storage("cannot open", &path, &e))?;
        file.lock().map_err(|e| storage("cannot lock", &path, &e))?;
        Ok(HomeLock { _file: file })
    }

    /// The saved state, if any.
    pub fn read_state(&self, _lock: &HomeLock) -> Result<Option<Vec<u8>>, ClientError> {
        let path = self.state_path();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage("cannot read", &path, &e)),
        }
    }

    /// Replace the saved state atomically (write a temporary file, sync,
    /// rename), readable by the owner only.
    pub fn write_state(&self, _lock: &HomeLock, bytes: &[u8]) -> Result<(), ClientError> {
        self.ensure_dir()?;
        let path = self.state_path();
        let temporary = self.dir.join(format!("{STATE_FILE}.tmp"));
        let mut options = OpenOptions::new();
        options.create(true).truncate(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temporary)
            .map_err(|e| storage("cannot write", &temporary, &e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| storage("cannot write", &temporary, &e))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(|e| storage("cannot replace", &path, &e))
    }

    /// Delete the saved state.
    pub fn erase_state(&self, _lock: &HomeLock) -> Result<(), ClientError> {
        let path = self.state_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage("cannot delete", &path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!(
            "zynk-home-test-{}",
            crate::client::util::new_message_id()
                .unwrap()
                .as_uuid()
                .simple()
        ));
        let home = Home::new(dir.join("nested"));
        let lock = home.lock().unwrap();
        assert_eq!(home.read_state(&lock).unwrap(), None);
        home.write_state(&lock, b"one").unwrap();
        home.write_state(&lock, b"two").unwrap();
        assert_eq!(
            home.read_state(&lock).unwrap().as_deref(),
            Some(&b"two"[..])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(home.state_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        home.erase_state(&lock).unwrap();
        home.erase_state(&lock).unwrap();
        assert_eq!(home.read_state(&lock).unwrap(), None);
        drop(lock);
        fs::remove_dir_all(dir).unwrap();
    }
}
