//! `zynkd doctor`: checks a configuration and its environment and says what to fix. It changes
//! nothing (a probe file or object it writes is removed at once).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use zynk_server::Config;

/// How long a network probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest difference to the database server's clock before the clock check fails.
const MAX_SKEW: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn ok(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into(), None);
    }
    fn warn(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Warn, detail.into(), Some(fix.into()));
    }
    fn fail(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Fail, detail.into(), Some(fix.into()));
    }
    fn push(&mut self, name: &'static str, status: Status, detail: String, fix: Option<String>) {
        self.0.push(Check {
            name,
            status,
            detail,
            fix,
        });
    }
}

/// Runs every check, prints them (text or one JSON document) and fails when one failed.
pub async fn run(config: Config, file: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let mut report = Report::default();
    report.ok(
        "configuration",
        match file {
            Some(file) => format!("{} and ZYNK_* variables are valid", file.display()),
            None => "defaults and ZYNK_* variables are valid (no --config file)".into(),
        },
    );
    check_data_dir(&config, &mut report);
    check_private_files(&config, &mut report);
    check_ledger_key(&config, &mut report);
    let db_time = check_database(&config, &mut report).await;
    check_clock(db_time, &mut report);
    check_redis(&config, &mut report).await;
    check_blobs(&config, &mut report).await;
    check_turn(&config, &mut report).await;
    check_descriptors(&config, &mut report);
    check_backup(&config, &mut report).await;
    let failed = report.0.iter().filter(|c| c.status == Status::Fail).count();
    let warned = report.0.iter().filter(|c| c.status == Status::Warn).count();
    if json {
        let doc = serde_json::json!({
            "ok": failed == 0,
            "failed": failed,
            "warnings": warned,
            "checks": report.0,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for check in &report.0 {
            let label = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            println!("{label} {}: {}", check.name, check.detail);
            if let Some(fix) = &check.fix {
                println!("     fix: {fix}");
            }
        }
        println!(
            "{} checks: {} failed, {} warnings",
            report.0.len(),
            failed,
            warned
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// Creates and removes a probe file in `dir`.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".zynkd-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

fn check_data_dir(config: &Config, report: &mut Report) {
    let dir = &config.data_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.warn(
                "data_dir",
                format!("{} does not exist yet", dir.display()),
                format!(
                    "it is created (mode 0700) on first start; or create it now: install -d -m 700 {}",
                    dir.display()
                ),
            );
            return;
        }
        Err(e) => {
            report.fail(
                "data_dir",
                format!("{}: {e}", dir.display()),
                "give the server's user access to the data directory",
            );
            return;
        }
    };
    if !meta.is_dir() {
        report.fail(
            "data_dir",
            format!("{} is not a directory", dir.display()),
            "point data_dir (ZYNK_DATA_DIR) at a directory",
        );
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            report.fail(
                "data_dir",
                format!(
                    "{} belongs to uid {}, not to this user (uid {me})",
                    dir.display(),
                    meta.uid()
                ),
                format!(
                    "run zynkd as the directory's owner, or: chown -R $(id -un) {}",
                    dir.display()
                ),
            );
            return;
        }
    }
    if let Some(mode) = mode_of(dir)
        && mode & 0o077 != 0
    {
        report.fail(
            "data_dir",
            format!(
                "{} has mode {mode:04o}: others can read the database and keys",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        );
        return;
    }
    match probe_write(dir) {
        Ok(()) => report.ok(
            "data_dir",
            format!("{} is private (0700) and writable", dir.display()),
        ),
        Err(e) => report.fail(
            "data_dir",
            format!("{} is not writable: {e}", dir.display()),
            "give the server's user write access (a read-only mount? ReadWritePaths= in systemd)",
        ),
    }
}

fn check_private_files(config: &Config, report: &mut Report) {
    let mut files: Vec<PathBuf> = vec![
        config.effective_ledger_key_file(),
        config.effective_evm_key_file(),
    ];
    if let Some(db) = zynk_server::data_dir::sqlite_path(&config.effective_database_url()) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            files.push(PathBuf::from(path));
        }
    }
    let mut open = Vec::new();
    let mut seen = 0;
    for file in files.iter().filter(|f| f.exists()) {
        seen += 1;
        if let Some(mode) = mode_of(file)
            && mode & 0o077 != 0
        {
            open.push(format!("{} ({mode:04o})", file.display()));
        }
    }
    if open.is_empty() {
        report.ok(
            "file_permissions",
            format!("{seen} database and key files are readable by their owner only"),
        );
    } else {
        report.fail(
            "file_permissions",
            format!("readable by others: {}", open.join(", ")),
            format!(
                "chmod 600 {}",
                open.iter()
                    .map(|o| o.split(" (").next().unwrap_or(o))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
    }
}

fn check_ledger_key(config: &Config, report: &mut Report) {
    let path = config.effective_ledger_key_file();
    if !path.exists() {
        report.warn(
            "ledger_key",
            format!("{} does not exist yet", path.display()),
            "it is created on first start; every node of a deployment needs the same key: copy \
             it from the first node, and keep it in your backups",
        );
        return;
    }
    match zynk_server::services::ledger::load_existing_key(&path) {
        Ok(_) => report.ok("ledger_key", format!("{} is a valid key", path.display())),
        Err(e) => report.fail(
            "ledger_key",
            e.to_string(),
            "restore the key file from a backup (zynkd backup restore)",
        ),
    }
}

/// Checks the database; returns its clock (PostgreSQL) for the clock check.
async fn check_database(
    config: &Config,
    report: &mut Report,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let url = config.effective_database_url();
    let shown = zynk_server::config::redact_url(&url);
    if let Some(path) = zynk_server::data_dir::sqlite_path(&url) {
        if !path.exists() {
            report.warn(
                "database",
                format!("{} does not exist yet", path.display()),
                "it is created on first start (zynkd serve or zynkd migrate up)",
            );
            return None;
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            report.fail(
                "database",
                format!("{} cannot be opened for writing: {e}", path.display()),
                "give the server's user read and write access to the database file",
            );
            return None;
        }
    }
    // Connecting this way applies nothing and changes no permission.
    let settings = zynk_backends::sql::PoolSettings {
        max_connections: 1,
        ..zynk_backends::sql::PoolSettings::default()
    };
    let store = match tokio::time::timeout(
        Duration::from_secs(10),
        zynk_backends::sql::connect(&url, &settings),
    )
    .await
    {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            report.fail(
                "database",
                format!("{shown}: {e}"),
                "check database_url, that the server runs and that this role may connect",
            );
            return None;
        }
        Err(_) => {
            report.fail(
                "database",
                format!("{shown}: no answer within 10 s"),
                "check database_url and the network path to the database",
            );
            return None;
        }
    };
    match store.migration_status().await {
        Ok(status) => {
            let pending = status.iter().filter(|m| !m.applied).count();
            if pending == 0 {
                report.ok(
                    "database",
                    format!("{shown} reachable, {} migrations applied", status.len()),
                );
            } else {
                report.warn(
                    "database",
                    format!("{shown} reachable, {pending} migrations pending"),
                    "zynkd serve applies them on start; or run zynkd migrate up",
                );
            }
        }
        Err(e) => report.fail(
            "database",
            format!("{shown}: {e}"),
            "check that this role may read the database",
        ),
    }
    if url.starts_with("sqlite:") {
        return None;
    }
    use sqlx::Connection as _;
    let mut conn = sqlx::postgres::PgConnection::connect(&url).await.ok()?;
    let (time, can_create): (chrono::DateTime<chrono::Utc>, bool) =
        sqlx::query_as("SELECT now(), has_schema_privilege(current_user, 'public', 'CREATE')")
            .fetch_one(&mut conn)
            .await
            .ok()?;
    if !can_create {
        report.fail(
            "database_privileges",
            "this role may not create tables in the public schema (migrations need it)",
            "GRANT CREATE ON SCHEMA public TO the role, or make it the database's owner",
        );
    }
    Some(time)
}

fn check_clock(db_time: Option<chrono::DateTime<chrono::Utc>>, report: &mut Report) {
    let now = chrono::Utc::now();
    if now.timestamp() < 1_735_689_600 {
        report.fail(
            "clock",
            format!("the system clock says {}", now.to_rfc3339()),
            "set the clock and keep it synchronised (chrony or systemd-timesyncd): tokens, \
             expiries and the ledger depend on it",
        );
        return;
    }
    match db_time {
        Some(db) => {
            let skew = (now - db).abs();
            let skew_std = skew.to_std().unwrap_or_default();
            if skew_std > MAX_SKEW {
                report.fail(
                    "clock",
                    format!(
                        "this host's clock differs from the database server's by {:.1} s",
                        skew_std.as_secs_f64()
                    ),
                    "synchronise both clocks (chrony or systemd-timesyncd)",
                );
            } else {
                report.ok(
                    "clock",
                    format!(
                        "{} (within {} ms of the database server)",
                        now.to_rfc3339(),
                        skew.num_milliseconds()
                    ),
                );
            }
        }
        None => report.ok(
            "clock",
            format!(
                "{} (no database clock to compare with; keep it synchronised)",
                now.to_rfc3339()
            ),
        ),
    }
}

async fn check_redis(config: &Config, report: &mut Report) {
    let Some(url) = &config.redis_url else {
        report.ok("redis", "not configured: in-process state (one node only)");
        return;
    };
    let shown = zynk_server::config::redact_url(url);
    match tokio::time::timeout(Duration::from_secs(10), zynk_server::open_ephemeral(config)).await {
        Ok(Ok(_)) => report.ok("redis", format!("{shown} reachable")),
        Ok(Err(e)) => report.fail(
            "redis",
            format!("{shown}: {e}"),
            "check redis_url and that Redis runs",
        ),
        Err(_) => report.fail(
            "redis",
            format!("{shown}: no answer within 10 s"),
            "check redis_url and the network path to Redis",
        ),
    }
}

async fn check_blobs(config: &Config, report: &mut Report) {
    let url = config.effective_storage_url();
    let shown = zynk_backends::blob::redact(&url);
    let local = !(url.starts_with("s3://") || url.starts_with("s3+http://"));
    if local {
        let dir = PathBuf::from(url.strip_prefix("file://").unwrap_or(&url));
        let objects = dir.join("objects");
        if !objects.exists() {
            report.warn(
                "file_storage",
                format!("{} does not exist yet", dir.display()),
                "it is created on first start",
            );
            return;
        }
        match probe_write(&objects) {
            Ok(()) => report.ok(
                "file_storage",
                format!("local directory {} is writable", dir.display()),
            ),
            Err(e) => report.fail(
                "file_storage",
                format!("{} is not writable: {e}", objects.display()),
                "give the server's user write access to the blob directory",
            ),
        }
        return;
    }
    let fix = "check files.storage_url (host, bucket, keys) and that the bucket exists";
    let store = match zynk_backends::blob::open(&url).await {
        Ok(store) => store,
        Err(e) => {
            report.fail("file_storage", format!("{shown}: {e}"), fix);
            return;
        }
    };
    // Write, read the size of and delete a small probe object.
    let key = format!("doctor/probe-{}", std::process::id());
    let probe = async {
        let handle = store.begin_upload(&key).await?;
        let part = store
            .put_part(
                &key,
                &handle,
                0,
                0,
                vec![bytes::Bytes::from_static(b"probe")],
            )
            .await?;
        store.complete_upload(&key, &handle, &[part]).await?;
        let size = store.size(&key).await?;
        store.delete(&key).await?;
        Ok::<_, zynk_backends::blob::BlobError>(size)
    };
    match tokio::time::timeout(Duration::from_secs(15), probe).await {
        Ok(Ok(Some(5))) => report.ok("file_storage", format!("{shown} reachable and writable")),
        Ok(Ok(size)) => report.fail(
            "file_storage",
            format!("{shown}: a probe object read back with size {size:?}"),
            fix,
        ),
        Ok(Err(e)) => report.fail("file_storage", format!("{shown}: {e}"), fix),
        Err(_) => report.fail(
            "file_storage",
            format!("{shown}: no answer within 15 s"),
            fix,
        ),
    }
}

/// A STUN binding request (RFC 5389): type 0x0001, no attributes, the magic cookie and a
/// transaction id.
fn stun_request(id: &[u8; 12]) -> [u8; 20] {
    let mut packet = [0u8; 20];
    packet[..2].copy_from_slice(&[0x00, 0x01]);
    packet[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    packet[8..].copy_from_slice(id);
    packet
}

/// Probes one TURN/STUN URL: a STUN binding request over UDP, a TCP connection otherwise.
async fn probe_turn(url: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| "not a turn:, turns: or stun: URL".to_owned())?;
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let tls = scheme == "turns" || scheme == "stuns";
    if !matches!(scheme, "turn" | "turns" | "stun" | "stuns") {
        return Err("not a turn:, turns: or stun: URL".into());
    }
    let udp = !tls && !query.contains("transport=tcp");
    let has_port = address
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !address.ends_with(']');
    let target = if has_port {
        address.to_owned()
    } else {
        format!("{address}:{}", if tls { 5349 } else { 3478 })
    };
    let addr = tokio::net::lookup_host(&target)
        .await
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target} resolves to no address"))?;
    if udp {
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = tokio::net::UdpSocket::bind(local)
            .await
            .map_err(|e| e.to_string())?;
        let mut id = [0u8; 12];
        id.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
        let request = stun_request(&id);
        for _ in 0..3 {
            socket
                .send_to(&request, addr)
                .await
                .map_err(|e| e.to_string())?;
            let mut buffer = [0u8; 1500];
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buffer)).await
                && n >= 20
                && buffer[..2] == [0x01, 0x01]
                && buffer[8..20] == id
            {
                return Ok(format!("{addr} answered a STUN binding request (UDP)"));
            }
        }
        Err(format!("{addr}: no STUN answer over UDP within 3 s"))
    } else {
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(format!("{addr} accepts TCP connections")),
            Ok(Err(e)) => Err(format!("{addr}: {e}")),
            Err(_) => Err(format!("{addr}: no TCP answer within 3 s")),
        }
    }
}

async fn check_turn(config: &Config, report: &mut Report) {
    let turn = &config.turn;
    match (turn.shared_secret.is_some(), turn.urls.is_empty()) {
        (false, true) => {
            report.ok(
                "turn",
                "not configured: calls get no relay (GET /api/v1/turn answers 503)",
            );
            return;
        }
        (true, true) => {
            report.fail(
                "turn",
                "turn.shared_secret is set but turn.urls is empty",
                "list the TURN server's URLs in turn.urls",
            );
            return;
        }
        (false, false) => {
            report.fail(
                "turn",
                "turn.urls is set but turn.shared_secret is not: no credentials are handed out",
                "set turn.shared_secret to coturn's static-auth-secret",
            );
            return;
        }
        (true, false) => {}
    }
    for url in &turn.urls {
        match probe_turn(url).await {
            Ok(detail) => report.ok("turn", format!("{url}: {detail}")),
            Err(why) => report.fail(
                "turn",
                format!("{url}: {why}"),
                "check that coturn runs, listens there and that no firewall blocks the port",
            ),
        }
    }
}

fn check_descriptors(config: &Config, report: &mut Report) {
    let connections = &config.connections;
    let wanted = (connections.max_connections + connections.reserved_descriptors) as u64;
    // zynkd serve raises its soft limit to the hard limit the same way.
    match zynk_server::serve::raise_descriptor_limit() {
        Some(limit) if limit < wanted => report.warn(
            "descriptors",
            format!(
                "the open-files limit is {limit}: the server will hold at most {} connections \
                 (connections.max_connections is {})",
                limit.saturating_sub(connections.reserved_descriptors as u64),
                connections.max_connections
            ),
            format!("raise it to at least {wanted}: LimitNOFILE={wanted} in the systemd unit, or ulimit -n"),
        ),
        Some(limit) => report.ok(
            "descriptors",
            format!("the open-files limit is {limit} (needed: {wanted})"),
        ),
        None => report.ok("descriptors", "no open-files limit on this platform"),
    }
}

async fn check_backup(config: &Config, report: &mut Report) {
    let url = config.effective_database_url();
    if !url.starts_with("sqlite:") {
        let backup = &config.backup;
        let tool = zynk_server::backup::database::tool_major("pg_dump", backup).await;
        let server = zynk_server::backup::database::server_major(&url).await;
        match (tool, server) {
            (Ok(tool), Ok(server)) if tool >= server => report.ok(
                "pg_dump",
                format!("pg_dump {tool} can back up the PostgreSQL {server} server"),
            ),
            (Ok(tool), Ok(server)) => report.fail(
                "pg_dump",
                format!(
                    "pg_dump is {tool}, older than the server ({server}): zynkd backup create fails"
                ),
                format!("install postgresql-client-{server} and set backup.pg_bin_dir"),
            ),
            (Err(e), _) => report.fail(
                "pg_dump",
                format!("{e:#}"),
                "install the PostgreSQL client tools (Debian: postgresql-client)",
            ),
            (_, Err(_)) => {}
        }
    }
    let Ok(Some(interval)) = config.backup.interval() else {
        report.ok(
            "backup",
            "no scheduled backups (backup.schedule = \"off\"); take them with zynkd backup create",
        );
        return;
    };
    let dir = config.backup.effective_dir(&config.data_dir);
    let writable = if dir.exists() {
        probe_write(&dir).map_err(|e| e.to_string())
    } else {
        match dir.parent().filter(|p| p.exists()) {
            Some(parent) => probe_write(parent).map_err(|e| e.to_string()),
            None => Err("neither it nor its parent exists".into()),
        }
    };
    match writable {
        Ok(()) => report.ok(
            "backup",
            format!(
                "every {} s into {}, keeping {}",
                interval.as_secs(),
                dir.display(),
                config.backup.keep
            ),
        ),
        Err(why) => report.fail(
            "backup",
            format!("backup.dir {} is not writable: {why}", dir.display()),
            "create it, owned by the server's user (mode 0700)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stun_request_has_the_magic_cookie() {
        let packet = stun_request(&[7; 12]);
        assert_eq!(&packet[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
        assert_eq!(&packet[8..], &[7; 12]);
    }
}
