//! The console's front page: the chain's status, charts and alerts.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::staff;
use crate::web::pages::{render, Chrome};
use crate::web::view::{self, oslo_time};
use crate::web::{Ctx, Form, PageError, WebState};

const DAY: i64 = 86_400_000;

pub struct Bar {
    pub label: String,
    pub value: i64,
    pub y: i64,
    pub width: i64,
    pub class: &'static str,
}

pub struct Chart {
    pub title: String,
    pub bars: Vec<Bar>,
    pub height: i64,
}

/// A horizontal bar chart, drawn as SVG by the template, with its data table.
fn chart(title: &str, data: Vec<(String, i64, &'static str)>) -> Chart {
    let max = data.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let bars: Vec<Bar> = data
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, class))| Bar {
            label: label.chars().take(22).collect(),
            value,
            y: i as i64 * 20,
            width: value * 150 / max,
            class,
        })
        .collect();
    Chart {
        title: title.to_owned(),
        height: bars.len() as i64 * 20 + 4,
        bars,
    }
}

#[derive(Template)]
#[template(path = "console.html")]
struct OverviewPage {
    c: Chrome,
    chain_line: String,
    broken: bool,
    checkpoint_line: String,
    alerts: Vec<String>,
    charts: Vec<Chart>,
}

pub async fn overview(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    staff(&ctx, &state, "audit")?;
    let o = state.services.console_overview().await?;
    let tr = ctx.tr;
    let (chain_line, broken) = match o.verification {
        None => (tr.t("console_chain_unknown").to_owned(), false),
        Some((at, r)) if r.verified => (
            tr.f(
                "console_chain_ok",
                &[("when", &oslo_time(at)), ("size", &r.size.to_string())],
            ),
            false,
        ),
        Some((at, r)) => (
            tr.f(
                "console_chain_broken",
                &[
                    ("when", &oslo_time(at)),
                    (
                        "reason",
                        &r.broken.map(|b| b.to_string()).unwrap_or_default(),
                    ),
                ],
            ),
            true,
        ),
    };
    let checkpoint_line = o.last_checkpoint.map_or_else(
        || tr.t("console_no_checkpoint").to_owned(),
        |cp| {
            tr.f(
                "console_checkpoint",
                &[("size", &cp.size.to_string()), ("when", &oslo_time(cp.at))],
            )
        },
    );
    let days = o
        .decisions_per_day
        .iter()
        .map(|(day, outcome, n)| {
            let (label, class) = if outcome == "allowed" {
                (tr.t("console_allowed"), "bar-allowed")
            } else {
                (tr.t("console_denied"), "bar-denied")
            };
            (format!("{} {label}", view::oslo_date(day * DAY)), *n, class)
        })
        .collect();
    let reasons = o
        .denial_reasons
        .into_iter()
        .map(|(k, n)| (k, n, "bar-denied"))
        .collect();
    let tokens = o
        .tokens_by_org
        .into_iter()
        .map(|(k, n)| (k, n, "bar"))
        .collect();
    let alerts = o
        .alerts
        .iter()
        .map(|a| {
            tr.f(
                a.kind,
                &[
                    ("who", &a.who),
                    ("count", &a.count.to_string()),
                    ("usual", &a.usual.to_string()),
                ],
            )
        })
        .collect();
    let page = OverviewPage {
        c: Chrome::new(&ctx, &state, tr.t("console_title"), "/console"),
        chain_line,
        broken,
        checkpoint_line,
        alerts,
        charts: vec![
            chart(tr.t("console_chart_decisions"), days),
            chart(tr.t("console_chart_reasons"), reasons),
            chart(tr.t("console_chart_tokens"), tokens),
        ],
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `POST /console/verify`: verifies the whole chain now.
pub async fn verify(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    staff(&ctx, &state, "audit")?;
    ctx.csrf_checked(&form)?;
    state.services.verify_and_remember().await?;
    Ok(Redirect::to("/console").into_response())
}
