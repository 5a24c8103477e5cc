//! The policy, for operators and compliance officers: rules in force, runtime rules,
//! reload, and explained decisions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{Event, Record};
use crate::domain::identity::IdentityNumber;
use crate::http::extract::{Admin, ApiJson, ApiPath};
use crate::http::problem::Problem;
use crate::http::ApiState;
use crate::policy::baseline::Rule;
use crate::policy::decide::Decision;
use crate::service::{Ask, OrgRef, PupilRef, RuleView, ServiceError};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// Every rule in force: the files in policies/ and then the runtime rules.
    pub rules: Vec<String>,
    pub runtime_rules: Vec<RuleView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub rules: usize,
}

/// A question to explain. The pupil by pseudonymous id or identity number.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    /// Who would be told.
    pub org_id: Uuid,
    /// Who would tell (a data holder), when the question is about one.
    #[serde(default)]
    pub holder_id: Option<Uuid>,
    pub pupil_id: Option<Uuid>,
    #[schema(value_type = Option<String>)]
    pub identity_number: Option<IdentityNumber>,
    pub category: String,
    #[serde(default = "read")]
    pub action: String,
    #[serde(default = "follow_up")]
    pub purpose: String,
}

fn read() -> String {
    "read".into()
}

fn follow_up() -> String {
    "follow_up".into()
}

/// A decision as the audit log recorded it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DecisionRow)]
pub struct DecisionRecord {
    pub id: Uuid,
    pub at: i64,
    /// Who asked: `admin:<label>`, `client:<id>`, `cli`.
    pub caller: String,
    /// The organisation that would be told; none when the tutor would be.
    pub org_id: Option<Uuid>,
    pub pupil_id: Option<Uuid>,
    pub category: String,
    pub action: String,
    pub purpose: String,
    pub allowed: bool,
    pub reason: String,
    pub baseline_rule: Option<String>,
    pub consent_id: Option<Uuid>,
    pub holder_id: Option<Uuid>,
    pub request_id: Option<String>,
}

impl DecisionRecord {
    fn of(r: &Record) -> Result<Self, ServiceError> {
        let Event::Decision(d) = &r.event else {
            return Err(ServiceError::Conflict("not a decision".into()));
        };
        Ok(Self {
            id: d.decision,
            at: r.at,
            caller: r.actor.to_string(),
            org_id: d.org,
            pupil_id: r.pupil,
            category: d.category.clone(),
            action: d.action.clone(),
            purpose: d.purpose.clone(),
            allowed: d.allowed,
            reason: d.reason.clone(),
            baseline_rule: d.baseline_rule.clone(),
            consent_id: d.consent,
            holder_id: d.holder,
            request_id: r.request_id.clone(),
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Explained {
    pub decision: Decision,
    pub record: DecisionRecord,
}

#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", security(("admin" = [])),
    responses((status = 200, body = PolicyView)))]
pub async fn view(_: Admin, State(s): State<ApiState>) -> Result<Json<PolicyView>, ServiceError> {
    Ok(Json(PolicyView {
        rules: s.services.rules_in_force(),
        runtime_rules: s.services.runtime_rules().await?,
    }))
}

/// Adds a runtime rule; it takes effect at once, on every instance.
#[utoipa::path(post, path = "/api/v1/policy/rules", tag = "policy", security(("admin" = [])), request_body = Rule,
    responses((status = 201, body = RuleView), (status = 422, body = Problem)))]
pub async fn add_rule(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(rule): ApiJson<Rule>,
) -> Result<(StatusCode, Json<RuleView>), ServiceError> {
    Ok((
        StatusCode::CREATED,
        Json(s.services.add_rule(rule, &by).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/policy/rules/{id}", tag = "policy", security(("admin" = [])),
    responses((status = 204, description = "removed"), (status = 404, body = Problem)))]
pub async fn remove_rule(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ServiceError> {
    s.services.remove_rule(id, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-reads policies/ (and the runtime rules). A file that does not parse leaves
/// the policy in force unchanged and is reported here.
#[utoipa::path(post, path = "/api/v1/policy/reload", tag = "policy", security(("admin" = [])),
    responses((status = 200, body = Reloaded), (status = 422, body = Problem)))]
pub async fn reload(_: Admin, State(s): State<ApiState>) -> Result<Json<Reloaded>, ServiceError> {
    Ok(Json(Reloaded {
        rules: s.services.reload_policy().await?,
    }))
}

/// Decides and explains: which baseline rule applied and what the consent said.
#[utoipa::path(post, path = "/api/v1/policy/explain", tag = "policy", security(("admin" = [])), request_body = ExplainBody,
    responses((status = 200, body = Explained), (status = 422, body = Problem)))]
pub async fn explain(
    Admin(by): Admin,
    State(s): State<ApiState>,
    ApiJson(b): ApiJson<ExplainBody>,
) -> Result<Json<Explained>, ServiceError> {
    let pupil = match (b.pupil_id, b.identity_number) {
        (Some(id), None) => PupilRef::Id(id),
        (None, Some(n)) => PupilRef::Identity(n),
        _ => {
            return Err(ServiceError::invalid(
                "pupil_id",
                "give exactly one of pupil_id and identity_number",
            ))
        }
    };
    let ask = Ask {
        org: OrgRef::Id(b.org_id),
        pupil,
        category: b.category,
        action: b.action,
        purpose: b.purpose,
        holder: b.holder_id.map(OrgRef::Id),
    };
    let answer = s.services.evaluate(&by, None, &ask, None).await?;
    Ok(Json(Explained {
        record: DecisionRecord::of(&answer.record)?,
        decision: answer.decision,
    }))
}
