//! Migrations apply, revert completely and re-apply on both engines, and the schema they build
//! enforces the data model's constraints.

use uuid::Uuid;
use zynk_backends::sql::{self, AnyStore, PoolSettings};

fn postgres_admin_url() -> String {
    std::env::var("ZYNK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn up_down_up(store: &dyn AnyStore, count_tables: &str, engine_url: &str) {
    store.migrate_up().await.unwrap();
    let status = store.migration_status().await.unwrap();
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    let tables_up = count(engine_url, count_tables).await;
    // 26 of the core schema and the ledger, 3 of trust and credentials (0003), the EVM outbox
    // (0004), blocks (0007), the stored parts of unfinished file uploads (0008).
    assert_eq!(tables_up, 35, "every table of the schema");
    store.migrate_down(0).await.unwrap();
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );
    assert_eq!(
        count(engine_url, count_tables).await,
        0,
        "down leaves no table behind"
    );
    store.migrate_up().await.unwrap();
    assert_eq!(count(engine_url, count_tables).await, tables_up);
    // Applying again is a no-op.
    store.migrate_up().await.unwrap();
}

async fn count(url: &str, query: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// A connection of its own to the SQLite database at `url`, with foreign keys enforced.
async fn sqlite_with_foreign_keys(url: &str) -> sqlx::SqliteConnection {
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
    let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
    up_down_up(
        store.as_ref(),
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'",
        &url,
    )
    .await;
    let journal: String = {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn postgres_up_down_up_with_partitions() {
    let admin = postgres_admin_url();
    let name = format!("zynk_test_{}", Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    {
        let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
        up_down_up(
            store.as_ref(),
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_%' AND tablename NOT LIKE 'messages\\_2%' AND tablename NOT LIKE 'message\\_events\\_2%'",
            &url,
        )
        .await;
        // Partitions exist from last month to three months ahead, and upkeep is idempotent.
        let partitions = count(
            &url,
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass",
        )
        .await;
        assert_eq!(partitions, 5);
        assert_eq!(store.ensure_partitions().await.unwrap(), 0);
        // The case-insensitive username index and the data model's CHECKs are in force.
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let insert = |name: &str| {
            format!(
                "INSERT INTO users (username, password_hash, public_key) VALUES ('{name}', 'h', 'k')"
            )
        };
        sqlx::query(sqlx::AssertSqlSafe(insert("Alice")))
            .execute(&mut c)
            .await
            .unwrap();
        assert!(
            sqlx::query(sqlx::AssertSqlSafe(insert("alice")))
                .execute(&mut c)
                .await
                .is_err()
        );
        assert!(
            sqlx::query(sqlx::AssertSqlSafe(insert("no spaces")))
                .execute(&mut c)
                .await
                .is_err()
        );
        drop(store);
    }
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
}

#[tokio::test]
async fn sqlite_enforces_the_same_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
    let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
    store.migrate_up().await.unwrap();
    let mut c = sqlite_with_foreign_keys(&url).await;
    let insert = |id: u8, name: &str| {
        format!(
            "INSERT INTO users (id, username, password_hash, public_key, created_at, updated_at) \
             VALUES (X'{:032x}', '{name}', 'h', 'k', 't', 't')",
            id
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(insert(1, "Alice")))
        .execute(&mut c)
        .await
        .unwrap();
    assert!(
        sqlx::query(sqlx::AssertSqlSafe(insert(2, "alice")))
            .execute(&mut c)
            .await
            .is_err()
    );
    assert!(
        sqlx::query(sqlx::AssertSqlSafe(insert(3, "no spaces")))
            .execute(&mut c)
            .await
            .is_err()
    );
    assert!(
        sqlx::query(sqlx::AssertSqlSafe(insert(4, "ab")))
            .execute(&mut c)
            .await
            .is_err()
    );
    // Foreign keys are enforced.
    let orphan = "INSERT INTO devices (id, user_id, device_fingerprint, public_key, platform, created_at) \
                  VALUES (X'00000000000000000000000000000009', X'000000000000000000000000000000ff', 'f', 'k', 'web', 't')";
    assert!(sqlx::query(orphan).execute(&mut c).await.is_err());
    let bad_platform = "INSERT INTO devices (id, user_id, device_fingerprint, public_key, platform, created_at) \
                        VALUES (X'00000000000000000000000000000009', X'00000000000000000000000000000001', 'f', 'k', 'beos', 't')";
    assert!(sqlx::query(bad_platform).execute(&mut c).await.is_err());
}

/// 0005 rebuilds SQLite's two message tables: stored messages survive it both ways, and the
/// cascades that now run through `message_refs` still remove a deleted sender's messages.
#[tokio::test]
async fn sqlite_0005_keeps_stored_messages_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("zynk.db").display());
    let store = sql::connect(&url, &PoolSettings::default()).await.unwrap();
    store.migrate_up().await.unwrap();
    let mut c = sqlite_with_foreign_keys(&url).await;
    for statement in [
        "INSERT INTO users (id, username, password_hash, public_key, created_at, updated_at) \
         VALUES (X'00000000000000000000000000000001', 'alice', 'h', 'k', 't', 't'), \
                (X'00000000000000000000000000000002', 'bob', 'h', 'k', 't', 't')",
        "INSERT INTO conversations (id, type, pair_key, last_seq, created_at, updated_at) \
         VALUES (X'000000000000000000000000000000c1', 'one_to_one', 'alice:bob', 2, 't', 't')",
        "INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) \
         VALUES (X'000000000000000000000000000000a1', X'000000000000000000000000000000c1', 1, \
                 X'00000000000000000000000000000001', 't'), \
                (X'000000000000000000000000000000a2', X'000000000000000000000000000000c1', 2, \
                 X'00000000000000000000000000000002', 't')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut c)
            .await
            .unwrap();
    }
    for (id, seq, sender) in [("a1", 1, "01"), ("a2", 2, "02")] {
        let insert = format!(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, encrypted_content, \
             content_hash, message_type, created_at) VALUES (X'{id:0>32}', \
             X'000000000000000000000000000000c1', {seq}, X'{sender:0>32}', X'00', '{}', 'text', 't')",
            "ab".repeat(32)
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let messages = "SELECT COUNT(*) FROM messages m JOIN message_refs r ON r.id = m.id";
    let layout = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'message_refs' AND sql LIKE '%WITHOUT ROWID%'";
    assert_eq!(count(&url, messages).await, 2);
    assert_eq!(count(&url, layout).await, 1);

    store.migrate_down(4).await.unwrap();
    assert_eq!(count(&url, messages).await, 2, "kept by the way down");
    assert_eq!(count(&url, layout).await, 0);
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_messages_sender'"
        )
        .await,
        1
    );
    store.migrate_up().await.unwrap();
    assert_eq!(count(&url, messages).await, 2, "kept by the way up");
    assert_eq!(count(&url, layout).await, 1);

    // Deleting bob removes his message (users -> message_refs -> messages), not alice's.
    let mut c = sqlite_with_foreign_keys(&url).await;
    sqlx::query("DELETE FROM users WHERE username = 'bob'")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(count(&url, "SELECT COUNT(*) FROM messages").await, 1);
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM messages WHERE sender_id = X'00000000000000000000000000000001'"
        )
        .await,
        1
    );
    // A message without its reference is refused.
    let orphan = format!(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, encrypted_content, \
         content_hash, message_type, created_at) VALUES (X'{:0>32}', \
         X'000000000000000000000000000000c1', 9, X'{:0>32}', X'00', '{}', 'text', 't')",
        "ff",
        "01",
        "ab".repeat(32)
    );
    assert!(
        sqlx::query(sqlx::AssertSqlSafe(orphan))
            .execute(&mut c)
            .await
            .is_err()
    );
}
