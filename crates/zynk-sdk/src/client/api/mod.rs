//! [`ApiClient`]: a typed client of the Zynk HTTP API (`/api/v1`). Errors come
//! back as [`ClientError::Api`] with the server's code; an expired access
//! token is refreshed once (rotating the refresh token) and the request
//! retried. Works natively and on wasm32 (reqwest over `fetch`).

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zynk_ledger::MessageProof;
use zynk_proto::auth::{AuthResponse, LoginRequest, RefreshRequest, RegisterRequest};
use zynk_proto::conversations::{Conversation, CreateConversationRequest, ReceiptRequest};
use zynk_proto::devices::DeviceView;
use zynk_proto::ids::{ConversationId, DeviceId, MessageId, SessionId, UserId};
use zynk_proto::keys::{
    DeviceRef, KeyCounts, KeysClaimRequest, KeysClaimResponse, KeysQueryRequest, KeysQueryResponse,
    KeysUploadRequest,
};
use zynk_proto::messages::{Message, MessagePage, SendMessageRequest, SendMessageResponse};
use zynk_proto::sessions::SessionView;
use zynk_proto::to_device::{
    ToDeviceAck, ToDeviceInbox, ToDeviceSendRequest, ToDeviceSendResponse,
};
use zynk_proto::trust::{
    CredentialResponse, ReportRequest, RotateIdentityKeyRequest, TrustActionResult, TrustReport,
};
use zynk_proto::users::{IdentityBackup, Me, PublicProfile};
use zynk_proto::{ErrorBody, ErrorCode};

mod contacts;
mod groups;
mod proximity;

use super::error::ClientError;
use super::ledger::LedgerInfo;
use super::session::Session;

const API: &str = "/api/v1";

/// A typed HTTP client for one server, holding the device's session.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    session: Option<Session>,
}

/// The HTTP client used when none is given: on native builds with the TLS
/// set-up of [`super::tls`] (system roots plus any extra roots).
fn default_http_client() -> reqwest::Client {
    #[cfg(not(target_arch = "wasm32"))]
    if let Ok(client) = super::tls::http_client() {
        return client;
    }
    reqwest::Client::new()
}

/// Whether a request carries the access token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Bearer,
}

impl ApiClient {
    /// A client for `base_url` (`http://host:port`, no path).
    pub fn new(base_url: &str) -> Self {
        Self::with_http(base_url, default_http_client())
    }

    /// A client sharing an existing `reqwest::Client`.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            session: None,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The current session, if logged in.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Replace the session (e.g. restored from saved state).
    pub fn set_session(&mut self, session: Option<Session>) {
        self.session = session;
    }

    /// The WebSocket URL of `/api/v1/ws` (`ws://` or `wss://`).
    pub fn websocket_url(&self) -> String {
        let base = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{base}{API}/ws")
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        token: Option<&str>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{API}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        Ok((status, bytes.to_vec()))
    }

    /// A request to `path` under `/api/v1` carrying the current access token (for streamed
    /// bodies, which cannot be retried: make a cheap authenticated call first so an expired
    /// token is refreshed).
    pub(crate) fn authorized(
        &self,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let token = self
            .session
            .as_ref()
            .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))?
            .access_token
            .expose()
            .to_owned();
        Ok(self
            .http
            .request(method, format!("{}{API}{path}", self.base))
            .bearer_auth(token))
    }

    /// Send a request; on `token_expired` refresh once and retry. Returns the
    /// body of a 2xx answer.
    pub(crate) async fn request<B: Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
        auth: Auth,
    ) -> Result<Vec<u8>, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Invalid(format!("cannot encode request: {e}")))?;
        let mut refreshed = false;
        loop {
            let token = match auth {
                Auth::None => None,
                Auth::Bearer => Some(
                    self.session
                        .as_ref()
                        .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))?
                        .access_token
                        .clone(),
                ),
            };
            let (status, bytes) = self
                .send_once(
                    &method,
                    path,
                    body.as_deref(),
                    token.as_ref().map(|t| t.expose()),
                )
                .await?;
            if (200..300).contains(&status) {
                return Ok(bytes);
            }
            let error = api_error(status, &bytes);
            if auth == Auth::Bearer && !refreshed && error.is(ErrorCode::TokenExpired) {
                refreshed = true;
                self.refresh().await?;
                continue;
            }
            if auth == Auth::Bearer
                && (error.is(ErrorCode::Unauthenticated) || error.is(ErrorCode::TokenExpired))
            {
                return Err(ClientError::SessionEnded(error.to_string()));
            }
            return Err(error);
        }
    }

    async fn json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
        auth: Auth,
    ) -> Result<T, ClientError> {
        let bytes = self.request(method, path, body, auth).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{path}: {e}")))
    }

    pub(crate) async fn get<T: DeserializeOwned>(&mut self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None::<&()>, Auth::Bearer)
            .await
    }

    pub(crate) async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.json(Method::POST, path, Some(body), Auth::Bearer)
            .await
    }

    async fn post_empty<B: Serialize + ?Sized>(
        &mut self,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        self.request(Method::POST, path, body, Auth::Bearer)
            .await
            .map(drop)
    }

    /// `POST /auth/register`; the session is kept on success.
    pub async fn register(&mut self, request: &RegisterRequest) -> Result<Session, ClientError> {
        let response: AuthResponse = self
            .json(Method::POST, "/auth/register", Some(request), Auth::None)
            .await?;
        let session = Session::from(response);
        self.session = Some(session.clone());
        Ok(session)
    }

    /// `POST /auth/login`; the session is kept on success. A wrong username
    /// or password gives [`ClientError::InvalidCredentials`].
    pub async fn login(&mut self, request: &LoginRequest) -> Result<Session, ClientError> {
        let response: AuthResponse = self
            .json(Method::POST, "/auth/login", Some(request), Auth::None)
            .await
            .map_err(|e| {
                if e.is(ErrorCode::InvalidCredentials) {
                    ClientError::InvalidCredentials
                } else {
                    e
                }
            })?;
        let session = Session::from(response);
        self.session = Some(session.clone());
        Ok(session)
    }

    /// `POST /auth/refresh`: rotates the tokens of the current session.
    pub async fn refresh(&mut self) -> Result<(), ClientError> {
        let refresh_token = self
            .session
            .as_ref()
            .ok_or_else(|| ClientError::SessionEnded("not logged in".into()))?
            .refresh_token
            .expose()
            .to_owned();
        // Not through `request`, which calls this on `token_expired`.
        let body = serde_json::to_vec(&RefreshRequest { refresh_token })
            .map_err(|e| ClientError::Invalid(format!("cannot encode request: {e}")))?;
        let (status, bytes) = self
            .send_once(&Method::POST, "/auth/refresh", Some(&body), None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(ClientError::SessionEnded(
                api_error(status, &bytes).to_string(),
            ));
        }
        let response: AuthResponse = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Protocol(format!("/auth/refresh: {e}")))?;
        self.session = Some(Session::from(response));
        Ok(())
    }

    /// `POST /auth/logout`: ends the session on the server and forgets it.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.post_empty("/auth/logout", None::<&()>).await?;
        self.session = None;
        Ok(())
    }

    /// `GET /users/me`.
    pub async fn me(&mut self) -> Result<Me, ClientError> {
        self.get("/users/me").await
    }

    /// `GET /users/by-username/{name}`; an unknown name gives
    /// [`ClientError::UnknownUser`].
    pub async fn user_by_username(&mut self, username: &str) -> Result<PublicProfile, ClientError> {
        check_username(username)?;
        self.get(&format!("/users/by-username/{username}"))
            .await
            .map_err(|e| {
                if e.is(ErrorCode::NotFound) {
                    ClientError::UnknownUser(username.to_owned())
                } else {
                    e
                }
            })
    }

    /// `GET /users/{id}`.
    pub async fn user(&mut self, user_id: UserId) -> Result<PublicProfile, ClientError> {
        self.get(&format!("/users/{user_id}")).await
    }

    /// `GET /users/{id}/presence`: a user's presence as the caller may see it.
    pub async fn presence(
        &mut self,
        user_id: UserId,
    ) -> Result<zynk_proto::presence::UserPresence, ClientError> {
        self.get(&format!("/users/{user_id}/presence")).await
    }

    /// `GET /devices`: the caller's devices.
    pub async fn devices(&mut self) -> Result<Vec<DeviceView>, ClientError> {
        self.get("/devices").await
    }

    /// `DELETE /devices/{id}`: revokes one of the caller's devices.
    pub async fn revoke_device(&mut self, device_id: DeviceId) -> Result<(), ClientError> {
        self.request(
            Method::DELETE,
            &format!("/devices/{device_id}"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `GET /sessions`: the caller's sessions.
    pub async fn sessions(&mut self) -> Result<Vec<SessionView>, ClientError> {
        self.get("/sessions").await
    }

    /// `DELETE /sessions/{id}`.
    pub async fn revoke_session(&mut self, session_id: SessionId) -> Result<(), ClientError> {
        self.request(
            Method::DELETE,
            &format!("/sessions/{session_id}"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `PUT /users/me/identity-backup`.
    pub async fn put_identity_backup(
        &mut self,
        backup: &IdentityBackup,
    ) -> Result<(), ClientError> {
        self.request(
            Method::PUT,
            "/users/me/identity-backup",
            Some(backup),
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `POST /users/me/password`: changes the password (the old and new derived secrets, and
    /// the identity backup sealed under the new one).
    pub async fn change_password(
        &mut self,
        request: &zynk_proto::users::ChangePasswordRequest,
    ) -> Result<(), ClientError> {
        self.request(
            Method::POST,
            "/users/me/password",
            Some(request),
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `GET /users/me/identity-backup`; `None` when the server holds none.
    pub async fn identity_backup(&mut self) -> Result<Option<IdentityBackup>, ClientError> {
        match self.get("/users/me/identity-backup").await {
            Ok(backup) => Ok(Some(backup)),
            Err(e) if e.is(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /identities/{did}/proof`: the identity key the ledger records for
    /// `did`, with its inclusion proof; `None` when no block holds it.
    pub async fn identity_proof(
        &mut self,
        did: &str,
    ) -> Result<Option<zynk_ledger::IdentityProof>, ClientError> {
        match self.get(&format!("/identities/{did}/proof")).await {
            Ok(proof) => Ok(Some(proof)),
            Err(e) if e.is(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /users/me/identity-key`: replace the account's identity key with
    /// `request.identity_key`, authorised by the current key's signature over
    /// [`zynk_proto::trust::rotation_signing_bytes`]. The rotation is recorded
    /// in the ledger; contacts then see a changed key (and must verify it
    /// again), and device bundles signed by the old key no longer verify.
    pub async fn rotate_identity_key(
        &mut self,
        request: &RotateIdentityKeyRequest,
    ) -> Result<(), ClientError> {
        self.request(
            Method::PUT,
            "/users/me/identity-key",
            Some(request),
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `GET /users/me/trust`: the caller's trust score, the share of the
    /// per-user rate limits it gives, and its history (newest first).
    pub async fn my_trust(&mut self) -> Result<TrustReport, ClientError> {
        self.get("/users/me/trust").await
    }

    /// `POST /users/{id}/report`: report `user_id` (someone the caller shares
    /// a conversation with) for `reason` (only `spam` for now). Once per user
    /// and UTC day: a second report gives `already_reported`.
    pub async fn report_user(
        &mut self,
        user_id: UserId,
        reason: &str,
    ) -> Result<TrustActionResult, ClientError> {
        let request = ReportRequest {
            reason: reason.to_owned(),
        };
        self.post(&format!("/users/{user_id}/report"), &request)
            .await
    }

    /// `POST /users/{id}/vouch`: vouch for `user_id` (someone the caller
    /// shares a conversation with). Once per user ever: a second vouch gives
    /// `already_reported`.
    pub async fn vouch_user(&mut self, user_id: UserId) -> Result<TrustActionResult, ClientError> {
        self.json(
            Method::POST,
            &format!("/users/{user_id}/vouch"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
    }

    /// `POST /credentials`: a W3C Verifiable Credential (VC-JWT) for the
    /// caller's `did:zynk`, signed by the server's `did:key`.
    pub async fn issue_credential(&mut self) -> Result<CredentialResponse, ClientError> {
        self.json(Method::POST, "/credentials", None::<&()>, Auth::Bearer)
            .await
    }

    /// `POST /keys/upload`.
    pub async fn upload_keys(
        &mut self,
        request: &KeysUploadRequest,
    ) -> Result<KeyCounts, ClientError> {
        self.post("/keys/upload", request).await
    }

    /// `GET /keys/count`.
    pub async fn key_counts(&mut self) -> Result<KeyCounts, ClientError> {
        self.get("/keys/count").await
    }

    /// `POST /keys/query`.
    pub async fn query_keys(
        &mut self,
        user_ids: Vec<UserId>,
    ) -> Result<KeysQueryResponse, ClientError> {
        self.post("/keys/query", &KeysQueryRequest { user_ids })
            .await
    }

    /// `POST /keys/claim`.
    pub async fn claim_keys(
        &mut self,
        devices: Vec<DeviceRef>,
    ) -> Result<KeysClaimResponse, ClientError> {
        self.post("/keys/claim", &KeysClaimRequest { devices })
            .await
    }

    /// `POST /to-device`.
    pub async fn send_to_device(
        &mut self,
        request: &ToDeviceSendRequest,
    ) -> Result<ToDeviceSendResponse, ClientError> {
        self.post("/to-device", request).await
    }

    /// `GET /to-device?since=…&limit=…`.
    pub async fn to_device_inbox(
        &mut self,
        since: i64,
        limit: u32,
    ) -> Result<ToDeviceInbox, ClientError> {
        self.get(&format!("/to-device?since={since}&limit={limit}"))
            .await
    }

    /// `POST /to-device/ack`.
    pub async fn ack_to_device(&mut self, up_to: i64) -> Result<(), ClientError> {
        self.post_empty("/to-device/ack", Some(&ToDeviceAck { up_to }))
            .await
    }

    /// `POST /conversations`: opens (or returns) the 1:1 conversation with
    /// `participant`.
    pub async fn open_conversation(
        &mut self,
        participant: UserId,
    ) -> Result<Conversation, ClientError> {
        let request = CreateConversationRequest {
            kind: "one_to_one".into(),
            participant,
            anchor_expiring: false,
        };
        self.post("/conversations", &request).await
    }

    /// `GET /conversations`.
    pub async fn conversations(&mut self) -> Result<Vec<Conversation>, ClientError> {
        self.get("/conversations").await
    }

    /// `GET /conversations/{id}`.
    pub async fn conversation(&mut self, id: ConversationId) -> Result<Conversation, ClientError> {
        self.get(&format!("/conversations/{id}")).await
    }

    /// `POST /conversations/{id}/messages`.
    pub async fn send_message(
        &mut self,
        conversation_id: ConversationId,
        request: &SendMessageRequest,
    ) -> Result<SendMessageResponse, ClientError> {
        self.post(
            &format!("/conversations/{conversation_id}/messages"),
            request,
        )
        .await
    }

    /// `GET /conversations/{id}/messages?after=…&limit=…` (ascending).
    pub async fn messages_after(
        &mut self,
        conversation_id: ConversationId,
        after: i64,
        limit: u32,
    ) -> Result<MessagePage, ClientError> {
        self.get(&format!(
            "/conversations/{conversation_id}/messages?after={after}&limit={limit}"
        ))
        .await
    }

    /// `GET /conversations/{id}/messages?before=…&limit=…` (ascending).
    pub async fn messages_before(
        &mut self,
        conversation_id: ConversationId,
        before: i64,
        limit: u32,
    ) -> Result<MessagePage, ClientError> {
        self.get(&format!(
            "/conversations/{conversation_id}/messages?before={before}&limit={limit}"
        ))
        .await
    }

    /// `GET /messages/{id}`; unknown gives [`ClientError::UnknownMessage`].
    pub async fn message(&mut self, message_id: MessageId) -> Result<Message, ClientError> {
        self.get(&format!("/messages/{message_id}"))
            .await
            .map_err(|e| {
                if e.is(ErrorCode::NotFound) {
                    ClientError::UnknownMessage(message_id.to_string())
                } else {
                    e
                }
            })
    }

    /// `GET /ledger`: the server's ledger and the key that signs its batch
    /// headers.
    pub async fn ledger_info(&mut self) -> Result<LedgerInfo, ClientError> {
        self.get("/ledger").await
    }

    /// `GET /messages/{id}/proof`, as the JSON text the server sent. A
    /// message whose batch is not sealed yet (the server answers
    /// `not_found`) gives [`ClientError::NotAnchored`].
    pub async fn message_proof_json(
        &mut self,
        message_id: MessageId,
    ) -> Result<String, ClientError> {
        let path = format!("/messages/{message_id}/proof");
        let bytes = self
            .request(Method::GET, &path, None::<&()>, Auth::Bearer)
            .await
            .map_err(|e| {
                if e.is(ErrorCode::NotFound) {
                    ClientError::NotAnchored(message_id.to_string())
                } else {
                    e
                }
            })?;
        String::from_utf8(bytes)
            .map_err(|_| ClientError::Protocol(format!("{path}: the answer is not UTF-8")))
    }

    /// `GET /messages/{id}/proof`, parsed (not verified: see
    /// [`crate::client::Messenger::verify_message_proof`]). A message whose
    /// batch is not sealed yet gives [`ClientError::NotAnchored`].
    pub async fn message_proof(
        &mut self,
        message_id: MessageId,
    ) -> Result<MessageProof, ClientError> {
        let json = self.message_proof_json(message_id).await?;
        MessageProof::from_json(&json)
            .map_err(|e| ClientError::Protocol(format!("/messages/{message_id}/proof: {e}")))
    }

    /// `POST /conversations/{id}/receipts`.
    pub async fn receipts(
        &mut self,
        conversation_id: ConversationId,
        receipt: &ReceiptRequest,
    ) -> Result<(), ClientError> {
        self.post_empty(
            &format!("/conversations/{conversation_id}/receipts"),
            Some(receipt),
        )
        .await
    }
}

/// Usernames are `^[a-zA-Z0-9_]{3,64}$`; checking here also keeps them safe
/// in URL paths.
pub(crate) fn check_username(username: &str) -> Result<(), ClientError> {
    let ok = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "invalid username {username:?}: use 3-64 letters, digits or _"
        )))
    }
}

/// The typed error of a non-2xx answer.
pub(crate) fn error_of(status: u16, body: &[u8]) -> ClientError {
    api_error(status, body)
}

/// A transport error described without its URL's query.
pub(crate) fn describe_error(error: &reqwest::Error) -> String {
    describe(error)
}

/// The typed error of a non-2xx answer.
fn api_error(status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => ClientError::Api {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ClientError::Protocol(format!("HTTP {status} without an error body")),
    }
}

/// A transport error without the URL's query (which could carry a token).
fn describe(error: &reqwest::Error) -> String {
    #[cfg(not(target_arch = "wasm32"))]
    let connect = error.is_connect();
    #[cfg(target_arch = "wasm32")]
    let connect = false;
    let kind = if error.is_timeout() {
        "timed out"
    } else if connect {
        "connection failed"
    } else if error.is_decode() || error.is_body() {
        "could not read the answer"
    } else {
        "request failed"
    };
    // The innermost cause says what went wrong (refused, a certificate not
    // trusted, …); the causes below reqwest's own error carry no URL.
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = format!(": {inner}");
        source = inner.source();
    }
    match error.url() {
        Some(url) => format!(
            "{kind} ({}://{}{}){cause}",
            url.scheme(),
            url.host_str().unwrap_or("?"),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        None => format!("{kind}{cause}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_typed_errors() {
        let body = br#"{"error":{"code":"not_found","message":"no such user"}}"#;
        let error = api_error(404, body);
        assert!(error.is(ErrorCode::NotFound));
        assert_eq!(error.code(), Some(ErrorCode::NotFound));
        assert!(error.to_string().contains("no such user"));
        let garbage = api_error(502, b"<html>bad gateway</html>");
        assert!(matches!(garbage, ClientError::Protocol(_)));
        assert_eq!(garbage.code(), None);
    }

    #[test]
    fn websocket_url_follows_the_scheme() {
        assert_eq!(
            ApiClient::new("http://127.0.0.1:8080/").websocket_url(),
            "ws://127.0.0.1:8080/api/v1/ws"
        );
        assert_eq!(
            ApiClient::new("https://zynk.example").websocket_url(),
            "wss://zynk.example/api/v1/ws"
        );
    }

    #[test]
    fn usernames_are_checked_before_use_in_paths() {
        assert!(check_username("alice_1").is_ok());
        for bad in ["al", "a/b/c", "../x", "name with space", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }
}
