//! `KeyStore`: identity backups, key uploads (bundle conflicts, ignored repeats, the one-time key
//! limit), key queries and claims, including concurrent claims.

use std::collections::BTreeSet;

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::model::*;

conformance!(
    identity_backups_are_replaced,
    uploads_store_a_bundle_one_time_keys_and_a_fallback_key,
    an_upload_over_the_one_time_key_limit_stores_nothing,
    queries_return_the_users_that_exist_with_their_bundles,
    claims_hand_out_one_time_keys_once_then_the_fallback_key,
    concurrent_claims_hand_out_each_one_time_key_once,
    claimable_devices_exist_belong_and_hold_a_key,
);

const NO_KEYS: KeyStock = KeyStock {
    one_time_keys: 0,
    fallback_key: false,
    device_keys: false,
};

async fn identity_backups_are_replaced(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    assert_eq!(db.get_identity_backup(alice.user_id).await.unwrap(), None);
    db.put_identity_backup(alice.user_id, b"first", t)
        .await
        .unwrap();
    assert_eq!(
        db.get_identity_backup(alice.user_id).await.unwrap(),
        Some(b"first".to_vec())
    );
    db.put_identity_backup(alice.user_id, &[0, 255, 1], plus(t, 1))
        .await
        .unwrap();
    assert_eq!(
        db.get_identity_backup(alice.user_id).await.unwrap(),
        Some(vec![0, 255, 1])
    );
    assert_eq!(db.get_identity_backup(bob.user_id).await.unwrap(), None);
}

async fn uploads_store_a_bundle_one_time_keys_and_a_fallback_key(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let device = alice.device_id;
    assert_eq!(db.key_stock(device).await.unwrap(), NO_KEYS);

    let bundle = serde_json::json!({"algorithms": ["m.olm.v1"], "keys": {"ed25519": "E", "curve25519": "C"}});
    let (a, b, c) = (key("a"), key("b"), key("c"));
    let fallback = key("f1");
    let full = KeyStock {
        one_time_keys: 3,
        fallback_key: true,
        device_keys: true,
    };
    assert_eq!(
        db.upload_keys(
            device,
            Some(&bundle),
            &[a.clone(), b.clone(), c.clone()],
            Some(&fallback),
            10,
            t
        )
        .await
        .unwrap(),
        KeyUpload::Stored(full)
    );
    assert_eq!(db.key_stock(device).await.unwrap(), full);

    // The same bundle again (its keys in another order) is accepted; a key id already stored is
    // ignored, whatever key it now carries.
    let same_bundle = serde_json::json!({"keys": {"curve25519": "C", "ed25519": "E"}, "algorithms": ["m.olm.v1"]});
    let c_again = StoredKey {
        public_key: "replaced".into(),
        ..c.clone()
    };
    let d = key("d");
    assert_eq!(
        db.upload_keys(
            device,
            Some(&same_bundle),
            &[c_again, d.clone()],
            None,
            10,
            t
        )
        .await
        .unwrap(),
        KeyUpload::Stored(KeyStock {
            one_time_keys: 4,
            ..full
        })
    );

    // A different bundle is a conflict, and nothing else of that upload is stored.
    let other_bundle = serde_json::json!({"keys": {"ed25519": "X"}});
    assert_eq!(
        db.upload_keys(
            device,
            Some(&other_bundle),
            &[key("e")],
            Some(&key("f-conflict")),
            10,
            t
        )
        .await
        .unwrap(),
        KeyUpload::BundleConflict
    );
    assert_eq!(db.key_stock(device).await.unwrap().one_time_keys, 4);
    assert_eq!(
        db.query_keys(&[alice.user_id]).await.unwrap()[0].bundles,
        vec![bundle.clone()]
    );

    // A new fallback key replaces the old one.
    let fallback2 = key("f2");
    assert_eq!(
        db.upload_keys(device, None, &[], Some(&fallback2), 10, t)
            .await
            .unwrap(),
        KeyUpload::Stored(KeyStock {
            one_time_keys: 4,
            ..full
        })
    );

    // Claiming everything shows what was kept.
    let mut one_time = Vec::new();
    for _ in 0..4 {
        let claimed = claim_one(db, alice.user_id, device).await.expect("a key");
        assert!(!claimed.fallback);
        one_time.push(claimed.key);
    }
    one_time.sort_by(|x, y| x.key_id.cmp(&y.key_id));
    assert_eq!(one_time, vec![a, b, c, d]);
    let last = claim_one(db, alice.user_id, device)
        .await
        .expect("the fallback key");
    assert!(last.fallback);
    assert_eq!(last.key, fallback2);
}

async fn an_upload_over_the_one_time_key_limit_stores_nothing(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let device = alice.device_id;
    let bundle = serde_json::json!({"keys": {}});
    assert_eq!(
        db.upload_keys(
            device,
            Some(&bundle),
            &[key("a"), key("b"), key("c")],
            Some(&key("f")),
            2,
            t
        )
        .await
        .unwrap(),
        KeyUpload::TooManyKeys
    );
    assert_eq!(
        db.key_stock(device).await.unwrap(),
        NO_KEYS,
        "not even the bundle"
    );

    assert_eq!(
        db.upload_keys(device, None, &[key("a"), key("b")], None, 2, t)
            .await
            .unwrap(),
        KeyUpload::Stored(KeyStock {
            one_time_keys: 2,
            fallback_key: false,
            device_keys: false
        })
    );
    // The limit counts what the device would hold afterwards.
    assert_eq!(
        db.upload_keys(device, None, &[key("x")], Some(&key("f")), 2, t)
            .await
            .unwrap(),
        KeyUpload::TooManyKeys
    );
    assert_eq!(
        db.key_stock(device).await.unwrap(),
        KeyStock {
            one_time_keys: 2,
            fallback_key: false,
            device_keys: false
        }
    );
    // Repeated key ids are ignored, so they do not count.
    assert_eq!(
        db.upload_keys(device, None, &[key("a")], None, 2, t)
            .await
            .unwrap(),
        KeyUpload::Stored(KeyStock {
            one_time_keys: 2,
            fallback_key: false,
            device_keys: false
        })
    );
}

async fn queries_return_the_users_that_exist_with_their_bundles(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (phone, _) = add_device(db, &alice, "phone", plus(t, 1)).await;
    let first = serde_json::json!({"device": "first"});
    let second = serde_json::json!({"device": "phone"});
    // Uploaded in the other order: bundles come in device order.
    db.upload_keys(phone, Some(&second), &[], None, 10, t)
        .await
        .unwrap();
    db.upload_keys(alice.device_id, Some(&first), &[], None, 10, t)
        .await
        .unwrap();

    let mut found = db
        .query_keys(&[alice.user_id, new_user_id(), bob.user_id])
        .await
        .unwrap();
    found.sort_by_key(|u| u.user_id);
    let mut expected = vec![
        UserKeysRecord {
            user_id: alice.user_id,
            identity_key: alice.public_key.clone(),
            bundles: vec![first, second],
        },
        UserKeysRecord {
            user_id: bob.user_id,
            identity_key: bob.public_key.clone(),
            bundles: vec![],
        },
    ];
    expected.sort_by_key(|u| u.user_id);
    assert_eq!(found, expected);
    assert!(db.query_keys(&[]).await.unwrap().is_empty());
    assert!(db.query_keys(&[new_user_id()]).await.unwrap().is_empty());
}

/// Claims one key of one device.
async fn claim_one(db: &TestDb, user: UserId, device: DeviceId) -> Option<Claimed> {
    let mut claimed = db.claim_keys(&[(user, device)]).await.unwrap();
    assert!(claimed.len() <= 1);
    claimed.pop()
}

async fn claims_hand_out_one_time_keys_once_then_the_fallback_key(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (phone, _) = add_device(db, &alice, "phone", t).await;
    let (k1, k2, fallback) = (key("k1"), key("k2"), key("fb"));
    db.upload_keys(
        alice.device_id,
        None,
        &[k1.clone(), k2.clone()],
        Some(&fallback),
        10,
        t,
    )
    .await
    .unwrap();
    db.upload_keys(phone, None, &[key("p1")], None, 10, t)
        .await
        .unwrap();

    // Several devices in one claim; devices with no key, not of that user, or unknown are absent.
    let claimed = db
        .claim_keys(&[
            (alice.user_id, alice.device_id),
            (bob.user_id, bob.device_id),
            (bob.user_id, phone),
            (alice.user_id, new_device_id()),
            (alice.user_id, phone),
        ])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    let first = claimed
        .iter()
        .find(|c| c.device_id == alice.device_id)
        .unwrap();
    let from_phone = claimed.iter().find(|c| c.device_id == phone).unwrap();
    assert_eq!(first.user_id, alice.user_id);
    assert!(!first.fallback);
    assert_eq!(first.remaining, 1);
    assert_eq!(from_phone.key.key_id, "p1");
    assert_eq!(from_phone.remaining, 0);

    let second = claim_one(db, alice.user_id, alice.device_id).await.unwrap();
    assert!(!second.fallback);
    assert_eq!(second.remaining, 0);
    let mut handed_out = vec![first.key.clone(), second.key.clone()];
    handed_out.sort_by(|x, y| x.key_id.cmp(&y.key_id));
    assert_eq!(handed_out, vec![k1, k2]);

    // Then the fallback key, as often as asked, also for a device named twice in one claim.
    let twice = db
        .claim_keys(&[
            (alice.user_id, alice.device_id),
            (alice.user_id, alice.device_id),
        ])
        .await
        .unwrap();
    assert_eq!(twice.len(), 2);
    assert!(twice.iter().all(|c| c.fallback && c.key == fallback));
    for _ in 0..2 {
        let claimed = claim_one(db, alice.user_id, alice.device_id).await.unwrap();
        assert!(claimed.fallback);
        assert_eq!(claimed.key, fallback);
        assert_eq!(claimed.remaining, 0);
    }
    // The phone has no fallback key: nothing once its one-time key is gone.
    assert_eq!(claim_one(db, alice.user_id, phone).await, None);
    assert_eq!(
        db.key_stock(alice.device_id).await.unwrap(),
        KeyStock {
            one_time_keys: 0,
            fallback_key: true,
            device_keys: false
        }
    );
}

async fn concurrent_claims_hand_out_each_one_time_key_once(db: &TestDb) {
    const KEYS: usize = 8;
    const CLAIMS: usize = 24;
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let keys: Vec<StoredKey> = (0..KEYS).map(|i| key(&format!("k{i}"))).collect();
    db.upload_keys(alice.device_id, None, &keys, Some(&key("fb")), 100, t)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..CLAIMS {
        let store = db.shared();
        let target = (alice.user_id, alice.device_id);
        tasks.push(tokio::spawn(async move {
            store.claim_keys(&[target]).await.unwrap()
        }));
    }
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for task in tasks {
        let claimed = task.await.unwrap();
        assert_eq!(claimed.len(), 1, "every claim gets a key");
        if claimed[0].fallback {
            fallbacks += 1;
        } else {
            one_time.push(claimed[0].key.key_id.clone());
        }
    }
    let distinct: BTreeSet<&String> = one_time.iter().collect();
    assert_eq!(
        distinct.len(),
        one_time.len(),
        "a one-time key handed out twice: {one_time:?}"
    );
    assert_eq!(
        distinct,
        keys.iter().map(|k| &k.key_id).collect::<BTreeSet<_>>(),
        "every one-time key handed out"
    );
    assert_eq!(fallbacks, CLAIMS - KEYS);
    assert_eq!(
        db.key_stock(alice.device_id).await.unwrap().one_time_keys,
        0
    );
}

async fn claimable_devices_exist_belong_and_hold_a_key(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (phone, _) = add_device(db, &alice, "phone", t).await;
    let (tablet, _) = add_device(db, &alice, "tablet", t).await;
    db.upload_keys(alice.device_id, None, &[key("k1")], None, 10, t)
        .await
        .unwrap();
    // The phone has only a fallback key; the tablet and Bob's device have none.
    db.upload_keys(phone, None, &[], Some(&key("fb")), 10, t)
        .await
        .unwrap();
    let asked = [
        (alice.user_id, alice.device_id),
        (alice.user_id, phone),
        (alice.user_id, tablet),
        (bob.user_id, bob.device_id),
        (bob.user_id, phone),
        (alice.user_id, new_device_id()),
    ];
    let found = db.claimable_devices(&asked).await.unwrap();
    assert_eq!(
        found,
        vec![(alice.user_id, alice.device_id), (alice.user_id, phone)]
    );
    // Reading changes nothing: the one-time key is still there.
    assert_eq!(
        db.key_stock(alice.device_id).await.unwrap().one_time_keys,
        1
    );
    assert_eq!(db.claimable_devices(&[]).await.unwrap(), vec![]);
}
