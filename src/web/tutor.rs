//! The NAV tutor's workspace: the caseload, adding a pupil with an invitation,
//! one pupil's page ("may I share this?", recording what was shared, teams,
//! invitations, the end of follow-up) and paper consents. Phone-first, no scripts.
//! Every handler asks the service for the tutor behind the session on each
//! request, so a role taken away ends the work at once.

use askama::Template;
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{render, Chrome};
use super::view::{self, oslo_date};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::domain::caseload::{Direction, Occasion};
use crate::domain::category::AgeVerdict;
use crate::domain::consent::{Choice, Consent, Party};
use crate::domain::identity::IdentityNumber;
use crate::domain::Slug;
use crate::policy::decide::Reason;
use crate::service::{
    parse_party, party_ref, CaseLine, CaseState, LoginAs, NewDisclosure, PaperConsent, Tutor,
    Verdict, FORM_TYPES, MAX_FORM_BYTES,
};

/// `GET /tutor/login`: a tutor's login, back to the caseload.
pub async fn login(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    super::auth::start(&state, &ctx, LoginAs::Staff, Some("/tutor".into())).await
}

/// The tutor behind the session; else the login, or "not a tutor".
async fn tutor(ctx: &Ctx, state: &WebState) -> Result<Tutor, PageError> {
    let Some(st) = ctx.session.as_ref().and_then(|s| s.data.staff.as_ref()) else {
        return Err(PageError::Login {
            to: "/tutor/login".into(),
        });
    };
    state.services.tutor(&st.subject).await?.ok_or_else(|| {
        PageError::message(
            StatusCode::FORBIDDEN,
            "err_title",
            "tutor_forbidden",
            Some(("/", "go_start")),
        )
    })
}

fn chrome(ctx: &Ctx, state: &WebState, title: &str, here: &str) -> Chrome {
    let mut c = Chrome::new(ctx, state, title, here);
    c.tutor = true;
    c
}

/// Who a party is, in the page's words.
fn name(
    state: &WebState,
    orgs: &[crate::domain::org::Organisation],
    p: &Party,
    ctx: &Ctx,
) -> String {
    view::party_name(p, orgs, &state.services.catalogue(), ctx.tr.lang)
}

/// "counsellor: absence, housing · school nurse: everything", from the grants in
/// force; the tutor's own side is implied.
fn in_force(
    state: &WebState,
    orgs: &[crate::domain::org::Organisation],
    consent: Option<&Consent>,
    ctx: &Ctx,
) -> String {
    let catalogue = state.services.catalogue();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for g in consent.into_iter().flat_map(Consent::grants_in_force) {
        let who = match (&g.discloser, &g.recipient) {
            (Party::Tutor, other) | (other, Party::Tutor) => name(state, orgs, other, ctx),
            (from, to) => format!(
                "{} → {}",
                name(state, orgs, from, ctx),
                name(state, orgs, to, ctx)
            ),
        };
        let what = view::category_name(&catalogue, g.category.as_str(), ctx.tr.lang);
        match groups.iter_mut().find(|(w, _)| *w == who) {
            Some((_, cats)) if !cats.contains(&what) => cats.push(what),
            Some(_) => {}
            None => groups.push((who, vec![what])),
        }
    }
    if groups.is_empty() {
        return ctx.tr.t("tutor_nothing").to_owned();
    }
    groups
        .into_iter()
        .map(|(w, c)| format!("{w}: {}", c.join(", ")))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The tutor's name for the pupil; one who chose the tutor comes without one.
fn shown_name(ctx: &Ctx, l: &CaseLine) -> String {
    if l.nickname.is_empty() {
        ctx.tr.t("tutor_unnamed").to_owned()
    } else {
        l.nickname.clone()
    }
}

fn state_text(ctx: &Ctx, l: &CaseLine) -> String {
    let key = match l.state {
        CaseState::Invited => "tutor_state_invited",
        CaseState::Refused => "tutor_state_refused",
        CaseState::Active => "tutor_state_active",
        CaseState::Ended => "tutor_state_ended",
        CaseState::Closed => "tutor_state_closed",
    };
    let mut s = ctx.tr.t(key).to_owned();
    if let Some(at) = l.lapsing {
        s.push_str(" · ");
        s.push_str(&ctx.tr.f("tutor_lapsing", &[("date", &oslo_date(at))]));
    }
    if l.unconfirmed_paper {
        s.push_str(" · ");
        s.push_str(ctx.tr.t("tutor_paper_unconfirmed"));
    }
    if l.guardian_waiting > 0 {
        s.push_str(" · ");
        let n = l.guardian_waiting.to_string();
        s.push_str(&ctx.tr.f("tutor_guardian_waiting", &[("n", &n)]));
    }
    if l.exceptions > 0 {
        s.push_str(" · ");
        let n = l.exceptions.to_string();
        s.push_str(&ctx.tr.f("tutor_guardian_exceptions", &[("n", &n)]));
    }
    if let Some(at) = l.coming_of_age {
        s.push_str(" · ");
        s.push_str(
            &ctx.tr
                .f("tutor_guardian_lapsing", &[("date", &oslo_date(at))]),
        );
    }
    s
}

pub struct Line {
    pub id: Uuid,
    pub nickname: String,
    pub state: String,
    pub summary: String,
    pub news: bool,
}

#[derive(Template)]
#[template(path = "tutor.html")]
struct CaseloadPage {
    c: Chrome,
    news: Vec<Line>,
    rest: Vec<Line>,
}

/// `GET /tutor`: the caseload, what changed at the top.
pub async fn caseload(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    let t = tutor(&ctx, &state).await?;
    let s = &state.services;
    let orgs = s.orgs().await?;
    let (news, rest) = s
        .caseload(&t)
        .await?
        .into_iter()
        .map(|l| Line {
            id: l.pupil,
            nickname: shown_name(&ctx, &l),
            state: state_text(&ctx, &l),
            summary: in_force(&state, &orgs, l.consent.as_ref(), &ctx),
            news: l.changed || l.lapsing.is_some(),
        })
        .partition(|l| l.news);
    let page = CaseloadPage {
        c: chrome(&ctx, &state, ctx.tr.t("workspace_title"), "/tutor"),
        news,
        rest,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "tutor_enrol.html")]
struct EnrolPage {
    c: Chrome,
    networks: Vec<(Uuid, String)>,
    invitation: Option<(String, String, String)>,
}

async fn networks_of(state: &WebState, t: &Tutor) -> Result<Vec<(Uuid, String)>, PageError> {
    let all = state.services.networks().await?;
    Ok(all
        .into_iter()
        .filter(|n| t.networks.contains(&n.id))
        .map(|n| (n.id, n.name))
        .collect())
}

/// `GET /tutor/enrol`: add a pupil.
pub async fn enrol_form(State(state): State<WebState>, ctx: Ctx) -> Result<Response, PageError> {
    let t = tutor(&ctx, &state).await?;
    let page = EnrolPage {
        c: chrome(&ctx, &state, ctx.tr.t("tutor_enrol_title"), "/tutor/enrol"),
        networks: networks_of(&state, &t).await?,
        invitation: None,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// The invitation as the tutor passes it on: the link, the code, until when.
fn shown(
    state: &WebState,
    ctx: &Ctx,
    inv: &crate::service::Invitation,
) -> (String, String, String) {
    let link = format!(
        "{}/consent/invitation?code={}",
        state.services.issuer(),
        inv.code
    );
    let until = ctx.tr.f(
        "tutor_invitation_until",
        &[("date", &oslo_date(inv.expires_at))],
    );
    (link, inv.code.clone(), until)
}

/// `POST /tutor/enrol`: the pupil by identity number and the tutor's name for
/// them; answers with the invitation.
pub async fn enrol(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let t = tutor(&ctx, &state).await?;
    ctx.csrf_checked(&form)?;
    let identity = form
        .get("identity_number")
        .map(|n| n.split_whitespace().collect::<String>())
        .and_then(|n| IdentityNumber::parse(&n).ok())
        .ok_or_else(|| PageError::bad_input("identity_number", "/tutor/enrol"))?;
    let network = form
        .get("network")
        .and_then(|n| Uuid::parse_str(n).ok())
        .ok_or_else(|| PageError::bad_input("network", "/tutor/enrol"))?;
    let nickname = form.get("nickname").unwrap_or_default();
    let inv = state
        .services
        .enrol_for_tutor(&t, network, &identity, nickname)
        .await
        .map_err(failed("/tutor/enrol"))?;
    let page = EnrolPage {
        c: chrome(&ctx, &state, ctx.tr.t("tutor_enrol_title"), "/tutor/enrol"),
        networks: networks_of(&state, &t).await?,
        invitation: Some(shown(&state, &ctx, &inv)),
    };
    Ok(render(&ctx, &state, StatusCode::CREATED, &page))
}

/// Bad input on a tutor's form goes back to that form.
/// A service error on a tutor's page: another's pupil (or none) is not found,
/// whatever id was guessed; bad input goes back to `back`; the rest as anywhere.
pub(super) fn failed(back: &'static str) -> impl Fn(crate::service::ServiceError) -> PageError {
    move |e| match e {
        crate::service::ServiceError::NotFound(_) => PageError::NotFound(("/tutor", "tutor_back")),
        crate::service::ServiceError::Invalid { field, .. } => PageError::bad_input(field, back),
        crate::service::ServiceError::Consent(c) => PageError::bad_input(c.to_string(), back),
        other => other.into(),
    }
}

pub struct Answer {
    pub category: String,
    pub tell: String,
    pub tell_yes: bool,
    pub obtain: String,
    pub obtain_yes: bool,
}

#[derive(Template)]
#[template(path = "tutor_pupil.html")]
struct PupilPage {
    c: Chrome,
    id: Uuid,
    nickname: String,
    state: String,
    summary: String,
    changed: bool,
    /// (value, label) of everyone the tutor can ask about, then the saved teams.
    counterparts: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    asked: String,
    answers: Vec<(String, Vec<Answer>)>,
    categories: Vec<(String, String)>,
    occasions: Vec<(String, String)>,
    today: String,
    invitation: Option<(String, String, String)>,
    papers: Vec<(String, String)>,
    guardians: super::tutor_guardian::Panel,
}

fn reason_words(ctx: &Ctx, r: Reason) -> &'static str {
    ctx.tr.t(match r {
        Reason::NotGranted | Reason::ConsentMissing | Reason::NoSuchPupil => "tutor_no_not_chosen",
        Reason::GrantWithdrawn | Reason::ConsentWithdrawn => "tutor_no_withdrawn",
        Reason::ConsentExpired => "tutor_no_expired",
        Reason::ConsentPending => "tutor_no_pending",
        Reason::BelowAgeAtSigning => "tutor_no_too_young",
        Reason::AwaitingGuardian => "tutor_no_guardian",
        Reason::LapsedAtAge => "tutor_no_lapsed_age",
        Reason::OrgDisabled => "tutor_no_disabled",
        _ => "tutor_no_never",
    })
}

fn verdict_words(ctx: &Ctx, v: &Verdict) -> (String, bool) {
    match v {
        Verdict::Consent { since } => (
            ctx.tr
                .f("tutor_yes_consent", &[("date", &oslo_date(*since))]),
            true,
        ),
        Verdict::Law { provision } => {
            (ctx.tr.f("tutor_yes_law", &[("provision", provision)]), true)
        }
        Verdict::No { reason } => (
            format!("{}: {}", ctx.tr.t("tutor_no"), reason_words(ctx, *reason)),
            false,
        ),
    }
}

/// `GET /tutor/pupils/{id}`: one pupil; `?with=` asks "may I share this?" for a
/// counterpart (`org` or `org.role`) or a saved team (`team:<id>`).
pub async fn pupil(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, PageError> {
    let t = tutor(&ctx, &state).await?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound(("/tutor", "tutor_back")))?;
    pupil_page(&state, &ctx, &t, id, query_param(&uri, "with"), None).await
}

async fn pupil_page(
    state: &WebState,
    ctx: &Ctx,
    t: &Tutor,
    id: Uuid,
    with: Option<String>,
    invitation: Option<(String, String, String)>,
) -> Result<Response, PageError> {
    let s = &state.services;
    let line = s.case(t, id).await.map_err(failed("/tutor"))?;
    let orgs = s.orgs().await?;
    let catalogue = s.catalogue();
    let parties = s.counterparts(t, id).await?;
    let teams = s.teams(t, id).await?;
    let asked: Vec<Party> = match with.as_deref() {
        None | Some("") => Vec::new(),
        Some(w) => match w.strip_prefix("team:") {
            Some(team) => teams
                .iter()
                .find(|(tid, _, _)| tid.to_string() == team)
                .map(|(_, _, m)| m.clone())
                .ok_or_else(|| PageError::bad_input("with", "/tutor"))?,
            None => vec![parse_party(w)
                .filter(|p| parties.contains(p))
                .ok_or_else(|| PageError::bad_input("with", "/tutor"))?],
        },
    };
    let answers = if asked.is_empty() {
        Vec::new()
    } else {
        s.may_i_share(t, id, &asked)
            .await?
            .into_iter()
            .map(|(p, lines)| {
                let rows = lines
                    .into_iter()
                    .map(|l| {
                        let (tell, tell_yes) = verdict_words(ctx, &l.tell);
                        let (obtain, obtain_yes) = verdict_words(ctx, &l.obtain);
                        Answer {
                            category: view::category_name(
                                &catalogue,
                                l.category.as_str(),
                                ctx.tr.lang,
                            ),
                            tell,
                            tell_yes,
                            obtain,
                            obtain_yes,
                        }
                    })
                    .collect();
                (name(state, &orgs, &p, ctx), rows)
            })
            .collect()
    };
    let papers = s
        .papers_for_tutor(t, id)
        .await?
        .into_iter()
        .map(|(consent, on, witness)| {
            (
                format!("/tutor/pupils/{id}/forms/{consent}"),
                ctx.tr
                    .f("tutor_paper_line", &[("date", &on), ("witness", &witness)]),
            )
        })
        .collect();
    let page = PupilPage {
        c: chrome(
            ctx,
            state,
            &shown_name(ctx, &line),
            &format!("/tutor/pupils/{id}"),
        ),
        id,
        nickname: shown_name(ctx, &line),
        state: state_text(ctx, &line),
        summary: in_force(state, &orgs, line.consent.as_ref(), ctx),
        changed: line.changed,
        counterparts: parties
            .iter()
            .map(|p| (party_ref(p), name(state, &orgs, p, ctx)))
            .collect(),
        teams: teams
            .iter()
            .map(|(tid, n, _)| (format!("team:{tid}"), n.clone()))
            .collect(),
        asked: with.unwrap_or_default(),
        answers,
        categories: catalogue
            .categories
            .iter()
            .filter(|c| !c.retired)
            .map(|c| (c.key.to_string(), c.name.get(ctx.tr.lang).to_owned()))
            .collect(),
        occasions: Occasion::ALL
            .iter()
            .map(|o| {
                (
                    o.as_str().to_owned(),
                    ctx.tr.t(&format!("occasion_{}", o.as_str())).to_owned(),
                )
            })
            .collect(),
        today: crate::clock::oslo_date(s.now()).to_string(),
        invitation,
        papers,
        guardians: super::tutor_guardian::panel(state, ctx, id, line.consent.as_ref(), &orgs)
            .await?,
    };
    Ok(render(ctx, state, StatusCode::OK, &page))
}

/// The pupil's id from the path, and the tutor, for a form posted about them.
pub(super) async fn posted(
    state: &WebState,
    ctx: &Ctx,
    id: &str,
    req: Request,
) -> Result<(Tutor, Uuid, Form), PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let t = tutor(ctx, state).await?;
    ctx.csrf_checked(&form)?;
    let id = Uuid::parse_str(id).map_err(|_| PageError::NotFound(("/tutor", "tutor_back")))?;
    Ok((t, id, form))
}

pub(super) fn to_pupil(id: Uuid) -> Response {
    Redirect::to(&format!("/tutor/pupils/{id}")).into_response()
}

/// `POST /tutor/pupils/{id}/disclosures`: what the tutor told or was told.
pub async fn disclosure(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    let back = "/tutor";
    let field = |k: &'static str| form.get(k).ok_or_else(|| PageError::bad_input(k, back));
    let d = NewDisclosure {
        counterpart: parse_party(field("counterpart")?)
            .ok_or_else(|| PageError::bad_input("counterpart", back))?,
        direction: Direction::parse(field("direction")?)
            .ok_or_else(|| PageError::bad_input("direction", back))?,
        category: Slug::parse(field("category")?)
            .map_err(|_| PageError::bad_input("category", back))?,
        occasion: Occasion::parse(field("occasion")?)
            .ok_or_else(|| PageError::bad_input("occasion", back))?,
        on: time::Date::parse(
            field("on")?,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| PageError::bad_input("on", back))?,
    };
    state
        .services
        .record_disclosure(&t, id, d)
        .await
        .map_err(failed(back))?;
    Ok(to_pupil(id))
}

/// `POST /tutor/pupils/{id}/teams`: a saved team.
pub async fn team(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    let members: Option<Vec<Party>> = form.all("member").map(parse_party).collect();
    let members = members.ok_or_else(|| PageError::bad_input("member", "/tutor"))?;
    state
        .services
        .save_team(&t, id, form.get("name").unwrap_or_default(), &members)
        .await
        .map_err(failed("/tutor"))?;
    Ok(to_pupil(id))
}

/// `POST /tutor/pupils/{id}/invite`: a new invitation, shown once.
pub async fn invite(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, _) = posted(&state, &ctx, &id, req).await?;
    let inv = state
        .services
        .reinvite(&t, id)
        .await
        .map_err(failed("/tutor"))?;
    pupil_page(&state, &ctx, &t, id, None, Some(shown(&state, &ctx, &inv))).await
}

/// `POST /tutor/pupils/{id}/name`: the tutor's name for the pupil.
pub async fn rename(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    state
        .services
        .rename(&t, id, form.get("nickname").unwrap_or_default())
        .await
        .map_err(failed("/tutor"))?;
    Ok(to_pupil(id))
}

/// `POST /tutor/pupils/{id}/seen`: the tutor has seen what changed.
pub async fn seen(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, _) = posted(&state, &ctx, &id, req).await?;
    state
        .services
        .mark_seen(&t, id)
        .await
        .map_err(failed("/tutor"))?;
    Ok(to_pupil(id))
}

/// `POST /tutor/pupils/{id}/end`: follow-up has ended; the consent ends with it.
pub async fn end(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    if form.get("confirm") != Some("yes") {
        return Err(PageError::bad_input("confirm", "/tutor"));
    }
    state
        .services
        .end_follow_up(&t, id)
        .await
        .map_err(failed("/tutor"))?;
    Ok(Redirect::to("/tutor").into_response())
}

/// `GET /tutor/pupils/{id}/forms/{consent}`: the scanned paper form.
pub async fn form(
    State(state): State<WebState>,
    ctx: Ctx,
    Path((id, consent)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let t = tutor(&ctx, &state).await?;
    let parse =
        |s: &str| Uuid::parse_str(s).map_err(|_| PageError::NotFound(("/tutor", "tutor_back")));
    let (media, bytes) = state
        .services
        .paper_form(&t, parse(&id)?, parse(&consent)?)
        .await
        .map_err(failed("/tutor"))?;
    let media = HeaderValue::from_str(&media)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, media),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"form\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub struct PaperChoice {
    pub id: String,
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "tutor_paper.html")]
struct PaperPage {
    c: Chrome,
    id: Uuid,
    network: Uuid,
    choices: Vec<(String, Vec<PaperChoice>)>,
    today: String,
}

/// `GET /tutor/pupils/{id}/paper`: record a consent given on paper or aloud.
pub async fn paper_form(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let t = tutor(&ctx, &state).await?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound(("/tutor", "tutor_back")))?;
    let s = &state.services;
    let (network, offers) = s.paper_offer(&t, id).await.map_err(failed("/tutor"))?;
    let lang = ctx.tr.lang;
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("p-{n}")
    };
    let choices = offers
        .iter()
        .map(|o| {
            let org = &o.org;
            let mut items = Vec::new();
            for (cat, verdict) in &o.obtain {
                if *verdict == AgeVerdict::Alone {
                    items.push(PaperChoice {
                        id: next_id(),
                        value: format!("{}>tutor>{}", org.id, cat.key),
                        label: ctx
                            .tr
                            .f("tutor_paper_obtain", &[("what", cat.name.get(lang))]),
                    });
                }
            }
            for (cat, verdict) in &o.tell {
                if *verdict == AgeVerdict::Alone {
                    items.push(PaperChoice {
                        id: next_id(),
                        value: format!("tutor>{}>{}", org.id, cat.key),
                        label: ctx
                            .tr
                            .f("tutor_paper_tell", &[("what", cat.name.get(lang))]),
                    });
                }
            }
            (org.name.clone(), items)
        })
        .filter(|(_, items)| !items.is_empty())
        .collect();
    let page = PaperPage {
        c: chrome(
            &ctx,
            &state,
            ctx.tr.t("tutor_paper_title"),
            &format!("/tutor/pupils/{id}/paper"),
        ),
        id,
        network,
        choices,
        today: crate::clock::oslo_date(s.now()).to_string(),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `tutor>org>category` or `org>tutor>category` as a choice.
fn paper_choice(v: &str) -> Option<Choice> {
    let mut parts = v.split('>');
    let (Some(from), Some(to), Some(cat), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let party = |s: &str| {
        if s == "tutor" {
            Some(Party::Tutor)
        } else {
            parse_party(s)
        }
    };
    Some(Choice::new(
        party(from)?,
        party(to)?,
        Slug::parse(cat).ok()?,
    ))
}

/// `POST /tutor/pupils/{id}/paper` (multipart, with the scanned form).
pub async fn paper(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let back = "/tutor";
    let bad = |f: &str| PageError::bad_input(f.to_owned(), back);
    // Who is asking comes before reading up to 4 MiB.
    let t = tutor(&ctx, &state).await?;
    let mut body = body.map_err(|_| PageError::Form(super::FormError::Type))?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    // Past the route's limit is "too large"; anything else malformed is bad input.
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::Form(super::FormError::TooLarge)
        } else {
            bad("form")
        }
    };
    while let Some(field) = body.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "form" {
            let media = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(broken)?;
            if !bytes.is_empty() {
                file = Some((media, bytes.to_vec()));
            }
        } else if fields.len() < 400 {
            let text = field.text().await.map_err(broken)?;
            fields.push((name, text));
        } else {
            return Err(bad("fields"));
        }
    }
    let form = Form(fields);
    ctx.csrf_checked(&form)?;
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound(("/tutor", "tutor_back")))?;
    if let Some((media, bytes)) = &file {
        if bytes.len() > MAX_FORM_BYTES {
            return Err(PageError::Form(super::FormError::TooLarge));
        }
        if !FORM_TYPES.contains(&media.as_str()) {
            return Err(bad("form"));
        }
    }
    let choices: Option<Vec<Choice>> = form.all("choice").map(paper_choice).collect();
    let paper = PaperConsent {
        network: form
            .get("network")
            .and_then(|n| Uuid::parse_str(n).ok())
            .ok_or_else(|| bad("network"))?,
        choices: choices.ok_or_else(|| bad("choice"))?,
        refused: form.get("answer") == Some("no"),
        signed_on: form
            .get("signed_on")
            .and_then(|d| {
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok()
            })
            .ok_or_else(|| bad("signed_on"))?,
        witness: form.get("witness").unwrap_or_default().to_owned(),
        form: file,
    };
    state
        .services
        .record_paper(&t, id, paper)
        .await
        .map_err(failed(back))?;
    Ok(to_pupil(id))
}
