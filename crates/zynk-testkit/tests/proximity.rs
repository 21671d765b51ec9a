//! Proximity discovery on both backends: opted-in users who shared a location are listed as
//! distance buckets only, never metres; the caller must share to search; coordinates out of
//! range are refused and change nothing; turning `allow_proximity_discovery` off or clearing
//! the location hides a user at once; blocked users never see each other; moving one's search
//! point is limited, and an attacker moving it around learns nothing finer than the target's
//! grid cell.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zynk_backends::ephemeral::GeoPoint;
use zynk_server::services::proximity::Grid;
use zynk_testkit::{Api, Backend, Registered, TestServer, backend_tests, code};

backend_tests!(
    nearby_lists_opted_in_users_as_buckets,
    bad_coordinates_and_denials_change_nothing,
    hiding_or_clearing_removes_a_user_at_once,
    blocked_users_never_see_each_other,
    moves_are_limited_and_reveal_nothing_below_the_cell,
);

/// The Earth radius Zynk (and Redis) compute distances with.
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;

/// A point `north` and `east` metres from `origin`.
fn offset(origin: GeoPoint, north: f64, east: f64) -> GeoPoint {
    let m_per_deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
    GeoPoint {
        latitude: origin.latitude + north / m_per_deg,
        longitude: origin.longitude + east / (m_per_deg * origin.latitude.to_radians().cos()),
    }
}

/// The centre of the 1 km cell around central Berlin.
fn berlin() -> GeoPoint {
    Grid::new(1000).snap(GeoPoint {
        latitude: 52.5200,
        longitude: 13.4050,
    })
}

async fn share(api: &Api, who: &Registered, at: GeoPoint) -> (StatusCode, Value) {
    api.call(
        Method::PUT,
        "/api/v1/location",
        Some(&who.access_token),
        Some(&json!({"latitude": at.latitude, "longitude": at.longitude})),
    )
    .await
}

async fn share_ok(api: &Api, who: &Registered, at: GeoPoint) {
    let (status, body) = share(api, who, at).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn nearby(api: &Api, who: &Registered) -> Vec<(String, String)> {
    let (status, body) = api.get("/api/v1/nearby", &who.access_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|u| {
            let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["distance", "user_id", "username"], "{u}");
            (
                u["user_id"].as_str().unwrap().to_owned(),
                u["distance"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The bucket `who` is listed with, if listed.
fn bucket_of(list: &[(String, String)], who: &Registered) -> Option<String> {
    list.iter()
        .find(|(id, _)| *id == who.user_id)
        .map(|(_, b)| b.clone())
}

async fn set_discovery(api: &Api, who: &Registered, on: bool) {
    let (status, body) = api
        .call(
            Method::PATCH,
            "/api/v1/users/me/privacy",
            Some(&who.access_token),
            Some(&json!({"allow_proximity_discovery": on})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn nearby_lists_opted_in_users_as_buckets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let names = ["ann", "bob", "cid", "dan", "eli", "fay"];
    let mut users = Vec::new();
    for name in names {
        users.push(api.register(&Api::username(name)).await);
    }
    let [ann, bob, cid, dan, eli, fay] = &users[..] else {
        unreachable!()
    };
    let here = berlin();
    share_ok(&api, ann, here).await;
    share_ok(&api, bob, offset(here, 200.0, -150.0)).await;
    share_ok(&api, cid, offset(here, 0.0, 3_000.0)).await;
    share_ok(&api, dan, offset(here, -12_000.0, 0.0)).await;
    share_ok(&api, eli, offset(here, 40_000.0, 0.0)).await;
    // Fay does not share: she is nobody's neighbour.
    let _ = fay;

    let list = nearby(&api, ann).await;
    assert_eq!(
        list,
        vec![
            (bob.user_id.clone(), "<1km".to_owned()),
            (cid.user_id.clone(), "1-5km".to_owned()),
            (dan.user_id.clone(), "5-20km".to_owned()),
        ],
        "ordered by bucket; the caller and anyone past 20 km are not listed"
    );
    let (_, raw) = api.get("/api/v1/nearby", &ann.access_token).await;
    assert_eq!(raw[0]["username"], bob.username.as_str());
    // Symmetric: dan sees ann and bob (same cell) in one bucket, ordered by username.
    let from_dan = nearby(&api, dan).await;
    assert_eq!(bucket_of(&from_dan, ann).as_deref(), Some("5-20km"));
    assert_eq!(bucket_of(&from_dan, bob).as_deref(), Some("5-20km"));
    assert_eq!(bucket_of(&from_dan, eli), None);
    // Sharing again from the same cell is allowed as often as needed (it keeps it fresh).
    for _ in 0..3 {
        share_ok(&api, ann, offset(here, 10.0, 10.0)).await;
    }
    // The caller must share to search.
    let (status, body) = api.get("/api/v1/nearby", &fay.access_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "location_required"),
        "{body}"
    );
}

async fn bad_coordinates_and_denials_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let here = berlin();
    share_ok(&api, &bob, here).await;
    for (body, expected) in [
        (json!({"latitude": 90.0, "longitude": 0.0}), "invalid_field"),
        (
            json!({"latitude": -85.1, "longitude": 0.0}),
            "invalid_field",
        ),
        (
            json!({"latitude": 52.5, "longitude": 180.01}),
            "invalid_field",
        ),
        (
            json!({"latitude": 52.5, "longitude": -200}),
            "invalid_field",
        ),
        (
            json!({"latitude": "52.5", "longitude": 13.4}),
            "invalid_json",
        ),
        (json!({"latitude": 52.5}), "invalid_json"),
        (
            json!({"latitude": 52.5, "longitude": 13.4, "accuracy": 3}),
            "invalid_json",
        ),
    ] {
        let (status, reply) = api
            .call(
                Method::PUT,
                "/api/v1/location",
                Some(&ann.access_token),
                Some(&body),
            )
            .await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::BAD_REQUEST, expected),
            "{body}: {reply}"
        );
    }
    // Nothing was stored: ann still has no location, and bob does not see her.
    let (status, reply) = api.get("/api/v1/nearby", &ann.access_token).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::CONFLICT, "location_required")
    );
    assert!(nearby(&api, &bob).await.is_empty());
    // No token, no proximity.
    for (method, path) in [
        (Method::PUT, "/api/v1/location"),
        (Method::DELETE, "/api/v1/location"),
        (Method::GET, "/api/v1/nearby"),
    ] {
        let (status, _) = api
            .call(
                method,
                path,
                None,
                Some(&json!({"latitude": 1.0, "longitude": 1.0})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A server with proximity discovery off refuses both.
    let off = TestServer::start_with(backend, |c| c.proximity.enabled = false).await;
    let api = off.api();
    let cid = api.register(&Api::username("cid")).await;
    let (status, reply) = share(&api, &cid, here).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::FORBIDDEN, "proximity_disabled")
    );
    let (status, reply) = api.get("/api/v1/nearby", &cid.access_token).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::FORBIDDEN, "proximity_disabled")
    );
}

async fn hiding_or_clearing_removes_a_user_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let cid = api.register(&Api::username("cid")).await;
    let here = berlin();
    share_ok(&api, &ann, here).await;
    share_ok(&api, &bob, here).await;
    share_ok(&api, &cid, offset(here, 0.0, 2_500.0)).await;
    assert_eq!(nearby(&api, &ann).await.len(), 2);

    // Bob turns discovery off: gone at once, and he can neither share nor search.
    set_discovery(&api, &bob, false).await;
    let list = nearby(&api, &ann).await;
    assert_eq!(bucket_of(&list, &bob), None);
    assert_eq!(bucket_of(&list, &cid).as_deref(), Some("1-5km"));
    let (status, reply) = share(&api, &bob, here).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::FORBIDDEN, "proximity_disabled")
    );
    let (status, reply) = api.get("/api/v1/nearby", &bob.access_token).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::FORBIDDEN, "proximity_disabled")
    );
    // Turning it on again does not bring an old location back: he must share anew.
    set_discovery(&api, &bob, true).await;
    assert_eq!(bucket_of(&nearby(&api, &ann).await, &bob), None);

    // Cid clears her location: gone at once; clearing twice is fine.
    for _ in 0..2 {
        let (status, _) = api
            .call(
                Method::DELETE,
                "/api/v1/location",
                Some(&cid.access_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert!(nearby(&api, &ann).await.is_empty());
    let (status, _) = api.get("/api/v1/nearby", &cid.access_token).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn blocked_users_never_see_each_other(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let ann = api.register(&Api::username("ann")).await;
    let bob = api.register(&Api::username("bob")).await;
    let cid = api.register(&Api::username("cid")).await;
    let here = berlin();
    for who in [&ann, &bob, &cid] {
        share_ok(&api, who, here).await;
    }
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Neither the blocked nor the blocker sees the other; a third user sees both.
    assert_eq!(
        nearby(&api, &ann).await,
        vec![(cid.user_id.clone(), "<1km".to_owned())]
    );
    assert_eq!(
        nearby(&api, &bob).await,
        vec![(cid.user_id.clone(), "<1km".to_owned())]
    );
    let from_cid = nearby(&api, &cid).await;
    assert!(bucket_of(&from_cid, &ann).is_some() && bucket_of(&from_cid, &bob).is_some());
    // Unblocked, they see each other again.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/block", ann.user_id),
            Some(&bob.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        bucket_of(&nearby(&api, &ann).await, &bob).as_deref(),
        Some("<1km")
    );
}

/// An attacker probes a target from points chosen so that a server keeping exact positions
/// would answer differently for two positions of the target inside one cell (0.9 km, 4.9 km
/// and 19.6 km from one of them, farther from the other). Zynk answers the same: the answers
/// are a function of the cells only. Moves beyond the limit are refused and move nothing;
/// clearing and sharing again elsewhere counts as a move too.
async fn moves_are_limited_and_reveal_nothing_below_the_cell(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.proximity.moves_per_window = 6;
        c.proximity.move_window_secs = 3600;
    })
    .await;
    let api = server.api();
    let target = api.register(&Api::username("target")).await;
    let attacker = api.register(&Api::username("attacker")).await;
    let grid = Grid::new(1000);
    let centre = berlin();
    // Two positions of the target in the same cell: its south-west and north-east corners.
    let south_west = offset(centre, -450.0, -450.0);
    let north_east = offset(centre, 450.0, 450.0);
    assert_eq!(grid.cell(south_west), grid.cell(north_east));
    let probes: Vec<GeoPoint> = [900.0, 4_900.0, 19_600.0]
        .iter()
        .map(|west| offset(south_west, 0.0, -west))
        .collect();

    let mut views = Vec::new();
    for position in [south_west, north_east] {
        // Re-sharing from inside the same cell is not a move.
        share_ok(&api, &target, position).await;
        let mut view = Vec::new();
        for probe in &probes {
            share_ok(&api, &attacker, *probe).await;
            view.push(bucket_of(&nearby(&api, &attacker).await, &target));
        }
        views.push(view);
    }
    assert_eq!(
        views[0], views[1],
        "the answers must not depend on where in its cell the target is"
    );
    assert!(views[0].iter().any(Option::is_some), "{views:?}");

    // Six moves used: the seventh is refused and the search point stays where it was.
    let last = nearby(&api, &attacker).await;
    let (status, reply) = share(&api, &attacker, offset(centre, 0.0, 300.0)).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{reply}"
    );
    assert_eq!(nearby(&api, &attacker).await, last);
    // Clearing and sharing elsewhere is a move as well.
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/location",
            Some(&attacker.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = share(&api, &attacker, offset(centre, 0.0, 300.0)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The limit is per user: the target may still move.
    share_ok(&api, &target, offset(centre, 3_000.0, 0.0)).await;
}
