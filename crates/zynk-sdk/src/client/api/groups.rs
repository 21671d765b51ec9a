//! Groups and calls routes of [`ApiClient`].

use reqwest::Method;
use zynk_proto::ids::UserId;

use super::{ApiClient, Auth};
use crate::client::error::ClientError;

impl ApiClient {
    /// `POST /groups`.
    pub async fn create_group(
        &mut self,
        request: &zynk_proto::groups::CreateGroupRequest,
    ) -> Result<zynk_proto::groups::Group, ClientError> {
        self.post("/groups", request).await
    }

    /// `POST /calls`: starts a call in a conversation.
    pub async fn create_call(
        &mut self,
        request: &zynk_proto::calls::CreateCallRequest,
    ) -> Result<zynk_proto::calls::Call, ClientError> {
        self.post("/calls", request).await
    }

    /// `GET /calls/{id}`.
    pub async fn call(
        &mut self,
        id: zynk_proto::CallId,
    ) -> Result<zynk_proto::calls::Call, ClientError> {
        self.get(&format!("/calls/{id}")).await
    }

    /// `POST /calls/{id}/answer`, `/decline` or `/end` (`action`).
    pub async fn call_action(
        &mut self,
        id: zynk_proto::CallId,
        action: &str,
    ) -> Result<zynk_proto::calls::Call, ClientError> {
        self.post(&format!("/calls/{id}/{action}"), &serde_json::json!({}))
            .await
    }

    /// `GET /calls`: one page of this user's calls, newest first.
    pub async fn calls(
        &mut self,
        before: Option<zynk_proto::CallId>,
        limit: u32,
    ) -> Result<zynk_proto::calls::CallPage, ClientError> {
        let path = match before {
            Some(before) => format!("/calls?limit={limit}&before={before}"),
            None => format!("/calls?limit={limit}"),
        };
        self.get(&path).await
    }

    /// `GET /turn`: TURN credentials.
    pub async fn turn(&mut self) -> Result<zynk_proto::calls::TurnCredentials, ClientError> {
        self.get("/turn").await
    }

    /// `GET /groups`: this user's groups.
    pub async fn groups(&mut self) -> Result<Vec<zynk_proto::groups::Group>, ClientError> {
        self.get("/groups").await
    }

    /// `GET /groups/{id}`.
    pub async fn group(
        &mut self,
        id: zynk_proto::GroupId,
    ) -> Result<zynk_proto::groups::Group, ClientError> {
        self.get(&format!("/groups/{id}")).await
    }

    /// `PATCH /groups/{id}`.
    pub async fn update_group(
        &mut self,
        id: zynk_proto::GroupId,
        request: &zynk_proto::groups::UpdateGroupRequest,
    ) -> Result<zynk_proto::groups::Group, ClientError> {
        self.json(
            Method::PATCH,
            &format!("/groups/{id}"),
            Some(request),
            Auth::Bearer,
        )
        .await
    }

    /// `POST /groups/{id}/members`.
    pub async fn add_group_member(
        &mut self,
        id: zynk_proto::GroupId,
        user_id: UserId,
    ) -> Result<zynk_proto::groups::Group, ClientError> {
        let request = zynk_proto::groups::AddMemberRequest { user_id };
        self.post(&format!("/groups/{id}/members"), &request).await
    }

    /// `DELETE /groups/{id}/members/{user_id}`.
    pub async fn remove_group_member(
        &mut self,
        id: zynk_proto::GroupId,
        user_id: UserId,
    ) -> Result<(), ClientError> {
        self.request(
            Method::DELETE,
            &format!("/groups/{id}/members/{user_id}"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
        .map(drop)
    }

    /// `POST /groups/{id}/members/{user_id}/promote` (or `/demote`).
    pub async fn set_group_admin(
        &mut self,
        id: zynk_proto::GroupId,
        user_id: UserId,
        admin: bool,
    ) -> Result<zynk_proto::groups::Group, ClientError> {
        let action = if admin { "promote" } else { "demote" };
        self.json(
            Method::POST,
            &format!("/groups/{id}/members/{user_id}/{action}"),
            None::<&()>,
            Auth::Bearer,
        )
        .await
    }

    /// `POST /groups/{id}/leave`.
    pub async fn leave_group(&mut self, id: zynk_proto::GroupId) -> Result<(), ClientError> {
        self.post_empty(&format!("/groups/{id}/leave"), None::<&()>)
            .await
    }
}
