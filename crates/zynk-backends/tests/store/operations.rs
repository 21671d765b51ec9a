//! `OperationsStore`: analytics events and their daily aggregates, the removal of messages no
//! recipient received, and the job runner's locks and records.

use crate::fixtures::*;
use crate::harness::{Arg, Engine, TestDb};
use zynk_backends::model::*;

conformance!(
    events_are_aggregated_per_day_type_and_user,
    undelivered_messages_are_removed_with_their_senders,
    job_locks_exclude_and_runs_are_recorded,
);

fn event(
    user: UserId,
    event_type: &'static str,
    time: chrono::DateTime<chrono::Utc>,
) -> AnalyticsEvent {
    AnalyticsEvent {
        time,
        user_id: user,
        event_type,
        metadata: Some(serde_json::json!({"message_type": "text"})),
    }
}

async fn events_are_aggregated_per_day_type_and_user(db: &TestDb) {
    let t = now();
    let today = t.date_naive();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    assert_eq!(db.rollup_analytics().await.unwrap(), None, "no events yet");
    let mut batch = vec![
        event(alice.user_id, "message_sent", t),
        event(alice.user_id, "message_sent", t),
        event(alice.user_id, "message_sent", t),
        event(alice.user_id, "message_read", t),
        event(bob.user_id, "message_sent", t),
        event(bob.user_id, "message_sent", t),
    ];
    // An event of a user deleted meanwhile is skipped, not the whole batch.
    batch.push(event(new_user_id(), "message_sent", t));
    assert_eq!(db.record_events(&batch).await.unwrap(), 6);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM message_events", &[]).await,
        6
    );

    assert_eq!(db.rollup_analytics().await.unwrap(), Some(today));
    let totals = db.daily_totals(today).await.unwrap();
    let expect = |sent: i64| {
        vec![
            DailyCount {
                day: today,
                event_type: "message_read".into(),
                count: 1,
            },
            DailyCount {
                day: today,
                event_type: "message_sent".into(),
                count: sent,
            },
        ]
    };
    assert_eq!(totals, expect(5));
    let mine = db.user_daily_counts(alice.user_id, today).await.unwrap();
    assert_eq!(
        mine,
        vec![
            DailyCount {
                day: today,
                event_type: "message_read".into(),
                count: 1
            },
            DailyCount {
                day: today,
                event_type: "message_sent".into(),
                count: 3
            },
        ]
    );
    assert!(
        db.daily_totals(today.succ_opt().unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    // A later rollup counts the day again, without counting anything twice.
    db.record_events(&[event(bob.user_id, "message_sent", t)])
        .await
        .unwrap();
    db.rollup_analytics().await.unwrap();
    assert_eq!(db.daily_totals(today).await.unwrap(), expect(6));

    let partitions =
        "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'message_events'::regclass";
    if db.engine_under_test() == Engine::Postgres {
        // From last month to three months ahead.
        assert_eq!(db.count(partitions, &[]).await, 5);
    }
    // Raw events go; the aggregates stay.
    let removed = db.purge_events_before(plus(t, 86_400)).await.unwrap();
    assert!(removed >= 7, "{removed}");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM message_events", &[]).await,
        0
    );
    assert_eq!(db.daily_totals(today).await.unwrap(), expect(6));

    if db.engine_under_test() == Engine::Postgres {
        // Whole monthly partitions before the cutoff are dropped, and upkeep makes them again.
        // Last month's partition ended before the cutoff: dropped.
        assert_eq!(db.count(partitions, &[]).await, 4);
        db.purge_events_before(plus(t, 200 * 86_400)).await.unwrap();
        assert!(db.count(partitions, &[]).await < 5);
        assert!(db.ensure_partitions().await.unwrap() > 0);
        assert_eq!(db.count(partitions, &[]).await, 5);
    }
}

async fn undelivered_messages_are_removed_with_their_senders(db: &TestDb) {
    let t = now();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let m1 = send(db, text(conversation, &alice), t).await;
    let m2 = send(db, text(conversation, &alice), t).await;
    let m3 = send(db, text(conversation, &alice), t).await;
    let b1 = send(db, text(conversation, &bob), t).await;
    // Bob's devices received alice's first two messages; alice received nothing of bob's.
    db.advance_cursors(
        &[CursorMove {
            conversation_id: conversation,
            user_id: bob.user_id,
            delivered_up_to: Some(m2.seq),
            read_up_to: None,
        }],
        t,
    )
    .await
    .unwrap();
    let start = MessageId::from_uuid(uuid::Uuid::nil());
    // Nothing is old enough yet.
    let none = db
        .purge_undelivered_messages(plus(t, -86_400), start, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    // With the cutoff after them: one at a time, in id order, until none is left.
    let mut gone = Vec::new();
    let mut after = start;
    loop {
        let batch = db
            .purge_undelivered_messages(plus(t, 1), after, 1)
            .await
            .unwrap();
        assert!(batch.len() <= 1);
        match batch.last() {
            Some(last) => after = last.message_id,
            None => break,
        }
        gone.extend(batch);
    }
    let mut expected = vec![
        UndeliveredMessage {
            conversation_id: conversation,
            message_id: m3.id,
            sender_id: alice.user_id,
        },
        UndeliveredMessage {
            conversation_id: conversation,
            message_id: b1.id,
            sender_id: bob.user_id,
        },
    ];
    expected.sort_by_key(|m| m.message_id);
    assert_eq!(gone, expected);
    for (id, present) in [(m1.id, 1), (m2.id, 1), (m3.id, 0), (b1.id, 0)] {
        assert_eq!(
            db.count(
                "SELECT COUNT(*) FROM messages WHERE id = $1",
                &[Arg::id(id)]
            )
            .await,
            present
        );
        assert_eq!(
            db.count(
                "SELECT COUNT(*) FROM message_refs WHERE id = $1",
                &[Arg::id(id)]
            )
            .await,
            present
        );
    }
}

/// Advisory locks held in the test's database (`pg_locks` lists every database's).
const ADVISORY_LOCKS: &str = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

async fn job_locks_exclude_and_runs_are_recorded(db: &TestDb) {
    let first = db.try_lock_job("retention").await.unwrap().expect("free");
    assert!(
        db.try_lock_job("retention").await.unwrap().is_none(),
        "held"
    );
    let other = db
        .try_lock_job("analytics")
        .await
        .unwrap()
        .expect("another job is free");
    if db.engine_under_test() == Engine::Postgres {
        assert_eq!(db.count(ADVISORY_LOCKS, &[]).await, 2);
    }
    first.release().await;
    other.release().await;
    let again = db
        .try_lock_job("retention")
        .await
        .unwrap()
        .expect("released");
    again.release().await;
    if db.engine_under_test() == Engine::Postgres {
        assert_eq!(db.count(ADVISORY_LOCKS, &[]).await, 0);
    }

    assert_eq!(db.job_last_started("retention").await.unwrap(), None);
    let t = now();
    let run = |node: &str, started, outcome, runs, failures| JobRun {
        job: "retention".into(),
        node: node.into(),
        started_at: started,
        finished_at: plus(started, 2),
        outcome,
        detail: Some("purged 1 sessions".into()),
        runs,
        failures,
    };
    db.record_job_run(&run("node-a", t, JobOutcome::Ok, 1, 0))
        .await
        .unwrap();
    db.record_job_run(&run("node-b", plus(t, 10), JobOutcome::Failed, 3, 1))
        .await
        .unwrap();
    assert_eq!(
        db.job_last_started("retention").await.unwrap(),
        Some(plus(t, 10))
    );
    let runs = db.job_runs().await.unwrap();
    assert_eq!(runs.len(), 1);
    let last = &runs[0];
    assert_eq!(
        (last.node.as_str(), last.outcome.as_str()),
        ("node-b", "failed")
    );
    assert_eq!((last.runs, last.failures, last.duration_ms), (4, 1, 2000));
}
