//! `CallStore`: the call state machine decided inside the writing transaction, one active call
//! per conversation (also refused by the database), server-computed durations, history newest
//! first, and the missed sweep handing each call to exactly one caller.

use chrono::{DateTime, Utc};

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use zynk_backends::model::*;
use zynk_proto::CallId;
use zynk_proto::calls::{CallStatus, CallType};

conformance!(
    a_call_goes_from_ringing_to_ended_with_its_duration,
    illegal_transitions_write_nothing,
    one_active_call_per_conversation,
    unanswered_calls_are_swept_once,
    concurrent_answers_have_one_winner,
    history_is_newest_first_and_paged,
    calls_awaiting_answer_are_the_callees_unanswered_ones,
);

fn new_call(conversation: ConversationId, initiator: &Account) -> NewCall {
    NewCall {
        id: CallId::new_v7(),
        conversation_id: conversation,
        initiator_id: initiator.user_id,
        call_type: CallType::Audio,
    }
}

fn done(outcome: CallOutcome) -> (CallRecord, &'static str) {
    match outcome {
        CallOutcome::Done { call, event } => (*call, event),
        other => panic!("expected a write, got {other:?}"),
    }
}

async fn act(
    db: &TestDb,
    call: CallId,
    who: &Account,
    action: CallAction,
    at: DateTime<Utc>,
) -> CallOutcome {
    db.call_action(call, who.user_id, action, at).await.unwrap()
}

async fn a_call_goes_from_ringing_to_ended_with_its_duration(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &ann, &bob).await;
    let t0 = now();
    let (call, event) = done(
        db.create_call(&new_call(conversation, &ann), t0)
            .await
            .unwrap(),
    );
    assert_eq!(event, "created");
    assert_eq!(call.status, CallStatus::Initiated);
    assert!(!call.group);
    assert_eq!(call.participants[0].user_id, ann.user_id);
    assert!(call.participants[0].joined_at.is_some());
    assert_eq!(call.participants[1].joined_at, None);
    // Ringing the initiator's own call changes nothing; a callee's device rings it.
    assert!(matches!(
        act(db, call.id, &ann, CallAction::Ring, t0).await,
        CallOutcome::Unchanged(_)
    ));
    let (rung, event) = done(act(db, call.id, &bob, CallAction::Ring, t0).await);
    assert_eq!((rung.status, event), (CallStatus::Ringing, "ringing"));
    let (answered, event) = done(act(db, call.id, &bob, CallAction::Answer, plus(t0, 5)).await);
    assert_eq!(
        (answered.status, event),
        (CallStatus::InProgress, "answered")
    );
    let (ended, event) = done(act(db, call.id, &bob, CallAction::End, plus(t0, 75)).await);
    assert_eq!((ended.status, event), (CallStatus::Ended, "ended"));
    assert_eq!(ended.duration_seconds, Some(70));
    let stored = db.get_call(call.id).await.unwrap().unwrap();
    assert_eq!(stored, ended);
    assert!(stored.participants.iter().all(|p| p.left_at.is_some()));
}

async fn illegal_transitions_write_nothing(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let eve = register(db, "eve").await;
    let conversation = one_to_one(db, &ann, &bob).await;
    let t0 = now();
    // Not a participant of the conversation: no call.
    assert_eq!(
        db.create_call(&new_call(conversation, &eve), t0)
            .await
            .unwrap(),
        CallOutcome::NotFound
    );
    let (call, _) = done(
        db.create_call(&new_call(conversation, &ann), t0)
            .await
            .unwrap(),
    );
    assert_eq!(
        act(db, call.id, &eve, CallAction::Answer, t0).await,
        CallOutcome::NotFound
    );
    assert_eq!(
        act(db, CallId::new_v7(), &ann, CallAction::End, t0).await,
        CallOutcome::NotFound
    );
    for (who, action) in [
        (&ann, CallAction::Answer),
        (&ann, CallAction::Decline),
        (&bob, CallAction::End),
    ] {
        assert_eq!(
            act(db, call.id, who, action, t0).await,
            CallOutcome::Illegal(CallStatus::Initiated),
            "{action:?}"
        );
    }
    let (declined, _) = done(act(db, call.id, &bob, CallAction::Decline, t0).await);
    assert_eq!(declined.status, CallStatus::Declined);
    for action in [CallAction::Answer, CallAction::Decline, CallAction::End] {
        assert_eq!(
            act(db, call.id, &bob, action, plus(t0, 1)).await,
            CallOutcome::Illegal(CallStatus::Declined)
        );
    }
    assert_eq!(db.get_call(call.id).await.unwrap().unwrap(), declined);
}

async fn one_active_call_per_conversation(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &ann, &bob).await;
    let (call, _) = done(
        db.create_call(&new_call(conversation, &ann), now())
            .await
            .unwrap(),
    );
    assert_eq!(
        db.create_call(&new_call(conversation, &bob), now())
            .await
            .unwrap(),
        CallOutcome::Active
    );
    // The database refuses a second active call written past the store.
    let err = db
        .try_execute(
            "INSERT INTO calls (id, initiator_id, call_type, status, conversation_id, created_at) \
             VALUES ($1, $2, 'audio', 'ringing', $3, $4)",
            &[
                Arg::id(CallId::new_v7()),
                Arg::id(bob.user_id),
                Arg::id(conversation),
                Arg::Time(now()),
            ],
        )
        .await;
    assert!(err.is_err(), "{err:?}");
    done(act(db, call.id, &ann, CallAction::End, now()).await);
    done(
        db.create_call(&new_call(conversation, &bob), now())
            .await
            .unwrap(),
    );
}

async fn unanswered_calls_are_swept_once(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let old_conversation = one_to_one(db, &ann, &bob).await;
    let new_conversation = one_to_one(db, &ann, &carol).await;
    let t0 = now();
    let (old, _) = done(
        db.create_call(&new_call(old_conversation, &ann), plus(t0, -60))
            .await
            .unwrap(),
    );
    let (fresh, _) = done(
        db.create_call(&new_call(new_conversation, &ann), t0)
            .await
            .unwrap(),
    );
    let cutoff = plus(t0, -45);
    let store = db.shared();
    let (a, b) = tokio::join!(
        store.expire_unanswered_calls(cutoff, t0, 100),
        store.expire_unanswered_calls(cutoff, t0, 100)
    );
    let mut swept: Vec<CallRecord> = a.unwrap();
    swept.extend(b.unwrap());
    assert_eq!(swept.len(), 1, "one call, returned once: {swept:?}");
    assert_eq!(swept[0].id, old.id);
    assert_eq!(swept[0].status, CallStatus::Missed);
    assert_eq!(
        swept[0].ended_at.map(|t| t.timestamp()),
        Some(t0.timestamp())
    );
    assert_eq!(
        db.get_call(fresh.id).await.unwrap().unwrap().status,
        CallStatus::Initiated
    );
    // An answered call is never swept.
    done(act(db, fresh.id, &carol, CallAction::Answer, t0).await);
    assert!(
        db.expire_unanswered_calls(plus(t0, 60), plus(t0, 60), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_answers_have_one_winner(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &ann, &bob).await;
    let (call, _) = done(
        db.create_call(&new_call(conversation, &ann), now())
            .await
            .unwrap(),
    );
    let store = db.shared();
    let t = now();
    let (a, b) = tokio::join!(
        store.call_action(call.id, bob.user_id, CallAction::Answer, t),
        store.call_action(call.id, bob.user_id, CallAction::Decline, t)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let wins = outcomes
        .iter()
        .filter(|o| matches!(o, CallOutcome::Done { .. }))
        .count();
    assert_eq!(wins, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, CallOutcome::Illegal(_)))
    );
}

async fn history_is_newest_first_and_paged(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let eve = register(db, "eve").await;
    let conversation = one_to_one(db, &ann, &bob).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (call, _) = done(
            db.create_call(&new_call(conversation, &ann), now())
                .await
                .unwrap(),
        );
        done(act(db, call.id, &ann, CallAction::End, now()).await);
        ids.push(call.id);
    }
    ids.reverse();
    let all: Vec<CallId> = db
        .list_calls(bob.user_id, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, ids);
    let page: Vec<CallId> = db
        .list_calls(ann.user_id, Some(ids[0]), 1)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(page, vec![ids[1]]);
    assert!(
        db.list_calls(eve.user_id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn calls_awaiting_answer_are_the_callees_unanswered_ones(db: &TestDb) {
    let ann = register(db, "ann").await;
    let bob = register(db, "bob").await;
    let cid = register(db, "cid").await;
    let with_bob = one_to_one(db, &ann, &bob).await;
    let with_cid = one_to_one(db, &ann, &cid).await;
    let bob_cid = one_to_one(db, &bob, &cid).await;
    let t0 = now();
    let (first, _) = done(db.create_call(&new_call(with_bob, &ann), t0).await.unwrap());
    let (second, _) = done(db.create_call(&new_call(bob_cid, &cid), t0).await.unwrap());
    done(act(db, second.id, &bob, CallAction::Ring, t0).await);
    let (own, _) = done(db.create_call(&new_call(with_cid, &ann), t0).await.unwrap());
    // Initiated and ringing calls to bob, newest first; not ann's own calls.
    let waiting: Vec<CallId> = db
        .calls_awaiting_answer(bob.user_id, 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(waiting, vec![second.id, first.id]);
    assert!(
        db.calls_awaiting_answer(ann.user_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.calls_awaiting_answer(cid.user_id, 10).await.unwrap()[0].id,
        own.id
    );
    assert_eq!(
        db.calls_awaiting_answer(bob.user_id, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // Answered, declined or over: no longer waiting.
    done(act(db, first.id, &bob, CallAction::Answer, plus(t0, 2)).await);
    done(act(db, second.id, &bob, CallAction::Decline, plus(t0, 2)).await);
    assert!(
        db.calls_awaiting_answer(bob.user_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    done(act(db, own.id, &ann, CallAction::End, plus(t0, 3)).await);
    assert!(
        db.calls_awaiting_answer(cid.user_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
