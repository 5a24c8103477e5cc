//! The pupil's pages: server-rendered HTML in bokmål, nynorsk and English, with the
//! OpenID Connect login (ID-porten, or the development login on localhost).
//! Handlers are thin: they read the session, ask `service`, and render a template;
//! what goes wrong is a [`PageError`], made into a page in one place (`error.rs`).

mod auth;
mod consent;
mod console;
mod dev_idp;
mod error;
mod guardian;
pub mod i18n;
mod me;
mod pages;
mod renewal;
pub mod session;
mod tutor;
mod tutor_guardian;
mod view;

pub use error::PageError;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

use crate::domain::Lang;
use crate::oidc::dev_provider::DevProvider;
use crate::oidc::RelyingParty;
use crate::service::Services;
use i18n::Tr;
use session::{PupilLogin, Session, SessionConfig};

/// What the pages need: the services and the login's own parts.
#[derive(Clone)]
pub struct WebState {
    pub services: Arc<Services>,
    pub web: Arc<Web>,
    pub max_body_bytes: usize,
}

/// Everything the pupil pages need beyond the services.
pub struct Web {
    pub rp: RelyingParty,
    /// The development login provider, when no issuer is configured.
    pub dev: Option<DevProvider>,
    pub sessions: SessionConfig,
    csp: HeaderValue,
}

impl Web {
    pub fn new(rp: RelyingParty, dev: Option<DevProvider>, sessions: SessionConfig) -> Self {
        // Forms may lead to the provider (logout redirects), so it joins form-action.
        let provider = url::Url::parse(rp.issuer())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {provider}; frame-ancestors 'none'; base-uri 'none'"
        );
        Self {
            rp,
            dev,
            sessions,
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        }
    }
}

/// The pages, for any application state the pages' own state is part of.
pub fn routes<S>(state: WebState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebState: FromRef<S>,
{
    Router::new()
        .route("/", get(pages::start))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/logout", get(auth::logout_page).post(auth::logout))
        .route("/auth/logged-out", get(auth::logged_out))
        .route("/consent", get(consent::agreement))
        .route(
            "/consent/choose",
            get(consent::choose).post(consent::choose_step),
        )
        .route("/consent/sign", post(consent::sign))
        .route("/me/consents", get(me::consents))
        .route("/me/consents/confirm-paper", post(me::confirm_paper))
        .route("/consent/invitation", get(consent::invitation))
        .route("/tutor", get(tutor::caseload))
        .route("/tutor/login", get(tutor::login))
        .route("/tutor/enrol", get(tutor::enrol_form).post(tutor::enrol))
        .route("/tutor/pupils/{id}", get(tutor::pupil))
        .route("/tutor/pupils/{id}/disclosures", post(tutor::disclosure))
        .route("/tutor/pupils/{id}/teams", post(tutor::team))
        .route("/tutor/pupils/{id}/invite", post(tutor::invite))
        .route("/tutor/pupils/{id}/seen", post(tutor::seen))
        .route(
            "/tutor/pupils/{id}/exception",
            post(tutor_guardian::exception),
        )
        .route(
            "/tutor/pupils/{id}/guardian-check",
            post(tutor_guardian::check),
        )
        .route("/tutor/pupils/{id}/name", post(tutor::rename))
        .route("/me/tutor", post(me::choose_tutor))
        .route("/tutor/pupils/{id}/end", post(tutor::end))
        .route("/tutor/pupils/{id}/forms/{consent}", get(tutor::form))
        .route(
            "/tutor/pupils/{id}/paper",
            get(tutor::paper_form)
                .post(tutor::paper)
                // A scanned form is larger than any other form here.
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::service::MAX_FORM_BYTES + 64 * 1024,
                )),
        )
        .route("/me/consents/withdraw", post(me::confirm_withdrawal))
        .route("/me/consents/withdraw/confirm", post(me::withdraw))
        .route("/me/access-log", get(me::access_log))
        .route("/me/consents/renew", post(renewal::renew))
        .route("/me/agreement/changes", get(renewal::changes))
        .route("/me/guardian", get(guardian::pupil))
        .route("/me/guardian/invite", post(guardian::invite))
        .route("/me/guardian/confirm", post(guardian::confirm))
        .route("/guardian", get(guardian::home))
        .route("/guardian/login", get(guardian::login))
        .route("/guardian/invitation", get(guardian::invitation))
        .route("/guardian/answer", post(guardian::answer))
        .route("/guardian/withdraw", post(guardian::withdraw))
        .route("/me/access-log/dispute", post(me::dispute))
        .route("/me/receipts/{id}", get(me::receipt))
        .route("/me/receipts/{id}/receipt.jws", get(me::receipt_jws))
        .merge(dev_idp::routes())
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(state, error_pages))
}

/// Makes every `PageError` a page, in the language and with the session of the
/// request that caused it.
async fn error_pages(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let (uri, headers) = (req.uri().clone(), req.headers().clone());
    let res = next.run(req).await;
    match res.extensions().get::<Arc<PageError>>().cloned() {
        Some(e) => e.page(&Ctx::load(&state, &uri, &headers).await, &state),
        None => res,
    }
}

const LANG_COOKIE: &str = "samtykke_lang";

/// The page for a path nothing serves.
pub async fn not_found_page(State(state): State<WebState>, req: Request) -> Response {
    let ctx = Ctx::load(&state, req.uri(), req.headers()).await;
    PageError::NotFound(("/", "go_start")).page(&ctx, &state)
}

/// What every page handler starts from: the language, the session (if any) and
/// where the request came from.
pub struct Ctx {
    pub tr: Tr,
    pub session: Option<Session>,
    /// A `?lang=` choice to remember in a cookie.
    remember: Option<Lang>,
    pub request_id: Option<String>,
}

/// One query parameter, decoded; absent if the query does not parse.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `?lang=`, then the remembered choice (cookie, or the session's), then
/// `Accept-Language`, then bokmål.
fn negotiate(uri: &Uri, headers: &HeaderMap, session: Option<Lang>) -> (Lang, Option<Lang>) {
    let asked = query_param(uri, "lang").and_then(|l| i18n::parse(&l));
    let remembered = session::cookie(headers, LANG_COOKIE)
        .and_then(i18n::parse)
        .or(session);
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(i18n::from_accept_language);
    (asked.or(remembered).or(accepted).unwrap_or(Lang::Nb), asked)
}

impl Ctx {
    /// The context of a request: its language and its session (`Err` when the
    /// session store cannot be read).
    async fn read(
        state: &WebState,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Self, crate::service::ServiceError> {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let session = Session::load(&state.services, &state.web.sessions, headers).await?;
        let (lang, remember) = negotiate(uri, headers, session.as_ref().and_then(|s| s.data.lang));
        Ok(Ctx {
            tr: Tr { lang },
            session,
            remember,
            request_id,
        })
    }

    /// For an error page: a session that cannot be read leaves the page without
    /// one (logged), in the language the request asks for.
    async fn load(state: &WebState, uri: &Uri, headers: &HeaderMap) -> Self {
        match Self::read(state, uri, headers).await {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::error!(error = %e, "loading a session failed");
                let (lang, remember) = negotiate(uri, headers, None);
                Ctx {
                    tr: Tr { lang },
                    session: None,
                    remember,
                    request_id: None,
                }
            }
        }
    }
}

impl<S> FromRequestParts<S> for Ctx
where
    S: Send + Sync,
    WebState: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let state = WebState::from_ref(state);
        let mut ctx = Self::read(&state, &parts.uri, &parts.headers)
            .await
            .map_err(PageError::unavailable)?;
        if let Some(s) = ctx.session.as_mut() {
            // Only the idle timer is touched here; a page that cannot touch it
            // still works, and the next request tries again.
            if let Err(e) = s.touch(&state.services).await {
                tracing::warn!(error = %e, "a session could not be touched");
            }
        }
        Ok(ctx)
    }
}

impl Ctx {
    pub fn pupil(&self) -> Option<&PupilLogin> {
        self.session.as_ref()?.data.pupil.as_ref()
    }

    pub fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.data.csrf.clone())
            .unwrap_or_default()
    }

    /// The pupil, or a way to the login that comes back to `here`.
    pub fn require_pupil(&self, here: &str) -> Result<PupilLogin, PageError> {
        self.pupil().cloned().ok_or_else(|| {
            let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            PageError::Login {
                to: format!("/auth/login?return={back}"),
            }
        })
    }

    /// The session, if the form's CSRF token is its own.
    pub fn csrf_checked(&self, form: &Form) -> Result<&Session, PageError> {
        self.session
            .as_ref()
            .filter(|s| s.csrf_ok(form.get("csrf")))
            .ok_or(PageError::Csrf)
    }
}

/// Adds the headers every page carries.
fn finish(ctx: &Ctx, state: &WebState, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, state.web.csp.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(lang) = ctx.remember {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
            i18n::code(lang),
            if state.web.sessions.secure {
                "; Secure"
            } else {
                ""
            }
        )) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

/// The fields of a url-encoded form body, in order (a key may repeat).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The id in field `key`, or a "bad input" page that leads back to `back`.
    pub fn uuid(&self, key: &'static str, back: &'static str) -> Result<uuid::Uuid, PageError> {
        self.get(key)
            .and_then(|v| uuid::Uuid::parse_str(v).ok())
            .ok_or_else(|| PageError::bad_input(key, back))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// At most this many fields: every real form here has far fewer.
const MAX_FIELDS: usize = 400;

/// Why a form body was refused, before any handler looked at it.
#[derive(Debug, Clone, Copy)]
pub enum FormError {
    Type,
    TooLarge,
    TooMany,
}

impl Form {
    pub async fn read(req: Request, limit: usize) -> Result<Self, PageError> {
        Self::parse(req, limit).await.map_err(PageError::Form)
    }

    async fn parse(req: Request, limit: usize) -> Result<Self, FormError> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return Err(FormError::Type);
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| FormError::TooLarge)?;
        Self::fields(&bytes)
    }

    /// The fields of a body already read.
    pub fn fields(bytes: &[u8]) -> Result<Self, FormError> {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
            .take(MAX_FIELDS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if fields.len() > MAX_FIELDS {
            return Err(FormError::TooMany);
        }
        Ok(Self(fields))
    }
}
