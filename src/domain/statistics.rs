//! Statistics that expose no individual: small-cell suppression of count tables.
//! Any count under 5 pupils is published as "<5", and further cells are hidden until
//! no row or column with a published total has exactly one hidden cell, so no hidden
//! count can be recovered by subtracting the others from the total.

use serde::Serialize;

/// The smallest count that is published.
pub const MIN_CELL: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Count(u64),
    /// Shown as "<5" (or hidden to protect another cell).
    Suppressed,
}

impl Cell {
    pub fn text(&self) -> String {
        match self {
            Self::Count(n) => n.to_string(),
            Self::Suppressed => format!("<{MIN_CELL}"),
        }
    }
}

/// A published table: cells, row totals, column totals and the grand total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    pub cells: Vec<Vec<Cell>>,
    pub row_totals: Vec<Cell>,
    pub col_totals: Vec<Cell>,
    pub total: Cell,
}

/// Hides cells of a rectangular table of counts (rows × columns) as described above.
pub fn suppress(counts: &[Vec<u64>]) -> Published {
    let rows = counts.len();
    let cols = counts.first().map_or(0, Vec::len);
    let row_sum: Vec<u64> = counts.iter().map(|r| r.iter().sum()).collect();
    let col_sum: Vec<u64> = (0..cols)
        .map(|c| counts.iter().map(|r| r[c]).sum())
        .collect();
    let total: u64 = row_sum.iter().sum();
    let small = |n: u64| n < MIN_CELL;
    let mut hide: Vec<Vec<bool>> = counts
        .iter()
        .map(|r| r.iter().map(|n| small(*n)).collect())
        .collect();
    let mut hide_row: Vec<bool> = row_sum.iter().map(|n| small(*n)).collect();
    let mut hide_col: Vec<bool> = col_sum.iter().map(|n| small(*n)).collect();
    let hide_total = small(total);
    // Hide the smallest published member of a line that has exactly one hidden member.
    let protect = |members: Vec<(usize, u64, bool)>| -> Option<usize> {
        if members.iter().filter(|m| m.2).count() != 1 {
            return None;
        }
        members
            .iter()
            .filter(|m| !m.2)
            .min_by_key(|m| m.1)
            .map(|m| m.0)
    };
    loop {
        let mut changed = false;
        for r in 0..rows {
            if hide_row[r] {
                continue;
            }
            let line = (0..cols).map(|c| (c, counts[r][c], hide[r][c])).collect();
            match protect(line) {
                Some(c) => {
                    hide[r][c] = true;
                    changed = true;
                }
                None if cols == 1 && hide[r][0] => {
                    hide_row[r] = true;
                    changed = true;
                }
                None => {}
            }
        }
        for c in 0..cols {
            if hide_col[c] {
                continue;
            }
            let line = (0..rows).map(|r| (r, counts[r][c], hide[r][c])).collect();
            match protect(line) {
                Some(r) => {
                    hide[r][c] = true;
                    changed = true;
                }
                None if rows == 1 && hide[0][c] => {
                    hide_col[c] = true;
                    changed = true;
                }
                None => {}
            }
        }
        // The margins against the grand total, the same way.
        if !hide_total {
            for (hidden, sums) in [(&mut hide_row, &row_sum), (&mut hide_col, &col_sum)] {
                let line = (0..sums.len()).map(|i| (i, sums[i], hidden[i])).collect();
                if let Some(i) = protect(line) {
                    hidden[i] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let cell = |n: u64, h: bool| if h { Cell::Suppressed } else { Cell::Count(n) };
    Published {
        cells: (0..rows)
            .map(|r| (0..cols).map(|c| cell(counts[r][c], hide[r][c])).collect())
            .collect(),
        row_totals: (0..rows).map(|r| cell(row_sum[r], hide_row[r])).collect(),
        col_totals: (0..cols).map(|c| cell(col_sum[c], hide_col[c])).collect(),
        total: cell(total, hide_total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hidden(line: &[Cell]) -> usize {
        line.iter().filter(|c| **c == Cell::Suppressed).count()
    }

    proptest! {
        /// No published count is under 5, and no line with a published total has
        /// exactly one hidden cell (it could be recovered by subtraction).
        #[test]
        fn nothing_small_is_published_or_recoverable(
            counts in (1usize..6, 1usize..7).prop_flat_map(|(r, c)| prop::collection::vec(prop::collection::vec(0u64..30, c), r))
        ) {
            let p = suppress(&counts);
            let all = p.cells.iter().flatten().chain(&p.row_totals).chain(&p.col_totals).chain(std::iter::once(&p.total));
            for c in all {
                if let Cell::Count(n) = c {
                    prop_assert!(*n >= MIN_CELL, "published {n}");
                }
            }
            for (r, row) in p.cells.iter().enumerate() {
                if p.row_totals[r] != Cell::Suppressed {
                    prop_assert_ne!(hidden(row), 1, "row {} {:?}", r, p);
                }
            }
            for c in 0..p.col_totals.len() {
                let col: Vec<Cell> = p.cells.iter().map(|r| r[c]).collect();
                if p.col_totals[c] != Cell::Suppressed {
                    prop_assert_ne!(hidden(&col), 1, "column {} {:?}", c, p);
                }
            }
            if p.total != Cell::Suppressed {
                prop_assert_ne!(hidden(&p.row_totals), 1);
                prop_assert_ne!(hidden(&p.col_totals), 1);
            }
        }
    }

    #[test]
    fn a_lone_small_cell_takes_a_neighbour_with_it() {
        let p = suppress(&[vec![3, 10, 20], vec![12, 15, 25]]);
        assert_eq!(p.cells[0][0], Cell::Suppressed);
        assert_eq!(p.cells[0][1], Cell::Suppressed, "smallest other in the row");
        assert_eq!(
            p.cells[1][0],
            Cell::Suppressed,
            "the column needs a second too"
        );
        assert_eq!(p.total, Cell::Count(85));
        assert_eq!(Cell::Suppressed.text(), "<5");
    }
}
