//! "This looks wrong": a pupil disputes a line of their access page; a compliance
//! officer reviews it with the entry attached and closes it with an outcome the
//! pupil then sees. Both steps are in the chain.

use uuid::Uuid;

use super::{Result, ServiceError, Services};
use crate::audit::event::DisputeDone;
use crate::audit::{Actor, Entry, Event, Record};
use crate::domain::dispute::DisputeOutcome;
use crate::storage::DisputeRow;

/// Open disputes a pupil may have at once: enough for anyone who finds lines that
/// look wrong, few enough that one pupil cannot crowd the officer's list.
const MAX_OPEN: usize = 10;

/// Closed disputes stay on the officer's list this long (30 days).
const CLOSED_SHOWN_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct Dispute {
    pub id: Uuid,
    pub pupil: Uuid,
    pub entry_seq: i64,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub outcome: Option<DisputeOutcome>,
}

impl From<DisputeRow> for Dispute {
    fn from(r: DisputeRow) -> Self {
        Self {
            outcome: r.outcome.as_deref().and_then(DisputeOutcome::parse),
            id: r.id,
            pupil: r.pupil,
            entry_seq: r.entry_seq,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
        }
    }
}

fn done(what: &str, d: &Dispute, outcome: Option<DisputeOutcome>) -> Event {
    Event::Dispute(
        what.into(),
        DisputeDone {
            dispute: d.id,
            entry: d.entry_seq,
            outcome: outcome.map(|o| o.as_str().to_owned()),
        },
    )
}

impl Services {
    /// The pupil disputes one line of their own access page; disputing it again is
    /// the same dispute. Any other entry is "not found", whoever's it is.
    pub async fn open_dispute(&self, pupil: Uuid, seq: i64) -> Result<Uuid> {
        if self.store.pupil_access_entry(pupil, seq).await?.is_none() {
            return Err(ServiceError::NotFound("entry"));
        }
        let open = self.store.disputes_of(pupil).await?;
        let already = open.iter().any(|d| d.entry_seq == seq);
        if !already && open.iter().filter(|d| d.closed_at.is_none()).count() >= MAX_OPEN {
            return Err(ServiceError::Conflict(
                "ten lines are being looked at already; wait for an answer".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let (id, new) = tx.open_dispute(pupil, seq, now).await?;
        if new {
            let d = Dispute {
                id,
                pupil,
                entry_seq: seq,
                opened_at: now,
                closed_at: None,
                outcome: None,
            };
            let record = Record::new(now, Actor::Pupil, Some(pupil), done("opened", &d, None));
            tx.chain(&[record.entry()]).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The pupil's own disputes, for their access page.
    pub async fn disputes_of(&self, pupil: Uuid) -> Result<Vec<Dispute>> {
        Ok(self
            .store
            .disputes_of(pupil)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Open disputes (oldest first) and those closed in the last 30 days, each with
    /// the entry it is about. Looking is recorded, as every look at the log is.
    pub async fn disputes_to_review(&self, by: &Actor) -> Result<Vec<(Dispute, Option<Entry>)>> {
        let rows = self
            .store
            .disputes_to_review(self.now() - CLOSED_SHOWN_MS)
            .await?;
        // One access entry per pupil shown, so a search for who looked at a pupil
        // finds this page too.
        let pupils: std::collections::BTreeSet<Uuid> = rows.iter().map(|r| r.pupil).collect();
        for pupil in pupils {
            self.record_access(by, Some(pupil), "disputes", String::new())
                .await?;
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let entry = self.store.pupil_access_entry(r.pupil, r.entry_seq).await?;
            out.push((Dispute::from(r), entry));
        }
        Ok(out)
    }

    /// The officer's answer; a dispute is closed once.
    pub async fn close_dispute(&self, by: &Actor, id: Uuid, outcome: DisputeOutcome) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let d: Dispute = tx
            .dispute(id)
            .await?
            .ok_or(ServiceError::NotFound("dispute"))?
            .into();
        if !tx.close_dispute(id, outcome.as_str(), now).await? {
            return Err(ServiceError::Conflict(
                "the dispute is closed already".into(),
            ));
        }
        let record = Record::new(
            now,
            by.clone(),
            Some(d.pupil),
            done("closed", &d, Some(outcome)),
        );
        tx.chain(&[record.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }
}
