//! `zynkd files gc` runs the file jobs on demand: a blob without a row is removed, one with a
//! row is kept. On SQLite with the local blob directory and on PostgreSQL with the S3 test
//! server.

mod common;

use common::zynkd_command;
use zynk_testkit::server::Storage;
use zynk_testkit::{Backend, Blobs};

async fn gc_removes_blobs_without_a_row(backend: Backend, blobs: Blobs) {
    let storage = Storage::create_with(backend, blobs).await;
    let url = storage.config().effective_storage_url();
    let store = zynk_backends::blob::open(&url).await.unwrap();
    let handle = store.begin_upload("files/stray").await.unwrap();
    let part = store
        .put_part("files/stray", &handle, 0, 0, vec![vec![7u8; 1000].into()])
        .await
        .unwrap();
    store
        .complete_upload("files/stray", &handle, &[part])
        .await
        .unwrap();
    assert_eq!(store.list().await.unwrap().len(), 1);

    let mut command = zynkd_command();
    command
        .args(["files", "gc"])
        .env("ZYNK_DATA_DIR", storage.data_dir())
        .env("ZYNK_DATABASE_URL", storage.database_url())
        .env("ZYNK_LOG", "warn");
    if let Some(storage_url) = &storage.config().files.storage_url {
        command.env("ZYNK_FILES__STORAGE_URL", storage_url);
    }
    let out = command.output().expect("zynkd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("removed 0 expired, 0 deleted and 0 abandoned files"),
        "{stdout}"
    );
    assert!(stdout.contains("removed 1 blobs without a row"), "{stdout}");
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_gc_sqlite_local() {
    gc_removes_blobs_without_a_row(Backend::Embedded, Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_gc_postgres_s3() {
    gc_removes_blobs_without_a_row(Backend::Scale, Blobs::S3).await;
}
