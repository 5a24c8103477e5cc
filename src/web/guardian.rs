//! Guardians: the pupil's page about them (what waits, whom they invited, what
//! lapses at a birthday) and the guardian's own pages (answer an invitation,
//! withdraw what they co-signed). A guardian sees only the grants they were asked
//! to co-sign: never the pupil's other choices or access log.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{render, Chrome};
use super::view::{self, oslo_date};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::audit::Actor;
use crate::domain::consent::Grant;
use crate::domain::guardian::{Cosign, InvitationOutcome};
use crate::domain::identity::IdentityNumber;
use crate::service::{GuardianInvite, LoginAs, ServiceError};

const ME: &str = "/me/guardian";
const HOME: &str = "/guardian";

/// A grant in words: who tells whom what.
fn line(
    state: &WebState,
    ctx: &Ctx,
    orgs: &[crate::domain::org::Organisation],
    g: &Grant,
) -> String {
    view::grant_sentence(g, orgs, &state.services.catalogue(), ctx.tr)
}

pub struct InvitationLine {
    pub who: String,
    pub made: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "guardian_pupil.html")]
struct PupilPage {
    c: Chrome,
    waiting: Vec<(String, String)>,
    declined: Vec<String>,
    excepted: Vec<String>,
    invitations: Vec<InvitationLine>,
    can_invite: bool,
    lapsing: Vec<String>,
    made: Option<(String, String, String)>,
    error: Option<String>,
}

/// The pupil's page, with a new invitation's code or a refusal when there is one.
async fn pupil_page(
    state: &WebState,
    ctx: &Ctx,
    pupil: Uuid,
    made: Option<GuardianInvite>,
    error: Option<(StatusCode, String)>,
    flash: Option<String>,
) -> Result<Response, PageError> {
    let s = &state.services;
    let (_, current) = s.consents_in_force(pupil).await?;
    let orgs = s.orgs().await?;
    let grants: Vec<&Grant> = current.iter().flat_map(|c| c.grants.iter()).collect();
    let with = |states: &[Cosign]| -> Vec<&Grant> {
        grants
            .iter()
            .copied()
            .filter(|g| g.guardian.is_some_and(|p| states.contains(&p.state)))
            .collect()
    };
    let waiting = with(&[Cosign::Pending, Cosign::AwaitingCheck])
        .into_iter()
        .filter(|g| g.live())
        .map(|g| {
            let key = if g.guardian.is_some_and(|p| p.state == Cosign::Pending) {
                "guardian_state_pending"
            } else {
                "guardian_state_check"
            };
            (line(state, ctx, &orgs, g), ctx.tr.t(key).to_owned())
        })
        .collect();
    let declined = with(&[Cosign::Declined])
        .into_iter()
        .map(|g| line(state, ctx, &orgs, g))
        .collect();
    let excepted = with(&[Cosign::Excepted])
        .into_iter()
        .filter(|g| g.live())
        .map(|g| line(state, ctx, &orgs, g))
        .collect();
    let invitations = s
        .guardian_invitations(pupil)
        .await?
        .into_iter()
        .map(|i| {
            let status = match i.outcome {
                None if i.expires_at <= s.now() => ctx.tr.t("guardian_inv_expired").to_owned(),
                None => ctx
                    .tr
                    .f("guardian_inv_open", &[("date", &oslo_date(i.expires_at))]),
                Some(InvitationOutcome::Signed) => ctx.tr.t("guardian_inv_signed").to_owned(),
                Some(InvitationOutcome::Declined) => ctx.tr.t("guardian_inv_declined").to_owned(),
                Some(InvitationOutcome::Cancelled) => ctx.tr.t("guardian_inv_cancelled").to_owned(),
            };
            InvitationLine {
                who: if i.label.is_empty() {
                    ctx.tr.t("guardian_someone").to_owned()
                } else {
                    i.label
                },
                made: oslo_date(i.created_at),
                status,
            }
        })
        .collect();
    let can_invite = grants
        .iter()
        .any(|g| g.live() && g.guardian.is_some_and(|p| p.state == Cosign::Pending));
    let lapsing = s
        .coming_of_age(current.as_ref())
        .iter()
        .map(|(g, at)| {
            ctx.tr.f(
                "guardian_lapse_line",
                &[
                    ("what", &line(state, ctx, &orgs, g)),
                    ("date", &oslo_date(*at)),
                ],
            )
        })
        .collect();
    let made = made.map(|m| {
        let link = format!("{}/guardian/invitation?code={}", s.issuer(), m.code);
        let expires = ctx.tr.f(
            "guardian_made_expires",
            &[("date", &oslo_date(m.expires_at))],
        );
        (m.code, link, expires)
    });
    let mut c = Chrome::new(ctx, state, ctx.tr.t("guardian_pupil_title"), ME);
    c.flash = flash;
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = PupilPage {
        c,
        waiting,
        declined,
        excepted,
        invitations,
        can_invite,
        lapsing,
        made,
        error,
    };
    Ok(render(ctx, state, status, &page))
}

/// `GET /me/guardian`
pub async fn pupil(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let pupil = ctx.require_pupil(ME)?;
    let flash = match query_param(&uri, "done").as_deref() {
        Some("confirmed") => Some(ctx.tr.t("guardian_confirmed_done").to_owned()),
        _ => None,
    };
    pupil_page(&state, &ctx, pupil.pupil_id, None, None, flash).await
}

/// `POST /me/guardian/invite`: name a guardian by number (and what to call them);
/// the code is shown once. A bad number is refused without being shown again.
pub async fn invite(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let pupil = ctx.require_pupil(ME)?;
    ctx.csrf_checked(&form)?;
    let refuse = |key: &str| Some((StatusCode::BAD_REQUEST, ctx.tr.t(key).to_owned()));
    let Ok(number) = IdentityNumber::parse(form.get("number").unwrap_or_default()) else {
        return pupil_page(
            &state,
            &ctx,
            pupil.pupil_id,
            None,
            refuse("guardian_err_number"),
            None,
        )
        .await;
    };
    let label = form.get("label").unwrap_or_default();
    match state
        .services
        .invite_guardian(pupil.pupil_id, &number, label, &Actor::Pupil)
        .await
    {
        Ok(made) => pupil_page(&state, &ctx, pupil.pupil_id, Some(made), None, None).await,
        Err(ServiceError::Invalid { field, .. }) => {
            let key = match field.as_str() {
                "guardian" => "guardian_err_own",
                "guardian_age" => "guardian_err_young",
                _ => "guardian_err_label",
            };
            pupil_page(&state, &ctx, pupil.pupil_id, None, refuse(key), None).await
        }
        Err(ServiceError::Conflict(_)) => {
            let e = Some((
                StatusCode::CONFLICT,
                ctx.tr.t("guardian_err_nothing").to_owned(),
            ));
            pupil_page(&state, &ctx, pupil.pupil_id, None, e, None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /me/guardian/confirm`: the pupil confirms what rests on a guardian
/// before the birthday from which they decide alone.
pub async fn confirm(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let pupil = ctx.require_pupil(ME)?;
    ctx.csrf_checked(&form)?;
    match state.services.confirm_own(pupil.pupil_id).await {
        Ok(_) => Ok(Redirect::to("/me/guardian?done=confirmed").into_response()),
        Err(ServiceError::Conflict(_)) => {
            let e = Some((
                StatusCode::CONFLICT,
                ctx.tr.t("guardian_err_nothing_confirm").to_owned(),
            ));
            pupil_page(&state, &ctx, pupil.pupil_id, None, e, None).await
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------ guardian side

fn guardian_of(ctx: &Ctx) -> Option<String> {
    ctx.session
        .as_ref()?
        .data
        .guardian
        .as_ref()
        .map(|g| g.hash.clone())
}

fn chrome(ctx: &Ctx, state: &WebState, title: &str, here: &str) -> Chrome {
    let mut c = Chrome::new(ctx, state, title, here);
    c.guardian = guardian_of(ctx).is_some();
    c
}

/// An invitation refused: why, in words, with nothing changed. A code made for
/// someone else reads as unknown, so it says nothing about whose it is.
fn refused(why: &str) -> PageError {
    let (status, key) = match why {
        "used" => (StatusCode::CONFLICT, "guardian_err_used"),
        "expired" => (StatusCode::GONE, "guardian_err_expired"),
        "withdrawn since" => (StatusCode::CONFLICT, "guardian_err_withdrawn"),
        "the pupil's own" => (StatusCode::FORBIDDEN, "guardian_err_pupil"),
        _ => (StatusCode::NOT_FOUND, "guardian_err_unknown"),
    };
    tracing::info!(why, "a guardian invitation was refused");
    PageError::message(status, "err_title", key, Some((HOME, "guardian_home")))
}

fn service_refusal(e: ServiceError) -> PageError {
    match e {
        ServiceError::Invitation(why) => refused(why),
        other => other.into(),
    }
}

pub struct GuardedLine {
    pub id: Uuid,
    pub text: String,
    pub waiting: bool,
}

#[derive(Template)]
#[template(path = "guardian_home.html")]
struct HomePage {
    c: Chrome,
    logged_in: bool,
    grants: Vec<GuardedLine>,
}

/// `GET /guardian`: enter a code; logged in, what you co-signed, to withdraw.
pub async fn home(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let s = &state.services;
    let mut grants = Vec::new();
    let hash = guardian_of(&ctx);
    if let Some(h) = &hash {
        let orgs = s.orgs().await?;
        for g in s.guarded_grants(h).await? {
            grants.push(GuardedLine {
                id: g.grant.id,
                text: line(&state, &ctx, &orgs, &g.grant),
                waiting: g.grant.waiting(),
            });
        }
    }
    let mut c = chrome(&ctx, &state, ctx.tr.t("guardian_title"), HOME);
    c.flash = match query_param(&uri, "done").as_deref() {
        Some("signed") => Some(ctx.tr.t("guardian_done_signed").to_owned()),
        Some("declined") => Some(ctx.tr.t("guardian_done_declined").to_owned()),
        Some("withdrawn") => Some(ctx.tr.t("guardian_done_withdrawn").to_owned()),
        _ => None,
    };
    let page = HomePage {
        c,
        logged_in: hash.is_some(),
        grants,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `GET /guardian/login`
pub async fn login(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    super::auth::start(&state, &ctx, LoginAs::Guardian, Some(HOME.into())).await
}

#[derive(Template)]
#[template(path = "guardian_offer.html")]
struct OfferPage {
    c: Chrome,
    code: String,
    lines: Vec<(String, String)>,
    expires: String,
}

/// `GET /guardian/invitation?code=…`: the guardian logs in (coming back here),
/// then sees exactly what the pupil chose and answers. Nothing changes here.
pub async fn invitation(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let typed = query_param(&uri, "code").unwrap_or_default();
    let Some(code) = crate::domain::caseload::normalise_code(&typed) else {
        return Err(PageError::message(
            StatusCode::BAD_REQUEST,
            "err_title",
            "guardian_err_code",
            Some((HOME, "guardian_home")),
        ));
    };
    let Some(hash) = guardian_of(&ctx) else {
        let back = format!("/guardian/invitation?code={code}");
        return super::auth::start(&state, &ctx, LoginAs::Guardian, Some(back)).await;
    };
    let s = &state.services;
    let offer = s
        .guardian_offer(&code, &hash)
        .await
        .map_err(service_refusal)?;
    let orgs = s.orgs().await?;
    let catalogue = s.catalogue();
    let lines = offer
        .grants
        .iter()
        .map(|g| {
            let description = catalogue
                .category(&g.category)
                .map(|c| c.description.get(ctx.tr.lang).to_owned())
                .unwrap_or_default();
            (line(&state, &ctx, &orgs, g), description)
        })
        .collect();
    let page = OfferPage {
        c: chrome(
            &ctx,
            &state,
            ctx.tr.t("guardian_offer_title"),
            "/guardian/invitation",
        ),
        code,
        lines,
        expires: ctx.tr.f(
            "guardian_offer_expires",
            &[("date", &oslo_date(offer.expires_at))],
        ),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// A form the logged-in guardian posted, with its CSRF token checked.
async fn posted(state: &WebState, ctx: &Ctx, req: Request) -> Result<(String, Form), PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let Some(hash) = guardian_of(ctx) else {
        return Err(PageError::Login {
            to: "/guardian/login".into(),
        });
    };
    ctx.csrf_checked(&form)?;
    Ok((hash, form))
}

/// `POST /guardian/answer`: co-sign (`answer=yes`) or decline (`answer=no`).
pub async fn answer(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (hash, form) = posted(&state, &ctx, req).await?;
    let yes = match form.get("answer") {
        Some("yes") => true,
        Some("no") => false,
        _ => return Err(PageError::bad_input("answer", HOME)),
    };
    let code = form.get("code").unwrap_or_default();
    state
        .services
        .answer_guardian(code, &hash, yes)
        .await
        .map_err(service_refusal)?;
    let done = if yes { "signed" } else { "declined" };
    Ok(Redirect::to(&format!("/guardian?done={done}")).into_response())
}

/// `POST /guardian/withdraw`: a grant the guardian co-signed, at once.
pub async fn withdraw(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (hash, form) = posted(&state, &ctx, req).await?;
    let grant = form.uuid("grant", HOME)?;
    state.services.guardian_withdraw(&hash, grant).await?;
    Ok(Redirect::to("/guardian?done=withdrawn").into_response())
}
