//! Pipeline specifications as written: the raw YAML of `pipelines/*.yaml`, read with the place of every
//! node, so that each mistake is reported with its file, line and column.
//!
//! Owns the file format only: keys, their types, and which keys exist. It does not check that names refer
//! to anything, that files exist or that SQL parses — that is `plan`'s job, which turns a `RawPipeline` into
//! a validated `Plan`. Every shape error in a file is collected, not just the first.

use std::path::{Path, PathBuf};

use marked_yaml::{LoaderOptions, Node, Span, Spanned};
use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// Refuse pipeline files larger than this before parsing: a pipeline is a page of YAML, not a data set.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;
/// Refuse structures nested deeper than this (bounded work on hostile input).
pub const MAX_DEPTH: usize = 32;

/// A pipeline file as written.
#[derive(Debug, Clone)]
pub struct RawPipeline {
    pub file: PathBuf,
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub parameters: Vec<(Spanned<String>, RawParameter)>,
    pub inputs: Vec<(Spanned<String>, RawInput)>,
    pub steps: Vec<(Span, RawStep)>,
    pub schedule: Option<(Span, RawSchedule)>,
    /// Small tables kept with the project (`config/…`, YAML lists or CSV): metric standards, mappings.
    pub seeds: Vec<(Spanned<String>, Spanned<String>)>,
    /// Seeds written as a mapping: a table read from files of a published format (`format: desnz`).
    pub seed_tables: Vec<(Spanned<String>, RawSeedTable)>,
    /// Which outputs leave the organisation under small-number suppression, and which stay restricted.
    pub disclosure: Option<(Span, RawDisclosure)>,
}

/// A pipeline's disclosure declaration (`disclosure:`), validated by `crate::disclosure::declaration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisclosure {
    /// The counts suppressed in released outputs: `1-4` (printed `<5`).
    pub suppress: Spanned<String>,
    /// Released beyond the organisation, under the rule.
    pub controlled: RawControlled,
    /// Everything else the run writes: `tables` (every other step table, kept for audit and `verify`).
    pub restricted: Spanned<String>,
    /// `false` for a pipeline that publishes no counts of people or events about people (then `note` says
    /// what it publishes instead).
    #[serde(default)]
    pub person_counts: Option<Spanned<bool>>,
    /// What the PDFs state besides the rule (required when `person_counts: false`).
    #[serde(default)]
    pub note: Option<Spanned<String>>,
    /// Integer columns of step tables that are not counts of people or events, printed as they are:
    /// `step: { column: reason }` (every PDF lists them with their reasons).
    #[serde(default)]
    pub public: Option<
        std::collections::BTreeMap<
            String,
            Spanned<std::collections::BTreeMap<String, Spanned<String>>>,
        >,
    >,
    /// Columns of step tables that are counts whatever their type (a count computed as a float):
    /// `step: [column, …]`.
    #[serde(default)]
    pub counts: Option<std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControlled {
    /// Report steps whose PDFs are released (every report step of the pipeline).
    pub reports: Spanned<Vec<Spanned<String>>>,
    /// SQL steps whose tables are released too, each with its count columns: `step: [numerator, …]`.
    #[serde(default)]
    pub tables: Option<std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
}

/// A seed read from files of a published format rather than a plain YAML list or CSV table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeedTable {
    /// `desnz`: UK Government GHG conversion factor flat files, one per year (see `crate::factors`);
    /// `metrics`: a product's list of metrics of the project's registry (see `crate::registry`).
    pub format: Spanned<String>,
    /// Files under `config/`, read together into one table.
    pub files: Vec<Spanned<String>>,
    /// `format: metrics`: the column naming each row's metric of the registry (`id` when omitted).
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParameter {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<Spanned<String>>,
    /// For `type: period`: which granularities the pipeline accepts (`month`, `quarter`, `year`).
    #[serde(default)]
    pub granularities: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// A prefix on the store, relative to its root: `inputs/ae_attendances`. Absent with `same_as`, which
    /// takes it from the input named.
    #[serde(default)]
    pub location: Option<Spanned<String>>,
    /// Another input of the pipeline whose objects this one reads again, under that input's declaration
    /// (location, partitioning, columns and every rule) but over its own months (`history_months`,
    /// `baseline_months`): one set of rules for one set of records.
    #[serde(default)]
    pub same_as: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    /// `month` for hive-style `month=YYYY-MM/` partitions; absent for an unpartitioned table.
    #[serde(default)]
    pub partitioned_by: Option<Spanned<String>>,
    /// Months before the period that steps also need (trend charts, same month last year).
    #[serde(default)]
    pub history_months: Option<Spanned<u32>>,
    /// Fixed months (`YYYY-MM`) that steps also need, however far before the period: a pre-Covid
    /// baseline month.
    #[serde(default)]
    pub baseline_months: Option<Vec<Spanned<String>>>,
    /// When true (the default) a run fails if no object at all is found for the months it needs. When
    /// false the input may be wholly absent for a period (the papers say "not available"); once any month
    /// of the period has objects, `period_months` holds as for a required input.
    #[serde(default)]
    pub required: Option<bool>,
    /// Which months of a run's period must have objects (partitioned inputs): `every` (the default),
    /// `first` (a quarterly or annual return filed under its period's first month) or `any`.
    #[serde(default)]
    pub period_months: Option<Spanned<String>>,
    /// How many of the period's latest months may be missing (data published in arrears): the run
    /// publishes, and the data-quality page and the run's warnings say which months the figures stop at.
    #[serde(default)]
    pub may_lag: Option<Spanned<u32>>,
    /// The contract's columns (none with `same_as`, which reads the columns of the input named).
    #[serde(default)]
    pub columns: Vec<RawColumn>,
    /// Rules over several columns of a row: a boolean SQL expression that must hold (`crate::engine`).
    #[serde(default)]
    pub rules: Option<Vec<RawRowRule>>,
    /// How the objects of different months may differ from each other (`drift:`).
    #[serde(default)]
    pub drift: Option<RawDrift>,
    /// What a complete month of the input looks like: every day, every expected code (`completeness:`).
    #[serde(default)]
    pub completeness: Option<RawCompleteness>,
}

/// A rule over the columns of a row: `expr` is a boolean SQL expression over the input's columns, evaluated
/// by the engine; a row for which it is false breaks the rule (a null result does not, as in SQL `CHECK`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRowRule {
    pub name: Spanned<String>,
    pub expr: Spanned<String>,
    /// `error` (the default) fails the run; `quarantine` sets the offending rows aside.
    #[serde(default)]
    pub on_fail: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A table and column holding the valid codes: another input or a seed, optionally only its rows whose
/// columns equal the given values (`where: { source: ae_attendances }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReference {
    #[serde(default)]
    pub input: Option<Spanned<String>>,
    #[serde(default)]
    pub seed: Option<Spanned<String>>,
    pub column: Spanned<String>,
    #[serde(default, rename = "where")]
    pub filter: Option<std::collections::BTreeMap<String, Spanned<String>>>,
}

/// Which differences between months' objects are accepted; anything else (a column dropped or renamed) is
/// an error naming the column, the object and the month.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    /// A column that appears in a later month (it is not read unless the contract declares it).
    #[serde(default)]
    pub allow_added_columns: Option<bool>,
    /// A number column widened between months (Int32 → Int64, Float32 → Float64, integer → float).
    #[serde(default)]
    pub allow_widening: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompleteness {
    /// A date or timestamp column: every day of each month of the period should have rows.
    #[serde(default)]
    pub days: Option<Spanned<String>>,
    /// Codes expected in each month of the period: `{ column: provider_code, expected: <reference> }`.
    #[serde(default)]
    pub codes: Option<RawExpectedCodes>,
    /// Beyond this share missing (`5%`) the run fails; below it the gap is a caveat and a warning.
    #[serde(default)]
    pub max_missing: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpectedCodes {
    pub column: Spanned<String>,
    pub expected: RawReference,
    /// Overrides the completeness's `max_missing` for the codes.
    #[serde(default)]
    pub max_missing: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub nullable: Option<bool>,
    #[serde(default)]
    pub key: Option<bool>,
    /// The only values the column may hold (strings or whole numbers); checked before any SQL runs.
    #[serde(default)]
    pub allowed: Option<Spanned<Vec<Spanned<String>>>>,
    /// The least value a number column may hold; checked before any SQL runs.
    #[serde(default)]
    pub min: Option<Spanned<f64>>,
    /// The greatest value a number column may hold; checked before any SQL runs.
    #[serde(default)]
    pub max: Option<Spanned<f64>>,
    /// The column's values must be codes of a reference input or seed.
    #[serde(default)]
    pub in_reference: Option<RawReference>,
    /// For a date or timestamp of a month-partitioned input, where its value may lie against the month of
    /// the object's partition: `within` (events: the date is in that month) or `by_end` (snapshots: on or
    /// before that month's last day).
    #[serde(default)]
    pub partition_month: Option<Spanned<String>>,
    /// `error` (the default) fails the run on a row breaking the column's rules; `quarantine` sets such
    /// rows aside (written under the run's prefix, counted in the record and the pack).
    #[serde(default)]
    pub on_fail: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A `sql` step: a file under `sql/`.
    #[serde(default)]
    pub sql: Option<Spanned<String>>,
    /// A `check` step: assertions, each a query returning the offending rows.
    #[serde(default)]
    pub check: Option<Vec<RawAssertion>>,
    /// A `report` step: a template under `reports/`.
    #[serde(default)]
    pub report: Option<Spanned<String>>,
    #[serde(default)]
    pub title: Option<String>,
    /// For a report: the step results its template reads.
    #[serde(default)]
    pub uses: Option<Vec<Spanned<String>>>,
    /// For a report: one PDF per value of a column, written `table.column` (a table of `uses`), instead
    /// of one PDF for everything (e.g. a practice-visit pack per PCN).
    #[serde(default)]
    pub each: Option<Spanned<String>>,
    #[serde(default)]
    pub depends_on: Option<Vec<Spanned<String>>>,
    /// For a sql step: the unit of each column whose figures `diff` and `verify` print in it
    /// (`pct_4h: percent`, `spend: gbp_thousands`, or `value: { from_column: unit }` for a long table whose
    /// rows name their own unit); validated by `crate::units::declared`.
    #[serde(default)]
    pub units: Option<Spanned<std::collections::BTreeMap<String, RawUnit>>>,
}

/// A column's unit as written: a unit's name, or the column of the table that names each row's unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawUnit {
    Name(String),
    FromColumn { from_column: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub name: Spanned<String>,
    /// A query returning the rows that break the rule: no rows means the assertion holds.
    pub sql: Spanned<String>,
    /// `error` (the default) fails the run; `warn` records and prints a warning.
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// When the scheduler builds this pipeline. Read and kept here; the scheduler gives it meaning.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub cron: String,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Which period a firing builds: `previous-month`, `previous-quarter`, `previous-year`.
    #[serde(default)]
    pub builds: Option<String>,
    /// Fire only on the Nth working day of the month (weekends and configured bank holidays skipped):
    /// `8` with `cron: "0 7 * * *"` is 07:00 on the 8th working day after month end.
    #[serde(default)]
    pub working_day: Option<u32>,
    /// When the period's data counts as landed, and how long to wait for it.
    #[serde(default)]
    pub ready: Option<RawReadiness>,
    /// How many times a failed step is run again (exponential backoff from `retry_backoff`).
    #[serde(default)]
    pub retries: Option<u32>,
    /// The first wait before a retry, e.g. `1m`; doubled for each further retry.
    #[serde(default)]
    pub retry_backoff: Option<String>,
    /// A step still running after this long fails (and may be retried), e.g. `30m`.
    #[serde(default)]
    pub step_timeout: Option<String>,
}

/// A schedule's readiness conditions: every declared input has the period's partitions, plus these.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReadiness {
    /// How often to look again while data is missing, e.g. `10m`.
    #[serde(default)]
    pub poll: Option<String>,
    /// How long after the firing to keep waiting before the run fails, e.g. `6h`.
    #[serde(default)]
    pub deadline: Option<String>,
    /// Fewest rows an input must have in the period's months, by input name.
    #[serde(default)]
    pub min_rows: std::collections::BTreeMap<String, u64>,
    /// Objects that must exist on the store (`{period}`, `{month}` — the period's last month — are filled in).
    #[serde(default)]
    pub markers: Vec<String>,
}

/// Turns a marked-yaml marker into a location in `file`.
pub fn location(file: &Path, span: &Span) -> Location {
    let (line, column) = span
        .start()
        .map(|m| (m.line(), m.column()))
        .unwrap_or((1, 1));
    Location {
        file: file.to_path_buf(),
        line,
        column,
    }
}

/// Parses a pipeline file. A file that is not YAML, or has no name, is an error on its own; otherwise the
/// result holds what could be decoded (a step with a bad key is left out) and every shape error found —
/// unknown keys, wrong types, missing keys — so that validation can go on and report the rest too.
pub fn parse(file: &Path, text: &str) -> Result<(RawPipeline, Diagnostics), Diagnostics> {
    let mut errors = Diagnostics::default();
    if text.len() > MAX_SPEC_BYTES {
        errors.push(Diagnostic::in_file(
            file,
            format!(
                "the file is {} bytes; a pipeline file may be at most {MAX_SPEC_BYTES}",
                text.len()
            ),
        ));
        return Err(errors);
    }
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .toplevel_mapping();
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(node) => node,
        Err(e) => {
            errors.push(load_error(file, e));
            return Err(errors);
        }
    };
    if depth(&root) > MAX_DEPTH {
        errors.push(Diagnostic::at(
            location(file, root.span()),
            format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
        ));
        return Err(errors);
    }
    let Some(map) = root.as_mapping() else {
        errors.push(Diagnostic::at(
            location(file, root.span()),
            "a pipeline file must be a mapping",
        ));
        return Err(errors);
    };

    let mut name = None;
    let mut description = None;
    let mut parameters = Vec::new();
    let mut inputs = Vec::new();
    let mut steps = Vec::new();
    let mut schedule = None;
    let mut seeds = Vec::new();
    let mut seed_tables = Vec::new();
    let mut disclosure = None;

    for (key, value) in map.iter() {
        match key.as_str() {
            "name" => name = decode::<Spanned<String>>(file, value, &mut errors),
            "description" => description = decode::<String>(file, value, &mut errors),
            "parameters" => parameters = decode_entries(file, "parameters", value, &mut errors),
            "inputs" => inputs = decode_entries(file, "inputs", value, &mut errors),
            "steps" => match value.as_sequence() {
                Some(seq) => {
                    for item in seq.iter() {
                        if let Some(step) = decode::<RawStep>(file, item, &mut errors) {
                            steps.push((item.span().clone(), step));
                        }
                    }
                }
                None => errors.push(Diagnostic::at(
                    location(file, value.span()),
                    "`steps` must be a list of steps (`- id: ...`)",
                )),
            },
            "seeds" => {
                // A seed is a file name, or a mapping for a table read from files of a published format.
                match value.as_mapping() {
                    Some(map) => {
                        for (key, v) in map.iter() {
                            let name = Spanned::new(key.span().clone(), key.as_str().to_string());
                            if v.as_mapping().is_some() {
                                if let Some(t) = decode::<RawSeedTable>(file, v, &mut errors) {
                                    seed_tables.push((name, t));
                                }
                            } else if let Some(f) = decode::<Spanned<String>>(file, v, &mut errors) {
                                seeds.push((name, f));
                            }
                        }
                    }
                    None => seeds = decode_entries(file, "seeds", value, &mut errors),
                }
            }
            "schedule" => {
                schedule = decode::<RawSchedule>(file, value, &mut errors).map(|s| (value.span().clone(), s))
            }
            "disclosure" => {
                disclosure = decode::<RawDisclosure>(file, value, &mut errors)
                    .map(|d| (value.span().clone(), d))
            }
            other => errors.push(Diagnostic::at(
                location(file, key.span()),
                format!(
                    "unknown key `{other}`: a pipeline has `name`, `description`, `parameters`, `inputs`, `seeds`, `steps`, `schedule` and `disclosure`"
                ),
            )),
        }
    }
    let root_loc = location(file, root.span());
    if map.get_node("steps").is_none() {
        errors.push(Diagnostic::at(
            root_loc.clone(),
            "missing key `steps`: a pipeline needs at least one step",
        ));
    }
    let name = match name {
        Some(n) => n,
        None => {
            if map.get_node("name").is_none() {
                errors.push(Diagnostic::at(root_loc, "missing key `name`"));
            }
            return Err(errors);
        }
    };
    let raw = RawPipeline {
        file: file.to_path_buf(),
        name,
        description,
        parameters,
        inputs,
        steps,
        schedule,
        seeds,
        seed_tables,
        disclosure,
    };
    Ok((raw, errors))
}

/// The most shape errors one node may report: more than any file a person wrote holds, and a bound on the
/// work a hostile file can cause (each error costs one more decoding of the node).
const MAX_ERRORS_PER_NODE: usize = 50;

/// Decodes one node, recording every shape error in it (each with the deepest location serde reached).
///
/// serde stops at the first error, so a step with two unknown keys would show only one. After each error
/// the entry at fault is taken out of a copy of the node and the node is decoded again, until it decodes
/// or nothing more can be taken out; a "missing key" that only the removal caused is not reported. The
/// node's value is returned only when it had no error at all.
fn decode<T: for<'de> Deserialize<'de>>(
    file: &Path,
    node: &Node,
    errors: &mut Diagnostics,
) -> Option<T> {
    let mut work = node.clone();
    // Keys taken out so far.
    let mut removed: Vec<String> = Vec::new();
    let mut reported = 0;
    for _ in 0..MAX_ERRORS_PER_NODE {
        let e = match marked_yaml::from_node::<T>(&work) {
            Ok(v) => return (reported == 0).then_some(v),
            Err(e) => e,
        };
        let mark = error_mark(&work, &e);
        let at = mark.map(|m| (m.line(), m.column()));
        let missing = missing_key(&e.to_string());
        // marked-yaml places a missing key nowhere: a key taken out by name is enough to know.
        let caused_by_removal = missing.as_ref().is_some_and(|k| removed.contains(k));
        if !caused_by_removal {
            let loc = match mark {
                Some(m) => Location {
                    file: file.to_path_buf(),
                    line: m.line(),
                    column: m.column(),
                },
                None => location(file, node.span()),
            };
            errors.push(Diagnostic::at(loc, error_message(&e)));
            reported += 1;
        }
        // An error without a place (a missing key, a list where text belongs) cannot be taken out: the
        // rest of the node stays unchecked, as before.
        let Some(at) = at.filter(|_| missing.is_none()) else {
            break;
        };
        match remove_entry_at(&mut work, at) {
            Some(t) => removed.push(t),
            None => break,
        }
    }
    None
}

/// Where an error points: an unknown key where the key is, not where its mapping starts.
fn error_mark(node: &Node, e: &marked_yaml::FromNodeError) -> Option<marked_yaml::Marker> {
    match &**e {
        marked_yaml::Error::UnknownFieldError(field, _, span) => find_key(
            node,
            field,
            span.start()
                .map(|m| (m.line(), m.column()))
                .unwrap_or((0, 0)),
        )
        .or(e.start_mark()),
        _ => e.start_mark(),
    }
}

fn error_message(e: &marked_yaml::FromNodeError) -> String {
    match &**e {
        marked_yaml::Error::IntegerParseFailure(..) => "expected a whole number".to_string(),
        marked_yaml::Error::FloatParseFailure(..) => "expected a number".to_string(),
        marked_yaml::Error::NotBoolean(..) => "expected true or false".to_string(),
        _ => humanise(&e.to_string()),
    }
}

/// The key a "missing field `x`" error names.
fn missing_key(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

fn start(node: &Node) -> Option<(usize, usize)> {
    node.span().start().map(|m| (m.line(), m.column()))
}

fn contains(node: &Node, at: (usize, usize)) -> bool {
    start(node) == Some(at)
        || match node {
            Node::Scalar(_) => false,
            Node::Sequence(s) => s.iter().any(|n| contains(n, at)),
            Node::Mapping(m) => m
                .iter()
                .any(|(k, v)| start_of_key(k) == Some(at) || contains(v, at)),
        }
}

fn start_of_key(k: &marked_yaml::types::MarkedScalarNode) -> Option<(usize, usize)> {
    k.span().start().map(|m| (m.line(), m.column()))
}

/// Takes out of `node` the innermost mapping entry (or list item) holding the node at `at`; returns the key
/// taken (empty for a list item).
fn remove_entry_at(node: &mut Node, at: (usize, usize)) -> Option<String> {
    match node {
        Node::Scalar(_) => None,
        Node::Sequence(s) => {
            let i = s.iter().position(|n| contains(n, at))?;
            if let Some(t) = remove_entry_at(&mut s[i], at) {
                return Some(t);
            }
            s.remove(i);
            Some(String::new())
        }
        Node::Mapping(m) => {
            let key = m
                .iter()
                .find(|(k, v)| start_of_key(k) == Some(at) || contains(v, at))
                .map(|(k, _)| k.clone())?;
            if start_of_key(&key) != Some(at)
                && let Some(value) = m.get_mut(&key)
                && let Some(t) = remove_entry_at(value, at)
            {
                return Some(t);
            }
            m.remove(&key);
            Some(key.as_str().to_string())
        }
    }
}

/// Decodes a mapping of named entries (`inputs:`, `parameters:`), each on its own so that one bad entry
/// does not hide the errors of the others.
fn decode_entries<T: for<'de> Deserialize<'de>>(
    file: &Path,
    what: &str,
    node: &Node,
    errors: &mut Diagnostics,
) -> Vec<(Spanned<String>, T)> {
    let Some(map) = node.as_mapping() else {
        errors.push(Diagnostic::at(
            location(file, node.span()),
            format!("`{what}` must be a mapping of names to definitions"),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in map.iter() {
        if let Some(v) = decode::<T>(file, value, errors) {
            out.push((
                Spanned::new(key.span().clone(), key.as_str().to_string()),
                v,
            ));
        }
    }
    out
}

/// The first mapping key called `name` at or after `after` (line, column) in a subtree.
fn find_key(node: &Node, name: &str, after: (usize, usize)) -> Option<marked_yaml::Marker> {
    match node {
        Node::Scalar(_) => None,
        Node::Sequence(s) => s.iter().find_map(|n| find_key(n, name, after)),
        Node::Mapping(m) => m.iter().find_map(|(k, v)| {
            let at = k.span().start().copied();
            match at {
                Some(mark) if k.as_str() == name && (mark.line(), mark.column()) >= after => {
                    Some(mark)
                }
                _ => find_key(v, name, after),
            }
        }),
    }
}

fn humanise(message: &str) -> String {
    // serde's wording speaks of "fields"; in a YAML file they are keys.
    message
        .replace("Unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("field", "key")
}

fn load_error(file: &Path, e: marked_yaml::LoadError) -> Diagnostic {
    use marked_yaml::LoadError::*;
    let (marker, message) = match &e {
        TopLevelMustBeMapping(m) => (
            *m,
            "a pipeline file must be a mapping of keys (`name:`, `steps:` …)".to_string(),
        ),
        TopLevelMustBeSequence(m) => (*m, "expected a list at the top level".to_string()),
        UnexpectedAnchor(m) => (
            *m,
            "YAML anchors and aliases are not allowed in pipeline files".to_string(),
        ),
        MappingKeyMustBeScalar(m) => (*m, "mapping keys must be plain names".to_string()),
        UnexpectedTag(m) => (
            *m,
            "YAML tags (`!name`) are not allowed in pipeline files".to_string(),
        ),
        ScanError(m, err) => (*m, format!("YAML syntax error: {err}")),
        DuplicateKey(inner) => (
            *inner
                .key
                .span()
                .start()
                .unwrap_or(&marked_yaml::Marker::new(0, 0, 1, 1)),
            format!("duplicate key `{}`", inner.key.as_str()),
        ),
    };
    Diagnostic::at(
        Location {
            file: file.to_path_buf(),
            line: marker.line(),
            column: marker.column(),
        },
        message,
    )
}

fn depth(node: &Node) -> usize {
    match node {
        Node::Scalar(_) => 1,
        Node::Sequence(s) => 1 + s.iter().map(depth).max().unwrap_or(0),
        Node::Mapping(m) => 1 + m.values().map(depth).max().unwrap_or(0),
    }
}
