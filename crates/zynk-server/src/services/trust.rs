//! Trust scores (data model 11.5). Every change is applied atomically with its history row and a
//! pending `trust_score_update` ledger transaction (sealed into a block within a second), then
//! announced to the user over their WebSocket connections. `docs/trust.md` states the rules:
//!
//! - every identity starts at 50; scores stay within 0–100;
//! - `account_age_milestone`: + `account_age_points` at each configured account age, once;
//! - `message_volume_threshold`: + `message_volume_points` at each configured number of
//!   messages sent, once;
//! - `spam_report`: a user to whom the target sent a message reports them at most once a UTC
//!   day; the penalty is `report_max_penalty` scaled by the reporter's own score (rounded
//!   up), nothing from reporters below `report_min_reporter_score`;
//! - `verified_by_community`: a vouch, once per voucher and target ever, from a user the target
//!   accepted (a 1:1 conversation the target accepted, or a shared group; no block either way);
//!   `vouch_max_points` scaled by the voucher's score, nothing from vouchers below
//!   `vouch_min_voucher_score`;
//! - `manual_adjustment`: an administrator sets a score (`zynkd trust set`).
//!
//! Effects: below `restricted_below` the per-user rate limits shrink to `restricted_percent`,
//! below `severe_below` to `severe_percent` (see [`super::rate_limit`]).

use std::sync::Arc;

use uuid::Uuid;
use zynk_backends::ledger::PendingTx;
use zynk_backends::model::{IdentityRecord, TrustChange, TrustEvidence, TrustOutcome};
use zynk_ledger::Transaction;
use zynk_ledger::ZynkDid;
use zynk_ledger::block::{TrustReason, TrustScore, TrustScoreUpdate};
use zynk_proto::trust::{TrustActionResult, TrustChangeEntry, TrustReport};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{ErrorCode, RequestState, UserId};

use super::auth::AuthContext;
use super::rate_limit::RateLimiter;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// Applies trust score changes.
#[derive(Clone)]
pub struct TrustService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    rate_limits: RateLimiter,
}

/// A change that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    /// Score before.
    pub old_score: u8,
    /// Score after.
    pub new_score: u8,
    /// Its ledger transaction (none when the score did not move).
    pub transaction_hash: Option<String>,
}

fn score_of(identity: &IdentityRecord) -> u8 {
    u8::try_from(identity.trust_score.clamp(0, 100)).unwrap_or(0)
}

/// `max` scaled by `score`/100, rounded up; 0 below `min_score`.
fn weighted(max: u8, score: u8, min_score: u8) -> u8 {
    if score < min_score {
        return 0;
    }
    u8::try_from((u32::from(max) * u32::from(score)).div_ceil(100)).unwrap_or(max)
}

impl TrustService {
    /// The trust service.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>, rate_limits: RateLimiter) -> Self {
        Self {
            context,
            hub,
            rate_limits,
        }
    }

    async fn identity(&self, user_id: UserId) -> Result<IdentityRecord, ApiError> {
        self.context
            .store
            .identity_by_user(user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    /// Applies `next(old score)` to the identity of `user_id`, retrying when a concurrent change
    /// got there first. `Ok(None)` when the evidence was already recorded.
    async fn apply(
        &self,
        user_id: UserId,
        reason: TrustReason,
        changed_by: Option<UserId>,
        evidence: TrustEvidence,
        next: impl Fn(u8) -> u8,
    ) -> Result<Option<AppliedChange>, ApiError> {
        for _ in 0..16 {
            let identity = self.identity(user_id).await?;
            let old = score_of(&identity);
            let new = next(old).min(100);
            let now = zynk_backends::now();
            let tx = if new == old {
                None
            } else {
                let did: ZynkDid = identity
                    .did
                    .parse()
                    .map_err(|_| ApiError::internal(&"stored DID is invalid"))?;
                let tx = Transaction::TrustScoreUpdate(TrustScoreUpdate {
                    did,
                    old_score: trust_score(old),
                    new_score: trust_score(new),
                    reason,
                    changed_at: u64::try_from(now.timestamp_millis()).unwrap_or(0),
                });
                Some(PendingTx {
                    transaction: tx,
                    user_id: Some(user_id),
                    related_entity_id: None,
                })
            };
            let history_id = Uuid::now_v7();
            let change = TrustChange {
                did: identity.did.clone(),
                old_score: i32::from(old),
                new_score: i32::from(new),
                reason: reason.as_str(),
                changed_by,
                history_id,
                evidence: evidence.clone(),
                tx: tx.map(|mut t| {
                    t.related_entity_id = Some(history_id);
                    t
                }),
            };
            match self.context.store.apply_trust_change(&change, now).await? {
                TrustOutcome::Duplicate => return Ok(None),
                TrustOutcome::ScoreChanged => continue,
                TrustOutcome::Applied => {
                    let hash = change.tx.as_ref().map(|t| t.hash().to_string());
                    if let Some(tx) = &change.tx {
                        super::ledger::cache_pending(&self.context, &tx.transaction).await;
                    }
                    if let Some(hash) = &hash {
                        self.rate_limits.forget_score(user_id);
                        metrics::counter!("zynk_trust_changes_total", "reason" => reason.as_str())
                            .increment(1);
                        tracing::info!(%user_id, old, new, reason = reason.as_str(), "trust score changed");
                        let frame = ServerFrame::TrustScoreUpdated {
                            did: identity.did.clone(),
                            old_score: old,
                            new_score: new,
                            reason: reason.as_str().to_owned(),
                            transaction_hash: hash.clone(),
                        };
                        let target = Target::User { user_id };
                        self.hub.publish(&[target], &frame).await;
                    }
                    return Ok(Some(AppliedChange {
                        old_score: old,
                        new_score: new,
                        transaction_hash: hash,
                    }));
                }
            }
        }
        Err(ApiError::internal(&"trust score kept changing; retry"))
    }

    /// A report or vouch by `caller` about `target`: never about oneself, about an existing user,
    /// and (when `needs_message`, for spam reports) only after `target` wrote to `caller`.
    async fn check_peer(
        &self,
        caller: &AuthContext,
        target: UserId,
        needs_message: bool,
    ) -> Result<(), ApiError> {
        if target == caller.user_id {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "you cannot report or vouch for yourself",
            ));
        }
        self.identity(target).await?;
        let store = &self.context.store;
        // A message from the target implies a shared conversation: one query in the usual case.
        if needs_message && store.has_sent_to(target, caller.user_id).await? {
            return Ok(());
        }
        if !store.share_conversation(caller.user_id, target).await? {
            return Err(ApiError::new(
                ErrorCode::NoSharedConversation,
                "you can only report or vouch for users you have a conversation with",
            ));
        }
        if needs_message {
            // Spam is what someone sent you: a conversation opened only to report is not enough.
            return Err(ApiError::new(
                ErrorCode::NoMessageFromUser,
                "you can only report a user who sent you a message",
            ));
        }
        Ok(())
    }

    /// A vouch needs a relationship the target accepted: a 1:1 conversation whose target side is
    /// accepted (a message request the voucher opened alone is not enough) or a shared group,
    /// and no block either way.
    async fn check_accepted(&self, voucher: UserId, target: UserId) -> Result<(), ApiError> {
        let standing = self
            .context
            .store
            .contact_standing(voucher, target)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let accepted = standing.share_group
            || standing
                .conversation
                .is_some_and(|c| c.other_state == RequestState::Accepted);
        if !accepted || standing.user_blocks_other || standing.other_blocks_user {
            return Err(ApiError::new(
                ErrorCode::NoSharedConversation,
                "you can only vouch for users who accepted a conversation with you or share a \
                 group with you",
            ));
        }
        Ok(())
    }

    /// `POST /api/v1/users/{id}/report`.
    pub async fn report(
        &self,
        caller: &AuthContext,
        target: UserId,
        reason: &str,
    ) -> Result<TrustActionResult, ApiError> {
        if reason != "spam" {
            return Err(ApiError::invalid_field("reason", "must be \"spam\""));
        }
        self.check_peer(caller, target, true).await?;
        let reporter = score_of(&self.identity(caller.user_id).await?);
        let config = &self.context.config.trust;
        let penalty = weighted(
            config.report_max_penalty,
            reporter,
            config.report_min_reporter_score,
        );
        let evidence = TrustEvidence::Report {
            reporter: caller.user_id,
            day: zynk_backends::now().date_naive(),
        };
        let applied = self
            .apply(
                target,
                TrustReason::SpamReport,
                Some(caller.user_id),
                evidence,
                |old| old.saturating_sub(penalty),
            )
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::AlreadyReported,
                    "you already reported this user today",
                )
            })?;
        Ok(TrustActionResult {
            user_id: target,
            change: i32::from(applied.new_score) - i32::from(applied.old_score),
        })
    }

    /// `POST /api/v1/users/{id}/vouch`.
    pub async fn vouch(
        &self,
        caller: &AuthContext,
        target: UserId,
    ) -> Result<TrustActionResult, ApiError> {
        self.check_peer(caller, target, false).await?;
        self.check_accepted(caller.user_id, target).await?;
        let voucher = score_of(&self.identity(caller.user_id).await?);
        let config = &self.context.config.trust;
        let gain = weighted(
            config.vouch_max_points,
            voucher,
            config.vouch_min_voucher_score,
        );
        let applied = self
            .apply(
                target,
                TrustReason::VerifiedByCommunity,
                Some(caller.user_id),
                TrustEvidence::Vouch {
                    voucher: caller.user_id,
                },
                |old| old.saturating_add(gain),
            )
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::AlreadyReported,
                    "you already vouched for this user",
                )
            })?;
        Ok(TrustActionResult {
            user_id: target,
            change: i32::from(applied.new_score) - i32::from(applied.old_score),
        })
    }

    /// Sets a score (`manual_adjustment`, administrators only: `zynkd trust set`).
    pub async fn set_score(&self, user_id: UserId, score: u8) -> Result<AppliedChange, ApiError> {
        if score > 100 {
            return Err(ApiError::invalid_field(
                "score",
                "must be between 0 and 100",
            ));
        }
        self.apply(
            user_id,
            TrustReason::ManualAdjustment,
            None,
            TrustEvidence::None,
            |_| score,
        )
        .await?
        .ok_or_else(|| ApiError::internal(&"manual adjustment was not applied"))
    }

    /// `GET /api/v1/users/me/trust`.
    pub async fn report_for(&self, caller: &AuthContext) -> Result<TrustReport, ApiError> {
        let identity = self.identity(caller.user_id).await?;
        let history = self
            .context
            .store
            .trust_history(&identity.did, 100)
            .await?
            .into_iter()
            .map(|h| TrustChangeEntry {
                old_score: u8::try_from(h.old_score).unwrap_or(0),
                new_score: u8::try_from(h.new_score).unwrap_or(0),
                reason: h.reason,
                transaction_hash: h.transaction_hash,
                created_at: h.created_at,
            })
            .collect();
        let score = score_of(&identity);
        Ok(TrustReport {
            did: identity.did,
            trust_score: score,
            rate_limit_percent: self.rate_limits.percent_for_score(score),
            history,
        })
    }

    /// Credits `times` milestones of `reason`, `points` each; returns how many were recorded
    /// (none once the score is at 100: a milestone that changes nothing is not recorded, and is
    /// credited by a later run once the score is below 100).
    async fn credit(
        &self,
        user_id: UserId,
        reason: TrustReason,
        points: u8,
        times: usize,
    ) -> Result<usize, ApiError> {
        let mut credited = 0;
        for _ in 0..times {
            let applied = self
                .apply(user_id, reason, None, TrustEvidence::None, |old| {
                    old.saturating_add(points)
                })
                .await?;
            if applied.is_none_or(|c| c.transaction_hash.is_none()) {
                break;
            }
            credited += 1;
        }
        Ok(credited)
    }

    /// Credits account-age and message-volume milestones reached since the last run; returns
    /// how many changes it made. Idempotent: a milestone counts once (the history says which
    /// were credited), also when two nodes run it at once (changes are compare-and-set).
    pub async fn run_milestones(&self) -> Result<usize, ApiError> {
        let config = self.context.config.trust.clone();
        let mut after: Option<String> = None;
        let mut changes = 0;
        loop {
            let page = self
                .context
                .store
                .trust_standings(after.as_deref(), 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.identity.did.clone());
            let now = zynk_backends::now();
            for standing in &page {
                let user_id = standing.identity.user_id;
                let age_days = (now - standing.identity.account_created_at)
                    .num_days()
                    .max(0);
                let reached = config
                    .account_age_days
                    .iter()
                    .filter(|d| i64::from(**d) <= age_days)
                    .count() as i64;
                let missing =
                    usize::try_from((reached - standing.age_milestones).max(0)).unwrap_or(0);
                changes += self
                    .credit(
                        user_id,
                        TrustReason::AccountAgeMilestone,
                        config.account_age_points,
                        missing,
                    )
                    .await?;
                let done = usize::try_from(standing.volume_milestones).unwrap_or(usize::MAX);
                if let Some(next) = config.message_volumes.get(done) {
                    let sent = self.context.store.messages_sent(user_id, *next).await?;
                    let reached = config
                        .message_volumes
                        .iter()
                        .filter(|v| **v <= sent)
                        .count();
                    changes += self
                        .credit(
                            user_id,
                            TrustReason::MessageVolumeThreshold,
                            config.message_volume_points,
                            reached.saturating_sub(done),
                        )
                        .await?;
                }
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(changes)
    }
}

/// A score clamped to 0–100.
fn trust_score(value: u8) -> TrustScore {
    TrustScore::new(value.min(100)).expect("a value of at most 100 is a valid score")
}

#[cfg(test)]
mod tests {
    use super::weighted;

    #[test]
    fn weights_scale_with_the_actor_score_and_stop_below_the_floor() {
        assert_eq!(weighted(10, 100, 20), 10);
        assert_eq!(weighted(10, 50, 20), 5);
        assert_eq!(weighted(10, 21, 20), 3);
        assert_eq!(weighted(10, 19, 20), 0);
        assert_eq!(weighted(5, 1, 0), 1);
        assert_eq!(weighted(5, 0, 0), 0);
    }
}
