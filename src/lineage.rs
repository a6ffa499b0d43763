//! Lineage and comparison of recorded runs, read only: `explain` traces a published table back through
//! the steps that produced it to the inputs and seeds (with the record's hashes and row counts), and
//! `diff` compares two runs of the same pipeline and period (parameters, inputs, files, published figures).
//!
//! Owns those two reports and the reading of a published Parquet table as text rows, which `verify` shares;
//! the figures of a table that differs are compared by `figure_diff` (in their units), for both.
//! It never writes to the store and never runs a step; the dependency graph comes from the pipeline as it
//! is now in the project, with a warning when its files differ from the run's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::figure_diff::TableChanges;
use crate::plan::{Plan, StepKind};
use crate::record::RunRecord;
use crate::store::sha256_hex;
use crate::world::World;

/// A Parquet table read as display text, with which columns hold numbers.
#[derive(Debug, Clone)]
pub struct TextTable {
    pub columns: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// Reads a Parquet object of the store as display text (nulls as `null`).
pub async fn read_table(world: &World, path: &str) -> Result<TextTable, String> {
    let bytes = world
        .store
        .get(path)
        .await
        .map_err(|e| format!("`{path}`: {e}"))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| format!("`{path}` is not readable Parquet: {e}"))?;
    let schema = builder.schema().clone();
    let reader = builder
        .build()
        .map_err(|e| format!("`{path}` is not readable Parquet: {e}"))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{path}` is not readable Parquet: {e}"))?;
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let numeric = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("null");
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok(TextTable {
        columns,
        numeric,
        rows,
    })
}

/// The run's pipeline as it is now (the graph `explain` walks; `file_warnings` says when it differs).
fn plan_now(world: &World, record: &RunRecord) -> Result<Plan, String> {
    crate::plan::load_named(&world.project, &record.pipeline)
        .map_err(|d| format!("pipeline `{}` as it is now: {d}", record.pipeline))
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// The step id a table is named by: `summary`, `tables/summary.parquet`, a report's PDF (one of a report
/// typeset per value too) or a full output path.
fn table_id(what: &str) -> &str {
    crate::record::output_step(what)
}

/// The steps with outputs in the run, in the pipeline's order, each once (a report typeset per value has
/// many PDFs).
fn published(record: &RunRecord, plan: &crate::plan::Plan) -> Vec<String> {
    let ids: std::collections::BTreeSet<&str> =
        record.outputs.iter().map(|o| table_id(&o.path)).collect();
    plan.steps
        .iter()
        .filter(|s| ids.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect()
}

/// The leading `--` comment lines of a SQL statement.
fn leading_comments(sql: &str) -> Vec<String> {
    sql.lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The lineage of one table (or step) of a recorded run, as an indented tree.
pub fn explain(world: &World, record: &RunRecord, what: &str) -> Result<String, String> {
    let plan = plan_now(world, record)?;
    let id = table_id(what);
    // A seed (named as a source under a table) is explained by its files as the run read them.
    if !plan.steps.iter().any(|s| s.id == id) && plan.seeds.iter().any(|s| s.name == id) {
        let mut out = format!(
            "lineage of seed `{id}` in run {} ({} {})\n",
            record.run_id, record.pipeline, record.period
        );
        explain_source(&mut out, record, &plan, id, 1);
        return Ok(out.trim_end().to_string());
    }
    if !plan.steps.iter().any(|s| s.id == id) {
        return Err(format!(
            "run {} has no table or step `{what}`; its tables and reports: {}",
            record.run_id,
            published(record, &plan).join(", ")
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lineage of `{id}` in run {} ({} {})",
        record.run_id, record.pipeline, record.period
    );
    // The graph is today's; say so when the files it comes from are not the run's.
    for w in file_warnings(world, record, &plan) {
        let _ = writeln!(out, "warning: {w}");
    }
    let mut seen = BTreeSet::new();
    explain_step(&mut out, record, &plan, id, 1, &mut seen);
    Ok(out.trim_end().to_string())
}

/// The columns a table names its metric by, in the order they are looked for.
const METRIC_COLUMNS: [&str; 2] = ["metric_id", "indicator_id"];
/// The columns a table names its period by.
const PERIOD_COLUMNS: [&str; 3] = ["month", "period", "quarter"];
/// How many rows of one table `explain METRIC` lists.
const METRIC_ROWS: usize = 12;

/// A metric of the project's registry traced through a run (`explain RUN METRIC[@ORG][@PERIOD]`).
pub struct MetricTrace {
    pub metric: String,
    pub organisation: Option<String>,
    pub period: Option<String>,
    /// The registry's fields of the metric, in the registry's order (those it sets).
    pub definition: Vec<(String, serde_yaml::Value)>,
    /// Each published table holding the metric: its step, output path, columns and the rows cut to the
    /// organisation and period (the metric's own column left out).
    pub tables: Vec<MetricTable>,
    warnings: Vec<String>,
    run: String,
    /// The pipeline as it is now, loaded once for the trace, its text and its document.
    plan: Plan,
}

pub struct MetricTable {
    pub step: String,
    pub path: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `explain RUN METRIC[@ORG][@PERIOD]`: a metric of the project's registry traced through a run — its
/// definition as the registry gives it, then every published table of the run that holds it (rows cut to
/// the organisation and period when given: `rtt_18w@SWFT@2022-04`), with numerator, denominator and value
/// as published; the text adds those tables' lineage down to the input objects. `None` when `what` does
/// not name a metric of the registry (it is then a table or a step).
pub async fn trace_metric(
    world: &World,
    record: &RunRecord,
    what: &str,
) -> Result<Option<MetricTrace>, String> {
    let mut parts = what.split('@');
    let id = parts.next().unwrap_or_default();
    let Ok(bytes) = world.project.read(crate::registry::REGISTRY) else {
        return Ok(None);
    };
    let registry = crate::registry::Registry::parse(&bytes).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if !registry.contains(id) {
        return Ok(None);
    }
    let plan = plan_now(world, record)?;
    // A step or seed of the same name is what a bare name means.
    if id == what
        && (plan.steps.iter().any(|s| s.id == id) || plan.seeds.iter().any(|s| s.name == id))
    {
        return Ok(None);
    }
    let (mut org, mut period) = (None, None);
    for part in parts {
        if part.parse::<crate::period::Period>().is_ok() {
            period = Some(part.to_string());
        } else {
            org = Some(part.to_string());
        }
    }
    let definition = crate::registry::DEFINED
        .iter()
        .filter_map(|k| {
            registry
                .field(id, k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    let mut tables = Vec::new();
    for step in published(record, &plan) {
        let Some(output) = record
            .outputs
            .iter()
            .find(|o| table_id(&o.path) == step && o.path.ends_with(".parquet"))
        else {
            continue;
        };
        let table = read_table(world, &output.path).await?;
        let Some(key) = METRIC_COLUMNS
            .iter()
            .find_map(|c| table.columns.iter().position(|t| t == c))
        else {
            continue;
        };
        let periods: Vec<usize> = PERIOD_COLUMNS
            .iter()
            .filter_map(|c| table.columns.iter().position(|t| t == c))
            .collect();
        let rows: Vec<Vec<String>> = table
            .rows
            .iter()
            .filter(|r| r[key] == id)
            .filter(|r| {
                org.as_ref().is_none_or(|o| {
                    r.iter()
                        .zip(&table.numeric)
                        .any(|(v, numeric)| !numeric && v == o)
                })
            })
            .filter(|r| {
                period
                    .as_ref()
                    .is_none_or(|p| periods.iter().any(|&i| &r[i] == p))
            })
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != key)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let columns = table
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != key)
            .map(|(_, c)| c.clone())
            .collect();
        tables.push(MetricTable {
            step,
            path: output.path.clone(),
            columns,
            rows,
        });
    }
    if tables.is_empty() {
        let cut = [
            org.as_ref().map(|o| format!("organisation `{o}`")),
            period.as_ref().map(|p| format!("period `{p}`")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        return Err(format!(
            "no published table of run {} holds metric `{id}`{}; its tables: {}",
            record.run_id,
            if cut.is_empty() {
                String::new()
            } else {
                format!(" for {}", cut.join(" and "))
            },
            published(record, &plan).join(", ")
        ));
    }
    Ok(Some(MetricTrace {
        metric: id.to_string(),
        organisation: org,
        period,
        definition,
        tables,
        warnings: file_warnings(world, record, &plan),
        run: record.run_id.clone(),
        plan,
    }))
}

fn yaml_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

impl MetricTrace {
    /// The trace as text, with the lineage of every table holding the metric.
    pub fn text(&self, record: &RunRecord) -> String {
        let plan = &self.plan;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "metric `{}` in run {} ({} {})",
            self.metric, self.run, record.pipeline, record.period
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let _ = writeln!(out, "  defined in {}:", crate::registry::REGISTRY);
        for (k, v) in &self.definition {
            let _ = writeln!(out, "    {k}: {}", yaml_text(v));
        }
        for t in &self.tables {
            let _ = writeln!(
                out,
                "  table {} ({}): {} row(s){}",
                t.step,
                t.path,
                t.rows.len(),
                if t.rows.len() > METRIC_ROWS {
                    format!(", the first {METRIC_ROWS}")
                } else {
                    String::new()
                }
            );
            for r in t.rows.iter().take(METRIC_ROWS) {
                let cells: Vec<String> = t
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect();
                let _ = writeln!(out, "    {}", cells.join(" "));
            }
        }
        let _ = writeln!(out, "  lineage:");
        let mut seen = BTreeSet::new();
        for t in &self.tables {
            explain_step(&mut out, record, plan, &t.step, 2, &mut seen);
        }
        out.trim_end().to_string()
    }

    /// The trace as one JSON document (`explain RUN METRIC --output json`; fields in the README), with
    /// each table's lineage as `explain RUN TABLE --output json` gives it.
    pub fn document(&self, world: &World, record: &RunRecord) -> Result<serde_json::Value, String> {
        use serde_json::json;
        let definition: serde_json::Map<String, serde_json::Value> = self
            .definition
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
            .collect();
        let mut tables = Vec::new();
        for t in &self.tables {
            let rows: Vec<serde_json::Value> = t
                .rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        t.columns
                            .iter()
                            .cloned()
                            .zip(r.iter().map(|v| json!(v)))
                            .collect(),
                    )
                })
                .collect();
            tables.push(json!({
                "table": t.step,
                "path": t.path,
                "rows": rows,
                "lineage": document_of(world, record, &self.plan, &t.step)?,
            }));
        }
        Ok(json!({
            "run_id": self.run,
            "pipeline": record.pipeline,
            "period": record.period,
            "metric": self.metric,
            "organisation": self.organisation,
            "metric_period": self.period,
            "warnings": self.warnings,
            "definition": definition,
            "tables": tables,
        }))
    }
}

/// The lineage of one table (or step, or seed) of a recorded run as one JSON document
/// (`explain --output json`; its fields are documented in the README): the step explained and every step
/// it reads from, transitively (upstream first, each once), the inputs and seeds they read, with the
/// record's statuses, row counts, outputs and full SHA-256s.
pub fn explain_document(
    world: &World,
    record: &RunRecord,
    what: &str,
) -> Result<serde_json::Value, String> {
    document_of(world, record, &plan_now(world, record)?, what)
}

/// `explain_document` against a plan already loaded.
fn document_of(
    world: &World,
    record: &RunRecord,
    plan: &Plan,
    what: &str,
) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let id = table_id(what);
    let is_step = plan.steps.iter().any(|s| s.id == id);
    let is_seed = !is_step && plan.seeds.iter().any(|s| s.name == id);
    if !is_step && !is_seed {
        return Err(format!(
            "run {} has no table or step `{what}`; its tables and reports: {}",
            record.run_id,
            published(record, &plan).join(", ")
        ));
    }
    // The step and its ancestors, in the pipeline's order (which puts every step after what it reads).
    let mut wanted = BTreeSet::new();
    let mut queue = vec![id.to_string()];
    while let Some(next) = queue.pop() {
        if let Some(step) = plan.steps.iter().find(|s| s.id == next)
            && wanted.insert(next)
        {
            queue.extend(step.depends_on.iter().cloned());
        }
    }
    let mut sources: BTreeSet<&str> = BTreeSet::new();
    if is_seed {
        sources.insert(id);
    }
    let mut steps = Vec::new();
    for step in plan.steps.iter().filter(|s| wanted.contains(&s.id)) {
        let rec = record.steps.iter().find(|s| s.id == step.id);
        let (file, comments, assertions) = match &step.kind {
            StepKind::Sql { file, sql } => (Some(file.as_str()), leading_comments(sql), None),
            StepKind::Report { template, .. } => (Some(template.as_str()), Vec::new(), None),
            StepKind::Check { assertions } => (
                None,
                Vec::new(),
                Some(
                    assertions
                        .iter()
                        .map(|a| a.name.clone())
                        .collect::<Vec<_>>(),
                ),
            ),
        };
        let is_input = |n: &String| plan.inputs.iter().any(|i| &i.name == n);
        let seed_named = |n: &String| plan.seeds.iter().any(|s| &s.name == n);
        sources.extend(
            step.inputs
                .iter()
                .filter(|n| is_input(n) || seed_named(n))
                .map(String::as_str),
        );
        steps.push(json!({
            "id": step.id,
            "kind": step.kind.label(),
            "status": rec.map(|r| r.status),
            "rows": rec.and_then(|r| r.rows),
            "cached": rec.is_some_and(|r| r.cached),
            "reused_from": rec.and_then(|r| r.reused_from.clone()),
            "outputs": rec.map(|r| r.outputs.clone()).unwrap_or_default(),
            "file": file,
            "file_sha256": file.and_then(|f| record.files.get(f)),
            "comments": comments,
            "assertions": assertions,
            "reads": {
                "steps": step.depends_on,
                "inputs": step.inputs.iter().filter(|n| is_input(n)).collect::<Vec<_>>(),
                "seeds": step.inputs.iter().filter(|n| seed_named(n)).collect::<Vec<_>>(),
                "tables": step.inputs.iter().filter(|n| !is_input(n) && !seed_named(n)).collect::<Vec<_>>(),
            },
        }));
    }
    let inputs: Vec<serde_json::Value> = plan
        .inputs
        .iter()
        .filter(|i| sources.contains(i.name.as_str()))
        .map(|i| match record.inputs.iter().find(|r| r.name == i.name) {
            Some(r) => json!({
                "name": r.name, "location": r.location, "recorded": true, "months": r.months,
                "rows": r.rows, "bytes": r.bytes, "sha256": r.sha256, "objects": r.objects,
            }),
            None => json!({
                "name": i.name, "location": i.location, "recorded": false, "months": [],
                "rows": null, "bytes": null, "sha256": null, "objects": [],
            }),
        })
        .collect();
    let seeds: Vec<serde_json::Value> = plan
        .seeds
        .iter()
        .filter(|s| sources.contains(s.name.as_str()))
        .map(|s| {
            json!({
                "name": s.name,
                "files": s.files.iter().map(|f| json!({"path": f, "sha256": record.files.get(f)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "period": record.period,
        "table": id,
        "kind": if is_seed { "seed" } else { "step" },
        "warnings": if is_seed { Vec::new() } else { file_warnings(world, record, &plan) },
        "steps": steps,
        "inputs": inputs,
        "seeds": seeds,
    }))
}

fn file_warnings(world: &World, record: &RunRecord, plan: &Plan) -> Vec<String> {
    let mut files = vec![plan.file.to_string_lossy().replace('\\', "/")];
    for s in &plan.steps {
        if let StepKind::Sql { file, .. } = &s.kind {
            files.push(file.clone());
        }
    }
    let mut out = Vec::new();
    for f in files {
        let now = world
            .project
            .file_path(&f)
            .ok()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| sha256_hex(&b));
        match (record.files.get(&f), now) {
            (Some(then), Some(now)) if *then == now => {}
            (Some(then), Some(now)) => out.push(format!(
                "{f} changed since the run (sha256 {} now, {} recorded): the lineage shown may differ from the run's",
                short(&now),
                short(then)
            )),
            (Some(_), None) => out.push(format!("{f} is gone since the run")),
            (None, _) => out.push(format!(
                "{f} is not in the run's record: the lineage shown may differ from the run's"
            )),
        }
    }
    out
}

fn explain_step(
    out: &mut String,
    record: &RunRecord,
    plan: &Plan,
    id: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
) {
    let pad = "  ".repeat(depth);
    let Some(step) = plan.steps.iter().find(|s| s.id == id) else {
        let _ = writeln!(out, "{pad}table `{id}` (not a step of the pipeline now)");
        return;
    };
    let rec = record.steps.iter().find(|s| s.id == id);
    let rows = rec
        .and_then(|r| r.rows)
        .map(|n| format!(", {n} rows"))
        .unwrap_or_default();
    let status = rec
        .map(|r| format!("{:?}", r.status).to_lowercase())
        .unwrap_or_else(|| "not in the record".into());
    let _ = writeln!(
        out,
        "{pad}step {id} ({}, {status}{rows})",
        step.kind.label()
    );
    if !seen.insert(id.to_string()) {
        let _ = writeln!(out, "{pad}  (shown above)");
        return;
    }
    if let Some(r) = rec {
        for o in &r.outputs {
            let _ = writeln!(out, "{pad}  output {} sha256 {}", o.path, short(&o.sha256));
        }
    }
    match &step.kind {
        StepKind::Sql { file, sql } => {
            let sha = record
                .files
                .get(file)
                .map(|s| short(s).to_string())
                .unwrap_or_else(|| "not recorded".into());
            let _ = writeln!(out, "{pad}  sql {file} sha256 {sha}");
            for c in leading_comments(sql) {
                let _ = writeln!(out, "{pad}    -- {c}");
            }
        }
        StepKind::Report { template, .. } => {
            let sha = record
                .files
                .get(template)
                .map(|s| short(s).to_string())
                .unwrap_or_else(|| "not recorded".into());
            let _ = writeln!(out, "{pad}  template {template} sha256 {sha}");
        }
        StepKind::Check { assertions } => {
            let _ = writeln!(out, "{pad}  {} assertion(s)", assertions.len());
        }
    }
    if step.depends_on.is_empty() && step.inputs.is_empty() {
        return;
    }
    let _ = writeln!(out, "{pad}  reads:");
    for name in &step.inputs {
        explain_source(out, record, plan, name, depth + 2);
    }
    for dep in &step.depends_on {
        explain_step(out, record, plan, dep, depth + 2, seen);
    }
}

/// An input (with the months and objects the run read) or a seed (with its files' hashes).
fn explain_source(out: &mut String, record: &RunRecord, plan: &Plan, name: &str, depth: usize) {
    let pad = "  ".repeat(depth);
    if let Some(input) = record.inputs.iter().find(|i| i.name == name) {
        let months = if input.months.is_empty() {
            "unpartitioned".to_string()
        } else {
            format!("months {}", input.months.join(", "))
        };
        let _ = writeln!(
            out,
            "{pad}input {name} ({}, {months}, {} object(s){})",
            input.location,
            input.objects.len(),
            input
                .rows
                .map(|n| format!(", {n} rows"))
                .unwrap_or_default()
        );
        for o in &input.objects {
            let _ = writeln!(
                out,
                "{pad}  {} {} bytes sha256 {}",
                o.path,
                o.size,
                short(&o.sha256)
            );
        }
    } else if let Some(seed) = plan.seeds.iter().find(|s| s.name == name) {
        let _ = writeln!(out, "{pad}seed {name}");
        for f in &seed.files {
            let sha = record
                .files
                .get(f)
                .map(|s| short(s).to_string())
                .unwrap_or_else(|| "not recorded".into());
            let _ = writeln!(out, "{pad}  {f} sha256 {sha}");
        }
    } else {
        let _ = writeln!(out, "{pad}{name} (not recorded by the run)");
    }
}

/// Two runs of the same pipeline and period compared, as text.
pub async fn diff(world: &World, a: &RunRecord, b: &RunRecord) -> Result<String, String> {
    compare(world, a, b).await.map(|c| c.text)
}

/// What `diff` found: the report for people, how many outputs differ or are in one run only, and the
/// same facts as data (`diff --output json`).
pub struct Comparison {
    pub text: String,
    pub different: usize,
    pub document: serde_json::Value,
}

/// Two runs of the same pipeline and period compared.
pub async fn compare(world: &World, a: &RunRecord, b: &RunRecord) -> Result<Comparison, String> {
    if a.pipeline != b.pipeline {
        return Err(format!(
            "runs {} and {} are of different pipelines ({} and {}): diff compares runs of one pipeline and period",
            a.run_id, b.run_id, a.pipeline, b.pipeline
        ));
    }
    if a.period != b.period {
        return Err(format!(
            "runs {} and {} are of different periods ({} and {}): diff compares runs of one pipeline and period",
            a.run_id, b.run_id, a.period, b.period
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "diff {} {}: run {} → run {}",
        a.pipeline, a.period, a.run_id, b.run_id
    );
    // The summary goes here once the comparison is done: the conclusion before its reasons.
    let summary_at = out.len();

    let params = RunRecord::given_parameters;
    section(
        &mut out,
        "parameters",
        &changes(&params(a), &params(b), false),
    );
    let objects = |r: &RunRecord| -> BTreeMap<String, String> {
        r.inputs
            .iter()
            .flat_map(|i| i.objects.iter().map(|o| (o.path.clone(), o.sha256.clone())))
            .collect()
    };
    section(
        &mut out,
        "input objects",
        &changes(&objects(a), &objects(b), true),
    );
    section(
        &mut out,
        "project files",
        &changes(&a.files, &b.files, true),
    );

    let outputs = |r: &RunRecord| -> BTreeMap<String, (String, String)> {
        r.outputs
            .iter()
            .map(|o| (relative(&o.path), (o.path.clone(), o.sha256.clone())))
            .collect()
    };
    let (oa, ob) = (outputs(a), outputs(b));
    // The units of each step's figures, from the pipeline as it is now (as `explain`'s graph is): a
    // pipeline that no longer loads leaves every figure a plain number.
    let units: BTreeMap<String, BTreeMap<String, crate::units::ColumnUnit>> =
        match crate::plan::load_named(&world.project, &a.pipeline) {
            Ok(plan) => plan.steps.into_iter().map(|s| (s.id, s.units)).collect(),
            Err(_) => BTreeMap::new(),
        };
    let no_units = BTreeMap::new();
    let mut identical = 0;
    let mut different = 0;
    let mut documented = Vec::new();
    let mut compared: Vec<(String, TableChanges)> = Vec::new();
    for (rel, (pa, sa)) in &oa {
        let Some((pb, sb)) = ob.get(rel) else {
            let _ = writeln!(out, "  only in {}  {rel}", a.run_id);
            documented.push(serde_json::json!({ "path": rel, "status": "only_old" }));
            continue;
        };
        if sa == sb {
            identical += 1;
            let _ = writeln!(out, "  identical  {rel}");
            documented.push(serde_json::json!({ "path": rel, "status": "identical" }));
            continue;
        }
        different += 1;
        let _ = writeln!(out, "  DIFFERENT  {rel}");
        if !rel.ends_with(".parquet") {
            documented.push(
                serde_json::json!({ "path": rel, "status": "different", "figures": Vec::<String>::new() }),
            );
            continue;
        }
        let step_units = units.get(table_id(rel)).unwrap_or(&no_units);
        let changes = crate::figure_diff::compare_objects(world, pa, pb, step_units).await;
        let figures = changes.lines();
        for line in &figures {
            let _ = writeln!(out, "             {line}");
        }
        documented.push(serde_json::json!({
            "path": rel, "status": "different", "figures": figures,
            "changes": changes.figures, "rank_changes": changes.rank_changes,
            "rows": changes.rows, "problem": changes.problem,
        }));
        compared.push((rel.clone(), changes));
    }
    let removed = oa.keys().filter(|k| !ob.contains_key(*k)).count();
    let mut added = 0;
    for rel in ob.keys().filter(|k| !oa.contains_key(*k)) {
        let _ = writeln!(out, "  only in {}  {rel}", b.run_id);
        documented.push(serde_json::json!({ "path": rel, "status": "only_new" }));
        added += 1;
    }
    let only = removed + added;
    let _ = write!(
        out,
        "{identical} output(s) identical, {different} different"
    );
    let count =
        |x: &BTreeMap<String, String>, y: &BTreeMap<String, String>| changes(x, y, true).len();
    let tables: Vec<(String, &TableChanges)> =
        compared.iter().map(|(rel, c)| (rel.clone(), c)).collect();
    let summary = Summary::of(&tables, Some((added, removed)));
    let mut head = format!(
        "  summary: {different} output(s) different, {only} in one run only, {identical} identical; \
         {} input object(s) and {} project file(s) changed\n",
        count(&objects(a), &objects(b)),
        count(&a.files, &b.files)
    );
    for line in summary.lines() {
        let _ = writeln!(head, "  {line}");
    }
    out.insert_str(summary_at, &head);
    let document = serde_json::json!({
        "pipeline": a.pipeline, "period": a.period, "old_run": a.run_id, "new_run": b.run_id,
        "parameters": changes(&params(a), &params(b), false),
        "input_objects": changes(&objects(a), &objects(b), true),
        "project_files": changes(&a.files, &b.files, true),
        "outputs": documented,
        "different": different + only,
        "summary": {
            "identical": identical, "different": different, "added": added, "removed": removed,
            "figures_changed": summary.figures, "rank_changes": summary.ranks,
            "tables_with_changed_figures": summary.tables, "largest": summary.largest,
        },
    });
    Ok(Comparison {
        text: out,
        different: different + only,
        document,
    })
}

fn section(out: &mut String, what: &str, lines: &[String]) {
    if lines.is_empty() {
        let _ = writeln!(out, "  {what}: unchanged");
    } else {
        let _ = writeln!(out, "  {what}:");
        for l in lines {
            let _ = writeln!(out, "    {l}");
        }
    }
}

/// Added, removed and changed entries of two maps (values shortened when they are hashes).
fn changes(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    hashes: bool,
) -> Vec<String> {
    let show = |v: &str| {
        if hashes {
            format!("sha256 {}", short(v))
        } else {
            v.to_string()
        }
    };
    let mut out = Vec::new();
    for (k, va) in a {
        match b.get(k) {
            None => out.push(format!("removed  {k} ({})", show(va))),
            Some(vb) if vb != va => out.push(format!("changed  {k}: {} → {}", show(va), show(vb))),
            Some(_) => {}
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            out.push(format!("added    {k} ({})", show(vb)));
        }
    }
    out
}

/// The output's path within its run (`tables/x.parquet`), whatever prefix the run wrote under.
pub fn relative(path: &str) -> String {
    for marker in ["/tables/", "/reports/"] {
        if let Some(i) = path.rfind(marker) {
            return path[i + 1..].to_string();
        }
    }
    path.to_string()
}

/// The figures part of a comparison's summary, said before the listing: how many figures and ranks
/// changed in how many tables, how many outputs are new or gone, and the largest change of each unit.
pub struct Summary {
    pub figures: usize,
    pub ranks: usize,
    pub tables: usize,
    /// Outputs in the new run only and in the old one only, when the comparison is of two runs.
    pub outputs: Option<(usize, usize)>,
    pub largest: Vec<crate::figure_diff::Largest>,
}

impl Summary {
    /// Of the tables compared (each by its path in the run) and, for two runs, the outputs added and
    /// removed.
    pub fn of(tables: &[(String, &TableChanges)], outputs: Option<(usize, usize)>) -> Summary {
        Summary {
            figures: tables.iter().map(|(_, c)| c.figures.len()).sum(),
            ranks: tables.iter().map(|(_, c)| c.rank_changes.len()).sum(),
            tables: tables
                .iter()
                .filter(|(_, c)| !c.figures.is_empty() || !c.rank_changes.is_empty())
                .count(),
            outputs,
            largest: crate::figure_diff::largest(tables),
        }
    }

    /// `figures: 12 changed in 2 table(s), 3 rank change(s); outputs: 0 added, 0 removed`, then one
    /// `largest in UNIT: …` line per unit.
    pub fn lines(&self) -> Vec<String> {
        let outputs = self
            .outputs
            .map(|(added, removed)| format!("; outputs: {added} added, {removed} removed"))
            .unwrap_or_default();
        let mut out = vec![format!(
            "figures: {} changed in {} table(s), {} rank change(s){outputs}",
            self.figures, self.tables, self.ranks
        )];
        out.extend(self.largest.iter().map(|l| l.line()));
        out
    }
}
