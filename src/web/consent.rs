//! Reading the agreement, choosing, reviewing and signing.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{render, Chrome};
use super::session::{random_token, PupilLogin};
use super::view::{self, by_org, choice_value, parse_choice, Paragraph};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::domain::category::AgeVerdict;
use crate::domain::consent::{Choice, ConsentError, Evidence};
use crate::service::{Journey, ServiceError, Submitted};

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

/// What every step starts from: the logged-in pupil and where they stand.
async fn journey(
    state: &WebState,
    ctx: &Ctx,
    here: &str,
) -> Result<(PupilLogin, Journey), PageError> {
    let pupil = ctx.require_pupil(here)?;
    // No published agreement is the service's problem, not a missing page.
    let j = state
        .services
        .journey(pupil.pupil_id)
        .await
        .map_err(PageError::unavailable)?;
    Ok((pupil, j))
}

fn choose_school() -> PageError {
    PageError::message(
        StatusCode::BAD_REQUEST,
        "err_title",
        "err_choose_school",
        Some(("/consent", "back")),
    )
}

/// `GET /consent`: the agreement.
pub async fn agreement(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    let (_, j) = journey(&state, &ctx, "/consent").await?;
    let lang = ctx.tr.lang;
    let school = j
        .current
        .as_ref()
        .and_then(|c| j.networks.iter().find(|n| n.id == c.network_id))
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
            j.networks.iter().map(|n| (n.id, n.name.clone())).collect()
        },
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// The network of the consent in force, or the one the pupil picked.
fn network_of(j: &Journey, asked: Option<&str>) -> Option<Uuid> {
    match &j.current {
        Some(c) => Some(c.network_id),
        None => asked.and_then(|a| Uuid::parse_str(a).ok()),
    }
}

/// `GET /consent/choose`
pub async fn choose(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let (pupil, j) = journey(&state, &ctx, "/consent/choose").await?;
    let network_id =
        network_of(&j, query_param(&uri, "network").as_deref()).ok_or_else(choose_school)?;
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
    let offers = state
        .services
        .offer(pupil.pupil_id, network_id)
        .await?
        .ok_or_else(choose_school)?;
    let lang = ctx.tr.lang;
    let orgs = offers
        .into_iter()
        .map(|o| {
            let options = o
                .options
                .iter()
                .map(|(cat, age)| {
                    let alone_from = cat.age.alone_from.to_string();
                    OptionView {
                        id: format!("c-{}-{}", o.org.id.simple(), cat.key.as_str()),
                        value: choice_value(o.org.id, cat.key.as_str()),
                        name: cat.name.get(lang).to_owned(),
                        description: cat.description.get(lang).to_owned(),
                        checked: ticked
                            .iter()
                            .any(|t| t.org_id == o.org.id && t.category == cat.key),
                        unavailable: match age {
                            AgeVerdict::Alone => None,
                            AgeVerdict::NeedsGuardian => {
                                Some(ctx.tr.f("age_guardian", &[("age", &alone_from)]))
                            }
                            AgeVerdict::NotAllowed => {
                                Some(ctx.tr.f("age_not_allowed", &[("age", &alone_from)]))
                            }
                        },
                    }
                })
                .collect();
            let by_law: Vec<&str> = o.by_law.iter().map(|c| c.name.get(lang)).collect();
            OrgView {
                name: o.org.name.clone(),
                type_name: o.kind.name.get(lang).to_owned(),
                separate: o.kind.separate,
                options,
                statutory: (!by_law.is_empty())
                    .then(|| ctx.tr.f("statutory_note", &[("list", &by_law.join(", "))])),
            }
        })
        .collect();
    let page = ChoosePage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("choose_title"), "/consent/choose"),
        step: 2,
        step_label: step_label(&ctx, 2),
        changing: j.current.is_some(),
        network_id,
        orgs,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// A choice the service refused, as the page that says what to do.
fn refused_choice(e: ServiceError) -> PageError {
    match e {
        ServiceError::Consent(ConsentError::EmptyChoice) => PageError::message(
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_choose_one",
            Some(("/consent/choose", "back")),
        ),
        ServiceError::NotFound(_) => choose_school(),
        ServiceError::Consent(e) => PageError::bad_input(e.to_string(), "/me/consents"),
        ServiceError::Conflict(_) => PageError::message(
            StatusCode::CONFLICT,
            "err_title",
            "err_no_change",
            Some(("/me/consents", "nav_consents")),
        ),
        other => other.into(),
    }
}

/// The checked choice from a posted form.
async fn checked_choice(
    state: &WebState,
    pupil: &PupilLogin,
    j: &Journey,
    form: &Form,
) -> Result<(Uuid, Vec<Choice>), PageError> {
    let network_id = network_of(j, form.get("network")).ok_or_else(choose_school)?;
    let choices = form
        .all("c")
        .map(|v| {
            parse_choice(v).ok_or_else(|| PageError::bad_input("unknown choice", "/me/consents"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let s = &state.services;
    let age = s.pupil_age(pupil.pupil_id).await?;
    s.preview_choices(network_id, age, &choices)
        .await
        .map_err(refused_choice)?;
    Ok((network_id, choices))
}

/// Reads a posted form with its CSRF token checked, and the journey.
async fn posted(
    state: &WebState,
    ctx: &Ctx,
    req: Request,
) -> Result<(PupilLogin, Journey, Form), PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let (pupil, j) = journey(state, ctx, "/consent").await?;
    ctx.csrf_checked(&form)?;
    Ok((pupil, j, form))
}

/// `POST /consent/review`
pub async fn review(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (pupil, j, form) = posted(&state, &ctx, req).await?;
    let (network_id, choices) = checked_choice(&state, &pupil, &j, &form).await?;
    let s = &state.services;
    let lang = ctx.tr.lang;
    let catalogue = s.catalogue();
    let orgs = s.orgs().await?;
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
    let submission = random_token().map_err(PageError::unavailable)?;
    let mut session = ctx.session.clone().ok_or(PageError::Csrf)?;
    let mut data = session.data.clone();
    data.submission = Some(submission.clone());
    session
        .save(s, data)
        .await
        .map_err(PageError::unavailable)?;
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
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// The page for a second submit of the same form, with a way to the receipt of
/// the consent the first one made.
fn double(id: Option<Uuid>) -> PageError {
    PageError::Message {
        status: StatusCode::CONFLICT,
        title: "err_title",
        text: "err_double",
        link: Some((
            id.map_or_else(|| "/me/consents".into(), |id| format!("/me/receipts/{id}")),
            "consents_receipt",
        )),
    }
}

/// `POST /consent/sign`
pub async fn sign(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (pupil, j, form) = posted(&state, &ctx, req).await?;
    let s = &state.services;
    let mut session = ctx.session.clone().ok_or(PageError::Csrf)?;
    let sent = form.get("submission").unwrap_or_default().to_owned();
    if let Some((done, id)) = &session.data.last_signed {
        if !sent.is_empty() && super::session::same(done, &sent) {
            return Err(double(Some(*id)));
        }
    }
    let pending_ok = session
        .data
        .submission
        .as_deref()
        .is_some_and(|p| !sent.is_empty() && super::session::same(p, &sent));
    if !pending_ok {
        return Err(double(None));
    }
    // Use the submission up before signing: of two racing submits one wins the swap.
    let mut data = session.data.clone();
    data.submission = None;
    if !session
        .save(s, data)
        .await
        .map_err(PageError::unavailable)?
    {
        return Err(double(None));
    }
    let (network_id, choices) = checked_choice(&state, &pupil, &j, &form).await?;
    let evidence = Evidence {
        acr: pupil.acr.clone(),
        amr: if pupil.amr.is_empty() {
            vec!["unspecified".into()]
        } else {
            pupil.amr.clone()
        },
        session_ref: pupil.session_ref.clone(),
    };
    let (consent, how) = s
        .submit_choice(pupil.pupil_id, network_id, choices, evidence)
        .await
        .map_err(refused_choice)?;
    let done = match how {
        Submitted::Signed => "signed",
        Submitted::Changed => "changed",
    };
    let mut data = session.data.clone();
    data.last_signed = Some((sent, consent.id));
    // Remembering the signed form only makes a resubmission show the receipt
    // link; the consent is recorded either way.
    if let Err(e) = session.save(s, data).await {
        tracing::warn!(error = %e, "the signed form could not be remembered");
    }
    Ok(Redirect::to(&format!("/me/receipts/{}?done={done}", consent.id)).into_response())
}
