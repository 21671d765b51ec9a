//! `ToDeviceStore`: storing payloads per recipient, idempotency by
//! `(sender device, txn_id, recipient)`, inbox paging, acknowledgement and the purge.

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::model::*;

conformance!(
    payloads_are_stored_per_recipient_and_unknown_recipients_reported,
    a_repeated_transaction_is_stored_once_per_recipient,
    concurrent_retries_store_a_transaction_once,
    the_inbox_pages_and_acknowledgements_delete,
    payloads_older_than_the_cutoff_are_purged,
    inbox_sizes_count_waiting_payloads,
);

fn payload(to: &Account, device: DeviceId, n: u32) -> NewToDevice {
    NewToDevice {
        recipient_user_id: to.user_id,
        recipient_device_id: device,
        content: serde_json::json!({"n": n, "ciphertext": "…"}),
    }
}

async fn payloads_are_stored_per_recipient_and_unknown_recipients_reported(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let (bob_phone, _) = add_device(db, &bob, "phone", t).await;
    let missing = new_device_id();
    let outcome = db
        .send_to_device(
            alice.user_id,
            alice.device_id,
            "txn-1",
            "m.room_key",
            &[
                payload(&bob, bob.device_id, 1),
                payload(&carol, bob.device_id, 2),
                payload(&bob, bob_phone, 3),
                payload(&bob, missing, 4),
            ],
            t,
        )
        .await
        .unwrap();
    assert_eq!(outcome.duplicates, 0);
    assert_eq!(
        outcome.unknown,
        vec![(carol.user_id, bob.device_id), (bob.user_id, missing)]
    );
    assert_eq!(outcome.stored.len(), 2);
    let first = &outcome.stored[0];
    assert_eq!(
        *first,
        ToDeviceRecord {
            id: first.id,
            recipient_device_id: bob.device_id,
            sender_user_id: Some(alice.user_id),
            sender_device_id: Some(alice.device_id),
            event_type: "m.room_key".into(),
            content: serde_json::json!({"n": 1, "ciphertext": "…"}),
            created_at: t,
        }
    );
    assert_eq!(outcome.stored[1].recipient_device_id, bob_phone);
    assert_eq!(
        db.to_device_inbox(bob.device_id, 0, 10).await.unwrap(),
        (vec![first.clone()], false)
    );
    assert_eq!(
        db.to_device_inbox(bob_phone, 0, 10).await.unwrap(),
        (vec![outcome.stored[1].clone()], false)
    );
    assert!(
        db.to_device_inbox(carol.device_id, 0, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
}

async fn a_repeated_transaction_is_stored_once_per_recipient(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (alice_phone, _) = add_device(db, &alice, "phone", t).await;
    let (bob_phone, _) = add_device(db, &bob, "phone", t).await;
    let send = |device: DeviceId, txn: &'static str, to: Vec<NewToDevice>| {
        let alice = alice.user_id;
        async move {
            db.send_to_device(alice, device, txn, "m.test", &to, t)
                .await
                .unwrap()
        }
    };

    let first = send(alice.device_id, "t1", vec![payload(&bob, bob.device_id, 1)]).await;
    assert_eq!((first.stored.len(), first.duplicates), (1, 0));
    // A retry, even with other content, stores nothing.
    let retry = send(
        alice.device_id,
        "t1",
        vec![payload(&bob, bob.device_id, 99)],
    )
    .await;
    assert_eq!((retry.stored.len(), retry.duplicates), (0, 1));
    // A retry that adds a recipient stores only for the new one.
    let wider = send(
        alice.device_id,
        "t1",
        vec![payload(&bob, bob.device_id, 1), payload(&bob, bob_phone, 1)],
    )
    .await;
    assert_eq!((wider.stored.len(), wider.duplicates), (1, 1));
    assert_eq!(wider.stored[0].recipient_device_id, bob_phone);
    // The same txn_id from another device of the sender, or another txn_id, is new.
    let other_device = send(alice_phone, "t1", vec![payload(&bob, bob.device_id, 2)]).await;
    assert_eq!((other_device.stored.len(), other_device.duplicates), (1, 0));
    let other_txn = send(alice.device_id, "t2", vec![payload(&bob, bob.device_id, 3)]).await;
    assert_eq!((other_txn.stored.len(), other_txn.duplicates), (1, 0));

    // A recipient named twice in one send is stored once.
    let doubled = send(
        alice.device_id,
        "t3",
        vec![
            payload(&bob, bob.device_id, 4),
            payload(&bob, bob.device_id, 4),
        ],
    )
    .await;
    assert_eq!((doubled.stored.len(), doubled.duplicates), (1, 1));

    let (inbox, more) = db.to_device_inbox(bob.device_id, 0, 10).await.unwrap();
    assert!(!more);
    assert_eq!(
        inbox
            .iter()
            .map(|r| r.content["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(inbox[1].sender_device_id, Some(alice_phone));
}

async fn concurrent_retries_store_a_transaction_once(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = db.shared();
            let (sender, device) = (alice.user_id, alice.device_id);
            let to = vec![payload(&bob, bob.device_id, 1)];
            tokio::spawn(async move {
                store
                    .send_to_device(sender, device, "same", "m.test", &to, t)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut stored, mut duplicates) = (0, 0);
    for task in tasks {
        let outcome = task.await.unwrap();
        stored += outcome.stored.len();
        duplicates += outcome.duplicates;
    }
    assert_eq!((stored, duplicates), (1, 3));
    assert_eq!(
        db.to_device_inbox(bob.device_id, 0, 10)
            .await
            .unwrap()
            .0
            .len(),
        1
    );
}

async fn the_inbox_pages_and_acknowledgements_delete(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (bob_phone, _) = add_device(db, &bob, "phone", t).await;
    for n in 1..=5 {
        db.send_to_device(
            alice.user_id,
            alice.device_id,
            &format!("txn-{n}"),
            "m.test",
            &[payload(&bob, bob.device_id, n)],
            t,
        )
        .await
        .unwrap();
    }
    db.send_to_device(
        alice.user_id,
        alice.device_id,
        "phone",
        "m.test",
        &[payload(&bob, bob_phone, 9)],
        t,
    )
    .await
    .unwrap();

    let numbers = |records: &[ToDeviceRecord]| {
        records
            .iter()
            .map(|r| r.content["n"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let (page, more) = db.to_device_inbox(bob.device_id, 0, 2).await.unwrap();
    assert_eq!((numbers(&page), more), (vec![1, 2], true));
    let (page2, more) = db
        .to_device_inbox(bob.device_id, page[1].id, 2)
        .await
        .unwrap();
    assert_eq!((numbers(&page2), more), (vec![3, 4], true));
    let (page3, more) = db
        .to_device_inbox(bob.device_id, page2[1].id, 1)
        .await
        .unwrap();
    assert_eq!(
        (numbers(&page3), more),
        (vec![5], false),
        "exactly the rest: no more"
    );
    assert!(
        page.iter()
            .chain(&page2)
            .chain(&page3)
            .is_sorted_by_key(|r| r.id)
    );

    // Acknowledging up to the third deletes the first three, and only the device's own.
    assert_eq!(
        db.ack_to_device(bob.device_id, page2[0].id).await.unwrap(),
        3
    );
    assert_eq!(
        db.ack_to_device(bob.device_id, page2[0].id).await.unwrap(),
        0
    );
    let (rest, more) = db.to_device_inbox(bob.device_id, 0, 10).await.unwrap();
    assert_eq!((numbers(&rest), more), (vec![4, 5], false));
    assert_eq!(db.ack_to_device(bob.device_id, i64::MAX).await.unwrap(), 2);
    assert_eq!(
        numbers(&db.to_device_inbox(bob_phone, 0, 10).await.unwrap().0),
        vec![9]
    );
    assert_eq!(db.ack_to_device(bob_phone, 0).await.unwrap(), 0);
}

async fn payloads_older_than_the_cutoff_are_purged(db: &TestDb) {
    let t0 = now();
    let alice = register_at(db, "alice", t0).await;
    let bob = register_at(db, "bob", t0).await;
    for (n, at) in [(1, t0), (2, plus(t0, 10)), (3, plus(t0, 20))] {
        db.send_to_device(
            alice.user_id,
            alice.device_id,
            &format!("txn-{n}"),
            "m.test",
            &[payload(&bob, bob.device_id, n)],
            at,
        )
        .await
        .unwrap();
    }
    assert_eq!(db.purge_to_device_before(plus(t0, 10)).await.unwrap(), 1);
    assert_eq!(db.purge_to_device_before(plus(t0, 10)).await.unwrap(), 0);
    let (left, _) = db.to_device_inbox(bob.device_id, 0, 10).await.unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].created_at, plus(t0, 10));
    assert_eq!(db.purge_to_device_before(plus(t0, 21)).await.unwrap(), 2);
    assert!(
        db.to_device_inbox(bob.device_id, 0, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
}

async fn inbox_sizes_count_waiting_payloads(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let (bob_phone, _) = add_device(db, &bob, "phone", t).await;
    assert_eq!(
        db.inbox_sizes(&[bob.device_id, bob_phone]).await.unwrap(),
        vec![]
    );
    for (n, txn) in ["a", "b", "c"].iter().enumerate() {
        db.send_to_device(
            alice.user_id,
            alice.device_id,
            txn,
            "m.test",
            &[payload(&bob, bob.device_id, n as u32)],
            t,
        )
        .await
        .unwrap();
    }
    db.send_to_device(
        alice.user_id,
        alice.device_id,
        "d",
        "m.test",
        &[payload(&bob, bob_phone, 9)],
        t,
    )
    .await
    .unwrap();
    assert_eq!(
        db.inbox_sizes(&[bob.device_id, bob_phone, alice.device_id])
            .await
            .unwrap(),
        vec![(bob.device_id, 3), (bob_phone, 1)]
    );
    let page = db.to_device_inbox(bob.device_id, 0, 10).await.unwrap();
    let second = page.0[1].id;
    db.ack_to_device(bob.device_id, second).await.unwrap();
    assert_eq!(
        db.inbox_sizes(&[bob.device_id]).await.unwrap(),
        vec![(bob.device_id, 1)]
    );
}
