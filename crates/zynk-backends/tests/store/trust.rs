//! `TrustStore`: identities, trust changes (compare-and-set, evidence counted once, history and
//! ledger transaction), standings for the milestone job, message counts, key rotation and
//! credentials.

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use chrono::NaiveDate;
use zynk_backends::model::*;

conformance!(
    identities_are_found_by_user_and_by_did,
    a_trust_change_is_compare_and_set_with_its_history_and_ledger_transaction,
    evidence_counts_once,
    concurrent_changes_from_one_score_apply_once,
    trust_history_is_newest_first_and_limited,
    standings_page_by_did_with_their_milestone_counts,
    messages_sent_and_shared_conversations_are_counted,
    an_identity_key_rotates_only_from_the_current_key,
    credentials_are_recorded_with_their_ledger_transaction,
);

/// A change of `did` from `old` to `new` with no evidence, and its ledger transaction when the
/// score moves.
fn change(did: &str, old: i32, new: i32, reason: &'static str) -> TrustChange {
    TrustChange {
        did: did.to_owned(),
        old_score: old,
        new_score: new,
        reason,
        changed_by: None,
        history_id: new_uuid(),
        evidence: TrustEvidence::None,
        tx: (old != new).then(|| pending_tx("trust_score_update", None)),
    }
}

async fn score(db: &TestDb, account: &Account) -> i32 {
    db.identity_by_did(&account.did)
        .await
        .unwrap()
        .unwrap()
        .trust_score
}

async fn identities_are_found_by_user_and_by_did(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let by_user = db.identity_by_user(alice.user_id).await.unwrap();
    assert!(by_user.is_some());
    assert_eq!(db.identity_by_did(&alice.did).await.unwrap(), by_user);
    assert_eq!(by_user.unwrap().account_created_at, t);
    assert_eq!(db.identity_by_user(new_user_id()).await.unwrap(), None);
    assert_eq!(db.identity_by_did("did:zynk:nobody").await.unwrap(), None);
}

async fn a_trust_change_is_compare_and_set_with_its_history_and_ledger_transaction(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let raise = TrustChange {
        changed_by: Some(bob.user_id),
        ..change(&alice.did, 50, 60, "manual_adjustment")
    };
    assert_eq!(
        db.apply_trust_change(&raise, t).await.unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(score(db, &alice).await, 60);
    let tx = raise.tx.as_ref().unwrap();
    assert_eq!(
        db.trust_history(&alice.did, 10).await.unwrap(),
        vec![TrustHistoryRecord {
            id: raise.history_id,
            old_score: 50,
            new_score: 60,
            reason: "manual_adjustment".into(),
            transaction_hash: Some(tx.hash().to_string()),
            changed_by: Some(bob.user_id),
            created_at: t,
        }]
    );
    assert!(pending_tx_recorded(db, &tx.hash().to_string()).await);

    // From a score that is no longer current: nothing is written.
    let stale = change(&alice.did, 50, 40, "manual_adjustment");
    assert_eq!(
        db.apply_trust_change(&stale, t).await.unwrap(),
        TrustOutcome::ScoreChanged
    );
    assert_eq!(score(db, &alice).await, 60);
    assert_eq!(db.trust_history(&alice.did, 10).await.unwrap().len(), 1);
    assert!(!pending_tx_recorded(db, &stale.tx.as_ref().unwrap().hash().to_string()).await);
    // An identity that does not exist has no current score.
    assert_eq!(
        db.apply_trust_change(&change("did:zynk:nobody", 50, 40, "manual_adjustment"), t)
            .await
            .unwrap(),
        TrustOutcome::ScoreChanged
    );

    // A change to the same score records nothing for an administrator change.
    assert_eq!(
        db.apply_trust_change(&change(&alice.did, 60, 60, "manual_adjustment"), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(score(db, &alice).await, 60);
    assert_eq!(db.trust_history(&alice.did, 10).await.unwrap().len(), 1);
    assert_eq!(score(db, &bob).await, 50, "nobody else's score moves");
}

async fn evidence_counts_once(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let dave = register_at(db, "dave", t).await;
    let vouch = |voucher: &Account, old, new| TrustChange {
        changed_by: Some(voucher.user_id),
        evidence: TrustEvidence::Vouch {
            voucher: voucher.user_id,
        },
        ..change(&alice.did, old, new, "verified_by_community")
    };

    // A vouch that loses the compare-and-set leaves no evidence behind: the retry counts.
    assert_eq!(
        db.apply_trust_change(&vouch(&bob, 45, 48), t)
            .await
            .unwrap(),
        TrustOutcome::ScoreChanged
    );
    assert_eq!(
        db.apply_trust_change(&vouch(&bob, 50, 53), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    // The same voucher again, ever: a duplicate, nothing written.
    let again = vouch(&bob, 53, 56);
    assert_eq!(
        db.apply_trust_change(&again, t).await.unwrap(),
        TrustOutcome::Duplicate
    );
    assert_eq!(score(db, &alice).await, 53);
    assert!(!pending_tx_recorded(db, &again.tx.as_ref().unwrap().hash().to_string()).await);

    // Evidence without a score change (a capped score): recorded, and counted once.
    assert_eq!(
        db.apply_trust_change(&vouch(&dave, 53, 53), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(
        db.apply_trust_change(&vouch(&dave, 53, 56), t)
            .await
            .unwrap(),
        TrustOutcome::Duplicate
    );
    assert_eq!(score(db, &alice).await, 53);
    assert_eq!(db.trust_history(&alice.did, 10).await.unwrap().len(), 1);

    // Reports: one per reporter, target and UTC day.
    let day = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
    let report = |day: NaiveDate, old, new| TrustChange {
        changed_by: Some(carol.user_id),
        evidence: TrustEvidence::Report {
            reporter: carol.user_id,
            day,
        },
        ..change(&alice.did, old, new, "spam_report")
    };
    assert_eq!(
        db.apply_trust_change(&report(day, 53, 48), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(
        db.apply_trust_change(&report(day, 48, 43), t)
            .await
            .unwrap(),
        TrustOutcome::Duplicate
    );
    assert_eq!(
        db.apply_trust_change(&report(day.succ_opt().unwrap(), 48, 43), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(score(db, &alice).await, 43);
    // Bob may still report, and carol may still vouch: evidence kinds are counted apart.
    let bob_reports = TrustChange {
        evidence: TrustEvidence::Report {
            reporter: bob.user_id,
            day,
        },
        ..report(day, 43, 38)
    };
    assert_eq!(
        db.apply_trust_change(&bob_reports, t).await.unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(
        db.apply_trust_change(&vouch(&carol, 38, 41), t)
            .await
            .unwrap(),
        TrustOutcome::Applied
    );
    assert_eq!(score(db, &alice).await, 41);
    assert_eq!(db.trust_history(&alice.did, 10).await.unwrap().len(), 5);
}

async fn concurrent_changes_from_one_score_apply_once(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let tasks: Vec<_> = (1..=4)
        .map(|i| {
            let store = db.shared();
            let step = change(&alice.did, 50, 50 + i, "manual_adjustment");
            tokio::spawn(async move { store.apply_trust_change(&step, t).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == TrustOutcome::Applied)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, TrustOutcome::Applied | TrustOutcome::ScoreChanged))
    );
    let history = db.trust_history(&alice.did, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(score(db, &alice).await, history[0].new_score);
}

async fn trust_history_is_newest_first_and_limited(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let steps = [
        change(&alice.did, 50, 52, "account_age_milestone"),
        change(&alice.did, 52, 54, "message_volume_threshold"),
        change(&alice.did, 54, 51, "manual_adjustment"),
    ];
    for (i, step) in steps.iter().enumerate() {
        let at = plus(t, i64::try_from(i).unwrap());
        assert_eq!(
            db.apply_trust_change(step, at).await.unwrap(),
            TrustOutcome::Applied
        );
    }
    let history = db.trust_history(&alice.did, 2).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![steps[2].history_id, steps[1].history_id]
    );
    assert_eq!(history[0].created_at, plus(t, 2));
    assert_eq!(history[1].reason, "message_volume_threshold");
    assert_eq!(db.trust_history(&alice.did, 10).await.unwrap().len(), 3);
    assert!(db.trust_history(&bob.did, 10).await.unwrap().is_empty());
    assert!(
        db.trust_history("did:zynk:nobody", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn standings_page_by_did_with_their_milestone_counts(db: &TestDb) {
    let t = now();
    let mut accounts = Vec::new();
    for name in ["alice", "bob", "carol"] {
        accounts.push(register_at(db, name, t).await);
    }
    accounts.sort_by(|a, b| a.did.cmp(&b.did));
    let first = &accounts[0];
    let reasons = [
        "account_age_milestone",
        "account_age_milestone",
        "message_volume_threshold",
        "manual_adjustment",
    ];
    for (current, reason) in (50..).zip(reasons) {
        let step = change(&first.did, current, current + 1, reason);
        assert_eq!(
            db.apply_trust_change(&step, t).await.unwrap(),
            TrustOutcome::Applied
        );
    }

    let all = db.trust_standings(None, 10).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|s| s.identity.did.clone())
            .collect::<Vec<_>>(),
        accounts.iter().map(|a| a.did.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        (
            all[0].age_milestones,
            all[0].volume_milestones,
            all[0].changes
        ),
        (2, 1, 4)
    );
    assert_eq!(
        Some(all[0].identity.clone()),
        db.identity_by_did(&first.did).await.unwrap()
    );
    assert_eq!(all[0].identity.trust_score, 54);
    assert_eq!(
        (
            all[1].age_milestones,
            all[1].volume_milestones,
            all[1].changes
        ),
        (0, 0, 0)
    );

    let page = db.trust_standings(None, 2).await.unwrap();
    assert_eq!(page, all[..2].to_vec());
    let next = db
        .trust_standings(Some(&page[1].identity.did), 2)
        .await
        .unwrap();
    assert_eq!(next, all[2..].to_vec());
    assert!(
        db.trust_standings(Some(&all[2].identity.did), 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn messages_sent_and_shared_conversations_are_counted(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let carol = register_at(db, "carol", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    assert!(
        db.share_conversation(alice.user_id, bob.user_id)
            .await
            .unwrap()
    );
    assert!(
        db.share_conversation(bob.user_id, alice.user_id)
            .await
            .unwrap()
    );
    assert!(
        !db.share_conversation(alice.user_id, carol.user_id)
            .await
            .unwrap()
    );
    assert!(!db.has_sent_to(alice.user_id, bob.user_id).await.unwrap());

    for _ in 0..3 {
        send(db, text(conversation, &alice), t).await;
    }
    assert_eq!(db.messages_sent(alice.user_id, 10).await.unwrap(), 3);
    assert_eq!(
        db.messages_sent(alice.user_id, 2).await.unwrap(),
        2,
        "capped"
    );
    assert_eq!(db.messages_sent(bob.user_id, 10).await.unwrap(), 0);
    assert_eq!(db.messages_sent(new_user_id(), 10).await.unwrap(), 0);
    assert!(db.has_sent_to(alice.user_id, bob.user_id).await.unwrap());
    assert!(!db.has_sent_to(bob.user_id, alice.user_id).await.unwrap());
    assert!(!db.has_sent_to(alice.user_id, carol.user_id).await.unwrap());

    // Carol shares a conversation with alice, but alice never wrote into it.
    one_to_one(db, &carol, &alice).await;
    assert!(
        db.share_conversation(carol.user_id, alice.user_id)
            .await
            .unwrap()
    );
    assert!(!db.has_sent_to(alice.user_id, carol.user_id).await.unwrap());
    send(db, text(conversation, &bob), t).await;
    assert!(db.has_sent_to(bob.user_id, alice.user_id).await.unwrap());
}

async fn an_identity_key_rotates_only_from_the_current_key(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    // As if a block had registered the first key.
    db.execute(
        "UPDATE blockchain_identities SET is_verified = TRUE WHERE did = $1",
        &[Arg::text(&alice.did)],
    )
    .await;
    assert!(
        db.identity_by_did(&alice.did)
            .await
            .unwrap()
            .unwrap()
            .is_verified
    );

    let rotation = KeyRotation {
        user_id: alice.user_id,
        did: alice.did.clone(),
        old_public_key: alice.public_key.clone(),
        new_public_key: "second-identity-key".into(),
        tx: pending_tx("identity_registration", Some(alice.user_id)),
    };
    let t1 = plus(t, 30);
    assert!(db.rotate_identity_key(&rotation, t1).await.unwrap());
    let user = db.get_user(alice.user_id).await.unwrap().unwrap();
    assert_eq!(user.public_key, "second-identity-key");
    assert_eq!(user.updated_at, t1);
    let identity = db.identity_by_did(&alice.did).await.unwrap().unwrap();
    assert_eq!(identity.public_key, "second-identity-key");
    assert!(
        !identity.is_verified,
        "unverified until a block holds the new key"
    );
    assert!(pending_tx_recorded(db, &rotation.tx.hash().to_string()).await);
    assert_eq!(
        db.query_keys(&[alice.user_id]).await.unwrap()[0].identity_key,
        "second-identity-key"
    );

    // From a key that is no longer current: refused, nothing written.
    let stale = KeyRotation {
        new_public_key: "third-identity-key".into(),
        tx: pending_tx("identity_registration", Some(alice.user_id)),
        ..rotation
    };
    assert!(!db.rotate_identity_key(&stale, t1).await.unwrap());
    assert_eq!(
        db.identity_by_did(&alice.did)
            .await
            .unwrap()
            .unwrap()
            .public_key,
        "second-identity-key"
    );
    assert_eq!(
        db.get_profile(alice.user_id)
            .await
            .unwrap()
            .unwrap()
            .public_key,
        "second-identity-key"
    );
    assert!(!pending_tx_recorded(db, &stale.tx.hash().to_string()).await);
}

async fn credentials_are_recorded_with_their_ledger_transaction(db: &TestDb) {
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let tx = pending_tx("credential_issuance", Some(alice.user_id));
    let credential = CredentialRecord {
        id: new_uuid(),
        user_id: alice.user_id,
        subject_did: alice.did.clone(),
        issuer_did: "did:key:z6Mkissuer".into(),
        credential_type: "ZynkTrustCredential".into(),
        transaction_hash: tx.hash().to_string(),
        issued_at: t,
        expires_at: plus(t, 86_400),
    };
    db.record_credential(&credential, &tx, t).await.unwrap();
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM credentials WHERE id = $1 AND user_id = $2 \
             AND transaction_hash = $3",
            &[
                Arg::id(credential.id),
                Arg::id(alice.user_id),
                Arg::text(tx.hash().to_string())
            ],
        )
        .await,
        1
    );
    assert!(pending_tx_recorded(db, &tx.hash().to_string()).await);
}
