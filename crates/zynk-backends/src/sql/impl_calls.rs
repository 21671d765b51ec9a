// Calls and their participants (included into each engine module).
//
// The state machine of the data model (`initiated` → `ringing` → `in_progress` → `ended`, or
// `missed`, `declined`) is decided in Rust inside the writing transaction, after the call row
// is locked (PostgreSQL) or the write lock is held (SQLite `BEGIN IMMEDIATE`), so concurrent
// answers, hang-ups and the missed sweep of several nodes serialise. A partial unique index
// keeps one active call per conversation.

const CALL_SELECT: &str = "SELECT c.id, c.status, c.call_type, c.conversation_id, \
     c.initiator_id, c.created_at, c.started_at, c.ended_at, c.duration_seconds, \
     v.type AS conversation_type FROM calls c LEFT JOIN conversations v \
     ON v.id = c.conversation_id";

const ACTIVE_STATUSES: &str = "('initiated', 'ringing', 'in_progress')";

fn call_from_row(
    row: &DbRow,
    participants: Vec<CallParticipantRecord>,
) -> Result<CallRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let call_type: String = row.try_get("call_type")?;
    let conversation_type: Option<String> = row.try_get("conversation_type")?;
    let initiator_id: Option<UserId> = row.try_get("initiator_id")?;
    let duration: Option<i32> = row.try_get("duration_seconds")?;
    let mut participants = participants;
    participants.sort_by_key(|p| (Some(p.user_id) != initiator_id, p.user_id));
    Ok(CallRecord {
        id: row.try_get("id")?,
        status: zynk_proto::calls::CallStatus::parse(&status)
            .ok_or_else(|| corrupt("calls.status", &status))?,
        call_type: zynk_proto::calls::CallType::parse(&call_type)
            .ok_or_else(|| corrupt("calls.call_type", &call_type))?,
        conversation_id: row.try_get("conversation_id")?,
        initiator_id,
        group: conversation_type.as_deref() == Some("group"),
        participants,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_seconds: duration.map(i64::from),
    })
}

async fn load_call(
    conn: &mut DbConn,
    call_id: zynk_proto::CallId,
) -> Result<Option<CallRecord>, StoreError> {
    let sql = format!("{CALL_SELECT} WHERE c.id = $1");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(call_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let participants = sqlx::query(
        "SELECT user_id, joined_at, left_at FROM call_participants WHERE call_id = $1",
    )
    .bind(call_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(CallParticipantRecord {
            user_id: r.try_get("user_id")?,
            joined_at: r.try_get("joined_at")?,
            left_at: r.try_get("left_at")?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    call_from_row(&row, participants).map(Some)
}

/// Whole seconds between start and end (never negative).
fn call_duration(call: &CallRecord) -> Option<i64> {
    match (call.started_at, call.ended_at) {
        (Some(s), Some(e)) => Some((e - s).num_seconds().max(0)),
        _ => None,
    }
}

/// Decides the transition; changes `call` in memory and names the event, or refuses.
/// `members` are the conversation's participants now: a participant removed from the group
/// since no longer counts as in the call (nor as a callee who could still answer).
fn apply_call_action(
    call: &mut CallRecord,
    members: &[UserId],
    actor: UserId,
    action: CallAction,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, CallOutcome> {
    use zynk_proto::calls::CallStatus as S;
    let is_initiator = call.initiator_id == Some(actor);
    let group = call.group;
    let status = call.status;
    let Some(index) = call.participants.iter().position(|p| p.user_id == actor) else {
        return Err(CallOutcome::NotFound);
    };
    let illegal = Err(CallOutcome::Illegal(status));
    let present = |p: &CallParticipantRecord| {
        p.joined_at.is_some() && p.left_at.is_none() && members.contains(&p.user_id)
    };
    match (action, status) {
        (CallAction::Ring, S::Initiated) if !is_initiator => {
            call.status = S::Ringing;
            Ok(Some("ringing"))
        }
        (CallAction::Ring, _) => Ok(None),
        (CallAction::Answer, S::Initiated | S::Ringing) => {
            let p = &mut call.participants[index];
            if is_initiator || p.left_at.is_some() {
                return illegal;
            }
            p.joined_at = Some(now);
            call.status = S::InProgress;
            call.started_at = Some(now);
            Ok(Some("answered"))
        }
        (CallAction::Answer, S::InProgress) if group => {
            let p = &mut call.participants[index];
            if present(p) {
                return illegal;
            }
            p.joined_at = Some(now);
            p.left_at = None;
            Ok(Some("joined"))
        }
        (CallAction::Decline, S::Initiated | S::Ringing | S::InProgress) => {
            let p = &mut call.participants[index];
            if is_initiator || p.joined_at.is_some() || p.left_at.is_some() {
                return illegal;
            }
            if status == S::InProgress && !group {
                return illegal;
            }
            p.left_at = Some(now);
            let initiator = call.initiator_id;
            let all_declined = call
                .participants
                .iter()
                .filter(|p| Some(p.user_id) != initiator && members.contains(&p.user_id))
                .all(|p| p.left_at.is_some() && p.joined_at.is_none());
            if status != S::InProgress && all_declined {
                call.status = S::Declined;
                call.ended_at = Some(now);
                for p in &mut call.participants {
                    if p.joined_at.is_some() && p.left_at.is_none() {
                        p.left_at = Some(now);
                    }
                }
            }
            Ok(Some("declined"))
        }
        (CallAction::End, S::Initiated | S::Ringing) => {
            if !is_initiator {
                return illegal;
            }
            call.status = S::Missed;
            call.ended_at = Some(now);
            call.participants[index].left_at = Some(now);
            Ok(Some("missed"))
        }
        (CallAction::End, S::InProgress) => {
            if !present(&call.participants[index]) {
                return illegal;
            }
            call.participants[index].left_at = Some(now);
            let remaining = call.participants.iter().filter(|p| present(p)).count();
            if group && remaining >= 2 {
                return Ok(Some("left"));
            }
            for p in &mut call.participants {
                if p.joined_at.is_some() && p.left_at.is_none() {
                    p.left_at = Some(now);
                }
            }
            call.status = S::Ended;
            call.ended_at = Some(now);
            call.duration_seconds = call_duration(call);
            Ok(Some("ended"))
        }
        _ => illegal,
    }
}

async fn write_call(
    conn: &mut DbConn,
    before: &CallRecord,
    after: &CallRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE calls SET status = $2, started_at = $3, ended_at = $4, duration_seconds = $5 \
         WHERE id = $1",
    )
    .bind(after.id)
    .bind(after.status.as_str())
    .bind(after.started_at)
    .bind(after.ended_at)
    .bind(after.duration_seconds.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
    .execute(&mut *conn)
    .await?;
    for p in &after.participants {
        if before.participants.iter().any(|b| b == p) {
            continue;
        }
        sqlx::query(
            "UPDATE call_participants SET joined_at = $3, left_at = $4 \
             WHERE call_id = $1 AND user_id = $2",
        )
        .bind(after.id)
        .bind(p.user_id)
        .bind(p.joined_at)
        .bind(p.left_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl CallStore for SqlStore {
    async fn create_call(
        &self,
        call: &NewCall,
        now: DateTime<Utc>,
    ) -> Result<CallOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if DIALECT == super::Dialect::Postgres {
            sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
                .bind(call.conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let members: Vec<UserId> = sqlx::query_scalar(
            "SELECT user_id FROM conversation_participants WHERE conversation_id = $1",
        )
        .bind(call.conversation_id)
        .fetch_all(&mut *tx)
        .await?;
        if !members.contains(&call.initiator_id) || members.len() < 2 {
            return Ok(CallOutcome::NotFound);
        }
        let active_sql = format!(
            "SELECT id FROM calls WHERE conversation_id = $1 AND status IN {ACTIVE_STATUSES}"
        );
        let active: Option<zynk_proto::CallId> = sqlx::query_scalar(sqlx::AssertSqlSafe(active_sql))
            .bind(call.conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
        if active.is_some() {
            return Ok(CallOutcome::Active);
        }
        let inserted = sqlx::query(
            "INSERT INTO calls (id, initiator_id, call_type, status, conversation_id, created_at) \
             VALUES ($1, $2, $3, 'initiated', $4, $5)",
        )
        .bind(call.id)
        .bind(call.initiator_id)
        .bind(call.call_type.as_str())
        .bind(call.conversation_id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            if violated_unique(&err).is_some() {
                return Ok(CallOutcome::Active);
            }
            return Err(err.into());
        }
        for member in &members {
            let joined = (*member == call.initiator_id).then_some(now);
            sqlx::query(
                "INSERT INTO call_participants (call_id, user_id, joined_at) VALUES ($1, $2, $3)",
            )
            .bind(call.id)
            .bind(*member)
            .bind(joined)
            .execute(&mut *tx)
            .await?;
        }
        let record = load_call(&mut tx, call.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("calls: the new call is missing".into()))?;
        tx.commit().await?;
        Ok(CallOutcome::Done {
            call: Box::new(record),
            event: "created",
        })
    }

    async fn get_call(
        &self,
        call_id: zynk_proto::CallId,
    ) -> Result<Option<CallRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        load_call(&mut conn, call_id).await
    }

    async fn list_calls(
        &self,
        user_id: UserId,
        before: Option<zynk_proto::CallId>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let ids: Vec<zynk_proto::CallId> = match before {
            Some(before) => {
                sqlx::query_scalar(
                    "SELECT call_id FROM call_participants WHERE user_id = $1 AND call_id < $2 \
                     ORDER BY call_id DESC LIMIT $3",
                )
                .bind(user_id)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT call_id FROM call_participants WHERE user_id = $1 \
                     ORDER BY call_id DESC LIMIT $2",
                )
                .bind(user_id)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let mut calls = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(call) = load_call(&mut conn, id).await? {
                calls.push(call);
            }
        }
        Ok(calls)
    }

    async fn call_action(
        &self,
        call_id: zynk_proto::CallId,
        actor: UserId,
        action: CallAction,
        now: DateTime<Utc>,
    ) -> Result<CallOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if DIALECT == super::Dialect::Postgres {
            sqlx::query("SELECT id FROM calls WHERE id = $1 FOR UPDATE")
                .bind(call_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let Some(before) = load_call(&mut tx, call_id).await? else {
            return Ok(CallOutcome::NotFound);
        };
        let members: Vec<UserId> = match before.conversation_id {
            Some(conversation) => sqlx::query_scalar(
                "SELECT user_id FROM conversation_participants WHERE conversation_id = $1",
            )
            .bind(conversation)
            .fetch_all(&mut *tx)
            .await?,
            None => Vec::new(),
        };
        if !members.contains(&actor) {
            return Ok(CallOutcome::NotFound);
        }
        let mut after = before.clone();
        match apply_call_action(&mut after, &members, actor, action, now) {
            Err(outcome) => Ok(outcome),
            Ok(None) => Ok(CallOutcome::Unchanged(Box::new(before))),
            Ok(Some(event)) => {
                write_call(&mut tx, &before, &after).await?;
                tx.commit().await?;
                Ok(CallOutcome::Done {
                    call: Box::new(after),
                    event,
                })
            }
        }
    }

    async fn calls_awaiting_answer(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let ids: Vec<zynk_proto::CallId> = sqlx::query_scalar(
            "SELECT p.call_id FROM call_participants p JOIN calls c ON c.id = p.call_id \
             WHERE p.user_id = $1 AND p.joined_at IS NULL AND p.left_at IS NULL \
             AND c.status IN ('initiated', 'ringing') \
             AND (c.initiator_id IS NULL OR c.initiator_id <> $1) \
             ORDER BY p.call_id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        let mut calls = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(call) = load_call(&mut conn, id).await? {
                calls.push(call);
            }
        }
        Ok(calls)
    }

    async fn expire_unanswered_calls(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut tx = self.begin().await?;
        // The outer status test is re-checked by PostgreSQL on a row another node changed
        // meanwhile, so each call is returned once.
        let ids: Vec<zynk_proto::CallId> = sqlx::query_scalar(
            "UPDATE calls SET status = 'missed', ended_at = $2 \
             WHERE status IN ('initiated', 'ringing') AND id IN (SELECT id FROM calls \
             WHERE status IN ('initiated', 'ringing') AND created_at < $1 \
             ORDER BY created_at LIMIT $3) RETURNING id",
        )
        .bind(cutoff)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut calls = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query(
                "UPDATE call_participants SET left_at = $2 WHERE call_id = $1 \
                 AND joined_at IS NOT NULL AND left_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(call) = load_call(&mut tx, id).await? {
                calls.push(call);
            }
        }
        tx.commit().await?;
        Ok(calls)
    }
}
