//! `shared_secret` groups through the `zynk` CLI, on both backends (issue 10): alice creates a
//! group with `--shared-secret` with bob and carol (two devices each); every device reads every
//! message, all sealed under one epoch secret; alice removes carol and sends: bob's devices read
//! it, carol's devices neither receive it nor hold the new epoch's secret, and cannot open its
//! stored ciphertext; a member added later (dave) holds no earlier epoch and cannot open earlier
//! messages; when a member leaves while no admin is online, the others refuse to send until an
//! admin device has synced and started the new epoch; a revoked device does not get the next
//! epoch; the server's database holds none of the plaintexts.

mod common;

use serde_json::Value;
use zynk_proto::ids::ConversationId;
use zynk_sdk::client::group_secrets::{GENERATIONS, membership_seq_of};
use zynk_sdk::crypto::DeviceRef;
use zynk_sdk::crypto::shared_secret::{
    SHARED_SECRET_ALGORITHM, SharedSecretError, SharedSecretMessage,
};
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, contains, group_messages, ids, texts, username, with_state};

backend_tests!(a_shared_secret_group_through_the_cli);

/// The sealed envelope of a stored message, read from the server's database.
async fn sealed(server: &TestServer, message_id: &str) -> SharedSecretMessage {
    let id = server.sql_uuid(message_id.parse().unwrap());
    let query = match server.backend {
        Backend::Embedded => {
            format!("SELECT CAST(encrypted_content AS TEXT) FROM messages WHERE id = {id}")
        }
        Backend::Scale => {
            format!("SELECT convert_from(encrypted_content, 'UTF8') FROM messages WHERE id = {id}")
        }
    };
    let envelope = server.sql_text(&query).await.expect("the stored message");
    let envelope: SharedSecretMessage =
        serde_json::from_str(&envelope).expect("a shared-secret envelope");
    assert_eq!(envelope.algorithm, SHARED_SECRET_ALGORITHM);
    envelope
}

async fn database_bytes(server: &TestServer) -> Vec<u8> {
    match server.backend {
        Backend::Embedded => {
            let mut bytes = Vec::new();
            for name in ["zynk.db", "zynk.db-wal"] {
                if let Ok(b) = std::fs::read(server.storage.data_dir().join(name)) {
                    bytes.extend(b);
                }
            }
            bytes
        }
        Backend::Scale => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg("--dbname")
                .arg(server.storage.database_url())
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success());
            dump.stdout
        }
    }
}

/// The epochs of the group secrets `device` holds for `conversation`, and what opening the
/// stored `envelope` of `message_id` with them gives.
async fn try_open(
    device: &Device,
    conversation: ConversationId,
    message_id: &str,
    envelope: &SharedSecretMessage,
) -> (Vec<u64>, Result<Vec<u8>, SharedSecretError>) {
    with_state(device, async |m| {
        let _ = m.sync().await;
        let secrets = m.data().group_secrets.secrets(conversation);
        let epochs = secrets.iter().map(|s| s.epoch).collect();
        let sender = DeviceRef::new(envelope.sender_user.clone(), envelope.sender_device.clone());
        // The sender's device must be known to check its signature.
        let _ = m
            .refresh_devices(&[envelope.sender_user.parse().unwrap()])
            .await;
        let opened = m
            .machine()
            .open_shared_secret(
                envelope,
                &conversation.to_string(),
                message_id,
                &sender,
                &secrets,
            )
            .map(|p| p.to_vec());
        (epochs, opened)
    })
    .await
}

async fn a_shared_secret_group_through_the_cli(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.enabled = false).await;
    let (alice, bob, carol, dave) = (
        username("alice"),
        username("bob"),
        username("carol"),
        username("dave"),
    );
    let mut devices = Vec::new();
    for name in [&alice, &bob, &carol] {
        let first = Device::new(&server);
        first.ok(&["register", name]).await;
        let second = Device::new(&server);
        second.ok(&["login", name]).await;
        devices.push((first, second));
    }
    let [(alice1, alice2), (bob1, bob2), (carol1, carol2)] =
        <[(Device, Device); 3]>::try_from(devices)
            .ok()
            .expect("three users");
    let dave1 = Device::new(&server);
    dave1.ok(&["register", &dave]).await;

    let name = format!("secret-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let group = alice1
        .ok(&[
            "group",
            "create",
            &name,
            "--shared-secret",
            "--member",
            &bob,
            "--member",
            &carol,
        ])
        .await
        .trim()
        .to_owned();
    let listed: Value = serde_json::from_str(
        bob1.ok(&["group", "list", "--json"])
            .await
            .lines()
            .next()
            .expect("the group"),
    )
    .unwrap();
    assert_eq!(listed["encryption_mode"], "shared_secret", "{listed}");
    assert_eq!(listed["group_id"], group.as_str());
    let conversation: ConversationId = listed["conversation_id"].as_str().unwrap().parse().unwrap();

    let canary = |n: u32| format!("zynk-secret-canary-{n}-{}", uuid::Uuid::new_v4().simple());
    let plaintexts: Vec<String> = (0..10).map(canary).collect();
    let first = alice1.send(&["group", "send", &name, &plaintexts[0]]).await;
    bob2.send(&["group", "send", &group, &plaintexts[1]]).await;
    carol1.send(&["group", "send", &name, &plaintexts[2]]).await;
    bob1.send(&["reply", &first, &plaintexts[3]]).await;
    carol2.send(&["react", &first, "👍"]).await;
    alice2.send(&["edit", &first, &plaintexts[4]]).await;
    for device in [&alice1, &alice2, &bob1, &bob2, &carol1, &carol2] {
        let messages = group_messages(device, &name).await;
        let seen = texts(&messages);
        for expected in &plaintexts[1..5] {
            assert!(
                seen.contains(expected),
                "{expected} missing from {messages:?}"
            );
        }
        let edited = messages.iter().find(|m| m["id"] == first.as_str()).unwrap();
        assert_eq!(edited["edited"], true);
        assert_eq!(edited["reactions"]["👍"][0], carol.as_str());
        assert!(
            messages.iter().all(|m| m["undecryptable"].is_null()),
            "{messages:?}"
        );
    }
    // Every message of the first epoch is sealed under it: the third `added` event (seq 3).
    let before = sealed(&server, &first).await;
    assert_eq!(before.epoch, 3 * GENERATIONS, "{before:?}");

    // Alice (on her other device) removes carol, then sends.
    alice2.ok(&["group", "remove", &name, &carol]).await;
    let after_id = alice1.send(&["group", "send", &name, &plaintexts[5]]).await;
    let after = sealed(&server, &after_id).await;
    assert!(after.epoch > before.epoch, "a new epoch: {after:?}");
    assert_eq!(after.epoch % GENERATIONS, 0);
    for device in [&bob1, &bob2] {
        let messages = group_messages(device, &group).await;
        assert!(texts(&messages).contains(&plaintexts[5]), "{messages:?}");
        assert!(
            messages.iter().all(|m| m["undecryptable"].is_null()),
            "{messages:?}"
        );
        let (epochs, opened) = try_open(device, conversation, &after_id, &after).await;
        assert!(epochs.contains(&after.epoch), "{epochs:?}");
        let opened = String::from_utf8(opened.expect("bob opens it")).unwrap();
        assert!(opened.contains(&plaintexts[5]), "{opened}");
    }
    // Carol's devices: nothing after the removal reached them, they hold no secret of the new
    // epoch, and the stored ciphertext does not open with what they hold.
    let refused = carol1
        .fails_with(&carol1.password, &["group", "messages", &group])
        .await;
    assert!(refused.contains("not found"), "{refused}");
    for device in [&carol1, &carol2] {
        let (epochs, opened) = try_open(device, conversation, &after_id, &after).await;
        assert!(
            epochs.contains(&before.epoch),
            "carol read the group before: {epochs:?}"
        );
        assert!(
            !epochs.contains(&after.epoch),
            "carol holds the new epoch: {epochs:?}"
        );
        assert_eq!(opened, Err(SharedSecretError::UnknownEpoch(after.epoch)));
        let timeline = with_state(device, async |m| m.timeline(conversation).await).await;
        assert!(timeline.iter().all(|v| v.id.to_string() != after_id));
    }
    let out = carol2.run(&["group", "send", &group, "still here?"]).await;
    assert!(!out.success, "{out:?}");

    // Dave joins: he reads from his joining on, holds no earlier epoch and cannot open an
    // earlier message's ciphertext.
    alice1.ok(&["group", "add", &group, &dave]).await;
    let welcome = alice2
        .send(&["group", "send", &group, &plaintexts[6]])
        .await;
    let welcome_epoch = sealed(&server, &welcome).await.epoch;
    assert!(welcome_epoch > after.epoch);
    let messages = group_messages(&dave1, &name).await;
    let seen = texts(&messages);
    assert!(seen.contains(&plaintexts[6]), "{messages:?}");
    for old in &plaintexts[..6] {
        assert!(!seen.contains(old), "dave reads {old}");
    }
    let (epochs, opened) = try_open(&dave1, conversation, &after_id, &after).await;
    assert_eq!(epochs, vec![welcome_epoch], "dave holds only his epoch");
    assert_eq!(opened, Err(SharedSecretError::UnknownEpoch(after.epoch)));
    let from_dave = dave1.send(&["group", "send", &name, &plaintexts[7]]).await;
    for device in [&alice1, &bob2] {
        let messages = group_messages(device, &name).await;
        assert!(texts(&messages).contains(&plaintexts[7]), "{messages:?}");
        assert!(messages.iter().any(|m| m["id"] == from_dave.as_str()));
    }

    // Dave leaves while no admin device is online: bob (not an admin) refuses to send until an
    // admin device has synced; then the new epoch starts and bob sends under it.
    dave1.ok(&["group", "leave", &group]).await;
    let refused = bob1
        .fails_with(&bob1.password, &["group", "send", &group, &plaintexts[8]])
        .await;
    assert!(refused.contains("no group key"), "{refused}");
    group_messages(&alice2, &group).await;
    let late = bob1.send(&["group", "send", &group, &plaintexts[8]]).await;
    let late_epoch = sealed(&server, &late).await.epoch;
    assert!(membership_seq_of(late_epoch) > membership_seq_of(welcome_epoch));
    let messages = group_messages(&alice1, &group).await;
    assert!(texts(&messages).contains(&plaintexts[8]), "{messages:?}");
    let (epochs, _) = try_open(&dave1, conversation, &late, &sealed(&server, &late).await).await;
    assert!(
        !epochs.contains(&late_epoch),
        "dave left before {late_epoch}"
    );

    // Bob revokes his second device: alice2, whose sync made the current epoch's secret, finds
    // at its next send that a device it gave the secret to is gone, and rotates.
    let (_, bob2_device) = ids(&bob2).await;
    with_state(&bob1, async |m| m.api().revoke_device(bob2_device).await)
        .await
        .expect("revoke bob's second device");
    let rotated = alice2
        .send(&["group", "send", &group, &plaintexts[9]])
        .await;
    let rotated = sealed(&server, &rotated).await;
    assert_eq!(
        membership_seq_of(rotated.epoch),
        membership_seq_of(late_epoch)
    );
    assert_eq!(rotated.epoch, late_epoch + 1, "the next generation");
    let messages = group_messages(&bob1, &group).await;
    assert!(texts(&messages).contains(&plaintexts[9]), "{messages:?}");

    // The server holds no plaintext.
    let bytes = database_bytes(&server).await;
    assert!(
        contains(&bytes, alice.as_bytes()),
        "the search can find things"
    );
    for plaintext in &plaintexts {
        assert!(
            !contains(&bytes, plaintext.as_bytes()),
            "{plaintext} in the database"
        );
    }
}
