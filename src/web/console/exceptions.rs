//! Protective exceptions, for the compliance officer: every grant a tutor decided
//! without a guardian, with its ground and provision, reviewed once.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::staff_may;
use crate::web::pages::{render, Chrome};
use crate::web::view::oslo_time;
use crate::web::{query_param, Ctx, Form, PageError, WebState};

pub struct ExceptionRow {
    pub id: Uuid,
    pub pupil: Uuid,
    pub recorded: String,
    pub ground: String,
    pub provision: String,
    /// `None` until reviewed.
    pub reviewed: Option<String>,
}

#[derive(Template)]
#[template(path = "console_exceptions.html")]
struct ExceptionsPage {
    c: Chrome,
    rows: Vec<ExceptionRow>,
}

const BACK: &str = "/console/exceptions";

/// `GET /console/exceptions`
pub async fn page(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let by = staff_may(&ctx, &state, "exceptions", "work")?;
    let s = &state.services;
    let grounds = s.protective_grounds();
    let rows = s
        .exceptions_to_review(&by)
        .await?
        .into_iter()
        .map(|e| ExceptionRow {
            id: e.id,
            pupil: e.pupil,
            recorded: oslo_time(e.recorded_at),
            ground: grounds
                .iter()
                .find(|g| g.key.as_str() == e.ground)
                .map_or_else(|| e.ground.clone(), |g| g.name.get(ctx.tr.lang).to_owned()),
            provision: e.provision,
            reviewed: e.reviewed_at.map(|at| {
                let key = match e.review.as_deref() {
                    Some("upheld") => "console_exception_upheld",
                    _ => "console_exception_questioned",
                };
                format!("{} · {}", oslo_time(at), ctx.tr.t(key))
            }),
        })
        .collect();
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("console_exceptions"), BACK);
    if query_param(&uri, "done").as_deref() == Some("reviewed") {
        c.flash = Some(ctx.tr.t("console_exception_reviewed").to_owned());
    }
    Ok(render(
        &ctx,
        &state,
        StatusCode::OK,
        &ExceptionsPage { c, rows },
    ))
}

/// `POST /console/exceptions/{id}/review`: `review=upheld` or `review=questioned`.
pub async fn review(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let by = staff_may(&ctx, &state, "exceptions", "work")?;
    let form = Form::read(req, state.max_body_bytes).await?;
    ctx.csrf_checked(&form)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::bad_input("exception", BACK))?;
    let upheld = match form.get("review") {
        Some("upheld") => true,
        Some("questioned") => false,
        _ => return Err(PageError::bad_input("review", BACK)),
    };
    state.services.review_exception(&by, id, upheld).await?;
    Ok(Redirect::to("/console/exceptions?done=reviewed").into_response())
}
