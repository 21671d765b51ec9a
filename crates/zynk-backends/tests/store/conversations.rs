//! `ConversationStore`: one 1:1 conversation per pair, views per participant (unread counts,
//! most recently active first) and cursor moves (forward only, read implies delivered, clamped).

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::model::*;

conformance!(
    a_pair_of_users_has_one_conversation,
    concurrent_opens_of_a_pair_create_one_conversation,
    conversations_are_listed_most_recently_active_first,
    unread_counts_messages_from_others_after_the_read_cursor,
    cursors_move_forward_only_clamped_and_read_implies_delivered,
    without_read_receipts_reading_leaves_delivered_and_moves_are_reported,
);

async fn a_pair_of_users_has_one_conversation(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;

    let (opened, created) = db
        .open_one_to_one(alice.user_id, bob.user_id, true, t)
        .await
        .unwrap()
        .expect("bob exists");
    assert!(created);
    assert_eq!(opened.kind, ConversationKind::OneToOne);
    assert_eq!(opened.last_seq, 0);
    assert!(opened.anchor_expiring);
    assert_eq!(opened.unread_count, 0);
    assert_eq!((opened.created_at, opened.updated_at), (t, t));
    let mut participants = opened.participants.clone();
    participants.sort_by_key(|p| p.user_id);
    let member = |user_id| ParticipantRecord {
        user_id,
        role: "member".into(),
        last_delivered_seq: 0,
        last_read_seq: 0,
        read_receipts: true,
        joined_at: t,
    };
    let mut expected = vec![member(alice.user_id), member(bob.user_id)];
    expected.sort_by_key(|p| p.user_id);
    assert_eq!(participants, expected);

    // Opened again from either side: the same conversation, as it was created.
    let (again, created) = db
        .open_one_to_one(bob.user_id, alice.user_id, false, plus(t, 5))
        .await
        .unwrap()
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, opened.id);
    assert!(again.anchor_expiring, "kept from its creation");
    let (again, created) = db
        .open_one_to_one(alice.user_id, bob.user_id, true, plus(t, 6))
        .await
        .unwrap()
        .unwrap();
    assert!(!created);
    assert_eq!(again, opened);

    assert_eq!(
        db.get_conversation(opened.id, alice.user_id).await.unwrap(),
        Some(opened.clone())
    );
    assert_eq!(
        db.get_conversation(opened.id, carol.user_id).await.unwrap(),
        None,
        "not a participant"
    );
    assert_eq!(
        db.get_conversation(unknown_conversation_id(), alice.user_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.participants(opened.id).await.unwrap(),
        sorted(&[alice.user_id, bob.user_id])
    );
    assert!(
        db.participants(unknown_conversation_id())
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        db.open_one_to_one(alice.user_id, new_user_id(), false, t)
            .await
            .unwrap(),
        None
    );
    let (with_carol, created) = db
        .open_one_to_one(alice.user_id, carol.user_id, false, t)
        .await
        .unwrap()
        .unwrap();
    assert!(created);
    assert_ne!(with_carol.id, opened.id);
    assert!(!with_carol.anchor_expiring);
}

async fn concurrent_opens_of_a_pair_create_one_conversation(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = db.shared();
            let (viewer, other) = if i % 2 == 0 {
                (alice.user_id, bob.user_id)
            } else {
                (bob.user_id, alice.user_id)
            };
            tokio::spawn(async move {
                let (view, created) = store
                    .open_one_to_one(viewer, other, false, t)
                    .await
                    .unwrap()
                    .unwrap();
                (view.id, created)
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let (id, new) = task.await.unwrap();
        ids.push(id);
        created += usize::from(new);
    }
    assert_eq!(created, 1);
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(
        db.participants(ids[0]).await.unwrap(),
        sorted(&[alice.user_id, bob.user_id])
    );
    assert_eq!(db.list_conversations(alice.user_id).await.unwrap().len(), 1);
}

async fn conversations_are_listed_most_recently_active_first(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let dave = register_at(db, "dave", t).await;
    let with_bob = db
        .open_one_to_one(alice.user_id, bob.user_id, false, t)
        .await
        .unwrap()
        .unwrap()
        .0
        .id;
    let with_carol = db
        .open_one_to_one(carol.user_id, alice.user_id, false, plus(t, 1))
        .await
        .unwrap()
        .unwrap()
        .0
        .id;
    let ids = |list: Vec<ConversationRecord>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db.list_conversations(alice.user_id).await.unwrap()),
        vec![with_carol, with_bob]
    );
    send(db, text(with_bob, &bob), plus(t, 2)).await;
    let listed = db.list_conversations(alice.user_id).await.unwrap();
    assert_eq!(listed[0].updated_at, plus(t, 2));
    assert_eq!(listed[0].last_seq, 1);
    assert_eq!(ids(listed), vec![with_bob, with_carol]);
    assert_eq!(
        ids(db.list_conversations(bob.user_id).await.unwrap()),
        vec![with_bob]
    );
    assert!(
        db.list_conversations(dave.user_id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn unread_counts_messages_from_others_after_the_read_cursor(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    for _ in 0..3 {
        send(db, text(conversation, &bob), t).await;
    }
    send(db, text(conversation, &alice), t).await;
    let unread = |user: UserId| async move {
        db.get_conversation(conversation, user)
            .await
            .unwrap()
            .unwrap()
            .unread_count
    };
    assert_eq!(unread(alice.user_id).await, 3, "bob's three, not her own");
    assert_eq!(unread(bob.user_id).await, 1);

    // A message that has already expired does not count.
    let expired = NewMessage {
        expires_at: Some(plus(t, -1)),
        ..text(conversation, &bob)
    };
    send(db, expired, plus(t, -2)).await;
    assert_eq!(unread(alice.user_id).await, 3);

    let read = CursorMove {
        conversation_id: conversation,
        user_id: alice.user_id,
        delivered_up_to: None,
        read_up_to: Some(2),
    };
    db.advance_cursors(&[read], t).await.unwrap();
    assert_eq!(unread(alice.user_id).await, 1);
    assert_eq!(
        db.list_conversations(alice.user_id).await.unwrap()[0].unread_count,
        1
    );
}

async fn cursors_move_forward_only_clamped_and_read_implies_delivered(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    for _ in 0..5 {
        send(db, text(conversation, &bob), t).await;
    }
    let cursor = |user: &Account, delivered: Option<i64>, read: Option<i64>| CursorMove {
        conversation_id: conversation,
        user_id: user.user_id,
        delivered_up_to: delivered,
        read_up_to: read,
    };
    let cursors = |p: &Option<ParticipantRecord>| {
        let p = p.as_ref().expect("a participant");
        (p.last_delivered_seq, p.last_read_seq)
    };
    let advance = |m: CursorMove| async move {
        let mut results = db.advance_cursors(&[m], t).await.unwrap();
        assert_eq!(results.len(), 1);
        results.pop().unwrap()
    };

    assert_eq!(
        cursors(&advance(cursor(&alice, Some(3), None)).await),
        (3, 0)
    );
    assert_eq!(
        cursors(&advance(cursor(&alice, None, Some(2))).await),
        (3, 2)
    );
    // Never backwards.
    assert_eq!(
        cursors(&advance(cursor(&alice, Some(1), Some(1))).await),
        (3, 2)
    );
    assert_eq!(
        cursors(&advance(cursor(&alice, Some(-4), Some(-4))).await),
        (3, 2)
    );
    // Reading implies delivery.
    assert_eq!(
        cursors(&advance(cursor(&alice, None, Some(4))).await),
        (4, 4)
    );
    // Clamped to the conversation's last sequence number.
    assert_eq!(
        cursors(&advance(cursor(&alice, Some(99), Some(99))).await),
        (5, 5)
    );
    assert_eq!(
        cursors(&advance(cursor(&bob, Some(99), None)).await),
        (5, 0)
    );

    // One result per move, in order; `None` for anyone who does not participate.
    let privacy = Privacy {
        allow_read_receipts: false,
        ..Privacy::default()
    };
    db.set_privacy(alice.user_id, &privacy, t).await.unwrap();
    send(db, text(conversation, &bob), t).await;
    let results = db
        .advance_cursors(
            &[
                cursor(&carol, Some(1), Some(1)),
                cursor(&bob, None, Some(6)),
                CursorMove {
                    conversation_id: unknown_conversation_id(),
                    ..cursor(&alice, Some(1), None)
                },
                cursor(&alice, Some(6), None),
            ],
            t,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], None);
    assert_eq!(results[2], None);
    let bob_now = results[1].clone().unwrap();
    assert_eq!(
        (
            bob_now.user_id,
            bob_now.last_delivered_seq,
            bob_now.last_read_seq
        ),
        (bob.user_id, 6, 6)
    );
    assert!(bob_now.read_receipts);
    let alice_now = results[3].clone().unwrap();
    assert_eq!(
        (
            alice_now.user_id,
            alice_now.last_delivered_seq,
            alice_now.last_read_seq
        ),
        (alice.user_id, 6, 5)
    );
    assert!(!alice_now.read_receipts, "alice sends no read receipts");
    assert_eq!(alice_now.role, "member");

    let view = db
        .get_conversation(conversation, bob.user_id)
        .await
        .unwrap()
        .unwrap();
    let alice_seen = view
        .participants
        .iter()
        .find(|p| p.user_id == alice.user_id)
        .unwrap();
    assert_eq!(*alice_seen, alice_now);
}

async fn without_read_receipts_reading_leaves_delivered_and_moves_are_reported(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    for _ in 0..5 {
        send(db, text(conversation, &alice), t).await;
    }
    let private = Privacy {
        allow_read_receipts: false,
        ..Privacy::default()
    };
    db.set_privacy(bob.user_id, &private, t).await.unwrap();
    let cursor = |delivered: Option<i64>, read: Option<i64>| CursorMove {
        conversation_id: conversation,
        user_id: bob.user_id,
        delivered_up_to: delivered,
        read_up_to: read,
    };
    // Reading does not move the delivered cursor (the read cursor waits for it).
    let out = db.move_cursors(&[cursor(None, Some(3))], t).await.unwrap();
    let out = out[0].clone().expect("a participant");
    assert!(!out.moved());
    assert_eq!(
        (
            out.participant.last_delivered_seq,
            out.participant.last_read_seq
        ),
        (0, 0)
    );
    assert!(!out.participant.read_receipts);
    // Delivery acknowledgements still move it, and reading up to it then moves the read one.
    let out = db.move_cursors(&[cursor(Some(4), None)], t).await.unwrap();
    let out = out[0].clone().unwrap();
    assert!(out.moved());
    assert_eq!(out.participant.last_delivered_seq, 4);
    let out = db.move_cursors(&[cursor(None, Some(3))], t).await.unwrap();
    let out = out[0].clone().unwrap();
    assert!(out.moved());
    assert_eq!(
        (
            out.participant.last_delivered_seq,
            out.participant.last_read_seq
        ),
        (4, 3)
    );
    // A move that changes nothing says so.
    let out = db
        .move_cursors(&[cursor(Some(2), Some(1))], t)
        .await
        .unwrap();
    let out = out[0].clone().unwrap();
    assert!(!out.moved());
    assert_eq!(
        (
            out.participant.last_delivered_seq,
            out.participant.last_read_seq
        ),
        (4, 3)
    );
    // With receipts on again, reading implies delivered as before.
    db.set_privacy(bob.user_id, &Privacy::default(), t)
        .await
        .unwrap();
    let out = db.move_cursors(&[cursor(None, Some(5))], t).await.unwrap();
    let out = out[0].clone().unwrap();
    assert_eq!(
        (
            out.participant.last_delivered_seq,
            out.participant.last_read_seq
        ),
        (5, 5)
    );
    // Not a participant.
    let stranger = CursorMove {
        user_id: new_user_id(),
        ..cursor(Some(1), None)
    };
    assert_eq!(db.move_cursors(&[stranger], t).await.unwrap(), vec![None]);
}
