//! The hash-chained audit log (see `crate::audit`): appends inside the writing
//! transaction, reads for verification and export, signed checkpoints.

use sqlx::Row as _;

use super::batch::{AnyQuery, BulkRow, Sql};
use super::{Result, Store, WriteTx};
use crate::audit::{self, Checkpoint, Entry, Row};
use crate::config::Backend;

/// An entry made ready to be appended by the request that records it: its
/// searchable columns (copied out of the entry) and its canonical body up to its
/// position (`audit::body_head`). The appending writer adds only the position and
/// the hash, so the work of many requests does not queue behind one writer.
#[derive(Debug, Clone)]
pub struct ReadyEntry {
    at: i64,
    kind: String,
    actor: String,
    pupil_id: Option<String>,
    org_id: Option<String>,
    category: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    head: String,
}

impl From<&Entry> for ReadyEntry {
    fn from(e: &Entry) -> Self {
        let text = |k: &str| e.detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let outcome = text("outcome").or_else(|| {
            e.detail
                .get("allowed")
                .and_then(serde_json::Value::as_bool)
                .map(|a| if a { "allowed" } else { "denied" }.to_owned())
        });
        Self {
            at: e.at,
            kind: e.kind.clone(),
            actor: e.actor.clone(),
            pupil_id: e.pupil.map(|p| p.to_string()),
            org_id: text("org"),
            category: text("category"),
            outcome,
            reason: text("reason"),
            head: audit::body_head(e),
        }
    }
}

/// An `audit_log` row: a ready entry at its position, with its body and hash.
struct LogRow<'a> {
    entry: &'a ReadyEntry,
    seq: i64,
    body: String,
    hash: String,
}

const LOG_COLUMNS: &[(&str, Sql)] = &[
    ("seq", Sql::BigInt),
    ("at", Sql::BigInt),
    ("kind", Sql::Text),
    ("actor", Sql::Text),
    ("pupil_id", Sql::Text),
    ("org_id", Sql::Text),
    ("category", Sql::Text),
    ("outcome", Sql::Text),
    ("reason", Sql::Text),
    ("body", Sql::Text),
    ("hash", Sql::Text),
];

impl BulkRow for LogRow<'_> {
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        let e = self.entry;
        q.bind(self.seq)
            .bind(e.at)
            .bind(e.kind.as_str())
            .bind(e.actor.as_str())
            .bind(e.pupil_id.as_deref())
            .bind(e.org_id.as_deref())
            .bind(e.category.as_deref())
            .bind(e.outcome.as_deref())
            .bind(e.reason.as_deref())
            .bind(self.body.as_str())
            .bind(self.hash.as_str())
    }
}

impl WriteTx<'_> {
    /// Appends `entries` after the current head, in this transaction: they become
    /// part of the chain exactly when (and only if) the rest of it commits. On
    /// PostgreSQL the head row is locked, so instances append one after another.
    pub async fn chain(&mut self, entries: &[Entry]) -> Result<()> {
        let ready: Vec<ReadyEntry> = entries.iter().map(ReadyEntry::from).collect();
        self.chain_ready(&ready.iter().collect::<Vec<_>>()).await
    }

    /// `chain` for entries made ready beforehand.
    pub async fn chain_ready(&mut self, entries: &[&ReadyEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let (mut seq, mut prev): (i64, String) = sqlx::query_as(&format!(
            "SELECT seq, hash FROM audit_head WHERE id = 1{lock}"
        ))
        .fetch_one(self.conn())
        .await?;
        let mut rows = Vec::with_capacity(entries.len());
        for &entry in entries {
            seq += 1;
            let body = audit::body_at(&entry.head, seq);
            let hash = audit::link(&prev, &body);
            prev = hash.clone();
            rows.push(LogRow {
                entry,
                seq,
                body,
                hash,
            });
        }
        self.insert_rows("audit_log", LOG_COLUMNS, &rows, "")
            .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(prev)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

/// A page of the chain packed into one string (`Store::chain_packed`). Both
/// backends read the limited subquery in its order (an ORDER BY in the aggregate
/// would sort it again); were it ever otherwise, verification would report a
/// break, never a false pass. Lengths are in the bytes the text arrives in
/// (UTF-8): PostgreSQL's `octet_length` counts in the server's encoding, which
/// may be another; SQLite keeps the UTF-8 its databases are created in.
macro_rules! packed {
    ($agg:literal, $hash_len:literal, $body_len:literal) => {
        concat!(
            "SELECT ",
            $agg,
            "(CAST(seq AS TEXT) || ' ' || CAST(",
            $hash_len,
            " AS TEXT) || ' ' || CAST(",
            $body_len,
            " AS TEXT) || ' ' || hash || body, '') \
             FROM (SELECT seq, body, hash FROM audit_log WHERE seq > $1 AND seq <= $2 \
             ORDER BY seq LIMIT $3) t"
        )
    };
}
const PACKED_SQLITE: &str = packed!("group_concat", "octet_length(hash)", "octet_length(body)");
const PACKED_POSTGRES: &str = packed!(
    "string_agg",
    "octet_length(convert_to(hash, 'UTF8'))",
    "octet_length(convert_to(body, 'UTF8'))"
);

impl Store {
    /// Appends entries in a transaction of their own.
    pub async fn append_chain(&self, entries: &[&ReadyEntry]) -> Result<()> {
        let mut tx = self.write().await?;
        tx.chain_ready(entries).await?;
        tx.commit().await
    }

    /// Up to `limit` entries after position `after`, in order.
    pub async fn chain_rows(&self, after: i64, limit: i64) -> Result<Vec<Row>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT seq, body, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Row {
                    seq: r.try_get("seq")?,
                    body: r.try_get("body")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The entries at positions after `after`, up to `after + limit`, packed by
    /// the database into one string in order (`audit::Packed` reads it; empty
    /// when there are none). One row a page: SQLite hands each row over from a
    /// thread of its own, and on both the per-row conversion cost more than
    /// hashing the entry.
    pub async fn chain_packed(&self, after: i64, limit: i64) -> Result<String> {
        let sql = match self.backend {
            Backend::Sqlite => PACKED_SQLITE,
            Backend::Postgres => PACKED_POSTGRES,
        };
        let mut c = self.read().await?;
        let packed: Option<String> = sqlx::query_scalar(sql)
            .bind(after)
            .bind(after.saturating_add(limit))
            .bind(limit)
            .fetch_one(&mut *c)
            .await?;
        Ok(packed.unwrap_or_default())
    }

    /// The positions of the first and last entries stored ((1, 0) when none is),
    /// and how many entries are stored (an entry without a position counts here
    /// but has none).
    pub async fn chain_bounds(&self) -> Result<(i64, i64, i64)> {
        let mut c = self.read().await?;
        let (first, last, count): (Option<i64>, Option<i64>, i64) =
            sqlx::query_as("SELECT MIN(seq), MAX(seq), COUNT(*) FROM audit_log")
                .fetch_one(&mut *c)
                .await?;
        Ok((first.unwrap_or(1), last.unwrap_or(0), count))
    }

    /// The recorded end of the chain: its size and head hash.
    pub async fn chain_head(&self) -> Result<(i64, String)> {
        let mut c = self.read().await?;
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *c)
                .await?,
        )
    }

    /// The hash of entry `seq` (0: the genesis hash).
    pub async fn chain_hash_at(&self, seq: i64) -> Result<Option<String>> {
        if seq == 0 {
            return Ok(Some(audit::GENESIS.to_owned()));
        }
        let mut c = self.read().await?;
        Ok(
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&mut *c)
                .await?,
        )
    }

    /// A pupil's requests and data holders' checks, newest first: decisions (but
    /// not the re-decisions an introspection made) and introspections.
    /// Whether `actor` wrote anything to the chain (a tutor whose role is gone is
    /// still searchable).
    pub async fn actor_seen(&self, actor: &str) -> Result<bool> {
        let mut c = self.read().await?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM audit_log WHERE actor = $1 LIMIT 1")
                .bind(actor)
                .fetch_optional(&mut *c)
                .await?;
        Ok(found.is_some())
    }

    /// The entries of a pupil's access page, newest first, with their positions.
    pub async fn pupil_access_entries(
        &self,
        pupil: uuid::Uuid,
        limit: i64,
    ) -> Result<Vec<(i64, Entry)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT seq, body FROM audit_log WHERE pupil_id = $1 AND {ON_ACCESS_PAGE} \
             ORDER BY seq DESC LIMIT $2"
        ))
        .bind(pupil.to_string())
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                Ok((r.try_get("seq")?, entries(&[body])?.remove(0)))
            })
            .collect()
    }

    /// One entry of the pupil's access page, if `seq` is one.
    pub async fn pupil_access_entry(&self, pupil: uuid::Uuid, seq: i64) -> Result<Option<Entry>> {
        let mut c = self.read().await?;
        let body: Option<String> = sqlx::query_scalar(&format!(
            "SELECT body FROM audit_log WHERE seq = $1 AND pupil_id = $2 AND {ON_ACCESS_PAGE}"
        ))
        .bind(seq)
        .bind(pupil.to_string())
        .fetch_optional(&mut *c)
        .await?;
        Ok(body
            .map(|b| entries(&[b]))
            .transpose()?
            .map(|mut e| e.remove(0)))
    }

    pub async fn insert_checkpoint(&self, cp: &Checkpoint, jws: &str) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query("INSERT INTO audit_checkpoints (size, head, at, jws) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(cp.size)
            .bind(cp.head.clone())
            .bind(cp.at)
            .bind(jws)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Every checkpoint with its JWS, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<(Checkpoint, String)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT size, head, at, jws FROM audit_checkpoints ORDER BY size")
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Checkpoint {
                        size: r.try_get("size")?,
                        head: r.try_get("head")?,
                        at: r.try_get("at")?,
                    },
                    r.try_get("jws")?,
                ))
            })
            .collect()
    }
}

/// Stored bodies read back as entries.
/// What a pupil's access page shows: requests and checks by others, and what the
/// tutor told or was told; not the pupil's own changes.
const ON_ACCESS_PAGE: &str = "((kind = 'decision' AND actor NOT LIKE 'introspection:%') \
     OR kind = 'introspection' OR kind = 'disclosure')";

pub(super) fn entries(bodies: &[String]) -> Result<Vec<Entry>> {
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str(b).map_err(|_| super::StoreError::Corrupt("audit_log.body".into()))
        })
        .collect()
}
