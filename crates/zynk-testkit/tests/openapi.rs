//! The OpenAPI document against what the server does, for what schemathesis found (see
//! docs/testing.md, "Schemathesis"), on both backends: query parameters are documented in the
//! query (they were listed as required path parameters, so generated clients could not send
//! them), optional, and with the ranges the server enforces; `who_can_message` is documented as
//! its two values (it was any string, and the server refused all but two), and every closed
//! vocabulary with its wire spelling.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use zynk_testkit::{Api, Backend, TestServer, backend_tests, code};

backend_tests!(
    every_path_parameter_is_in_its_path_and_queries_are_in_the_query,
    the_call_page_limit_is_documented_as_enforced,
    who_can_message_is_documented_as_its_two_values
);

async fn document(server: &TestServer) -> Value {
    let (status, doc) = server
        .api()
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    doc
}

fn parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} has no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("GET {path} does not document `{name}`"))
}

async fn every_path_parameter_is_in_its_path_and_queries_are_in_the_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: `{name}` is documented as a path parameter"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20, "{checked} path parameters");
    for (path, names) in [
        ("/api/v1/calls", &["before", "limit"][..]),
        ("/api/v1/to-device", &["since", "limit"][..]),
        (
            "/api/v1/conversations/{conversation_id}/messages",
            &["after", "before", "limit"][..],
        ),
    ] {
        for name in names {
            let p = parameter(&doc, path, name);
            assert_eq!(p["in"], "query", "GET {path} `{name}`: {p}");
            assert_ne!(p["required"], true, "GET {path} `{name}` is optional: {p}");
        }
    }
}

async fn the_call_page_limit_is_documented_as_enforced(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    let schema = &parameter(&doc, "/api/v1/calls", "limit")["schema"];
    assert_eq!(
        (schema["minimum"].as_u64(), schema["maximum"].as_u64()),
        (Some(1), Some(100)),
        "{schema}"
    );
    let api = server.api();
    let alice = api.register(&Api::username("calls_page")).await;
    for (limit, want) in [
        ("1", StatusCode::OK),
        ("100", StatusCode::OK),
        ("0", StatusCode::BAD_REQUEST),
        ("101", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = api
            .get(&format!("/api/v1/calls?limit={limit}"), &alice.access_token)
            .await;
        assert_eq!(status, want, "limit={limit}: {body}");
        if want == StatusCode::BAD_REQUEST {
            assert_eq!(code(&body), "invalid_field", "{body}");
        }
    }
    // The inbox and history clamp their limits, as documented.
    let (status, body) = api
        .get("/api/v1/to-device?limit=100000", &alice.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every `enum` value reachable from `schema` (through `$ref`, `oneOf`, `anyOf`, `allOf`).
fn enum_values(doc: &Value, schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        out.extend(enum_values(doc, &doc["components"]["schemas"][name]));
    }
    for value in schema["enum"].as_array().into_iter().flatten() {
        if let Some(text) = value.as_str() {
            out.push(text.to_owned());
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for part in schema[key].as_array().into_iter().flatten() {
            out.extend(enum_values(doc, part));
        }
    }
    out
}

async fn who_can_message_is_documented_as_its_two_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = document(&server).await;
    for component in ["PrivacyUpdate", "PrivacySettings"] {
        let property = &doc["components"]["schemas"][component]["properties"]["who_can_message"];
        let mut values = enum_values(&doc, property);
        values.sort();
        assert_eq!(values, ["contacts", "everyone"], "{component}: {property}");
    }
    // Every closed vocabulary is documented with its wire spelling (they were the Rust variant
    // names: `Everyone`, `OneToOne`, ...).
    for vocabulary in ["WhoCanMessage", "ConversationKind", "MessageType"] {
        let schema = &doc["components"]["schemas"][vocabulary];
        if schema.is_null() && vocabulary != "WhoCanMessage" {
            continue; // not referenced as a schema of its own
        }
        let values = enum_values(&doc, schema);
        assert!(!values.is_empty(), "{vocabulary}: {schema}");
        for value in values {
            assert!(
                value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{vocabulary}: {value}"
            );
        }
    }
    let api = server.api();
    let alice = api.register(&Api::username("privacy_doc")).await;
    for (value, want) in [
        ("contacts", StatusCode::OK),
        ("everyone", StatusCode::OK),
        ("6", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = api
            .call(
                Method::PATCH,
                "/api/v1/users/me/privacy",
                Some(&alice.access_token),
                Some(&serde_json::json!({ "who_can_message": value })),
            )
            .await;
        assert_eq!(status, want, "{value}: {body}");
    }
}
