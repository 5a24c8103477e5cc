//! Many requests' records in one transaction (group commit): what lets durable
//! writes keep up with concurrent requests without weakening durability.

use std::collections::HashSet;

use super::{Result, WriteTx};

/// `($1, $2, …), (…)` for `rows` rows of `cols` parameters.
pub(crate) fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many rows go in one statement: on SQLite always exactly `SQLITE_ROWS` (one
/// prepared statement, reused) and the rest one by one; on PostgreSQL up to `max`.
pub(crate) fn chunked<T>(rows: &[T], sqlite: bool, max: usize) -> Vec<&[T]> {
    if !sqlite {
        return rows.chunks(max).collect();
    }
    let full = rows.len() - rows.len() % SQLITE_ROWS;
    let (head, tail) = rows.split_at(full);
    head.chunks(SQLITE_ROWS).chain(tail.chunks(1)).collect()
}

const SQLITE_ROWS: usize = 16;

/// One used-once id: (namespace such as the client id, jti, remember until ms).
pub type OnceId = (String, String, i64);

impl WriteTx {
    /// Records every id not seen before, in one statement; returns, for each, whether
    /// it was new. The second of two equal ids in `ids` is not new either.
    pub async fn use_once_ids(&mut self, ids: &[OnceId]) -> Result<Vec<bool>> {
        let mut seen = HashSet::new();
        let first: Vec<bool> = ids
            .iter()
            .map(|(ns, jti, _)| seen.insert((ns.as_str(), jti.as_str())))
            .collect();
        let fresh: Vec<&OnceId> = ids
            .iter()
            .zip(&first)
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
            .collect();
        if fresh.is_empty() {
            return Ok(first);
        }
        if self.row_at_a_time() {
            let mut inserted = HashSet::new();
            for (ns, jti, exp) in &fresh {
                let done = sqlx::query(
                    "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
                )
                .bind(ns.clone())
                .bind(jti.clone())
                .bind(*exp)
                .execute(self.conn())
                .await?;
                if done.rows_affected() == 1 {
                    inserted.insert((ns.clone(), jti.clone()));
                }
            }
            return Ok(ids
                .iter()
                .zip(first)
                .map(|((ns, jti, _), f)| f && inserted.contains(&(ns.clone(), jti.clone())))
                .collect());
        }
        let sql = format!(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES {} ON CONFLICT (client_id, jti) DO NOTHING RETURNING client_id, jti",
            placeholders(fresh.len(), 3)
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for (ns, jti, exp) in &fresh {
            q = q.bind(ns.clone()).bind(jti.clone()).bind(*exp);
        }
        let inserted: HashSet<(String, String)> =
            q.fetch_all(self.conn()).await?.into_iter().collect();
        Ok(ids
            .iter()
            .zip(first)
            .map(|((ns, jti, _), f)| f && inserted.contains(&(ns.clone(), jti.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_fixed_size_statements() {
        let rows: Vec<u32> = (0..35).collect();
        let sizes = |c: Vec<&[u32]>| c.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunked(&rows, true, 500)), [16, 16, 1, 1, 1]);
        assert_eq!(sizes(chunked(&rows, false, 20)), [20, 15]);
        assert!(chunked::<u32>(&[], true, 500).is_empty());
    }

    #[test]
    fn placeholders_number_every_parameter() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
