//! `zynk proof` against a real server on both backends: every device of both
//! users verifies every message of their conversation once its batch is
//! sealed; a flipped byte in a device's stored ciphertext makes the proof
//! INVALID; a message received before devices kept ciphertexts is checked
//! against the server's copy and says so; a server offering another ledger
//! key is refused; an unsealed message is reported as not anchored yet.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use zynk_sdk::client::{Home, Vault};
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, Output, PASSWORD, alice_and_bob, username, with_state};

backend_tests!(
    every_device_verifies_every_message_and_tampering_is_caught,
    unsealed_messages_are_not_anchored_yet,
    on_an_evm_chain_proofs_name_the_chain_and_tampering_is_caught,
);

/// Longest wait for a batch to be sealed (they close every second here).
const ANCHOR_TIMEOUT: Duration = Duration::from_secs(30);
/// The exit code of a proof that does not hold.
const EXIT_INVALID: i32 = 3;

/// Register `name` on a new device and log it in on a second one.
async fn account(server: &TestServer, name: &str) -> (Device, Device) {
    let first = Device::new(server);
    first.ok(&["register", name]).await;
    let second = Device::new(server);
    second.ok(&["login", name]).await;
    (first, second)
}

/// `zynk proof ID --json`, run again (bounded) while the message is not
/// anchored yet; returns the output of the first run that got a proof, and
/// its JSON object.
async fn proof_when_anchored(device: &Device, id: &str) -> (Output, Value) {
    let deadline = Instant::now() + ANCHOR_TIMEOUT;
    loop {
        let output = device.run(&["proof", id, "--json"]).await;
        if output.stderr.contains("is not anchored yet") {
            assert!(!output.success, "{output:?}");
            assert!(
                Instant::now() < deadline,
                "message {id} was not anchored within {ANCHOR_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let value: Value = serde_json::from_str(output.stdout.trim())
            .unwrap_or_else(|e| panic!("one JSON object ({e}): {output:?}"));
        return (output, value);
    }
}

/// Decrypt a device's state with the account password, let `edit` change its
/// JSON, and encrypt it back (what a corrupted disk or a local attacker with
/// the password could do).
fn edit_state(device: &Device, edit: impl FnOnce(&mut Value)) {
    let home = Home::new(device.home.path().to_path_buf());
    let lock = home.lock().expect("home lock");
    let bytes = home
        .read_state(&lock)
        .expect("read state")
        .expect("a state");
    let (vault, plaintext) = Vault::unlock(&bytes, PASSWORD, None).expect("unlock");
    let mut state: Value = serde_json::from_slice(&plaintext).expect("state JSON");
    edit(&mut state);
    let json = serde_json::to_vec(&state).expect("state JSON");
    let sealed = vault.seal(&json).expect("seal");
    home.write_state(&lock, &sealed).expect("write state");
}

/// The stored entry of message `id` in a state's JSON.
fn entry<'a>(state: &'a mut Value, id: &str) -> &'a mut Value {
    state["data"]["conversations"]
        .as_object_mut()
        .expect("conversations")
        .values_mut()
        .flat_map(|c| c["entries"].as_array_mut().expect("entries").iter_mut())
        .find(|e| e["message_id"] == id)
        .unwrap_or_else(|| panic!("message {id} in the state"))
}

async fn every_device_verifies_every_message_and_tampering_is_caught(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.anchor_interval_secs = 1).await;
    let (alice, bob) = (username("alice"), username("bob"));
    let (alice1, alice2) = account(&server, &alice).await;
    let (bob1, bob2) = account(&server, &bob).await;

    let hello = alice1.send(&["send", &bob, "hello bob"]).await;
    let reply = bob2.send(&["reply", &hello, "hi alice"]).await;
    let laptop = alice2.send(&["send", &bob, "from alice's laptop"]).await;
    let reaction = bob1.send(&["react", &hello, "👍"]).await;
    let edit = alice1.send(&["edit", &hello, "hello bob!"]).await;
    let messages = [&hello, &reply, &laptop, &reaction, &edit];

    // Sending checked the identity keys against the ledger (key
    // transparency), which pinned the ledger key on every device: the same
    // key everywhere, and `proof` does not pin it again.
    let mut pins = Vec::new();
    for device in [&alice1, &alice2, &bob1, &bob2] {
        pins.push(
            with_state(device, async |m| {
                m.data().ledger.as_ref().map(|l| l.validator_did.clone())
            })
            .await
            .expect("the ledger key was pinned by the first send"),
        );
    }
    let pinned = pins[0].clone();
    assert!(pins.iter().all(|p| *p == pinned), "{pins:?}");

    // Every device checks every message against its own copy.
    let mut roots: Vec<Option<Value>> = vec![None; messages.len()];
    for (device, who) in [
        (&alice1, "alice1"),
        (&alice2, "alice2"),
        (&bob1, "bob1"),
        (&bob2, "bob2"),
    ] {
        for (n, id) in messages.iter().enumerate() {
            let (output, proof) = proof_when_anchored(device, id).await;
            assert!(output.success, "{who} {id}: {output:?}");
            assert_eq!(proof["verdict"], "valid", "{who}: {proof}");
            assert_eq!(proof["reason"], Value::Null, "{who}: {proof}");
            assert_eq!(proof["message_id"], id.as_str(), "{who}");
            assert_eq!(proof["root"], proof["batch_header"]["root"], "{who}");
            let (index, size) = (&proof["leaf_index"], &proof["tree_size"]);
            assert!(
                index
                    .as_u64()
                    .zip(size.as_u64())
                    .is_some_and(|(i, s)| i < s),
                "{who}: {proof}"
            );
            assert!(
                !output.stderr.contains("pinned the ledger key"),
                "{who} {id}: {}",
                output.stderr
            );
            assert!(!output.stderr.contains("server's copy"), "{output:?}");
            let root = roots[n].get_or_insert_with(|| proof["root"].clone());
            assert_eq!(*root, proof["root"], "{who}: same batch for everyone");
        }
    }

    // The text form.
    let out = bob2.ok(&["proof", &laptop]).await;
    assert!(
        out.starts_with(&format!("proof valid: message {laptop} is leaf ")),
        "{out}"
    );
    assert!(out.contains(" in batch "), "{out}");
    assert!(
        out.contains(&format!(", signed by {pinned}#ledger")),
        "{out}"
    );

    // A device that has only received pins the key with its first proof,
    // and says so.
    let bob3 = Device::new(&server);
    bob3.ok(&["login", &bob]).await;
    bob3.ok(&["messages", &alice]).await;
    let (output, proof) = proof_when_anchored(&bob3, &laptop).await;
    assert!(output.success && proof["verdict"] == "valid", "{output:?}");
    assert!(
        output.stderr.contains(&format!(
            "pinned the ledger key {pinned} of this server (first use)"
        )),
        "{output:?}"
    );
    let (output, _) = proof_when_anchored(&bob3, &hello).await;
    assert!(!output.stderr.contains("pinned"), "{output:?}");

    // A flipped byte in Alice's stored copy of Bob's reply.
    edit_state(&alice1, |state| {
        let stored = entry(state, &reply);
        let mut bytes = STANDARD
            .decode(stored["ciphertext"].as_str().expect("a kept ciphertext"))
            .expect("base64");
        bytes[10] ^= 0x01;
        stored["ciphertext"] = Value::String(STANDARD.encode(&bytes));
    });
    let output = alice1.run(&["proof", &reply, "--json"]).await;
    assert_eq!(output.code, Some(EXIT_INVALID), "{output:?}");
    let proof: Value = serde_json::from_str(output.stdout.trim()).expect("one JSON object");
    assert_eq!(proof["verdict"], "invalid", "{proof}");
    assert!(
        proof["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("leaf hash")),
        "{proof}"
    );
    assert_eq!(proof["message_id"], reply.as_str());
    let output = alice1.run(&["proof", &reply]).await;
    assert_eq!(output.code, Some(EXIT_INVALID), "{output:?}");
    assert!(
        output.stdout.starts_with("proof INVALID: leaf hash"),
        "{output:?}"
    );
    // Alice's other messages still check out on that device.
    let (output, proof) = proof_when_anchored(&alice1, &hello).await;
    assert!(output.success && proof["verdict"] == "valid", "{output:?}");

    // A message stored before devices kept ciphertexts: the server's copy is
    // used, and the output says so.
    edit_state(&bob1, |state| {
        let stored = entry(state, &hello);
        stored
            .as_object_mut()
            .expect("an entry")
            .remove("ciphertext");
    });
    let (output, proof) = proof_when_anchored(&bob1, &hello).await;
    assert!(output.success && proof["verdict"] == "valid", "{output:?}");
    assert!(
        output
            .stderr
            .contains("the server's copy of the ciphertext"),
        "{output:?}"
    );

    // The server starts naming another ledger key (as a server that swapped its ledger would):
    // Alice's second device pinned the first key and refuses the new one.
    let other = zynk_ledger::did::did_key(
        &ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key(),
    );
    let embedded = server.backend == Backend::Embedded;
    let read = if embedded {
        "SELECT CAST(value AS TEXT) FROM ledger_kv WHERE key = 'validator'"
    } else {
        "SELECT convert_from(value, 'UTF8') FROM ledger_kv WHERE key = 'validator'"
    };
    let write = |did: &str| {
        if embedded {
            format!("UPDATE ledger_kv SET value = CAST('{did}' AS BLOB) WHERE key = 'validator'")
        } else {
            format!(
                "UPDATE ledger_kv SET value = convert_to('{did}', 'UTF8') WHERE key = 'validator'"
            )
        }
    };
    let original = server
        .sql_text(read)
        .await
        .expect("the ledger names its validator");
    server.sql(&write(&other)).await;
    let error = alice2.fails_with(PASSWORD, &["proof", &laptop]).await;
    assert!(error.contains("ledger key changed"), "{error}");
    // With the ledger's key back, all is well, and nothing was re-pinned.
    server.sql(&write(&original)).await;
    let (output, proof) = proof_when_anchored(&alice2, &laptop).await;
    assert!(output.success && proof["verdict"] == "valid", "{output:?}");
    assert!(!output.stderr.contains("pinned"), "{output:?}");
}

async fn unsealed_messages_are_not_anchored_yet(backend: Backend) {
    // Batches close hourly by default: nothing sent here gets sealed.
    let server = TestServer::start(backend).await;
    let (_alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let id = alice1.send(&["send", &bob, "not yet"]).await;
    for device in [&alice1, &bob1] {
        let error = device.fails_with(PASSWORD, &["proof", &id]).await;
        assert_eq!(
            error,
            format!("zynk: message {id} is not anchored yet; try again after the next batch")
        );
        let output = device.run(&["proof", &id, "--json"]).await;
        assert_eq!(output.code, Some(1), "{output:?}");
        assert!(output.stdout.is_empty(), "{output:?}");
    }
    let stranger = uuid::Uuid::new_v4().to_string();
    let error = alice1.fails_with(PASSWORD, &["proof", &stranger]).await;
    assert!(error.contains("in this device's history"), "{error}");
}

/// `chain = "evm"` with a real local EVM node: once the batch's anchor is confirmed on the chain,
/// `zynk proof --json` names it (`eip155:<id>`, the registry, the Ethereum transaction) and
/// still verifies offline; the registry holds the same root; a flipped byte fails.
async fn on_an_evm_chain_proofs_name_the_chain_and_tampering_is_caught(backend: Backend) {
    let chain = zynk_testkit::EvmChain::start().await;
    let server = TestServer::start_with(backend, |c| {
        chain.configure(c);
        c.anchor_interval_secs = 1;
    })
    .await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    let hello = alice1.send(&["send", &bob, "hello over the chain"]).await;
    bob1.ok(&["messages", &alice]).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let proof = loop {
        let (output, proof) = proof_when_anchored(&bob1, &hello).await;
        assert!(output.success, "{output:?}");
        assert_eq!(proof["verdict"], "valid", "{proof}");
        if proof["anchor"]["chain"] == format!("eip155:{}", chain.chain_id()) {
            break proof;
        }
        assert!(
            Instant::now() < deadline,
            "the anchor was never confirmed on the EVM chain: {proof}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        proof["anchor"]["contract"].as_str().map(str::to_lowercase),
        Some(chain.contract.to_string().to_lowercase()),
        "{proof}"
    );
    assert!(
        proof["anchor"]["block_number"].as_u64().is_some(),
        "{proof}"
    );
    let registry = chain.registry().await;
    let height = proof["batch_header"]["height"].as_u64().expect("height");
    let (root, size) = registry
        .anchored_root(height)
        .await
        .expect("registry read")
        .expect("the batch is anchored on the chain");
    assert_eq!(
        format!("0x{}", hex::encode(root)),
        proof["root"].as_str().expect("root"),
        "the chain holds the proof's root"
    );
    assert_eq!(Some(size), proof["tree_size"].as_u64());

    edit_state(&bob1, |state| {
        let stored = entry(state, &hello);
        let mut bytes = STANDARD
            .decode(stored["ciphertext"].as_str().expect("a kept ciphertext"))
            .expect("base64");
        bytes[5] ^= 0x80;
        stored["ciphertext"] = Value::String(STANDARD.encode(&bytes));
    });
    let output = bob1.run(&["proof", &hello, "--json"]).await;
    assert_eq!(output.code, Some(EXIT_INVALID), "{output:?}");
}
