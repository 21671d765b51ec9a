//! Blocking and message-request routes of [`ApiClient`].

use reqwest::Method;
use zynk_proto::ids::{ConversationId, UserId};

use super::{ApiClient, Auth};
use crate::client::error::ClientError;
use zynk_proto::conversations::Conversation;

impl ApiClient {
    /// `PUT /users/{id}/block`.
    pub async fn block_user(&mut self, user_id: UserId) -> Result<(), ClientError> {
        self.request(
            Method::PUT,
            &format!("/users/{user_id}/block"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `DELETE /users/{id}/block`.
    pub async fn unblock_user(&mut self, user_id: UserId) -> Result<(), ClientError> {
        self.request(
            Method::DELETE,
            &format!("/users/{user_id}/block"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `GET /blocks`: the users the caller blocked.
    pub async fn blocks(&mut self) -> Result<Vec<zynk_proto::contacts::BlockedUser>, ClientError> {
        self.get("/blocks").await
    }

    /// `GET /requests`: the caller's message requests.
    pub async fn requests(&mut self) -> Result<Vec<Conversation>, ClientError> {
        self.get("/requests").await
    }

    /// `POST /conversations/{id}/accept`.
    pub async fn accept_request(
        &mut self,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ClientError> {
        self.json(
            Method::POST,
            &format!("/conversations/{conversation_id}/accept"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
    }

    /// `POST /conversations/{id}/decline`.
    pub async fn decline_request(
        &mut self,
        conversation_id: ConversationId,
    ) -> Result<(), ClientError> {
        self.post_empty(
            &format!("/conversations/{conversation_id}/decline"),
            None::<&()>,
        )
        .await
    }
}
