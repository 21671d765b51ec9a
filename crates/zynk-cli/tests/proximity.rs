//! `zynk location set LAT LON`, `zynk location clear` and `zynk nearby [--json]`, through the
//! binary against a real server on both backends.

mod common;

use serde_json::Value;
use zynk_testkit::{Backend, TestServer, backend_tests};

use common::alice_and_bob;

backend_tests!(location_and_nearby_from_the_command_line);

async fn location_and_nearby_from_the_command_line(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, alice1, bob1) = alice_and_bob(&server).await;
    // Searching before sharing is refused with one clear line.
    let line = alice1.fails_with(&alice1.password, &["nearby"]).await;
    assert!(line.contains("location"), "{line}");
    // Negative coordinates are arguments, not flags (Rio de Janeiro).
    alice1
        .ok(&["location", "set", "-22.9068", "-43.1729"])
        .await;
    bob1.ok(&["location", "set", "-22.9300", "-43.1729"]).await;
    let plain = alice1.ok(&["nearby"]).await;
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 1, "{plain}");
    assert!(lines[0].starts_with(&format!("1-5km  {bob}  ")), "{plain}");
    let json: Value =
        serde_json::from_str(bob1.ok(&["nearby", "--json"]).await.trim()).expect("one object");
    assert_eq!(json["username"], alice.as_str());
    assert_eq!(json["distance"], "1-5km");
    assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
    // Out of range: refused before it leaves the client.
    let line = alice1
        .fails_with(&alice1.password, &["location", "set", "91", "0"])
        .await;
    assert!(line.contains("latitude"), "{line}");
    // Cleared: bob no longer sees alice.
    alice1.ok(&["location", "clear"]).await;
    assert_eq!(bob1.ok(&["nearby", "--json"]).await.trim(), "");
}
