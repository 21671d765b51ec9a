//! The data directory and the SQLite files are private to the server's user: the directory is
//! created (or tightened) to mode 0700, and the database file, with its `-wal` and `-shm`
//! companions (which SQLite creates with the database file's mode), to 0600 before SQLite opens
//! it.

use std::path::Path;

/// Creates `dir` (mode 0700) if missing and tightens it to 0700; creates the SQLite file at
/// `database` (mode 0600) if missing and tightens it and its companions to 0600.
pub fn secure(dir: &Path, database: Option<&Path>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(database) = database {
            if let Some(parent) = database.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            // Create it empty with the right mode: SQLite adopts an empty file as a new
            // database.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(database);
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = database.as_os_str().to_owned();
                path.push(suffix);
                let path = std::path::PathBuf::from(path);
                if path.exists() {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
            }
        }
    }
    Ok(())
}

/// The file path of a `sqlite:` URL (`sqlite://PATH`, `sqlite:PATH`, options after `?`
/// dropped), or `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_directory_and_database_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wal = dir.join("zynk.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = dir.join("zynk.db");
        secure(&dir, Some(&db)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(
            sqlite_path("sqlite:///var/lib/zynk/zynk.db?mode=rwc").as_deref(),
            Some(Path::new("/var/lib/zynk/zynk.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
