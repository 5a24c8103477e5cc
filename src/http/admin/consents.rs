//! Consents and pupils. Identity numbers only ever travel in request bodies (never
//! in URLs, which end up in logs) and never come back in a response.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::consent::{Choice, Consent, ConsentEvent, ConsentState, Evidence, Withdrawal};
use crate::domain::identity::IdentityNumber;
use crate::domain::org::Municipality;
use crate::domain::Slug;
use crate::http::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::service::{ChangeRequest, ConsentQuery, ServiceError, SignRequest};

/// A consent with its state now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    #[serde(flatten)]
    pub consent: Consent,
    pub state: ConsentState,
}

impl ConsentView {
    fn at(consent: Consent, now: i64) -> Self {
        let state = consent.state(now);
        Self { consent, state }
    }
}

/// Registers a consent signed outside samtykke's own pages, such as a paper form the
/// tutor archived (`acr`/`amr` = `paper`, `session_ref` = the archive reference).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    #[schema(value_type = String, pattern = "^[0-9]{11}$")]
    pub identity_number: IdentityNumber,
    pub network_id: Uuid,
    pub template_id: Uuid,
    #[serde(default = "Slug::follow_up")]
    #[schema(value_type = String, example = "follow_up")]
    pub purpose: Slug,
    pub choices: Vec<Choice>,
    pub evidence: Evidence,
    /// Where the pupil lives, when not where the school is (four digits).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "4601")]
    pub home_municipality: Option<Municipality>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    #[schema(value_type = String, pattern = "^[0-9]{11}$")]
    pub identity_number: IdentityNumber,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PupilRef {
    /// The pupil's pseudonymous id: what logs and partners' records may hold.
    pub pupil_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub pupil_id: Option<Uuid>,
    pub network_id: Option<Uuid>,
    /// 1-500, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/consents", tag = "consents", security(("admin" = [])), params(ListQuery),
    responses((status = 200, body = [ConsentView]), (status = 400, body = Problem)))]
pub async fn list(
    _: Admin,
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ConsentView>>, ServiceError> {
    let q = ConsentQuery {
        pupil_id: q.pupil_id,
        network_id: q.network_id,
        limit: q.limit.unwrap_or(100),
        offset: q.offset.unwrap_or(0),
    };
    let now = s.services.now();
    let rows = s.services.consents(&q).await?;
    Ok(Json(
        rows.into_iter().map(|c| ConsentView::at(c, now)).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/consents", tag = "consents", security(("admin" = [])),
    request_body = SignBody,
    responses((status = 201, body = ConsentView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn sign(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<SignBody>,
) -> Result<(StatusCode, Json<ConsentView>), ServiceError> {
    let c = s
        .services
        .sign(SignRequest {
            identity: b.identity_number,
            network_id: b.network_id,
            template_id: b.template_id,
            purpose: b.purpose,
            choices: b.choices,
            evidence: b.evidence,
            actor: by,
            home_municipality: b.home_municipality,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentView::at(c, s.services.now())),
    ))
}

#[utoipa::path(get, path = "/api/v1/consents/{id}", tag = "consents", security(("admin" = [])),
    responses((status = 200, body = ConsentView), (status = 404, body = Problem)))]
pub async fn get(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ConsentView>, ServiceError> {
    let c = s.services.consent(id).await?;
    Ok(Json(ConsentView::at(c, s.services.now())))
}

/// The full history of a consent, oldest first.
#[utoipa::path(get, path = "/api/v1/consents/{id}/events", tag = "consents", security(("admin" = [])),
    responses((status = 200, body = [ConsentEvent]), (status = 404, body = Problem)))]
pub async fn events(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<ConsentEvent>>, ServiceError> {
    Ok(Json(s.services.consent_events(id).await?))
}

/// Replaces the choice on a consent in force (the pupil signed the change).
#[utoipa::path(put, path = "/api/v1/consents/{id}/grants", tag = "consents", security(("admin" = [])),
    request_body = ChangeRequest,
    responses((status = 200, body = ConsentView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn change(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ChangeRequest>,
) -> Result<Json<ConsentView>, ServiceError> {
    let c = s.services.change(id, b, &by).await?;
    Ok(Json(ConsentView::at(c, s.services.now())))
}

/// Withdraws one grant, one organisation or everything; takes effect at once.
#[utoipa::path(post, path = "/api/v1/consents/{id}/withdrawals", tag = "consents", security(("admin" = [])),
    request_body = Withdrawal,
    responses((status = 200, body = ConsentView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn withdraw(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(w): ApiJson<Withdrawal>,
) -> Result<Json<ConsentView>, ServiceError> {
    let c = s.services.withdraw(id, &w, &by).await?;
    Ok(Json(ConsentView::at(c, s.services.now())))
}

/// Finds a pupil by identity number (in the body, never the URL).
#[utoipa::path(post, path = "/api/v1/pupils/lookup", tag = "pupils", security(("admin" = [])),
    request_body = IdentityBody,
    responses((status = 200, body = PupilRef), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn lookup(
    _: Admin,
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<IdentityBody>,
) -> Result<Json<PupilRef>, ServiceError> {
    match s.services.find_pupil(&b.identity_number).await? {
        Some(pupil_id) => Ok(Json(PupilRef { pupil_id })),
        None => Err(ServiceError::NotFound("pupil")),
    }
}

#[utoipa::path(get, path = "/api/v1/pupils/{id}/consents", tag = "pupils", security(("admin" = [])),
    responses((status = 200, body = [ConsentView]), (status = 404, body = Problem)))]
pub async fn pupil_consents(
    _: Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<ConsentView>>, ServiceError> {
    let now = s.services.now();
    let rows = s.services.consents_of_pupil(id).await?;
    Ok(Json(
        rows.into_iter().map(|c| ConsentView::at(c, now)).collect(),
    ))
}

/// Erases a pupil (GDPR Art. 17) by destroying their data key.
#[utoipa::path(post, path = "/api/v1/pupils/{id}/erasure", tag = "pupils", security(("admin" = [])),
    responses((status = 204, description = "erased"), (status = 404, body = Problem)))]
pub async fn erase(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ServiceError> {
    s.services.erase_pupil(id, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}
