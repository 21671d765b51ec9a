//! The server under test, as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use zynk_testkit::Backend;
use zynk_testkit::server::Storage;

/// A running zynkd.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    _storage: Storage,
    /// Extra environment (the EVM chain's settings) for the server and admin commands.
    env: Vec<(String, String)>,
}

impl ServerProcess {
    /// Starts `zynkd serve` on fresh storage with rate limits off; with `cpus`, pinned to those
    /// CPUs (`taskset -c CPUS`).
    pub async fn start(
        zynkd: &Path,
        backend: Backend,
        env: Vec<(String, String)>,
        cpus: Option<&str>,
    ) -> anyhow::Result<Self> {
        let storage = Storage::create(backend).await;
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpus]).arg(zynkd);
                cmd
            }
            None => Command::new(zynkd),
        };
        cmd.arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("ZYNK_DATA_DIR", storage.data_dir())
            .env("ZYNK_DATABASE_URL", storage.database_url())
            .env("ZYNK_LISTEN", "127.0.0.1:0")
            .env("ZYNK_LOG", "warn,zynkd=info")
            .env("ZYNK_LOG_FORMAT", "json")
            .env("ZYNK_RATE_LIMITS__ENABLED", "false")
            .env("ZYNK_AUTH__PBKDF2_ITERATIONS", "1000")
            .env("ZYNK_WEBSOCKET__QUEUE_CAPACITY", "4096")
            // Every bench client connects from loopback: no per-address cap (the global cap,
            // below the open-files limit, stays).
            .env("ZYNK_CONNECTIONS__MAX_CONNECTIONS_PER_ADDRESS", "1000000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let config = storage.config();
        if let Some(redis) = &config.redis_url {
            cmd.env("ZYNK_REDIS_URL", redis)
                .env("ZYNK_REDIS_KEY_PREFIX", &config.redis_key_prefix);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", zynkd.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "zynkd listening" {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                    } else {
                        eprintln!("zynkd: {line}");
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .context("zynkd did not start")?;
        Ok(Self {
            child,
            base_url: format!("http://{addr}"),
            _storage: storage,
            env,
        })
    }

    /// Runs `zynkd ledger ACTION` on this server's storage; returns (success, output, seconds).
    pub fn ledger(&self, zynkd: &Path, action: &str) -> anyhow::Result<(bool, String, f64)> {
        self.admin(zynkd, &["ledger", action])
    }

    /// Runs `zynkd ARGS…` on this server's storage; returns (success, output, seconds).
    pub fn admin(&self, zynkd: &Path, args: &[&str]) -> anyhow::Result<(bool, String, f64)> {
        let started = std::time::Instant::now();
        let config = self._storage.config();
        let mut cmd = Command::new(zynkd);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("ZYNK_DATA_DIR", self._storage.data_dir())
            .env("ZYNK_DATABASE_URL", self._storage.database_url())
            .env("ZYNK_LOG", "warn");
        if let Some(redis) = &config.redis_url {
            cmd.env("ZYNK_REDIS_URL", redis)
                .env("ZYNK_REDIS_KEY_PREFIX", &config.redis_key_prefix);
        }
        let out = cmd.output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text, started.elapsed().as_secs_f64()))
    }

    /// The server's database URL.
    pub fn database_url(&self) -> String {
        self._storage.database_url()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Current and peak resident memory in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
