//! What the audit log records, typed. Services build a [`Record`] and the storage
//! layer appends its [`Entry`] as given; readers (the console, the pupil's access
//! page, the access report) parse entries back with [`Record::parse`] and match on
//! [`Event`] exhaustively, so a new kind of event cannot be missed by one of them.
//!
//! An entry's canonical JSON is unchanged by the typing: `kind` and `detail` are
//! what they were, so old entries still verify and still parse.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

use super::Entry;
use crate::domain::consent::EventKind;

/// Who did what an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The pupil, logged in.
    Pupil,
    /// A partner system, by client id, authenticated by its signed assertion.
    Client(String),
    /// A partner system's token check: the decisions made again for it.
    Introspection(String),
    /// An operator, by the label of the admin credential used.
    Admin(String),
    /// The `samtykke` command on the server.
    Cli,
    /// A staff member of the console, by keyed hash of their number.
    Staff(String),
    /// A pupil's guardian, logged in, by keyed hash of their number.
    Guardian(String),
    /// samtykke itself: expiry, the demo seed.
    System,
    /// Nobody authenticated (a refused login or request).
    Unauthenticated,
    /// An actor written by an older release in a form this one does not name.
    Other(String),
}

impl Actor {
    /// The form kept in the `actor` column and in the entry's body.
    pub fn parse(s: &str) -> Self {
        let tagged = |p: &str| s.strip_prefix(p).map(str::to_owned);
        match s {
            "pupil" => Self::Pupil,
            "cli" => Self::Cli,
            "system" => Self::System,
            "unauthenticated" => Self::Unauthenticated,
            _ => tagged("client:")
                .map(Self::Client)
                .or_else(|| tagged("introspection:").map(Self::Introspection))
                .or_else(|| tagged("admin:").map(Self::Admin))
                .or_else(|| tagged("staff:").map(Self::Staff))
                .or_else(|| tagged("guardian:").map(Self::Guardian))
                .unwrap_or_else(|| Self::Other(s.to_owned())),
        }
    }

    /// The partner client, for an actor that is one.
    pub fn client(&self) -> Option<&str> {
        match self {
            Self::Client(c) | Self::Introspection(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pupil => f.write_str("pupil"),
            Self::Client(c) => write!(f, "client:{c}"),
            Self::Introspection(c) => write!(f, "introspection:{c}"),
            Self::Admin(l) => write!(f, "admin:{l}"),
            Self::Cli => f.write_str("cli"),
            Self::Staff(s) => write!(f, "staff:{s}"),
            Self::Guardian(g) => write!(f, "guardian:{g}"),
            Self::System => f.write_str("system"),
            Self::Unauthenticated => f.write_str("unauthenticated"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// A policy decision as the log keeps it (kind `decision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub decision: Uuid,
    /// The organisation that would be told; none when the tutor would be.
    pub org: Option<Uuid>,
    /// The role in it, when one was named (the school's counsellor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub category: String,
    pub action: String,
    pub purpose: String,
    pub allowed: bool,
    pub reason: String,
    pub baseline_rule: Option<String>,
    pub consent: Option<Uuid>,
    /// The organisation that would tell (a token's data holder), when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Uuid>,
    /// The tutor would tell.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_tutor: bool,
    /// For a flow the law requires: the provision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<String>,
}

/// A change to a consent (kinds `consent.signed`, `consent.changed`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChanged {
    pub consent: Uuid,
    pub event: Uuid,
    pub added: Vec<Uuid>,
    pub removed: Vec<Uuid>,
    /// The login level a signed change was made at.
    pub acr: Option<String>,
}

/// An authorization-server or login event (kinds `token`, `revocation`, `login`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub event: Uuid,
    /// `issued`, `refused`, `revoked`, `succeeded`, …
    pub outcome: String,
    /// The OAuth error or the reason; never caller-chosen text.
    pub reason: String,
    /// Scopes asked and granted, a token's jti: never an identity number.
    pub detail: String,
}

impl Outcome {
    pub fn new(outcome: &str, reason: &str, detail: impl Into<String>) -> Self {
        Self {
            event: Uuid::new_v4(),
            outcome: outcome.to_owned(),
            reason: reason.to_owned(),
            detail: detail.into(),
        }
    }
}

/// A token check (kind `introspection`). When the data holder asks, it learns who
/// the pupil is: the pupil's access page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspected {
    pub event: Uuid,
    /// `active` or `inactive`.
    pub outcome: String,
    pub reason: String,
    pub detail: String,
    /// The asking organisation.
    #[serde(default)]
    pub org: Option<Uuid>,
    /// The organisation the token was issued to.
    #[serde(default)]
    pub recipient: Option<Uuid>,
    /// Whether the asking organisation is the token's data holder.
    #[serde(default)]
    pub holder: bool,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// A compliance officer's look at the log or at one pupil (kind `staff.access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAccess {
    /// `search`, `export` or `report`.
    pub what: String,
    /// The search's filter, in the console's own terms (no identity number).
    pub filter: String,
}

/// What the NAV tutor told someone about the pupil, or asked someone for (kind
/// `disclosure`), recorded by the tutor and allowed by the decision at that moment.
/// The pupil's access page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosed {
    pub disclosure: Uuid,
    /// `told`: the tutor told the counterpart; `asked`: the counterpart told the tutor.
    pub direction: String,
    pub counterpart: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub category: String,
    /// `meeting`, `phone` or `written`.
    pub occasion: String,
    /// The day it happened (`YYYY-MM-DD`).
    pub on: String,
    /// `consent` or `law`.
    pub basis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<String>,
}

/// One of the tutor's other actions (kind `tutor.<what>`): `pupil_added`,
/// `invited`, `invitation_used`, `paper_recorded`, `paper_refused`,
/// `paper_confirmed`, `checked`, `team_saved`, `follow_up_ended`,
/// `chosen_by_pupil`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TutorDone {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Uuid>,
    /// The SHA-256 of a scanned paper form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_sha256: Option<String>,
    /// Whom the tutor checked or met with: organisations, or `org.role`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counterparts: Vec<String>,
    /// A paper consent's date (the witness is kept sealed with the form, not here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_on: Option<String>,
}

/// A pupil's "this looks wrong" (kind `dispute.opened`) and the compliance
/// officer's answer (`dispute.closed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeDone {
    pub dispute: Uuid,
    /// The audit entry it is about, by its position in the chain.
    pub entry: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A guardian's part in grants (kind `guardian.<what>`): invited, cosigned,
/// declined, checked (parental responsibility confirmed), withdrew, exception,
/// exception_reviewed, confirmed (by the pupil come of age), lapsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuardianDone {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<Uuid>,
    /// A protective exception's ground, or a review's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// An operator's change (kind `admin.<object>`): organisations, networks, clients
/// and their keys, policy rules, the catalogue, templates, keys, credentials, roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorChange {
    /// `organisation`, `network`, `client`, `policy`, `catalogue`, `template`, …
    pub object: String,
    /// At least `action`; the id of what changed and what it became.
    pub detail: Value,
}

/// Everything the log records.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Consent(EventKind, ConsentChanged),
    Decision(Decided),
    Token(Outcome),
    Introspection(Introspected),
    Revocation(Outcome),
    Login(Outcome),
    PupilEnrolled,
    PupilErased,
    StaffAccess(StaffAccess),
    Operator(OperatorChange),
    Disclosure(Disclosed),
    Tutor(String, TutorDone),
    Dispute(String, DisputeDone),
    Guardian(String, GuardianDone),
}

/// Every kind an entry can have, for the console's filter; `admin.*` kinds are
/// matched by prefix there.
pub const KINDS: &[&str] = &[
    "decision",
    "token",
    "introspection",
    "revocation",
    "login",
    "consent.signed",
    "consent.changed",
    "consent.withdrawn",
    "consent.superseded",
    "consent.expired",
    "consent.erased",
    "pupil.enrolled",
    "pupil.erased",
    "staff.access",
    "disclosure",
    "tutor.pupil_added",
    "tutor.invited",
    "tutor.invitation_used",
    "tutor.paper_recorded",
    "tutor.paper_refused",
    "tutor.paper_confirmed",
    "tutor.checked",
    "tutor.team_saved",
    "tutor.follow_up_ended",
    "tutor.chosen_by_pupil",
    "dispute.opened",
    "dispute.closed",
    "guardian.invited",
    "guardian.cosigned",
    "guardian.declined",
    "guardian.checked",
    "guardian.withdrew",
    "guardian.exception",
    "guardian.exception_reviewed",
    "guardian.confirmed",
    "guardian.lapsed",
    "admin.*",
];

impl Event {
    pub fn kind(&self) -> String {
        match self {
            Self::Consent(k, _) => format!("consent.{}", k.as_str()),
            Self::Decision(_) => "decision".into(),
            Self::Token(_) => "token".into(),
            Self::Introspection(_) => "introspection".into(),
            Self::Revocation(_) => "revocation".into(),
            Self::Login(_) => "login".into(),
            Self::PupilEnrolled => "pupil.enrolled".into(),
            Self::PupilErased => "pupil.erased".into(),
            Self::StaffAccess(_) => "staff.access".into(),
            Self::Operator(o) => format!("admin.{}", o.object),
            Self::Disclosure(_) => "disclosure".into(),
            Self::Tutor(what, _) => format!("tutor.{what}"),
            Self::Dispute(what, _) => format!("dispute.{what}"),
            Self::Guardian(what, _) => format!("guardian.{what}"),
        }
    }

    fn detail(&self) -> Value {
        let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        match self {
            Self::Consent(_, c) => json(serde_json::to_value(c)),
            Self::Decision(d) => json(serde_json::to_value(d)),
            Self::Token(o) | Self::Revocation(o) | Self::Login(o) => json(serde_json::to_value(o)),
            Self::Introspection(i) => json(serde_json::to_value(i)),
            Self::PupilEnrolled | Self::PupilErased => Value::Object(Default::default()),
            Self::StaffAccess(s) => json(serde_json::to_value(s)),
            Self::Operator(o) => o.detail.clone(),
            Self::Disclosure(d) => json(serde_json::to_value(d)),
            Self::Tutor(_, t) => json(serde_json::to_value(t)),
            Self::Dispute(_, d) => json(serde_json::to_value(d)),
            Self::Guardian(_, g) => json(serde_json::to_value(g)),
        }
    }

    fn parse(kind: &str, detail: &Value) -> Option<Self> {
        fn read<T: DeserializeOwned>(v: &Value) -> Option<T> {
            serde_json::from_value(v.clone()).ok()
        }
        Some(match kind {
            "decision" => Self::Decision(read(detail)?),
            "token" => Self::Token(read(detail)?),
            "introspection" => Self::Introspection(read(detail)?),
            "revocation" => Self::Revocation(read(detail)?),
            "login" => Self::Login(read(detail)?),
            "pupil.enrolled" => Self::PupilEnrolled,
            "pupil.erased" => Self::PupilErased,
            "staff.access" => Self::StaffAccess(read(detail)?),
            "disclosure" => Self::Disclosure(read(detail)?),
            _ => {
                if let Some(what) = kind.strip_prefix("tutor.") {
                    return Some(Self::Tutor(what.to_owned(), read(detail)?));
                }
                if let Some(what) = kind.strip_prefix("dispute.") {
                    return Some(Self::Dispute(what.to_owned(), read(detail)?));
                }
                if let Some(what) = kind.strip_prefix("guardian.") {
                    return Some(Self::Guardian(what.to_owned(), read(detail)?));
                }
                if let Some(k) = kind.strip_prefix("consent.") {
                    Self::Consent(EventKind::parse(k)?, read(detail)?)
                } else {
                    let object = kind.strip_prefix("admin.")?;
                    Self::Operator(OperatorChange {
                        object: object.to_owned(),
                        detail: detail.clone(),
                    })
                }
            }
        })
    }
}

/// One thing that happened: who, to which pupil, what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub at: i64,
    pub actor: Actor,
    pub pupil: Option<Uuid>,
    pub event: Event,
    pub request_id: Option<String>,
}

/// An entry whose kind or detail this release cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry of kind {0:?} cannot be read")]
pub struct Unreadable(pub String);

impl Record {
    pub fn new(at: i64, actor: Actor, pupil: Option<Uuid>, event: Event) -> Self {
        Self {
            at,
            actor,
            pupil,
            event,
            request_id: None,
        }
    }

    pub fn with_request(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// The entry the log keeps.
    pub fn entry(&self) -> Entry {
        Entry {
            at: self.at,
            kind: self.event.kind(),
            actor: self.actor.to_string(),
            pupil: self.pupil,
            detail: self.event.detail(),
            request_id: self.request_id.clone(),
        }
    }

    pub fn parse(e: &Entry) -> Result<Self, Unreadable> {
        Ok(Self {
            at: e.at,
            actor: Actor::parse(&e.actor),
            pupil: e.pupil,
            event: Event::parse(&e.kind, &e.detail).ok_or_else(|| Unreadable(e.kind.clone()))?,
            request_id: e.request_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one_of_each() -> Vec<Event> {
        let outcome = Outcome::new("issued", "allowed", "asked: pupil:attendance:read");
        let mut all = vec![
            Event::Decision(Decided {
                decision: Uuid::new_v4(),
                org: Some(Uuid::new_v4()),
                role: None,
                category: "attendance".into(),
                action: "read".into(),
                purpose: "follow_up".into(),
                allowed: true,
                reason: "allowed".into(),
                baseline_rule: Some("p, school, attendance, read, follow_up, allow".into()),
                consent: Some(Uuid::new_v4()),
                holder: Some(Uuid::new_v4()),
                by_tutor: false,
                provision: None,
            }),
            Event::Token(outcome.clone()),
            Event::Introspection(Introspected {
                event: Uuid::new_v4(),
                outcome: "active".into(),
                reason: "active".into(),
                detail: "jti x".into(),
                org: Some(Uuid::new_v4()),
                recipient: Some(Uuid::new_v4()),
                holder: true,
                purpose: Some("follow_up".into()),
                categories: vec!["attendance".into()],
            }),
            Event::Revocation(outcome.clone()),
            Event::Login(outcome),
            Event::PupilEnrolled,
            Event::PupilErased,
            Event::StaffAccess(StaffAccess {
                what: "search".into(),
                filter: "kind=decision".into(),
            }),
            Event::Operator(OperatorChange {
                object: "organisation".into(),
                detail: json!({ "action": "added", "org": Uuid::new_v4() }),
            }),
            Event::Dispute(
                "closed".into(),
                DisputeDone {
                    dispute: Uuid::new_v4(),
                    entry: 7,
                    outcome: Some("explained".into()),
                },
            ),
            Event::Guardian(
                "exception".into(),
                GuardianDone {
                    grants: vec![Uuid::new_v4()],
                    ground: Some("lives_away".into()),
                    ..GuardianDone::default()
                },
            ),
        ];
        for k in [
            EventKind::Signed,
            EventKind::Changed,
            EventKind::Withdrawn,
            EventKind::Superseded,
            EventKind::Expired,
            EventKind::Erased,
        ] {
            all.push(Event::Consent(
                k,
                ConsentChanged {
                    consent: Uuid::new_v4(),
                    event: Uuid::new_v4(),
                    added: vec![Uuid::new_v4()],
                    removed: vec![],
                    acr: None,
                },
            ));
        }
        all
    }

    #[test]
    fn every_event_reads_back_from_its_entry_and_its_kind_is_listed() {
        for (i, event) in one_of_each().into_iter().enumerate() {
            let actors = [
                Actor::Pupil,
                Actor::Client("c".into()),
                Actor::Introspection("c".into()),
                Actor::Admin("initial".into()),
                Actor::Cli,
                Actor::Staff("ab12".into()),
                Actor::System,
                Actor::Unauthenticated,
            ];
            let r = Record::new(7, actors[i % actors.len()].clone(), None, event)
                .with_request(Some("req".into()));
            let back = Record::parse(&r.entry()).unwrap();
            assert_eq!(back, r);
            let kind = r.event.kind();
            assert!(
                KINDS.contains(&kind.as_str()) || kind.starts_with("admin."),
                "{kind} is listed"
            );
        }
    }

    #[test]
    fn entries_written_before_the_typing_still_read() {
        // As an older release wrote them: a decision with no holder, operator actor.
        let old = Entry::new(
            1,
            "decision",
            "client:x",
            None,
            json!({ "decision": Uuid::nil(), "org": Uuid::nil(), "category": "grades",
                "action": "read", "purpose": "follow_up", "allowed": false,
                "reason": "not_granted", "baseline_rule": null, "consent": null }),
        );
        let r = Record::parse(&old).unwrap();
        assert!(matches!(
            r.event,
            Event::Decision(Decided { holder: None, .. })
        ));
        assert_eq!(r.actor, Actor::Client("x".into()));
        let admin = Entry::new(
            2,
            "admin.keys",
            "operator",
            None,
            json!({ "action": "rotated" }),
        );
        let r = Record::parse(&admin).unwrap();
        assert_eq!(r.actor, Actor::Other("operator".into()));
        assert_eq!(r.entry(), admin, "an old entry is rewritten as it was");
        assert!(Record::parse(&Entry::new(3, "mystery", "x", None, json!({}))).is_err());
    }
}
