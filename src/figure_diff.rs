//! The figures that changed between two versions of a published table, in their units: what `diff` (two
//! runs) and `verify` (the stored table against its re-execution) show of a table that differs.
//!
//! Rows are matched on their non-numeric columns (the key) and named by the fewest of those that tell
//! them apart; each numeric value that differs is a [`FigureChange`], printed in the unit the pipeline
//! declares for its column (`units:` on the step, `crate::units`), or the row's own `unit` column for a
//! long table, or as a plain number. A column declared `rank` is a league table's: its changes are named
//! per row (`SWFT 3rd → 1st`). Also the summary's largest change per unit across tables.
//!
//! Owns the comparison and its text; it reads the two Parquet objects (`lineage::read_table`) and never
//! writes, and it does not decide which outputs are compared (its callers do).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::lineage::{TextTable, read_table};
use crate::units::{ColumnUnit, LONG_TABLE_FIGURES, UNIT_COLUMN, Unit};
use crate::world::World;

/// How many changed figures (and, apart, rank changes) are listed per table.
pub const DIFF_ROWS: usize = 20;

/// One number of a row that changed.
#[derive(Debug, Clone, Serialize)]
pub struct FigureChange {
    pub column: String,
    /// The row, by the fewest key columns that tell the rows apart (`month=2022-04, clinic=Cardiology`),
    /// with `(row 2 of 3)` for rows sharing a key.
    pub row: String,
    /// The values as the table holds them.
    pub old: String,
    pub new: String,
    /// The unit the figure is in (`percent`, `gbp_thousands`, `tco2e`, … or a row's own unit's text);
    /// `null` for a plain number.
    pub unit: Option<String>,
    /// The values and the change as printed: `90.5%`, `91.7%`, `+1.2 pp` (for a plain number the value
    /// as held, and the difference).
    pub old_text: String,
    pub new_text: String,
    pub change_text: Option<String>,
    /// `|new − old|`, to find the largest change of a unit.
    #[serde(skip)]
    size: Option<f64>,
}

impl FigureChange {
    /// `pct_4h: provider=SWFT: 90.5% → 91.7% (+1.2 pp)`.
    pub fn line(&self) -> String {
        let change = self
            .change_text
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        format!(
            "{}: {}: {} → {}{change}",
            self.column, self.row, self.old_text, self.new_text
        )
    }
}

/// A row of a league table whose place changed.
#[derive(Debug, Clone, Serialize)]
pub struct RankChange {
    /// The rank column.
    pub column: String,
    /// The row by its key values (`SWFT`).
    pub row: String,
    pub old: String,
    pub new: String,
    /// `SWFT 3rd → 1st`.
    pub text: String,
}

/// What changed in a table between two versions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableChanges {
    pub figures: Vec<FigureChange>,
    pub rank_changes: Vec<RankChange>,
    /// Rows in one version only, or a key with more or fewer rows (`row added: clinic=Urology`).
    pub rows: Vec<String>,
    /// Why the rows could not be compared (a table unreadable, its columns changed), when they could not.
    pub problem: Option<String>,
}

impl TableChanges {
    /// The listing for people, one line each: the figures (at most [`DIFF_ROWS`], then how many more),
    /// the rows added or removed, then the rank changes per rank column.
    pub fn lines(&self) -> Vec<String> {
        if let Some(p) = &self.problem {
            return vec![p.clone()];
        }
        let mut out: Vec<String> = Vec::new();
        let total = self.figures.len() + self.rows.len();
        out.extend(
            self.figures
                .iter()
                .map(FigureChange::line)
                .chain(self.rows.iter().cloned())
                .take(DIFF_ROWS),
        );
        if total > DIFF_ROWS {
            out.push(format!("… and {} more", total - DIFF_ROWS));
        }
        let columns: BTreeSet<&str> = self
            .rank_changes
            .iter()
            .map(|r| r.column.as_str())
            .collect();
        for column in columns {
            let these: Vec<&RankChange> = self
                .rank_changes
                .iter()
                .filter(|r| r.column == column)
                .collect();
            out.push(format!("rank changes ({column}):"));
            out.extend(
                these
                    .iter()
                    .take(DIFF_ROWS)
                    .map(|r| format!("  {}", r.text)),
            );
            if these.len() > DIFF_ROWS {
                out.push(format!("  … and {} more", these.len() - DIFF_ROWS));
            }
        }
        if out.is_empty() {
            out.push("same figures, other bytes".into());
        }
        out
    }
}

/// The largest change of one unit among the tables compared (the summary's `largest` lines).
#[derive(Debug, Clone, Serialize)]
pub struct Largest {
    pub unit: String,
    /// The output's path within its run (`tables/league.parquet`).
    pub table: String,
    pub column: String,
    pub row: String,
    pub old_text: String,
    pub new_text: String,
    pub change_text: String,
}

impl Largest {
    /// `largest in percent: −2.1 pp, pct_4h of provider=SWFT in tables/league.parquet (90.5% → 88.4%)`.
    pub fn line(&self) -> String {
        format!(
            "largest in {}: {}, {} of {} in {} ({} → {})",
            self.unit,
            self.change_text,
            self.column,
            self.row,
            self.table,
            self.old_text,
            self.new_text
        )
    }
}

/// Of every figure that changed in `tables` (each by its path in the run), the largest change of each
/// unit, in the units' order of first appearance. Plain numbers have no unit to compare within, and
/// ranks are listed as rank changes: neither is here.
pub fn largest(tables: &[(String, &TableChanges)]) -> Vec<Largest> {
    let mut best: Vec<(String, f64, Largest)> = Vec::new();
    for (table, changes) in tables {
        for f in &changes.figures {
            let (Some(unit), Some(size), Some(change)) = (&f.unit, f.size, &f.change_text) else {
                continue;
            };
            let candidate = Largest {
                unit: unit.clone(),
                table: table.clone(),
                column: f.column.clone(),
                row: f.row.clone(),
                old_text: f.old_text.clone(),
                new_text: f.new_text.clone(),
                change_text: change.clone(),
            };
            match best.iter_mut().find(|(u, _, _)| u == unit) {
                Some(entry) if size > entry.1 => *entry = (unit.clone(), size, candidate),
                Some(_) => {}
                None => best.push((unit.clone(), size, candidate)),
            }
        }
    }
    best.into_iter().map(|(_, _, l)| l).collect()
}

/// The changes between the tables at `old` and `new` on the store, with the step's declared units.
pub async fn compare_objects(
    world: &World,
    old: &str,
    new: &str,
    units: &BTreeMap<String, ColumnUnit>,
) -> TableChanges {
    match read_both(world, old, new).await {
        Ok((a, b)) => compare(&a, &b, units),
        Err(problem) => TableChanges {
            problem: Some(problem),
            ..Default::default()
        },
    }
}

/// The tables at `old` and `new` on the store, or why they cannot be compared (`cannot compare rows:
/// …`, naming the object that does not read).
pub async fn read_both(
    world: &World,
    old: &str,
    new: &str,
) -> Result<(TextTable, TextTable), String> {
    match (read_table(world, old).await, read_table(world, new).await) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), _) | (_, Err(e)) => Err(format!("cannot compare rows: {e}")),
    }
}

/// The unit of column `i`'s figure in `row`: the declared one (a fixed unit, or the row's text in the
/// column named), else, for a long table's figure (`value`, `quantity`) beside a text `unit` column,
/// the row's unit; `None` for a plain number.
fn unit_of(
    table: &TextTable,
    units: &BTreeMap<String, ColumnUnit>,
    i: usize,
    row: &[String],
) -> Option<Unit> {
    let from_column = |c: &str| {
        let j = table.columns.iter().position(|x| x == c)?;
        // A null unit says nothing: the figure prints plain.
        (!table.numeric[j] && row[j] != "null").then(|| Unit::from_row(&row[j]))
    };
    match units.get(&table.columns[i]) {
        Some(ColumnUnit::Fixed(u)) => Some(u.clone()),
        Some(ColumnUnit::FromColumn(c)) => from_column(c),
        None if LONG_TABLE_FIGURES.contains(&table.columns[i].as_str()) => from_column(UNIT_COLUMN),
        None => None,
    }
}

/// The changes between two versions of a table (read as text), with the step's declared units.
pub fn compare(
    ta: &TextTable,
    tb: &TextTable,
    units: &BTreeMap<String, ColumnUnit>,
) -> TableChanges {
    if ta.columns != tb.columns || ta.numeric != tb.numeric {
        return TableChanges {
            problem: Some(format!(
                "columns changed: [{}] → [{}]",
                ta.columns.join(", "),
                tb.columns.join(", ")
            )),
            ..Default::default()
        };
    }
    let keys: Vec<usize> = (0..ta.columns.len()).filter(|&i| !ta.numeric[i]).collect();
    let group = |t: &TextTable| {
        let mut m: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
        for r in &t.rows {
            m.entry(keys.iter().map(|&i| r[i].clone()).collect())
                .or_default()
                .push(r.clone());
        }
        m
    };
    let (ga, gb) = (group(ta), group(tb));
    // Rows are matched on every key column, but named by the fewest that tell them apart (taken in table
    // order): a column that distinguishes no more rows than those before it (a year beside its month, a
    // unit that is always the same) only lengthens the listing.
    let mut named: Vec<usize> = Vec::new();
    let mut distinct = 1;
    for (pos, _) in keys.iter().enumerate() {
        let mut candidate = named.clone();
        candidate.push(pos);
        let n = ga
            .keys()
            .chain(gb.keys())
            .map(|k| candidate.iter().map(|&p| k[p].as_str()).collect::<Vec<_>>())
            .collect::<BTreeSet<_>>()
            .len();
        if n > distinct {
            named = candidate;
            distinct = n;
        }
    }
    let show_key = |k: &[String]| {
        if named.is_empty() {
            "(the row)".to_string()
        } else {
            named
                .iter()
                .map(|&p| format!("{}={}", ta.columns[keys[p]], k[p]))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    // A league table's rows by their key's values only: `SWFT 3rd → 1st`.
    let key_values = |k: &[String]| {
        if named.is_empty() {
            "the row".to_string()
        } else {
            named
                .iter()
                .map(|&p| k[p].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut out = TableChanges::default();
    for (k, rows_a) in &ga {
        let Some(rows_b) = gb.get(k) else {
            out.rows.push(format!("row removed: {}", show_key(k)));
            continue;
        };
        // Rows sharing a key are matched in table order (outputs have a stable order), and numbered.
        for (n, (ra, rb)) in rows_a.iter().zip(rows_b).enumerate() {
            let which = if rows_a.len() > 1 {
                format!(" (row {} of {})", n + 1, rows_a.len())
            } else {
                String::new()
            };
            for i in (0..ta.columns.len()).filter(|&i| ta.numeric[i]) {
                if ra[i] == rb[i] {
                    continue;
                }
                let numbers = ra[i].parse::<f64>().ok().zip(rb[i].parse::<f64>().ok());
                let unit = unit_of(ta, units, i, ra);
                if let (Some(Unit::Rank), Some((x, y))) = (&unit, numbers) {
                    let (old, new, _) = Unit::Rank.pair(x, y);
                    let row = format!("{}{which}", key_values(k));
                    out.rank_changes.push(RankChange {
                        column: ta.columns[i].clone(),
                        text: format!("{row} {old} → {new}"),
                        row,
                        old,
                        new,
                    });
                    continue;
                }
                let (old_text, new_text, change_text) = match (&unit, numbers) {
                    (Some(u), Some((x, y))) => {
                        let (o, n, c) = u.pair(x, y);
                        (o, n, Some(c))
                    }
                    // A plain number as the table holds it, with the difference.
                    (None, Some((x, y))) => (
                        ra[i].clone(),
                        rb[i].clone(),
                        Some(plain_change(&ra[i], &rb[i], y - x)),
                    ),
                    (_, None) => (ra[i].clone(), rb[i].clone(), None),
                };
                out.figures.push(FigureChange {
                    column: ta.columns[i].clone(),
                    row: format!("{}{which}", show_key(k)),
                    old: ra[i].clone(),
                    new: rb[i].clone(),
                    unit: unit.as_ref().map(Unit::name),
                    old_text,
                    new_text,
                    change_text,
                    size: numbers.map(|(x, y)| (y - x).abs()),
                });
            }
        }
        if rows_a.len() != rows_b.len() {
            out.rows.push(format!(
                "rows with {}: {} → {}",
                show_key(k),
                rows_a.len(),
                rows_b.len()
            ));
        }
    }
    for k in gb.keys().filter(|k| !ga.contains_key(*k)) {
        out.rows.push(format!("row added: {}", show_key(k)));
    }
    // Per column, in the table's column order (a stable sort keeps the rows' order within one).
    let position = |c: &str| ta.columns.iter().position(|x| x == c).unwrap_or(usize::MAX);
    out.figures.sort_by_key(|f| position(&f.column));
    out
}

/// The difference of two plain numbers at the precision they are written with (`0.19338 → 0.20338` is
/// `+0.01000`, not the float subtraction's `+0.010000000000000009`); as computed when either is written
/// with an exponent.
fn plain_change(old: &str, new: &str, d: f64) -> String {
    let decimals = |t: &str| {
        if t.contains(['e', 'E']) {
            None
        } else {
            Some(t.split_once('.').map_or(0, |(_, f)| f.len()).min(12))
        }
    };
    match (decimals(old), decimals(new)) {
        (Some(a), Some(b)) => format!("{:+.*}", a.max(b), d),
        _ => format!("{d:+}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], numeric: &[bool], rows: &[&[&str]]) -> TextTable {
        TextTable {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            numeric: numeric.to_vec(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn figures_print_in_their_units_and_ranks_name_their_rows() {
        let cols = ["provider", "pct", "spend", "rank"];
        let numeric = [false, true, true, true];
        let a = table(
            &cols,
            &numeric,
            &[&["SWFT", "0.905", "100", "3"], &["UHB", "0.95", "200", "1"]],
        );
        let b = table(
            &cols,
            &numeric,
            &[&["SWFT", "0.96", "90", "1"], &["UHB", "0.95", "200", "2"]],
        );
        let units = BTreeMap::from([
            ("pct".to_string(), ColumnUnit::Fixed(Unit::Percent)),
            ("spend".to_string(), ColumnUnit::Fixed(Unit::GbpThousands)),
            ("rank".to_string(), ColumnUnit::Fixed(Unit::Rank)),
        ]);
        let c = compare(&a, &b, &units);
        let lines = c.lines();
        assert_eq!(
            lines,
            vec![
                "pct: provider=SWFT: 90.5% → 96.0% (+5.5 pp)",
                "spend: provider=SWFT: £100k → £90k (\u{2212}£10k)",
                "rank changes (rank):",
                "  SWFT 3rd → 1st",
                "  UHB 1st → 2nd",
            ]
        );
        let l = largest(&[("tables/league.parquet".into(), &c)]);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].unit, "percent");
        assert_eq!(l[1].change_text, "\u{2212}£10k");
    }

    #[test]
    fn a_long_table_takes_each_rows_unit_from_its_unit_column() {
        let cols = ["activity", "unit", "quantity", "other"];
        let numeric = [false, false, true, true];
        let a = table(&cols, &numeric, &[&["gas", "kWh", "1000", "1"]]);
        let b = table(&cols, &numeric, &[&["gas", "kWh", "1500", "2"]]);
        let c = compare(&a, &b, &BTreeMap::new());
        assert_eq!(
            c.lines(),
            vec![
                "quantity: (the row): 1,000 kWh → 1,500 kWh (+500 kWh)",
                "other: (the row): 1 → 2 (+1)"
            ]
        );
    }

    #[test]
    fn a_plain_change_is_written_at_the_precision_of_its_figures() {
        assert_eq!(
            super::plain_change("0.19338", "0.20338", 0.20338 - 0.19338),
            "+0.01000"
        );
        assert_eq!(super::plain_change("12", "9", -3.0), "-3");
        assert_eq!(super::plain_change("1e-7", "2e-7", 1e-7), "+0.0000001");
    }
}
