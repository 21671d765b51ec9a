//! One conformance suite for both [`Ephemeral`] implementations: in-process and Redis.
//! Expiry is tested with short lifetimes and by waiting for the entry to disappear (bounded),
//! never by asserting how long something took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use uuid::Uuid;
use zynk_backends::Ephemeral;
use zynk_backends::ephemeral::memory::MemoryEphemeral;
use zynk_backends::ephemeral::redis::RedisEphemeral;
use zynk_backends::ephemeral::{CachedSession, EphemeralTtls, GeoPoint, Presence};

const SHORT: Duration = Duration::from_millis(400);

fn short_ttls() -> EphemeralTtls {
    EphemeralTtls {
        presence: SHORT,
        typing: SHORT,
        location: SHORT,
        group_members: SHORT,
    }
}

fn redis_url() -> String {
    std::env::var("ZYNK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn memory() -> Arc<dyn Ephemeral> {
    Arc::new(MemoryEphemeral::new(short_ttls()))
}

async fn redis() -> (Arc<dyn Ephemeral>, String) {
    let prefix = format!("zt:{}:", Uuid::new_v4().simple());
    let url = redis_url();
    let store = RedisEphemeral::connect(&url, &prefix, short_ttls())
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} is required: {e}"));
    (Arc::new(store), prefix)
}

/// Deletes every key a Redis test left under its prefix.
async fn cleanup(prefix: &str) {
    let client = ::redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = ::redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// Polls `check` until it holds; fails after 10 s (a generous bound, not a timing assertion).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn memory() {
                    super::$name(super::memory().await).await
                }

                #[tokio::test]
                async fn redis() {
                    let (store, prefix) = super::redis().await;
                    super::$name(store).await;
                    super::cleanup(&prefix).await;
                }
            }
        )*
    };
}

conformance!(
    session_cache_and_revocation,
    rate_limit_window,
    presence_expires,
    typing_expires,
    locations_expire_per_member,
    group_member_cache,
    publish_subscribe,
);

async fn session_cache_and_revocation(e: Arc<dyn Ephemeral>) {
    let s = CachedSession {
        user_id: Uuid::new_v4(),
        device_id: Uuid::new_v4(),
        session_id: Uuid::new_v4(),
        expires_at_ms: 1_900_000_000_000,
    };
    assert_eq!(e.session_get("h1").await.unwrap(), None);
    e.session_put("h1", &s, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(e.session_get("h1").await.unwrap(), Some(s));
    e.session_revoke(&["h1".to_owned()]).await.unwrap();
    assert_eq!(e.session_get("h1").await.unwrap(), None);
    // A revoked hash cannot be cached again (a request racing the revocation loses).
    e.session_put("h1", &s, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(e.session_get("h1").await.unwrap(), None);
    // Entries expire.
    e.session_put("h2", &s, SHORT).await.unwrap();
    assert_eq!(e.session_get("h2").await.unwrap(), Some(s));
    eventually("session expiry", || async {
        e.session_get("h2").await.unwrap().is_none()
    })
    .await;
}

async fn rate_limit_window(e: Arc<dyn Ephemeral>) {
    let key = format!("127.0.0.1:/x/{}", Uuid::new_v4());
    for n in 1..=3 {
        let d = e.rate_limit_hit(&key, 3, SHORT).await.unwrap();
        assert!(d.allowed, "hit {n}");
        assert_eq!(d.count, n);
        assert!(d.reset_after <= SHORT);
    }
    let d = e.rate_limit_hit(&key, 3, SHORT).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.count, 4);
    // A new window starts after the old one ends.
    eventually("window reset", || async {
        e.rate_limit_hit(&key, 3, SHORT).await.unwrap().count == 1
    })
    .await;
}

async fn presence_expires(e: Arc<dyn Ephemeral>) {
    let user = Uuid::new_v4();
    let p = Presence {
        status: "online".into(),
        last_seen: 1_700_000_000,
        device_id: Uuid::new_v4(),
    };
    e.presence_set(user, &p).await.unwrap();
    assert_eq!(e.presence_get(user).await.unwrap(), Some(p));
    assert!(e.online_users().await.unwrap().contains(&user));
    eventually("presence expiry", || async {
        e.presence_get(user).await.unwrap().is_none()
    })
    .await;
    eventually("online set pruning", || async {
        !e.online_users().await.unwrap().contains(&user)
    })
    .await;
}

async fn typing_expires(e: Arc<dyn Ephemeral>) {
    let conversation = Uuid::new_v4();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    e.typing_start(conversation, a).await.unwrap();
    e.typing_start(conversation, b).await.unwrap();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(e.typing_users(conversation).await.unwrap(), both);
    e.typing_stop(conversation, a).await.unwrap();
    assert_eq!(e.typing_users(conversation).await.unwrap(), vec![b]);
    assert!(e.typing_users(Uuid::new_v4()).await.unwrap().is_empty());
    eventually("typing expiry", || async {
        e.typing_users(conversation).await.unwrap().is_empty()
    })
    .await;
}

async fn locations_expire_per_member(e: Arc<dyn Ephemeral>) {
    let sf = GeoPoint {
        longitude: -122.4194,
        latitude: 37.7749,
    };
    let near = GeoPoint {
        longitude: -122.4180,
        latitude: 37.7755,
    };
    let oakland = GeoPoint {
        longitude: -122.2711,
        latitude: 37.8044,
    };
    let (old, fresh, far) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    e.location_set(old, near).await.unwrap();
    e.location_set(far, oakland).await.unwrap();
    let found = e.locations_near(sf, 1_000.0).await.unwrap();
    assert!(found.iter().any(|n| n.user_id == old));
    assert!(
        !found.iter().any(|n| n.user_id == far),
        "13 km away is outside 1 km"
    );
    // Keep `fresh` fresh while `old` ages out: expiry is per member, not for the whole set.
    eventually("per-member location expiry", || async {
        e.location_set(fresh, near).await.unwrap();
        let found = e.locations_near(sf, 1_000.0).await.unwrap();
        found.iter().any(|n| n.user_id == fresh) && !found.iter().any(|n| n.user_id == old)
    })
    .await;
    let found = e.locations_near(sf, 1_000.0).await.unwrap();
    let d = found
        .iter()
        .find(|n| n.user_id == fresh)
        .unwrap()
        .distance_m;
    assert!((50.0..300.0).contains(&d), "{d}");
    e.location_remove(fresh).await.unwrap();
    assert!(
        !e.locations_near(sf, 1_000.0)
            .await
            .unwrap()
            .iter()
            .any(|n| n.user_id == fresh)
    );
}

async fn group_member_cache(e: Arc<dyn Ephemeral>) {
    let group = Uuid::new_v4();
    let mut members = vec![Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    assert_eq!(e.group_members_get(group).await.unwrap(), None);
    e.group_members_put(group, &members).await.unwrap();
    members.sort();
    assert_eq!(
        e.group_members_get(group).await.unwrap(),
        Some(members.clone())
    );
    e.group_members_invalidate(group).await.unwrap();
    assert_eq!(e.group_members_get(group).await.unwrap(), None);
    e.group_members_put(group, &members).await.unwrap();
    eventually("group cache expiry", || async {
        e.group_members_get(group).await.unwrap().is_none()
    })
    .await;
}

async fn publish_subscribe(e: Arc<dyn Ephemeral>) {
    let channel = format!("events:{}", Uuid::new_v4());
    let mut first = e.subscribe(&channel).await.unwrap();
    let mut second = e.subscribe(&channel).await.unwrap();
    let mut other = e.subscribe("events:other").await.unwrap();
    e.publish(&channel, b"hello").await.unwrap();
    let wait = Duration::from_secs(10);
    assert_eq!(
        tokio::time::timeout(wait, first.next()).await.unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        tokio::time::timeout(wait, second.next()).await.unwrap(),
        Some(b"hello".to_vec())
    );
    e.publish("events:other", b"x").await.unwrap();
    assert_eq!(
        tokio::time::timeout(wait, other.next()).await.unwrap(),
        Some(b"x".to_vec())
    );
    // Publishing with no subscriber is fine.
    e.publish("events:nobody", b"y").await.unwrap();
}
