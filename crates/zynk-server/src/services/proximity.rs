//! Proximity discovery, safe by design: who is near, never where.
//!
//! The rules, in one place:
//!
//! * A shared position is snapped to the centre of a grid cell (`proximity.grid_metres`, 1 km
//!   by default) before it is kept, and it is kept only in the ephemeral store (Redis GEO
//!   `locations` with a per-member timestamp on the scale engine, in process on the embedded
//!   one) for five minutes: nothing about a location reaches the database or the logs, and the
//!   exact position is forgotten as soon as the request is answered.
//! * A user appears to others only while `allow_proximity_discovery` is on and their position
//!   is fresh (shared within five minutes). Sharing is refused while the setting is off, so
//!   nobody searches while hidden, and searching needs a fresh shared position of one's own:
//!   the search centre is the caller's own cell, never a point given with the search.
//! * Distances are computed between cell centres and answered as a bucket (`<1km`, `1-5km`,
//!   `5-20km`); the list is ordered by bucket, then username, so the order leaks nothing finer.
//!   What the server answers is a function of the two cells only: moving one's own point
//!   around cannot locate anyone more finely than their cell.
//! * Moving one's point to another cell is limited (`proximity.moves_per_window` per
//!   `proximity.move_window_secs`; clearing and sharing again counts as a move too), which
//!   slows down walking the grid to find a target's cell.
//! * Users who block each other (either way) never see each other.

use std::sync::Arc;
use std::time::Duration;

use zynk_backends::ephemeral::{GeoPoint, haversine_m};
use zynk_proto::proximity::{DistanceBucket, NearbyUser, SetLocationRequest};
use zynk_proto::{ErrorCode, UserId};

use super::auth::AuthContext;
use super::contacts::either_blocks;
use super::rate_limit::RateLimiter;
use crate::context::Context;
use crate::error::ApiError;

/// The largest latitude Redis GEO (Web Mercator) can index.
pub const MAX_LATITUDE: f64 = 85.051_128_78;
/// The Earth radius of [`haversine_m`] (Redis' own).
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
/// Farthest bucket edge.
const SEARCH_RADIUS_M: f64 = 20_000.0;
/// Candidates read from the ephemeral store per search, before privacy and blocks filter them.
const CANDIDATES: usize = 1000;

/// One cell of the grid: a row of latitude and a column of longitude within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Row index (0 at the equator, negative to the south).
    pub row: i64,
    /// Column index (0 at longitude -180).
    pub col: i64,
}

/// The grid positions are snapped to: rows `grid_metres` high; in each row, columns
/// `grid_metres` wide at the row's central latitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    cell_deg_lat: f64,
}

impl Grid {
    /// A grid of cells about `metres` on a side.
    pub fn new(metres: u32) -> Self {
        Self {
            cell_deg_lat: f64::from(metres) / (EARTH_RADIUS_M * std::f64::consts::PI / 180.0),
        }
    }

    fn row_latitude(&self, row: i64) -> f64 {
        ((row as f64 + 0.5) * self.cell_deg_lat).clamp(-MAX_LATITUDE, MAX_LATITUDE)
    }

    fn col_width(&self, row: i64) -> f64 {
        let cos = self.row_latitude(row).to_radians().cos().max(1e-6);
        (self.cell_deg_lat / cos).min(360.0)
    }

    /// The cell holding `point`.
    pub fn cell(&self, point: GeoPoint) -> Cell {
        let row = (point.latitude / self.cell_deg_lat).floor() as i64;
        let col = ((point.longitude + 180.0) / self.col_width(row)).floor() as i64;
        Cell { row, col }
    }

    /// The centre of a cell: the only position ever kept.
    pub fn centre(&self, cell: Cell) -> GeoPoint {
        GeoPoint {
            latitude: self.row_latitude(cell.row),
            longitude: (-180.0 + (cell.col as f64 + 0.5) * self.col_width(cell.row))
                .clamp(-180.0, 180.0),
        }
    }

    /// `point` snapped to its cell's centre.
    pub fn snap(&self, point: GeoPoint) -> GeoPoint {
        self.centre(self.cell(point))
    }

    /// What a user in cell `from` is told about a user in cell `to`: the bucket of the
    /// distance between the two centres, `None` past 20 km.
    pub fn bucket(&self, from: Cell, to: Cell) -> Option<DistanceBucket> {
        DistanceBucket::of_metres(haversine_m(self.centre(from), self.centre(to)))
    }
}

/// Checks a shared position: finite and within the indexable range.
pub fn validate(request: &SetLocationRequest) -> Result<GeoPoint, ApiError> {
    // The messages never repeat the value: coordinates stay out of responses and logs alike.
    if !request.latitude.is_finite() || request.latitude.abs() > MAX_LATITUDE {
        return Err(ApiError::invalid_field(
            "latitude",
            "must be a number of degrees between -85.05112878 and 85.05112878",
        ));
    }
    if !request.longitude.is_finite() || request.longitude.abs() > 180.0 {
        return Err(ApiError::invalid_field(
            "longitude",
            "must be a number of degrees between -180 and 180",
        ));
    }
    Ok(GeoPoint {
        latitude: request.latitude,
        longitude: request.longitude,
    })
}

/// Location sharing and nearby search.
#[derive(Clone)]
pub struct ProximityService {
    context: Arc<Context>,
    rate_limits: RateLimiter,
}

impl ProximityService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, rate_limits: RateLimiter) -> Self {
        Self {
            context,
            rate_limits,
        }
    }

    fn grid(&self) -> Grid {
        Grid::new(self.context.config.proximity.grid_metres)
    }

    /// Refuses when the server or the caller has proximity discovery off.
    async fn check_enabled(&self, caller: &AuthContext) -> Result<(), ApiError> {
        if !self.context.config.proximity.enabled {
            return Err(ApiError::new(
                ErrorCode::ProximityDisabled,
                "proximity discovery is off on this server",
            ));
        }
        let profile = self
            .context
            .store
            .get_profile(caller.user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if !profile.privacy.allow_proximity_discovery {
            return Err(ApiError::new(
                ErrorCode::ProximityDisabled,
                "turn on allow_proximity_discovery to share a location or search nearby users",
            ));
        }
        Ok(())
    }

    /// Shares the caller's position (snapped to its cell) for five minutes. Sharing from
    /// another cell than the current one is a move, and moves are limited.
    pub async fn share(
        &self,
        caller: &AuthContext,
        request: &SetLocationRequest,
    ) -> Result<(), ApiError> {
        let point = validate(request)?;
        self.check_enabled(caller).await?;
        let grid = self.grid();
        let cell = grid.cell(point);
        let current = self.context.ephemeral.location_get(caller.user_id).await?;
        if current.map(|p| grid.cell(p)) != Some(cell) {
            let limits = &self.context.config.proximity;
            let decision = self
                .context
                .ephemeral
                .rate_limit_hit(
                    &format!("proximity_move:{}", caller.user_id),
                    limits.moves_per_window,
                    Duration::from_secs(limits.move_window_secs),
                )
                .await?;
            if !decision.allowed {
                let mut error =
                    ApiError::rate_limited(decision.reset_after.as_secs_f64().ceil() as u64);
                error.message = format!(
                    "your shared location may move to another place at most {} times per {} s; \
                     retry in {} s",
                    limits.moves_per_window,
                    limits.move_window_secs,
                    error.retry_after.unwrap_or(1)
                );
                return Err(error);
            }
        }
        self.context
            .ephemeral
            .location_set(caller.user_id, grid.centre(cell))
            .await?;
        metrics::counter!("zynk_location_shares_total").increment(1);
        Ok(())
    }

    /// Stops sharing: the caller disappears from searches at once.
    pub async fn clear(&self, caller: &AuthContext) -> Result<(), ApiError> {
        self.context
            .ephemeral
            .location_remove(caller.user_id)
            .await?;
        Ok(())
    }

    /// Opted-in users near the caller's own shared cell, as distance buckets.
    pub async fn nearby(&self, caller: &AuthContext) -> Result<Vec<NearbyUser>, ApiError> {
        self.check_enabled(caller).await?;
        self.rate_limits
            .check_user(caller.user_id, "/api/v1/nearby")
            .await?;
        let Some(own) = self.context.ephemeral.location_get(caller.user_id).await? else {
            return Err(ApiError::new(
                ErrorCode::LocationRequired,
                "share your location (PUT /api/v1/location) to search nearby users",
            ));
        };
        let grid = self.grid();
        let from = grid.cell(own);
        // Centres are stored; a little slack covers Redis' geohash rounding of them.
        let found = self
            .context
            .ephemeral
            .locations_near(grid.centre(from), SEARCH_RADIUS_M + 10.0, CANDIDATES)
            .await?;
        let mut users = Vec::new();
        for candidate in found {
            if candidate.user_id == caller.user_id {
                continue;
            }
            let Some(distance) = grid.bucket(from, grid.cell(candidate.point)) else {
                continue;
            };
            if let Some(user) = self.visible(caller.user_id, candidate.user_id).await? {
                users.push((distance, user));
            }
        }
        users.sort_by(|a, b| (a.0, &a.1.1).cmp(&(b.0, &b.1.1)));
        users.truncate(self.context.config.proximity.max_results);
        Ok(users
            .into_iter()
            .map(|(distance, (user_id, username))| NearbyUser {
                user_id,
                username,
                distance,
            })
            .collect())
    }

    /// The candidate's id and username if they may appear to `viewer`: discoverable now, and
    /// no block either way.
    async fn visible(
        &self,
        viewer: UserId,
        candidate: UserId,
    ) -> Result<Option<(UserId, String)>, ApiError> {
        let Some(profile) = self.context.store.get_profile(candidate).await? else {
            return Ok(None);
        };
        if !profile.privacy.allow_proximity_discovery
            || either_blocks(&self.context, viewer, candidate).await?
        {
            return Ok(None);
        }
        Ok(Some((candidate, profile.username)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(latitude: f64, longitude: f64) -> GeoPoint {
        GeoPoint {
            latitude,
            longitude,
        }
    }

    /// A point `north` and `east` metres from `origin` (small offsets).
    fn offset(origin: GeoPoint, north: f64, east: f64) -> GeoPoint {
        let m_per_deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        point(
            origin.latitude + north / m_per_deg,
            origin.longitude + east / (m_per_deg * origin.latitude.to_radians().cos()),
        )
    }

    #[test]
    fn cells_are_about_the_configured_size_and_centres_snap_to_themselves() {
        let grid = Grid::new(1000);
        for origin in [
            point(0.0, 0.0),
            point(48.8566, 2.3522),
            point(-33.8688, 151.2093),
            point(64.1466, -21.9426),
            point(84.9, 179.99),
            point(-84.9, -179.99),
        ] {
            let cell = grid.cell(origin);
            let centre = grid.centre(cell);
            assert_eq!(grid.cell(centre), cell, "{origin:?}");
            assert_eq!(grid.snap(centre), centre);
            // Every point of a cell is within half a diagonal of its centre.
            assert!(haversine_m(origin, centre) <= 710.0, "{origin:?}");
            // Redis' geohash moves a stored centre by well under a metre: same cell.
            assert_eq!(grid.cell(offset(centre, 0.7, -0.7)), cell);
        }
        // Neighbours are a cell apart: east in the same row exactly, north in the next row
        // (whose columns need not line up) at least a row's height.
        let here = grid.cell(point(48.8566, 2.3522));
        let east = Cell {
            row: here.row,
            col: here.col + 1,
        };
        let d = haversine_m(grid.centre(here), grid.centre(east));
        assert!((d - 1000.0).abs() < 0.01, "{d}");
        let north = grid.cell(offset(grid.centre(here), 1000.0, 0.0));
        assert_eq!(north.row, here.row + 1);
        let d = haversine_m(grid.centre(here), grid.centre(north));
        assert!((999.99..1120.0).contains(&d), "{d}");
        assert_eq!(grid.bucket(here, here), Some(DistanceBucket::UnderOneKm));
        assert_eq!(grid.bucket(here, east), Some(DistanceBucket::OneToFiveKm));
        assert_eq!(grid.bucket(here, north), Some(DistanceBucket::OneToFiveKm));
    }

    #[test]
    fn out_of_range_coordinates_are_refused_without_echoing_them() {
        for (lat, lon, field) in [
            (85.06, 0.0, "latitude"),
            (-90.0, 0.0, "latitude"),
            (f64::NAN, 0.0, "latitude"),
            (0.0, 180.5, "longitude"),
            (0.0, f64::INFINITY, "longitude"),
        ] {
            let err = validate(&SetLocationRequest {
                latitude: lat,
                longitude: lon,
            })
            .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidField);
            assert!(err.message.contains(field), "{}", err.message);
            assert!(!err.message.contains("85.06") && !err.message.contains("180.5"));
        }
        assert!(
            validate(&SetLocationRequest {
                latitude: -85.0,
                longitude: 180.0
            })
            .is_ok()
        );
    }

    /// A deterministic pseudo-random sequence (xorshift), so the simulation is reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The trilateration attack, over a long simulated time: an attacker moves their search
    /// point as often as the move limit lets them (12 moves an hour, for 30 simulated days),
    /// each time to a new random point within 25 km of the target, and records the bucket the
    /// server answers. Whatever they do, the record is identical for every position of the
    /// target inside its cell: nothing below the cell can be learnt. The same attack against
    /// exact positions does tell positions inside a cell apart, so the attack is a real one.
    #[test]
    fn moving_the_search_point_cannot_narrow_a_target_below_its_cell() {
        let grid = Grid::new(1000);
        let target_cell = grid.cell(point(52.5200, 13.4050));
        let centre = grid.centre(target_cell);
        // Positions of the target spread over its cell (corners and middle).
        let inside: Vec<GeoPoint> = [
            (-480.0, -480.0),
            (470.0, 460.0),
            (0.0, 0.0),
            (-400.0, 450.0),
        ]
        .iter()
        .map(|(n, e)| offset(centre, *n, *e))
        .collect();
        for p in &inside {
            assert_eq!(grid.cell(*p), target_cell);
        }
        // The default limit: `moves_per_window` per `move_window_secs` (an hour).
        let limits = crate::config::ProximityConfig::default();
        assert_eq!(limits.move_window_secs, 3600);
        let moves_per_hour = limits.moves_per_window;
        let hours = 30 * 24;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut snapped_views = vec![Vec::new(); inside.len()];
        let mut exact_views = vec![Vec::new(); inside.len()];
        for _hour in 0..hours {
            for _move in 0..moves_per_hour {
                let probe = offset(
                    centre,
                    (rng.next() - 0.5) * 50_000.0,
                    (rng.next() - 0.5) * 50_000.0,
                );
                let from = grid.cell(probe);
                for (i, target) in inside.iter().enumerate() {
                    // What the server answers: stored positions are cell centres.
                    snapped_views[i].push(grid.bucket(from, grid.cell(*target)));
                    // What an unsnapped server would answer.
                    exact_views[i].push(DistanceBucket::of_metres(haversine_m(probe, *target)));
                }
            }
        }
        for view in &snapped_views[1..] {
            assert_eq!(
                view, &snapped_views[0],
                "the answers depend on more than the target's cell"
            );
        }
        assert!(
            exact_views[1..].iter().any(|v| v != &exact_views[0]),
            "the attack should separate exact positions inside a cell"
        );
        // The answers do depend on the cell: a target one cell away is told apart.
        let next_cell = Cell {
            row: target_cell.row,
            col: target_cell.col + 1,
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let other: Vec<_> = (0..hours * moves_per_hour)
            .map(|_| {
                let probe = offset(
                    centre,
                    (rng.next() - 0.5) * 50_000.0,
                    (rng.next() - 0.5) * 50_000.0,
                );
                grid.bucket(grid.cell(probe), next_cell)
            })
            .collect();
        assert_ne!(other, snapped_views[0]);
    }
}
