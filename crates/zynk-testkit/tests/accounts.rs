//! Registration, login, profiles, privacy and account deletion, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zynk_testkit::{
    Api, Backend, Device, Identity, TestServer, backend_tests, code, random_key, register_json,
};

backend_tests!(
    register_returns_tokens_and_me_works,
    duplicate_username_in_another_case_is_rejected,
    invalid_registrations_are_rejected_with_codes,
    login_on_second_device_and_same_device,
    login_denials,
    fingerprint_of_another_account_is_rejected,
    profile_and_privacy_round_trip,
    public_profiles_respect_privacy,
    account_deletion_removes_everything,
    old_password_hashes_are_upgraded_at_login,
);

async fn register_returns_tokens_and_me_works(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("Alice");
    let alice = api.register(&name).await;
    assert!(alice.access_token.starts_with("zat_") && alice.access_token.len() == 47);
    assert!(alice.refresh_token.starts_with("zrt_"));
    let (status, me) = api.get("/api/v1/users/me", &alice.access_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], alice.user_id.as_str());
    assert_eq!(me["username"], name.as_str());
    assert_eq!(me["device_id"], alice.device_id.as_str());
    // Tokens are stored only as hashes.
    let stored = server
        .sql_text("SELECT session_token FROM sessions LIMIT 1")
        .await
        .expect("a session row");
    assert_eq!(stored.len(), 64);
    assert_ne!(stored, alice.access_token);
    let hash = server
        .sql_text("SELECT password_hash FROM users LIMIT 1")
        .await
        .unwrap();
    assert!(hash.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{hash}");
}

async fn duplicate_username_in_another_case_is_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("Bob");
    api.register(&name).await;
    for variant in [name.clone(), name.to_uppercase(), name.to_lowercase()] {
        let (status, body) = api
            .post(
                "/api/v1/auth/register",
                register_json(
                    &variant,
                    "password123",
                    &Identity::random(),
                    &Device::random("ios"),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "username_taken");
    }
}

async fn invalid_registrations_are_rejected_with_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let good = || {
        register_json(
            &Api::username("carol"),
            "password123",
            &Identity::random(),
            &Device::random("android"),
        )
    };
    let padded_key = format!("{}=", random_key());
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "short username",
            {
                let mut b = good();
                b["username"] = json!("ab");
                b
            },
            "invalid_username",
        ),
        (
            "bad chars",
            {
                let mut b = good();
                b["username"] = json!("bad name!");
                b
            },
            "invalid_username",
        ),
        (
            "long username",
            {
                let mut b = good();
                b["username"] = json!("a".repeat(65));
                b
            },
            "invalid_username",
        ),
        (
            "short password",
            {
                let mut b = good();
                b["password"] = json!("short");
                b
            },
            "invalid_password",
        ),
        (
            "huge password",
            {
                let mut b = good();
                b["password"] = json!("p".repeat(1025));
                b
            },
            "invalid_password",
        ),
        (
            "padded key",
            {
                let mut b = good();
                b["identity_key"] = json!(padded_key);
                b
            },
            "invalid_key",
        ),
        (
            "not base64",
            {
                let mut b = good();
                b["identity_key"] = json!("!".repeat(43));
                b
            },
            "invalid_key",
        ),
        (
            "short key",
            {
                let mut b = good();
                b["identity_key"] = json!("AAAA");
                b
            },
            "invalid_key",
        ),
        (
            "device key",
            {
                let mut b = good();
                b["device"]["public_key"] = json!("xyz");
                b
            },
            "invalid_key",
        ),
        (
            "platform",
            {
                let mut b = good();
                b["device"]["platform"] = json!("windows");
                b
            },
            "invalid_platform",
        ),
        (
            "fingerprint",
            {
                let mut b = good();
                b["device"]["fingerprint"] = json!("f".repeat(65));
                b
            },
            "invalid_field",
        ),
        (
            "device name",
            {
                let mut b = good();
                b["device"]["name"] = json!("");
                b
            },
            "invalid_field",
        ),
        (
            "missing field",
            {
                let mut b = good();
                b.as_object_mut().unwrap().remove("password");
                b
            },
            "invalid_json",
        ),
        (
            "unknown field",
            {
                let mut b = good();
                b["admin"] = json!(true);
                b
            },
            "invalid_json",
        ),
        (
            "wrong type",
            {
                let mut b = good();
                b["username"] = json!(42);
                b
            },
            "invalid_json",
        ),
    ];
    for (what, body, expected) in cases {
        let (status, reply) = api.post("/api/v1/auth/register", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
        assert_eq!(code(&reply), expected, "{what}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Malformed JSON, wrong media type, oversize and over-deep bodies.
    let (status, _, reply) = api
        .raw(
            Method::POST,
            "/api/v1/auth/register",
            "application/json",
            b"{\"username\":".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let (status, _, reply) = api
        .raw(
            Method::POST,
            "/api/v1/auth/register",
            "text/plain",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let huge = format!("{{\"username\":\"{}\"}}", "a".repeat(200 * 1024));
    let (status, _, reply) = api
        .raw(
            Method::POST,
            "/api/v1/auth/register",
            "application/json",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let deep = format!("{{\"username\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let (status, _, reply) = api
        .raw(
            Method::POST,
            "/api/v1/auth/register",
            "application/json",
            deep.into_bytes(),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "json_too_deep")
    );
    // Nothing was half-written.
    assert_eq!(
        server
            .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM users")
            .await
            .as_deref(),
        Some("0")
    );
}

async fn login_on_second_device_and_same_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("dave");
    let first = api.register(&name).await;
    // A new fingerprint registers a second device, with a new session.
    let second = api
        .login_ok(
            &name.to_uppercase(),
            &first.password,
            Device::random("android"),
        )
        .await;
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(second.device_id, first.device_id);
    assert_ne!(second.access_token, first.access_token);
    // Logging in again on the first device reuses it.
    let again = api
        .login_ok(&name, &first.password, first.device.clone())
        .await;
    assert_eq!(again.device_id, first.device_id);
    let (status, devices) = api.get("/api/v1/devices", &second.access_token).await;
    assert_eq!(status, StatusCode::OK);
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let current: Vec<_> = devices.iter().filter(|d| d["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device_id"], second.device_id.as_str());
    // All three sessions work.
    for token in [
        &first.access_token,
        &second.access_token,
        &again.access_token,
    ] {
        assert_eq!(api.get("/api/v1/users/me", token).await.0, StatusCode::OK);
    }
}

async fn login_denials(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("erin");
    api.register(&name).await;
    let (status, body) = api
        .login(&name, "wrong password", &Device::random("web"))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let (status, body) = api
        .login("nobody_here", "wrong password", &Device::random("web"))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let mut device = Device::random("web");
    device.platform = "beos".into();
    let (status, body) = api.login(&name, "correct horse battery", &device).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_platform")
    );
    // No token, a malformed one, an unknown one.
    let (status, body) = api.call(Method::GET, "/api/v1/users/me", None, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    for token in ["garbage", "zat_short", &format!("zat_{}", "A".repeat(43))] {
        let (status, body) = api.get("/api/v1/users/me", token).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{token}"
        );
    }
    // A refresh token is not an access token.
    let other = api.register(&Api::username("frank")).await;
    let (status, _) = api.get("/api/v1/users/me", &other.refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn fingerprint_of_another_account_is_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let gina = api.register(&Api::username("gina")).await;
    let hank_name = Api::username("hank");
    let hank = api.register(&hank_name).await;
    let (status, body) = api.login(&hank_name, &hank.password, &gina.device).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "device_fingerprint_taken")
    );
    let (status, body) = api
        .post(
            "/api/v1/auth/register",
            register_json(
                &Api::username("ivan"),
                "password123",
                &Identity::random(),
                &gina.device,
            ),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "device_fingerprint_taken")
    );
}

async fn profile_and_privacy_round_trip(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let jo = api.register(&Api::username("jo")).await;
    let t = jo.access_token.as_str();
    let (status, profile) = api.get("/api/v1/users/me/profile", t).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["display_name"], serde_json::Value::Null);
    assert_eq!(
        profile["privacy"],
        json!({"show_online_status": true, "show_last_seen": true,
               "allow_read_receipts": true, "allow_proximity_discovery": true,
               "who_can_message": "everyone"})
    );
    let (status, updated) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/profile",
            Some(t),
            Some(&json!({"display_name": "Jo Ann", "bio": "b".repeat(500),
                           "avatar_url": "https://example.org/jo.png"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["display_name"], "Jo Ann");
    // Absent fields stay, null clears.
    let (_, updated) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/profile",
            Some(t),
            Some(&json!({"bio": null})),
        )
        .await;
    assert_eq!(updated["bio"], serde_json::Value::Null);
    assert_eq!(updated["display_name"], "Jo Ann");
    for (body, expected) in [
        (json!({"bio": "b".repeat(501)}), "invalid_field"),
        (
            json!({"avatar_url": "javascript:alert(1)"}),
            "invalid_field",
        ),
        (json!({"display_name": "x".repeat(256)}), "invalid_field"),
        (json!({"nickname": "x"}), "invalid_json"),
    ] {
        let (status, reply) = api
            .call(
                Method::PATCH,
                "/api/v1/users/me/profile",
                Some(t),
                Some(&body),
            )
            .await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::BAD_REQUEST, expected),
            "{body}"
        );
    }
    let (status, privacy) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(t),
            Some(&json!({"show_last_seen": false, "allow_read_receipts": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        privacy,
        json!({"show_online_status": true, "show_last_seen": false,
               "allow_read_receipts": false, "allow_proximity_discovery": true,
               "who_can_message": "everyone"})
    );
    let (_, privacy) = api.get("/api/v1/users/me/privacy", t).await;
    assert_eq!(privacy["show_last_seen"], false);
    let (status, privacy) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(t),
            Some(&json!({"who_can_message": "contacts"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(privacy["who_can_message"], "contacts");
    assert_eq!(privacy["show_last_seen"], false, "the others stay");
    let (_, privacy) = api.get("/api/v1/users/me/privacy", t).await;
    assert_eq!(privacy["who_can_message"], "contacts");
    let (status, reply) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(t),
            Some(&json!({"who_can_message": "friends"})),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let (_, privacy) = api.get("/api/v1/users/me/privacy", t).await;
    assert_eq!(privacy["who_can_message"], "contacts", "nothing changed");
    let (status, reply) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(t),
            Some(&json!({"show_last_seen": "no"})),
        )
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    // Without a token nothing is readable or writable.
    for (method, path) in [
        (Method::GET, "/api/v1/users/me/profile"),
        (Method::GET, "/api/v1/users/me/privacy"),
    ] {
        assert_eq!(
            api.call(method, path, None, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/profile",
            None,
            Some(&json!({"bio": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn public_profiles_respect_privacy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let kim_name = Api::username("Kim");
    let kim = api.register(&kim_name).await;
    let lee = api.register(&Api::username("lee")).await;
    // Kim has been active (registration counts as a use once she calls the API).
    api.get("/api/v1/users/me", &kim.access_token).await;
    let (status, seen) = api
        .get(&format!("/api/v1/users/{}", kim.user_id), &lee.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["username"], kim_name.as_str());
    assert!(seen["last_seen_at"].is_string(), "{seen}");
    assert!(seen.get("privacy").is_none() && seen.get("password_hash").is_none());
    api.call(
        Method::PATCH,
        "/api/v1/users/me/privacy",
        Some(&kim.access_token),
        Some(&json!({"show_last_seen": false})),
    )
    .await;
    let (_, seen) = api
        .get(
            &format!("/api/v1/users/by-username/{}", kim_name.to_lowercase()),
            &lee.access_token,
        )
        .await;
    assert_eq!(seen["user_id"], kim.user_id.as_str());
    assert_eq!(seen["last_seen_at"], serde_json::Value::Null);
    // Unknown users, malformed ids, and anonymous callers.
    let (status, body) = api
        .get(
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            &lee.access_token,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = api.get("/api/v1/users/not-a-uuid", &lee.access_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .get("/api/v1/users/by-username/nobody_at_all", &lee.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/api/v1/users/{}", kim.user_id),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn account_deletion_removes_everything(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let name = Api::username("mia");
    let mia = api.register(&name).await;
    let phone = api
        .login_ok(&name, &mia.password, Device::random("ios"))
        .await;
    let ned = api.register(&Api::username("ned")).await;
    // Wrong password: nothing happens.
    let (status, body) = api
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&mia.access_token),
            Some(&json!({"password": "nope"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(
        api.get("/api/v1/users/me", &mia.access_token).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&mia.access_token),
            Some(&json!({"password": mia.password})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Every session of every device is dead at once; refresh tokens too.
    for token in [&mia.access_token, &phone.access_token] {
        let (status, body) = api.get("/api/v1/users/me", token).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
    }
    let (status, _) = api
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": phone.refresh_token}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.login(&name, &mia.password, &mia.device).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .get(&format!("/api/v1/users/{}", mia.user_id), &ned.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let uid = server.sql_uuid(mia.user_id.parse().unwrap());
    for table in [
        "users WHERE id",
        "user_profiles WHERE user_id",
        "devices WHERE user_id",
        "sessions WHERE user_id",
    ] {
        let count = server
            .sql_text(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM {table} = {uid}"
            ))
            .await;
        assert_eq!(count.as_deref(), Some("0"), "{table}");
    }
    // The username and the device fingerprints are free again; other users are untouched.
    let again = api.register(&name).await;
    assert_ne!(again.user_id, mia.user_id);
    api.login_ok(&name, &again.password, mia.device.clone())
        .await;
    assert_eq!(
        api.get("/api/v1/users/me", &ned.access_token).await.0,
        StatusCode::OK
    );
}

async fn old_password_hashes_are_upgraded_at_login(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let name = Api::username("olga");
    let olga = server.api().register(&name).await;
    let before = server
        .sql_text("SELECT password_hash FROM users")
        .await
        .unwrap();
    assert!(before.starts_with("$pbkdf2-sha256$i=1000,"), "{before}");
    server
        .restart_with(|c| c.auth.pbkdf2_iterations = 2_000)
        .await;
    let api = server.api();
    api.login_ok(&name, &olga.password, olga.device.clone())
        .await;
    let after = server
        .sql_text("SELECT password_hash FROM users")
        .await
        .unwrap();
    assert!(after.starts_with("$pbkdf2-sha256$i=2000,"), "{after}");
    // The upgraded hash still verifies; a wrong password still fails.
    api.login_ok(&name, &olga.password, olga.device.clone())
        .await;
    assert_eq!(
        api.login(&name, "wrong", &olga.device).await.0,
        StatusCode::UNAUTHORIZED
    );
}
