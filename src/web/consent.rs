//! Reading the agreement, choosing, reviewing and signing.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{self, bad_form, message, render, Chrome};
use super::session::{random_token, PupilLogin};
use super::view::{self, by_org, choice_value, parse_choice, Paragraph};
use super::{query_param, Ctx, Form};
use crate::domain::category::AgeVerdict;
use crate::domain::consent::{Choice, Consent, ConsentError, Evidence};
use crate::domain::org::Organisation;
use crate::domain::template::Template as Agreement;
use crate::domain::Slug;
use crate::http::AppState;
use crate::policy::decide::Action;
use crate::service::{ChangeRequest, ServiceError, SignRequest};

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    c: Chrome,
    step: u8,
    step_label: String,
    title: String,
    version_line: String,
    paragraphs: Vec<Paragraph>,
    tutor: String,
    /// Networks to choose among when the pupil has no consent yet.
    networks: Vec<(Uuid, String)>,
}

pub struct OrgView {
    pub name: String,
    pub type_name: String,
    pub separate: bool,
    pub options: Vec<OptionView>,
    pub statutory: Option<String>,
}

pub struct OptionView {
    pub id: String,
    pub value: String,
    pub name: String,
    pub description: String,
    pub checked: bool,
    pub unavailable: Option<String>,
}

#[derive(Template)]
#[template(path = "choose.html")]
struct ChoosePage {
    c: Chrome,
    step: u8,
    step_label: String,
    changing: bool,
    network_id: Uuid,
    orgs: Vec<OrgView>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    c: Chrome,
    step: u8,
    step_label: String,
    summary: Vec<(String, Vec<String>)>,
    stops: Vec<String>,
    valid_line: String,
    submission: String,
    network_id: Uuid,
    values: Vec<String>,
    back_href: String,
}

fn step_label(ctx: &Ctx, n: u8) -> String {
    ctx.tr.f("step_of", &[("n", &n.to_string())])
}

/// What every step starts from: the logged-in pupil, their consent in force, and
/// the agreement text now published.
struct Journey {
    pupil: PupilLogin,
    current: Option<Consent>,
    agreement: Agreement,
}

async fn journey(state: &AppState, ctx: &Ctx, here: &str) -> Result<Journey, Response> {
    let pupil = ctx.require_pupil(here)?;
    let s = &state.services;
    let (_, current) = s
        .consents_in_force(pupil.pupil_id)
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    let agreement = s
        .store
        .current_template(&Slug::follow_up())
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    Ok(Journey {
        pupil,
        current,
        agreement,
    })
}

pub async fn agreement(State(state): State<AppState>, ctx: Ctx) -> Response {
    let j = match journey(&state, &ctx, "/consent").await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let s = &state.services;
    let lang = ctx.tr.lang;
    let networks = match s.store.networks().await {
        Ok(n) => n,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let school = j
        .current
        .as_ref()
        .and_then(|c| networks.iter().find(|n| n.id == c.network_id))
        .map(|n| n.name.clone());
    let tutor = match &school {
        Some(name) => ctx.tr.f("tutor_text", &[("school", name)]),
        None => ctx.tr.t("tutor_text_none").to_owned(),
    };
    let hash = j.agreement.content_hash.get(..16).unwrap_or_default();
    let page = AgreementPage {
        c: Chrome::new(&ctx, &state, j.agreement.title.get(lang), "/consent"),
        step: 1,
        step_label: step_label(&ctx, 1),
        title: j.agreement.title.get(lang).to_owned(),
        version_line: ctx.tr.f(
            "agreement_version",
            &[
                ("version", &j.agreement.version.to_string()),
                ("hash", hash),
            ],
        ),
        paragraphs: view::paragraphs(j.agreement.body.get(lang)),
        tutor,
        networks: if j.current.is_some() {
            Vec::new()
        } else {
            networks.into_iter().map(|n| (n.id, n.name)).collect()
        },
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// The network of the consent in force, or the one the pupil picked.
fn network_of(j: &Journey, asked: Option<&str>) -> Option<Uuid> {
    match &j.current {
        Some(c) => Some(c.network_id),
        None => asked.and_then(|a| Uuid::parse_str(a).ok()),
    }
}

pub async fn choose(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let j = match journey(&state, &ctx, "/consent/choose").await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let Some(network_id) = network_of(&j, query_param(&uri, "network").as_deref()) else {
        return message(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_choose_school",
            Some(("/consent", "back")),
        );
    };
    // Ticked: what the review page sent back, else what is shared now.
    let back: Vec<Choice> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "c")
        .filter_map(|(_, v)| parse_choice(&v))
        .collect();
    let ticked: Vec<Choice> = if back.is_empty() {
        j.current
            .iter()
            .flat_map(|c| c.grants_in_force())
            .map(|g| Choice {
                org_id: g.org_id,
                category: g.category.clone(),
            })
            .collect()
    } else {
        back
    };
    let orgs = match options(&state, &ctx, &j, network_id, &ticked).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return message(
                &ctx,
                &state,
                StatusCode::BAD_REQUEST,
                "err_title",
                "err_choose_school",
                Some(("/consent", "back")),
            )
        }
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let page = ChoosePage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("choose_title"), "/consent/choose"),
        step: 2,
        step_label: step_label(&ctx, 2),
        changing: j.current.is_some(),
        network_id,
        orgs,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// The organisations of the network and, for each, what may be offered: never a
/// category its type may not receive by the baseline policy, never one shared by
/// law; categories above the pupil's age are shown as unavailable with the reason.
async fn options(
    state: &AppState,
    ctx: &Ctx,
    j: &Journey,
    network_id: Uuid,
    ticked: &[Choice],
) -> Result<Option<Vec<OrgView>>, ServiceError> {
    let s = &state.services;
    let Ok(network) = s.store.network(network_id).await else {
        return Ok(None);
    };
    let age = s.pupil_age(j.pupil.pupil_id).await?;
    let catalogue = s.catalogue();
    let baseline = s.policy.baseline();
    let purpose = Slug::follow_up();
    let lang = ctx.tr.lang;
    let all = s.store.orgs().await?;
    let members: Vec<&Organisation> = std::iter::once(network.school_id)
        .chain(network.member_ids.iter().copied())
        .filter_map(|id| all.iter().find(|o| o.id == id && o.enabled))
        .collect();
    let mut views = Vec::new();
    for org in members {
        let Some(info) = catalogue.org_type(&org.org_type) else {
            continue;
        };
        let mut options = Vec::new();
        let mut by_law = Vec::new();
        for cat in &catalogue.categories {
            if catalogue.is_statutory(&org.org_type, &cat.key) {
                by_law.push(cat.name.get(lang).to_owned());
                continue;
            }
            if !baseline
                .verdict(&org.org_type, &cat.key, Action::Read, &purpose)
                .allowed
            {
                continue;
            }
            let alone_from = cat.age.alone_from.to_string();
            let unavailable = match cat.age.verdict(age) {
                AgeVerdict::Alone => None,
                AgeVerdict::NeedsGuardian => {
                    Some(ctx.tr.f("age_guardian", &[("age", &alone_from)]))
                }
                AgeVerdict::NotAllowed => {
                    Some(ctx.tr.f("age_not_allowed", &[("age", &alone_from)]))
                }
            };
            options.push(OptionView {
                id: format!("c-{}-{}", org.id.simple(), cat.key.as_str()),
                value: choice_value(org.id, cat.key.as_str()),
                name: cat.name.get(lang).to_owned(),
                description: cat.description.get(lang).to_owned(),
                checked: ticked
                    .iter()
                    .any(|t| t.org_id == org.id && t.category == cat.key),
                unavailable,
            });
        }
        views.push(OrgView {
            name: org.name.clone(),
            type_name: info.name.get(lang).to_owned(),
            separate: info.separate,
            options,
            statutory: (!by_law.is_empty())
                .then(|| ctx.tr.f("statutory_note", &[("list", &by_law.join(", "))])),
        });
    }
    // The local NAV office comes last, apart and explained.
    views.sort_by_key(|v| v.separate);
    Ok(Some(views))
}

/// The checked choice from a posted form, or the page that says what was wrong.
async fn checked_choice(
    state: &AppState,
    ctx: &Ctx,
    j: &Journey,
    form: &Form,
) -> Result<(Uuid, Vec<Choice>), Response> {
    let Some(network_id) = network_of(j, form.get("network")) else {
        return Err(message(
            ctx,
            state,
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_choose_school",
            Some(("/consent", "back")),
        ));
    };
    let mut choices = Vec::new();
    for v in form.all("c") {
        match parse_choice(v) {
            Some(c) => choices.push(c),
            None => {
                return Err(bad_form(
                    ctx,
                    state,
                    StatusCode::BAD_REQUEST,
                    "unknown choice",
                ))
            }
        }
    }
    let s = &state.services;
    let age = s
        .pupil_age(j.pupil.pupil_id)
        .await
        .map_err(|e| pages::unavailable(ctx, state, &e))?;
    match s.preview_choices(network_id, age, &choices).await {
        Ok(_) => Ok((network_id, choices)),
        Err(ServiceError::Consent(ConsentError::EmptyChoice)) => Err(message(
            ctx,
            state,
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_choose_one",
            Some(("/consent/choose", "back")),
        )),
        Err(ServiceError::NotFound(_)) => Err(message(
            ctx,
            state,
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_choose_school",
            Some(("/consent", "back")),
        )),
        Err(ServiceError::Consent(e)) => Err(bad_form(
            ctx,
            state,
            StatusCode::BAD_REQUEST,
            &e.to_string(),
        )),
        Err(e) => Err(pages::unavailable(ctx, state, &e)),
    }
}

/// Reads a posted form with its CSRF token checked, and the journey.
async fn posted(state: &AppState, ctx: &Ctx, req: Request) -> Result<(Journey, Form), Response> {
    let form = Form::read(req, state.max_body_bytes)
        .await
        .map_err(|e| pages::form_error(ctx, state, e))?;
    let j = journey(state, ctx, "/consent").await?;
    let csrf_ok = ctx
        .session
        .as_ref()
        .is_some_and(|s| s.csrf_ok(form.get("csrf")));
    if !csrf_ok {
        return Err(pages::csrf_failed(ctx, state));
    }
    Ok((j, form))
}

pub async fn review(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let (j, form) = match posted(&state, &ctx, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (network_id, choices) = match checked_choice(&state, &ctx, &j, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = &state.services;
    let lang = ctx.tr.lang;
    let catalogue = s.catalogue();
    let orgs = match s.store.orgs().await {
        Ok(o) => o,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let pairs: Vec<(Uuid, String)> = choices
        .iter()
        .map(|c| (c.org_id, c.category.as_str().to_owned()))
        .collect();
    let stops: Vec<String> = j
        .current
        .iter()
        .flat_map(|c| c.grants_in_force())
        .filter(|g| {
            !choices
                .iter()
                .any(|c| c.org_id == g.org_id && c.category == g.category)
        })
        .map(|g| {
            format!(
                "{}: {}",
                view::org_name(&orgs, g.org_id),
                view::category_name(&catalogue, g.category.as_str(), lang)
            )
        })
        .collect();
    // A one-time id for the sign form: the second of two submits finds it used.
    let submission = match random_token() {
        Ok(t) => t,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let Some(mut session) = ctx.session.clone() else {
        return pages::csrf_failed(&ctx, &state);
    };
    let mut data = session.data.clone();
    data.submission = Some(submission.clone());
    if let Err(e) = session.save(s, data).await {
        return pages::unavailable(&ctx, &state, &e);
    }
    let values: Vec<String> = choices
        .iter()
        .map(|c| choice_value(c.org_id, c.category.as_str()))
        .collect();
    let mut back = format!("/consent/choose?network={network_id}");
    for v in &values {
        back.push_str("&c=");
        back.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
    }
    let valid_until = j
        .current
        .as_ref()
        .map_or_else(|| s.now() + s.consent_validity(), |c| c.expires_at);
    let summary = by_org(&orgs, &catalogue, lang, &pairs)
        .into_iter()
        .map(|(org, cats)| (ctx.tr.f("review_may_see", &[("org", &org)]), cats))
        .collect();
    let page = ReviewPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("review_title"), "/consent/choose"),
        step: 3,
        step_label: step_label(&ctx, 3),
        summary,
        stops,
        valid_line: ctx
            .tr
            .f("review_valid", &[("date", &view::oslo_date(valid_until))]),
        submission,
        network_id,
        values,
        back_href: back,
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

pub async fn sign(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let (j, form) = match posted(&state, &ctx, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = &state.services;
    let Some(mut session) = ctx.session.clone() else {
        return pages::csrf_failed(&ctx, &state);
    };
    let sent = form.get("submission").unwrap_or_default().to_owned();
    let double = |id: Option<Uuid>| {
        let link = id
            .map(|id| format!("/me/receipts/{id}"))
            .unwrap_or_else(|| "/me/consents".into());
        message(
            &ctx,
            &state,
            StatusCode::CONFLICT,
            "err_title",
            "err_double",
            Some((link.as_str(), "consents_receipt")),
        )
    };
    if let Some((done, id)) = &session.data.last_signed {
        if !sent.is_empty() && super::session::same(done, &sent) {
            return double(Some(*id));
        }
    }
    let pending_ok = session
        .data
        .submission
        .as_deref()
        .is_some_and(|p| !sent.is_empty() && super::session::same(p, &sent));
    if !pending_ok {
        return double(None);
    }
    // Use the submission up before signing: of two racing submits one wins the swap.
    let mut data = session.data.clone();
    data.submission = None;
    match session.save(s, data).await {
        Ok(true) => {}
        Ok(false) => return double(None),
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    }
    let (network_id, choices) = match checked_choice(&state, &ctx, &j, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let evidence = Evidence {
        acr: j.pupil.acr.clone(),
        amr: if j.pupil.amr.is_empty() {
            vec!["unspecified".into()]
        } else {
            j.pupil.amr.clone()
        },
        session_ref: j.pupil.session_ref.clone(),
    };
    let result = match &j.current {
        // Same agreement text: the change is recorded on the consent in force.
        Some(c) if c.template_id == j.agreement.id => s
            .change(c.id, ChangeRequest { choices, evidence }, "pupil")
            .await
            .map(|c| (c, "changed")),
        // First consent, or a newer agreement: a new consent replaces the old.
        _ => {
            let identity = match s.pupil_identity(j.pupil.pupil_id).await {
                Ok(i) => i,
                Err(e) => return pages::unavailable(&ctx, &state, &e),
            };
            s.sign(SignRequest {
                identity,
                network_id,
                template_id: j.agreement.id,
                purpose: Slug::follow_up(),
                choices,
                evidence,
                actor: "pupil".into(),
            })
            .await
            .map(|c| (c, "signed"))
        }
    };
    let (consent, done) = match result {
        Ok(v) => v,
        Err(ServiceError::Conflict(_)) => {
            return message(
                &ctx,
                &state,
                StatusCode::CONFLICT,
                "err_title",
                "err_no_change",
                Some(("/me/consents", "nav_consents")),
            );
        }
        Err(ServiceError::Consent(e)) => {
            return bad_form(&ctx, &state, StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let mut data = session.data.clone();
    data.last_signed = Some((sent, consent.id));
    let _ = session.save(s, data).await;
    Redirect::to(&format!("/me/receipts/{}?done={done}", consent.id)).into_response()
}
