//! The `zynkd` binary as a process: help, configuration errors, migrations on both engines,
//! and a served session whose logs must never contain a token, password or key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use zynk_testkit::{Api, Device, Identity, register_json};

fn zynkd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zynkd"));
    // Start from a clean slate: no ZYNK_* variable of the caller leaks in.
    for (key, _) in std::env::vars() {
        if key.starts_with("ZYNK_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("zynkd runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let (code, stdout, _) = run(zynkd().arg("--help"));
    assert_eq!(code, 0);
    for word in ["serve", "migrate", "config", "--config"] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
    let (code, stdout, _) = run(zynkd().args(["migrate", "--help"]));
    assert_eq!(code, 0);
    for word in ["up", "down", "status"] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}

#[test]
fn invalid_configuration_names_the_key() {
    let (code, _, stderr) = run(zynkd()
        .args(["config", "show"])
        .env("ZYNK_LISTEN", "nowhere"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("listen"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zynk.toml");
    std::fs::write(&file, "[rate_limits]\nper_ip = \"many\"\n").unwrap();
    let (code, _, stderr) = run(zynkd().arg("--config").arg(&file).args(["config", "show"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("rate_limits.per_ip"), "{stderr}");
    let (code, _, stderr) = run(zynkd().args(["--config", "/no/such/file.toml", "serve"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn config_show_merges_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zynk.toml");
    let (code, example, _) = run(zynkd().args(["config", "example"]));
    assert_eq!(code, 0);
    std::fs::write(
        &file,
        example.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:9000\""),
    )
    .unwrap();
    let (code, shown, stderr) = run(zynkd()
        .arg("--config")
        .arg(&file)
        .args(["config", "show"])
        .env("ZYNK_DATA_DIR", "/srv/zynk"));
    assert_eq!(code, 0, "{stderr}");
    assert!(shown.contains("listen = \"127.0.0.1:9000\""), "{shown}");
    assert!(shown.contains("data_dir = \"/srv/zynk\""), "{shown}");
}

fn migrate_cycle(database_url: &str, data_dir: &std::path::Path) {
    let base = || {
        let mut cmd = zynkd();
        cmd.env("ZYNK_DATABASE_URL", database_url)
            .env("ZYNK_DATA_DIR", data_dir);
        cmd
    };
    let (code, stdout, stderr) = run(base().args(["migrate", "status"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("pending") && !stdout.contains("applied"),
        "{stdout}"
    );
    let (code, _, stderr) = run(base().args(["migrate", "up"]));
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run(base().args(["migrate", "status"]));
    assert!(
        stdout.contains("applied") && !stdout.contains("pending"),
        "{stdout}"
    );
    let (code, _, stderr) = run(base().args(["migrate", "down", "--to", "0"]));
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run(base().args(["migrate", "status"]));
    assert!(!stdout.contains("applied"), "{stdout}");
    let (code, _, stderr) = run(base().args(["migrate", "up"]));
    assert_eq!(code, 0, "{stderr}");
    // `down` without --to reverts the newest migration only.
    let (code, _, stderr) = run(base().args(["migrate", "down"]));
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run(base().args(["migrate", "status"]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 2, "{stdout}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.contains("applied")),
        "{stdout}"
    );
    assert!(
        lines[lines.len() - 1].contains("pending"),
        "only the newest was reverted: {stdout}"
    );
}

#[test]
fn migrate_up_down_up_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
    migrate_cycle(&url, dir.path());
}

#[tokio::test]
async fn migrate_up_down_up_on_postgres() {
    let admin = zynk_testkit::server::postgres_admin_url();
    let name = format!("zynk_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let result = std::panic::catch_unwind(|| migrate_cycle(&url, dir.path()));
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Kills the child on drop so a failing test leaves no server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn served_session_logs_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("zynkd.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = zynkd()
        .arg("serve")
        .env("ZYNK_DATA_DIR", dir.path())
        .env("ZYNK_LISTEN", "127.0.0.1:0")
        .env("ZYNK_LOG", "debug")
        .env("ZYNK_LOG_FORMAT", "json")
        .env("ZYNK_AUTH__PBKDF2_ITERATIONS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Copy stderr into the log file and find the bound address in it.
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let copier = std::thread::spawn(move || {
        use std::io::Write;
        let mut log_file = log_file;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log_file, "{line}");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "zynkd listening"
            {
                let _ = addr_tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("zynkd reported its address");
    let api = Api::new(&format!("http://{addr}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while api
        .call(reqwest::Method::GET, "/readyz", None, None)
        .await
        .0
        != reqwest::StatusCode::OK
    {
        assert!(Instant::now() < deadline, "zynkd never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let name = Api::username("logcheck");
    let identity = Identity::random();
    let identity_key = identity.public_key();
    let device = Device::random("web");
    let password = "a very secret passphrase";
    let (status, reg) = api
        .post(
            "/api/v1/auth/register",
            register_json(&name, password, &identity, &device),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let (_, login) = api.login(&name, password, &device).await;
    let (_, refreshed) = api
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    let _ = api.login(&name, "wrong password guess", &device).await;
    let access = refreshed["access_token"].as_str().unwrap();
    api.get("/api/v1/users/me", access).await;
    api.call(
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        Some(access),
        None,
    )
    .await;
    drop(server);
    let _ = copier.join();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("account registered"),
        "the log was captured:\n{log}"
    );
    let secrets = [
        password.to_owned(),
        "wrong password guess".to_owned(),
        identity_key.clone(),
        device.public_key.clone(),
        reg["access_token"].as_str().unwrap().to_owned(),
        reg["refresh_token"].as_str().unwrap().to_owned(),
        login["access_token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
        access.to_owned(),
    ];
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "the log contains a secret: {secret}"
        );
    }
}
