//! Trust scores, key transparency and credentials, on both backends: reports and vouches with
//! their anti-stuffing rules, milestones, history, WebSocket events, ledger transactions, tighter
//! rate limits for low scores; identity proofs that verify offline and follow key rotations;
//! VC-JWTs that an independent verifier (npm did-jwt-vc) accepts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_ledger::{Ed25519PublicKey, IdentityProof, ZynkDid};
use zynk_testkit::{
    Api, Backend, Device, TestServer, WsClient, backend_tests, code, eventually, message_body,
};

backend_tests!(
    reports_and_vouches_change_scores_once_with_history_events_and_ledger_entries,
    vouching_needs_a_relationship_the_target_accepted,
    milestones_are_credited_once,
    low_scores_get_tighter_rate_limits,
    identity_proofs_verify_and_follow_rotations,
    credentials_verify_with_an_independent_verifier,
);

/// Polls `f` until it gives `Some`, for at most 30 s.
async fn trust(api: &Api, token: &str) -> Value {
    let (status, body) = api.get("/api/v1/users/me/trust", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn tx_status(server: &TestServer, hash: &str) -> Option<String> {
    server
        .sql_text(&format!(
            "SELECT status FROM blockchain_transactions WHERE transaction_hash = '{hash}'"
        ))
        .await
}

async fn reports_and_vouches_change_scores_once_with_history_events_and_ledger_entries(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let eve = api.register(&Api::username("eve")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    api.send_message(&ann.access_token, &conversation, message_body("hi"))
        .await;
    let mut bob_ws = WsClient::connect(&server.base_url, &bob.access_token).await;
    bob_ws.next_of("hello").await;

    let initial = trust(&api, &bob.access_token).await;
    assert_eq!(initial["trust_score"], 50);
    assert_eq!(initial["rate_limit_percent"], 100);
    assert_eq!(initial["history"], json!([]));
    assert_eq!(initial["did"], format!("did:zynk:{}", bob.user_id));

    let report = |token: String, target: String, reason: &'static str| {
        let api = api.clone();
        async move {
            api.call(
                Method::POST,
                &format!("/api/v1/users/{target}/report"),
                Some(&token),
                Some(&json!({ "reason": reason })),
            )
            .await
        }
    };
    // Denials first: nothing about them may change a score.
    let (status, body) = report(eve.access_token.clone(), bob.user_id.clone(), "spam").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "no_shared_conversation")
    );
    let (status, body) = report(ann.access_token.clone(), ann.user_id.clone(), "spam").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = report(ann.access_token.clone(), bob.user_id.clone(), "rude").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    let (status, body) = report(
        ann.access_token.clone(),
        uuid::Uuid::new_v4().to_string(),
        "spam",
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/report", bob.user_id),
            None,
            Some(&json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(trust(&api, &bob.access_token).await["trust_score"], 50);

    // Spam is what someone sent you: only ann wrote so far, so she cannot report bob yet.
    let (status, body) = report(ann.access_token.clone(), bob.user_id.clone(), "spam").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "no_message_from_user")
    );
    api.send_message(&bob.access_token, &conversation, message_body("buy now"))
        .await;

    // Ann (score 50) reports: ceil(10 * 50 / 100) = 5 points.
    let (status, body) = report(ann.access_token.clone(), bob.user_id.clone(), "spam").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"], -5);
    let event = bob_ws.next_of("trust_score_updated").await;
    assert_eq!(event["old_score"], 50);
    assert_eq!(event["new_score"], 45);
    assert_eq!(event["reason"], "spam_report");
    let report_tx = event["transaction_hash"].as_str().unwrap().to_owned();

    // The same reporter again the same day: refused, unchanged.
    let (status, body) = report(ann.access_token.clone(), bob.user_id.clone(), "spam").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_reported")
    );

    // A vouch: ceil(5 * 50 / 100) = 3 points, once.
    let vouch = |token: String| {
        let api = api.clone();
        let target = bob.user_id.clone();
        async move {
            api.call(
                Method::POST,
                &format!("/api/v1/users/{target}/vouch"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let (status, body) = vouch(ann.access_token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"], 3);
    let (status, body) = vouch(ann.access_token.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_reported")
    );
    let (status, body) = vouch(eve.access_token.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "no_shared_conversation")
    );
    let event = bob_ws.next_of("trust_score_updated").await;
    assert_eq!(
        (event["old_score"].clone(), event["new_score"].clone()),
        (json!(45), json!(48))
    );

    // Bob sees his own history, newest first, without who did it.
    let mine = trust(&api, &bob.access_token).await;
    assert_eq!(mine["trust_score"], 48);
    let history = mine["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["reason"], "verified_by_community");
    assert_eq!(history[1]["reason"], "spam_report");
    assert_eq!(history[1]["transaction_hash"], report_tx.as_str());
    assert!(history[0].get("changed_by").is_none());
    // Others' scores are not on his page, and his is not on theirs.
    assert_eq!(trust(&api, &ann.access_token).await["trust_score"], 50);

    // Every change is a ledger transaction, sealed into a block.
    for entry in history {
        let hash = entry["transaction_hash"].as_str().unwrap().to_owned();
        eventually("the trust transaction to be confirmed", || {
            let hash = hash.clone();
            let server = &server;
            async move { (tx_status(server, &hash).await.as_deref() == Some("confirmed")).then_some(()) }
        })
        .await;
    }
    let score = server
        .sql_text(&format!(
            "SELECT CAST(trust_score AS TEXT) FROM blockchain_identities WHERE did = 'did:zynk:{}'",
            bob.user_id
        ))
        .await;
    assert_eq!(score.as_deref(), Some("48"));
}

async fn milestones_are_credited_once(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.trust.milestone_interval_secs = 1;
        c.trust.account_age_days = vec![7, 30];
        c.trust.message_volumes = vec![3, 1_000_000];
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    for i in 0..3 {
        api.send_message(
            &ann.access_token,
            &conversation,
            message_body(&format!("m{i}")),
        )
        .await;
    }
    // Three messages: the first volume threshold (+2), once.
    let after_volume = eventually("the volume milestone", || async {
        let t = trust(&api, &ann.access_token).await;
        (t["trust_score"] == 52).then_some(t)
    })
    .await;
    assert_eq!(
        after_volume["history"][0]["reason"],
        "message_volume_threshold"
    );

    // An account 31 days old reaches both age milestones (+5 each).
    let user = uuid::Uuid::parse_str(&bob.user_id).unwrap();
    server
        .sql(&format!(
            "UPDATE users SET created_at = {} WHERE id = {}",
            server.sql_time_from_now(-31 * 86_400),
            server.sql_uuid(user)
        ))
        .await;
    let t = eventually("the age milestones", || async {
        let t = trust(&api, &bob.access_token).await;
        (t["trust_score"] == 60).then_some(t)
    })
    .await;
    let reasons: Vec<&str> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["account_age_milestone", "account_age_milestone"]);

    // The run that credited bob also went over ann, whose volume milestone was credited by an
    // earlier run: nothing was credited twice.
    assert_eq!(trust(&api, &ann.access_token).await["trust_score"], 52);
    assert_eq!(
        trust(&api, &ann.access_token).await["history"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn low_scores_get_tighter_rate_limits(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.per_user = 10;
        c.rate_limits.per_ip = 1_000;
    })
    .await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    // Bob's score falls to 20: below 30, half the per-user limit (5 of 10).
    server
        .sql(&format!(
            "UPDATE blockchain_identities SET trust_score = 20 WHERE did = 'did:zynk:{}'",
            bob.user_id
        ))
        .await;
    let count_ok = |token: String| {
        let api = api.clone();
        async move {
            let mut ok = 0;
            for _ in 0..12 {
                let (status, _) = api.get("/api/v1/users/me/privacy", &token).await;
                if status == StatusCode::OK {
                    ok += 1;
                } else {
                    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                }
            }
            ok
        }
    };
    assert_eq!(count_ok(bob.access_token.clone()).await, 5);
    assert_eq!(count_ok(ann.access_token.clone()).await, 10);
}

fn register_body(username: &str, key: &SigningKey) -> Value {
    zynk_testkit::register_json(
        username,
        "correct horse battery",
        &zynk_testkit::Identity { key: key.clone() },
        &Device::random("web"),
    )
}

async fn validator_key(api: &Api, token: &str) -> ed25519_dalek::VerifyingKey {
    let (_, info) = api.get("/api/v1/ledger", token).await;
    let bytes: [u8; 32] = STANDARD_NO_PAD
        .decode(info["validator_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
}

async fn identity_proof(api: &Api, token: &str, did: &str) -> IdentityProof {
    let (status, body) = api
        .get(&format!("/api/v1/identities/{did}/proof"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn identity_proofs_verify_and_follow_rotations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let first = SigningKey::from_bytes(&[11; 32]);
    let username = Api::username("ann");
    let (status, body) = api
        .post("/api/v1/auth/register", register_body(&username, &first))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let user_id: uuid::Uuid = body["user_id"].as_str().unwrap().parse().unwrap();
    let did = ZynkDid::new(user_id);
    let bob = api.register(&Api::username("bob")).await;
    let validator = validator_key(&api, &bob.access_token).await;

    // Right after registration: the proof is there (sealed on demand) and verifies offline.
    let proof = identity_proof(&api, &bob.access_token, &did.to_string()).await;
    proof
        .verify_key(
            &did,
            &Ed25519PublicKey::from(&first.verifying_key()),
            &validator,
        )
        .unwrap();
    // A swapped key does not pass.
    let other = Ed25519PublicKey::from(&SigningKey::from_bytes(&[12; 32]).verifying_key());
    assert!(proof.verify_key(&did, &other, &validator).is_err());
    // Unknown and malformed DIDs.
    let (status, _) = api
        .get(
            &format!(
                "/api/v1/identities/{}/proof",
                ZynkDid::new(uuid::Uuid::new_v4())
            ),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .get("/api/v1/identities/did:web:example.org/proof", &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rotation needs the current key's signature over the new key.
    let second = SigningKey::from_bytes(&[13; 32]);
    let rotate = |signer: &SigningKey, new: &SigningKey| {
        let statement = zynk_proto::trust::rotation_signing_bytes(
            &did.to_string(),
            new.verifying_key().as_bytes(),
        );
        let possession = zynk_proto::possession::rotate_bytes(
            &did.to_string(),
            new.verifying_key().as_bytes(),
            signer.verifying_key().as_bytes(),
        );
        json!({
            "identity_key": STANDARD_NO_PAD.encode(new.verifying_key().as_bytes()),
            "signature": STANDARD_NO_PAD.encode(signer.sign(&statement).to_bytes()),
            "new_key_signature": STANDARD_NO_PAD.encode(new.sign(&possession).to_bytes()),
        })
    };
    let put = |body: Value| {
        let api = api.clone();
        let token = token.clone();
        async move {
            api.call(
                Method::PUT,
                "/api/v1/users/me/identity-key",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let (status, body) = put(rotate(&second, &second)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    let (status, body) = put(json!({"identity_key": "nope", "signature": "AAAA"})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_key")
    );
    let (status, body) = put(rotate(&first, &second)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The proof follows the rotation, from a later block; the first key no longer passes.
    let rotated = identity_proof(&api, &bob.access_token, &did.to_string()).await;
    assert!(rotated.block.index > proof.block.index);
    rotated
        .verify_key(
            &did,
            &Ed25519PublicKey::from(&second.verifying_key()),
            &validator,
        )
        .unwrap();
    assert!(
        rotated
            .verify_key(
                &did,
                &Ed25519PublicKey::from(&first.verifying_key()),
                &validator
            )
            .is_err()
    );
    let (_, user) = api
        .get(&format!("/api/v1/users/{user_id}"), &bob.access_token)
        .await;
    assert_eq!(
        user["identity_key"],
        STANDARD_NO_PAD.encode(second.verifying_key().as_bytes())
    );
    let (_, document) = api
        .get(&format!("/api/v1/identities/{did}"), &bob.access_token)
        .await;
    assert_eq!(
        document["verificationMethod"][0]["publicKeyMultibase"],
        Ed25519PublicKey::from(&second.verifying_key()).to_multibase()
    );

    // The old key cannot sign any more, and a key used before cannot come back.
    let third = SigningKey::from_bytes(&[14; 32]);
    let (status, body) = put(rotate(&first, &third)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    let (status, body) = put(rotate(&second, &first)).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "key_reused"));
}

fn node_verifier(jwt: &str, issuer: Option<&str>) -> (bool, Value) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tools/verify-vc.mjs");
    assert!(
        root.join("tools/node_modules/did-jwt-vc").is_dir(),
        "the independent verifier is not installed: run `npm ci --prefix tools` (scripts/test.sh does)"
    );
    let mut command = std::process::Command::new("node");
    command.arg(&script).arg(jwt);
    if let Some(issuer) = issuer {
        command.arg(issuer);
    }
    let output = command
        .current_dir(root.join("tools"))
        .output()
        .expect("node runs (install Node.js; scripts/test.sh does)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "verifier printed {stdout} / {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), verdict)
}

async fn credentials_verify_with_an_independent_verifier(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let (status, _) = api
        .call(Method::POST, "/api/v1/credentials", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, credential) = api
        .call(
            Method::POST,
            "/api/v1/credentials",
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{credential}");
    let (_, info) = api.get("/api/v1/ledger", &ann.access_token).await;
    let issuer = info["validator_did"].as_str().unwrap();
    assert_eq!(credential["issuer"], issuer);
    let jwt = credential["jwt"].as_str().unwrap();

    let (ok, verdict) = node_verifier(jwt, Some(issuer));
    assert!(ok, "did-jwt-vc rejected the credential: {verdict}");
    let did = format!("did:zynk:{}", ann.user_id);
    assert_eq!(verdict["subject"], did.as_str());
    assert_eq!(verdict["credentialSubject"]["id"], did.as_str());
    assert_eq!(
        verdict["credentialSubject"]["username"],
        ann.username.as_str()
    );
    assert_eq!(verdict["credentialSubject"]["trustScore"], 50);
    assert_eq!(
        verdict["types"],
        json!(["VerifiableCredential", "ZynkVerifiedIdentity"])
    );

    // One changed character of the signature, or of the payload: rejected.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let flip = |s: &mut String, at: usize| {
        let c = s.as_bytes()[at];
        let replacement = if c == b'A' { 'B' } else { 'A' };
        s.replace_range(at..=at, &replacement.to_string());
    };
    let mut bad_sig = parts.clone();
    flip(&mut bad_sig[2], 10);
    let (ok, verdict) = node_verifier(&bad_sig.join("."), None);
    assert!(!ok, "a tampered signature verified: {verdict}");
    flip(&mut parts[1], 20);
    let (ok, _) = node_verifier(&parts.join("."), None);
    assert!(!ok, "a tampered payload verified");
    // Another issuer than expected.
    let (ok, _) = node_verifier(
        jwt,
        Some("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
    );
    assert!(!ok);

    // Recorded as a credential_issuance transaction, sealed into a block.
    let hash = credential["transaction_hash"].as_str().unwrap().to_owned();
    eventually("the credential transaction to be confirmed", || {
        let hash = hash.clone();
        let server = &server;
        async move { (tx_status(server, &hash).await.as_deref() == Some("confirmed")).then_some(()) }
    })
    .await;
    let kind = server
        .sql_text(&format!(
            "SELECT transaction_type FROM blockchain_transactions WHERE transaction_hash = '{hash}'"
        ))
        .await;
    assert_eq!(kind.as_deref(), Some("credential_issuance"));
}

/// L1: a vouch needs the target's acceptance (a 1:1 they accepted, or a shared group), not a
/// conversation the voucher opened alone; a block either way refuses it too.
async fn vouching_needs_a_relationship_the_target_accepted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let carl = api.register(&Api::username("carl")).await;
    let dora = api.register(&Api::username("dora")).await;
    let vouch = |token: &str, target: &str| {
        let api = api.clone();
        let (token, target) = (token.to_owned(), target.to_owned());
        async move {
            api.call(
                Method::POST,
                &format!("/api/v1/users/{target}/vouch"),
                Some(&token),
                None,
            )
            .await
        }
    };
    // Ann opens a conversation with carl and writes: a message request carl has not answered.
    let conversation = api
        .open_conversation(&ann.access_token, &carl.user_id)
        .await;
    api.send_message(&ann.access_token, &conversation, message_body("hi"))
        .await;
    let (status, body) = vouch(&ann.access_token, &carl.user_id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "no_shared_conversation"),
        "{body}"
    );
    assert_eq!(trust(&api, &carl.access_token).await["trust_score"], 50);
    // Carl may vouch for ann: she opened it, her side is accepted.
    let (status, body) = vouch(&carl.access_token, &ann.user_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Once carl accepts, ann's vouch counts.
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/accept"),
            Some(&carl.access_token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = vouch(&ann.access_token, &carl.user_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"], 3);

    // A shared group is a relationship too, and a block refuses it.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/groups",
            Some(&dora.access_token),
            Some(&json!({"name": "club", "members": [ann.user_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&dora.access_token),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, body) = vouch(&ann.access_token, &dora.user_id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "no_shared_conversation"),
        "{body}"
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&dora.access_token),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, body) = vouch(&ann.access_token, &dora.user_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
