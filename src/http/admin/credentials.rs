//! Operators' own admin credentials: list, mint with a scope, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::domain::operator::AdminScope;
use crate::http::extract::{Admin, ApiJson, ApiPath};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{AdminCredential, ServiceError};

#[utoipa::path(get, path = "/api/v1/admin-credentials", tag = "credentials", security(("admin" = [])),
    responses((status = 200, body = [AdminCredential]), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<AdminCredential>>, ServiceError> {
    Ok(Json(s.services.admin_credentials().await?))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// Who or what holds it (a person's role, a scraper): 1-64 characters.
    pub label: String,
    pub scope: AdminScope,
}

/// A new credential and its token, shown this once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MintedCredential {
    #[serde(flatten)]
    pub credential: AdminCredential,
    pub token: String,
}

/// Mints a credential; only its hash is kept, so the token in the answer is the
/// only copy. Needs the `all` scope.
#[utoipa::path(post, path = "/api/v1/admin-credentials", tag = "credentials", security(("admin" = [])),
    request_body = NewCredential,
    responses((status = 201, body = MintedCredential), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(new): ApiJson<NewCredential>,
) -> Result<(StatusCode, Json<MintedCredential>), ServiceError> {
    let (credential, token) = s
        .services
        .create_admin_credential(&new.label, new.scope, &by)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MintedCredential { credential, token }),
    ))
}

/// Revokes a credential at once on every instance. The last one with the `all`
/// scope is kept (409): mint another first.
#[utoipa::path(post, path = "/api/v1/admin-credentials/{id}/revoke", tag = "credentials", security(("admin" = [])),
    params(("id" = String, Path, description = "the credential's id")),
    responses((status = 200, body = AdminCredential), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<Json<AdminCredential>, ServiceError> {
    Ok(Json(
        s.services
            .revoke_admin_credential(&id.to_string(), &by)
            .await?,
    ))
}
