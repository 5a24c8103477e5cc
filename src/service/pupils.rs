use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::audit::{Actor, Event, Record};
use crate::domain::consent::{ConsentEvent, ConsentState, EventKind};
use crate::domain::identity::IdentityNumber;
use crate::storage::WriteTx;

impl Services {
    /// The pupil's pseudonymous id, if this number was ever enrolled (and not erased).
    pub async fn find_pupil(&self, n: &IdentityNumber) -> Result<Option<Uuid>> {
        // One probe of the unique index on the keyed hash: the same work for a
        // known and an unknown pupil, and nothing to load or keep in step.
        Ok(self
            .store
            .pupil_id_by_lookup(&self.vault.lookup_hash(n))
            .await?)
    }

    /// Finds or creates the pupil inside a write transaction; `by` is who caused
    /// the enrolment (the pupil logging in, an operator registering a form).
    pub(super) async fn enrol_in_tx(
        &self,
        tx: &mut WriteTx<'_>,
        n: &IdentityNumber,
        by: &Actor,
    ) -> Result<Uuid> {
        let lookup = self.vault.lookup_hash(n);
        if let Some(p) = tx.pupil_by_lookup_in_tx(&lookup).await? {
            return Ok(p.id);
        }
        let id = Uuid::new_v4();
        let sealed = self.vault.seal(id, n)?;
        let now = self.now();
        tx.insert_pupil(id, &sealed, now).await?;
        let enrolled = Record::new(now, by.clone(), Some(id), Event::PupilEnrolled);
        tx.chain(&[enrolled.entry()]).await?;
        Ok(id)
    }

    pub async fn enrol_pupil(&self, n: &IdentityNumber, by: &Actor) -> Result<Uuid> {
        let mut tx = self.store.write().await?;
        let id = self.enrol_in_tx(&mut tx, n, by).await?;
        self.commit_and_forget(tx, Some(id)).await?;
        Ok(id)
    }

    /// Reads a pupil's number back (for the pupil's own pages only).
    pub async fn pupil_identity(&self, id: Uuid) -> Result<IdentityNumber> {
        let p = self.store.pupil(id).await.found("pupil")?;
        let sealed = p.sealed_identity.ok_or(ServiceError::Erased)?;
        Ok(self.vault.open(id, &sealed, p.wrapped_key.as_deref())?)
    }

    /// Erases a pupil by crypto-shredding: every consent in force ends, each with an
    /// `erased` event, and the data key and lookup hash are destroyed, in one
    /// transaction. The pseudonymous id and history stay, unlinkable to the person.
    pub async fn erase_pupil(&self, id: Uuid, actor: &Actor) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let consents = tx.consents_of_pupil_in_tx(id).await?;
        let mut ended = Vec::new();
        for c in consents {
            let open = !matches!(c.state(now), ConsentState::Ended);
            let removed: Vec<Uuid> = c.grants_live().map(|g| g.id).collect();
            ended.extend(super::consents::ended_of(&c, &removed));
            if !removed.is_empty() {
                tx.withdraw_grants(c.id, &removed, now).await?;
            }
            if open && c.ended_at.is_none() {
                tx.end_consent(c.id, now).await?;
            }
            let erased = ConsentEvent {
                id: Uuid::new_v4(),
                consent_id: c.id,
                kind: EventKind::Erased,
                at: now,
                actor: actor.to_string(),
                added: vec![],
                removed,
                evidence: None,
            };
            super::consents::append_event(&mut tx, id, &erased).await?;
        }
        tx.erase_pupil(id, now).await.found("pupil")?;
        // What the tutor kept about the pupil was sealed under the key just
        // destroyed; the ciphertext goes too.
        tx.shred_workspace(id).await?;
        tx.erase_guardians_of(id).await?;
        let erased = Record::new(now, actor.clone(), Some(id), Event::PupilErased);
        tx.chain(&[erased.entry()]).await?;
        self.committed(tx, id, &ended, "erased").await
    }
}
