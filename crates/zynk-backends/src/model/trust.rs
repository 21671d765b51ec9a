//! Ledger identities, trust scores, credentials and key rotations.

use super::*;

/// A user's ledger identity (data model 11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// `did:zynk:<user id>`.
    pub did: String,
    /// The user.
    pub user_id: UserId,
    /// Identity key, base64.
    pub public_key: String,
    /// Trust score, 0–100.
    pub trust_score: i32,
    /// Whether the registration is in a block.
    pub is_verified: bool,
    /// Hash of the transaction that registered the current key.
    pub transaction_hash: Option<String>,
    /// Block holding it.
    pub block_number: Option<i64>,
    /// When the account was created.
    pub account_created_at: DateTime<Utc>,
}

/// What justifies a trust change, recorded with it so that it counts once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustEvidence {
    /// Milestones and administrator changes.
    None,
    /// A spam report (one per reporter, target and UTC day).
    Report {
        /// Who reported.
        reporter: UserId,
        /// The UTC day.
        day: chrono::NaiveDate,
    },
    /// A vouch (one per voucher and target).
    Vouch {
        /// Who vouched.
        voucher: UserId,
    },
}

/// One trust score change, applied atomically with its history row and ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustChange {
    /// Whose score.
    pub did: String,
    /// The score the change starts from (compare-and-set).
    pub old_score: i32,
    /// The new score; equal to `old_score` records only the evidence.
    pub new_score: i32,
    /// Data model 11.5 change reason.
    pub reason: &'static str,
    /// Who caused it.
    pub changed_by: Option<UserId>,
    /// The history row's id.
    pub history_id: Uuid,
    /// Reporter or voucher.
    pub evidence: TrustEvidence,
    /// The `trust_score_update` transaction (absent when the score does not change).
    pub tx: Option<PendingTx>,
}

/// How [`crate::store::TrustStore::apply_trust_change`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustOutcome {
    /// Written.
    Applied,
    /// The score is no longer `old_score`; nothing written (read again and retry).
    ScoreChanged,
    /// The same report or vouch exists; nothing written.
    Duplicate,
}

/// A row of `trust_score_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustHistoryRecord {
    /// Row id.
    pub id: Uuid,
    /// Score before.
    pub old_score: i32,
    /// Score after.
    pub new_score: i32,
    /// Change reason.
    pub reason: String,
    /// Ledger transaction.
    pub transaction_hash: Option<String>,
    /// Who caused it.
    pub changed_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What the milestone job needs to know about one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStanding {
    /// The identity.
    pub identity: IdentityRecord,
    /// Account-age milestones already credited.
    pub age_milestones: i64,
    /// Message-volume milestones already credited.
    pub volume_milestones: i64,
    /// Trust changes recorded so far.
    pub changes: i64,
}

/// An issued verifiable credential (the JWT itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Credential id (the JWT's `jti` is `urn:uuid:<id>`).
    pub id: Uuid,
    /// Subject.
    pub user_id: UserId,
    /// Subject DID.
    pub subject_did: String,
    /// Issuer DID.
    pub issuer_did: String,
    /// Credential type.
    pub credential_type: String,
    /// Its `credential_issuance` transaction.
    pub transaction_hash: String,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
}

/// A new identity key for an existing identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The user.
    pub user_id: UserId,
    /// Their DID.
    pub did: String,
    /// The key the rotation replaces (compare-and-set).
    pub old_public_key: String,
    /// The new key, base64.
    pub new_public_key: String,
    /// The `identity_registration` transaction recording it.
    pub tx: PendingTx,
}
