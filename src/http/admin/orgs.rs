//! Organisations and school networks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::org::{Network, Organisation};
use crate::http::extract::{Admin, ApiJson, ApiPath};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{NewNetwork, NewOrg, ServiceError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub enabled: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub org_id: Uuid,
}

#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", security(("admin" = [])),
    responses((status = 200, body = [Organisation])))]
pub async fn list(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<Organisation>>, ServiceError> {
    Ok(Json(s.services.orgs().await?))
}

#[utoipa::path(post, path = "/api/v1/organisations", tag = "organisations", security(("admin" = [])),
    request_body = NewOrg,
    responses((status = 201, body = Organisation), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(new): ApiJson<NewOrg>,
) -> Result<(StatusCode, Json<Organisation>), ServiceError> {
    Ok((
        StatusCode::CREATED,
        Json(s.services.add_org(new, &by).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}", tag = "organisations", security(("admin" = [])),
    responses((status = 200, body = Organisation), (status = 404, body = Problem)))]
pub async fn get(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Organisation>, ServiceError> {
    Ok(Json(s.services.org(id).await?))
}

/// Enables or disables an organisation; a disabled one can be chosen by nobody.
#[utoipa::path(patch, path = "/api/v1/organisations/{id}", tag = "organisations", security(("admin" = [])),
    request_body = OrgPatch,
    responses((status = 200, body = Organisation), (status = 404, body = Problem)))]
pub async fn patch(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(p): ApiJson<OrgPatch>,
) -> Result<Json<Organisation>, ServiceError> {
    Ok(Json(s.services.set_org_enabled(id, p.enabled, &by).await?))
}

#[utoipa::path(get, path = "/api/v1/networks", tag = "networks", security(("admin" = [])),
    responses((status = 200, body = [Network])))]
pub async fn list_networks(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<Network>>, ServiceError> {
    Ok(Json(s.services.networks().await?))
}

#[utoipa::path(post, path = "/api/v1/networks", tag = "networks", security(("admin" = [])),
    request_body = NewNetwork,
    responses((status = 201, body = Network), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_network(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(new): ApiJson<NewNetwork>,
) -> Result<(StatusCode, Json<Network>), ServiceError> {
    Ok((
        StatusCode::CREATED,
        Json(s.services.add_network(new, &by).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/networks/{id}", tag = "networks", security(("admin" = [])),
    responses((status = 200, body = Network), (status = 404, body = Problem)))]
pub async fn get_network(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Network>, ServiceError> {
    Ok(Json(s.services.network(id).await?))
}

#[utoipa::path(post, path = "/api/v1/networks/{id}/members", tag = "networks", security(("admin" = [])),
    request_body = NewMember,
    responses((status = 200, body = Network), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_member(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(m): ApiJson<NewMember>,
) -> Result<Json<Network>, ServiceError> {
    Ok(Json(
        s.services.add_network_member(id, m.org_id, &by).await?,
    ))
}
