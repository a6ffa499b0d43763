//! Small-number suppression for published tables: counts from 1 to 4 print as `<5`, and enough further
//! counts of the same group are withheld (`*`) that the group's printed total cannot be used to work a
//! suppressed count out.
//!
//! Owns the rule and its audit, and each pipeline's declaration of the outputs it governs (`disclosure:`):
//! which are *controlled* (released beyond the organisation: the PDFs, and any step table declared so) and
//! which are *restricted* (the run's other tables, kept on the store for audit and `verify`, holding raw
//! counts by design). Templates call the rule (`protect(...)` in `render::template`) and print what it
//! decides; it never changes a number, only whether it is shown.
//!
//! **The rule** (for one group — e.g. the practices of a PCN for one indicator — whose total is printed):
//! 1. *Primary*: a count from 1 to 4 is shown as `<5`. Zero is shown: it is no one.
//! 2. *Secondary*: when a group has a primary cell, the smallest shown count of 5 or more is also withheld
//!    (`*`), and further ones, smallest first, until the audit passes.
//! 3. *Audit*: from what is printed — the total, the shown counts, and the bounds a reader knows for each
//!    withheld count (1–4 for `<5`; for `*`, from 5 up to the smallest count still shown) — every `<5`
//!    count must still have at least two possible values. If no counts are left to withhold, the group's
//!    total is withheld too.
//! 4. *Small totals*: the total is a count too: a total from 1 to 4 is withheld (`*`), whatever its cells.
//!
//! A rate is printed only when its numerator and denominator are both printed, so a percentage never
//! reveals a withheld count.
//!
//! **Enforced, not opted into.** Every report is controlled, declared or not (a pipeline without
//! `disclosure:` gets the default rule), and the rule is applied where a table's rows become the
//! template's values (`render::data`): each count cell of a step table — every integer column, and the
//! columns `disclosure.counts` names — that the rule suppresses reaches the template as a withheld value,
//! which every filter and plain `{{ x }}` print as the rule's token, charts draw as a gap, and arithmetic
//! refuses (failing the run at the template line). A column that is not a count of people or events (a
//! year, a rank, a public list size) is printed as it is only when `disclosure.public` names it with its
//! reason, and every PDF's appendix lists those exemptions. Seeds are reference data and are not counts.
//!
//! **Rule sets** (`suppress:`): `1-4` (counts 1 to 4 print `<5`) and `nhs-hes` (NHS England's HES/ECDS
//! method: counts 1 to 7 print `*`, every other count is rounded to the nearest 5 before the template
//! sees it, so a rate a template computes rests on the rounded figures).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::diagnostic::Location;
use crate::plan::{Step, StepKind};
use crate::spec::{RawDisclosure, location};

/// The default rule set, as a declaration states it.
pub const SUPPRESSED: &str = "1-4";

/// A named rule set (`disclosure.suppress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Rule {
    /// `1-4`: counts from 1 to 4 print as `<5`.
    #[default]
    #[serde(rename = "1-4")]
    SmallNumbers,
    /// `nhs-hes`: counts from 1 to 7 print as `*`; other counts are rounded to the nearest 5.
    #[serde(rename = "nhs-hes")]
    NhsHes,
}

impl Rule {
    /// The rule sets a declaration may name.
    pub const NAMES: &'static str = "`1-4` or `nhs-hes`";

    pub fn parse(text: &str) -> Option<Rule> {
        match text.replace(' ', "").to_ascii_lowercase().as_str() {
            "1-4" => Some(Rule::SmallNumbers),
            "nhs-hes" | "hes" => Some(Rule::NhsHes),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::SmallNumbers => "1-4",
            Rule::NhsHes => "nhs-hes",
        }
    }

    /// The largest count the rule suppresses (the smallest is 1: zero is no one).
    pub fn threshold(self) -> i64 {
        match self {
            Rule::SmallNumbers => 4,
            Rule::NhsHes => 7,
        }
    }

    /// What a suppressed count prints as.
    pub fn token(self) -> &'static str {
        match self {
            Rule::SmallNumbers => "<5",
            Rule::NhsHes => "*",
        }
    }

    /// Whether the rule suppresses `count`.
    pub fn is_small(self, count: i64) -> bool {
        (1..=self.threshold()).contains(&count)
    }

    /// What a count the rule does not suppress is published as: itself, or rounded to the nearest 5.
    pub fn published(self, count: i64) -> i64 {
        match self {
            Rule::SmallNumbers => count,
            Rule::NhsHes => ((count as f64 / 5.0).round() as i64) * 5,
        }
    }

    /// The method note every PDF prints.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::SmallNumbers => {
                "counts of people or events from 1 to 4 print as <5, and further counts are withheld \
                 (*) so that no printed total reveals them"
            }
            Rule::NhsHes => {
                "the NHS England HES/ECDS method: counts of people or events from 1 to 7 print as *, \
                 and every other count is rounded to the nearest 5 (rates are computed from the rounded \
                 figures)"
            }
        }
    }
}

/// How one table's cells reach a controlled report (see the module doc): which columns are counts under
/// the rule and which are exempt. Built per table from the declaration (`Declaration::guard`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Guard {
    pub rule: Rule,
    /// Columns declared counts whatever their type (`disclosure.counts`).
    pub counts: BTreeSet<String>,
    /// Columns exempt from the rule (`disclosure.public`).
    pub public: BTreeSet<String>,
    /// Per column: the other columns of the table it is computed from (`crate::derivation`). In a row
    /// where one of those is a count the rule suppresses, the column is withheld with it (`*`).
    pub derived: BTreeMap<String, Vec<String>>,
    /// Per column: what it is computed from (`crate::derivation::Atoms`), to tell when the shown columns
    /// a suppressed count is computed from would give it away (`n` and `d` beside a suppressed `d - n`).
    pub atoms: crate::derivation::Atoms,
}

impl Guard {
    /// Whether a cell of `column` holding `value` is a count under the rule: an integer cell of a column
    /// that is not public, or any number of a declared count column.
    pub fn is_count(&self, column: &str, value: &serde_json::Value) -> bool {
        if self.public.contains(column) || !value.is_number() {
            return false;
        }
        self.counts.contains(column) || value.is_i64() || value.is_u64()
    }
}

/// A pipeline's validated disclosure declaration. A pipeline that declares none is governed by
/// `Declaration::default_for` (every report controlled, the default rule): disclosure is not opted into.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Declaration {
    /// The rule set's name as declared (`1-4`, `nhs-hes`).
    pub suppress: String,
    pub rule: Rule,
    /// Whether the pipeline declared `disclosure:` (else the default governs it).
    pub declared: bool,
    /// Per step table: columns exempt from the rule, each with its reason (`disclosure.public`).
    pub public: BTreeMap<String, BTreeMap<String, String>>,
    /// Per step table: columns that are counts whatever their type (`disclosure.counts`).
    pub counts: BTreeMap<String, BTreeSet<String>>,
    /// Report steps whose PDFs are released.
    pub reports: BTreeSet<String>,
    /// SQL steps whose tables are released, with their count columns.
    pub tables: BTreeMap<String, Vec<String>>,
    /// Whether the pipeline publishes counts of people or of events about people.
    pub person_counts: bool,
    pub note: String,
}

/// How one output of a run is governed, as its run record says (`disclosure`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputDisclosure {
    pub path: String,
    /// `controlled` (released beyond the organisation, under the rule) or `restricted`.
    pub class: String,
    /// For a controlled output: the counts suppressed (`1-4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<String>,
}

/// Validates a `disclosure:` declaration against the pipeline's steps; errors carry their place.
pub fn declaration(
    file: &Path,
    at: &marked_yaml::Span,
    raw: &RawDisclosure,
    steps: &[Step],
    errors: &mut Vec<(Location, String)>,
) -> Declaration {
    let rule = Rule::parse(raw.suppress.as_str()).unwrap_or_else(|| {
        errors.push((
            location(file, raw.suppress.span()),
            format!(
                "disclosure: `suppress: {}` is not a rule set boardpack knows: write {} \
                 (src/disclosure.rs)",
                raw.suppress.as_str(),
                Rule::NAMES
            ),
        ));
        Rule::default()
    });
    if raw.restricted.as_str() != "tables" {
        errors.push((
            location(file, raw.restricted.span()),
            format!(
                "disclosure: `restricted: {}`: write `restricted: tables` (every step table not \
                 declared under `controlled.tables` is restricted)",
                raw.restricted.as_str()
            ),
        ));
    }
    let kind = |id: &str| steps.iter().find(|s| s.id == id).map(|s| &s.kind);
    let mut reports = BTreeSet::new();
    for r in raw.controlled.reports.iter() {
        match kind(r.as_str()) {
            Some(StepKind::Report { .. }) => {
                reports.insert(r.as_str().to_string());
            }
            Some(_) => errors.push((
                location(file, r.span()),
                format!(
                    "disclosure: `{}` is not a report step (`controlled.reports` lists PDFs)",
                    r.as_str()
                ),
            )),
            None => errors.push((
                location(file, r.span()),
                format!("disclosure: unknown step `{}`", r.as_str()),
            )),
        }
    }
    // A PDF always leaves the organisation: every report is under the rule.
    for s in steps {
        if matches!(s.kind, StepKind::Report { .. }) && !reports.contains(&s.id) {
            errors.push((
                location(file, raw.controlled.reports.span()),
                format!(
                    "disclosure: report `{}` is not in `controlled.reports` (every PDF is released \
                     beyond the organisation)",
                    s.id
                ),
            ));
        }
    }
    let mut tables = BTreeMap::new();
    for (id, columns) in raw.controlled.tables.iter().flatten() {
        match kind(id) {
            Some(StepKind::Sql { .. }) => {}
            _ => errors.push((
                location(file, columns.span()),
                format!("disclosure: `controlled.tables` names `{id}`, which is not a sql step"),
            )),
        }
        if columns.is_empty() {
            errors.push((
                location(file, columns.span()),
                format!("disclosure: released table `{id}` lists no count columns"),
            ));
        }
        tables.insert(
            id.clone(),
            columns.iter().map(|c| c.as_str().to_string()).collect(),
        );
    }
    let is_sql = |id: &str| matches!(kind(id), Some(StepKind::Sql { .. }));
    let mut public = BTreeMap::new();
    for (id, columns) in raw.public.iter().flatten() {
        if !is_sql(id) {
            errors.push((
                location(file, columns.span()),
                format!("disclosure: `public` names `{id}`, which is not a sql step"),
            ));
        }
        let mut exempt = BTreeMap::new();
        for (column, reason) in columns.iter() {
            if reason.as_str().trim().is_empty() {
                errors.push((
                    location(file, reason.span()),
                    format!(
                        "disclosure: public column `{id}.{column}` needs its reason (why it is not a \
                         count of people or events), which every PDF prints"
                    ),
                ));
            }
            exempt.insert(column.clone(), reason.as_str().trim().to_string());
        }
        public.insert(id.clone(), exempt);
    }
    let mut counts = BTreeMap::new();
    for (id, columns) in raw.counts.iter().flatten() {
        if !is_sql(id) {
            errors.push((
                location(file, columns.span()),
                format!("disclosure: `counts` names `{id}`, which is not a sql step"),
            ));
        }
        for c in columns.iter() {
            if public.get(id).is_some_and(|p| p.contains_key(c.as_str())) {
                errors.push((
                    location(file, c.span()),
                    format!(
                        "disclosure: `{id}.{}` is declared both a count and public",
                        c.as_str()
                    ),
                ));
            }
        }
        counts.insert(
            id.clone(),
            columns.iter().map(|c| c.as_str().to_string()).collect(),
        );
    }
    let person_counts = raw.person_counts.as_ref().is_none_or(|p| **p);
    let note = raw
        .note
        .as_ref()
        .map(|n| n.as_str().trim().to_string())
        .unwrap_or_default();
    if !person_counts && note.is_empty() {
        let span = raw.person_counts.as_ref().map_or(at, |p| p.span());
        errors.push((
            location(file, span),
            "disclosure: `person_counts: false` needs a `note` saying what the pipeline publishes instead"
                .to_string(),
        ));
    }
    Declaration {
        suppress: rule.name().to_string(),
        rule,
        declared: true,
        public,
        counts,
        reports,
        tables,
        person_counts,
        note,
    }
}

impl Declaration {
    /// The declaration of a pipeline that declares none: every report is controlled under the default
    /// rule, and every table restricted.
    pub fn default_for(steps: &[Step]) -> Declaration {
        Declaration {
            suppress: Rule::default().name().to_string(),
            rule: Rule::default(),
            declared: false,
            public: BTreeMap::new(),
            counts: BTreeMap::new(),
            reports: steps
                .iter()
                .filter(|s| matches!(s.kind, StepKind::Report { .. }))
                .map(|s| s.id.clone())
                .collect(),
            tables: BTreeMap::new(),
            person_counts: true,
            note: String::new(),
        }
    }

    /// How the cells of step table `table` reach a controlled report.
    pub fn guard(&self, table: &str, atoms: crate::derivation::Atoms) -> Guard {
        Guard {
            rule: self.rule,
            derived: crate::derivation::derived(&atoms),
            atoms,
            counts: self.counts.get(table).cloned().unwrap_or_default(),
            public: self
                .public
                .get(table)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// How each output of a run is governed: a report's PDF and a declared table are controlled, every
    /// other table restricted.
    pub fn classify(&self, outputs: &[crate::record::ObjectRecord]) -> Vec<OutputDisclosure> {
        outputs
            .iter()
            .map(|o| {
                // A report typeset per value writes `reports/<step>/<value>.pdf`: the step names it.
                let step = crate::record::output_step(&o.path);
                let controlled = if o.path.ends_with(".pdf") {
                    o.path.contains("/reports/") && self.reports.contains(step)
                } else {
                    o.path.ends_with(".parquet")
                        && o.path.contains("/tables/")
                        && self.tables.contains_key(step)
                };
                OutputDisclosure {
                    path: o.path.clone(),
                    class: if controlled {
                        "controlled"
                    } else {
                        "restricted"
                    }
                    .to_string(),
                    suppress: controlled.then(|| self.suppress.clone()),
                }
            })
            .collect()
    }

    /// What every PDF of the pipeline states in its appendix (and, under `released`, each released
    /// table's count columns, which `check_released` holds to the rule as the step writes the table).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "suppress": self.suppress,
            "method": self.rule.describe(),
            "token": self.rule.token(),
            "declared": self.declared,
            "public": self.public.iter().flat_map(|(t, cols)| cols.iter().map(move |(c, why)| {
                serde_json::json!({ "table": t, "column": c, "reason": why })
            })).collect::<Vec<_>>(),
            "reports": self.reports,
            "tables": self.tables.keys().collect::<Vec<_>>(),
            "released": self.tables,
            "person_counts": self.person_counts,
            "note": self.note,
        })
    }
}

/// What is printed for one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    /// The count itself.
    Value,
    /// `<5`: a count from 1 to 4.
    Small,
    /// `*`: withheld so that a `<5` cannot be worked out from the total.
    Withheld,
}

/// The decision for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDecision {
    pub cells: Vec<Shown>,
    /// Whether the group's total may be printed.
    pub total_shown: bool,
}

/// For one row's numerator and denominator (the numerator never above it): whether the shown
/// denominator must be withheld too. A withheld numerator is known to lie above the rule's band and not
/// above its denominator, so a denominator just above the band gives it away: `*` over 5 is 5 of 5.
pub fn pair_gives_away(rule: Rule, numerator: Shown, denominator: i64, shown: Shown) -> bool {
    numerator == Shown::Withheld && shown == Shown::Value && denominator <= rule.threshold() + 1
}

/// Applies the rule to one group's counts (`None` = no count, e.g. a practice that did not submit: it
/// prints as a gap, is not part of the total and protects nothing).
pub fn protect_group(counts: &[Option<i64>]) -> GroupDecision {
    protect_group_under(Rule::default(), counts)
}

/// `protect_group` under rule set `rule` (which counts are small).
pub fn protect_group_under(rule: Rule, counts: &[Option<i64>]) -> GroupDecision {
    protect_group_forced(rule, counts, &[])
}

/// `protect_group_under`, with the cells `forced` marks withheld whatever their size (a denominator that
/// would give its row's withheld numerator away, `pair_gives_away`) and protected as a `<5` is: enough
/// further counts are withheld that the total does not give them away either.
pub fn protect_group_forced(rule: Rule, counts: &[Option<i64>], forced: &[bool]) -> GroupDecision {
    let mut decision = decide(rule, counts, forced);
    // A total from 1 to 4 is itself a small count (a PCN's 4 complaints, all in `<5` cells).
    if rule.is_small(counts.iter().flatten().sum()) {
        decision.total_shown = false;
    }
    decision
}

/// Rules 1 to 3 for one group.
fn decide(rule: Rule, counts: &[Option<i64>], forced: &[bool]) -> GroupDecision {
    let is_forced = |i: usize| forced.get(i).copied().unwrap_or(false);
    let mut cells: Vec<Shown> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(v) if rule.is_small(*v) => Shown::Small,
            Some(_) if is_forced(i) => Shown::Withheld,
            _ => Shown::Value,
        })
        .collect();
    // The cells the audit protects: the small ones, and those withheld for another table's sake.
    let protected: Vec<bool> = (0..cells.len())
        .map(|i| cells[i] == Shown::Small || (is_forced(i) && cells[i] == Shown::Withheld))
        .collect();
    if !protected.contains(&true) {
        return GroupDecision {
            cells,
            total_shown: true,
        };
    }
    // Candidates for withholding: shown counts above the rule's band, smallest first.
    let mut candidates: Vec<usize> = (0..counts.len())
        .filter(|&i| matches!(counts[i], Some(v) if v > rule.threshold()))
        .collect();
    candidates.sort_by_key(|&i| (counts[i], i));
    let mut next = candidates.into_iter();
    let complements =
        |cells: &[Shown]| (0..cells.len()).any(|i| cells[i] == Shown::Withheld && !protected[i]);
    // At least one complement always, so that a single `<5` is never the total less the shown counts.
    loop {
        let must_add = !complements(&cells) || !audit_passes(rule, counts, &cells, &protected);
        if !must_add {
            return GroupDecision {
                cells,
                total_shown: true,
            };
        }
        match next.next() {
            Some(i) => cells[i] = Shown::Withheld,
            None => {
                return GroupDecision {
                    total_shown: audit_passes(rule, counts, &cells, &protected),
                    cells,
                };
            }
        }
    }
}

/// The values a reader could deduce for each `<5` cell from the printed figures: the total, the shown
/// counts and the known bounds of every hidden cell. `None` for cells that are not `<5`.
pub fn feasible_ranges(counts: &[Option<i64>], cells: &[Shown]) -> Vec<Option<(i64, i64)>> {
    feasible_ranges_under(Rule::default(), counts, cells)
}

/// `feasible_ranges` under rule set `rule` (the band a suppressed count lies in).
pub fn feasible_ranges_under(
    rule: Rule,
    counts: &[Option<i64>],
    cells: &[Shown],
) -> Vec<Option<(i64, i64)>> {
    let small: Vec<bool> = cells.iter().map(|s| *s == Shown::Small).collect();
    ranges_of(rule, counts, cells, &small)
}

/// The values a reader could deduce, from the printed figures, for each cell `protected` marks (`None`
/// for the others): each hidden cell lies within its token's bounds, and the hidden cells add up to the
/// total less the shown ones.
fn ranges_of(
    rule: Rule,
    counts: &[Option<i64>],
    cells: &[Shown],
    protected: &[bool],
) -> Vec<Option<(i64, i64)>> {
    let band = rule.threshold();
    let total: i64 = counts.iter().flatten().sum();
    let shown_sum: i64 = counts
        .iter()
        .zip(cells)
        .filter(|(_, s)| **s == Shown::Value)
        .filter_map(|(c, _)| *c)
        .sum();
    let hidden_sum = total - shown_sum;
    // A withheld count lies between 5 and the smallest count still shown (it was chosen smallest first).
    let smallest_shown = counts
        .iter()
        .zip(cells)
        .filter(|(c, s)| **s == Shown::Value && matches!(c, Some(v) if *v > band))
        .filter_map(|(c, _)| *c)
        .min();
    let bounds: Vec<Option<(i64, i64)>> = cells
        .iter()
        .map(|s| match s {
            Shown::Value => None,
            Shown::Small => Some((1, band)),
            Shown::Withheld => Some((band + 1, smallest_shown.unwrap_or(i64::MAX / 4))),
        })
        .collect();
    cells
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if !protected.get(i).copied().unwrap_or(false) {
                return None;
            }
            let (own_lo, own_hi) = bounds[i]?;
            let (mut lo_others, mut hi_others) = (0i64, 0i64);
            for (j, b) in bounds.iter().enumerate() {
                if let (true, Some((lo, hi))) = (j != i, b) {
                    lo_others += lo;
                    hi_others = hi_others.saturating_add(*hi);
                }
            }
            let lo = own_lo.max(hidden_sum.saturating_sub(hi_others));
            let hi = own_hi.min(hidden_sum - lo_others);
            Some((lo, hi))
        })
        .collect()
}

/// Every `<5` cell keeps at least two possible values.
fn audit_passes(rule: Rule, counts: &[Option<i64>], cells: &[Shown], protected: &[bool]) -> bool {
    ranges_of(rule, counts, cells, protected)
        .into_iter()
        .flatten()
        .all(|(lo, hi)| hi > lo)
}

/// A released table (`controlled.tables`) leaves the organisation as written: the step fails when one of its
/// declared count columns holds a count from 1 to 4 (its SQL must suppress them first), naming the column
/// and how many rows. The column names are configuration, quoted as identifiers.
pub async fn check_released(
    engine: &crate::engine::Engine,
    table: &str,
    columns: &[serde_json::Value],
) -> Result<(), String> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for c in columns.iter().filter_map(serde_json::Value::as_str) {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE CAST({} AS DOUBLE) BETWEEN 1 AND 4",
            quote(table),
            quote(c)
        );
        let rows = engine.query_json(&sql, &[]).await.map_err(|e| {
            format!("released table `{table}`: its count column `{c}` cannot be checked: {e}")
        })?;
        let n = rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if n > 0 {
            return Err(format!(
                "released table `{table}` (disclosure: controlled) has {n} row(s) with a `{c}` from 1 \
                 to 4: a table released beyond the organisation must suppress them in its SQL"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Shown::*;

    #[test]
    fn nothing_small_nothing_withheld() {
        let d = protect_group(&[Some(10), Some(0), Some(7)]);
        assert_eq!(d.cells, vec![Value, Value, Value]);
        assert!(d.total_shown);
    }

    #[test]
    fn one_small_count_takes_the_smallest_other_with_it() {
        let d = protect_group(&[Some(30), Some(3), Some(12), Some(9)]);
        assert_eq!(d.cells, vec![Value, Small, Value, Withheld]);
        assert!(d.total_shown);
        // From the total (54) and the shown 30 and 12: the hidden pair sums to 12, the `*` is 5 to 12, so
        // the `<5` could be 1 to 4.
        assert_eq!(
            feasible_ranges(&[Some(30), Some(3), Some(12), Some(9)], &d.cells)[1],
            Some((1, 4))
        );
    }

    #[test]
    fn an_edge_case_takes_a_second_complement() {
        // 1 + 5 = 6 would give the `<5` away (only 1 + 5 makes 6): a second complement is withheld.
        let counts = [Some(1), Some(5), Some(6), Some(40)];
        let d = protect_group(&counts);
        assert_eq!(d.cells, vec![Small, Withheld, Withheld, Value]);
        let r = feasible_ranges(&counts, &d.cells)[0].unwrap();
        assert!(r.1 > r.0, "{r:?}");
    }

    #[test]
    fn a_group_with_nothing_left_to_withhold_loses_its_total() {
        let d = protect_group(&[Some(2), Some(0)]);
        assert_eq!(d.cells, vec![Small, Value]);
        assert!(!d.total_shown);
    }

    #[test]
    fn a_total_from_1_to_4_is_withheld() {
        // Three `<5` cells adding up to 4: each could be 1 or 2, but the total is itself a small count.
        let d = protect_group(&[Some(0), Some(1), Some(1), Some(2)]);
        assert_eq!(d.cells, vec![Value, Small, Small, Small]);
        assert!(!d.total_shown);
        assert!(protect_group(&[Some(0), Some(0)]).total_shown);
    }

    #[test]
    fn the_rule_sets() {
        let r = Rule::SmallNumbers;
        assert!(!r.is_small(0) && r.is_small(1) && r.is_small(4) && !r.is_small(5));
        assert_eq!((r.token(), r.published(12)), ("<5", 12));
        let h = Rule::NhsHes;
        assert!(h.is_small(7) && !h.is_small(8));
        assert_eq!(
            [8, 12, 13, 41, 1003].map(|c| h.published(c)),
            [10, 10, 15, 40, 1005]
        );
        assert_eq!(Rule::parse(" nhs-hes "), Some(h));
        assert_eq!(Rule::parse("1 - 4"), Some(r));
        assert_eq!(Rule::parse("1-9"), None);
    }

    #[test]
    fn under_nhs_hes_a_7_takes_a_complement_above_7() {
        let counts = [Some(7), Some(6), Some(8), Some(30)];
        let d = protect_group_under(Rule::NhsHes, &counts);
        assert_eq!(d.cells, vec![Small, Small, Withheld, Value]);
        for r in feasible_ranges_under(Rule::NhsHes, &counts, &d.cells)
            .into_iter()
            .flatten()
        {
            assert!(r.1 > r.0, "{r:?}");
        }
    }

    #[test]
    fn a_guard_takes_integer_cells_and_declared_columns_for_counts_and_exempts_public_ones() {
        let g = Guard {
            rule: Rule::SmallNumbers,
            counts: ["share_count".to_string()].into(),
            public: ["rank".to_string()].into(),
            derived: BTreeMap::new(),
            atoms: BTreeMap::new(),
        };
        assert!(g.is_count("n", &serde_json::json!(3)));
        assert!(!g.is_count("rate", &serde_json::json!(0.5)));
        assert!(g.is_count("share_count", &serde_json::json!(3.0)));
        assert!(!g.is_count("rank", &serde_json::json!(3)));
        assert!(!g.is_count("name", &serde_json::json!("3")));
    }

    #[test]
    fn a_withheld_numerator_over_a_denominator_just_above_the_band_takes_the_denominator_with_it() {
        let r = Rule::SmallNumbers;
        assert!(pair_gives_away(r, Withheld, 5, Value));
        assert!(!pair_gives_away(r, Withheld, 6, Value));
        assert!(!pair_gives_away(r, Small, 5, Value));
        assert!(!pair_gives_away(r, Withheld, 5, Withheld));
        assert!(pair_gives_away(Rule::NhsHes, Withheld, 8, Value));
    }

    #[test]
    fn a_forced_cell_is_protected_from_the_total_like_a_small_one() {
        // B's denominator 5 is withheld for its numerator's sake: the total (55) less 10 and 40 would
        // give it back, so another denominator is withheld with it.
        let counts = [Some(10), Some(5), Some(40)];
        let d = protect_group_forced(Rule::SmallNumbers, &counts, &[false, true, false]);
        assert_eq!(d.cells, vec![Withheld, Withheld, Value]);
        let r = ranges_of(Rule::SmallNumbers, &counts, &d.cells, &[false, true, false])[1].unwrap();
        assert!(r.1 > r.0, "{r:?}");
    }

    #[test]
    fn gaps_are_not_counts() {
        let d = protect_group(&[None, Some(4), Some(20), Some(25)]);
        assert_eq!(d.cells, vec![Value, Small, Withheld, Value]);
    }
}
