//! Every API error becomes RFC 9457 problem JSON here, and only here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::consent::ConsentError;
use crate::service::ServiceError;

/// An RFC 9457 problem document. `type` is a stable URN clients can match on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The offending field, as a path into the request (`choices[1].org_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait, sent as `Retry-After` (not in the body).
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("urn:samtykke:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "something went wrong on our side; the request id identifies it in our logs",
        )
    }

    /// The database cannot be reached: try again (with `Retry-After`).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            "samtykke cannot reach its database; nothing was changed; try again shortly",
        )
    }

    /// Past a rate limit: 429 with `Retry-After` (set by `into_response`).
    pub fn too_many(wait: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "too many requests; wait as Retry-After says",
        );
        p.retry_after = Some(wait);
        p
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send a valid admin credential as `Authorization: Bearer <token>`",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(wait) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        res
    }
}

fn consent_problem(e: &ConsentError) -> Problem {
    let (slug, title) = match e {
        ConsentError::EmptyChoice => ("empty-choice", "Nothing chosen"),
        ConsentError::DuplicateChoice { .. } => ("duplicate-choice", "Chosen twice"),
        ConsentError::OrgOutsideNetwork { .. } => (
            "org-outside-network",
            "Organisation outside the school network",
        ),
        ConsentError::NoRecipient { .. } => ("no-recipient", "Nobody to be told"),
        ConsentError::UnknownRole { .. } => ("unknown-role", "No such role"),
        ConsentError::NotOffered { .. } => ("not-offered", "Not a choice the agreement offers"),
        ConsentError::OrgDisabled { .. } => ("org-disabled", "Organisation disabled"),
        ConsentError::UnknownCategory { .. } => ("unknown-category", "Unknown data category"),
        ConsentError::UnknownPurpose => ("unknown-purpose", "Unknown purpose"),
        ConsentError::StatutoryNotConsent { .. } => {
            ("statutory-not-consent", "Shared by law, not by consent")
        }
        ConsentError::BelowMinimumAge { .. } => ("below-minimum-age", "Below the minimum age"),
        ConsentError::NotInForce => ("consent-not-in-force", "Consent not in force"),
        ConsentError::NothingToWithdraw => ("nothing-to-withdraw", "Nothing to withdraw"),
    };
    let status = match e {
        ConsentError::NotInForce | ConsentError::NothingToWithdraw => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let p = Problem::new(status, slug, title, e.to_string());
    match (e.choice_index(), e) {
        (Some(i), ConsentError::UnknownCategory { .. }) => {
            p.field(format!("choices[{i}].category"))
        }
        (Some(i), ConsentError::UnknownRole { .. }) => p.field(format!("choices[{i}].role")),
        (Some(i), _) => p.field(format!("choices[{i}]")),
        (None, ConsentError::UnknownPurpose) => p.field("purpose"),
        (None, ConsentError::EmptyChoice) => p.field("choices"),
        _ => p,
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let problem = match &self {
            ServiceError::NotFound(what) => Problem::not_found(what),
            ServiceError::Conflict(m) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", m.clone())
            }
            ServiceError::Invalid { field, reason } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid value",
                reason.clone(),
            )
            .field(field.clone()),
            ServiceError::Consent(e) => consent_problem(e),
            ServiceError::Catalogue(e) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-catalogue",
                "Invalid catalogue",
                e.to_string(),
            ),
            ServiceError::Forbidden(m) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", *m)
            }
            ServiceError::Unauthenticated(m) => {
                return invalid_client((*m).to_owned());
            }
            ServiceError::Erased => Problem::new(
                StatusCode::GONE,
                "pupil-erased",
                "Erased",
                "the pupil has been erased",
            ),
            ServiceError::Invitation(m) => {
                Problem::new(StatusCode::GONE, "invitation", "Invitation not valid", *m)
            }
            ServiceError::NotCovered(r) => Problem::new(
                StatusCode::CONFLICT,
                "not-covered",
                "Not covered",
                r.as_str(),
            ),
            ServiceError::Store(s) if s.is_unavailable() => {
                tracing::warn!(error = %s, "the database cannot be reached");
                Problem::unavailable()
            }
            ServiceError::Store(_) | ServiceError::Crypto(_) => {
                // The cause goes to the log (it never holds an identity number); the
                // caller gets an opaque 500.
                tracing::error!(error = %self, "request failed");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}

/// A partner whose client assertion was not accepted: 401 with the challenge.
pub fn invalid_client(detail: String) -> Response {
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
