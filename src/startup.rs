//! Building the service from configuration, the same way for the binary and tests:
//! the services (keys, database and schema, catalogue), demo data, the first admin
//! credential, the pupil pages' login, and the router that puts the API and the
//! pages behind one set of middleware. `App::serve` runs it with its background
//! work, and stops both.

use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{middleware, Router};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::config::{Backend, Config};
use crate::demo::{self, DemoInfo, DemoPartnerKey};
use crate::http::{self, metrics::Metrics, problem::Problem, ApiState};
use crate::service::{OpenError, ServiceError, Services};
use crate::web::{self, WebState};

pub use crate::service::{parse_catalogue, DEFAULT_CATALOGUE};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("keys: {0}")]
    Keys(#[from] crate::secrets_file::SecretFileError),
    #[error("pupil login: {0}")]
    Login(String),
}

/// The state of the whole application: the API's and the pages' own states.
#[derive(Clone)]
pub struct AppState {
    pub api: ApiState,
    pub web: WebState,
}

impl FromRef<AppState> for ApiState {
    fn from_ref(s: &AppState) -> Self {
        s.api.clone()
    }
}

impl FromRef<AppState> for WebState {
    fn from_ref(s: &AppState) -> Self {
        s.web.clone()
    }
}

pub struct App {
    pub services: Arc<Services>,
    pub state: AppState,
    pub config: Config,
    /// Minted when the database had no admin credential; shown once.
    pub first_admin_token: Option<String>,
    pub demo: Option<DemoInfo>,
}

fn data_dir(config: &Config) -> PathBuf {
    config
        .settings
        .key_file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
    let services = Services::open(&config, clock, config.settings.auto_migrate).await?;
    let demo = if config.seed_demo() {
        let dir = data_dir(&config).join("demo-clients");
        let key = |id: &str| DemoPartnerKey::load_or_create(&dir.join(format!("{id}.json")), id);
        let keys = [key(demo::DEMO_CLIENTS[0])?, key(demo::DEMO_CLIENTS[1])?];
        demo::seed(&services, &keys).await?
    } else {
        None
    };
    let first_admin_token = if services.needs_first_admin().await? {
        Some(
            services
                .create_admin_token("initial", &crate::audit::Actor::System)
                .await?,
        )
    } else {
        None
    };
    let services = Arc::new(services);
    let state = AppState {
        api: ApiState {
            services: services.clone(),
            metrics: Arc::new(Metrics::default()),
            max_body_bytes: config.settings.max_body_bytes,
            metrics_private: config.metrics_private(),
        },
        web: WebState {
            services: services.clone(),
            web: Arc::new(pages_login(&config, &services)?),
            max_body_bytes: config.settings.max_body_bytes,
        },
    };
    Ok(App {
        services,
        state,
        config,
        first_admin_token,
        demo,
    })
}

/// The pupil pages: the relying party for the configured issuer, or for the
/// development provider on this same port (config allows that only on localhost).
fn pages_login(config: &Config, services: &Services) -> Result<web::Web, StartError> {
    use crate::oidc::{dev_provider, parse_algs, RelyingParty, RpSettings};
    let s = &config.settings;
    let public = services.issuer().to_owned();
    let (dev, issuer, client_id, secret, algs) = match &s.oidc_issuer {
        Some(issuer) => (
            None,
            issuer.clone(),
            s.oidc_client_id.clone(),
            s.oidc_client_secret.clone().unwrap_or_default(),
            s.oidc_id_token_algs.clone(),
        ),
        None => {
            let dev = dev_provider::DevProvider::new(&public)
                .map_err(|e| StartError::Login(e.to_string()))?;
            let issuer = dev.issuer().to_owned();
            let secret = dev.client_secret().to_owned();
            (
                Some(dev),
                issuer,
                dev_provider::CLIENT_ID.to_owned(),
                secret,
                "ES256".to_owned(),
            )
        }
    };
    let rp = RelyingParty::new(RpSettings {
        issuer,
        client_id,
        client_secret: secret,
        redirect_uri: format!("{public}/auth/callback"),
        post_logout_uri: format!("{public}/auth/logged-out"),
        acr_required: s.oidc_acr_values.clone(),
        algs: parse_algs(&algs).map_err(StartError::Login)?,
    })
    .map_err(|e| StartError::Login(e.to_string()))?;
    let sessions = crate::web::session::SessionConfig {
        secure: !config.is_local(),
        idle_ms: i64::from(s.session_idle_minutes) * 60_000,
        absolute_ms: i64::from(s.session_absolute_minutes) * 60_000,
    };
    Ok(web::Web::new(rp, dev, sessions))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API and the pages behind one set of middleware: request ids, tracing by
/// route template, metrics, the body limit, panics as opaque 500s, headers (HSTS
/// when the service is reached over HTTPS).
pub fn router(
    state: AppState,
    max_body_bytes: usize,
    body_timeout: Duration,
    https: bool,
) -> Router {
    let hsts = https.then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    Router::new()
        .merge(http::routes())
        .merge(web::routes(state.web.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.api.clone(),
            http::limits::per_address,
        ))
        .layer(middleware::from_fn_with_state(
            state.api.clone(),
            http::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            body_timeout,
            http::server::body_deadline,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::internal().into_response()
        }))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(tower::util::option_layer(hsts))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The route template, never the raw URI: paths and queries are caller
            // input and must not carry personal data into logs.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), route, request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_foreign_request_id))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(state)
}

/// A caller's `X-Request-Id` is kept (in logs and the audit chain) only if it is a
/// UUID that carries no identity number; anything else is dropped and a new id
/// made. Otherwise a caller could plant 64 KB, or a pupil's number in clear, in
/// every record of a refusal.
async fn drop_foreign_request_id(mut req: Request) -> Request {
    let keep = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(acceptable_request_id);
    if !keep {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

fn acceptable_request_id(id: &str) -> bool {
    let hex: Vec<u8> = id.bytes().filter(|b| *b != b'-').collect();
    let plants_a_number = hex.windows(11).any(|w| {
        w.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(w)
                .is_ok_and(|d| crate::domain::identity::IdentityNumber::parse(d).is_ok())
    });
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() && !plants_a_number
}

/// A browser asking for a page gets a page; everything else gets problem JSON.
async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        web::not_found_page(State(state.web), req).await
    } else {
        http::not_found()
    }
}

/// The work the running app does on its own, owned by it: the withdrawal-notice
/// sender, the minute's and the ten minutes' work, and (PostgreSQL) the listener
/// for other instances' changes. Stopped with the app.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Background {
    pub fn start(app: &App) -> Self {
        let (stop, stopped) = watch::channel(false);
        let services = app.services.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(services.clone().deliver_notices(stopped.clone()));
        if app.config.backend == Backend::Postgres {
            tasks.spawn(crate::service::follow_changes(
                services.clone(),
                app.config.settings.database_url.clone(),
                stopped.clone(),
            ));
        }
        let sessions = &app.state.web.web.sessions;
        let (idle, absolute) = (sessions.idle_ms, sessions.absolute_ms);
        let s = services.clone();
        tasks.spawn(every(60, stopped.clone(), move || {
            let s = s.clone();
            async move {
                // Each step logs its own failure (`jobs.rs`).
                let _ = s.minute_work().await;
            }
        }));
        // What came due while the service was down (an expiry, a birthday) is done
        // at start, not a minute later.
        let s = services.clone();
        tasks.spawn(async move {
            let _ = s.due_work().await;
        });
        tasks.spawn(every(600, stopped, move || {
            let s = services.clone();
            async move {
                // Each step logs its own failure (`jobs.rs`).
                let _ = s.housekeeping(idle, absolute).await;
            }
        }));
        Self { stop, tasks }
    }

    /// Tells every task to stop and waits for them, at most `GRACE`; a task still
    /// busy then (a slow partner's webhook) is aborted: what it had not recorded is
    /// picked up again by the next start, since every step is claimed in the database.
    pub async fn stop(mut self) {
        const GRACE: std::time::Duration = std::time::Duration::from_secs(10);
        // Every task holds a receiver until it returns, so there is always one to tell.
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("background work did not stop in time; aborted");
            self.tasks.shutdown().await;
        }
    }
}

/// Runs `work` every `seconds` until `stop` says so.
async fn every<F, Fut>(seconds: u64, mut stop: watch::Receiver<bool>, work: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => work().await,
            _ = stop.changed() => return,
        }
    }
}

impl App {
    pub fn router(&self) -> Router {
        router(
            self.state.clone(),
            self.config.settings.max_body_bytes,
            Duration::from_millis(self.config.settings.body_timeout_ms),
            self.config.public_url.scheme() == "https",
        )
    }

    /// Serves, with the background work, until `shutdown` completes; then stops the
    /// background work and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let background = Background::start(&self);
        let s = &self.config.settings;
        let limits = http::server::Limits {
            max_connections: http::server::affordable_connections(
                s.max_connections as usize,
                s.database_max_connections,
            ),
            per_address: s.max_connections_per_address as usize,
            header_timeout: Duration::from_millis(s.header_timeout_ms),
            write_timeout: Duration::from_millis(s.write_timeout_ms),
            drain_timeout: Duration::from_millis(s.drain_timeout_ms),
        };
        let open = self.state.api.metrics.connections.clone();
        let served = http::server::serve(listener, router, limits, open, shutdown).await;
        background.stop().await;
        self.services.close().await;
        served
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_id_is_a_uuid_without_an_identity_number() {
        let born = time::macros::date!(2008 - 06 - 01);
        let n = crate::domain::identity::IdentityNumber::synthetic(born, 11)
            .unwrap()
            .expose_digits()
            .to_owned();
        let last = format!("0f8fad5b-d9cb-469f-a165-0{n}");
        let across = format!("{}-{}a-469f-a165-70867728950e", &n[..8], &n[8..]);
        let cases = [
            ("0f8fad5b-d9cb-469f-a165-70867728950e", true),
            ("0F8FAD5B-D9CB-469F-A165-70867728950E", true),
            ("", false),
            ("abc", false),
            ("0f8fad5bd9cb469fa16570867728950e", false),
            ("{0f8fad5b-d9cb-469f-a165-70867728950e}", false),
            // An identity number planted in the last group, or across a hyphen.
            (&last, false),
            (&across, false),
        ];
        for (id, ok) in cases {
            assert_eq!(super::acceptable_request_id(id), ok, "{id}");
        }
    }
}
