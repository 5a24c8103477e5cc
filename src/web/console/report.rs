//! A pupil's access report (GDPR Art. 15): consents, their history and every log
//! entry that names the pupil, as a page and as JSON.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{entry_row, staff, EntryRow};
use crate::service::PupilReport;
use crate::web::pages::{download, render, Chrome};
use crate::web::{Ctx, PageError, WebState};

#[derive(Template)]
#[template(path = "console_report.html")]
struct ReportPage {
    c: Chrome,
    pupil: Uuid,
    consents: Vec<String>,
    rows: Vec<EntryRow>,
}

async fn report_of(state: &WebState, ctx: &Ctx, id: &str) -> Result<PupilReport, PageError> {
    let by = staff(ctx, state, "pupil_report")?;
    let not_found = || PageError::NotFound(("/console/log", "back"));
    let pupil = Uuid::parse_str(id).map_err(|_| not_found())?;
    state
        .services
        .pupil_report(&by, pupil)
        .await?
        .ok_or_else(not_found)
}

/// `GET /console/pupils/{id}`
pub async fn report(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let r = report_of(&state, &ctx, &id).await?;
    let orgs = state.services.orgs().await?;
    let consents = r
        .consents
        .iter()
        .map(|(c, st, _)| {
            let state = serde_json::to_value(st).unwrap_or_default();
            format!(
                "{} · {} · {}",
                c.id,
                state.as_str().unwrap_or_default(),
                c.grants.len()
            )
        })
        .collect();
    let page = ReportPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("console_report"), "/console/log"),
        pupil: r.pupil,
        consents,
        rows: r.entries.iter().map(|f| entry_row(f, &orgs)).collect(),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `GET /console/pupils/{id}/report.json`
pub async fn report_json(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let r = report_of(&state, &ctx, &id).await?;
    let consents: Vec<Value> = r
        .consents
        .iter()
        .map(|(c, st, events)| json!({ "consent": c, "state": st, "events": events }))
        .collect();
    let entries: Vec<Value> = r
        .entries
        .iter()
        .map(|f| json!({ "seq": f.seq, "entry": f.entry }))
        .collect();
    let body = json!({
        "pupil": r.pupil,
        "generated_at": crate::clock::rfc3339(state.services.now()),
        "consents": consents,
        "audit_log": entries,
    });
    Ok(download(
        "application/json",
        &format!("access-report-{}.json", r.pupil),
        body.to_string(),
    ))
}
