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
    fn placeholders_number_every_parameter() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
