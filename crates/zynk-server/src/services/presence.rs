//! Presence and typing indicators: nothing here is durable.
//!
//! The rules, in one place:
//!
//! * A user is `online` while some device holds a WebSocket and was active (sent a frame other
//!   than `ping` and `presence`) within `presence.idle_secs`, `away` while connected but idle
//!   or after the client said `away`, `offline` otherwise. The status lives in the ephemeral store
//!   (`presence:{user_id}`, renewed at every heartbeat, so a node that dies leaves no stale
//!   `online` behind for longer than its lifetime); the last-seen time in the user's profile is
//!   also moved by WebSocket activity.
//! * A change goes live as a `presence` frame to the users who share a conversation with the
//!   user that the user accepted (their groups, 1:1 conversations they opened or accepted: the
//!   sender of a message request does not learn whether its recipient is online), except those
//!   blocked by or blocking them, and only while the user shows their online status
//!   (`show_online_status`); `show_last_seen = false` sends no time.
//!   `GET /api/v1/users/{user_id}/presence` answers by the same rule; anyone else is "not
//!   found".
//! * A `typing` frame of a participant reaches the other participants' connections (again
//!   never across a block), and `typing: false` follows by itself when it is not renewed within
//!   the typing lifetime (5 s). Typing frames are rate-limited per user
//!   (`presence.typing_per_minute`).
//!
//! Each node keeps its own connections' activity in memory; the ephemeral store is where nodes
//! meet. Frames travel to other nodes through the hub's `events` channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use zynk_backends::ephemeral::{EphemeralTtls, Presence};
use zynk_proto::presence::{PresenceStatus, UserPresence};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{ConversationId, DeviceId, RequestState, UserId};

use super::auth::{AuthContext, Authenticator};
use super::contacts::either_blocks;
use super::conversations::ConversationService;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{ConnectionId, Hub, Target};

/// Extra wait past the typing lifetime before an expiry is announced (so a renewal that is
/// just arriving wins).
const EXPIRY_SLACK: Duration = Duration::from_millis(200);

/// One connection's activity on this node.
#[derive(Debug, Clone, Copy)]
struct Activity {
    device_id: DeviceId,
    last_active: Instant,
    client_away: bool,
}

/// Presence and typing.
#[derive(Clone)]
pub struct PresenceService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    conversations: ConversationService,
    auth: Authenticator,
    /// Connections of this node by user.
    local: Arc<DashMap<UserId, HashMap<ConnectionId, Activity>>>,
    /// Typing marks started on this node, with a generation so an old expiry timer does nothing.
    typing: Arc<DashMap<(ConversationId, UserId), u64>>,
}

impl PresenceService {
    /// A service over the shared context and this node's hub.
    pub fn new(
        context: Arc<Context>,
        hub: Arc<Hub>,
        conversations: ConversationService,
        auth: Authenticator,
    ) -> Self {
        Self {
            context,
            hub,
            conversations,
            auth,
            local: Arc::new(DashMap::new()),
            typing: Arc::new(DashMap::new()),
        }
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.context.config.presence.idle_secs)
    }

    /// A connection opened: the user is online.
    pub async fn connected(&self, caller: &AuthContext, connection: ConnectionId) {
        self.local.entry(caller.user_id).or_default().insert(
            connection,
            Activity {
                device_id: caller.device_id,
                last_active: Instant::now(),
                client_away: false,
            },
        );
        self.auth.record_activity(caller).await;
        self.refresh(caller.user_id, caller.device_id).await;
    }

    /// The connection sent a frame other than `ping` and `presence`: it is active (and no longer `away` by the
    /// client's word).
    pub async fn active(&self, caller: &AuthContext, connection: ConnectionId) {
        let was = self.local_status(caller.user_id);
        if let Some(mut connections) = self.local.get_mut(&caller.user_id)
            && let Some(activity) = connections.get_mut(&connection)
        {
            activity.last_active = Instant::now();
            activity.client_away = false;
        }
        if was != Some(PresenceStatus::Online) {
            self.auth.record_activity(caller).await;
            self.refresh(caller.user_id, caller.device_id).await;
        }
    }

    /// The client set its presence (`online` or `away`) with a `presence` frame.
    pub async fn set_status(
        &self,
        caller: &AuthContext,
        connection: ConnectionId,
        status: PresenceStatus,
    ) -> Result<(), ApiError> {
        let away = match status {
            PresenceStatus::Online => false,
            PresenceStatus::Away => true,
            PresenceStatus::Offline => {
                return Err(ApiError::invalid_field(
                    "status",
                    "must be `online` or `away` (close the connection to go offline)",
                ));
            }
        };
        if let Some(mut connections) = self.local.get_mut(&caller.user_id)
            && let Some(activity) = connections.get_mut(&connection)
        {
            activity.client_away = away;
            if !away {
                activity.last_active = Instant::now();
            }
        }
        self.refresh(caller.user_id, caller.device_id).await;
        Ok(())
    }

    /// A heartbeat of the connection: renews the presence entry, notices idleness, and moves
    /// the last-seen time while the user is active.
    pub async fn tick(&self, caller: &AuthContext) {
        if self.local_status(caller.user_id) == Some(PresenceStatus::Online) {
            self.auth.record_activity(caller).await;
        }
        self.refresh(caller.user_id, caller.device_id).await;
    }

    /// A connection closed (after the connection service cleared the device's online mark).
    pub async fn disconnected(&self, caller: &AuthContext, connection: ConnectionId) {
        if let dashmap::Entry::Occupied(mut entry) = self.local.entry(caller.user_id) {
            entry.get_mut().remove(&connection);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
        self.refresh(caller.user_id, caller.device_id).await;
    }

    /// This node's view: `None` without a local connection.
    fn local_status(&self, user_id: UserId) -> Option<PresenceStatus> {
        let connections = self.local.get(&user_id)?;
        if connections.is_empty() {
            return None;
        }
        let idle = self.idle();
        let active = connections
            .values()
            .any(|a| !a.client_away && a.last_active.elapsed() < idle);
        Some(if active {
            PresenceStatus::Online
        } else {
            PresenceStatus::Away
        })
    }

    /// Whether another device of the user than `device_id` is connected (on any node).
    async fn other_device_connected(&self, user_id: UserId, device_id: Option<DeviceId>) -> bool {
        let devices: Vec<DeviceId> = match self.context.store.list_devices(user_id).await {
            Ok(devices) => devices
                .into_iter()
                .map(|d| d.id)
                .filter(|d| Some(*d) != device_id)
                .collect(),
            Err(err) => {
                tracing::debug!(error = %err, "cannot list devices for presence");
                return false;
            }
        };
        if devices.is_empty() {
            return false;
        }
        match self.context.ephemeral.devices_online(&devices).await {
            Ok(online) => online.into_iter().any(|o| o),
            Err(err) => {
                tracing::debug!(error = %err, "cannot read online marks for presence");
                false
            }
        }
    }

    /// Writes the user's status as this node sees it and announces a change.
    async fn refresh(&self, user_id: UserId, device_id: DeviceId) {
        let previous = match self.context.ephemeral.presence_get(user_id).await {
            Ok(previous) => previous,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read presence");
                None
            }
        };
        let previous_status = previous
            .as_ref()
            .and_then(|p| PresenceStatus::parse(&p.status))
            .unwrap_or(PresenceStatus::Offline);
        let status = match self.local_status(user_id) {
            Some(PresenceStatus::Online) => PresenceStatus::Online,
            Some(_) => {
                // Another node's active device keeps the user online.
                if let Some(p) = &previous
                    && previous_status == PresenceStatus::Online
                    && p.device_id != device_id
                    && self.other_device_connected(user_id, Some(device_id)).await
                    && !self.device_is_local(user_id, p.device_id)
                {
                    return;
                }
                PresenceStatus::Away
            }
            None => {
                if self.other_device_connected(user_id, None).await {
                    // Still connected through another node: it keeps the entry fresh.
                    return;
                }
                PresenceStatus::Offline
            }
        };
        let now = zynk_backends::now();
        let last_seen = match (status, &previous) {
            (PresenceStatus::Away, Some(p)) if previous_status != PresenceStatus::Offline => {
                p.last_seen
            }
            _ => now.timestamp(),
        };
        let record = Presence {
            status: status.as_str().to_owned(),
            last_seen,
            device_id,
        };
        if let Err(err) = self.context.ephemeral.presence_set(user_id, &record).await {
            tracing::debug!(error = %err, "cannot write presence");
        }
        if status != previous_status {
            let last_seen_at = chrono::DateTime::from_timestamp(last_seen, 0);
            self.announce(user_id, status, last_seen_at).await;
        }
    }

    fn device_is_local(&self, user_id: UserId, device_id: DeviceId) -> bool {
        self.local
            .get(&user_id)
            .is_some_and(|c| c.values().any(|a| a.device_id == device_id))
    }

    /// Whether `user_id` shows their presence to `viewer`: they share a group, or `user_id`
    /// accepted their 1:1 conversation (a message request's sender does not learn whether the
    /// recipient is online), and neither blocks the other. The same rule as [`Self::audience`].
    async fn shows_to(&self, user_id: UserId, viewer: UserId) -> Result<bool, ApiError> {
        let Some(standing) = self.context.store.contact_standing(user_id, viewer).await? else {
            return Ok(false);
        };
        if standing.user_blocks_other || standing.other_blocks_user {
            return Ok(false);
        }
        Ok(standing.share_group
            || standing
                .conversation
                .is_some_and(|c| c.user_state == RequestState::Accepted))
    }

    /// The users who may see `user_id`'s presence: the participants of the conversations they
    /// accepted (1:1 conversations they opened or accepted, their groups), not blocked either
    /// way.
    async fn audience(&self, user_id: UserId) -> Result<Vec<UserId>, ApiError> {
        let mut peers = HashSet::new();
        for conversation in self.context.store.list_conversations(user_id).await? {
            for peer in self
                .conversations
                .participants(conversation.id)
                .await?
                .iter()
            {
                if *peer != user_id {
                    peers.insert(*peer);
                }
            }
        }
        let mut audience = Vec::with_capacity(peers.len());
        for peer in peers {
            if !either_blocks(&self.context, user_id, peer).await? {
                audience.push(peer);
            }
        }
        Ok(audience)
    }

    /// Sends a `presence` frame to the audience, if the user shows their status.
    async fn announce(
        &self,
        user_id: UserId,
        status: PresenceStatus,
        last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let result = async {
            let Some(profile) = self.context.store.get_profile(user_id).await? else {
                return Ok(());
            };
            if !profile.privacy.show_online_status {
                return Ok(());
            }
            let audience = self.audience(user_id).await?;
            if audience.is_empty() {
                return Ok(());
            }
            let frame = ServerFrame::Presence {
                user_id,
                status,
                last_seen_at: last_seen_at.filter(|_| profile.privacy.show_last_seen),
            };
            let targets: Vec<Target> = audience
                .into_iter()
                .map(|user_id| Target::User { user_id })
                .collect();
            self.hub.publish(&targets, &frame).await;
            Ok::<(), ApiError>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err.message, "presence change not announced");
        }
    }

    /// The user changed `show_online_status` or `show_last_seen`: their contacts are told the
    /// status as it may now be seen. A user who hides their status appears `offline` (with no
    /// time) to everyone at once, whatever their real status, so nothing leaks and nobody keeps
    /// seeing a stale `online`.
    pub async fn privacy_changed(&self, user_id: UserId) {
        let result = async {
            let Some(profile) = self.context.store.get_profile(user_id).await? else {
                return Ok(());
            };
            if profile.privacy.show_online_status {
                let current = self.context.ephemeral.presence_get(user_id).await?;
                let status = current
                    .as_ref()
                    .and_then(|p| PresenceStatus::parse(&p.status))
                    .unwrap_or(PresenceStatus::Offline);
                let seen = current
                    .as_ref()
                    .and_then(|p| chrono::DateTime::from_timestamp(p.last_seen, 0))
                    .or(profile.last_seen_at);
                self.announce(user_id, status, seen).await;
                return Ok(());
            }
            let audience = self.audience(user_id).await?;
            if !audience.is_empty() {
                let frame = ServerFrame::Presence {
                    user_id,
                    status: PresenceStatus::Offline,
                    last_seen_at: None,
                };
                let targets: Vec<Target> = audience
                    .into_iter()
                    .map(|user_id| Target::User { user_id })
                    .collect();
                self.hub.publish(&targets, &frame).await;
            }
            Ok::<(), ApiError>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err.message, "presence privacy change not announced");
        }
    }

    /// `GET /api/v1/users/{user_id}/presence`: what the caller may see of a user's presence.
    pub async fn get(
        &self,
        caller: &AuthContext,
        user_id: UserId,
    ) -> Result<UserPresence, ApiError> {
        let not_found = || ApiError::not_found("user");
        if user_id != caller.user_id && !self.shows_to(user_id, caller.user_id).await? {
            return Err(not_found());
        }
        let profile = self
            .context
            .store
            .get_profile(user_id)
            .await?
            .ok_or_else(not_found)?;
        let current = match self.context.ephemeral.presence_get(user_id).await {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read presence");
                None
            }
        };
        let status = current
            .as_ref()
            .and_then(|p| PresenceStatus::parse(&p.status))
            .unwrap_or(PresenceStatus::Offline);
        let ephemeral_seen = current
            .as_ref()
            .and_then(|p| chrono::DateTime::from_timestamp(p.last_seen, 0));
        let last_seen_at = match (profile.last_seen_at, ephemeral_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let own = user_id == caller.user_id;
        Ok(UserPresence {
            status: (own || profile.privacy.show_online_status).then_some(status),
            last_seen_at: last_seen_at.filter(|_| own || profile.privacy.show_last_seen),
        })
    }

    /// A `typing` frame: relays it to the other participants and schedules its expiry.
    pub async fn typing(
        &self,
        caller: &AuthContext,
        conversation_id: ConversationId,
        typing: bool,
    ) -> Result<(), ApiError> {
        let decision = self
            .context
            .ephemeral
            .rate_limit_hit(
                &format!("typing:{}", caller.user_id),
                self.context.config.presence.typing_per_minute,
                Duration::from_secs(60),
            )
            .await?;
        if !decision.allowed {
            return Err(ApiError::rate_limited(
                decision.reset_after.as_secs().max(1),
            ));
        }
        let participants = self
            .conversations
            .require_participant(conversation_id, caller.user_id)
            .await?;
        let mut targets = Vec::with_capacity(participants.len());
        for peer in participants.iter().copied() {
            if peer != caller.user_id && !either_blocks(&self.context, caller.user_id, peer).await?
            {
                targets.push(Target::User { user_id: peer });
            }
        }
        let user_id = caller.user_id;
        let key = (conversation_id, user_id);
        if typing {
            self.context
                .ephemeral
                .typing_start(conversation_id, user_id)
                .await?;
            let generation = {
                let mut entry = self.typing.entry(key).or_insert(0);
                *entry += 1;
                *entry
            };
            let service = self.clone();
            let expiry_targets = targets.clone();
            tokio::spawn(async move {
                tokio::time::sleep(EphemeralTtls::default().typing + EXPIRY_SLACK).await;
                service
                    .expire(conversation_id, user_id, generation, &expiry_targets)
                    .await;
            });
        } else {
            self.typing.remove(&key);
            self.context
                .ephemeral
                .typing_stop(conversation_id, user_id)
                .await?;
        }
        if !targets.is_empty() {
            let frame = ServerFrame::Typing {
                conversation_id,
                user_id,
                typing,
            };
            self.hub.publish(&targets, &frame).await;
        }
        Ok(())
    }

    /// Announces `typing: false` when a mark started here was neither renewed (on any node)
    /// nor stopped.
    async fn expire(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        generation: u64,
        targets: &[Target],
    ) {
        let key = (conversation_id, user_id);
        if self.typing.get(&key).map(|g| *g) != Some(generation) {
            return;
        }
        match self.context.ephemeral.typing_users(conversation_id).await {
            Ok(users) if users.contains(&user_id) => return,
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(error = %err, "cannot read typing marks");
                return;
            }
        }
        if self
            .typing
            .remove_if(&key, |_, g| *g == generation)
            .is_none()
        {
            return;
        }
        if !targets.is_empty() {
            let frame = ServerFrame::Typing {
                conversation_id,
                user_id,
                typing: false,
            };
            self.hub.publish(targets, &frame).await;
        }
    }
}
