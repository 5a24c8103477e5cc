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
    versions: String,
    /// Nothing in the text changed in the pupil's language (the title, the terms
    /// or another language did).
    text_same: bool,
    /// "Sign the new one by …, or sharing stops then", when the revision says so.
    sign_by: Option<String>,
    lines: Vec<Line>,
}

/// A paragraph of "what changed": same, removed, added, or a run of unchanged
/// paragraphs left out (`skipped`).
pub struct Line {
    pub kind: &'static str,
    /// What a screen reader says first: "Taken out:" or "New:".
    pub says: &'static str,
    pub strong: Option<String>,
    pub text: String,
    pub skipped: usize,
}

/// Changed paragraphs with one unchanged paragraph around each change; longer
/// unchanged runs are left out, counted.
fn lines(changes: Vec<Changed>, ctx: &Ctx) -> Vec<Line> {
    let near = |i: usize| {
        let changed = |j: usize| {
            changes
                .get(j)
                .is_some_and(|c| !matches!(c, Changed::Same(_)))
        };
        changed(i) || changed(i + 1) || (i > 0 && changed(i - 1))
    };
    let keep: Vec<bool> = (0..changes.len()).map(near).collect();
    let mut out: Vec<Line> = Vec::new();
    for (c, keep) in changes.iter().zip(keep) {
        if !keep {
            match out.last_mut() {
                Some(l) if l.kind == "skipped" => l.skipped += 1,
                _ => out.push(Line {
                    kind: "skipped",
                    says: "",
                    strong: None,
                    text: String::new(),
                    skipped: 1,
                }),
            }
            continue;
        }
        let (kind, says, p) = match c {
            Changed::Same(p) => ("same", "", p),
            Changed::Removed(p) => ("removed", ctx.tr.t("changes_removed"), p),
            Changed::Added(p) => ("added", ctx.tr.t("changes_added"), p),
        };
        let para = super::view::paragraphs(p).into_iter().next();
        out.push(Line {
            kind,
            says,
            strong: para.as_ref().and_then(|x| x.strong.clone()),
            text: para.map(|x| x.text).unwrap_or_default(),
            skipped: 0,
        });
    }
    out
}

/// `GET /me/agreement/changes`: the agreement signed and the one published since,
/// line by line, before reading and signing the new one.
pub async fn changes(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil("/me/agreement/changes")?;
    let Some(r) = state.services.revision(pupil.pupil_id, ctx.tr.lang).await? else {
        return Ok(Redirect::to("/me/consents").into_response());
    };
    let lines = lines(r.changes, &ctx);
    let text_same = lines
        .iter()
        .all(|l| l.kind == "same" || l.kind == "skipped");
    let page = ChangesPage {
        c: Chrome::new(
            &ctx,
            &state,
            ctx.tr.t("changes_title"),
            "/me/agreement/changes",
        ),
        versions: ctx.tr.f(
            "changes_versions",
            &[
                ("from", &r.signed.version.to_string()),
                ("to", &r.now.version.to_string()),
            ],
        ),
        sign_by: r.sign_by.map(|at| {
            ctx.tr
                .f("changes_sign_by", &[("date", &super::view::oslo_date(at))])
        }),
        lines,
        text_same,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}
