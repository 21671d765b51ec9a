//! wasm-bindgen bindings: the `Client` class.
//!
//! One `Client` is one logged-in device. Its [`Messenger`] sits behind an async mutex, so calls
//! from JavaScript may overlap (each waits its turn) and the WebSocket loop
//! ([`Client::run_events`]) takes the lock only while it handles a frame. Every call that
//! changes the state seals it again with the password-derived [`Vault`] and hands the sealed
//! bytes to the persistence callback (the UI writes them to IndexedDB): nothing leaves Rust in
//! the clear.

use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::lock::Mutex;
use futures::{FutureExt, StreamExt, select};
use js_sys::{Function, Promise, Uint8Array};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use zynk_proto::calls::{CallSignal, CallType};
use zynk_proto::groups::EncryptionMode;
use zynk_proto::ids::{CallId, ConversationId, DeviceId, GroupId, MessageId, SessionId, UserId};
use zynk_proto::ws::ClientFrame;
use zynk_sdk::ClientError;
use zynk_sdk::client::{
    ApiClient, DeviceDescription, EventStream, FileToSend, Messenger, SendOptions, Vault,
};
use zynk_sdk::crypto::RoomEventContent;
use zynk_sdk::crypto::file::FileMetadata;

use crate::views;

/// The error a rejected promise carries: a JSON string `{"code","message"}`.
fn js_error(error: &ClientError) -> JsValue {
    JsValue::from_str(&views::error(error).to_string())
}

fn invalid(message: impl Into<String>) -> JsValue {
    js_error(&ClientError::Invalid(message.into()))
}

fn json(value: &Value) -> JsValue {
    JsValue::from_str(&value.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    serde_json::to_string(value)
        .map(|s| JsValue::from_str(&s))
        .map_err(|e| invalid(format!("cannot encode: {e}")))
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, JsValue> {
    text.trim()
        .parse()
        .map_err(|_| invalid(format!("{what} is not a valid id: {text}")))
}

/// The state behind one `Client`.
struct Inner {
    messenger: Messenger,
    vault: Vault,
    /// Receives the sealed state after every change.
    persist: Option<Function>,
    /// Frames for the WebSocket loop to send (typing, presence, pings).
    outgoing: Option<mpsc::UnboundedSender<ClientFrame>>,
}

impl Inner {
    /// Seal the state and hand it to the persistence callback.
    fn persist(&self) -> Result<(), JsValue> {
        let bytes = self.messenger.save(&self.vault).map_err(|e| js_error(&e))?;
        if let Some(callback) = &self.persist {
            callback.call1(&JsValue::NULL, &Uint8Array::from(bytes.as_slice()))?;
        }
        Ok(())
    }
}

type Shared = Rc<Mutex<Inner>>;

/// A logged-in device of the browser client.
#[wasm_bindgen]
pub struct Client {
    inner: Shared,
}

fn device(name: &str) -> Result<DeviceDescription, JsValue> {
    let name = if name.trim().is_empty() {
        "Web browser"
    } else {
        name.trim()
    };
    DeviceDescription::new(name, "web").map_err(|e| js_error(&e))
}

fn api(server_url: &str) -> ApiClient {
    ApiClient::new(server_url.trim_end_matches('/'))
}

/// Finish a register or login: create the vault, hand over the first sealed state (the
/// identity exists only here until the keys are uploaded), then upload the device's keys.
async fn start(messenger: Messenger, password: &str, persist: Function) -> Result<Client, JsValue> {
    let vault = Vault::create(password).map_err(|e| js_error(&e.into()))?;
    let inner = Inner {
        messenger,
        vault,
        persist: Some(persist),
        outgoing: None,
    };
    inner.persist()?;
    let mut inner = inner;
    inner
        .messenger
        .complete_setup()
        .await
        .map_err(|e| js_error(&e))?;
    inner.persist()?;
    Ok(Client {
        inner: Rc::new(Mutex::new(inner)),
    })
}

/// Run `body` with the locked state; persist after it when `changes` says so.
macro_rules! with_inner {
    ($self:ident, |$inner:ident| $body:expr) => {{
        let shared = $self.inner.clone();
        future_to_promise(async move {
            let mut guard = shared.lock().await;
            let $inner: &mut Inner = &mut guard;
            let result: Result<JsValue, JsValue> = async { $body }.await;
            result
        })
    }};
}

macro_rules! sdk {
    ($expr:expr) => {
        $expr.map_err(|e| js_error(&e))?
    };
}

#[wasm_bindgen]
impl Client {
    /// Create an account and this first device. `persist(bytes)` receives the sealed state
    /// after every change (store it; it needs the password to open).
    pub async fn register(
        server_url: String,
        username: String,
        password: String,
        device_name: String,
        persist: Function,
    ) -> Result<Client, JsValue> {
        let messenger = Messenger::register(
            api(&server_url),
            username.trim(),
            &password,
            &device(&device_name)?,
        )
        .await
        .map_err(|e| js_error(&e))?;
        start(messenger, &password, persist).await
    }

    /// Log in as a new device of an existing account (the identity comes from the
    /// password-encrypted backup).
    pub async fn login(
        server_url: String,
        username: String,
        password: String,
        device_name: String,
        persist: Function,
    ) -> Result<Client, JsValue> {
        let messenger = Messenger::login(
            api(&server_url),
            username.trim(),
            &password,
            &device(&device_name)?,
        )
        .await
        .map_err(|e| js_error(&e))?;
        start(messenger, &password, persist).await
    }

    /// Open a state sealed by this device before (after a reload). A wrong password is
    /// `wrong_password_or_tampered`.
    pub fn unlock(bytes: &[u8], password: String, persist: Function) -> Result<Client, JsValue> {
        let (messenger, vault) =
            Messenger::load(bytes, &password, None, None).map_err(|e| js_error(&e))?;
        Ok(Client {
            inner: Rc::new(Mutex::new(Inner {
                messenger,
                vault,
                persist: Some(persist),
                outgoing: None,
            })),
        })
    }

    /// Who this device is (JSON).
    pub fn whoami(&self) -> Promise {
        with_inner!(self, |inner| Ok(json(&views::whoami(&sdk!(
            inner.messenger.whoami()
        )))))
    }

    /// Catch up with the server (JSON `{updates, warnings}`).
    pub fn sync(&self) -> Promise {
        with_inner!(self, |inner| {
            let report = sdk!(inner.messenger.sync().await);
            inner.persist()?;
            Ok(json(&views::sync_report(&report)))
        })
    }

    /// The conversation list with unread counts (JSON array).
    pub fn conversations(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.conversations().await
        )))
    }

    /// The message requests waiting (JSON array).
    pub fn requests(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.requests().await
        )))
    }

    /// Accept `username`'s message request; resolves to the conversation id.
    pub fn accept_request(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            let id = sdk!(inner.messenger.accept_request(&username).await);
            inner.persist()?;
            Ok(JsValue::from_str(&id.to_string()))
        })
    }

    /// Decline `username`'s message request.
    pub fn decline_request(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            let id = sdk!(inner.messenger.decline_request(&username).await);
            inner.persist()?;
            Ok(JsValue::from_str(&id.to_string()))
        })
    }

    /// The 1:1 conversation with `username` (opened if needed); resolves to its id.
    pub fn open_conversation(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            let id = sdk!(inner.messenger.conversation_with(username.trim()).await);
            inner.persist()?;
            Ok(JsValue::from_str(&id.to_string()))
        })
    }

    /// Every message of a conversation this device holds, folded (JSON array).
    pub fn timeline(&self, conversation_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            let views = inner.messenger.timeline(id).await;
            to_json(&views)
        })
    }

    /// Send a text (mentions as `@name`); `expires_in_secs` > 0 makes it self-destruct.
    pub fn send_text(
        &self,
        conversation_id: String,
        text: String,
        expires_in_secs: u32,
    ) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            if text.trim().is_empty() {
                return Err(invalid("the message is empty"));
            }
            let options = SendOptions {
                expires_in: (expires_in_secs > 0)
                    .then(|| Duration::from_secs(u64::from(expires_in_secs))),
                message_type: None,
            };
            let receipt = sdk!(
                inner
                    .messenger
                    .send_event_with(
                        id,
                        RoomEventContent::text(text),
                        Default::default(),
                        &options
                    )
                    .await
            );
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// Reply to a message.
    pub fn reply(&self, message_id: String, text: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let receipt = sdk!(inner.messenger.reply(id, &text).await);
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// Edit one of this user's messages.
    pub fn edit(&self, message_id: String, text: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let receipt = sdk!(inner.messenger.edit(id, &text).await);
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// Delete one of this user's messages.
    pub fn delete(&self, message_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let receipt = sdk!(inner.messenger.delete(id).await);
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// React to a message with an emoji.
    pub fn react(&self, message_id: String, emoji: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let receipt = sdk!(inner.messenger.react(id, &emoji).await);
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// Tell the server the user read a conversation (sends the read receipt).
    pub fn mark_read(&self, conversation_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            sdk!(inner.messenger.mark_read(id).await);
            inner.persist()?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Report typing (over the WebSocket; ignored while it is not connected).
    pub fn typing(&self, conversation_id: String, typing: bool) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            if let Some(out) = &inner.outgoing {
                let _ = out.unbounded_send(Messenger::typing_frame(id, typing));
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Heartbeat over the WebSocket (the server drops a connection silent for 2.5
    /// heartbeats).
    pub fn ping(&self) -> Promise {
        with_inner!(self, |inner| {
            if let Some(out) = &inner.outgoing {
                let _ = out.unbounded_send(ClientFrame::Ping);
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Report `away` (tab hidden) or back online.
    pub fn set_away(&self, away: bool) -> Promise {
        with_inner!(self, |inner| {
            if let Some(out) = &inner.outgoing {
                let _ = out.unbounded_send(Messenger::presence_frame(away));
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A contact's presence (JSON).
    pub fn presence(&self, username: String) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.presence(&username).await
        )))
    }

    /// Create a group with `members` (JSON array of usernames); resolves to the group (JSON).
    pub fn create_group(&self, name: String, members_json: String) -> Promise {
        with_inner!(self, |inner| {
            let members: Vec<String> = serde_json::from_str(&members_json)
                .map_err(|_| invalid("members must be a JSON array of usernames"))?;
            let group = sdk!(
                inner
                    .messenger
                    .create_group(name.trim(), &members, EncryptionMode::default())
                    .await
            );
            sdk!(inner.messenger.sync().await);
            inner.persist()?;
            to_json(&group)
        })
    }

    /// This user's groups (JSON array).
    pub fn groups(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(inner.messenger.groups().await)))
    }

    /// Add `username` to a group.
    pub fn add_to_group(&self, group_id: String, username: String) -> Promise {
        with_inner!(self, |inner| {
            let id: GroupId = parse("group", &group_id)?;
            to_json(&sdk!(inner.messenger.add_to_group(id, &username).await))
        })
    }

    /// Remove `username` from a group.
    pub fn remove_from_group(&self, group_id: String, username: String) -> Promise {
        with_inner!(self, |inner| {
            let id: GroupId = parse("group", &group_id)?;
            sdk!(inner.messenger.remove_from_group(id, &username).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Leave a group.
    pub fn leave_group(&self, group_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: GroupId = parse("group", &group_id)?;
            sdk!(inner.messenger.leave_group(id).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Block `username`.
    pub fn block(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            sdk!(inner.messenger.block(&username).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Unblock `username`.
    pub fn unblock(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            sdk!(inner.messenger.unblock(&username).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The users this user blocked (JSON array).
    pub fn blocks(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(inner.messenger.blocks().await)))
    }

    /// The safety number with `username` and their trust level (JSON).
    pub fn safety_number(&self, username: String) -> Promise {
        with_inner!(self, |inner| {
            let report = sdk!(inner.messenger.safety_number(&username).await);
            inner.persist()?;
            Ok(json(&views::safety_number(&report)))
        })
    }

    /// Mark `username` verified after comparing `number` with them.
    pub fn verify(&self, username: String, number: String) -> Promise {
        with_inner!(self, |inner| {
            let report = sdk!(inner.messenger.verify(&username, &number).await);
            inner.persist()?;
            Ok(json(&views::safety_number(&report)))
        })
    }

    /// Check a message's ledger inclusion proof here, in the browser (JSON).
    pub fn verify_proof(&self, message_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let check = sdk!(inner.messenger.verify_message_proof(id).await);
            inner.persist()?;
            Ok(json(&views::proof_check(&check)))
        })
    }

    /// This account's devices (JSON array).
    pub fn devices(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.devices().await
        )))
    }

    /// Revoke another device of this account.
    pub fn revoke_device(&self, device_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: DeviceId = parse("device", &device_id)?;
            sdk!(inner.messenger.api().revoke_device(id).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// This account's sessions (JSON array).
    pub fn sessions(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.api().sessions().await
        )))
    }

    /// End one session.
    pub fn revoke_session(&self, session_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: SessionId = parse("session", &session_id)?;
            sdk!(inner.messenger.api().revoke_session(id).await);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Start an audio or video call in a conversation (JSON call record).
    pub fn start_call(&self, conversation_id: String, video: bool) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            let kind = if video {
                CallType::Video
            } else {
                CallType::Audio
            };
            to_json(&sdk!(inner.messenger.start_call(id, kind).await))
        })
    }

    /// One call record (fetching a call that has not rung yet makes it ring).
    pub fn call(&self, call_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: CallId = parse("call", &call_id)?;
            to_json(&sdk!(inner.messenger.call(id).await))
        })
    }

    /// Answer a ringing call.
    pub fn answer_call(&self, call_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: CallId = parse("call", &call_id)?;
            to_json(&sdk!(inner.messenger.answer_call(id).await))
        })
    }

    /// Decline a ringing call.
    pub fn decline_call(&self, call_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: CallId = parse("call", &call_id)?;
            to_json(&sdk!(inner.messenger.decline_call(id).await))
        })
    }

    /// Hang up.
    pub fn end_call(&self, call_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: CallId = parse("call", &call_id)?;
            to_json(&sdk!(inner.messenger.end_call(id).await))
        })
    }

    /// TURN credentials for the peer connection (JSON `{urls, username, credential, ttl}`).
    pub fn turn_credentials(&self) -> Promise {
        with_inner!(self, |inner| to_json(&sdk!(
            inner.messenger.turn_credentials().await
        )))
    }

    /// Send a call signal (JSON `CallSignal`) end-to-end encrypted to every device of `users`
    /// (JSON array of user ids); resolves to the warnings (JSON array).
    pub fn send_call_signal(&self, users_json: String, signal_json: String) -> Promise {
        with_inner!(self, |inner| {
            let users: Vec<UserId> = serde_json::from_str(&users_json)
                .map_err(|_| invalid("users must be a JSON array of user ids"))?;
            let signal: CallSignal = serde_json::from_str(&signal_json)
                .map_err(|e| invalid(format!("not a call signal: {e}")))?;
            let warnings = sdk!(inner.messenger.send_call_signal(&users, &signal).await);
            inner.persist()?;
            to_json(&warnings)
        })
    }

    /// Encrypt and send a file (with an optional JPEG thumbnail the UI made); `progress(sent,
    /// total)` is called after each uploaded part. Resolves to the send receipt (JSON).
    #[allow(clippy::too_many_arguments)]
    pub fn send_file(
        &self,
        conversation_id: String,
        name: String,
        mime_type: String,
        data: Vec<u8>,
        width: u32,
        height: u32,
        thumbnail: Option<Vec<u8>>,
        thumbnail_width: u32,
        thumbnail_height: u32,
        progress: Function,
    ) -> Promise {
        with_inner!(self, |inner| {
            let id: ConversationId = parse("conversation", &conversation_id)?;
            let file = FileToSend {
                name,
                mime_type,
                data,
                metadata: FileMetadata {
                    width: (width > 0).then_some(width),
                    height: (height > 0).then_some(height),
                    duration_ms: None,
                },
                thumbnail: thumbnail.map(|t| (t, thumbnail_width, thumbnail_height)),
                expires_in_secs: None,
            };
            let mut report = |sent: u64, total: u64| {
                let _ = progress.call2(
                    &JsValue::NULL,
                    &JsValue::from_f64(sent as f64),
                    &JsValue::from_f64(total as f64),
                );
            };
            let receipt = sdk!(
                inner
                    .messenger
                    .send_file_bytes(id, &file, &mut report)
                    .await
            );
            inner.persist()?;
            Ok(json(&views::send_receipt(&receipt)))
        })
    }

    /// The decrypted, checked content of the file a message announces.
    pub fn file_bytes(&self, message_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            let bytes = sdk!(inner.messenger.file_bytes(id).await);
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The decrypted thumbnail of a file message (`undefined` when it has none).
    pub fn file_thumbnail(&self, message_id: String) -> Promise {
        with_inner!(self, |inner| {
            let id: MessageId = parse("message", &message_id)?;
            Ok(match sdk!(inner.messenger.file_thumbnail(id).await) {
                Some(bytes) => Uint8Array::from(bytes.as_slice()).into(),
                None => JsValue::UNDEFINED,
            })
        })
    }

    /// Log out: revoke this device on the server. The caller erases the stored state.
    pub fn logout(&self) -> Promise {
        with_inner!(self, |inner| {
            sdk!(inner.messenger.logout().await);
            inner.persist = None;
            if let Some(out) = inner.outgoing.take() {
                out.close_channel();
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Connect the WebSocket and deliver its events to `on_event(json)` until it closes; the
    /// promise then resolves (reconnect with `sync()` then `run_events` again) or rejects with
    /// the connection error. `ws_url` is the server's `/api/v1/ws` URL.
    pub fn run_events(&self, ws_url: String, on_event: Function) -> Promise {
        let shared = self.inner.clone();
        future_to_promise(async move {
            let (token, receiver) = {
                let mut guard = shared.lock().await;
                let token = guard
                    .messenger
                    .session()
                    .map(|s| s.access_token.expose().to_owned())
                    .ok_or_else(|| js_error(&ClientError::SessionEnded("not logged in".into())))?;
                let (sender, receiver) = mpsc::unbounded();
                guard.outgoing = Some(sender);
                (token, receiver)
            };
            let result = event_loop(&shared, &ws_url, &token, receiver, &on_event).await;
            shared.lock().await.outgoing = None;
            result.map(|()| JsValue::UNDEFINED)
        })
    }
}

fn emit(on_event: &Function, event: &Value) {
    let _ = on_event.call1(&JsValue::NULL, &json(event));
}

async fn event_loop(
    shared: &Shared,
    ws_url: &str,
    token: &str,
    mut outgoing: mpsc::UnboundedReceiver<ClientFrame>,
    on_event: &Function,
) -> Result<(), JsValue> {
    let mut stream = EventStream::connect(ws_url, token)
        .await
        .map_err(|e| js_error(&e))?;
    loop {
        enum Step {
            Frame(Option<Result<zynk_proto::ws::ServerFrame, ClientError>>),
            Send(Option<ClientFrame>),
        }
        let step = {
            let next = stream.next_frame().fuse();
            let out = outgoing.next().fuse();
            futures::pin_mut!(next, out);
            select! {
                frame = next => Step::Frame(frame),
                frame = out => Step::Send(frame),
            }
        };
        match step {
            Step::Send(Some(frame)) => stream.send(&frame).await.map_err(|e| js_error(&e))?,
            Step::Send(None) => {
                stream.close().await;
                return Ok(());
            }
            Step::Frame(None) => return Ok(()),
            Step::Frame(Some(Err(ClientError::Protocol(message)))) => {
                emit(
                    on_event,
                    &serde_json::json!({"type": "warning", "message": message}),
                );
            }
            Step::Frame(Some(Err(error))) => return Err(js_error(&error)),
            Step::Frame(Some(Ok(frame))) => {
                if matches!(frame, zynk_proto::ws::ServerFrame::Hello { .. }) {
                    emit(on_event, &serde_json::json!({"type": "connected"}));
                }
                let (events, replies) = {
                    let mut guard = shared.lock().await;
                    let outcome = match guard.messenger.handle_frame(frame.clone()).await {
                        Ok(outcome) => outcome,
                        Err(error) => {
                            emit(
                                on_event,
                                &serde_json::json!({"type": "warning", "message": error.to_string()}),
                            );
                            continue;
                        }
                    };
                    let signals = guard.messenger.take_call_signals();
                    guard.persist()?;
                    (
                        views::frame_events(&frame, &outcome, &signals),
                        outcome.replies,
                    )
                };
                for reply in &replies {
                    stream.send(reply).await.map_err(|e| js_error(&e))?;
                }
                for event in &events {
                    emit(on_event, event);
                }
            }
        }
    }
}
