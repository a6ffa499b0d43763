//! The data-quality rules of an input's contract beyond one column's type, as validated from the pipeline:
//! what happens to a row breaking a rule (`on_fail`), rules over several columns of a row (`rules:` with a
//! boolean SQL `expr`), codes that must exist in a reference input or seed (`in_reference:`), how months'
//! objects may differ (`drift:`) and what a complete month looks like (`completeness:`).
//!
//! Owns these rules' shapes and their checks at load time (names resolve, thresholds parse, expressions
//! parse over the contract's columns). It never reads data: `engine` evaluates the rules before any step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use marked_yaml::Spanned;

use crate::diagnostic::Location;
use crate::plan::{ColumnType, Input};
use crate::spec::{RawCompleteness, RawDrift, RawInput, RawReference, location};

/// What a run does with a row that breaks a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// Fail the run, naming the input, the objects, the column, the count and examples.
    #[default]
    Error,
    /// Set the rows aside (`runs/…/quarantine/<input>.parquet`), leave them out of the steps' input, count
    /// them in the run record and the pack.
    Quarantine,
}

impl OnFail {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "error" => Some(OnFail::Error),
            "quarantine" => Some(OnFail::Quarantine),
            _ => None,
        }
    }
}

/// A table and column of valid codes: another input of the pipeline or a seed, optionally only the rows
/// whose columns equal the given values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reference {
    /// The input or seed name (both are tables of the run).
    pub table: String,
    /// True when `table` is an input (registered before the inputs that refer to it).
    pub is_input: bool,
    pub column: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, String>,
}

impl Reference {
    /// How an error names it: "input `organisations`.`org_code`" or "seed `sources`.`provider_code` where
    /// source = ae_attendances".
    pub fn describe(&self) -> String {
        let kind = if self.is_input { "input" } else { "seed" };
        let mut text = format!("{kind} `{}`, column `{}`", self.table, self.column);
        if !self.filter.is_empty() {
            let conds: Vec<String> = self
                .filter
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            text.push_str(&format!(" where {}", conds.join(" and ")));
        }
        text
    }
}

/// A rule over the columns of a row: the boolean SQL expression `expr` must not be false.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowRule {
    pub name: String,
    pub expr: String,
    pub on_fail: OnFail,
    pub description: String,
}

/// Which differences between the objects of different months are accepted.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Drift {
    pub allow_added_columns: bool,
    pub allow_widening: bool,
}

/// What a complete month of a partitioned input looks like.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Completeness {
    /// A date or timestamp column: each day of the month should have rows.
    pub days: Option<String>,
    pub max_missing_days: Option<f64>,
    /// A column whose values should include every expected code.
    pub codes: Option<(String, Reference)>,
    pub max_missing_codes: Option<f64>,
}

/// The data-quality rules of one input, validated.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Rules {
    pub rows: Vec<RowRule>,
    /// What a repeated key (rows sharing the `key: true` columns, and the month) does: the key columns'
    /// `on_fail:`, which must agree. `quarantine` sets every row of a repeated key aside.
    pub key_on_fail: OnFail,
    pub drift: Option<Drift>,
    pub completeness: Option<Completeness>,
}

/// Errors found while validating: each with its place in the pipeline file.
pub type Errors = Vec<(Location, String)>;

/// Parses `on_fail:` (absent: `error`).
pub fn on_fail(
    file: &Path,
    input: &str,
    raw: Option<&Spanned<String>>,
    errors: &mut Errors,
) -> OnFail {
    let Some(raw) = raw else {
        return OnFail::Error;
    };
    OnFail::parse(raw.as_str()).unwrap_or_else(|| {
        errors.push((
            location(file, raw.span()),
            format!(
                "input `{input}`: unknown `on_fail: {}` (write `error` or `quarantine`)",
                raw.as_str()
            ),
        ));
        OnFail::Error
    })
}

/// Parses a reference; whether its table exists is checked by `check_references` once every input and
/// seed is known.
pub fn reference(file: &Path, input: &str, raw: &RawReference, errors: &mut Errors) -> Reference {
    let (table, is_input) = match (&raw.input, &raw.seed) {
        (Some(i), None) => (i.as_str().to_string(), true),
        (None, Some(s)) => (s.as_str().to_string(), false),
        _ => {
            errors.push((
                location(file, raw.column.span()),
                format!("input `{input}`: a reference names exactly one of `input:` or `seed:`"),
            ));
            (String::new(), false)
        }
    };
    Reference {
        table,
        is_input,
        column: raw.column.as_str().to_string(),
        filter: raw
            .filter
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().to_string()))
            .collect(),
    }
}

/// Parses a share written `5%` or `0.05`.
fn share(file: &Path, input: &str, raw: &Spanned<String>, errors: &mut Errors) -> Option<f64> {
    let text = raw.as_str().trim();
    let value = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => text.parse::<f64>().ok(),
    };
    match value {
        Some(v) if (0.0..=1.0).contains(&v) => Some(v),
        _ => {
            errors.push((
                location(file, raw.span()),
                format!(
                    "input `{input}`: `max_missing: {text}` is not a share between 0% and 100% (write e.g. `5%`)"
                ),
            ));
            None
        }
    }
}

/// Validates an input's `rules:`, `drift:` and `completeness:` against its declared columns.
pub fn rules(file: &Path, name: &str, raw: &RawInput, input: &Input, errors: &mut Errors) -> Rules {
    let mut out = Rules {
        key_on_fail: key_on_fail(file, name, raw, input, errors),
        ..Rules::default()
    };
    let mut seen = BTreeSet::new();
    for r in raw.rules.iter().flatten() {
        if !seen.insert(r.name.as_str().to_string()) {
            errors.push((
                location(file, r.name.span()),
                format!("input `{name}`: duplicate rule `{}`", r.name.as_str()),
            ));
        }
        if let Err(e) = crate::engine::check_row_expr(input, r.expr.as_str()) {
            errors.push((
                location(file, r.expr.span()),
                format!(
                    "input `{name}`, rule `{}`: `{}` is not a boolean expression over the input's columns: {e}",
                    r.name.as_str(),
                    r.expr.as_str()
                ),
            ));
        }
        out.rows.push(RowRule {
            name: r.name.as_str().to_string(),
            expr: r.expr.as_str().to_string(),
            on_fail: on_fail(file, name, r.on_fail.as_ref(), errors),
            description: r.description.clone().unwrap_or_default(),
        });
    }
    out.drift = raw.drift.as_ref().map(|d: &RawDrift| Drift {
        allow_added_columns: d.allow_added_columns.unwrap_or(false),
        allow_widening: d.allow_widening.unwrap_or(false),
    });
    if let Some(c) = &raw.completeness {
        out.completeness = Some(completeness(file, name, c, input, errors));
    }
    out
}

/// The key's `on_fail`: that of its columns, which must all say the same (one key, one rule).
fn key_on_fail(
    file: &Path,
    name: &str,
    raw: &RawInput,
    input: &Input,
    errors: &mut Errors,
) -> OnFail {
    let mut decided: Option<(OnFail, &str)> = None;
    for c in input.columns.iter().filter(|c| c.key) {
        match decided {
            None => decided = Some((c.on_fail, c.name.as_str())),
            Some((first, first_name)) if first != c.on_fail => {
                let at = raw
                    .columns
                    .iter()
                    .find(|r| r.name.as_str() == c.name)
                    .map(|r| location(file, r.on_fail.as_ref().map_or(r.name.span(), |o| o.span())))
                    .unwrap_or_else(|| Location {
                        file: file.to_path_buf(),
                        line: 1,
                        column: 1,
                    });
                errors.push((
                    at,
                    format!(
                        "input `{name}`: the key columns `{first_name}` and `{}` disagree on `on_fail` \
                         (a repeated key is one rule: give every `key: true` column the same `on_fail`)",
                        c.name
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    decided.map(|d| d.0).unwrap_or_default()
}

fn completeness(
    file: &Path,
    name: &str,
    raw: &RawCompleteness,
    input: &Input,
    errors: &mut Errors,
) -> Completeness {
    let at = raw
        .days
        .as_ref()
        .map(|d| d.span())
        .or(raw.codes.as_ref().map(|c| c.column.span()));
    if !input.partitioned_by_month
        && let Some(at) = at
    {
        errors.push((
            location(file, at),
            format!("input `{name}`: `completeness` needs `partitioned_by: month`"),
        ));
    }
    let max = raw
        .max_missing
        .as_ref()
        .and_then(|m| share(file, name, m, errors));
    let mut days = None;
    if let Some(d) = &raw.days {
        match input.columns.iter().find(|c| c.name == d.as_str()) {
            Some(c) if matches!(c.kind, ColumnType::Date | ColumnType::Timestamp) => {
                days = Some(d.as_str().to_string())
            }
            Some(_) => errors.push((
                location(file, d.span()),
                format!(
                    "input `{name}`: completeness `days: {}` needs a date or timestamp column",
                    d.as_str()
                ),
            )),
            None => errors.push((
                location(file, d.span()),
                format!(
                    "input `{name}`: completeness `days: {}` is not a declared column",
                    d.as_str()
                ),
            )),
        }
    }
    let mut codes = None;
    let mut max_codes = max;
    if let Some(c) = &raw.codes {
        if !input.columns.iter().any(|k| k.name == c.column.as_str()) {
            errors.push((
                location(file, c.column.span()),
                format!(
                    "input `{name}`: completeness `codes` column `{}` is not a declared column",
                    c.column.as_str()
                ),
            ));
        }
        codes = Some((
            c.column.as_str().to_string(),
            reference(file, name, &c.expected, errors),
        ));
        if let Some(m) = &c.max_missing {
            max_codes = share(file, name, m, errors);
        }
    }
    Completeness {
        days,
        max_missing_days: max,
        codes,
        max_missing_codes: max_codes,
    }
}

/// Every reference of every input names an input or seed of the pipeline (with the column declared, for an
/// input), and inputs referring to inputs are ordered after them. Returns the inputs in that order.
pub fn check_references(
    file: &Path,
    inputs: Vec<Input>,
    seeds: &BTreeSet<String>,
    errors: &mut Errors,
    locations: &BTreeMap<String, Location>,
) -> Vec<Input> {
    let by_name: BTreeMap<String, Input> =
        inputs.iter().map(|i| (i.name.clone(), i.clone())).collect();
    for input in &inputs {
        let at = locations
            .get(&input.name)
            .cloned()
            .unwrap_or_else(|| Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            });
        for r in references(input) {
            if r.table.is_empty() {
                continue;
            }
            if r.is_input {
                match by_name.get(&r.table) {
                    None => errors.push((
                        at.clone(),
                        format!(
                            "input `{}`: reference to unknown input `{}`",
                            input.name, r.table
                        ),
                    )),
                    Some(t) if t.partitioned_by_month => errors.push((
                        at.clone(),
                        format!(
                            "input `{}`: reference input `{}` must be an unpartitioned table",
                            input.name, r.table
                        ),
                    )),
                    Some(t) => {
                        for c in std::iter::once(&r.column).chain(r.filter.keys()) {
                            if !t.columns.iter().any(|k| &k.name == c) {
                                errors.push((
                                    at.clone(),
                                    format!(
                                        "input `{}`: reference input `{}` declares no column `{c}`",
                                        input.name, r.table
                                    ),
                                ));
                            }
                        }
                    }
                }
                if r.table == input.name {
                    errors.push((
                        at.clone(),
                        format!("input `{}` refers to itself", input.name),
                    ));
                }
            } else if !seeds.contains(&r.table) {
                errors.push((
                    at.clone(),
                    format!(
                        "input `{}`: reference to unknown seed `{}`",
                        input.name, r.table
                    ),
                ));
            }
        }
    }
    // Referenced inputs first (references go one level deep: a reference table is unpartitioned and is
    // registered before the inputs naming it).
    let (first, rest): (Vec<Input>, Vec<Input>) = inputs
        .into_iter()
        .partition(|i| referenced_inputs(&by_name).contains(&i.name));
    first.into_iter().chain(rest).collect()
}

fn referenced_inputs(inputs: &BTreeMap<String, Input>) -> BTreeSet<String> {
    inputs
        .values()
        .flat_map(references)
        .filter(|r| r.is_input)
        .map(|r| r.table.clone())
        .collect()
}

/// Every reference an input's rules make.
pub fn references(input: &Input) -> Vec<&Reference> {
    input
        .columns
        .iter()
        .filter_map(|c| c.in_reference.as_ref())
        .chain(
            input
                .rules
                .completeness
                .iter()
                .filter_map(|c| c.codes.as_ref().map(|(_, r)| r)),
        )
        .collect()
}

/// Whether an input's row rules are judged by its own rows alone, so that objects which passed them once
/// under the same contract pass again (the step cache skips the scan). Not so when rows are quarantined
/// (each run writes and counts its own), when completeness is judged, or when codes are checked against a
/// reference (which may change without the input changing).
pub fn judged_by_rows_alone(input: &Input) -> bool {
    input
        .columns
        .iter()
        .all(|c| c.on_fail != OnFail::Quarantine && c.in_reference.is_none())
        && input
            .rules
            .rows
            .iter()
            .all(|r| r.on_fail != OnFail::Quarantine)
        && input.rules.completeness.is_none()
        && input.rules.key_on_fail != OnFail::Quarantine
}
