//! `POST /api/v1/users/me/password` on both backends: the old password is checked (through the
//! password gate), the new one and the identity backup are stored together, and the account's
//! other sessions end at once (tokens and WebSockets) unless `keep_other_sessions`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, Device, TestServer, WsClient, backend_tests, code};

backend_tests!(
    a_password_change_ends_other_sessions,
    a_password_change_can_keep_other_sessions
);

async fn change(api: &Api, token: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        "/api/v1/users/me/password",
        Some(token),
        Some(&body),
    )
    .await
}

async fn a_password_change_ends_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("pat");
    let pat = api.register(&name).await;
    let phone = api
        .login_ok(&name, &pat.password, Device::random("ios"))
        .await;
    let other = api.register(&Api::username("oli")).await;
    let mut phone_socket = WsClient::connect(&server.base_url, &phone.access_token).await;

    // Refusals: no token, wrong old password, short new password, a malformed backup.
    let body = json!({"old_password": pat.password, "new_password": "a new password"});
    let (status, _) = api
        .call(Method::POST, "/api/v1/users/me/password", None, Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, reply) = change(
        &api,
        &pat.access_token,
        json!({"old_password": "wrong password", "new_password": "a new password"}),
    )
    .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let (status, reply) = change(
        &api,
        &pat.access_token,
        json!({"old_password": pat.password, "new_password": "short"}),
    )
    .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_password")
    );
    let (status, reply) = change(
        &api,
        &pat.access_token,
        json!({"old_password": pat.password, "new_password": "a new password",
               "identity_backup": {"ciphertext": "%%%"}}),
    )
    .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    // Nothing changed so far.
    assert_eq!(
        api.get("/api/v1/users/me", &phone.access_token).await.0,
        StatusCode::OK
    );

    let (status, reply) = change(
        &api,
        &pat.access_token,
        json!({"old_password": pat.password, "new_password": "a new password",
               "identity_backup": {"ciphertext": "bmV3IGJhY2t1cA=="}}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    // The caller's session lives on, the phone's ended (token and socket), another user's
    // session is untouched.
    assert_eq!(
        api.get("/api/v1/users/me", &pat.access_token).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/v1/users/me", &phone.access_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Frames already queued (the hello) may come first; then the socket closes.
    let mut closed = false;
    for _ in 0..10 {
        if phone_socket.next().await.is_none() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the phone's WebSocket was closed");
    assert_eq!(
        api.get("/api/v1/users/me", &other.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": phone.refresh_token}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The backup was replaced with the password.
    let (_, backup) = api
        .get("/api/v1/users/me/identity-backup", &pat.access_token)
        .await;
    assert_eq!(backup["ciphertext"], json!("bmV3IGJhY2t1cA=="));
    // Old password out, new one in.
    let (status, _) = api
        .login(&name, &pat.password, &Device::random("web"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    api.login_ok(&name, "a new password", Device::random("web"))
        .await;
}

async fn a_password_change_can_keep_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("kim");
    let kim = api.register(&name).await;
    let phone = api
        .login_ok(&name, &kim.password, Device::random("android"))
        .await;
    let (status, reply) = change(
        &api,
        &kim.access_token,
        json!({"old_password": kim.password, "new_password": "another password",
               "keep_other_sessions": true}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    assert_eq!(
        api.get("/api/v1/users/me", &phone.access_token).await.0,
        StatusCode::OK
    );
    api.login_ok(&name, "another password", Device::random("web"))
        .await;
}
