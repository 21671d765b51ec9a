//! Conversations, messages (idempotent sends, sequence numbers, history, relations,
//! self-destruct) and receipts, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zynk_testkit::{
    Api, Backend, Registered, TestServer, backend_tests, ciphertext, code, message_body,
};

backend_tests!(
    one_to_one_conversations,
    sends_are_idempotent_and_ordered,
    send_denials,
    history_pages,
    edits_reactions_and_deletes,
    self_destructing_messages_disappear,
    receipts_move_forward_and_respect_privacy,
);

struct Pair {
    server: TestServer,
    api: Api,
    ann: Registered,
    bob: Registered,
    conversation: String,
}

async fn pair(backend: Backend) -> Pair {
    let server = TestServer::start_with(backend, |c| c.retention.expiry_interval_ms = 50).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let conversation = api.open_conversation(&ann.access_token, &bob.user_id).await;
    Pair {
        server,
        api,
        ann,
        bob,
        conversation,
    }
}

fn messages_path(conversation: &str) -> String {
    format!("/api/v1/conversations/{conversation}/messages")
}

async fn one_to_one_conversations(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    // Opening again, from either side, gives the same conversation with 200.
    let body = json!({"type": "one_to_one", "participant": ann.user_id});
    let (status, again) = api
        .call(
            Method::POST,
            "/api/v1/conversations",
            Some(&bob.access_token),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["conversation_id"], conversation.as_str());
    assert_eq!(again["type"], "one_to_one");
    assert_eq!(again["participants"].as_array().unwrap().len(), 2);
    for (body, expected) in [
        (
            json!({"type": "one_to_one", "participant": ann.user_id}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"type": "group", "participant": bob.user_id}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"type": "one_to_one", "participant": uuid::Uuid::new_v4()}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, _) = api
            .call(
                Method::POST,
                "/api/v1/conversations",
                Some(&ann.access_token),
                Some(&body),
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }
    // Listing with unread counts.
    api.send_message(&bob.access_token, &conversation, message_body("hi"))
        .await;
    api.send_message(&bob.access_token, &conversation, message_body("there"))
        .await;
    api.send_message(&ann.access_token, &conversation, message_body("yo"))
        .await;
    let (_, list) = api.get("/api/v1/conversations", &ann.access_token).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["last_seq"], 3);
    assert_eq!(list[0]["unread_count"], 2);
    let (_, bobs) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(bobs["unread_count"], 1);
    // A third user sees nothing.
    let eve = api.register(&Api::username("eve")).await;
    let (status, body) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &eve.access_token,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, none) = api.get("/api/v1/conversations", &eve.access_token).await;
    assert_eq!(none.as_array().unwrap().len(), 0);
}

async fn sends_are_idempotent_and_ordered(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    let body = message_body("first");
    let path = messages_path(&conversation);
    let (status, first) = api
        .call(Method::POST, &path, Some(&ann.access_token), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["created"], true);
    assert_eq!(first["message"]["seq"], 1);
    assert_eq!(first["message"]["sender_id"], ann.user_id.as_str());
    assert_eq!(first["message"]["sender_device_id"], ann.device_id.as_str());
    assert_eq!(
        first["message"]["encrypted_content"],
        body["encrypted_content"]
    );
    // A retry stores nothing new.
    let (status, retry) = api
        .call(Method::POST, &path, Some(&ann.access_token), Some(&body))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retry["created"], false);
    assert_eq!(retry["message"]["seq"], 1);
    // The same id with other content, or from another sender, is a conflict.
    let mut other = message_body("other");
    other["message_id"] = body["message_id"].clone();
    let (status, reply) = api
        .call(Method::POST, &path, Some(&ann.access_token), Some(&other))
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::CONFLICT, "message_id_conflict")
    );
    let (status, _) = api
        .call(Method::POST, &path, Some(&bob.access_token), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Concurrent sends get distinct, gapless sequence numbers.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (api, path) = (api.clone(), path.clone());
            let token = if i % 2 == 0 {
                ann.access_token.clone()
            } else {
                bob.access_token.clone()
            };
            tokio::spawn(async move {
                let (status, reply) = api
                    .call(
                        Method::POST,
                        &path,
                        Some(&token),
                        Some(&message_body(&format!("m{i}"))),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{reply}");
                reply["message"]["seq"].as_i64().unwrap()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (2..=41).collect::<Vec<i64>>());
}

async fn send_denials(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    let path = messages_path(&conversation);
    let eve = api.register(&Api::username("eve")).await;
    let (status, body) = api
        .call(
            Method::POST,
            &path,
            Some(&eve.access_token),
            Some(&message_body("x")),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = api
        .call(Method::POST, &path, None, Some(&message_body("x")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut wrong_hash = message_body("x");
    wrong_hash["content_hash"] = json!("0".repeat(64));
    let mut bad_type = message_body("x");
    bad_type["message_type"] = json!("sticker");
    let mut not_b64 = message_body("x");
    not_b64["encrypted_content"] = json!("***");
    let mut past = message_body("x");
    past["expires_at"] = json!("2020-01-01T00:00:00Z");
    let mut outsider_mention = message_body("x");
    outsider_mention["metadata"] = json!({"mentions": [eve.user_id]});
    let mut dangling = message_body("x");
    dangling["metadata"] =
        json!({"relation": {"type": "edit", "message_id": uuid::Uuid::new_v4()}});
    let mut unknown_field = message_body("x");
    unknown_field["sender_id"] = json!(bob.user_id);
    for (body, status_code, error) in [
        (wrong_hash, StatusCode::BAD_REQUEST, "content_hash_mismatch"),
        (bad_type, StatusCode::BAD_REQUEST, "invalid_field"),
        (not_b64, StatusCode::BAD_REQUEST, "invalid_field"),
        (past, StatusCode::BAD_REQUEST, "invalid_field"),
        (outsider_mention, StatusCode::BAD_REQUEST, "invalid_field"),
        (dangling, StatusCode::BAD_REQUEST, "invalid_relation"),
        (unknown_field, StatusCode::BAD_REQUEST, "invalid_json"),
    ] {
        let (status, reply) = api
            .call(Method::POST, &path, Some(&ann.access_token), Some(&body))
            .await;
        assert_eq!((status, code(&reply)), (status_code, error), "{body}");
    }
    // Oversize ciphertext.
    let big = vec![0u8; 64 * 1024 + 1];
    use base64::Engine;
    use sha2::Digest;
    let body = json!({"message_id": uuid::Uuid::new_v4(), "message_type": "text",
        "encrypted_content": base64::engine::general_purpose::STANDARD.encode(&big),
        "content_hash": hex::encode(sha2::Sha256::digest(&big))});
    let server_limit_ok = api
        .call(Method::POST, &path, Some(&ann.access_token), Some(&body))
        .await
        .0;
    assert_eq!(server_limit_ok, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was stored by any of these.
    let (_, page) = api.get(&path, &ann.access_token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 0);
    // Reading another conversation's message by id is not possible.
    let sent = api
        .send_message(&ann.access_token, &conversation, message_body("secret"))
        .await;
    let (status, _) = api
        .get(
            &format!("/api/v1/messages/{}", sent["message_id"].as_str().unwrap()),
            &eve.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, got) = api
        .get(
            &format!("/api/v1/messages/{}", sent["message_id"].as_str().unwrap()),
            &bob.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["seq"], 1);
    let (status, _) = api.get(&format!("{path}?after=0"), &eve.access_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn history_pages(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    for i in 1..=25 {
        api.send_message(
            &ann.access_token,
            &conversation,
            message_body(&format!("m{i}")),
        )
        .await;
    }
    let path = messages_path(&conversation);
    let seqs = |page: &serde_json::Value| -> Vec<i64> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };
    let (_, page) = api
        .get(&format!("{path}?after=0&limit=10"), &bob.access_token)
        .await;
    assert_eq!(seqs(&page), (1..=10).collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    let (_, page) = api
        .get(&format!("{path}?after=20&limit=10"), &bob.access_token)
        .await;
    assert_eq!(seqs(&page), (21..=25).collect::<Vec<_>>());
    assert_eq!(page["has_more"], false);
    let (_, page) = api
        .get(&format!("{path}?before=26&limit=5"), &bob.access_token)
        .await;
    assert_eq!(seqs(&page), (21..=25).collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    let (status, body) = api
        .get(&format!("{path}?after=1&before=5"), &bob.access_token)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
    let (status, _) = api
        .get(&format!("{path}?limit=abc"), &bob.access_token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn edits_reactions_and_deletes(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    let path = messages_path(&conversation);
    let original = api
        .send_message(&ann.access_token, &conversation, message_body("hello"))
        .await;
    let target = original["message_id"].as_str().unwrap().to_owned();
    let related = |kind: &str, text: &str| {
        let mut body = message_body(text);
        body["metadata"] = json!({"relation": {"type": kind, "message_id": target}});
        body
    };
    // Only the sender edits; anyone in the conversation reacts.
    let (status, body) = api
        .call(
            Method::POST,
            &path,
            Some(&bob.access_token),
            Some(&related("edit", "hacked")),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_relation")
    );
    let edit = api
        .send_message(&ann.access_token, &conversation, related("edit", "hello!"))
        .await;
    assert_eq!(edit["metadata"]["relation"]["type"], "edit");
    let reaction = api
        .send_message(&bob.access_token, &conversation, related("reaction", "👍"))
        .await;
    assert_eq!(reaction["seq"], 3);
    let mut reply = message_body("reply");
    reply["metadata"] = json!({"reply_to_id": target, "mentions": [ann.user_id]});
    let reply = api
        .send_message(&bob.access_token, &conversation, reply)
        .await;
    assert_eq!(reply["metadata"]["reply_to_id"], target.as_str());
    assert_eq!(reply["metadata"]["mentions"][0], ann.user_id.as_str());
    let (_, got) = api
        .get(&format!("/api/v1/messages/{target}"), &bob.access_token)
        .await;
    assert!(got["edited_at"].is_string(), "{got}");
    // Only the sender deletes; deletion wipes the stored ciphertext.
    let (status, _) = api
        .call(
            Method::POST,
            &path,
            Some(&bob.access_token),
            Some(&related("delete", "x")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    api.send_message(
        &ann.access_token,
        &conversation,
        related("delete", "delete"),
    )
    .await;
    let (_, got) = api
        .get(&format!("/api/v1/messages/{target}"), &bob.access_token)
        .await;
    assert!(got["deleted_at"].is_string());
    assert_eq!(got["encrypted_content"], "");
    // A deleted message can be neither edited nor reacted to.
    let (status, _) = api
        .call(
            Method::POST,
            &path,
            Some(&bob.access_token),
            Some(&related("reaction", "x")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Every event is in the history, in order.
    let (_, page) = api.get(&path, &bob.access_token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 5);
    let (original_ct, _) = ciphertext("hello");
    assert!(
        !page.to_string().contains(&original_ct),
        "the deleted ciphertext is gone"
    );
}

async fn self_destructing_messages_disappear(backend: Backend) {
    let Pair {
        server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    let mut body = message_body("burn after reading");
    body["expires_at"] =
        json!((chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339());
    let sent = api
        .send_message(&ann.access_token, &conversation, body)
        .await;
    let keep = api
        .send_message(&ann.access_token, &conversation, message_body("keep"))
        .await;
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/api/v1/messages/{id}"), &bob.access_token)
            .await
            .0,
        StatusCode::OK
    );
    // Wait (bounded) for the expiry job to remove it from the database.
    let uid = server.sql_uuid(id.parse().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = server
            .sql_text(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM message_refs WHERE id = {uid}"
            ))
            .await;
        if left.as_deref() == Some("0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the message never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let messages = server
        .sql_text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM messages WHERE id = {uid}"
        ))
        .await;
    assert_eq!(messages.as_deref(), Some("0"));
    assert_eq!(
        api.get(&format!("/api/v1/messages/{id}"), &bob.access_token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, page) = api
        .get(&messages_path(&conversation), &bob.access_token)
        .await;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [keep["message_id"].as_str().unwrap()]);
}

async fn receipts_move_forward_and_respect_privacy(backend: Backend) {
    let Pair {
        server: _server,
        api,
        ann,
        bob,
        conversation,
    } = pair(backend).await;
    for i in 0..5 {
        api.send_message(
            &ann.access_token,
            &conversation,
            message_body(&format!("m{i}")),
        )
        .await;
    }
    let receipts = format!("/api/v1/conversations/{conversation}/receipts");
    let post = |token: &str, body: serde_json::Value| {
        let (api, receipts, token) = (api.clone(), receipts.clone(), token.to_owned());
        async move {
            api.call(Method::POST, &receipts, Some(&token), Some(&body))
                .await
                .0
        }
    };
    assert_eq!(
        post(&bob.access_token, json!({"delivered_up_to": 3})).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post(&bob.access_token, json!({"read_up_to": 2})).await,
        StatusCode::NO_CONTENT
    );
    // Cursors never move back, and are clamped to the last message.
    assert_eq!(
        post(
            &bob.access_token,
            json!({"delivered_up_to": 1, "read_up_to": 99})
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let cursors = |conv: &serde_json::Value, user: &str| {
        let p = conv["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["user_id"] == user)
            .unwrap()
            .clone();
        (p["last_delivered_seq"].clone(), p["last_read_seq"].clone())
    };
    let (_, seen_by_ann) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &ann.access_token,
        )
        .await;
    assert_eq!(cursors(&seen_by_ann, &bob.user_id), (json!(5), json!(5)));
    let (_, bobs_view) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(bobs_view["unread_count"], 0);
    // With read receipts off, others no longer see Bob's read cursor (Bob still does).
    api.call(
        Method::PATCH,
        "/api/v1/users/me/privacy",
        Some(&bob.access_token),
        Some(&json!({"allow_read_receipts": false})),
    )
    .await;
    let (_, seen_by_ann) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &ann.access_token,
        )
        .await;
    assert_eq!(
        cursors(&seen_by_ann, &bob.user_id),
        (json!(5), serde_json::Value::Null)
    );
    let (_, bobs_view) = api
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &bob.access_token,
        )
        .await;
    assert_eq!(cursors(&bobs_view, &bob.user_id).1, json!(5));
    // Denials.
    let eve = api.register(&Api::username("eve")).await;
    assert_eq!(
        post(&eve.access_token, json!({"read_up_to": 1})).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&bob.access_token, json!({})).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&bob.access_token, json!({"read_up_to": -1})).await,
        StatusCode::BAD_REQUEST
    );
}
