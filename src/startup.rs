//! Building the service from configuration, the same way for the binary and tests:
//! keys, database and schema, catalogue, demo data, first admin credential.

use axum::Router;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{Backend, Config};
use crate::crypto::{CryptoError, KeyMaterial, SecretBytes, Vault};
use crate::demo::{self, DemoInfo, DemoPartnerKey};
use crate::domain::catalogue::Catalogue;
use crate::http::{self, metrics::Metrics, AppState};
use crate::policy::{PolicyEngine, PolicySource};
use crate::secrets_file::{read_secret_file, write_secret_file, SecretFileError};
use crate::service::{ServiceError, Services};
use crate::storage::{SchemaStatus, Store, StoreError};

/// The catalogue loaded into an empty database unless `catalogue_file` names another.
pub const DEFAULT_CATALOGUE: &str = include_str!("../policies/catalogue.toml");

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("keys: {0}")]
    Keys(#[from] SecretFileError),
    #[error("keys: {0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("catalogue {path}: {reason}")]
    Catalogue { path: String, reason: String },
    #[error("the schema is behind this release (pending migrations {0:?}); run `samtykke migrate` or set auto_migrate = true")]
    SchemaBehind(Vec<i64>),
    #[error("no keys configured: set `hmac_key` and `kek` (base64, 32 bytes each) or provide `key_file`; keys are generated only for the embedded SQLite default")]
    NoKeys,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("pupil login: {0}")]
    Login(String),
}

pub struct App {
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

/// The HMAC key and KEK: from settings, from the key file, or (SQLite only)
/// generated into a new key file with mode 0600.
pub fn key_material(config: &Config) -> Result<KeyMaterial, StartError> {
    let s = &config.settings;
    if let (Some(h), Some(k)) = (&s.hmac_key, &s.kek) {
        let decode =
            |v: &str, what| SecretBytes::from_base64(v).map_err(|_| CryptoError::KeyLength(what));
        let km = KeyMaterial {
            hmac_key: decode(h, "hmac_key is not base64")?,
            kek_id: s.kek_id.clone().unwrap_or_else(|| "k1".into()),
            kek: decode(k, "kek is not base64")?,
        };
        km.check()?;
        return Ok(km);
    }
    if let Some(file) = read_secret_file(&s.key_file)? {
        return Ok(KeyMaterial::from_file(&file)?);
    }
    if config.backend != Backend::Sqlite {
        return Err(StartError::NoKeys);
    }
    let km = KeyMaterial::generate_system()?;
    write_secret_file(&s.key_file, &km.to_file())?;
    tracing::info!(path = %s.key_file.display(), "generated a new key file (mode 0600)");
    Ok(km)
}

/// Opens the store and brings the schema to this release, or refuses.
pub async fn open_store(config: &Config, migrate: bool) -> Result<Store, StartError> {
    let s = &config.settings;
    let store = Store::connect(&s.database_url, config.backend, s.database_max_connections).await?;
    match store.schema_status().await? {
        SchemaStatus::Current => {}
        SchemaStatus::Pending(v) if !migrate => return Err(StartError::SchemaBehind(v)),
        SchemaStatus::Pending(_) | SchemaStatus::Unknown(_) => store.migrate().await?,
    }
    Ok(store)
}

pub fn parse_catalogue(text: &str, path: &str) -> Result<Catalogue, StartError> {
    let c: Catalogue = toml::from_str(text).map_err(|e| StartError::Catalogue {
        path: path.into(),
        reason: e.to_string(),
    })?;
    c.validate().map_err(|e| StartError::Catalogue {
        path: path.into(),
        reason: e.to_string(),
    })?;
    Ok(c)
}

/// Services over an open store, with the catalogue loaded (imported if none).
pub async fn services(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<Services, StartError> {
    let vault = Vault::new(&key_material(config)?)?;
    let policy = PolicyEngine::new(PolicySource::from_dir(&config.settings.policy_dir));
    let issuer = config.public_url.as_str().trim_end_matches('/').to_owned();
    let services = Services::new(
        store,
        vault,
        clock,
        config.settings.consent_validity_days,
        policy,
        issuer,
    );
    if !services.load_catalogue().await? {
        let catalogue = match &config.settings.catalogue_file {
            Some(p) => parse_catalogue(&std::fs::read_to_string(p)?, &p.display().to_string())?,
            None => parse_catalogue(DEFAULT_CATALOGUE, "policies/catalogue.toml")?,
        };
        services.replace_catalogue(catalogue).await?;
    }
    services.reload_policy().await?;
    services.load_index().await?;
    services.load_keys().await?;
    services.reload_console().await?;
    Ok(services)
}

pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
    let store = open_store(&config, config.settings.auto_migrate).await?;
    let services = services(&config, store, clock).await?;
    let demo = if config.seed_demo() {
        let dir = data_dir(&config).join("demo-clients");
        let key = |id: &str| DemoPartnerKey::load_or_create(&dir.join(format!("{id}.json")), id);
        let keys = [key(demo::DEMO_CLIENTS[0])?, key(demo::DEMO_CLIENTS[1])?];
        demo::seed(&services, &keys).await?
    } else {
        None
    };
    let first_admin_token = if services.store.admin_token_count().await? == 0 {
        Some(services.create_admin_token("initial").await?)
    } else {
        None
    };
    let services = Arc::new(services);
    tokio::spawn(services.clone().deliver_notices());
    if config.backend == Backend::Postgres {
        tokio::spawn(follow_changes(
            services.clone(),
            config.settings.database_url.clone(),
        ));
    }
    let web = Arc::new(web(&config, &services)?);
    tokio::spawn(maintain_keys(services.clone(), web.clone()));
    tokio::spawn(checkpoints(services.clone()));
    let state = AppState {
        web,
        services,
        metrics: Arc::new(Metrics::default()),
        issuer: config.public_url.as_str().trim_end_matches('/').to_owned(),
        max_body_bytes: config.settings.max_body_bytes,
    };
    Ok(App {
        state,
        config,
        first_admin_token,
        demo,
    })
}

/// The pupil pages: the relying party for the configured issuer, or for the
/// development provider on this same port (config allows that only on localhost).
fn web(config: &Config, services: &Services) -> Result<crate::web::Web, StartError> {
    use crate::oidc::{dev_provider, parse_algs, RelyingParty, RpSettings};
    let s = &config.settings;
    let public = services.issuer.clone();
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
    Ok(crate::web::Web::new(rp, dev, sessions))
}

impl App {
    pub fn router(&self) -> Router {
        http::router(self.state.clone(), self.config.settings.max_body_bytes)
    }

    /// Serves until `shutdown` completes, then closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.services.store.close().await;
        Ok(())
    }
}

/// Follows the other instances' changes (PostgreSQL LISTEN): a consent change
/// refreshes that pupil, a policy or catalogue change reloads the policy. After a
/// lost connection everything is reloaded, since notifications may have been missed.
pub async fn follow_changes(services: Arc<Services>, database_url: String) {
    use sqlx::postgres::PgListener;
    loop {
        let mut listener = match PgListener::connect(&database_url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "change listener cannot connect; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(crate::storage::CHANNEL).await {
            tracing::warn!(error = %e, "change listener cannot listen; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        // Catch up on anything missed while not listening.
        resync(&services).await;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => apply_change(&services, n.payload()).await,
                Ok(None) => {
                    tracing::warn!("change listener lost its connection; resyncing");
                    resync(&services).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn resync(services: &Services) {
    services.forget_directory();
    let loaded = async {
        services.load_catalogue().await?;
        services.reload_policy().await?;
        services.reload_keys().await?;
        services.load_index().await
    };
    if let Err(e) = loaded.await {
        tracing::error!(error = %e, "resync failed");
    }
}

async fn apply_change(services: &Services, payload: &str) {
    let result = if let Some(pupil) = payload.strip_prefix("consent:") {
        match uuid::Uuid::parse_str(pupil) {
            Ok(id) => services.refresh_pupil(id).await,
            Err(_) => Ok(()),
        }
    } else if payload == "catalogue" {
        async {
            services.load_catalogue().await?;
            services.reload_policy().await.map(|_| ())
        }
        .await
    } else if payload == crate::service::DIRECTORY_CHANGED {
        services.forget_directory();
        Ok(())
    } else if payload == "keys" {
        services.reload_keys().await
    } else if payload == "console" {
        services.reload_console().await
    } else if payload == "policy" {
        services.reload_policy().await.map(|_| ())
    } else {
        Ok(())
    };
    if let Err(e) = result {
        tracing::error!(error = %e, change = payload, "applying a change from another instance failed");
    }
}

/// Every minute: expired consents recorded (and partners told), then a signed
/// checkpoint of the audit chain if it grew.
async fn checkpoints(services: Arc<Services>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        if let Err(e) = services.expire_due().await {
            tracing::error!(error = %e, "recording expired consents failed");
        }
        if let Err(e) = services.checkpoint_if_grown().await {
            tracing::error!(error = %e, "signing an audit checkpoint failed");
        }
    }
}

/// Every ten minutes: brings the signing keys forward (a next key that has come due
/// starts signing, the one before it retires, a new next key is made) and forgets
/// assertion ids that have expired and pupil sessions that have ended.
async fn maintain_keys(services: Arc<Services>, web: Arc<crate::web::Web>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        if let Err(e) = services.load_keys().await {
            tracing::error!(error = %e, "signing key maintenance failed");
        }
        if let Err(e) = services.store.purge_jtis(services.now()).await {
            tracing::error!(error = %e, "forgetting expired assertion ids failed");
        }
        let now = services.now();
        let (idle, absolute) = (web.sessions.idle_ms, web.sessions.absolute_ms);
        if let Err(e) = services
            .store
            .purge_sessions(now - idle, now - absolute)
            .await
        {
            tracing::error!(error = %e, "forgetting ended sessions failed");
        }
    }
}
