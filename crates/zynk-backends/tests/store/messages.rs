//! `MessageStore`: gapless per-conversation sequence numbers in batches (also under concurrent
//! writers), idempotent retries, id conflicts, relations, history paging both ways, expiry and
//! the purges.

use std::collections::BTreeSet;

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::model::*;

conformance!(
    each_message_gets_the_next_sequence_number_of_its_conversation,
    concurrent_batches_leave_no_gap,
    a_retried_message_comes_back_as_stored_without_using_a_number,
    a_taken_id_is_a_conflict_and_uses_no_number,
    relations_apply_to_valid_targets_only,
    history_pages_in_both_directions_without_expired_messages,
    get_message_hides_expired_messages,
    a_self_destruct_time_is_kept_to_the_microsecond,
    expired_messages_are_purged_and_returned,
    deleted_messages_are_purged_after_the_cutoff,
);

/// Sequence numbers of stored outcomes.
fn seqs(outcomes: &[InsertOutcome]) -> Vec<i64> {
    outcomes.iter().map(seq_of).collect()
}

fn created(outcome: &InsertOutcome) -> MessageRecord {
    match outcome {
        InsertOutcome::Created(m) => m.clone(),
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn last_seq(db: &TestDb, conversation: ConversationId, viewer: &Account) -> i64 {
    db.get_conversation(conversation, viewer.user_id)
        .await
        .unwrap()
        .unwrap()
        .last_seq
}

async fn each_message_gets_the_next_sequence_number_of_its_conversation(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let c1 = one_to_one(db, &alice, &bob).await;
    let c2 = one_to_one(db, &alice, &carol).await;

    let batch = vec![
        text(c1, &alice),
        text(c2, &carol),
        text(c1, &bob),
        NewMessage {
            message_type: MessageType::Image,
            metadata: serde_json::json!({"relation": null, "mime": "image/png"}),
            expires_at: Some(plus(t, 3600)),
            ..text(c1, &alice)
        },
        text(c2, &alice),
    ];
    let outcomes = db.insert_messages(&batch, t).await.unwrap();
    assert_eq!(seqs(&outcomes), vec![1, 1, 2, 3, 2]);
    for (item, outcome) in batch.iter().zip(&outcomes) {
        let record = created(outcome);
        assert_eq!(
            record,
            MessageRecord {
                id: item.id,
                conversation_id: item.conversation_id,
                seq: record.seq,
                sender_id: item.sender_id,
                sender_device_id: Some(item.sender_device_id),
                encrypted_content: item.encrypted_content.clone(),
                content_hash: item.content_hash.clone(),
                message_type: item.message_type,
                metadata: Some(item.metadata.clone()),
                created_at: t,
                edited_at: None,
                deleted_at: None,
                expires_at: item.expires_at,
            }
        );
    }

    let t2 = plus(t, 1);
    let more = db
        .insert_messages(&[text(c2, &carol), text(c1, &bob)], t2)
        .await
        .unwrap();
    assert_eq!(seqs(&more), vec![3, 4]);
    assert_eq!(last_seq(db, c1, &alice).await, 4);
    assert_eq!(last_seq(db, c2, &alice).await, 3);
    let view = db.get_conversation(c1, bob.user_id).await.unwrap().unwrap();
    assert_eq!(view.updated_at, t2);

    // History holds exactly what the inserts reported.
    let (history, _) = db
        .history(c1, HistoryRange::After(0), 10, t2)
        .await
        .unwrap();
    let reported: Vec<MessageRecord> = outcomes
        .iter()
        .chain(&more)
        .map(created)
        .filter(|m| m.conversation_id == c1)
        .collect();
    assert_eq!(history, reported);
    assert!(db.insert_messages(&[], t2).await.unwrap().is_empty());
}

async fn concurrent_batches_leave_no_gap(db: &TestDb) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 6;
    const SIZE: usize = 5;
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    assert!(db.parallel_writers() >= 1);

    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = db.shared();
        let sender = if writer % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..BATCHES {
                let batch: Vec<NewMessage> =
                    (0..SIZE).map(|_| text(conversation, &sender)).collect();
                let outcomes = store.insert_messages(&batch, now()).await.unwrap();
                let batch_seqs: Vec<i64> = outcomes.iter().map(seq_of).collect();
                assert!(
                    batch_seqs.is_sorted(),
                    "a batch keeps its order: {batch_seqs:?}"
                );
                seqs.extend(batch_seqs);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let total = i64::try_from(WRITERS * BATCHES * SIZE).unwrap();
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
    assert_eq!(last_seq(db, conversation, &alice).await, total);
}

async fn a_retried_message_comes_back_as_stored_without_using_a_number(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let (m1, m2) = (text(conversation, &alice), text(conversation, &alice));
    let first = db
        .insert_messages(&[m1.clone(), m2.clone()], t)
        .await
        .unwrap();
    let stored: Vec<MessageRecord> = first.iter().map(created).collect();

    // The whole batch again, later: as stored, with its original time.
    let retry = db
        .insert_messages(&[m1.clone(), m2.clone()], plus(t, 5))
        .await
        .unwrap();
    assert_eq!(
        retry,
        vec![
            InsertOutcome::Existing(stored[0].clone()),
            InsertOutcome::Existing(stored[1].clone())
        ]
    );
    // Part of it with something new: the new one takes the next number.
    let m3 = text(conversation, &bob);
    let mixed = db
        .insert_messages(&[m2.clone(), m3.clone()], plus(t, 6))
        .await
        .unwrap();
    assert_eq!(mixed[0], InsertOutcome::Existing(stored[1].clone()));
    assert_eq!(created(&mixed[1]).seq, 3);
    // The same message twice in one batch is stored once.
    let m4 = text(conversation, &bob);
    let twice = db
        .insert_messages(&[m4.clone(), m4.clone()], plus(t, 7))
        .await
        .unwrap();
    assert_eq!(created(&twice[0]).seq, 4);
    assert_eq!(twice[1], InsertOutcome::Existing(created(&twice[0])));
    assert_eq!(
        seq_of(
            &db.insert_messages(&[text(conversation, &bob)], t)
                .await
                .unwrap()[0]
        ),
        5
    );
    assert_eq!(last_seq(db, conversation, &alice).await, 5);
}

async fn a_taken_id_is_a_conflict_and_uses_no_number(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let c1 = one_to_one(db, &alice, &bob).await;
    let c2 = one_to_one(db, &alice, &carol).await;
    let original = send(db, text(c1, &alice), t).await;
    let reuse = |m: NewMessage| NewMessage {
        id: original.id,
        ..m
    };

    let conflicts = [
        reuse(text(c1, &alice)),
        reuse(text(c2, &alice)),
        NewMessage {
            content_hash: original.content_hash.clone(),
            ..reuse(text(c1, &bob))
        },
        NewMessage {
            conversation_id: c2,
            content_hash: original.content_hash.clone(),
            ..reuse(text(c1, &alice))
        },
    ];
    for conflict in &conflicts {
        assert_eq!(
            db.insert_messages(std::slice::from_ref(conflict), t)
                .await
                .unwrap(),
            vec![InsertOutcome::IdConflict],
            "{conflict:?}"
        );
    }
    // In a batch: the conflict fails alone and leaves no gap.
    let fresh = text(c1, &bob);
    let outcomes = db
        .insert_messages(&[conflicts[0].clone(), fresh.clone()], t)
        .await
        .unwrap();
    assert_eq!(outcomes[0], InsertOutcome::IdConflict);
    assert_eq!(created(&outcomes[1]).seq, 2);
    // The same id twice in one batch with different content: the second conflicts.
    let x = text(c2, &carol);
    let other_x = NewMessage {
        content_hash: random_hex64(),
        ..x.clone()
    };
    let outcomes = db.insert_messages(&[x, other_x], t).await.unwrap();
    assert_eq!(created(&outcomes[0]).seq, 1);
    assert_eq!(outcomes[1], InsertOutcome::IdConflict);

    assert_eq!(last_seq(db, c1, &alice).await, 2);
    assert_eq!(last_seq(db, c2, &alice).await, 1);
    assert_eq!(
        db.get_message(original.id, t).await.unwrap(),
        Some(original)
    );
}

async fn relations_apply_to_valid_targets_only(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let c1 = one_to_one(db, &alice, &bob).await;
    let c2 = one_to_one(db, &alice, &carol).await;
    let mine = send(db, text(c1, &alice), t).await;
    let theirs = send(db, text(c1, &bob), t).await;
    let elsewhere = send(db, text(c2, &alice), t).await;
    let short_lived = send(
        db,
        NewMessage {
            expires_at: Some(plus(t, 5)),
            ..text(c1, &bob)
        },
        t,
    )
    .await;
    assert_eq!(last_seq(db, c1, &alice).await, 3);

    let one = |m: NewMessage, at| async move {
        db.insert_messages(&[m], at).await.unwrap().pop().unwrap()
    };
    let invalid = [
        related(c1, &alice, "edit", theirs.id),
        related(c1, &alice, "delete", theirs.id),
        related(c1, &alice, "reaction", elsewhere.id),
        related(c1, &alice, "edit", elsewhere.id),
        related(c1, &alice, "reaction", new_message_id()),
        related(c1, &bob, "delete", mine.id),
    ];
    for relation in invalid {
        assert_eq!(
            one(relation.clone(), t).await,
            InsertOutcome::InvalidRelation,
            "{:?}",
            relation.relation
        );
    }
    // An expired target is gone for relations too.
    assert_eq!(
        one(related(c1, &bob, "reaction", short_lived.id), plus(t, 6)).await,
        InsertOutcome::InvalidRelation
    );
    assert_eq!(
        last_seq(db, c1, &alice).await,
        3,
        "invalid relations use no number"
    );

    // Valid ones: a reaction to anyone's message, an edit of one's own.
    let t_edit = plus(t, 1);
    assert_eq!(
        seq_of(&one(related(c1, &alice, "reaction", theirs.id), t).await),
        4
    );
    assert_eq!(
        seq_of(&one(related(c1, &alice, "edit", mine.id), t_edit).await),
        5
    );
    let edited = db.get_message(mine.id, t_edit).await.unwrap().unwrap();
    assert_eq!(edited.edited_at, Some(t_edit));
    assert_eq!(edited.encrypted_content, mine.encrypted_content);

    // Deleting one's own message empties it and keeps its hash.
    let t_delete = plus(t, 2);
    assert_eq!(
        seq_of(&one(related(c1, &alice, "delete", mine.id), t_delete).await),
        6
    );
    let deleted = db.get_message(mine.id, t_delete).await.unwrap().unwrap();
    assert_eq!(deleted.deleted_at, Some(t_delete));
    assert!(deleted.encrypted_content.is_empty());
    assert_eq!(deleted.content_hash, mine.content_hash);
    assert_eq!(deleted.edited_at, Some(t_edit));
    // A deleted message takes no more relations.
    for relation in [
        related(c1, &alice, "edit", mine.id),
        related(c1, &bob, "reaction", mine.id),
        related(c1, &alice, "delete", mine.id),
    ] {
        assert_eq!(
            one(relation, t_delete).await,
            InsertOutcome::InvalidRelation
        );
    }

    // In one batch: an invalid relation fails alone, and a target earlier in the batch counts.
    let target = text(c1, &bob);
    let outcomes = db
        .insert_messages(
            &[
                related(c1, &alice, "edit", theirs.id),
                target.clone(),
                related(c1, &bob, "edit", target.id),
                related(c1, &alice, "reaction", target.id),
            ],
            t_delete,
        )
        .await
        .unwrap();
    assert_eq!(outcomes[0], InsertOutcome::InvalidRelation);
    assert_eq!(seqs(&outcomes[1..]), vec![7, 8, 9]);
    assert_eq!(
        db.get_message(target.id, t_delete)
            .await
            .unwrap()
            .unwrap()
            .edited_at,
        Some(t_delete)
    );
    assert_eq!(last_seq(db, c1, &alice).await, 9);
}

async fn history_pages_in_both_directions_without_expired_messages(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let other = one_to_one(db, &alice, &carol).await;
    for _ in 0..5 {
        send(db, text(conversation, &alice), t).await;
    }
    send(db, text(other, &carol), t).await;
    let expiring = send(
        db,
        NewMessage {
            expires_at: Some(plus(t, 10)),
            ..text(conversation, &bob)
        },
        t,
    )
    .await;
    assert_eq!(expiring.seq, 6);

    let page = |range, limit, at| async move {
        let (messages, more) = db.history(conversation, range, limit, at).await.unwrap();
        assert!(messages.iter().all(|m| m.conversation_id == conversation));
        (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), more)
    };
    let later = plus(t, 10);
    // Forwards.
    assert_eq!(
        page(HistoryRange::After(0), 2, later).await,
        (vec![1, 2], true)
    );
    assert_eq!(
        page(HistoryRange::After(2), 2, later).await,
        (vec![3, 4], true)
    );
    assert_eq!(
        page(HistoryRange::After(4), 2, later).await,
        (vec![5], false)
    );
    assert_eq!(
        page(HistoryRange::After(5), 2, later).await,
        (vec![], false)
    );
    assert_eq!(page(HistoryRange::After(3), 2, t).await, (vec![4, 5], true));
    assert_eq!(
        page(HistoryRange::After(4), 2, t).await,
        (vec![5, 6], false)
    );
    // Backwards: the newest page first, each page in ascending order.
    assert_eq!(
        page(HistoryRange::Before(i64::MAX), 2, later).await,
        (vec![4, 5], true)
    );
    assert_eq!(
        page(HistoryRange::Before(4), 2, later).await,
        (vec![2, 3], true)
    );
    assert_eq!(
        page(HistoryRange::Before(2), 2, later).await,
        (vec![1], false)
    );
    assert_eq!(
        page(HistoryRange::Before(1), 2, later).await,
        (vec![], false)
    );
    assert_eq!(
        page(HistoryRange::Before(i64::MAX), 2, t).await,
        (vec![5, 6], true)
    );
    assert_eq!(
        page(HistoryRange::Before(i64::MAX), 10, later).await,
        (vec![1, 2, 3, 4, 5], false)
    );
    assert_eq!(
        db.history(unknown_conversation_id(), HistoryRange::After(0), 10, t)
            .await
            .unwrap(),
        (vec![], false)
    );
}

async fn get_message_hides_expired_messages(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let lasting = send(db, text(conversation, &alice), t).await;
    let expiring = send(
        db,
        NewMessage {
            expires_at: Some(plus(t, 10)),
            ..text(conversation, &alice)
        },
        t,
    )
    .await;
    assert_eq!(
        db.get_message(expiring.id, plus(t, 9)).await.unwrap(),
        Some(expiring.clone())
    );
    assert_eq!(
        db.get_message(expiring.id, plus(t, 10)).await.unwrap(),
        None
    );
    assert_eq!(
        db.get_message(lasting.id, plus(t, 86_400)).await.unwrap(),
        Some(lasting)
    );
    assert_eq!(db.get_message(new_message_id(), t).await.unwrap(), None);
}

async fn a_self_destruct_time_is_kept_to_the_microsecond(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    // A client may send a time finer than both engines store.
    let fine = plus(t, 3600) + chrono::TimeDelta::nanoseconds(123_456_789);
    let micros = plus(t, 3600) + chrono::TimeDelta::microseconds(123_456);
    let batch = [
        NewMessage {
            expires_at: Some(fine),
            ..text(conversation, &alice)
        },
        NewMessage {
            expires_at: Some(fine),
            relation: Some(relation("reaction", new_message_id())),
            ..text(conversation, &bob)
        },
    ];
    // The batch path (no relations) and the one-by-one path (a relation) alike.
    for (i, outcomes) in [
        db.insert_messages(&batch[..1], t).await.unwrap(),
        db.insert_messages(
            &[
                NewMessage {
                    relation: None,
                    ..batch[1].clone()
                },
                related(conversation, &alice, "reaction", batch[0].id),
            ],
            t,
        )
        .await
        .unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        let reported = created(&outcomes[0]);
        assert_eq!(reported.expires_at, Some(micros), "path {i}");
        assert_eq!(
            db.get_message(reported.id, t).await.unwrap(),
            Some(reported.clone()),
            "stored as reported"
        );
        assert_eq!(db.get_message(reported.id, micros).await.unwrap(), None);
    }
}

async fn expired_messages_are_purged_and_returned(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let c1 = one_to_one(db, &alice, &bob).await;
    let c2 = one_to_one(db, &alice, &carol).await;
    let expiring = |c, who: &Account, secs| NewMessage {
        expires_at: Some(plus(t, secs)),
        ..text(c, who)
    };
    let lasting = send(db, text(c1, &alice), t).await;
    let first = send(db, expiring(c1, &alice, 1), t).await;
    let second = send(db, expiring(c2, &carol, 2), t).await;
    let third = send(db, expiring(c1, &bob, 30), t).await;

    let purged_at = plus(t, 3);
    let one = db.purge_expired_messages(purged_at, 1).await.unwrap();
    assert_eq!(one.len(), 1, "at most the limit");
    let rest = db.purge_expired_messages(purged_at, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let mut purged: Vec<(ConversationId, MessageId)> = one
        .iter()
        .chain(&rest)
        .map(|e| (e.conversation_id, e.message_id))
        .collect();
    purged.sort();
    assert_eq!(purged, sorted(&[(c1, first.id), (c2, second.id)]));
    assert!(
        db.purge_expired_messages(purged_at, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Gone even for a reader whose clock is earlier; the others stay, numbers are not reused.
    let (history, _) = db.history(c1, HistoryRange::After(0), 10, t).await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![lasting.id, third.id]
    );
    assert_eq!(db.get_message(second.id, t).await.unwrap(), None);
    assert_eq!(last_seq(db, c1, &alice).await, 3);
    assert_eq!(
        seq_of(&db.insert_messages(&[text(c1, &bob)], t).await.unwrap()[0]),
        4
    );
}

async fn deleted_messages_are_purged_after_the_cutoff(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let a1 = send(db, text(conversation, &alice), t).await;
    let a2 = send(db, text(conversation, &alice), t).await;
    let a3 = send(db, text(conversation, &alice), t).await;
    send(
        db,
        related(conversation, &alice, "delete", a1.id),
        plus(t, 10),
    )
    .await;
    send(
        db,
        related(conversation, &alice, "delete", a2.id),
        plus(t, 20),
    )
    .await;

    assert_eq!(db.purge_deleted_messages(plus(t, 15)).await.unwrap(), 1);
    assert_eq!(db.get_message(a1.id, t).await.unwrap(), None);
    assert!(db.get_message(a2.id, t).await.unwrap().is_some());
    assert_eq!(db.purge_deleted_messages(plus(t, 15)).await.unwrap(), 0);
    assert_eq!(db.purge_deleted_messages(plus(t, 21)).await.unwrap(), 1);
    let (history, _) = db
        .history(conversation, HistoryRange::After(0), 10, t)
        .await
        .unwrap();
    let left: BTreeSet<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(
        left,
        BTreeSet::from([a3.seq, 4, 5]),
        "the deletions themselves stay"
    );
}
