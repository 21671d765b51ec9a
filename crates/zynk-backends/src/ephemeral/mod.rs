//! Ephemeral state: short-lived, rebuildable data that must never be the only copy of anything a
//! client was promised (acknowledged messages live in the [`crate::Store`]).
//!
//! Two implementations of [`Ephemeral`]: [`memory::MemoryEphemeral`] (in-process, the embedded
//! default, one node) and [`redis::RedisEphemeral`] (shared by several nodes, using the data
//! model's key names of section 4 under an optional key prefix).

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use zynk_proto::{ConversationId, DeviceId, GroupId, SessionId, UserId};

/// Errors of the ephemeral store.
#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    /// Redis failed or is unreachable.
    #[error("redis error: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A stored value could not be decoded.
    #[error("invalid cached value under {key}: {reason}")]
    Corrupt {
        /// The key whose value is bad.
        key: String,
        /// Why it is bad.
        reason: String,
    },
}

/// How long each kind of ephemeral entry lives. Defaults are the data model's (section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EphemeralTtls {
    /// `presence:{user_id}`: 60 s.
    pub presence: Duration,
    /// `typing:{conversation_id}:{user_id}`: 5 s.
    pub typing: Duration,
    /// Each member of `locations`: 300 s (per member, not for the whole set).
    pub location: Duration,
    /// `group_members:{group_id}`: 600 s.
    pub group_members: Duration,
}

impl Default for EphemeralTtls {
    fn default() -> Self {
        Self {
            presence: Duration::from_secs(60),
            typing: Duration::from_secs(5),
            location: Duration::from_secs(300),
            group_members: Duration::from_secs(600),
        }
    }
}

/// How long a revoked token hash is remembered by the session cache; cache entries never live
/// longer than this (see [`Ephemeral::session_put`]).
pub const REVOCATION_MEMORY: Duration = Duration::from_secs(3600);

/// What the session cache holds for an access token hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedSession {
    /// Owner.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// Session (token family).
    pub session_id: SessionId,
    /// Access token expiry, unix milliseconds.
    pub expires_at_ms: i64,
}

impl CachedSession {
    /// `{user_id}:{device_id}:{session_id}:{expires_at_ms}`: the data model's
    /// `{user_id}:{device_id}` value, extended.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.user_id, self.device_id, self.session_id, self.expires_at_ms
        )
    }

    /// Parses [`CachedSession::encode`]'s format.
    pub fn decode(value: &str) -> Option<Self> {
        let mut parts = value.split(':');
        let session = Self {
            user_id: parts.next()?.parse().ok()?,
            device_id: parts.next()?.parse().ok()?,
            session_id: parts.next()?.parse().ok()?,
            expires_at_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(session)
    }
}

/// The verdict of a rate-limit counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether this request is within the limit.
    pub allowed: bool,
    /// Requests counted in the current window, including this one.
    pub count: u64,
    /// Time until the window resets.
    pub reset_after: Duration,
}

/// A user's presence (`presence:{user_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// `online`, `away` or `offline`.
    pub status: String,
    /// Unix seconds of the last activity.
    pub last_seen: i64,
    /// The device that reported it.
    pub device_id: DeviceId,
}

/// How long a pending ledger transaction stays cached (data model 11.7: one hour).
pub const CHAIN_PENDING_TTL: Duration = Duration::from_secs(3600);
/// How long a validator's status stays cached (data model 11.7: five minutes).
pub const CHAIN_VALIDATOR_TTL: Duration = Duration::from_secs(300);
/// Most entries kept in `blockchain:unanchored_hashes`.
pub const CHAIN_UNANCHORED_MAX: u64 = 100_000;

/// `blockchain:validator:{address}` (data model 11.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorStatus {
    /// Whether it seals blocks.
    pub active: bool,
    /// The last block it sealed.
    pub last_block: u64,
    /// Stake: the embedded ledger has a single signer and no staking, so always `0`.
    pub stake: u64,
}

/// A point on Earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Longitude, -180..=180.
    pub longitude: f64,
    /// Latitude, -85.05112878..=85.05112878 (Redis' limit).
    pub latitude: f64,
}

/// A user found near a point, with the distance in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearby {
    /// The user.
    pub user_id: UserId,
    /// Distance from the search centre in metres.
    pub distance_m: f64,
    /// The stored position (on Redis, as its 52-bit geohash gives it back: within a metre of
    /// what was set).
    pub point: GeoPoint,
}

/// Short-lived shared state. Every method is safe to call from several nodes at once
/// (on Redis) or several tasks (in process).
#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Checks that the backing service answers.
    async fn ping(&self) -> Result<(), EphemeralError>;

    /// Reads the cached session for an access token hash (`session:{hash}`).
    async fn session_get(&self, access_hash: &str)
    -> Result<Option<CachedSession>, EphemeralError>;
    /// Caches a session for `ttl`, unless the token was revoked within the last
    /// [`REVOCATION_MEMORY`] (so a request that read the session just before a revocation cannot
    /// put it back into the cache).
    async fn session_put(
        &self,
        access_hash: &str,
        session: &CachedSession,
        ttl: Duration,
    ) -> Result<(), EphemeralError>;
    /// Drops cached sessions and remembers their revocation for [`REVOCATION_MEMORY`].
    async fn session_revoke(&self, access_hashes: &[String]) -> Result<(), EphemeralError>;

    /// Counts one request against `ratelimit:{key}` in a fixed window of `window`; allowed while
    /// the count is at most `limit`.
    async fn rate_limit_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<RateDecision, EphemeralError>;

    /// The count of `ratelimit:{key}` in its current window (0 when none), without counting.
    async fn rate_limit_peek(&self, key: &str) -> Result<u64, EphemeralError>;

    /// Records a user's presence (`presence:{user_id}`, `online_users`).
    async fn presence_set(
        &self,
        user_id: UserId,
        presence: &Presence,
    ) -> Result<(), EphemeralError>;
    /// Reads a user's presence, if not expired.
    async fn presence_get(&self, user_id: UserId) -> Result<Option<Presence>, EphemeralError>;
    /// Users whose presence was recorded within the presence lifetime.
    async fn online_users(&self) -> Result<Vec<UserId>, EphemeralError>;

    /// Marks a device as connected (on some node) for `ttl`; refreshed while it stays connected.
    async fn device_online(&self, device_id: DeviceId, ttl: Duration)
    -> Result<(), EphemeralError>;
    /// Clears a device's connected mark.
    async fn device_offline(&self, device_id: DeviceId) -> Result<(), EphemeralError>;
    /// For each device, whether it is marked connected.
    async fn devices_online(&self, device_ids: &[DeviceId]) -> Result<Vec<bool>, EphemeralError>;

    /// Marks a user as typing in a conversation (`typing:{conversation_id}:{user_id}`).
    async fn typing_start(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError>;
    /// Clears a typing mark.
    async fn typing_stop(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError>;
    /// Users currently typing in a conversation.
    async fn typing_users(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<UserId>, EphemeralError>;

    /// Records a user's location (member of `locations`, with its own timestamp).
    async fn location_set(&self, user_id: UserId, point: GeoPoint) -> Result<(), EphemeralError>;
    /// Removes a user's location.
    async fn location_remove(&self, user_id: UserId) -> Result<(), EphemeralError>;
    /// A user's location if it is fresh (set within the location lifetime).
    async fn location_get(&self, user_id: UserId) -> Result<Option<GeoPoint>, EphemeralError>;
    /// Users within `radius_m` metres of `center` whose location is fresh, nearest first, at
    /// most `limit` of them.
    async fn locations_near(
        &self,
        center: GeoPoint,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<Nearby>, EphemeralError>;

    /// Caches a group's member list (`group_members:{group_id}`), replacing any cached one. The
    /// list is a set: each member is kept once, and an empty list caches nothing.
    async fn group_members_put(
        &self,
        group_id: GroupId,
        members: &[UserId],
    ) -> Result<(), EphemeralError>;
    /// Reads a cached member list, sorted; `None` on a miss.
    async fn group_members_get(
        &self,
        group_id: GroupId,
    ) -> Result<Option<Vec<UserId>>, EphemeralError>;
    /// Drops a cached member list.
    async fn group_members_invalidate(&self, group_id: GroupId) -> Result<(), EphemeralError>;

    /// Ledger cache (data model 11.7): a pending ledger transaction,
    /// `blockchain:pending_tx:{hash}`, kept for [`CHAIN_PENDING_TTL`].
    async fn chain_pending_put(&self, hash: &str, json: &[u8]) -> Result<(), EphemeralError>;
    /// Reads a cached pending transaction.
    async fn chain_pending_get(&self, hash: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// Drops pending transactions that a block now holds.
    async fn chain_pending_remove(&self, hashes: &[String]) -> Result<(), EphemeralError>;
    /// `blockchain:latest_block`: the newest sealed block.
    async fn chain_latest_block_set(&self, block: u64) -> Result<(), EphemeralError>;
    /// Reads `blockchain:latest_block`.
    async fn chain_latest_block(&self) -> Result<Option<u64>, EphemeralError>;
    /// `blockchain:validator:{address}`: the sealing node's status, kept for
    /// [`CHAIN_VALIDATOR_TTL`].
    async fn chain_validator_put(
        &self,
        address: &str,
        status: &ValidatorStatus,
    ) -> Result<(), EphemeralError>;
    /// Reads a validator's status; `None` when it has not sealed for [`CHAIN_VALIDATOR_TTL`].
    async fn chain_validator_get(
        &self,
        address: &str,
    ) -> Result<Option<ValidatorStatus>, EphemeralError>;
    /// `blockchain:unanchored_hashes`: content hashes of stored messages awaiting anchoring,
    /// newest first, at most [`CHAIN_UNANCHORED_MAX`] (a monitoring mirror: the database decides
    /// what is anchored).
    async fn chain_unanchored_push(&self, hashes: &[String]) -> Result<(), EphemeralError>;
    /// Drops the `count` oldest entries (after a batch of that size was anchored).
    async fn chain_unanchored_trim(&self, count: u64) -> Result<(), EphemeralError>;
    /// Entries in `blockchain:unanchored_hashes`.
    async fn chain_unanchored_len(&self) -> Result<u64, EphemeralError>;

    /// Publishes a payload to every subscriber of `channel` on every node (best effort: the
    /// durable copy of anything that matters is in the store).
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), EphemeralError>;
    /// Subscribes to `channel`; the stream yields payloads published after the subscription.
    async fn subscribe(&self, channel: &str)
    -> Result<BoxStream<'static, Vec<u8>>, EphemeralError>;
}

/// Great-circle distance in metres, with the Earth radius Redis uses for GEO commands, so both
/// implementations agree.
pub fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_session_round_trips() {
        let s = CachedSession {
            user_id: UserId::new_random(),
            device_id: DeviceId::new_random(),
            session_id: SessionId::new_random(),
            expires_at_ms: 1_700_000_000_000,
        };
        assert_eq!(CachedSession::decode(&s.encode()), Some(s));
        assert_eq!(CachedSession::decode("a:b"), None);
        assert_eq!(
            CachedSession::decode(&format!("{}:extra", s.encode())),
            None
        );
    }

    #[test]
    fn haversine_matches_known_distance() {
        // San Francisco to Oakland, about 13 km.
        let sf = GeoPoint {
            longitude: -122.4194,
            latitude: 37.7749,
        };
        let oak = GeoPoint {
            longitude: -122.2711,
            latitude: 37.8044,
        };
        let d = haversine_m(sf, oak);
        assert!((12_500.0..13_700.0).contains(&d), "{d}");
    }
}
