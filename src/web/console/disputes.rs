//! Pupils' "this looks wrong", for the compliance officer: open cases first, each
//! with the entry it is about, closed with one of a fixed list of outcomes.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::{entry_row, staff_may, EntryRow};
use crate::audit::Record;
use crate::domain::dispute::DisputeOutcome;
use crate::service::LogItem;
use crate::web::pages::{render, Chrome};
use crate::web::view::oslo_time;
use crate::web::{query_param, Ctx, Form, PageError, WebState};

pub struct DisputeRow {
    pub id: Uuid,
    pub pupil: Uuid,
    pub opened: String,
    /// `None` while open.
    pub closed: Option<String>,
    pub entry: Option<EntryRow>,
}

#[derive(Template)]
#[template(path = "console_disputes.html")]
struct DisputesPage {
    c: Chrome,
    rows: Vec<DisputeRow>,
    outcomes: Vec<(&'static str, String)>,
}

const BACK: &str = "/console/disputes";

/// `GET /console/disputes`
pub async fn page(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let by = staff_may(&ctx, &state, "disputes", "work")?;
    let s = &state.services;
    let orgs = s.orgs().await?;
    let outcome_text = |o: DisputeOutcome| {
        ctx.tr
            .t(&format!("console_dispute_{}", o.as_str()))
            .to_owned()
    };
    let rows = s
        .disputes_to_review(&by)
        .await?
        .into_iter()
        .map(|(d, entry)| DisputeRow {
            id: d.id,
            pupil: d.pupil,
            opened: oslo_time(d.opened_at),
            closed: d.closed_at.map(|at| {
                let how = d.outcome.map(outcome_text).unwrap_or_default();
                format!("{} · {how}", oslo_time(at))
            }),
            entry: entry.map(|entry| {
                let item = LogItem {
                    seq: d.entry_seq,
                    record: Record::parse(&entry).ok(),
                    entry,
                };
                entry_row(&item, &orgs)
            }),
        })
        .collect();
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("console_disputes"), BACK);
    if query_param(&uri, "done").as_deref() == Some("closed") {
        c.flash = Some(ctx.tr.t("console_dispute_closed").to_owned());
    }
    let page = DisputesPage {
        c,
        rows,
        outcomes: DisputeOutcome::ALL
            .into_iter()
            .map(|o| (o.as_str(), outcome_text(o)))
            .collect(),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `POST /console/disputes/{id}/close`
pub async fn close(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let by = staff_may(&ctx, &state, "disputes", "work")?;
    let form = Form::read(req, state.max_body_bytes).await?;
    ctx.csrf_checked(&form)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::bad_input("dispute", BACK))?;
    let outcome = form
        .get("outcome")
        .and_then(DisputeOutcome::parse)
        .ok_or_else(|| PageError::bad_input("outcome", BACK))?;
    state.services.close_dispute(&by, id, outcome).await?;
    Ok(Redirect::to("/console/disputes?done=closed").into_response())
}
