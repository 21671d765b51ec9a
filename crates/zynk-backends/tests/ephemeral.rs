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
use zynk_backends::ephemeral::{
    CHAIN_UNANCHORED_MAX, CachedSession, EphemeralTtls, GeoPoint, Presence, ValidatorStatus,
    haversine_m,
};
use zynk_proto::{ConversationId, DeviceId, GroupId, SessionId, UserId};

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
    ping_answers,
    session_cache_and_revocation,
    session_revocation_of_several_hashes,
    rate_limit_window,
    rate_limit_keys_are_independent,
    rate_limit_peek_does_not_count,
    presence_expires,
    presence_is_replaced,
    devices_online_until_offline_or_expired,
    typing_expires,
    typing_renewal_extends_the_mark,
    locations_expire_per_member,
    locations_nearest_first,
    location_get_is_fresh_only,
    locations_near_limit_and_points,
    group_member_cache,
    group_member_lists_are_sets,
    chain_pending_transactions,
    chain_latest_block,
    chain_validator_status,
    chain_unanchored_hashes,
    publish_subscribe,
    subscriptions_come_and_go,
);

async fn ping_answers(e: Arc<dyn Ephemeral>) {
    e.ping().await.unwrap();
}

async fn session_cache_and_revocation(e: Arc<dyn Ephemeral>) {
    let s = CachedSession {
        user_id: UserId::new_random(),
        device_id: DeviceId::new_random(),
        session_id: SessionId::new_random(),
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

fn cached(expires_at_ms: i64) -> CachedSession {
    CachedSession {
        user_id: UserId::new_random(),
        device_id: DeviceId::new_random(),
        session_id: SessionId::new_random(),
        expires_at_ms,
    }
}

async fn session_revocation_of_several_hashes(e: Arc<dyn Ephemeral>) {
    let hour = Duration::from_secs(3600);
    let (a, b, kept) = (cached(1), cached(2), cached(3));
    e.session_put("a", &a, hour).await.unwrap();
    e.session_put("b", &b, hour).await.unwrap();
    e.session_put("kept", &kept, hour).await.unwrap();
    // Caching again replaces the entry.
    let a2 = cached(4);
    e.session_put("a", &a2, hour).await.unwrap();
    assert_eq!(e.session_get("a").await.unwrap(), Some(a2));

    e.session_revoke(&[]).await.unwrap();
    e.session_revoke(&["a".to_owned(), "b".to_owned(), "never-cached".to_owned()])
        .await
        .unwrap();
    assert_eq!(e.session_get("a").await.unwrap(), None);
    assert_eq!(e.session_get("b").await.unwrap(), None);
    assert_eq!(e.session_get("kept").await.unwrap(), Some(kept));
    // A hash revoked before it was ever cached cannot be cached afterwards either.
    e.session_put("never-cached", &a, hour).await.unwrap();
    assert_eq!(e.session_get("never-cached").await.unwrap(), None);
    e.session_put("b", &b, hour).await.unwrap();
    assert_eq!(e.session_get("b").await.unwrap(), None);
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

async fn rate_limit_keys_are_independent(e: Arc<dyn Ephemeral>) {
    let window = Duration::from_secs(60);
    let (a, b) = (
        format!("a:{}", Uuid::new_v4()),
        format!("b:{}", Uuid::new_v4()),
    );
    for _ in 0..2 {
        e.rate_limit_hit(&a, 2, window).await.unwrap();
    }
    let third = e.rate_limit_hit(&a, 2, window).await.unwrap();
    assert!(!third.allowed);
    assert_eq!(third.count, 3);
    assert!(third.reset_after <= window);
    let other = e.rate_limit_hit(&b, 2, window).await.unwrap();
    assert!(other.allowed);
    assert_eq!(other.count, 1);
    // A limit of zero allows nothing.
    let none = e
        .rate_limit_hit(&format!("c:{}", Uuid::new_v4()), 0, window)
        .await
        .unwrap();
    assert!(!none.allowed);
    assert_eq!(none.count, 1);
}

async fn presence_expires(e: Arc<dyn Ephemeral>) {
    let user = UserId::new_random();
    let p = Presence {
        status: "online".into(),
        last_seen: 1_700_000_000,
        device_id: DeviceId::new_random(),
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

async fn presence_is_replaced(e: Arc<dyn Ephemeral>) {
    let user = UserId::new_random();
    assert_eq!(e.presence_get(user).await.unwrap(), None);
    let online = Presence {
        status: "online".into(),
        last_seen: 1_700_000_000,
        device_id: DeviceId::new_random(),
    };
    let away = Presence {
        status: "away".into(),
        last_seen: 1_700_000_100,
        device_id: DeviceId::new_random(),
    };
    e.presence_set(user, &online).await.unwrap();
    e.presence_set(user, &away).await.unwrap();
    assert_eq!(e.presence_get(user).await.unwrap(), Some(away));
    let online_users = e.online_users().await.unwrap();
    assert_eq!(
        online_users.iter().filter(|u| **u == user).count(),
        1,
        "listed once"
    );
    assert_eq!(e.presence_get(UserId::new_random()).await.unwrap(), None);
}

async fn devices_online_until_offline_or_expired(e: Arc<dyn Ephemeral>) {
    let (a, b, c) = (
        DeviceId::new_random(),
        DeviceId::new_random(),
        DeviceId::new_random(),
    );
    assert!(e.devices_online(&[]).await.unwrap().is_empty());
    assert_eq!(e.devices_online(&[a, b]).await.unwrap(), vec![false, false]);
    e.device_online(a, Duration::from_secs(60)).await.unwrap();
    e.device_online(b, SHORT).await.unwrap();
    // One answer per id asked, in order (repeats included).
    assert_eq!(
        e.devices_online(&[c, a, b, a]).await.unwrap(),
        vec![false, true, true, true]
    );
    e.device_offline(a).await.unwrap();
    e.device_offline(c).await.unwrap();
    assert_eq!(e.devices_online(&[a, b]).await.unwrap(), vec![false, true]);
    eventually("device mark expiry", || async {
        e.devices_online(&[b]).await.unwrap() == vec![false]
    })
    .await;
    // A refreshed mark lives on.
    e.device_online(b, Duration::from_secs(60)).await.unwrap();
    assert_eq!(e.devices_online(&[b]).await.unwrap(), vec![true]);
}

async fn typing_expires(e: Arc<dyn Ephemeral>) {
    let conversation = ConversationId::new_random();
    let (a, b) = (UserId::new_random(), UserId::new_random());
    e.typing_start(conversation, a).await.unwrap();
    e.typing_start(conversation, b).await.unwrap();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(e.typing_users(conversation).await.unwrap(), both);
    e.typing_stop(conversation, a).await.unwrap();
    assert_eq!(e.typing_users(conversation).await.unwrap(), vec![b]);
    assert!(
        e.typing_users(ConversationId::new_random())
            .await
            .unwrap()
            .is_empty()
    );
    eventually("typing expiry", || async {
        e.typing_users(conversation).await.unwrap().is_empty()
    })
    .await;
}

/// A renewed typing mark lives a full lifetime from its renewal (the server's typing expiry
/// relies on it: a mark renewed on any node keeps the `typing: false` back).
async fn typing_renewal_extends_the_mark(e: Arc<dyn Ephemeral>) {
    let conversation = ConversationId::new_random();
    let user = UserId::new_random();
    e.typing_start(conversation, user).await.unwrap();
    tokio::time::sleep(SHORT * 6 / 10).await;
    e.typing_start(conversation, user).await.unwrap();
    tokio::time::sleep(SHORT * 6 / 10).await;
    // Past the first mark's lifetime, inside the renewed one.
    assert_eq!(e.typing_users(conversation).await.unwrap(), vec![user]);
    eventually("renewed typing expiry", || async {
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
    let (old, fresh, far) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    e.location_set(old, near).await.unwrap();
    e.location_set(far, oakland).await.unwrap();
    let found = e.locations_near(sf, 1_000.0, 100).await.unwrap();
    assert!(found.iter().any(|n| n.user_id == old));
    assert!(
        !found.iter().any(|n| n.user_id == far),
        "13 km away is outside 1 km"
    );
    // Keep `fresh` fresh while `old` ages out: expiry is per member, not for the whole set.
    eventually("per-member location expiry", || async {
        e.location_set(fresh, near).await.unwrap();
        let found = e.locations_near(sf, 1_000.0, 100).await.unwrap();
        found.iter().any(|n| n.user_id == fresh) && !found.iter().any(|n| n.user_id == old)
    })
    .await;
    let found = e.locations_near(sf, 1_000.0, 100).await.unwrap();
    let d = found
        .iter()
        .find(|n| n.user_id == fresh)
        .unwrap()
        .distance_m;
    assert!((50.0..300.0).contains(&d), "{d}");
    e.location_remove(fresh).await.unwrap();
    assert!(
        !e.locations_near(sf, 1_000.0, 100)
            .await
            .unwrap()
            .iter()
            .any(|n| n.user_id == fresh)
    );
}

async fn locations_nearest_first(e: Arc<dyn Ephemeral>) {
    let center = GeoPoint {
        longitude: 2.3522,
        latitude: 48.8566,
    };
    let at = |metres_north: f64| GeoPoint {
        longitude: center.longitude,
        latitude: center.latitude + metres_north / 111_195.0,
    };
    let (near, middle, far, moved) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    e.location_set(far, at(900.0)).await.unwrap();
    e.location_set(near, at(100.0)).await.unwrap();
    e.location_set(middle, at(500.0)).await.unwrap();
    e.location_set(moved, at(5_000.0)).await.unwrap();
    // Setting a location again moves the user.
    e.location_set(moved, at(300.0)).await.unwrap();
    let found = e.locations_near(center, 1_000.0, 100).await.unwrap();
    assert_eq!(
        found.iter().map(|n| n.user_id).collect::<Vec<_>>(),
        vec![near, moved, middle, far]
    );
    for (n, expected) in found.iter().zip([100.0, 300.0, 500.0, 900.0]) {
        assert!((n.distance_m - expected).abs() < 5.0, "{n:?}");
    }
    let close = e.locations_near(center, 400.0, 100).await.unwrap();
    assert_eq!(
        close.iter().map(|n| n.user_id).collect::<Vec<_>>(),
        vec![near, moved]
    );
    // Removing someone who has no location is fine.
    e.location_remove(UserId::new_random()).await.unwrap();
}

async fn location_get_is_fresh_only(e: Arc<dyn Ephemeral>) {
    let here = GeoPoint {
        longitude: 13.4050,
        latitude: 52.5200,
    };
    let (user, other) = (UserId::new_random(), UserId::new_random());
    assert_eq!(e.location_get(user).await.unwrap(), None);
    e.location_set(user, here).await.unwrap();
    let got = e
        .location_get(user)
        .await
        .unwrap()
        .expect("a fresh location");
    // Redis keeps a 52-bit geohash: within a metre.
    assert!(haversine_m(got, here) < 1.0, "{got:?}");
    assert_eq!(e.location_get(other).await.unwrap(), None);
    eventually("location_get expiry", || async {
        e.location_get(user).await.unwrap().is_none()
    })
    .await;
    // Expired means gone from searches too.
    assert!(
        e.locations_near(here, 1_000.0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    e.location_set(user, here).await.unwrap();
    e.location_remove(user).await.unwrap();
    assert_eq!(e.location_get(user).await.unwrap(), None);
}

async fn locations_near_limit_and_points(e: Arc<dyn Ephemeral>) {
    let center = GeoPoint {
        longitude: -0.1276,
        latitude: 51.5072,
    };
    let at = |metres_east: f64| GeoPoint {
        longitude: center.longitude
            + metres_east / (111_226.0 * center.latitude.to_radians().cos()),
        latitude: center.latitude,
    };
    let users: Vec<UserId> = (0..5).map(|_| UserId::new_random()).collect();
    for (i, user) in users.iter().enumerate() {
        e.location_set(*user, at(100.0 * (i as f64 + 1.0)))
            .await
            .unwrap();
    }
    let two = e.locations_near(center, 10_000.0, 2).await.unwrap();
    assert_eq!(
        two.iter().map(|n| n.user_id).collect::<Vec<_>>(),
        users[..2].to_vec(),
        "the nearest two"
    );
    for (n, i) in two.iter().zip(0..) {
        assert!(
            haversine_m(n.point, at(100.0 * (f64::from(i) + 1.0))) < 1.0,
            "{n:?}"
        );
    }
    assert_eq!(
        e.locations_near(center, 10_000.0, 100).await.unwrap().len(),
        5
    );
    assert!(
        e.locations_near(center, 10_000.0, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn group_member_cache(e: Arc<dyn Ephemeral>) {
    let group = GroupId::new_random();
    let mut members = vec![
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    ];
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

async fn group_member_lists_are_sets(e: Arc<dyn Ephemeral>) {
    let group = GroupId::new_random();
    let (a, b, c) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    // Repeats are kept once.
    e.group_members_put(group, &[b, a, b]).await.unwrap();
    let mut ab = vec![a, b];
    ab.sort();
    assert_eq!(e.group_members_get(group).await.unwrap(), Some(ab));
    // A new list replaces the old one.
    e.group_members_put(group, &[c]).await.unwrap();
    assert_eq!(e.group_members_get(group).await.unwrap(), Some(vec![c]));
    // An empty list is not cached: the next read is a miss.
    e.group_members_put(group, &[]).await.unwrap();
    assert_eq!(e.group_members_get(group).await.unwrap(), None);
    e.group_members_invalidate(GroupId::new_random())
        .await
        .unwrap();
}

async fn chain_pending_transactions(e: Arc<dyn Ephemeral>) {
    let (h1, h2, h3) = (
        format!("0x{}", Uuid::new_v4().simple()),
        format!("0x{}", Uuid::new_v4().simple()),
        format!("0x{}", Uuid::new_v4().simple()),
    );
    assert_eq!(e.chain_pending_get(&h1).await.unwrap(), None);
    e.chain_pending_put(&h1, br#"{"type":"identity_registration"}"#)
        .await
        .unwrap();
    e.chain_pending_put(&h2, &[0, 159, 146, 150]).await.unwrap();
    e.chain_pending_put(&h3, b"first").await.unwrap();
    e.chain_pending_put(&h3, b"second").await.unwrap();
    assert_eq!(
        e.chain_pending_get(&h1).await.unwrap().as_deref(),
        Some(br#"{"type":"identity_registration"}"#.as_slice())
    );
    assert_eq!(
        e.chain_pending_get(&h2).await.unwrap(),
        Some(vec![0, 159, 146, 150])
    );
    assert_eq!(
        e.chain_pending_get(&h3).await.unwrap(),
        Some(b"second".to_vec())
    );
    e.chain_pending_remove(&[]).await.unwrap();
    e.chain_pending_remove(&[h1.clone(), h2.clone(), "0xunknown".to_owned()])
        .await
        .unwrap();
    assert_eq!(e.chain_pending_get(&h1).await.unwrap(), None);
    assert_eq!(e.chain_pending_get(&h2).await.unwrap(), None);
    assert_eq!(
        e.chain_pending_get(&h3).await.unwrap(),
        Some(b"second".to_vec())
    );
}

async fn chain_latest_block(e: Arc<dyn Ephemeral>) {
    assert_eq!(e.chain_latest_block().await.unwrap(), None);
    e.chain_latest_block_set(0).await.unwrap();
    assert_eq!(e.chain_latest_block().await.unwrap(), Some(0));
    e.chain_latest_block_set(u64::from(u32::MAX) + 7)
        .await
        .unwrap();
    assert_eq!(
        e.chain_latest_block().await.unwrap(),
        Some(u64::from(u32::MAX) + 7)
    );
}

async fn chain_validator_status(e: Arc<dyn Ephemeral>) {
    let address = format!("0x{}", Uuid::new_v4().simple());
    assert_eq!(e.chain_validator_get(&address).await.unwrap(), None);
    let sealing = ValidatorStatus {
        active: true,
        last_block: 41,
        stake: 0,
    };
    e.chain_validator_put(&address, &sealing).await.unwrap();
    assert_eq!(
        e.chain_validator_get(&address).await.unwrap(),
        Some(sealing)
    );
    let stopped = ValidatorStatus {
        active: false,
        last_block: 42,
        stake: 0,
    };
    e.chain_validator_put(&address, &stopped).await.unwrap();
    assert_eq!(
        e.chain_validator_get(&address).await.unwrap(),
        Some(stopped)
    );
    assert_eq!(e.chain_validator_get("0xother").await.unwrap(), None);
}

async fn chain_unanchored_hashes(e: Arc<dyn Ephemeral>) {
    let hashes = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| Uuid::new_v4().simple().to_string())
            .collect()
    };
    assert_eq!(e.chain_unanchored_len().await.unwrap(), 0);
    e.chain_unanchored_push(&[]).await.unwrap();
    e.chain_unanchored_push(&hashes(3)).await.unwrap();
    e.chain_unanchored_push(&hashes(4)).await.unwrap();
    assert_eq!(e.chain_unanchored_len().await.unwrap(), 7);
    e.chain_unanchored_trim(0).await.unwrap();
    assert_eq!(e.chain_unanchored_len().await.unwrap(), 7);
    e.chain_unanchored_trim(5).await.unwrap();
    assert_eq!(e.chain_unanchored_len().await.unwrap(), 2);
    e.chain_unanchored_trim(10).await.unwrap();
    assert_eq!(e.chain_unanchored_len().await.unwrap(), 0);

    // The mirror keeps at most CHAIN_UNANCHORED_MAX entries.
    let max = usize::try_from(CHAIN_UNANCHORED_MAX).unwrap();
    let chunk = 25_000;
    let mut pushed = 0;
    while pushed < max + 10 {
        let n = chunk.min(max + 10 - pushed);
        e.chain_unanchored_push(&hashes(n)).await.unwrap();
        pushed += n;
    }
    assert_eq!(
        e.chain_unanchored_len().await.unwrap(),
        CHAIN_UNANCHORED_MAX
    );
    e.chain_unanchored_trim(10).await.unwrap();
    assert_eq!(
        e.chain_unanchored_len().await.unwrap(),
        CHAIN_UNANCHORED_MAX - 10
    );
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

async fn subscriptions_come_and_go(e: Arc<dyn Ephemeral>) {
    let channel = format!("events:{}", Uuid::new_v4());
    let wait = Duration::from_secs(10);
    // Nothing published before a subscription reaches it.
    e.publish(&channel, b"too early").await.unwrap();
    let mut kept = e.subscribe(&channel).await.unwrap();
    let dropped = e.subscribe(&channel).await.unwrap();
    drop(dropped);
    // Payloads are bytes, delivered in order; a dropped subscriber does not hold up the others.
    let binary = vec![0u8, 255, 10, 13, 0];
    e.publish(&channel, &binary).await.unwrap();
    e.publish(&channel, b"second").await.unwrap();
    assert_eq!(
        tokio::time::timeout(wait, kept.next()).await.unwrap(),
        Some(binary)
    );
    assert_eq!(
        tokio::time::timeout(wait, kept.next()).await.unwrap(),
        Some(b"second".to_vec())
    );
    // With every subscriber gone, subscribing again works.
    drop(kept);
    let mut again = e.subscribe(&channel).await.unwrap();
    e.publish(&channel, b"third").await.unwrap();
    assert_eq!(
        tokio::time::timeout(wait, again.next()).await.unwrap(),
        Some(b"third".to_vec())
    );
    // Nothing else arrived: the first payload was never delivered.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), again.next())
            .await
            .is_err()
    );
}

/// The group-member cache is shared by the nodes of one deployment: a list cached through one
/// node is read by another, and dropped for all when any node invalidates it (which every
/// membership change does).
#[tokio::test]
async fn group_member_cache_invalidation_reaches_every_node() {
    let (node_a, prefix) = redis().await;
    let node_b: Arc<dyn Ephemeral> = Arc::new(
        RedisEphemeral::connect(&redis_url(), &prefix, EphemeralTtls::default())
            .await
            .unwrap(),
    );
    let group = GroupId::new_random();
    let members = vec![UserId::new_random()];
    node_a.group_members_put(group, &members).await.unwrap();
    assert_eq!(
        node_b.group_members_get(group).await.unwrap(),
        Some(members.clone())
    );
    node_b.group_members_invalidate(group).await.unwrap();
    assert_eq!(node_a.group_members_get(group).await.unwrap(), None);
    assert_eq!(node_b.group_members_get(group).await.unwrap(), None);
    // The default lifetime is the data model's ten minutes.
    assert_eq!(
        EphemeralTtls::default().group_members,
        Duration::from_secs(600)
    );
    cleanup(&prefix).await;
}

async fn rate_limit_peek_does_not_count(e: Arc<dyn Ephemeral>) {
    let key = format!("peek:{}", uuid::Uuid::new_v4());
    assert_eq!(e.rate_limit_peek(&key).await.unwrap(), 0);
    e.rate_limit_hit(&key, 5, Duration::from_secs(60))
        .await
        .unwrap();
    e.rate_limit_hit(&key, 5, Duration::from_secs(60))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(e.rate_limit_peek(&key).await.unwrap(), 2);
    }
    let next = e
        .rate_limit_hit(&key, 5, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(next.count, 3);
    // An expired window counts as empty.
    let short = format!("peek-short:{}", uuid::Uuid::new_v4());
    e.rate_limit_hit(&short, 5, Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(e.rate_limit_peek(&short).await.unwrap(), 0);
}
