//! Content-free push wake-ups for devices that are not connected. The sender is an interface
//! ([`PushSender`]) that the message service calls for participants' devices with no online
//! mark; [`WebhookPush`] posts `{"push_token", "device_id", "reason"}` to a configured URL (a
//! push gateway that talks to FCM/APNs). Nothing about the message is sent: no sender, no
//! conversation, no content.

use std::time::Duration;

use async_trait::async_trait;
use zynk_proto::DeviceId;

/// Sends wake-ups.
#[async_trait]
pub trait PushSender: Send + Sync {
    /// Wakes a device up. Failures are logged by the caller, never fatal.
    async fn wake(&self, device_id: DeviceId, push_token: &str) -> Result<(), String>;
}

/// Posts wake-ups to a webhook.
pub struct WebhookPush {
    url: String,
    client: reqwest::Client,
}

impl WebhookPush {
    /// A sender posting to `url`.
    pub fn new(url: &str) -> Result<Self, String> {
        zynk_evm::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.to_owned(),
            client,
        })
    }
}

#[async_trait]
impl PushSender for WebhookPush {
    async fn wake(&self, device_id: DeviceId, push_token: &str) -> Result<(), String> {
        let body = serde_json::json!({
            "push_token": push_token,
            "device_id": device_id,
            "reason": "new_activity",
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("push webhook answered {}", response.status()))
        }
    }
}
