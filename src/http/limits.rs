//! The per-address rate limit at the doors anyone can knock on without
//! credentials: the token, introspection and revocation endpoints, AuthZEN, and
//! the starts of logins (each makes a session row). Past it: 429 with
//! `Retry-After`, before any work. The per-client limit is checked once a client
//! has authenticated (`oauth.rs`, `authzen.rs`).

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

use super::problem::Problem;
use super::ApiState;
use crate::service::OAuthError;

const OAUTH: [&str; 3] = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"];
const OTHERS: [&str; 6] = [
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/auth/login",
    "/auth/callback",
    "/console/login",
    "/tutor/login",
];

/// A login page that cannot be served yet: readable, in both languages the
/// pages start in.
fn page(wait: u64) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"nb\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>For mange forsøk</title></head><body><main><h1>For mange forsøk</h1>\
         <p>Vent {wait} sekunder og prøv igjen.</p>\
         <p lang=\"en\">Too many attempts: wait {wait} seconds and try again.</p></main></body></html>"
    );
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/html; charset=utf-8".to_owned(),
            ),
            (axum::http::header::RETRY_AFTER, wait.to_string()),
        ],
        html,
    )
        .into_response()
}

pub async fn per_address(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let limited = OAUTH.contains(&path) || OTHERS.contains(&path);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string());
    if let (true, Some(ip)) = (limited, peer) {
        if let Err(wait) = state.services.address_rate(&ip) {
            return if OAUTH.contains(&path) {
                OAuthError::SlowDown(wait).into_response()
            } else if path.starts_with("/access/") {
                Problem::too_many(wait).into_response()
            } else {
                page(wait)
            };
        }
    }
    next.run(req).await
}
