//! Cross-cutting API behaviour: health, readiness, metrics, OpenAPI, unknown routes and
//! methods, on both backends.

use reqwest::{Method, StatusCode};
use zynk_testkit::{Api, Backend, TestServer, backend_tests, code};

backend_tests!(
    health_readiness_and_metrics,
    openapi_document_lists_the_fixed_routes,
    unknown_routes_and_methods
);

async fn health_readiness_and_metrics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let (status, body) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let expected = match backend {
        Backend::Embedded => ("sqlite", "memory"),
        Backend::Scale => ("postgres", "redis"),
    };
    assert_eq!(
        (body["database"].as_str(), body["ephemeral"].as_str()),
        (Some(expected.0), Some(expected.1))
    );
    let alice = api.register(&Api::username("metrics")).await;
    api.get("/api/v1/users/me", &alice.access_token).await;
    let text = reqwest::get(format!("{}/metrics", server.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("zynk_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/users/me\""), "{text}");
    assert!(!text.contains(&alice.access_token));
}

async fn openapi_document_lists_the_fixed_routes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server
        .api()
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for (path, method) in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/devices", "get"),
        ("/api/v1/sessions", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let register = &doc["components"]["schemas"]["RegisterRequest"]["properties"];
    for field in [
        "username",
        "password",
        "identity_key",
        "device",
        "identity_signature",
        "device_signature",
    ] {
        assert!(register[field].is_object(), "RegisterRequest.{field}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn unknown_routes_and_methods(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let (status, body) = api.call(Method::GET, "/api/v1/nope", None, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "route_not_found")
    );
    let (status, body) = api
        .call(Method::GET, "/api/v1/auth/register", None, None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
