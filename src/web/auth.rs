//! Login and logout. A login starts a fresh session holding the flow (state, nonce,
//! PKCE verifier); the callback uses the flow up before anything else, so a replayed
//! or forged callback finds nothing; a successful login gets a new session id.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::pages::{self, message, render, Chrome};
use super::session::{same, PupilLogin, Session, SessionData};
use super::{query_param, Ctx, Form};
use crate::http::AppState;
use crate::oidc::LoginError;

/// A login must come back within this time.
const FLOW_TTL_MS: i64 = 10 * 60 * 1000;
const ID_TOKEN_CONTEXT: &[u8] = b"samtykke:session:id_token";

/// Only our own pages are places to come back to after login.
fn safe_return(r: Option<String>) -> Option<String> {
    let r = r?;
    let ok = ["/consent", "/me/", "/console"]
        .iter()
        .any(|p| r.starts_with(p))
        && !r.contains("//")
        && !r.contains('\\')
        && r.len() < 200;
    ok.then_some(r)
}

fn with_cookie(mut res: Response, cookie: HeaderValue) -> Response {
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

pub async fn login(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let back = safe_return(query_param(&uri, "return"));
    let staff = back.as_deref().is_some_and(|b| b.starts_with("/console"));
    if ctx.pupil().is_some() && !staff {
        return Redirect::to(back.as_deref().unwrap_or("/consent")).into_response();
    }
    let s = &state.services;
    let (url, flow) = match state.web.rp.start(ctx.tr.lang, s.now()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "login cannot start");
            return message(
                &ctx,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_title",
                "err_provider_down",
                Some(("/", "go_start")),
            );
        }
    };
    if let Some(old) = ctx.session.clone() {
        if let Err(e) = old.destroy(s).await {
            return pages::unavailable(&ctx, &state, &e);
        }
    }
    let data = SessionData {
        lang: Some(ctx.tr.lang),
        flow: Some(flow),
        return_to: back,
        ..SessionData::default()
    };
    match Session::create(s, data).await {
        Ok((_, value)) => with_cookie(
            Redirect::to(url.as_str()).into_response(),
            state.web.sessions.cookie(&value),
        ),
        Err(e) => pages::unavailable(&ctx, &state, &e),
    }
}

/// A refused login: recorded with its reason, shown as a page; no consent changes.
async fn refused(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    key: &str,
    reason: &str,
) -> Response {
    let _ = state
        .services
        .record_login(None, "refused", reason, "", ctx.request_id.clone())
        .await;
    message(
        ctx,
        state,
        status,
        "err_title",
        key,
        Some(("/auth/login", "login_again")),
    )
}

pub async fn callback(State(state): State<AppState>, ctx: Ctx, uri: Uri) -> Response {
    let s = &state.services;
    let Some(mut session) = ctx.session.clone() else {
        return refused(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_login_expired",
            "no session",
        )
        .await;
    };
    let Some(flow) = session.data.flow.clone() else {
        return refused(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_login_expired",
            "no login in progress",
        )
        .await;
    };
    // Use the flow up first: whatever happens next, it cannot be used again.
    let mut data = session.data.clone();
    data.flow = None;
    match session.save(s, data).await {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                &ctx,
                &state,
                StatusCode::BAD_REQUEST,
                "err_login_expired",
                "flow already used",
            )
            .await
        }
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    }
    let state_ok = query_param(&uri, "state").is_some_and(|st| same(&st, &flow.state));
    if !state_ok {
        return refused(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_login_expired",
            "state mismatch",
        )
        .await;
    }
    if s.now() - flow.started_at > FLOW_TTL_MS {
        return refused(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_login_expired",
            "flow too old",
        )
        .await;
    }
    if let Some(err) = query_param(&uri, "error") {
        let key = if err == "access_denied" {
            "err_login_cancelled"
        } else {
            "err_login_failed"
        };
        let reason = format!(
            "provider error {}",
            err.chars().take(40).collect::<String>()
        );
        return refused(&ctx, &state, StatusCode::BAD_REQUEST, key, &reason).await;
    }
    let Some(code) = query_param(&uri, "code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return refused(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "err_login_failed",
            "no code",
        )
        .await;
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
            return refused(&ctx, &state, status, key, &e.to_string()).await;
        }
    };
    if session
        .data
        .return_to
        .as_deref()
        .is_some_and(|r| r.starts_with("/console"))
    {
        return staff_login(&ctx, &state, session, login).await;
    }
    let pupil_id = match s.login_pupil(&login.identity).await {
        Ok(id) => id,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let wrapped = s
        .vault
        .wrap(ID_TOKEN_CONTEXT, login.id_token.as_bytes())
        .ok()
        .map(|w| B64.encode(w));
    let return_to = session.data.return_to.clone();
    if let Err(e) = session.destroy(s).await {
        return pages::unavailable(&ctx, &state, &e);
    }
    let data = SessionData {
        lang: Some(ctx.tr.lang),
        pupil: Some(PupilLogin {
            pupil_id,
            acr: login.acr.clone(),
            amr: login.amr,
            auth_time: login.auth_time,
            session_ref: format!("web:{}", uuid::Uuid::new_v4()),
            id_token_wrapped: wrapped,
        }),
        ..SessionData::default()
    };
    let value = match Session::create(s, data).await {
        Ok((_, v)) => v,
        Err(e) => return pages::unavailable(&ctx, &state, &e),
    };
    let _ = s
        .record_login(
            Some(pupil_id),
            "succeeded",
            "",
            &login.acr,
            ctx.request_id.clone(),
        )
        .await;
    let next = match return_to {
        Some(r) => r,
        None => match s.consents_in_force(pupil_id).await {
            Ok((_, Some(_))) => "/me/consents".to_owned(),
            _ => "/consent".to_owned(),
        },
    };
    with_cookie(
        Redirect::to(&next).into_response(),
        state.web.sessions.cookie(&value),
    )
}

/// A login for the console: the staff member is known only by the keyed hash of
/// their number (never enrolled as a pupil); what they may see is casbin's to say.
async fn staff_login(
    ctx: &Ctx,
    state: &AppState,
    session: Session,
    login: crate::oidc::Login,
) -> Response {
    let s = &state.services;
    let subject = s.staff_subject(&login.identity);
    let wrapped = s
        .vault
        .wrap(ID_TOKEN_CONTEXT, login.id_token.as_bytes())
        .ok()
        .map(|w| B64.encode(w));
    if let Err(e) = session.destroy(s).await {
        return pages::unavailable(ctx, state, &e);
    }
    let data = SessionData {
        lang: Some(ctx.tr.lang),
        staff: Some(super::session::StaffLogin {
            subject,
            id_token_wrapped: wrapped,
        }),
        ..SessionData::default()
    };
    let value = match Session::create(s, data).await {
        Ok((_, v)) => v,
        Err(e) => return pages::unavailable(ctx, state, &e),
    };
    let _ = s
        .record_login(
            None,
            "succeeded",
            "staff",
            &login.acr,
            ctx.request_id.clone(),
        )
        .await;
    with_cookie(
        Redirect::to("/console").into_response(),
        state.web.sessions.cookie(&value),
    )
}

#[derive(askama::Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    c: Chrome,
}

pub async fn logout_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    if ctx.session.is_none() {
        return Redirect::to("/").into_response();
    }
    let page = LogoutPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("logout_title"), "/auth/logout"),
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// Ends the session here, then at the provider (RP-initiated logout).
pub async fn logout(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let form = match Form::read(req, state.max_body_bytes).await {
        Ok(f) => f,
        Err(e) => return pages::form_error(&ctx, &state, e),
    };
    let Some(session) = ctx.session.clone() else {
        return Redirect::to("/auth/logged-out").into_response();
    };
    if !session.csrf_ok(form.get("csrf")) {
        return pages::csrf_failed(&ctx, &state);
    }
    let s = &state.services;
    let id_token = session
        .data
        .pupil
        .as_ref()
        .and_then(|p| p.id_token_wrapped.as_deref())
        .or_else(|| {
            session
                .data
                .staff
                .as_ref()
                .and_then(|p| p.id_token_wrapped.as_deref())
        })
        .and_then(|w| B64.decode(w).ok())
        .and_then(|w| s.vault.unwrap(ID_TOKEN_CONTEXT, &w).ok())
        .and_then(|t| String::from_utf8(t.to_vec()).ok());
    if let Err(e) = session.destroy(s).await {
        return pages::unavailable(&ctx, &state, &e);
    }
    let to = state
        .web
        .rp
        .logout_url(id_token.as_deref(), ctx.tr.lang)
        .await
        .map_or_else(|| "/auth/logged-out".to_owned(), |u| u.to_string());
    with_cookie(
        Redirect::to(&to).into_response(),
        state.web.sessions.clear_cookie(),
    )
}

pub async fn logged_out(State(state): State<AppState>, ctx: Ctx) -> Response {
    message(
        &ctx,
        &state,
        StatusCode::OK,
        "logout_title",
        "logged_out",
        Some(("/", "go_start")),
    )
}
