//! Content-free push wake-ups through the webhook sender, on both backends: a participant's
//! device with a push token that is not connected gets one; a connected device does not; the
//! wake-up carries no sender, conversation or content.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zynk_testkit::{Api, Backend, Device, TestServer, WsClient, backend_tests, message_body};

backend_tests!(offline_devices_get_a_content_free_wake_up);

/// A webhook receiver on loopback that forwards every JSON body it gets.
async fn webhook() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/push"), rx)
}

async fn offline_devices_get_a_content_free_wake_up(backend: Backend) {
    let (url, mut wakeups) = webhook().await;
    let server = TestServer::start_with(backend, |c| c.push.webhook_url = Some(url)).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob_name = Api::username("bob");
    let bob_phone = api.register(&bob_name).await;
    let bob_tablet = api
        .login_ok(&bob_name, &bob_phone.password, Device::random("android"))
        .await;
    for (device, token, push) in [
        (&bob_phone.device_id, &bob_phone.access_token, "fcm:phone"),
        (
            &bob_tablet.device_id,
            &bob_tablet.access_token,
            "fcm:tablet",
        ),
    ] {
        let (status, _) = api
            .call(
                Method::PUT,
                &format!("/api/v1/devices/{device}/push-token"),
                Some(token),
                Some(&json!({"push_token": push})),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    }
    // The phone is connected; the tablet is not.
    let mut phone_ws = WsClient::connect(&server.base_url, &bob_phone.access_token).await;
    phone_ws.next_of("hello").await;
    let conversation = api
        .open_conversation(&ann.access_token, &bob_phone.user_id)
        .await;
    // Bob accepts ann first: a message request wakes no device (see the test below).
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/accept"),
            Some(&bob_phone.access_token),
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    api.send_message(&ann.access_token, &conversation, message_body("wake up"))
        .await;
    phone_ws.next_of("message").await;
    let wakeup = tokio::time::timeout(std::time::Duration::from_secs(15), wakeups.recv())
        .await
        .expect("a wake-up arrives")
        .expect("webhook running");
    assert_eq!(
        wakeup,
        json!({"push_token": "fcm:tablet", "device_id": bob_tablet.device_id, "reason": "new_activity"}),
        "only the tablet, with no content"
    );
    // Nothing else was sent (the phone is connected, Ann's own device sent the message).
    api.send_message(&ann.access_token, &conversation, message_body("again"))
        .await;
    phone_ws.next_of("message").await;
    assert!(wakeups.try_recv().is_err());
}
