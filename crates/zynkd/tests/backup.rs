//! `zynkd backup`: a backup taken while a server takes sends restores into a fresh place (a
//! fresh data directory, a fresh PostgreSQL database) where every acknowledged message is, every
//! message decrypts for its recipients (through the SDK), files download, and the ledger
//! verifies. And the refusals: corrupt or truncated archives, a restore over data without
//! `--force`, a backup path that cannot be written. On SQLite with local blobs and on PostgreSQL
//! + Redis with S3 (whose objects stay in the bucket).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Zynkd, zynkd_command};
use zynk_proto::groups::EncryptionMode;
use zynk_proto::ids::MessageId;
use zynk_sdk::Messenger;
use zynk_sdk::client::files::PendingUpload;
use zynk_sdk::client::{ApiClient, DeviceDescription};
use zynk_testkit::server::Storage;
use zynk_testkit::{Api, Backend, Blobs};

const PASSWORD: &str = "correct horse battery staple";

/// The environment that points `zynkd` at `storage`, with its blobs at `storage_url` (the
/// source's bucket, for a restore on S3).
fn env_of(storage: &Storage, storage_url: Option<&str>) -> Vec<(String, String)> {
    let config = storage.config();
    let mut env = vec![
        (
            "ZYNK_DATA_DIR".to_owned(),
            storage.data_dir().display().to_string(),
        ),
        ("ZYNK_DATABASE_URL".to_owned(), storage.database_url()),
        ("ZYNK_LOG".to_owned(), "warn".to_owned()),
    ];
    if let Some(redis) = &config.redis_url {
        env.push(("ZYNK_REDIS_URL".to_owned(), redis.clone()));
        env.push((
            "ZYNK_REDIS_KEY_PREFIX".to_owned(),
            config.redis_key_prefix.clone(),
        ));
    }
    if let Some(url) = storage_url {
        env.push(("ZYNK_FILES__STORAGE_URL".to_owned(), url.to_owned()));
    }
    env
}

/// Runs `zynkd ARGS` with `env`: (exit code, stdout, stderr).
fn zynkd(env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
    let mut command = zynkd_command();
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("zynkd runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn register(url: &str, name: &str) -> Messenger {
    let device = DeviceDescription::new("backup test", "web").unwrap();
    let mut messenger = Messenger::register(ApiClient::new(url), name, PASSWORD, &device)
        .await
        .expect("register");
    messenger.complete_setup().await.expect("keys uploaded");
    messenger
}

/// Waits (bounded) until the ledger has sealed a batch and every message is anchored.
async fn wait_for_batch(url: &str) {
    let api = Api::new(url);
    let watcher = api.register(&Api::username("watch")).await;
    for _ in 0..200 {
        let (_, info) = api.get("/api/v1/ledger", &watcher.access_token).await;
        if info["batches"].as_u64().unwrap_or(0) >= 1
            && info["unanchored_messages"].as_u64() == Some(0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no ledger batch was sealed");
}

/// Every message of every conversation `messenger` holds after a sync: id → decrypted text.
async fn read_all(messenger: &mut Messenger) -> HashMap<MessageId, Option<String>> {
    messenger.sync().await.expect("sync");
    let conversations: Vec<_> = messenger.data().conversations.keys().copied().collect();
    let mut all = HashMap::new();
    for conversation in conversations {
        for view in messenger.timeline(conversation).await {
            assert!(
                view.undecryptable.is_none(),
                "message {} does not decrypt: {:?}",
                view.id,
                view.undecryptable
            );
            all.insert(view.id, view.text.clone());
        }
    }
    all
}

async fn backup_under_load_restores(backend: Backend) {
    let blobs = Blobs::default_for(backend);
    let source = Storage::create_with(backend, blobs).await;
    let source_blobs = source.config().files.storage_url.clone();
    let env = env_of(&source, source_blobs.as_deref());
    let mut extra: Vec<(&str, &str)> = vec![("ZYNK_ANCHOR_INTERVAL_SECS", "1")];
    if let Some(url) = &source_blobs {
        extra.push(("ZYNK_FILES__STORAGE_URL", url));
    }
    let server = Zynkd::start(&source, "127.0.0.1:0", &extra).await;
    let url = server.base_url.clone();
    let names: Vec<String> = ["ann", "bob", "cat"]
        .iter()
        .map(|n| Api::username(n))
        .collect();
    let mut ann = register(&url, &names[0]).await;
    let mut bob = register(&url, &names[1]).await;
    let mut cat = register(&url, &names[2]).await;

    // Before the backup: 1:1 messages both ways, a group, a file.
    let mut expected: HashMap<MessageId, String> = HashMap::new();
    for i in 0..4 {
        let text = format!("ann to bob {i}");
        let receipt = ann.send_text(&names[1], &text).await.unwrap();
        expected.insert(receipt.message_id, text);
    }
    let text = "bob to ann".to_owned();
    let receipt = bob.send_text(&names[0], &text).await.unwrap();
    expected.insert(receipt.message_id, text);
    let group = ann
        .create_group(
            "backups",
            &[names[1].clone(), names[2].clone()],
            EncryptionMode::SenderKeys,
        )
        .await
        .unwrap();
    let mut group_messages = Vec::new();
    for i in 0..3 {
        let text = format!("to the group {i}");
        let receipt = ann.send_group_text(&group, &text).await.unwrap();
        group_messages.push(receipt.message_id);
        expected.insert(receipt.message_id, text);
    }
    let files = tempfile::tempdir().unwrap();
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file_path = files.path().join("report.bin");
    std::fs::write(&file_path, &plain).unwrap();
    let mut pending = PendingUpload::prepare(&file_path, None).unwrap();
    pending.conversation_id = Some(ann.conversation_with(&names[1]).await.unwrap());
    let file_message = ann
        .send_file(&mut pending, Arc::new(|_| {}))
        .await
        .unwrap()
        .message_id;
    wait_for_batch(&url).await;

    // Sends go on while the backup runs.
    let acked: Arc<Mutex<Vec<(MessageId, String)>>> = Arc::default();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let load = {
        let acked = acked.clone();
        let bob_name = names[1].clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !*stop_rx.borrow_and_update() {
                let text = format!("load {n}");
                let receipt = ann.send_text(&bob_name, &text).await.expect("send");
                acked.lock().unwrap().push((receipt.message_id, text));
                n += 1;
            }
            ann
        })
    };
    while acked.lock().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_backup: Vec<(MessageId, String)> = acked.lock().unwrap().clone();
    let archive = tempfile::tempdir().unwrap();
    let archive_path = archive.path().join("zynk.tar.gz");
    let (code, out, err) = {
        let (env, path) = (env.clone(), archive_path.display().to_string());
        tokio::task::spawn_blocking(move || zynkd(&env, &["backup", "create", &path]))
            .await
            .unwrap()
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("backup written to"), "{out}");
    let after_backup = acked.lock().unwrap().len();
    // The load went on during the backup, and after it.
    while acked.lock().unwrap().len() < after_backup + 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(true).unwrap();
    let _ann = load.await.unwrap();
    assert!(
        after_backup > before_backup.len(),
        "no send was acknowledged while the backup ran ({after_backup})"
    );
    drop(server);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&archive_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the archive holds keys: owner only");
    }
    let (code, out, err) = zynkd(
        &[],
        &["backup", "verify", &archive_path.display().to_string()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("backup verified"), "{out}");
    match blobs {
        Blobs::Local => assert!(
            out.contains(" blobs;") && !out.contains(" 0 blobs;"),
            "the file's blob is in the archive: {out}"
        ),
        Blobs::S3 => assert!(out.contains("blobs stay in s3+http://"), "{out}"),
    }

    // Restore into a fresh place: a new data directory and database (on S3 the same bucket).
    let target = Storage::create_with(backend, Blobs::Local).await;
    let target_env = env_of(&target, source_blobs.as_deref());
    let (code, out, err) = zynkd(
        &target_env,
        &["backup", "restore", &archive_path.display().to_string()],
    );
    assert_eq!(code, 0, "{out}{err}");
    let verified = out
        .lines()
        .find_map(|l| l.strip_prefix("ledger verified: "))
        .unwrap_or_else(|| panic!("no ledger verification in {out}"));
    let numbers: Vec<u64> = verified
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] >= 1 && numbers[1] >= 1,
        "blocks and batches: {out}"
    );
    // `zynkd ledger verify` agrees.
    let (code, out, err) = zynkd(&target_env, &["ledger", "verify"]);
    assert_eq!(code, 0, "{out}{err}");

    // The restored server, at the address the clients know.
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if let Some(url) = &source_blobs {
        extra.push(("ZYNK_FILES__STORAGE_URL", url));
    }
    let addr = url.trim_start_matches("http://").to_owned();
    let restored = Zynkd::start(&target, &addr, &extra).await;
    assert_eq!(restored.base_url, url);

    let at_bob = read_all(&mut bob).await;
    let at_cat = read_all(&mut cat).await;
    for (id, text) in &expected {
        let seen = if group_messages.contains(id) {
            assert_eq!(at_cat.get(id), Some(&Some(text.clone())), "{text} at cat");
            at_bob.get(id)
        } else {
            at_bob.get(id)
        };
        assert_eq!(seen, Some(&Some(text.clone())), "{text} at bob");
    }
    for (id, text) in &before_backup {
        assert_eq!(
            at_bob.get(id),
            Some(&Some(text.clone())),
            "{text}, acknowledged before the backup started, is missing"
        );
    }
    // Load messages are there up to a point: a prefix of the acknowledged ones.
    let all_load = acked.lock().unwrap().clone();
    let present: Vec<bool> = all_load
        .iter()
        .map(|(id, _)| at_bob.contains_key(id))
        .collect();
    let kept = present.iter().take_while(|p| **p).count();
    assert!(
        present[kept..].iter().all(|p| !p),
        "the restored messages are not a prefix of the sends"
    );
    assert!(kept >= before_backup.len());

    // The file downloads and decrypts to the same bytes.
    let descriptor = bob.file_of(file_message).await.expect("file descriptor");
    let target_file = files.path().join("downloaded.bin");
    bob.download_file(&descriptor, &target_file, Arc::new(|_| {}))
        .await
        .expect("download");
    assert_eq!(std::fs::read(&target_file).unwrap(), plain);
    drop(restored);
    drop(target);
    drop(source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_sqlite() {
    backup_under_load_restores(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_postgres_redis_s3() {
    backup_under_load_restores(Backend::Scale).await;
}

/// A server's storage with one registered user, stopped; and a backup of it.
async fn small_deployment(backend: Backend) -> (Storage, Vec<(String, String)>, tempfile::TempDir) {
    let storage = Storage::create_with(backend, Blobs::Local).await;
    let env = env_of(&storage, None);
    let server = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
    Api::new(&server.base_url)
        .register(&Api::username("only"))
        .await;
    drop(server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.tar.gz");
    let (code, out, err) = zynkd(&env, &["backup", "create", &path.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    (storage, env, dir)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn bad_input_changes_nothing(backend: Backend) {
    let (storage, env, dir) = small_deployment(backend).await;
    let good = dir.path().join("good.tar.gz");
    let bytes = std::fs::read(&good).unwrap();

    // A corrupt archive (one byte changed) and truncated ones are refused by verify and restore,
    // and a refused restore creates nothing.
    let corrupt = dir.path().join("corrupt.tar.gz");
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x40;
    std::fs::write(&corrupt, &altered).unwrap();
    let truncated = dir.path().join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let cut_trailer = dir.path().join("cut.tar.gz");
    std::fs::write(&cut_trailer, &bytes[..bytes.len() - 3]).unwrap();
    let empty = dir.path().join("empty.tar.gz");
    std::fs::write(&empty, b"").unwrap();
    let fresh = Storage::create_with(backend, Blobs::Local).await;
    let fresh_data = fresh.data_dir().join("data");
    let mut fresh_env = env_of(&fresh, None);
    fresh_env[0].1 = fresh_data.display().to_string();
    if backend == Backend::Embedded {
        fresh_env[1].1 = format!("sqlite://{}", fresh_data.join("zynk.db").display());
    }
    for bad in [&corrupt, &truncated, &cut_trailer, &empty] {
        let path = bad.display().to_string();
        let (code, out, err) = zynkd(&[], &["backup", "verify", &path]);
        assert_eq!(code, 1, "{path}: {out}{err}");
        assert!(
            err.contains("corrupt or truncated") || err.contains("not a usable Zynk backup"),
            "{path}: {err}"
        );
        let (code, out, err) = zynkd(&fresh_env, &["backup", "restore", &path]);
        assert_eq!(code, 1, "{path}: {out}{err}");
        assert!(err.contains("corrupt or truncated"), "{path}: {err}");
        assert!(
            !fresh_data.exists(),
            "a refused restore created {fresh_data:?}"
        );
        assert_eq!(listing(fresh.data_dir().as_path()), Vec::<String>::new());
    }
    if backend == Backend::Scale {
        // The fresh database is still empty.
        let (code, out, err) = zynkd(&fresh_env, &["migrate", "status"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(!out.contains("applied "), "{out}");
    }

    // A restore over live data is refused without --force and changes nothing.
    let before = listing(&storage.data_dir());
    let key = std::fs::read(storage.data_dir().join("ledger-validator.key")).unwrap();
    let (code, out, err) = zynkd(&env, &["backup", "restore", &good.display().to_string()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(listing(&storage.data_dir()), before);
    // With --force it replaces the data and verifies the ledger.
    let (code, out, err) = zynkd(
        &env,
        &["backup", "restore", "--force", &good.display().to_string()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ledger verified"), "{out}");
    assert_eq!(
        std::fs::read(storage.data_dir().join("ledger-validator.key")).unwrap(),
        key
    );

    // A backup path that cannot be written, or that exists, is refused and leaves nothing.
    let (code, _, err) = zynkd(&env, &["backup", "create", "/nonexistent-dir/zynk.tar.gz"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = zynkd(&env, &["backup", "create", &good.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&good).unwrap(), bytes);
    #[cfg(target_os = "linux")]
    {
        // /proc takes no new files, whoever asks (root ignores directory modes).
        let (code, _, err) = zynkd(&env, &["backup", "create", "/proc/zynk.tar.gz"]);
        assert_eq!(code, 1);
        assert!(err.contains("not writable"), "{err}");
    }
    drop(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archives_and_paths_are_refused_sqlite() {
    bad_input_changes_nothing(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archives_and_paths_are_refused_postgres() {
    bad_input_changes_nothing(Backend::Scale).await;
}

/// `backup.schedule` writes archives on its own and keeps `backup.keep` of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_kept_to_the_limit() {
    let storage = Storage::create(Backend::Embedded).await;
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().display().to_string();
    let server = Zynkd::start(
        &storage,
        "127.0.0.1:0",
        &[
            ("ZYNK_BACKUP__SCHEDULE", "1s"),
            ("ZYNK_BACKUP__KEEP", "2"),
            ("ZYNK_BACKUP__DIR", &dir),
        ],
    )
    .await;
    let mut written = 0;
    for _ in 0..300 {
        written = server
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("scheduled backup written"))
            .count();
        if written >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written >= 4, "{:?}", server.log.lock().unwrap());
    drop(server);
    let archives = listing(backups.path());
    assert_eq!(archives.len(), 2, "{archives:?}");
    for name in &archives {
        assert!(name.starts_with("zynk-backup-") && name.ends_with(".tar.gz"));
        let path = backups.path().join(name).display().to_string();
        let (code, out, err) = zynkd(&[], &["backup", "verify", &path]);
        assert_eq!(code, 0, "{out}{err}");
    }
}
