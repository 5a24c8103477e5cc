//! The pupil's own view: what is shared now, its history, withdrawal, receipts and
//! who has asked for their data.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{self, bad_form, message, render, Chrome};
use super::view::{self, oslo_date, oslo_time};
use super::{query_param, Ctx, Form};
use crate::domain::consent::{Consent, ConsentError, ConsentState, EventKind, Withdrawal};
use crate::domain::template::Template as Agreement;
use crate::http::AppState;
use crate::service::ServiceError;

pub struct GrantView {
    pub id: Uuid,
    pub category: String,
    /// What the Stop button does, for screen readers.
    pub label: String,
}

pub struct OrgGrants {
    pub id: Uuid,
    pub name: String,
    pub withdraw_label: String,
    pub grants: Vec<GrantView>,
}

pub struct CurrentView {
    pub id: Uuid,
    pub orgs: Vec<OrgGrants>,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    c: Chrome,
    current: Option<CurrentView>,
    history: Vec<(String, String, Option<Uuid>)>,
}

fn flash(ctx: &Ctx, uri: &Uri) -> Option<String> {
    match query_param(uri, "done").as_deref() {
        Some("signed") => Some(ctx.tr.t("done_signed").to_owned()),
        Some("changed") => Some(ctx.tr.t("done_changed").to_owned()),
        Some("withdrawn") => Some(ctx.tr.t("done_withdrawn").to_owned()),
        _ => None,
    }
}

pub async fn consents(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let pupil = match ctx.require_pupil("/me/consents") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let s = &state.services;
    let loaded = async {
        let (all, current) = s.consents_in_force(pupil.pupil_id).await?;
        let orgs = s.store.orgs().await?;
        let mut events = Vec::new();
        for c in &all {
            for e in s.store.consent_events(c.id).await? {
                events.push((e.at, e.kind, c.id));
            }
        }
        Ok::<_, ServiceError>((current, orgs, events))
    };
    let (current, orgs, mut events) = match loaded.await {
        Ok(v) => v,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let catalogue = s.catalogue();
    let lang = ctx.tr.lang;
    let current = current.map(|c| {
        let mut out: Vec<OrgGrants> = Vec::new();
        for g in c.grants_in_force() {
            let org = view::org_name(&orgs, g.org_id);
            let category = view::category_name(&catalogue, g.category.as_str(), lang);
            let label = format!("{} – {category} – {org}", ctx.tr.t("consents_withdraw"));
            let gv = GrantView {
                id: g.id,
                category,
                label,
            };
            match out.iter_mut().find(|o| o.id == g.org_id) {
                Some(o) => o.grants.push(gv),
                None => out.push(OrgGrants {
                    id: g.org_id,
                    withdraw_label: ctx.tr.f("consents_withdraw_org", &[("org", &org)]),
                    name: org,
                    grants: vec![gv],
                }),
            }
        }
        CurrentView {
            id: c.id,
            orgs: out,
        }
    });
    events.sort_by_key(|e| std::cmp::Reverse(e.0));
    let history = events
        .into_iter()
        .map(|(at, kind, id)| {
            let key = match kind {
                EventKind::Signed => "event_signed",
                EventKind::Changed => "event_changed",
                EventKind::Withdrawn => "event_withdrawn",
                EventKind::Superseded => "event_superseded",
                EventKind::Expired => "event_expired",
                EventKind::Erased => "event_erased",
            };
            let receipt = matches!(kind, EventKind::Signed | EventKind::Changed).then_some(id);
            (oslo_time(at), ctx.tr.t(key).to_owned(), receipt)
        })
        .collect();
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("consents_title"), "/me/consents");
    c.flash = flash(&ctx, &uri);
    render(
        &ctx,
        &state,
        StatusCode::OK,
        &ConsentsPage {
            c,
            current,
            history,
        },
    )
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    c: Chrome,
    text: String,
    scope: String,
    id: String,
}

const ALREADY: &str = "already withdrawn";

/// What a withdrawal form asks for, checked against the consent in force.
fn withdrawal(form: &Form, consent: &Consent) -> Result<Withdrawal, &'static str> {
    let id = || {
        form.get("id")
            .and_then(|i| Uuid::parse_str(i).ok())
            .ok_or("unknown id")
    };
    // Named in the consent but no longer in force: a second click, not a bad form.
    let known = |in_force: bool, named: bool| match (in_force, named) {
        (true, _) => Ok(()),
        (false, true) => Err(ALREADY),
        (false, false) => Err("unknown id"),
    };
    match form.get("scope") {
        Some("grant") => {
            let grant_id = id()?;
            known(
                consent.grants_in_force().any(|g| g.id == grant_id),
                consent.grants.iter().any(|g| g.id == grant_id),
            )?;
            Ok(Withdrawal::Grant { grant_id })
        }
        Some("organisation") => {
            let org_id = id()?;
            known(
                consent.grants_in_force().any(|g| g.org_id == org_id),
                consent.grants.iter().any(|g| g.org_id == org_id),
            )?;
            Ok(Withdrawal::Organisation { org_id })
        }
        Some("all") => Ok(Withdrawal::All),
        _ => Err("unknown scope"),
    }
}

/// The form, its CSRF token checked, and the consent in force.
async fn posted(state: &AppState, ctx: &Ctx, req: Request) -> Result<(Form, Consent), Response> {
    let form = Form::read(req, state.max_body_bytes)
        .await
        .map_err(|e| pages::form_error(ctx, state, e))?;
    let pupil = ctx.require_pupil("/me/consents")?;
    if !ctx
        .session
        .as_ref()
        .is_some_and(|s| s.csrf_ok(form.get("csrf")))
    {
        return Err(pages::csrf_failed(ctx, state));
    }
    match state.services.consents_in_force(pupil.pupil_id).await {
        Ok((_, Some(c))) => Ok((form, c)),
        Ok((_, None)) => Err(message(
            ctx,
            state,
            StatusCode::CONFLICT,
            "err_title",
            "err_no_consent",
            Some(("/me/consents", "nav_consents")),
        )),
        Err(e) => Err(pages::unavailable(ctx, state, &e)),
    }
}

/// A withdrawal form, its CSRF token checked, against the consent in force.
async fn posted_withdrawal(
    state: &AppState,
    ctx: &Ctx,
    req: Request,
) -> Result<(Consent, Withdrawal), Response> {
    let (form, consent) = posted(state, ctx, req).await?;
    match withdrawal(&form, &consent) {
        Ok(w) => Ok((consent, w)),
        Err(ALREADY) => Err(already(ctx, state)),
        Err(reason) => Err(bad_form(ctx, state, StatusCode::BAD_REQUEST, reason)),
    }
}

pub async fn confirm_withdrawal(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let (consent, w) = match posted_withdrawal(&state, &ctx, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = &state.services;
    let orgs = s.store.orgs().await.unwrap_or_default();
    let catalogue = s.catalogue();
    let (scope, id, text) = match &w {
        Withdrawal::Grant { grant_id } => {
            let g = consent.grants.iter().find(|g| g.id == *grant_id);
            let org = g
                .map(|g| view::org_name(&orgs, g.org_id))
                .unwrap_or_default();
            let cat = g
                .map(|g| view::category_name(&catalogue, g.category.as_str(), ctx.tr.lang))
                .unwrap_or_default();
            (
                "grant",
                grant_id.to_string(),
                ctx.tr
                    .f("confirm_grant", &[("org", &org), ("category", &cat)]),
            )
        }
        Withdrawal::Organisation { org_id } => {
            let org = view::org_name(&orgs, *org_id);
            (
                "organisation",
                org_id.to_string(),
                ctx.tr.f("confirm_org", &[("org", &org)]),
            )
        }
        Withdrawal::All => ("all", String::new(), ctx.tr.t("confirm_all").to_owned()),
    };
    let page = ConfirmPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("confirm_title"), "/me/consents"),
        text,
        scope: scope.into(),
        id,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

pub async fn withdraw(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let (consent, w) = match posted_withdrawal(&state, &ctx, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.services.withdraw(consent.id, &w, "pupil").await {
        Ok(_) => Redirect::to("/me/consents?done=withdrawn").into_response(),
        Err(ServiceError::Consent(ConsentError::NothingToWithdraw | ConsentError::NotInForce)) => {
            already(&ctx, &state)
        }
        Err(e) => pages::unavailable(&ctx, &state, &e),
    }
}

fn already(ctx: &Ctx, state: &AppState) -> Response {
    message(
        ctx,
        state,
        StatusCode::CONFLICT,
        "err_title",
        "err_double",
        Some(("/me/consents", "nav_consents")),
    )
}

pub struct AccessRow {
    pub when: String,
    pub who: String,
    pub what: String,
    pub why: String,
    pub result: String,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessPage {
    c: Chrome,
    rows: Vec<AccessRow>,
}

/// The pupil's entries in the audit log: every time an organisation asked for
/// data, and every time a data holder checked a permit and so learned of the pupil.
pub async fn access_log(State(state): State<AppState>, ctx: Ctx) -> Response {
    let pupil = match ctx.require_pupil("/me/access-log") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let s = &state.services;
    let (entries, orgs) = match tokio::try_join!(
        s.store
            .chain_of_pupil(pupil.pupil_id, &["decision", "introspection"], 500),
        s.store.orgs()
    ) {
        Ok(v) => v,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let catalogue = s.catalogue();
    let tr = ctx.tr;
    // An introspection's re-decisions are one line, its own, not a request each.
    let rows = entries
        .iter()
        .filter(|e| !(e.kind == "decision" && e.actor.starts_with("introspection:")))
        .map(|e| access_row(e, &orgs, &catalogue, tr))
        .collect();
    let page = AccessPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("access_title"), "/me/access-log"),
        rows,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// One line of the access page, in the pupil's words.
fn access_row(
    e: &crate::audit::Entry,
    orgs: &[crate::domain::org::Organisation],
    catalogue: &crate::domain::catalogue::Catalogue,
    tr: crate::web::i18n::Tr,
) -> AccessRow {
    let lang = tr.lang;
    let text = |k: &str| {
        e.detail
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let org_of = |k: &str| view::org_name(orgs, Uuid::parse_str(&text(k)).unwrap_or_default());
    let purpose = text("purpose");
    let why = catalogue
        .purposes
        .iter()
        .find(|p| p.key.as_str() == purpose)
        .map_or(purpose.clone(), |p| p.name.get(lang).to_owned());
    if e.kind == "introspection" {
        let what = e
            .detail
            .get("categories")
            .and_then(|v| v.as_array())
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.as_str())
                    .map(|c| view::category_name(catalogue, c, lang))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let holder = e.detail.get("holder").and_then(|v| v.as_bool()) == Some(true);
        let result = match (text("outcome").as_str(), holder) {
            ("active", true) => tr.f("access_holder_told", &[("org", &org_of("recipient"))]),
            ("active", false) => tr.t("access_checked").to_owned(),
            _ => tr.t("access_check_invalid").to_owned(),
        };
        return AccessRow {
            when: oslo_time(e.at),
            who: org_of("org"),
            what,
            why,
            result,
        };
    }
    let reason = match text("reason").as_str() {
        "allowed" => "reason_allowed",
        "consent_missing" | "no_such_pupil" => "reason_consent_missing",
        "not_granted" => "reason_not_granted",
        "grant_withdrawn" => "reason_grant_withdrawn",
        "consent_withdrawn" => "reason_consent_withdrawn",
        "consent_expired" => "reason_consent_expired",
        "write_not_consented" => "reason_write_not_consented",
        "holder_not_discloser" | "holder_outside_consent" => "reason_holder",
        _ => "reason_other",
    };
    let allowed = e.detail.get("allowed").and_then(|v| v.as_bool()) == Some(true);
    let result = if allowed {
        "access_allowed"
    } else {
        "access_denied"
    };
    let mut who = org_of("org");
    if e.detail.get("holder").is_some() {
        who = tr.f(
            "access_from",
            &[("org", &who), ("holder", &org_of("holder"))],
        );
    }
    AccessRow {
        when: oslo_time(e.at),
        who,
        what: view::category_name(catalogue, &text("category"), lang),
        why,
        result: format!("{} ({})", tr.t(result), tr.t(reason)),
    }
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    c: Chrome,
    step: u8,
    step_label: String,
    consent_id: Uuid,
    agreement_line: String,
    signed_line: String,
    status_line: String,
    summary: Vec<(String, Vec<String>)>,
}

/// The pupil's own consent and its agreement; anyone else's is "not found".
async fn own_consent(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    here: &str,
) -> Result<(Consent, Agreement), Response> {
    let pupil = ctx.require_pupil(here)?;
    let not_found = || pages::not_found(ctx, state, ("/me/consents", "nav_consents"));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let s = &state.services;
    let consent = match s.store.consent(id).await {
        Ok(c) if c.pupil_id == pupil.pupil_id => c,
        Ok(_) | Err(crate::storage::StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(pages::unavailable(ctx, state, &e)),
    };
    let agreement = s
        .store
        .template(consent.template_id)
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    Ok((consent, agreement))
}

pub async fn receipt(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let here = format!(
        "/me/receipts/{}",
        id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(32)
            .collect::<String>()
    );
    let (consent, agreement) = match own_consent(&state, &ctx, &id, "/me/consents").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = &state.services;
    let lang = ctx.tr.lang;
    let orgs = s.store.orgs().await.unwrap_or_default();
    let pairs: Vec<(Uuid, String)> = consent
        .grants_in_force()
        .map(|g| (g.org_id, g.category.as_str().to_owned()))
        .collect();
    let summary = view::by_org(&orgs, &s.catalogue(), lang, &pairs)
        .into_iter()
        .map(|(org, cats)| (ctx.tr.f("review_may_see", &[("org", &org)]), cats))
        .collect();
    let status_line = match (consent.state(s.now()), consent.ended_at) {
        (ConsentState::Ended, Some(at)) => ctx.tr.f("receipt_ended", &[("date", &oslo_date(at))]),
        (ConsentState::Expired, _) => ctx
            .tr
            .f("receipt_ended", &[("date", &oslo_date(consent.expires_at))]),
        _ => ctx
            .tr
            .f("receipt_valid", &[("date", &oslo_date(consent.expires_at))]),
    };
    let done = flash(&ctx, &uri);
    let step = if done.is_some() { 4 } else { 0 };
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("receipt_title"), &here);
    c.flash = done;
    let page = ReceiptPage {
        c,
        step,
        step_label: ctx.tr.f("step_of", &[("n", "4")]),
        consent_id: consent.id,
        agreement_line: ctx.tr.f(
            "receipt_agreement",
            &[
                ("title", agreement.title.get(lang)),
                ("version", &agreement.version.to_string()),
            ],
        ),
        signed_line: ctx.tr.f(
            "receipt_signed",
            &[
                ("date", &oslo_time(consent.signed_at)),
                ("acr", &consent.evidence.acr),
            ],
        ),
        status_line,
        summary,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// The receipt as a signed JWS, to download and keep.
pub async fn receipt_jws(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let (consent, agreement) = match own_consent(&state, &ctx, &id, "/me/consents").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.services.receipt(&consent, &agreement).await {
        Ok(jws) => pages::download(
            "application/jose",
            &format!("samtykke-{}.jws", consent.id),
            jws,
        ),
        Err(e) => pages::unavailable(&ctx, &state, &e),
    }
}
