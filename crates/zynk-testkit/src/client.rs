//! A small typed HTTP client over the API, for tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A fresh random Ed25519 public key, unpadded standard base64.
pub fn random_key() -> String {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("randomness");
    let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    STANDARD_NO_PAD.encode(key.as_bytes())
}

/// A user identity key pair (Ed25519), for register bodies and rotations.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The signing key.
    pub key: ed25519_dalek::SigningKey,
}

impl Identity {
    /// A fresh random identity.
    pub fn random() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("randomness");
        Self::from_seed(&seed)
    }

    /// The identity of `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The public key, unpadded standard base64.
    pub fn public_key(&self) -> String {
        STANDARD_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The public key's bytes.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `message`; unpadded standard base64.
    pub fn sign(&self, message: &[u8]) -> String {
        use ed25519_dalek::Signer as _;
        STANDARD_NO_PAD.encode(self.key.sign(message).to_bytes())
    }
}

/// A device description for register/login bodies, with the device's signing key.
#[derive(Debug, Clone)]
pub struct Device {
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Public key.
    pub public_key: String,
    /// The device's signing key (its public key is `public_key` unless a test changed it).
    pub key: Identity,
}

impl Device {
    /// A new random device on `platform`.
    pub fn random(platform: &str) -> Self {
        let key = Identity::random();
        Self {
            name: format!("{platform} device"),
            platform: platform.into(),
            fingerprint: format!("fp-{}", uuid::Uuid::new_v4().simple()),
            public_key: key.public_key(),
            key,
        }
    }

    /// The JSON object for a request body.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name, "platform": self.platform,
            "fingerprint": self.fingerprint, "public_key": self.public_key,
        })
    }

    /// The device key's bytes as sent (`public_key`), or zeros when a test made it invalid.
    fn sent_key(&self) -> [u8; 32] {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&self.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 32])
    }
}

/// A register body for `username` with proofs of possession by `identity` and `device`.
pub fn register_json(
    username: &str,
    password: &str,
    identity: &Identity,
    device: &Device,
) -> Value {
    let statement = zynk_proto::possession::register_bytes(
        username,
        &identity.public_bytes(),
        &device.sent_key(),
    );
    json!({
        "username": username, "password": password,
        "identity_key": identity.public_key(), "device": device.json(),
        "identity_signature": identity.sign(&statement),
        "device_signature": device.key.sign(&statement),
    })
}

/// A login body for `username` on `device`, with the device key's proof of possession.
pub fn login_json(username: &str, password: &str, device: &Device) -> Value {
    let statement = zynk_proto::possession::login_bytes(username, &device.sent_key());
    json!({
        "username": username, "password": password, "device": device.json(),
        "device_signature": device.key.sign(&statement),
    })
}

/// What registration returned, plus what was sent.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// User id.
    pub user_id: String,
    /// Device id.
    pub device_id: String,
    /// Session id.
    pub session_id: String,
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// The device.
    pub device: Device,
    /// The identity key pair registered (`None` after a login, which does not restore it).
    pub identity: Option<Identity>,
}

impl Registered {
    fn from_response(
        username: &str,
        password: &str,
        device: Device,
        identity: Option<Identity>,
        body: &Value,
    ) -> Self {
        let s = |k: &str| {
            body[k]
                .as_str()
                .unwrap_or_else(|| panic!("field {k} in {body}"))
                .to_owned()
        };
        Self {
            username: username.into(),
            password: password.into(),
            user_id: s("user_id"),
            device_id: s("device_id"),
            session_id: s("session_id"),
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
            device,
            identity,
        }
    }
}

/// An HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        zynk_evm::install_tls_provider();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; returns status and JSON body (`Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends raw bytes with a content type; returns status, headers and JSON body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST JSON without a token.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, None, Some(&body)).await
    }

    /// Registers `username` with a random identity key and a new web device; panics unless 201.
    pub async fn register(&self, username: &str) -> Registered {
        self.register_with(username, Identity::random()).await
    }

    /// Registers `username` with `identity` and a new web device; panics unless 201.
    pub async fn register_with(&self, username: &str, identity: Identity) -> Registered {
        let device = Device::random("web");
        let password = "correct horse battery";
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                register_json(username, password, &identity, &device),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        Registered::from_response(username, password, device, Some(identity), &body)
    }

    /// Logs in on `device` (signing the login statement with its key); returns status and
    /// body.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device: &Device,
    ) -> (StatusCode, Value) {
        self.post("/api/v1/auth/login", login_json(username, password, device))
            .await
    }

    /// Logs in on `device`; panics unless 200.
    pub async fn login_ok(&self, username: &str, password: &str, device: Device) -> Registered {
        let (status, body) = self.login(username, password, &device).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        Registered::from_response(username, password, device, None, &body)
    }

    /// A unique valid username with `stem`.
    pub fn username(stem: &str) -> String {
        format!(
            "{stem}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// A fake ciphertext for tests (the server never decrypts): `(base64, sha256 hex)`.
pub fn ciphertext(text: &str) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let bytes = format!("ciphertext:{text}").into_bytes();
    (
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        hex::encode(sha2::Sha256::digest(&bytes)),
    )
}

/// A send-message body with a fake ciphertext of `text`.
pub fn message_body(text: &str) -> Value {
    let (content, hash) = ciphertext(text);
    json!({
        "message_id": uuid::Uuid::new_v4(),
        "encrypted_content": content,
        "content_hash": hash,
        "message_type": "text",
    })
}

impl Api {
    /// Opens the 1:1 conversation of `token`'s user with `other`; returns its id.
    pub async fn open_conversation(&self, token: &str, other: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/conversations",
                Some(token),
                Some(&json!({"type": "one_to_one", "participant": other})),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        body["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_owned()
    }

    /// Sends a message body; panics unless 201. Returns the stored message.
    pub async fn send_message(&self, token: &str, conversation: &str, body: Value) -> Value {
        let (status, reply) = self
            .call(
                Method::POST,
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(token),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        reply["message"].clone()
    }
}
