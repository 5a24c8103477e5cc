//! Partner clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::domain::client::{ClientId, PartnerClient};
use crate::http::extract::{Admin, ApiJson, ApiPath};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{NewClient, ServiceError};

#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", security(("admin" = [])),
    responses((status = 200, body = [PartnerClient])))]
pub async fn list(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<PartnerClient>>, ServiceError> {
    Ok(Json(s.services.clients().await?))
}

#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", security(("admin" = [])),
    request_body = NewClient,
    responses((status = 201, body = PartnerClient), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(new): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<PartnerClient>), ServiceError> {
    Ok((
        StatusCode::CREATED,
        Json(s.services.add_client(new, &by).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients", security(("admin" = [])),
    responses((status = 200, body = PartnerClient), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PartnerClient>, ServiceError> {
    let id = ClientId::parse(&id).map_err(|e| ServiceError::invalid("client_id", e))?;
    Ok(Json(s.services.client(&id).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// Only notices no partner has acknowledged yet.
    #[serde(default)]
    pub unacknowledged: bool,
}

/// Withdrawal notices sent (or to be sent) to partners, and whether each was
/// acknowledged: what a compliance officer follows up.
#[utoipa::path(get, path = "/api/v1/withdrawal-notices", tag = "clients", security(("admin" = [])), params(NoticeQuery),
    responses((status = 200, body = [crate::service::NoticeView])))]
pub async fn notices(
    _: Admin,
    State(s): State<ApiState>,
    crate::http::extract::ApiQuery(q): crate::http::extract::ApiQuery<NoticeQuery>,
) -> Result<Json<Vec<crate::service::NoticeView>>, ServiceError> {
    Ok(Json(s.services.notices(q.unacknowledged).await?))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rotated {
    /// The key that signs from now on.
    pub kid: String,
}

/// Starts signing with the next key; the old one stays published until every token
/// it signed has expired.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "clients", security(("admin" = [])),
    responses((status = 200, body = Rotated)))]
pub async fn rotate_keys(
    Admin(by): Admin,
    State(s): State<ApiState>,
) -> Result<Json<Rotated>, ServiceError> {
    Ok(Json(Rotated {
        kid: s.services.rotate_keys(&by).await?,
    }))
}

/// A client switched on or off.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub enabled: bool,
}

/// Turns a client off (or on again): a disabled client is refused at once, and
/// its tokens are inactive at introspection.
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients", security(("admin" = [])),
    params(("client_id" = String, Path, description = "the client's id")),
    request_body = ClientPatch,
    responses((status = 200, body = PartnerClient), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(p): ApiJson<ClientPatch>,
) -> Result<Json<PartnerClient>, ServiceError> {
    let id = ClientId::parse(&id).map_err(|e| ServiceError::invalid("client_id", e))?;
    Ok(Json(
        s.services.set_client_enabled(&id, p.enabled, &by).await?,
    ))
}

/// Replaces the client's public keys (inline `jwks` or a `jwks_uri`). To rotate with
/// overlap, register the old and new keys together, then the new ones alone.
#[utoipa::path(put, path = "/api/v1/clients/{client_id}/keys", tag = "clients", security(("admin" = [])),
    request_body = crate::service::ClientKeys,
    responses((status = 200, body = PartnerClient), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_keys(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(keys): ApiJson<crate::service::ClientKeys>,
) -> Result<Json<PartnerClient>, ServiceError> {
    let id = ClientId::parse(&id).map_err(|e| ServiceError::invalid("client_id", e))?;
    Ok(Json(s.services.set_client_keys(&id, keys, &by).await?))
}
