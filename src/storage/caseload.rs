//! The NAV tutor's workspace: the networks a tutor works in, their caseload,
//! invitations, the scanned forms of paper consents and saved teams. Nicknames and
//! forms arrive sealed; this layer stores bytes.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::rows::uuid;
use super::{Result, Store, StoreError, WriteTx};

/// A pupil on a tutor's caseload.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub pupil_id: Uuid,
    pub tutor_hash: String,
    pub network_id: Uuid,
    pub nickname: Option<Vec<u8>>,
    pub wrapped_key: Option<Vec<u8>>,
    pub added_at: i64,
    pub seen_at: i64,
    pub ended_at: Option<i64>,
    pub refused_at: Option<i64>,
}

fn case(row: &AnyRow) -> Result<CaseRow> {
    Ok(CaseRow {
        pupil_id: uuid(row, "pupil_id")?,
        tutor_hash: row.try_get("tutor_hash")?,
        network_id: uuid(row, "network_id")?,
        nickname: row.try_get("nickname")?,
        wrapped_key: row.try_get("wrapped_key")?,
        added_at: row.try_get("added_at")?,
        seen_at: row.try_get("seen_at")?,
        ended_at: row.try_get("ended_at")?,
        refused_at: row.try_get("refused_at")?,
    })
}

const CASE: &str = "SELECT c.pupil_id, c.tutor_hash, c.network_id, c.nickname, p.wrapped_key, \
     c.added_at, c.seen_at, c.ended_at, c.refused_at FROM caseload c JOIN pupils p ON p.id = c.pupil_id";

/// An invitation as stored (its code only as a hash).
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub pupil_id: Uuid,
    pub tutor_hash: String,
    pub network_id: Uuid,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A paper consent's record of the form.
#[derive(Debug, Clone)]
pub struct PaperRow {
    pub consent_id: Uuid,
    pub pupil_id: Uuid,
    pub tutor_hash: String,
    pub network_id: Uuid,
    pub form: Option<Vec<u8>>,
    pub form_sha256: String,
    pub media_type: String,
    /// Sealed under the pupil's data key.
    pub witness: Option<Vec<u8>>,
    pub signed_on: String,
    pub confirmed_at: Option<i64>,
}

fn paper(row: &AnyRow) -> Result<PaperRow> {
    Ok(PaperRow {
        consent_id: uuid(row, "consent_id")?,
        pupil_id: uuid(row, "pupil_id")?,
        tutor_hash: row.try_get("tutor_hash")?,
        network_id: uuid(row, "network_id")?,
        form: row.try_get("form")?,
        form_sha256: row.try_get("form_sha256")?,
        media_type: row.try_get("media_type")?,
        witness: row.try_get("witness")?,
        signed_on: row.try_get("signed_on")?,
        confirmed_at: row.try_get("confirmed_at")?,
    })
}

const PAPER: &str = "SELECT consent_id, pupil_id, tutor_hash, network_id, form, form_sha256, \
     media_type, witness, signed_on, confirmed_at FROM paper_forms";

/// A saved team: who meets around one pupil.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: Uuid,
    pub name: String,
    /// JSON list of parties.
    pub members: String,
}

impl WriteTx<'_> {
    /// A tutor in a network, under the name pupils know them by (given again, the
    /// name changes).
    pub async fn add_tutor_network(
        &mut self,
        hash: &str,
        network: Uuid,
        name: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO tutor_networks (id, lookup_hash, network_id, display_name, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (lookup_hash, network_id) \
             DO UPDATE SET display_name = EXCLUDED.display_name",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(hash)
        .bind(network.to_string())
        .bind(name)
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The tutor behind a pupil's choice: (lookup hash, network).
    pub async fn tutor_by_id_in_tx(&mut self, id: Uuid) -> Result<Option<(String, Uuid)>> {
        let row = sqlx::query(
            "SELECT n.lookup_hash, n.network_id FROM tutor_networks n JOIN staff_roles r \
             ON r.lookup_hash = n.lookup_hash AND r.role = 'tutor' WHERE n.id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.conn())
        .await?;
        row.map(|r| Ok((r.try_get("lookup_hash")?, uuid(&r, "network_id")?)))
            .transpose()
    }

    /// Takes a role away; a tutor loses their networks with it.
    pub async fn revoke_role(&mut self, hash: &str, role: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM staff_roles WHERE lookup_hash = $1 AND role = $2")
            .bind(hash)
            .bind(role)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if role == "tutor" {
            sqlx::query("DELETE FROM tutor_networks WHERE lookup_hash = $1")
                .bind(hash)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Puts the pupil on the tutor's caseload (again, if it had ended).
    pub async fn add_case(
        &mut self,
        pupil: Uuid,
        tutor: &str,
        network: Uuid,
        nickname: Option<&[u8]>,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO caseload (pupil_id, tutor_hash, network_id, nickname, added_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (pupil_id, tutor_hash) DO UPDATE SET \
             network_id = EXCLUDED.network_id, nickname = COALESCE(EXCLUDED.nickname, caseload.nickname), \
             added_at = CASE WHEN caseload.ended_at IS NULL THEN caseload.added_at ELSE EXCLUDED.added_at END, \
             refused_at = CASE WHEN caseload.ended_at IS NULL THEN caseload.refused_at ELSE NULL END, \
             ended_at = NULL",
        )
        .bind(pupil.to_string())
        .bind(tutor)
        .bind(network.to_string())
        .bind(nickname.map(<[u8]>::to_vec))
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn case_in_tx(&mut self, pupil: Uuid, tutor: &str) -> Result<Option<CaseRow>> {
        let q = format!("{CASE} WHERE c.pupil_id = $1 AND c.tutor_hash = $2");
        sqlx::query(&q)
            .bind(pupil.to_string())
            .bind(tutor)
            .fetch_optional(self.conn())
            .await?
            .as_ref()
            .map(case)
            .transpose()
    }

    /// A pupil on any open caseload at `network`.
    pub async fn has_open_case_in_tx(&mut self, pupil: Uuid, network: Uuid) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT tutor_hash FROM caseload WHERE pupil_id = $1 AND network_id = $2 AND ended_at IS NULL LIMIT 1",
        )
        .bind(pupil.to_string())
        .bind(network.to_string())
        .fetch_optional(self.conn())
        .await?;
        Ok(found.is_some())
    }

    /// A new name for a pupil on an open case; false if the case has ended.
    pub async fn rename_case(&mut self, pupil: Uuid, tutor: &str, nickname: &[u8]) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE caseload SET nickname = $1 WHERE pupil_id = $2 AND tutor_hash = $3 AND ended_at IS NULL",
        )
        .bind(nickname.to_vec())
        .bind(pupil.to_string())
        .bind(tutor)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn end_case(&mut self, pupil: Uuid, tutor: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE caseload SET ended_at = $1 WHERE pupil_id = $2 AND tutor_hash = $3 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(pupil.to_string())
        .bind(tutor)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_invitation(
        &mut self,
        code_hash: &str,
        inv: &InvitationRow,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO invitations (code_hash, pupil_id, tutor_hash, network_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code_hash)
        .bind(inv.pupil_id.to_string())
        .bind(&inv.tutor_hash)
        .bind(inv.network_id.to_string())
        .bind(at)
        .bind(inv.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Ends the tutor's unused invitations for the pupil (a new one replaces them).
    pub async fn cancel_invitations(&mut self, pupil: Uuid, tutor: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE invitations SET expires_at = $1 WHERE pupil_id = $2 AND tutor_hash = $3 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(at)
        .bind(pupil.to_string())
        .bind(tutor)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses an invitation up: `None` unless it exists, is unused and unexpired
    /// (then it is used now, once, whoever races for it).
    pub async fn use_invitation(
        &mut self,
        code_hash: &str,
        at: i64,
    ) -> Result<Option<InvitationRow>> {
        let row = sqlx::query(
            "SELECT pupil_id, tutor_hash, network_id, expires_at, used_at FROM invitations WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let inv = InvitationRow {
            pupil_id: uuid(&row, "pupil_id")?,
            tutor_hash: row.try_get("tutor_hash")?,
            network_id: uuid(&row, "network_id")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        };
        let done = sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(at)
        .bind(code_hash)
        .execute(self.conn())
        .await?;
        Ok((done.rows_affected() == 1).then_some(inv))
    }

    pub async fn insert_paper(&mut self, p: &PaperRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO paper_forms (consent_id, pupil_id, tutor_hash, network_id, form, form_sha256, \
             media_type, witness, signed_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.consent_id.to_string())
        .bind(p.pupil_id.to_string())
        .bind(&p.tutor_hash)
        .bind(p.network_id.to_string())
        .bind(p.form.clone())
        .bind(&p.form_sha256)
        .bind(&p.media_type)
        .bind(p.witness.clone())
        .bind(&p.signed_on)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The pupil confirms a paper consent digitally; once.
    pub async fn confirm_paper(&mut self, consent: Uuid, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE paper_forms SET confirmed_at = $1 WHERE consent_id = $2 AND confirmed_at IS NULL",
        )
        .bind(at)
        .bind(consent.to_string())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Erasure: the nickname and the forms go with the key that sealed them.
    pub async fn shred_workspace(&mut self, pupil: Uuid) -> Result<()> {
        sqlx::query("UPDATE caseload SET nickname = NULL WHERE pupil_id = $1")
            .bind(pupil.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE paper_forms SET form = NULL, witness = NULL WHERE pupil_id = $1")
            .bind(pupil.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query("DELETE FROM teams WHERE pupil_id = $1")
            .bind(pupil.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query(
            "UPDATE invitations SET expires_at = 0 WHERE pupil_id = $1 AND used_at IS NULL",
        )
        .bind(pupil.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_team(
        &mut self,
        id: Uuid,
        tutor: &str,
        pupil: Uuid,
        name: &str,
        members: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO teams (id, tutor_hash, pupil_id, name, members, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(tutor)
        .bind(pupil.to_string())
        .bind(name)
        .bind(members)
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn mark_refused(&mut self, pupil: Uuid, tutor: &str, at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE caseload SET refused_at = $1 WHERE pupil_id = $2 AND tutor_hash = $3")
            .bind(at)
            .bind(pupil.to_string())
            .bind(tutor)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn mark_case_seen(&mut self, pupil: Uuid, tutor: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE caseload SET seen_at = $1 WHERE pupil_id = $2 AND tutor_hash = $3")
            .bind(at)
            .bind(pupil.to_string())
            .bind(tutor)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// The networks a tutor works in.
    pub async fn tutor_networks(&self, hash: &str) -> Result<Vec<Uuid>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT n.network_id FROM tutor_networks n JOIN staff_roles r \
             ON r.lookup_hash = n.lookup_hash AND r.role = 'tutor' WHERE n.lookup_hash = $1 ORDER BY n.created_at",
        )
        .bind(hash)
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(|r| uuid(r, "network_id")).collect()
    }

    /// A tutor's caseload, followed up now or not, newest first.
    pub async fn caseload(&self, tutor: &str) -> Result<Vec<CaseRow>> {
        let mut c = self.read().await?;
        let q = format!("{CASE} WHERE c.tutor_hash = $1 ORDER BY c.added_at DESC");
        let rows = sqlx::query(&q).bind(tutor).fetch_all(&mut *c).await?;
        rows.iter().map(case).collect()
    }

    /// The tutors a pupil of `network` can choose: (id, name).
    pub async fn tutors_of_network(&self, network: Uuid) -> Result<Vec<(Uuid, String)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT n.id, n.display_name FROM tutor_networks n JOIN staff_roles r \
             ON r.lookup_hash = n.lookup_hash AND r.role = 'tutor' WHERE n.network_id = $1 \
             ORDER BY n.display_name",
        )
        .bind(network.to_string())
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((uuid(r, "id")?, r.try_get("display_name")?)))
            .collect()
    }

    /// Every caseload row, for statistics.
    pub async fn all_cases(&self) -> Result<Vec<CaseRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(CASE).fetch_all(&mut *c).await?;
        rows.iter().map(case).collect()
    }

    /// Tutors and the networks they work in: (lookup hash, network).
    pub async fn tutors(&self) -> Result<Vec<(String, Uuid)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT n.lookup_hash, n.network_id FROM tutor_networks n JOIN staff_roles r \
             ON r.lookup_hash = n.lookup_hash AND r.role = 'tutor' ORDER BY n.created_at",
        )
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("lookup_hash")?, uuid(r, "network_id")?)))
            .collect()
    }

    /// Who follows the pupil up (any tutor), for the pupil's own pages.
    pub async fn cases_of_pupil(&self, pupil: Uuid) -> Result<Vec<CaseRow>> {
        let mut c = self.read().await?;
        let q = format!("{CASE} WHERE c.pupil_id = $1 ORDER BY c.added_at");
        let rows = sqlx::query(&q)
            .bind(pupil.to_string())
            .fetch_all(&mut *c)
            .await?;
        rows.iter().map(case).collect()
    }

    pub async fn papers_of_pupil(&self, pupil: Uuid) -> Result<Vec<PaperRow>> {
        let mut c = self.read().await?;
        let q = format!("{PAPER} WHERE pupil_id = $1");
        let rows = sqlx::query(&q)
            .bind(pupil.to_string())
            .fetch_all(&mut *c)
            .await?;
        rows.iter().map(paper).collect()
    }

    pub async fn teams(&self, tutor: &str, pupil: Uuid) -> Result<Vec<TeamRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, members FROM teams WHERE tutor_hash = $1 AND pupil_id = $2 ORDER BY created_at",
        )
        .bind(tutor)
        .bind(pupil.to_string())
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamRow {
                    id: uuid(r, "id")?,
                    name: r.try_get("name")?,
                    members: r.try_get("members")?,
                })
            })
            .collect()
    }
}
