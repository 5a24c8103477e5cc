//! "May I share this?", disclosures recorded after meetings and calls, and the
//! teams a tutor meets with. Every answer comes from the one decision function,
//! with the tutor as the one who tells or is told, and counts only the pupil's
//! consent at the case's own network.

use serde_json::json;
use uuid::Uuid;

use super::{
    parse_party, party_ref, today_in_oslo, words, NewDisclosure, ShareLine, Tutor, Verdict,
};
use crate::audit::event::{Disclosed, TutorDone};
use crate::audit::{Event, Record};
use crate::domain::caseload::Direction;
use crate::domain::consent::{Consent, Grant, Party};
use crate::domain::org::Organisation;
use crate::domain::Slug;
use crate::policy::decide::{Decision, Reason};
use crate::service::policy::{Ask, Indexed, OrgRef, PupilRef, Who};
use crate::service::{Result, ServiceError, Services};
use crate::storage::CaseRow;

/// One flow between the tutor and a counterpart, about a pupil on the caseload.
struct Flow<'a> {
    case: &'a CaseRow,
    /// The pupil's consent in force at the case's network.
    consent: Option<&'a Consent>,
    counterpart: &'a Party,
    org: &'a Organisation,
    category: &'a Slug,
    directory: &'a crate::service::directory::Snapshot,
    /// The pupil as decisions read them.
    pupil: &'a Indexed,
}

/// The grant behind an allowed flow: the tutor telling the counterpart, or the
/// counterpart telling the tutor, this category (the role named, else the whole
/// organisation).
fn grant_of<'c>(f: &Flow<'c>, direction: Direction) -> Option<&'c Grant> {
    // Never a grant to another role of the organisation.
    let whole = f.counterpart.org_id().map(Party::org);
    let matches = |g: &Grant, exact: bool| {
        let other = match direction {
            Direction::Told => (g.discloser == Party::Tutor).then_some(&g.recipient),
            Direction::Asked => (g.recipient == Party::Tutor).then_some(&g.discloser),
        };
        g.category == *f.category
            && other.is_some_and(|o| {
                if exact {
                    o == f.counterpart
                } else {
                    Some(o) == whole.as_ref()
                }
            })
    };
    let grants = || f.consent.into_iter().flat_map(Consent::grants_in_force);
    grants()
        .find(|g| matches(g, true))
        .or_else(|| grants().find(|g| matches(g, false)))
}

fn counterpart_org<'o>(orgs: &'o [Organisation], cp: &Party) -> Result<&'o Organisation> {
    cp.org_id()
        .and_then(|id| orgs.iter().find(|o| o.id == id))
        .ok_or_else(|| ServiceError::invalid("counterpart", "an organisation"))
}

impl Services {
    /// "May I share this?": per category, may the tutor tell `counterparts`, and
    /// may they tell the tutor, for this pupil now. The look is recorded
    /// (`tutor.checked`).
    pub async fn may_i_share(
        &self,
        t: &Tutor,
        pupil: Uuid,
        counterparts: &[Party],
    ) -> Result<Vec<(Party, Vec<ShareLine>)>> {
        let case = self.case_of(t, pupil).await?;
        self.check_counterparts(&case, counterparts).await?;
        let orgs = self.orgs().await?;
        let consent = self.consent_at(&case).await?;
        let catalogue = self.catalogue();
        let directory = self.directory().await?;
        let indexed = self.indexed(Some(pupil)).await?;
        let mut out = Vec::new();
        for cp in counterparts {
            let org = counterpart_org(&orgs, cp)?;
            let mut lines = Vec::new();
            for cat in catalogue.categories.iter().filter(|c| !c.retired) {
                let flow = Flow {
                    case: &case,
                    consent: consent.as_ref(),
                    counterpart: cp,
                    org,
                    category: &cat.key,
                    directory: &directory,
                    pupil: &indexed,
                };
                let verdict = |direction| -> Result<Verdict> {
                    let d = self.tutor_decision(t, &flow, direction)?;
                    Ok(match d.reason {
                        Reason::Statutory => Verdict::Law {
                            provision: d.provision.unwrap_or_default(),
                        },
                        _ if d.allowed => Verdict::Consent {
                            since: grant_of(&flow, direction)
                                .map(|g| g.granted_at)
                                .or(consent.as_ref().map(|c| c.signed_at))
                                .unwrap_or_default(),
                        },
                        r => Verdict::No { reason: r },
                    })
                };
                let line = ShareLine {
                    category: cat.key.clone(),
                    tell: verdict(Direction::Told)?,
                    obtain: verdict(Direction::Asked)?,
                };
                // Only what could ever be shared: allowed, or not (or no longer) chosen.
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

    /// The decision for one flow between the tutor and a counterpart. A consent
    /// counts only if it is the pupil's at the case's network: a grant to the
    /// tutor at another school is not one to this tutor.
    fn tutor_decision(&self, t: &Tutor, f: &Flow<'_>, direction: Direction) -> Result<Decision> {
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
                f.pupil,
                &ask,
                None,
                Some((Who::Tutor, &[])),
            )?,
            Direction::Asked => self.decide_for(
                &t.actor(),
                Who::Tutor,
                &here,
                f.pupil,
                &ask,
                None,
                Some((Who::Org(f.org, role), f.directory.school_of(f.org.id))),
            )?,
        };
        let mut d = answer.decision;
        // Neither a yes nor the reason for a no may come from another school's
        // consent.
        let this_network = f.consent.map(|c| c.id);
        if d.reason != Reason::Statutory && d.consent_id.is_some() && d.consent_id != this_network {
            d.allowed = false;
            d.reason = Reason::ConsentMissing;
            d.consent_id = None;
        }
        Ok(d)
    }

    /// Records what the tutor told or was told, decided against the consent in
    /// force now, whose grant must be older than the day it happened: a
    /// disclosure it does not cover is refused, never logged as allowed. The pupil
    /// sees it on their access page.
    pub async fn record_disclosure(&self, t: &Tutor, pupil: Uuid, d: NewDisclosure) -> Result<()> {
        let case = self.open_case_of(t, pupil).await?;
        if self.catalogue().category(&d.category).is_none() {
            return Err(ServiceError::invalid("category", "unknown data category"));
        }
        let today = today_in_oslo(self.now());
        if d.on > today || d.on < today - time::Duration::days(366) {
            return Err(ServiceError::invalid("on", "a day in the last year"));
        }
        self.check_counterparts(&case, std::slice::from_ref(&d.counterpart))
            .await?;
        let orgs = self.orgs().await?;
        let org = counterpart_org(&orgs, &d.counterpart)?;
        let directory = self.directory().await?;
        let consent = self.consent_at(&case).await?;
        let indexed = self.indexed(Some(pupil)).await?;
        let flow = Flow {
            case: &case,
            consent: consent.as_ref(),
            counterpart: &d.counterpart,
            org,
            category: &d.category,
            directory: &directory,
            pupil: &indexed,
        };
        let decision = self.tutor_decision(t, &flow, d.direction)?;
        if !decision.allowed {
            return Err(ServiceError::NotCovered(decision.reason));
        }
        let by_law = decision.reason == Reason::Statutory;
        if !by_law {
            // In force on that day: given, and the consent valid, by then.
            let valid_from = consent.as_ref().map_or(i64::MAX, |c| c.valid_from);
            let given =
                grant_of(&flow, d.direction).map(|g| today_in_oslo(g.granted_at.max(valid_from)));
            if given.is_none_or(|g| g > d.on) {
                return Err(ServiceError::NotCovered(Reason::NotGranted));
            }
        }
        let role = match &d.counterpart {
            Party::Org { role, .. } => role.as_ref().map(ToString::to_string),
            Party::Tutor => None,
        };
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

    /// Saves a team: the pupil's services and roles that meet around them.
    pub async fn save_team(
        &self,
        t: &Tutor,
        pupil: Uuid,
        name: &str,
        members: &[Party],
    ) -> Result<()> {
        let case = self.open_case_of(t, pupil).await?;
        let name = words(name, "name", 60)?;
        if members.is_empty() || members.len() > 12 {
            return Err(ServiceError::invalid("members", "1 to 12"));
        }
        self.check_counterparts(&case, members).await?;
        let refs: Vec<String> = members.iter().map(party_ref).collect();
        let mut tx = self.store.write().await?;
        let id = Uuid::new_v4();
        tx.insert_team(
            id,
            t.hash(),
            pupil,
            &name,
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
}
