//! Encrypted files through the `zynk` binary, on the embedded default (SQLite, local blob
//! directory) and on PostgreSQL + Redis + the S3-compatible test server: a 200 MB file sent with
//! `zynk file send` and fetched with `zynk file get` is byte-identical and its plaintext (and
//! name) appear nowhere on the server side (database, blob directory or bucket, Redis, logs); a
//! third user cannot fetch it; an expired file is gone from storage and database after the job;
//! a send and a get killed half-way (through a slowed-down connection) resume and complete; a
//! tampered blob is refused at the receiver and its partial output removed.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zynk_testkit::{Api, Backend, TestServer, backend_tests, eventually, eventually_within};

use common::{Device, username};

backend_tests!(
    a_200_mb_file_arrives_intact_and_the_server_never_sees_it,
    killed_transfers_resume_and_tampering_is_refused,
);

/// Collects everything the in-process server logs (one subscriber per test process).
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

/// Writes a file of `mib` MiB: pseudo-random blocks, each opened by its index and `canary`.
fn write_file(path: &Path, mib: usize, canary: &str) -> String {
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x2545_F491_4F6C_DD1Du64 ^ mib as u64;
    for b in block.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = sha2::Sha256::new();
    for i in 0..mib {
        let header = format!("{i:08}:{canary}:");
        block[..header.len()].copy_from_slice(header.as_bytes());
        file.write_all(&block).unwrap();
        hasher.update(&block);
    }
    // An uneven tail.
    file.write_all(&block[..12_345]).unwrap();
    hasher.update(&block[..12_345]);
    file.flush().unwrap();
    hex::encode(hasher.finalize())
}

fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    hex::encode(hasher.finalize())
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Whether `needle` occurs in the file at `path` (read in pieces: blobs are large).
fn file_contains(path: &Path, needle: &[u8]) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 4 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).unwrap_or(0);
        if n == 0 {
            return false;
        }
        carry.extend_from_slice(&buffer[..n]);
        if carry.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
        let keep = carry.len().saturating_sub(needle.len());
        carry.drain(..keep);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn redis_dump(prefix: &str) -> Vec<u8> {
    let client = redis::Client::open(zynk_testkit::server::redis_url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut dump = Vec::new();
    for key in keys {
        dump.extend_from_slice(key.as_bytes());
        let value: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        dump.extend_from_slice(&value.unwrap_or_default());
    }
    dump
}

/// The server-side places to search: database files or dump, blob storage, Redis.
async fn server_side(server: &TestServer) -> (Vec<PathBuf>, Vec<(String, Vec<u8>)>) {
    let mut paths = files_under(&server.storage.blob_dir());
    let mut dumps = Vec::new();
    match server.backend {
        Backend::Embedded => {
            for name in ["zynk.db", "zynk.db-wal"] {
                paths.push(server.storage.data_dir().join(name));
            }
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
                contains(&dump.stdout, b"COPY public.files"),
                "the dump holds the files"
            );
            dumps.push(("pg_dump".into(), dump.stdout));
            dumps.push((
                "redis".into(),
                redis_dump(&server.config.redis_key_prefix).await,
            ));
            // The S3 server keeps parts of unfinished uploads at its root.
            paths.extend(
                files_under(&zynk_testkit::server::s3_root())
                    .into_iter()
                    .filter(|p| p.parent() == Some(zynk_testkit::server::s3_root().as_path())),
            );
        }
    }
    (paths, dumps)
}

async fn a_200_mb_file_arrives_intact_and_the_server_never_sees_it(backend: Backend) {
    let logs = install_log_capture();
    let server = TestServer::start(backend).await;
    let (alice, bob) = (username("alice"), username("bob"));
    let alice1 = Device::new(&server);
    alice1.ok(&["register", &alice]).await;
    let bob1 = Device::new(&server);
    bob1.ok(&["register", &bob]).await;
    let carol = server.api().register(&Api::username("carol")).await;

    let work = tempfile::tempdir().unwrap();
    let canary = format!("zynk-file-canary-{}", uuid::Uuid::new_v4().simple());
    let name = format!("{canary}.bin");
    let source = work.path().join(&name);
    let started = std::time::Instant::now();
    let sha = write_file(&source, 200, &canary);
    let sent = alice1
        .send(&["file", "send", &bob, source.to_str().unwrap()])
        .await;
    let out = work.path().join("received.bin");
    let printed = bob1
        .ok(&["file", "get", &sent, "-o", out.to_str().unwrap()])
        .await;
    assert_eq!(printed.trim(), out.display().to_string());
    assert_eq!(sha256_file(&out), sha, "the received file differs");
    eprintln!("200 MiB sent and fetched in {:?}", started.elapsed());
    // Never overwritten without --force; with it, written again.
    let refused = bob1
        .fails_with(
            &bob1.password,
            &["file", "get", &sent, "-o", out.to_str().unwrap()],
        )
        .await;
    assert!(refused.contains("--force"), "{refused}");
    bob1.ok(&["file", "get", &sent, "-o", out.to_str().unwrap(), "--force"])
        .await;
    assert_eq!(sha256_file(&out), sha);

    // The timeline shows the file; --json adds name, size and media type.
    let lines = bob1.ok(&["messages", &alice]).await;
    assert!(
        lines.contains(&format!("[file {name} 200.0 MiB]")),
        "{lines}"
    );
    let views = bob1.messages(&alice).await;
    let view = views
        .iter()
        .find(|v| v["id"] == sent.as_str())
        .expect("the file message");
    assert_eq!(view["file"]["name"], name.as_str());
    assert_eq!(view["file"]["size"], 200 * 1024 * 1024 + 12_345);
    assert_eq!(view["file"]["mime_type"], "application/octet-stream");

    // A third user cannot fetch it: the message is not theirs, and the file is 404 to them.
    let file_id = match backend {
        Backend::Scale => server
            .sql_text("SELECT CAST(id AS TEXT) FROM files")
            .await
            .unwrap(),
        Backend::Embedded => {
            let hex = server
                .sql_text("SELECT lower(hex(id)) FROM files")
                .await
                .expect("one file row");
            uuid::Uuid::parse_str(&hex).unwrap().to_string()
        }
    };
    let (status, _) = server
        .api()
        .get(
            &format!("/api/v1/files/{file_id}/content"),
            &carol.access_token,
        )
        .await;
    assert_eq!(status.as_u16(), 404);
    let (status, _) = server
        .api()
        .get(&format!("/api/v1/messages/{sent}"), &carol.access_token)
        .await;
    assert_eq!(status.as_u16(), 404);

    // Neither the content nor the name is anywhere on the server side.
    let (paths, mut dumps) = server_side(&server).await;
    let log = logs.0.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        contains(&log, b"account registered"),
        "the server's logs were captured"
    );
    dumps.push(("server log".into(), log));
    let blob_bytes: u64 = files_under(&server.storage.blob_dir())
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        blob_bytes > 200 * 1024 * 1024,
        "the ciphertext is stored ({blob_bytes} bytes)"
    );
    for needle in [
        canary.as_bytes(),
        &std::fs::read(&source).unwrap()[100_000..100_064],
    ] {
        for path in &paths {
            assert!(
                !file_contains(path, needle),
                "plaintext found in {}",
                path.display()
            );
        }
        for (place, bytes) in &dumps {
            assert!(!contains(bytes, needle), "plaintext found in {place}");
        }
    }

    // An expiring file: gone from storage and database once the job runs.
    let small = work.path().join("note.txt");
    std::fs::write(&small, format!("expiring {canary}")).unwrap();
    let expiring = alice1
        .send(&[
            "file",
            "send",
            &bob,
            small.to_str().unwrap(),
            "--expires-in",
            "3600",
        ])
        .await;
    assert_eq!(
        server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files WHERE expires_at IS NOT NULL")
            .await
            .as_deref(),
        Some("1")
    );
    server
        .sql(&format!(
            "UPDATE files SET expires_at = {} WHERE expires_at IS NOT NULL",
            server.sql_time_from_now(-1)
        ))
        .await;
    let blobs_before = files_under(&server.storage.blob_dir()).len();
    let mut config = server.config.clone();
    config.files.cleanup_interval_secs = 1;
    let _node = server.extra_node_with(config).await;
    eventually("the expired file to be removed", || async {
        let rows = server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files")
            .await;
        (rows.as_deref() == Some("1")).then_some(())
    })
    .await;
    assert_eq!(
        files_under(&server.storage.blob_dir()).len(),
        blobs_before - 1
    );
    let gone = bob1
        .fails_with(
            &bob1.password,
            &[
                "file",
                "get",
                &expiring,
                "-o",
                work.path().join("n").to_str().unwrap(),
            ],
        )
        .await;
    assert!(
        gone.contains("file_gone") || gone.contains("not_found"),
        "{gone}"
    );
    assert!(!work.path().join("n").exists());
}

/// A TCP proxy to `upstream` that passes at most `rate` bytes per second each way per
/// connection, counting the bytes sent upstream.
async fn slow_proxy(upstream: SocketAddr, rate: u64) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let uploaded = Arc::new(AtomicU64::new(0));
    let counter = uploaded.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (format!("http://{addr}"), uploaded)
}

async fn uploaded_bytes(server: &TestServer) -> u64 {
    server
        .sql_text("SELECT CAST(uploaded_bytes AS TEXT) FROM files")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn killed_transfers_resume_and_tampering_is_refused(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.files.part_bytes = 5 * 1024 * 1024;
    })
    .await;
    let upstream: SocketAddr = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let (slow_url, through_proxy) = slow_proxy(upstream, 8 * 1024 * 1024).await;
    let (alice, bob) = (username("alice"), username("bob"));
    // Both reach the server through the slowed-down connection.
    let slow_alice = Device::at(&slow_url, None);
    slow_alice.ok(&["register", &alice]).await;
    let slow_bob = Device::at(&slow_url, None);
    slow_bob.ok(&["register", &bob]).await;
    let bob1 = &slow_bob;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("video.mp4");
    let total_plain = 30 * 1024 * 1024 + 12_345;
    let sha = write_file(&source, 30, "resume");

    // The send, slowed down, is killed once some parts are stored.
    let running = slow_alice.spawn(&["file", "send", &bob, source.to_str().unwrap()]);
    let at_kill = eventually_within("some parts stored", Duration::from_secs(60), || async {
        let stored = uploaded_bytes(&server).await;
        (stored >= 5 * 1024 * 1024).then_some(stored)
    })
    .await;
    running.stop().await;
    let stored = uploaded_bytes(&server).await;
    assert!(
        stored < total_plain as u64,
        "killed half-way ({at_kill}..{stored} bytes stored)"
    );
    // Run again: it continues the same upload.
    let before = through_proxy.load(Ordering::Relaxed);
    let sent = slow_alice
        .send(&["file", "send", &bob, source.to_str().unwrap()])
        .await;
    let resent = through_proxy.load(Ordering::Relaxed) - before;
    assert!(
        resent < total_plain as u64 - stored + 4 * 1024 * 1024,
        "the rerun sent {resent} bytes; {stored} were stored already"
    );
    assert_eq!(
        server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files")
            .await
            .as_deref(),
        Some("1"),
        "one upload, continued"
    );
    assert_eq!(
        server.sql_text("SELECT status FROM files").await.as_deref(),
        Some("complete")
    );

    // The get, slowed down, is killed once part of the file is written; a rerun completes it.
    let out = work.path().join("out.mp4");
    let partial = work.path().join(".out.mp4.zynkpart");
    let running = slow_bob.spawn(&["file", "get", &sent, "-o", out.to_str().unwrap()]);
    eventually_within(
        "part of the file written",
        Duration::from_secs(60),
        || async {
            let len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            (len > 2 * 1024 * 1024).then_some(())
        },
    )
    .await;
    running.stop().await;
    assert!(!out.exists());
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept < total_plain as u64, "killed half-way");
    slow_bob
        .ok(&["file", "get", &sent, "-o", out.to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&out), sha);
    assert!(!partial.exists());

    // A flipped byte in the stored blob: refused, exit non-zero, nothing left behind.
    let blob = files_under(&server.storage.blob_dir())
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("the blob");
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&blob, &bytes).unwrap();
    let tampered = work.path().join("tampered.mp4");
    let error = bob1
        .fails_with(
            &bob1.password,
            &["file", "get", &sent, "-o", tampered.to_str().unwrap()],
        )
        .await;
    assert!(error.contains("does not verify"), "{error}");
    assert!(!tampered.exists());
    assert!(!work.path().join(".tampered.mp4.zynkpart").exists());
}
