//! The pupil's own view: what is shared now, its history, withdrawal, receipts and
//! who has asked for their data.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{render, Chrome};
use super::view::{self, oslo_date, oslo_time};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::audit::event::{Decided, Introspected};
use crate::audit::{Actor, Event, Record};
use crate::domain::catalogue::Catalogue;
use crate::domain::consent::{
    plan_withdrawal, Consent, ConsentError, ConsentState, EventKind, Grant, Party, Withdrawal,
};
use crate::domain::org::Organisation;
use crate::domain::template::Template as Agreement;
use crate::domain::Slug;
use crate::service::ServiceError;

pub struct GrantView {
    pub id: Uuid,
    pub category: String,
    /// What the Stop button does, for screen readers.
    pub label: String,
}

/// What one party may tell another, with a button to stop everything with the
/// organisation involved.
pub struct OrgGrants {
    pub id: Uuid,
    pub name: String,
    pub withdraw_label: String,
    pub grants: Vec<GrantView>,
}

pub struct CurrentView {
    pub id: Uuid,
    pub orgs: Vec<OrgGrants>,
    /// Recorded by the tutor from paper or aloud: the line that says so, and
    /// whether the pupil still has to confirm it here.
    pub paper: Option<(String, bool)>,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    c: Chrome,
    current: Option<CurrentView>,
    history: Vec<(String, String, Option<Uuid>)>,
    /// The tutors a pupil who signed on their own can choose: (id, name).
    tutors: Vec<(Uuid, String)>,
    /// Something waits for a guardian, was decided without one, or lapses soon.
    guardian: bool,
    /// The consent ends soon or ended lately and can be renewed as it is: when.
    renew: Option<String>,
    /// The agreement was revised since the pupil signed: the link's words (with
    /// the day to sign by, when the revision ends the old consent).
    revised: Option<String>,
}

fn flash(ctx: &Ctx, uri: &Uri) -> Option<String> {
    match query_param(uri, "done").as_deref() {
        Some("signed") => Some(ctx.tr.t("done_signed").to_owned()),
        Some("changed") => Some(ctx.tr.t("done_changed").to_owned()),
        Some("withdrawn") => Some(ctx.tr.t("done_withdrawn").to_owned()),
        Some("confirmed") => Some(ctx.tr.t("done_confirmed").to_owned()),
        Some("tutor") => Some(ctx.tr.t("done_tutor").to_owned()),
        Some("disputed") => Some(ctx.tr.t("dispute_done").to_owned()),
        Some("renewed") => Some(ctx.tr.t("renew_done").to_owned()),
        _ => None,
    }
}

/// `GET /me/consents`: what is shared now, and the history.
pub async fn consents(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil("/me/consents")?;
    let s = &state.services;
    let (current, events) = s.history(pupil.pupil_id).await?;
    let papers = s.papers(pupil.pupil_id).await?;
    let tutors = s.tutors_to_choose(pupil.pupil_id).await?;
    let ended = s.follow_up_ended(pupil.pupil_id).await?;
    let orgs = s.orgs().await?;
    let catalogue = s.catalogue();
    let lang = ctx.tr.lang;
    let renew = s.renewable(pupil.pupil_id).await?.map(|c| {
        let date = oslo_date(c.expires_at);
        if c.expires_at > s.now() {
            ctx.tr.f("renew_soon", &[("date", &date)])
        } else {
            ctx.tr.f("renew_ended", &[("date", &date)])
        }
    });
    let revised = s
        .revision(pupil.pupil_id, ctx.tr.lang)
        .await?
        .map(|r| match r.sign_by {
            Some(at) => ctx.tr.f("revised_link_by", &[("date", &oslo_date(at))]),
            None => ctx.tr.t("revised_link").to_owned(),
        });
    let guardian = current
        .iter()
        .flat_map(|c| c.grants.iter())
        .any(|g| g.guardian.is_some());
    let current = current.map(|c| {
        let mut out: Vec<(Party, Party, bool, OrgGrants)> = Vec::new();
        for g in c.grants_in_force() {
            let flow = view::grant_line(g, &orgs, &catalogue, ctx.tr);
            let category = view::category_name(&catalogue, g.category.as_str(), lang);
            let label = format!("{} – {category} – {flow}", ctx.tr.t("consents_withdraw"));
            let gv = GrantView {
                id: g.id,
                category,
                label,
            };
            match out
                .iter_mut()
                .find(|(d, r, l, _)| *d == g.discloser && *r == g.recipient && *l == g.legacy)
            {
                Some((_, _, _, o)) => o.grants.push(gv),
                None => {
                    // The organisation a "stop everything" button is about: who is
                    // told, or who tells the tutor.
                    let org = g
                        .recipient
                        .org_id()
                        .or(g.discloser.org_id())
                        .unwrap_or_default();
                    let org_name = view::org_name(&orgs, org);
                    out.push((
                        g.discloser.clone(),
                        g.recipient.clone(),
                        g.legacy,
                        OrgGrants {
                            id: org,
                            withdraw_label: ctx
                                .tr
                                .f("consents_withdraw_org", &[("org", &org_name)]),
                            name: flow,
                            grants: vec![gv],
                        },
                    ));
                }
            }
        }
        CurrentView {
            id: c.id,
            orgs: out.into_iter().map(|(_, _, _, o)| o).collect(),
            paper: papers
                .iter()
                .find(|(id, ..)| *id == c.id)
                .map(|(_, on, witness, confirmed)| {
                    let line = ctx
                        .tr
                        .f("consents_paper", &[("date", on), ("witness", witness)]);
                    (line, !confirmed)
                }),
        }
    });
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
    if ended {
        c.flash = Some(ctx.tr.t("consents_follow_up_ended").to_owned());
    }
    Ok(render(
        &ctx,
        &state,
        StatusCode::OK,
        &ConsentsPage {
            c,
            current,
            history,
            tutors,
            guardian,
            renew,
            revised,
        },
    ))
}

/// A form the logged-in pupil posted from their consents page, with the id in
/// field `key`.
async fn posted_id(
    state: &WebState,
    ctx: &Ctx,
    req: Request,
    key: &'static str,
) -> Result<(Uuid, Uuid), PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let pupil = ctx.require_pupil("/me/consents")?;
    ctx.csrf_checked(&form)?;
    let id = form
        .get(key)
        .and_then(|i| Uuid::parse_str(i).ok())
        .ok_or_else(|| PageError::bad_input(key, "/me/consents"))?;
    Ok((pupil.pupil_id, id))
}

/// `POST /me/tutor`: a pupil who signed on their own chooses their tutor.
pub async fn choose_tutor(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (pupil, tutor) = posted_id(&state, &ctx, req, "tutor").await?;
    state
        .services
        .choose_tutor(pupil, tutor)
        .await
        .map_err(|e| match e {
            ServiceError::Invalid { field, .. } => PageError::bad_input(field, "/me/consents"),
            other => other.into(),
        })?;
    Ok(Redirect::to("/me/consents?done=tutor").into_response())
}

/// `POST /me/consents/confirm-paper`: the pupil confirms, logged in, a consent
/// their tutor recorded from paper or aloud.
pub async fn confirm_paper(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (pupil, id) = posted_id(&state, &ctx, req, "id").await?;
    match state.services.confirm_paper(pupil, id).await {
        Ok(()) => Ok(Redirect::to("/me/consents?done=confirmed").into_response()),
        Err(ServiceError::Conflict(_)) => Err(already()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    c: Chrome,
    text: String,
    /// Everything that stops, by who tells whom.
    stops: Vec<(String, Vec<String>)>,
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
            let involves = |g: &&Grant| {
                g.recipient.org_id() == Some(org_id) || g.discloser.org_id() == Some(org_id)
            };
            known(
                consent.grants_in_force().any(|g| involves(&g)),
                consent.grants.iter().any(|g| involves(&g)),
            )?;
            Ok(Withdrawal::Organisation { org_id })
        }
        Some("all") => Ok(Withdrawal::All),
        _ => Err("unknown scope"),
    }
}

/// The form, its CSRF token checked, and the consent in force.
async fn posted(state: &WebState, ctx: &Ctx, req: Request) -> Result<(Form, Consent), PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let pupil = ctx.require_pupil("/me/consents")?;
    ctx.csrf_checked(&form)?;
    match state.services.consents_in_force(pupil.pupil_id).await? {
        (_, Some(c)) => Ok((form, c)),
        (_, None) => Err(PageError::message(
            StatusCode::CONFLICT,
            "err_title",
            "err_no_consent",
            Some(("/me/consents", "nav_consents")),
        )),
    }
}

/// A withdrawal form, its CSRF token checked, against the consent in force.
async fn posted_withdrawal(
    state: &WebState,
    ctx: &Ctx,
    req: Request,
) -> Result<(Consent, Withdrawal), PageError> {
    let (form, consent) = posted(state, ctx, req).await?;
    match withdrawal(&form, &consent) {
        Ok(w) => Ok((consent, w)),
        Err(ALREADY) => Err(already()),
        Err(reason) => Err(PageError::bad_input(reason, "/me/consents")),
    }
}

/// `POST /me/consents/withdraw`: asks to confirm.
pub async fn confirm_withdrawal(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (consent, w) = posted_withdrawal(&state, &ctx, req).await?;
    let s = &state.services;
    let orgs = s.orgs().await?;
    let catalogue = s.catalogue();
    let (scope, id, text) = match &w {
        Withdrawal::Grant { grant_id } => {
            let g = consent.grants.iter().find(|g| g.id == *grant_id);
            let flow = g
                .map(|g| view::grant_line(g, &orgs, &catalogue, ctx.tr))
                .unwrap_or_default();
            let cat = g
                .map(|g| view::category_name(&catalogue, g.category.as_str(), ctx.tr.lang))
                .unwrap_or_default();
            (
                "grant",
                grant_id.to_string(),
                ctx.tr
                    .f("confirm_grant", &[("flow", &flow), ("category", &cat)]),
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
    let ending = plan_withdrawal(&consent, &w, s.now())
        .map(|p| p.grant_ids)
        .unwrap_or_default();
    let stops = view::flows(
        consent
            .grants
            .iter()
            .filter(|g| ending.contains(&g.id))
            .map(view::flow_of),
        &orgs,
        &catalogue,
        ctx.tr,
    );
    let page = ConfirmPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("confirm_title"), "/me/consents"),
        text,
        stops,
        scope: scope.into(),
        id,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `POST /me/consents/withdraw/confirm`
pub async fn withdraw(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (consent, w) = posted_withdrawal(&state, &ctx, req).await?;
    match state.services.withdraw(consent.id, &w, &Actor::Pupil).await {
        Ok(_) => Ok(Redirect::to("/me/consents?done=withdrawn").into_response()),
        Err(ServiceError::Consent(ConsentError::NothingToWithdraw | ConsentError::NotInForce)) => {
            Err(already())
        }
        Err(e) => Err(e.into()),
    }
}

fn already() -> PageError {
    PageError::message(
        StatusCode::CONFLICT,
        "err_title",
        "err_double",
        Some(("/me/consents", "nav_consents")),
    )
}

pub struct AccessRow {
    /// The entry's position, to dispute it by.
    pub seq: i64,
    /// What became of the pupil's "this looks wrong", if they said so.
    pub dispute: Option<String>,
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
    /// Some lines could not be read by this release.
    unreadable: Option<String>,
}

/// `GET /me/access-log`: every time an organisation asked for the pupil's data,
/// and every time a data holder checked a permit and so learned of the pupil.
pub async fn access_log(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil("/me/access-log")?;
    let s = &state.services;
    let (records, unreadable) = s.access_log(pupil.pupil_id).await?;
    let disputes = s.disputes_of(pupil.pupil_id).await?;
    let orgs = s.orgs().await?;
    let catalogue = s.catalogue();
    let rows = records
        .iter()
        .filter_map(|(seq, r)| {
            let mut row = access_row(r, &orgs, &catalogue, ctx.tr)?;
            row.seq = *seq;
            row.dispute = disputes
                .iter()
                .find(|d| d.entry_seq == *seq)
                .map(|d| dispute_status(d, ctx.tr));
            Some(row)
        })
        .collect();
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("access_title"), "/me/access-log");
    c.flash = flash(&ctx, &uri);
    let page = AccessPage {
        c,
        rows,
        unreadable: (unreadable > 0).then(|| ctx.tr.t("access_unreadable").to_owned()),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// A dispute as the pupil reads it: sent, or what the compliance officer found.
fn dispute_status(d: &crate::service::Dispute, tr: crate::web::i18n::Tr) -> String {
    use crate::domain::dispute::DisputeOutcome as O;
    let key = match d.outcome {
        None => "dispute_open_status",
        Some(O::Explained) => "dispute_explained",
        Some(O::Corrected) => "dispute_corrected",
        Some(O::Referred) => "dispute_referred",
    };
    tr.f(
        key,
        &[("date", &oslo_time(d.closed_at.unwrap_or(d.opened_at)))],
    )
}

/// `POST /me/access-log/dispute`: "this looks wrong" on one line.
pub async fn dispute(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil("/me/access-log")?;
    let form = Form::read(req, state.max_body_bytes).await?;
    ctx.csrf_checked(&form)?;
    let seq: i64 = form
        .get("entry")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| PageError::bad_input("entry", "/me/access-log"))?;
    state.services.open_dispute(pupil.pupil_id, seq).await?;
    Ok(Redirect::to("/me/access-log?done=disputed").into_response())
}

/// One line of the access page, in the pupil's words; `None` for what the page
/// does not show (it shows requests and checks, not the pupil's own changes).
fn access_row(
    r: &Record,
    orgs: &[Organisation],
    catalogue: &Catalogue,
    tr: crate::web::i18n::Tr,
) -> Option<AccessRow> {
    let lang = tr.lang;
    let org_name = |id: Option<Uuid>| view::org_name(orgs, id.unwrap_or_default());
    let tutor = || view::party_name(&Party::Tutor, orgs, catalogue, lang);
    let why = |purpose: &str| {
        catalogue
            .purposes
            .iter()
            .find(|p| p.key.as_str() == purpose)
            .map_or(purpose.to_owned(), |p| p.name.get(lang).to_owned())
    };
    let row = |who: String, what: String, why: String, result: String| AccessRow {
        seq: 0,
        dispute: None,
        when: oslo_time(r.at),
        who,
        what,
        why,
        result,
    };
    match &r.event {
        Event::Decision(Decided {
            org,
            category,
            purpose,
            allowed,
            reason,
            holder,
            by_tutor,
            ..
        }) => {
            let reason = match reason.as_str() {
                "allowed" => "reason_allowed",
                "statutory" => "reason_statutory",
                "consent_missing" | "no_such_pupil" => "reason_consent_missing",
                "not_granted" => "reason_not_granted",
                "grant_withdrawn" => "reason_grant_withdrawn",
                "consent_withdrawn" => "reason_consent_withdrawn",
                "consent_expired" => "reason_consent_expired",
                "write_not_consented" => "reason_write_not_consented",
                "holder_not_discloser" | "holder_outside_consent" => "reason_holder",
                "below_age_at_signing" => "reason_too_young",
                _ => "reason_other",
            };
            let result = if *allowed {
                "access_allowed"
            } else {
                "access_denied"
            };
            let mut who = match org {
                Some(_) => org_name(*org),
                None => tutor(),
            };
            let from = match (holder, by_tutor) {
                (Some(_), _) => Some(org_name(*holder)),
                (None, true) => Some(tutor()),
                (None, false) => None,
            };
            if let Some(from) = from {
                who = tr.f("access_from", &[("org", &who), ("holder", &from)]);
            }
            Some(row(
                who,
                view::category_name(catalogue, category, lang),
                why(purpose),
                format!("{} ({})", tr.t(result), tr.t(reason)),
            ))
        }
        Event::Introspection(Introspected {
            outcome,
            org,
            recipient,
            holder,
            purpose,
            categories,
            ..
        }) => {
            let what = categories
                .iter()
                .map(|c| view::category_name(catalogue, c, lang))
                .collect::<Vec<_>>()
                .join(", ");
            let result = match (outcome.as_str(), holder) {
                ("active", true) => tr.f("access_holder_told", &[("org", &org_name(*recipient))]),
                ("active", false) => tr.t("access_checked").to_owned(),
                _ => tr.t("access_check_invalid").to_owned(),
            };
            Some(row(
                org_name(*org),
                what,
                why(purpose.as_deref().unwrap_or_default()),
                result,
            ))
        }
        Event::Disclosure(d) => {
            let mut counterpart = org_name(Some(d.counterpart));
            if let Some(role) = &d.role {
                counterpart = view::party_name(
                    &Party::Org {
                        org_id: d.counterpart,
                        role: Slug::parse(role).ok(),
                    },
                    orgs,
                    catalogue,
                    lang,
                );
            }
            let (who, key) = if d.direction == "told" {
                (counterpart.clone(), "access_tutor_told")
            } else {
                (tutor(), "access_tutor_asked")
            };
            let occasion = match d.occasion.as_str() {
                "meeting" => tr.t("occasion_meeting"),
                "phone" => tr.t("occasion_phone"),
                _ => tr.t("occasion_written"),
            };
            let basis = if d.basis == "law" {
                tr.t("reason_statutory")
            } else {
                tr.t("reason_allowed")
            };
            Some(AccessRow {
                seq: 0,
                dispute: None,
                when: d.on.clone(),
                who,
                what: view::category_name(catalogue, &d.category, lang),
                why: basis.to_owned(),
                result: tr.f(key, &[("org", &counterpart), ("occasion", occasion)]),
            })
        }
        Event::Consent(..)
        | Event::Tutor(..)
        | Event::Dispute(..)
        | Event::Guardian(..)
        | Event::Token(_)
        | Event::Revocation(_)
        | Event::Login(_)
        | Event::PupilEnrolled
        | Event::PupilErased
        | Event::StaffAccess(_)
        | Event::Operator(_) => None,
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
    state: &WebState,
    ctx: &Ctx,
    id: &str,
    here: &str,
) -> Result<(Consent, Agreement), PageError> {
    let pupil = ctx.require_pupil(here)?;
    let not_found = || PageError::NotFound(("/me/consents", "nav_consents"));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.services.own_consent(pupil.pupil_id, id).await {
        Ok(v) => Ok(v),
        Err(ServiceError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

pub async fn receipt(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, PageError> {
    let here = format!(
        "/me/receipts/{}",
        id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(32)
            .collect::<String>()
    );
    let (consent, agreement) = own_consent(&state, &ctx, &id, "/me/consents").await?;
    let s = &state.services;
    let lang = ctx.tr.lang;
    let orgs = s.orgs().await?;
    let summary = view::flows(
        consent.grants_in_force().map(view::flow_of),
        &orgs,
        &s.catalogue(),
        ctx.tr,
    );
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
        signed_line: ctx
            .tr
            .f("receipt_signed", &[("date", &oslo_time(consent.signed_at))]),
        status_line,
        summary,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// The receipt as a signed JWS, to download and keep.
pub async fn receipt_jws(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (consent, agreement) = own_consent(&state, &ctx, &id, "/me/consents").await?;
    let jws = state.services.receipt(&consent, &agreement).await?;
    Ok(super::pages::download(
        "application/jose",
        &format!("samtykke-{}.jws", consent.id),
        jws,
    ))
}
