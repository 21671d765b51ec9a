//! Trust scores and credentials for [`Messenger`]: the user's own score and
//! its history, spam reports and vouches for contacts (by username), score
//! changes announced over the WebSocket, and verified-identity credentials.

use serde::Serialize;
use zynk_proto::ids::UserId;
use zynk_proto::trust::{CredentialResponse, TrustReport};

use super::Messenger;
use crate::client::error::ClientError;
use crate::crypto::TrustLevel;

/// What a report or vouch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAction {
    /// The contact's username.
    pub username: String,
    /// The contact's user id.
    pub user_id: UserId,
    /// The change of the contact's score it caused (0 when the caller's own
    /// score gives it no weight).
    pub change: i32,
    /// The contact's trust level on this device (whether their safety
    /// number was compared here), `None` when this device never fetched
    /// their keys.
    pub level: Option<TrustLevel>,
}

/// A change of this account's trust score, announced by the server over the
/// WebSocket (`trust_score_updated`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustScoreChange {
    /// The account's DID (`did:zynk:<user id>`).
    pub did: String,
    /// Score before.
    pub old_score: u8,
    /// Score after.
    pub new_score: u8,
    /// Why: `spam_report`, `verified_by_community`, `account_age_milestone`,
    /// `message_volume_threshold` or `manual_adjustment`.
    pub reason: String,
    /// The `trust_score_update` ledger transaction.
    pub transaction_hash: String,
}

impl TrustScoreChange {
    /// One line for people: `trust score 50 -> 45 (spam_report)`.
    pub fn to_display_line(&self) -> String {
        format!(
            "trust score {} -> {} ({})",
            self.old_score, self.new_score, self.reason
        )
    }

    /// One JSON object: the fields plus `"type": "trust_score_updated"`.
    pub fn to_json_line(&self) -> String {
        serde_json::json!({
            "type": "trust_score_updated",
            "did": self.did,
            "old_score": self.old_score,
            "new_score": self.new_score,
            "reason": self.reason,
            "transaction_hash": self.transaction_hash,
        })
        .to_string()
    }
}

/// The only report reason the server accepts.
const SPAM: &str = "spam";

impl Messenger {
    /// This account's trust score, the share of the per-user rate limits it
    /// gives, and its history, newest first (`GET /api/v1/users/me/trust`).
    pub async fn trust_report(&mut self) -> Result<TrustReport, ClientError> {
        self.api.my_trust().await
    }

    /// Report `username` for spam. The server takes one report per reporter,
    /// contact and UTC day, only from someone who shares a conversation with
    /// the contact (`already_reported`, `no_shared_conversation`).
    pub async fn report_spam(&mut self, username: &str) -> Result<TrustAction, ClientError> {
        let user_id = self.contact(username).await?;
        let result = self.api.report_user(user_id, SPAM).await?;
        self.trust_action(user_id, result.change).await
    }

    /// Vouch for `username` (meant for contacts whose safety number you
    /// compared, see [`Self::verify`]; this does not check it). The server
    /// takes one vouch per voucher and contact ever, only from someone who
    /// shares a conversation with the contact.
    pub async fn vouch(&mut self, username: &str) -> Result<TrustAction, ClientError> {
        let user_id = self.contact(username).await?;
        let result = self.api.vouch_user(user_id).await?;
        self.trust_action(user_id, result.change).await
    }

    /// A verified-identity W3C Verifiable Credential (VC-JWT) for this
    /// account's `did:zynk`, signed by the server (`POST /api/v1/credentials`).
    pub async fn issue_credential(&mut self) -> Result<CredentialResponse, ClientError> {
        self.api.issue_credential().await
    }

    /// The user id of `username`, who must be someone else.
    async fn contact(&mut self, username: &str) -> Result<UserId, ClientError> {
        let profile = self.lookup_user(username).await?;
        if profile.user_id == self.user_id()? {
            return Err(ClientError::Invalid(
                "you cannot report or vouch for yourself".into(),
            ));
        }
        Ok(profile.user_id)
    }

    async fn trust_action(
        &mut self,
        user_id: UserId,
        change: i32,
    ) -> Result<TrustAction, ClientError> {
        Ok(TrustAction {
            username: self.username_of(user_id).await,
            user_id,
            change,
            level: self.machine.trust_level(&user_id.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_changes_have_a_line_and_a_typed_json_form() {
        let change = TrustScoreChange {
            did: "did:zynk:01a21cc7-733f-771b-bec7-e50030248475".into(),
            old_score: 50,
            new_score: 45,
            reason: "spam_report".into(),
            transaction_hash: "0xab".into(),
        };
        assert_eq!(
            change.to_display_line(),
            "trust score 50 -> 45 (spam_report)"
        );
        let json: serde_json::Value = serde_json::from_str(&change.to_json_line()).unwrap();
        assert_eq!(json["type"], "trust_score_updated");
        assert_eq!(json["old_score"], 50);
        assert_eq!(json["new_score"], 45);
        assert_eq!(json["reason"], "spam_report");
        assert_eq!(json["did"], change.did);
        assert_eq!(json["transaction_hash"], "0xab");
    }
}
