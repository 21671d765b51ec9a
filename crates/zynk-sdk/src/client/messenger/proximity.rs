//! Proximity discovery for [`Messenger`]: share a position for five minutes, list the users
//! near it as distance buckets (`<1km`, `1-5km`, `5-20km`), stop sharing. The server snaps the
//! position to a grid cell (1 km by default) before keeping it, never stores it in its
//! database, and tells others only a bucket; moving the shared position to another cell is
//! rate-limited. Only users with `allow_proximity_discovery` on may share or search.

use zynk_proto::proximity::NearbyUser;

use super::Messenger;
use crate::client::error::ClientError;

impl Messenger {
    /// Shares this user's position (degrees) for five minutes; share again to stay visible.
    pub async fn share_location(
        &mut self,
        latitude: f64,
        longitude: f64,
    ) -> Result<(), ClientError> {
        if !(-85.051_128_78..=85.051_128_78).contains(&latitude) {
            return Err(ClientError::Invalid(
                "latitude must be between -85.05112878 and 85.05112878".into(),
            ));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(ClientError::Invalid(
                "longitude must be between -180 and 180".into(),
            ));
        }
        self.api.set_location(latitude, longitude).await
    }

    /// Stops sharing this user's position: it disappears from others' searches at once.
    pub async fn clear_location(&mut self) -> Result<(), ClientError> {
        self.api.clear_location().await
    }

    /// Users who share their position near this user's own shared one (share first).
    pub async fn nearby(&mut self) -> Result<Vec<NearbyUser>, ClientError> {
        self.api.nearby().await
    }
}
