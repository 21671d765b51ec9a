//! Conformance suite of the blob storage seam: every check runs on the local directory
//! (`…::local`) and on a real S3-compatible server (`…::s3`: s3s-fs, which `scripts/test.sh`
//! installs and starts; `ZYNK_TEST_S3_URL` names it, `ZYNK_TEST_S3_ROOT` its data directory, in
//! which each test makes a bucket of its own). A test that cannot reach the S3 server fails;
//! none is skipped.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use zynk_backends::blob::{self, BlobError, BlobStore};

/// Smallest part S3 accepts (every part but the last).
const PART: usize = 5 * 1024 * 1024;

fn s3_url() -> String {
    std::env::var("ZYNK_TEST_S3_URL")
        .unwrap_or_else(|_| "s3+http://zynktest:zynktestsecret@127.0.0.1:58014".into())
}

fn s3_root() -> PathBuf {
    std::env::var_os("ZYNK_TEST_S3_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services/s3")
        })
}

/// A fresh store of one kind; the directory (or bucket directory) lives as long as it.
struct TestBlobs {
    store: Arc<dyn BlobStore>,
    url: String,
    /// Where the bytes land on disk (the local root, or the bucket's directory).
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Drop for TestBlobs {
    fn drop(&mut self) {
        if self._temp.is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn local() -> TestBlobs {
    let temp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", temp.path().join("blobs").display());
    TestBlobs {
        store: blob::open(&url).await.unwrap(),
        dir: temp.path().join("blobs"),
        url,
        _temp: Some(temp),
    }
}

async fn s3() -> TestBlobs {
    let bucket = format!("zt-{}", uuid::Uuid::new_v4().simple());
    let dir = s3_root().join(&bucket);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot make the bucket directory {} (is ZYNK_TEST_S3_ROOT right?): {e}",
            dir.display()
        )
    });
    let url = format!("{}/{bucket}", s3_url());
    let store = blob::open(&url).await.unwrap();
    // Fail clearly when the server is not there.
    store
        .list()
        .await
        .unwrap_or_else(|e| panic!("the S3 test server at {} is unreachable: {e}", s3_url()));
    TestBlobs {
        store,
        url,
        dir,
        _temp: None,
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                super::$name(super::local().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                super::$name(super::s3().await).await;
            }
        }
    )*};
}

conformance!(
    parts_become_one_blob_read_whole_and_by_range,
    a_part_written_again_replaces_the_first,
    an_upload_continues_after_the_store_is_reopened,
    an_aborted_upload_leaves_nothing,
    missing_blobs_and_bad_ranges_are_clear_errors,
    reads_stream_in_bounded_chunks,
    keys_outside_the_alphabet_are_refused,
);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn read_all(
    store: &dyn BlobStore,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let mut stream = store.get(key, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Uploads `data` in parts of [`PART`] bytes (each part sent as two chunks) and completes it.
async fn upload(store: &dyn BlobStore, key: &str, data: &[u8]) {
    let handle = store.begin_upload(key).await.unwrap();
    let mut parts = Vec::new();
    for (index, part) in data.chunks(PART).enumerate() {
        let half = part.len() / 2;
        let chunks = vec![
            Bytes::copy_from_slice(&part[..half]),
            Bytes::copy_from_slice(&part[half..]),
        ];
        let id = store
            .put_part(key, &handle, index as u32, (index * PART) as u64, chunks)
            .await
            .unwrap();
        parts.push(id);
    }
    store.complete_upload(key, &handle, &parts).await.unwrap();
}

async fn parts_become_one_blob_read_whole_and_by_range(t: TestBlobs) {
    let store = t.store.as_ref();
    let data = pattern(2 * PART + 1000, 7);
    upload(store, "files/one", &data).await;
    assert_eq!(
        store.size("files/one").await.unwrap(),
        Some(data.len() as u64)
    );
    assert_eq!(read_all(store, "files/one", None).await, data);
    let range = (PART as u64 - 10)..(PART as u64 + 20);
    assert_eq!(
        read_all(store, "files/one", Some(range.clone())).await,
        &data[range.start as usize..range.end as usize]
    );
    let tail = (data.len() as u64 - 1)..data.len() as u64;
    assert_eq!(
        read_all(store, "files/one", Some(tail)).await,
        &data[data.len() - 1..]
    );
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].key, "files/one");
    assert_eq!(listed[0].size, data.len() as u64);
    // The bytes are on disk where the store's directory (or bucket) is.
    let on_disk: u64 = walk(&t.dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk >= data.len() as u64, "{} bytes on disk", on_disk);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

async fn a_part_written_again_replaces_the_first(t: TestBlobs) {
    let store = t.store.as_ref();
    let first = pattern(PART, 1);
    let second = pattern(PART, 2);
    let last = pattern(10, 3);
    let handle = store.begin_upload("files/again").await.unwrap();
    store
        .put_part("files/again", &handle, 0, 0, vec![Bytes::from(first)])
        .await
        .unwrap();
    let part0 = store
        .put_part(
            "files/again",
            &handle,
            0,
            0,
            vec![Bytes::from(second.clone())],
        )
        .await
        .unwrap();
    let part1 = store
        .put_part(
            "files/again",
            &handle,
            1,
            PART as u64,
            vec![Bytes::from(last.clone())],
        )
        .await
        .unwrap();
    store
        .complete_upload("files/again", &handle, &[part0, part1])
        .await
        .unwrap();
    let mut expected = second;
    expected.extend_from_slice(&last);
    assert_eq!(read_all(store, "files/again", None).await, expected);
}

async fn an_upload_continues_after_the_store_is_reopened(t: TestBlobs) {
    let data = pattern(PART + 77, 9);
    let handle = t.store.begin_upload("files/resumed").await.unwrap();
    let part0 = t
        .store
        .put_part(
            "files/resumed",
            &handle,
            0,
            0,
            vec![Bytes::copy_from_slice(&data[..PART])],
        )
        .await
        .unwrap();
    // A restart: a new store over the same storage, with the handles kept elsewhere.
    let reopened = blob::open(&t.url).await.unwrap();
    let part1 = reopened
        .put_part(
            "files/resumed",
            &handle,
            1,
            PART as u64,
            vec![Bytes::copy_from_slice(&data[PART..])],
        )
        .await
        .unwrap();
    reopened
        .complete_upload("files/resumed", &handle, &[part0, part1])
        .await
        .unwrap();
    assert_eq!(
        read_all(reopened.as_ref(), "files/resumed", None).await,
        data
    );
}

async fn an_aborted_upload_leaves_nothing(t: TestBlobs) {
    let store = t.store.as_ref();
    let handle = store.begin_upload("files/aborted").await.unwrap();
    let part = store
        .put_part(
            "files/aborted",
            &handle,
            0,
            0,
            vec![Bytes::from(pattern(PART, 4))],
        )
        .await
        .unwrap();
    if store.kind() == "local" {
        assert_eq!(store.list_uploads().await.unwrap().len(), 1);
    }
    store.abort_upload("files/aborted", &handle).await.unwrap();
    // Aborting twice is fine on the local store (and on S3, which answers NoSuchUpload; s3s-fs
    // answers AccessDenied instead, so the services treat a failed abort as a warning).
    if store.kind() == "local" {
        store.abort_upload("files/aborted", &handle).await.unwrap();
    }
    // Completing an aborted upload fails.
    assert!(
        store
            .complete_upload("files/aborted", &handle, &[part])
            .await
            .is_err()
    );
    assert!(store.list().await.unwrap().is_empty());
    assert!(store.list_uploads().await.unwrap().is_empty());
    assert_eq!(store.size("files/aborted").await.unwrap(), None);
}

async fn missing_blobs_and_bad_ranges_are_clear_errors(t: TestBlobs) {
    let store = t.store.as_ref();
    assert!(matches!(
        store.get("files/none", None).await,
        Err(BlobError::NotFound(_))
    ));
    assert_eq!(store.size("files/none").await.unwrap(), None);
    store.delete("files/none").await.unwrap();
    upload(store, "files/small", b"0123456789").await;
    assert!(matches!(
        store.get("files/small", Some(5..5)).await,
        Err(BlobError::InvalidRange(_))
    ));
    store.delete("files/small").await.unwrap();
    store.delete("files/small").await.unwrap();
    assert_eq!(store.size("files/small").await.unwrap(), None);
    assert!(store.list().await.unwrap().is_empty());
}

async fn reads_stream_in_bounded_chunks(t: TestBlobs) {
    let store = t.store.as_ref();
    let data = pattern(4 * PART, 5);
    upload(store, "files/big", &data).await;
    let mut stream = store.get("files/big", None).await.unwrap();
    let (mut total, mut largest, mut chunks) = (0usize, 0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len();
        largest = largest.max(chunk.len());
        chunks += 1;
    }
    assert_eq!(total, data.len());
    // A 20 MiB blob arrives in many small pieces, never whole.
    assert!(largest <= 1024 * 1024, "largest chunk {largest} bytes");
    assert!(chunks >= 20, "{chunks} chunks");
}

async fn keys_outside_the_alphabet_are_refused(t: TestBlobs) {
    let store = t.store.as_ref();
    for key in ["../escape", "files//x", "/abs", "files/a b"] {
        assert!(
            matches!(store.begin_upload(key).await, Err(BlobError::Config(_))),
            "{key}"
        );
        assert!(
            matches!(store.get(key, None).await, Err(BlobError::Config(_))),
            "{key}"
        );
    }
}
