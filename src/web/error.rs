//! Everything that can go wrong on a page, and the one place it becomes a page.
//! Handlers return `Result<Response, PageError>` and use `?`; the error travels in
//! the response to the `error_pages` middleware, which renders it in the request's
//! language (it needs the session and the language, which `?` does not have).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

use super::pages::{message, message_text};
use super::{Ctx, FormError, WebState};
use crate::service::ServiceError;

/// A way on from an error page: its link and the text key of its label.
pub type Back = (&'static str, &'static str);

#[derive(Debug)]
pub enum PageError {
    /// Not logged in (or not as who this page is for): to that login.
    Login { to: String },
    /// No such page, or not this person's to see.
    NotFound(Back),
    /// A form field (named by `reason`, in the page's words) was not right.
    BadInput {
        status: StatusCode,
        reason: String,
        back: &'static str,
    },
    /// The form body itself was refused (type, size, fields).
    Form(FormError),
    /// The form's CSRF token is missing or not this session's.
    Csrf,
    /// A page that says one thing, with a status and a way on (a link and the
    /// text key of its label).
    Message {
        status: StatusCode,
        title: &'static str,
        text: &'static str,
        link: Option<(String, &'static str)>,
    },
    /// Something behind the page failed; the cause was logged when this was made.
    Unavailable,
}

impl PageError {
    /// Something failed behind the page: logs the cause, shows "try again later".
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "a page failed");
        Self::Unavailable
    }

    pub fn message(
        status: StatusCode,
        title: &'static str,
        text: &'static str,
        link: Option<Back>,
    ) -> Self {
        Self::Message {
            status,
            title,
            text,
            link: link.map(|(href, key)| (href.to_owned(), key)),
        }
    }

    pub fn bad_input(reason: impl Into<String>, back: &'static str) -> Self {
        Self::BadInput {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
            back,
        }
    }

    /// The page.
    pub fn page(&self, ctx: &Ctx, state: &WebState) -> Response {
        match self {
            Self::Login { to } => Redirect::to(to).into_response(),
            Self::NotFound(back) => message(
                ctx,
                state,
                StatusCode::NOT_FOUND,
                "err_title",
                "err_not_found",
                Some(*back),
            ),
            Self::BadInput {
                status,
                reason,
                back,
            } => {
                // The reason is for the log: the page says it in the page's language.
                tracing::info!(reason = %reason, "a page refused a form");
                let text = ctx.tr.t("err_bad_form").to_owned();
                message_text(ctx, state, *status, "err_title", text, Some((back, "back")))
            }
            Self::Form(e) => {
                let (status, key) = match e {
                    FormError::Type => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "err_form_type"),
                    FormError::TooLarge | FormError::TooMany => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "err_form_large")
                    }
                };
                let text = ctx.tr.t(key).to_owned();
                message_text(
                    ctx,
                    state,
                    status,
                    "err_title",
                    text,
                    Some(("/", "go_start")),
                )
            }
            Self::Csrf => message(
                ctx,
                state,
                StatusCode::FORBIDDEN,
                "err_title",
                "err_csrf",
                Some(("/", "go_start")),
            ),
            Self::Message {
                status,
                title,
                text,
                link,
            } => {
                let link = link.as_ref().map(|(href, key)| (href.as_str(), *key));
                message(ctx, state, *status, title, text, link)
            }
            Self::Unavailable => message(
                ctx,
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_title",
                "err_unavailable",
                Some(("/", "go_start")),
            ),
        }
    }
}

/// A service error on a page: a handler gives what the person can act on a page of
/// its own; here, bad input is a 400 naming the field, refusals are 403 and 409,
/// missing things 404, and only a failure behind the page is "try again later"
/// (with the cause logged).
impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) | ServiceError::Erased => Self::NotFound(("/", "go_start")),
            ServiceError::Invalid { field, .. } => Self::bad_input(field, "/"),
            ServiceError::Consent(c) => Self::bad_input(c.to_string(), "/"),
            ServiceError::Forbidden(_) | ServiceError::Unauthenticated(_) => Self::message(
                StatusCode::FORBIDDEN,
                "err_title",
                "err_forbidden",
                Some(("/", "go_start")),
            ),
            ServiceError::Invitation(why) => {
                tracing::info!(why, "an invitation was refused");
                Self::message(
                    StatusCode::GONE,
                    "err_title",
                    "err_invitation",
                    Some(("/", "go_start")),
                )
            }
            ServiceError::NotCovered(_) => Self::message(
                StatusCode::CONFLICT,
                "err_title",
                "err_not_covered",
                Some(("/tutor", "tutor_back")),
            ),
            ServiceError::Conflict(_) => Self::message(
                StatusCode::CONFLICT,
                "err_title",
                "err_double",
                Some(("/", "go_start")),
            ),
            other => Self::unavailable(other),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        res.extensions_mut().insert(Arc::new(self));
        res
    }
}
