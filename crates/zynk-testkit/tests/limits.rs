//! Rate limits: per address and endpoint, per user, and login attempts per username, on both
//! backends. Over the limit: 429 with `Retry-After` and the error body.

use reqwest::StatusCode;
use serde_json::json;
use zynk_testkit::{
    Api, Backend, Device, Identity, TestServer, backend_tests, code, register_json,
};

backend_tests!(
    per_address_endpoint_limit,
    per_user_limit,
    login_attempts_per_username,
    disabled_limits
);

async fn per_address_endpoint_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits
            .per_ip_endpoints
            .insert("/api/v1/auth/register".into(), 3);
    })
    .await;
    let api = server.api();
    for _ in 0..3 {
        api.register(&Api::username("reg")).await;
    }
    let (status, headers, body) = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            "application/json",
            register_json(
                &Api::username("reg"),
                "password123",
                &Identity::random(),
                &Device::random("web"),
            )
            .to_string()
            .into_bytes(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Other endpoints have their own counters.
    let (status, _) = api
        .post("/api/v1/auth/refresh", json!({"refresh_token": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn per_user_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.per_user = 5).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let ben = api.register(&Api::username("ben")).await;
    for _ in 0..5 {
        assert_eq!(
            api.get("/api/v1/users/me", &ann.access_token).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = api.get("/api/v1/users/me", &ann.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Another user on the same address is unaffected.
    assert_eq!(
        api.get("/api/v1/users/me", &ben.access_token).await.0,
        StatusCode::OK
    );
}

async fn login_attempts_per_username(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.login_per_username = 3).await;
    let api = server.api();
    let name = Api::username("cat");
    let cat = api.register(&name).await;
    for _ in 0..3 {
        assert_eq!(
            api.login(&name, "guess", &cat.device).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused now, under any case of the name.
    let (status, body) = api
        .login(&name.to_uppercase(), &cat.password, &cat.device)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Other usernames are not throttled.
    let dan_name = Api::username("dan");
    let dan = api.register(&dan_name).await;
    api.login_ok(&dan_name, &dan.password, dan.device.clone())
        .await;
}

async fn disabled_limits(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits.enabled = false;
        c.rate_limits.per_user = 1;
    })
    .await;
    let api = server.api();
    let eve = api.register(&Api::username("eve")).await;
    for _ in 0..5 {
        assert_eq!(
            api.get("/api/v1/users/me", &eve.access_token).await.0,
            StatusCode::OK
        );
    }
}
