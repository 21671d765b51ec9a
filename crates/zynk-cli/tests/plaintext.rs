//! Proof that the server never sees plaintext: two users (two devices each) exchange messages
//! with known unique plaintexts through the `zynk` CLI, including an edit, a reaction and a
//! reply; then the SQLite file (and its WAL), a PostgreSQL dump, every Redis key of the run and
//! the server's own log output (at debug level) are searched for each plaintext, raw and in
//! base64: none may appear.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, ids, username};

backend_tests!(no_plaintext_reaches_the_server);

/// Collects everything the in-process server logs.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test process) a debug-level subscriber writing into a shared buffer.
/// Tests that share a process also share the buffer, which only widens the search.
fn install_log_capture() -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

/// Every byte string a plaintext could leak as.
fn forms(plaintext: &str) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64_nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    vec![
        plaintext.as_bytes().to_vec(),
        b64_nopad.encode(plaintext).into_bytes(),
        url.encode(plaintext).into_bytes(),
        b64.encode(plaintext)
            .trim_end_matches('=')
            .as_bytes()
            .to_vec(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn redis_dump(prefix: &str) -> Vec<u8> {
    let url = zynk_testkit::server::redis_url();
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(!keys.is_empty(), "the run left Redis keys to search");
    let mut dump = Vec::new();
    for key in keys {
        dump.extend_from_slice(key.as_bytes());
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("type");
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for v in values {
            dump.extend_from_slice(&v);
        }
    }
    dump
}

async fn no_plaintext_reaches_the_server(backend: Backend) {
    let logs = install_log_capture();
    let server = TestServer::start(backend).await;
    let (alice, bob) = (username("alice"), username("bob"));
    let alice1 = Device::new(&server);
    alice1.ok(&["register", &alice]).await;
    let alice2 = Device::new(&server);
    alice2.ok(&["login", &alice]).await;
    let bob1 = Device::new(&server);
    bob1.ok(&["register", &bob]).await;
    let bob2 = Device::new(&server);
    bob2.ok(&["login", &bob]).await;
    let canary = |n: u32| format!("zynk-canary-{n}-{}", uuid::Uuid::new_v4().simple());
    let plaintexts: Vec<String> = (0..8).map(canary).collect();
    let first = alice1.send(&["send", &bob, &plaintexts[0]]).await;
    bob2.send(&["send", &alice, &plaintexts[1]]).await;
    alice2.send(&["send", &bob, &plaintexts[2]]).await;
    bob1.send(&["reply", &first, &plaintexts[3]]).await;
    alice1.send(&["edit", &first, &plaintexts[4]]).await;
    bob1.send(&["react", &first, &plaintexts[5]]).await;
    let doomed = alice2.send(&["send", &bob, &plaintexts[6]]).await;
    alice2.send(&["delete", &doomed]).await;
    bob2.send(&["send", &alice, &plaintexts[7]]).await;
    // Every device reads the conversation: the plaintexts exist on the clients...
    for (device, peer) in [
        (&alice1, &bob),
        (&alice2, &bob),
        (&bob1, &alice),
        (&bob2, &alice),
    ] {
        let out = device.ok(&["messages", peer, "--json"]).await;
        assert!(
            out.contains(&plaintexts[7]) && out.contains(&plaintexts[4]),
            "{out}"
        );
    }
    // ...and nowhere on the server side.
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    match backend {
        Backend::Embedded => {
            for name in ["zynk.db", "zynk.db-wal", "zynk.db-shm"] {
                let path = server.storage.data_dir().join(name);
                if let Ok(bytes) = std::fs::read(&path) {
                    places.push((path.display().to_string(), bytes));
                }
            }
            assert!(
                places
                    .iter()
                    .any(|(p, b)| p.ends_with("zynk.db") && !b.is_empty())
            );
        }
        Backend::Scale => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg("--dbname")
                .arg(server.storage.database_url())
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            assert!(
                contains(&dump.stdout, b"COPY public.messages"),
                "the dump holds the messages"
            );
            places.push(("pg_dump".into(), dump.stdout));
            let prefix = server.config.redis_key_prefix.clone();
            places.push(("redis".into(), redis_dump(&prefix).await));
        }
    }
    let log = logs.0.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        contains(&log, b"account registered"),
        "the server's logs were captured"
    );
    places.push(("server log".into(), log));
    // The search can find things: usernames are stored in the clear in the database, user
    // ids in Redis (the session cache).
    let (alice_id, _) = ids(&alice1).await;
    let alice_id = alice_id.to_string();
    for (place, bytes) in &places {
        if place != "server log" && !place.ends_with("-shm") && !place.ends_with("-wal") {
            let needle = if place == "redis" {
                alice_id.as_bytes()
            } else {
                alice.as_bytes()
            };
            assert!(contains(bytes, needle), "{place} is searchable");
        }
    }
    for plaintext in &plaintexts {
        for form in forms(plaintext) {
            for (place, bytes) in &places {
                assert!(
                    !contains(bytes, &form),
                    "plaintext {plaintext} found in {place} (as {})",
                    String::from_utf8_lossy(&form)
                );
            }
        }
    }
}
