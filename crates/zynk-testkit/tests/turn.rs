//! TURN credentials against a real coturn (Debian package `coturn`, installed by
//! `scripts/test.sh`), on both backends: the credentials `GET /api/v1/turn` hands out allocate
//! a relay with coturn's own client (`turnutils_uclient`), and forged, expired or
//! foreign-secret ones are refused. The binaries are taken from `ZYNK_TURNSERVER` /
//! `ZYNK_TURNUTILS_UCLIENT` or the `PATH`; when they are missing the test fails (it never
//! skips).

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use zynk_testkit::{Api, Backend, TestServer, backend_tests};

backend_tests!(turn_credentials_allocate_a_relay_on_coturn);

const SECRET: &str = "zynk-turn-test-secret";

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
            panic!("{name} not found (set {env} or install the Debian package coturn; scripts/test.sh does)")
        })
}

/// A free UDP port on loopback (released at once; coturn binds it next).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private coturn with the REST-API shared secret, killed on drop.
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
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // Relay ports: a window of 40 chosen from the listening port, so parallel tests differ.
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
        .args(["--static-auth-secret", SECRET, "--realm", "zynk.test"])
        // Loopback peers are refused otherwise (tests only).
        .arg("--allow-loopback-peers")
        .args([
            "--pidfile",
            dir.path().join("turnserver.pid").to_str().unwrap(),
        ])
        .args(["--log-file", dir.path().join("turn.log").to_str().unwrap()])
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

/// Runs coturn's client: allocates a relay and sends packets through it (client to client).
/// Returns (allocation succeeded and packets came back, output).
fn uclient(port: u16, username: &str, password: &str) -> (bool, String) {
    let out = Command::new(binary("ZYNK_TURNUTILS_UCLIENT", "turnutils_uclient"))
        .args([
            "-y",
            "-n",
            "5",
            "-p",
            &port.to_string(),
            "-u",
            username,
            "-w",
            password,
        ])
        .arg("127.0.0.1")
        .output()
        .expect("turnutils_uclient runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let relayed = text.lines().any(|l| {
        l.split("tot_recv_msgs=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    });
    (out.status.success() && relayed, text)
}

async fn uclient_async(port: u16, username: String, password: String) -> (bool, String) {
    tokio::task::spawn_blocking(move || uclient(port, &username, &password))
        .await
        .unwrap()
}

async fn turn_credentials_allocate_a_relay_on_coturn(backend: Backend) {
    let coturn = start_coturn();
    let server = TestServer::start_with(backend, |c| {
        c.turn.shared_secret = Some(SECRET.into());
        c.turn.urls = vec![format!("turn:127.0.0.1:{}?transport=udp", coturn.port)];
        c.turn.ttl_secs = 300;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let (status, turn) = api.get("/api/v1/turn", &ann.access_token).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let username = turn["username"].as_str().unwrap().to_owned();
    let credential = turn["credential"].as_str().unwrap().to_owned();

    // coturn may take a moment to listen: retry the good credentials briefly.
    let mut last = String::new();
    let mut allocated = false;
    for _ in 0..20 {
        let (ok, text) = uclient_async(coturn.port, username.clone(), credential.clone()).await;
        if ok {
            allocated = true;
            break;
        }
        last = text;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        allocated,
        "the handed-out credentials allocate a relay:\n{last}"
    );

    // Forged: another password for the same user name.
    let mut forged = credential.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let (ok, text) = uclient_async(
        coturn.port,
        username.clone(),
        String::from_utf8(forged).unwrap(),
    )
    .await;
    assert!(!ok && text.contains("Cannot complete Allocation"), "{text}");
    // Forged: the user name changed (a later expiry) with the old password.
    let (expiry, user) = username.split_once(':').unwrap();
    let later = format!("{}:{user}", expiry.parse::<i64>().unwrap() + 86_400);
    let (ok, text) = uclient_async(coturn.port, later, credential.clone()).await;
    assert!(!ok && text.contains("Cannot complete Allocation"), "{text}");
    // Expired: correctly signed, but its time has passed.
    let past = chrono::Utc::now().timestamp() - 10;
    let (old_user, old_pass) = zynk_server::services::calls::turn_credentials(SECRET, user, past);
    let (ok, text) = uclient_async(coturn.port, old_user, old_pass).await;
    assert!(!ok && text.contains("Cannot complete Allocation"), "{text}");
    // Signed with another secret.
    let future = chrono::Utc::now().timestamp() + 300;
    let (other_user, other_pass) =
        zynk_server::services::calls::turn_credentials("not-the-secret", user, future);
    let (ok, text) = uclient_async(coturn.port, other_user, other_pass).await;
    assert!(!ok && text.contains("Cannot complete Allocation"), "{text}");
}
