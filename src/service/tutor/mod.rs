//! The NAV tutor's workspace as operations: the caseload and invitations
//! (`caseload.rs`), "may I share this?", disclosures and teams (`sharing.rs`), and
//! paper and oral consents (`paper.rs`). A tutor is a staff login with the `tutor`
//! role (casbin, `policies/console_policy.csv`) in one or more school networks.
//! Every operation on a pupil first finds the pupil on *this* tutor's caseload, in
//! a network the tutor still works in; another tutor's pupil is "not found"
//! whatever id is guessed, and nothing from another network (a consent, a paper
//! form) is ever seen or decided on through it.

mod caseload;
mod paper;
mod sharing;

use ring::digest;
use time::Date;
use uuid::Uuid;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::clock::{Millis, DAY};
use crate::domain::caseload::{Direction, Occasion};
use crate::domain::consent::{Choice, Consent, Party};
use crate::domain::Slug;
use crate::policy::decide::Reason;
use crate::storage::CaseRow;

const NICKNAME_TAG: &[u8] = b"samtykke/tutor-nickname/v1\0";
const FORM_TAG: &[u8] = b"samtykke/paper-form/v1\0";
const WITNESS_TAG: &[u8] = b"samtykke/paper-witness/v1\0";
/// An invitation is good for this long.
pub const INVITATION_MS: Millis = 14 * DAY;
/// A consent ending within this time shows on the caseload, to talk about in time.
const LAPSING_MS: Millis = 30 * DAY;
/// The largest scanned form kept (a phone photo or a PDF page or two).
pub const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;
pub const FORM_TYPES: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

/// A logged-in tutor: their console subject and the networks they work in.
#[derive(Debug, Clone)]
pub struct Tutor {
    pub subject: String,
    pub networks: Vec<Uuid>,
}

impl Tutor {
    pub(in crate::service) fn hash(&self) -> &str {
        self.subject.trim_start_matches("staff:")
    }

    pub(in crate::service) fn actor(&self) -> Actor {
        Actor::Staff(self.hash().to_owned())
    }
}

/// Where a pupil on the caseload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseState {
    /// Enrolled and invited; nothing signed yet.
    Invited,
    /// Said no (recorded by the tutor).
    Refused,
    Active,
    /// The consent has ended (withdrawn, expired).
    Ended,
    /// The tutor ended the follow-up.
    Closed,
}

/// One pupil on the caseload, as the tutor sees them (never the identity number).
#[derive(Debug, Clone)]
pub struct CaseLine {
    pub pupil: Uuid,
    pub nickname: String,
    pub network: Uuid,
    pub state: CaseState,
    /// The consent in force at this network.
    pub consent: Option<Consent>,
    /// The pupil narrowed, withdrew or replaced it since the tutor last looked.
    pub changed: bool,
    /// The consent ends within 30 days: when.
    pub lapsing: Option<Millis>,
    /// A paper consent the pupil has not yet confirmed digitally.
    pub unconfirmed_paper: bool,
    /// Grants waiting for a guardian (or the check of one).
    pub guardian_waiting: usize,
    /// Grants decided without a guardian by a protective exception.
    pub exceptions: usize,
    /// What rests on a guardian ends at a birthday within the confirmation
    /// window: when.
    pub coming_of_age: Option<Millis>,
}

/// What the tutor may do with one category and one counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The pupil's consent allows it, given then.
    Consent {
        since: Millis,
    },
    /// A duty in law: the provision.
    Law {
        provision: String,
    },
    No {
        reason: Reason,
    },
}

/// One category's answers for a counterpart, both ways.
#[derive(Debug, Clone)]
pub struct ShareLine {
    pub category: Slug,
    /// May the tutor tell the counterpart?
    pub tell: Verdict,
    /// May the counterpart tell the tutor?
    pub obtain: Verdict,
}

/// What the tutor records after telling or asking someone.
#[derive(Debug, Clone)]
pub struct NewDisclosure {
    pub counterpart: Party,
    pub direction: Direction,
    pub category: Slug,
    pub occasion: Occasion,
    pub on: Date,
}

/// A consent given on paper or aloud, as the tutor records it.
#[derive(Debug, Clone)]
pub struct PaperConsent {
    pub network: Uuid,
    /// Empty with `refused`: the pupil said no.
    pub choices: Vec<Choice>,
    pub refused: bool,
    pub signed_on: Date,
    pub witness: String,
    /// The scanned form: its media type and bytes.
    pub form: Option<(String, Vec<u8>)>,
}

/// An invitation made for a pupil: the code is shown once, kept only as a hash.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub pupil: Uuid,
    pub code: String,
    pub expires_at: Millis,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// Free text a tutor types about a pupil (a nickname, a witness, a team's name):
/// `min..=max` characters, no control characters, and never a number (six digits
/// in any script), so no identity number ends up on a list.
pub(in crate::service) fn words(text: &str, field: &'static str, max: usize) -> Result<String> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            format!("1 to {max} characters"),
        ));
    }
    if t.chars().filter(|c| c.is_numeric()).count() >= 6 {
        return Err(ServiceError::invalid(field, "words, not a number"));
    }
    Ok(t.to_owned())
}

/// The last day a tutor can mean: today in Norway.
fn today_in_oslo(now: Millis) -> Date {
    crate::clock::oslo_date(now)
}

/// `org` or `org.role`, as forms and the audit log write a counterpart.
pub fn party_ref(p: &Party) -> String {
    match p {
        Party::Tutor => "tutor".into(),
        Party::Org { org_id, role: None } => org_id.to_string(),
        Party::Org {
            org_id,
            role: Some(r),
        } => format!("{org_id}.{r}"),
    }
}

/// Reads `org` or `org.role` back; `None` for anything else.
pub fn parse_party(s: &str) -> Option<Party> {
    let (org, role) = match s.split_once('.') {
        Some((o, r)) => (o, Some(Slug::parse(r).ok()?)),
        None => (s, None),
    };
    Some(Party::Org {
        org_id: Uuid::parse_str(org).ok()?,
        role,
    })
}

impl Services {
    /// The tutor behind a staff login: `None` unless casbin gives the subject the
    /// caseload (the `tutor` role) and they work in a network. Asked on every
    /// request, so a role taken away ends the work at once.
    pub async fn tutor(&self, subject: &str) -> Result<Option<Tutor>> {
        if !self.console.allows(subject, "caseload", "work") {
            return Ok(None);
        }
        let networks = self
            .store
            .tutor_networks(subject.trim_start_matches("staff:"))
            .await?;
        Ok((!networks.is_empty()).then(|| Tutor {
            subject: subject.to_owned(),
            networks,
        }))
    }

    /// The pupil on this tutor's caseload, in a network the tutor works in; not
    /// erased. Another's is "not found".
    async fn case_of(&self, t: &Tutor, pupil: Uuid) -> Result<CaseRow> {
        self.store
            .caseload(t.hash())
            .await?
            .into_iter()
            .find(|c| {
                c.pupil_id == pupil && t.networks.contains(&c.network_id) && c.wrapped_key.is_some()
            })
            .ok_or(ServiceError::NotFound("pupil"))
    }

    /// `case_of` for a change: refused once the follow-up has ended.
    pub(in crate::service) async fn open_case_of(&self, t: &Tutor, pupil: Uuid) -> Result<CaseRow> {
        let case = self.case_of(t, pupil).await?;
        if case.ended_at.is_some() {
            return Err(ServiceError::Conflict("the follow-up has ended".into()));
        }
        Ok(case)
    }

    fn open_sealed(&self, c: &CaseRow, tag: &[u8], sealed: Option<&[u8]>) -> String {
        sealed
            .and_then(|n| {
                self.vault
                    .open_for_pupil(c.pupil_id, c.wrapped_key.as_deref(), tag, n)
                    .ok()
            })
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .unwrap_or_default()
    }

    /// Whom the tutor works with for this pupil: the services of the pupil's
    /// network (and home municipality there), each whole and each role in it.
    pub async fn counterparts(&self, t: &Tutor, pupil: Uuid) -> Result<Vec<Party>> {
        let case = self.case_of(t, pupil).await?;
        self.counterparts_of(&case).await
    }

    async fn counterparts_of(&self, case: &CaseRow) -> Result<Vec<Party>> {
        let network = self.network(case.network_id).await?;
        let current = self.consent_at(case).await?;
        let home = current.and_then(|c| c.home_municipality);
        let catalogue = self.catalogue();
        let mut out = Vec::new();
        for org in self.services_of(&network, home.as_ref()).await? {
            if !org.enabled {
                continue;
            }
            out.push(Party::org(org.id));
            for r in catalogue
                .org_type(&org.org_type)
                .map_or(&[][..], |k| &k.roles)
            {
                out.push(Party::Org {
                    org_id: org.id,
                    role: Some(r.key.clone()),
                });
            }
        }
        Ok(out)
    }

    /// Refuses a counterpart the pupil's services do not include.
    async fn check_counterparts(&self, case: &CaseRow, asked: &[Party]) -> Result<()> {
        let known = self.counterparts_of(case).await?;
        if asked.iter().all(|p| known.contains(p)) {
            Ok(())
        } else {
            Err(ServiceError::invalid(
                "counterpart",
                "one of the pupil's services",
            ))
        }
    }

    /// The pupil's consent in force at the case's network, if any.
    async fn consent_at(&self, case: &CaseRow) -> Result<Option<Consent>> {
        let (_, current) = self.consents_in_force(case.pupil_id).await?;
        Ok(current.filter(|c| c.network_id == case.network_id))
    }
}
