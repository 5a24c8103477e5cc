//! The tutor's side of guardians, on the pupil's page: what waits for a guardian
//! (with a protective exception to record instead), whom the pupil invited (with
//! the confirmation of parental responsibility), and what lapses at a birthday.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use uuid::Uuid;

use super::tutor::{failed, posted, to_pupil};
use super::view::{self, oslo_date};
use super::{Ctx, PageError, WebState};
use crate::domain::consent::Consent;
use crate::domain::guardian::{Cosign, InvitationOutcome};
use crate::domain::org::Organisation;

pub struct Waiting {
    pub grant: Uuid,
    pub text: String,
    pub state: String,
}

pub struct Invited {
    pub id: Uuid,
    pub who: String,
    pub status: String,
    /// Open or co-signed, and parental responsibility not yet confirmed.
    pub to_check: bool,
}

#[derive(Default)]
pub struct Panel {
    pub waiting: Vec<Waiting>,
    pub excepted: Vec<String>,
    pub invited: Vec<Invited>,
    pub lapsing: Vec<String>,
    /// (key, name) of the protective grounds.
    pub grounds: Vec<(String, String)>,
}

impl Panel {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
            && self.excepted.is_empty()
            && self.invited.is_empty()
            && self.lapsing.is_empty()
    }
}

/// The panel for one pupil and the consent at the tutor's network.
pub async fn panel(
    state: &WebState,
    ctx: &Ctx,
    pupil: Uuid,
    consent: Option<&Consent>,
    orgs: &[Organisation],
) -> Result<Panel, PageError> {
    let s = &state.services;
    let catalogue = s.catalogue();
    let text =
        |g: &crate::domain::consent::Grant| view::grant_sentence(g, orgs, &catalogue, ctx.tr);
    let grants: Vec<_> = consent
        .iter()
        .flat_map(|c| c.grants.iter())
        .filter(|g| g.live())
        .collect();
    let waiting = grants
        .iter()
        .filter(|g| g.waiting())
        .map(|g| Waiting {
            grant: g.id,
            text: text(g),
            state: ctx
                .tr
                .t(if g.guardian.is_some_and(|p| p.state == Cosign::Pending) {
                    "tutor_guardian_state_pending"
                } else {
                    "tutor_guardian_state_check"
                })
                .to_owned(),
        })
        .collect();
    let excepted = grants
        .iter()
        .filter(|g| g.guardian.is_some_and(|p| p.state == Cosign::Excepted))
        .map(|g| text(g))
        .collect();
    let now = s.now();
    let invited = s
        .guardian_invitations(pupil)
        .await?
        .into_iter()
        .filter(|i| i.outcome != Some(InvitationOutcome::Cancelled))
        .map(|i| {
            let status = match i.outcome {
                None if i.expires_at <= now => "guardian_inv_expired",
                None => "tutor_guardian_inv_open",
                Some(InvitationOutcome::Signed) => "guardian_inv_signed",
                Some(InvitationOutcome::Declined) => "guardian_inv_declined",
                Some(InvitationOutcome::Cancelled) => "guardian_inv_cancelled",
            };
            let mut status = ctx.tr.t(status).to_owned();
            if i.checked {
                status.push_str(" · ");
                status.push_str(ctx.tr.t("tutor_guardian_checked"));
            }
            Invited {
                id: i.id,
                who: if i.label.is_empty() {
                    ctx.tr.t("guardian_someone").to_owned()
                } else {
                    i.label
                },
                // Also when checked but a co-signature still waits (an answer
                // and a check that crossed each other).
                to_check: (!i.checked
                    && i.outcome != Some(InvitationOutcome::Declined)
                    && (i.outcome.is_some() || i.expires_at > now))
                    || (i.outcome == Some(InvitationOutcome::Signed)
                        && grants.iter().any(|g| {
                            i.grants.contains(&g.id)
                                && g.guardian.is_some_and(|p| p.state == Cosign::AwaitingCheck)
                        })),
                status,
            }
        })
        .collect();
    let lapsing = s
        .coming_of_age(consent)
        .iter()
        .map(|(g, at)| {
            ctx.tr.f(
                "guardian_lapse_line",
                &[("what", &text(g)), ("date", &oslo_date(*at))],
            )
        })
        .collect();
    let grounds = s
        .protective_grounds()
        .into_iter()
        .map(|g| {
            (
                g.key.as_str().to_owned(),
                g.name.get(ctx.tr.lang).to_owned(),
            )
        })
        .collect();
    Ok(Panel {
        waiting,
        excepted,
        invited,
        lapsing,
        grounds,
    })
}

/// `POST /tutor/pupils/{id}/exception`: a protective exception for one grant.
pub async fn exception(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    let back = "/tutor";
    let grant = form.uuid("grant", back)?;
    let ground = form.get("ground").unwrap_or_default();
    state
        .services
        .record_exception(&t, id, grant, ground)
        .await
        .map_err(failed(back))?;
    Ok(to_pupil(id))
}

/// `POST /tutor/pupils/{id}/guardian-check`: the tutor has confirmed that the
/// guardian an invitation names has parental responsibility.
pub async fn check(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let (t, id, form) = posted(&state, &ctx, &id, req).await?;
    let back = "/tutor";
    let invitation = form.uuid("invitation", back)?;
    let wrong = || {
        PageError::message(
            axum::http::StatusCode::BAD_REQUEST,
            "err_title",
            "tutor_guardian_wrong_number",
            Some(("/tutor", "tutor_back")),
        )
    };
    let number =
        crate::domain::identity::IdentityNumber::parse(form.get("number").unwrap_or_default())
            .map_err(|_| wrong())?;
    match state
        .services
        .confirm_guardian(&t, id, invitation, &number)
        .await
    {
        Err(crate::service::ServiceError::Invalid { .. }) => return Err(wrong()),
        other => other.map_err(failed(back))?,
    }
    Ok(to_pupil(id))
}
