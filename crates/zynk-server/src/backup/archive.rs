//! The archive: a gzip-compressed tar of the database, the ledger key, the configuration and the
//! local blobs, with `MANIFEST.json` (what is inside, each file's size and SHA-256) as its last
//! entry. Reading checks every entry against the manifest, refuses paths that leave the archive,
//! and reads the gzip trailer, so a corrupt or truncated archive is refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's name inside the archive.
pub const MANIFEST: &str = "MANIFEST.json";
/// The `format` of a Zynk backup manifest.
pub const FORMAT: &str = "zynk-backup";
/// The manifest version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Which database engine the dump in an archive is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// A SQLite database file (`database/zynk.db`).
    Sqlite,
    /// A `pg_dump` custom-format dump (`database/zynk.pgdump`).
    Postgres,
}

impl Engine {
    /// The engine of a database URL.
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            Engine::Postgres
        }
    }

    /// The database's path inside the archive.
    pub fn entry(self) -> &'static str {
        match self {
            Engine::Sqlite => "database/zynk.db",
            Engine::Postgres => "database/zynk.pgdump",
        }
    }
}

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The `zynkd` version that wrote it.
    pub zynk_version: String,
    /// When the backup started.
    pub created_at: DateTime<Utc>,
    /// The database engine.
    pub engine: Engine,
    /// The newest applied migration of the backed-up database.
    pub schema_version: i64,
    /// Whether the file blobs are inside (`local`) or stayed in external storage (`external`,
    /// S3: the archive holds none of them).
    pub blobs: BlobsMode,
    /// The external blob storage (password hidden), when `blobs` is `external`.
    pub external_storage: Option<String>,
    /// Every file in the archive but the manifest.
    pub files: Vec<FileEntry>,
}

/// Where a backup's file blobs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobsMode {
    /// In the archive under `blobs/`.
    Local,
    /// In S3-compatible storage, not in the archive.
    External,
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

impl Manifest {
    /// Bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// How many blobs the archive holds.
    pub fn blob_count(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.path.starts_with("blobs/"))
            .count()
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Writes an archive to `file`, entry by entry; [`Writer::finish`] appends the manifest.
pub struct Writer {
    builder: tar::Builder<GzEncoder<BufWriter<File>>>,
    files: Vec<FileEntry>,
}

impl Writer {
    /// Starts an archive in `file` (already created).
    pub fn new(file: File) -> Self {
        let encoder = GzEncoder::new(BufWriter::with_capacity(1 << 20, file), Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        Self {
            builder,
            files: Vec::new(),
        }
    }

    fn header(size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(0);
        header
    }

    /// Adds `bytes` as `path`.
    pub fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.add_reader(path, bytes.len() as u64, bytes)
    }

    /// Adds `size` bytes read from `reader` as `path`; fails if fewer come.
    pub fn add_reader(&mut self, path: &str, size: u64, reader: impl Read) -> io::Result<()> {
        let mut hashing = Hashing {
            inner: reader.take(size),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut header = Self::header(size);
        self.builder.append_data(&mut header, path, &mut hashing)?;
        if hashing.bytes != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path} shrank while it was read"),
            ));
        }
        self.files.push(FileEntry {
            path: path.to_owned(),
            size,
            sha256: hex::encode(hashing.hasher.finalize()),
        });
        Ok(())
    }

    /// Adds the file at `source` as `path`: `Ok(false)` if it vanished before it was opened.
    pub fn add_file(&mut self, path: &str, source: &Path) -> io::Result<bool> {
        let file = match File::open(source) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", source.display()),
                ));
            }
        };
        let size = file.metadata()?.len();
        self.add_reader(path, size, BufReader::with_capacity(1 << 20, file))?;
        Ok(true)
    }

    /// Appends the manifest (its `files` filled in), finishes the compression and syncs the
    /// file to disk.
    pub fn finish(mut self, mut manifest: Manifest) -> io::Result<Manifest> {
        manifest.files = std::mem::take(&mut self.files);
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        let mut header = Self::header(json.len() as u64);
        self.builder
            .append_data(&mut header, MANIFEST, json.as_slice())?;
        let encoder = self.builder.into_inner()?;
        let mut buffered = encoder.finish()?;
        buffered.flush()?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(manifest)
    }
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// It could not be opened.
    #[error("cannot open the archive {path}: {source}")]
    Open {
        /// The archive.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Its bytes are damaged or cut off.
    #[error("the archive is corrupt or truncated: {0}")]
    Corrupt(String),
    /// It is readable but not a Zynk backup this build understands.
    #[error("not a usable Zynk backup: {0}")]
    Invalid(String),
    /// Writing an extracted file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
}

/// Checks an entry path: relative, plain components only (`a/b/c`), no `..`.
fn safe_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Reads the archive at `path`, checking every entry against the manifest. With `extract_to`,
/// writes each file under that directory (created files are mode 0600). Returns the manifest.
pub fn read(path: &Path, extract_to: Option<&Path>) -> Result<Manifest, ArchiveError> {
    let file = File::open(path).map_err(|source| ArchiveError::Open {
        path: path.display().to_string(),
        source,
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ArchiveError::Open {
            path: path.display().to_string(),
            source: io::Error::other("it is a directory"),
        });
    }
    let corrupt = |e: io::Error| ArchiveError::Corrupt(e.to_string());
    let decoder = GzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(decoder);
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        let raw_path = entry.path().map_err(corrupt)?.into_owned();
        let Some(name) = safe_path(&raw_path) else {
            return Err(ArchiveError::Invalid(format!(
                "entry {} is outside the archive",
                raw_path.display()
            )));
        };
        if !kind.is_file() {
            return Err(ArchiveError::Invalid(format!(
                "entry {name} is not a regular file"
            )));
        }
        if manifest.is_some() {
            return Err(ArchiveError::Invalid(format!(
                "entry {name} comes after the manifest"
            )));
        }
        if name == MANIFEST {
            let mut json = Vec::new();
            entry
                .take(16 << 20)
                .read_to_end(&mut json)
                .map_err(corrupt)?;
            let parsed: Manifest = serde_json::from_slice(&json)
                .map_err(|e| ArchiveError::Invalid(format!("unreadable manifest: {e}")))?;
            manifest = Some(parsed);
            continue;
        }
        let mut hashing = Hashing {
            inner: entry,
            hasher: Sha256::new(),
            bytes: 0,
        };
        match extract_to {
            Some(dir) => {
                let target: PathBuf = dir.join(&name);
                let write_err = |source| ArchiveError::Write {
                    path: target.display().to_string(),
                    source,
                };
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(write_err)?;
                }
                let out = create_private(&target).map_err(write_err)?;
                let mut out = BufWriter::with_capacity(1 << 20, out);
                copy(&mut hashing, &mut out).map_err(|e| match e {
                    CopyError::Read(e) => corrupt(e),
                    CopyError::Write(e) => write_err(e),
                })?;
                out.flush().map_err(write_err)?;
            }
            None => {
                copy(&mut hashing, &mut io::sink()).map_err(|e| match e {
                    CopyError::Read(e) | CopyError::Write(e) => corrupt(e),
                })?;
            }
        }
        if seen
            .insert(
                name.clone(),
                (hashing.bytes, hex::encode(hashing.hasher.finalize())),
            )
            .is_some()
        {
            return Err(ArchiveError::Invalid(format!("entry {name} appears twice")));
        }
    }
    // Read to the end of the compressed stream: its trailer holds the CRC of everything.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;
    let manifest = manifest.ok_or_else(|| {
        ArchiveError::Corrupt("it has no manifest (cut off, or not a Zynk backup)".into())
    })?;
    if manifest.format != FORMAT {
        return Err(ArchiveError::Invalid(format!(
            "format {:?}, expected {FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(ArchiveError::Invalid(format!(
            "format version {} (this zynkd reads version {FORMAT_VERSION})",
            manifest.version
        )));
    }
    for file in &manifest.files {
        match seen.remove(&file.path) {
            None => {
                return Err(ArchiveError::Corrupt(format!(
                    "{} is listed in the manifest but missing",
                    file.path
                )));
            }
            Some((size, sha256)) if size != file.size || sha256 != file.sha256 => {
                return Err(ArchiveError::Corrupt(format!(
                    "{} does not match its checksum",
                    file.path
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(ArchiveError::Invalid(format!(
            "{extra} is not listed in the manifest"
        )));
    }
    if !manifest
        .files
        .iter()
        .any(|f| f.path == manifest.engine.entry())
    {
        return Err(ArchiveError::Invalid(format!(
            "it holds no database ({})",
            manifest.engine.entry()
        )));
    }
    Ok(manifest)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> Result<(), CopyError> {
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buffer[..n]).map_err(CopyError::Write)?;
    }
}

/// Creates `path` (failing if it exists) readable by its owner only.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            zynk_version: "test".into(),
            created_at: Utc::now(),
            engine: Engine::Sqlite,
            schema_version: 1,
            blobs: BlobsMode::Local,
            external_storage: None,
            files: Vec::new(),
        }
    }

    fn write(dir: &Path) -> PathBuf {
        let path = dir.join("a.tar.gz");
        let mut writer = Writer::new(create_private(&path).unwrap());
        // Pseudo-random bytes (xorshift): compression finds no runs in them.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let database: Vec<u8> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        writer.add_bytes("database/zynk.db", &database).unwrap();
        writer.add_bytes("blobs/objects/x", b"blob").unwrap();
        writer.finish(manifest()).unwrap();
        path
    }

    #[test]
    fn an_archive_reads_back_and_extracts() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path());
        let read_back = read(&path, None).unwrap();
        assert_eq!(read_back.files.len(), 2);
        assert_eq!(read_back.blob_count(), 1);
        let out = dir.path().join("out");
        read(&path, Some(&out)).unwrap();
        assert_eq!(std::fs::read(out.join("blobs/objects/x")).unwrap(), b"blob");
    }

    #[test]
    fn truncated_and_altered_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for cut in [10, bytes.len() / 2, bytes.len() - 4] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = read(&path, None).unwrap_err();
            assert!(matches!(err, ArchiveError::Corrupt(_)), "cut {cut}: {err}");
        }
        // A byte changed in the compressed data of the (incompressible) database is caught. (A
        // change inside a run of equal bytes can decode to the same bytes: nothing is altered.)
        let mut altered = bytes.clone();
        let middle = altered.len() / 2;
        altered[middle] ^= 0x55;
        std::fs::write(&path, &altered).unwrap();
        assert!(read(&path, None).is_err());
        std::fs::write(&path, b"not an archive at all").unwrap();
        assert!(matches!(
            read(&path, None).unwrap_err(),
            ArchiveError::Corrupt(_)
        ));
    }

    #[test]
    fn a_checksum_that_does_not_match_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar.gz");
        let mut writer = Writer::new(create_private(&path).unwrap());
        writer.add_bytes("database/zynk.db", b"one").unwrap();
        let mut lying = manifest();
        writer.files[0].sha256 = hex::encode(Sha256::digest(b"two"));
        lying.files.clear();
        writer.finish(lying).unwrap();
        let err = read(&path, None).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
