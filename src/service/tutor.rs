//! The NAV tutor's workspace as operations: the caseload, enrolment with an
//! invitation, paper and oral consents, "may I share this?", disclosures recorded
//! for the pupil to see, and the end of follow-up. A tutor is a staff login with
//! the `tutor` role (casbin, `policies/console_policy.csv`) in one or more school
//! networks; every operation on a pupil first finds the pupil on *this* tutor's
//! caseload, so another tutor's pupil is "not found" whatever id is guessed.

use ring::digest;
use serde_json::json;
use time::Date;
use uuid::Uuid;

use super::policy::{Ask, OrgRef, PupilRef, Who};
use super::{Found, Result, ServiceError, Services, SignRequest};
use crate::audit::event::{Disclosed, TutorDone};
use crate::audit::{Actor, Event, Record};
use crate::clock::{Millis, DAY};
use crate::domain::caseload::{invitation_code, normalise_code, Direction, Occasion};
use crate::domain::consent::{Choice, Consent, ConsentState, Evidence, Party, Withdrawal};
use crate::domain::org::Organisation;
use crate::domain::Slug;
use crate::policy::decide::Reason;
use crate::storage::{CaseRow, InvitationRow, PaperRow};

const NICKNAME_TAG: &[u8] = b"samtykke/tutor-nickname/v1\0";
const FORM_TAG: &[u8] = b"samtykke/paper-form/v1\0";
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
    fn hash(&self) -> &str {
        self.subject.trim_start_matches("staff:")
    }

    fn actor(&self) -> Actor {
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
    pub consent: Option<Consent>,
    /// The pupil narrowed or withdrew since the tutor last looked.
    pub changed: bool,
    /// The consent ends within 30 days: when.
    pub lapsing: Option<Millis>,
    /// A paper consent the pupil has not yet confirmed digitally.
    pub unconfirmed_paper: bool,
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

fn code_hash(code: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, code.as_bytes()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
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

    /// The pupil on this tutor's caseload; another's is "not found".
    async fn case_of(&self, t: &Tutor, pupil: Uuid) -> Result<CaseRow> {
        self.store
            .caseload(t.hash())
            .await?
            .into_iter()
            .find(|c| c.pupil_id == pupil && t.networks.contains(&c.network_id))
            .ok_or(ServiceError::NotFound("pupil"))
    }

    fn nickname(&self, c: &CaseRow) -> String {
        c.nickname
            .as_deref()
            .and_then(|n| {
                self.vault
                    .open_for_pupil(c.pupil_id, c.wrapped_key.as_deref(), NICKNAME_TAG, n)
                    .ok()
            })
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .unwrap_or_default()
    }

    /// The caseload: pupils with news first (a narrowing or withdrawal not yet
    /// seen, a consent about to end), then the rest, newest first.
    pub async fn caseload(&self, t: &Tutor) -> Result<Vec<CaseLine>> {
        let now = self.now();
        let papers_of = |p| self.store.papers_of_pupil(p);
        let mut out = Vec::new();
        for c in self.store.caseload(t.hash()).await? {
            if !t.networks.contains(&c.network_id) {
                continue;
            }
            let (consents, current) = self.consents_in_force(c.pupil_id).await?;
            let mut changed = false;
            for k in consents.iter().filter(|k| k.network_id == c.network_id) {
                for e in self.store.consent_events(k.id).await? {
                    use crate::domain::consent::EventKind as K;
                    let narrowed = matches!(e.kind, K::Withdrawn | K::Expired)
                        || (e.kind == K::Changed && !e.removed.is_empty());
                    changed |= narrowed && e.at > c.seen_at;
                }
            }
            let current = current.filter(|k| k.network_id == c.network_id);
            let papers = papers_of(c.pupil_id).await?;
            let unconfirmed_paper = current.as_ref().is_some_and(|k| {
                papers
                    .iter()
                    .any(|p| p.consent_id == k.id && p.confirmed_at.is_none())
            });
            let state = match (&current, c.ended_at, c.refused_at) {
                (_, Some(_), _) => CaseState::Closed,
                (Some(k), _, _) if k.state(now) == ConsentState::Active => CaseState::Active,
                (Some(_), _, _) => CaseState::Invited,
                (None, _, Some(_)) => CaseState::Refused,
                (None, _, None) if consents.is_empty() => CaseState::Invited,
                (None, _, None) => CaseState::Ended,
            };
            let lapsing = current
                .as_ref()
                .map(|k| k.expires_at)
                .filter(|at| *at - now < LAPSING_MS);
            out.push(CaseLine {
                pupil: c.pupil_id,
                nickname: self.nickname(&c),
                network: c.network_id,
                state,
                consent: current,
                changed,
                lapsing,
                unconfirmed_paper,
            });
        }
        out.sort_by_key(|l| !(l.changed || l.lapsing.is_some()));
        Ok(out)
    }

    /// Whom the tutor works with for this pupil: the services of the pupil's
    /// network (and home municipality), each whole and each role in it.
    pub async fn counterparts(&self, t: &Tutor, pupil: Uuid) -> Result<Vec<Party>> {
        let case = self.case_of(t, pupil).await?;
        let network = self.store.network(case.network_id).await.found("network")?;
        let (_, current) = self.consents_in_force(pupil).await?;
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

    /// What a paper consent can say for this pupil: the same offer the pupil's
    /// own pages make, per service.
    pub async fn paper_offer(
        &self,
        t: &Tutor,
        pupil: Uuid,
    ) -> Result<(Uuid, Vec<super::ServiceOffer>)> {
        let case = self.case_of(t, pupil).await?;
        let offers = self
            .offer(pupil, case.network_id, None)
            .await?
            .ok_or(ServiceError::NotFound("network"))?;
        Ok((case.network_id, offers))
    }

    /// One pupil of the caseload.
    pub async fn case(&self, t: &Tutor, pupil: Uuid) -> Result<CaseLine> {
        self.case_of(t, pupil).await?;
        self.caseload(t)
            .await?
            .into_iter()
            .find(|l| l.pupil == pupil)
            .ok_or(ServiceError::NotFound("pupil"))
    }

    /// The tutor has seen the pupil's latest changes.
    pub async fn mark_seen(&self, t: &Tutor, pupil: Uuid) -> Result<()> {
        self.case_of(t, pupil).await?;
        let mut tx = self.store.write().await?;
        tx.mark_case_seen(pupil, t.hash(), self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a pupil by identity number (kept as everywhere: keyed hash and sealed
    /// copy) with the tutor's name for them, and makes an invitation.
    pub async fn enrol_for_tutor(
        &self,
        t: &Tutor,
        network: Uuid,
        identity: &crate::domain::identity::IdentityNumber,
        nickname: &str,
    ) -> Result<Invitation> {
        if !t.networks.contains(&network) {
            return Err(ServiceError::Forbidden(
                "the tutor does not work in this network",
            ));
        }
        let nickname = nickname.trim();
        if nickname.is_empty()
            || nickname.chars().count() > 60
            || nickname.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid("nickname", "1 to 60 characters"));
        }
        if nickname.chars().filter(char::is_ascii_digit).count() >= 6 {
            // A name, not a number: never an identity number shown on a list.
            return Err(ServiceError::invalid("nickname", "a name, not a number"));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let pupil = self.enrol_in_tx(&mut tx, identity, &t.actor()).await?;
        let wrapped = tx
            .pupil_in_tx(pupil)
            .await?
            .and_then(|p| p.wrapped_key)
            .ok_or(ServiceError::Erased)?;
        let sealed =
            self.vault
                .seal_for_pupil(pupil, &wrapped, NICKNAME_TAG, nickname.as_bytes())?;
        tx.add_case(pupil, t.hash(), network, Some(&sealed), now)
            .await?;
        let added = Record::new(
            now,
            t.actor(),
            Some(pupil),
            Event::Tutor(
                "pupil_added".into(),
                TutorDone {
                    network: Some(network),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[added.entry()]).await?;
        let invitation = self.invite_in(&mut tx, t, pupil, network).await?;
        tx.commit().await?;
        self.refresh_pupil(pupil).await?;
        Ok(invitation)
    }

    /// A new invitation for a pupil already on the caseload.
    pub async fn reinvite(&self, t: &Tutor, pupil: Uuid) -> Result<Invitation> {
        let case = self.case_of(t, pupil).await?;
        let mut tx = self.store.write().await?;
        let inv = self.invite_in(&mut tx, t, pupil, case.network_id).await?;
        tx.commit().await?;
        Ok(inv)
    }

    async fn invite_in(
        &self,
        tx: &mut crate::storage::WriteTx<'_>,
        t: &Tutor,
        pupil: Uuid,
        network: Uuid,
    ) -> Result<Invitation> {
        let now = self.now();
        let mut random = [0u8; 10];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| ServiceError::Crypto(crate::crypto::CryptoError::Random))?;
        let code = invitation_code(&random);
        let row = InvitationRow {
            pupil_id: pupil,
            tutor_hash: t.hash().to_owned(),
            network_id: network,
            expires_at: now + INVITATION_MS,
            used_at: None,
        };
        tx.insert_invitation(&code_hash(&code), &row, now).await?;
        let invited = Record::new(
            now,
            t.actor(),
            Some(pupil),
            Event::Tutor(
                "invited".into(),
                TutorDone {
                    network: Some(network),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[invited.entry()]).await?;
        Ok(Invitation {
            pupil,
            code,
            expires_at: row.expires_at,
        })
    }

    /// The logged-in pupil follows an invitation: used up once, only by the pupil
    /// it was made for. Returns the network whose agreement to open.
    pub async fn follow_invitation(&self, pupil: Uuid, code: &str) -> Result<Uuid> {
        let code = normalise_code(code).ok_or(ServiceError::Invitation("unknown"))?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let Some(inv) = tx.use_invitation(&code_hash(&code), now).await? else {
            return Err(ServiceError::Invitation("used, expired or unknown"));
        };
        if inv.pupil_id != pupil {
            // Rolled back: the pupil it was made for can still use it.
            return Err(ServiceError::Invitation("for another pupil"));
        }
        let used = Record::new(
            now,
            Actor::Pupil,
            Some(pupil),
            Event::Tutor(
                "invitation_used".into(),
                TutorDone {
                    network: Some(inv.network_id),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[used.entry()]).await?;
        tx.commit().await?;
        Ok(inv.network_id)
    }

    /// "May I share this?": per category, may the tutor tell `counterpart`, and
    /// may it tell the tutor, for this pupil now. Decided by the one decision
    /// function; the look itself is recorded (`tutor.checked`).
    pub async fn may_i_share(
        &self,
        t: &Tutor,
        pupil: Uuid,
        counterparts: &[Party],
    ) -> Result<Vec<(Party, Vec<ShareLine>)>> {
        let case = self.case_of(t, pupil).await?;
        let orgs = self.orgs().await?;
        let (_, current) = self.consents_in_force(pupil).await?;
        let catalogue = self.catalogue();
        let directory = self.directory().await?;
        let mut out = Vec::new();
        for cp in counterparts {
            let org = self.counterpart(&orgs, cp)?;
            let mut lines = Vec::new();
            for cat in catalogue.categories.iter().filter(|c| !c.retired) {
                let flow = Flow {
                    case: &case,
                    counterpart: cp,
                    org,
                    category: &cat.key,
                    directory: &directory,
                };
                let tell = self.tutor_decision(t, &flow, Direction::Told)?;
                let obtain = self.tutor_decision(t, &flow, Direction::Asked)?;
                let verdict = |d: crate::policy::decide::Decision, told: bool| match d.reason {
                    Reason::Statutory => Verdict::Law {
                        provision: d.provision.unwrap_or_default(),
                    },
                    _ if d.allowed => Verdict::Consent {
                        since: since(current.as_ref(), cp, &cat.key, told),
                    },
                    r => Verdict::No { reason: r },
                };
                let line = ShareLine {
                    category: cat.key.clone(),
                    tell: verdict(tell, true),
                    obtain: verdict(obtain, false),
                };
                // Only what could ever be shared: allowed, or not chosen.
                let relevant = |v: &Verdict| match v {
                    Verdict::No { reason } => matches!(
                        reason,
                        Reason::NotGranted
                            | Reason::GrantWithdrawn
                            | Reason::ConsentMissing
                            | Reason::ConsentWithdrawn
                            | Reason::ConsentExpired
                            | Reason::ConsentPending
                            | Reason::BelowAgeAtSigning
                            | Reason::HolderOutsideConsent
                    ),
                    _ => true,
                };
                if relevant(&line.tell) || relevant(&line.obtain) {
                    lines.push(line);
                }
            }
            out.push((cp.clone(), lines));
        }
        let checked = Record::new(
            self.now(),
            t.actor(),
            Some(pupil),
            Event::Tutor(
                "checked".into(),
                TutorDone {
                    counterparts: counterparts.iter().map(party_ref).collect(),
                    ..TutorDone::default()
                },
            ),
        );
        self.log(vec![checked.entry()]).await?;
        Ok(out)
    }

    fn counterpart<'o>(&self, orgs: &'o [Organisation], cp: &Party) -> Result<&'o Organisation> {
        let id = cp
            .org_id()
            .ok_or_else(|| ServiceError::invalid("counterpart", "an organisation"))?;
        orgs.iter()
            .find(|o| o.id == id)
            .ok_or_else(|| ServiceError::invalid("counterpart", "an organisation"))
    }

    /// The decision for one flow between the tutor and a counterpart.
    fn tutor_decision(
        &self,
        t: &Tutor,
        f: &Flow<'_>,
        direction: Direction,
    ) -> Result<crate::policy::decide::Decision> {
        let role = match f.counterpart {
            Party::Org { role, .. } => role.as_ref(),
            Party::Tutor => None,
        };
        let pupil = f.case.pupil_id;
        let ask = Ask {
            org: OrgRef::Id(f.org.id),
            pupil: PupilRef::Id(pupil),
            category: f.category.to_string(),
            action: "read".into(),
            purpose: Slug::follow_up().to_string(),
            holder: None,
        };
        let here = [f.case.network_id];
        let answer = match direction {
            Direction::Told => self.decide_for(
                &t.actor(),
                Who::Org(f.org, role),
                f.directory.member_of(f.org.id),
                Some(pupil),
                &ask,
                None,
                Some((Who::Tutor, &[])),
            )?,
            Direction::Asked => self.decide_for(
                &t.actor(),
                Who::Tutor,
                &here,
                Some(pupil),
                &ask,
                None,
                Some((Who::Org(f.org, role), f.directory.school_of(f.org.id))),
            )?,
        };
        Ok(answer.decision)
    }

    /// Records what the tutor told or was told, decided against the consent in
    /// force now: a disclosure it does not cover is refused, never logged as
    /// allowed. The pupil sees it on their access page.
    pub async fn record_disclosure(&self, t: &Tutor, pupil: Uuid, d: NewDisclosure) -> Result<()> {
        let case = self.case_of(t, pupil).await?;
        if self.catalogue().category(&d.category).is_none() {
            return Err(ServiceError::invalid("category", "unknown data category"));
        }
        let today = crate::clock::date_of(self.now());
        if d.on > today || d.on < today - time::Duration::days(366) {
            return Err(ServiceError::invalid("on", "a day in the last year"));
        }
        let orgs = self.orgs().await?;
        let org = self.counterpart(&orgs, &d.counterpart)?;
        let directory = self.directory().await?;
        let flow = Flow {
            case: &case,
            counterpart: &d.counterpart,
            org,
            category: &d.category,
            directory: &directory,
        };
        let decision = self.tutor_decision(t, &flow, d.direction)?;
        if !decision.allowed {
            return Err(ServiceError::NotCovered(decision.reason));
        }
        let role = match &d.counterpart {
            Party::Org { role, .. } => role.as_ref().map(ToString::to_string),
            Party::Tutor => None,
        };
        let by_law = decision.reason == Reason::Statutory;
        let record = Record::new(
            self.now(),
            t.actor(),
            Some(pupil),
            Event::Disclosure(Disclosed {
                disclosure: Uuid::new_v4(),
                direction: d.direction.as_str().into(),
                counterpart: org.id,
                role,
                category: d.category.to_string(),
                occasion: d.occasion.as_str().into(),
                on: d.on.to_string(),
                basis: if by_law { "law" } else { "consent" }.into(),
                consent: decision.consent_id,
                provision: decision.provision,
            }),
        );
        self.log(vec![record.entry()]).await
    }

    /// Records a consent given on paper or aloud (or a refusal), with the scanned
    /// form sealed under the pupil's key and its hash in the chain, in one
    /// transaction. The pupil sees it marked as such and can confirm, change or
    /// withdraw it.
    pub async fn record_paper(
        &self,
        t: &Tutor,
        pupil: Uuid,
        p: PaperConsent,
    ) -> Result<Option<Consent>> {
        let case = self.case_of(t, pupil).await?;
        if p.network != case.network_id {
            return Err(ServiceError::invalid(
                "network",
                "the pupil's network on this caseload",
            ));
        }
        let witness = p.witness.trim();
        if witness.is_empty()
            || witness.chars().count() > 100
            || witness.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid("witness", "1 to 100 characters"));
        }
        if witness.chars().filter(char::is_ascii_digit).count() >= 6 {
            return Err(ServiceError::invalid(
                "witness",
                "a name or a role, not a number",
            ));
        }
        let today = crate::clock::date_of(self.now());
        if p.signed_on > today || p.signed_on < today - time::Duration::days(366) {
            return Err(ServiceError::invalid("signed_on", "a day in the last year"));
        }
        if let Some((media, bytes)) = &p.form {
            if !FORM_TYPES.contains(&media.as_str()) {
                return Err(ServiceError::invalid("form", "a PDF, JPEG or PNG"));
            }
            if bytes.is_empty() || bytes.len() > MAX_FORM_BYTES {
                return Err(ServiceError::invalid("form", "at most 4 MiB"));
            }
        }
        let now = self.now();
        let detail = |consent| TutorDone {
            network: Some(case.network_id),
            consent,
            form_sha256: p.form.as_ref().map(|(_, b)| sha256_hex(b)),
            signed_on: Some(p.signed_on.to_string()),
            witness: Some(witness.to_owned()),
            ..TutorDone::default()
        };
        let mut tx = self.store.write().await?;
        if p.refused {
            tx.mark_refused(pupil, t.hash(), Some(now)).await?;
            let r = Record::new(
                now,
                t.actor(),
                Some(pupil),
                Event::Tutor("paper_refused".into(), detail(None)),
            );
            tx.chain(&[r.entry()]).await?;
            tx.commit().await?;
            return Ok(None);
        }
        if p.choices.is_empty() {
            return Err(ServiceError::invalid(
                "choices",
                "at least one, or record a refusal",
            ));
        }
        let agreement = self
            .store
            .current_template(&Slug::follow_up())
            .await
            .found("agreement")?;
        let identity = self.pupil_identity(pupil).await?;
        let req = SignRequest {
            identity,
            network_id: case.network_id,
            template_id: agreement.id,
            purpose: Slug::follow_up(),
            choices: p.choices.clone(),
            evidence: Evidence {
                acr: "paper".into(),
                amr: vec!["paper".into()],
                session_ref: format!("paper:{}", p.signed_on),
            },
            actor: t.actor(),
            home_municipality: None,
        };
        let (consent, ended) = self.sign_in(&mut tx, req).await?;
        let wrapped = tx
            .pupil_in_tx(pupil)
            .await?
            .and_then(|r| r.wrapped_key)
            .ok_or(ServiceError::Erased)?;
        let (media, sha, sealed) = match &p.form {
            Some((media, bytes)) => (
                media.clone(),
                sha256_hex(bytes),
                Some(
                    self.vault
                        .seal_for_pupil(pupil, &wrapped, FORM_TAG, bytes)?,
                ),
            ),
            None => ("none".into(), String::new(), None),
        };
        tx.insert_paper(&PaperRow {
            consent_id: consent.id,
            pupil_id: pupil,
            form: sealed,
            form_sha256: sha,
            media_type: media,
            witness: witness.to_owned(),
            signed_on: p.signed_on.to_string(),
            confirmed_at: None,
        })
        .await?;
        tx.mark_refused(pupil, t.hash(), None).await?;
        let r = Record::new(
            now,
            t.actor(),
            Some(pupil),
            Event::Tutor("paper_recorded".into(), detail(Some(consent.id))),
        );
        tx.chain(&[r.entry()]).await?;
        self.committed(tx, pupil, &ended, "superseded").await?;
        Ok(Some(consent))
    }

    /// The scanned form of a paper consent, opened for the tutor who follows the
    /// pupil up; gone once the pupil is erased.
    pub async fn paper_form(
        &self,
        t: &Tutor,
        pupil: Uuid,
        consent: Uuid,
    ) -> Result<(String, Vec<u8>)> {
        let case = self.case_of(t, pupil).await?;
        let paper = self
            .store
            .papers_of_pupil(pupil)
            .await?
            .into_iter()
            .find(|p| p.consent_id == consent)
            .ok_or(ServiceError::NotFound("form"))?;
        let sealed = paper.form.ok_or(ServiceError::NotFound("form"))?;
        let bytes =
            self.vault
                .open_for_pupil(pupil, case.wrapped_key.as_deref(), FORM_TAG, &sealed)?;
        Ok((paper.media_type, bytes.to_vec()))
    }

    /// The pupil's paper consents: (consent, signed on, witness, confirmed).
    pub async fn papers(&self, pupil: Uuid) -> Result<Vec<(Uuid, String, String, bool)>> {
        Ok(self
            .store
            .papers_of_pupil(pupil)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.consent_id,
                    p.signed_on,
                    p.witness,
                    p.confirmed_at.is_some(),
                )
            })
            .collect())
    }

    /// The pupil confirms, logged in, a consent the tutor recorded on paper.
    pub async fn confirm_paper(&self, pupil: Uuid, consent: Uuid) -> Result<()> {
        let own = self.store.consent(consent).await.found("consent")?;
        if own.pupil_id != pupil {
            return Err(ServiceError::NotFound("consent"));
        }
        let mut tx = self.store.write().await?;
        if !tx.confirm_paper(consent, self.now()).await? {
            return Err(ServiceError::Conflict(
                "already confirmed, or not on paper".into(),
            ));
        }
        let r = Record::new(
            self.now(),
            Actor::Pupil,
            Some(pupil),
            Event::Tutor(
                "paper_confirmed".into(),
                TutorDone {
                    consent: Some(consent),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[r.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves a team: the organisations and roles that meet around the pupil.
    pub async fn save_team(
        &self,
        t: &Tutor,
        pupil: Uuid,
        name: &str,
        members: &[Party],
    ) -> Result<()> {
        self.case_of(t, pupil).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid("name", "1 to 60 characters"));
        }
        if members.is_empty() || members.len() > 12 {
            return Err(ServiceError::invalid("members", "1 to 12"));
        }
        let orgs = self.orgs().await?;
        for m in members {
            self.counterpart(&orgs, m)?;
        }
        let refs: Vec<String> = members.iter().map(party_ref).collect();
        let mut tx = self.store.write().await?;
        let id = Uuid::new_v4();
        tx.insert_team(
            id,
            t.hash(),
            pupil,
            name,
            &json!(refs).to_string(),
            self.now(),
        )
        .await?;
        let r = Record::new(
            self.now(),
            t.actor(),
            Some(pupil),
            Event::Tutor(
                "team_saved".into(),
                TutorDone {
                    counterparts: refs,
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[r.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tutor's saved teams for a pupil: (id, name, members).
    pub async fn teams(&self, t: &Tutor, pupil: Uuid) -> Result<Vec<(Uuid, String, Vec<Party>)>> {
        self.case_of(t, pupil).await?;
        Ok(self
            .store
            .teams(t.hash(), pupil)
            .await?
            .into_iter()
            .map(|r| {
                let refs: Vec<String> = serde_json::from_str(&r.members).unwrap_or_default();
                (
                    r.id,
                    r.name,
                    refs.iter().filter_map(|s| parse_party(s)).collect(),
                )
            })
            .collect())
    }

    /// Follow-up has ended: the consent ends with it (partners get the withdrawal
    /// events as for any withdrawal) and the pupil leaves the caseload.
    pub async fn end_follow_up(&self, t: &Tutor, pupil: Uuid) -> Result<()> {
        let case = self.case_of(t, pupil).await?;
        let (_, current) = self.consents_in_force(pupil).await?;
        if let Some(c) = current.filter(|c| c.network_id == case.network_id) {
            self.withdraw(c.id, &Withdrawal::All, &t.actor()).await?;
        }
        let mut tx = self.store.write().await?;
        tx.end_case(pupil, t.hash(), self.now()).await?;
        let r = Record::new(
            self.now(),
            t.actor(),
            Some(pupil),
            Event::Tutor(
                "follow_up_ended".into(),
                TutorDone {
                    network: Some(case.network_id),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[r.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the tutor's pupil's follow-up has ended, for the pupil's pages.
    pub async fn follow_up_ended(&self, pupil: Uuid) -> Result<bool> {
        let cases = self.store.cases_of_pupil(pupil).await?;
        Ok(!cases.is_empty() && cases.iter().all(|c| c.ended_at.is_some()))
    }
}

/// One flow between the tutor and a counterpart, about a pupil on the caseload.
struct Flow<'a> {
    case: &'a CaseRow,
    counterpart: &'a Party,
    org: &'a Organisation,
    category: &'a Slug,
    directory: &'a super::directory::Snapshot,
}

/// When the grant behind an allowed flow was given.
fn since(current: Option<&Consent>, cp: &Party, category: &Slug, told: bool) -> Millis {
    current
        .into_iter()
        .flat_map(Consent::grants_in_force)
        .find(|g| {
            g.category == *category
                && if told {
                    g.discloser == Party::Tutor && g.recipient.org_id() == cp.org_id()
                } else {
                    g.recipient == Party::Tutor && g.discloser.org_id() == cp.org_id()
                }
        })
        .map_or(0, |g| g.granted_at)
}
