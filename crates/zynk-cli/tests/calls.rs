//! The call signalling flow of the SDK against a real server, on both backends: ann calls bob,
//! sends an SDP offer, bob's device reads it, answers with its own SDP, both trade ICE
//! candidates, bob hangs up. The SDPs and candidates travel Olm-encrypted over the to-device
//! channel: while they sit in the server's store, and after the call, the database (SQLite
//! file and WAL, or a PostgreSQL dump) holds none of them, raw or in base64. `zynk calls` on
//! another device of ann's lists the call.

mod common;

use base64::Engine;
use zynk_proto::calls::{CallSignal, CallStatus, CallType};
use zynk_sdk::client::{ApiClient, DeviceDescription, Messenger, ReceivedCallSignal};
use zynk_testkit::{Backend, TestServer, backend_tests};

backend_tests!(call_signalling_is_end_to_end_encrypted);

const PASSWORD: &str = "correct horse battery staple";

fn forms(plaintext: &str) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    vec![
        plaintext.as_bytes().to_vec(),
        b64.encode(plaintext).into_bytes(),
        url.encode(plaintext).into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything the database holds, as bytes.
fn database_bytes(server: &TestServer, backend: Backend) -> Vec<u8> {
    match backend {
        Backend::Embedded => {
            let mut all = Vec::new();
            for name in ["zynk.db", "zynk.db-wal"] {
                if let Ok(bytes) = std::fs::read(server.storage.data_dir().join(name)) {
                    all.extend(bytes);
                }
            }
            assert!(!all.is_empty(), "the database files exist");
            all
        }
        Backend::Scale => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg("--dbname")
                .arg(server.storage.database_url())
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            assert!(contains(&dump.stdout, b"COPY public.to_device_messages"));
            dump.stdout
        }
    }
}

fn assert_absent(server: &TestServer, backend: Backend, secrets: &[String]) {
    let bytes = database_bytes(server, backend);
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !contains(&bytes, &form),
                "the database holds {secret:?} in plaintext"
            );
        }
    }
}

async fn stored_to_device(server: &TestServer) -> i64 {
    server
        .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM to_device_messages")
        .await
        .unwrap()
        .parse()
        .unwrap()
}

async fn user(server: &TestServer, stem: &str) -> Messenger {
    let name = format!("{stem}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let device = DeviceDescription::new("phone", "android").unwrap();
    let mut m = Messenger::register(ApiClient::new(&server.base_url), &name, PASSWORD, &device)
        .await
        .unwrap();
    m.sync().await.unwrap();
    m
}

fn signals_of(received: &[ReceivedCallSignal]) -> Vec<CallSignal> {
    received.iter().map(|r| r.signal.clone()).collect()
}

async fn call_signalling_is_end_to_end_encrypted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut ann = user(&server, "ann").await;
    let mut bob = user(&server, "bob").await;
    let ann_id = ann.whoami().unwrap().user_id;
    let bob_id = bob.whoami().unwrap().user_id;
    let bob_name = bob.whoami().unwrap().username;
    let ann_name = ann.whoami().unwrap().username;
    let receipt = ann.send_text(&bob_name, "hello").await.unwrap();
    bob.sync().await.unwrap();
    bob.accept_request(&ann_name).await.unwrap();

    let canary = |what: &str| format!("zynk-sdp-{what}-{}", uuid::Uuid::new_v4().simple());
    let offer_sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns={}\r\n",
        canary("offer")
    );
    let answer_sdp = format!(
        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns={}\r\n",
        canary("answer")
    );
    let ann_candidate = format!(
        "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host {}",
        canary("c1")
    );
    let bob_candidate = format!(
        "candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host {}",
        canary("c2")
    );
    let secrets = vec![
        offer_sdp.clone(),
        answer_sdp.clone(),
        ann_candidate.clone(),
        bob_candidate.clone(),
    ];

    let call = ann
        .start_call(receipt.conversation_id, CallType::Video)
        .await
        .unwrap();
    assert_eq!(call.status, CallStatus::Initiated);
    let offer = CallSignal::Offer {
        call_id: call.call_id,
        sdp: offer_sdp.clone(),
    };
    let candidate = CallSignal::Candidate {
        call_id: call.call_id,
        candidate: ann_candidate.clone(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    };
    let warnings = ann.send_call_signal(&[bob_id], &offer).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    ann.send_call_signal(&[bob_id], &candidate).await.unwrap();
    // The offer waits in the server's to-device store, encrypted.
    assert!(stored_to_device(&server).await >= 2);
    assert_absent(&server, backend, &secrets);

    // Bob's device fetches the call (it rings) and reads the offer.
    let fetched = bob.call(call.call_id).await.unwrap();
    assert_eq!(fetched.status, CallStatus::Ringing);
    bob.sync().await.unwrap();
    let received = bob.take_call_signals();
    assert_eq!(
        signals_of(&received),
        vec![offer.clone(), candidate.clone()]
    );
    assert!(
        received
            .iter()
            .all(|r| r.sender_user_id == ann_id.to_string())
    );
    assert!(bob.take_call_signals().is_empty(), "taken once");

    let answered = bob.answer_call(call.call_id).await.unwrap();
    assert_eq!(answered.status, CallStatus::InProgress);
    let answer = CallSignal::Answer {
        call_id: call.call_id,
        sdp: answer_sdp.clone(),
    };
    let bob_cand = CallSignal::Candidate {
        call_id: call.call_id,
        candidate: bob_candidate.clone(),
        sdp_mid: None,
        sdp_m_line_index: Some(0),
    };
    bob.send_call_signal(&[ann_id], &answer).await.unwrap();
    bob.send_call_signal(&[ann_id], &bob_cand).await.unwrap();
    assert_absent(&server, backend, &secrets);
    ann.sync().await.unwrap();
    let received = ann.take_call_signals();
    assert_eq!(signals_of(&received), vec![answer, bob_cand]);
    assert!(
        received
            .iter()
            .all(|r| r.sender_user_id == bob_id.to_string())
    );

    bob.send_call_signal(
        &[ann_id],
        &CallSignal::Hangup {
            call_id: call.call_id,
        },
    )
    .await
    .unwrap();
    let ended = bob.end_call(call.call_id).await.unwrap();
    assert_eq!(ended.status, CallStatus::Ended);
    assert!(ended.duration_seconds.is_some());
    ann.sync().await.unwrap();
    assert_eq!(
        signals_of(&ann.take_call_signals()),
        vec![CallSignal::Hangup {
            call_id: call.call_id
        }]
    );
    let history = ann.calls(None, 10).await.unwrap();
    assert_eq!(history.calls[0].call_id, call.call_id);
    assert_absent(&server, backend, &secrets);

    // `zynk calls` on a new device of ann's.
    let laptop = common::Device::new(&server);
    laptop.ok(&["login", &ann_name]).await;
    let out = laptop.ok(&["calls", "--json"]).await;
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["call_id"], call.call_id.to_string());
    assert_eq!(lines[0]["call_type"], "video");
    assert_eq!(lines[0]["status"], "ended");
    assert_eq!(lines[0]["with"], serde_json::json!([bob_name]));
    assert!(lines[0]["started_at"].is_string());
    assert_eq!(
        lines[0]["duration_seconds"],
        ended.duration_seconds.unwrap()
    );
    let text = laptop.ok(&["calls"]).await;
    assert!(
        text.starts_with(&format!("{}  video  ended  {bob_name}  ", call.call_id)),
        "{text}"
    );
}
