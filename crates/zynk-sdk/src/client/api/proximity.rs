//! Proximity discovery routes of [`ApiClient`].

use reqwest::Method;
use zynk_proto::proximity::{NearbyUser, SetLocationRequest};

use super::{ApiClient, Auth};
use crate::client::error::ClientError;

impl ApiClient {
    /// `PUT /location`: shares this user's position for five minutes (the server keeps only
    /// its grid cell).
    pub async fn set_location(&mut self, latitude: f64, longitude: f64) -> Result<(), ClientError> {
        let body = SetLocationRequest {
            latitude,
            longitude,
        };
        self.request(Method::PUT, "/location", Some(&body), Auth::Bearer)
            .await
            .map(drop)
    }

    /// `DELETE /location`: stops sharing.
    pub async fn clear_location(&mut self) -> Result<(), ClientError> {
        self.request(Method::DELETE, "/location", None::<&()>, Auth::Bearer)
            .await
            .map(drop)
    }

    /// `GET /nearby`: users near this user's own shared cell, as distance buckets.
    pub async fn nearby(&mut self) -> Result<Vec<NearbyUser>, ClientError> {
        self.get("/nearby").await
    }
}
