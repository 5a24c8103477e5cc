//! The development login's HTTP face (see `oidc::dev_provider`): discovery, keys,
//! a login form that takes a synthetic identity number, the token endpoint and the
//! end-session endpoint. Mounted only when no issuer is configured.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;

use super::pages::{message, render, Chrome};
use super::{query_param, Ctx, Form};
use crate::domain::identity::{IdentityNumber, NumberKind};
use crate::oidc::dev_provider::{AuthorizeParams, DevError, DevProvider};
use crate::web::WebState;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebState: axum::extract::FromRef<S>,
{
    Router::new()
        .route(
            "/dev-login/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/dev-login/jwks", get(jwks))
        .route("/dev-login/authorize", get(authorize).post(login))
        .route("/dev-login/token", post(token))
        .route("/dev-login/logout", get(end_session))
}

/// The development provider, or 404 where it is not mounted.
fn provider(state: &WebState) -> Result<&DevProvider, StatusCode> {
    state.web.dev.as_ref().ok_or(StatusCode::NOT_FOUND)
}

async fn discovery(State(state): State<WebState>) -> Response {
    match provider(&state) {
        Ok(p) => Json(p.discovery()).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn jwks(State(state): State<WebState>) -> Response {
    match provider(&state) {
        Ok(p) => Json(p.jwks().clone()).into_response(),
        Err(r) => r.into_response(),
    }
}

#[derive(Template)]
#[template(path = "dev_login.html")]
struct DevLoginPage {
    c: Chrome,
    error: Option<String>,
    params: Vec<(&'static str, String)>,
}

const PARAMS: [&str; 10] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
    "ui_locales",
];

fn params_of(get: impl Fn(&str) -> Option<String>) -> AuthorizeParams {
    AuthorizeParams {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        acr_values: get("acr_values"),
        ui_locales: get("ui_locales"),
    }
}

fn form_page(
    ctx: &Ctx,
    state: &WebState,
    status: StatusCode,
    get: impl Fn(&str) -> Option<String>,
    error: Option<String>,
) -> Response {
    let page = DevLoginPage {
        c: Chrome::new(ctx, state, ctx.tr.t("dev_title"), "/"),
        error,
        params: PARAMS
            .iter()
            .filter_map(|k| get(k).map(|v| (*k, v)))
            .collect(),
    };
    render(ctx, state, status, &page)
}

fn refused(ctx: &Ctx, state: &WebState, e: &DevError) -> Response {
    let text = ctx.tr.f("err_bad_form", &[("reason", &e.to_string())]);
    super::pages::message_text(
        ctx,
        state,
        StatusCode::BAD_REQUEST,
        "err_title",
        text,
        Some(("/", "go_start")),
    )
}

async fn authorize(State(state): State<WebState>, mut ctx: Ctx, uri: Uri) -> Response {
    // The relying party's `ui_locales` chooses the language, as at ID-porten.
    if let Some(lang) =
        query_param(&uri, "ui_locales").and_then(|l| l.split(' ').find_map(super::i18n::parse))
    {
        ctx.tr = super::i18n::Tr { lang };
    }
    let p = match provider(&state) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let get = |k: &str| query_param(&uri, k);
    if let Err(e) = p.check(&params_of(get)) {
        return refused(&ctx, &state, &e);
    }
    form_page(&ctx, &state, StatusCode::OK, get, None)
}

async fn login(State(state): State<WebState>, ctx: Ctx, req: Request) -> Response {
    let p = match provider(&state) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let form = match Form::read(req, state.max_body_bytes).await {
        Ok(f) => f,
        Err(e) => return e.page(&ctx, &state),
    };
    let get = |k: &str| form.get(k).map(str::to_owned);
    let params = params_of(get);
    let pid = form.get("pid").unwrap_or_default().trim();
    let synthetic = IdentityNumber::parse(pid).is_ok_and(|n| n.kind() == NumberKind::Synthetic);
    if !synthetic {
        return form_page(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            get,
            Some(ctx.tr.t("dev_bad_pid").to_owned()),
        );
    }
    let acr = form.get("acr").unwrap_or("idporten-loa-substantial");
    if crate::oidc::acr_rank(acr).is_none() {
        return refused(&ctx, &state, &DevError::BadRequest("unknown level"));
    }
    match p.issue_code(&params, pid, acr, state.services.now()) {
        Ok(code) => {
            let mut to = url::Url::parse(params.redirect_uri.as_deref().unwrap_or_default()).ok();
            if let Some(u) = to.as_mut() {
                u.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", params.state.as_deref().unwrap_or_default())
                    .append_pair("iss", p.issuer());
            }
            match to {
                Some(u) => Redirect::to(u.as_str()).into_response(),
                None => refused(
                    &ctx,
                    &state,
                    &DevError::BadRequest("redirect_uri is not registered"),
                ),
            }
        }
        Err(e) => refused(&ctx, &state, &e),
    }
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = B64.decode(v.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

async fn token(State(state): State<WebState>, req: Request) -> Response {
    let p = match provider(&state) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let creds = basic(req.headers());
    let Ok(form) = Form::read(req, state.max_body_bytes).await else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        )
            .into_response();
    };
    if form.get("grant_type") != Some("authorization_code") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let answer = p.exchange(
        creds.as_ref().map(|(i, s)| (i.as_str(), s.as_str())),
        form.get("code").unwrap_or_default(),
        form.get("redirect_uri").unwrap_or_default(),
        form.get("code_verifier").unwrap_or_default(),
        state.services.now(),
    );
    match answer {
        Ok(body) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Err(DevError::InvalidClient) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response(),
    }
}

async fn end_session(State(state): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let p = match provider(&state) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match query_param(&uri, "post_logout_redirect_uri").filter(|u| p.post_logout_ok(u)) {
        Some(back) => Redirect::to(&back).into_response(),
        None => message(
            &ctx,
            &state,
            StatusCode::OK,
            "logout_title",
            "logged_out",
            Some(("/", "go_start")),
        ),
    }
}
