//! The decision index as it is loaded at start: every consent with only what a
//! decision reads, streamed row by row, so loading never holds every row, nor
//! every consent's evidence and legal texts, in memory at once.

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;
use uuid::Uuid;

use super::consents::{guardian_part, party, FROM};
use super::rows::{slug, uuid};
use super::{Result, Store, StoreError};
use crate::policy::index::{ConsentRecord, GrantRecord};

impl Store {
    /// Every pupil's consents as the index keeps them.
    pub async fn index_records(&self) -> Result<HashMap<Uuid, Vec<ConsentRecord>>> {
        use sqlx::Connection;
        let mut conn = self.read().await?;
        // Both reads in one snapshot, so a consent committed between them cannot
        // leave grants without their consent (SQLite: a deferred transaction's
        // snapshot holds until it ends).
        let mut c = conn.begin().await?;
        if self.backend() == crate::config::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *c)
                .await?;
        }
        let mut consents: HashMap<Uuid, (Uuid, ConsentRecord)> = HashMap::new();
        // Each consent's grants with the order a pupil's own read gives them
        // (`consents::load`: granted_at, id), sorted per consent here: sorting every
        // grant in the database was most of the load's time.
        let mut grants: HashMap<Uuid, Vec<(i64, String, GrantRecord)>> = HashMap::new();
        {
            // The end as every read sees it: a later version's re-consent deadline counts.
            let q = format!(
                "SELECT c.id, c.pupil_id, c.network_id, c.purpose, c.valid_from, \
                 CASE WHEN d.deadline < c.expires_at THEN d.deadline ELSE c.expires_at END AS expires_at, \
                 c.age_at_signing, c.ended_at FROM {FROM}"
            );
            let mut rows = sqlx::query(&q).fetch(&mut *c);
            while let Some(r) = rows.try_next().await? {
                let record = ConsentRecord {
                    consent_id: uuid(&r, "id")?,
                    network_id: uuid(&r, "network_id")?,
                    purpose: slug(&r, "purpose")?,
                    valid_from: r.try_get("valid_from")?,
                    expires_at: r.try_get("expires_at")?,
                    ended_at: r.try_get("ended_at")?,
                    age_at_signing: age(&r, "age_at_signing")?,
                    grants: Vec::new(),
                };
                consents.insert(record.consent_id, (uuid(&r, "pupil_id")?, record));
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT g.consent_id, g.id, g.granted_at, g.recipient_kind, g.org_id, g.role, g.discloser_kind, \
                 g.discloser_org_id, g.discloser_role, g.category, g.age_at_grant, g.legacy, \
                 g.withdrawn_at, p.state AS guardian_state, p.adult_at AS guardian_adult_at \
                 FROM consent_grants g LEFT JOIN guardian_parts p ON p.grant_id = g.id",
            )
            .fetch(&mut *c);
            while let Some(r) = rows.try_next().await? {
                grants.entry(uuid(&r, "consent_id")?).or_default().push((
                    r.try_get("granted_at")?,
                    r.try_get("id")?,
                    grant(&r)?,
                ));
            }
        }
        c.commit().await?;
        let mut by_pupil: HashMap<Uuid, Vec<ConsentRecord>> = HashMap::new();
        for (id, mut of_consent) in grants {
            let Some((_, consent)) = consents.get_mut(&id) else {
                return Err(StoreError::Corrupt("a grant without its consent".into()));
            };
            of_consent.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            consent.grants = of_consent.into_iter().map(|(_, _, g)| g).collect();
        }
        for (_, (pupil, record)) in consents {
            by_pupil.entry(pupil).or_default().push(record);
        }
        Ok(by_pupil)
    }

    /// Every lookup hash with its pupil, streamed.
    pub async fn lookups(&self) -> Result<Vec<(Vec<u8>, Uuid)>> {
        let mut c = self.read().await?;
        let mut out = Vec::new();
        let mut rows =
            sqlx::query("SELECT id, lookup_hash FROM pupils WHERE lookup_hash IS NOT NULL")
                .fetch(&mut *c);
        while let Some(r) = rows.try_next().await? {
            out.push((r.try_get("lookup_hash")?, uuid(&r, "id")?));
        }
        Ok(out)
    }
}

fn age(r: &AnyRow, col: &str) -> Result<u8> {
    u8::try_from(r.try_get::<i64, _>(col)?).map_err(|_| StoreError::Corrupt(col.into()))
}

fn grant(r: &AnyRow) -> Result<GrantRecord> {
    Ok(GrantRecord {
        discloser: party(r, "discloser_kind", "discloser_org_id", "discloser_role")?,
        recipient: party(r, "recipient_kind", "org_id", "role")?,
        category: slug(r, "category")?,
        withdrawn_at: r.try_get("withdrawn_at")?,
        age_at_grant: age(r, "age_at_grant")?,
        legacy: r.try_get::<i64, _>("legacy")? != 0,
        guardian: guardian_part(r)?,
    })
}
