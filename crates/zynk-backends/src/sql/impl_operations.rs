// Shared by the engine modules of `sql/mod.rs` (included, so no module docs here).

/// Events per INSERT statement (4 parameters each, well under both engines' limits).
const EVENT_CHUNK: usize = 500;

fn parse_day(text: &str, what: &str) -> Result<chrono::NaiveDate, StoreError> {
    chrono::NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d")
        .map_err(|e| corrupt(what, e))
}

fn day_start(day: chrono::NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The day column bound as the engine stores it (`DATE` on PostgreSQL, `YYYY-MM-DD` text on
/// SQLite): both take a `YYYY-MM-DD` string cast where needed.
fn day_param() -> &'static str {
    match DIALECT {
        super::Dialect::Sqlite => "$1",
        super::Dialect::Postgres => "CAST($1 AS DATE)",
    }
}

fn day_text_sql() -> &'static str {
    match DIALECT {
        super::Dialect::Sqlite => "day",
        super::Dialect::Postgres => "to_char(day, 'YYYY-MM-DD')",
    }
}

fn daily_rows(rows: Vec<(String, String, i64)>) -> Result<Vec<DailyCount>, StoreError> {
    rows.into_iter()
        .map(|(day, event_type, count)| {
            Ok(DailyCount { day: parse_day(&day, "daily aggregates.day")?, event_type, count })
        })
        .collect()
}

fn job_run_from_row(row: &DbRow) -> Result<JobRunRecord, StoreError> {
    Ok(JobRunRecord {
        job: row.try_get("job")?,
        node: row.try_get("node")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        runs: row.try_get("runs")?,
        failures: row.try_get("failures")?,
    })
}

#[async_trait]
impl OperationsStore for SqlStore {
    async fn record_events(&self, events: &[AnalyticsEvent]) -> Result<u64, StoreError> {
        let mut written = 0;
        for chunk in events.chunks(EVENT_CHUNK) {
            let (head, tail) = match DIALECT {
                super::Dialect::Sqlite => (
                    "INSERT INTO message_events (time, user_id, event_type, metadata) \
                     SELECT column1, column2, column3, column4 FROM (",
                    ") WHERE column2 IN (SELECT id FROM users)",
                ),
                super::Dialect::Postgres => (
                    "INSERT INTO message_events (time, user_id, event_type, metadata) \
                     SELECT v.t, v.u, v.e, v.m FROM (",
                    ") AS v(t, u, e, m) WHERE EXISTS (SELECT 1 FROM users WHERE users.id = v.u)",
                ),
            };
            let mut insert = sqlx::QueryBuilder::<Db>::new(head);
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.time)
                    .push_bind(e.user_id)
                    .push_bind(e.event_type)
                    .push_bind(e.metadata.clone().map(sqlx::types::Json));
            });
            insert.push(tail);
            written += insert.build().execute(&self.write).await?.rows_affected();
        }
        Ok(written)
    }

    async fn rollup_analytics(&self) -> Result<Option<chrono::NaiveDate>, StoreError> {
        // The counting reads run on the read pool; only the replacement of the recounted days
        // takes the writer (SQLite's single writer is not held while events are scanned).
        let latest: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX({}) FROM daily_event_totals",
            day_text_sql()
        )))
        .fetch_one(&self.read)
        .await?;
        let from = match latest {
            // The latest aggregated day may have been partial: it is counted again.
            Some(day) => parse_day(&day, "daily_event_totals.day")?,
            None => {
                let first: Option<String> = sqlx::query_scalar(match DIALECT {
                    super::Dialect::Sqlite => "SELECT MIN(time) FROM message_events",
                    super::Dialect::Postgres => {
                        "SELECT to_char(MIN(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM message_events"
                    }
                })
                .fetch_one(&self.read)
                .await?;
                match first {
                    Some(day) => parse_day(&day, "message_events.time")?,
                    None => return Ok(None),
                }
            }
        };
        let day = match DIALECT {
            super::Dialect::Sqlite => "substr(time, 1, 10)",
            super::Dialect::Postgres => "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        };
        let totals: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {day}, event_type, COUNT(*) FROM message_events WHERE time >= $1 \
             GROUP BY {day}, event_type"
        )))
        .bind(day_start(from))
        .fetch_all(&self.read)
        .await?;
        let per_user: Vec<(String, UserId, String, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {day}, user_id, event_type, COUNT(*) FROM message_events \
                 WHERE time >= $1 GROUP BY {day}, user_id, event_type"
            )))
            .bind(day_start(from))
            .fetch_all(&self.read)
            .await?;
        let from_text = from.format("%Y-%m-%d").to_string();
        let day_value = match DIALECT {
            super::Dialect::Sqlite => "",
            super::Dialect::Postgres => "::date",
        };
        let mut tx = self.begin().await?;
        for table in ["daily_event_totals", "daily_message_stats"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE day >= {}",
                day_param()
            )))
            .bind(&from_text)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in totals.chunks(EVENT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO daily_event_totals (day, event_type, count) ",
            );
            insert.push_values(chunk, |mut row, (day, event_type, count)| {
                row.push_bind(day.clone())
                    .push_unseparated(day_value)
                    .push_bind(event_type.clone())
                    .push_bind(*count);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in per_user.chunks(EVENT_CHUNK) {
            // A user deleted since the count goes with their events: skipped.
            let (head, tail) = match DIALECT {
                super::Dialect::Sqlite => (
                    "INSERT INTO daily_message_stats (day, user_id, event_type, count) \
                     SELECT column1, column2, column3, column4 FROM (",
                    ") WHERE column2 IN (SELECT id FROM users)",
                ),
                super::Dialect::Postgres => (
                    "INSERT INTO daily_message_stats (day, user_id, event_type, count) \
                     SELECT v.d::date, v.u, v.e, v.c FROM (",
                    ") AS v(d, u, e, c) WHERE EXISTS (SELECT 1 FROM users WHERE users.id = v.u)",
                ),
            };
            let mut insert = sqlx::QueryBuilder::<Db>::new(head);
            insert.push_values(chunk, |mut row, (day, user, event_type, count)| {
                row.push_bind(day.clone())
                    .push_bind(*user)
                    .push_bind(event_type.clone())
                    .push_bind(*count);
            });
            insert.push(tail);
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let latest = totals
            .iter()
            .map(|(day, _, _)| parse_day(day, "message_events.time"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max();
        Ok(latest.or(Some(from)))
    }

    async fn purge_events_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        match DIALECT {
            super::Dialect::Postgres => {
                let dropped: i32 = sqlx::query_scalar("SELECT zynk_drop_event_partitions($1)")
                    .bind(cutoff)
                    .fetch_one(&self.write)
                    .await?;
                let deleted = sqlx::query("DELETE FROM message_events WHERE time < $1")
                    .bind(cutoff)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(deleted + u64::try_from(dropped).unwrap_or(0))
            }
            super::Dialect::Sqlite => {
                // In slices, so the single writer is never held for long.
                let mut total = 0;
                loop {
                    let n = sqlx::query(
                        "DELETE FROM message_events WHERE rowid IN (SELECT rowid FROM \
                         message_events WHERE time < $1 LIMIT 5000)",
                    )
                    .bind(cutoff)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                    total += n;
                    if n < 5000 {
                        return Ok(total);
                    }
                }
            }
        }
    }

    async fn daily_totals(&self, since: chrono::NaiveDate) -> Result<Vec<DailyCount>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {}, event_type, count FROM daily_event_totals WHERE day >= {} \
             ORDER BY day, event_type",
            day_text_sql(),
            day_param()
        )))
        .bind(since.format("%Y-%m-%d").to_string())
        .fetch_all(&self.read)
        .await?;
        daily_rows(rows)
    }

    async fn user_daily_counts(
        &self,
        user_id: UserId,
        since: chrono::NaiveDate,
    ) -> Result<Vec<DailyCount>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {}, event_type, count FROM daily_message_stats WHERE day >= {} \
             AND user_id = $2 ORDER BY day, event_type",
            day_text_sql(),
            day_param()
        )))
        .bind(since.format("%Y-%m-%d").to_string())
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        daily_rows(rows)
    }

    async fn purge_undelivered_messages(
        &self,
        cutoff: DateTime<Utc>,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<UndeliveredMessage>, StoreError> {
        // Candidates in id order; membership records of groups stay (they are the group's
        // history, not something a sender sent).
        let rows: Vec<(MessageId, ConversationId, UserId)> = sqlx::query_as(
            "DELETE FROM message_refs WHERE id IN (SELECT r.id FROM message_refs r \
             WHERE r.created_at < $1 AND r.id > $2 \
             AND NOT EXISTS (SELECT 1 FROM conversation_participants p \
                 WHERE p.conversation_id = r.conversation_id AND p.user_id <> r.sender_id \
                 AND p.last_delivered_seq >= r.seq) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = r.id \
                 AND m.message_type = 'membership') \
             ORDER BY r.id LIMIT $3) RETURNING id, conversation_id, sender_id",
        )
        .bind(cutoff)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        let mut gone: Vec<UndeliveredMessage> = rows
            .into_iter()
            .map(|(message_id, conversation_id, sender_id)| UndeliveredMessage {
                conversation_id,
                message_id,
                sender_id,
            })
            .collect();
        gone.sort_by_key(|m| m.message_id);
        Ok(gone)
    }

    async fn try_lock_job(
        &self,
        job: &str,
    ) -> Result<Option<crate::job_lock::JobLock>, StoreError> {
        self.locks.try_lock(job).await
    }

    async fn job_last_started(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT started_at FROM job_runs WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn record_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        let duration_ms = (run.finished_at - run.started_at).num_milliseconds().max(0);
        sqlx::query(
            "INSERT INTO job_runs (job, node, started_at, finished_at, duration_ms, outcome, \
             detail, runs, failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (job) DO UPDATE SET node = excluded.node, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             duration_ms = excluded.duration_ms, outcome = excluded.outcome, \
             detail = excluded.detail, runs = job_runs.runs + excluded.runs, \
             failures = job_runs.failures + excluded.failures",
        )
        .bind(&run.job)
        .bind(&run.node)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(duration_ms)
        .bind(run.outcome.as_str())
        .bind(&run.detail)
        .bind(run.runs)
        .bind(run.failures)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn job_runs(&self) -> Result<Vec<JobRunRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT job, node, started_at, finished_at, duration_ms, outcome, detail, runs, \
             failures FROM job_runs ORDER BY job",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(job_run_from_row).collect()
    }
}
