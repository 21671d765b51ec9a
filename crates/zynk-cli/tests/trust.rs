//! Trust scores, credentials and key transparency through the `zynk` binary,
//! against a real server on both backends:
//!
//! - reports and vouches change the contact's score, show in their `trust`
//!   history and reach their `listen`; repeats, strangers and yourself are
//!   refused with one clear line; `verify --confirm` does not vouch;
//! - `credential` prints a VC-JWT for the user's did:zynk, signed by the
//!   server's did:key;
//! - a server handing out a swapped identity key, with device keys
//!   consistently re-signed by it (so signatures and trust on first use would
//!   accept it), is refused by the ledger check, and nothing is encrypted to
//!   it;
//! - a server rolling a rotated key back to the old one, with the old
//!   ledger proof, is refused by a device that saw the rotation.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::Value;
use uuid::Uuid;
use zynk_proto::keys::DeviceKeysBundle;
use zynk_sdk::client::IdentityCheck;
use zynk_sdk::crypto::{CryptoMachine, DeviceRef, IdentityKey, UserIdentity};
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, PASSWORD, alice_and_bob, ids, rotate_identity, username, with_state};

backend_tests!(
    reports_and_vouches_change_the_contacts_score,
    credentials_are_vc_jwts_for_the_users_did,
    a_swapped_identity_key_is_refused_by_the_ledger_check,
    a_rolled_back_identity_key_is_refused_after_a_rotation,
);

/// `zynk trust --json`, parsed.
async fn trust(device: &Device) -> Value {
    let out = device.ok(&["trust", "--json"]).await;
    assert_eq!(out.lines().count(), 1, "one JSON object: {out}");
    serde_json::from_str(out.trim()).expect("a JSON object")
}

/// The number in `… (score change N)`.
fn score_change(line: &str) -> i64 {
    line.trim()
        .rsplit_once("(score change ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|n| n.trim_start_matches('+').parse().ok())
        .unwrap_or_else(|| panic!("a score change in {line:?}"))
}

async fn reports_and_vouches_change_the_contacts_score(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, carol) = (username("alice"), username("bob"), username("carol"));
    let alice1 = Device::new(&server);
    alice1.ok(&["register", &alice]).await;
    let bob1 = Device::new(&server);
    bob1.ok(&["register", &bob]).await;
    let carol1 = Device::new(&server);
    carol1.ok(&["register", &carol]).await;
    let (bob_id, _) = ids(&bob1).await;

    alice1.send(&["send", &bob, "hello bob"]).await;
    bob1.send(&["send", &alice, "hi alice"]).await;

    let before = trust(&bob1).await;
    assert_eq!(before["did"], format!("did:zynk:{bob_id}"), "{before}");
    let score = before["trust_score"].as_i64().expect("a score");
    let history = before["history"].as_array().expect("a history").len();
    assert!(before["rate_limit_percent"].as_i64().is_some(), "{before}");

    let mut listening = bob1.spawn(&["listen", "--json"]);
    listening.stderr_line("listening for messages").await;

    // A report lowers Bob's score; he sees it in his history and live.
    let out = alice1.ok(&["report", &bob]).await;
    assert!(
        out.starts_with(&format!("reported {bob} for spam (score change -")),
        "{out}"
    );
    let penalty = score_change(&out);
    assert!(penalty < 0, "{out}");
    let frame = listening
        .json_line("a trust_score_updated object", |v| {
            v["type"] == "trust_score_updated"
        })
        .await;
    assert_eq!(frame["old_score"], score, "{frame}");
    assert_eq!(frame["new_score"], score + penalty, "{frame}");
    assert_eq!(frame["reason"], "spam_report", "{frame}");
    assert_eq!(frame["did"], format!("did:zynk:{bob_id}"), "{frame}");
    let reported = trust(&bob1).await;
    assert_eq!(reported["trust_score"], score + penalty, "{reported}");
    let entries = reported["history"].as_array().expect("a history");
    assert_eq!(entries.len(), history + 1, "{reported}");
    assert_eq!(entries[0]["reason"], "spam_report", "{reported}");
    assert_eq!(entries[0]["old_score"], score, "{reported}");
    assert_eq!(entries[0]["new_score"], score + penalty, "{reported}");
    assert_eq!(
        entries[0]["transaction_hash"], frame["transaction_hash"],
        "{reported}"
    );
    let text = bob1.ok(&["trust"]).await;
    assert!(
        text.contains(&format!("trust score: {}/100", score + penalty)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("{score} -> {}  spam_report", score + penalty))),
        "{text}"
    );

    // Once a day.
    let output = alice1.run(&["report", &bob]).await;
    assert_eq!(output.code, Some(1), "{output:?}");
    let error = alice1.fails_with(PASSWORD, &["report", &bob]).await;
    assert_eq!(
        error,
        format!(
            "zynk: you already reported {bob} today; a user can be reported once a day (already_reported)"
        )
    );
    assert_eq!(trust(&bob1).await["trust_score"], score + penalty);

    // Verifying Bob does not vouch for him; vouching is its own command.
    let number = alice1.safety_number(&bob).await;
    alice1.ok(&["verify", &bob, "--confirm", &number]).await;
    let verified = trust(&bob1).await;
    assert_eq!(verified, reported, "verify changed nothing on the server");
    let output = alice1.run(&["vouch", &bob]).await;
    assert!(output.success, "{output:?}");
    assert!(
        output
            .stdout
            .starts_with(&format!("vouched for {bob} (score change +")),
        "{output:?}"
    );
    assert!(!output.stderr.contains("not verified"), "{output:?}");
    let gain = score_change(&output.stdout);
    assert!(gain > 0, "{output:?}");
    let frame = listening
        .json_line("a second trust_score_updated object", |v| {
            v["type"] == "trust_score_updated" && v["reason"] == "verified_by_community"
        })
        .await;
    assert_eq!(frame["new_score"], score + penalty + gain, "{frame}");
    let vouched = trust(&bob1).await;
    assert_eq!(vouched["trust_score"], score + penalty + gain, "{vouched}");
    assert_eq!(vouched["history"][0]["reason"], "verified_by_community");
    // Once ever.
    let error = alice1.fails_with(PASSWORD, &["vouch", &bob]).await;
    assert_eq!(
        error,
        format!("zynk: you already vouched for {bob}; a vouch counts once (already_reported)")
    );
    listening.stop().await;

    // Bob vouches for Alice without having verified her: allowed, with a note.
    let output = bob1.run(&["vouch", &alice]).await;
    assert!(output.success, "{output:?}");
    assert!(
        output
            .stderr
            .contains(&format!("{alice} is not verified on this device")),
        "{output:?}"
    );

    // Strangers, yourself, unknown users.
    for command in ["report", "vouch"] {
        let error = carol1.fails_with(PASSWORD, &[command, &bob]).await;
        assert_eq!(
            error,
            format!(
                "zynk: you can {command} only users you have a conversation with, and you have none with {bob} (no_shared_conversation)"
            )
        );
        let error = alice1.fails_with(PASSWORD, &[command, &alice]).await;
        assert_eq!(error, "zynk: you cannot report or vouch for yourself");
        let error = alice1
            .fails_with(PASSWORD, &[command, "nobody_here_x"])
            .await;
        assert_eq!(error, "zynk: no user named nobody_here_x");
    }
    assert_eq!(trust(&bob1).await, vouched, "the refusals changed nothing");
}

async fn credentials_are_vc_jwts_for_the_users_did(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = username("alice");
    let alice1 = Device::new(&server);
    alice1.ok(&["register", &alice]).await;
    let (alice_id, _) = ids(&alice1).await;
    let did = format!("did:zynk:{alice_id}");

    let output = alice1.run(&["credential"]).await;
    assert!(output.success, "{output:?}");
    assert_eq!(output.stdout.lines().count(), 1, "{output:?}");
    assert!(output.stderr.starts_with("zynk: credential "), "{output:?}");
    let jwt = output.stdout.trim();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let (header, payload) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["alg"], "EdDSA", "{header}");
    assert_eq!(payload["vc"]["credentialSubject"]["id"], did, "{payload}");
    assert_eq!(payload["sub"], did, "{payload}");
    // Signed by the issuer's did:key.
    let issuer = payload["iss"].as_str().expect("an issuer");
    let key = zynk_ledger::did::parse_did_key(issuer).expect("the issuer is a did:key");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64 bytes");
    key.verify_strict(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT's signature verifies under the issuer's key");

    // --json: the whole response, a new credential each time.
    let out = alice1.ok(&["credential", "--json"]).await;
    assert_eq!(out.lines().count(), 1, "{out}");
    let response: Value = serde_json::from_str(out.trim()).expect("a JSON object");
    assert_eq!(response["issuer"], issuer, "{response}");
    for field in ["jwt", "id", "expires_at", "transaction_hash"] {
        assert!(response[field].as_str().is_some(), "{field}: {response}");
    }
    assert_ne!(response["jwt"], jwt, "{response}");
    let payload = decode(
        response["jwt"]
            .as_str()
            .and_then(|j| j.split('.').nth(1))
            .expect("a JWT payload"),
    );
    assert_eq!(payload["vc"]["credentialSubject"]["id"], did, "{payload}");
    assert_eq!(payload["jti"], response["id"], "{payload}");
}

/// A count from the server's database.
async fn count(server: &TestServer, query: &str) -> i64 {
    server
        .sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {query}"))
        .await
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of {query}"))
}

/// The multibase (`z6Mk…`) form of an unpadded base64 Ed25519 key, as the
/// key-transparency error names keys.
fn multibase(key: &str) -> String {
    let bytes: [u8; 32] = STANDARD_NO_PAD
        .decode(key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .expect("a 32-byte key");
    zynk_ledger::Ed25519PublicKey(bytes).to_multibase()
}

async fn a_swapped_identity_key_is_refused_by_the_ledger_check(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let (bob_id, bob_device) = ids(&bob1).await;
    let bob_key = bob1
        .ok(&["whoami"])
        .await
        .lines()
        .find_map(|l| l.strip_prefix("identity key: ").map(str::to_owned))
        .expect("bob's identity key");

    // Control: without a swap, a fresh device of Alice's messages Bob.
    alice1
        .send(&["send", &bob, "before the swap, from alice1"])
        .await;
    let alice2 = Device::new(&server);
    alice2.ok(&["login", &alice]).await;
    alice2.send(&["send", &bob, "before the swap"]).await;
    let items = bob1.messages(&alice).await;
    let texts: Vec<&Value> = items.iter().map(|i| &i["text"]).collect();
    assert_eq!(
        texts,
        ["before the swap, from alice1", "before the swap"],
        "{items:#?}"
    );
    let conversation = items[0]["conversation_id"]
        .as_str()
        .and_then(|c| Uuid::parse_str(c).ok())
        .expect("a conversation id");

    // The server swaps Bob's identity key for one it holds, and hands out a
    // device of Bob's (same ids) whose keys and one-time keys are consistently
    // signed by it: every signature checks out, only the ledger disagrees.
    let forged_identity = UserIdentity::generate().expect("identity");
    let forged_key = forged_identity.public_key().to_base64();
    let mut forged =
        CryptoMachine::new(bob_id.to_string(), bob_device.to_string(), forged_identity);
    let keys = forged.device_keys();
    let bundle = DeviceKeysBundle {
        user_id: keys.user_id,
        device_id: keys.device_id,
        curve25519: keys.curve25519,
        ed25519: keys.ed25519.clone(),
        algorithms: keys.algorithms,
        device_signature: keys.device_signature,
        identity_signature: keys.identity_signature,
    };
    let upload = forged.keys_to_upload(0, 10, true);
    let (user, device, now) = (
        server.sql_uuid(bob_id.into()),
        server.sql_uuid(bob_device.into()),
        server.sql_time_from_now(0),
    );
    server
        .sql(&format!(
            "UPDATE users SET public_key = '{forged_key}' WHERE id = {user}"
        ))
        .await;
    server
        .sql(&format!(
            "UPDATE devices SET public_key = '{}' WHERE id = {device}",
            bundle.ed25519
        ))
        .await;
    server
        .sql(&format!(
            "UPDATE device_keys SET key_bundle = '{}' WHERE device_id = {device}",
            serde_json::to_string(&bundle).expect("bundle JSON")
        ))
        .await;
    server
        .sql(&format!(
            "DELETE FROM device_one_time_keys WHERE device_id = {device}"
        ))
        .await;
    for key in &upload.one_time_keys {
        server
            .sql(&format!(
                "INSERT INTO device_one_time_keys (device_id, key_id, public_key, signature, created_at) \
                 VALUES ({device}, '{}', '{}', '{}', {now})",
                key.key_id, key.key, key.signature
            ))
            .await;
    }
    let fallback = upload.fallback_key.expect("a fallback key");
    server
        .sql(&format!(
            "UPDATE device_fallback_keys SET key_id = '{}', public_key = '{}', signature = '{}' \
             WHERE device_id = {device}",
            fallback.key_id, fallback.key, fallback.signature
        ))
        .await;
    let forged_keys = upload.one_time_keys.len() as i64;
    let one_time_keys = format!("device_one_time_keys WHERE device_id = {device}");
    assert_eq!(count(&server, &one_time_keys).await, forged_keys);

    // What the server now hands out passes every check but the ledger's: a
    // device that trusts on first use and checks signatures accepts it.
    let served = with_state(&alice1, async |m| m.api().query_keys(vec![bob_id]).await)
        .await
        .expect("keys query");
    let served = &served.users[0];
    assert_eq!(served.identity_key, forged_key);
    let mut observer = CryptoMachine::new("observer", "device", UserIdentity::generate().unwrap());
    let devices: Vec<_> = served
        .devices
        .iter()
        .map(|b| zynk_sdk::crypto::DeviceKeys {
            user_id: b.user_id.clone(),
            device_id: b.device_id.clone(),
            curve25519: b.curve25519.clone(),
            ed25519: b.ed25519.clone(),
            algorithms: b.algorithms.clone(),
            device_signature: b.device_signature.clone(),
            identity_signature: b.identity_signature.clone(),
        })
        .collect();
    let update = observer
        .update_devices(
            &bob_id.to_string(),
            &IdentityKey::from_base64(&forged_key).expect("a key"),
            &devices,
        )
        .expect("trust on first use and signatures accept the forgery");
    assert_eq!(update.added.len(), 1, "{update:?}");
    assert!(update.rejected.is_empty(), "{update:?}");

    let to_bob = format!("to_device_messages WHERE recipient_device_id = {device}");
    let in_conversation = format!(
        "messages WHERE conversation_id = {}",
        server.sql_uuid(conversation)
    );
    let (to_bob_before, messages_before) = (
        count(&server, &to_bob).await,
        count(&server, &in_conversation).await,
    );

    // A fresh device of Alice's (nothing pinned) refuses the key.
    let alice3 = Device::new(&server);
    alice3.ok(&["login", &alice]).await;
    let output = alice3.run(&["send", &bob, "after the swap"]).await;
    assert_eq!(output.code, Some(1), "{output:?}");
    let expected = format!(
        "zynk: refusing {bob}'s identity key: the ledger records identity key {} for did:zynk:{bob_id}, but the server gave {}",
        multibase(&bob_key),
        multibase(&forged_key)
    );
    assert_eq!(output.stderr.trim_end(), expected, "{output:?}");
    assert_eq!(output.stdout, "", "{output:?}");
    // So does the device that had already checked Bob's real key.
    let error = alice2
        .fails_with(PASSWORD, &["send", &bob, "after the swap, from alice2"])
        .await;
    assert_eq!(error, expected);
    // verify does not show a number for the swapped key either.
    let error = alice3.fails_with(PASSWORD, &["verify", &bob]).await;
    assert_eq!(error, expected);

    // Nothing was encrypted to the swapped key: no one-time key claimed, no
    // key share sent to Bob's device, no message posted, no Olm session, and
    // nothing pinned.
    assert_eq!(count(&server, &one_time_keys).await, forged_keys);
    assert_eq!(count(&server, &to_bob).await, to_bob_before);
    assert_eq!(count(&server, &in_conversation).await, messages_before);
    let (session, pinned, checked): (bool, bool, Option<IdentityCheck>) =
        with_state(&alice3, async |m| {
            (
                m.machine()
                    .has_olm_session(&DeviceRef::new(bob_id.to_string(), bob_device.to_string())),
                m.machine()
                    .trust_store()
                    .entry(&bob_id.to_string())
                    .is_some(),
                m.data().identity_checks.get(&bob_id).cloned(),
            )
        })
        .await;
    assert!(!session, "an Olm session with the forged device");
    assert!(!pinned, "the forged key was pinned");
    assert_eq!(checked, None);
    let checked = with_state(&alice2, async |m| {
        m.data().identity_checks.get(&bob_id).cloned()
    })
    .await
    .expect("alice2 checked bob before the swap");
    assert_eq!(checked.identity_key, bob_key);
}

/// `state:identity:{did}` in the server's ledger store, as text.
async fn identity_state(server: &TestServer, backend: Backend, did: &str) -> String {
    let query = match backend {
        Backend::Embedded => {
            format!("SELECT CAST(value AS TEXT) FROM ledger_kv WHERE key = 'state:identity:{did}'")
        }
        Backend::Scale => format!(
            "SELECT convert_from(value, 'UTF8') FROM ledger_kv WHERE key = 'state:identity:{did}'"
        ),
    };
    server
        .sql_text(&query)
        .await
        .unwrap_or_else(|| panic!("the ledger state of {did}"))
}

async fn a_rolled_back_identity_key_is_refused_after_a_rotation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let (bob_id, _) = ids(&bob1).await;
    let did = format!("did:zynk:{bob_id}");

    alice1.send(&["send", &bob, "hello"]).await;
    let first = with_state(&alice1, async |m| {
        m.data().identity_checks.get(&bob_id).cloned()
    })
    .await
    .expect("alice checked bob's key");
    let registered = identity_state(&server, backend, &did).await;

    // Bob rotates his key: the ledger records the new one in a later block.
    // Alice's device checks it there, and holds the change back until she
    // compares safety numbers.
    let (old_key, new_key) = rotate_identity(&bob1, &bob).await;
    assert_eq!(first.identity_key, old_key);
    let error = alice1
        .fails_with(PASSWORD, &["send", &bob, "after the rotation"])
        .await;
    assert!(
        error.contains(&format!("the identity key of {bob} changed")),
        "{error}"
    );
    let second = with_state(&alice1, async |m| {
        m.data().identity_checks.get(&bob_id).cloned()
    })
    .await
    .expect("alice checked bob's new key");
    assert_eq!(second.identity_key, new_key);
    assert!(second.block > first.block, "{first:?} {second:?}");

    // The server rolls Bob back: the old key, and the old registration as
    // the ledger's current state, so it serves the old (valid) proof.
    server
        .sql(&format!(
            "UPDATE users SET public_key = '{old_key}' WHERE id = {}",
            server.sql_uuid(bob_id.into())
        ))
        .await;
    let value = registered.replace('\'', "''");
    let value = match backend {
        Backend::Embedded => format!("CAST('{value}' AS BLOB)"),
        Backend::Scale => format!("convert_to('{value}', 'UTF8')"),
    };
    server
        .sql(&format!(
            "UPDATE ledger_kv SET value = {value} WHERE key = 'state:identity:{did}'"
        ))
        .await;
    let proof = with_state(&alice1, async |m| m.api().identity_proof(&did).await)
        .await
        .expect("the identity proof")
        .expect("a proof");
    assert_eq!(proof.block.index, first.block, "the old proof is served");

    // The old key matches both the ledger's old block and the key Alice's
    // device pinned first, so only the rollback check stops it.
    let error = alice1
        .fails_with(PASSWORD, &["send", &bob, "after the rollback"])
        .await;
    assert_eq!(
        error,
        format!(
            "zynk: refusing {bob}'s identity key: the ledger proof comes from block {}, older than block {} seen before",
            first.block, second.block
        )
    );

    // The limit: a device that never saw the rotation cannot tell.
    let alice2 = Device::new(&server);
    alice2.ok(&["login", &alice]).await;
    alice2
        .send(&["send", &bob, "from a device that never saw it"])
        .await;
}
