use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::storage::SchemaStatus;

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
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = &state.services.store;
    let (ok, detail) = match store.ping().await {
        Err(_) => (false, "database unreachable".to_owned()),
        Ok(()) => match store.schema_status().await {
            Ok(SchemaStatus::Current) => (true, "ok".to_owned()),
            Ok(SchemaStatus::Pending(v)) => (false, format!("migrations pending: {v:?}")),
            Ok(SchemaStatus::Unknown(v)) => {
                (false, format!("unknown migrations in database: {v:?}"))
            }
            Err(_) => (false, "schema status unavailable".to_owned()),
        },
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
