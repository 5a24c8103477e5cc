//! Opening the service from configuration: keys, database and schema, catalogue,
//! policy, the decision index, signing keys and console roles. The binary, the CLI
//! and the tests all open it this way.

use std::sync::Arc;

use super::{ServiceError, Services};
use crate::clock::Clock;
use crate::config::{Backend, Config};
use crate::crypto::{CryptoError, KeyMaterial, SecretBytes, Vault};
use crate::domain::catalogue::{Catalogue, CURRENT_VERSION};
use crate::policy::{PolicyEngine, PolicySource};
use crate::secrets_file::{read_secret_file, write_secret_file, SecretFileError};
use crate::storage::{SchemaStatus, Store, StoreError};

/// The catalogue loaded into an empty database unless `catalogue_file` names another.
pub const DEFAULT_CATALOGUE: &str = include_str!("../../policies/catalogue.toml");

/// Why the service could not be opened, said so an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("database at {at}: no connection within {ms} ms ({why}); is it running, and is database_url right?")]
    Unreachable { at: String, ms: u64, why: String },
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
}

/// The HMAC key and KEK: from settings, from the key file, or (SQLite only)
/// generated into a new key file with mode 0600.
pub fn key_material(config: &Config) -> Result<KeyMaterial, OpenError> {
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
        return Err(OpenError::NoKeys);
    }
    let km = KeyMaterial::generate_system()?;
    write_secret_file(&s.key_file, &km.to_file())?;
    tracing::info!(path = %s.key_file.display(), "generated a new key file (mode 0600)");
    Ok(km)
}

/// Opens the store and brings the schema to this release (`migrate`), or refuses.
async fn open_store(config: &Config, migrate: bool) -> Result<Store, OpenError> {
    let s = &config.settings;
    let wait = std::time::Duration::from_millis(s.database_timeout_ms);
    let store = Store::connect(
        &s.database_url,
        config.backend,
        s.database_max_connections,
        wait,
    )
    .await
    .map_err(|e| match e {
        // Say where: the host and port (never the password), and how long.
        StoreError::Unavailable(why) => OpenError::Unreachable {
            at: where_is(&s.database_url),
            ms: s.database_timeout_ms,
            why,
        },
        other => other.into(),
    })?;
    match store.schema_status().await? {
        SchemaStatus::Current => {}
        SchemaStatus::Pending(v) if !migrate => return Err(OpenError::SchemaBehind(v)),
        SchemaStatus::Pending(_) | SchemaStatus::Unknown(_) => store.migrate().await?,
    }
    Ok(store)
}

/// `host:port/database` of a database URL, or the SQLite file: never a password.
fn where_is(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme().starts_with("postgres") => format!(
            "{}:{}{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(5432),
            u.path()
        ),
        _ => url.trim_start_matches("sqlite://").to_owned(),
    }
}

/// Brings the database's schema to this release, and nothing else.
pub async fn migrate(config: &Config) -> Result<(), OpenError> {
    open_store(config, true).await?.close().await;
    Ok(())
}

pub fn parse_catalogue(text: &str, path: &str) -> Result<Catalogue, OpenError> {
    let bad = |reason: String| OpenError::Catalogue {
        path: path.into(),
        reason,
    };
    let c: Catalogue = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    c.validate().map_err(|e| bad(e.to_string()))?;
    Ok(c)
}

impl Services {
    /// The service over the configured database, with the catalogue loaded
    /// (imported if none is stored), the policy, the decision index, the signing
    /// keys and the console's roles. `migrate` brings an old schema forward.
    pub async fn open(
        config: &Config,
        clock: Arc<dyn Clock>,
        migrate: bool,
    ) -> Result<Self, OpenError> {
        let store = open_store(config, migrate).await?;
        let vault = Vault::new(&key_material(config)?)?;
        let policy = PolicyEngine::new(
            PolicySource::from_dir(&config.settings.policy_dir),
            config.settings.index_pupils,
        );
        let issuer = config.public_url.as_str().trim_end_matches('/').to_owned();
        let mut services = Services::new(
            store,
            vault,
            clock,
            config.settings.consent_validity_days,
            policy,
            issuer,
        );
        services.client_limit =
            super::limits::Limiter::new(config.settings.rate_limit_client_per_second);
        services.address_limit =
            super::limits::Limiter::new(config.settings.rate_limit_address_per_second);
        let configured = || match &config.settings.catalogue_file {
            Some(p) => parse_catalogue(&std::fs::read_to_string(p)?, &p.display().to_string()),
            None => parse_catalogue(DEFAULT_CATALOGUE, "policies/catalogue.toml"),
        };
        if !services.load_catalogue().await? {
            services
                .replace_catalogue(configured()?, &crate::audit::Actor::System)
                .await?;
        } else if services.catalogue().version < CURRENT_VERSION {
            // A catalogue from before grants were disclosures: this release's takes
            // its place as the next version, keeping what only the old one had.
            let old = services.catalogue();
            let new = configured()?;
            if new.version >= CURRENT_VERSION {
                services
                    .replace_catalogue(new.upgrade_from(&old), &crate::audit::Actor::System)
                    .await?;
            }
        }
        services.reload_policy().await?;
        let raised = services.backfill_legacy_ages().await?;
        if raised > 0 {
            tracing::info!(
                grants = raised,
                "ages of grants from before disclosures set from birth dates"
            );
        }
        services.load_keys().await?;
        services.reload_console().await?;
        if config.backend == crate::config::Backend::Postgres {
            // Other instances' changes arrive by notification: until the listener
            // is listening (`follow_changes`), the index keeps nothing.
            services.policy.index.pause();
        }
        Ok(services)
    }
}
