//! Staff roles, for administrators: give a role (a tutor's for a school, under the
//! name pupils choose them by there) or take one away. The number is hashed at
//! once and never shown back; the change is an operator entry naming who made it.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use crate::domain::identity::IdentityNumber;
use crate::policy::console::ROLES;
use crate::service::ServiceError;
use crate::web::pages::{render, Chrome};
use crate::web::{query_param, Ctx, Form, PageError, WebState};

#[derive(Template)]
#[template(path = "console_staff.html")]
struct StaffPage {
    c: Chrome,
    roles: Vec<&'static str>,
    networks: Vec<(Uuid, String)>,
    /// (subject, the schools they work at) of every tutor.
    tutors: Vec<(String, String)>,
}

const BACK: &str = "/console/staff";

/// `GET /console/staff`
pub async fn page(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    super::staff_may(&ctx, &state, "staff", "write")?;
    let s = &state.services;
    let mut c = Chrome::new(&ctx, &state, ctx.tr.t("console_staff"), BACK);
    c.flash = match query_param(&uri, "done").as_deref() {
        Some("granted") => Some(ctx.tr.t("console_staff_granted").to_owned()),
        Some("revoked") => Some(ctx.tr.t("console_staff_revoked").to_owned()),
        _ => None,
    };
    let page = StaffPage {
        c,
        roles: ROLES.to_vec(),
        networks: s
            .networks()
            .await?
            .into_iter()
            .map(|n| (n.id, n.name))
            .collect(),
        tutors: s.tutors().await?,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `POST /console/staff`: `action` is `grant` or `revoke`.
pub async fn change(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let by = super::staff_may(&ctx, &state, "staff", "write")?;
    ctx.csrf_checked(&form)?;
    let n = IdentityNumber::parse(
        &form
            .get("identity_number")
            .unwrap_or_default()
            .split_whitespace()
            .collect::<String>(),
    )
    .map_err(|_| PageError::bad_input("identity_number", BACK))?;
    let role = form
        .get("role")
        .filter(|r| ROLES.contains(r))
        .ok_or_else(|| PageError::bad_input("role", BACK))?;
    let s = &state.services;
    let bad = |e: ServiceError| match e {
        ServiceError::Invalid { field, .. } => PageError::bad_input(field, BACK),
        ServiceError::NotFound(_) => PageError::bad_input("role", BACK),
        other => other.into(),
    };
    match form.get("action") {
        Some("grant") => {
            let network = match form.get("network").filter(|n| !n.is_empty()) {
                Some(id) => {
                    Some(Uuid::parse_str(id).map_err(|_| PageError::bad_input("network", BACK))?)
                }
                None => None,
            };
            let name = form.get("display_name").unwrap_or_default();
            s.grant_role(&n, role, network.map(|id| (id, name)), &by)
                .await
                .map_err(bad)?;
            Ok(Redirect::to("/console/staff?done=granted").into_response())
        }
        Some("revoke") => {
            s.revoke_role(&n, role, &by).await.map_err(bad)?;
            Ok(Redirect::to("/console/staff?done=revoked").into_response())
        }
        _ => Err(PageError::bad_input("action", BACK)),
    }
}
