//! Running `zynkd` as a real process in tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zynk_testkit::Api;
use zynk_testkit::server::Storage;

/// A `zynkd serve` child process; killed when dropped.
pub struct Zynkd {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The log lines it wrote (JSON), collected in the background.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// `zynkd` with no inherited ZYNK_* variable.
pub fn zynkd_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zynkd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ZYNK_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

impl Zynkd {
    /// Starts `zynkd serve` on `storage`, listening on `listen` (`127.0.0.1:0` for any port),
    /// with extra environment variables; waits until it is ready.
    pub async fn start(storage: &Storage, listen: &str, extra: &[(&str, &str)]) -> Self {
        let config = storage.config();
        let mut cmd = zynkd_command();
        cmd.arg("serve")
            .env("ZYNK_DATA_DIR", storage.data_dir())
            .env("ZYNK_DATABASE_URL", storage.database_url())
            .env("ZYNK_LISTEN", listen)
            .env("ZYNK_LOG", "info")
            .env("ZYNK_LOG_FORMAT", "json")
            .env("ZYNK_AUTH__PBKDF2_ITERATIONS", "1000")
            .env("ZYNK_RATE_LIMITS__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(redis) = &config.redis_url {
            cmd.env("ZYNK_REDIS_URL", redis)
                .env("ZYNK_REDIS_KEY_PREFIX", &config.redis_key_prefix);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("zynkd starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "zynkd listening"
                {
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                }
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("zynkd reported its address");
        let server = Self {
            child,
            base_url: format!("http://{addr}"),
            log,
        };
        server.wait_ready().await;
        server
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let api = Api::new(&self.base_url);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = tokio::time::timeout(
                Duration::from_secs(2),
                api.call(reqwest::Method::GET, "/readyz", None, None),
            )
            .await;
            if matches!(ready, Ok((status, _)) if status == reqwest::StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "zynkd never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> String {
        self.base_url.trim_start_matches("http://").to_owned()
    }

    /// Kills the process with SIGKILL (no shutdown, no flush).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Zynkd {
    fn drop(&mut self) {
        self.kill9();
    }
}
