//! Reading the agreement, choosing, reviewing and signing.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::pages::{render, Chrome};
use super::session::{random_token, PupilLogin};
use super::view::{self, parse_choice, Paragraph};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::domain::catalogue::Catalogue;
use crate::domain::category::{AgeVerdict, Category};
use crate::domain::consent::{Choice, ConsentError, Evidence, Grant, NewGrant, Party};
use crate::domain::org::Municipality;
use crate::domain::Slug;
use crate::service::{Journey, ServiceError, ServiceOffer, Submitted};

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
    /// Networks to choose among when the pupil has no consent yet, or moved.
    networks: Vec<(Uuid, String)>,
    /// A pupil with a consent in force picks a new school or home.
    moving: bool,
    /// Where the pupil may say they live: (municipality, its services).
    homes: Vec<(String, String)>,
    /// What happens without consent: duties and flows in law.
    by_law: Vec<String>,
}

/// One checkbox.
pub struct OptionView {
    pub id: String,
    pub name: String,
    pub value: String,
    pub description: String,
    pub checked: bool,
    /// Why it cannot be chosen (the pupil's age), when it cannot.
    pub unavailable: Option<String>,
    /// What choosing it means at the pupil's age (a guardian must say yes too).
    pub note: Option<String>,
}

/// A group of checkboxes under one question.
pub struct GroupView {
    pub legend: String,
    /// The form field its boxes send.
    pub field: &'static str,
    pub options: Vec<OptionView>,
}

/// One service's step: what it may tell the tutor, what the tutor may tell it (and
/// whom in it), what others may tell it directly, and what happens by law.
#[derive(Template)]
#[template(path = "choose.html")]
struct ChoosePage {
    c: Chrome,
    step: u8,
    step_label: String,
    progress: String,
    changing: bool,
    network_id: Uuid,
    home: String,
    moving: bool,
    index: usize,
    first: bool,
    title: String,
    type_name: String,
    why: Option<String>,
    separate: bool,
    groups: Vec<GroupView>,
    /// Whom in the service the tutor may tell (its roles), when it has roles.
    roles: Option<GroupView>,
    by_law: Vec<String>,
    none_label: String,
    error: Option<String>,
    /// The choices made at the other services, carried along.
    carried: Vec<String>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    c: Chrome,
    step: u8,
    step_label: String,
    summary: Vec<(String, Vec<String>)>,
    stops: Vec<String>,
    /// For a change: what is new.
    adds: Vec<String>,
    by_law: Vec<String>,
    valid_line: String,
    responsible: Option<String>,
    dpo: Option<String>,
    submission: String,
    network_id: Uuid,
    home: String,
    moving: bool,
    values: Vec<String>,
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

/// `GET /consent`: the agreement. With `?move=1`, a pupil with a consent in force
/// who changed school or moved picks the new place.
pub async fn agreement(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let (_, j) = journey(&state, &ctx, "/consent").await?;
    let lang = ctx.tr.lang;
    let moving = j.current.is_some() && query_param(&uri, "move").as_deref() == Some("1");
    let picking = j.current.is_none() || moving;
    let school = j
        .current
        .as_ref()
        .and_then(|c| j.networks.iter().find(|n| n.id == c.network_id))
        .map(|n| n.name.clone());
    let tutor = match &school {
        Some(name) => ctx.tr.f("tutor_text", &[("school", name)]),
        None => ctx.tr.t("tutor_text_none").to_owned(),
    };
    let page = AgreementPage {
        c: Chrome::new(&ctx, &state, j.agreement.title.get(lang), "/consent"),
        step: 1,
        step_label: step_label(&ctx, 1),
        title: j.agreement.title.get(lang).to_owned(),
        version_line: ctx.tr.f(
            "agreement_version",
            &[("version", &j.agreement.version.to_string())],
        ),
        paragraphs: view::paragraphs(j.agreement.body.get(lang)),
        tutor,
        moving,
        homes: if !picking {
            Vec::new()
        } else {
            state
                .services
                .home_choices()
                .await?
                .into_iter()
                .map(|(m, names)| (m.as_str().to_owned(), names.join(", ")))
                .collect()
        },
        networks: if !picking {
            Vec::new()
        } else {
            j.networks.iter().map(|n| (n.id, n.name.clone())).collect()
        },
        by_law: by_law_lines(&state.services.catalogue(), lang),
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// Where the pupil chooses: the school network and home municipality of the
/// consent in force, or (for a new consent, or a pupil who moved: `move=1`) the
/// ones the form names.
#[derive(Debug, Clone)]
struct Place {
    network_id: Uuid,
    home: Option<Municipality>,
    moving: bool,
}

impl Place {
    fn of(
        j: &Journey,
        network: Option<&str>,
        home: Option<&str>,
        moving: Option<&str>,
    ) -> Result<Self, PageError> {
        let moving = j.current.is_some() && moving == Some("1");
        if let Some(c) = j.current.as_ref().filter(|_| !moving) {
            return Ok(Self {
                network_id: c.network_id,
                home: c.home_municipality.clone(),
                moving,
            });
        }
        let network_id = network
            .and_then(|a| Uuid::parse_str(a).ok())
            .ok_or_else(choose_school)?;
        let home = match home.map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => {
                Some(Municipality::parse(a).map_err(|_| PageError::bad_input("home", "/consent"))?)
            }
        };
        Ok(Self {
            network_id,
            home,
            moving,
        })
    }

    fn home_value(&self) -> String {
        self.home
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default()
    }
}

/// What happens without the pupil's consent, in the pupil's words: flows in law
/// and duties to report.
fn by_law_lines(catalogue: &Catalogue, lang: crate::domain::Lang) -> Vec<String> {
    catalogue
        .statutory
        .iter()
        .filter_map(|s| s.when.as_ref().map(|w| w.get(lang).to_owned()))
        .chain(catalogue.duties.iter().map(|d| d.text.get(lang).to_owned()))
        .collect()
}

/// Whether a choice belongs to `org`'s step: what it tells the tutor, or what it
/// is told (by the tutor or directly by another service).
fn belongs(c: &Choice, org: Uuid) -> bool {
    c.parties().is_some_and(|(from, to)| {
        to.org_id() == Some(org) || (from.org_id() == Some(org) && to == Party::Tutor)
    })
}

/// (why it cannot be chosen, what choosing it means) at the pupil's age.
fn age_note(ctx: &Ctx, cat: &Category, age: AgeVerdict) -> (Option<String>, Option<String>) {
    let alone_from = cat.age.alone_from.to_string();
    match age {
        AgeVerdict::Alone => (None, None),
        AgeVerdict::NeedsGuardian => (
            None,
            Some(ctx.tr.f("age_guardian", &[("age", &alone_from)])),
        ),
        AgeVerdict::NotAllowed => (
            Some(ctx.tr.f("age_not_allowed", &[("age", &alone_from)])),
            None,
        ),
    }
}

/// Where the pupil is in the steps: the place, the services offered there, whether
/// a consent in force is being changed.
struct Steps<'a> {
    place: &'a Place,
    offers: &'a [ServiceOffer],
    changing: bool,
}

/// The step for one service, ticked as `chosen` says.
fn step_page(
    ctx: &Ctx,
    state: &WebState,
    steps: &Steps<'_>,
    index: usize,
    chosen: &[Choice],
    error: Option<String>,
) -> Response {
    let Steps {
        place,
        offers,
        changing,
    } = *steps;
    let lang = ctx.tr.lang;
    let Some(o) = offers.get(index) else {
        return PageError::bad_input("step", "/consent").page(ctx, state);
    };
    let org = o.org.id;
    let has = |from: &Party, to: &Party, cat: &Category| {
        chosen.iter().any(|c| {
            c.category == cat.key && c.parties().is_some_and(|(f, t)| f == *from && t == *to)
        })
    };
    let option = |field: &str, value: String, cat: &Category, age: AgeVerdict, checked: bool| {
        let (unavailable, note) = age_note(ctx, cat, age);
        OptionView {
            id: format!("{field}-{}", value.replace(['>', ':', '.'], "-")),
            name: cat.name.get(lang).to_owned(),
            value,
            description: cat.description.get(lang).to_owned(),
            checked,
            unavailable,
            note,
        }
    };
    let here = Party::org(org);
    let name = o.org.name.clone();
    let mut groups = Vec::new();
    if !o.obtain.is_empty() {
        groups.push(GroupView {
            legend: ctx.tr.f("choose_obtain", &[("org", &name)]),
            field: "s",
            options: o
                .obtain
                .iter()
                .map(|(cat, age)| {
                    let c = Choice::new(here.clone(), Party::Tutor, cat.key.clone());
                    let on = has(&here, &Party::Tutor, cat);
                    option("s", view::choice_value(&c), cat, *age, on)
                })
                .collect(),
        });
    }
    // The tutor tells the service, or whom in it the pupil picks.
    let told: Vec<&Party> = chosen
        .iter()
        .filter_map(|c| c.recipient.as_ref())
        .filter(|p| p.org_id() == Some(org))
        .collect();
    if !o.tell.is_empty() {
        groups.push(GroupView {
            legend: ctx.tr.f("choose_tell", &[("org", &name)]),
            field: "t",
            options: o
                .tell
                .iter()
                .map(|(cat, age)| {
                    let on = chosen.iter().any(|c| {
                        c.category == cat.key
                            && c.parties()
                                .is_some_and(|(f, t)| f == Party::Tutor && t.org_id() == Some(org))
                    });
                    option("t", cat.key.to_string(), cat, *age, on)
                })
                .collect(),
        });
    }
    let roles = (!o.tell.is_empty() && !o.kind.roles.is_empty()).then(|| {
        let whole = told.iter().any(|p| p.role().is_none());
        let mut options: Vec<OptionView> = o
            .kind
            .roles
            .iter()
            .map(|r| OptionView {
                id: format!("r-{}", r.key),
                name: r.name.get(lang).to_owned(),
                value: r.key.to_string(),
                description: String::new(),
                checked: told.iter().any(|p| p.role() == Some(&r.key)),
                unavailable: None,
                note: None,
            })
            .collect();
        options.push(OptionView {
            id: "r-all".into(),
            name: ctx.tr.f("choose_whole", &[("org", &name)]),
            value: "all".into(),
            description: String::new(),
            checked: whole,
            unavailable: None,
            note: None,
        });
        GroupView {
            legend: ctx.tr.f("choose_roles", &[("org", &name)]),
            field: "r",
            options,
        }
    });
    for (from, cats) in &o.direct {
        let from_party = Party::org(from.id);
        groups.push(GroupView {
            legend: ctx
                .tr
                .f("choose_direct", &[("from", &from.name), ("org", &name)]),
            field: "s",
            options: cats
                .iter()
                .map(|(cat, age)| {
                    let c = Choice::new(from_party.clone(), here.clone(), cat.key.clone());
                    let on = has(&from_party, &here, cat);
                    option("s", view::choice_value(&c), cat, *age, on)
                })
                .collect(),
        });
    }
    let page = ChoosePage {
        c: Chrome::new(ctx, state, ctx.tr.t("choose_title"), "/consent"),
        step: 2,
        step_label: step_label(ctx, 2),
        progress: ctx.tr.f(
            "choose_progress",
            &[
                ("n", &(index + 1).to_string()),
                ("of", &offers.len().to_string()),
            ],
        ),
        changing,
        network_id: place.network_id,
        home: place.home_value(),
        moving: place.moving,
        index,
        first: index == 0,
        title: name.clone(),
        type_name: o.kind.name.get(lang).to_owned(),
        why: o.why.as_ref().map(|w| w.get(lang).to_owned()),
        separate: o.kind.separate,
        groups,
        roles,
        by_law: o
            .by_law
            .iter()
            .filter_map(|s| s.when.as_ref().map(|w| w.get(lang).to_owned()))
            .collect(),
        none_label: ctx.tr.f("choose_none", &[("org", &name)]),
        error,
        carried: chosen
            .iter()
            .filter(|c| !belongs(c, org))
            .map(view::choice_value)
            .collect(),
    };
    render(ctx, state, StatusCode::OK, &page)
}

/// The choices of the consent in force, as the steps tick them.
fn chosen_now(j: &Journey) -> Vec<Choice> {
    j.current
        .iter()
        .flat_map(|c| c.grants_live())
        .map(|g| Choice::new(g.discloser.clone(), g.recipient.clone(), g.category.clone()))
        .collect()
}

/// `GET /consent/choose`: the first service.
pub async fn choose(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let (pupil, j) = journey(&state, &ctx, "/consent/choose").await?;
    let q = |k: &str| query_param(&uri, k);
    let place = Place::of(
        &j,
        q("network").as_deref(),
        q("home").as_deref(),
        q("move").as_deref(),
    )?;
    let s = &state.services;
    let offers = s
        .offer(pupil.pupil_id, place.network_id, place.home.as_ref())
        .await?
        .ok_or_else(choose_school)?;
    // A pupil who moved starts from what they chose, carried to the new services.
    let chosen = match (&j.current, place.moving) {
        (Some(c), true) => s
            .carried_over(c, place.network_id, place.home.as_ref())
            .await?
            .ok_or_else(choose_school)?,
        _ => chosen_now(&j),
    };
    let chosen = on_steps(chosen, &offers);
    let steps = Steps {
        place: &place,
        offers: &offers,
        changing: j.current.is_some(),
    };
    Ok(step_page(&ctx, &state, &steps, 0, &chosen, None))
}

/// The choices some step shows: one for a service that no longer has a step (it
/// left the network, was disabled, or is offered nothing) cannot be seen or
/// unticked, so it is left out, and the review lists it among what stops.
fn on_steps(chosen: Vec<Choice>, offers: &[ServiceOffer]) -> Vec<Choice> {
    chosen
        .into_iter()
        .filter(|c| offers.iter().any(|o| belongs(c, o.org.id)))
        .collect()
}

/// The choices a posted form carries (`c`), every one well formed.
fn carried(form: &Form) -> Result<Vec<Choice>, PageError> {
    form.all("c")
        .map(|v| parse_choice(v).ok_or_else(|| PageError::bad_input("c", "/consent")))
        .collect()
}

/// `POST /consent/choose`: a service's step answered; the next service, the one
/// before, or the review when it was the last.
pub async fn choose_step(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let (pupil, j, form) = posted(&state, &ctx, req).await?;
    let place = Place::of(&j, form.get("network"), form.get("home"), form.get("move"))?;
    let offers = state
        .services
        .offer(pupil.pupil_id, place.network_id, place.home.as_ref())
        .await?
        .ok_or_else(choose_school)?;
    let index: usize = form
        .get("step")
        .and_then(|s| s.parse().ok())
        .filter(|i| *i < offers.len())
        .ok_or_else(|| PageError::bad_input("step", "/consent"))?;
    let o = &offers[index];
    let org = o.org.id;
    let mut chosen: Vec<Choice> = on_steps(carried(&form)?, &offers)
        .into_iter()
        .filter(|c| !belongs(c, org))
        .collect();
    let action = form.get("action").unwrap_or("next");
    let steps = Steps {
        place: &place,
        offers: &offers,
        changing: j.current.is_some(),
    };
    if action != "none" && action != "show" {
        let mut here = Vec::new();
        for v in form.all("s") {
            let c = parse_choice(v)
                .filter(|c| belongs(c, org))
                .ok_or_else(|| PageError::bad_input("s", "/consent"))?;
            here.push(c);
        }
        let tell: Vec<Category> = form
            .all("t")
            .map(|t| {
                o.tell
                    .iter()
                    .find(|(c, _)| c.key.as_str() == t)
                    .map(|(c, _)| c.clone())
                    .ok_or_else(|| PageError::bad_input("t", "/consent"))
            })
            .collect::<Result<_, _>>()?;
        // Whom in the service: its roles, or all of it; a service without roles is
        // told as a whole.
        let mut whom: Vec<Party> = Vec::new();
        for r in form.all("r") {
            whom.push(match r {
                "all" => Party::org(org),
                role => {
                    let key = o
                        .kind
                        .roles
                        .iter()
                        .find(|x| x.key.as_str() == role)
                        .ok_or_else(|| PageError::bad_input("r", "/consent"))?
                        .key
                        .clone();
                    Party::Org {
                        org_id: org,
                        role: Some(key),
                    }
                }
            });
        }
        if o.kind.roles.is_empty() {
            whom = vec![Party::org(org)];
        } else if whom.iter().any(|p| p.role().is_none()) {
            // All of it covers each role.
            whom = vec![Party::org(org)];
        }
        if !tell.is_empty() && whom.is_empty() {
            let mut shown = chosen.clone();
            shown.extend(here);
            shown.extend(
                tell.iter()
                    .map(|c| Choice::new(Party::Tutor, Party::org(org), c.key.clone())),
            );
            let error = ctx.tr.f("choose_roles_missing", &[("org", &o.org.name)]);
            return Ok(step_page(&ctx, &state, &steps, index, &shown, Some(error)));
        }
        chosen.extend(here);
        for to in &whom {
            chosen.extend(
                tell.iter()
                    .map(|c| Choice::new(Party::Tutor, to.clone(), c.key.clone())),
            );
        }
    } else if action == "show" {
        chosen = on_steps(carried(&form)?, &offers);
    }
    let next = match action {
        "back" => index.saturating_sub(1),
        "show" => index,
        _ => index + 1,
    };
    if next < offers.len() {
        return Ok(step_page(&ctx, &state, &steps, next, &chosen, None));
    }
    review(&state, &ctx, &pupil, &j, &place, chosen).await
}

/// A choice the service refused, as the page that says what to do, in the page's
/// language.
fn refused_choice(e: ServiceError) -> PageError {
    let text = match &e {
        ServiceError::Consent(ConsentError::EmptyChoice) => "err_choose_one",
        ServiceError::NotFound(_) => return choose_school(),
        ServiceError::Conflict(_) => {
            return PageError::message(
                StatusCode::CONFLICT,
                "err_title",
                "err_no_change",
                Some(("/me/consents", "nav_consents")),
            )
        }
        ServiceError::Consent(ConsentError::BelowMinimumAge { .. }) => "err_below_age",
        ServiceError::Consent(
            ConsentError::OrgDisabled { .. } | ConsentError::OrgOutsideNetwork { .. },
        ) => "err_service_gone",
        ServiceError::Consent(_) => "err_not_offered",
        _ => return e.into(),
    };
    PageError::message(
        StatusCode::BAD_REQUEST,
        "err_title",
        text,
        Some(("/consent/choose", "back")),
    )
}

/// The checked choice from a posted form.
async fn checked_choice(
    state: &WebState,
    pupil: &PupilLogin,
    j: &Journey,
    form: &Form,
) -> Result<(Place, Vec<Choice>), PageError> {
    let place = Place::of(j, form.get("network"), form.get("home"), form.get("move"))?;
    let choices = carried(form)?;
    let s = &state.services;
    s.preview_choices(
        place.network_id,
        place.home.as_ref(),
        pupil.pupil_id,
        &choices,
    )
    .await
    .map_err(refused_choice)?;
    Ok((place, choices))
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

/// The review: what the pupil chose, what stops, who is responsible, and the
/// sign button.
async fn review(
    state: &WebState,
    ctx: &Ctx,
    pupil: &PupilLogin,
    j: &Journey,
    place: &Place,
    choices: Vec<Choice>,
) -> Result<Response, PageError> {
    let s = &state.services;
    if choices.is_empty() && j.current.is_some() && !place.moving {
        // Unticking everything is withdrawing: that has a page of its own.
        return Err(PageError::message(
            StatusCode::BAD_REQUEST,
            "err_title",
            "err_nothing_left",
            Some(("/me/consents", "nav_consents")),
        ));
    }
    let grants = s
        .preview_choices(
            place.network_id,
            place.home.as_ref(),
            pupil.pupil_id,
            &choices,
        )
        .await
        .map_err(refused_choice)?;
    let lang = ctx.tr.lang;
    let catalogue = s.catalogue();
    let orgs = s.orgs().await?;
    let network = s.network(place.network_id).await?;
    // What changes, in the pupil's words: what stops and, for a change, what is new.
    // (Waiting for a guardian counts: not chosen again, it stops too.)
    let now_in_force: Vec<&Grant> = j.current.iter().flat_map(|c| c.grants_live()).collect();
    let same = |n: &NewGrant, g: &Grant| {
        n.discloser == g.discloser && n.recipient == g.recipient && n.category == g.category
    };
    let line = |from: &Party, to: &Party, cat: &Slug| {
        format!(
            "{}: {}",
            view::flow_line(from, to, &orgs, &catalogue, ctx.tr),
            view::category_name(&catalogue, cat.as_str(), lang)
        )
    };
    let stops = now_in_force
        .iter()
        .filter(|g| !grants.iter().any(|n| same(n, g)))
        .map(|g| {
            format!(
                "{}: {}",
                view::grant_line(g, &orgs, &catalogue, ctx.tr),
                view::category_name(&catalogue, g.category.as_str(), lang)
            )
        })
        .collect();
    let adds = if j.current.is_some() {
        grants
            .iter()
            .filter(|n| !now_in_force.iter().any(|g| same(n, g)))
            .map(|n| line(&n.discloser, &n.recipient, &n.category))
            .collect()
    } else {
        Vec::new()
    };
    // A one-time id for the sign form: the second of two submits finds it used.
    let submission = random_token().map_err(PageError::unavailable)?;
    let mut session = ctx.session.clone().ok_or(PageError::Csrf)?;
    let mut data = session.data.clone();
    let values: Vec<String> = choices.iter().map(view::choice_value).collect();
    data.submission = Some(format!("{submission}.{}", reviewed(place, &values)));
    session
        .save(s, data)
        .await
        .map_err(PageError::unavailable)?;
    // A change keeps the consent's end; a new consent (or a move) starts anew.
    let valid_until = match (&j.current, place.moving) {
        (Some(c), false) => c.expires_at,
        _ => s.now() + s.consent_validity(),
    };
    let summary = view::flows(
        grants
            .iter()
            .map(|g| (&g.discloser, &g.recipient, &g.category, false)),
        &orgs,
        &catalogue,
        ctx.tr,
    );
    let page = ReviewPage {
        c: Chrome::new(ctx, state, ctx.tr.t("review_title"), "/consent"),
        step: 3,
        step_label: step_label(ctx, 3),
        summary,
        stops,
        adds,
        by_law: by_law_lines(&catalogue, lang),
        valid_line: ctx
            .tr
            .f("review_valid", &[("date", &view::oslo_date(valid_until))]),
        responsible: network.controller.clone(),
        dpo: network.dpo.clone(),
        submission,
        network_id: place.network_id,
        home: place.home_value(),
        moving: place.moving,
        values,
    };
    Ok(render(ctx, state, StatusCode::OK, &page))
}

/// What the review showed, as a digest the sign form must match: the place and
/// every choice, in any order.
fn reviewed(place: &Place, values: &[String]) -> String {
    let mut sorted: Vec<&str> = values.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let text = format!(
        "{}\n{}\n{}\n{}",
        place.network_id,
        place.home_value(),
        place.moving,
        sorted.join("\n")
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
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
    let pending = session.data.submission.as_deref().unwrap_or_default();
    let (token, digest) = pending.split_once('.').unwrap_or_default();
    if sent.is_empty() || !super::session::same(token, &sent) {
        return Err(double(None));
    }
    // What is signed is what the review showed, or nothing is.
    let place = Place::of(&j, form.get("network"), form.get("home"), form.get("move"))?;
    let values: Vec<String> = form.all("c").map(str::to_owned).collect();
    if !super::session::same(digest, &reviewed(&place, &values)) {
        return Err(PageError::message(
            StatusCode::CONFLICT,
            "err_title",
            "err_not_reviewed",
            Some(("/consent/choose", "back")),
        ));
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
    let (place, choices) = checked_choice(&state, &pupil, &j, &form).await?;
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
        .submit_choice(
            pupil.pupil_id,
            place.network_id,
            place.home,
            choices,
            evidence,
        )
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

/// `GET /consent/invitation?code=…`: the link a tutor sent. The pupil logs in
/// first (the login comes back here); the invitation is then used up, once, by
/// the pupil it was made for, and opens the agreement of that school.
pub async fn invitation(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let code = query_param(&uri, "code").unwrap_or_default();
    let back: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
    let pupil = ctx.require_pupil(&format!("/consent/invitation?code={back}"))?;
    let network = state
        .services
        .follow_invitation(pupil.pupil_id, &code)
        .await?;
    Ok(Redirect::to(&format!("/consent/choose?network={network}")).into_response())
}
