//! The to-device channel: store payloads durably, push them to connected devices, hand out and
//! acknowledge the inbox.

use std::sync::Arc;

use zynk_backends::model::{NewToDevice, ToDeviceRecord};
use zynk_proto::keys::DeviceRef;
use zynk_proto::to_device::{
    MAX_TO_DEVICE_CONTENT_BYTES, MAX_TO_DEVICE_RECIPIENTS, ToDeviceInbox, ToDeviceMessage,
    ToDeviceSendRequest, ToDeviceSendResponse,
};
use zynk_proto::ws::ServerFrame;

use super::auth::AuthContext;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// Largest inbox page.
pub const MAX_INBOX_PAGE: u32 = 500;

/// The to-device channel.
#[derive(Clone)]
pub struct ToDeviceService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    rate_limits: super::rate_limit::RateLimiter,
}

/// The wire form of a stored payload.
pub fn to_wire(record: ToDeviceRecord) -> ToDeviceMessage {
    ToDeviceMessage {
        id: record.id,
        sender_user_id: record.sender_user_id,
        sender_device_id: record.sender_device_id,
        event_type: record.event_type,
        content: record.content,
        created_at: record.created_at,
    }
}

impl ToDeviceService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self {
            rate_limits: super::rate_limit::RateLimiter::new(context.clone()),
            context,
            hub,
        }
    }

    /// Stores payloads for their recipients and pushes them to connected recipients.
    pub async fn send(
        &self,
        caller: &AuthContext,
        request: &ToDeviceSendRequest,
    ) -> Result<ToDeviceSendResponse, ApiError> {
        let short =
            |v: &str| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic());
        if !short(&request.txn_id) {
            return Err(ApiError::invalid_field(
                "txn_id",
                "must be 1-64 printable characters",
            ));
        }
        if !short(&request.event_type) {
            return Err(ApiError::invalid_field(
                "event_type",
                "must be 1-64 printable characters",
            ));
        }
        if request.messages.is_empty() || request.messages.len() > MAX_TO_DEVICE_RECIPIENTS {
            return Err(ApiError::invalid_field(
                "messages",
                "must hold 1 to 1024 payloads",
            ));
        }
        let mut messages = Vec::with_capacity(request.messages.len());
        for (i, m) in request.messages.iter().enumerate() {
            if !m.content.is_object() {
                return Err(ApiError::invalid_field(
                    &format!("messages[{i}].content"),
                    "must be a JSON object",
                ));
            }
            let size = serde_json::to_vec(&m.content)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > MAX_TO_DEVICE_CONTENT_BYTES {
                return Err(ApiError::invalid_field(
                    &format!("messages[{i}].content"),
                    "must be at most 16 KiB",
                ));
            }
            messages.push(NewToDevice {
                recipient_user_id: m.recipient.user_id,
                recipient_device_id: m.recipient.device_id,
                content: m.content.clone(),
            });
        }
        // Volume per sender and per (sender, recipient device), then the inbox bound.
        let limits = &self.context.config.rate_limits;
        let window = std::time::Duration::from_secs(limits.window_secs);
        for m in &messages {
            self.rate_limits
                .check_key(
                    &format!("td:{}", caller.user_id),
                    limits.to_device_per_sender,
                    window,
                )
                .await?;
            self.rate_limits
                .check_key(
                    &format!("td:{}:{}", caller.user_id, m.recipient_device_id),
                    limits.to_device_per_target,
                    window,
                )
                .await?;
        }
        let max_inbox = self.context.config.limits.max_inbox_messages;
        let recipients: Vec<zynk_proto::DeviceId> =
            messages.iter().map(|m| m.recipient_device_id).collect();
        let full: Vec<zynk_proto::DeviceId> = self
            .context
            .store
            .inbox_sizes(&recipients)
            .await?
            .into_iter()
            .filter(|(_, size)| *size >= max_inbox)
            .map(|(device_id, _)| device_id)
            .collect();
        let full_devices: Vec<DeviceRef> = messages
            .iter()
            .filter(|m| full.contains(&m.recipient_device_id))
            .map(|m| DeviceRef {
                user_id: m.recipient_user_id,
                device_id: m.recipient_device_id,
            })
            .collect();
        messages.retain(|m| !full.contains(&m.recipient_device_id));
        if messages.is_empty() {
            return Ok(ToDeviceSendResponse {
                delivered: 0,
                unknown_devices: Vec::new(),
                full_devices,
            });
        }
        let outcome = self
            .context
            .store
            .send_to_device(
                caller.user_id,
                caller.device_id,
                &request.txn_id,
                &request.event_type,
                &messages,
                zynk_backends::now(),
            )
            .await?;
        let delivered = outcome.stored.len() as u64 + outcome.duplicates;
        for record in outcome.stored {
            let target = messages
                .iter()
                .find(|m| m.recipient_device_id == record.recipient_device_id)
                .map(|m| Target::Device {
                    user_id: m.recipient_user_id,
                    device_id: m.recipient_device_id,
                });
            if let Some(target) = target {
                let frame = ServerFrame::ToDevice {
                    message: to_wire(record),
                };
                self.hub.publish(&[target], &frame).await;
            }
        }
        Ok(ToDeviceSendResponse {
            delivered,
            unknown_devices: outcome
                .unknown
                .into_iter()
                .map(|(user_id, device_id)| DeviceRef { user_id, device_id })
                .collect(),
            full_devices,
        })
    }

    /// The calling device's inbox after `since`.
    pub async fn inbox(
        &self,
        caller: &AuthContext,
        since: i64,
        limit: u32,
    ) -> Result<ToDeviceInbox, ApiError> {
        let limit = limit.clamp(1, MAX_INBOX_PAGE);
        let (records, has_more) = self
            .context
            .store
            .to_device_inbox(caller.device_id, since, limit)
            .await?;
        Ok(ToDeviceInbox {
            messages: records.into_iter().map(to_wire).collect(),
            has_more,
        })
    }

    /// Deletes the calling device's payloads up to `up_to`.
    pub async fn ack(&self, caller: &AuthContext, up_to: i64) -> Result<(), ApiError> {
        self.context
            .store
            .ack_to_device(caller.device_id, up_to)
            .await?;
        Ok(())
    }
}
