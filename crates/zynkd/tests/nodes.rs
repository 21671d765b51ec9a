//! Two `zynkd` processes sharing one PostgreSQL and one Redis deliver to each other's clients
//! in real time.

mod common;

use common::Zynkd;
use serde_json::json;
use zynk_testkit::server::Storage;
use zynk_testkit::{Api, Backend, WsClient, message_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_postgres_and_redis() {
    let storage = Storage::create(Backend::Scale).await;
    let node_a = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
    let node_b = Zynkd::start(&storage, "127.0.0.1:0", &[]).await;
    let (api_a, api_b) = (Api::new(&node_a.base_url), Api::new(&node_b.base_url));
    let ann = api_a.register(&Api::username("ann")).await;
    let bob = api_b.register(&Api::username("bob")).await;
    // Sessions are shared: Ann's token works on node B too.
    assert_eq!(
        api_b.get("/api/v1/users/me", &ann.access_token).await.0,
        reqwest::StatusCode::OK
    );
    let mut ann_ws = WsClient::connect(&node_a.base_url, &ann.access_token).await;
    let mut bob_ws = WsClient::connect(&node_b.base_url, &bob.access_token).await;
    ann_ws.next_of("hello").await;
    bob_ws.next_of("hello").await;
    let conversation = api_b
        .open_conversation(&bob.access_token, &ann.user_id)
        .await;
    // B -> A, over HTTP on node B.
    for i in 0..10 {
        let sent = api_b
            .send_message(
                &bob.access_token,
                &conversation,
                message_body(&format!("{i}")),
            )
            .await;
        assert_eq!(ann_ws.next_of("message").await["message"], sent);
    }
    // A -> B, over the socket on node A.
    let body = message_body("hello from node a");
    ann_ws
        .send(json!({"type": "send", "request_id": "1", "conversation_id": conversation, "message": body}))
        .await;
    assert_eq!(ann_ws.next_of("sent").await["message"]["seq"], 11);
    loop {
        let frame = bob_ws.next_of("message").await;
        if frame["message"]["message_id"] == body["message_id"] {
            break;
        }
    }
    // Revoking a session on one node is seen by the other at once (shared Redis cache).
    api_a
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&ann.access_token),
            None,
        )
        .await;
    assert_eq!(
        api_b.get("/api/v1/users/me", &ann.access_token).await.0,
        reqwest::StatusCode::UNAUTHORIZED
    );
}
