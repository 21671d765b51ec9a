//! Device keys, one-time keys (handed out once, also under concurrent claims), fallback keys,
//! identity backups and the to-device inbox, on both backends.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, Registered, TestServer, backend_tests, code};

backend_tests!(
    device_keys_upload_and_query,
    one_time_keys_are_claimed_once_then_fallback,
    concurrent_claims_never_share_a_key,
    identity_backup_round_trip,
    to_device_inbox_is_durable_idempotent_and_private,
);

fn b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    STANDARD_NO_PAD.encode(bytes)
}

fn bundle(user: &Registered) -> Value {
    json!({
        "user_id": user.user_id, "device_id": user.device_id,
        "curve25519": b64(32), "ed25519": user.device.public_key,
        "algorithms": ["zynk.olm.v1.curve25519-aes-sha2", "zynk.megolm.v1.aes-sha2"],
        "device_signature": b64(64), "identity_signature": b64(64),
    })
}

fn otk(id: &str, fallback: bool) -> Value {
    json!({"key_id": id, "key": b64(32), "fallback": fallback, "signature": b64(64)})
}

async fn upload(api: &Api, token: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        "/api/v1/keys/upload",
        Some(token),
        Some(&body),
    )
    .await
}

async fn device_keys_upload_and_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let keys = bundle(&ann);
    let (status, counts) = upload(&api, &ann.access_token, json!({"device_keys": keys})).await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(
        counts,
        json!({"one_time_key_count": 0, "fallback_key_present": false, "device_keys_present": true})
    );
    // Re-uploading the same bundle is fine; a different one is refused.
    assert_eq!(
        upload(&api, &ann.access_token, json!({"device_keys": keys}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = upload(
        &api,
        &ann.access_token,
        json!({"device_keys": bundle(&ann)}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_key")
    );
    // Bob cannot upload keys for Ann's device, nor a key other than his registered one.
    let (status, body) = upload(
        &api,
        &bob.access_token,
        json!({"device_keys": bundle(&ann)}),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let mut wrong = bundle(&bob);
    wrong["ed25519"] = json!(b64(32));
    let (status, body) = upload(&api, &bob.access_token, json!({"device_keys": wrong})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_key")
    );
    let mut short = bundle(&bob);
    short["identity_signature"] = json!(b64(10));
    assert_eq!(
        upload(&api, &bob.access_token, json!({"device_keys": short}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // Anyone signed in can query keys; unknown users are left out.
    let (status, reply) = api
        .call(
            Method::POST,
            "/api/v1/keys/query",
            Some(&bob.access_token),
            Some(&json!({"user_ids": [ann.user_id, uuid::Uuid::new_v4()]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let users = reply["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["devices"][0], keys);
    assert!(users[0]["identity_key"].is_string());
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/keys/query",
            None,
            Some(&json!({"user_ids": []})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn one_time_keys_are_claimed_once_then_fallback(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let (status, counts) = upload(
        &api,
        &ann.access_token,
        json!({"one_time_keys": [otk("a1", false), otk("a2", false)], "fallback_key": otk("f1", true)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(counts["one_time_key_count"], 2);
    assert_eq!(counts["fallback_key_present"], true);
    // Wrong flags and malformed keys are refused.
    let (status, _) = upload(
        &api,
        &ann.access_token,
        json!({"one_time_keys": [otk("x", true)]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut bad = otk("y", false);
    bad["key"] = json!("not base64!");
    let (status, body) = upload(&api, &ann.access_token, json!({"one_time_keys": [bad]})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_key")
    );
    let too_many: Vec<Value> = (0..101).map(|i| otk(&format!("k{i}"), false)).collect();
    let (status, body) = upload(&api, &ann.access_token, json!({"one_time_keys": too_many})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "too_many_keys")
    );
    let claim = json!({"devices": [{"user_id": ann.user_id, "device_id": ann.device_id}]});
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (status, reply) = api
            .call(
                Method::POST,
                "/api/v1/keys/claim",
                Some(&bob.access_token),
                Some(&claim),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let key = &reply["keys"][0]["key"];
        assert_eq!(key["fallback"], false);
        seen.push(key["key_id"].as_str().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["a1", "a2"]);
    for _ in 0..2 {
        let (_, reply) = api
            .call(
                Method::POST,
                "/api/v1/keys/claim",
                Some(&bob.access_token),
                Some(&claim),
            )
            .await;
        assert_eq!(reply["keys"][0]["key"]["key_id"], "f1");
        assert_eq!(reply["keys"][0]["key"]["fallback"], true);
    }
    let (_, counts) = api.get("/api/v1/keys/count", &ann.access_token).await;
    assert_eq!(counts["one_time_key_count"], 0);
    // A device without keys, a device of another user, an unknown device: unavailable.
    let claim = json!({"devices": [
        {"user_id": bob.user_id, "device_id": bob.device_id},
        {"user_id": bob.user_id, "device_id": ann.device_id},
        {"user_id": ann.user_id, "device_id": uuid::Uuid::new_v4()},
    ]});
    let (_, reply) = api
        .call(
            Method::POST,
            "/api/v1/keys/claim",
            Some(&ann.access_token),
            Some(&claim),
        )
        .await;
    assert_eq!(reply["keys"].as_array().unwrap().len(), 0);
    assert_eq!(reply["unavailable"].as_array().unwrap().len(), 3);
}

async fn concurrent_claims_never_share_a_key(backend: Backend) {
    // One claimer takes more keys of one device than the default per-device claim limit allows:
    // the subject here is concurrency, not the limit (tested in findings.rs).
    let server =
        TestServer::start_with(backend, |c| c.rate_limits.key_claims_per_device = 100).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let keys: Vec<Value> = (0..20).map(|i| otk(&format!("k{i:02}"), false)).collect();
    upload(
        &api,
        &ann.access_token,
        json!({"one_time_keys": keys, "fallback_key": otk("fb", true)}),
    )
    .await;
    let claimer = api.register(&Api::username("claimer")).await;
    let claim = json!({"devices": [{"user_id": ann.user_id, "device_id": ann.device_id}]});
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let api = api.clone();
            let token = claimer.access_token.clone();
            let claim = claim.clone();
            tokio::spawn(async move {
                let (status, reply) = api
                    .call(
                        Method::POST,
                        "/api/v1/keys/claim",
                        Some(&token),
                        Some(&claim),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{reply}");
                reply["keys"][0]["key"]["key_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for task in tasks {
        let id = task.await.unwrap();
        if id == "fb" {
            fallbacks += 1
        } else {
            one_time.push(id)
        }
    }
    let mut unique = one_time.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        one_time.len(),
        "a one-time key was handed out twice: {one_time:?}"
    );
    assert_eq!(one_time.len(), 20);
    assert_eq!(fallbacks, 12);
}

async fn identity_backup_round_trip(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let path = "/api/v1/users/me/identity-backup";
    let (status, body) = api.get(path, &ann.access_token).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let blob = base64::engine::general_purpose::STANDARD.encode([7u8; 100]);
    let (status, _) = api
        .call(
            Method::PUT,
            path,
            Some(&ann.access_token),
            Some(&json!({"ciphertext": blob})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = api.get(path, &ann.access_token).await;
    assert_eq!(body["ciphertext"], blob.as_str());
    // Bob's "me" is Bob: he never sees Ann's backup.
    assert_eq!(
        api.get(path, &bob.access_token).await.0,
        StatusCode::NOT_FOUND
    );
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![1u8; 5000]);
    let (status, _) = api
        .call(
            Method::PUT,
            path,
            Some(&ann.access_token),
            Some(&json!({"ciphertext": huge})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .call(Method::PUT, path, None, Some(&json!({"ciphertext": blob})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn to_device_inbox_is_durable_idempotent_and_private(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let unknown = uuid::Uuid::new_v4();
    let send = json!({"txn_id": "t1", "event_type": "m.olm", "messages": [
        {"user_id": bob.user_id, "device_id": bob.device_id, "content": {"ciphertext": "abc"}},
        {"user_id": bob.user_id, "device_id": unknown, "content": {"ciphertext": "x"}},
    ]});
    for _ in 0..2 {
        let (status, reply) = api
            .call(
                Method::POST,
                "/api/v1/to-device",
                Some(&ann.access_token),
                Some(&send),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["delivered"], 1);
        assert_eq!(
            reply["unknown_devices"][0]["device_id"],
            unknown.to_string()
        );
    }
    let (status, inbox) = api
        .get("/api/v1/to-device?since=0", &bob.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let messages = inbox["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "the retry was stored once: {inbox}");
    assert_eq!(messages[0]["sender_user_id"], ann.user_id.as_str());
    assert_eq!(messages[0]["content"], json!({"ciphertext": "abc"}));
    let id = messages[0]["id"].as_i64().unwrap();
    // Ann's inbox is her own.
    let (_, own) = api.get("/api/v1/to-device", &ann.access_token).await;
    assert_eq!(own["messages"].as_array().unwrap().len(), 0);
    // Acknowledging deletes.
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/to-device/ack",
            Some(&bob.access_token),
            Some(&json!({"up_to": id})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, inbox) = api.get("/api/v1/to-device", &bob.access_token).await;
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 0);
    // Bad requests.
    for body in [
        json!({"txn_id": "", "event_type": "m", "messages": []}),
        json!({"txn_id": "t", "event_type": "m", "messages": []}),
        json!({"txn_id": "t", "event_type": "m", "messages": [{"user_id": bob.user_id, "device_id": bob.device_id, "content": "text"}]}),
    ] {
        let (status, _) = api
            .call(
                Method::POST,
                "/api/v1/to-device",
                Some(&ann.access_token),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}
