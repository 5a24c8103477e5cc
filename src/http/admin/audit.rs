//! The audit chain for operators: verify it, sign a checkpoint, export entries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::audit::{Checkpoint, Row};
use crate::http::extract::{Admin, ApiQuery};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{ChainReport, ServiceError};

/// Checks every entry, the recorded end and every signed checkpoint; names the first
/// entry that does not verify.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("admin" = [])),
    responses((status = 200, body = ChainReport)))]
pub async fn verify(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<ChainReport>, ServiceError> {
    Ok(Json(s.services.verify_chain().await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// ES256 JWS (`typ: audit-checkpoint+jwt`), verifiable at /oauth/jwks.
    pub jws: String,
}

/// Signs the chain's current size and head now (one is also made every minute).
#[utoipa::path(post, path = "/api/v1/audit/checkpoints", tag = "audit", security(("admin" = [])),
    responses((status = 201, body = SignedCheckpoint)))]
pub async fn checkpoint(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<(StatusCode, Json<SignedCheckpoint>), ServiceError> {
    let (checkpoint, jws) = s.services.checkpoint().await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedCheckpoint { checkpoint, jws }),
    ))
}

#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit", security(("admin" = [])),
    responses((status = 200, body = [SignedCheckpoint])))]
pub async fn checkpoints(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<SignedCheckpoint>>, ServiceError> {
    let all = s.services.checkpoints().await?;
    Ok(Json(
        all.into_iter()
            .map(|(checkpoint, jws)| SignedCheckpoint { checkpoint, jws })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Entries after this position (0: from the first).
    #[serde(default)]
    pub after: i64,
    /// At most this many (1–10,000; default 1,000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Export {
    /// The hash of entry `after`: where offline verification of this range starts.
    pub prev_hash: String,
    pub entries: Vec<Row>,
}

/// A range of entries, exactly as stored, to verify offline against a checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", security(("admin" = [])), params(Range),
    responses((status = 200, body = Export), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn entries(
    _: Admin,
    State(s): State<ApiState>,
    ApiQuery(r): ApiQuery<Range>,
) -> Result<Json<Export>, ServiceError> {
    let (prev_hash, entries) = s
        .services
        .export_chain(r.after, r.limit.unwrap_or(1000))
        .await?;
    Ok(Json(Export { prev_hash, entries }))
}

/// A role for a staff member of the compliance console.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRole {
    #[schema(value_type = String, pattern = "^[0-9]{11}$")]
    pub identity_number: crate::domain::identity::IdentityNumber,
    /// `compliance_officer`, `tutor` or `admin`.
    pub role: String,
    /// For a tutor: the school network they work in.
    #[serde(default)]
    pub network_id: Option<uuid::Uuid>,
    /// For a tutor: the name pupils choose them by there ("Kari, NAV-veileder").
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A role to take away.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRoleRevoked {
    #[schema(value_type = String, pattern = "^[0-9]{11}$")]
    pub identity_number: crate::domain::identity::IdentityNumber,
    pub role: String,
}

/// Takes a role away at once (a tutor's with their networks).
#[utoipa::path(post, path = "/api/v1/staff/revoke", tag = "audit", security(("admin" = [])), request_body = StaffRoleRevoked,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke_role(
    Admin(by): Admin,
    State(s): State<ApiState>,
    crate::http::extract::ApiJson(b): crate::http::extract::ApiJson<StaffRoleRevoked>,
) -> Result<StatusCode, ServiceError> {
    s.services
        .revoke_role(&b.identity_number, &b.role, &by)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a staff member a console role (the number is hashed, never stored).
#[utoipa::path(post, path = "/api/v1/staff", tag = "audit", security(("admin" = [])), request_body = StaffRole,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn grant_role(
    Admin(by): Admin,
    State(s): State<ApiState>,
    crate::http::extract::ApiJson(b): crate::http::extract::ApiJson<StaffRole>,
) -> Result<StatusCode, ServiceError> {
    s.services
        .grant_role(
            &b.identity_number,
            &b.role,
            b.network_id
                .map(|id| (id, b.display_name.as_deref().unwrap_or_default())),
            &by,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
