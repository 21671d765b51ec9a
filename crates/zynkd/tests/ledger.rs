//! `zynkd ledger anchor` seals a batch now; `zynkd ledger verify` passes on an honest ledger and
//! fails when any stored byte of a block, batch header, transaction, batch tree or identity state
//! is altered. `zynkd trust set|show` adjust and show trust scores.
//! On SQLite and on PostgreSQL.

mod common;

use common::{Zynkd, zynkd_command};
use zynk_testkit::server::Storage;
use zynk_testkit::{Api, Backend, message_body};

fn ledger(storage: &Storage, action: &str) -> (bool, String) {
    zynkd(storage, &["ledger", action])
}

fn zynkd(storage: &Storage, args: &[&str]) -> (bool, String) {
    let out = zynkd_command()
        .args(args)
        .env("ZYNK_DATA_DIR", storage.data_dir())
        .env("ZYNK_DATABASE_URL", storage.database_url())
        .env("ZYNK_LOG", "warn")
        .output()
        .expect("zynkd runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn read_entry(storage: &Storage, key: &str) -> Vec<u8> {
    let url = storage.database_url();
    let sql = "SELECT value FROM ledger_kv WHERE key = $1";
    if url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

async fn write_entry(storage: &Storage, key: &str, value: &[u8]) {
    let url = storage.database_url();
    let sql = "UPDATE ledger_kv SET value = $1 WHERE key = $2";
    if url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(value)
            .bind(key)
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(value)
            .bind(key)
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// Flips one byte of a JSON value inside a hex string (so the JSON still parses and only the
/// cryptographic checks can catch it).
fn flip_hex_digit(value: &[u8]) -> Vec<u8> {
    let mut altered = value.to_vec();
    let text = String::from_utf8_lossy(value);
    let at = text.find("0x").expect("a hex value") + 10;
    altered[at] = if altered[at] == b'a' { b'b' } else { b'a' };
    altered
}

async fn anchor_and_verify(backend: Backend) {
    let storage = Storage::create(backend).await;
    let mut server = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
    let api = Api::new(&server.base_url);
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    for i in 0..7 {
        api.send_message(
            &ann.access_token,
            &conversation,
            message_body(&format!("m{i}")),
        )
        .await;
    }
    // Every transaction type: a trust change and a credential too.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/users/{}/report", ann.user_id),
            Some(&bob.access_token),
            Some(&serde_json::json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/credentials",
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    server.kill9();
    // An administrator's adjustment seals what is pending, the adjustment included.
    let (ok, out) = zynkd(&storage, &["trust", "set", &ann.username, "70"]);
    assert!(ok, "{out}");
    assert!(out.contains("trust score 45 -> 70"), "{out}");
    let (ok, out) = zynkd(&storage, &["trust", "show", &ann.username]);
    assert!(ok && out.contains("trust score 70"), "{out}");
    assert!(
        out.contains("manual_adjustment") && out.contains("spam_report"),
        "{out}"
    );
    let (ok, out) = ledger(&storage, "anchor");
    assert!(ok, "{out}");
    assert!(out.contains("sealed batch 0: 7 messages"), "{out}");
    let (ok, out) = ledger(&storage, "anchor");
    assert!(ok && out.contains("no message to anchor"), "{out}");
    let (ok, out) = ledger(&storage, "verify");
    assert!(ok, "{out}");
    // Blocks: registrations (sealed by the server or by `trust set`), the rest, the batch.
    assert!(
        out.contains("ledger verified: ") && out.contains(" blocks, 1 batches"),
        "{out}"
    );
    // Alter one byte of each kind of entry in turn: verification fails, then passes again once
    // the byte is restored.
    let header: serde_json::Value =
        serde_json::from_slice(&read_entry(&storage, "batch:0").await).unwrap();
    let root = header["root"].as_str().unwrap().to_owned();
    for key in [
        "block:0".to_owned(),
        "batch:0".to_owned(),
        format!("merkle:{root}"),
        "head".to_owned(),
        format!("state:identity:did:zynk:{}", ann.user_id),
    ] {
        let original = read_entry(&storage, &key).await;
        write_entry(&storage, &key, &flip_hex_digit(&original)).await;
        let (ok, out) = ledger(&storage, "verify");
        assert!(!ok, "altering {key} went unnoticed: {out}");
        assert!(out.contains("FAILED"), "{out}");
        write_entry(&storage, &key, &original).await;
        let (ok, out) = ledger(&storage, "verify");
        assert!(ok, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_and_verify_sqlite() {
    anchor_and_verify(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_and_verify_postgres() {
    anchor_and_verify(Backend::Scale).await;
}
