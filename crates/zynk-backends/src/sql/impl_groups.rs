// Groups, their members and membership events (included into each engine module).
//
// A group is 1:1 with a conversation of kind `group`. Members live in `group_members` and, in the
// same transaction, in `conversation_participants` (which message authorisation and the
// per-participant cursors use). Every membership change is a `membership` message of the
// group's conversation with the next sequence number: `metadata.membership` holds the event and
// `encrypted_content` the same event as JSON (not encrypted: the server knows membership), so
// its `content_hash` anchors membership history in the ledger like any message.

type DbConn = <Db as sqlx::Database>::Connection;

const GROUP_COLUMNS: &str = "id, conversation_id, name, description, avatar_url, max_members, \
     encryption_mode, created_by, created_at, updated_at";

const MEMBER_SELECT: &str = "SELECT m.user_id, u.username, m.role, m.joined_at, m.joined_seq, \
     m.invited_by FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 \
     ORDER BY m.joined_seq, m.joined_at, m.user_id";

fn group_role(text: &str, column: &str) -> Result<zynk_proto::groups::GroupRole, StoreError> {
    zynk_proto::groups::GroupRole::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown role {text:?}")))
}

fn member_from_row(row: &DbRow) -> Result<GroupMemberRecord, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(GroupMemberRecord {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        role: group_role(&role, "group_members.role")?,
        joined_at: row.try_get("joined_at")?,
        joined_seq: row.try_get("joined_seq")?,
        invited_by: row.try_get("invited_by")?,
    })
}

fn group_from_row(row: &DbRow, members: Vec<GroupMemberRecord>) -> Result<GroupRecord, StoreError> {
    let mode: String = row.try_get("encryption_mode")?;
    let max_members: Option<i32> = row.try_get("max_members")?;
    Ok(GroupRecord {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        avatar_url: row.try_get("avatar_url")?,
        max_members: max_members
            .map_or(Ok(zynk_proto::groups::MAX_GROUP_MEMBERS), u32::try_from)
            .map_err(|e| corrupt("groups.max_members", e))?,
        encryption_mode: zynk_proto::groups::EncryptionMode::parse(&mode)
            .ok_or_else(|| corrupt("groups.encryption_mode", &mode))?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        members,
    })
}

async fn load_members(
    conn: &mut DbConn,
    group_id: zynk_proto::GroupId,
) -> Result<Vec<GroupMemberRecord>, StoreError> {
    sqlx::query(MEMBER_SELECT)
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(member_from_row)
        .collect()
}

async fn load_group(
    conn: &mut DbConn,
    group_id: zynk_proto::GroupId,
) -> Result<Option<GroupRecord>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let members = load_members(conn, group_id).await?;
    Ok(Some(group_from_row(&row, members)?))
}

/// Locks the group row (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers) and
/// returns its conversation and `max_members`.
async fn lock_group(
    tx: &mut Transaction<'static, Db>,
    group_id: zynk_proto::GroupId,
) -> Result<Option<(ConversationId, u32)>, StoreError> {
    let sql = match DIALECT {
        super::Dialect::Postgres => {
            "SELECT conversation_id, max_members FROM groups WHERE id = $1 FOR UPDATE"
        }
        super::Dialect::Sqlite => "SELECT conversation_id, max_members FROM groups WHERE id = $1",
    };
    let row: Option<(ConversationId, Option<i32>)> =
        sqlx::query_as(sql).bind(group_id).fetch_optional(&mut **tx).await?;
    Ok(row.map(|(conversation, max)| {
        let max = max.and_then(|m| u32::try_from(m).ok());
        (conversation, max.unwrap_or(zynk_proto::groups::MAX_GROUP_MEMBERS))
    }))
}

/// The members' ids and roles, longest-standing first.
async fn member_roles(
    tx: &mut Transaction<'static, Db>,
    group_id: zynk_proto::GroupId,
) -> Result<Vec<(UserId, zynk_proto::groups::GroupRole)>, StoreError> {
    let rows: Vec<(UserId, String)> = sqlx::query_as(
        "SELECT user_id, role FROM group_members WHERE group_id = $1 \
         ORDER BY joined_seq, joined_at, user_id",
    )
    .bind(group_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(user, role)| Ok((user, group_role(&role, "group_members.role")?)))
        .collect()
}

/// Writes one membership event as the next message of the group's conversation.
async fn write_membership_event(
    tx: &mut Transaction<'static, Db>,
    conversation_id: ConversationId,
    event: zynk_proto::groups::MembershipEvent,
    now: DateTime<Utc>,
) -> Result<MessageRecord, StoreError> {
    let by = event.by;
    write_membership_event_as(tx, conversation_id, event, by, now).await
}

/// Writes one membership event stored with `sender` as its sender (the event's `by` unless that
/// account is going away).
async fn write_membership_event_as(
    tx: &mut Transaction<'static, Db>,
    conversation_id: ConversationId,
    event: zynk_proto::groups::MembershipEvent,
    sender: UserId,
    now: DateTime<Utc>,
) -> Result<MessageRecord, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2 WHERE id = $1 \
         RETURNING last_seq",
    )
    .bind(conversation_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let id = MessageId::new_v7();
    let body = serde_json::to_vec(&event).map_err(|e| StoreError::InvalidWrite(e.to_string()))?;
    let by = sender;
    let content_hash = hex::encode(Hash32::sha256(&body).0);
    let metadata = serde_json::json!({ "membership": event });
    sqlx::query(
        "INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(conversation_id)
    .bind(seq)
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, \
         encrypted_content, content_hash, message_type, metadata, status, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, NULL, $5, $6, 'membership', $7, 'sent', NULL, $8)",
    )
    .bind(id)
    .bind(conversation_id)
    .bind(seq)
    .bind(by)
    .bind(&body)
    .bind(&content_hash)
    .bind(sqlx::types::Json(&metadata))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(MessageRecord {
        id,
        conversation_id,
        seq,
        sender_id: by,
        sender_device_id: None,
        encrypted_content: body,
        content_hash,
        message_type: zynk_proto::MessageType::Membership,
        metadata: Some(metadata),
        created_at: now,
        edited_at: None,
        deleted_at: None,
        expires_at: None,
    })
}

/// Whether a database error is the `max_members` trigger refusing a member.
fn is_group_full(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| db.message().contains("group_full"))
}

/// Adds a member to `group_members` and the conversation's participants (cursors just before
/// the event that added them). `Ok(false)` when the database refuses it for `max_members`.
#[allow(clippy::too_many_arguments)]
async fn insert_member(
    tx: &mut Transaction<'static, Db>,
    group_id: zynk_proto::GroupId,
    conversation_id: ConversationId,
    user_id: UserId,
    role: zynk_proto::groups::GroupRole,
    invited_by: Option<UserId>,
    joined_seq: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO group_members (group_id, user_id, role, joined_at, invited_by, joined_seq) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(group_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .bind(invited_by)
    .bind(joined_seq)
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(err) if is_group_full(&err) => return Ok(false),
        Err(err) => return Err(err.into()),
    }
    sqlx::query(
        "INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at, \
         last_delivered_seq, last_read_seq) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(conversation_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .bind(joined_seq - 1)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

async fn delete_member(
    tx: &mut Transaction<'static, Db>,
    group_id: zynk_proto::GroupId,
    conversation_id: ConversationId,
    user_id: UserId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM conversation_participants WHERE conversation_id = $1 AND user_id = $2")
        .bind(conversation_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn set_role(
    tx: &mut Transaction<'static, Db>,
    group_id: zynk_proto::GroupId,
    conversation_id: ConversationId,
    user_id: UserId,
    role: zynk_proto::groups::GroupRole,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE group_members SET role = $3 WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE conversation_participants SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
    )
    .bind(conversation_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn user_exists(tx: &mut Transaction<'static, Db>, user_id: UserId) -> Result<bool, StoreError> {
    let found: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

/// The union of two member lists, sorted.
fn audience_of(before: &[UserId], after: Option<&GroupRecord>) -> Vec<UserId> {
    let mut all: Vec<UserId> = before.to_vec();
    if let Some(group) = after {
        all.extend(group.members.iter().map(|m| m.user_id));
    }
    all.sort();
    all.dedup();
    all
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(
        &self,
        group: &NewGroup,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError> {
        use zynk_proto::groups::{GroupRole, MembershipAction, MembershipEvent};
        let now = crate::to_micros(now);
        if group.members.len() + 1 > group.max_members as usize {
            return Ok(GroupOutcome::Full);
        }
        let mut tx = self.begin().await?;
        for &user in &group.members {
            if !user_exists(&mut tx, user).await? {
                return Ok(GroupOutcome::UnknownUser(user));
            }
        }
        sqlx::query(
            "INSERT INTO conversations (id, type, encryption_type, pair_key, last_seq, \
             anchor_expiring, created_at, updated_at) VALUES ($1, 'group', 'e2ee', NULL, 0, $2, \
             $3, $3)",
        )
        .bind(group.conversation_id)
        .bind(false)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO groups (id, conversation_id, name, description, avatar_url, max_members, \
             encryption_mode, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(group.id)
        .bind(group.conversation_id)
        .bind(&group.name)
        .bind(&group.description)
        .bind(&group.avatar_url)
        .bind(i32::try_from(group.max_members).unwrap_or(i32::MAX))
        .bind(group.encryption_mode.as_str())
        .bind(group.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let firsts = std::iter::once((group.created_by, GroupRole::Admin, None)).chain(
            group.members.iter().map(|&m| (m, GroupRole::Member, Some(group.created_by))),
        );
        let mut events = Vec::with_capacity(group.members.len() + 1);
        for (user_id, role, invited_by) in firsts {
            let event = MembershipEvent {
                action: MembershipAction::Added,
                group_id: group.id,
                user_id,
                by: group.created_by,
                role,
                members: Vec::new(),
                settings: None,
            };
            let record = write_membership_event(&mut tx, group.conversation_id, event, now).await?;
            events.push(record);
            // Every first member reads the history from its first event (the creator's).
            let seq = events[0].seq;
            if !insert_member(&mut tx, group.id, group.conversation_id, user_id, role, invited_by, seq, now)
                .await?
            {
                return Ok(GroupOutcome::Full);
            }
        }
        let created = load_group(&mut tx, group.id).await?;
        tx.commit().await?;
        let audience = audience_of(&[], created.as_ref());
        Ok(GroupOutcome::Done(Box::new(GroupWrite { group: created, events, audience })))
    }

    async fn get_group(
        &self,
        group_id: zynk_proto::GroupId,
    ) -> Result<Option<GroupRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        load_group(&mut conn, group_id).await
    }

    async fn list_groups(&self, user_id: UserId) -> Result<Vec<GroupRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE id IN (SELECT group_id FROM group_members \
             WHERE user_id = $1) ORDER BY updated_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(&mut *conn).await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let id: zynk_proto::GroupId = row.try_get("id")?;
            let members = load_members(&mut conn, id).await?;
            groups.push(group_from_row(&row, members)?);
        }
        Ok(groups)
    }

    async fn group_of_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<zynk_proto::GroupId>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM groups WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn member_joined_seq(
        &self,
        group_id: zynk_proto::GroupId,
        user_id: UserId,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT joined_seq FROM group_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn update_group(
        &self,
        group_id: zynk_proto::GroupId,
        actor: UserId,
        changes: &GroupChanges,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError> {
        use zynk_proto::groups::{GroupRole, MembershipAction, MembershipEvent, SettingsChange};
        let now = crate::to_micros(now);
        let mut tx = self.begin().await?;
        let Some((conversation_id, _)) = lock_group(&mut tx, group_id).await? else {
            return Ok(GroupOutcome::NotFound);
        };
        let roles = member_roles(&mut tx, group_id).await?;
        match roles.iter().find(|(u, _)| *u == actor) {
            None => return Ok(GroupOutcome::NotFound),
            Some((_, GroupRole::Member)) => return Ok(GroupOutcome::NotAdmin),
            Some((_, GroupRole::Admin)) => {}
        }
        let current = load_group(&mut tx, group_id)
            .await?
            .ok_or_else(|| corrupt("groups", "vanished while locked"))?;
        // Only what really changes is written and told (in an `updated` event).
        let changed = |new: &Option<String>, old: &String| new.as_ref().filter(|n| *n != old).cloned();
        let changed_opt = |new: &Option<Option<String>>, old: &Option<String>| {
            new.as_ref().filter(|n| *n != old).map(|n| n.clone().unwrap_or_default())
        };
        let settings = SettingsChange {
            name: changed(&changes.name, &current.name),
            description: changed_opt(&changes.description, &current.description),
            avatar_url: changed_opt(&changes.avatar_url, &current.avatar_url),
        };
        let name = changes.name.clone().unwrap_or(current.name);
        let description = changes.description.clone().unwrap_or(current.description);
        let avatar_url = changes.avatar_url.clone().unwrap_or(current.avatar_url);
        let mut events = Vec::new();
        if settings != SettingsChange::default() {
            let event = MembershipEvent {
                action: MembershipAction::Updated,
                group_id,
                user_id: actor,
                by: actor,
                role: GroupRole::Admin,
                members: Vec::new(),
                settings: Some(settings),
            };
            events.push(write_membership_event(&mut tx, conversation_id, event, now).await?);
        }
        sqlx::query(
            "UPDATE groups SET name = $2, description = $3, avatar_url = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(group_id)
        .bind(&name)
        .bind(&description)
        .bind(&avatar_url)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let updated = load_group(&mut tx, group_id).await?;
        tx.commit().await?;
        let audience = audience_of(&[], updated.as_ref());
        Ok(GroupOutcome::Done(Box::new(GroupWrite { group: updated, events, audience })))
    }

    async fn remove_from_all_groups(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<(zynk_proto::GroupId, GroupWrite)>, StoreError> {
        use zynk_proto::groups::{GroupRole, MembershipAction, MembershipEvent};
        let now = crate::to_micros(now);
        let groups: Vec<zynk_proto::GroupId> =
            sqlx::query_scalar("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
                .bind(user_id)
                .fetch_all(&self.write)
                .await?;
        let mut writes = Vec::with_capacity(groups.len());
        for group_id in groups {
            let mut tx = self.begin().await?;
            let Some((conversation_id, _)) = lock_group(&mut tx, group_id).await? else {
                continue;
            };
            let roles = member_roles(&mut tx, group_id).await?;
            let before: Vec<UserId> = roles.iter().map(|(u, _)| *u).collect();
            let Some(&(_, role)) = roles.iter().find(|(u, _)| *u == user_id) else {
                continue;
            };
            let Some(&(heir, heir_role)) = roles.iter().find(|(u, _)| *u != user_id) else {
                // The last member: the group ends, with its conversation and history.
                sqlx::query("DELETE FROM conversations WHERE id = $1")
                    .bind(conversation_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                writes.push((group_id, GroupWrite { group: None, events: Vec::new(), audience: before }));
                continue;
            };
            let event = |action, user, role| MembershipEvent {
                action,
                group_id,
                user_id: user,
                by: user_id,
                role,
                members: Vec::new(),
                settings: None,
            };
            // The account's messages go with it, but the group's membership history must stay
            // whole (members rebuild the list from it): its earlier events are kept under the
            // heir as their stored sender (the events themselves still say who did what).
            for table in ["messages", "message_refs"] {
                let sql = format!(
                    "UPDATE {table} SET sender_id = $3 WHERE conversation_id = $1 AND sender_id = $2{}",
                    if table == "messages" { " AND message_type = 'membership'" } else {
                        " AND id IN (SELECT id FROM messages WHERE conversation_id = $1 AND \
                         message_type = 'membership')"
                    }
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(heir)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut events = Vec::new();
            let deleted = event(MembershipAction::Deleted, user_id, role);
            events.push(write_membership_event_as(&mut tx, conversation_id, deleted, heir, now).await?);
            delete_member(&mut tx, group_id, conversation_id, user_id).await?;
            let admins_left = roles.iter().any(|(u, r)| *u != user_id && *r == GroupRole::Admin);
            if !admins_left && heir_role != GroupRole::Admin {
                let promoted = event(MembershipAction::Promoted, heir, GroupRole::Admin);
                events.push(write_membership_event_as(&mut tx, conversation_id, promoted, heir, now).await?);
                set_role(&mut tx, group_id, conversation_id, heir, GroupRole::Admin).await?;
            }
            sqlx::query("UPDATE groups SET updated_at = $2 WHERE id = $1")
                .bind(group_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let after = load_group(&mut tx, group_id).await?;
            tx.commit().await?;
            let audience = audience_of(&before, after.as_ref());
            writes.push((group_id, GroupWrite { group: after, events, audience }));
        }
        Ok(writes)
    }

    async fn change_membership(
        &self,
        group_id: zynk_proto::GroupId,
        actor: UserId,
        change: MembershipChange,
        now: DateTime<Utc>,
    ) -> Result<GroupOutcome, StoreError> {
        use zynk_proto::groups::{GroupRole, MemberRole, MembershipAction, MembershipEvent};
        let now = crate::to_micros(now);
        let mut tx = self.begin().await?;
        let Some((conversation_id, max_members)) = lock_group(&mut tx, group_id).await? else {
            return Ok(GroupOutcome::NotFound);
        };
        let roles = member_roles(&mut tx, group_id).await?;
        let before: Vec<UserId> = roles.iter().map(|(u, _)| *u).collect();
        let role_of = |user: UserId| roles.iter().find(|(u, _)| *u == user).map(|(_, r)| *r);
        let Some(actor_role) = role_of(actor) else {
            return Ok(GroupOutcome::NotFound);
        };
        let admin = actor_role == GroupRole::Admin;
        let event = |action, user_id, role| MembershipEvent {
            action,
            group_id,
            user_id,
            by: actor,
            role,
            members: Vec::new(),
            settings: None,
        };
        let mut events = Vec::new();
        // A member removing themself leaves.
        let change = match change {
            MembershipChange::Remove(user) if user == actor => MembershipChange::Leave,
            other => other,
        };
        match change {
            MembershipChange::Add(user) => {
                if !admin {
                    return Ok(GroupOutcome::NotAdmin);
                }
                if !user_exists(&mut tx, user).await? {
                    return Ok(GroupOutcome::UnknownUser(user));
                }
                if role_of(user).is_some() {
                    return Ok(GroupOutcome::AlreadyMember);
                }
                if before.len() >= max_members as usize {
                    return Ok(GroupOutcome::Full);
                }
                let mut added = event(MembershipAction::Added, user, GroupRole::Member);
                added.members = roles
                    .iter()
                    .map(|&(user_id, role)| MemberRole { user_id, role })
                    .chain(std::iter::once(MemberRole { user_id: user, role: GroupRole::Member }))
                    .collect();
                let record = write_membership_event(&mut tx, conversation_id, added, now).await?;
                let seq = record.seq;
                events.push(record);
                let member = GroupRole::Member;
                if !insert_member(&mut tx, group_id, conversation_id, user, member, Some(actor), seq, now)
                    .await?
                {
                    return Ok(GroupOutcome::Full);
                }
            }
            MembershipChange::Remove(user) => {
                if !admin {
                    return Ok(GroupOutcome::NotAdmin);
                }
                let Some(role) = role_of(user) else {
                    return Ok(GroupOutcome::NotMember);
                };
                let removed = event(MembershipAction::Removed, user, role);
                events.push(write_membership_event(&mut tx, conversation_id, removed, now).await?);
                delete_member(&mut tx, group_id, conversation_id, user).await?;
            }
            MembershipChange::Promote(user) => {
                if !admin {
                    return Ok(GroupOutcome::NotAdmin);
                }
                match role_of(user) {
                    None => return Ok(GroupOutcome::NotMember),
                    Some(GroupRole::Admin) => {}
                    Some(GroupRole::Member) => {
                        let promoted = event(MembershipAction::Promoted, user, GroupRole::Admin);
                        events.push(
                            write_membership_event(&mut tx, conversation_id, promoted, now).await?,
                        );
                        set_role(&mut tx, group_id, conversation_id, user, GroupRole::Admin).await?;
                    }
                }
            }
            MembershipChange::Demote(user) => {
                if !admin {
                    return Ok(GroupOutcome::NotAdmin);
                }
                match role_of(user) {
                    None => return Ok(GroupOutcome::NotMember),
                    Some(GroupRole::Member) => {}
                    Some(GroupRole::Admin) => {
                        let admins = roles.iter().filter(|(_, r)| *r == GroupRole::Admin).count();
                        if admins <= 1 {
                            return Ok(GroupOutcome::LastAdmin);
                        }
                        let demoted = event(MembershipAction::Demoted, user, GroupRole::Member);
                        events.push(
                            write_membership_event(&mut tx, conversation_id, demoted, now).await?,
                        );
                        set_role(&mut tx, group_id, conversation_id, user, GroupRole::Member).await?;
                    }
                }
            }
            MembershipChange::Leave => {
                if before.len() == 1 {
                    // The last member: the group ends, with its conversation and history.
                    sqlx::query("DELETE FROM conversations WHERE id = $1")
                        .bind(conversation_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(GroupOutcome::Done(Box::new(GroupWrite {
                        group: None,
                        events,
                        audience: before,
                    })));
                }
                let left = event(MembershipAction::Left, actor, actor_role);
                events.push(write_membership_event(&mut tx, conversation_id, left, now).await?);
                delete_member(&mut tx, group_id, conversation_id, actor).await?;
                let admins_left = roles
                    .iter()
                    .any(|(u, r)| *u != actor && *r == GroupRole::Admin);
                if !admins_left {
                    // The longest-standing remaining member becomes admin.
                    if let Some(&(heir, _)) = roles.iter().find(|(u, _)| *u != actor) {
                        let promoted = event(MembershipAction::Promoted, heir, GroupRole::Admin);
                        events.push(
                            write_membership_event(&mut tx, conversation_id, promoted, now).await?,
                        );
                        set_role(&mut tx, group_id, conversation_id, heir, GroupRole::Admin).await?;
                    }
                }
            }
        }
        if !events.is_empty() {
            sqlx::query("UPDATE groups SET updated_at = $2 WHERE id = $1")
                .bind(group_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let after = load_group(&mut tx, group_id).await?;
        tx.commit().await?;
        let audience = audience_of(&before, after.as_ref());
        Ok(GroupOutcome::Done(Box::new(GroupWrite { group: after, events, audience })))
    }
}
