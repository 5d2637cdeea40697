//! The interactive API reference at `/docs`, served entirely from the binary.
//!
//! Internal services often run without internet egress, and a security product should not pull
//! executable code from a CDN into its operators' browsers. So the page's script, the Scalar API
//! reference (`@scalar/api-reference` 1.76.0, MIT, vendored by `scripts/vendor-scalar.sh` with its
//! registry checksum), is compiled in, and every `/docs` response carries a
//! `Content-Security-Policy` that lets the browser load scripts, styles, fonts, images and data
//! only from Gatekey's own origin. The page holds no inline script: the reference is started by
//! `/docs/start.js`. Styles may be inline because the reference injects its stylesheet at run
//! time; no remote style or font is allowed (the stylesheet names Scalar's font host: the policy
//! blocks it and the page uses local fonts).
//! URLs are relative, so the page also works behind a path prefix.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const SCALAR_BUNDLE: &[u8] = include_bytes!("../assets/scalar/api-reference.js");

/// Only Gatekey's own origin, for everything the page loads or connects to.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Gatekey API reference</title>
  </head>
  <body>
    <div id="api-reference"></div>
    <script src="docs/scalar-api-reference.js"></script>
    <script src="docs/start.js"></script>
  </body>
</html>
"#;

const START: &str = "Scalar.createApiReference('#api-reference', {\n  \
    url: 'openapi.json',\n  defaultOpenAllTags: true,\n  hideClientButton: true,\n  \
    telemetry: false,\n});\n";

/// The `/docs` routes: the page, the vendored bundle and the script that starts it.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/docs",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/docs/scalar-api-reference.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCALAR_BUNDLE) }),
        )
        .route(
            "/docs/start.js",
            get(|| async { asset("text/javascript; charset=utf-8", START) }),
        )
}

fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The bundle changes only with Gatekey itself; an hour spares reloading 5 MB on every visit.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
