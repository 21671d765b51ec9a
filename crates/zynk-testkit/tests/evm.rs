//! `chain = "evm"` on both backends, against a real local EVM node (anvil) with the registry
//! deployed: every ledger transaction (identity registrations, a trust change, a credential, a
//! message batch) is published to the contract and recorded in `blockchain_transactions` from
//! `pending` to `confirmed` with the real hash, block, block hash and gas used; what the contract
//! holds matches the ledger; message proofs name the EVM anchor and still verify offline; a node
//! restarted while its transactions are unmined publishes nothing twice.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_ledger::{MessageLeaf, MessageProof};
use zynk_testkit::{Api, Backend, EvmChain, TestServer, backend_tests, ciphertext, message_body};

backend_tests!(
    every_ledger_transaction_is_published_and_confirmed,
    a_restart_with_unmined_transactions_publishes_nothing_twice,
);

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    // A chain round trip per publication: a longer bound than the default.
    zynk_testkit::eventually_within(what, Duration::from_secs(60), check).await
}

async fn count(server: &TestServer, query: &str) -> i64 {
    server
        .sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM ({query}) q"))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until every sealed ledger transaction has a confirmed EVM publication; returns how
/// many there are.
async fn all_published(server: &TestServer) -> i64 {
    eventually("every ledger transaction to be published and confirmed", || async {
        let ledger = count(
            server,
            "SELECT transaction_hash FROM blockchain_transactions WHERE chain = 'zynk-embedded' \
             AND status = 'confirmed'",
        )
        .await;
        let pending = count(
            server,
            "SELECT transaction_hash FROM blockchain_transactions WHERE chain = 'zynk-embedded' \
             AND status = 'pending'",
        )
        .await;
        let published = count(
            server,
            "SELECT e.transaction_hash FROM blockchain_transactions e JOIN blockchain_transactions l \
             ON l.transaction_hash = e.ledger_tx_hash WHERE e.chain LIKE 'eip155:%' \
             AND e.status = 'confirmed'",
        )
        .await;
        (pending == 0 && ledger > 0 && published == ledger).then_some(published)
    })
    .await
}

async fn every_ledger_transaction_is_published_and_confirmed(backend: Backend) {
    let chain = EvmChain::start().await;
    let server = TestServer::start_with(backend, |c| {
        chain.configure(c);
        c.anchor_interval_secs = 1;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let text = format!("on chain {i}");
        sent.push((
            api.send_message(&ann.access_token, &conversation, message_body(&text))
                .await,
            text,
        ));
    }
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/report", ann.user_id),
            Some(&bob.access_token),
            Some(&json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, credential) = api
        .call(
            Method::POST,
            "/api/v1/credentials",
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{credential}");

    // The message batch first (it seals after a second), then everything published.
    let first = sent[0].0["message_id"].as_str().unwrap().to_owned();
    let proof_json: Value = eventually("the batch to be anchored on the EVM chain", || async {
        let (status, body) = api
            .get(
                &format!("/api/v1/messages/{first}/proof"),
                &bob.access_token,
            )
            .await;
        (status == StatusCode::OK && body["anchor"]["chain"] != "zynk-embedded").then_some(body)
    })
    .await;
    let published = all_published(&server).await;
    // 2 registrations, 1 trust change, 1 credential, 1 batch.
    assert_eq!(published, 5);
    for kind in [
        "identity_registration",
        "trust_score_update",
        "credential_issuance",
        "message_anchor",
    ] {
        let rows = count(
            &server,
            &format!(
                "SELECT transaction_hash FROM blockchain_transactions WHERE chain = 'eip155:{}' \
                 AND transaction_type = '{kind}' AND status = 'confirmed' \
                 AND block_number IS NOT NULL AND block_hash IS NOT NULL AND gas_used > 0 \
                 AND from_address IS NOT NULL AND to_address IS NOT NULL",
                chain.chain_id()
            ),
        )
        .await;
        assert!(rows >= 1, "no confirmed {kind} publication");
    }

    // The proof names the EVM transaction and still verifies offline from the ciphertext.
    assert_eq!(
        proof_json["anchor"]["chain"],
        format!("eip155:{}", chain.chain_id())
    );
    assert_eq!(
        proof_json["anchor"]["contract"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        chain.contract.to_string().to_lowercase()
    );
    assert!(proof_json["anchor"]["gas_used"].as_u64().unwrap() > 0);
    let evm_hash = proof_json["anchor"]["tx_hash"].as_str().unwrap().to_owned();
    let kind = server
        .sql_text(&format!(
            "SELECT transaction_type FROM blockchain_transactions WHERE transaction_hash = '{evm_hash}'"
        ))
        .await;
    assert_eq!(kind.as_deref(), Some("message_anchor"));
    let proof: MessageProof = serde_json::from_value(proof_json.clone()).unwrap();
    let (_, info) = api.get("/api/v1/ledger", &bob.access_token).await;
    let key: [u8; 32] = STANDARD_NO_PAD
        .decode(info["validator_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let validator = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let message = &sent[0].0;
    let (encrypted, _) = ciphertext(&sent[0].1);
    let created: chrono::DateTime<chrono::Utc> =
        message["created_at"].as_str().unwrap().parse().unwrap();
    let leaf = MessageLeaf::from_ciphertext(
        first.parse().unwrap(),
        &STANDARD_NO_PAD.decode(encrypted).unwrap(),
        message["seq"].as_u64().unwrap(),
        created.timestamp_millis() as u64,
    );
    proof.verify_for_message(&leaf, &validator).unwrap();

    // What the contract holds is what the ledger says.
    let registry = chain.registry().await;
    let root = proof.batch_header.root;
    assert_eq!(
        registry
            .anchored_root(proof.batch_header.height)
            .await
            .unwrap(),
        Some((*root.as_bytes(), proof.batch_header.tree_size))
    );
    for user in [&ann, &bob] {
        let (_, profile) = api
            .get(
                &format!("/api/v1/users/{}", user.user_id),
                &ann.access_token,
            )
            .await;
        let key: [u8; 32] = STANDARD_NO_PAD
            .decode(profile["identity_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let did = format!("did:zynk:{}", user.user_id);
        assert_eq!(registry.identity_key(&did).await.unwrap(), Some(key));
    }
    assert_eq!(
        registry
            .trust_score(&format!("did:zynk:{}", ann.user_id))
            .await
            .unwrap(),
        Some(45)
    );
}

async fn a_restart_with_unmined_transactions_publishes_nothing_twice(backend: Backend) {
    let chain = EvmChain::start().await;
    chain.set_automine(false).await;
    let mut server = TestServer::start_with(backend, |c| chain.configure(c)).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    // Both registrations signed and sent, none mined.
    eventually("two publications to be sent", || async {
        let sent = count(
            &server,
            "SELECT transaction_hash FROM blockchain_transactions WHERE chain LIKE 'eip155:%' \
             AND status = 'pending'",
        )
        .await;
        (sent == 2).then_some(())
    })
    .await;
    server.stop().await;
    // Mine what the node holds; the restarted publisher finds the receipts (and would resend
    // the stored bytes, not new transactions, if the node had lost them).
    chain.mine(1).await;
    chain.set_automine(true).await;
    server.restart_with(|_| {}).await;
    let published = all_published(&server).await;
    assert_eq!(published, 2);
    let evm_rows = count(
        &server,
        "SELECT transaction_hash FROM blockchain_transactions WHERE chain LIKE 'eip155:%'",
    )
    .await;
    assert_eq!(evm_rows, 2, "a restart must not publish anything twice");
    let registry = chain.registry().await;
    for user in [&ann, &bob] {
        assert!(
            registry
                .identity_key(&format!("did:zynk:{}", user.user_id))
                .await
                .unwrap()
                .is_some()
        );
    }
}
