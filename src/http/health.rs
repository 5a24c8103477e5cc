use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and its schema is the one this release knows.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "database unreachable or schema not current"),
))]
pub async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let (ok, detail) = match state.services.readiness().await {
        Ok(()) => (true, "ok".to_owned()),
        Err(why) => (false, why),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "status": if ok { "ready" } else { "not_ready" }, "detail": detail })),
    )
}
