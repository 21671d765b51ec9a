// Blocks and message requests (included into each engine module).

#[async_trait]
impl ContactStore for SqlStore {
    async fn block_user(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let exists: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(blocked)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO user_blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unblock_user(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker)
            .bind(blocked)
            .execute(&self.write)
            .await?
            .rows_affected()
            > 0)
    }

    async fn list_blocks(&self, blocker: UserId) -> Result<Vec<BlockRecord>, StoreError> {
        let rows: Vec<(UserId, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT b.blocked_id, u.username, b.created_at FROM user_blocks b \
             JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = $1 \
             ORDER BY b.created_at DESC, b.blocked_id",
        )
        .bind(blocker)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, username, blocked_at)| BlockRecord { user_id, username, blocked_at })
            .collect())
    }

    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2",
        )
        .bind(blocker)
        .bind(blocked)
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    async fn contact_standing(
        &self,
        user: UserId,
        other: UserId,
    ) -> Result<Option<ContactStanding>, StoreError> {
        let row = sqlx::query(
            "SELECT up.privacy_settings, \
             (SELECT COUNT(*) FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2) \
               AS user_blocks, \
             (SELECT COUNT(*) FROM user_blocks WHERE blocker_id = $2 AND blocked_id = $1) \
               AS other_blocks, \
             (SELECT COUNT(*) FROM group_members a JOIN group_members b \
               ON b.group_id = a.group_id AND b.user_id = $2 WHERE a.user_id = $1) AS groups \
             FROM user_profiles up WHERE up.user_id = $2",
        )
        .bind(user)
        .bind(other)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let privacy: sqlx::types::Json<Privacy> =
            row.try_get("privacy_settings").map_err(|e| corrupt("privacy_settings", e))?;
        let user_blocks: i64 = row.try_get("user_blocks")?;
        let other_blocks: i64 = row.try_get("other_blocks")?;
        let groups: i64 = row.try_get("groups")?;
        let (low, high) = if user < other { (user, other) } else { (other, user) };
        let pair: Vec<(ConversationId, UserId, String)> = sqlx::query_as(
            "SELECT c.id, p.user_id, p.request_state FROM conversations c \
             JOIN conversation_participants p ON p.conversation_id = c.id \
             WHERE c.pair_key = $1",
        )
        .bind(format!("{low}:{high}"))
        .fetch_all(&self.read)
        .await?;
        let state_of = |who: UserId| -> Result<Option<RequestState>, StoreError> {
            pair.iter()
                .find(|(_, u, _)| *u == who)
                .map(|(_, _, s)| {
                    parse_vocabulary(s, "conversation_participants", "request_state")
                })
                .transpose()
        };
        let conversation = match (pair.first(), state_of(user)?, state_of(other)?) {
            (Some((id, _, _)), Some(user_state), Some(other_state)) => {
                Some(PairConversation { id: *id, user_state, other_state })
            }
            _ => None,
        };
        Ok(Some(ContactStanding {
            user_blocks_other: user_blocks > 0,
            other_blocks_user: other_blocks > 0,
            share_group: groups > 0,
            other_who_can_message: privacy.0.who_can_message,
            conversation,
        }))
    }

    async fn open_one_to_one_as(
        &self,
        viewer: UserId,
        other: UserId,
        anchor_expiring: bool,
        other_state: RequestState,
        now: DateTime<Utc>,
    ) -> Result<Option<(ConversationRecord, bool)>, StoreError> {
        self.open_pair(viewer, other, anchor_expiring, other_state, now).await
    }

    async fn list_requests(&self, viewer: UserId) -> Result<Vec<ConversationRecord>, StoreError> {
        self.conversation_views_where(
            viewer,
            None,
            "p.request_state = 'pending' AND c.type = 'one_to_one' AND c.last_seq > 0",
        )
        .await
    }

    async fn set_request_state(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        from: &[RequestState],
        to: RequestState,
        _now: DateTime<Utc>,
    ) -> Result<Option<RequestState>, StoreError> {
        let mut tx = self.begin().await?;
        let lock = match DIALECT {
            super::Dialect::Postgres => {
                "SELECT p.request_state FROM conversation_participants p JOIN conversations c \
                 ON c.id = p.conversation_id WHERE p.conversation_id = $1 AND p.user_id = $2 \
                 AND c.type = 'one_to_one' FOR UPDATE OF p"
            }
            super::Dialect::Sqlite => {
                "SELECT p.request_state FROM conversation_participants p JOIN conversations c \
                 ON c.id = p.conversation_id WHERE p.conversation_id = $1 AND p.user_id = $2 \
                 AND c.type = 'one_to_one'"
            }
        };
        let current: Option<String> = sqlx::query_scalar(lock)
            .bind(conversation_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = current else { return Ok(None) };
        let current: RequestState =
            parse_vocabulary(&current, "conversation_participants", "request_state")?;
        if current != to && from.contains(&current) {
            sqlx::query(
                "UPDATE conversation_participants SET request_state = $3 \
                 WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id)
            .bind(user_id)
            .bind(to.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(current))
    }
}
