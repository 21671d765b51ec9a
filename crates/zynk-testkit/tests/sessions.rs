//! Tokens, refresh rotation with replay detection, logout, and revoking devices and sessions,
//! on both backends.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zynk_testkit::{Api, Backend, Device, TestServer, backend_tests, code};

backend_tests!(
    refresh_rotates_both_tokens,
    replayed_refresh_token_revokes_the_family,
    invalid_and_expired_refresh_tokens,
    expired_access_token_is_rejected,
    logout_kills_the_token_at_once,
    sessions_can_be_listed_and_revoked,
    devices_can_be_revoked_and_push_tokens_set,
);

async fn refresh(api: &Api, token: &str) -> (StatusCode, serde_json::Value) {
    api.post("/api/v1/auth/refresh", json!({"refresh_token": token}))
        .await
}

async fn refresh_rotates_both_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let pat = api.register(&Api::username("pat")).await;
    // Warm the session cache with the old access token.
    assert_eq!(
        api.get("/api/v1/users/me", &pat.access_token).await.0,
        StatusCode::OK
    );
    let (status, next) = refresh(&api, &pat.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(next["session_id"], pat.session_id.as_str());
    assert_eq!(next["device_id"], pat.device_id.as_str());
    let new_access = next["access_token"].as_str().unwrap();
    let new_refresh = next["refresh_token"].as_str().unwrap();
    assert_ne!(new_access, pat.access_token);
    assert_ne!(new_refresh, pat.refresh_token);
    assert_eq!(
        api.get("/api/v1/users/me", new_access).await.0,
        StatusCode::OK
    );
    let (status, body) = api.get("/api/v1/users/me", &pat.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    // The new refresh token rotates again.
    let (status, third) = refresh(&api, new_refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/users/me", third["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
}

async fn replayed_refresh_token_revokes_the_family(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("quinn");
    let quinn = api.register(&name).await;
    let other_device = api
        .login_ok(&name, &quinn.password, Device::random("android"))
        .await;
    // The thief rotates first...
    let (status, thief) = refresh(&api, &quinn.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let thief_access = thief["access_token"].as_str().unwrap().to_owned();
    let thief_refresh = thief["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/api/v1/users/me", &thief_access).await.0,
        StatusCode::OK
    );
    // ...then the victim presents the rotated token: replay detected, family revoked.
    let (status, body) = refresh(&api, &quinn.refresh_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    let (status, body) = api.get("/api/v1/users/me", &thief_access).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, body) = refresh(&api, &thief_refresh).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
    // A second replay is still refused; other sessions of the account live on.
    assert_eq!(
        refresh(&api, &quinn.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/api/v1/users/me", &other_device.access_token)
            .await
            .0,
        StatusCode::OK
    );
}

async fn invalid_and_expired_refresh_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let rae = api.register(&Api::username("rae")).await;
    for token in [
        "",
        "garbage",
        &format!("zrt_{}", "B".repeat(43)),
        &rae.access_token,
    ] {
        let (status, body) = refresh(&api, token).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_refresh_token"),
            "{token}"
        );
    }
    let (status, body) = api
        .post("/api/v1/auth/refresh", json!({"token": rae.refresh_token}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    server
        .sql(&format!(
            "UPDATE sessions SET refresh_expires_at = {}",
            server.sql_time_from_now(-60)
        ))
        .await;
    let (status, body) = refresh(&api, &rae.refresh_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
}

async fn expired_access_token_is_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let sam = api.register(&Api::username("sam")).await;
    // Expire the token in the store before its first use (so no cache entry exists).
    server
        .sql(&format!(
            "UPDATE sessions SET expires_at = {}",
            server.sql_time_from_now(-1)
        ))
        .await;
    let (status, body) = api.get("/api/v1/users/me", &sam.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    // Refreshing still works (the refresh token is valid) and yields a working token.
    let (status, next) = refresh(&api, &sam.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/users/me", next["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
}

async fn logout_kills_the_token_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let tom = api.register(&Api::username("tom")).await;
    assert_eq!(
        api.get("/api/v1/users/me", &tom.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tom.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("/api/v1/users/me", &tom.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert_eq!(
        refresh(&api, &tom.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = api
        .call(Method::POST, "/api/v1/auth/logout", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn sessions_can_be_listed_and_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("uma");
    let uma = api.register(&name).await;
    let laptop = api
        .login_ok(&name, &uma.password, Device::random("web"))
        .await;
    let vic = api.register(&Api::username("vic")).await;
    let (status, sessions) = api.get("/api/v1/sessions", &uma.access_token).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .any(|s| s["session_id"] == uma.session_id.as_str() && s["current"] == true)
    );
    // Another user's session cannot be revoked (and is not revealed).
    let (status, body) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{}", vic.session_id),
            Some(&uma.access_token),
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        api.get("/api/v1/users/me", &vic.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/sessions/not-a-uuid",
            Some(&uma.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Revoking the laptop session stops its tokens at once.
    assert_eq!(
        api.get("/api/v1/users/me", &laptop.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{}", laptop.session_id),
            Some(&uma.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/users/me", &laptop.access_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&api, &laptop.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, sessions) = api.get("/api/v1/sessions", &uma.access_token).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
}

async fn devices_can_be_revoked_and_push_tokens_set(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("wes");
    let wes = api.register(&name).await;
    let tablet = api
        .login_ok(&name, &wes.password, Device::random("android"))
        .await;
    let xia = api.register(&Api::username("xia")).await;
    let push = |device: &str| format!("/api/v1/devices/{device}/push-token");
    // Push tokens: own device yes, another user's device no, bad token no.
    let (status, _) = api
        .call(
            Method::PUT,
            &push(&wes.device_id),
            Some(&wes.access_token),
            Some(&json!({"push_token": "fcm:abc123"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, devices) = api.get("/api/v1/devices", &wes.access_token).await;
    let mine = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == wes.device_id.as_str())
        .unwrap();
    assert_eq!(mine["has_push_token"], true);
    assert!(
        devices.to_string().find("fcm:abc123").is_none(),
        "push tokens are never returned"
    );
    let (status, _) = api
        .call(
            Method::PUT,
            &push(&xia.device_id),
            Some(&wes.access_token),
            Some(&json!({"push_token": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .call(
            Method::PUT,
            &push(&wes.device_id),
            Some(&wes.access_token),
            Some(&json!({"push_token": "has space"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    let (status, _) = api
        .call(
            Method::PUT,
            &push(&wes.device_id),
            Some(&wes.access_token),
            Some(&json!({"push_token": null})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Another user's device cannot be revoked.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/devices/{}", xia.device_id),
            Some(&wes.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/api/v1/users/me", &xia.access_token).await.0,
        StatusCode::OK
    );
    // Revoking the tablet stops its sessions at once (its cached token included).
    assert_eq!(
        api.get("/api/v1/users/me", &tablet.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/devices/{}", tablet.device_id),
            Some(&wes.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/users/me", &tablet.access_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&api, &tablet.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, devices) = api.get("/api/v1/devices", &wes.access_token).await;
    assert_eq!(devices.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/api/v1/users/me", &wes.access_token).await.0,
        StatusCode::OK
    );
}
