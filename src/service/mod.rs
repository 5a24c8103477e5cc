//! Application operations: each loads the facts, asks the domain rules, and writes
//! the outcome in one transaction. HTTP handlers, the CLI and the demo seed all call
//! these, so every path enforces the same rules.

mod admin;
mod audit;
mod catalogue;
mod changes;
mod clients;
mod consents;
mod console;
mod directory;
mod disputes;
mod generate;
mod guardians;
mod jobs;
mod journey;
mod jwks;
mod limits;
mod notices;
mod offer;
mod open;
mod orgs;
mod policy;
mod pupils;
mod refusals;
mod renewal;
mod sessions;
mod settle;
mod templates;
mod tokens;
mod tutor;

pub use admin::AdminCredential;
pub use audit::{ChainReport, CHECKPOINT_TYP};
pub use changes::follow_changes;
pub use clients::{ClientKeys, NewClient, NoticeView};
pub use consents::{ChangeRequest, ConsentQuery, SignRequest};
pub use console::{
    Alert, LogItem, LogQuery, Overview, PupilReport, SchoolStatistics, Statistics, EXPORT_MAX,
    EXPORT_PAGE, OUTCOMES,
};
pub use directory::DIRECTORY_CHANGED;
pub use policy::Indexed;

/// The payload of the change notification that makes every instance's decision
/// index forget every pupil (a revision with a re-consent deadline ends many
/// consents at once).
pub const INDEX_CHANGED: &str = "index";
pub use disputes::Dispute;
pub use generate::{GenerateSpec, Generated};
pub use guardians::{
    GuardedGrant, GuardianInvite, GuardianOffer, InvitationView, ProtectiveException,
    ResponsibilityRegister, CONFIRM_WINDOW_MS, GUARDIAN_INVITATION_MS,
};
pub use journey::{Journey, LoggedIn, LoginAs, Submitted, RECEIPT_TYP};
pub use notices::{backoff, CONSENT_REVOKED};
pub use offer::ServiceOffer;
pub use open::{key_material, migrate, parse_catalogue, OpenError, DEFAULT_CATALOGUE};
pub use orgs::{NewNetwork, NewOrg};
pub use policy::{Answer, Ask, OrgRef, PupilRef, RuleView};
pub use renewal::{Revision, RENEW_BEFORE_MS};
pub use sessions::StoredSession;
pub use templates::NewTemplate;
pub use tokens::{
    asked, error_code, ClientAuth, Endpoint, Issued, OAuthError, TokenRequest, TokenResponse,
    ACCESS_TOKEN_MS, MAX_SCOPES,
};
pub use tutor::{
    parse_party, party_ref, CaseLine, CaseState, Invitation, NewDisclosure, PaperConsent,
    ShareLine, Tutor, Verdict, FORM_TYPES, INVITATION_MS, MAX_FORM_BYTES,
};

use std::sync::{Arc, RwLock};

use crate::audit::event::OperatorChange;
use crate::audit::{Actor, Entry, Event, Record};
use crate::clock::{Clock, Millis, DAY};
use crate::crypto::{CryptoError, Vault};
use crate::domain::catalogue::{Catalogue, CatalogueError};
use crate::domain::consent::ConsentError;
use crate::policy::PolicyEngine;
use crate::storage::{Store, StoreError};

/// What an operation could not do, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller's credential was not accepted (e.g. a replayed assertion).
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("the pupil has been erased")]
    Erased,
    /// An invitation that is used, expired, unknown or made for another pupil.
    #[error("invitation: {0}")]
    Invitation(&'static str),
    /// What the tutor would record is not covered now, for this reason.
    #[error("not covered: {}", .0.as_str())]
    NotCovered(crate::policy::decide::Reason),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Crypto(CryptoError),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl ToString) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Erased => Self::Erased,
            other => Self::Crypto(other),
        }
    }
}

/// Turns a store "not found" into the named thing that was not found.
pub trait Found<T> {
    fn found(self, what: &'static str) -> Result<T, ServiceError>;
}

impl<T> Found<T> for Result<T, StoreError> {
    fn found(self, what: &'static str) -> Result<T, ServiceError> {
        self.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound(what),
            other => other.into(),
        })
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The one door into the core. Its state is private to `service`: an edge (a page,
/// an endpoint, the CLI) can only call its methods, whose results are domain or view
/// types, never storage rows. The methods are split by context over this shared
/// state, one file each (consents, decisions, the authorization server, audit, the
/// console, the directory, sessions …).
pub struct Services {
    store: Store,
    vault: Vault,
    clock: Arc<dyn Clock>,
    consent_validity: Millis,
    /// The current catalogue, read on every consent check; replaced on change.
    /// With its stored version: a slower reload never replaces a newer one.
    catalogue: RwLock<(i64, Arc<Catalogue>)>,
    /// The baseline table and the consent index every decision reads.
    policy: PolicyEngine,
    /// The access-token signing keys in force.
    keys: arc_swap::ArcSwap<crate::tokens::signing::KeyRing>,
    /// The issuer of tokens and events: the public URL without a trailing slash.
    issuer: String,
    /// Wakes the withdrawal-notice sender when there is something to send.
    deliveries: tokio::sync::Notify,
    /// One delivery round at a time in this process, and its HTTP client.
    delivery: tokio::sync::Mutex<()>,
    delivery_http: std::sync::OnceLock<reqwest::Client>,
    /// Keys of clients registered by `jwks_uri`.
    jwks_cache: jwks::JwksCache,
    /// The group-commit writer of partner requests (tokens, AuthZEN).
    settler: settle::Settler,
    /// Clients and organisations in memory.
    directory: directory::Directory,
    /// The group-commit writer of audit entries written on their own.
    chain_writer: settle::ChainWriter,
    /// Who may open what in the compliance console.
    console: crate::policy::console::ConsoleAccess,
    /// Unauthenticated refusals, counted and sampled.
    refusals: refusals::Refusals,
    /// Requests per authenticated client, and per address at the doors anyone
    /// can knock on.
    client_limit: limits::Limiter,
    address_limit: limits::Limiter,
    /// The last full verification of the audit chain, for the console.
    last_verification: std::sync::RwLock<Option<(Millis, ChainReport)>>,
    /// Who has parental responsibility, where a register can tell.
    register: Arc<dyn ResponsibilityRegister>,
}

impl Services {
    fn new(
        store: Store,
        vault: Vault,
        clock: Arc<dyn Clock>,
        consent_validity_days: u32,
        policy: PolicyEngine,
        issuer: String,
    ) -> Self {
        Self {
            store,
            vault,
            clock,
            consent_validity: i64::from(consent_validity_days) * DAY,
            catalogue: RwLock::new((0, Arc::new(Catalogue::default()))),
            policy,
            keys: arc_swap::ArcSwap::from_pointee(crate::tokens::signing::KeyRing::empty()),
            issuer,
            deliveries: tokio::sync::Notify::new(),
            delivery: tokio::sync::Mutex::new(()),
            delivery_http: std::sync::OnceLock::new(),
            jwks_cache: jwks::JwksCache::default(),
            settler: settle::Settler::default(),
            directory: directory::Directory::default(),
            chain_writer: settle::ChainWriter::default(),
            console: crate::policy::console::ConsoleAccess::default(),
            refusals: refusals::Refusals::default(),
            client_limit: limits::Limiter::default(),
            address_limit: limits::Limiter::default(),
            last_verification: std::sync::RwLock::new(None),
            register: guardians::no_register(),
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The issuer of tokens and events: the public URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audit entry of an operator's change to `object`, made now by `by`.
    fn operator(&self, by: &Actor, object: &str, detail: serde_json::Value) -> Entry {
        Record::new(
            self.now(),
            by.clone(),
            None,
            Event::Operator(OperatorChange {
                object: object.to_owned(),
                detail,
            }),
        )
        .entry()
    }
}
