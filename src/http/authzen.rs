//! OpenID AuthZEN Authorization API 1.0: `POST /access/v1/evaluation(s)` and the
//! metadata document. Callers are partner clients authenticating with a signed
//! client assertion (`Authorization: Bearer <private_key_jwt>`, `aud` = this PDP).
//!
//! A partner only learns allowed or not: "no consent", "withdrawn", "no such pupil"
//! and "category not allowed" all get the same `{"decision": false}`, after the
//! same work. The reason goes to the decision record.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::extract::parse_json;
use super::problem::Problem;
use super::AppState;
use crate::domain::client::PartnerClient;
use crate::domain::identity::IdentityNumber;
use crate::domain::org::OrgNumber;
use crate::service::{Ask, OrgRef, PupilRef};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ActionBody {
    pub name: String,
}

/// One AuthZEN evaluation request (every field may instead come from the batch's
/// defaults).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationBody {
    pub subject: Option<Entity>,
    pub resource: Option<Entity>,
    pub action: Option<ActionBody>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EvaluationsBody {
    #[serde(flatten)]
    pub defaults: EvaluationBody,
    pub evaluations: Vec<EvaluationBody>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationResponse {
    pub decision: bool,
}

const MAX_BATCH: usize = 100;

fn bad(field: &str, detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
        "Invalid value",
        detail,
    )
    .field(field)
}

/// Turns an AuthZEN request from `caller` into the service's question. The subject
/// is an organisation (by number or id) or the calling client itself.
fn to_ask(e: &EvaluationBody, caller: &PartnerClient) -> Result<Ask, Problem> {
    let subject = e
        .subject
        .as_ref()
        .ok_or_else(|| bad("subject", "a subject is required"))?;
    let org = match subject.kind.as_str() {
        "organisation" | "organization" => match uuid::Uuid::parse_str(&subject.id) {
            Ok(id) => OrgRef::Id(id),
            Err(_) => OrgRef::Number(
                OrgNumber::parse(&subject.id).map_err(|e| bad("subject.id", &e.to_string()))?,
            ),
        },
        "client" if subject.id == caller.client_id.as_str() => OrgRef::Id(caller.org_id),
        "client" => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "a client may only ask as itself",
            ))
        }
        _ => return Err(bad("subject.type", "expected organisation or client")),
    };
    let resource = e
        .resource
        .as_ref()
        .ok_or_else(|| bad("resource", "a resource is required"))?;
    if resource.kind != "pupil_data" {
        return Err(bad("resource.type", "expected pupil_data"));
    }
    let identity = IdentityNumber::parse(&resource.id)
        .map_err(|_| bad("resource.id", "not a valid identity number"))?;
    let category = resource
        .properties
        .get("category")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("resource.properties.category", "name the data category"))?;
    let action = e
        .action
        .as_ref()
        .ok_or_else(|| bad("action", "an action is required"))?;
    let purpose = e
        .context
        .as_ref()
        .and_then(|c| c.get("purpose"))
        .and_then(Value::as_str)
        .unwrap_or("follow_up");
    Ok(Ask {
        org,
        pupil: PupilRef::Identity(identity),
        category: category.to_owned(),
        action: action.name.clone(),
        purpose: purpose.to_owned(),
    })
}

fn merge(defaults: &EvaluationBody, e: &EvaluationBody) -> EvaluationBody {
    EvaluationBody {
        subject: e.subject.clone().or_else(|| defaults.subject.clone()),
        resource: e.resource.clone().or_else(|| defaults.resource.clone()),
        action: e.action.clone().or_else(|| defaults.action.clone()),
        context: e.context.clone().or_else(|| defaults.context.clone()),
    }
}

fn invalid_client(detail: String) -> Response {
    let mut res = Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid-client",
        "Client authentication failed",
        detail,
    )
    .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer error=\"invalid_client\""),
    );
    res
}

/// Reads the bearer assertion and the JSON body; authenticates the client.
#[tracing::instrument(skip_all)]
async fn authenticated<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request,
    max: usize,
) -> Result<(PartnerClient, T, Option<String>), Response> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            invalid_client("send a client assertion as `Authorization: Bearer <jwt>`".into())
        })?;
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let audiences = [state.issuer.clone()];
    let body = axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                "the request body is larger than allowed",
            )
            .into_response()
        })?;
    let client = state
        .services
        .authenticate_client(&token, &audiences)
        .await
        .map_err(|e| invalid_client(e.to_string()))?;
    let parsed = parse_json(&body).map_err(IntoResponse::into_response)?;
    Ok((client, parsed, request_id))
}

async fn answer(
    state: &AppState,
    client: &PartnerClient,
    e: &EvaluationBody,
    request_id: Option<String>,
) -> Result<bool, Response> {
    let ask = to_ask(e, client).map_err(IntoResponse::into_response)?;
    let caller = format!("client:{}", client.client_id);
    state
        .services
        .evaluate(&caller, Some(client.org_id), &ask, request_id)
        .await
        .map(|a| a.decision.allowed)
        .map_err(IntoResponse::into_response)
}

/// One decision.
#[utoipa::path(post, path = "/access/v1/evaluation", tag = "authzen", request_body = EvaluationBody,
    responses((status = 200, body = EvaluationResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn evaluation(State(state): State<AppState>, req: Request) -> Response {
    let max = state.max_body_bytes;
    let (client, body, rid): (_, EvaluationBody, _) = match authenticated(&state, req, max).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match answer(&state, &client, &body, rid).await {
        Ok(decision) => Json(EvaluationResponse { decision }).into_response(),
        Err(r) => r,
    }
}

/// Up to 100 decisions; each entry overrides the request's defaults.
#[utoipa::path(post, path = "/access/v1/evaluations", tag = "authzen", request_body = EvaluationsBody,
    responses((status = 200, description = "`{\"evaluations\": [{\"decision\": bool}]}`"), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn evaluations(State(state): State<AppState>, req: Request) -> Response {
    let max = state.max_body_bytes;
    let (client, body, rid): (_, EvaluationsBody, _) = match authenticated(&state, req, max).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if body.evaluations.is_empty() || body.evaluations.len() > MAX_BATCH {
        return bad("evaluations", "send 1-100 evaluations").into_response();
    }
    // Check every entry first, so a bad one decides nothing.
    let merged: Vec<EvaluationBody> = body
        .evaluations
        .iter()
        .map(|e| merge(&body.defaults, e))
        .collect();
    for (i, e) in merged.iter().enumerate() {
        if let Err(p) = to_ask(e, &client) {
            let field = p.field.clone().unwrap_or_default();
            return p.field(format!("evaluations[{i}].{field}")).into_response();
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for e in &merged {
        match answer(&state, &client, e, rid.clone()).await {
            Ok(d) => out.push(json!({ "decision": d })),
            Err(r) => return r,
        }
    }
    Json(json!({ "evaluations": out })).into_response()
}

/// AuthZEN PDP metadata.
#[utoipa::path(get, path = "/.well-known/authzen-configuration", tag = "authzen", responses((status = 200, description = "PDP metadata")))]
pub async fn configuration(State(state): State<AppState>) -> Json<Value> {
    let base = &state.issuer;
    Json(json!({
        "policy_decision_point": base,
        "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        "client_authentication": "private_key_jwt assertion as Bearer, aud = policy_decision_point",
    }))
}
