//! The validated plan of a pipeline: what a `RawPipeline` says, checked against the project and put in
//! an order that can run.
//!
//! Owns every check that needs more than the YAML itself: names are identifiers and unique, referenced
//! steps and tables exist, SQL and template files exist, the SQL parses and the templates (with what they
//! include) compile, the step graph has no cycle.
//! Step order is inferred from the tables each SQL statement reads; `depends_on` adds edges. All problems
//! are reported together, each with its place. It reads project files but never data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use marked_yaml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::engine;
use crate::period::Granularity;
use crate::spec::{self, RawPipeline, RawSchedule, location};
use crate::world::Project;

/// A pipeline ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    /// The pipeline file, relative to the project.
    pub file: PathBuf,
    pub parameters: Vec<Parameter>,
    pub inputs: Vec<Input>,
    /// Tables kept with the project, by name.
    pub seeds: Vec<Seed>,
    /// In an order where every step comes after the steps it depends on.
    pub steps: Vec<Step>,
    pub schedule: Option<RawSchedule>,
    /// SQL steps whose result in the previously published run of the same period some step reads, as
    /// table `previous_<id>` (for restatements).
    pub previous: BTreeSet<String>,
    /// Which outputs leave the organisation under small-number suppression (`disclosure:`; a pipeline
    /// that declares none is under the default rule all the same).
    pub disclosure: crate::disclosure::Declaration,
}

/// A step reads the previously published run's result of step `x` as table `previous_x` (empty, with the
/// current result's columns, when the period has no published run yet).
pub const PREVIOUS_PREFIX: &str = "previous_";
/// Tables every step can read: the input objects, project files and parameters of this run (`run_files`)
/// and of the previously published run of the same period (`previous_run_files`): `kind` (`input`, `file`
/// or `parameter`), `name`, `path`, `fingerprint` (SHA-256, or a parameter's value), `run_id`.
pub const RUN_TABLES: [&str; 2] = ["run_files", "previous_run_files"];

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub kind: ParamKind,
    pub description: String,
    pub default: Option<String>,
    /// For a period: the granularities accepted (all when empty).
    pub granularities: Vec<Granularity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Period,
    String,
    Integer,
    Number,
    Boolean,
    Date,
}

#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub description: String,
    /// Prefix on the store, relative to its root, without a trailing `/`.
    pub location: String,
    pub partitioned_by_month: bool,
    pub history_months: u32,
    /// Fixed months read besides the period and its history (`baseline_months:`), in order.
    pub baseline_months: Vec<crate::period::Month>,
    pub required: bool,
    /// Which months of the period must have objects (`period_months:`; partitioned inputs).
    pub period_months: PeriodMonths,
    /// How many of the period's latest months may be missing (`may_lag:`), published with the gap said.
    pub may_lag: u32,
    pub columns: Vec<Column>,
    /// Rules over rows, months and completeness (`crate::contract`).
    pub rules: crate::contract::Rules,
    /// For an input declared `same_as: other`: `other`, whose declaration (location, partitioning, columns
    /// and rules) this one is. Its rules are checked once for both, over both inputs' months, and the rows
    /// they set aside are recorded under `other` (`crate::execute`).
    pub same_as: Option<String>,
}

/// A small table kept with the project under `config/`: a YAML list of records or a CSV file. Its file is
/// hashed into the run record like SQL and templates.
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    /// Relative to the project: `config/board-pack/metrics.yaml` (the first of `files`).
    pub file: String,
    /// How the file is read: a YAML list or CSV table, or a published format.
    pub format: SeedFormat,
    /// Every file of the seed (one, except for tables read from several files of a published format,
    /// and a list of metrics, whose second file is the registry).
    pub files: Vec<String>,
    /// For a list of metrics: the column naming each row's metric (`id` unless declared).
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFormat {
    /// A YAML list of records or a CSV table with a header.
    Table,
    /// UK Government GHG conversion factor flat files, one per year, read by `crate::factors`.
    Desnz,
    /// A product's list of metrics, each row naming a metric of the project's registry
    /// (`config/metrics.yaml`) and completed with its definition (`crate::registry`).
    Metrics,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub nullable: bool,
    pub key: bool,
    /// `allowed:` values, as written (parsed as the column's type when checked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The values must be codes of a reference input or seed (`in_reference:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reference: Option<crate::contract::Reference>,
    /// What a row breaking this column's rules does to the run (`on_fail:`).
    pub on_fail: crate::contract::OnFail,
    /// Where a date may lie against its object's partition month (`partition_month:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_month: Option<PartitionMonth>,
    /// Where the column is declared, for warnings about its contract.
    #[serde(skip)]
    pub place: Option<Location>,
}

impl Input {
    /// The months of a period (in order) this partitioned input must hold objects for: by its
    /// `period_months:` rule, less the period's latest `may_lag:` months. For `any`, none in particular
    /// (at least one month of the period, judged by the caller).
    pub fn required_months(&self, period: &[crate::period::Month]) -> Vec<crate::period::Month> {
        let (required, _) = self.split_lag(period);
        match self.period_months {
            PeriodMonths::Every => required.to_vec(),
            PeriodMonths::First => required.first().copied().into_iter().collect(),
            PeriodMonths::Any => Vec::new(),
        }
    }

    /// The months of a period this input may lack and still publish, the gap stated (`may_lag:`).
    pub fn lagging_months(&self, period: &[crate::period::Month]) -> Vec<crate::period::Month> {
        let (required, lagging) = self.split_lag(period);
        match self.period_months {
            PeriodMonths::Every => lagging.to_vec(),
            PeriodMonths::First if required.is_empty() => {
                lagging.first().copied().into_iter().collect()
            }
            PeriodMonths::First | PeriodMonths::Any => Vec::new(),
        }
    }

    fn split_lag<'a>(
        &self,
        period: &'a [crate::period::Month],
    ) -> (&'a [crate::period::Month], &'a [crate::period::Month]) {
        period.split_at(period.len().saturating_sub(self.may_lag as usize))
    }
}

/// Which months of a run's period a partitioned input must hold objects for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodMonths {
    /// Every month of the period (a monthly return).
    #[default]
    Every,
    /// The period's first month (a quarterly or annual return filed under its first month).
    First,
    /// At least one month of the period.
    Any,
}

impl PeriodMonths {
    pub const NAMES: &str = "`every`, `first` or `any`";
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "every" => Some(Self::Every),
            "first" => Some(Self::First),
            "any" => Some(Self::Any),
            _ => None,
        }
    }
}

/// Where a date or timestamp may lie against the month of its object's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionMonth {
    /// In the partition's month (an event: an arrival, an appointment).
    Within,
    /// On or before the partition month's last day (a snapshot: a clock start, a referral).
    ByEnd,
}

impl PartitionMonth {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "within" => Some(Self::Within),
            "by_end" => Some(Self::ByEnd),
            _ => None,
        }
    }
}

/// The column types a contract can declare, as Arrow types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Integer,
    Float,
    Boolean,
    Date,
    Timestamp,
}

impl ColumnType {
    const NAMES: &'static str = "string, integer, float, boolean, date, timestamp";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" | "utf8" | "text" => ColumnType::String,
            "integer" | "int" | "int64" | "bigint" => ColumnType::Integer,
            "float" | "double" | "float64" => ColumnType::Float,
            "boolean" | "bool" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub description: String,
    pub kind: StepKind,
    /// Step ids this step must wait for (inferred from SQL, plus `depends_on` and `uses`).
    pub depends_on: BTreeSet<String>,
    /// Inputs and seeds this step reads.
    pub inputs: BTreeSet<String>,
    /// The units of the step's columns (`units:`, sql steps only), in which `diff` and `verify` print
    /// their figures; a column not named prints as a plain number.
    pub units: BTreeMap<String, crate::units::ColumnUnit>,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    /// Runs `sql` (from `file`, relative to the project) and materialises its result as table `id`.
    Sql {
        file: String,
        sql: String,
    },
    Check {
        assertions: Vec<Assertion>,
    },
    /// Renders `template` (relative to the project) to `<id>.pdf` from the step results in `uses`; with
    /// `each`, to `<id>/<value>.pdf`, one PDF per value.
    Report {
        template: String,
        title: String,
        uses: Vec<String>,
        each: Option<Each>,
    },
}

/// A report typeset once per value of a column (`each: practice_rag.pcn_code`). Each PDF is given, of
/// every table it uses that has the column, only the rows with its value (the other tables whole), and
/// `each` (`{column, value}`) in its context. Typst holds a whole document in memory while it lays it
/// out, so a document that grows with the data (a page per practice) is bounded by its largest part.
#[derive(Debug, Clone, PartialEq)]
pub struct Each {
    pub table: String,
    pub column: String,
}

impl StepKind {
    pub fn label(&self) -> &'static str {
        match self {
            StepKind::Sql { .. } => "sql",
            StepKind::Check { .. } => "check",
            StepKind::Report { .. } => "report",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub name: String,
    pub sql: String,
    pub severity: Severity,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warn,
}

/// Reads, parses and validates one pipeline file (`pipelines/x.yaml`).
pub fn load(project: &Project, file: &str) -> Result<Plan, Diagnostics> {
    // Refused by its size before it is read: a pipeline is a page of YAML, and a huge file would be read
    // into memory whole.
    if let Ok(size) = project.file_path(file).and_then(|p| {
        std::fs::metadata(&p).map_err(|source| crate::world::ProjectError::Read {
            path: file.to_string(),
            source,
        })
    }) && size.len() > spec::MAX_SPEC_BYTES as u64
    {
        return Err(Diagnostics(vec![Diagnostic::in_file(
            file,
            format!(
                "the file is {} bytes; a pipeline file may be at most {}",
                size.len(),
                spec::MAX_SPEC_BYTES
            ),
        )]));
    }
    let text = project.read_to_string(file).map_err(|e| {
        Diagnostics(vec![Diagnostic::in_file(
            file,
            format!("cannot read the pipeline: {e}"),
        )])
    })?;
    let (raw, mut errors) = spec::parse(&PathBuf::from(file), &text)?;
    match validate(project, raw) {
        Ok(plan) => errors.into_result(plan),
        Err(more) => {
            errors.extend(more);
            Err(errors.sorted())
        }
    }
}

/// Finds and loads the pipeline called `name` (its file is `pipelines/<name>.yaml`).
pub fn load_named(project: &Project, name: &str) -> Result<Plan, Diagnostics> {
    let file = project
        .pipeline_files()
        .into_iter()
        .find(|f| {
            let stem = f
                .trim_start_matches("pipelines/")
                .trim_end_matches(".yaml")
                .trim_end_matches(".yml");
            stem == name
        })
        .ok_or_else(|| {
            let known: Vec<String> = project
                .pipeline_files()
                .iter()
                .map(|f| {
                    f.trim_start_matches("pipelines/")
                        .trim_end_matches(".yaml")
                        .to_string()
                })
                .collect();
            Diagnostics(vec![Diagnostic::in_file(
                format!("pipelines/{name}.yaml"),
                format!("no pipeline called `{name}` (known: {})", known.join(", ")),
            )])
        })?;
    load(project, &file)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

struct Validator<'a> {
    project: &'a Project,
    file: PathBuf,
    errors: Diagnostics,
    /// Templates compiled already (several report steps may share one).
    templates_checked: BTreeSet<String>,
}

impl Validator<'_> {
    fn loc<T>(&self, s: &Spanned<T>) -> Location {
        location(&self.file, s.span())
    }
    fn error(&mut self, loc: Location, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(loc, message));
    }
    fn identifier(&mut self, what: &str, name: &Spanned<String>) {
        if !is_identifier(name.as_str()) {
            self.error(
                self.loc(name),
                format!("{what} `{}` must be a lowercase identifier (a–z, 0–9, `_`, starting with a letter)", name.as_str()),
            );
        }
    }
}

fn validate(project: &Project, raw: RawPipeline) -> Result<Plan, Diagnostics> {
    let mut v = Validator {
        project,
        file: raw.file.clone(),
        errors: Diagnostics::default(),
        templates_checked: BTreeSet::new(),
    };
    let expected_name = raw
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    if raw.name.as_str() != expected_name {
        v.error(
            v.loc(&raw.name),
            format!(
                "the pipeline is called `{}` but its file is `{}`: they must match",
                raw.name.as_str(),
                raw.file.display()
            ),
        );
    }

    let parameters = validate_parameters(&mut v, &raw);
    let inputs = validate_inputs(&mut v, &raw);
    let seeds = validate_seeds(&mut v, &raw);
    // References between inputs and seeds (`in_reference:`, completeness codes) resolve, and a referenced
    // input is registered first.
    let inputs = {
        let seed_names: BTreeSet<String> = seeds.iter().map(|s| s.name.clone()).collect();
        let at: BTreeMap<String, Location> = raw
            .inputs
            .iter()
            .map(|(n, _)| (n.as_str().to_string(), v.loc(n)))
            .collect();
        let mut found = Vec::new();
        let ordered =
            crate::contract::check_references(&v.file, inputs, &seed_names, &mut found, &at);
        for (loc, message) in found {
            v.error(loc, message);
        }
        ordered
    };
    // Seeds are read like inputs: by name, from SQL or by a report.
    let input_names: BTreeSet<String> = inputs
        .iter()
        .map(|i| i.name.clone())
        .chain(seeds.iter().map(|s| s.name.clone()))
        .collect();

    // Step ids first, so that references can be checked whatever the order of declaration.
    let mut ids: BTreeMap<String, Location> = BTreeMap::new();
    let mut sql_steps: BTreeSet<String> = BTreeSet::new();
    for (_, step) in &raw.steps {
        v.identifier("step id", &step.id);
        let id = step.id.as_str().to_string();
        if let Some(first) = ids.get(&id) {
            v.error(
                v.loc(&step.id),
                format!(
                    "duplicate step id `{id}` (first declared at line {})",
                    first.line
                ),
            );
        } else {
            ids.insert(id.clone(), v.loc(&step.id));
        }
        if input_names.contains(&id) {
            v.error(
                v.loc(&step.id),
                format!("step id `{id}` is also the name of an input"),
            );
        }
        if step.sql.is_some() {
            sql_steps.insert(id);
        }
    }

    let mut steps = Vec::new();
    let mut previous = BTreeSet::new();
    for (span, step) in &raw.steps {
        let step_loc = location(&v.file, span);
        let id = step.id.as_str().to_string();
        let mut depends_on = BTreeSet::new();
        let mut reads_inputs = BTreeSet::new();
        let kinds = [
            step.sql.is_some(),
            step.check.is_some(),
            step.report.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds != 1 {
            v.error(
                step_loc.clone(),
                format!("step `{id}` must have exactly one of `sql`, `check` or `report`"),
            );
            continue;
        }
        // Table references in a statement resolve to inputs or to earlier SQL steps' results.
        let mut resolve_tables = |v: &mut Validator, sql: &str, loc: Location, what: &str| {
            match engine::table_references(sql) {
                Ok(tables) => {
                    for t in tables {
                        if input_names.contains(&t) {
                            reads_inputs.insert(t);
                        } else if RUN_TABLES.contains(&t.as_str()) {
                            // Provided by the executor for every run.
                        } else if let Some(of) = t
                            .strip_prefix(PREVIOUS_PREFIX)
                            .filter(|of| sql_steps.contains(*of))
                        {
                            // The previous run's result has the current result's columns when there is
                            // no previous run: the reader waits for the step.
                            depends_on.insert(of.to_string());
                            previous.insert(of.to_string());
                        } else if sql_steps.contains(&t) {
                            if t == id {
                                v.error(loc.clone(), format!("{what} reads its own result `{t}`"));
                            }
                            depends_on.insert(t);
                        } else {
                            v.error(
                                loc.clone(),
                                format!("{what} reads table `{t}`, which is not an input, a seed or a sql step"),
                            );
                        }
                    }
                }
                Err(e) => {
                    let loc = engine::sql_error_location(&e)
                        .map(|(line, column)| Location {
                            line,
                            column,
                            ..loc.clone()
                        })
                        .unwrap_or(loc);
                    v.error(loc, format!("{what}: SQL does not parse: {e}"));
                }
            }
        };
        let kind = if let Some(file) = &step.sql {
            let rel = format!("sql/{}", file.as_str());
            match v.project.read_to_string(&rel) {
                Ok(sql) => {
                    let sql_loc = Location {
                        file: PathBuf::from(&rel),
                        line: 1,
                        column: 1,
                    };
                    resolve_tables(&mut v, &sql, sql_loc, &format!("step `{id}` ({rel})"));
                    StepKind::Sql { file: rel, sql }
                }
                Err(e) => {
                    v.error(
                        v.loc(file),
                        format!("step `{id}`: SQL file `{rel}` cannot be read: {e}"),
                    );
                    continue;
                }
            }
        } else if let Some(assertions) = &step.check {
            if assertions.is_empty() {
                v.error(
                    step_loc.clone(),
                    format!("check step `{id}` has no assertions"),
                );
            }
            let mut out = Vec::new();
            for a in assertions {
                let severity = match a.severity.as_ref().map(|s| s.as_str()) {
                    None | Some("error") => Severity::Error,
                    Some("warn") | Some("warning") => Severity::Warn,
                    Some(other) => {
                        let loc = v.loc(a.severity.as_ref().expect("matched Some"));
                        v.error(loc, format!("severity `{other}` is not `error` or `warn`"));
                        Severity::Error
                    }
                };
                let loc = v.loc(&a.sql);
                resolve_tables(
                    &mut v,
                    a.sql.as_str(),
                    loc,
                    &format!("assertion `{}` of step `{id}`", a.name.as_str()),
                );
                out.push(Assertion {
                    name: a.name.as_str().to_string(),
                    sql: a.sql.as_str().to_string(),
                    severity,
                    description: a.description.clone().unwrap_or_default(),
                });
            }
            StepKind::Check { assertions: out }
        } else {
            let template = step.report.as_ref().expect("exactly one kind is set");
            let rel = format!("reports/{}", template.as_str());
            if !v.project.exists(&rel) {
                v.error(
                    v.loc(template),
                    format!("step `{id}`: template `{rel}` does not exist"),
                );
            } else if v.templates_checked.insert(rel.clone()) {
                // Compiled as the render will compile it: a syntax error or a missing include is found
                // now, not after the run's SQL. A project of its own, so that what validation reads is not
                // counted among the files a run read.
                let templates = std::sync::Arc::new(Project::new(v.project.root()));
                for d in crate::render::check_template(templates, &rel) {
                    v.errors.push(d);
                }
            }
            let mut uses = Vec::new();
            for u in step.uses.iter().flatten() {
                if sql_steps.contains(u.as_str()) {
                    depends_on.insert(u.as_str().to_string());
                    uses.push(u.as_str().to_string());
                } else if seeds.iter().any(|s| s.name == u.as_str()) {
                    reads_inputs.insert(u.as_str().to_string());
                    uses.push(u.as_str().to_string());
                } else {
                    v.error(
                        v.loc(u),
                        format!(
                            "report `{id}` uses `{}`, which is neither a sql step nor a seed",
                            u.as_str()
                        ),
                    );
                }
            }
            let each = step.each.as_ref().and_then(|e| {
                match e.as_str().split_once('.') {
                    Some((table, column))
                        if uses.iter().any(|u| u == table) && is_identifier(column) =>
                    {
                        Some(Each {
                            table: table.to_string(),
                            column: column.to_string(),
                        })
                    }
                    _ => {
                        v.error(
                            v.loc(e),
                            format!(
                                "report `{id}`: `each: {}`: write `each: TABLE.COLUMN` with a table the \
                                 report uses (one PDF per value of the column)",
                                e.as_str()
                            ),
                        );
                        None
                    }
                }
            });
            StepKind::Report {
                template: rel,
                title: step
                    .title
                    .clone()
                    .unwrap_or_else(|| raw.description.clone().unwrap_or_else(|| id.clone())),
                uses,
                each,
            }
        };
        if step.uses.is_some() && !matches!(kind, StepKind::Report { .. }) {
            v.error(
                step_loc.clone(),
                format!("step `{id}`: `uses` applies only to report steps"),
            );
        }
        if let (Some(e), false) = (&step.each, matches!(kind, StepKind::Report { .. })) {
            v.error(
                v.loc(e),
                format!("step `{id}`: `each` applies only to report steps"),
            );
        }
        let mut units = BTreeMap::new();
        if let Some(declared) = &step.units {
            if matches!(kind, StepKind::Sql { .. }) {
                let (found, wrong) = crate::units::declared(declared);
                for message in wrong {
                    v.error(v.loc(declared), format!("step `{id}`: units: {message}"));
                }
                units = found;
            } else {
                v.error(
                    v.loc(declared),
                    format!(
                        "step `{id}`: `units` applies only to sql steps (the columns of its table)"
                    ),
                );
            }
        }
        for d in step.depends_on.iter().flatten() {
            if !ids.contains_key(d.as_str()) {
                v.error(
                    v.loc(d),
                    format!("step `{id}` depends on unknown step `{}`", d.as_str()),
                );
            } else if d.as_str() == id {
                v.error(v.loc(d), format!("step `{id}` depends on itself"));
            } else {
                depends_on.insert(d.as_str().to_string());
            }
        }
        steps.push((
            step_loc,
            Step {
                id,
                description: step.description.clone().unwrap_or_default(),
                kind,
                depends_on,
                inputs: reads_inputs,
                units,
            },
        ));
    }

    if let Some((span, schedule)) = &raw.schedule {
        for message in crate::schedule::check_schedule(schedule, &inputs, &parameters) {
            v.error(location(&v.file, span), message);
        }
    }
    let ordered = order_steps(&mut v, steps);
    let disclosure = match raw.disclosure.as_ref() {
        Some((span, d)) => {
            let mut found = Vec::new();
            let declared = crate::disclosure::declaration(&v.file, span, d, &ordered, &mut found);
            for (loc, message) in found {
                v.error(loc, message);
            }
            declared
        }
        None => crate::disclosure::Declaration::default_for(&ordered),
    };
    let plan = Plan {
        name: raw.name.as_str().to_string(),
        description: raw.description.clone().unwrap_or_default(),
        file: raw.file.clone(),
        parameters,
        inputs,
        seeds,
        steps: ordered,
        schedule: raw.schedule.map(|(_, s)| s),
        previous,
        disclosure,
    };
    v.errors.into_result(plan)
}

fn validate_parameters(v: &mut Validator, raw: &RawPipeline) -> Vec<Parameter> {
    let mut out = Vec::new();
    for (name, p) in &raw.parameters {
        v.identifier("parameter", name);
        let kind = match p.kind.as_str() {
            "period" => ParamKind::Period,
            "string" => ParamKind::String,
            "integer" => ParamKind::Integer,
            "number" => ParamKind::Number,
            "boolean" => ParamKind::Boolean,
            "date" => ParamKind::Date,
            other => {
                v.error(
                    v.loc(&p.kind),
                    format!("parameter `{}` has unknown type `{other}` (period, string, integer, number, boolean, date)", name.as_str()),
                );
                continue;
            }
        };
        let mut granularities = Vec::new();
        for g in p.granularities.iter().flatten() {
            match g.as_str() {
                "month" => granularities.push(Granularity::Month),
                "quarter" => granularities.push(Granularity::Quarter),
                "year" => granularities.push(Granularity::Year),
                other => v.error(
                    v.loc(g),
                    format!("unknown granularity `{other}` (month, quarter, year)"),
                ),
            }
        }
        if !granularities.is_empty() && kind != ParamKind::Period {
            v.error(
                v.loc(name),
                format!(
                    "parameter `{}`: `granularities` applies only to periods",
                    name.as_str()
                ),
            );
        }
        if let Some(default) = &p.default {
            if let Err(e) = crate::params::parse_value(kind, default.as_str()) {
                v.error(
                    v.loc(default),
                    format!("default of parameter `{}`: {e}", name.as_str()),
                );
            }
        }
        out.push(Parameter {
            name: name.as_str().to_string(),
            kind,
            description: p.description.clone().unwrap_or_default(),
            default: p.default.as_ref().map(|d| d.as_str().to_string()),
            granularities,
        });
    }
    if !out.iter().any(|p| p.kind == ParamKind::Period) {
        v.error(
            location(&v.file, raw.name.span()),
            "every pipeline needs a parameter of `type: period` (the month, quarter or year it builds)",
        );
    }
    out
}

fn validate_seeds(v: &mut Validator, raw: &RawPipeline) -> Vec<Seed> {
    let mut out = Vec::new();
    for (name, file) in &raw.seeds {
        v.identifier("seed", name);
        if raw.inputs.iter().any(|(i, _)| i.as_str() == name.as_str()) {
            v.error(
                v.loc(name),
                format!("seed `{}` has the name of an input", name.as_str()),
            );
        }
        let rel = format!("config/{}", file.as_str());
        let supported = [".yaml", ".yml", ".csv"].iter().any(|e| rel.ends_with(e));
        if !supported {
            v.error(
                v.loc(file),
                format!(
                    "seed `{}`: `{rel}` must be a .yaml list of records or a .csv file",
                    name.as_str()
                ),
            );
        } else if !v.project.exists(&rel) {
            v.error(
                v.loc(file),
                format!("seed `{}`: `{rel}` does not exist", name.as_str()),
            );
        }
        out.push(Seed {
            name: name.as_str().to_string(),
            file: rel.clone(),
            format: SeedFormat::Table,
            files: vec![rel],
            key: None,
        });
    }
    for (name, table) in &raw.seed_tables {
        v.identifier("seed", name);
        if raw.inputs.iter().any(|(i, _)| i.as_str() == name.as_str())
            || raw.seeds.iter().any(|(s, _)| s.as_str() == name.as_str())
        {
            v.error(
                v.loc(name),
                format!(
                    "seed `{}` has the name of an input or another seed",
                    name.as_str()
                ),
            );
        }
        let format = match table.format.as_str() {
            "desnz" => SeedFormat::Desnz,
            "metrics" => SeedFormat::Metrics,
            other => {
                v.error(
                    v.loc(&table.format),
                    format!(
                        "seed `{}`: unknown format `{other}` (known: desnz, metrics)",
                        name.as_str()
                    ),
                );
                continue;
            }
        };
        if let Some(k) = &table.key
            && format != SeedFormat::Metrics
        {
            v.error(
                v.loc(k),
                format!(
                    "seed `{}`: `key` belongs to `format: metrics` (the column naming each row's metric)",
                    name.as_str()
                ),
            );
        }
        if table.files.is_empty() {
            v.error(
                v.loc(name),
                format!("seed `{}` lists no files", name.as_str()),
            );
        }
        if format == SeedFormat::Metrics && table.files.len() > 1 {
            v.error(
                v.loc(name),
                format!(
                    "seed `{}`: a list of metrics is one YAML file",
                    name.as_str()
                ),
            );
        }
        let mut files = Vec::new();
        for f in &table.files {
            let rel = format!("config/{}", f.as_str());
            if format == SeedFormat::Metrics {
                if !crate::seed::is_yaml(&rel) {
                    v.error(
                        v.loc(f),
                        format!(
                            "seed `{}`: `{rel}` must be a .yaml list of records",
                            name.as_str()
                        ),
                    );
                } else if !v.project.exists(&rel) {
                    v.error(
                        v.loc(f),
                        format!("seed `{}`: `{rel}` does not exist", name.as_str()),
                    );
                }
            } else if !rel.ends_with(".csv") {
                v.error(
                    v.loc(f),
                    format!("seed `{}`: `{rel}` must be a .csv flat file", name.as_str()),
                );
            } else if !v.project.exists(&rel) {
                v.error(
                    v.loc(f),
                    format!("seed `{}`: `{rel}` does not exist", name.as_str()),
                );
            }
            files.push(rel);
        }
        let key = (format == SeedFormat::Metrics).then(|| {
            table
                .key
                .as_ref()
                .map_or_else(|| "id".to_string(), |k| k.as_str().to_string())
        });
        if format == SeedFormat::Metrics {
            if v.project.exists(crate::registry::REGISTRY) {
                files.push(crate::registry::REGISTRY.to_string());
            } else {
                v.error(
                    v.loc(&table.format),
                    format!(
                        "seed `{}`: a list of metrics names metrics of {}, which does not exist",
                        name.as_str(),
                        crate::registry::REGISTRY
                    ),
                );
            }
        }
        out.push(Seed {
            name: name.as_str().to_string(),
            file: files.first().cloned().unwrap_or_default(),
            format,
            files,
            key,
        });
    }
    out
}

fn validate_inputs(v: &mut Validator, raw: &RawPipeline) -> Vec<Input> {
    let mut out = Vec::new();
    for (name, input) in &raw.inputs {
        v.identifier("input", name);
        // Declared with `same_as`: built from the input it names, once every declaration is validated.
        if input.same_as.is_some() {
            continue;
        }
        let Some(location) = &input.location else {
            v.error(
                v.loc(name),
                format!(
                    "input `{}` has no `location` (or `same_as: <input>`, to read another input's objects again)",
                    name.as_str()
                ),
            );
            continue;
        };
        if let Err(e) = crate::store::check_relative(location.as_str()) {
            v.error(v.loc(location), e.to_string());
        }
        let partitioned_by_month = match input.partitioned_by.as_ref().map(|p| p.as_str()) {
            None => false,
            Some("month") => true,
            Some(other) => {
                let loc = v.loc(input.partitioned_by.as_ref().expect("matched Some"));
                v.error(loc, format!("unknown partitioning `{other}`: only `month` (`month=YYYY-MM/`) is supported"));
                false
            }
        };
        let window = validate_window(v, name.as_str(), input, partitioned_by_month);
        if input.columns.is_empty() {
            v.error(
                v.loc(name),
                format!("input `{}` declares no columns", name.as_str()),
            );
        }
        let mut seen = BTreeSet::new();
        let mut columns = Vec::new();
        for c in &input.columns {
            if !seen.insert(c.name.as_str().to_string()) {
                v.error(
                    v.loc(&c.name),
                    format!(
                        "duplicate column `{}` in input `{}`",
                        c.name.as_str(),
                        name.as_str()
                    ),
                );
            }
            let Some(kind) = ColumnType::parse(c.kind.as_str()) else {
                v.error(
                    v.loc(&c.kind),
                    format!(
                        "column `{}` has unknown type `{}` ({})",
                        c.name.as_str(),
                        c.kind.as_str(),
                        ColumnType::NAMES
                    ),
                );
                continue;
            };
            let (allowed, min, max) = validate_column_rules(v, name.as_str(), c, kind);
            let mut found = Vec::new();
            let in_reference = c
                .in_reference
                .as_ref()
                .map(|r| crate::contract::reference(&v.file, name.as_str(), r, &mut found));
            let on_fail =
                crate::contract::on_fail(&v.file, name.as_str(), c.on_fail.as_ref(), &mut found);
            for (loc, message) in found {
                v.error(loc, message);
            }
            let partition_month = c.partition_month.as_ref().and_then(|p| {
                let parsed = PartitionMonth::parse(p.as_str());
                let problem = if parsed.is_none() {
                    Some(format!(
                        "unknown `partition_month: {}` (write `within` or `by_end`)",
                        p.as_str()
                    ))
                } else if !partitioned_by_month {
                    Some("`partition_month` needs `partitioned_by: month`".to_string())
                } else if !matches!(kind, ColumnType::Date | ColumnType::Timestamp) {
                    Some("`partition_month` needs a date or timestamp column".to_string())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    v.error(
                        v.loc(p),
                        format!(
                            "input `{}`, column `{}`: {problem}",
                            name.as_str(),
                            c.name.as_str()
                        ),
                    );
                    return None;
                }
                parsed
            });
            columns.push(Column {
                name: c.name.as_str().to_string(),
                kind,
                nullable: c.nullable.unwrap_or(true),
                key: c.key.unwrap_or(false),
                allowed,
                min,
                max,
                in_reference,
                on_fail,
                partition_month,
                place: Some(v.loc(&c.name)),
            });
        }
        let mut validated = Input {
            name: name.as_str().to_string(),
            description: input.description.clone().unwrap_or_default(),
            location: location.as_str().trim_end_matches('/').to_string(),
            partitioned_by_month,
            history_months: window.history_months,
            baseline_months: window.baseline_months,
            required: input.required.unwrap_or(true),
            period_months: window.period_months,
            may_lag: window.may_lag,
            columns,
            rules: Default::default(),
            same_as: None,
        };
        let mut found = Vec::new();
        validated.rules =
            crate::contract::rules(&v.file, name.as_str(), input, &validated, &mut found);
        for (loc, message) in found {
            v.error(loc, message);
        }
        out.push(validated);
    }
    one_declaration_per_location(v, raw);
    // Inputs declared `same_as`, in their place among the others.
    let mut all = Vec::new();
    for (name, input) in &raw.inputs {
        match &input.same_as {
            None => all.extend(out.iter().find(|d| d.name == name.as_str()).cloned()),
            Some(other) => all.extend(validate_same_as(v, raw, name, input, other, &out)),
        }
    }
    all
}

/// The months an input reads besides its period, validated: `history_months`, `baseline_months`,
/// `period_months` and `may_lag` (each needs `partitioned_by: month`, its own or that of the input named by
/// `same_as`).
struct Window {
    history_months: u32,
    baseline_months: Vec<crate::period::Month>,
    period_months: PeriodMonths,
    may_lag: u32,
}

fn validate_window(
    v: &mut Validator,
    name: &str,
    input: &crate::spec::RawInput,
    partitioned_by_month: bool,
) -> Window {
    if input.history_months.is_some() && !partitioned_by_month {
        let loc = v.loc(input.history_months.as_ref().expect("checked"));
        v.error(
            loc,
            format!(
                "input `{}`: `history_months` needs `partitioned_by: month`",
                name
            ),
        );
    }
    let mut baseline_months = Vec::new();
    for text in input.baseline_months.iter().flatten() {
        if !partitioned_by_month {
            v.error(
                v.loc(text),
                format!(
                    "input `{}`: `baseline_months` needs `partitioned_by: month`",
                    name
                ),
            );
        } else {
            match text.as_str().parse::<crate::period::Month>() {
                    Ok(m) => baseline_months.push(m),
                    Err(_) => v.error(
                        v.loc(text),
                        format!(
                            "input `{}`: baseline month `{}` is not a month: write YYYY-MM, e.g. `2020-02`",
                            name,
                            text.as_str()
                        ),
                    ),
                }
        }
    }
    baseline_months.sort();
    baseline_months.dedup();
    let period_months = match &input.period_months {
        None => PeriodMonths::Every,
        Some(p) => {
            if !partitioned_by_month {
                v.error(
                    v.loc(p),
                    format!(
                        "input `{}`: `period_months` needs `partitioned_by: month`",
                        name
                    ),
                );
            }
            PeriodMonths::parse(p.as_str()).unwrap_or_else(|| {
                v.error(
                    v.loc(p),
                    format!(
                        "input `{}`: unknown `period_months: {}` (write {})",
                        name,
                        p.as_str(),
                        PeriodMonths::NAMES
                    ),
                );
                PeriodMonths::Every
            })
        }
    };
    if let Some(lag) = &input.may_lag
        && !partitioned_by_month
    {
        v.error(
            v.loc(lag),
            format!("input `{}`: `may_lag` needs `partitioned_by: month`", name),
        );
    }
    Window {
        history_months: input.history_months.as_ref().map(|h| **h).unwrap_or(0),
        baseline_months,
        period_months,
        may_lag: input.may_lag.as_ref().map(|l| **l).unwrap_or(0),
    }
}

/// Two inputs declared over one location would each carry their own rules, and a row one sets aside would
/// be counted by the other: the second must say `same_as: <first>` instead. Both are named, with their
/// places.
fn one_declaration_per_location(v: &mut Validator, raw: &RawPipeline) {
    let mut first: BTreeMap<String, (&str, Location)> = BTreeMap::new();
    for (name, input) in &raw.inputs {
        if input.same_as.is_some() {
            continue;
        }
        let Some(location) = &input.location else {
            continue;
        };
        let key = location.as_str().trim_end_matches('/').to_string();
        let here = v.loc(location);
        match first.get(&key) {
            None => {
                first.insert(key, (name.as_str(), here));
            }
            Some((other, at)) => {
                let message = format!(
                    "inputs `{other}` ({at}) and `{}` ({here}) both read `{key}`, each with its own rules: a \
                     record one sets aside would be counted by the other. Declare `{}` as `same_as: {other}` \
                     (with its own `history_months`), so that one set of rules applies to both",
                    name.as_str(),
                    name.as_str()
                );
                v.error(here, message);
            }
        }
    }
}

/// An input declared `same_as: other`: `other`'s declaration — location, partitioning, columns and every
/// rule — over its own months. Keys that would declare objects or rules again are refused, naming where
/// they belong.
fn validate_same_as(
    v: &mut Validator,
    raw: &RawPipeline,
    name: &Spanned<String>,
    input: &crate::spec::RawInput,
    other: &Spanned<String>,
    declared: &[Input],
) -> Option<Input> {
    let this = name.as_str();
    let Some(base) = declared.iter().find(|d| d.name == other.as_str()) else {
        let chained = raw
            .inputs
            .iter()
            .find(|(n, _)| n.as_str() == other.as_str())
            .and_then(|(_, i)| i.same_as.as_ref());
        let message = match chained {
            Some(next) => format!(
                "input `{this}`: `same_as: {}` names an input that is itself `same_as: {}`: name `{}`",
                other.as_str(),
                next.as_str(),
                next.as_str()
            ),
            None if raw.inputs.iter().any(|(n, _)| n.as_str() == other.as_str()) => {
                // Declared, but its own declaration has errors (reported there).
                return None;
            }
            None => format!(
                "input `{this}`: `same_as: {}` names no input of the pipeline",
                other.as_str()
            ),
        };
        v.error(v.loc(other), message);
        return None;
    };
    let base_name = base.name.as_str();
    let mut again: Vec<(&str, Location)> = Vec::new();
    if let Some(l) = &input.location {
        again.push(("location", v.loc(l)));
    }
    if let Some(p) = &input.partitioned_by {
        again.push(("partitioned_by", v.loc(p)));
    }
    if let Some(c) = input.columns.first() {
        again.push(("columns", v.loc(&c.name)));
    }
    if let Some(r) = input.rules.as_ref().and_then(|r| r.first()) {
        again.push(("rules", v.loc(&r.name)));
    }
    // `drift:` and `completeness:` are mappings without a place of their own: the input's name is given.
    if input.drift.is_some() {
        again.push(("drift", v.loc(name)));
    }
    if input.completeness.is_some() {
        again.push(("completeness", v.loc(name)));
    }
    for (key, at) in again {
        v.error(
            at,
            format!(
                "input `{this}` is `same_as: {base_name}`: it reads the `{key}` of `{base_name}` (declare them there, once)"
            ),
        );
    }
    let window = validate_window(v, this, input, base.partitioned_by_month);
    Some(Input {
        name: this.to_string(),
        description: input.description.clone().unwrap_or_default(),
        history_months: window.history_months,
        baseline_months: window.baseline_months,
        required: input.required.unwrap_or(base.required),
        period_months: window.period_months,
        may_lag: window.may_lag,
        same_as: Some(base_name.to_string()),
        ..base.clone()
    })
}

/// Checks a column's `allowed:`, `min:` and `max:` against its type: a set of values for strings and
/// whole numbers, a range for numbers. Returns them as the engine checks them.
fn validate_column_rules(
    v: &mut Validator,
    input: &str,
    c: &crate::spec::RawColumn,
    kind: ColumnType,
) -> (Vec<String>, Option<f64>, Option<f64>) {
    let name = c.name.as_str();
    let mut allowed = Vec::new();
    if let Some(list) = &c.allowed {
        if !matches!(kind, ColumnType::String | ColumnType::Integer) {
            v.error(
                v.loc(list),
                format!(
                    "input `{input}`, column `{name}`: `allowed` needs a string or integer column"
                ),
            );
        } else if list.is_empty() {
            v.error(
                v.loc(list),
                format!("input `{input}`, column `{name}`: `allowed` lists no values"),
            );
        }
        for value in list.iter() {
            if kind == ColumnType::Integer && value.as_str().parse::<i64>().is_err() {
                v.error(
                    v.loc(value),
                    format!(
                        "input `{input}`, column `{name}`: allowed value `{}` is not a whole number",
                        value.as_str()
                    ),
                );
            }
            allowed.push(value.as_str().to_string());
        }
    }
    let mut bound = |b: &Option<marked_yaml::Spanned<f64>>, which: &str| -> Option<f64> {
        let b = b.as_ref()?;
        if !matches!(kind, ColumnType::Integer | ColumnType::Float) {
            v.error(
                v.loc(b),
                format!(
                    "input `{input}`, column `{name}`: `{which}` needs an integer or float column"
                ),
            );
        } else if !b.is_finite() {
            v.error(
                v.loc(b),
                format!("input `{input}`, column `{name}`: `{which}` must be a finite number"),
            );
        }
        Some(**b)
    };
    let min = bound(&c.min, "min");
    let max = bound(&c.max, "max");
    if let (Some(lo), Some(hi), Some(at)) = (min, max, c.max.as_ref())
        && lo > hi
    {
        v.error(
            v.loc(at),
            format!("input `{input}`, column `{name}`: `max` ({hi}) is below `min` ({lo})"),
        );
    }
    (allowed, min, max)
}

/// Orders steps so that each follows its dependencies (declaration order among equals), reporting cycles.
fn order_steps(v: &mut Validator, steps: Vec<(Location, Step)>) -> Vec<Step> {
    let mut remaining: Vec<(Location, Step)> = steps;
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let known: BTreeSet<String> = remaining.iter().map(|(_, s)| s.id.clone()).collect();
    loop {
        let before = remaining.len();
        let mut i = 0;
        while i < remaining.len() {
            let ready = remaining[i]
                .1
                .depends_on
                .iter()
                .all(|d| done.contains(d) || !known.contains(d));
            if ready {
                let (_, step) = remaining.remove(i);
                done.insert(step.id.clone());
                out.push(step);
            } else {
                i += 1;
            }
        }
        if remaining.is_empty() {
            return out;
        }
        if remaining.len() == before {
            // What is left contains at least one cycle: report each step still waiting, with what it waits on.
            for (loc, step) in &remaining {
                let waiting: Vec<&str> = step
                    .depends_on
                    .iter()
                    .filter(|d| !done.contains(*d))
                    .map(|s| s.as_str())
                    .collect();
                v.error(
                    loc.clone(),
                    format!(
                        "step `{}` is part of a dependency cycle (waits on {})",
                        step.id,
                        waiting.join(", ")
                    ),
                );
            }
            return out;
        }
    }
}

impl Plan {
    /// What `validate` warns about without refusing the pipeline: a number column of an input that
    /// declares neither `min:` nor `max:` (an absurd value — a practice of −500,000 patients — would be
    /// read and counted, where a bound names the row before any SQL runs).
    pub fn warnings(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for input in &self.inputs {
            for c in &input.columns {
                if matches!(c.kind, ColumnType::Integer | ColumnType::Float)
                    && c.min.is_none()
                    && c.max.is_none()
                    && c.allowed.is_empty()
                {
                    let message = format!(
                        "warning: input `{}`, column `{}` is a number with neither `min:` nor `max:`: \
                         an absurd value would be read and counted",
                        input.name, c.name
                    );
                    out.push(match &c.place {
                        Some(at) => Diagnostic::at(at.clone(), message),
                        None => Diagnostic::in_file(self.file.clone(), message),
                    });
                }
            }
        }
        out
    }

    /// Steps grouped into waves: every step of a wave depends only on steps of earlier waves, so the steps
    /// of one wave can run at the same time.
    pub fn waves(&self) -> Vec<Vec<&Step>> {
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        let mut waves: Vec<Vec<&Step>> = Vec::new();
        for step in &self.steps {
            let l = step
                .depends_on
                .iter()
                .filter_map(|d| level.get(d.as_str()))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(&step.id, l);
            if waves.len() <= l {
                waves.resize_with(l + 1, Vec::new);
            }
            waves[l].push(step);
        }
        waves
    }

    pub fn period_parameter(&self) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.kind == ParamKind::Period)
    }
}
