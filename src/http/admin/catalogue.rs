//! The catalogue (organisation types, categories, purposes) and agreement templates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::catalogue::Catalogue;
use crate::domain::category::Category;
use crate::domain::template::Template;
use crate::domain::Localized;
use crate::http::extract::{Admin, ApiJson, ApiPath};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{NewTemplate, ServiceError};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogueVersion {
    pub version: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    pub title: Localized,
    pub body: Localized,
}

#[utoipa::path(get, path = "/api/v1/catalogue", tag = "catalogue", security(("admin" = [])),
    responses((status = 200, body = Catalogue)))]
pub async fn get(_: Admin, State(s): State<ApiState>) -> Json<Catalogue> {
    Json((*s.services.catalogue()).clone())
}

/// Replaces the whole catalogue with a new, validated version.
#[utoipa::path(put, path = "/api/v1/catalogue", tag = "catalogue", security(("admin" = [])),
    request_body = Catalogue,
    responses((status = 200, body = CatalogueVersion), (status = 422, body = Problem)))]
pub async fn replace(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(c): ApiJson<Catalogue>,
) -> Result<Json<CatalogueVersion>, ServiceError> {
    Ok(Json(CatalogueVersion {
        version: s.services.replace_catalogue(c, &by).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/categories", tag = "catalogue", security(("admin" = [])),
    responses((status = 200, body = [Category])))]
pub async fn categories(_: Admin, State(s): State<ApiState>) -> Json<Vec<Category>> {
    Json(s.services.catalogue().categories.clone())
}

#[utoipa::path(post, path = "/api/v1/categories", tag = "catalogue", security(("admin" = [])),
    request_body = Category,
    responses((status = 201, body = CatalogueVersion), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_category(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(c): ApiJson<Category>,
) -> Result<(StatusCode, Json<CatalogueVersion>), ServiceError> {
    let version = s.services.add_category(c, &by).await?;
    Ok((StatusCode::CREATED, Json(CatalogueVersion { version })))
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", security(("admin" = [])),
    responses((status = 200, body = [Template])))]
pub async fn templates(
    _: Admin,
    State(s): State<ApiState>,
) -> Result<Json<Vec<Template>>, ServiceError> {
    Ok(Json(s.services.templates().await?))
}

/// Adds the next version of a template as a draft.
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", security(("admin" = [])),
    request_body = NewTemplate,
    responses((status = 201, body = Template), (status = 422, body = Problem)))]
pub async fn add_template(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(t): ApiJson<NewTemplate>,
) -> Result<(StatusCode, Json<Template>), ServiceError> {
    Ok((
        StatusCode::CREATED,
        Json(s.services.add_template(t, &by).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", security(("admin" = [])),
    responses((status = 200, body = Template), (status = 404, body = Problem)))]
pub async fn template(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Template>, ServiceError> {
    Ok(Json(s.services.template(id).await?))
}

/// Rewrites a draft. A published template answers 409: it is immutable.
#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "templates", security(("admin" = [])),
    request_body = TemplateText,
    responses((status = 200, body = Template), (status = 409, body = Problem)))]
pub async fn edit_template(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(t): ApiJson<TemplateText>,
) -> Result<Json<Template>, ServiceError> {
    Ok(Json(
        s.services.edit_template(id, t.title, t.body, &by).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/templates/{id}/publish", tag = "templates", security(("admin" = [])),
    responses((status = 200, body = Template), (status = 409, body = Problem)))]
pub async fn publish(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Template>, ServiceError> {
    Ok(Json(s.services.publish_template(id, &by).await?))
}
