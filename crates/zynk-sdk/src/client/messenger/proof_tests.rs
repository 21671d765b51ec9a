//! Tests of [`Messenger::verify_message_proof`] against a scripted HTTP
//! server: the device's own ciphertext is used, the ledger key is pinned once
//! and a changed key is refused, old messages fall back to the server's copy,
//! and unsealed batches are reported as such.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::DateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zynk_ledger::Hash32;
use zynk_proto::messages::{Message, MessageMetadata};

use super::*;
use crate::client::api::ApiClient;
use crate::client::ledger::tests::{Batch, ciphertext_of};
use crate::client::ledger::{LedgerInfo, ProofVerdict};
use crate::client::session::{Secret, Session};
use crate::client::state::ConversationState;
use crate::client::util::base64_encode;
use crate::crypto::{PendingDevice, UserIdentity};
use zynk_proto::ConversationKind;
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, SessionId, UserId};

const CONVERSATION: ConversationId = ConversationId::from_u128(0xc0);
const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"not found"}}"#;

/// Path → (status, JSON body); anything else is a `not_found` 404.
type Routes = Arc<Mutex<HashMap<String, (u16, String)>>>;

/// A one-request-per-connection HTTP/1.1 server answering from `routes`.
async fn serve(routes: Routes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                let (status, body) = routes
                    .lock()
                    .expect("routes")
                    .get(path)
                    .cloned()
                    .unwrap_or((404, NOT_FOUND.to_owned()));
                let response = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

fn set(routes: &Routes, path: &str, body: String) {
    routes
        .lock()
        .expect("routes")
        .insert(format!("/api/v1{path}"), (200, body));
}

fn ledger(routes: &Routes, info: &LedgerInfo) {
    set(
        routes,
        "/ledger",
        serde_json::to_string(info).expect("JSON"),
    );
}

fn proof(routes: &Routes, batch: &Batch, index: usize) {
    let id = batch.entries[index].message_id;
    set(
        routes,
        &format!("/messages/{id}/proof"),
        batch.proof(index).to_json().expect("JSON"),
    );
}

/// A logged-in device at `base` that stored `batch`'s messages.
fn device(base: &str, batch: &Batch) -> Messenger {
    let (user, device) = (UserId::from_u128(1), DeviceId::from_u128(2));
    let mut api = ApiClient::new(base);
    api.set_session(Some(Session {
        user_id: user,
        device_id: device,
        session_id: SessionId::from_u128(3),
        access_token: Secret::new("zat_test"),
        access_token_expires_at: DateTime::UNIX_EPOCH,
        refresh_token: Secret::new("zrt_test"),
        refresh_token_expires_at: DateTime::UNIX_EPOCH,
    }));
    let machine = PendingDevice::new().into_machine(
        user.to_string(),
        device.to_string(),
        UserIdentity::generate().expect("identity"),
    );
    let mut messenger = Messenger::assemble(api, machine, "alice".into()).expect("messenger");
    let mut conversation =
        ConversationState::new(CONVERSATION, ConversationKind::OneToOne, vec![user]);
    for entry in &batch.entries {
        conversation.upsert(entry.clone());
    }
    messenger
        .data
        .conversations
        .insert(CONVERSATION, conversation);
    messenger
}

fn entry_mut(messenger: &mut Messenger, index: usize) -> &mut Entry {
    let conversation = messenger
        .data
        .conversations
        .get_mut(&CONVERSATION)
        .expect("conversation");
    &mut conversation.entries[index]
}

#[tokio::test]
async fn own_copies_verify_and_the_first_key_is_pinned() {
    let routes = Routes::default();
    let batch = Batch::new(11, 4);
    let mut messenger = device(&serve(routes.clone()).await, &batch);
    ledger(&routes, &batch.info());
    for index in 0..4 {
        proof(&routes, &batch, index);
    }

    let check = messenger
        .verify_message_proof(batch.entries[2].message_id)
        .await
        .expect("checked");
    assert!(check.verdict.is_valid(), "{check:?}");
    assert!(matches!(
        check.verdict,
        ProofVerdict::Valid {
            leaf_index: 2,
            tree_size: 4,
            ..
        }
    ));
    assert_eq!(check.conversation_id, CONVERSATION);
    assert_eq!(check.ciphertext_source, CiphertextSource::Local);
    assert!(check.newly_pinned);
    assert_eq!(messenger.data().ledger.as_ref(), Some(&check.ledger));
    assert_eq!(check.ledger.validator_did, batch.info().validator_did);

    let again = messenger
        .verify_message_proof(batch.entries[0].message_id)
        .await
        .expect("checked");
    assert!(again.verdict.is_valid());
    assert!(!again.newly_pinned);
    assert_eq!(again.ledger, check.ledger);

    // A flipped byte in the stored ciphertext: the server's proof no longer
    // matches this device's copy.
    let mut bytes = ciphertext_of(&batch.entries[1]);
    bytes[0] ^= 0x20;
    entry_mut(&mut messenger, 1).ciphertext = Some(base64_encode(&bytes));
    let tampered = messenger
        .verify_message_proof(batch.entries[1].message_id)
        .await
        .expect("checked");
    match &tampered.verdict {
        ProofVerdict::Invalid { reason } => assert!(reason.starts_with("leaf hash"), "{reason}"),
        valid => panic!("a tampered copy verified: {valid:?}"),
    }
    assert_eq!(tampered.to_json()["verdict"], "invalid");
}

#[tokio::test]
async fn a_changed_ledger_key_is_an_error_and_stays_unpinned() {
    let routes = Routes::default();
    let batch = Batch::new(12, 2);
    let mut messenger = device(&serve(routes.clone()).await, &batch);
    ledger(&routes, &batch.info());
    proof(&routes, &batch, 0);
    let first = messenger
        .verify_message_proof(batch.entries[0].message_id)
        .await
        .expect("checked");
    assert!(first.verdict.is_valid());

    // The server re-signs the same batch (same messages) with another key
    // and announces that key.
    let resigned = Batch::new(13, 2);
    assert_eq!(resigned.entries, batch.entries);
    ledger(&routes, &resigned.info());
    proof(&routes, &resigned, 0);
    let error = messenger
        .verify_message_proof(batch.entries[0].message_id)
        .await
        .expect_err("a changed key");
    assert!(
        matches!(error, ClientError::LedgerKeyChanged { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("ledger key changed"), "{error}");
    assert_eq!(messenger.data().ledger, Some(first.ledger.clone()));

    // Even if the server goes back to announcing the pinned key, a proof
    // signed by the other key does not hold.
    ledger(&routes, &batch.info());
    let check = messenger
        .verify_message_proof(batch.entries[0].message_id)
        .await
        .expect("checked");
    match check.verdict {
        ProofVerdict::Invalid { reason } => assert!(reason.contains("signature"), "{reason}"),
        valid => panic!("verified under an unpinned key: {valid:?}"),
    }
}

#[tokio::test]
async fn old_messages_use_the_servers_ciphertext_and_say_so() {
    let routes = Routes::default();
    let batch = Batch::new(14, 3);
    let mut messenger = device(&serve(routes.clone()).await, &batch);
    ledger(&routes, &batch.info());
    proof(&routes, &batch, 1);
    let stored = batch.entries[1].clone();
    entry_mut(&mut messenger, 1).ciphertext = None;
    let mut message = Message {
        message_id: stored.message_id,
        conversation_id: CONVERSATION,
        seq: stored.seq,
        sender_id: stored.sender_id,
        sender_device_id: None,
        encrypted_content: base64_encode(&ciphertext_of(&stored)),
        content_hash: hex::encode(Hash32::sha256(&ciphertext_of(&stored)).0),
        message_type: zynk_proto::MessageType::Text,
        metadata: MessageMetadata::default(),
        created_at: stored.created_at,
        edited_at: None,
        deleted_at: None,
        expires_at: None,
    };
    let path = format!("/messages/{}", stored.message_id);
    set(
        &routes,
        &path,
        serde_json::to_string(&message).expect("JSON"),
    );
    let check = messenger
        .verify_message_proof(stored.message_id)
        .await
        .expect("checked");
    assert!(check.verdict.is_valid(), "{check:?}");
    assert_eq!(check.ciphertext_source, CiphertextSource::Server);

    // The device's own seq and time still count: a server copy that moved
    // the message does not help it.
    entry_mut(&mut messenger, 1).seq += 1;
    let check = messenger
        .verify_message_proof(stored.message_id)
        .await
        .expect("checked");
    assert!(!check.verdict.is_valid());
    entry_mut(&mut messenger, 1).seq -= 1;

    // Deleted on the server and never kept here: it cannot be checked.
    message.encrypted_content.clear();
    set(
        &routes,
        &path,
        serde_json::to_string(&message).expect("JSON"),
    );
    let error = messenger
        .verify_message_proof(stored.message_id)
        .await
        .expect_err("nothing to check");
    assert!(error.to_string().contains("no longer holds"), "{error}");
}

#[tokio::test]
async fn unsealed_and_unknown_messages_are_reported() {
    let routes = Routes::default();
    let batch = Batch::new(15, 2);
    let mut messenger = device(&serve(routes.clone()).await, &batch);
    ledger(&routes, &batch.info());
    let id = batch.entries[0].message_id;
    let error = messenger
        .verify_message_proof(id)
        .await
        .expect_err("not sealed");
    assert!(matches!(error, ClientError::NotAnchored(_)), "{error:?}");
    // Nothing was checked, so nothing is pinned yet.
    assert_eq!(messenger.data().ledger, None);
    assert_eq!(
        error.to_string(),
        format!("message {id} is not anchored yet; try again after the next batch")
    );
    let stranger = MessageId::from_u128(0xdead);
    let error = messenger
        .verify_message_proof(stranger)
        .await
        .expect_err("unknown");
    assert!(matches!(error, ClientError::UnknownMessage(_)), "{error:?}");

    // A proof answer that is not a proof object at all is a protocol error.
    set(&routes, &format!("/messages/{id}/proof"), "[]".into());
    let error = messenger
        .verify_message_proof(id)
        .await
        .expect_err("not an object");
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
}
