//! The browser client, served at `/` from the binary: the committed build `web/dist`
//! (`scripts/build-web.sh`) is embedded at compile time, so `zynkd serve` needs nothing beside
//! it. Every answer carries a strict Content-Security-Policy: scripts only from this origin (no
//! inline script; `'wasm-unsafe-eval'` for the SDK's WebAssembly), connections only to this
//! origin, no frames, no plugins. Paths without a file that look like client routes get
//! `index.html`; anything else is the API's `route_not_found`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use zynk_proto::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

static DIST: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

/// The Content-Security-Policy of the client's pages.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether the client is embedded (a build without `web/dist/index.html` has none).
pub fn has_client() -> bool {
    DIST.get_file("index.html").is_some()
}

/// The fallback of the router: the client's files for `GET`/`HEAD` outside `/api/`, else the
/// API's `route_not_found`.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if !state.context.config.web.enabled
        || !(method == Method::GET || method == Method::HEAD)
        || path.starts_with("/api/")
    {
        return ApiError::new(ErrorCode::RouteNotFound, "no such route").into_response();
    }
    let relative = path.trim_start_matches('/');
    let (name, file) = match DIST.get_file(relative) {
        Some(file) if !relative.is_empty() => (relative, file),
        // A client route (no extension) gets the application; a missing asset is a 404.
        _ if !relative.rsplit('/').next().unwrap_or("").contains('.') => {
            match DIST.get_file("index.html") {
                Some(file) => ("index.html", file),
                None => {
                    return ApiError::new(ErrorCode::RouteNotFound, "no such route")
                        .into_response();
                }
            }
        }
        _ => return ApiError::new(ErrorCode::RouteNotFound, "no such route").into_response(),
    };
    // A gzip copy (made by the build) goes to browsers that accept it.
    let gzip = accepts_gzip(request.headers())
        .then(|| DIST.get_file(format!("{name}.gz")))
        .flatten();
    let contents = gzip.map_or(file.contents(), |g| g.contents());
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(contents)
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if gzip.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    // Hashed asset names never change content; the page itself is checked every time.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(headers);
    response
}

fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The headers every page and asset of the client carries.
pub fn security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_script_and_no_other_origin() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("'unsafe-eval'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self' 'wasm-unsafe-eval'"));
        assert!(HeaderValue::from_str(CONTENT_SECURITY_POLICY).is_ok());
    }

    #[test]
    fn the_build_is_embedded_with_its_wasm() {
        assert!(
            has_client(),
            "web/dist/index.html is missing: run scripts/build-web.sh"
        );
        let wasm = DIST.get_dir("assets").is_some_and(|assets| {
            assets
                .files()
                .any(|f| f.path().extension().is_some_and(|e| e == "wasm"))
        });
        assert!(wasm, "web/dist has no WebAssembly module");
        assert_eq!(content_type("assets/x.wasm"), "application/wasm");
    }

    #[test]
    fn gzip_is_sent_only_where_accepted() {
        let with = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0"));
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }
}
