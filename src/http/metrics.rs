//! Prometheus metrics: request counts and latencies by route template (never the
//! raw path, which could carry anything a caller typed). Every label comes from a
//! known set, so no caller can grow the registry: a method outside the standard
//! ones is `other`, a path no route serves is `unmatched`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Instant;

use super::ApiState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DoorLabel {
    endpoint: &'static str,
}

fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .iter()
    .find(|k| *k == m)
    .map_or("other", Method::as_str)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    /// The database's write transactions, read from the service at each scrape.
    commits: Counter,
    /// Requests refused before the caller authenticated (sampled in the chain).
    refused: Family<DoorLabel, Counter>,
    /// Connections open now, kept by the accept loop (`server.rs`).
    pub connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("samtykke");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let commits = Counter::default();
        registry.register(
            "database_commits",
            "Write transactions committed by this process",
            commits.clone(),
        );
        let refused = Family::<DoorLabel, Counter>::default();
        registry.register(
            "unauthenticated_refusals",
            "Requests refused before the caller authenticated",
            refused.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "open_connections",
            "HTTP connections open now (at most max_connections)",
            connections.clone(),
        );
        Self {
            connections,
            registry,
            requests,
            latency,
            commits,
            refused,
        }
    }
}

pub async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    // Latency is wall time by nature, not a rule to test on the service's clock.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let labels = Labels {
        method,
        route,
        status: res.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`; behind an admin credential unless this is a development
/// machine (`metrics_require_admin`), as a scraper's bearer token.
pub async fn render(
    State(state): State<ApiState>,
    admin: Result<super::extract::Admin, super::problem::Problem>,
) -> Response {
    if let (true, Err(refused)) = (state.metrics_private, admin) {
        return refused.into_response();
    }
    let mut out = String::new();
    state.metrics.commits.inner().store(
        state.services.commits(),
        std::sync::atomic::Ordering::Relaxed,
    );
    for (endpoint, n) in state.services.refusal_totals() {
        state
            .metrics
            .refused
            .get_or_create(&DoorLabel { endpoint })
            .inner()
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }
    match encode(&mut out, &state.metrics.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
