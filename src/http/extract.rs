//! Extractors that reject bad input with precise problem JSON instead of axum's
//! plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::ApiState;
use crate::audit::Actor;
use crate::domain::operator::AdminUse;

/// A JSON body: `application/json`, within the size limit, no unknown fields.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn body_problem(r: BytesRejection) -> Problem {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the request body is larger than allowed",
        )
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "unreadable-body",
            "Unreadable body",
            "the request body could not be read",
        )
    }
}

/// Parses JSON, naming the offending field on a data error. An object that
/// repeats a key is refused (`json_keys`). What the caller sent is never
/// repeated back with an identity number in it (one sent as a JSON number, say).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    crate::json_keys::repeated_key(bytes).map_err(|msg| {
        Problem::new(StatusCode::BAD_REQUEST, "repeated-key", "Repeated key", msg)
    })?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = masked(&e.path().to_string());
        let inner = e.into_inner();
        if inner.is_data() {
            let msg = inner.to_string();
            let slug = classify(&msg);
            let msg = masked(msg.split(" at line ").next().unwrap_or_default());
            let p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, slug, "Invalid value", msg);
            if path == "." {
                p
            } else {
                p.field(path)
            }
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not valid JSON: {inner}"),
            )
        }
    })
}

fn masked(text: &str) -> String {
    String::from_utf8_lossy(&crate::telemetry::mask_identity_numbers(text.as_bytes())).into_owned()
}

/// The newtypes say what they are in their errors; this turns that into a type URN.
fn classify(msg: &str) -> &'static str {
    if msg.starts_with("unknown field") {
        "unknown-field"
    } else if msg.starts_with("missing field") {
        "missing-field"
    } else if msg.contains("identity number") {
        "invalid-identity-number"
    } else if msg.contains("organisation number") {
        "invalid-org-number"
    } else {
        "invalid-field"
    }
}

/// Path parameters; a malformed one (not a UUID, say) is a 400, not a 500 or 404.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e: PathRejection| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-path",
                    "Invalid path parameter",
                    e.body_text(),
                )
            })
    }
}

/// Query parameters, rejected as problem JSON.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "Invalid query parameter",
                    e.body_text(),
                )
            })
    }
}

/// An authenticated admin: the operator a stored credential stands for. The
/// credential is checked against stored hashes and never logged.
pub struct Admin(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    ApiState: FromRef<S>,
{
    type Rejection = Problem;

    #[tracing::instrument(skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let state = ApiState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(Problem::unauthorized)?;
        let asked = if parts.uri.path() == "/metrics" {
            AdminUse::Metrics
        } else if matches!(parts.method, Method::GET | Method::HEAD) {
            AdminUse::Read
        } else {
            AdminUse::Change
        };
        match state.services.check_admin_token(token.trim()).await {
            Ok(Some((actor, scope))) if scope.allows(asked) => Ok(Admin(actor)),
            Ok(Some(_)) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "this admin credential's scope does not allow this",
            )),
            Ok(None) => Err(Problem::unauthorized()),
            Err(crate::service::ServiceError::Store(s)) if s.is_unavailable() => {
                tracing::warn!(error = %s, "admin credential check: the database cannot be reached");
                Err(Problem::unavailable())
            }
            Err(e) => {
                tracing::error!(error = %e, "admin credential check failed");
                Err(Problem::internal())
            }
        }
    }
}
