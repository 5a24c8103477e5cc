//! Login and logout. A login starts a fresh session holding the flow (state, nonce,
//! PKCE verifier) and whom the login is for; the callback uses the flow up before
//! anything else, so a replayed or forged callback finds nothing; a successful
//! login gets a new session id.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::{message, render, Chrome};
use super::session::{same, GuardianLogin, PupilLogin, Session, SessionData, StaffLogin};
use super::{query_param, Ctx, Form, PageError, WebState};
use crate::oidc::LoginError;
use crate::service::{LoggedIn, LoginAs};

/// A login must come back within this time.
const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// Only the pupil's own pages are places a pupil login comes back to.
fn safe_return(r: Option<String>) -> Option<String> {
    let r = r?;
    let ok = ["/consent", "/me/", "/guardian"]
        .iter()
        .any(|p| r.starts_with(p))
        && !r.contains("//")
        && !r.contains('\\')
        && !r.chars().any(char::is_control)
        && r.len() < 200;
    ok.then_some(r)
}

fn with_cookie(mut res: Response, cookie: HeaderValue) -> Response {
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

/// `GET /auth/login`: a pupil's login.
pub async fn login(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    // A console link from before the console had its own login goes there.
    if query_param(&uri, "return").is_some_and(|r| r.starts_with("/console")) {
        return Ok(Redirect::to("/console/login").into_response());
    }
    let back = safe_return(query_param(&uri, "return"));
    if ctx.pupil().is_some() {
        return Ok(Redirect::to(back.as_deref().unwrap_or("/consent")).into_response());
    }
    start(&state, &ctx, LoginAs::Pupil, back).await
}

/// Starts a login at the provider for `as_`, in a new session.
pub async fn start(
    state: &WebState,
    ctx: &Ctx,
    as_: LoginAs,
    return_to: Option<String>,
) -> Result<Response, PageError> {
    let s = &state.services;
    let (url, flow) = state
        .web
        .rp
        .start(ctx.tr.lang, s.now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "login cannot start");
            PageError::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "err_title",
                "err_provider_down",
                Some(("/", "go_start")),
            )
        })?;
    // Someone logged in here keeps their session: a link from another site (a
    // top-level GET carries the Lax cookie) must not log them out. The flow waits
    // in it, and only a login that succeeds replaces it (with a new id).
    if let Some(mut current) = ctx
        .session
        .clone()
        .filter(|c| c.data.pupil.is_some() || c.data.staff.is_some() || c.data.guardian.is_some())
    {
        let mut data = current.data.clone();
        data.flow = Some(flow);
        data.login_as = Some(as_);
        data.return_to = return_to;
        if current
            .save(s, data)
            .await
            .map_err(PageError::unavailable)?
        {
            return Ok(Redirect::to(url.as_str()).into_response());
        }
        return Err(PageError::message(
            StatusCode::CONFLICT,
            "err_title",
            "err_login_expired",
            Some(("/", "go_start")),
        ));
    }
    if let Some(old) = ctx.session.clone() {
        old.destroy(s).await.map_err(PageError::unavailable)?;
    }
    let data = SessionData {
        lang: Some(ctx.tr.lang),
        flow: Some(flow),
        login_as: Some(as_),
        return_to,
        ..SessionData::default()
    };
    let (_, value) = Session::create(s, data)
        .await
        .map_err(PageError::unavailable)?;
    Ok(with_cookie(
        Redirect::to(url.as_str()).into_response(),
        state.web.sessions.cookie(&value),
    ))
}

/// A refused login: recorded with its reason (a refusal that cannot be recorded is
/// "try again later"), shown as a page; nothing changes.
async fn refused(
    ctx: &Ctx,
    state: &WebState,
    status: StatusCode,
    key: &'static str,
    reason: &str,
) -> PageError {
    let recorded = state
        .services
        .record_login_refusal(reason, ctx.request_id.clone())
        .await;
    match recorded {
        Ok(()) => PageError::message(
            status,
            "err_title",
            key,
            Some(("/auth/login", "login_again")),
        ),
        Err(e) => PageError::unavailable(e),
    }
}

/// `GET /auth/callback`
pub async fn callback(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let s = &state.services;
    let expired = StatusCode::BAD_REQUEST;
    let Some(mut session) = ctx.session.clone() else {
        return Err(refused(&ctx, &state, expired, "err_login_expired", "no session").await);
    };
    // A login started before logins said whom they were for was a pupil's.
    let as_ = session.data.login_as.unwrap_or(LoginAs::Pupil);
    let Some(flow) = session.data.flow.clone() else {
        return Err(refused(
            &ctx,
            &state,
            expired,
            "err_login_expired",
            "no login in progress",
        )
        .await);
    };
    // Use the flow up first: whatever happens next, it cannot be used again.
    let mut data = session.data.clone();
    data.flow = None;
    if !session
        .save(s, data)
        .await
        .map_err(PageError::unavailable)?
    {
        return Err(refused(
            &ctx,
            &state,
            expired,
            "err_login_expired",
            "flow already used",
        )
        .await);
    }
    if !query_param(&uri, "state").is_some_and(|st| same(&st, &flow.state)) {
        return Err(refused(&ctx, &state, expired, "err_login_expired", "state mismatch").await);
    }
    if s.now() - flow.started_at > FLOW_TTL_MS {
        return Err(refused(&ctx, &state, expired, "err_login_expired", "flow too old").await);
    }
    if let Some(err) = query_param(&uri, "error") {
        // Only the standard codes are kept (RFC 6749 §4.1.2.1, OpenID Connect Core
        // §3.1.2.6), never the provider's or a caller's free text.
        const CODES: [&str; 11] = [
            "invalid_request",
            "unauthorized_client",
            "access_denied",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required",
        ];
        let code = CODES.iter().find(|c| **c == err).unwrap_or(&"other");
        let key = if *code == "access_denied" {
            "err_login_cancelled"
        } else {
            "err_login_failed"
        };
        let reason = format!("provider error {code}");
        return Err(refused(&ctx, &state, expired, key, &reason).await);
    }
    let Some(code) = query_param(&uri, "code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Err(refused(&ctx, &state, expired, "err_login_failed", "no code").await);
    };
    let login = match state.web.rp.finish(&flow, &code, s.now()).await {
        Ok(l) => l,
        Err(e) => {
            let (status, key) = match &e {
                LoginError::ProviderUnavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "err_provider_down")
                }
                LoginError::AcrTooLow => (StatusCode::FORBIDDEN, "err_login_level"),
                LoginError::UnknownState => (StatusCode::BAD_REQUEST, "err_login_expired"),
                _ => (StatusCode::BAD_REQUEST, "err_login_failed"),
            };
            tracing::warn!(error = %e, "login refused");
            return Err(refused(&ctx, &state, status, key, e.code()).await);
        }
    };
    let who = s
        .complete_login(as_, &login.identity, &login.acr, ctx.request_id.clone())
        .await?;
    let return_to = session.data.return_to.clone();
    session.destroy(s).await.map_err(PageError::unavailable)?;
    let mut data = SessionData {
        lang: Some(ctx.tr.lang),
        ..SessionData::default()
    };
    let next = match who {
        LoggedIn::Pupil {
            pupil_id,
            has_consent,
        } => {
            data.pupil = Some(PupilLogin {
                pupil_id,
                acr: login.acr.clone(),
                amr: login.amr,
                auth_time: login.auth_time,
                session_ref: format!("web:{}", uuid::Uuid::new_v4()),
            });
            return_to.unwrap_or_else(|| {
                if has_consent {
                    "/me/consents"
                } else {
                    "/consent"
                }
                .to_owned()
            })
        }
        LoggedIn::Staff { subject } => {
            data.staff = Some(StaffLogin { subject });
            return_to.unwrap_or_else(|| "/console".to_owned())
        }
        LoggedIn::Guardian { hash } => {
            data.guardian = Some(GuardianLogin { hash });
            return_to
                .filter(|r| r.starts_with("/guardian"))
                .unwrap_or_else(|| "/guardian".to_owned())
        }
    };
    let (_, value) = Session::create(s, data)
        .await
        .map_err(PageError::unavailable)?;
    Ok(with_cookie(
        Redirect::to(&next).into_response(),
        state.web.sessions.cookie(&value),
    ))
}

#[derive(askama::Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    c: Chrome,
}

pub async fn logout_page(State(state): State<WebState>, ctx: Ctx) -> Response {
    if ctx.session.is_none() {
        return Redirect::to("/").into_response();
    }
    let page = LogoutPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("logout_title"), "/auth/logout"),
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// Ends the session here, then at the provider (RP-initiated logout).
pub async fn logout(
    State(state): State<WebState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    let Some(session) = ctx.session.clone() else {
        return Ok(Redirect::to("/auth/logged-out").into_response());
    };
    ctx.csrf_checked(&form)?;
    let s = &state.services;
    session.destroy(s).await.map_err(PageError::unavailable)?;
    let to = state
        .web
        .rp
        .logout_url(ctx.tr.lang, s.now())
        .await
        .map_or_else(|| "/auth/logged-out".to_owned(), |u| u.to_string());
    Ok(with_cookie(
        Redirect::to(&to).into_response(),
        state.web.sessions.clear_cookie(),
    ))
}

pub async fn logged_out(State(state): State<WebState>, ctx: Ctx) -> Response {
    message(
        &ctx,
        &state,
        StatusCode::OK,
        "logout_title",
        "logged_out",
        Some(("/", "go_start")),
    )
}
