//! In-process ephemeral state: the embedded default for a single node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use zynk_proto::{ConversationId, DeviceId, GroupId, UserId};

use super::*;

/// Capacity of each in-process publish/subscribe channel; a subscriber that falls further
/// behind skips messages (as a Redis subscriber would lose them on a reconnect).
const CHANNEL_CAPACITY: usize = 1024;

/// In-process implementation of [`Ephemeral`]. Expired entries are invisible at once and
/// removed by [`MemoryEphemeral::sweep`], which [`MemoryEphemeral::spawn_sweeper`] runs
/// periodically.
#[derive(Default)]
pub struct MemoryEphemeral {
    ttls: EphemeralTtls,
    sessions: DashMap<String, (CachedSession, Instant)>,
    revoked: DashMap<String, Instant>,
    rates: DashMap<String, (u64, Instant)>,
    presence: DashMap<UserId, (Presence, Instant)>,
    online: DashMap<DeviceId, Instant>,
    typing: DashMap<ConversationId, HashMap<UserId, Instant>>,
    locations: DashMap<UserId, (GeoPoint, Instant)>,
    groups: DashMap<GroupId, (Vec<UserId>, Instant)>,
    chain_pending: DashMap<String, (Vec<u8>, Instant)>,
    chain_latest: std::sync::Mutex<Option<u64>>,
    chain_validators: DashMap<String, (ValidatorStatus, Instant)>,
    chain_unanchored: std::sync::Mutex<std::collections::VecDeque<String>>,
    channels: DashMap<String, broadcast::Sender<Vec<u8>>>,
}

impl std::fmt::Debug for MemoryEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEphemeral")
            .field("ttls", &self.ttls)
            .finish_non_exhaustive()
    }
}

impl MemoryEphemeral {
    /// An empty store with the given lifetimes.
    pub fn new(ttls: EphemeralTtls) -> Self {
        Self {
            ttls,
            ..Self::default()
        }
    }

    /// Removes every expired entry.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.sessions.retain(|_, (_, until)| *until > now);
        self.revoked.retain(|_, until| *until > now);
        self.rates.retain(|_, (_, until)| *until > now);
        self.presence.retain(|_, (_, until)| *until > now);
        self.online.retain(|_, until| *until > now);
        self.typing.retain(|_, users| {
            users.retain(|_, until| *until > now);
            !users.is_empty()
        });
        self.locations.retain(|_, (_, until)| *until > now);
        self.groups.retain(|_, (_, until)| *until > now);
        self.chain_pending.retain(|_, (_, until)| *until > now);
        self.chain_validators.retain(|_, (_, until)| *until > now);
        self.channels
            .retain(|_, sender| sender.receiver_count() > 0);
    }

    /// Runs [`MemoryEphemeral::sweep`] every `every` until the store is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(store) => store.sweep(),
                    None => break,
                }
            }
        });
    }
}

#[async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn ping(&self) -> Result<(), EphemeralError> {
        Ok(())
    }

    async fn session_get(
        &self,
        access_hash: &str,
    ) -> Result<Option<CachedSession>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .sessions
            .get(access_hash)
            .filter(|e| e.1 > now)
            .map(|e| e.0))
    }

    async fn session_put(
        &self,
        access_hash: &str,
        session: &CachedSession,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let now = Instant::now();
        // Hold the revocation entry's shard lock while inserting, so a concurrent revocation
        // either sees the new entry or is seen by this check.
        let revoked = self.revoked.entry(access_hash.to_owned());
        if let dashmap::Entry::Occupied(ref e) = revoked
            && *e.get() > now
        {
            return Ok(());
        }
        self.sessions.insert(
            access_hash.to_owned(),
            (*session, now + ttl.min(REVOCATION_MEMORY)),
        );
        drop(revoked);
        Ok(())
    }

    async fn session_revoke(&self, access_hashes: &[String]) -> Result<(), EphemeralError> {
        let until = Instant::now() + REVOCATION_MEMORY;
        for hash in access_hashes {
            let marker = self.revoked.entry(hash.clone()).insert(until);
            self.sessions.remove(hash);
            drop(marker);
        }
        Ok(())
    }

    async fn rate_limit_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<RateDecision, EphemeralError> {
        let now = Instant::now();
        let mut entry = self
            .rates
            .entry(key.to_owned())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(RateDecision {
            allowed: entry.0 <= limit,
            count: entry.0,
            reset_after: entry.1.saturating_duration_since(now),
        })
    }

    async fn rate_limit_peek(&self, key: &str) -> Result<u64, EphemeralError> {
        let now = Instant::now();
        Ok(self.rates.get(key).filter(|e| e.1 > now).map_or(0, |e| e.0))
    }

    async fn presence_set(
        &self,
        user_id: UserId,
        presence: &Presence,
    ) -> Result<(), EphemeralError> {
        self.presence.insert(
            user_id,
            (presence.clone(), Instant::now() + self.ttls.presence),
        );
        Ok(())
    }

    async fn presence_get(&self, user_id: UserId) -> Result<Option<Presence>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .presence
            .get(&user_id)
            .filter(|e| e.1 > now)
            .map(|e| e.0.clone()))
    }

    async fn online_users(&self) -> Result<Vec<UserId>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .presence
            .iter()
            .filter(|e| e.1 > now)
            .map(|e| *e.key())
            .collect())
    }

    async fn device_online(
        &self,
        device_id: DeviceId,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        self.online.insert(device_id, Instant::now() + ttl);
        Ok(())
    }

    async fn device_offline(&self, device_id: DeviceId) -> Result<(), EphemeralError> {
        self.online.remove(&device_id);
        Ok(())
    }

    async fn devices_online(&self, device_ids: &[DeviceId]) -> Result<Vec<bool>, EphemeralError> {
        let now = Instant::now();
        Ok(device_ids
            .iter()
            .map(|d| self.online.get(d).is_some_and(|u| *u > now))
            .collect())
    }

    async fn typing_start(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError> {
        let until = Instant::now() + self.ttls.typing;
        self.typing
            .entry(conversation_id)
            .or_default()
            .insert(user_id, until);
        Ok(())
    }

    async fn typing_stop(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError> {
        if let Some(mut users) = self.typing.get_mut(&conversation_id) {
            users.remove(&user_id);
        }
        Ok(())
    }

    async fn typing_users(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<UserId>, EphemeralError> {
        let now = Instant::now();
        let mut users: Vec<UserId> = self
            .typing
            .get(&conversation_id)
            .map(|u| {
                u.iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        users.sort();
        Ok(users)
    }

    async fn location_set(&self, user_id: UserId, point: GeoPoint) -> Result<(), EphemeralError> {
        self.locations
            .insert(user_id, (point, Instant::now() + self.ttls.location));
        Ok(())
    }

    async fn location_remove(&self, user_id: UserId) -> Result<(), EphemeralError> {
        self.locations.remove(&user_id);
        Ok(())
    }

    async fn location_get(&self, user_id: UserId) -> Result<Option<GeoPoint>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .locations
            .get(&user_id)
            .filter(|e| e.1 > now)
            .map(|e| e.0))
    }

    async fn locations_near(
        &self,
        center: GeoPoint,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<Nearby>, EphemeralError> {
        let now = Instant::now();
        let mut found: Vec<Nearby> = self
            .locations
            .iter()
            .filter(|e| e.1 > now)
            .map(|e| Nearby {
                user_id: *e.key(),
                distance_m: haversine_m(center, e.0),
                point: e.0,
            })
            .filter(|n| n.distance_m <= radius_m)
            .collect();
        found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        found.truncate(limit);
        Ok(found)
    }

    async fn group_members_put(
        &self,
        group_id: GroupId,
        members: &[UserId],
    ) -> Result<(), EphemeralError> {
        // A set, as on Redis: each member once, and an empty list is not cached at all.
        let mut members = members.to_vec();
        members.sort();
        members.dedup();
        if members.is_empty() {
            self.groups.remove(&group_id);
            return Ok(());
        }
        let until = Instant::now() + self.ttls.group_members;
        self.groups.insert(group_id, (members, until));
        Ok(())
    }

    async fn group_members_get(
        &self,
        group_id: GroupId,
    ) -> Result<Option<Vec<UserId>>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .groups
            .get(&group_id)
            .filter(|e| e.1 > now)
            .map(|e| e.0.clone()))
    }

    async fn group_members_invalidate(&self, group_id: GroupId) -> Result<(), EphemeralError> {
        self.groups.remove(&group_id);
        Ok(())
    }

    async fn chain_pending_put(&self, hash: &str, json: &[u8]) -> Result<(), EphemeralError> {
        let until = Instant::now() + CHAIN_PENDING_TTL;
        self.chain_pending
            .insert(hash.to_owned(), (json.to_vec(), until));
        Ok(())
    }

    async fn chain_pending_get(&self, hash: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .chain_pending
            .get(hash)
            .filter(|e| e.1 > now)
            .map(|e| e.0.clone()))
    }

    async fn chain_pending_remove(&self, hashes: &[String]) -> Result<(), EphemeralError> {
        for hash in hashes {
            self.chain_pending.remove(hash);
        }
        Ok(())
    }

    async fn chain_latest_block_set(&self, block: u64) -> Result<(), EphemeralError> {
        *self.chain_latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(block);
        Ok(())
    }

    async fn chain_latest_block(&self) -> Result<Option<u64>, EphemeralError> {
        Ok(*self.chain_latest.lock().unwrap_or_else(|e| e.into_inner()))
    }

    async fn chain_validator_put(
        &self,
        address: &str,
        status: &ValidatorStatus,
    ) -> Result<(), EphemeralError> {
        let until = Instant::now() + CHAIN_VALIDATOR_TTL;
        self.chain_validators
            .insert(address.to_owned(), (status.clone(), until));
        Ok(())
    }

    async fn chain_validator_get(
        &self,
        address: &str,
    ) -> Result<Option<ValidatorStatus>, EphemeralError> {
        let now = Instant::now();
        Ok(self
            .chain_validators
            .get(address)
            .filter(|e| e.1 > now)
            .map(|e| e.0.clone()))
    }

    async fn chain_unanchored_push(&self, hashes: &[String]) -> Result<(), EphemeralError> {
        let mut list = self
            .chain_unanchored
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for hash in hashes {
            list.push_front(hash.clone());
        }
        list.truncate(usize::try_from(CHAIN_UNANCHORED_MAX).unwrap_or(usize::MAX));
        Ok(())
    }

    async fn chain_unanchored_trim(&self, count: u64) -> Result<(), EphemeralError> {
        let mut list = self
            .chain_unanchored
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let keep = list
            .len()
            .saturating_sub(usize::try_from(count).unwrap_or(usize::MAX));
        list.truncate(keep);
        Ok(())
    }

    async fn chain_unanchored_len(&self) -> Result<u64, EphemeralError> {
        Ok(self
            .chain_unanchored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        if let Some(sender) = self.channels.get(channel) {
            // No receiver is not an error: nobody on this node is listening.
            let _ = sender.send(payload.to_vec());
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<BoxStream<'static, Vec<u8>>, EphemeralError> {
        let receiver = self
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Ok(BroadcastStream::new(receiver)
            .filter_map(|m| async move { m.ok() })
            .boxed())
    }
}
