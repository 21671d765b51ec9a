//! `ContactStore`: blocks, the standing of two users towards each other (blocks both ways,
//! common groups, privacy, their 1:1 conversation's request states), message requests and
//! their state changes.

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use zynk_backends::model::*;
use zynk_proto::{ConversationId, GroupId, RequestState, UserId, WhoCanMessage};

conformance!(
    blocks_are_one_way_idempotent_and_listed,
    standing_reports_blocks_groups_privacy_and_the_pair,
    requests_are_pending_conversations_with_messages,
    request_states_change_only_from_the_given_states,
);

/// Makes a group (its conversation with participants, the group, its members) with rows written
/// directly: the group store is not part of this suite. Returns the group's conversation.
async fn group_of(db: &TestDb, members: &[UserId]) -> ConversationId {
    let conversation = ConversationId::new_v7();
    let group = GroupId::new_v7();
    let t = now();
    db.execute(
        "INSERT INTO conversations (id, type, encryption_type, last_seq, created_at, updated_at) \
         VALUES ($1, 'group', 'e2ee', 0, $2, $2)",
        &[Arg::id(conversation), Arg::Time(t)],
    )
    .await;
    db.execute(
        "INSERT INTO groups (id, conversation_id, name, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'g', $3, $4, $4)",
        &[
            Arg::id(group),
            Arg::id(conversation),
            Arg::id(members[0]),
            Arg::Time(t),
        ],
    )
    .await;
    for member in members {
        db.execute(
            "INSERT INTO group_members (group_id, user_id, role, joined_at) \
             VALUES ($1, $2, 'member', $3)",
            &[Arg::id(group), Arg::id(*member), Arg::Time(t)],
        )
        .await;
        db.execute(
            "INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at) \
             VALUES ($1, $2, 'member', $3)",
            &[Arg::id(conversation), Arg::id(*member), Arg::Time(t)],
        )
        .await;
    }
    conversation
}

async fn blocks_are_one_way_idempotent_and_listed(db: &TestDb) {
    let t = now();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;

    assert!(!db.is_blocked(alice.user_id, bob.user_id).await.unwrap());
    assert!(db.block_user(alice.user_id, bob.user_id, t).await.unwrap());
    assert!(
        db.block_user(alice.user_id, bob.user_id, plus(t, 5))
            .await
            .unwrap(),
        "again"
    );
    assert!(
        db.block_user(alice.user_id, carol.user_id, plus(t, 1))
            .await
            .unwrap()
    );
    assert!(
        !db.block_user(alice.user_id, new_user_id(), t)
            .await
            .unwrap(),
        "no such user"
    );
    assert!(db.is_blocked(alice.user_id, bob.user_id).await.unwrap());
    assert!(
        !db.is_blocked(bob.user_id, alice.user_id).await.unwrap(),
        "one way"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM user_blocks", &[]).await,
        2,
        "a repeated block is stored once"
    );

    let listed = db.list_blocks(alice.user_id).await.unwrap();
    assert_eq!(
        listed,
        vec![
            BlockRecord {
                user_id: carol.user_id,
                username: "carol".into(),
                blocked_at: plus(t, 1)
            },
            BlockRecord {
                user_id: bob.user_id,
                username: "bob".into(),
                blocked_at: t
            },
        ],
        "most recent first, first block time kept"
    );
    assert!(db.list_blocks(bob.user_id).await.unwrap().is_empty());

    assert!(db.unblock_user(alice.user_id, bob.user_id).await.unwrap());
    assert!(
        !db.unblock_user(alice.user_id, bob.user_id).await.unwrap(),
        "nothing left"
    );
    assert!(!db.is_blocked(alice.user_id, bob.user_id).await.unwrap());

    // Deleting an account removes its blocks both ways.
    db.block_user(bob.user_id, carol.user_id, t).await.unwrap();
    db.delete_user(carol.user_id)
        .await
        .unwrap()
        .expect("carol existed");
    assert_eq!(db.count("SELECT COUNT(*) FROM user_blocks", &[]).await, 0);
}

async fn standing_reports_blocks_groups_privacy_and_the_pair(db: &TestDb) {
    let t = now();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;

    assert_eq!(
        db.contact_standing(alice.user_id, new_user_id())
            .await
            .unwrap(),
        None
    );
    let fresh = db
        .contact_standing(alice.user_id, bob.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fresh,
        ContactStanding {
            user_blocks_other: false,
            other_blocks_user: false,
            share_group: false,
            other_who_can_message: WhoCanMessage::Everyone,
            conversation: None,
        }
    );

    db.block_user(bob.user_id, alice.user_id, t).await.unwrap();
    let privacy = Privacy {
        who_can_message: WhoCanMessage::Contacts,
        ..Privacy::default()
    };
    db.set_privacy(bob.user_id, &privacy, t).await.unwrap();
    group_of(db, &[alice.user_id, carol.user_id]).await;
    group_of(db, &[bob.user_id, carol.user_id]).await;
    let standing = db
        .contact_standing(alice.user_id, bob.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(standing.other_blocks_user && !standing.user_blocks_other);
    assert!(
        !standing.share_group,
        "alice and bob have no group in common"
    );
    assert_eq!(standing.other_who_can_message, WhoCanMessage::Contacts);
    let reverse = db
        .contact_standing(bob.user_id, alice.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(reverse.user_blocks_other && !reverse.other_blocks_user);
    assert_eq!(reverse.other_who_can_message, WhoCanMessage::Everyone);
    group_of(db, &[alice.user_id, bob.user_id, carol.user_id]).await;
    assert!(
        db.contact_standing(bob.user_id, alice.user_id)
            .await
            .unwrap()
            .unwrap()
            .share_group
    );

    // The pair's conversation with each side's state, whoever asks.
    let (opened, created) = db
        .open_one_to_one_as(
            carol.user_id,
            alice.user_id,
            false,
            RequestState::Pending,
            t,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(created);
    assert_eq!(
        opened.request_state,
        RequestState::Accepted,
        "the opener accepted"
    );
    let from_alice = db
        .contact_standing(alice.user_id, carol.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        from_alice.conversation,
        Some(PairConversation {
            id: opened.id,
            user_state: RequestState::Pending,
            other_state: RequestState::Accepted,
        })
    );
    let from_carol = db
        .contact_standing(carol.user_id, alice.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        from_carol
            .conversation
            .map(|c| (c.user_state, c.other_state)),
        Some((RequestState::Accepted, RequestState::Pending))
    );
    let alices_view = db
        .get_conversation(opened.id, alice.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alices_view.request_state, RequestState::Pending);

    // Opening it again from the other side changes no state.
    let (again, created) = db
        .open_one_to_one_as(
            alice.user_id,
            carol.user_id,
            false,
            RequestState::Accepted,
            t,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!created);
    assert_eq!(
        (again.id, again.request_state),
        (opened.id, RequestState::Pending)
    );
    // The plain open makes both sides accepted.
    let (plain, _) = db
        .open_one_to_one(alice.user_id, bob.user_id, false, t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.request_state, RequestState::Accepted);
    assert_eq!(
        db.get_conversation(plain.id, bob.user_id)
            .await
            .unwrap()
            .unwrap()
            .request_state,
        RequestState::Accepted
    );
}

async fn requests_are_pending_conversations_with_messages(db: &TestDb) {
    let t = now();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let dave = register(db, "dave").await;

    let open = |from: UserId, to: UserId, state: RequestState| async move {
        db.open_one_to_one_as(from, to, false, state, t)
            .await
            .unwrap()
            .unwrap()
            .0
            .id
    };
    let from_bob = open(bob.user_id, alice.user_id, RequestState::Pending).await;
    let from_carol = open(carol.user_id, alice.user_id, RequestState::Pending).await;
    let from_dave = open(dave.user_id, alice.user_id, RequestState::Accepted).await;
    assert!(
        db.list_requests(alice.user_id).await.unwrap().is_empty(),
        "no message yet"
    );

    send(db, text(from_bob, &bob), plus(t, 1)).await;
    send(db, text(from_bob, &bob), plus(t, 2)).await;
    send(db, text(from_carol, &carol), plus(t, 3)).await;
    send(db, text(from_dave, &dave), plus(t, 4)).await;

    let requests = db.list_requests(alice.user_id).await.unwrap();
    let ids: Vec<ConversationId> = requests.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        vec![from_carol, from_bob],
        "most recently active first"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.request_state == RequestState::Pending)
    );
    assert_eq!(requests[1].unread_count, 2);
    // The conversation list holds what alice accepted only; the senders see theirs.
    let listed: Vec<ConversationId> = db
        .list_conversations(alice.user_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, vec![from_dave]);
    assert!(db.list_requests(bob.user_id).await.unwrap().is_empty());
    let bobs: Vec<ConversationId> = db
        .list_conversations(bob.user_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(bobs, vec![from_bob]);

    // Declined: neither a request nor listed, still readable by id.
    db.set_request_state(
        from_carol,
        alice.user_id,
        &[RequestState::Pending],
        RequestState::Declined,
        t,
    )
    .await
    .unwrap();
    let ids: Vec<ConversationId> = db
        .list_requests(alice.user_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![from_bob]);
    assert_eq!(db.list_conversations(alice.user_id).await.unwrap().len(), 1);
    let declined = db
        .get_conversation(from_carol, alice.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(declined.request_state, RequestState::Declined);
    // Accepted: listed.
    db.set_request_state(
        from_bob,
        alice.user_id,
        &[RequestState::Pending],
        RequestState::Accepted,
        t,
    )
    .await
    .unwrap();
    assert!(db.list_requests(alice.user_id).await.unwrap().is_empty());
    let mut listed: Vec<ConversationId> = db
        .list_conversations(alice.user_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    listed.sort();
    let mut expected = vec![from_bob, from_dave];
    expected.sort();
    assert_eq!(listed, expected);
}

async fn request_states_change_only_from_the_given_states(db: &TestDb) {
    let t = now();
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let id = db
        .open_one_to_one_as(bob.user_id, alice.user_id, false, RequestState::Pending, t)
        .await
        .unwrap()
        .unwrap()
        .0
        .id;
    let set = |user: UserId, from: &'static [RequestState], to| async move {
        db.set_request_state(id, user, from, to, t).await.unwrap()
    };
    let state = |user: UserId| async move {
        db.get_conversation(id, user)
            .await
            .unwrap()
            .unwrap()
            .request_state
    };
    use RequestState::*;
    // Not from accepted: nothing changes, the state before comes back.
    assert_eq!(
        set(alice.user_id, &[Accepted], Declined).await,
        Some(Pending)
    );
    assert_eq!(state(alice.user_id).await, Pending);
    assert_eq!(
        set(alice.user_id, &[Pending], Declined).await,
        Some(Pending)
    );
    assert_eq!(state(alice.user_id).await, Declined);
    assert_eq!(
        set(alice.user_id, &[Pending], Declined).await,
        Some(Declined),
        "again"
    );
    assert_eq!(
        set(alice.user_id, &[Pending, Declined], Accepted).await,
        Some(Declined)
    );
    assert_eq!(state(alice.user_id).await, Accepted);
    assert_eq!(
        state(bob.user_id).await,
        Accepted,
        "the other side is untouched"
    );
    // Not a participant, no such conversation, a group conversation: None.
    assert_eq!(set(carol.user_id, &[Pending], Accepted).await, None);
    assert_eq!(
        db.set_request_state(
            unknown_conversation_id(),
            alice.user_id,
            &[Pending],
            Accepted,
            t
        )
        .await
        .unwrap(),
        None
    );
    let group_conversation = group_of(db, &[alice.user_id, carol.user_id]).await;
    assert_eq!(
        db.set_request_state(group_conversation, alice.user_id, &[Accepted], Declined, t)
            .await
            .unwrap(),
        None,
        "groups have no requests"
    );
    let view = db
        .get_conversation(group_conversation, alice.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.request_state, Accepted,
        "group participants default to accepted"
    );
}
