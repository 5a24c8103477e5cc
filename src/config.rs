//! Configuration: defaults, then an optional `samtykke.toml`, then `SAMTYKKE_*`
//! environment variables. A bad value stops start-up with a message naming the
//! setting; an unknown setting is warned about.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `sqlite://path/to/file.db` (embedded default) or `postgres://…` (production).
    pub database_url: String,
    pub database_max_connections: u32,
    /// Requests a second per partner client (twice that at once); 0 is off.
    pub rate_limit_client_per_second: u32,
    /// Requests a second per address at the token, introspection, revocation,
    /// AuthZEN and login endpoints (twice that at once); 0 is off.
    pub rate_limit_address_per_second: u32,
    /// `/metrics` only with an admin bearer credential. Default: everywhere but a
    /// development machine.
    pub metrics_require_admin: Option<bool>,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: u32,
    /// Connections at once from one address (more are closed at once); 0 is off.
    /// Behind a proxy every connection has its address: raise it or turn it off.
    pub max_connections_per_address: u32,
    /// A response the peer has not read any of for this long ends the connection.
    pub write_timeout_ms: u64,
    /// A connection that has not sent a whole request head within this time (also
    /// between keep-alive requests) is closed, in milliseconds.
    pub header_timeout_ms: u64,
    /// A request body that has not arrived within this time is refused (408).
    pub body_timeout_ms: u64,
    /// At shutdown, requests in flight get this long to finish, in milliseconds.
    pub drain_timeout_ms: u64,
    /// How long a request waits for a database connection before it is answered
    /// 503 (and start-up gives up), in milliseconds.
    pub database_timeout_ms: u64,
    /// Apply pending migrations when serving (else refuse to start on an old schema).
    pub auto_migrate: bool,
    pub listen: String,
    /// The URL people and partners reach the service at.
    pub public_url: String,
    /// Key file with the HMAC key and KEK, generated on first start for SQLite.
    pub key_file: PathBuf,
    /// Base64 secrets; set these (or a key file) in production.
    pub hmac_key: Option<String>,
    pub kek: Option<String>,
    pub kek_id: Option<String>,
    /// Seed demo data into an empty database. Default: only on SQLite.
    pub demo: Option<bool>,
    /// A catalogue file to load into an empty database instead of the built-in one.
    pub catalogue_file: Option<PathBuf>,
    /// Development only: the service's clock starts at this instant (RFC 3339) and
    /// runs on from there, to try what happens on a later day (a birthday, an
    /// expiry). Refused outside a development machine.
    pub dev_clock_start: Option<String>,
    /// Where `model.conf` and `baseline.csv` are read at every (re)load; the
    /// built-in copies are used if they are not there.
    pub policy_dir: PathBuf,
    pub consent_validity_days: u32,
    /// Pupils whose consents the decision index keeps at once (about 1 KB each);
    /// a pupil not held is read from the database on the next decision.
    pub index_pupils: usize,
    pub max_body_bytes: usize,
    /// `pretty` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// The OpenID Provider pupils log in with (ID-porten). Unset: the built-in
    /// development login, which runs only on a localhost public URL.
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: String,
    pub oidc_client_secret: Option<String>,
    /// Asked for as `acr_values`; a login below this level is refused.
    pub oidc_acr_values: String,
    /// ID token signature algorithms accepted, comma-separated (ID-porten: RS256).
    pub oidc_id_token_algs: String,
    /// A pupil's session ends after this many idle minutes, and in any case after
    /// `session_absolute_minutes`.
    pub session_idle_minutes: u32,
    pub session_absolute_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/samtykke.db".into(),
            database_max_connections: 10,
            database_timeout_ms: 3000,
            metrics_require_admin: None,
            max_connections: 1024,
            max_connections_per_address: 256,
            write_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            drain_timeout_ms: 10_000,
            rate_limit_client_per_second: 200,
            rate_limit_address_per_second: 100,
            auto_migrate: true,
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            key_file: "data/keys.json".into(),
            hmac_key: None,
            kek: None,
            kek_id: None,
            demo: None,
            catalogue_file: None,
            dev_clock_start: None,
            policy_dir: "policies".into(),
            consent_validity_days: 365,
            index_pupils: crate::policy::index::DEFAULT_CAPACITY,
            max_body_bytes: 64 * 1024,
            log_format: "pretty".into(),
            log_filter: "info,sqlx=warn".into(),
            oidc_issuer: None,
            oidc_client_id: "samtykke".into(),
            oidc_client_secret: None,
            oidc_acr_values: "idporten-loa-substantial".into(),
            oidc_id_token_algs: "RS256".into(),
            session_idle_minutes: 30,
            session_absolute_minutes: 480,
        }
    }
}

const KNOWN: &[&str] = &[
    "database_url",
    "database_max_connections",
    "database_timeout_ms",
    "metrics_require_admin",
    "max_connections",
    "max_connections_per_address",
    "write_timeout_ms",
    "header_timeout_ms",
    "body_timeout_ms",
    "drain_timeout_ms",
    "rate_limit_client_per_second",
    "rate_limit_address_per_second",
    "auto_migrate",
    "listen",
    "public_url",
    "key_file",
    "hmac_key",
    "kek",
    "kek_id",
    "demo",
    "catalogue_file",
    "dev_clock_start",
    "policy_dir",
    "consent_validity_days",
    "index_pupils",
    "max_body_bytes",
    "log_format",
    "log_filter",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_acr_values",
    "oidc_id_token_algs",
    "session_idle_minutes",
    "session_absolute_minutes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Settings checked and turned into the types the service uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub backend: Backend,
    pub listen: SocketAddr,
    pub public_url: url::Url,
    pub log_format: LogFormat,
    /// Unknown settings found while loading, to warn about once logging is up.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: setting `{setting}`: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

impl Config {
    /// Loads from `file` (if it exists) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let path = file.map_or_else(|| PathBuf::from("samtykke.toml"), Path::to_path_buf);
        if file.is_some() && !path.exists() {
            return Err(invalid(
                "--config",
                format!("{} does not exist", path.display()),
            ));
        }
        let figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&path))
            .merge(Env::prefixed("SAMTYKKE_").ignore(&["test_database_url"]));
        Self::from_figment(&figment)
    }

    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(Box::new)?;
        let mut warnings = Vec::new();
        if let Ok(data) = figment.data() {
            let known: BTreeSet<&str> = KNOWN.iter().copied().collect();
            for dict in data.values() {
                for key in dict.keys().filter(|k| !known.contains(k.as_str())) {
                    warnings.push(format!("unknown setting `{key}` is ignored"));
                }
            }
        }
        Self::check(settings, warnings)
    }

    /// The settings as they are, with defaults, for tests and tools.
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        Self::check(settings, Vec::new())
    }

    fn check(settings: Settings, warnings: Vec<String>) -> Result<Self, ConfigError> {
        let backend = backend_of(&settings.database_url)?;
        let listen = settings
            .listen
            .parse()
            .map_err(|_| invalid("listen", "expected an address like 127.0.0.1:8080"))?;
        let public_url = url::Url::parse(&settings.public_url)
            .map_err(|e| invalid("public_url", e.to_string()))?;
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            return Err(invalid("public_url", "expected an http(s) URL with a host"));
        }
        let log_format = match settings.log_format.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log_format", "expected `pretty` or `json`")),
        };
        if !(100..=60_000).contains(&settings.database_timeout_ms) {
            return Err(invalid(
                "database_timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        for (key, value) in [
            ("header_timeout_ms", settings.header_timeout_ms),
            ("body_timeout_ms", settings.body_timeout_ms),
            ("drain_timeout_ms", settings.drain_timeout_ms),
            ("write_timeout_ms", settings.write_timeout_ms),
        ] {
            if !(100..=600_000).contains(&value) {
                return Err(invalid(key, "must be between 100 and 600000"));
            }
        }
        if !(1..=1_000_000).contains(&settings.max_connections) {
            return Err(invalid("max_connections", "must be between 1 and 1000000"));
        }
        if settings.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        if !(1..=3650).contains(&settings.consent_validity_days) {
            return Err(invalid(
                "consent_validity_days",
                "must be between 1 and 3650",
            ));
        }
        if !(1_000..=100_000_000).contains(&settings.index_pupils) {
            return Err(invalid(
                "index_pupils",
                "must be between 1000 and 100000000",
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&settings.max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                "must be between 1 KiB and 16 MiB",
            ));
        }
        check_login(&settings, &public_url, &listen)?;
        let local = development(&public_url, &listen, settings.oidc_issuer.as_deref());
        if settings.demo == Some(true) && !local {
            return Err(invalid(
                "demo",
                "demo data (with its documented logins) is only for a machine of one's own: \
                 public_url and listen on loopback, and no OpenID provider outside it",
            ));
        }
        if let Some(start) = &settings.dev_clock_start {
            if !local {
                return Err(invalid(
                    "dev_clock_start",
                    "a moved clock is only for a machine of one's own",
                ));
            }
            if time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                return Err(invalid(
                    "dev_clock_start",
                    "an RFC 3339 instant, e.g. 2027-03-02T08:00:00Z",
                ));
            }
        }
        if settings.hmac_key.is_some() != settings.kek.is_some() {
            return Err(invalid(
                "hmac_key",
                "set both `hmac_key` and `kek`, or neither",
            ));
        }
        Ok(Self {
            settings,
            backend,
            listen,
            public_url,
            log_format,
            warnings,
        })
    }

    /// Whether demo data goes into an empty database.
    /// Never outside a development machine (checked at start): demo pupils and a
    /// compliance officer with documented numbers are logins anyone could use.
    pub fn seed_demo(&self) -> bool {
        self.settings
            .demo
            .unwrap_or(self.backend == Backend::Sqlite && self.is_development())
    }

    /// The clock to run on: the wall clock, or (development only) the wall clock
    /// moved to start at `dev_clock_start`.
    pub fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock> {
        use crate::clock::{Clock, OffsetClock, SystemClock};
        let start = self.settings.dev_clock_start.as_deref().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        });
        match start {
            Some(t) => {
                let at = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                std::sync::Arc::new(OffsetClock(at - SystemClock.now()))
            }
            None => std::sync::Arc::new(SystemClock),
        }
    }

    /// Whether `/metrics` asks for an admin credential.
    pub fn metrics_private(&self) -> bool {
        self.settings
            .metrics_require_admin
            .unwrap_or(!self.is_development())
    }

    /// A machine of one's own: reached only on loopback, over plain HTTP, with the
    /// development login or an OpenID provider on the same machine.
    pub fn is_development(&self) -> bool {
        development(
            &self.public_url,
            &self.listen,
            self.settings.oidc_issuer.as_deref(),
        )
    }

    /// Plain-HTTP localhost: the only place insecure cookies and the development
    /// login are allowed.
    pub fn is_local(&self) -> bool {
        is_local_url(&self.public_url)
    }
}

fn development(public_url: &url::Url, listen: &SocketAddr, issuer: Option<&str>) -> bool {
    is_local_url(public_url)
        && listen.ip().is_loopback()
        && issuer.is_none_or(|i| url::Url::parse(i).is_ok_and(|u| is_local_url(&u)))
}

fn is_local_url(u: &url::Url) -> bool {
    u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

fn check_login(
    s: &Settings,
    public_url: &url::Url,
    listen: &SocketAddr,
) -> Result<(), ConfigError> {
    if s.session_idle_minutes == 0 || s.session_absolute_minutes < s.session_idle_minutes {
        return Err(invalid(
            "session_absolute_minutes",
            "must be at least session_idle_minutes, which must be at least 1",
        ));
    }
    match &s.oidc_issuer {
        None if !is_local_url(public_url) => Err(invalid(
            "oidc_issuer",
            "not set, and the development login runs only when public_url is http://localhost or http://127.0.0.1",
        )),
        // Its test numbers (a compliance officer's among them) must not be
        // reachable from another machine, whatever public_url says.
        None if !listen.ip().is_loopback() => Err(invalid(
            "listen",
            "the development login (oidc_issuer not set) listens only on loopback, e.g. 127.0.0.1:8080",
        )),
        None => Ok(()),
        Some(issuer) => {
            let u = url::Url::parse(issuer).map_err(|e| invalid("oidc_issuer", e.to_string()))?;
            if u.scheme() != "https" && !is_local_url(&u) {
                return Err(invalid("oidc_issuer", "must be https (or http on localhost)"));
            }
            if s.oidc_client_secret.as_deref().is_none_or(str::is_empty) {
                return Err(invalid("oidc_client_secret", "required with oidc_issuer"));
            }
            if crate::oidc::acr_rank(&s.oidc_acr_values).is_none() {
                return Err(invalid(
                    "oidc_acr_values",
                    "expected idporten-loa-low, idporten-loa-substantial or idporten-loa-high",
                ));
            }
            crate::oidc::parse_algs(&s.oidc_id_token_algs)
                .map_err(|e| invalid("oidc_id_token_algs", e))?;
            Ok(())
        }
    }
}

pub fn backend_of(url: &str) -> Result<Backend, ConfigError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(invalid(
            "database_url",
            "expected sqlite://… or postgres://…",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = Figment::from(Serialized::defaults(Settings::default()));
        for (k, v) in pairs {
            f = f.merge((*k, *v));
        }
        Config::from_figment(&f)
    }

    #[test]
    fn defaults_are_the_embedded_demo() {
        let c = with(&[]).unwrap();
        assert_eq!(c.backend, Backend::Sqlite);
        assert!(c.seed_demo());
        assert!(c.is_local());
        assert_eq!(c.listen.port(), 8080);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            ("listen", "nowhere", "listen"),
            ("public_url", "not a url", "public_url"),
            ("public_url", "ftp://x.example", "public_url"),
            ("database_url", "mysql://x", "database_url"),
            ("log_format", "xml", "log_format"),
            ("consent_validity_days", "0", "consent_validity_days"),
            ("consent_validity_days", "many", "consent_validity_days"),
            ("index_pupils", "10", "index_pupils"),
            ("hmac_key", "abc", "hmac_key"),
        ];
        for (key, value, named) in cases {
            let err = with(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn unknown_settings_are_warned_about() {
        let c = with(&[("listne", "x")]).unwrap();
        assert_eq!(
            c.warnings,
            vec!["unknown setting `listne` is ignored".to_string()]
        );
    }

    /// Attack: the development login and the demo's documented logins reached
    /// from another machine.
    #[test]
    fn the_development_login_and_the_demo_stay_on_loopback() {
        let refused = [
            (vec![("listen", "0.0.0.0:8080")], "listen"),
            (vec![("listen", "[::]:8080")], "listen"),
            (
                vec![
                    ("listen", "0.0.0.0:8080"),
                    ("public_url", "https://samtykke.example"),
                    ("oidc_issuer", "https://idporten.example"),
                    ("oidc_client_secret", "s"),
                    ("demo", "true"),
                ],
                "demo",
            ),
        ];
        for (pairs, named) in refused {
            let err = with(&pairs).unwrap_err().to_string();
            assert!(err.contains(named), "{pairs:?}: {err}");
        }
        // A real provider and an https address: no demo unless asked, and asking fails.
        let real = with(&[
            ("listen", "0.0.0.0:8080"),
            ("public_url", "https://samtykke.example"),
            ("oidc_issuer", "https://idporten.example"),
            ("oidc_client_secret", "s"),
        ])
        .unwrap();
        assert!(!real.seed_demo() && !real.is_development());
        assert!(
            real.metrics_private(),
            "metrics behind a credential in production"
        );
        // A provider on this machine (the browser suite's) keeps the demo.
        let local = with(&[
            ("oidc_issuer", "http://127.0.0.1:9999"),
            ("oidc_client_secret", "s"),
        ])
        .unwrap();
        assert!(local.seed_demo());
        assert!(!local.metrics_private());
    }

    #[test]
    fn postgres_is_not_demo_by_default() {
        let c = with(&[("database_url", "postgres://localhost/x")]).unwrap();
        assert_eq!(c.backend, Backend::Postgres);
        assert!(!c.seed_demo());
    }
}
