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
use super::problem::{invalid_client, Problem};
use super::ApiState;
use crate::domain::client::PartnerClient;
use crate::domain::identity::IdentityNumber;
use crate::domain::org::OrgNumber;
use crate::service::{Ask, OrgRef, PupilRef};
use crate::tokens::assertion::Verified;

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
pub(crate) fn to_ask(e: &EvaluationBody, caller: &PartnerClient) -> Result<Ask, Problem> {
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
    // Who would tell (the data holder), by organisation number: optional.
    let holder = match resource.properties.get("holder") {
        None => None,
        Some(h) => Some(OrgRef::Number(
            h.as_str()
                .and_then(|h| OrgNumber::parse(h).ok())
                .ok_or_else(|| bad("resource.properties.holder", "an organisation number"))?,
        )),
    };
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
        holder,
    })
}

pub(crate) fn merge(defaults: &EvaluationBody, e: &EvaluationBody) -> EvaluationBody {
    EvaluationBody {
        subject: e.subject.clone().or_else(|| defaults.subject.clone()),
        resource: e.resource.clone().or_else(|| defaults.resource.clone()),
        action: e.action.clone().or_else(|| defaults.action.clone()),
        context: e.context.clone().or_else(|| defaults.context.clone()),
    }
}

/// Reads the bearer assertion and the JSON body; verifies the client's assertion
/// (its jti is used up with the decisions, in one commit).
#[tracing::instrument(skip_all)]
async fn authenticated<T: serde::de::DeserializeOwned>(
    state: &ApiState,
    req: Request,
) -> Result<(PartnerClient, Verified, T, Option<String>), Response> {
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
    let audiences = [state.services.issuer().to_owned()];
    let body = axum::body::to_bytes(req.into_body(), state.max_body_bytes)
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
    let (client, _, verified) = state
        .services
        .verify_client(&token, &audiences)
        .await
        .map_err(|e| {
            if e == crate::tokens::assertion::AssertionError::Unavailable {
                Problem::unavailable().into_response()
            } else {
                invalid_client(e.public())
            }
        })?;
    if let Err(wait) = state.services.client_rate(client.client_id.as_str()) {
        return Err(Problem::too_many(wait).into_response());
    }
    let parsed = parse_json(&body).map_err(IntoResponse::into_response)?;
    Ok((client, verified, parsed, request_id))
}

/// Decides `asks` for the client, durably; the answers in order.
async fn answer(
    state: &ApiState,
    client: &PartnerClient,
    verified: &Verified,
    asks: &[Ask],
    request_id: Option<String>,
) -> Result<Vec<bool>, Response> {
    state
        .services
        .evaluate_for_partner(client, verified, asks, request_id)
        .await
        .map_err(IntoResponse::into_response)
}

/// One decision.
#[utoipa::path(post, path = "/access/v1/evaluation", tag = "authzen", request_body = EvaluationBody,
    responses((status = 200, body = EvaluationResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn evaluation(State(state): State<ApiState>, req: Request) -> Response {
    let (client, verified, body, rid): (_, _, EvaluationBody, _) =
        match authenticated(&state, req).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let ask = match to_ask(&body, &client) {
        Ok(a) => a,
        Err(p) => return p.into_response(),
    };
    match answer(&state, &client, &verified, &[ask], rid).await {
        Ok(d) => Json(EvaluationResponse {
            decision: d.first().copied().unwrap_or(false),
        })
        .into_response(),
        Err(r) => r,
    }
}

/// Up to 100 decisions, each entry overriding the request's defaults; all of them
/// are written in one durable commit.
#[utoipa::path(post, path = "/access/v1/evaluations", tag = "authzen", request_body = EvaluationsBody,
    responses((status = 200, description = "`{\"evaluations\": [{\"decision\": bool}]}`"), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn evaluations(State(state): State<ApiState>, req: Request) -> Response {
    let (client, verified, body, rid): (_, _, EvaluationsBody, _) =
        match authenticated(&state, req).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    if body.evaluations.is_empty() || body.evaluations.len() > MAX_BATCH {
        return bad("evaluations", "send 1-100 evaluations").into_response();
    }
    // Check every entry first, so a bad one decides nothing.
    let mut asks = Vec::with_capacity(body.evaluations.len());
    for (i, e) in body.evaluations.iter().enumerate() {
        match to_ask(&merge(&body.defaults, e), &client) {
            Ok(a) => asks.push(a),
            Err(p) => {
                let field = p.field.clone().unwrap_or_default();
                return p.field(format!("evaluations[{i}].{field}")).into_response();
            }
        }
    }
    match answer(&state, &client, &verified, &asks, rid).await {
        Ok(ds) => {
            let out: Vec<Value> = ds.iter().map(|d| json!({ "decision": d })).collect();
            Json(json!({ "evaluations": out })).into_response()
        }
        Err(r) => r,
    }
}

/// AuthZEN PDP metadata.
#[utoipa::path(get, path = "/.well-known/authzen-configuration", tag = "authzen", responses((status = 200, description = "PDP metadata")))]
pub async fn configuration(State(state): State<ApiState>) -> Json<Value> {
    let base = state.services.issuer();
    Json(json!({
        "policy_decision_point": base,
        "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        "client_authentication": "private_key_jwt assertion as Bearer, aud = policy_decision_point",
    }))
}
