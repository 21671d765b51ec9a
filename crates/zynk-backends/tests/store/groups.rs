//! `GroupStore`: groups with their conversation, members kept in step with the conversation's
//! participants, membership events as messages with their own sequence numbers, the rules
//! checked inside the writing transaction, and `max_members` enforced by the database.

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use zynk_backends::model::*;
use zynk_proto::GroupId;
use zynk_proto::groups::{EncryptionMode, GroupRole, MembershipAction, MembershipEvent};

conformance!(
    a_group_is_created_with_its_conversation_members_and_events,
    unknown_users_and_oversized_groups_write_nothing,
    membership_changes_follow_the_rules_and_keep_participants_in_step,
    the_last_admin_leaving_promotes_the_longest_standing_member,
    the_last_member_leaving_ends_the_group,
    settings_change_by_admins_only,
    the_database_refuses_a_member_beyond_max_members,
    settings_changes_write_an_updated_event,
    a_deleted_account_is_taken_out_of_its_groups,
);

fn new_group(creator: &Account, members: &[&Account]) -> NewGroup {
    NewGroup {
        id: GroupId::new_v7(),
        conversation_id: ConversationId::new_v7(),
        name: "friends".into(),
        description: Some("our group".into()),
        avatar_url: None,
        encryption_mode: EncryptionMode::SenderKeys,
        max_members: 256,
        created_by: creator.user_id,
        members: members.iter().map(|a| a.user_id).collect(),
    }
}

fn done(outcome: GroupOutcome) -> GroupWrite {
    match outcome {
        GroupOutcome::Done(write) => *write,
        other => panic!("expected a write, got {other:?}"),
    }
}

fn membership(record: &MessageRecord) -> MembershipEvent {
    assert_eq!(record.message_type, MessageType::Membership);
    serde_json::from_value(record.metadata.as_ref().unwrap()["membership"].clone()).unwrap()
}

async fn create(db: &TestDb, creator: &Account, members: &[&Account]) -> GroupRecord {
    let write = done(
        db.create_group(&new_group(creator, members), now())
            .await
            .unwrap(),
    );
    write.group.expect("created")
}

async fn history_events(db: &TestDb, conversation: ConversationId) -> Vec<MembershipEvent> {
    let (messages, _) = db
        .history(conversation, HistoryRange::After(0), 500, now())
        .await
        .unwrap();
    messages
        .iter()
        .filter(|m| m.message_type == MessageType::Membership)
        .map(membership)
        .collect()
}

async fn participants(db: &TestDb, conversation: ConversationId) -> Vec<UserId> {
    db.participants(conversation).await.unwrap()
}

async fn a_group_is_created_with_its_conversation_members_and_events(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let new = new_group(&alice, &[&bob, &carol]);
    let write = done(db.create_group(&new, now()).await.unwrap());
    let group = write.group.clone().unwrap();
    assert_eq!(group.id, new.id);
    assert_eq!(group.conversation_id, new.conversation_id);
    assert_eq!(group.name, "friends");
    assert_eq!(group.description.as_deref(), Some("our group"));
    assert_eq!(group.max_members, 256);
    assert_eq!(group.created_by, Some(alice.user_id));
    let members: Vec<(UserId, GroupRole, i64, Option<UserId>)> = group
        .members
        .iter()
        .map(|m| (m.user_id, m.role, m.joined_seq, m.invited_by))
        .collect();
    assert_eq!(
        members,
        vec![
            (alice.user_id, GroupRole::Admin, 1, None),
            (bob.user_id, GroupRole::Member, 1, Some(alice.user_id)),
            (carol.user_id, GroupRole::Member, 1, Some(alice.user_id)),
        ]
    );
    assert_eq!(group.members[1].username, "bob");
    // One event per member, each with its own sequence number, in the conversation's history.
    let seqs: Vec<i64> = write.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let events = history_events(db, group.conversation_id).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].action, MembershipAction::Added);
    assert_eq!(
        (events[0].user_id, events[0].role),
        (alice.user_id, GroupRole::Admin)
    );
    assert_eq!(
        (events[2].user_id, events[2].by),
        (carol.user_id, alice.user_id)
    );
    assert_eq!(
        write.audience,
        sorted(&[alice.user_id, bob.user_id, carol.user_id])
    );
    // The conversation is a group conversation whose participants are the members.
    let conversation = db
        .get_conversation(group.conversation_id, bob.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.kind, ConversationKind::Group);
    assert_eq!(conversation.last_seq, 3);
    assert_eq!(
        participants(db, group.conversation_id).await,
        sorted(&[alice.user_id, bob.user_id, carol.user_id])
    );
    // Bob's cursors start before the group's first event, which he reads.
    let bob_view = conversation
        .participants
        .iter()
        .find(|p| p.user_id == bob.user_id)
        .unwrap();
    assert_eq!(
        (bob_view.last_delivered_seq, bob_view.last_read_seq),
        (0, 0)
    );
    assert_eq!(
        db.group_of_conversation(group.conversation_id)
            .await
            .unwrap(),
        Some(group.id)
    );
    assert_eq!(
        db.member_joined_seq(group.id, carol.user_id).await.unwrap(),
        Some(1)
    );
    let stranger = register(db, "stranger").await;
    assert_eq!(
        db.member_joined_seq(group.id, stranger.user_id)
            .await
            .unwrap(),
        None
    );
    assert!(db.list_groups(stranger.user_id).await.unwrap().is_empty());
    let listed = db.list_groups(carol.user_id).await.unwrap();
    assert_eq!(listed, vec![group.clone()]);
    assert_eq!(db.get_group(group.id).await.unwrap(), Some(group));
    let one_to_one = one_to_one(db, &alice, &bob).await;
    assert_eq!(db.group_of_conversation(one_to_one).await.unwrap(), None);
}

async fn unknown_users_and_oversized_groups_write_nothing(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let mut new = new_group(&alice, &[&bob]);
    let ghost = new_user_id();
    new.members.push(ghost);
    assert_eq!(
        db.create_group(&new, now()).await.unwrap(),
        GroupOutcome::UnknownUser(ghost)
    );
    let mut small = new_group(&alice, &[&bob]);
    small.max_members = 2;
    let carol = register(db, "carol").await;
    small.members.push(carol.user_id);
    assert_eq!(
        db.create_group(&small, now()).await.unwrap(),
        GroupOutcome::Full
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM groups", &[]).await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM group_members", &[]).await, 0);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM conversations WHERE type = 'group'",
            &[]
        )
        .await,
        0
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM messages", &[]).await, 0);
}

async fn membership_changes_follow_the_rules_and_keep_participants_in_step(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let dave = register(db, "dave").await;
    let stranger = register(db, "stranger").await;
    let group = create(db, &alice, &[&bob, &carol]).await;
    let (g, conv) = (group.id, group.conversation_id);
    let change = |actor: UserId, change| db.change_membership(g, actor, change, now());

    // Denials change nothing.
    use MembershipChange::*;
    assert_eq!(
        change(bob.user_id, Add(dave.user_id)).await.unwrap(),
        GroupOutcome::NotAdmin
    );
    assert_eq!(
        change(bob.user_id, Remove(carol.user_id)).await.unwrap(),
        GroupOutcome::NotAdmin
    );
    assert_eq!(
        change(bob.user_id, Promote(bob.user_id)).await.unwrap(),
        GroupOutcome::NotAdmin
    );
    assert_eq!(
        change(stranger.user_id, Add(dave.user_id)).await.unwrap(),
        GroupOutcome::NotFound
    );
    assert_eq!(
        change(stranger.user_id, Leave).await.unwrap(),
        GroupOutcome::NotFound
    );
    assert_eq!(
        db.change_membership(GroupId::new_v7(), alice.user_id, Leave, now())
            .await
            .unwrap(),
        GroupOutcome::NotFound
    );
    let ghost = new_user_id();
    assert_eq!(
        change(alice.user_id, Add(ghost)).await.unwrap(),
        GroupOutcome::UnknownUser(ghost)
    );
    assert_eq!(
        change(alice.user_id, Add(bob.user_id)).await.unwrap(),
        GroupOutcome::AlreadyMember
    );
    assert_eq!(
        change(alice.user_id, Remove(dave.user_id)).await.unwrap(),
        GroupOutcome::NotMember
    );
    assert_eq!(
        change(alice.user_id, Promote(dave.user_id)).await.unwrap(),
        GroupOutcome::NotMember
    );
    assert_eq!(
        change(alice.user_id, Demote(alice.user_id)).await.unwrap(),
        GroupOutcome::LastAdmin
    );
    assert_eq!(
        history_events(db, conv).await.len(),
        3,
        "no event for a refused change"
    );

    // Add dave: an event, a participant, cursors at the event.
    let added = done(change(alice.user_id, Add(dave.user_id)).await.unwrap());
    assert_eq!(added.events.len(), 1);
    assert_eq!(added.events[0].seq, 4);
    let event = membership(&added.events[0]);
    assert_eq!(event.action, MembershipAction::Added);
    // A later member's event carries the member list, from which they rebuild it.
    let snapshot: Vec<(UserId, GroupRole)> =
        event.members.iter().map(|m| (m.user_id, m.role)).collect();
    assert_eq!(
        snapshot,
        vec![
            (alice.user_id, GroupRole::Admin),
            (bob.user_id, GroupRole::Member),
            (carol.user_id, GroupRole::Member),
            (dave.user_id, GroupRole::Member),
        ]
    );
    assert!(participants(db, conv).await.contains(&dave.user_id));
    assert_eq!(
        db.member_joined_seq(g, dave.user_id).await.unwrap(),
        Some(4)
    );

    // Remove carol: she is told (in the audience) and is no participant any more.
    let removed = done(change(alice.user_id, Remove(carol.user_id)).await.unwrap());
    let event = membership(&removed.events[0]);
    assert_eq!(
        (event.action, event.user_id, event.by, event.role),
        (
            MembershipAction::Removed,
            carol.user_id,
            alice.user_id,
            GroupRole::Member
        )
    );
    assert!(removed.audience.contains(&carol.user_id));
    assert!(!participants(db, conv).await.contains(&carol.user_id));
    assert!(
        db.get_conversation(conv, carol.user_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.list_groups(carol.user_id).await.unwrap().is_empty());
    assert_eq!(
        change(carol.user_id, Leave).await.unwrap(),
        GroupOutcome::NotFound
    );

    // Promote bob, then the admins can demote each other but not the last one.
    let promoted = done(change(alice.user_id, Promote(bob.user_id)).await.unwrap());
    assert_eq!(membership(&promoted.events[0]).role, GroupRole::Admin);
    let again = done(change(alice.user_id, Promote(bob.user_id)).await.unwrap());
    assert!(
        again.events.is_empty(),
        "promoting an admin changes nothing"
    );
    let demoted = done(change(bob.user_id, Demote(alice.user_id)).await.unwrap());
    assert_eq!(
        membership(&demoted.events[0]).action,
        MembershipAction::Demoted
    );
    assert_eq!(
        change(bob.user_id, Demote(bob.user_id)).await.unwrap(),
        GroupOutcome::LastAdmin
    );
    let roles: Vec<(UserId, GroupRole)> = db
        .get_group(g)
        .await
        .unwrap()
        .unwrap()
        .members
        .iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            (alice.user_id, GroupRole::Member),
            (bob.user_id, GroupRole::Admin),
            (dave.user_id, GroupRole::Member),
        ]
    );
    // The conversation's participant roles follow.
    let view = db
        .get_conversation(conv, bob.user_id)
        .await
        .unwrap()
        .unwrap();
    let bob_role = view
        .participants
        .iter()
        .find(|p| p.user_id == bob.user_id)
        .unwrap();
    assert_eq!(bob_role.role, "admin");
    // Every change has its own sequence number.
    let seqs: Vec<i64> = {
        let (messages, _) = db
            .history(conv, HistoryRange::After(0), 500, now())
            .await
            .unwrap();
        messages.iter().map(|m| m.seq).collect()
    };
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

async fn the_last_admin_leaving_promotes_the_longest_standing_member(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let group = create(db, &alice, &[&bob, &carol]).await;
    let left = done(
        db.change_membership(group.id, alice.user_id, MembershipChange::Leave, now())
            .await
            .unwrap(),
    );
    let events: Vec<MembershipEvent> = left.events.iter().map(membership).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].action, events[0].user_id),
        (MembershipAction::Left, alice.user_id)
    );
    assert_eq!(
        (events[1].action, events[1].user_id, events[1].by),
        (MembershipAction::Promoted, bob.user_id, alice.user_id)
    );
    let after = left.group.unwrap();
    assert_eq!(
        after
            .members
            .iter()
            .map(|m| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        vec![
            (bob.user_id, GroupRole::Admin),
            (carol.user_id, GroupRole::Member)
        ]
    );
    assert!(left.audience.contains(&alice.user_id));
    // A member (not admin) leaving promotes nobody.
    let carol_left = done(
        db.change_membership(
            group.id,
            carol.user_id,
            MembershipChange::Remove(carol.user_id),
            now(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(carol_left.events.len(), 1);
    assert_eq!(
        membership(&carol_left.events[0]).action,
        MembershipAction::Left
    );
}

async fn the_last_member_leaving_ends_the_group(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let group = create(db, &alice, &[&bob]).await;
    done(
        db.change_membership(group.id, bob.user_id, MembershipChange::Leave, now())
            .await
            .unwrap(),
    );
    let ended = done(
        db.change_membership(group.id, alice.user_id, MembershipChange::Leave, now())
            .await
            .unwrap(),
    );
    assert!(ended.group.is_none());
    assert_eq!(db.get_group(group.id).await.unwrap(), None);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM conversations WHERE id = $1",
            &[Arg::id(group.conversation_id)]
        )
        .await,
        0
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM message_refs WHERE conversation_id = $1",
            &[Arg::id(group.conversation_id)]
        )
        .await,
        0
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM group_members", &[]).await, 0);
}

async fn settings_change_by_admins_only(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let stranger = register(db, "stranger").await;
    let group = create(db, &alice, &[&bob]).await;
    let changes = GroupChanges {
        name: Some("renamed".into()),
        description: Some(None),
        avatar_url: Some(Some("https://example.org/a.png".into())),
    };
    assert_eq!(
        db.update_group(group.id, bob.user_id, &changes, now())
            .await
            .unwrap(),
        GroupOutcome::NotAdmin
    );
    assert_eq!(
        db.update_group(group.id, stranger.user_id, &changes, now())
            .await
            .unwrap(),
        GroupOutcome::NotFound
    );
    assert_eq!(
        db.get_group(group.id).await.unwrap().unwrap().name,
        "friends"
    );
    let later = plus(now(), 5);
    let updated = done(
        db.update_group(group.id, alice.user_id, &changes, later)
            .await
            .unwrap(),
    )
    .group
    .unwrap();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.description, None);
    assert_eq!(
        updated.avatar_url.as_deref(),
        Some("https://example.org/a.png")
    );
    assert_eq!(updated.updated_at, later);
    // Absent fields stay as they are.
    let only_name = GroupChanges {
        name: Some("again".into()),
        ..GroupChanges::default()
    };
    let kept = done(
        db.update_group(group.id, alice.user_id, &only_name, now())
            .await
            .unwrap(),
    )
    .group
    .unwrap();
    assert_eq!(
        kept.avatar_url.as_deref(),
        Some("https://example.org/a.png")
    );
}

async fn the_database_refuses_a_member_beyond_max_members(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let mut new = new_group(&alice, &[&bob]);
    new.max_members = 2;
    let group = done(db.create_group(&new, now()).await.unwrap())
        .group
        .unwrap();
    assert_eq!(group.max_members, 2);
    // Through the store: refused before anything is written.
    assert_eq!(
        db.change_membership(
            group.id,
            alice.user_id,
            MembershipChange::Add(carol.user_id),
            now()
        )
        .await
        .unwrap(),
        GroupOutcome::Full
    );
    // Straight into the table: the database itself refuses it.
    let refused = db
        .try_execute(
            "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3)",
            &[Arg::id(group.id), Arg::id(carol.user_id), Arg::Time(now())],
        )
        .await
        .expect_err("the 3rd member of a group of at most 2");
    assert!(refused.contains("group_full"), "{refused}");
    // max_members can never exceed 256.
    let too_big = db
        .try_execute(
            "UPDATE groups SET max_members = 257 WHERE id = $1",
            &[Arg::id(group.id)],
        )
        .await;
    assert!(too_big.is_err());
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM group_members WHERE group_id = $1",
            &[Arg::id(group.id)]
        )
        .await,
        2
    );
}

async fn settings_changes_write_an_updated_event(db: &TestDb) {
    use zynk_proto::groups::SettingsChange;
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let group = create(db, &alice, &[&bob]).await;
    let changes = GroupChanges {
        name: Some("renamed".into()),
        description: Some(None),
        avatar_url: None,
    };
    let write = done(
        db.update_group(group.id, alice.user_id, &changes, now())
            .await
            .unwrap(),
    );
    assert_eq!(write.events.len(), 1);
    let event = membership(&write.events[0]);
    assert_eq!(event.action, MembershipAction::Updated);
    assert_eq!((event.user_id, event.by), (alice.user_id, alice.user_id));
    assert_eq!(
        event.settings,
        Some(SettingsChange {
            name: Some("renamed".into()),
            description: Some(String::new()),
            avatar_url: None,
        })
    );
    assert_eq!(write.events[0].seq, 3);
    // The same values again: nothing changes, no event.
    let write = done(
        db.update_group(group.id, alice.user_id, &changes, now())
            .await
            .unwrap(),
    );
    assert!(write.events.is_empty());
    // A refused change writes no event either.
    db.update_group(group.id, bob.user_id, &changes, now())
        .await
        .unwrap();
    let actions: Vec<MembershipAction> = history_events(db, group.conversation_id)
        .await
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec![
            MembershipAction::Added,
            MembershipAction::Added,
            MembershipAction::Updated
        ]
    );
}

async fn a_deleted_account_is_taken_out_of_its_groups(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let carol = register(db, "carol").await;
    let shared = create(db, &alice, &[&bob, &carol]).await;
    let alone = create(db, &alice, &[]).await;
    let other = create(db, &bob, &[&carol]).await;
    let mut writes = db
        .remove_from_all_groups(alice.user_id, now())
        .await
        .unwrap();
    writes.sort_by_key(|(id, _)| *id);
    let mut expected = vec![shared.id, alone.id];
    expected.sort();
    assert_eq!(
        writes.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        expected
    );
    for (id, write) in &writes {
        if *id == alone.id {
            assert!(write.group.is_none());
            assert!(write.events.is_empty());
            assert_eq!(write.audience, vec![alice.user_id]);
            continue;
        }
        let events: Vec<(MembershipAction, UserId, UserId)> = write
            .events
            .iter()
            .map(membership)
            .map(|e| (e.action, e.user_id, e.by))
            .collect();
        assert_eq!(
            events,
            vec![
                (MembershipAction::Deleted, alice.user_id, alice.user_id),
                (MembershipAction::Promoted, bob.user_id, alice.user_id),
            ]
        );
        // Stored under the heir, so they outlive the account.
        assert!(write.events.iter().all(|e| e.sender_id == bob.user_id));
        let group = write.group.as_ref().unwrap();
        let roles: Vec<(UserId, GroupRole)> =
            group.members.iter().map(|m| (m.user_id, m.role)).collect();
        assert_eq!(
            roles,
            vec![
                (bob.user_id, GroupRole::Admin),
                (carol.user_id, GroupRole::Member)
            ]
        );
    }
    assert!(db.get_group(alone.id).await.unwrap().is_none());
    assert_eq!(participants(db, shared.conversation_id).await.len(), 2);
    // The account goes; the shared group's whole membership history stays.
    db.delete_user(alice.user_id).await.unwrap();
    let actions: Vec<MembershipAction> = history_events(db, shared.conversation_id)
        .await
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec![
            MembershipAction::Added,
            MembershipAction::Added,
            MembershipAction::Added,
            MembershipAction::Deleted,
            MembershipAction::Promoted
        ]
    );
    // A group alice was not in is untouched.
    assert_eq!(
        db.get_group(other.id).await.unwrap().unwrap().members.len(),
        2
    );
    // Nothing left to do a second time.
    assert!(
        db.remove_from_all_groups(alice.user_id, now())
            .await
            .unwrap()
            .is_empty()
    );
}
