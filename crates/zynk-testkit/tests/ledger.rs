//! Message anchoring on the embedded ledger, on both backends: batches seal on their own, each
//! message gets a proof that a client verifies offline from its own ciphertext and the pinned
//! validator key; a flipped byte anywhere (message, proof, header) fails verification;
//! non-participants get no proof; self-destructing messages are anchored only where the
//! conversation opted in.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_ledger::{MessageLeaf, MessageProof};
use zynk_testkit::{Api, Backend, TestServer, backend_tests, ciphertext, message_body};

backend_tests!(
    messages_are_anchored_with_verifiable_proofs,
    the_ledger_cache_mirrors_pending_work_and_the_latest_block,
);

async fn wait_for_proof(api: &Api, token: &str, message_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api
            .get(&format!("/api/v1/messages/{message_id}/proof"), token)
            .await;
        if status == StatusCode::OK {
            return body;
        }
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(
            Instant::now() < deadline,
            "message {message_id} was never anchored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn leaf_of(message: &Value, ciphertext: &[u8]) -> MessageLeaf {
    let created: chrono::DateTime<chrono::Utc> =
        message["created_at"].as_str().unwrap().parse().unwrap();
    MessageLeaf::from_ciphertext(
        message["message_id"].as_str().unwrap().parse().unwrap(),
        ciphertext,
        message["seq"].as_u64().unwrap(),
        created.timestamp_millis() as u64,
    )
}

async fn messages_are_anchored_with_verifiable_proofs(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.anchor_interval_secs = 1).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let text = format!("anchored {i}");
        let message = api
            .send_message(&ann.access_token, &conversation, message_body(&text))
            .await;
        sent.push((message, text));
    }
    let mut ephemeral = message_body("self-destructing");
    ephemeral["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let ephemeral = api
        .send_message(&ann.access_token, &conversation, ephemeral)
        .await;

    let (status, info) = api.get("/api/v1/ledger", &bob.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["chain"], "zynk-embedded");
    let key_bytes: [u8; 32] = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(info["validator_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let validator = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();

    for (message, text) in &sent {
        let id = message["message_id"].as_str().unwrap();
        let proof_json = wait_for_proof(&api, &bob.access_token, id).await;
        for field in [
            "leaf_hash",
            "leaf_index",
            "tree_size",
            "path",
            "root",
            "batch_header",
            "anchor",
        ] {
            assert!(
                !proof_json[field].is_null(),
                "proof lacks {field}: {proof_json}"
            );
        }
        let proof = MessageProof::from_json(&proof_json.to_string()).expect("proof parses");
        // Bob's own copy of the ciphertext (what the client received).
        let own = base64::engine::general_purpose::STANDARD
            .decode(ciphertext(text).0)
            .unwrap();
        proof
            .verify_for_message(&leaf_of(message, &own), &validator)
            .expect("the proof holds");
        // One flipped byte anywhere fails it.
        let mut altered = own.clone();
        altered[0] ^= 1;
        assert!(
            proof
                .verify_for_message(&leaf_of(message, &altered), &validator)
                .is_err()
        );
        if !proof.path.is_empty() {
            let mut bad = proof.clone();
            bad.path[0].hash.0[0] ^= 1;
            assert!(
                bad.verify_for_message(&leaf_of(message, &own), &validator)
                    .is_err()
            );
        }
        let mut bad = proof.clone();
        bad.root.0[31] ^= 1;
        assert!(
            bad.verify_for_message(&leaf_of(message, &own), &validator)
                .is_err()
        );
        let mut bad = proof.clone();
        bad.batch_header.signature.0[5] ^= 1;
        assert!(
            bad.verify_for_message(&leaf_of(message, &own), &validator)
                .is_err()
        );
        let mut bad = proof.clone();
        bad.batch_header.tree_size += 1;
        assert!(
            bad.verify_for_message(&leaf_of(message, &own), &validator)
                .is_err()
        );
        // Only participants get proofs.
        let (status, _) = api
            .get(&format!("/api/v1/messages/{id}/proof"), &eve.access_token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // The self-destructing message is not anchored (the conversation did not opt in), while a
    // later message is.
    let later = api
        .send_message(&ann.access_token, &conversation, message_body("later"))
        .await;
    wait_for_proof(
        &api,
        &ann.access_token,
        later["message_id"].as_str().unwrap(),
    )
    .await;
    let (status, _) = api
        .get(
            &format!(
                "/api/v1/messages/{}/proof",
                ephemeral["message_id"].as_str().unwrap()
            ),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The data model's tables are filled.
    let count = |sql: &str| {
        let server = &server;
        let sql = sql.to_owned();
        async move {
            server
                .sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
                .await
                .unwrap()
        }
    };
    assert_eq!(count("message_merkle_proofs").await, "6");
    assert!(count("message_anchors").await.parse::<u32>().unwrap() >= 1);
    assert_eq!(
        count("blockchain_transactions WHERE transaction_type = 'message_anchor' AND status = 'confirmed' AND block_number IS NOT NULL").await,
        count("message_anchors").await
    );
    let (status, _) = api.call(Method::GET, "/api/v1/ledger", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

backend_tests!(registration_records_the_identity_on_the_ledger);

async fn registration_records_the_identity_on_the_ledger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let did = format!("did:zynk:{}", ann.user_id);
    // The registration transaction is confirmed in a block within a few seconds.
    let uid = server.sql_uuid(ann.user_id.parse().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server
            .sql_text(&format!(
                "SELECT status FROM blockchain_transactions WHERE user_id = {uid} AND transaction_type = 'identity_registration'"
            ))
            .await;
        if status.as_deref() == Some("confirmed") {
            break;
        }
        assert_eq!(status.as_deref(), Some("pending"));
        assert!(
            Instant::now() < deadline,
            "the identity was never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registered = server
        .sql_text(&format!(
            "SELECT CAST(block_number AS TEXT) FROM blockchain_identities WHERE did = '{did}' AND transaction_hash IS NOT NULL"
        ))
        .await;
    assert!(
        registered.is_some(),
        "blockchain_identities records the block"
    );
    // The DID document lists Ann's identity key.
    let (status, doc) = api
        .get(&format!("/api/v1/identities/{did}"), &bob.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["id"], did.as_str());
    let (_, me) = api.get("/api/v1/users/me", &ann.access_token).await;
    let key_bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(me["identity_key"].as_str().unwrap())
        .unwrap();
    let multibase = zynk_ledger::Ed25519PublicKey(key_bytes.try_into().unwrap()).to_multibase();
    assert!(doc.to_string().contains(&multibase), "{doc}");
    for (path, expected) in [
        (
            "/api/v1/identities/did:zynk:not-a-uuid".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/identities/did:zynk:{}", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(
            api.get(&path, &bob.access_token).await.0,
            expected,
            "{path}"
        );
    }
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/identities/{did}"),
            None,
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

/// Data model 11.7: the ledger cache (Redis on the scale backend, in-process on the embedded
/// one) mirrors pending transactions, the latest block, the validator and the messages awaiting
/// anchoring; the database stays the durable copy.
async fn the_ledger_cache_mirrors_pending_work_and_the_latest_block(backend: Backend) {
    // Batches only on demand (an hour away), blocks every second.
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    for i in 0..4 {
        api.send_message(
            &ann.access_token,
            &conversation,
            message_body(&format!("c{i}")),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let info = loop {
        let (status, info) = api.get("/api/v1/ledger", &ann.access_token).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        if info["unanchored_messages"] == 4 && info["latest_block"].is_u64() {
            break info;
        }
        assert!(
            Instant::now() < deadline,
            "the cache never showed the work: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let validator = info["validator_did"].as_str().unwrap().to_owned();
    if backend == Backend::Scale {
        let prefix = server.config.redis_key_prefix.clone();
        let client = redis::Client::open(server.config.redis_url.clone().unwrap()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let len: u64 =
            redis::AsyncCommands::llen(&mut conn, format!("{prefix}blockchain:unanchored_hashes"))
                .await
                .unwrap();
        assert_eq!(len, 4);
        let latest: Option<u64> =
            redis::AsyncCommands::get(&mut conn, format!("{prefix}blockchain:latest_block"))
                .await
                .unwrap();
        assert!(latest.is_some());
        let status: std::collections::HashMap<String, String> = redis::AsyncCommands::hgetall(
            &mut conn,
            format!("{prefix}blockchain:validator:{validator}"),
        )
        .await
        .unwrap();
        assert_eq!(status.get("active").map(String::as_str), Some("true"));
        let ttl: i64 = redis::AsyncCommands::ttl(
            &mut conn,
            format!("{prefix}blockchain:validator:{validator}"),
        )
        .await
        .unwrap();
        assert!((1..=300).contains(&ttl), "validator TTL {ttl}");
        // A credential's transaction waits in blockchain:pending_tx:{hash} (TTL one hour)
        // until a block holds it.
        let (status, credential) = api
            .call(
                Method::POST,
                "/api/v1/credentials",
                Some(&ann.access_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let hash = credential["transaction_hash"].as_str().unwrap();
        let key = format!("{prefix}blockchain:pending_tx:{hash}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let exists: bool = redis::AsyncCommands::exists(&mut conn, &key).await.unwrap();
            let confirmed = server
                .sql_text(&format!(
                    "SELECT status FROM blockchain_transactions WHERE transaction_hash = '{hash}'"
                ))
                .await;
            if confirmed.as_deref() == Some("confirmed") && !exists {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the pending entry was never dropped"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Anchoring empties the mirror.
    let (status, _) = api.get("/api/v1/ledger", &ann.access_token).await;
    assert_eq!(status, StatusCode::OK);
    let mut server = server;
    server.restart_with(|c| c.anchor_interval_secs = 1).await;
    let api = server.api();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, info) = api.get("/api/v1/ledger", &ann.access_token).await;
        if info["batches"] == 1 && info["unanchored_messages"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never emptied the mirror: {info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
