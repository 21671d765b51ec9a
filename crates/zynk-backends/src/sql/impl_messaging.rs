// Conversations, participants, cursors and messages (included into each engine module).

const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, sender_id, sender_device_id, \
     encrypted_content, content_hash, message_type, metadata, created_at, edited_at, deleted_at, \
     expires_at";

const NOT_EXPIRED: &str = "(expires_at IS NULL OR expires_at > $2)";

fn message_from_row(row: &DbRow) -> Result<MessageRecord, StoreError> {
    let metadata: Option<sqlx::types::Json<serde_json::Value>> =
        row.try_get("metadata").map_err(|e| corrupt("message metadata", e))?;
    Ok(MessageRecord {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        seq: row.try_get("seq")?,
        sender_id: row.try_get("sender_id")?,
        sender_device_id: row.try_get("sender_device_id")?,
        encrypted_content: row.try_get("encrypted_content")?,
        content_hash: row.try_get("content_hash")?,
        message_type: vocabulary_column(row, "messages", "message_type")?,
        metadata: metadata.map(|m| m.0),
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        deleted_at: row.try_get("deleted_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn participant_from_row(row: &DbRow) -> Result<ParticipantRecord, StoreError> {
    let privacy: sqlx::types::Json<Privacy> =
        row.try_get("privacy_settings").map_err(|e| corrupt("privacy_settings", e))?;
    let role: Option<String> = row.try_get("role")?;
    Ok(ParticipantRecord {
        user_id: row.try_get("user_id")?,
        role: role.unwrap_or_else(|| "member".to_owned()),
        last_delivered_seq: row.try_get("last_delivered_seq")?,
        last_read_seq: row.try_get("last_read_seq")?,
        read_receipts: privacy.0.allow_read_receipts,
        joined_at: row.try_get("joined_at")?,
    })
}

const PARTICIPANT_SELECT: &str = "SELECT p.user_id, p.role, p.last_delivered_seq, \
     p.last_read_seq, p.joined_at, up.privacy_settings FROM conversation_participants p \
     JOIN user_profiles up ON up.user_id = p.user_id WHERE p.conversation_id = $1 \
     ORDER BY p.joined_at, p.user_id";

/// The viewer's conversations (optionally one): id, kind, counters and unread count.
const CONVERSATION_SELECT: &str = "SELECT c.id, c.type, c.last_seq, c.anchor_expiring, \
     c.created_at, c.updated_at, p.request_state, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id \
     AND m.seq > p.last_read_seq AND m.sender_id <> p.user_id AND m.deleted_at IS NULL \
     AND (m.expires_at IS NULL OR m.expires_at > $2)) AS unread \
     FROM conversations c JOIN conversation_participants p \
     ON p.conversation_id = c.id AND p.user_id = $1";

impl SqlStore {
    async fn conversation_views(
        &self,
        viewer: UserId,
        only: Option<ConversationId>,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        // The conversation list leaves message requests and declined conversations out.
        self.conversation_views_where(viewer, only, "p.request_state = 'accepted'").await
    }

    /// The viewer's conversations: the one asked for (whatever its state), or all those that
    /// meet `list_condition`.
    async fn conversation_views_where(
        &self,
        viewer: UserId,
        only: Option<ConversationId>,
        list_condition: &str,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let now = crate::now();
        let rows = match only {
            Some(id) => {
                let sql = format!("{CONVERSATION_SELECT} WHERE c.id = $3");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(viewer)
                    .bind(now)
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                let sql = format!(
                    "{CONVERSATION_SELECT} WHERE {list_condition} ORDER BY c.updated_at DESC, c.id"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(viewer).bind(now).fetch_all(&self.read).await?
            }
        };
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let id: ConversationId = row.try_get("id")?;
            let participants = sqlx::query(PARTICIPANT_SELECT)
                .bind(id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(participant_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            views.push(ConversationRecord {
                id,
                kind: vocabulary_column(&row, "conversations", "type")?,
                last_seq: row.try_get("last_seq")?,
                anchor_expiring: row.try_get("anchor_expiring")?,
                unread_count: row.try_get("unread")?,
                request_state: vocabulary_column(&row, "conversation_participants", "request_state")?,
                participants,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            });
        }
        Ok(views)
    }
}

#[async_trait]
impl ConversationStore for SqlStore {
    async fn open_one_to_one(
        &self,
        viewer: UserId,
        other: UserId,
        anchor_expiring: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<(ConversationRecord, bool)>, StoreError> {
        self.open_pair(viewer, other, anchor_expiring, RequestState::Accepted, now).await
    }

    async fn list_conversations(&self, viewer: UserId) -> Result<Vec<ConversationRecord>, StoreError> {
        self.conversation_views(viewer, None).await
    }

    async fn get_conversation(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        Ok(self.conversation_views(viewer, Some(conversation_id)).await?.pop())
    }

    async fn participants(&self, conversation_id: ConversationId) -> Result<Vec<UserId>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM conversation_participants WHERE conversation_id = $1 ORDER BY user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn advance_cursors(
        &self,
        moves: &[CursorMove],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<ParticipantRecord>>, StoreError> {
        let outcomes = self.move_cursors(moves, now).await?;
        Ok(outcomes.into_iter().map(|o| o.map(|o| o.participant)).collect())
    }

    async fn move_cursors(
        &self,
        moves: &[CursorMove],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<CursorOutcome>>, StoreError> {
        // Rows are locked in one order (conversation, user), so concurrent batches cannot
        // deadlock.
        let mut order: Vec<usize> = (0..moves.len()).collect();
        order.sort_by_key(|&i| (moves[i].conversation_id, moves[i].user_id));
        let mut tx = self.begin().await?;
        let mut results = vec![None; moves.len()];
        for i in order {
            results[i] = advance_cursor(&mut tx, &moves[i], now).await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

impl SqlStore {
    /// Opens the 1:1 conversation of `viewer` and `other`; a new one starts with `viewer`
    /// accepted and `other` in `other_state`.
    async fn open_pair(
        &self,
        viewer: UserId,
        other: UserId,
        anchor_expiring: bool,
        other_state: RequestState,
        now: DateTime<Utc>,
    ) -> Result<Option<(ConversationRecord, bool)>, StoreError> {
        let (low, high) = if viewer < other { (viewer, other) } else { (other, viewer) };
        let pair_key = format!("{low}:{high}");
        let mut tx = self.begin().await?;
        let other_exists: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(other)
            .fetch_optional(&mut *tx)
            .await?;
        if other_exists.is_none() {
            return Ok(None);
        }
        let id = ConversationId::new_v7();
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, type, encryption_type, pair_key, last_seq, \
             anchor_expiring, created_at, updated_at) VALUES ($1, 'one_to_one', 'e2ee', $2, 0, $3, \
             $4, $4) ON CONFLICT (pair_key) DO NOTHING",
        )
        .bind(id)
        .bind(&pair_key)
        .bind(anchor_expiring)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let conversation_id = if inserted {
            for user in [low, high] {
                let state = if user == viewer { RequestState::Accepted } else { other_state };
                sqlx::query(
                    "INSERT INTO conversation_participants (conversation_id, user_id, role, \
                     joined_at, request_state) VALUES ($1, $2, 'member', $3, $4)",
                )
                .bind(id)
                .bind(user)
                .bind(now)
                .bind(state.as_str())
                .execute(&mut *tx)
                .await?;
            }
            id
        } else {
            sqlx::query_scalar("SELECT id FROM conversations WHERE pair_key = $1")
                .bind(&pair_key)
                .fetch_one(&mut *tx)
                .await?
        };
        tx.commit().await?;
        let view = self.conversation_views(viewer, Some(conversation_id)).await?.pop();
        Ok(view.map(|v| (v, inserted)))
    }
}

/// Moves one participant's cursors inside `tx`.
async fn advance_cursor(
    tx: &mut Transaction<'static, Db>,
    m: &CursorMove,
    now: DateTime<Utc>,
) -> Result<Option<CursorOutcome>, StoreError> {
    let CursorMove { conversation_id, user_id, delivered_up_to, read_up_to } = *m;
    let lock = match DIALECT {
        super::Dialect::Postgres => {
            "SELECT p.last_delivered_seq, p.last_read_seq, c.last_seq, up.privacy_settings FROM \
             conversation_participants p JOIN conversations c ON c.id = p.conversation_id \
             JOIN user_profiles up ON up.user_id = p.user_id \
             WHERE p.conversation_id = $1 AND p.user_id = $2 FOR UPDATE OF p"
        }
        super::Dialect::Sqlite => {
            "SELECT p.last_delivered_seq, p.last_read_seq, c.last_seq, up.privacy_settings FROM \
             conversation_participants p JOIN conversations c ON c.id = p.conversation_id \
             JOIN user_profiles up ON up.user_id = p.user_id \
             WHERE p.conversation_id = $1 AND p.user_id = $2"
        }
    };
    let current: Option<(i64, i64, i64, sqlx::types::Json<Privacy>)> = sqlx::query_as(lock)
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                corrupt("privacy_settings", e)
            }
            other => other.into(),
        })?;
    let Some((delivered, read, last_seq, privacy)) = current else { return Ok(None) };
    let mut new_read = read.max(read_up_to.unwrap_or(0).min(last_seq));
    let mut new_delivered = delivered.max(delivered_up_to.unwrap_or(0).min(last_seq));
    // Read implies delivered, unless read receipts are off: then the delivered cursor others
    // see moves only with delivery acknowledgements, never with reading, and the read cursor
    // (never past the delivered one) waits for them.
    if privacy.0.allow_read_receipts {
        new_delivered = new_delivered.max(new_read);
    } else {
        new_read = new_read.min(new_delivered).max(read);
    }
    let (delivered_moved, read_moved) = (new_delivered != delivered, new_read != read);
    if delivered_moved || read_moved {
        sqlx::query(
            "UPDATE conversation_participants SET last_delivered_seq = $3, last_read_seq = $4, \
             last_read_at = CASE WHEN $5 THEN $6 ELSE last_read_at END \
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(new_delivered)
        .bind(new_read)
        .bind(new_read != read)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let sql = PARTICIPANT_SELECT.replace("ORDER BY", "AND p.user_id = $2 ORDER BY");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(conversation_id)
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(CursorOutcome {
        participant: participant_from_row(&row)?,
        delivered_moved,
        read_moved,
    }))
}

async fn message_by_id(
    tx: &mut Transaction<'static, Db>,
    id: MessageId,
) -> Result<Option<MessageRecord>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(message_from_row).transpose()
}

/// Stores one message of a batch inside the batch's transaction.
async fn insert_one(
    tx: &mut Transaction<'static, Db>,
    item: &NewMessage,
    now: DateTime<Utc>,
) -> Result<InsertOutcome, StoreError> {
    if let Some(existing) = message_by_id(tx, item.id).await? {
        let same = existing.conversation_id == item.conversation_id
            && existing.sender_id == item.sender_id
            && existing.content_hash == item.content_hash;
        return Ok(if same { InsertOutcome::Existing(existing) } else { InsertOutcome::IdConflict });
    }
    if let Some(relation) = &item.relation {
        let target = message_by_id(tx, relation.target).await?;
        let valid = target.is_some_and(|t| {
            t.conversation_id == item.conversation_id
                && t.deleted_at.is_none()
                && t.expires_at.is_none_or(|e| e > now)
                && (!relation.require_same_sender || t.sender_id == item.sender_id)
        });
        if !valid {
            return Ok(InsertOutcome::InvalidRelation);
        }
    }
    let seq: i64 = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2 WHERE id = $1 \
         RETURNING last_seq",
    )
    .bind(item.conversation_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    // The id may have been taken since the check above by a writer of another conversation (or
    // node); then give the sequence number back (this transaction holds the conversation row)
    // and report the conflict, without failing the rest of the batch.
    let claimed = sqlx::query(
        "INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(item.id)
    .bind(item.conversation_id)
    .bind(seq)
    .bind(item.sender_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = $1")
            .bind(item.conversation_id)
            .execute(&mut **tx)
            .await?;
        return Ok(InsertOutcome::IdConflict);
    }
    if let Some(relation) = &item.relation {
        match relation.effect {
            RelationEffect::MarkEdited => {
                sqlx::query("UPDATE messages SET edited_at = $2 WHERE id = $1")
                    .bind(relation.target)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
            }
            RelationEffect::Delete => {
                sqlx::query(
                    "UPDATE messages SET deleted_at = $2, encrypted_content = $3 WHERE id = $1",
                )
                .bind(relation.target)
                .bind(now)
                .bind(Vec::<u8>::new())
                .execute(&mut **tx)
                .await?;
            }
            RelationEffect::None => {}
        }
    }
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, \
         encrypted_content, content_hash, message_type, metadata, status, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sent', $10, $11)",
    )
    .bind(item.id)
    .bind(item.conversation_id)
    .bind(seq)
    .bind(item.sender_id)
    .bind(item.sender_device_id)
    .bind(&item.encrypted_content)
    .bind(&item.content_hash)
    .bind(item.message_type.as_str())
    .bind(sqlx::types::Json(&item.metadata))
    .bind(item.expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(InsertOutcome::Created(MessageRecord {
        id: item.id,
        conversation_id: item.conversation_id,
        seq,
        sender_id: item.sender_id,
        sender_device_id: Some(item.sender_device_id),
        encrypted_content: item.encrypted_content.clone(),
        content_hash: item.content_hash.clone(),
        message_type: item.message_type,
        metadata: Some(item.metadata.clone()),
        created_at: now,
        edited_at: None,
        deleted_at: None,
        expires_at: item.expires_at,
    }))
}

impl SqlStore {
    /// Stores a batch of plain messages (no relations, distinct ids) with a handful of
    /// statements in all: one lookup of existing ids, one sequence update for every
    /// conversation, one multi-row insert per table. Returns `None` (having written nothing)
    /// when the batch needs the one-by-one path.
    /// Stores a batch without relations in one transaction. `assume_new` skips the lookup of
    /// ids already stored (retries are rare): if one turns up, nothing is written and `None`
    /// comes back, as for every batch this path cannot take.
    async fn insert_bulk(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
        assume_new: bool,
    ) -> Result<Option<Vec<InsertOutcome>>, StoreError> {
        let mut ids: Vec<MessageId> = batch.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != batch.len() || batch.iter().any(|m| m.relation.is_some()) {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        // Existing ids: idempotent retries or conflicts.
        let mut existing: std::collections::HashMap<MessageId, MessageRecord> = Default::default();
        if !assume_new {
            let mut lookup = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ("
            ));
            let mut list = lookup.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            lookup.push(")");
            existing = lookup
                .build()
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| message_from_row(row).map(|m| (m.id, m)))
                .collect::<Result<_, _>>()?;
        }
        let fresh: Vec<&NewMessage> = batch.iter().filter(|m| !existing.contains_key(&m.id)).collect();
        // One sequence update for every conversation of the batch.
        let mut per_conversation: Vec<(ConversationId, i64)> = Vec::new();
        for m in &fresh {
            match per_conversation.iter_mut().find(|(c, _)| *c == m.conversation_id) {
                Some((_, n)) => *n += 1,
                None => per_conversation.push((m.conversation_id, 1)),
            }
        }
        let mut next_seq: std::collections::HashMap<ConversationId, i64> = std::collections::HashMap::new();
        if !per_conversation.is_empty() {
            per_conversation.sort_unstable();
            let mut update =
                sqlx::QueryBuilder::<Db>::new("UPDATE conversations SET last_seq = last_seq + CASE id");
            for (conversation, n) in &per_conversation {
                update.push(" WHEN ").push_bind(*conversation).push(" THEN ").push_bind(*n);
            }
            update.push(" ELSE 0 END, updated_at = ").push_bind(now).push(" WHERE id IN (");
            let mut list = update.separated(", ");
            for (conversation, _) in &per_conversation {
                list.push_bind(*conversation);
            }
            update.push(") RETURNING id, last_seq");
            let rows = update.build().fetch_all(&mut *tx).await?;
            for row in &rows {
                let id: ConversationId = row.try_get("id")?;
                let last: i64 = row.try_get("last_seq")?;
                let n = per_conversation.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n);
                next_seq.insert(id, last - n + 1);
            }
            if rows.len() != per_conversation.len() {
                // A conversation vanished: let the one-by-one path report it.
                return Ok(None);
            }
        }
        let mut seqs = Vec::with_capacity(fresh.len());
        for m in &fresh {
            let slot = next_seq.get_mut(&m.conversation_id).ok_or_else(|| corrupt("seq", "missing"))?;
            seqs.push(*slot);
            *slot += 1;
        }
        if !fresh.is_empty() {
            let mut refs = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO message_refs (id, conversation_id, seq, sender_id, created_at) ",
            );
            refs.push_values(fresh.iter().zip(&seqs), |mut row, (m, seq)| {
                row.push_bind(m.id)
                    .push_bind(m.conversation_id)
                    .push_bind(*seq)
                    .push_bind(m.sender_id)
                    .push_bind(now);
            });
            refs.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let inserted = refs.build().fetch_all(&mut *tx).await?.len();
            if inserted != fresh.len() {
                // An id is already stored (or was taken concurrently): roll back; the caller
                // looks the ids up or goes one by one.
                return Ok(None);
            }
            let mut messages = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, \
                 encrypted_content, content_hash, message_type, metadata, status, expires_at, \
                 created_at) ",
            );
            messages.push_values(fresh.iter().zip(&seqs), |mut row, (m, seq)| {
                row.push_bind(m.id)
                    .push_bind(m.conversation_id)
                    .push_bind(*seq)
                    .push_bind(m.sender_id)
                    .push_bind(m.sender_device_id)
                    .push_bind(m.encrypted_content.clone())
                    .push_bind(m.content_hash.clone())
                    .push_bind(m.message_type.as_str())
                    .push_bind(sqlx::types::Json(m.metadata.clone()))
                    .push_bind("sent")
                    .push_bind(m.expires_at)
                    .push_bind(now);
            });
            messages.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let seq_of = fresh.iter().zip(seqs).map(|(m, seq)| (m.id, seq)).collect();
        let outcomes = batch_outcomes(batch, &existing, seq_of, now);
        Ok(Some(outcomes))
    }
}

/// The outcome of each item of a stored batch: `existing` holds the rows found already stored,
/// `seq_of` the sequence numbers of the rows written now.
fn batch_outcomes(
    batch: &[NewMessage],
    existing: &std::collections::HashMap<MessageId, MessageRecord>,
    mut seq_of: std::collections::HashMap<MessageId, i64>,
    now: DateTime<Utc>,
) -> Vec<InsertOutcome> {
    batch
        .iter()
        .map(|m| match existing.get(&m.id) {
            Some(stored) => {
                let same = stored.conversation_id == m.conversation_id
                    && stored.sender_id == m.sender_id
                    && stored.content_hash == m.content_hash;
                if same { InsertOutcome::Existing(stored.clone()) } else { InsertOutcome::IdConflict }
            }
            None => InsertOutcome::Created(MessageRecord {
                id: m.id,
                conversation_id: m.conversation_id,
                seq: seq_of.remove(&m.id).unwrap_or_default(),
                sender_id: m.sender_id,
                sender_device_id: Some(m.sender_device_id),
                encrypted_content: m.encrypted_content.clone(),
                content_hash: m.content_hash.clone(),
                message_type: m.message_type,
                metadata: Some(m.metadata.clone()),
                created_at: now,
                edited_at: None,
                deleted_at: None,
                expires_at: m.expires_at,
            }),
        })
        .collect()
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn insert_messages(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        // Times finer than a microsecond (a client's self-destruct time) would be kept by SQLite
        // and cut by PostgreSQL: both store, compare and report them truncated.
        let now = crate::to_micros(now);
        let truncated: Vec<NewMessage>;
        let finer = |m: &NewMessage| m.expires_at.is_some_and(|e| crate::to_micros(e) != e);
        let batch = if batch.iter().any(finer) {
            truncated = batch
                .iter()
                .map(|m| NewMessage { expires_at: m.expires_at.map(crate::to_micros), ..m.clone() })
                .collect();
            &truncated[..]
        } else {
            batch
        };
        let fast = self.insert_bulk(batch, now, true).await?;
        if let Some(outcomes) = fast {
            return Ok(outcomes);
        }
        if let Some(outcomes) = self.insert_bulk(batch, now, false).await? {
            return Ok(outcomes);
        }
        // Relations, repeated ids or a race on an id: one message at a time.
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for item in batch {
            outcomes.push(insert_one(&mut tx, item, now).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    fn parallel_writers(&self) -> usize {
        match DIALECT {
            super::Dialect::Sqlite => 1,
            // Two commits in flight keep PostgreSQL busy while batches stay large; more
            // writers made smaller batches, more round trips and a slower tail (see
            // docs/benchmarks.md).
            super::Dialect::Postgres => 2,
        }
    }

    async fn history(
        &self,
        conversation_id: ConversationId,
        range: HistoryRange,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let (condition, order, bound) = match range {
            HistoryRange::After(after) => ("seq > $3", "ASC", after),
            HistoryRange::Before(before) => ("seq < $3", "DESC", before),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND {NOT_EXPIRED} \
             AND {condition} ORDER BY seq {order} LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .bind(now)
            .bind(bound)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.read)
            .await?;
        let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        if matches!(range, HistoryRange::Before(_)) {
            messages.reverse();
        }
        Ok((messages, more))
    }

    async fn get_message(
        &self,
        message_id: MessageId,
        now: DateTime<Utc>,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND {NOT_EXPIRED}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message_id)
            .bind(now)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn purge_expired_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ExpiredMessage>, StoreError> {
        let rows: Vec<(MessageId, ConversationId)> = sqlx::query_as(
            "DELETE FROM message_refs WHERE id IN (SELECT id FROM messages WHERE expires_at IS NOT \
             NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2) RETURNING id, conversation_id",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(message_id, conversation_id)| ExpiredMessage { conversation_id, message_id })
            .collect())
    }

    async fn purge_deleted_messages(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM message_refs WHERE id IN (SELECT id FROM messages WHERE deleted_at IS NOT \
             NULL AND deleted_at < $1)",
        )
        .bind(cutoff)
        .execute(&self.write)
        .await?
        .rows_affected())
    }
}
