//! Many requests' records in one transaction (group commit): what lets durable
//! writes keep up with concurrent requests without weakening durability.
//!
//! Rows go in as multi-row `VALUES` statements of a few fixed shapes, padded with
//! rows of NULLs that a `WHERE` drops. Each shape is prepared once per connection
//! and its parameters travel as they are: on PostgreSQL a batch costs one round trip
//! per 256 rows and no parsing of its values. SQLite stops at 16 rows, because
//! binding a parameter there costs time in proportion to the statement's number of
//! parameters.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::Any;

use super::{Result, WriteTx};
use crate::config::Backend;

/// The type of a column of a bulk insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sql {
    Text,
    BigInt,
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// A row that binds its values in the order of its table's columns. The first
/// column is never NULL: that is how padding is told apart.
pub(crate) trait BulkRow {
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q>;
}

fn shapes(backend: Backend) -> &'static [usize] {
    match backend {
        Backend::Postgres => &[4, 16, 64, 256],
        Backend::Sqlite => &[4, 16],
    }
}

/// How `n` rows are split into statements of `shapes`: (rows taken, shape).
fn plan(mut n: usize, shapes: &[usize]) -> Vec<(usize, usize)> {
    let largest = shapes.last().copied().unwrap_or(1);
    let mut out = Vec::new();
    while n > 0 {
        let shape = shapes.iter().copied().find(|s| *s >= n).unwrap_or(largest);
        let take = n.min(shape);
        out.push((take, shape));
        n -= take;
    }
    out
}

/// Each statement's text, made once: a 256-row shape is a long string.
type Shape = (&'static str, usize, &'static str);
static STATEMENTS: LazyLock<Mutex<HashMap<Shape, Arc<str>>>> = LazyLock::new(Default::default);

fn cached(table: &'static str, cols: &[(&str, Sql)], rows: usize, tail: &'static str) -> Arc<str> {
    let mut known = STATEMENTS.lock().unwrap_or_else(|p| p.into_inner());
    known
        .entry((table, rows, tail))
        .or_insert_with(|| statement(table, cols, rows, tail).into())
        .clone()
}

/// `INSERT INTO table (cols) SELECT … FROM (VALUES …) AS v WHERE column1 IS NOT NULL`
/// + `tail`, for `rows` rows.
fn statement(table: &str, cols: &[(&str, Sql)], rows: usize, tail: &str) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let picks: Vec<String> = (1..=cols.len()).map(|i| format!("column{i}")).collect();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=cols.len())
                .map(|c| format!("${}", r * cols.len() + c))
                .collect();
            format!("({})", p.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM (VALUES {}) AS v WHERE column1 IS NOT NULL{tail}",
        names.join(", "),
        picks.join(", "),
        values.join(", ")
    )
}

impl WriteTx<'_> {
    /// Inserts `rows` into `table` in as few statements as the shapes allow; returns
    /// what `tail` (such as `RETURNING …`) gives back.
    pub(crate) async fn insert_rows<R: BulkRow>(
        &mut self,
        table: &'static str,
        cols: &[(&str, Sql)],
        rows: &[R],
        tail: &'static str,
    ) -> Result<Vec<AnyRow>> {
        let mut out = Vec::new();
        let mut rest = rows;
        for (take, shape) in plan(rows.len(), shapes(self.backend)) {
            let (now, later) = rest.split_at(take);
            rest = later;
            let sql = cached(table, cols, shape, tail);
            let mut q = sqlx::query(&sql);
            for r in now {
                q = r.bind(q);
            }
            for _ in take..shape {
                for (_, ty) in cols {
                    q = match ty {
                        Sql::Text => q.bind(None::<String>),
                        Sql::BigInt => q.bind(None::<i64>),
                    };
                }
            }
            out.extend(q.fetch_all(self.conn()).await?);
        }
        Ok(out)
    }
}

/// One used-once id: (namespace such as the client id, jti, remember until ms).
pub type OnceId = (String, String, i64);

struct OnceRow<'a>(&'a OnceId);

impl BulkRow for OnceRow<'_> {
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        let (ns, jti, exp) = self.0;
        q.bind(ns.as_str()).bind(jti.as_str()).bind(*exp)
    }
}

impl WriteTx<'_> {
    /// Records every id not seen before, in one statement; returns, for each, whether
    /// it was new. The second of two equal ids in `ids` is not new either.
    pub async fn use_once_ids(&mut self, ids: &[OnceId]) -> Result<Vec<bool>> {
        use sqlx::Row as _;
        let mut seen = HashSet::new();
        let first: Vec<bool> = ids
            .iter()
            .map(|(ns, jti, _)| seen.insert((ns.as_str(), jti.as_str())))
            .collect();
        let mut fresh: Vec<OnceRow> = ids
            .iter()
            .zip(&first)
            .filter(|(_, f)| **f)
            .map(|(id, _)| OnceRow(id))
            .collect();
        if fresh.is_empty() {
            return Ok(first);
        }
        // Overlapping batches (a replay in both) lock their ids in one order.
        fresh.sort_by(|a, b| (&a.0 .0, &a.0 .1).cmp(&(&b.0 .0, &b.0 .1)));
        let rows = self
            .insert_rows(
                "assertion_jtis",
                &[
                    ("client_id", Sql::Text),
                    ("jti", Sql::Text),
                    ("expires_at", Sql::BigInt),
                ],
                &fresh,
                " ORDER BY 1, 2 ON CONFLICT (client_id, jti) DO NOTHING RETURNING client_id, jti",
            )
            .await?;
        let inserted = rows
            .iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect::<Result<HashSet<(String, String)>>>()?;
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
    fn rows_go_in_few_fixed_shapes() {
        let pg = shapes(Backend::Postgres);
        assert_eq!(plan(0, pg), []);
        assert_eq!(plan(1, pg), [(1, 4)]);
        assert_eq!(plan(17, pg), [(17, 64)]);
        assert_eq!(plan(256, pg), [(256, 256)]);
        assert_eq!(plan(300, pg), [(256, 256), (44, 64)]);
        assert_eq!(
            plan(35, shapes(Backend::Sqlite)),
            [(16, 16), (16, 16), (3, 4)]
        );
    }

    #[test]
    fn padding_is_dropped_by_the_first_column() {
        let cols = [("id", Sql::Text), ("at", Sql::BigInt)];
        assert_eq!(
            statement("t", &cols, 2, " RETURNING id"),
            "INSERT INTO t (id, at) SELECT column1, column2 FROM (VALUES ($1, $2), ($3, $4)) AS v WHERE column1 IS NOT NULL RETURNING id"
        );
    }
}
