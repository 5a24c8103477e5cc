//! Renewing a consent as it is, in one step, and reading what changed in a revised
//! agreement before signing it.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::{render, Chrome};
use super::{Ctx, Form, PageError, WebState};
use crate::domain::consent::Evidence;
use crate::domain::template::Changed;
use crate::service::ServiceError;

/// `POST /me/consents/renew`: the same choices for another period, signed with
/// this login.
pub async fn renew(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let pupil = ctx.require_pupil("/me/consents")?;
    ctx.csrf_checked(&form)?;
    let evidence = Evidence {
        acr: pupil.acr.clone(),
        amr: if pupil.amr.is_empty() {
            vec!["unspecified".into()]
        } else {
            pupil.amr.clone()
        },
        session_ref: pupil.session_ref.clone(),
    };
    match state.services.renew(pupil.pupil_id, evidence).await {
        Ok(_) => Ok(Redirect::to("/me/consents?done=renewed").into_response()),
        Err(ServiceError::Conflict(_)) => Err(PageError::message(
            StatusCode::CONFLICT,
            "err_title",
            "renew_nothing",
            Some(("/me/consents", "nav_consents")),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ChangesPage {
    c: Chrome,
    from: i64,
    to: i64,
    /// (kind: same, removed or added; the words for a screen reader; the line)
    lines: Vec<(&'static str, &'static str, String)>,
}

/// `GET /me/agreement/changes`: the agreement signed and the one published since,
/// line by line, before reading and signing the new one.
pub async fn changes(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil("/me/agreement/changes")?;
    let Some(r) = state.services.revision(pupil.pupil_id, ctx.tr.lang).await? else {
        return Ok(Redirect::to("/me/consents").into_response());
    };
    let lines = r
        .changes
        .into_iter()
        .map(|c| match c {
            Changed::Same(l) => ("same", "", l),
            Changed::Removed(l) => ("removed", ctx.tr.t("changes_removed"), l),
            Changed::Added(l) => ("added", ctx.tr.t("changes_added"), l),
        })
        .collect();
    let page = ChangesPage {
        c: Chrome::new(
            &ctx,
            &state,
            ctx.tr.t("changes_title"),
            "/me/agreement/changes",
        ),
        from: r.signed.version,
        to: r.now.version,
        lines,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}
