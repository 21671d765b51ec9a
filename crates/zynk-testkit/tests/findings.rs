//! Low findings of the security review, each on both backends (see docs/operations.md for the
//! limits): identity caches follow key rotations on every node, …

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, Identity, TestServer, WsClient, backend_tests, code, eventually};

backend_tests!(
    a_rotation_refreshes_users_me_on_every_node,
    bodies_are_objects_without_nul,
    names_refuse_overrides_and_invisible_text,
    oversized_frames_close_with_1009,
    websocket_frames_and_sockets_are_limited,
    key_claims_are_bounded_and_limited,
    to_device_volume_and_inboxes_are_bounded,
    credentials_per_day_are_limited,
    without_read_receipts_reading_shows_nothing
);

fn rotation_body(did: &str, current: &Identity, next: &Identity) -> Value {
    let statement = zynk_proto::trust::rotation_signing_bytes(did, &next.public_bytes());
    let possession =
        zynk_proto::possession::rotate_bytes(did, &next.public_bytes(), &current.public_bytes());
    json!({
        "identity_key": next.public_key(),
        "signature": current.sign(&statement),
        "new_key_signature": next.sign(&possession),
    })
}

/// L9: `GET /users/me` shows the new identity key right after a rotation, on this node and on
/// another node that had the old one cached.
async fn a_rotation_refreshes_users_me_on_every_node(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let identity = Identity::random();
    let ann = api
        .register_with(&Api::username("ann"), identity.clone())
        .await;
    let other_node = match backend {
        Backend::Scale => Some(server.extra_node().await),
        Backend::Embedded => None,
    };
    let mut apis = vec![api.clone()];
    if let Some(node) = &other_node {
        apis.push(node.api());
    }
    // Every node caches the current key.
    for api in &apis {
        let (_, me) = api.get("/api/v1/users/me", &ann.access_token).await;
        assert_eq!(me["identity_key"], json!(identity.public_key()));
    }
    let next = Identity::random();
    let did = format!("did:zynk:{}", ann.user_id);
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/v1/users/me/identity-key",
            Some(&ann.access_token),
            Some(&rotation_body(&did, &identity, &next)),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // At once on the node that rotated.
    let (_, me) = api.get("/api/v1/users/me", &ann.access_token).await;
    assert_eq!(me["identity_key"], json!(next.public_key()));
    // Within moments (not the cache's minutes) on the other node.
    if let Some(node) = &other_node {
        let node_api = node.api();
        let token = ann.access_token.clone();
        let wanted = json!(next.public_key());
        eventually("the other node drops its cached key", || {
            let (node_api, token, wanted) = (node_api.clone(), token.clone(), wanted.clone());
            async move {
                let (_, me) = node_api.get("/api/v1/users/me", &token).await;
                (me["identity_key"] == wanted).then_some(())
            }
        })
        .await;
    }
}

/// "Also": a JSON array in place of an object is refused (serde would read a struct from it);
/// L5: U+0000 in any string (to-device content, key algorithms) is a 400 on both engines.
async fn bodies_are_objects_without_nul(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let post = |path: &'static str, body: Value| {
        let (api, token) = (api.clone(), ann.access_token.clone());
        async move {
            api.call(Method::POST, path, Some(&token), Some(&body))
                .await
        }
    };
    let (status, body) = post("/api/v1/conversations", json!(["one_to_one", bob.user_id])).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{body}"
    );
    let (_, list) = api.get("/api/v1/conversations", &ann.access_token).await;
    assert!(
        !list.to_string().contains(&bob.user_id),
        "no conversation was opened: {list}"
    );
    let (status, body) = api
        .post("/api/v1/auth/login", json!(["ann", "password"]))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    let nul_content = json!({"txn_id": "t1", "event_type": "m.olm", "messages": [
        {"user_id": bob.user_id, "device_id": bob.device_id, "content": {"ciphertext": "a\u{0}b"}},
    ]});
    let (status, body) = post("/api/v1/to-device", nul_content).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field"),
        "{body}"
    );
    let nul_key = json!({"a\u{0}": 1, "txn_id": "t2", "event_type": "m.olm", "messages": []});
    let (status, _) = post("/api/v1/to-device", nul_key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let nul_algorithm = json!({"device_keys": {
        "user_id": ann.user_id, "device_id": ann.device_id,
        "curve25519": ann.device.public_key, "ed25519": ann.device.public_key,
        "algorithms": ["zynk.olm.v1\u{0}"],
        "device_signature": "x", "identity_signature": "x",
    }});
    let (status, body) = post("/api/v1/keys/upload", nul_algorithm).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field"),
        "{body}"
    );
    // Nothing reached Bob's inbox.
    let (_, inbox) = api.get("/api/v1/to-device", &bob.access_token).await;
    assert_eq!(
        inbox["messages"].as_array().map(Vec::len),
        Some(0),
        "{inbox}"
    );
}

/// "Also": display names (and device names) refuse bidirectional overrides and names made of
/// invisible characters only.
async fn names_refuse_overrides_and_invisible_text(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    for name in [
        "admin\u{202E}gnp.exe",
        "\u{2067}ann\u{2069}",
        "\u{200B}\u{200B}",
        "\u{3164}",
        " \u{2800} ",
        "\u{FEFF}",
    ] {
        let (status, body) = api
            .call(
                Method::PATCH,
                "/api/v1/users/me/profile",
                Some(&ann.access_token),
                Some(&json!({"display_name": name})),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_field"),
            "{name:?}: {body}"
        );
    }
    for name in ["Ann", "أحمد", "Zoë 🎉", "李 雷"] {
        let (status, body) = api
            .call(
                Method::PATCH,
                "/api/v1/users/me/profile",
                Some(&ann.access_token),
                Some(&json!({"display_name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{name:?}: {body}");
    }
    let mut device = zynk_testkit::Device::random("web");
    device.name = "\u{202E}phone".into();
    let (status, body) = api.login(&ann.username, &ann.password, &device).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field"),
        "{body}"
    );
}

/// L10: the data directory is 0700 and the database files 0600 (embedded default only: the
/// other engine keeps no database files).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = TestServer::start(Backend::Embedded).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    api.open_conversation(&ann.access_token, &bob.user_id).await;
    let dir = server.storage.data_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("zynk.db") || name.ends_with(".key") {
            assert_eq!(mode(&path), 0o600, "{name}");
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "the database, its WAL and the ledger key were checked"
    );
}

/// "Also": a client frame over 128 KiB gets a close frame 1009 (message too big), not a dropped
/// connection.
async fn oversized_frames_close_with_1009(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ann = server.api().register(&Api::username("ann")).await;
    let mut ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ws.next_of("hello").await;
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(200 * 1024));
    ws.send_text(big).await;
    assert_eq!(ws.close_code().await, Some(1009));
}

/// L11: every frame kind counts against a per-connection frame budget (a flood gets
/// `rate_limited` errors, then a 1008 close), acknowledgements against the per-user limits,
/// and one device holds a bounded number of sockets.
async fn websocket_frames_and_sockets_are_limited(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.websocket.frames_per_second = 5;
        c.websocket.frame_burst = 10;
        c.websocket.max_sockets_per_device = 2;
        c.rate_limits.per_user = 3;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;

    // Frames of any kind: the burst passes, then errors, then the connection is closed.
    let mut flood = WsClient::connect(&server.base_url, &ann.access_token).await;
    flood.next_of("hello").await;
    for _ in 0..40 {
        if !flood
            .send_text(json!({"type": "ack_to_device", "up_to": 0}).to_string())
            .await
        {
            break;
        }
    }
    let (frames, code) = flood.frames_until_close().await;
    let limited = frames
        .iter()
        .filter(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .count();
    assert!(limited >= 1, "rate_limited errors came first: {frames:?}");
    assert_eq!(code, Some(1008));

    // Acknowledgements count against the per-user limit (3 per window here).
    let mut ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    ws.next_of("hello").await;
    for _ in 0..4 {
        ws.send(json!({"type": "ack_to_device", "up_to": 0})).await;
    }
    let error = ws.next_of("error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");

    // Sockets per device.
    let second = WsClient::connect(&server.base_url, &bob.access_token).await;
    match WsClient::try_connect(&server.base_url, &bob.access_token).await {
        Err(status) => assert_eq!(status, 429),
        Ok(_) => panic!("a third socket of one device was accepted"),
    }
    drop(second);
    eventually("a closed socket frees its place", || {
        let (base, token) = (server.base_url.clone(), bob.access_token.clone());
        async move { WsClient::try_connect(&base, &token).await.ok().map(|_| ()) }
    })
    .await;
}

fn b64(len: usize) -> String {
    use base64::Engine;
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// L6 and L7: a claim names at most `limits.max_claim_devices` devices; unknown devices cost
/// no write; one claimer drains at most `key_claims_per_device` keys of one device, and
/// `key_claims_per_user` in all.
async fn key_claims_are_bounded_and_limited(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.limits.max_claim_devices = 8;
        c.rate_limits.key_claims_per_device = 3;
        c.rate_limits.key_claims_per_user = 5;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let cat = api.register(&Api::username("cat")).await;
    let mal = api.register(&Api::username("mal")).await;
    for user in [&bob, &cat] {
        let keys: Vec<Value> = (0..10)
            .map(|i| json!({"key_id": format!("k{i}"), "key": b64(32), "fallback": false, "signature": b64(64)}))
            .collect();
        let (status, body) = api
            .call(
                Method::POST,
                "/api/v1/keys/upload",
                Some(&user.access_token),
                Some(&json!({"one_time_keys": keys})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let claim = |token: String, devices: Vec<Value>| {
        let api = api.clone();
        async move {
            api.call(
                Method::POST,
                "/api/v1/keys/claim",
                Some(&token),
                Some(&json!({"devices": devices})),
            )
            .await
        }
    };
    let device =
        |u: &zynk_testkit::Registered| json!({"user_id": u.user_id, "device_id": u.device_id});
    // Too many devices in one claim.
    let many: Vec<Value> = (0..9)
        .map(|_| json!({"user_id": bob.user_id, "device_id": uuid::Uuid::new_v4()}))
        .collect();
    let (status, body) = claim(mal.access_token.clone(), many).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field"),
        "{body}"
    );
    // Unknown devices are unavailable and count nothing.
    let unknown: Vec<Value> = (0..8)
        .map(|_| json!({"user_id": bob.user_id, "device_id": uuid::Uuid::new_v4()}))
        .collect();
    for _ in 0..3 {
        let (status, body) = claim(mal.access_token.clone(), unknown.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["unavailable"].as_array().map(Vec::len), Some(8));
    }
    // Mallory drains at most 3 of Bob's keys.
    for _ in 0..3 {
        let (status, body) = claim(mal.access_token.clone(), vec![device(&bob)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["keys"].as_array().map(Vec::len), Some(1));
    }
    let (status, body) = claim(mal.access_token.clone(), vec![device(&bob)]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{body}"
    );
    // And 5 in all: two of Cat's, then refused.
    for _ in 0..2 {
        let (status, _) = claim(mal.access_token.clone(), vec![device(&cat)]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = claim(mal.access_token.clone(), vec![device(&cat)]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Bob still has keys for others: Ann claims one.
    let (status, body) = claim(ann.access_token.clone(), vec![device(&bob)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"][0]["key"]["fallback"], json!(false), "{body}");
    let (_, count) = api.get("/api/v1/keys/count", &bob.access_token).await;
    assert_eq!(count["one_time_key_count"], json!(6), "{count}");
}

/// L8: to-device volume is limited per sender and per (sender, device), and an inbox holds at
/// most `limits.max_inbox_messages` payloads.
async fn to_device_volume_and_inboxes_are_bounded(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.limits.max_inbox_messages = 3;
        c.rate_limits.to_device_per_target = 5;
        c.rate_limits.to_device_per_sender = 8;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let cat = api.register(&Api::username("cat")).await;
    let mal = api.register(&Api::username("mal")).await;
    let send = |token: String, to: &zynk_testkit::Registered, txn: String| {
        let api = api.clone();
        let body = json!({"txn_id": txn, "event_type": "m.olm", "messages": [
            {"user_id": to.user_id, "device_id": to.device_id, "content": {"ciphertext": "x"}},
        ]});
        async move {
            api.call(Method::POST, "/api/v1/to-device", Some(&token), Some(&body))
                .await
        }
    };
    // Bob's inbox fills at 3: the fourth payload is reported, not stored.
    for i in 0..3 {
        let (status, body) = send(mal.access_token.clone(), &bob, format!("t{i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["delivered"], json!(1));
    }
    let (status, body) = send(ann.access_token.clone(), &bob, "a1".into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivered"], json!(0));
    assert_eq!(body["full_devices"][0]["device_id"], json!(bob.device_id));
    let (_, inbox) = api.get("/api/v1/to-device", &bob.access_token).await;
    assert_eq!(inbox["messages"].as_array().map(Vec::len), Some(3));
    // Per (sender, device): Mallory has sent Bob 3 (+ counted attempts); two more, then 429.
    for i in 3..5 {
        let (status, _) = send(mal.access_token.clone(), &bob, format!("t{i}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = send(mal.access_token.clone(), &bob, "t5".into()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Per sender: 8 in all (6 counted so far: 5 to Bob and the refused one).
    let (status, _) = send(mal.access_token.clone(), &cat, "c1".into()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(mal.access_token.clone(), &cat, "c2".into()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(mal.access_token.clone(), &cat, "c3".into()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Others can still reach Cat.
    let (status, body) = send(ann.access_token.clone(), &cat, "a2".into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivered"], json!(1));
}

/// L12: credentials per user and day.
async fn credentials_per_day_are_limited(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.credentials_per_day = 2).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    for _ in 0..2 {
        let (status, body) = api
            .call(
                Method::POST,
                "/api/v1/credentials",
                Some(&ann.access_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/credentials",
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/credentials",
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// L2: with read receipts off, reading does not move the delivered cursor others see, and a
/// receipt that moves nothing sends no event.
async fn without_read_receipts_reading_shows_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let (status, _) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(&bob.access_token),
            Some(&json!({"allow_read_receipts": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..3 {
        api.send_message(
            &ann.access_token,
            &conversation,
            zynk_testkit::message_body(&format!("m{i}")),
        )
        .await;
    }
    let mut ann_ws = WsClient::connect(&server.base_url, &ann.access_token).await;
    ann_ws.next_of("hello").await;
    let receipt = |body: Value| {
        let (api, token, path) = (
            api.clone(),
            bob.access_token.clone(),
            format!("/api/v1/conversations/{conversation}/receipts"),
        );
        async move {
            let (status, reply) = api
                .call(Method::POST, &path, Some(&token), Some(&body))
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
        }
    };
    let bob_cursor = || {
        let (api, token, path) = (
            api.clone(),
            ann.access_token.clone(),
            format!("/api/v1/conversations/{conversation}"),
        );
        let bob_id = bob.user_id.clone();
        async move {
            let (_, view) = api.get(&path, &token).await;
            let me = view["participants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["user_id"] == json!(bob_id))
                .cloned()
                .unwrap();
            me["last_delivered_seq"].as_i64().unwrap()
        }
    };
    // Reading alone: nothing moves that Ann could see, and no event.
    receipt(json!({"read_up_to": 3})).await;
    assert_eq!(bob_cursor().await, 0);
    // Delivery: Ann sees it, without a read cursor.
    receipt(json!({"delivered_up_to": 2})).await;
    let event = ann_ws.next_of("receipt").await;
    assert_eq!(event["last_delivered_seq"], json!(2), "{event}");
    assert!(event["last_read_seq"].is_null(), "{event}");
    // The same receipt again moves nothing: no event. The next frame Ann gets is Bob's message.
    receipt(json!({"delivered_up_to": 2})).await;
    receipt(json!({"delivered_up_to": 1, "read_up_to": 1})).await;
    api.send_message(
        &bob.access_token,
        &conversation,
        zynk_testkit::message_body("hi"),
    )
    .await;
    loop {
        let frame = ann_ws.next().await.expect("a frame");
        assert_ne!(
            frame["type"], "receipt",
            "an empty receipt was announced: {frame}"
        );
        if frame["type"] == "message" {
            break;
        }
    }
}

/// "Also": the OpenAPI document lists the error answers every operation can give: 400, 413 and
/// 415 with a JSON body, 400 with a query, 404 with a path id, 401 with a token, 429 under
/// `/api/v1`, and 503 everywhere; each with the error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_error_answer() {
    let server = TestServer::start(Backend::Embedded).await;
    let (status, doc) = server
        .api()
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |code: &str| {
                responses
                    .get(code)
                    .is_some_and(|r| r.to_string().contains("ErrorBody"))
            };
            let mut wanted = vec!["503"];
            if op.get("requestBody").is_some() {
                wanted.extend(["400", "413", "415"]);
            }
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if has_query {
                wanted.push("400");
            }
            if path.contains('{') {
                wanted.push("404");
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                wanted.push("401");
            }
            if path.starts_with("/api/v1") {
                wanted.push("429");
            }
            for code in wanted {
                assert!(has(code), "{method} {path} lacks {code}");
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} operations");
}
