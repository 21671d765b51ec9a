//! Low findings of the security review, each on both backends (see docs/operations.md for the
//! limits): identity caches follow key rotations on every node, …

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{Api, Backend, Identity, TestServer, backend_tests, eventually};

backend_tests!(a_rotation_refreshes_users_me_on_every_node);

fn rotation_body(did: &str, current: &Identity, next: &Identity) -> Value {
    let statement = zynk_proto::trust::rotation_signing_bytes(did, &next.public_bytes());
    let possession =
        zynk_proto::possession::rotate_bytes(did, &next.public_bytes(), &current.public_bytes());
    json!({
        "identity_key": next.public_key(),
        "signature": current.sign(&statement),
        "new_key_signature": next.sign(&possession),
    })
}

/// L9: `GET /users/me` shows the new identity key right after a rotation, on this node and on
/// another node that had the old one cached.
async fn a_rotation_refreshes_users_me_on_every_node(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let identity = Identity::random();
    let ann = api
        .register_with(&Api::username("ann"), identity.clone())
        .await;
    let other_node = match backend {
        Backend::Scale => Some(server.extra_node().await),
        Backend::Embedded => None,
    };
    let mut apis = vec![api.clone()];
    if let Some(node) = &other_node {
        apis.push(node.api());
    }
    // Every node caches the current key.
    for api in &apis {
        let (_, me) = api.get("/api/v1/users/me", &ann.access_token).await;
        assert_eq!(me["identity_key"], json!(identity.public_key()));
    }
    let next = Identity::random();
    let did = format!("did:zynk:{}", ann.user_id);
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/v1/users/me/identity-key",
            Some(&ann.access_token),
            Some(&rotation_body(&did, &identity, &next)),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // At once on the node that rotated.
    let (_, me) = api.get("/api/v1/users/me", &ann.access_token).await;
    assert_eq!(me["identity_key"], json!(next.public_key()));
    // Within moments (not the cache's minutes) on the other node.
    if let Some(node) = &other_node {
        let node_api = node.api();
        let token = ann.access_token.clone();
        let wanted = json!(next.public_key());
        eventually("the other node drops its cached key", || {
            let (node_api, token, wanted) = (node_api.clone(), token.clone(), wanted.clone());
            async move {
                let (_, me) = node_api.get("/api/v1/users/me", &token).await;
                (me["identity_key"] == wanted).then_some(())
            }
        })
        .await;
    }
}
