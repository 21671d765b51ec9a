//! The authorization matrix: every HTTP route of the OpenAPI document and every client WebSocket
//! frame, called by every relation a caller can have to the thing it acts on, against the status
//! (or frame answer) each cell must give. Runs on both engines.
//!
//! # The fixture world
//!
//! One world per engine (and a fresh copy for each cell that succeeds on a row marked
//! [`World::Fresh`], so that a delete or a membership change cannot spoil the other cells):
//!
//! - `alice` owns everything: she opened the 1:1 conversation `{dm}` with `bob` (who accepted it)
//!   and sent `{msg}` and the file `{file}` there, and rings `bob` in the call `{call}`; she
//!   created the group `{group}` (conversation `{gconv}`, her message `{gmsg}`) with `carol`
//!   (promoted to admin), `frank` and `gus` (members) and `erin` (added, then removed); `dave`
//!   opened a 1:1 with her (`{dm}` for him: she accepted it, sent `{msg}` and `{file}` there),
//!   then she blocked him. `hank` opened a 1:1 with her that she has not answered: the message
//!   request `{request}`. She has a second live device (`{spare_device}`, `{spare_session}`)
//!   and a third one she revoked, whose access token the `rev` column uses.
//! - `mallory` shares nothing with anyone.
//!
//! # Columns (caller relations)
//!
//! | column | caller |
//! |---|---|
//! | `own` | alice: the owner (creator, uploader, caller of the call, the user targeted, or simply oneself for `/me` routes) |
//! | `par` | bob: the other participant of the 1:1 `{dm}` and callee of `{call}` |
//! | `mem` | frank: a plain member of `{group}` |
//! | `adm` | carol: an admin (not the creator) of `{group}` |
//! | `str` | mallory: a stranger |
//! | `blk` | dave: blocked by alice; for him `{dm}`, `{msg}` and `{file}` are those of his 1:1 with her |
//! | `rem` | erin: removed from `{group}` |
//! | `rev` | alice's revoked device (its access token; for the frames, a socket opened before the revocation) |
//! | `none` | no `Authorization` header |
//! | `bad` | `Authorization: Bearer not-a-token` |
//!
//! A cell is a status (`204`), `-` where the relation does not apply to the row (nothing is run),
//! and for frames: `ok` (no error; `sent` for a send), an error code (`not_found`), `closed`
//! (the server closes the socket without answering) or an HTTP status for a refused upgrade.
//!
//! # Adding a row
//!
//! A new route fails `every_route_is_in_the_matrix` until it has a row in [`ROUTES`]: write the
//! route as the OpenAPI document names it (`"PUT /api/v1/location"`), the concrete path with
//! fixture placeholders (`{alice}`, `{dm}`, `{group}`, … see [`Fixture::value`]), the request
//! ([`Req`]), [`World::Shared`] unless a success would change what other cells see, and the ten
//! cells. Several rows may share a route (one per target, e.g. a 1:1 and a group conversation).
//! A new client frame kind fails to compile in [`frame_kind`] until it is named there and given
//! a row in [`FRAMES`]. Placeholders not known to [`Fixture::value`] panic with their name: add
//! the resource to [`Fixture`] and [`build_world`]. A row whose cells fail prints every differing
//! cell with the answer's body, so a new row can be written, run once and its refusals checked
//! against the documentation.
//!
//! The route list is the OpenAPI document's (`zynk_server::http::openapi`): a route mounted on
//! the router without an OpenAPI annotation is invisible to this check, which is one more reason
//! to annotate every route.
//!
//! Rate limits are off here (they are tested on their own) so that every answer is the
//! authorization's; the fresh worlds are built four at a time to keep the run short.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use zynk_proto::ws::ClientFrame;
use zynk_testkit::{
    Api, Backend, Device, Identity, Registered, TestServer, WsClient, backend_tests, login_json,
    message_body, register_json,
};

backend_tests!(the_matrix_holds, receipts_do_not_cross_a_block);

#[test]
fn every_route_is_in_the_matrix() {
    let doc = serde_json::to_value(zynk_server::http::openapi()).expect("OpenAPI as JSON");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let covered: BTreeSet<String> = ROUTES.iter().map(|r| r.route.to_owned()).collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix (add them to ROUTES in \
         crates/zynk-testkit/tests/authz_matrix.rs): {missing:#?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes the OpenAPI document does not have: {stale:#?}"
    );
    for row in ROUTES {
        cells(row.cells, row.route);
    }
}

#[test]
fn every_frame_kind_is_in_the_matrix() {
    let mut covered = BTreeSet::new();
    for row in FRAMES {
        let frame: ClientFrame = serde_json::from_str(&fill_static(row.frame))
            .unwrap_or_else(|e| panic!("frame row {}: {e}", row.frame));
        covered.insert(frame_kind(&frame));
        cells(row.cells, row.frame);
    }
    let all: BTreeSet<&str> = FRAME_KINDS.iter().copied().collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "client frames without a row: {missing:?}"
    );
}

/// Every client frame kind. The match has no wildcard: a new kind does not compile until it is
/// named here (and in [`FRAME_KINDS`]) and given a row in [`FRAMES`].
fn frame_kind(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Ping => "ping",
        ClientFrame::Send { .. } => "send",
        ClientFrame::Ack { .. } => "ack",
        ClientFrame::AckToDevice { .. } => "ack_to_device",
        ClientFrame::Typing { .. } => "typing",
        ClientFrame::Presence { .. } => "presence",
    }
}

const FRAME_KINDS: &[&str] = &["ping", "send", "ack", "ack_to_device", "typing", "presence"];

/// The caller relations, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Own,
    Par,
    Mem,
    Adm,
    Str,
    Blk,
    Rem,
    Rev,
    NoToken,
    BadToken,
}

const RELS: [Rel; 10] = [
    Rel::Own,
    Rel::Par,
    Rel::Mem,
    Rel::Adm,
    Rel::Str,
    Rel::Blk,
    Rel::Rem,
    Rel::Rev,
    Rel::NoToken,
    Rel::BadToken,
];

impl Rel {
    fn name(self) -> &'static str {
        match self {
            Rel::Own => "own",
            Rel::Par => "par",
            Rel::Mem => "mem",
            Rel::Adm => "adm",
            Rel::Str => "str",
            Rel::Blk => "blk",
            Rel::Rem => "rem",
            Rel::Rev => "rev",
            Rel::NoToken => "none",
            Rel::BadToken => "bad",
        }
    }
}

/// The ten cells of a row, in [`RELS`] order; `None` where the relation does not apply.
fn cells(text: &str, row: &str) -> Vec<(Rel, Option<String>)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        words.len(),
        RELS.len(),
        "row {row}: {} cells, expected {} ({text:?})",
        words.len(),
        RELS.len()
    );
    RELS.iter()
        .zip(words)
        .map(|(rel, w)| (*rel, (w != "-").then(|| w.to_owned())))
        .collect()
}

/// What a row sends.
#[derive(Debug, Clone, Copy)]
enum Req {
    /// No body.
    Empty,
    /// A JSON body, with placeholders.
    Json(&'static str),
    /// The fixture file's bytes at offset 0 (`application/offset+octet-stream`).
    Upload,
    /// A WebSocket upgrade (101 when it succeeds).
    Ws,
}

/// Where a row's cells run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum World {
    /// In the engine's one world, in table order.
    Shared,
    /// Cells expecting success each get a fresh world (the row deletes or changes something
    /// other cells rely on); the refusals run in the shared world and must change nothing.
    Fresh,
    /// As [`World::Fresh`], but the row's successful cells share one fresh world: each caller
    /// acts for itself (opens its own conversation, blocks for itself) and none changes what
    /// another of them sees.
    FreshRow,
}

struct Row {
    /// `METHOD path` as in the OpenAPI document.
    route: &'static str,
    /// The path with placeholders.
    path: &'static str,
    req: Req,
    world: World,
    /// `own par mem adm str blk rem rev none bad`.
    cells: &'static str,
}

const fn row(
    route: &'static str,
    path: &'static str,
    req: Req,
    world: World,
    cells: &'static str,
) -> Row {
    Row {
        route,
        path,
        req,
        world,
        cells,
    }
}

use Req::{Empty, Json, Upload, Ws};
use World::{Fresh, FreshRow, Shared};

const MSG: Req = Json("{message}");

/// The HTTP matrix.
#[rustfmt::skip]
const ROUTES: &[Row] = &[
    //  route                                             path                                            request                                                          world    own par mem adm str blk rem rev none bad
    // Accounts and sessions.
    row("POST /api/v1/auth/register",                    "/api/v1/auth/register",                        Json("{register}"),                                              Shared, "  -   -   -   -   -   -   -   -  201 201"),
    row("POST /api/v1/auth/login",                       "/api/v1/auth/login",                           Json("{login}"),                                                 Shared, "200   -   -   -   -   -   -   -  200 200"),
    row("POST /api/v1/auth/refresh",                     "/api/v1/auth/refresh",                         Json(r#"{"refresh_token":"{refresh}"}"#),                        Fresh,  "200   -   -   -   -   -   -  401 200 200"),
    row("POST /api/v1/auth/logout",                      "/api/v1/auth/logout",                          Empty,                                                           Fresh,  "204   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/me",                          "/api/v1/users/me",                             Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("DELETE /api/v1/users/me",                       "/api/v1/users/me",                             Json(r#"{"password":"{password}"}"#),                            Fresh,  "204   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/me/profile",                  "/api/v1/users/me/profile",                     Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("PATCH /api/v1/users/me/profile",                "/api/v1/users/me/profile",                     Json(r#"{"display_name":"Alice"}"#),                             Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/me/privacy",                  "/api/v1/users/me/privacy",                     Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("PATCH /api/v1/users/me/privacy",                "/api/v1/users/me/privacy",                     Json(r#"{"show_last_seen":true}"#),                              Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/{user_id}",                   "/api/v1/users/{alice}",                        Empty,                                                           Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("GET /api/v1/users/by-username/{username}",      "/api/v1/users/by-username/{alice_name}",       Empty,                                                           Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("GET /api/v1/users/{user_id}/presence",          "/api/v1/users/{alice}/presence",               Empty,                                                           Shared, "200 200 200 200 404 404 404 401 401 401"),
    row("GET /api/v1/devices",                           "/api/v1/devices",                              Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("DELETE /api/v1/devices/{device_id}",            "/api/v1/devices/{spare_device}",               Empty,                                                           Fresh,  "204 404 404 404 404 404 404 401 401 401"),
    row("PUT /api/v1/devices/{device_id}/push-token",    "/api/v1/devices/{alice_device}/push-token",    Json(r#"{"push_token":"fcm:matrix"}"#),                          Shared, "204 404 404 404 404 404 404 401 401 401"),
    row("GET /api/v1/sessions",                          "/api/v1/sessions",                             Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("DELETE /api/v1/sessions/{session_id}",          "/api/v1/sessions/{spare_session}",             Empty,                                                           Fresh,  "204 404 404 404 404 404 404 401 401 401"),
    row("PUT /api/v1/users/me/identity-backup",          "/api/v1/users/me/identity-backup",             Json(r#"{"ciphertext":"{b64_64}"}"#),                            Shared, "204   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/me/identity-backup",          "/api/v1/users/me/identity-backup",             Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("PUT /api/v1/users/me/identity-key",             "/api/v1/users/me/identity-key",                Json("{rotation}"),                                              Fresh,  "204   -   -   -   -   -   -  401 401 401"),
    row("POST /api/v1/users/me/password",                "/api/v1/users/me/password",                    Json(r#"{"old_password":"{password}","new_password":"another long password"}"#), Fresh, "204 - - - - - - 401 401 401"),
    // Keys and to-device.
    row("POST /api/v1/keys/upload",                      "/api/v1/keys/upload",                          Json(r#"{"one_time_keys":[{"key_id":"{uuid}","key":"{b64_32}","fallback":false,"signature":"{b64_64}"}]}"#), Shared, "200 - - - - - - 401 401 401"),
    row("GET /api/v1/keys/count",                        "/api/v1/keys/count",                           Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("POST /api/v1/keys/query",                       "/api/v1/keys/query",                           Json(r#"{"user_ids":["{alice}"]}"#),                             Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("POST /api/v1/keys/claim",                       "/api/v1/keys/claim",                           Json(r#"{"devices":[{"user_id":"{alice}","device_id":"{alice_device}"}]}"#), Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("POST /api/v1/to-device",                        "/api/v1/to-device",                            Json(r#"{"txn_id":"{uuid}","event_type":"m.matrix","messages":[{"user_id":"{alice}","device_id":"{alice_device}","content":{"ciphertext":"x"}}]}"#), Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("GET /api/v1/to-device",                         "/api/v1/to-device",                            Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("POST /api/v1/to-device/ack",                    "/api/v1/to-device/ack",                        Json(r#"{"up_to":0}"#),                                          Shared, "204   -   -   -   -   -   -  401 401 401"),
    // Conversations, messages, requests.
    row("POST /api/v1/conversations",                    "/api/v1/conversations",                        Json(r#"{"type":"one_to_one","participant":"{alice}"}"#),        FreshRow, "400 200 201 201 201 200 201 401 401 401"),
    row("GET /api/v1/conversations",                     "/api/v1/conversations",                        Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/conversations/{conversation_id}",   "/api/v1/conversations/{dm}",                   Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("GET /api/v1/conversations/{conversation_id}",   "/api/v1/conversations/{gconv}",                Empty,                                                           Shared, "200   -  200 200 404   -  404 401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/messages", "/api/v1/conversations/{dm}/messages",  MSG,                                                             Shared, "201 201   -   -  404 403   -  401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/messages", "/api/v1/conversations/{gconv}/messages", MSG,                                                           Shared, "201   -  201 201 404   -  404 401 401 401"),
    row("GET /api/v1/conversations/{conversation_id}/messages", "/api/v1/conversations/{dm}/messages",   Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("GET /api/v1/conversations/{conversation_id}/messages", "/api/v1/conversations/{gconv}/messages", Empty,                                                          Shared, "200   -  200 200 404   -  404 401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/receipts", "/api/v1/conversations/{dm}/receipts",  Json(r#"{"read_up_to":1}"#),                                     Shared, "204 204   -   -  404 204   -  401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/receipts", "/api/v1/conversations/{gconv}/receipts", Json(r#"{"read_up_to":1}"#),                                   Shared, "204   -  204 204 404   -  404 401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/accept", "/api/v1/conversations/{dm}/accept",      Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/accept", "/api/v1/conversations/{request}/accept", Empty,                                                           Shared, "200 404 404 404 404 404 404 401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/decline", "/api/v1/conversations/{dm}/decline",    Empty,                                                           Shared, "409 409   -   -  404 409   -  401 401 401"),
    row("POST /api/v1/conversations/{conversation_id}/decline", "/api/v1/conversations/{request}/decline", Empty,                                                         Fresh,  "204 404 404 404 404 404 404 401 401 401"),
    row("GET /api/v1/messages/{message_id}",             "/api/v1/messages/{msg}",                       Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("GET /api/v1/messages/{message_id}",             "/api/v1/messages/{gmsg}",                      Empty,                                                           Shared, "200   -  200 200 404   -  404 401 401 401"),
    row("GET /api/v1/messages/{message_id}/proof",       "/api/v1/messages/{msg}/proof",                 Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("GET /api/v1/messages/{message_id}/proof",       "/api/v1/messages/{gmsg}/proof",                Empty,                                                           Shared, "200   -  200 200 404   -  404 401 401 401"),
    // Blocking.
    row("PUT /api/v1/users/{user_id}/block",             "/api/v1/users/{alice}/block",                  Empty,                                                           FreshRow, "400 204 204 204 204 204 204 401 401 401"),
    row("DELETE /api/v1/users/{user_id}/block",          "/api/v1/users/{alice}/block",                  Empty,                                                           Shared, "400 204 204 204 204 204 204 401 401 401"),
    row("GET /api/v1/blocks",                            "/api/v1/blocks",                               Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/requests",                          "/api/v1/requests",                             Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    // Groups.
    row("POST /api/v1/groups",                           "/api/v1/groups",                               Json(r#"{"name":"matrix","encryption_mode":"sender_keys","members":[]}"#), Shared, "201 - - - - - - 401 401 401"),
    row("GET /api/v1/groups",                            "/api/v1/groups",                               Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/groups/{group_id}",                 "/api/v1/groups/{group}",                       Empty,                                                           Shared, "200   -  200 200 404   -  404 401 401 401"),
    row("PATCH /api/v1/groups/{group_id}",               "/api/v1/groups/{group}",                       Json(r#"{"description":"matrix"}"#),                             Shared, "200   -  403 200 404   -  404 401 401 401"),
    row("POST /api/v1/groups/{group_id}/members",        "/api/v1/groups/{group}/members",               Json(r#"{"user_id":"{mallory}"}"#),                              Fresh,  "200   -  403 200 404   -  404 401 401 401"),
    row("DELETE /api/v1/groups/{group_id}/members/{user_id}", "/api/v1/groups/{group}/members/{gus}",    Empty,                                                           Fresh,  "204   -  403 204 404   -  404 401 401 401"),
    row("POST /api/v1/groups/{group_id}/members/{user_id}/promote", "/api/v1/groups/{group}/members/{gus}/promote", Empty,                                                 Fresh,  "200   -  403 200 404   -  404 401 401 401"),
    row("POST /api/v1/groups/{group_id}/members/{user_id}/demote", "/api/v1/groups/{group}/members/{carol}/demote", Empty,                                                 Fresh,  "200   -  403 200 404   -  404 401 401 401"),
    row("POST /api/v1/groups/{group_id}/leave",          "/api/v1/groups/{group}/leave",                 Empty,                                                           Fresh,  "204   -  204 204 404   -  404 401 401 401"),
    // Files.
    row("POST /api/v1/files",                            "/api/v1/files",                                Json(r#"{"conversation_id":"{dm}","size":{size},"sha256":"{sha}"}"#), Shared, "201 201 - - 404 403 - 401 401 401"),
    row("GET /api/v1/files/{file_id}",                   "/api/v1/files/{file}",                         Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("GET /api/v1/files/{file_id}/content",           "/api/v1/files/{file}/content",                 Empty,                                                           Shared, "200 200   -   -  404 200   -  401 401 401"),
    row("PATCH /api/v1/files/{file_id}/upload",          "/api/v1/files/{pending_file}/upload",          Upload,                                                          Fresh,  "200 403   -   -  404   -   -  401 401 401"),
    row("DELETE /api/v1/files/{file_id}",                "/api/v1/files/{file}",                         Empty,                                                           Fresh,  "204 403   -   -  404 403   -  401 401 401"),
    // Calls.
    row("POST /api/v1/calls",                            "/api/v1/calls",                                Json(r#"{"conversation_id":"{gconv}","call_type":"audio"}"#),   Fresh,  "201   -  201 201 404   -  404 401 401 401"),
    row("GET /api/v1/calls",                             "/api/v1/calls",                                Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/calls/{call_id}",                   "/api/v1/calls/{call}",                         Empty,                                                           Shared, "200 200   -   -  404   -   -  401 401 401"),
    row("POST /api/v1/calls/{call_id}/answer",           "/api/v1/calls/{call}/answer",                  Empty,                                                           Fresh,  "409 200   -   -  404   -   -  401 401 401"),
    row("POST /api/v1/calls/{call_id}/decline",          "/api/v1/calls/{call}/decline",                 Empty,                                                           Fresh,  "409 200   -   -  404   -   -  401 401 401"),
    row("POST /api/v1/calls/{call_id}/end",              "/api/v1/calls/{call}/end",                     Empty,                                                           Fresh,  "200 409   -   -  404   -   -  401 401 401"),
    row("GET /api/v1/turn",                              "/api/v1/turn",                                 Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    // Proximity (alice has shared no location before the PUT row: searching needs one).
    row("GET /api/v1/nearby",                            "/api/v1/nearby",                               Empty,                                                           Shared, "409   -   -   -   -   -   -  401 401 401"),
    row("PUT /api/v1/location",                          "/api/v1/location",                             Json(r#"{"latitude":52.52,"longitude":13.405}"#),               Shared, "204   -   -   -   -   -   -  401 401 401"),
    row("DELETE /api/v1/location",                       "/api/v1/location",                             Empty,                                                           Shared, "204   -   -   -   -   -   -  401 401 401"),
    // Ledger and trust.
    row("GET /api/v1/ledger",                            "/api/v1/ledger",                               Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/identities/{did}",                  "/api/v1/identities/{alice_did}",               Empty,                                                           Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("GET /api/v1/identities/{did}/proof",            "/api/v1/identities/{alice_did}/proof",         Empty,                                                           Shared, "200 200 200 200 200 200 200 401 401 401"),
    row("POST /api/v1/credentials",                      "/api/v1/credentials",                          Empty,                                                           Shared, "201   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/users/me/trust",                    "/api/v1/users/me/trust",                       Empty,                                                           Shared, "200   -   -   -   -   -   -  401 401 401"),
    row("POST /api/v1/users/{user_id}/report",           "/api/v1/users/{alice}/report",                 Json(r#"{"reason":"spam"}"#),                                    FreshRow, "403 200 200 200 403 200 403 401 401 401"),
    row("POST /api/v1/users/{user_id}/vouch",            "/api/v1/users/{alice}/vouch",                  Empty,                                                           FreshRow, "403 200 200 200 403 403 403 401 401 401"),
    // Realtime and operations.
    row("GET /api/v1/ws",                                "/api/v1/ws",                                   Ws,                                                              Shared, "101   -   -   -   -   -   -  401 401 401"),
    row("GET /api/v1/openapi.json",                      "/api/v1/openapi.json",                         Empty,                                                           Shared, "  -   -   -   -   -   -   -   -  200 200"),
    row("GET /healthz",                                  "/healthz",                                     Empty,                                                           Shared, "  -   -   -   -   -   -   -   -  200 200"),
    row("GET /readyz",                                   "/readyz",                                      Empty,                                                           Shared, "  -   -   -   -   -   -   -   -  200 200"),
    row("GET /metrics",                                  "/metrics",                                     Empty,                                                           Shared, "  -   -   -   -   -   -   -   -  200 200"),
];

struct FrameRow {
    /// The frame, with placeholders.
    frame: &'static str,
    /// `own par mem adm str blk rem rev none bad`.
    cells: &'static str,
}

const fn frame(frame: &'static str, cells: &'static str) -> FrameRow {
    FrameRow { frame, cells }
}

/// The WebSocket frame matrix.
#[rustfmt::skip]
const FRAMES: &[FrameRow] = &[
    //    frame                                                                                         own   par   mem   adm   str        blk                      rem        rev     none bad
    frame(r#"{"type":"ping"}"#,                                                                          "ok    -     -     -     -          -                        -          closed  401  401"),
    frame(r#"{"type":"send","request_id":"{uuid}","conversation_id":"{dm}","message":{message}}"#,     "ok    ok    -     -     not_found  recipient_not_accepting  -          closed  401  401"),
    frame(r#"{"type":"send","request_id":"{uuid}","conversation_id":"{gconv}","message":{message}}"#,  "ok    -     ok    ok    not_found  -                        not_found  closed  401  401"),
    frame(r#"{"type":"ack","conversation_id":"{dm}","seq":1}"#,                                          "ok    ok    -     -     not_found  ok                       -          closed  401  401"),
    frame(r#"{"type":"ack","conversation_id":"{gconv}","seq":1}"#,                                       "ok    -     ok    ok    not_found  -                        not_found  closed  401  401"),
    frame(r#"{"type":"ack_to_device","up_to":0}"#,                                                       "ok    -     -     -     -          -                        -          closed  401  401"),
    frame(r#"{"type":"typing","conversation_id":"{dm}","typing":true}"#,                                 "ok    ok    -     -     not_found  ok                       -          closed  401  401"),
    frame(r#"{"type":"typing","conversation_id":"{gconv}","typing":true}"#,                              "ok    -     ok    ok    not_found  -                        not_found  closed  401  401"),
    frame(r#"{"type":"presence","status":"away"}"#,                                                      "ok    -     -     -     -          -                        -          closed  401  401"),
];

/// The fixture world of one engine (or one fresh copy).
struct Fixture {
    alice: Registered,
    bob: Registered,
    carol: Registered,
    dave: Registered,
    erin: Registered,
    frank: Registered,
    gus: Registered,
    mallory: Registered,
    /// A 1:1 hank opened with alice, still a message request on her side.
    request: String,
    /// Alice's revoked device (its tokens).
    revoked: Registered,
    /// Alice's second live device.
    spare: Registered,
    dm: String,
    dm_dave: String,
    msg: String,
    msg_dave: String,
    group: String,
    gconv: String,
    gmsg: String,
    file: String,
    file_dave: String,
    pending_file: String,
    call: String,
}

const PASSWORD: &str = "correct horse battery";

/// The bytes of every fixture file.
const FILE_DATA: &[u8] = b"matrix file ciphertext";

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("randomness");
    STANDARD.encode(bytes)
}

/// Replaces the placeholders that need no world (for the frame-shape check).
fn fill_static(template: &str) -> String {
    substitute(template, &mut |name| match name {
        "uuid" => Some(uuid::Uuid::new_v4().to_string()),
        "message" => Some(message_body("shape").to_string()),
        _ => Some(uuid::Uuid::new_v4().to_string()),
    })
}

/// Replaces each `{name}` (lowercase letters, digits and `_`) by `value(name)`; other braces (JSON)
/// stay. Panics on a name `value` does not know.
fn substitute(template: &str, value: &mut dyn FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            let name = &after[..name_len];
            let v = value(name).unwrap_or_else(|| {
                panic!("unknown placeholder {{{name}}} in {template:?}: add it to Fixture::value")
            });
            out.push_str(&v);
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

impl Fixture {
    /// The account acting in column `rel` (alice's for `rev`, `none` and `bad`, whose tokens are
    /// chosen by [`Fixture::token`]).
    fn actor(&self, rel: Rel) -> &Registered {
        match rel {
            Rel::Own | Rel::NoToken | Rel::BadToken => &self.alice,
            Rel::Rev => &self.revoked,
            Rel::Par => &self.bob,
            Rel::Mem => &self.frank,
            Rel::Adm => &self.carol,
            Rel::Str => &self.mallory,
            Rel::Blk => &self.dave,
            Rel::Rem => &self.erin,
        }
    }

    fn token(&self, rel: Rel) -> Option<String> {
        match rel {
            Rel::NoToken => None,
            Rel::BadToken => Some("not-a-token".into()),
            other => Some(self.actor(other).access_token.clone()),
        }
    }

    /// The value of placeholder `name` for the caller in column `rel`.
    fn value(&self, name: &str, rel: Rel) -> Option<String> {
        let me = self.actor(rel);
        let blocked = rel == Rel::Blk;
        Some(match name {
            // Resources.
            "alice" => self.alice.user_id.clone(),
            "alice_name" => self.alice.username.clone(),
            "alice_did" => format!("did:zynk:{}", self.alice.user_id),
            "alice_device" => self.alice.device_id.clone(),
            "mallory" => self.mallory.user_id.clone(),
            "carol" => self.carol.user_id.clone(),
            "gus" => self.gus.user_id.clone(),
            "spare_device" => self.spare.device_id.clone(),
            "spare_session" => self.spare.session_id.clone(),
            "dm" if blocked => self.dm_dave.clone(),
            "dm" => self.dm.clone(),
            "msg" if blocked => self.msg_dave.clone(),
            "msg" => self.msg.clone(),
            "file" if blocked => self.file_dave.clone(),
            "file" => self.file.clone(),
            "pending_file" => self.pending_file.clone(),
            "request" => self.request.clone(),
            "group" => self.group.clone(),
            "gconv" => self.gconv.clone(),
            "gmsg" => self.gmsg.clone(),
            "call" => self.call.clone(),
            "size" => FILE_DATA.len().to_string(),
            "sha" => sha_hex(FILE_DATA),
            // The caller's own.
            "refresh" => me.refresh_token.clone(),
            "password" => PASSWORD.into(),
            "login" => login_json(&me.username, PASSWORD, &Device::random("web")).to_string(),
            "rotation" => rotation_body(me),
            // Fresh values.
            "register" => register_json(
                &Api::username("newcomer"),
                PASSWORD,
                &Identity::random(),
                &Device::random("web"),
            )
            .to_string(),
            "uuid" => uuid::Uuid::new_v4().to_string(),
            "b64_32" => random_b64(32),
            "b64_64" => random_b64(64),
            "message" => message_body("matrix").to_string(),
            _ => return None,
        })
    }

    fn fill(&self, template: &str, rel: Rel) -> String {
        substitute(template, &mut |name| self.value(name, rel))
    }
}

/// A rotation of `who`'s identity key to a fresh one, signed by the current key (by some other
/// key for a device that was logged in here, which cannot know it; such cells are refusals).
fn rotation_body(who: &Registered) -> String {
    let current = who.identity.clone().unwrap_or_else(Identity::random);
    let next = Identity::random();
    let did = format!("did:zynk:{}", who.user_id);
    let statement = zynk_proto::trust::rotation_signing_bytes(&did, &next.public_bytes());
    let possession =
        zynk_proto::possession::rotate_bytes(&did, &next.public_bytes(), &current.public_bytes());
    json!({
        "identity_key": next.public_key(),
        "signature": current.sign(&statement),
        "new_key_signature": next.sign(&possession),
    })
    .to_string()
}

/// The server under test and one HTTP client for every cell (building a client costs more
/// than a request).
struct Env {
    base: String,
    http: reqwest::Client,
    api: Api,
}

/// Calls the API and insists on one of `ok`.
async fn must(
    api: &Api,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    ok: &[u16],
) -> Value {
    let (status, reply) = api
        .call(method.clone(), path, Some(token), body.as_ref())
        .await;
    assert!(
        ok.contains(&status.as_u16()),
        "fixture: {method} {path} gave {status}: {reply}"
    );
    reply
}

fn id(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("fixture: no {field} in {value}"))
        .to_owned()
}

/// A file of alice's in `conversation`, uploaded whole when `complete`.
async fn fixture_file(env: &Env, token: &str, conversation: &str, complete: bool) -> String {
    let api = env.api.clone();
    let created = must(
        &api,
        Method::POST,
        "/api/v1/files",
        token,
        Some(json!({"conversation_id": conversation, "size": FILE_DATA.len(), "sha256": sha_hex(FILE_DATA)})),
        &[201],
    )
    .await;
    let file = id(&created, "file_id");
    if complete {
        let status = upload(env, Some(token), &format!("/api/v1/files/{file}/upload")).await;
        assert_eq!(status, 200, "fixture: upload of {file}");
    }
    file
}

async fn upload(env: &Env, token: Option<&str>, path: &str) -> u16 {
    let mut req = env
        .http
        .patch(format!("{}{path}", env.base))
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(FILE_DATA.to_vec());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("upload sent").status().as_u16()
}

/// Builds the world described at the top of this file. `anchored` waits until the fixture
/// messages and alice's identity have ledger proofs (the shared world; fresh ones need none).
async fn build_world(env: &Env, anchored: bool) -> Fixture {
    let api = env.api.clone();
    let users = futures::future::join_all(
        [
            "alice", "bob", "carol", "dave", "erin", "frank", "gus", "hank", "mallory",
        ]
        .map(|stem| {
            let api = api.clone();
            async move { api.register(&Api::username(stem)).await }
        }),
    )
    .await;
    let [alice, bob, carol, dave, erin, frank, gus, hank, mallory]: [Registered; 9] =
        users.try_into().expect("nine users");
    let a = alice.access_token.as_str();

    // Alice's other devices: one stays, one is revoked.
    let spare = api
        .login_ok(&alice.username, PASSWORD, Device::random("ios"))
        .await;
    let revoked = api
        .login_ok(&alice.username, PASSWORD, Device::random("android"))
        .await;
    must(
        &api,
        Method::DELETE,
        &format!("/api/v1/devices/{}", revoked.device_id),
        a,
        None,
        &[204],
    )
    .await;
    must(
        &api,
        Method::PUT,
        "/api/v1/users/me/identity-backup",
        a,
        Some(json!({"ciphertext": random_b64(64)})),
        &[204],
    )
    .await;

    // The 1:1 with bob, accepted.
    let dm = api.open_conversation(a, &bob.user_id).await;
    let msg = id(
        &api.send_message(a, &dm, message_body("hi bob")).await,
        "message_id",
    );
    must(
        &api,
        Method::POST,
        &format!("/api/v1/conversations/{dm}/accept"),
        &bob.access_token,
        None,
        &[200],
    )
    .await;
    api.send_message(&bob.access_token, &dm, message_body("hi alice"))
        .await;
    let file = fixture_file(env, a, &dm, true).await;
    let pending_file = fixture_file(env, a, &dm, false).await;

    // Dave's 1:1 with alice, accepted, then alice blocks him.
    let dm_dave = api
        .open_conversation(&dave.access_token, &alice.user_id)
        .await;
    api.send_message(&dave.access_token, &dm_dave, message_body("hi alice"))
        .await;
    must(
        &api,
        Method::POST,
        &format!("/api/v1/conversations/{dm_dave}/accept"),
        a,
        None,
        &[200],
    )
    .await;
    let msg_dave = id(
        &api.send_message(a, &dm_dave, message_body("hi dave")).await,
        "message_id",
    );
    let file_dave = fixture_file(env, a, &dm_dave, true).await;
    must(
        &api,
        Method::PUT,
        &format!("/api/v1/users/{}/block", dave.user_id),
        a,
        None,
        &[204],
    )
    .await;

    // Hank's message request to alice.
    let request = api
        .open_conversation(&hank.access_token, &alice.user_id)
        .await;
    api.send_message(&hank.access_token, &request, message_body("hello?"))
        .await;

    // The group: carol admin, frank and gus members, erin removed.
    let group = must(
        &api,
        Method::POST,
        "/api/v1/groups",
        a,
        Some(json!({
            "name": "matrix", "encryption_mode": "sender_keys",
            "members": [carol.user_id, frank.user_id, gus.user_id, erin.user_id],
        })),
        &[201],
    )
    .await;
    let (group, gconv) = (id(&group, "group_id"), id(&group, "conversation_id"));
    must(
        &api,
        Method::POST,
        &format!("/api/v1/groups/{group}/members/{}/promote", carol.user_id),
        a,
        None,
        &[200],
    )
    .await;
    let gmsg = id(
        &api.send_message(a, &gconv, message_body("hi group")).await,
        "message_id",
    );
    must(
        &api,
        Method::DELETE,
        &format!("/api/v1/groups/{group}/members/{}", erin.user_id),
        a,
        None,
        &[204],
    )
    .await;

    // Alice rings bob.
    let call = must(
        &api,
        Method::POST,
        "/api/v1/calls",
        a,
        Some(json!({"conversation_id": dm, "call_type": "audio"})),
        &[201],
    )
    .await;
    let call = id(&call, "call_id");

    if anchored {
        for (message, token) in [(&msg, a), (&msg_dave, a), (&gmsg, a)] {
            wait_ok(&api, &format!("/api/v1/messages/{message}/proof"), token).await;
        }
        wait_ok(
            &api,
            &format!("/api/v1/identities/did:zynk:{}/proof", alice.user_id),
            a,
        )
        .await;
    }

    Fixture {
        alice,
        bob,
        carol,
        dave,
        erin,
        frank,
        gus,
        mallory,
        request,
        revoked,
        spare,
        dm,
        dm_dave,
        msg,
        msg_dave,
        group,
        gconv,
        gmsg,
        file,
        file_dave,
        pending_file,
        call,
    }
}

async fn wait_ok(api: &Api, path: &str, token: &str) {
    zynk_testkit::eventually_within("a ledger proof", Duration::from_secs(30), || async {
        (api.get(path, token).await.0 == StatusCode::OK).then_some(())
    })
    .await;
}

/// Runs one HTTP cell; returns the status and the body (for the report).
async fn run_cell(env: &Env, world: &Fixture, row: &Row, rel: Rel) -> (u16, String) {
    let path = world.fill(row.path, rel);
    let token = world.token(rel);
    let method: Method = row
        .route
        .split(' ')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("a method");
    match row.req {
        Ws => match ws_connect(&env.base, token.as_deref()).await {
            Ok(mut socket) => {
                let _ = socket.close(None).await;
                (101, String::new())
            }
            Err(status) => (status, String::new()),
        },
        Upload => (upload(env, token.as_deref(), &path).await, String::new()),
        Empty | Json(_) => {
            let mut req = env.http.request(method, format!("{}{path}", env.base));
            if let Some(token) = &token {
                req = req.bearer_auth(token);
            }
            if let Json(template) = row.req {
                req = req
                    .header("content-type", "application/json")
                    .body(world.fill(template, rel));
            }
            let resp = req.send().await.expect("request sent");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            (status, body.chars().take(300).collect())
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/api/v1/ws` with the token in an `Authorization` header (none when `None`); the
/// refusal's HTTP status otherwise.
async fn ws_connect(base: &str, token: Option<&str>) -> Result<Socket, u16> {
    let mut request = format!("{}/api/v1/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .expect("ws request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("websocket: {other}"),
    }
}

/// Sends `frame` and reads the answer: `ok` (a `sent` for a send, else the `pong` of a ping sent
/// after it with no error before), an error frame's code, or `closed`.
async fn frame_answer(socket: &mut Socket, frame: &str) -> String {
    let parsed: Value = serde_json::from_str(frame).expect("frame JSON");
    let request_id = parsed["request_id"].as_str().map(str::to_owned);
    if socket
        .send(WsMessage::Text(frame.to_owned().into()))
        .await
        .is_err()
    {
        return "closed".into();
    }
    if request_id.is_none() && parsed["type"] != "ping" {
        let ping = json!({"type": "ping"}).to_string();
        if socket.send(WsMessage::Text(ping.into())).await.is_err() {
            return "closed".into();
        }
    }
    let mut error: Option<String> = None;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer to the frame in time");
        let text = match next {
            Some(Ok(WsMessage::Text(text))) => text,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return "closed".into(),
            Some(Ok(_)) => continue,
        };
        let answer: Value = serde_json::from_str(&text).expect("JSON frame");
        let code = answer["code"].as_str().unwrap_or("?").to_owned();
        match (answer["type"].as_str(), &request_id) {
            // A send is answered by request id.
            (Some("error"), Some(id)) if answer["request_id"] == id.as_str() => return code,
            (Some("sent"), Some(id)) if answer["request_id"] == id.as_str() => {
                return "ok".into();
            }
            // Any other frame: its error (if any) comes before the pong of the ping after it;
            // read on to that pong so nothing of this cell is left for the next.
            (Some("error"), None) if error.is_none() => error = Some(code),
            (Some("pong"), None) => return error.unwrap_or_else(|| "ok".into()),
            _ => continue,
        }
    }
}

async fn the_matrix_holds(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        // Limits are tested elsewhere; here they would only blur the answers.
        c.rate_limits.enabled = false;
        c.auth.password_checks_per_address = 64;
        c.auth.password_checks_per_account = 64;
        c.anchor_interval_secs = 1;
        c.calls.ring_timeout_secs = 3600;
        c.turn.shared_secret = Some("matrix".into());
        c.turn.urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
    })
    .await;
    let env = Env {
        base: server.base_url.clone(),
        http: reqwest::Client::new(),
        api: server.api(),
    };
    let shared = build_world(&env, true).await;
    let mut failures = Vec::new();
    let report = |row: &Row, rel: Rel, expected: &str, status: u16, body: &str| {
        format!(
            "{} ({}) as {}: expected {expected}, got {status} {body}",
            row.route,
            row.path,
            rel.name()
        )
    };

    // The shared world in table order; the cells that need a fresh world afterwards, a few at
    // a time (each world is independent of the others).
    let mut fresh_jobs: Vec<Vec<(&Row, Rel, String)>> = Vec::new();
    for row in ROUTES {
        let mut row_job = Vec::new();
        for (rel, expected) in cells(row.cells, row.route) {
            let Some(expected) = expected else { continue };
            if row.world != Shared && expected.starts_with('2') {
                if row.world == FreshRow {
                    row_job.push((row, rel, expected));
                } else {
                    fresh_jobs.push(vec![(row, rel, expected)]);
                }
                continue;
            }
            let (status, body) = run_cell(&env, &shared, row, rel).await;
            if status.to_string() != expected {
                failures.push(report(row, rel, &expected, status, &body));
            }
        }
        if !row_job.is_empty() {
            fresh_jobs.push(row_job);
        }
    }
    let fresh_worlds = fresh_jobs.len();
    let env_ref = &env;
    let fresh_results: Vec<Vec<_>> = futures::stream::iter(fresh_jobs)
        .map(|job| async move {
            let world = build_world(env_ref, false).await;
            let mut results = Vec::new();
            for (row, rel, expected) in job {
                let (status, body) = run_cell(env_ref, &world, row, rel).await;
                results.push((row, rel, expected, status, body));
            }
            results
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (row, rel, expected, status, body) in fresh_results.into_iter().flatten() {
        if status.to_string() != expected {
            failures.push(report(row, rel, &expected, status, &body));
        }
    }

    // Frames: one socket per relation, kept open across rows; `rev` gets a socket on a new
    // device of alice's, which is then revoked, for each row.
    let mut sockets = Vec::new();
    for rel in [
        Rel::Own,
        Rel::Par,
        Rel::Mem,
        Rel::Adm,
        Rel::Str,
        Rel::Blk,
        Rel::Rem,
    ] {
        let token = shared.token(rel).expect("a token");
        let mut socket = ws_connect(&server.base_url, Some(&token))
            .await
            .unwrap_or_else(|s| panic!("{} connects: {s}", rel.name()));
        // The hello.
        let _ = socket.next().await;
        sockets.push((rel, socket));
    }
    let api = env.api.clone();
    for row in FRAMES {
        for (rel, expected) in cells(row.cells, row.frame) {
            let Some(expected) = expected else { continue };
            let text = shared.fill(row.frame, rel);
            let answer = match rel {
                Rel::NoToken | Rel::BadToken => {
                    match ws_connect(&server.base_url, shared.token(rel).as_deref()).await {
                        Ok(_) => "101".to_owned(),
                        Err(status) => status.to_string(),
                    }
                }
                Rel::Rev => {
                    let device = api
                        .login_ok(&shared.alice.username, PASSWORD, Device::random("web"))
                        .await;
                    let mut socket = ws_connect(&server.base_url, Some(&device.access_token))
                        .await
                        .expect("the new device connects");
                    let _ = socket.next().await;
                    must(
                        &api,
                        Method::DELETE,
                        &format!("/api/v1/devices/{}", device.device_id),
                        &shared.alice.access_token,
                        None,
                        &[204],
                    )
                    .await;
                    frame_answer(&mut socket, &text).await
                }
                _ => {
                    let socket = &mut sockets
                        .iter_mut()
                        .find(|(r, _)| *r == rel)
                        .expect("a socket")
                        .1;
                    frame_answer(socket, &text).await
                }
            };
            if answer != expected {
                failures.push(format!(
                    "frame {} as {}: expected {expected}, got {answer}",
                    row.frame,
                    rel.name()
                ));
            }
        }
    }
    for (_, mut socket) in sockets {
        let _ = socket.close(None).await;
    }

    assert!(
        failures.is_empty(),
        "{} cells of the authorization matrix differ ({fresh_worlds} fresh worlds):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads `ws` until the receipt of `user` in `until`; fails on a receipt of `user` in
/// `never` before it (the frames of one server reach a socket in order).
async fn receipt_in_only(ws: &mut WsClient, user: &str, until: &str, never: &str) {
    loop {
        let frame = ws.next_of("receipt").await;
        if frame["user_id"] != user {
            continue;
        }
        assert_ne!(
            frame["conversation_id"], never,
            "a receipt crossed a block: {frame}"
        );
        if frame["conversation_id"] == until {
            return;
        }
    }
}

/// Found while writing the matrix: in a 1:1 conversation, cursors crossed a block (either way),
/// while messages, typing and presence do not. A receipt in a shared group (which blocks do not
/// affect) follows each one, so that its arrival shows the 1:1 receipt would have come.
async fn receipts_do_not_cross_a_block(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let (a, b) = (ann.access_token.as_str(), bob.access_token.as_str());
    let dm = api.open_conversation(a, &bob.user_id).await;
    for text in ["a1", "a2"] {
        api.send_message(a, &dm, message_body(text)).await;
    }
    must(
        &api,
        Method::POST,
        &format!("/api/v1/conversations/{dm}/accept"),
        b,
        None,
        &[200],
    )
    .await;
    for text in ["b1", "b2"] {
        api.send_message(b, &dm, message_body(text)).await;
    }
    let group = must(
        &api,
        Method::POST,
        "/api/v1/groups",
        a,
        Some(json!({"name": "both", "encryption_mode": "sender_keys", "members": [bob.user_id]})),
        &[201],
    )
    .await;
    let gconv = id(&group, "conversation_id");
    api.send_message(a, &gconv, message_body("g1")).await;
    let last = api.send_message(b, &gconv, message_body("g2")).await["seq"]
        .as_i64()
        .expect("seq");
    let mut ann_ws = WsClient::connect(&server.base_url, a).await;
    ann_ws.next_of("hello").await;
    let mut bob_ws = WsClient::connect(&server.base_url, b).await;
    bob_ws.next_of("hello").await;
    let receipt = |token: &str, conversation: &str, up_to: i64| {
        let (api, token, path) = (
            api.clone(),
            token.to_owned(),
            format!("/api/v1/conversations/{conversation}/receipts"),
        );
        async move {
            let body = json!({"delivered_up_to": up_to, "read_up_to": up_to});
            must(&api, Method::POST, &path, &token, Some(body), &[204]).await;
        }
    };

    // Before the block, bob's cursor reaches ann.
    receipt(b, &dm, 1).await;
    receipt_in_only(&mut ann_ws, &bob.user_id, &dm, "none").await;

    // Bob blocks ann: neither sees the other's cursors in their 1:1 any more.
    must(
        &api,
        Method::PUT,
        &format!("/api/v1/users/{}/block", ann.user_id),
        b,
        None,
        &[204],
    )
    .await;
    receipt(b, &dm, 2).await;
    receipt(b, &gconv, last).await;
    receipt_in_only(&mut ann_ws, &bob.user_id, &gconv, &dm).await;
    receipt(a, &dm, 4).await;
    receipt(a, &gconv, last).await;
    receipt_in_only(&mut bob_ws, &ann.user_id, &gconv, &dm).await;
    ann_ws.close().await;
    bob_ws.close().await;
}
