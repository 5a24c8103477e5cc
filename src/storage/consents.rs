//! Consents, their grants and their append-only history.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::rows::{json, slug, to_json, uuid};
use super::{Result, Store, StoreError, WriteTx};
use crate::domain::consent::{Consent, ConsentEvent, EventKind, Evidence, Grant, Party};
use crate::domain::guardian::{Cosign, GuardianPart};
use crate::domain::org::Municipality;
use crate::domain::Slug;

const COLS: &str = "id, pupil_id, network_id, template_id, template_hash, purpose, valid_from, expires_at, signed_at, acr, amr, session_ref, age_at_signing, ended_at, home_municipality";

const GRANT_COLS: &str = "id, recipient_kind, org_id, role, discloser_kind, discloser_org_id, discloser_role, category, legal_basis, basis, age_at_grant, legacy, granted_at, withdrawn_at";

/// A consent as read (`FROM`). Its end is the earlier of its own expiry and the day a later
/// version of its agreement, once published, ends consents on earlier ones
/// (`reconsent_days`), so every page, decision and job sees the same end.
const READ: &str =
    "c.id, c.pupil_id, c.network_id, c.template_id, c.template_hash, c.purpose, c.valid_from, \
    CASE WHEN d.deadline < c.expires_at THEN d.deadline ELSE c.expires_at END AS expires_at, \
    c.signed_at, c.acr, c.amr, c.session_ref, c.age_at_signing, c.ended_at, c.home_municipality";

/// Each agreement version's re-consent deadline, if a later version set one.
macro_rules! deadlines {
    () => {
        "(SELECT o.id AS template_id, \
         MIN(n.published_at + n.reconsent_days * 86400000) AS deadline FROM templates o \
         JOIN templates n ON n.key = o.key AND n.version > o.version \
         WHERE n.status = 'published' AND n.reconsent_days IS NOT NULL GROUP BY o.id) d"
    };
}
pub(super) use deadlines;

/// Consents with the re-consent deadline of their agreement version, worked out
/// once per query over the (few) templates, not once per consent.
pub(super) const FROM: &str = concat!(
    "consents c LEFT JOIN ",
    deadlines!(),
    " ON d.template_id = c.template_id"
);

/// A grant as read: its columns and its guardian's side, if it has one.
const GRANT_READ: &str = "g.id, g.recipient_kind, g.org_id, g.role, g.discloser_kind, g.discloser_org_id, g.discloser_role, g.category, g.legal_basis, g.basis, g.age_at_grant, g.legacy, g.granted_at, g.withdrawn_at, p.state AS guardian_state, p.adult_at AS guardian_adult_at";

/// Which consents an admin listing shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct ConsentFilter {
    pub pupil_id: Option<Uuid>,
    pub network_id: Option<Uuid>,
    pub limit: i64,
    pub offset: i64,
}

/// A party from its three columns (`kind`, organisation, role).
pub(super) fn party(row: &AnyRow, kind: &str, org: &str, role: &str) -> Result<Party> {
    let k: String = row.try_get(kind)?;
    match k.as_str() {
        "tutor" => Ok(Party::Tutor),
        "org" => Ok(Party::Org {
            org_id: uuid(row, org)?,
            role: row
                .try_get::<Option<String>, _>(role)?
                .map(|r| {
                    Slug::parse(&r).map_err(|_| StoreError::Corrupt(format!("{role} is not a key")))
                })
                .transpose()?,
        }),
        _ => Err(StoreError::Corrupt(format!("{kind} {k}"))),
    }
}

/// The three columns of a party.
fn party_cols(p: &Party) -> (&'static str, Option<String>, Option<String>) {
    match p {
        Party::Tutor => ("tutor", None, None),
        Party::Org { org_id, role } => (
            "org",
            Some(org_id.to_string()),
            role.as_ref().map(|r| r.as_str().to_owned()),
        ),
    }
}

fn grant_from(row: &AnyRow) -> Result<Grant> {
    Ok(Grant {
        id: uuid(row, "id")?,
        discloser: party(row, "discloser_kind", "discloser_org_id", "discloser_role")?,
        recipient: party(row, "recipient_kind", "org_id", "role")?,
        category: slug(row, "category")?,
        legal_basis: row.try_get("legal_basis")?,
        basis: row
            .try_get::<Option<String>, _>("basis")?
            .map(|b| {
                serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(format!("basis: {e}")))
            })
            .transpose()?,
        age_at_grant: u8::try_from(row.try_get::<i64, _>("age_at_grant")?)
            .map_err(|_| StoreError::Corrupt("age_at_grant".into()))?,
        legacy: row.try_get::<i64, _>("legacy")? != 0,
        granted_at: row.try_get("granted_at")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
        guardian: guardian_part(row)?,
    })
}

/// A grant's guardian side from the joined `guardian_state`/`guardian_adult_at`.
pub(super) fn guardian_part(row: &AnyRow) -> Result<Option<GuardianPart>> {
    match row.try_get::<Option<String>, _>("guardian_state")? {
        None => Ok(None),
        Some(s) => Ok(Some(GuardianPart {
            state: Cosign::parse(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("guardian state {s}")))?,
            adult_at: row.try_get("guardian_adult_at")?,
        })),
    }
}

fn consent_from(row: &AnyRow, grants: Vec<Grant>) -> Result<Consent> {
    Ok(Consent {
        id: uuid(row, "id")?,
        pupil_id: uuid(row, "pupil_id")?,
        network_id: uuid(row, "network_id")?,
        template_id: uuid(row, "template_id")?,
        template_hash: row.try_get("template_hash")?,
        purpose: slug(row, "purpose")?,
        valid_from: row.try_get("valid_from")?,
        expires_at: row.try_get("expires_at")?,
        signed_at: row.try_get("signed_at")?,
        evidence: Evidence {
            acr: row.try_get("acr")?,
            amr: json(row, "amr")?,
            session_ref: row.try_get("session_ref")?,
        },
        age_at_signing: u8::try_from(row.try_get::<i64, _>("age_at_signing")?)
            .map_err(|_| StoreError::Corrupt("age_at_signing".into()))?,
        home_municipality: row
            .try_get::<Option<String>, _>("home_municipality")?
            .map(|m| {
                Municipality::parse(&m).map_err(|_| StoreError::Corrupt("home_municipality".into()))
            })
            .transpose()?,
        ended_at: row.try_get("ended_at")?,
        grants,
    })
}

async fn load(c: &mut AnyConnection, row: &AnyRow) -> Result<Consent> {
    let id: String = row.try_get("id")?;
    let grants = sqlx::query(&format!(
        "SELECT {GRANT_READ} FROM consent_grants g LEFT JOIN guardian_parts p ON p.grant_id = g.id \
         WHERE g.consent_id = $1 ORDER BY g.granted_at, g.id"
    ))
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(grant_from)
    .collect::<Result<Vec<_>>>()?;
    consent_from(row, grants)
}

async fn by_id(c: &mut AnyConnection, id: Uuid) -> Result<Consent> {
    let q = format!("SELECT {READ} FROM {FROM} WHERE c.id = $1");
    let row = sqlx::query(&q)
        .bind(id.to_string())
        .fetch_one(&mut *c)
        .await?;
    load(c, &row).await
}

async fn of_pupil(c: &mut AnyConnection, pupil: Uuid) -> Result<Vec<Consent>> {
    let q =
        format!("SELECT {READ} FROM {FROM} WHERE c.pupil_id = $1 ORDER BY c.signed_at DESC, c.id");
    let rows = sqlx::query(&q)
        .bind(pupil.to_string())
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(load(c, row).await?);
    }
    Ok(out)
}

impl WriteTx<'_> {
    pub async fn insert_consent(&mut self, c: &Consent) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO consents ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(c.id.to_string())
        .bind(c.pupil_id.to_string())
        .bind(c.network_id.to_string())
        .bind(c.template_id.to_string())
        .bind(&c.template_hash)
        .bind(c.purpose.as_str())
        .bind(c.valid_from)
        .bind(c.expires_at)
        .bind(c.signed_at)
        .bind(&c.evidence.acr)
        .bind(to_json(&c.evidence.amr)?)
        .bind(&c.evidence.session_ref)
        .bind(i64::from(c.age_at_signing))
        .bind(c.ended_at)
        .bind(c.home_municipality.as_ref().map(|m| m.as_str().to_owned()))
        .execute(self.conn())
        .await?;
        for g in &c.grants {
            self.insert_grant(c.id, g).await?;
        }
        Ok(())
    }

    pub async fn insert_grant(&mut self, consent: Uuid, g: &Grant) -> Result<()> {
        let (to_kind, to_org, to_role) = party_cols(&g.recipient);
        let (from_kind, from_org, from_role) = party_cols(&g.discloser);
        sqlx::query(&format!(
            "INSERT INTO consent_grants (consent_id, {GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(consent.to_string())
        .bind(g.id.to_string())
        .bind(to_kind)
        .bind(to_org)
        .bind(to_role)
        .bind(from_kind)
        .bind(from_org)
        .bind(from_role)
        .bind(g.category.as_str())
        .bind(&g.legal_basis)
        .bind(g.basis.as_ref().map(to_json).transpose()?)
        .bind(i64::from(g.age_at_grant))
        .bind(i64::from(g.legacy))
        .bind(g.granted_at)
        .bind(g.withdrawn_at)
        .execute(self.conn())
        .await?;
        if let Some(part) = g.guardian {
            sqlx::query(
                "INSERT INTO guardian_parts (grant_id, state, adult_at, changed_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(g.id.to_string())
            .bind(part.state.as_str())
            .bind(part.adult_at)
            .bind(g.granted_at)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    pub async fn withdraw_grants(&mut self, consent: Uuid, ids: &[Uuid], at: i64) -> Result<()> {
        for id in ids {
            let done = sqlx::query("UPDATE consent_grants SET withdrawn_at = $1 WHERE id = $2 AND consent_id = $3 AND withdrawn_at IS NULL")
                .bind(at)
                .bind(id.to_string())
                .bind(consent.to_string())
                .execute(self.conn())
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("grant already withdrawn".into()));
            }
        }
        Ok(())
    }

    /// Raises a legacy grant's age to the pupil's age when it was given (the only
    /// change to a grant besides its withdrawal; the trigger allows no other).
    pub async fn raise_legacy_age(&mut self, id: Uuid, age: u8) -> Result<()> {
        sqlx::query(
            "UPDATE consent_grants SET age_at_grant = $1 WHERE id = $2 AND legacy = 1 AND age_at_grant < $1",
        )
        .bind(i64::from(age))
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn end_consent(&mut self, id: Uuid, at: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE consents SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(at)
                .bind(id.to_string())
                .execute(self.conn())
                .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict("consent already ended".into()));
        }
        Ok(())
    }

    pub async fn append_event(&mut self, e: &ConsentEvent) -> Result<()> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM consent_events WHERE consent_id = $1")
                .bind(e.consent_id.to_string())
                .fetch_one(self.conn())
                .await?;
        sqlx::query("INSERT INTO consent_events (id, consent_id, seq, kind, actor, at, added, removed, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(e.id.to_string())
            .bind(e.consent_id.to_string())
            .bind(seq.unwrap_or(0) + 1)
            .bind(e.kind.as_str())
            .bind(&e.actor)
            .bind(e.at)
            .bind(to_json(&e.added)?)
            .bind(to_json(&e.removed)?)
            .bind(e.evidence.as_ref().map(to_json).transpose()?)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Locks the consent row until the transaction ends (PostgreSQL; on SQLite the
    /// one writer already keeps writes apart).
    pub async fn lock_consent(&mut self, id: Uuid) -> Result<()> {
        if self.backend == crate::config::Backend::Postgres {
            sqlx::query("SELECT id FROM consents WHERE id = $1 FOR UPDATE")
                .bind(id.to_string())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Records that the consent's expiry is being recorded, if no one did: a
    /// compare-and-set, so of two instances only one records it (on PostgreSQL the
    /// second waits for the first's row lock, then finds it set).
    pub async fn claim_expiry_in_tx(&mut self, id: Uuid, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE consents SET expiry_recorded = $1 \
             WHERE id = $2 AND expiry_recorded IS NULL AND ended_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM consent_events WHERE consent_id = $2 AND kind = 'expired')",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn consent_in_tx(&mut self, id: Uuid) -> Result<Consent> {
        by_id(self.conn(), id).await
    }

    pub async fn consents_of_pupil_in_tx(&mut self, pupil: Uuid) -> Result<Vec<Consent>> {
        of_pupil(self.conn(), pupil).await
    }
}

impl Store {
    /// Grants from before disclosures were modelled that were added to a consent
    /// after it was signed and are in force: (grant, pupil, granted at, age stored).
    pub async fn legacy_grants_added_later(&self) -> Result<Vec<(Uuid, Uuid, i64, u8)>> {
        let mut c = self.read().await?;
        sqlx::query(
            "SELECT g.id, c.pupil_id, g.granted_at, g.age_at_grant FROM consent_grants g \
             JOIN consents c ON c.id = g.consent_id \
             WHERE g.legacy = 1 AND g.granted_at > c.signed_at AND g.withdrawn_at IS NULL",
        )
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| {
            Ok((
                uuid(r, "id")?,
                uuid(r, "pupil_id")?,
                r.try_get("granted_at")?,
                u8::try_from(r.try_get::<i64, _>("age_at_grant")?)
                    .map_err(|_| StoreError::Corrupt("age_at_grant".into()))?,
            ))
        })
        .collect()
    }

    /// Consents whose end has come and is not yet recorded, at most `limit`: by
    /// their own expiry, or by the re-consent deadline of a later version of their
    /// agreement. Both queries read partial indexes that hold only consents still
    /// waiting to be recorded (migration 0015), so the cost is the due work.
    pub async fn consents_due_to_expire(&self, now: i64, limit: i64) -> Result<Vec<Uuid>> {
        let mut c = self.read().await?;
        let open = "ended_at IS NULL AND expiry_recorded IS NULL";
        let mut ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM consents WHERE {open} AND expires_at <= $1 LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        let left = limit - i64::try_from(ids.len()).unwrap_or(limit);
        if left > 0 {
            ids.extend(
                sqlx::query_scalar::<_, String>(&format!(
                    "SELECT id FROM consents WHERE {open} AND expires_at > $1 AND template_id IN (\
                     SELECT o.id FROM templates o JOIN templates n ON n.key = o.key AND n.version > o.version \
                     WHERE n.status = 'published' AND n.reconsent_days IS NOT NULL \
                     AND n.published_at + n.reconsent_days * 86400000 <= $1) LIMIT $2"
                ))
                .bind(now)
                .bind(left)
                .fetch_all(&mut *c)
                .await?,
            );
        }
        ids.iter()
            .map(|s| Uuid::parse_str(s).map_err(|_| StoreError::Corrupt("consent id".into())))
            .collect()
    }

    /// Every consent with its grants in two queries (for loading the decision index).
    pub async fn consents_batch(&self) -> Result<Vec<Consent>> {
        let mut c = self.read().await?;
        let grants = sqlx::query(&format!(
            "SELECT g.consent_id, {GRANT_READ} FROM consent_grants g \
             LEFT JOIN guardian_parts p ON p.grant_id = g.id ORDER BY g.granted_at, g.id"
        ))
        .fetch_all(&mut *c)
        .await?;
        let mut by_consent: std::collections::HashMap<Uuid, Vec<Grant>> =
            std::collections::HashMap::new();
        for g in &grants {
            by_consent
                .entry(uuid(g, "consent_id")?)
                .or_default()
                .push(grant_from(g)?);
        }
        let rows = sqlx::query(&format!("SELECT {READ} FROM {FROM}"))
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                let id = uuid(r, "id")?;
                consent_from(r, by_consent.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    pub async fn consent(&self, id: Uuid) -> Result<Consent> {
        let mut c = self.read().await?;
        by_id(&mut c, id).await
    }

    pub async fn consents_of_pupil(&self, pupil: Uuid) -> Result<Vec<Consent>> {
        let mut c = self.read().await?;
        of_pupil(&mut c, pupil).await
    }

    pub async fn consents(&self, f: &ConsentFilter) -> Result<Vec<Consent>> {
        let mut c = self.read().await?;
        // Absent filters bind NULL and match everything, so one statement serves all.
        let q = format!(
            "SELECT {READ} FROM {FROM} WHERE ($1 IS NULL OR c.pupil_id = $1) AND ($2 IS NULL OR c.network_id = $2) \
             ORDER BY c.signed_at DESC, c.id LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&q)
            .bind(f.pupil_id.map(|u| u.to_string()))
            .bind(f.network_id.map(|u| u.to_string()))
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&mut *c)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(load(&mut c, row).await?);
        }
        Ok(out)
    }

    pub async fn consent_events(&self, consent: Uuid) -> Result<Vec<ConsentEvent>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT id, consent_id, kind, actor, at, added, removed, evidence FROM consent_events WHERE consent_id = $1 ORDER BY seq")
            .bind(consent.to_string())
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(ConsentEvent {
                    id: uuid(r, "id")?,
                    consent_id: uuid(r, "consent_id")?,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                    added: json(r, "added")?,
                    removed: json(r, "removed")?,
                    evidence: r
                        .try_get::<Option<String>, _>("evidence")?
                        .map(|e| {
                            serde_json::from_str(&e).map_err(|e| StoreError::Corrupt(e.to_string()))
                        })
                        .transpose()?,
                })
            })
            .collect()
    }
}
