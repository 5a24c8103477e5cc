//! Searching the audit log for the compliance console.

use sqlx::Row as _;
use uuid::Uuid;

use super::{Result, Store, StoreError};
use crate::audit::Entry;

/// What to look for; every field narrows the search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub pupil: Option<Uuid>,
    pub org: Option<Uuid>,
    /// `client:<id>`.
    pub actor: Option<String>,
    pub category: Option<String>,
    pub outcome: Option<String>,
    pub kind: Option<String>,
    /// Milliseconds, inclusive.
    pub from: Option<i64>,
    /// Milliseconds, exclusive.
    pub to: Option<i64>,
}

/// One entry with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub seq: i64,
    pub entry: Entry,
}

impl LogFilter {
    /// `WHERE …` with `$n` placeholders, and the values in order.
    fn clause(&self) -> (String, Vec<String>, Vec<i64>) {
        let mut parts = Vec::new();
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        let mut text = |col: &str, v: &Option<String>, parts: &mut Vec<String>| {
            if let Some(v) = v {
                texts.push(v.clone());
                parts.push(format!("{col} = ${}", texts.len()));
            }
        };
        text("pupil_id", &self.pupil.map(|p| p.to_string()), &mut parts);
        text("org_id", &self.org.map(|o| o.to_string()), &mut parts);
        text("actor", &self.actor, &mut parts);
        text("category", &self.category, &mut parts);
        text("outcome", &self.outcome, &mut parts);
        // `admin.*` stands for every kind of operator change.
        match self.kind.as_deref().and_then(|k| k.strip_suffix(".*")) {
            Some(prefix) => {
                texts.push(format!("{prefix}.%"));
                parts.push(format!("kind LIKE ${}", texts.len()));
            }
            None => text("kind", &self.kind, &mut parts),
        }
        let offset = texts.len();
        if let Some(f) = self.from {
            numbers.push(f);
            parts.push(format!("at >= ${}", offset + numbers.len()));
        }
        if let Some(t) = self.to {
            numbers.push(t);
            parts.push(format!("at < ${}", offset + numbers.len()));
        }
        let clause = if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        };
        (clause, texts, numbers)
    }
}

/// `sql` with a filter's values bound to its first placeholders, in `clause` order.
fn bound<'q>(sql: &'q str, texts: &[String], numbers: &[i64]) -> super::batch::AnyQuery<'q> {
    let mut q = sqlx::query(sql);
    for t in texts {
        q = q.bind(t.clone());
    }
    for x in numbers {
        q = q.bind(*x);
    }
    q
}

fn found(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Found>> {
    rows.iter()
        .map(|r| {
            let body: String = r.try_get("body")?;
            Ok(Found {
                seq: r.try_get("seq")?,
                entry: serde_json::from_str(&body)
                    .map_err(|_| StoreError::Corrupt("audit_log.body".into()))?,
            })
        })
        .collect()
}

impl Store {
    /// Entries matching `f`, newest first, and how many match in all.
    pub async fn search_log(
        &self,
        f: &LogFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Found>, i64)> {
        let (clause, texts, numbers) = f.clause();
        let n = texts.len() + numbers.len();
        let mut c = self.read().await?;
        let count_sql = format!("SELECT COUNT(*) FROM audit_log{clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for t in &texts {
            count = count.bind(t.clone());
        }
        for x in &numbers {
            count = count.bind(*x);
        }
        let total = count.fetch_one(&mut *c).await?;
        let sql = format!(
            "SELECT seq, body FROM audit_log{clause} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bound(&sql, &texts, &numbers)
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *c)
            .await?;
        Ok((found(&rows)?, total))
    }

    /// Up to `limit` entries matching `f` older than `before` (a `seq`), newest
    /// first: an export reads page after page by position, never by offset, so
    /// entries appended meanwhile neither shift nor repeat what it has read.
    pub async fn search_log_before(
        &self,
        f: &LogFilter,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Found>> {
        let (clause, texts, numbers) = f.clause();
        let n = texts.len() + numbers.len();
        let joint = if clause.is_empty() { " WHERE" } else { " AND" };
        let sql = format!(
            "SELECT seq, body FROM audit_log{clause}{joint} seq < ${} ORDER BY seq DESC LIMIT ${}",
            n + 1,
            n + 2
        );
        let mut c = self.read().await?;
        let q = bound(&sql, &texts, &numbers).bind(before).bind(limit);
        found(&q.fetch_all(&mut *c).await?)
    }

    /// Counts of entries of `kind` per (day, outcome) since `from`.
    pub async fn log_counts_by_day(
        &self,
        kind: &str,
        from: i64,
    ) -> Result<Vec<(i64, String, i64)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT at / 86400000 AS day, COALESCE(outcome, '') AS outcome, COUNT(*) AS n FROM audit_log WHERE kind = $1 AND at >= $2 GROUP BY at / 86400000, outcome ORDER BY day",
        )
        .bind(kind)
        .bind(from)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("day")?, r.try_get("outcome")?, r.try_get("n")?)))
            .collect()
    }

    /// Counts of entries of `kind` since `from`, grouped by one search column.
    pub async fn log_counts_by(
        &self,
        kind: &str,
        column: LogColumn,
        from: i64,
    ) -> Result<Vec<(String, i64)>> {
        let col = match column {
            LogColumn::Actor => "actor",
            LogColumn::Outcome => "outcome",
            LogColumn::Org => "org_id",
            LogColumn::Reason => "reason",
        };
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT COALESCE({col}, '') AS k, COUNT(*) AS n FROM audit_log WHERE kind = $1 AND at >= $2 GROUP BY {col} ORDER BY n DESC"
        ))
        .bind(kind)
        .bind(from)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("k")?, r.try_get("n")?)))
            .collect()
    }

    /// Distinct pupils each actor touched in [from, to).
    pub async fn pupils_per_actor(&self, from: i64, to: i64) -> Result<Vec<(String, i64)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT actor, COUNT(DISTINCT pupil_id) AS n FROM audit_log WHERE kind = 'decision' AND at >= $1 AND at < $2 AND pupil_id IS NOT NULL GROUP BY actor",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("actor")?, r.try_get("n")?)))
            .collect()
    }
}

/// A column the console groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogColumn {
    Actor,
    Outcome,
    Org,
    Reason,
}
