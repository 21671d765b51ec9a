//! Proximity discovery: `PUT`/`DELETE /api/v1/location` and `GET /api/v1/nearby`.
//!
//! Positions are snapped by the server to a coarse grid before they are kept (only in the
//! ephemeral store, for five minutes); other users learn only a distance bucket, never metres.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// `PUT /api/v1/location`: the caller's position, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetLocationRequest {
    /// Latitude, -85.05112878 to 85.05112878 (the range of Web Mercator and Redis GEO).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = -85.05112878, maximum = 85.05112878)
    )]
    pub latitude: f64,
    /// Longitude, -180 to 180.
    #[cfg_attr(feature = "openapi", schema(minimum = -180.0, maximum = 180.0))]
    pub longitude: f64,
}

/// How far a nearby user is: one of three coarse buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DistanceBucket {
    /// The same grid cell (under 1 km).
    #[serde(rename = "<1km")]
    UnderOneKm,
    /// 1 to 5 km.
    #[serde(rename = "1-5km")]
    OneToFiveKm,
    /// 5 to 20 km.
    #[serde(rename = "5-20km")]
    FiveToTwentyKm,
}

impl DistanceBucket {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnderOneKm => "<1km",
            Self::OneToFiveKm => "1-5km",
            Self::FiveToTwentyKm => "5-20km",
        }
    }

    /// The bucket of a distance in metres (rounded to whole metres first), `None` past 20 km.
    pub fn of_metres(metres: f64) -> Option<Self> {
        let metres = metres.round();
        if metres < 1_000.0 {
            Some(Self::UnderOneKm)
        } else if metres < 5_000.0 {
            Some(Self::OneToFiveKm)
        } else if metres <= 20_000.0 {
            Some(Self::FiveToTwentyKm)
        } else {
            None
        }
    }
}

/// One entry of `GET /api/v1/nearby`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NearbyUser {
    /// The user.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// How far they are, as a bucket.
    pub distance: DistanceBucket,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_have_their_wire_names_and_edges() {
        for (metres, bucket) in [
            (0.0, Some(DistanceBucket::UnderOneKm)),
            (999.4, Some(DistanceBucket::UnderOneKm)),
            (999.6, Some(DistanceBucket::OneToFiveKm)),
            (4_999.0, Some(DistanceBucket::OneToFiveKm)),
            (5_000.0, Some(DistanceBucket::FiveToTwentyKm)),
            (20_000.0, Some(DistanceBucket::FiveToTwentyKm)),
            (20_001.0, None),
        ] {
            assert_eq!(DistanceBucket::of_metres(metres), bucket, "{metres}");
        }
        for bucket in [
            DistanceBucket::UnderOneKm,
            DistanceBucket::OneToFiveKm,
            DistanceBucket::FiveToTwentyKm,
        ] {
            let json = serde_json::to_string(&bucket).unwrap();
            assert_eq!(json, format!("\"{}\"", bucket.as_str()));
            assert_eq!(
                serde_json::from_str::<DistanceBucket>(&json).unwrap(),
                bucket
            );
        }
    }
}
