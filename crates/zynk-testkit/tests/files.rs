//! Encrypted files over HTTP, on both engines and both blob stores: resumable uploads (a body cut
//! short, a wrong offset, a server restart), the size and hash check, ranged downloads,
//! authorisation (participants read, the uploader writes and deletes, strangers get 404),
//! quota and per-file limits, expiry, deletion, and the cleanup and orphan jobs. The server never
//! decrypts, so random bytes stand in for ciphertext here; the client side is tested in
//! zynk-sdk and zynk-cli.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use zynk_testkit::{
    Api, Backend, Blobs, Registered, TestServer, backend_tests, code, eventually, storage_tests,
};

/// The smallest part size the server accepts (5 MiB).
const PART: usize = 5 * 1024 * 1024;

storage_tests!(
    an_upload_in_parts_downloads_whole_and_by_range_for_participants_only,
    an_interrupted_upload_resumes_where_the_server_says_even_after_a_restart,
    expired_deleted_and_abandoned_files_are_removed_by_the_job,
    orphans_are_removed_by_the_weekly_job,
);

backend_tests!(bad_uploads_get_clear_errors_and_leave_nothing,);

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut state = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in &mut out {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    out
}

fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

struct Files {
    base: String,
    http: reqwest::Client,
}

impl Files {
    fn new(server: &TestServer) -> Self {
        Self::at(&server.base_url)
    }

    fn at(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn create(&self, token: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/files", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn created(&self, token: &str, conversation: &str, data: &[u8]) -> String {
        let (status, body) = self
            .create(
                token,
                json!({"conversation_id": conversation, "size": data.len(), "sha256": sha256(data)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["offset"], 0);
        assert_eq!(body["status"], "uploading");
        body["file_id"].as_str().unwrap().to_owned()
    }

    async fn patch_body(
        &self,
        token: &str,
        file: &str,
        offset: u64,
        body: reqwest::Body,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .patch(format!("{}/api/v1/files/{file}/upload", self.base))
            .bearer_auth(token)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(body)
            .send()
            .await;
        match resp {
            Ok(resp) => {
                let status = resp.status();
                let header: Option<u64> = resp
                    .headers()
                    .get("upload-offset")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    assert_eq!(header, body["offset"].as_u64(), "Upload-Offset header");
                }
                (status, body)
            }
            Err(e) => (
                StatusCode::from_u16(599).unwrap(),
                json!({"transport": e.to_string()}),
            ),
        }
    }

    async fn patch(
        &self,
        token: &str,
        file: &str,
        offset: u64,
        data: &[u8],
    ) -> (StatusCode, Value) {
        self.patch_body(token, file, offset, reqwest::Body::from(data.to_vec()))
            .await
    }

    async fn info(&self, token: &str, file: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}/api/v1/files/{file}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn content(
        &self,
        token: &str,
        file: &str,
        range: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self
            .http
            .get(format!("{}/api/v1/files/{file}/content", self.base))
            .bearer_auth(token);
        if let Some(range) = range {
            req = req.header("range", range);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    async fn delete(&self, token: &str, file: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .delete(format!("{}/api/v1/files/{file}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `data` whole (in two requests: one part, then the rest); returns the file id.
    async fn upload(&self, token: &str, conversation: &str, data: &[u8]) -> String {
        let file = self.created(token, conversation, data).await;
        let first = data.len().min(PART);
        let (status, body) = self.patch(token, &file, 0, &data[..first]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if first < data.len() {
            let (status, body) = self.patch(token, &file, first as u64, &data[first..]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (_, info) = self.info(token, &file).await;
        assert_eq!(info["status"], "complete", "{info}");
        file
    }
}

/// Alice, Bob (in a conversation with her) and Carol (a stranger), and their conversation.
async fn three_users(server: &TestServer) -> (Registered, Registered, Registered, String) {
    let api: Api = server.api();
    let alice = api.register(&Api::username("alice")).await;
    let bob = api.register(&Api::username("bob")).await;
    let carol = api.register(&Api::username("carol")).await;
    let conversation = api
        .open_conversation(&alice.access_token, &bob.user_id)
        .await;
    (alice, bob, carol, conversation)
}

fn files_on_disk(dir: &Path) -> Vec<std::path::PathBuf> {
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

async fn start(backend: Backend, blobs: Blobs) -> TestServer {
    TestServer::start_on(backend, blobs, |config| {
        config.files.part_bytes = PART as u64;
    })
    .await
}

async fn an_upload_in_parts_downloads_whole_and_by_range_for_participants_only(
    backend: Backend,
    blobs: Blobs,
) {
    let server = start(backend, blobs).await;
    let files = Files::new(&server);
    let (alice, bob, carol, conversation) = three_users(&server).await;
    let data = bytes(2 * PART + 1234, 1);
    let file = files
        .upload(&alice.access_token, &conversation, &data)
        .await;

    // The blob is where the configured storage keeps blobs, whole.
    let stored: u64 = files_on_disk(&server.storage.blob_dir())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        stored >= data.len() as u64,
        "{stored} bytes in the blob storage"
    );

    for reader in [&alice, &bob] {
        let (status, headers, body) = files.content(&reader.access_token, &file, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-length"], data.len().to_string().as_str());
        assert_eq!(headers["accept-ranges"], "bytes");
        assert!(body == data, "whole download differs");
        let (status, info) = files.info(&reader.access_token, &file).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(info["size"], data.len());
        assert_eq!(info["sha256"], sha256(&data));
        assert_eq!(info["uploader_id"], alice.user_id.as_str());
    }
    let start = PART - 7;
    let (status, headers, body) = files
        .content(
            &bob.access_token,
            &file,
            Some(&format!("bytes={start}-{}", start + 99)),
        )
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        headers["content-range"],
        format!("bytes {start}-{}/{}", start + 99, data.len()).as_str()
    );
    assert_eq!(body, &data[start..start + 100]);
    let (status, _, body) = files
        .content(&bob.access_token, &file, Some("bytes=-10"))
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &data[data.len() - 10..]);
    let (status, _, body) = files
        .content(
            &bob.access_token,
            &file,
            Some(&format!("bytes={}-", data.len())),
        )
        .await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        code(&serde_json::from_slice(&body).unwrap()),
        "range_not_satisfiable"
    );

    // A stranger learns nothing: 404 everywhere, as for a file that does not exist.
    let (status, body) = files.info(&carol.access_token, &file).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, _) = files.content(&carol.access_token, &file, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = files.delete(&carol.access_token, &file).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = files.patch(&carol.access_token, &file, 0, b"x").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = files
        .info(&carol.access_token, &uuid::Uuid::now_v7().to_string())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor may a stranger upload into a conversation not theirs.
    let (status, body) = files
        .create(
            &carol.access_token,
            json!({"conversation_id": conversation, "size": 10, "sha256": sha256(b"0123456789")}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // Without a valid token: 401.
    let (status, _, _) = files.content("zat_invalid", &file, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Only the uploader deletes; afterwards the file is gone for everyone.
    let (status, body) = files.delete(&bob.access_token, &file).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _) = files.delete(&alice.access_token, &file).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for reader in [&alice, &bob] {
        let (status, _, body) = files.content(&reader.access_token, &file, None).await;
        assert_eq!(status, StatusCode::GONE);
        assert_eq!(code(&serde_json::from_slice(&body).unwrap()), "file_gone");
    }
    let (status, _) = files.delete(&alice.access_token, &file).await;
    assert_eq!(status, StatusCode::GONE);
}

async fn an_interrupted_upload_resumes_where_the_server_says_even_after_a_restart(
    backend: Backend,
    blobs: Blobs,
) {
    let mut server = start(backend, blobs).await;
    let (alice, bob, _, conversation) = three_users(&server).await;
    let data = bytes(3 * PART + 500, 2);
    let files = Files::new(&server);
    let file = files
        .created(&alice.access_token, &conversation, &data)
        .await;

    // A body cut off after a part and a half: the whole part is stored, the rest is not.
    let cut = PART + PART / 2;
    let head = data[..cut].to_vec();
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(head[..PART / 2].to_vec()),
        Ok(head[PART / 2..].to_vec()),
        Err(std::io::Error::other("connection lost")),
    ]);
    let _ = files
        .patch_body(
            &alice.access_token,
            &file,
            0,
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    let offset = eventually("the stored part to be recorded", || async {
        let (_, info) = files.info(&alice.access_token, &file).await;
        (info["offset"].as_u64() == Some(PART as u64)).then_some(PART as u64)
    })
    .await;

    // The server's offset is the word: any other is refused with the offset it has. (The body
    // is small: the refusal comes before the body is read, and a client still writing a large
    // body may see the connection close before it reads the answer.)
    let (status, body) = files
        .patch(&alice.access_token, &file, 0, &data[..1024])
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "upload_offset_mismatch")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&PART.to_string())
    );

    // A body ending short of a part stores only whole parts.
    let (status, body) = files
        .patch(
            &alice.access_token,
            &file,
            offset,
            &data[PART..2 * PART + 10],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offset"], 2 * PART);
    assert_eq!(body["status"], "uploading");

    // The server restarts; the upload continues from its stored offset.
    server.restart_with(|_| {}).await;
    let files = Files::new(&server);
    let (_, info) = files.info(&alice.access_token, &file).await;
    assert_eq!(info["offset"], 2 * PART);
    // Bob cannot write into Alice's upload.
    let (status, body) = files
        .patch(&bob.access_token, &file, 2 * PART as u64, &data[2 * PART..])
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // Downloading before it completes is refused.
    let (status, _, _) = files.content(&bob.access_token, &file, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = files
        .patch(
            &alice.access_token,
            &file,
            2 * PART as u64,
            &data[2 * PART..],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "complete");
    assert_eq!(body["offset"], data.len());
    let (_, _, body) = files.content(&bob.access_token, &file, None).await;
    assert!(body == data, "resumed upload differs");
    // Writing to a complete file is refused.
    let (status, body) = files
        .patch(&alice.access_token, &file, data.len() as u64, b"x")
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "upload_complete")
    );
}

async fn bad_uploads_get_clear_errors_and_leave_nothing(backend: Backend) {
    let blobs = Blobs::default_for(backend);
    let server = TestServer::start_on(backend, blobs, |config| {
        config.files.part_bytes = PART as u64;
        config.files.max_file_bytes = 3 * PART as u64;
        config.files.quota_bytes = 4 * PART as u64;
    })
    .await;
    let files = Files::new(&server);
    let (alice, _bob, _carol, conversation) = three_users(&server).await;
    let token = &alice.access_token;
    let hash = sha256(b"x");
    let cases = [
        (
            json!({"conversation_id": conversation, "size": 0, "sha256": hash}),
            400,
            "invalid_field",
        ),
        (
            json!({"conversation_id": conversation, "size": 3 * PART + 1, "sha256": hash}),
            413,
            "file_too_large",
        ),
        (
            json!({"conversation_id": conversation, "size": 10, "sha256": "ABC"}),
            400,
            "invalid_field",
        ),
        (
            json!({"conversation_id": conversation, "size": 10, "sha256": hash, "expires_in_secs": 60}),
            400,
            "invalid_field",
        ),
        (
            json!({"conversation_id": conversation, "size": 10, "sha256": hash, "expires_in_secs": 31 * 86400}),
            400,
            "invalid_field",
        ),
        (
            json!({"conversation_id": conversation, "size": 10, "sha256": hash, "name": "leak.txt"}),
            400,
            "invalid_json",
        ),
        (
            json!({"conversation_id": uuid::Uuid::now_v7(), "size": 10, "sha256": hash}),
            404,
            "not_found",
        ),
    ];
    for (body, status, expected) in cases {
        let (got, reply) = files.create(token, body.clone()).await;
        assert_eq!((got.as_u16(), code(&reply)), (status, expected), "{body}");
    }

    // A hash mismatch at the end: refused, and neither row nor blob is kept.
    let data = bytes(PART + 10, 3);
    let (status, body) = files
        .create(token, json!({"conversation_id": conversation, "size": data.len(), "sha256": sha256(b"other")}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let file = body["file_id"].as_str().unwrap().to_owned();
    let (status, body) = files.patch(token, &file, 0, &data).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "file_hash_mismatch")
    );
    let (status, _) = files.info(token, &file).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files")
            .await
            .as_deref(),
        Some("0")
    );
    let leftovers: Vec<_> = files_on_disk(&server.storage.blob_dir())
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    assert!(leftovers.is_empty(), "blob storage keeps {leftovers:?}");

    // Bytes past the declared size, a missing offset, the wrong media type.
    let file = files.created(token, &conversation, b"0123456789").await;
    let (status, body) = files.patch(token, &file, 0, b"0123456789A").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "upload_exceeds_size")
    );
    let resp = reqwest::Client::new()
        .patch(format!("{}/api/v1/files/{file}/upload", server.base_url))
        .bearer_auth(token)
        .header("content-type", "application/offset+octet-stream")
        .body("0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = reqwest::Client::new()
        .patch(format!("{}/api/v1/files/{file}/upload", server.base_url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("upload-offset", "0")
        .body("0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, info) = files.info(token, &file).await;
    assert_eq!(info["offset"], 0);
    let (status, body) = files.patch(token, &file, 0, b"0123456789").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("complete"))
    );

    // The quota counts unfinished uploads at their declared size.
    let (status, _) = files
        .create(
            token,
            json!({"conversation_id": conversation, "size": 3 * PART, "sha256": hash}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = files
        .create(
            token,
            json!({"conversation_id": conversation, "size": PART, "sha256": hash}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded")
    );
}

async fn expired_deleted_and_abandoned_files_are_removed_by_the_job(
    backend: Backend,
    blobs: Blobs,
) {
    let server = start(backend, blobs).await;
    let files = Files::new(&server);
    let (alice, bob, _, conversation) = three_users(&server).await;
    let expiring_data = bytes(1000, 4);
    let (status, body) = files
        .create(
            &alice.access_token,
            json!({"conversation_id": conversation, "size": 1000, "sha256": sha256(&expiring_data), "expires_in_secs": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["expires_at"].is_string());
    let expiring = body["file_id"].as_str().unwrap().to_owned();
    let (status, _) = files
        .patch(&alice.access_token, &expiring, 0, &expiring_data)
        .await;
    assert_eq!(status, StatusCode::OK);
    let deleted = files
        .upload(&alice.access_token, &conversation, &bytes(2000, 5))
        .await;
    let kept = files
        .upload(&alice.access_token, &conversation, &bytes(3000, 6))
        .await;
    let abandoned_data = bytes(PART + 1, 7);
    let abandoned = files
        .created(&alice.access_token, &conversation, &abandoned_data)
        .await;
    files
        .patch(&alice.access_token, &abandoned, 0, &abandoned_data[..PART])
        .await;

    // The expiry time passes; the uploader deletes one; one upload is left for two days.
    let id = |f: &str| server.sql_uuid(f.parse().unwrap());
    server
        .sql(&format!(
            "UPDATE files SET expires_at = {} WHERE id = {}",
            server.sql_time_from_now(-1),
            id(&expiring)
        ))
        .await;
    server
        .sql(&format!(
            "UPDATE files SET updated_at = {} WHERE id = {}",
            server.sql_time_from_now(-2 * 86400),
            id(&abandoned)
        ))
        .await;
    let (status, body) = files.info(&bob.access_token, &expiring).await;
    assert_eq!((status, code(&body)), (StatusCode::GONE, "file_gone"));
    let (status, _) = files.delete(&alice.access_token, &deleted).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let before = files_on_disk(&server.storage.blob_dir()).len();
    assert!(before >= 3, "{before} blobs");

    // A node whose cleanup job runs every second removes them from storage and database.
    let mut config = server.config.clone();
    config.files.cleanup_interval_secs = 1;
    let _node = server.extra_node_with(config).await;
    eventually("the job to remove the three files", || async {
        let rows = server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files")
            .await;
        (rows.as_deref() == Some("1")).then_some(())
    })
    .await;
    let remaining = server
        .sql_text("SELECT storage_path FROM files")
        .await
        .unwrap();
    assert_eq!(remaining, format!("files/{kept}"));
    let on_disk: Vec<String> = files_on_disk(&server.storage.blob_dir())
        .iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    assert!(on_disk[0].contains(&kept), "{on_disk:?}");
    for file in [&expiring, &deleted, &abandoned] {
        let (status, _) = files.info(&alice.access_token, file).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _, body) = files.content(&bob.access_token, &kept, None).await;
    assert_eq!((status, body), (StatusCode::OK, bytes(3000, 6)));
}

async fn orphans_are_removed_by_the_weekly_job(backend: Backend, blobs: Blobs) {
    let server = start(backend, blobs).await;
    let files = Files::new(&server);
    let (alice, _, _, conversation) = three_users(&server).await;
    let kept = files
        .upload(&alice.access_token, &conversation, &bytes(100, 8))
        .await;
    let blob_lost = files
        .upload(&alice.access_token, &conversation, &bytes(200, 9))
        .await;
    // A blob without a row (a crash between storing and recording), and a row whose blob was
    // lost, arranged directly in the storage.
    let store = zynk_backends::blob::open(&server.config.effective_storage_url())
        .await
        .unwrap();
    let handle = store.begin_upload("files/stray").await.unwrap();
    let part = store
        .put_part("files/stray", &handle, 0, 0, vec![bytes(50, 10).into()])
        .await
        .unwrap();
    store
        .complete_upload("files/stray", &handle, &[part])
        .await
        .unwrap();
    store.delete(&format!("files/{blob_lost}")).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 2);

    let mut config = server.config.clone();
    config.files.orphan_interval_secs = 1;
    let _node = server.extra_node_with(config).await;
    eventually("the orphan job to run", || async {
        let rows = server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM files")
            .await;
        let listed = store.list().await.unwrap();
        (rows.as_deref() == Some("1") && listed.len() == 1).then_some(())
    })
    .await;
    let listed = store.list().await.unwrap();
    assert_eq!(listed[0].key, format!("files/{kept}"));
    let (status, _) = files.info(&alice.access_token, &blob_lost).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
