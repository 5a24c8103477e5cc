//! The API edge: partners' AuthZEN and OAuth endpoints, operators' admin API,
//! health and metrics. Handlers are thin: extract, call a service, wrap the result;
//! errors become RFC 9457 problem JSON here (`problem.rs`), or OAuth error JSON at
//! the OAuth endpoints (`oauth.rs`).

pub mod admin;
pub mod authzen;
pub mod extract;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod problem;
pub mod server;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::service::Services;
use problem::Problem;

/// What the API handlers need.
#[derive(Clone)]
pub struct ApiState {
    pub services: Arc<Services>,
    pub metrics: Arc<metrics::Metrics>,
    pub max_body_bytes: usize,
    /// `/metrics` asks for an admin credential (`metrics_require_admin`).
    pub metrics_private: bool,
}

/// The API, for any application state the API's own state is part of.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ApiState: FromRef<S>,
{
    let api = Router::new()
        .nest("/api/v1", admin::routes())
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/access/v1/evaluation", post(authzen::evaluation))
        .route("/access/v1/evaluations", post(authzen::evaluations))
        .route(
            "/.well-known/authzen-configuration",
            get(authzen::configuration),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/jwks", get(oauth::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(api)
}

/// The answer for a path nothing serves, to anything but a browser.
pub fn not_found() -> Response {
    let mut res = Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such resource",
    )
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn method_not_allowed() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this resource does not accept that method",
    )
    .into_response()
}
