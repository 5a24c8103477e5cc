//! The compliance officer's console: the chain's status, charts and alerts; search,
//! paging and export of the audit log; a pupil's access report; statistics with
//! small-cell suppression. Staff log in through the same OpenID Provider; what they
//! may open is decided by casbin (`policies/console_*`), default deny.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use time::{Date, Month};
use uuid::Uuid;

use super::pages::{self, download, message, render, Chrome};
use super::view::{self, oslo_time};
use super::{query_param, Ctx, Form};
use crate::domain::identity::IdentityNumber;
use crate::domain::statistics::Published;
use crate::http::AppState;
use crate::storage::{Found, LogColumn, LogFilter};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/verify", post(verify))
        .route("/console/log", get(log))
        .route("/console/log/pupil", post(find_pupil))
        .route("/console/log.csv", get(log_csv))
        .route("/console/log.json", get(log_json))
        .route("/console/pupils/{id}", get(report))
        .route("/console/pupils/{id}/report.json", get(report_json))
        .route("/console/statistics", get(statistics))
        .route("/console/statistics.csv", get(statistics_csv))
}

const PAGE: i64 = 50;
const EXPORT_MAX: i64 = 100_000;
const DAY: i64 = 86_400_000;

/// The staff member's subject if casbin lets them `read` `obj`; else the login or a 403.
fn staff(ctx: &Ctx, state: &AppState, obj: &str) -> Result<String, Response> {
    let Some(st) = ctx.session.as_ref().and_then(|s| s.data.staff.clone()) else {
        return Err(Redirect::to("/auth/login?return=%2Fconsole").into_response());
    };
    if state.services.console_allows(&st.subject, obj, "read") {
        Ok(st.subject)
    } else {
        Err(message(
            ctx,
            state,
            StatusCode::FORBIDDEN,
            "err_title",
            "console_forbidden",
            Some(("/", "go_start")),
        ))
    }
}

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

async fn overview(State(state): State<AppState>, ctx: Ctx) -> Response {
    if let Err(r) = staff(&ctx, &state, "audit") {
        return r;
    }
    let s = &state.services;
    let tr = ctx.tr;
    let now = s.now();
    let loaded = async {
        let checkpoints = s.store.checkpoints().await?;
        let per_day = s
            .store
            .log_counts_by_day("decision", now - 14 * DAY)
            .await?;
        let reasons = s
            .store
            .log_counts_by("decision", LogColumn::Reason, now - 30 * DAY)
            .await?;
        let by_client = s
            .store
            .log_counts_by("token", LogColumn::Actor, now - 30 * DAY)
            .await?;
        let directory = s.directory().await?;
        // Token requests by the organisation of the client that made them.
        let mut tokens: Vec<(String, i64)> = Vec::new();
        for (actor, n) in by_client {
            let org = crate::domain::client::ClientId::parse(actor.trim_start_matches("client:"))
                .ok()
                .and_then(|id| {
                    directory
                        .client(&id)
                        .and_then(|c| directory.org(c.org_id))
                        .map(|o| o.name.clone())
                })
                .unwrap_or(actor);
            match tokens.iter_mut().find(|(o, _)| *o == org) {
                Some((_, total)) => *total += n,
                None => tokens.push((org, n)),
            }
        }
        let alerts = s.alerts().await?;
        Ok::<_, crate::service::ServiceError>((checkpoints, per_day, reasons, tokens, alerts))
    };
    let (checkpoints, per_day, reasons, tokens, alerts) = match loaded.await {
        Ok(v) => v,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let (chain_line, broken) = match s.last_verification() {
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
    let checkpoint_line = checkpoints.last().map_or_else(
        || tr.t("console_no_checkpoint").to_owned(),
        |(cp, _)| {
            tr.f(
                "console_checkpoint",
                &[("size", &cp.size.to_string()), ("when", &oslo_time(cp.at))],
            )
        },
    );
    let days: Vec<(String, i64, &'static str)> = per_day
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
    let reasons = reasons
        .into_iter()
        .filter(|(k, _)| k != "allowed")
        .map(|(k, n)| (k, n, "bar-denied"))
        .collect();
    let tokens = tokens.into_iter().map(|(k, n)| (k, n, "bar")).collect();
    let alerts = alerts
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
    render(&ctx, &state, StatusCode::OK, &page)
}

async fn verify(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let form = match Form::read(req, state.max_body_bytes).await {
        Ok(f) => f,
        Err(e) => return pages::form_error(&ctx, &state, e),
    };
    if let Err(r) = staff(&ctx, &state, "audit") {
        return r;
    }
    if !ctx
        .session
        .as_ref()
        .is_some_and(|s| s.csrf_ok(form.get("csrf")))
    {
        return pages::csrf_failed(&ctx, &state);
    }
    match state.services.verify_and_remember().await {
        Ok(_) => Redirect::to("/console").into_response(),
        Err(e) => pages::unavailable(&ctx, &state, &e),
    }
}

/// The filter in a console URL; a value that does not parse is named.
fn filter(uri: &Uri) -> Result<(LogFilter, i64), String> {
    let q = |k: &str| query_param(uri, k).filter(|v| !v.is_empty());
    let uuid = |k: &str| {
        q(k).map(|v| Uuid::parse_str(&v).map_err(|_| k.to_owned()))
            .transpose()
    };
    let date = |k: &str| {
        q(k).map(|v| {
            let mut p = v.split('-').map(str::parse::<i32>);
            match (p.next(), p.next(), p.next()) {
                (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) => {
                    Month::try_from(u8::try_from(m).unwrap_or(0))
                        .ok()
                        .and_then(|m| {
                            Date::from_calendar_date(y, m, u8::try_from(d).unwrap_or(0)).ok()
                        })
                        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
                        .ok_or_else(|| k.to_owned())
                }
                _ => Err(k.to_owned()),
            }
        })
        .transpose()
    };
    let word = |k: &str| {
        q(k).map(|v| {
            if v.len() <= 80
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
            {
                Ok(v)
            } else {
                Err(k.to_owned())
            }
        })
        .transpose()
    };
    let page = q("page").map_or(Ok(1), |p| {
        p.parse::<i64>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or("page".to_owned())
    })?;
    Ok((
        LogFilter {
            pupil: uuid("pupil")?,
            org: uuid("org")?,
            actor: word("client")?,
            category: word("category")?,
            outcome: word("outcome")?,
            kind: word("kind")?,
            from: date("from")?,
            to: date("to")?.map(|t| t + DAY),
        },
        page,
    ))
}

/// The filter as a query string (without the page).
fn query_of(uri: &Uri) -> String {
    let pairs = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, v)| k != "page" && !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<Vec<_>>();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub struct SelectView {
    pub name: &'static str,
    pub label: String,
    pub options: Vec<(String, String, bool)>,
}

pub struct EntryRow {
    pub seq: i64,
    pub when: String,
    pub kind: String,
    pub actor: String,
    pub pupil: Option<Uuid>,
    pub detail: String,
}

fn entry_row(f: &Found, orgs: &[crate::domain::org::Organisation]) -> EntryRow {
    let d = &f.entry.detail;
    let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
    let detail = if f.entry.kind == "decision" {
        let org = Uuid::parse_str(text("org"))
            .map(|o| view::org_name(orgs, o))
            .unwrap_or_default();
        let allowed = if d.get("allowed").and_then(Value::as_bool) == Some(true) {
            "allowed"
        } else {
            "denied"
        };
        format!(
            "{org} · {} · {} · {allowed} ({})",
            text("category"),
            text("purpose"),
            text("reason")
        )
    } else {
        d.to_string().chars().take(240).collect()
    };
    EntryRow {
        seq: f.seq,
        when: oslo_time(f.entry.at),
        kind: f.entry.kind.clone(),
        actor: f.entry.actor.clone(),
        pupil: f.entry.pupil,
        detail,
    }
}

#[derive(Template)]
#[template(path = "console_log.html")]
struct LogPage {
    c: Chrome,
    error: Option<String>,
    pupil: Option<Uuid>,
    selects: Vec<SelectView>,
    from: String,
    to: String,
    summary: String,
    query: String,
    rows: Vec<EntryRow>,
    page_line: String,
    prev: Option<String>,
    next: Option<String>,
}

async fn log(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    if let Err(r) = staff(&ctx, &state, "audit") {
        return r;
    }
    log_page(&state, &ctx, &uri, None).await
}

async fn log_page(state: &AppState, ctx: &Ctx, uri: &Uri, error: Option<String>) -> Response {
    let tr = ctx.tr;
    let (f, page) = match filter(uri) {
        Ok(v) => v,
        Err(k) => {
            return pages::bad_input(ctx, state, StatusCode::BAD_REQUEST, &k, "/console/log");
        }
    };
    let s = &state.services;
    let loaded = async {
        let (found, total) = s.store.search_log(&f, (page - 1) * PAGE, PAGE).await?;
        Ok::<_, crate::service::ServiceError>((
            found,
            total,
            s.store.orgs().await?,
            s.store.clients().await?,
        ))
    };
    let (found, total, orgs, clients) = match loaded.await {
        Ok(v) => v,
        Err(e) => return pages::unavailable(ctx, state, &e),
    };
    let sel = |v: &str, cur: &Option<String>| cur.as_deref() == Some(v);
    let catalogue = s.catalogue();
    let org_now = f.org.map(|o| o.to_string());
    let selects = vec![
        SelectView {
            name: "org",
            label: tr.t("console_f_org").into(),
            options: orgs
                .iter()
                .map(|o| {
                    (
                        o.id.to_string(),
                        o.name.clone(),
                        sel(&o.id.to_string(), &org_now),
                    )
                })
                .collect(),
        },
        SelectView {
            name: "client",
            label: tr.t("console_f_client").into(),
            options: clients
                .iter()
                .map(|c| {
                    let v = format!("client:{}", c.client_id);
                    let on = sel(&v, &f.actor);
                    (v, c.client_id.to_string(), on)
                })
                .collect(),
        },
        SelectView {
            name: "category",
            label: tr.t("console_f_category").into(),
            options: catalogue
                .categories
                .iter()
                .map(|c| {
                    (
                        c.key.to_string(),
                        c.name.get(tr.lang).to_owned(),
                        sel(c.key.as_str(), &f.category),
                    )
                })
                .collect(),
        },
        SelectView {
            name: "outcome",
            label: tr.t("console_f_outcome").into(),
            options: [
                "allowed",
                "denied",
                "issued",
                "refused",
                "succeeded",
                "active",
                "inactive",
                "revoked",
            ]
            .iter()
            .map(|o| ((*o).to_owned(), (*o).to_owned(), sel(o, &f.outcome)))
            .collect(),
        },
        SelectView {
            name: "kind",
            label: tr.t("console_f_kind").into(),
            options: [
                "decision",
                "token",
                "introspection",
                "revocation",
                "login",
                "consent.signed",
                "consent.changed",
                "consent.withdrawn",
                "consent.superseded",
                "consent.erased",
                "pupil.enrolled",
                "pupil.erased",
            ]
            .iter()
            .map(|k| ((*k).to_owned(), (*k).to_owned(), sel(k, &f.kind)))
            .collect(),
        },
    ];
    let query = query_of(uri);
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    let link = |p: i64| {
        format!(
            "/console/log?{query}{}page={p}",
            if query.is_empty() { "" } else { "&" }
        )
    };
    let page_view = LogPage {
        c: Chrome::new(ctx, state, tr.t("console_nav_log"), "/console/log"),
        error,
        pupil: f.pupil,
        selects,
        from: query_param(uri, "from").unwrap_or_default(),
        to: query_param(uri, "to").unwrap_or_default(),
        summary: tr.f("console_results", &[("total", &total.to_string())]),
        rows: found.iter().map(|x| entry_row(x, &orgs)).collect(),
        page_line: tr.f(
            "console_page",
            &[("page", &page.to_string()), ("pages", &pages.to_string())],
        ),
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        query,
    };
    render(ctx, state, StatusCode::OK, &page_view)
}

/// The identity number comes in a POST body, is hashed, and only the pupil's
/// pseudonym goes on into the URL.
async fn find_pupil(State(state): State<AppState>, ctx: Ctx, uri: Uri, req: Request) -> Response {
    let form = match Form::read(req, state.max_body_bytes).await {
        Ok(f) => f,
        Err(e) => return pages::form_error(&ctx, &state, e),
    };
    if let Err(r) = staff(&ctx, &state, "audit") {
        return r;
    }
    if !ctx
        .session
        .as_ref()
        .is_some_and(|s| s.csrf_ok(form.get("csrf")))
    {
        return pages::csrf_failed(&ctx, &state);
    }
    let Ok(n) = IdentityNumber::parse(form.get("pid").unwrap_or_default().trim()) else {
        return pages::bad_input(&ctx, &state, StatusCode::BAD_REQUEST, "pid", "/console/log");
    };
    match state.services.find_pupil(&n).await {
        Ok(Some(id)) => Redirect::to(&format!("/console/log?pupil={id}")).into_response(),
        Ok(None) => {
            let mut page = log_page(
                &state,
                &ctx,
                &uri,
                Some(ctx.tr.t("console_no_pupil").to_owned()),
            )
            .await;
            *page.status_mut() = StatusCode::NOT_FOUND;
            page
        }
        Err(e) => pages::unavailable(&ctx, &state, &e),
    }
}

async fn export(state: &AppState, ctx: &Ctx, uri: &Uri) -> Result<Vec<Found>, Response> {
    staff(ctx, state, "audit")?;
    let (f, _) = filter(uri)
        .map_err(|k| pages::bad_input(ctx, state, StatusCode::BAD_REQUEST, &k, "/console/log"))?;
    state
        .services
        .store
        .search_log(&f, 0, EXPORT_MAX)
        .await
        .map(|(found, _)| found)
        .map_err(|e| pages::unavailable(ctx, state, &e))
}

/// A CSV field: quoted, quotes doubled, and a leading formula character defused.
fn csv(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

async fn log_csv(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let found = match export(&state, &ctx, &uri).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut out = String::from("seq,at,kind,actor,pupil,detail,request_id\r\n");
    for f in &found {
        let e = &f.entry;
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            f.seq,
            csv(&crate::clock::rfc3339(e.at)),
            csv(&e.kind),
            csv(&e.actor),
            csv(&e.pupil.map(|p| p.to_string()).unwrap_or_default()),
            csv(&e.detail.to_string()),
            csv(e.request_id.as_deref().unwrap_or_default()),
        ));
    }
    download("text/csv; charset=utf-8", "samtykke-audit.csv", out)
}

async fn log_json(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let found = match export(&state, &ctx, &uri).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let entries: Vec<Value> = found
        .iter()
        .map(|f| json!({ "seq": f.seq, "entry": f.entry }))
        .collect();
    download(
        "application/json",
        "samtykke-audit.json",
        json!({ "entries": entries }).to_string(),
    )
}

#[derive(Template)]
#[template(path = "console_report.html")]
struct ReportPage {
    c: Chrome,
    pupil: Uuid,
    consents: Vec<String>,
    rows: Vec<EntryRow>,
}

/// Everything about one pupil: consents, their history, and every log entry.
async fn report_data(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<(Uuid, Value, Vec<Found>), Response> {
    staff(ctx, state, "pupil_report")?;
    let not_found = || pages::not_found(ctx, state, ("/console/log", "back"));
    let pupil = Uuid::parse_str(id).map_err(|_| not_found())?;
    let s = &state.services;
    let consents = s
        .store
        .consents_of_pupil(pupil)
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    let (found, _) = s
        .store
        .search_log(
            &LogFilter {
                pupil: Some(pupil),
                ..LogFilter::default()
            },
            0,
            EXPORT_MAX,
        )
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    if consents.is_empty() && found.is_empty() {
        return Err(not_found());
    }
    let mut with_events = Vec::new();
    for c in &consents {
        let events = s
            .store
            .consent_events(c.id)
            .await
            .map_err(|e| pages::unavailable(ctx, state, &e))?;
        with_events.push(json!({ "consent": c, "state": c.state(s.now()), "events": events }));
    }
    Ok((pupil, json!(with_events), found))
}

async fn report(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let (pupil, consents, found) = match report_data(&state, &ctx, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let orgs = state.services.store.orgs().await.unwrap_or_default();
    let consents = consents
        .as_array()
        .map(|all| {
            all.iter()
                .map(|c| {
                    format!(
                        "{} · {} · {}",
                        c["consent"]["id"].as_str().unwrap_or_default(),
                        c["state"].as_str().unwrap_or_default(),
                        c["consent"]["grants"].as_array().map_or(0, Vec::len)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let page = ReportPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("console_report"), "/console/log"),
        pupil,
        consents,
        rows: found.iter().map(|f| entry_row(f, &orgs)).collect(),
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

async fn report_json(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let (pupil, consents, found) = match report_data(&state, &ctx, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let entries: Vec<Value> = found
        .iter()
        .map(|f| json!({ "seq": f.seq, "entry": f.entry }))
        .collect();
    let body = json!({
        "pupil": pupil,
        "generated_at": crate::clock::rfc3339(state.services.now()),
        "consents": consents,
        "audit_log": entries,
    });
    download(
        "application/json",
        &format!("access-report-{pupil}.json"),
        body.to_string(),
    )
}

pub struct TableView {
    pub title: String,
    pub corner: String,
    pub cols: Vec<String>,
    pub rows: Vec<(String, Vec<String>, String)>,
    pub col_totals: Vec<String>,
    pub total: String,
}

fn table(
    title: String,
    corner: String,
    rows: &[String],
    cols: Vec<String>,
    p: &Published,
) -> TableView {
    TableView {
        title,
        corner,
        cols,
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.clone(),
                    p.cells[i].iter().map(|c| c.text()).collect(),
                    p.row_totals[i].text(),
                )
            })
            .collect(),
        col_totals: p.col_totals.iter().map(|c| c.text()).collect(),
        total: p.total.text(),
    }
}

#[derive(Template)]
#[template(path = "console_stats.html")]
struct StatsPage {
    c: Chrome,
    title: String,
    year: i32,
    tables: Vec<TableView>,
}

async fn stats_tables(
    state: &AppState,
    ctx: &Ctx,
    uri: &Uri,
) -> Result<(i32, Vec<TableView>), Response> {
    staff(ctx, state, "statistics")?;
    let s = &state.services;
    let this_year = crate::clock::date_of(s.now()).year();
    let year = match query_param(uri, "year") {
        None => this_year,
        Some(y) => y
            .parse::<i32>()
            .ok()
            .filter(|y| (2000..=2100).contains(y))
            .ok_or_else(|| {
                pages::bad_input(
                    ctx,
                    state,
                    StatusCode::BAD_REQUEST,
                    "year",
                    "/console/statistics",
                )
            })?,
    };
    let st = s
        .statistics(year)
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    let tr = ctx.tr;
    let catalogue = s.catalogue();
    let type_name = |k: &str| {
        catalogue
            .org_types
            .iter()
            .find(|t| t.key.as_str() == k)
            .map_or(k.to_owned(), |t| t.name.get(tr.lang).to_owned())
    };
    let mut tables = vec![table(
        format!("{} {year}", tr.t("console_stats")),
        tr.t("console_stats_school").into(),
        &st.schools,
        vec![
            tr.t("console_stats_active").into(),
            tr.t("console_stats_withdrew").into(),
        ],
        &st.overview,
    )];
    for sc in &st.per_school {
        if sc.org_types.is_empty() {
            continue;
        }
        let rows: Vec<String> = sc.org_types.iter().map(|t| type_name(t)).collect();
        let cols = sc
            .categories
            .iter()
            .map(|c| view::category_name(&catalogue, c, tr.lang))
            .collect();
        tables.push(table(
            format!("{}: {}", sc.school, tr.t("console_stats_grants")),
            tr.t("console_f_org").into(),
            &rows,
            cols,
            &sc.grants,
        ));
    }
    Ok((year, tables))
}

async fn statistics(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let (year, tables) = match stats_tables(&state, &ctx, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let page = StatsPage {
        c: Chrome::new(
            &ctx,
            &state,
            ctx.tr.t("console_stats"),
            "/console/statistics",
        ),
        title: format!("{} {year}", ctx.tr.t("console_stats")),
        year,
        tables,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

async fn statistics_csv(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let (year, tables) = match stats_tables(&state, &ctx, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut out = String::from("table,row,column,value\r\n");
    for t in &tables {
        for (row, cells, total) in &t.rows {
            for (col, v) in t.cols.iter().zip(cells) {
                out.push_str(&format!(
                    "{},{},{},{}\r\n",
                    csv(&t.title),
                    csv(row),
                    csv(col),
                    csv(v)
                ));
            }
            out.push_str(&format!(
                "{},{},{},{}\r\n",
                csv(&t.title),
                csv(row),
                csv("total"),
                csv(total)
            ));
        }
        for (col, v) in t.cols.iter().zip(&t.col_totals) {
            out.push_str(&format!(
                "{},{},{},{}\r\n",
                csv(&t.title),
                csv("total"),
                csv(col),
                csv(v)
            ));
        }
        out.push_str(&format!(
            "{},{},{},{}\r\n",
            csv(&t.title),
            csv("total"),
            csv("total"),
            csv(&t.total)
        ));
    }
    download(
        "text/csv; charset=utf-8",
        &format!("samtykke-statistics-{year}.csv"),
        out,
    )
}
