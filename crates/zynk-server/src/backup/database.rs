//! The database part of a backup: a consistent copy while the server runs (SQLite's `VACUUM
//! INTO`, PostgreSQL's `pg_dump` in its custom format), whether a target database is empty, and
//! putting a copy back (a file rename, or `pg_restore` in one transaction).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::BackupConfig;

/// How long a SQLite statement waits for the writer before giving up.
const SQLITE_BUSY: std::time::Duration = std::time::Duration::from_secs(60);

/// The newest applied migration of the database at `url` (0 when none).
pub async fn schema_version(url: &str) -> anyhow::Result<i64> {
    // Both engines keep migrations in sqlx's table.
    let query = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
    if url.starts_with("sqlite:") {
        let mut conn = sqlite_connect(url, false).await?;
        Ok(sqlx::query_scalar(query).fetch_one(&mut conn).await?)
    } else {
        let mut conn = PgConnection::connect(url).await?;
        Ok(sqlx::query_scalar(query).fetch_one(&mut conn).await?)
    }
}

async fn sqlite_connect(url: &str, create: bool) -> anyhow::Result<SqliteConnection> {
    let path = crate::data_dir::sqlite_path(url)
        .ok_or_else(|| anyhow::anyhow!("an in-memory SQLite database cannot be backed up"))?;
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(create)
        .busy_timeout(SQLITE_BUSY);
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))
}

/// Writes a consistent copy of the database at `url` into `target` (a new file): SQLite with
/// `VACUUM INTO` (one read transaction: writers go on), PostgreSQL with `pg_dump --format=custom`
/// (one snapshot).
pub async fn dump(url: &str, target: &Path, backup: &BackupConfig) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let mut conn = sqlite_connect(url, false).await?;
        let target = target
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", target.display()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&mut conn)
            .await
            .context("SQLite online copy (VACUUM INTO) failed")?;
        conn.close().await.ok();
        return Ok(());
    }
    check_pg_tool("pg_dump", url, backup).await?;
    let (conninfo, password) = split_password(url)?;
    let mut command = tokio::process::Command::new(tool_path("pg_dump", backup));
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--file")
        .arg(target)
        .arg("--dbname")
        .arg(&conninfo);
    run_pg(command, password, "pg_dump").await
}

/// Whether the database at `url` holds anything: a SQLite file with a table in it, a PostgreSQL
/// database with a table outside the system schemas. A description of what is there, or `None`.
pub async fn contents(url: &str) -> anyhow::Result<Option<String>> {
    if url.starts_with("sqlite:") {
        let Some(path) = crate::data_dir::sqlite_path(url) else {
            return Ok(None);
        };
        let size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(format!("{}", path.display())),
        };
        if size == 0 {
            return Ok(None);
        }
        let mut conn = sqlite_connect(url, false).await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await.ok();
        return Ok((tables > 0)
            .then(|| format!("the SQLite database {} has {tables} tables", path.display())));
    }
    let mut conn = PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_catalog.pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok((tables > 0).then(|| format!("the PostgreSQL database has {tables} tables")))
}

/// Puts the copy at `source` in place of the database at `url`. SQLite: the file is renamed (or
/// copied) over the database and its journal files. PostgreSQL: with `clear`, the `public`
/// schema is dropped and made again first; then `pg_restore` runs in one transaction, so a
/// failure leaves the database as it was.
pub async fn restore(
    url: &str,
    source: &Path,
    clear: bool,
    backup: &BackupConfig,
) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let target = crate::data_dir::sqlite_path(url)
            .ok_or_else(|| anyhow::anyhow!("cannot restore into an in-memory SQLite database"))?;
        return restore_sqlite(source, &target);
    }
    check_pg_tool("pg_restore", url, backup).await?;
    if clear {
        let mut conn = PgConnection::connect(url).await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DROP SCHEMA IF EXISTS public CASCADE")
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE SCHEMA public")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        conn.close().await.ok();
    }
    let (conninfo, password) = split_password(url)?;
    let mut command = tokio::process::Command::new(tool_path("pg_restore", backup));
    command
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--dbname")
        .arg(&conninfo)
        .arg(source);
    run_pg(command, password, "pg_restore").await
}

fn restore_sqlite(source: &Path, target: &Path) -> anyhow::Result<()> {
    if let Some(parent) = target.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut path = target.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::remove_file(PathBuf::from(path)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Same file system: an atomic rename. Elsewhere: copy next to the target, then rename.
    if std::fs::rename(source, target).is_err() {
        let mut partial = target.as_os_str().to_owned();
        partial.push(".restoring");
        let partial = PathBuf::from(partial);
        std::fs::copy(source, &partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, target)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn tool_path(tool: &str, backup: &BackupConfig) -> PathBuf {
    match &backup.pg_bin_dir {
        Some(dir) => dir.join(tool),
        None => PathBuf::from(tool),
    }
}

/// The major version of `pg_dump`/`pg_restore` (from `--version`).
pub async fn tool_major(tool: &str, backup: &BackupConfig) -> anyhow::Result<u32> {
    let path = tool_path(tool, backup);
    let out = tokio::process::Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| {
            format!(
                "cannot run {}: install the PostgreSQL client tools (Debian: postgresql-client) \
                 or set backup.pg_bin_dir",
                path.display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
    text.split_whitespace()
        .find_map(|word| {
            let major = word.split('.').next()?;
            (word.contains('.') || word.chars().all(|c| c.is_ascii_digit()))
                .then(|| u32::from_str(major).ok())
                .flatten()
        })
        .ok_or_else(|| anyhow::anyhow!("cannot read the version of {}: {text}", path.display()))
}

/// The major version of the PostgreSQL server at `url`.
pub async fn server_major(url: &str) -> anyhow::Result<u32> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let num: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await.ok();
    let num: u32 = num.trim().parse().context("server_version_num")?;
    Ok(num / 10_000)
}

/// Refuses a `pg_dump`/`pg_restore` older than the server (it cannot read a newer server).
async fn check_pg_tool(tool: &str, url: &str, backup: &BackupConfig) -> anyhow::Result<()> {
    let client = tool_major(tool, backup).await?;
    let server = server_major(url).await?;
    if client < server {
        bail!(
            "{tool} is PostgreSQL {client} but the server is PostgreSQL {server}: install the \
             client tools of version {server} or newer (Debian: postgresql-client-{server}) and \
             point backup.pg_bin_dir at them"
        );
    }
    Ok(())
}

/// A PostgreSQL URL without its password (so it does not show in the process list), and the
/// password (given to the tools through `PGPASSWORD`).
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("database_url is not a URL")?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if password.is_some() {
        let _ = parsed.set_password(None);
    }
    Ok((parsed.to_string(), password))
}

async fn run_pg(
    mut command: tokio::process::Command,
    password: Option<String>,
    tool: &str,
) -> anyhow::Result<()> {
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("cannot run {tool}"))?;
    if !out.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, password) =
            split_password("postgres://zynk:s%40cret@db.example:5432/zynk").unwrap();
        assert_eq!(url, "postgres://zynk@db.example:5432/zynk");
        assert_eq!(password.as_deref(), Some("s@cret"));
        let (url, password) = split_password("postgres://postgres@127.0.0.1/zynk").unwrap();
        assert_eq!(url, "postgres://postgres@127.0.0.1/zynk");
        assert_eq!(password, None);
    }
}
