//! Policy decisions as an operation: resolve who and whom, ask the one decision
//! function, record the decision. Plus policy reloads and runtime rules.

use serde_json::json;
use uuid::Uuid;

use super::settle::{Records, Settled};
use super::{Found, Result, ServiceError, Services};
use crate::audit::event::{Decided, Outcome};
use crate::audit::Actor;
use crate::audit::{Event, Record};
use crate::domain::client::PartnerClient;
use crate::domain::identity::IdentityNumber;
use crate::domain::org::{OrgNumber, OrgType, Organisation};
use crate::domain::Slug;
use crate::policy::baseline::Rule;
use crate::policy::decide::{decide, Action, Decision, Discloser, Question, Subject};
use crate::policy::index::{ConsentRecord, Entry};
use crate::storage::{ReadyEntry, StoreError, StoredRule, WriteTx};
use crate::tokens::assertion::{self, AssertionError, Verified};

/// A party of a decision, looked up: an organisation (or a role in it).
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    Org(&'a Organisation, Option<&'a Slug>),
    /// The NAV tutor (the catalogue's `tutor` type, no organisation).
    Tutor,
}

impl<'a> Who<'a> {
    pub fn org(self) -> Option<&'a Organisation> {
        match self {
            Self::Org(o, _) => Some(o),
            Self::Tutor => None,
        }
    }

    fn role(self) -> Option<&'a Slug> {
        match self {
            Self::Org(_, r) => r,
            Self::Tutor => None,
        }
    }

    fn enabled(self) -> bool {
        self.org().is_none_or(|o| o.enabled)
    }

    fn subject<'b>(self, tutor: &'b OrgType, member_of: &'b [Uuid]) -> Subject<'b>
    where
        'a: 'b,
    {
        Subject {
            org_id: self.org().map(|o| o.id),
            org_type: self.org().map_or(tutor, |o| &o.org_type),
            role: self.role(),
            member_of,
        }
    }
}

/// Which organisation asks: by organisation number or id.
#[derive(Debug, Clone)]
pub enum OrgRef {
    Number(OrgNumber),
    Id(Uuid),
}

/// Which pupil: by identity number (partners) or pseudonymous id (operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PupilRef {
    Identity(IdentityNumber),
    Id(Uuid),
}

#[derive(Debug, Clone)]
pub struct Ask {
    /// Who would be told: the asking organisation.
    pub org: OrgRef,
    pub pupil: PupilRef,
    pub category: String,
    pub action: String,
    pub purpose: String,
    /// Who would tell, when the question names it (the data holder): then only
    /// a grant from that one counts, and a flow in law from it may.
    pub holder: Option<OrgRef>,
}

/// A pupil as a decision sees them: the id asked about (if samtykke knows the
/// number) and their consents. Only [`Services::indexed`] and
/// [`Services::indexed_by_number`] make one, so no decision can skip reading the
/// pupil.
#[derive(Debug, Clone)]
pub struct Indexed {
    id: Option<Uuid>,
    consents: Entry,
}

impl Indexed {
    /// The pupil asked about: by id as asked, by number only if samtykke knows it.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The consents a decision reads; `None` if samtykke knows no such pupil.
    pub fn consents(&self) -> Option<&[ConsentRecord]> {
        self.consents.as_deref()
    }
}

/// A decision with what it was about, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub decision: Decision,
    pub record: Record,
}

/// A runtime rule as an operator stored it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = StoredRule)]
pub struct RuleView {
    pub id: Uuid,
    #[serde(flatten)]
    pub rule: Rule,
    /// Who added it: `admin:<label>` or `cli`.
    pub created_by: String,
    pub created_at: i64,
}

impl From<StoredRule> for RuleView {
    fn from(r: StoredRule) -> Self {
        Self {
            id: r.id,
            rule: r.rule,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

impl Services {
    /// Every rule in force, as written: the files in `policies/`, then the runtime rules.
    pub fn rules_in_force(&self) -> Vec<String> {
        self.policy
            .baseline()
            .rules
            .iter()
            .map(Rule::to_line)
            .collect()
    }

    pub async fn runtime_rules(&self) -> Result<Vec<RuleView>> {
        Ok(self
            .store
            .policy_rules()
            .await?
            .into_iter()
            .map(RuleView::from)
            .collect())
    }

    /// Re-reads the policy files and runtime rules; the old policy stays on error.
    pub async fn reload_policy(&self) -> Result<usize> {
        let rules: Vec<Rule> = self
            .store
            .policy_rules()
            .await?
            .into_iter()
            .map(|r| r.rule)
            .collect();
        self.policy
            .reload(rules, &self.catalogue())
            .await
            .map_err(|e| ServiceError::invalid("policy", e))
    }

    /// Forgets every pupil in the decision index, after a change to many of them
    /// or when changes may have been missed; each is read again when next decided.
    pub fn reset_index(&self) {
        self.policy.index.clear();
    }

    /// Forgets one pupil in the index after a change, so the next decision reads
    /// the committed state.
    pub fn refresh_pupil(&self, pupil: Uuid) {
        self.policy.index.invalidate(pupil);
    }

    /// The pupil a partner names by number, as a decision sees them: one statement
    /// for a known and an unknown number alike, and nothing from or into the index,
    /// so how long an answer takes does not tell whether samtykke knows the number.
    pub async fn indexed_by_number(&self, n: &IdentityNumber) -> Result<Indexed> {
        let found = self
            .store
            .index_by_lookup(&self.vault.lookup_hash(n))
            .await?;
        Ok(match found {
            Some((id, consents)) => Indexed {
                id: Some(id),
                consents,
            },
            None => Indexed {
                id: None,
                consents: None,
            },
        })
    }

    /// Commits `tx`, then makes the index forget `pupil` (or, with `None`, every
    /// pupil), as one step a cancelled request cannot split: a commit already
    /// sent may still land after its request is dropped, and a forget before it
    /// lands would let a read of the old state be kept.
    pub(super) async fn commit_and_forget(
        &self,
        tx: WriteTx<'static>,
        pupil: Option<Uuid>,
    ) -> Result<()> {
        let index = self.policy.index.clone();
        let step = tokio::spawn(async move {
            let committed = tx.commit().await;
            match pupil {
                Some(p) => index.invalidate(p),
                None => index.clear(),
            }
            committed
        });
        match step.await {
            Ok(committed) => Ok(committed?),
            Err(e) => Err(StoreError::Unavailable(format!("committing: {e}")).into()),
        }
    }

    /// Whether the index holds the pupil now (the next decision reads no database).
    pub fn index_holds(&self, pupil: Uuid) -> bool {
        self.policy.index.get(pupil).is_some()
    }

    /// The pupil as a decision sees them: from the index, or read once from the
    /// database and kept unless a change came in meanwhile.
    pub async fn indexed(&self, pupil: Option<Uuid>) -> Result<Indexed> {
        let Some(id) = pupil else {
            return Ok(Indexed {
                id: None,
                consents: None,
            });
        };
        if let Some(consents) = self.policy.index.get(id) {
            return Ok(Indexed {
                id: pupil,
                consents,
            });
        }
        let epoch = self.policy.index.epoch(id);
        let consents = self.store.index_entry(id).await?;
        self.policy.index.keep(id, consents.clone(), epoch);
        Ok(Indexed {
            id: pupil,
            consents,
        })
    }

    async fn resolve_org(&self, org: &OrgRef) -> Result<Organisation> {
        let found = match org {
            OrgRef::Number(n) => self.store.org_by_number(n).await,
            OrgRef::Id(id) => self.store.org(*id).await,
        };
        found.map_err(|e| match e {
            StoreError::NotFound => ServiceError::invalid("subject.id", "unknown organisation"),
            other => other.into(),
        })
    }

    /// The pupil a question is about, by number or id, read through the index.
    async fn pupil_of(&self, ask: &Ask) -> Result<Indexed> {
        match &ask.pupil {
            PupilRef::Identity(n) => self.indexed_by_number(n).await,
            PupilRef::Id(id) => self.indexed(Some(*id)).await,
        }
    }

    /// The organisation a question names as the one that would tell, if any.
    async fn resolve_holder(&self, ask: &Ask) -> Result<Option<Organisation>> {
        let Some(holder) = &ask.holder else {
            return Ok(None);
        };
        let found = match holder {
            OrgRef::Number(n) => self.store.org_by_number(n).await,
            OrgRef::Id(id) => self.store.org(*id).await,
        };
        match found {
            Ok(o) => Ok(Some(o)),
            Err(StoreError::NotFound) => Err(ServiceError::invalid(
                "resource.properties.holder",
                "unknown organisation",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Answers one question, records it, and returns the decision. Bad input is an
    /// error and never an allow. `restrict_to` confines a partner to its own
    /// organisation.
    pub async fn evaluate(
        &self,
        caller: &Actor,
        restrict_to: Option<Uuid>,
        ask: &Ask,
        request_id: Option<String>,
    ) -> Result<Answer> {
        let org = self.resolve_org(&ask.org).await?;
        if restrict_to.is_some_and(|own| own != org.id) {
            return Err(ServiceError::Forbidden(
                "a client may only ask on behalf of its own organisation",
            ));
        }
        let pupil = self.pupil_of(ask).await?;
        let directory = self.directory().await?;
        let holder = self.resolve_holder(ask).await?;
        let answer = self.decide_for(
            caller,
            Who::Org(&org, None),
            directory.member_of(org.id),
            &pupil,
            ask,
            request_id,
            holder
                .as_ref()
                .map(|h| (Who::Org(h, None), directory.school_of(h.id))),
        )?;
        // Fail closed: a decision that cannot be recorded is not given.
        self.log(vec![answer.record.entry()]).await?;
        Ok(answer)
    }

    /// Answers a partner's AuthZEN questions, one or a batch. Every question is
    /// checked and decided first (a bad one decides nothing); then the assertion's
    /// jti and every decision are written in one durable commit, shared with other
    /// requests (group commit), before any answer leaves. A jti used before writes
    /// only its refusal.
    pub async fn evaluate_for_partner(
        &self,
        client: &PartnerClient,
        verified: &Verified,
        asks: &[Ask],
        request_id: Option<String>,
    ) -> Result<Vec<bool>> {
        let actor = Actor::Client(client.client_id.to_string());
        let mut answers = Vec::with_capacity(asks.len());
        let mut entries = Vec::with_capacity(asks.len());
        // A pupil asked about twice in one batch is read once (a partner's batch
        // is mostly several categories of one pupil).
        let mut read: Vec<(&PupilRef, Indexed)> = Vec::new();
        for ask in asks {
            let org = self.resolve_org(&ask.org).await?;
            if org.id != client.org_id {
                return Err(ServiceError::Forbidden(
                    "a client may only ask on behalf of its own organisation",
                ));
            }
            let pupil = match read.iter().find(|(asked, _)| *asked == &ask.pupil) {
                Some((_, known)) => known.clone(),
                None => {
                    let known = self.pupil_of(ask).await?;
                    read.push((&ask.pupil, known.clone()));
                    known
                }
            };
            let directory = self.directory().await?;
            let holder = self.resolve_holder(ask).await?;
            let a = self.decide_for(
                &actor,
                Who::Org(&org, None),
                directory.member_of(org.id),
                &pupil,
                ask,
                request_id.clone(),
                holder
                    .as_ref()
                    .map(|h| (Who::Org(h, None), directory.school_of(h.id))),
            )?;
            answers.push(a.decision.allowed);
            entries.push(ReadyEntry::from(&a.record.entry()));
        }
        let replayed = Event::Token(Outcome::new(
            "refused",
            "invalid_client",
            "replayed assertion",
        ));
        self.settle_once(client, verified, entries, replayed, request_id)
            .await?;
        Ok(answers)
    }

    /// Writes a partner request's `entries` and uses up its assertion's jti in one
    /// durable commit shared with other requests (group commit). A jti used before
    /// writes only `replayed` (the refusal) and is an error.
    pub(super) async fn settle_once(
        &self,
        client: &PartnerClient,
        verified: &Verified,
        entries: Vec<ReadyEntry>,
        replayed: Event,
        request_id: Option<String>,
    ) -> Result<()> {
        let actor = Actor::Client(client.client_id.to_string());
        let refusal = Record::new(self.now(), actor, None, replayed).with_request(request_id);
        let records = Records {
            once: vec![(
                client.client_id.to_string(),
                verified.jti.clone(),
                verified.expires_at,
            )],
            token: None,
            entries,
            replay_entries: vec![ReadyEntry::from(&refusal.entry())],
        };
        match self.settler.settle(&self.store, records).await {
            Ok(Settled::Written) => Ok(()),
            Ok(Settled::Replayed(_)) => Err(ServiceError::Unauthenticated(
                "the assertion's jti was used before",
            )),
            Err(e) => Err(ServiceError::Store(StoreError::NotCommitted(e))),
        }
    }

    /// The decision for a recipient and pupil already looked up, with the record to
    /// store; nothing is written here. `discloser` is who would tell (a token's
    /// audience, its data holder) with the networks whose school it is;
    /// `recipient_networks` are those the recipient serves (a flow in law is between
    /// the pupil's school and a service of its network).
    #[allow(clippy::too_many_arguments)] // each is one fact of the question
    pub(super) fn decide_for(
        &self,
        caller: &Actor,
        recipient: Who<'_>,
        recipient_networks: &[Uuid],
        pupil: &Indexed,
        ask: &Ask,
        request_id: Option<String>,
        discloser: Option<(Who<'_>, &[Uuid])>,
    ) -> Result<Answer> {
        let catalogue = self.catalogue();
        let category = Slug::parse(&ask.category)
            .ok()
            .filter(|c| catalogue.category(c).is_some())
            .ok_or_else(|| {
                ServiceError::invalid("resource.properties.category", "unknown data category")
            })?;
        let action = Action::parse(&ask.action)
            .ok_or_else(|| ServiceError::invalid("action.name", "expected read or write"))?;
        let purpose = Slug::parse(&ask.purpose)
            .ok()
            .filter(|p| catalogue.has_purpose(p))
            .ok_or_else(|| ServiceError::invalid("context.purpose", "unknown purpose"))?;
        let now = self.now();
        let tutor = Slug::tutor();
        let q = Question {
            recipient: recipient.subject(&tutor, recipient_networks),
            category: &category,
            action,
            purpose: &purpose,
            discloser: discloser.map(|(d, school_of)| Discloser {
                org_id: d.org().map(|o| o.id),
                org_type: d.org().map_or(&tutor, |o| &o.org_type),
                school_of,
            }),
        };
        let baseline = self.policy.baseline();
        let mut decision = decide(&baseline, &catalogue, pupil.consents.as_deref(), &q, now);
        if !recipient.enabled() || discloser.is_some_and(|(d, _)| !d.enabled()) {
            decision.allowed = false;
            decision.reason = crate::policy::decide::Reason::OrgDisabled;
        }
        let record = Record::new(
            now,
            caller.clone(),
            pupil.id(),
            Event::Decision(Decided {
                decision: Uuid::new_v4(),
                org: recipient.org().map(|o| o.id),
                role: recipient.role().map(ToString::to_string),
                category: category.to_string(),
                action: action.as_str().to_owned(),
                purpose: purpose.to_string(),
                allowed: decision.allowed,
                reason: decision.reason.as_str().to_owned(),
                baseline_rule: decision.baseline_rule.as_deref().map(str::to_owned),
                consent: decision.consent_id,
                holder: discloser.and_then(|(d, _)| d.org().map(|o| o.id)),
                by_tutor: discloser.is_some_and(|(d, _)| d.org().is_none()),
                provision: decision.provision.clone(),
            }),
        )
        .with_request(request_id);
        Ok(Answer { decision, record })
    }

    pub async fn add_rule(&self, rule: Rule, by: &Actor) -> Result<RuleView> {
        rule.check().map_err(|e| ServiceError::invalid("rule", e))?;
        let stored = StoredRule {
            id: Uuid::new_v4(),
            rule,
            created_by: by.to_string(),
            created_at: self.now(),
        };
        let mut tx = self.store.write().await?;
        tx.insert_rule(&stored).await?;
        tx.notify(self.store.backend(), "policy").await?;
        tx.chain(&[self.operator(
            by,
            "policy",
            json!({ "action": "rule added", "rule": stored.id, "line": stored.rule.to_line() }),
        )])
        .await?;
        tx.commit().await?;
        self.reload_policy().await?;
        Ok(stored.into())
    }

    pub async fn remove_rule(&self, id: Uuid, by: &Actor) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.delete_rule(id).await.found("rule")?;
        tx.notify(self.store.backend(), "policy").await?;
        tx.chain(&[self.operator(
            by,
            "policy",
            json!({ "action": "rule removed", "rule": id }),
        )])
        .await?;
        tx.commit().await?;
        self.reload_policy().await?;
        Ok(())
    }

    /// Checks a partner's signed assertion for one of `audiences`, without using up
    /// its jti: the caller records the jti with the rest of what it writes.
    pub async fn verify_client(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<(PartnerClient, Organisation, Verified), AssertionError> {
        let id = assertion::claimed_client(token)?;
        let directory = self.directory().await.map_err(|e| {
            tracing::error!(error = %e, "clients cannot be read");
            AssertionError::Unavailable
        })?;
        let client = directory
            .client(&id)
            .cloned()
            .ok_or(AssertionError::UnknownClient)?;
        let org = directory
            .org(client.org_id)
            .cloned()
            .ok_or(AssertionError::UnknownClient)?;
        if !client.enabled || !org.enabled {
            return Err(AssertionError::Disabled);
        }
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let client = self.with_keys(client, kid.as_deref()).await?;
        let verified = assertion::verify(token, &client, audiences, self.now())?;
        Ok((client, org, verified))
    }

    /// Uses up a verified assertion's jti; a second use anywhere is a replay.
    pub async fn use_assertion(
        &self,
        client: &PartnerClient,
        v: &Verified,
    ) -> Result<(), AssertionError> {
        self.store
            .use_jti(client.client_id.as_str(), &v.jti, v.expires_at)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AssertionError::Replayed,
                other => {
                    tracing::warn!(error = %other, "an assertion's jti could not be recorded");
                    AssertionError::Unavailable
                }
            })
    }

    /// Authenticates a partner client by its signed assertion and uses up its jti.
    pub async fn authenticate_client(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<PartnerClient, AssertionError> {
        let (client, _, verified) = self.verify_client(token, audiences).await?;
        self.use_assertion(&client, &verified).await?;
        Ok(client)
    }
}
