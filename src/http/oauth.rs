//! The OAuth 2 authorization server for partner systems: token (client credentials
//! with `private_key_jwt`, RFC 7523; `authorization_details`, RFC 9396), JWKS,
//! introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414).
//! Errors are OAuth error JSON, never problem JSON, as OAuth clients expect.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

use super::ApiState;
use crate::audit::Actor;
use crate::domain::client::PartnerClient;
use crate::domain::identity::IdentityNumber;
use crate::service::{error_code, ClientAuth, Endpoint, OAuthError, TokenRequest};
use crate::tokens::assertion::AssertionError;
use crate::tokens::assertion::Verified;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
            Self::InvalidClient(d) => (StatusCode::UNAUTHORIZED, "invalid_client", d.clone()),
            Self::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported".into(),
            ),
            Self::InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", d.clone()),
            Self::InvalidDetails(d) => (
                StatusCode::BAD_REQUEST,
                "invalid_authorization_details",
                d.clone(),
            ),
            Self::InvalidDpop(d) => (StatusCode::BAD_REQUEST, "invalid_dpop_proof", d.clone()),
            Self::AccessDenied => (
                StatusCode::FORBIDDEN,
                "access_denied",
                "the request is not allowed".into(),
            ),
            Self::Server => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "try again later".into(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again shortly".into(),
            ),
            Self::SlowDown(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many requests; wait as Retry-After says".into(),
            ),
        };
        let mut res = (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::SlowDown(wait) = &self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*wait));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_client\""),
            );
        }
        res
    }
}

/// A form body; a parameter sent twice is refused (RFC 6749 §3.2).
pub(crate) fn form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "{k} is sent more than once"
            )));
        }
    }
    Ok(out)
}

/// A client that could not be authenticated: its fault (401, in the same words
/// whatever the reason before the signature), or the database's (503).
fn client_error(e: AssertionError) -> OAuthError {
    if e == AssertionError::Unavailable {
        return OAuthError::Unavailable;
    }
    tracing::info!(reason = %e, "client authentication failed");
    OAuthError::InvalidClient(e.public())
}

fn endpoint(state: &ApiState, path: &str) -> String {
    format!("{}{path}", state.services.issuer())
}

/// `private_key_jwt`: the authenticated client (the assertion's `aud` is the issuer
/// or this endpoint). Its jti is left for the request's own durable write to use
/// up (group commit), or for the caller to use up at once.
async fn verified_client(
    state: &ApiState,
    f: &HashMap<String, String>,
    path: &str,
) -> Result<
    (
        PartnerClient,
        crate::domain::org::Organisation,
        crate::tokens::assertion::Verified,
    ),
    OAuthError,
> {
    if f.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
        return Err(OAuthError::InvalidClient(format!(
            "authenticate with client_assertion_type={ASSERTION_TYPE}"
        )));
    }
    let assertion = f
        .get("client_assertion")
        .ok_or_else(|| OAuthError::InvalidClient("client_assertion is missing".into()))?;
    let audiences = [state.services.issuer().to_owned(), endpoint(state, path)];
    let (c, org, v) = state
        .services
        .verify_client(assertion, &audiences)
        .await
        .map_err(client_error)?;
    if let Err(wait) = state.services.client_rate(c.client_id.as_str()) {
        return Err(OAuthError::SlowDown(wait));
    }
    if f.get("client_id")
        .is_some_and(|id| id != c.client_id.as_str())
    {
        return Err(OAuthError::InvalidClient(
            "client_id does not match the assertion".into(),
        ));
    }
    Ok((c, org, v))
}

/// The one `pupil_data` entry of `authorization_details`.
pub(crate) fn details(
    f: &HashMap<String, String>,
) -> Result<(IdentityNumber, String, String), OAuthError> {
    let bad = |m: &str| OAuthError::InvalidDetails(m.into());
    let raw = f
        .get("authorization_details")
        .ok_or_else(|| bad("name the pupil, purpose and audience in authorization_details"))?;
    crate::json_keys::repeated_key(raw.as_bytes()).map_err(|m| bad(&m))?;
    let v: Value = serde_json::from_str(raw).map_err(|_| bad("not a JSON array"))?;
    let [entry] = v.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(bad("send exactly one pupil_data entry"));
    };
    let obj = entry
        .as_object()
        .ok_or_else(|| bad("an entry is an object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("pupil_data") {
        return Err(bad("type must be pupil_data"));
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "pupil" | "purpose" | "audience"))
    {
        return Err(bad(&format!("unknown field {k}")));
    }
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("{k} must be a string")))
    };
    let pupil = IdentityNumber::parse(text("pupil")?)
        .map_err(|_| bad("pupil is not a valid identity number"))?;
    let purpose = obj.get("purpose").map_or(Ok("follow_up"), |p| {
        p.as_str().ok_or_else(|| bad("purpose must be a string"))
    })?;
    Ok((pupil, purpose.to_owned(), text("audience")?.to_owned()))
}

/// What the audit log keeps of a request the authorization server refused before
/// an operation took it.
struct Trail {
    endpoint: Endpoint,
    actor: Actor,
    detail: String,
    request_id: Option<String>,
}

impl Trail {
    fn new(endpoint: Endpoint, headers: &HeaderMap) -> Self {
        Self {
            endpoint,
            actor: Actor::Unauthenticated,
            detail: String::new(),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Records the refusal; if it cannot be written the request fails (fail closed).
    async fn record(self, state: &ApiState, reason: &str) -> Result<(), OAuthError> {
        state
            .services
            .record_refusal(
                self.endpoint,
                self.actor,
                reason,
                self.detail,
                self.request_id,
            )
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "audit event not written");
                OAuthError::from(err)
            })
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The request's DPoP proof (RFC 9449), if it sent one; two are refused.
fn dpop_proof(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<Option<crate::tokens::dpop::Proof>, OAuthError> {
    let mut proofs = headers.get_all("dpop").iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return if headers.get("dpop").is_some() {
            Err(OAuthError::InvalidDpop("send one DPoP proof".into()))
        } else {
            Ok(None)
        };
    };
    let proof = proof
        .to_str()
        .map_err(|_| OAuthError::InvalidDpop("not a JWT".into()))?;
    crate::tokens::dpop::verify(
        proof,
        "POST",
        &endpoint(state, "/oauth/token"),
        state.services.now(),
    )
    .map(Some)
    .map_err(|e| OAuthError::InvalidDpop(e.to_string()))
}

/// `POST /oauth/token`
pub async fn token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut trail = Trail::new(Endpoint::Token, &headers);
    let request_id = trail.request_id.clone();
    // Everything up to an authenticated client and a well-formed request; the
    // service then decides and records the rest in one transaction.
    let pre = async {
        let body = body.map_err(|_| {
            OAuthError::InvalidRequest("the body is too large or unreadable".into())
        })?;
        let f = form(&body)?;
        let (client, org, verified) = verified_client(&state, &f, "/oauth/token").await?;
        trail.actor = Actor::Client(client.client_id.to_string());
        if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err(OAuthError::UnsupportedGrantType);
        }
        let scopes: Vec<String> = f
            .get("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        trail.detail = crate::service::asked(&client, &scopes);
        let (pupil, purpose, audience) = details(&f)?;
        let dpop = dpop_proof(&state, &headers)?;
        Ok((
            client,
            org,
            verified,
            TokenRequest {
                scopes,
                pupil,
                purpose,
                audience,
                dpop,
            },
        ))
    }
    .await;
    let (client, org, verified, req) = match pre {
        Ok(v) => v,
        Err(e) => return recorded(&state, trail, error_code(&e), e.into_response()).await,
    };
    let auth = ClientAuth {
        client: &client,
        org: &org,
        verified: &verified,
        request_id,
    };
    match state.services.issue_token(&auth, &req).await {
        Ok(issued) => no_store(Json(issued.response).into_response()),
        Err(e) => e.into_response(),
    }
}

/// The shared start of introspection and revocation: an authenticated client (its
/// assertion's jti not yet used up) and the `token` parameter.
async fn client_and_token(
    state: &ApiState,
    body: Result<Bytes, BytesRejection>,
    path: &str,
    trail: &mut Trail,
) -> Result<(PartnerClient, Verified, String), OAuthError> {
    let body =
        body.map_err(|_| OAuthError::InvalidRequest("the body is too large or unreadable".into()))?;
    let f = form(&body)?;
    let (c, _, v) = verified_client(state, &f, path).await?;
    trail.actor = Actor::Client(c.client_id.to_string());
    let token = f
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    Ok((c, v, token.clone()))
}

/// Records the refusal, then answers; a request that cannot be recorded fails.
async fn recorded(state: &ApiState, trail: Trail, reason: &str, response: Response) -> Response {
    match trail.record(state, reason).await {
        Ok(()) => response,
        Err(e) => e.into_response(),
    }
}

/// `POST /oauth/introspect`: the service records every answer it gives; only a
/// request refused before that is recorded here.
pub async fn introspect(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut trail = Trail::new(Endpoint::Introspection, &headers);
    let (c, v, token) = match client_and_token(&state, body, "/oauth/introspect", &mut trail).await
    {
        Ok(v) => v,
        Err(e) => return recorded(&state, trail, error_code(&e), e.into_response()).await,
    };
    // The jti is used up in the same durable write as the answer's record.
    match state
        .services
        .introspect(&c, &v, &token, trail.request_id.clone())
        .await
    {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

/// `POST /oauth/revoke`: recorded by the service, or here when refused before.
pub async fn revoke(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut trail = Trail::new(Endpoint::Revocation, &headers);
    let used = match client_and_token(&state, body, "/oauth/revoke", &mut trail).await {
        Ok((c, v, token)) => match state.services.use_assertion(&c, &v).await {
            Ok(()) => Ok((c, token)),
            Err(e) => Err(client_error(e)),
        },
        Err(e) => Err(e),
    };
    let (c, token) = match used {
        Ok(v) => v,
        Err(e) => return recorded(&state, trail, error_code(&e), e.into_response()).await,
    };
    match state
        .services
        .revoke(&c, &token, trail.request_id.clone())
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

/// `GET /oauth/jwks`: the current, next and recently retired keys.
pub async fn jwks(State(state): State<ApiState>) -> Json<Value> {
    Json(state.services.jwks())
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(state): State<ApiState>) -> Json<Value> {
    // A consent lets a partner see data, never change it: only read is offered.
    let scopes: Vec<String> = state
        .services
        .catalogue()
        .categories
        .iter()
        .map(|c| format!("pupil:{}:read", c.key))
        .collect();
    let auth = json!(["private_key_jwt"]);
    let algs = json!(["ES256", "EdDSA", "RS256", "PS256"]);
    Json(json!({
        "issuer": state.services.issuer(),
        "token_endpoint": endpoint(&state, "/oauth/token"),
        "jwks_uri": endpoint(&state, "/oauth/jwks"),
        "introspection_endpoint": endpoint(&state, "/oauth/introspect"),
        "revocation_endpoint": endpoint(&state, "/oauth/revoke"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": auth,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": auth,
        "revocation_endpoint_auth_methods_supported": auth,
        "scopes_supported": scopes,
        "authorization_details_types_supported": ["pupil_data"],
        "dpop_signing_alg_values_supported": algs,
        "response_types_supported": [],
    }))
}
