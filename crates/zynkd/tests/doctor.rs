//! Running Zynk: `zynkd doctor` on a healthy deployment (SQLite with local blobs, PostgreSQL +
//! Redis + S3 with a real coturn) and on broken ones (permissions, unreachable S3 and TURN), and
//! the hardened systemd unit of docs/operations.md checked by `systemd-analyze`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{Zynkd, zynkd_command};
use serde_json::Value;
use zynk_testkit::server::Storage;
use zynk_testkit::{Backend, Blobs};

/// `zynkd doctor --json` with `env`: (exit code, the report, stderr).
fn doctor(env: &[(String, String)]) -> (i32, Value, String) {
    let mut command = zynkd_command();
    command.args(["doctor", "--json"]);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("zynkd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {stdout}"));
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The checks named `name`.
fn checks<'a>(report: &'a Value, name: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["name"] == name)
        .collect()
}

fn status(report: &Value, name: &str) -> String {
    let found = checks(report, name);
    assert!(!found.is_empty(), "no {name} check in {report:#}");
    if found.iter().any(|c| c["status"] == "fail") {
        "fail".into()
    } else if found.iter().any(|c| c["status"] == "warn") {
        "warn".into()
    } else {
        "ok".into()
    }
}

fn env_of(storage: &Storage) -> Vec<(String, String)> {
    let config = storage.config();
    let mut env = vec![
        (
            "ZYNK_DATA_DIR".to_owned(),
            storage.data_dir().display().to_string(),
        ),
        ("ZYNK_DATABASE_URL".to_owned(), storage.database_url()),
    ];
    if let Some(redis) = &config.redis_url {
        env.push(("ZYNK_REDIS_URL".to_owned(), redis.clone()));
    }
    if let Some(url) = &config.files.storage_url {
        env.push(("ZYNK_FILES__STORAGE_URL".to_owned(), url.clone()));
    }
    env
}

fn binary(env: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: set {env} or install its Debian package (scripts/test.sh does)"
            )
        })
}

/// A private coturn on a free loopback UDP port, killed on drop.
struct Coturn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_coturn() -> Coturn {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let min = 50_000 + (port % 300) * 40;
    let child = Command::new(binary("ZYNK_TURNSERVER", "turnserver"))
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args(["--listening-port", &port.to_string()])
        .args([
            "--min-port",
            &min.to_string(),
            "--max-port",
            &(min + 39).to_string(),
        ])
        .args(["--no-tls", "--no-dtls", "--no-cli", "--use-auth-secret"])
        .args([
            "--static-auth-secret",
            "doctor-secret",
            "--realm",
            "zynk.test",
        ])
        .args(["--pidfile", dir.path().join("t.pid").to_str().unwrap()])
        .args(["--log-file", dir.path().join("t.log").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    Coturn {
        child,
        port,
        _dir: dir,
    }
}

async fn healthy_deployment_passes(backend: Backend) {
    let storage = Storage::create_with(backend, Blobs::default_for(backend)).await;
    let mut extra = Vec::new();
    let storage_url = storage.config().files.storage_url;
    if let Some(url) = &storage_url {
        extra.push(("ZYNK_FILES__STORAGE_URL", url.as_str()));
    }
    // Started once: the data directory, database, key and blob directory exist.
    let server = Zynkd::start(&storage, "127.0.0.1:0", &extra).await;
    drop(server);
    let coturn = start_coturn();
    let mut env = env_of(&storage);
    env.push(("ZYNK_TURN__SHARED_SECRET".into(), "doctor-secret".into()));
    env.push((
        "ZYNK_TURN__URLS".into(),
        format!("[\"turn:127.0.0.1:{}?transport=udp\"]", coturn.port),
    ));
    // coturn needs a moment to listen.
    let mut last = (0, Value::Null, String::new());
    for _ in 0..20 {
        last = doctor(&env);
        if last.0 == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let (code, report, stderr) = last;
    assert_eq!(code, 0, "{report:#} {stderr}");
    assert_eq!(report["ok"], true);
    for name in [
        "configuration",
        "data_dir",
        "file_permissions",
        "ledger_key",
        "database",
        "clock",
        "redis",
        "file_storage",
        "turn",
        "backup",
    ] {
        assert_eq!(status(&report, name), "ok", "{name}: {report:#}");
    }
    if backend == Backend::Scale {
        let clock = &checks(&report, "clock")[0]["detail"];
        assert!(
            clock.as_str().unwrap().contains("of the database server"),
            "{clock}"
        );
        assert_eq!(status(&report, "pg_dump"), "ok", "{report:#}");
        assert!(
            checks(&report, "file_storage")[0]["detail"]
                .as_str()
                .unwrap()
                .contains("reachable and writable")
        );
    }
    // The text form says the same, one line per check.
    let mut command = zynkd_command();
    command.arg("doctor");
    for (k, v) in &env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok   data_dir:"), "{text}");
    assert!(text.contains("checks: 0 failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_deployment_sqlite() {
    healthy_deployment_passes(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_deployment_postgres_redis_s3() {
    healthy_deployment_passes(Backend::Scale).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_to_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let storage = Storage::create(Backend::Embedded).await;
    drop(Zynkd::start(&storage, "127.0.0.1:0", &[]).await);
    let dir = storage.data_dir();
    let key = dir.join("ledger-validator.key");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut env = env_of(&storage);
    env.push((
        "ZYNK_FILES__STORAGE_URL".into(),
        "s3+http://nobody:nothing@127.0.0.1:9/bucket".into(),
    ));
    env.push(("ZYNK_TURN__SHARED_SECRET".into(), "x".into()));
    env.push((
        "ZYNK_TURN__URLS".into(),
        "[\"turn:127.0.0.1:9?transport=tcp\"]".into(),
    ));
    let (code, report, stderr) = doctor(&env);
    assert_eq!(code, 1, "{report:#}");
    assert!(stderr.contains("check(s) failed"), "{stderr}");
    assert_eq!(report["ok"], false);
    let fix = |name: &str| {
        checks(&report, name)
            .iter()
            .find(|c| c["status"] == "fail")
            .unwrap_or_else(|| panic!("{name} did not fail: {report:#}"))["fix"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(fix("data_dir").contains("chmod 700"), "{report:#}");
    assert!(
        fix("file_permissions").contains(&format!("chmod 600 {}", key.display())),
        "{report:#}"
    );
    assert!(fix("file_storage").contains("storage_url"), "{report:#}");
    assert!(fix("turn").contains("coturn"), "{report:#}");
    // Doctor changed nothing.
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&key), 0o644);
    // A half-configured TURN is refused too.
    let mut env = env_of(&storage);
    env.push(("ZYNK_TURN__URLS".into(), "[\"turn:127.0.0.1:3478\"]".into()));
    let (_, report, _) = doctor(&env);
    assert_eq!(status(&report, "turn"), "fail", "{report:#}");
}

/// The unit file of docs/operations.md: the ```ini block starting with its path.
fn documented_unit() -> String {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .unwrap();
    let start = doc
        .find("```ini\n# /etc/systemd/system/zynkd.service\n")
        .expect("docs/operations.md has the unit");
    let body = &doc[start + "```ini\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

fn systemd_analyze() -> PathBuf {
    binary("ZYNK_SYSTEMD_ANALYZE", "systemd-analyze")
}

/// `systemd-analyze verify` on `unit` (ExecStart pointed at this build's zynkd): (ok, messages).
fn verify_unit(unit: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit.replace("/usr/local/bin/zynkd", env!("CARGO_BIN_EXE_zynkd"));
    let path = dir.path().join("zynkd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(systemd_analyze())
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let messages = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && messages.trim().is_empty(), messages)
}

#[test]
fn the_documented_systemd_unit_verifies_and_is_hardened() {
    let unit = documented_unit();
    for line in [
        "User=zynk",
        "UMask=0077",
        "ProtectSystem=strict",
        "StateDirectory=zynk",
        "StateDirectoryMode=0700",
        "NoNewPrivileges=yes",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(line), "the unit lacks {line}");
    }
    let (ok, messages) = verify_unit(&unit);
    assert!(ok, "systemd-analyze verify: {messages}");
    // The check can fail: a misspelt key is reported.
    let (ok, messages) = verify_unit(&unit.replace("UMask=", "UMaks="));
    assert!(!ok, "a misspelt key passed: {messages}");
    // And its exposure, as systemd rates it, is low.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zynkd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/zynkd", env!("CARGO_BIN_EXE_zynkd")),
    )
    .unwrap();
    let out = Command::new(systemd_analyze())
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for zynkd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    assert!(level <= 2.0, "exposure {level}: {text}");
}
