//! Proof of possession of identity and device keys, on both backends: registering with another
//! user's identity (or device) key fails, so the ledger and credentials only ever name keys
//! whose holder signed; logins and rotations carry the device's and the new key's signatures.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_testkit::{
    Api, Backend, Device, Identity, TestServer, backend_tests, code, login_json, register_json,
};

backend_tests!(
    registering_with_another_users_key_fails,
    logins_need_the_device_keys_signature,
    rotations_need_the_new_keys_signature
);

async fn post(api: &Api, path: &str, body: Value) -> (StatusCode, String, String) {
    let (status, reply) = api.post(path, body).await;
    let message = reply["error"]["message"].as_str().unwrap_or("").to_owned();
    (status, code(&reply).to_owned(), message)
}

async fn registering_with_another_users_key_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann_identity = Identity::random();
    let ann_name = Api::username("ann");
    let ann_device = Device::random("web");
    let ann_body = register_json(
        &ann_name,
        "correct horse battery",
        &ann_identity,
        &ann_device,
    );
    let (status, reply) = api.post("/api/v1/auth/register", ann_body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let ann_token = reply["access_token"].as_str().unwrap().to_owned();

    let mallory = Identity::random();
    let mal_name = Api::username("mal");
    let squat = |identity_key: String, identity_signature: Option<String>, device: &Device| {
        let mut body = register_json(&mal_name, "correct horse battery", &mallory, device);
        body["identity_key"] = json!(identity_key);
        match identity_signature {
            Some(sig) => body["identity_signature"] = json!(sig),
            None => {
                body.as_object_mut().unwrap().remove("identity_signature");
            }
        }
        body
    };
    // Ann's public key with no proof, with Mallory's signature, with Ann's signature over
    // Ann's own statement (replayed under another name).
    let cases = [
        (
            "no proof",
            squat(ann_identity.public_key(), None, &Device::random("web")),
            "is required",
        ),
        (
            "mallory's signature",
            {
                let device = Device::random("web");
                let statement = zynk_proto::possession::register_bytes(
                    &mal_name,
                    &ann_identity.public_bytes(),
                    &device.key.public_bytes(),
                );
                squat(
                    ann_identity.public_key(),
                    Some(mallory.sign(&statement)),
                    &device,
                )
            },
            "does not verify",
        ),
        (
            "ann's replayed signature",
            squat(
                ann_identity.public_key(),
                Some(ann_body["identity_signature"].as_str().unwrap().to_owned()),
                &Device::random("web"),
            ),
            "does not verify",
        ),
        (
            "a malformed signature",
            squat(
                ann_identity.public_key(),
                Some("AAAA".into()),
                &Device::random("web"),
            ),
            "64 bytes",
        ),
    ];
    for (what, body, wanted) in cases {
        let (status, code, message) = post(&api, "/api/v1/auth/register", body).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_signature"),
            "{what}: {message}"
        );
        assert!(message.contains("identity_signature"), "{what}: {message}");
        assert!(message.contains(wanted), "{what}: {message}");
    }
    // Ann's device key, signed for by another key, is refused too; so is a missing device proof.
    let mut stolen_device = Device::random("web");
    stolen_device.public_key = ann_device.public_key.clone();
    let (status, code, message) = post(
        &api,
        "/api/v1/auth/register",
        register_json(&mal_name, "correct horse battery", &mallory, &stolen_device),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{message}"
    );
    assert!(message.contains("device_signature"), "{message}");
    let mut body = register_json(
        &mal_name,
        "correct horse battery",
        &mallory,
        &Device::random("web"),
    );
    body.as_object_mut().unwrap().remove("device_signature");
    let (status, code, _) = post(&api, "/api/v1/auth/register", body).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );

    // Nothing of the attempts was recorded: Ann's keys belong to Ann alone, and Mallory's name
    // is still free, for her own key.
    let count = |sql: String| {
        let server = &server;
        async move { server.sql_text(&sql).await }
    };
    let ann_key_users = count(format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM users WHERE public_key = '{}'",
        ann_identity.public_key()
    ))
    .await;
    assert_eq!(ann_key_users.as_deref(), Some("1"));
    let ann_device_rows = count(format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM devices WHERE public_key = '{}'",
        ann_device.public_key
    ))
    .await;
    assert_eq!(ann_device_rows.as_deref(), Some("1"));
    let mal = api.register_with(&mal_name, mallory.clone()).await;
    // The ledger names each account's own key, and so do the credentials.
    for (user_id, token, identity) in [
        (
            reply["user_id"].as_str().unwrap().to_owned(),
            ann_token.clone(),
            &ann_identity,
        ),
        (mal.user_id.clone(), mal.access_token.clone(), &mallory),
    ] {
        let key = identity.public_key();
        let (status, user) = api
            .get(&format!("/api/v1/users/{user_id}"), &ann_token)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(user["identity_key"], json!(key));
        let (status, credential) = api
            .call(Method::POST, "/api/v1/credentials", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{credential}");
        let jwt = credential["jwt"].as_str().unwrap();
        let payload: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let multibase =
            zynk_ledger::Ed25519PublicKey::from(&identity.key.verifying_key()).to_multibase();
        assert_eq!(
            payload["vc"]["credentialSubject"]["identityKey"],
            json!(multibase)
        );
    }
    let (status, document) = api
        .get(
            &format!("/api/v1/identities/did:zynk:{}", mal.user_id),
            &ann_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    let ann_multibase =
        zynk_ledger::Ed25519PublicKey::from(&ann_identity.key.verifying_key()).to_multibase();
    assert!(!document.to_string().contains(&ann_multibase), "{document}");
    let mal_multibase =
        zynk_ledger::Ed25519PublicKey::from(&mallory.key.verifying_key()).to_multibase();
    assert!(document.to_string().contains(&mal_multibase), "{document}");
}

async fn logins_need_the_device_keys_signature(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("lou");
    let lou = api.register(&name).await;
    let phone = Device::random("ios");
    // No proof.
    let mut body = login_json(&name, &lou.password, &phone);
    body.as_object_mut().unwrap().remove("device_signature");
    let (status, code, message) = post(&api, "/api/v1/auth/login", body).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    assert!(message.contains("device_signature"), "{message}");
    // Someone else's device key (Lou's first device), signed by another key.
    let mut stolen = Device::random("ios");
    stolen.public_key = lou.device.public_key.clone();
    let (status, code, _) = post(
        &api,
        "/api/v1/auth/login",
        login_json(&name, &lou.password, &stolen),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    // A statement for another username does not pass either.
    let mut body = login_json(&name, &lou.password, &phone);
    let other = zynk_proto::possession::login_bytes("someone_else", &phone.key.public_bytes());
    body["device_signature"] = json!(phone.key.sign(&other));
    let (status, code, _) = post(&api, "/api/v1/auth/login", body).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    // No device was added by the refused attempts; the proper login works.
    let (_, devices) = api.get("/api/v1/devices", &lou.access_token).await;
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "{devices}");
    api.login_ok(&name, &lou.password, phone).await;
}

async fn rotations_need_the_new_keys_signature(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let identity = Identity::random();
    let rae = api
        .register_with(&Api::username("rae"), identity.clone())
        .await;
    let did = format!("did:zynk:{}", rae.user_id);
    let next = Identity::random();
    let statement = zynk_proto::trust::rotation_signing_bytes(&did, &next.public_bytes());
    let possession =
        zynk_proto::possession::rotate_bytes(&did, &next.public_bytes(), &identity.public_bytes());
    let put = |body: Value| {
        let (api, token) = (api.clone(), rae.access_token.clone());
        async move {
            api.call(
                Method::PUT,
                "/api/v1/users/me/identity-key",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let base = json!({"identity_key": next.public_key(), "signature": identity.sign(&statement)});
    // Without the new key's proof; with a proof by another key.
    let (status, body) = put(base.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    assert!(body.to_string().contains("new_key_signature"), "{body}");
    let mut forged = base.clone();
    forged["new_key_signature"] = json!(Identity::random().sign(&possession));
    let (status, body) = put(forged).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    let (_, me) = api.get("/api/v1/users/me", &rae.access_token).await;
    assert_eq!(me["identity_key"], json!(identity.public_key()));
    // With it: rotated.
    let mut proper = base;
    proper["new_key_signature"] = json!(next.sign(&possession));
    let (status, body) = put(proper).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, user) = api
        .get(&format!("/api/v1/users/{}", rae.user_id), &rae.access_token)
        .await;
    assert_eq!(user["identity_key"], json!(next.public_key()));
}
