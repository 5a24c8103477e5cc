//! The HTTP edge: routing, middleware and the mapping of errors to responses.
//! Handlers are thin; the rules live in `service` and `domain`.

pub mod admin;
pub mod authzen;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod problem;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::service::Services;
use problem::Problem;

#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub metrics: Arc<metrics::Metrics>,
    /// The public URL without a trailing slash: the audience of client assertions.
    pub issuer: String,
    pub max_body_bytes: usize,
    /// The pupil pages: login, sessions, the development provider.
    pub web: Arc<crate::web::Web>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
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
        .fallback(not_found)
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
        .merge(crate::web::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::internal().into_response()
        }))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The route template, never the raw URI: paths and queries are caller
            // input and must not carry personal data into logs.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), route, request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(state)
}

/// A browser asking for a page gets a page; everything else gets problem JSON.
async fn not_found(
    State(state): State<AppState>,
    ctx: crate::web::Ctx,
    headers: axum::http::HeaderMap,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return crate::web::not_found_page(&ctx, &state);
    }
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such resource",
    )
    .into_response()
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
