//! The HTTP API: routes, middleware and the OpenAPI document. One file of handlers per service
//! (`keys`, `to_device`, `conversations`, `messages`, `ledger`, `trust`, …), plus the WebSocket
//! edge of the realtime layer (`ws`).

pub mod auth;
pub mod calls;
pub mod contacts;
pub mod conversations;
pub mod devices;
pub mod extract;
pub mod files;
pub mod groups;
pub mod hardening;
pub mod health;
pub mod keys;
pub mod ledger;
pub mod messages;
pub mod password;
pub mod presence;
pub mod proximity;
pub mod to_device;
pub mod trust;
pub mod users;
pub mod web;
pub mod ws;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zynk_proto::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Zynk API", description = "End-to-end-encrypted messaging: the server routes and stores ciphertext only."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, tokens"),
        (name = "users", description = "Accounts, profiles, privacy"),
        (name = "devices", description = "The caller's devices"),
        (name = "sessions", description = "The caller's sessions"),
        (name = "keys", description = "Device keys, one-time keys, identity backup"),
        (name = "to-device", description = "Device-to-device encrypted payloads"),
        (name = "conversations", description = "Conversations and participants"),
        (name = "contacts", description = "Blocking and message requests"),
        (name = "messages", description = "Encrypted messages, history, receipts"),
        (name = "groups", description = "Groups of up to 256 members and their membership"),
        (name = "calls", description = "Audio and video calls (state only; signalling is end-to-end encrypted) and TURN credentials"),
        (name = "realtime", description = "The WebSocket gateway"),
        (name = "proximity", description = "Proximity discovery: who is near, as distance buckets only"),
        (name = "ledger", description = "Anchoring, message and identity proofs, credentials"),
        (name = "trust", description = "Trust scores, reports and vouches"),
        (name = "files", description = "Encrypted files: resumable uploads, ranged downloads"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and their OpenAPI document.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(users::me, users::delete_me))
        .routes(routes!(users::get_profile, users::update_profile))
        .routes(routes!(users::get_privacy, users::update_privacy))
        .routes(routes!(users::get_user))
        .routes(routes!(users::get_user_by_username))
        .routes(routes!(presence::get_presence))
        .routes(routes!(devices::list_devices))
        .routes(routes!(devices::revoke_device))
        .routes(routes!(devices::set_push_token))
        .routes(routes!(devices::list_sessions))
        .routes(routes!(devices::revoke_session))
        .routes(routes!(
            keys::put_identity_backup,
            keys::get_identity_backup
        ))
        .routes(routes!(keys::upload_keys))
        .routes(routes!(keys::key_count))
        .routes(routes!(keys::query_keys))
        .routes(routes!(keys::claim_keys))
        .routes(routes!(
            to_device::send_to_device,
            to_device::to_device_inbox
        ))
        .routes(routes!(to_device::ack_to_device))
        .routes(routes!(
            conversations::create_conversation,
            conversations::list_conversations
        ))
        .routes(routes!(conversations::get_conversation))
        .routes(routes!(messages::send_message, messages::history))
        .routes(routes!(messages::get_message))
        .routes(routes!(conversations::receipts))
        .routes(routes!(groups::create_group, groups::list_groups))
        .routes(routes!(groups::get_group, groups::update_group))
        .routes(routes!(groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(groups::promote_member))
        .routes(routes!(groups::demote_member))
        .routes(routes!(groups::leave_group))
        .routes(routes!(ws::upgrade))
        .routes(routes!(ledger::info))
        .routes(routes!(ledger::proof))
        .routes(routes!(ledger::identity))
        .routes(routes!(ledger::identity_proof))
        .routes(routes!(ledger::issue_credential))
        .routes(routes!(ledger::rotate_identity_key))
        .routes(routes!(trust::my_trust))
        .routes(routes!(trust::report_user))
        .routes(routes!(trust::vouch_user))
        .routes(routes!(password::change_password))
        .routes(routes!(files::create_file))
        .routes(routes!(files::file_info, files::delete_file))
        .routes(routes!(files::upload))
        .routes(routes!(files::download))
        .routes(routes!(health::openapi))
        .routes(routes!(contacts::block_user, contacts::unblock_user))
        .routes(routes!(contacts::list_blocks))
        .routes(routes!(contacts::list_requests))
        .routes(routes!(contacts::accept_request))
        .routes(routes!(contacts::decline_request))
        .routes(routes!(calls::create_call, calls::list_calls))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::answer_call))
        .routes(routes!(calls::decline_call))
        .routes(routes!(calls::end_call))
        .routes(routes!(calls::turn))
        .routes(routes!(proximity::set_location, proximity::clear_location))
        .routes(routes!(proximity::nearby))
        .split_for_parts()
}

/// The operations routes (not rate limited) and their OpenAPI document.
fn operations_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .split_for_parts()
}

/// The OpenAPI document of the whole server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().1;
    doc.merge(operations_routes().1);
    hardening::complete_error_answers(&mut doc);
    doc
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let max_body = state.context.config.limits.max_body_bytes;
    let api = api_routes()
        .0
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit_by_ip,
        ))
        .route_layer(middleware::from_fn(record_metrics));
    let operations = operations_routes()
        .0
        .route_layer(middleware::from_fn(record_metrics));
    api.merge(operations)
        .fallback(web::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            hardening::request_timeout,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // Method and path only: never headers (tokens) or bodies.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .layer(cors_layer(&state.context.config.web.cors_allowed_origins))
        .with_state(state)
}

/// CORS: off (no headers, so browsers refuse cross-origin calls) unless `web.cors_allowed_origins`
/// names origins.
fn cors_layer(
    origins: &[String],
) -> tower::util::Either<tower_http::cors::CorsLayer, tower::layer::util::Identity> {
    use axum::http::{HeaderValue, Method, header};
    if origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower::util::Either::Left(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not accept this method",
    )
}

/// Counts the request against `ratelimit:{ip}:{endpoint}`.
async fn rate_limit_by_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let ip = extract::client_ip(
        request.headers(),
        extract::peer_addr(request.extensions()),
        state.context.config.trust_forwarded_for,
    );
    if let Some(endpoint) = endpoint
        && let Err(err) = state.services.rate_limits.check_ip(ip, &endpoint).await
    {
        return err.into_response();
    }
    next.run(request).await
}

/// Records `zynk_http_requests_total` and `zynk_http_request_duration_seconds` per route.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route: metrics::SharedString = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned().into())
        .unwrap_or_else(|| "unmatched".into());
    let method = metrics::SharedString::from(method_name(request.method()));
    let response = next.run(request).await;
    let status = metrics::SharedString::from(response.status().as_str().to_owned());
    metrics::counter!("zynk_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("zynk_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Method names as static strings (no allocation per request).
fn method_name(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}
