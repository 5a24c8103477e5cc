//! The compliance officer's console: the chain's status, charts and alerts; search,
//! paging and export of the audit log; a pupil's access report; statistics with
//! small-cell suppression. Staff log in through the same OpenID Provider; what they
//! may open is decided by casbin (`policies/console_*`), default deny. One file per
//! page; the queries and the aggregation are the service's.

mod disputes;
mod exceptions;
mod log;
mod overview;
mod report;
mod staff;
mod statistics;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use uuid::Uuid;

use super::view::{self, oslo_time};
use super::{Ctx, PageError, WebState};
use crate::audit::event::{Event, Introspected, Outcome};
use crate::audit::{Actor, Record};
use crate::domain::org::Organisation;
use crate::service::{LogItem, LoginAs};

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebState: FromRef<S>,
{
    Router::new()
        .route("/console", get(overview::overview))
        .route("/console/login", get(login))
        .route("/console/verify", post(overview::verify))
        .route("/console/log", get(log::log))
        .route("/console/log/pupil", post(log::find_pupil))
        .route("/console/log.csv", get(log::log_csv))
        .route("/console/log.json", get(log::log_json))
        .route("/console/pupils/{id}", get(report::report))
        .route("/console/pupils/{id}/report.json", get(report::report_json))
        .route("/console/statistics", get(statistics::statistics))
        .route("/console/staff", get(staff::page).post(staff::change))
        .route("/console/disputes", get(disputes::page))
        .route("/console/disputes/{id}/close", post(disputes::close))
        .route("/console/exceptions", get(exceptions::page))
        .route("/console/exceptions/{id}/review", post(exceptions::review))
        .route("/console/statistics.csv", get(statistics::statistics_csv))
}

/// `GET /console/login`: a staff member's login, back to the console.
async fn login(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    super::auth::start(&state, &ctx, LoginAs::Staff, Some("/console".into())).await
}

/// The staff member if casbin lets them `read` `obj`; else the login or a 403.
fn staff(ctx: &Ctx, state: &WebState, obj: &str) -> Result<Actor, PageError> {
    staff_may(ctx, state, obj, "read")
}

/// The staff member if casbin lets them `act` on `obj`; else the login or a 403.
fn staff_may(ctx: &Ctx, state: &WebState, obj: &str, act: &str) -> Result<Actor, PageError> {
    let Some(st) = ctx.session.as_ref().and_then(|s| s.data.staff.as_ref()) else {
        return Err(PageError::Login {
            to: "/console/login".into(),
        });
    };
    if state.services.console_allows(&st.subject, obj, act) {
        Ok(Actor::parse(&st.subject))
    } else {
        Err(PageError::message(
            StatusCode::FORBIDDEN,
            "err_title",
            "console_forbidden",
            Some(("/", "go_start")),
        ))
    }
}

pub struct EntryRow {
    pub seq: i64,
    pub when: String,
    pub kind: String,
    pub actor: String,
    pub pupil: Option<Uuid>,
    pub detail: String,
}

/// One entry as the console lists it: what it records, in a line.
fn entry_row(item: &LogItem, orgs: &[Organisation]) -> EntryRow {
    let e = &item.entry;
    let org = |id: Option<Uuid>| id.map(|o| view::org_name(orgs, o)).unwrap_or_default();
    let outcome = |o: &Outcome| format!("{} ({}) {}", o.outcome, o.reason, o.detail);
    let detail = match item.record.as_ref().map(|r: &Record| &r.event) {
        Some(Event::Decision(d)) => {
            let allowed = if d.allowed { "allowed" } else { "denied" };
            let holder = d
                .holder
                .map(|h| format!(" · from {}", org(Some(h))))
                .unwrap_or_default();
            format!(
                "{} · {} · {} · {allowed} ({}){holder}",
                d.org.map_or_else(|| "tutor".to_owned(), |o| org(Some(o))),
                d.category,
                d.purpose,
                d.reason
            )
        }
        Some(Event::Introspection(Introspected {
            outcome,
            reason,
            org: asker,
            recipient,
            holder,
            categories,
            ..
        })) => format!(
            "{} · {outcome} ({reason}) · {} · for {}{}",
            org(*asker),
            categories.join(", "),
            org(*recipient),
            if *holder { " · data holder" } else { "" }
        ),
        Some(Event::Token(o) | Event::Revocation(o) | Event::Login(o)) => outcome(o),
        Some(Event::Consent(kind, c)) => format!(
            "{} · +{} −{}",
            kind.as_str(),
            c.added.len(),
            c.removed.len()
        ),
        Some(Event::PupilEnrolled | Event::PupilErased) => String::new(),
        Some(Event::StaffAccess(a)) => format!("{} {}", a.what, a.filter),
        Some(Event::Operator(o)) => o.detail.to_string(),
        Some(Event::Disclosure(d)) => format!(
            "{} {} · {} · {} {} · {}",
            d.direction,
            org(Some(d.counterpart)),
            d.category,
            d.occasion,
            d.on,
            d.basis
        ),
        Some(Event::Tutor(what, t)) => format!(
            "{what} {}{}",
            t.counterparts.join(", "),
            t.form_sha256
                .as_deref()
                .map(|h| format!(" form sha256 {h}"))
                .unwrap_or_default()
        ),
        Some(Event::Dispute(what, d)) => format!(
            "{what} entry {}{}",
            d.entry,
            d.outcome
                .as_deref()
                .map(|o| format!(" · {o}"))
                .unwrap_or_default()
        ),
        // A protective exception's ground is for the officers who review it
        // (`/console/exceptions`), not for everyone who reads the log.
        Some(Event::Guardian(what, g)) => format!(
            "{what} · {} grant(s){}",
            g.grants.len(),
            g.outcome
                .as_deref()
                .filter(|_| what != "exception_reviewed")
                .map(|o| format!(" · {o}"))
                .unwrap_or_default()
        ),
        None => e.detail.to_string(),
    };
    EntryRow {
        seq: item.seq,
        when: oslo_time(e.at),
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        pupil: e.pupil,
        detail: detail.chars().take(240).collect(),
    }
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
