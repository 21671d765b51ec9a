//! Backups: `zynkd backup create|verify|restore` and the scheduled backup job.
//!
//! An archive (`.tar.gz`) holds a consistent copy of the database taken while the server runs
//! (SQLite's `VACUUM INTO`, PostgreSQL's `pg_dump --format=custom`), the ledger validator key,
//! the configuration in force, and the finished blobs of a local blob directory (blobs in S3 stay
//! where they are), then `MANIFEST.json` with each file's size and SHA-256. The archive is
//! written next to its destination under a temporary name and renamed into place once complete
//! and synced, so a failed backup leaves nothing behind.
//!
//! A restore reads the whole archive into a staging directory first, checking every checksum,
//! then refuses a target that holds data (unless forced), then puts the database, the key and the
//! blobs in place, applies pending migrations and verifies the ledger.

pub mod archive;
pub mod database;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;

pub use archive::{ArchiveError, BlobsMode, Engine, Manifest};

use crate::Config;

/// The local blob directory of a storage URL (`None` for S3).
fn local_blob_dir(config: &Config) -> Option<PathBuf> {
    let url = config.effective_storage_url();
    if url.starts_with("s3://") || url.starts_with("s3+http://") {
        return None;
    }
    Some(PathBuf::from(url.strip_prefix("file://").unwrap_or(&url)))
}

/// Every file under `dir` (recursively), as paths relative to it with `/` separators.
fn walk(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && let Ok(relative) = path.strip_prefix(dir)
                && let Some(relative) = relative.to_str()
            {
                out.push((relative.replace('\\', "/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Refuses a destination that exists or whose directory cannot be written, before any work.
fn open_destination(dest: &Path) -> anyhow::Result<(PathBuf, std::fs::File)> {
    if dest.as_os_str().is_empty() {
        bail!("the backup path is empty");
    }
    if dest.exists() {
        bail!(
            "{} exists: choose a new file name (a backup never overwrites one)",
            dest.display()
        );
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write the backup to {}: the directory {} does not exist",
            dest.display(),
            parent.display()
        );
    }
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} names no file", dest.display()))?;
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let file = archive::create_private(&partial).with_context(|| {
        format!(
            "cannot write the backup to {}: {} is not writable",
            dest.display(),
            parent.display()
        )
    })?;
    Ok((partial, file))
}

/// Removes a file when dropped unless disarmed.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a backup archive of the deployment `config` describes to `dest` (a new file), while
/// the server may run. Returns its manifest.
pub async fn create(config: &Config, dest: &Path) -> anyhow::Result<Manifest> {
    let started = Utc::now();
    let (partial, file) = open_destination(dest)?;
    let mut cleanup = Cleanup(Some(partial.clone()));
    let key_file = config.effective_ledger_key_file();
    let key = std::fs::read(&key_file).with_context(|| {
        format!(
            "cannot read the ledger key {} (start the server once to create it)",
            key_file.display()
        )
    })?;
    let url = config.effective_database_url();
    let engine = Engine::of_url(&url);
    let schema_version = database::schema_version(&url)
        .await
        .context("cannot read the database's schema version")?;
    // The database copy is staged next to the destination (same file system, not /tmp).
    let staging_parent = partial.parent().unwrap_or(Path::new(".")).to_path_buf();
    let staging = tempfile::Builder::new()
        .prefix(".zynk-backup-")
        .tempdir_in(&staging_parent)
        .with_context(|| format!("cannot write in {}", staging_parent.display()))?;
    let db_copy = staging.path().join("database");
    database::dump(&url, &db_copy, &config.backup).await?;
    let configuration = toml::to_string_pretty(config).context("configuration")?;
    let blob_dir = local_blob_dir(config);
    let manifest = Manifest {
        format: archive::FORMAT.into(),
        version: archive::FORMAT_VERSION,
        zynk_version: env!("CARGO_PKG_VERSION").into(),
        created_at: started,
        engine,
        schema_version,
        blobs: if blob_dir.is_some() {
            BlobsMode::Local
        } else {
            BlobsMode::External
        },
        external_storage: blob_dir
            .is_none()
            .then(|| zynk_backends::blob::redact(&config.effective_storage_url())),
        files: Vec::new(),
    };
    let manifest = tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let mut writer = archive::Writer::new(file);
        writer.add_file(engine.entry(), &db_copy)?;
        writer.add_bytes("ledger-validator.key", &key)?;
        writer.add_bytes("zynk.toml", configuration.as_bytes())?;
        if let Some(dir) = &blob_dir {
            // Finished blobs only; unfinished uploads are not worth keeping.
            let objects = dir.join("objects");
            for (relative, path) in walk(&objects)? {
                // A blob removed since the listing (a deleted file) is left out.
                writer.add_file(&format!("blobs/objects/{relative}"), &path)?;
            }
        }
        let manifest = writer.finish(manifest)?;
        drop(staging);
        Ok(manifest)
    })
    .await
    .context("the backup task failed")??;
    std::fs::rename(&partial, dest)
        .with_context(|| format!("cannot move the backup to {}", dest.display()))?;
    cleanup.0 = None;
    if let Some(parent) = dest.parent()
        && let Ok(dir) = std::fs::File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })
    {
        let _ = dir.sync_all();
    }
    Ok(manifest)
}

/// Checks the archive at `path` without restoring it: every entry against its checksum, the
/// manifest, the compression trailer.
pub async fn verify(path: &Path) -> Result<Manifest, ArchiveError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || archive::read(&path, None))
        .await
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Blobs put in the local blob directory.
    pub blobs: usize,
    /// Where the archived configuration was written, for the operator to compare.
    pub configuration: PathBuf,
    /// Ledger blocks and batches that verified.
    pub ledger: (u64, u64),
}

/// Restores the archive at `path` into the deployment `config` describes. Refuses a target that
/// holds data unless `force`.
pub async fn restore(config: &Config, path: &Path, force: bool) -> anyhow::Result<Restored> {
    if !path.is_file() {
        bail!("{} is not a file", path.display());
    }
    // 1. Read and check the whole archive into a staging directory in the data directory (or
    // beside it while it does not exist: a refused restore creates nothing).
    let staging_root = if config.data_dir.is_dir() {
        config.data_dir.clone()
    } else {
        match config.data_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let staging = tempfile::Builder::new()
        .prefix(".zynk-restore-")
        .tempdir_in(&staging_root)
        .with_context(|| format!("cannot write in {}", staging_root.display()))?;
    let manifest = {
        let (path, dir) = (path.to_path_buf(), staging.path().to_path_buf());
        tokio::task::spawn_blocking(move || archive::read(&path, Some(&dir)))
            .await
            .context("the restore task failed")??
    };
    // 2. Checks that need no change: the engine, the blob storage, an empty target.
    let url = config.effective_database_url();
    let engine = Engine::of_url(&url);
    if engine != manifest.engine {
        bail!(
            "the archive holds a {:?} database but database_url is {:?}: restore it with a \
             configuration of the same engine",
            manifest.engine,
            engine
        );
    }
    let blob_dir = local_blob_dir(config);
    if manifest.blobs == BlobsMode::Local && blob_dir.is_none() {
        bail!(
            "the archive holds local file blobs but files.storage_url points at S3: restore with \
             the local blob directory, then copy its objects/ into the bucket"
        );
    }
    let key_file = config.effective_ledger_key_file();
    let mut present = Vec::new();
    if let Some(what) = database::contents(&url).await? {
        present.push(what);
    }
    if key_file.exists() {
        present.push(format!("the ledger key {} exists", key_file.display()));
    }
    if let Some(dir) = &blob_dir
        && !walk(&dir.join("objects"))?.is_empty()
    {
        present.push(format!("the blob directory {} holds files", dir.display()));
    }
    if !present.is_empty() && !force {
        bail!(
            "the target is not empty ({}): restoring would replace it; use --force to do so",
            present.join("; ")
        );
    }
    crate::data_dir::secure(&config.data_dir, None).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    // 3. The database, in one step.
    database::restore(
        &url,
        &staging.path().join(manifest.engine.entry()),
        force,
        &config.backup,
    )
    .await
    .context("restoring the database failed")?;
    // 4. The ledger key (mode 0600).
    let staged_key = staging.path().join("ledger-validator.key");
    if let Some(parent) = key_file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    replace_file(&staged_key, &key_file)?;
    // 5. The blobs.
    let mut blobs = 0;
    if let Some(dir) = &blob_dir
        && manifest.blobs == BlobsMode::Local
    {
        let staged = staging.path().join("blobs").join("objects");
        let objects = dir.join("objects");
        for (relative, source) in walk(&staged)? {
            let target = objects.join(&relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            replace_file(&source, &target)?;
            blobs += 1;
        }
        std::fs::create_dir_all(dir.join("uploads"))?;
    }
    // 6. The archived configuration, beside the data, for the operator.
    let configuration = config.data_dir.join("zynk.toml.restored");
    let _ = std::fs::remove_file(&configuration);
    replace_file(&staging.path().join("zynk.toml"), &configuration)?;
    drop(staging);
    // 7. Bring the schema up to this version and verify the ledger with the restored key.
    let store = crate::open_store(config).await?;
    store.migrate_up().await?;
    store.ensure_partitions().await?;
    let key = crate::services::ledger::load_existing_key(&key_file)?;
    let ledger = crate::services::ledger::verify_ledger(store.as_ref(), &key.verifying_key())
        .await
        .map_err(|reason| {
            anyhow::anyhow!("the data was restored but the ledger does not verify: {reason}")
        })?;
    Ok(Restored {
        manifest,
        blobs,
        configuration,
        ledger,
    })
}

/// Moves `source` to `target` (replacing it), copying across file systems; mode 0600.
fn replace_file(source: &Path, target: &Path) -> anyhow::Result<()> {
    if std::fs::rename(source, target).is_err() {
        std::fs::copy(source, target)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The prefix of scheduled archives' names (`zynk-backup-20260102T030405Z.tar.gz`).
const SCHEDULED_PREFIX: &str = "zynk-backup-";
const SCHEDULED_SUFFIX: &str = ".tar.gz";

/// Writes one scheduled backup into `backup.dir` and removes the oldest scheduled archives
/// beyond `backup.keep`. Logs the outcome; returns the new archive.
pub async fn run_scheduled(config: &Config) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let result = scheduled_once(config).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!("zynk_backups_total", "outcome" => outcome).increment(1);
    metrics::histogram!("zynk_backup_duration_seconds").record(started.elapsed().as_secs_f64());
    match &result {
        Ok((path, manifest, removed)) => {
            metrics::gauge!("zynk_backup_last_success_timestamp_seconds")
                .set(Utc::now().timestamp() as f64);
            tracing::info!(
                path = %path.display(),
                files = manifest.files.len(),
                bytes = manifest.total_bytes(),
                removed_old = removed,
                duration_ms = started.elapsed().as_millis() as u64,
                "scheduled backup written"
            );
        }
        Err(e) => tracing::error!(error = format!("{e:#}"), "scheduled backup failed"),
    }
    result.map(|(path, _, _)| path)
}

async fn scheduled_once(config: &Config) -> anyhow::Result<(PathBuf, Manifest, usize)> {
    let dir = config.backup.effective_dir(&config.data_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create backup.dir {}", dir.display()))?;
    let name = format!(
        "{SCHEDULED_PREFIX}{}{SCHEDULED_SUFFIX}",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    let path = dir.join(name);
    let manifest = create(config, &path).await?;
    let removed = prune(&dir, config.backup.keep as usize)?;
    Ok((path, manifest, removed))
}

/// Removes the oldest scheduled archives in `dir` beyond `keep` (by name: names sort by time).
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<usize> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SCHEDULED_PREFIX) && n.ends_with(SCHEDULED_SUFFIX))
        })
        .collect();
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    for old in &archives[..excess] {
        std::fs::remove_file(old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(excess)
}

/// The interval of scheduled backups when `backup.schedule` is set (logged once); the job itself
/// runs under the job runner (`jobs::spawn_all`), so that several nodes on one database do not
/// each write an archive per interval.
pub fn scheduled_interval(config: &Config) -> Option<Duration> {
    let interval: Duration = config.backup.interval().ok().flatten()?;
    tracing::info!(
        every_secs = interval.as_secs(),
        keep = config.backup.keep,
        dir = %config.backup.effective_dir(&config.data_dir).display(),
        "scheduled backups on"
    );
    Some(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_scheduled_archives_only() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in ["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"] {
            std::fs::write(dir.path().join(format!("zynk-backup-{stamp}.tar.gz")), b"x").unwrap();
        }
        std::fs::write(dir.path().join("other.tar.gz"), b"x").unwrap();
        assert_eq!(prune(dir.path(), 2).unwrap(), 1);
        assert!(
            !dir.path()
                .join("zynk-backup-20260101T000000Z.tar.gz")
                .exists()
        );
        assert!(
            dir.path()
                .join("zynk-backup-20260103T000000Z.tar.gz")
                .exists()
        );
        assert!(dir.path().join("other.tar.gz").exists());
    }

    #[test]
    fn a_backup_never_overwrites_and_needs_a_writable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("a.tar.gz");
        std::fs::write(&existing, b"x").unwrap();
        let err = open_destination(&existing).unwrap_err().to_string();
        assert!(err.contains("exists"), "{err}");
        let err = open_destination(&dir.path().join("missing/a.tar.gz"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
