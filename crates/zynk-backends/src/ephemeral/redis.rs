//! Redis ephemeral state, shared by every node of a deployment. Key names are the data model's
//! (section 4), behind an optional prefix so several deployments (or test runs) can share one
//! Redis. Publish/subscribe uses one dedicated connection per node that resubscribes after a
//! reconnect.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, PubSubSink};
use ::redis::{AsyncCommands, Client, Script};
use async_trait::async_trait;
use dashmap::DashMap;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Mutex, broadcast};
use tokio_stream::wrappers::BroadcastStream;
use zynk_proto::{ConversationId, DeviceId, GroupId, UserId};

use super::*;

/// Capacity of the per-channel fan-out inside one node.
const CHANNEL_CAPACITY: usize = 1024;

/// Caches a session unless its revocation marker exists (KEYS: session key, marker key).
const SESSION_PUT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Fixed-window counter: INCR, set the window on the first hit, report count and time left.
const RATE_LIMIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Drops members of `locations` (KEYS[1]) whose timestamp in `locations:seen` (KEYS[2]) is at
/// or before ARGV[1]: the per-member expiry that a GEO set (a sorted set) does not have. Used at
/// the start of the location scripts, so a search never sees a stale member and pruning cannot
/// remove a position that was refreshed meanwhile (each script runs atomically).
const LOCATION_PRUNE: &str = r"
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for i = 1, #stale, 500 do
  redis.call('ZREM', KEYS[1], unpack(stale, i, math.min(i + 499, #stale)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
";

/// Prunes, then sets a member's position and timestamp; both keys live as long as the newest
/// member (ARGV: cutoff, longitude, latitude, member, now, lifetime in ms).
const LOCATION_SET_SCRIPT: &str = r"
redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
";

/// A member's position if its timestamp is after the cutoff (ARGV: cutoff, member).
const LOCATION_GET_SCRIPT: &str = r"
local seen = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not seen or tonumber(seen) <= tonumber(ARGV[1]) then return false end
return redis.call('GEOPOS', KEYS[1], ARGV[2])
";

/// Prunes, then searches (ARGV: cutoff, longitude, latitude, radius in m, count).
const LOCATION_NEAR_SCRIPT: &str = r"
return redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[3], 'BYRADIUS', ARGV[4],
  'm', 'ASC', 'COUNT', ARGV[5], 'WITHDIST', 'WITHCOORD')
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Redis implementation of [`Ephemeral`].
pub struct RedisEphemeral {
    client: Client,
    conn: ConnectionManager,
    prefix: String,
    ttls: EphemeralTtls,
    rate_script: Script,
    session_put_script: Script,
    location_set_script: Script,
    location_get_script: Script,
    location_near_script: Script,
    pubsub: Arc<PubSubState>,
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeral")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The node's subscriptions: one local broadcast channel per Redis channel.
struct PubSubState {
    sink: Mutex<Option<PubSubSink>>,
    channels: DashMap<String, broadcast::Sender<Vec<u8>>>,
}

impl RedisEphemeral {
    /// Connects to `url` (`redis://host:port/db`); every key and channel is put under `prefix`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        ttls: EphemeralTtls,
    ) -> Result<Self, EphemeralError> {
        let client = Client::open(url)?;
        let conn = client.get_connection_manager().await?;
        let pubsub = Arc::new(PubSubState {
            sink: Mutex::new(None),
            channels: DashMap::new(),
        });
        let store = Self {
            client,
            conn,
            prefix: prefix.to_owned(),
            ttls,
            rate_script: Script::new(RATE_LIMIT_SCRIPT),
            session_put_script: Script::new(SESSION_PUT_SCRIPT),
            location_set_script: Script::new(&format!("{LOCATION_PRUNE}{LOCATION_SET_SCRIPT}")),
            location_get_script: Script::new(LOCATION_GET_SCRIPT),
            location_near_script: Script::new(&format!("{LOCATION_PRUNE}{LOCATION_NEAR_SCRIPT}")),
            pubsub,
        };
        store.start_pubsub().await?;
        Ok(store)
    }

    fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Timestamps in `locations:seen` at or before this are stale.
    fn location_cutoff(&self) -> i64 {
        now_ms() - i64::try_from(self.ttls.location.as_millis()).unwrap_or(i64::MAX)
    }

    /// Opens the subscriber connection and spawns the task that dispatches its messages and
    /// reconnects (resubscribing every channel) when it drops.
    async fn start_pubsub(&self) -> Result<(), EphemeralError> {
        let (sink, stream) = self.client.get_async_pubsub().await?.split();
        *self.pubsub.sink.lock().await = Some(sink);
        let state = Arc::downgrade(&self.pubsub);
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            loop {
                while let Some(msg) = stream.next().await {
                    let Some(state) = state.upgrade() else { return };
                    if let Some(sender) = state.channels.get(msg.get_channel_name()) {
                        let _ = sender.send(msg.get_payload_bytes().to_vec());
                    }
                }
                // The connection dropped: reconnect with backoff and resubscribe.
                let mut backoff = Duration::from_millis(100);
                loop {
                    let Some(state) = state.upgrade() else { return };
                    tokio::time::sleep(backoff).await;
                    match client.get_async_pubsub().await {
                        Ok(pubsub) => {
                            let (mut sink, next) = pubsub.split();
                            let names: Vec<String> =
                                state.channels.iter().map(|e| e.key().clone()).collect();
                            let mut ok = true;
                            for name in names {
                                ok &= sink.subscribe(&name).await.is_ok();
                            }
                            if ok {
                                *state.sink.lock().await = Some(sink);
                                stream = next;
                                tracing::info!("redis pub/sub reconnected");
                                break;
                            }
                        }
                        Err(err) => tracing::warn!(error = %err, "redis pub/sub reconnect failed"),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Ephemeral for RedisEphemeral {
    async fn ping(&self) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: String = ::redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn session_get(
        &self,
        access_hash: &str,
    ) -> Result<Option<CachedSession>, EphemeralError> {
        let key = self.key(&format!("session:{access_hash}"));
        let mut conn = self.conn.clone();
        let value: Option<String> = conn.get(&key).await?;
        value
            .map(|v| {
                CachedSession::decode(&v).ok_or(EphemeralError::Corrupt {
                    key,
                    reason: "not a cached session".into(),
                })
            })
            .transpose()
    }

    async fn session_put(
        &self,
        access_hash: &str,
        session: &CachedSession,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .session_put_script
            .key(self.key(&format!("session:{access_hash}")))
            .key(self.key(&format!("session_revoked:{access_hash}")))
            .arg(session.encode())
            .arg(millis(ttl.min(REVOCATION_MEMORY)))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn session_revoke(&self, access_hashes: &[String]) -> Result<(), EphemeralError> {
        if access_hashes.is_empty() {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for hash in access_hashes {
            pipe.pset_ex(
                self.key(&format!("session_revoked:{hash}")),
                "1",
                millis(REVOCATION_MEMORY),
            )
            .ignore()
            .del(self.key(&format!("session:{hash}")))
            .ignore();
        }
        let mut conn = self.conn.clone();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    async fn rate_limit_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<RateDecision, EphemeralError> {
        let mut conn = self.conn.clone();
        let (count, ttl_ms): (u64, i64) = self
            .rate_script
            .key(self.key(&format!("ratelimit:{key}")))
            .arg(millis(window))
            .invoke_async(&mut conn)
            .await?;
        Ok(RateDecision {
            allowed: count <= limit,
            count,
            reset_after: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
        })
    }

    async fn rate_limit_peek(&self, key: &str) -> Result<u64, EphemeralError> {
        let mut conn = self.conn.clone();
        let count: Option<u64> = ::redis::cmd("GET")
            .arg(self.key(&format!("ratelimit:{key}")))
            .query_async(&mut conn)
            .await?;
        Ok(count.unwrap_or(0))
    }

    async fn presence_set(
        &self,
        user_id: UserId,
        presence: &Presence,
    ) -> Result<(), EphemeralError> {
        let key = self.key(&format!("presence:{user_id}"));
        let mut conn = self.conn.clone();
        let cutoff = now_ms() - i64::try_from(self.ttls.presence.as_millis()).unwrap_or(i64::MAX);
        let _: () = ::redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("status", presence.status.clone()),
                    ("last_seen", presence.last_seen.to_string()),
                    ("device_id", presence.device_id.to_string()),
                ],
            )
            .ignore()
            .pexpire(
                &key,
                i64::try_from(millis(self.ttls.presence)).unwrap_or(i64::MAX),
            )
            .ignore()
            .zadd(self.key("online_users"), user_id.to_string(), now_ms())
            .ignore()
            .zrembyscore(self.key("online_users"), "-inf", cutoff)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn presence_get(&self, user_id: UserId) -> Result<Option<Presence>, EphemeralError> {
        let key = self.key(&format!("presence:{user_id}"));
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> = conn.hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let bad = |reason: &str| EphemeralError::Corrupt {
            key: key.clone(),
            reason: reason.into(),
        };
        Ok(Some(Presence {
            status: fields
                .get("status")
                .cloned()
                .ok_or_else(|| bad("no status"))?,
            last_seen: fields
                .get("last_seen")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("bad last_seen"))?,
            device_id: fields
                .get("device_id")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("bad device_id"))?,
        }))
    }

    async fn online_users(&self) -> Result<Vec<UserId>, EphemeralError> {
        let mut conn = self.conn.clone();
        let cutoff = now_ms() - i64::try_from(self.ttls.presence.as_millis()).unwrap_or(i64::MAX);
        let members: Vec<String> = conn
            .zrangebyscore(self.key("online_users"), format!("({cutoff}"), "+inf")
            .await?;
        Ok(members.iter().filter_map(|m| m.parse().ok()).collect())
    }

    async fn device_online(
        &self,
        device_id: DeviceId,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(
                self.key(&format!("online_device:{device_id}")),
                "1",
                millis(ttl),
            )
            .await?;
        Ok(())
    }

    async fn device_offline(&self, device_id: DeviceId) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .del(self.key(&format!("online_device:{device_id}")))
            .await?;
        Ok(())
    }

    async fn devices_online(&self, device_ids: &[DeviceId]) -> Result<Vec<bool>, EphemeralError> {
        if device_ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = device_ids
            .iter()
            .map(|d| self.key(&format!("online_device:{d}")))
            .collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> = ::redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut conn)
            .await?;
        Ok(values.into_iter().map(|v| v.is_some()).collect())
    }

    async fn typing_start(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError> {
        // The data model's key, plus a per-conversation index (score = expiry) for listing.
        let key = self.key(&format!("typing:{conversation_id}:{user_id}"));
        let index = self.key(&format!("typing:{conversation_id}"));
        let ttl = millis(self.ttls.typing);
        let expires = now_ms() + i64::try_from(ttl).unwrap_or(i64::MAX);
        let mut conn = self.conn.clone();
        let _: () = ::redis::pipe()
            .atomic()
            .pset_ex(&key, "1", ttl)
            .ignore()
            .zadd(&index, user_id.to_string(), expires)
            .ignore()
            .zrembyscore(&index, "-inf", now_ms())
            .ignore()
            .pexpire(&index, i64::try_from(ttl).unwrap_or(i64::MAX))
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn typing_stop(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = ::redis::pipe()
            .atomic()
            .del(self.key(&format!("typing:{conversation_id}:{user_id}")))
            .ignore()
            .zrem(
                self.key(&format!("typing:{conversation_id}")),
                user_id.to_string(),
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn typing_users(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<UserId>, EphemeralError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = conn
            .zrangebyscore(
                self.key(&format!("typing:{conversation_id}")),
                format!("({}", now_ms()),
                "+inf",
            )
            .await?;
        let mut users: Vec<UserId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        users.sort();
        Ok(users)
    }

    async fn location_set(&self, user_id: UserId, point: GeoPoint) -> Result<(), EphemeralError> {
        // `EXPIRE locations 300` alone would expire the whole set at once; each member gets its
        // own timestamp in `locations:seen` instead, stale members are pruned by every location
        // script, and both keys expire with their newest member.
        let mut conn = self.conn.clone();
        let _: i64 = self
            .location_set_script
            .key(self.key("locations"))
            .key(self.key("locations:seen"))
            .arg(self.location_cutoff())
            .arg(point.longitude)
            .arg(point.latitude)
            .arg(user_id.to_string())
            .arg(now_ms())
            .arg(millis(self.ttls.location))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn location_remove(&self, user_id: UserId) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = ::redis::pipe()
            .atomic()
            .zrem(self.key("locations"), user_id.to_string())
            .ignore()
            .zrem(self.key("locations:seen"), user_id.to_string())
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn location_get(&self, user_id: UserId) -> Result<Option<GeoPoint>, EphemeralError> {
        let mut conn = self.conn.clone();
        let found: Option<Vec<Option<(String, String)>>> = self
            .location_get_script
            .key(self.key("locations"))
            .key(self.key("locations:seen"))
            .arg(self.location_cutoff())
            .arg(user_id.to_string())
            .invoke_async(&mut conn)
            .await?;
        let Some((longitude, latitude)) = found.and_then(|v| v.into_iter().next().flatten()) else {
            return Ok(None);
        };
        let bad = || EphemeralError::Corrupt {
            key: self.key("locations"),
            reason: "GEOPOS answered a non-number".into(),
        };
        Ok(Some(GeoPoint {
            longitude: longitude.parse().map_err(|_| bad())?,
            latitude: latitude.parse().map_err(|_| bad())?,
        }))
    }

    async fn locations_near(
        &self,
        center: GeoPoint,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<Nearby>, EphemeralError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let found: Vec<(String, String, (String, String))> = self
            .location_near_script
            .key(self.key("locations"))
            .key(self.key("locations:seen"))
            .arg(self.location_cutoff())
            .arg(center.longitude)
            .arg(center.latitude)
            .arg(radius_m)
            .arg(limit)
            .invoke_async(&mut conn)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(member, dist, (longitude, latitude))| {
                Some(Nearby {
                    user_id: member.parse().ok()?,
                    distance_m: dist.parse().ok()?,
                    point: GeoPoint {
                        longitude: longitude.parse().ok()?,
                        latitude: latitude.parse().ok()?,
                    },
                })
            })
            .collect())
    }

    async fn group_members_put(
        &self,
        group_id: GroupId,
        members: &[UserId],
    ) -> Result<(), EphemeralError> {
        let key = self.key(&format!("group_members:{group_id}"));
        let members: Vec<String> = members.iter().map(UserId::to_string).collect();
        let mut conn = self.conn.clone();
        let mut pipe = ::redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !members.is_empty() {
            pipe.sadd(&key, &members)
                .ignore()
                .pexpire(
                    &key,
                    i64::try_from(millis(self.ttls.group_members)).unwrap_or(i64::MAX),
                )
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    async fn group_members_get(
        &self,
        group_id: GroupId,
    ) -> Result<Option<Vec<UserId>>, EphemeralError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = conn
            .smembers(self.key(&format!("group_members:{group_id}")))
            .await?;
        if members.is_empty() {
            return Ok(None);
        }
        let mut ids: Vec<UserId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        ids.sort();
        Ok(Some(ids))
    }

    async fn group_members_invalidate(&self, group_id: GroupId) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .del(self.key(&format!("group_members:{group_id}")))
            .await?;
        Ok(())
    }

    async fn chain_pending_put(&self, hash: &str, json: &[u8]) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .set_ex(
                self.key(&format!("blockchain:pending_tx:{hash}")),
                json,
                CHAIN_PENDING_TTL.as_secs(),
            )
            .await?;
        Ok(())
    }

    async fn chain_pending_get(&self, hash: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let mut conn = self.conn.clone();
        Ok(conn
            .get(self.key(&format!("blockchain:pending_tx:{hash}")))
            .await?)
    }

    async fn chain_pending_remove(&self, hashes: &[String]) -> Result<(), EphemeralError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = hashes
            .iter()
            .map(|h| self.key(&format!("blockchain:pending_tx:{h}")))
            .collect();
        let mut conn = self.conn.clone();
        let _: () = conn.del(keys).await?;
        Ok(())
    }

    async fn chain_latest_block_set(&self, block: u64) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(self.key("blockchain:latest_block"), block).await?;
        Ok(())
    }

    async fn chain_latest_block(&self) -> Result<Option<u64>, EphemeralError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(self.key("blockchain:latest_block")).await?)
    }

    async fn chain_validator_put(
        &self,
        address: &str,
        status: &ValidatorStatus,
    ) -> Result<(), EphemeralError> {
        let key = self.key(&format!("blockchain:validator:{address}"));
        let mut conn = self.conn.clone();
        let _: () = ::redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("stake", status.stake.to_string()),
                    ("active", status.active.to_string()),
                    ("last_block", status.last_block.to_string()),
                ],
            )
            .ignore()
            .expire(
                &key,
                i64::try_from(CHAIN_VALIDATOR_TTL.as_secs()).unwrap_or(300),
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn chain_validator_get(
        &self,
        address: &str,
    ) -> Result<Option<ValidatorStatus>, EphemeralError> {
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> = conn
            .hgetall(self.key(&format!("blockchain:validator:{address}")))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let number = |name: &str| fields.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Some(ValidatorStatus {
            active: fields.get("active").is_some_and(|v| v == "true"),
            last_block: number("last_block"),
            stake: number("stake"),
        }))
    }

    async fn chain_unanchored_push(&self, hashes: &[String]) -> Result<(), EphemeralError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let key = self.key("blockchain:unanchored_hashes");
        let mut conn = self.conn.clone();
        let keep = isize::try_from(CHAIN_UNANCHORED_MAX).unwrap_or(isize::MAX) - 1;
        let _: () = ::redis::pipe()
            .lpush(&key, hashes)
            .ignore()
            .ltrim(&key, 0, keep)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn chain_unanchored_trim(&self, count: u64) -> Result<(), EphemeralError> {
        if count == 0 {
            return Ok(());
        }
        let key = self.key("blockchain:unanchored_hashes");
        let mut conn = self.conn.clone();
        // Newest first: keep all but the `count` at the tail.
        let stop = -1 - isize::try_from(count).unwrap_or(isize::MAX - 1);
        let _: () = conn.ltrim(&key, 0, stop).await?;
        Ok(())
    }

    async fn chain_unanchored_len(&self) -> Result<u64, EphemeralError> {
        let mut conn = self.conn.clone();
        Ok(conn.llen(self.key("blockchain:unanchored_hashes")).await?)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: () = conn.publish(self.key(channel), payload).await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<BoxStream<'static, Vec<u8>>, EphemeralError> {
        let name = self.key(channel);
        let receiver = {
            let mut sink = self.pubsub.sink.lock().await;
            if let Some(sender) = self.pubsub.channels.get(&name) {
                sender.subscribe()
            } else {
                let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
                if let Some(sink) = sink.as_mut() {
                    sink.subscribe(&name).await?;
                }
                self.pubsub.channels.insert(name, sender);
                receiver
            }
        };
        Ok(BroadcastStream::new(receiver)
            .filter_map(|m| async move { m.ok() })
            .boxed())
    }
}
