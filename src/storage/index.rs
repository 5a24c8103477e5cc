//! One pupil's consents as the decision index keeps them: only the columns a
//! decision reads, in one statement (one snapshot) from the pupil's row, in the
//! order a pupil's own read gives them (newest consent first; grants as given).

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::consents::{deadlines, guardian_part, party};
use super::rows::{slug, uuid};
use super::{Result, Store, StoreError};
use crate::policy::index::{ConsentRecord, Entry, GrantRecord};

/// A pupil with their consents and grants: a pupil with no consent is one row of
/// NULL consent columns, an unknown pupil no row.
const PUPIL: &str = concat!(
    "SELECT p.id AS pupil, c.id, c.network_id, c.purpose, c.valid_from, \
     CASE WHEN d.deadline < c.expires_at THEN d.deadline ELSE c.expires_at END AS expires_at, \
     c.age_at_signing, c.ended_at, g.id AS grant_id, g.recipient_kind, g.org_id, g.role, \
     g.discloser_kind, g.discloser_org_id, g.discloser_role, g.category, g.age_at_grant, \
     g.legacy, g.withdrawn_at, gp.state AS guardian_state, gp.adult_at AS guardian_adult_at \
     FROM pupils p LEFT JOIN consents c ON c.pupil_id = p.id LEFT JOIN ",
    deadlines!(),
    " ON d.template_id = c.template_id \
     LEFT JOIN consent_grants g ON g.consent_id = c.id \
     LEFT JOIN guardian_parts gp ON gp.grant_id = g.id"
);

/// The order a pupil's own read gives: newest consent first, grants as given.
const ORDER: &str = " ORDER BY c.signed_at DESC, c.id, g.granted_at, g.id";

impl Store {
    /// The pupil's consents for a decision, in one statement; `None` if samtykke
    /// knows no such pupil.
    pub async fn index_entry(&self, pupil: Uuid) -> Result<Entry> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!("{PUPIL} WHERE p.id = $1{ORDER}"))
            .bind(pupil.to_string())
            .fetch_all(&mut *c)
            .await?;
        Ok(records(&rows)?.map(|(_, r)| r.into()))
    }

    /// The pupil with this keyed hash and their consents, in one statement
    /// whether or not samtykke knows the number.
    pub async fn index_by_lookup(&self, lookup: &[u8]) -> Result<Option<(Uuid, Entry)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!("{PUPIL} WHERE p.lookup_hash = $1{ORDER}"))
            .bind(lookup.to_vec())
            .fetch_all(&mut *c)
            .await?;
        Ok(records(&rows)?.map(|(pupil, r)| (pupil, Some(r.into()))))
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

/// The pupil and their consents from the rows of [`PUPIL`]; `None` for no row.
fn records(rows: &[AnyRow]) -> Result<Option<(Uuid, Vec<ConsentRecord>)>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let pupil = uuid(first, "pupil")?;
    let mut records: Vec<ConsentRecord> = Vec::new();
    for r in rows {
        let Some(id) = r.try_get::<Option<String>, _>("id")? else {
            continue; // a pupil with no consent
        };
        let id = Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("consent id".into()))?;
        if records.last().is_none_or(|c| c.consent_id != id) {
            records.push(consent(r, id)?);
        }
        if r.try_get::<Option<String>, _>("grant_id")?.is_some() {
            if let Some(last) = records.last_mut() {
                last.grants.push(grant(r)?);
            }
        }
    }
    let records = records.into_iter().map(ConsentRecord::share_keys).collect();
    Ok(Some((pupil, records)))
}

fn consent(r: &AnyRow, id: Uuid) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        consent_id: id,
        network_id: uuid(r, "network_id")?,
        purpose: slug(r, "purpose")?,
        valid_from: r.try_get("valid_from")?,
        expires_at: r.try_get("expires_at")?,
        ended_at: r.try_get("ended_at")?,
        age_at_signing: age(r, "age_at_signing")?,
        grants: Vec::new(),
    })
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
