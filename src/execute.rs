//! Executing a plan: registers the inputs a period needs, runs steps as their dependencies allow (up to
//! the configured number at once), stages every output under the run's own prefix, and publishes by
//! writing the run record last.
//!
//! Owns the order of work and the run record. It uses `engine` for SQL and `render` for PDFs and reports
//! progress through `Events`; it never prints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use serde_json::{Value as Json, json};
use tokio::task::JoinSet;

use crate::engine::Engine;
use crate::params::RunParams;
use crate::period::Month;
use crate::plan::{PREVIOUS_PREFIX, Plan, SeedFormat, Severity, Step, StepKind};
use crate::record::{
    InputRecord, LatestPointer, ObjectRecord, RunLayout, RunRecord, RunStatus, StepRecord,
    StepStatus, ToolInfo, latest_pointer,
};
use crate::render::{self, ReportInput};
use crate::world::World;

/// What a run reports as it goes. The CLI shows it as a progress bar or log lines; tests ignore it.
pub trait Events: Send + Sync {
    fn run_started(&self, _plan: &Plan, _run_id: &str) {}
    fn step_started(&self, _step: &Step) {}
    fn step_finished(&self, _step: &Step, _record: &StepRecord) {}
    fn warning(&self, _message: &str) {}
}

/// Events that go nowhere.
pub struct Silent;
impl Events for Silent {}

/// A finished, published run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub record: RunRecord,
    pub record_path: String,
}

impl RunOutcome {
    /// Store paths of the PDFs the run published.
    pub fn reports(&self) -> Vec<String> {
        self.record
            .outputs
            .iter()
            .filter(|o| o.path.ends_with(".pdf"))
            .map(|o| o.path.clone())
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunFailure {
    pub message: String,
    /// The failed run's record, when it could be written.
    pub record_path: Option<String>,
}

/// How a run is carried out: published as usual, or staged only (to re-execute a recorded run).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stage every output under this store prefix instead of `runs/…`, write no record and publish
    /// nothing: the caller reads the outputs from the returned record and deletes them.
    pub stage_only: Option<String>,
    /// Which earlier run the restatement tables (`previous_*`) compare with.
    pub previous: Previous,
}

/// The earlier run a run compares with.
#[derive(Debug, Clone, Default)]
pub enum Previous {
    /// The run published for the pipeline and period now (an ordinary run).
    #[default]
    Published,
    /// The run of this record, or none: a re-execution compares with what the original compared with.
    Record(Option<String>),
}

/// Runs a plan for the given parameters.
pub async fn run(
    world: &World,
    plan: &Plan,
    params: &RunParams,
    events: Arc<dyn Events>,
) -> Result<RunOutcome, RunFailure> {
    run_with(world, plan, params, events, &RunOptions::default()).await
}

/// Runs a plan for the given parameters, as `options` say.
pub async fn run_with(
    world: &World,
    plan: &Plan,
    params: &RunParams,
    events: Arc<dyn Events>,
    options: &RunOptions,
) -> Result<RunOutcome, RunFailure> {
    let started_at = world.clock.now();
    let clock_start = Instant::now();
    let period = params.period();
    let run_id = new_run_id(started_at);
    let layout = match &options.stage_only {
        Some(prefix) => RunLayout {
            prefix: format!("{}/{run_id}", prefix.trim_end_matches('/')),
        },
        None => RunLayout::new(&plan.name, &period.to_string(), &run_id),
    };
    events.run_started(plan, &run_id);

    let mut record = RunRecord {
        format: crate::record::FORMAT,
        run_id: run_id.clone(),
        pipeline: plan.name.clone(),
        pipeline_file: plan.file.display().to_string(),
        period: period.to_string(),
        parameters: params.to_json(),
        status: RunStatus::Failed,
        published: false,
        started_at,
        finished_at: started_at,
        duration_ms: 0,
        tool: ToolInfo::current(),
        store: world.store.root().to_string(),
        inputs: Vec::new(),
        steps: Vec::new(),
        outputs: Vec::new(),
        files: BTreeMap::new(),
        fingerprint: String::new(),
        previous_record: None,
        warnings: Vec::new(),
        error: None,
    };

    let result = execute(
        world,
        plan,
        params,
        &layout,
        &mut record,
        events.clone(),
        &options.previous,
    )
    .await;
    record.files = world.project.files_read();
    record.finished_at = world.clock.now();
    record.duration_ms = clock_start.elapsed().as_millis() as u64;
    if options.stage_only.is_some() {
        // Staged only: no record, no pointer; nothing of it looks published.
        return match result {
            Ok(()) => {
                record.status = RunStatus::Succeeded;
                Ok(RunOutcome {
                    record,
                    record_path: String::new(),
                })
            }
            Err(message) => {
                cleanup(world, &record).await;
                Err(RunFailure {
                    message,
                    record_path: None,
                })
            }
        };
    }
    match result {
        Ok(()) => {
            record.status = RunStatus::Succeeded;
            record.published = true;
            let record_path = layout.record();
            let body = serde_json::to_vec_pretty(&record).map_err(|e| RunFailure {
                message: e.to_string(),
                record_path: None,
            })?;
            // The record is written last and only once: its presence with `succeeded` is the publication.
            if let Err(e) = world.store.put_new(&record_path, Bytes::from(body)).await {
                cleanup(world, &record).await;
                return Err(RunFailure {
                    message: format!("publishing the run record: {e}"),
                    record_path: None,
                });
            }
            let pointer = LatestPointer {
                run_id: run_id.clone(),
                record: record_path.clone(),
                published_at: record.finished_at,
                outputs: record.outputs.iter().map(|o| o.path.clone()).collect(),
            };
            if let Ok(body) = serde_json::to_vec_pretty(&pointer) {
                if let Err(e) = world
                    .store
                    .put(
                        &latest_pointer(&plan.name, &period.to_string()),
                        Bytes::from(body),
                    )
                    .await
                {
                    events.warning(&format!(
                        "the run is published, but the `published/` index was not updated: {e}"
                    ));
                }
            }
            Ok(RunOutcome {
                record: record,
                record_path,
            })
        }
        Err(message) => {
            // Nothing of a failed run may look published: remove what it staged, then record the failure.
            cleanup(world, &record).await;
            record.error = Some(message.clone());
            record.outputs.clear();
            let record_path = layout.record();
            let written = match serde_json::to_vec_pretty(&record) {
                Ok(body) => world
                    .store
                    .put_new(&record_path, Bytes::from(body))
                    .await
                    .is_ok(),
                Err(_) => false,
            };
            Err(RunFailure {
                message,
                record_path: written.then_some(record_path),
            })
        }
    }
}

async fn cleanup(world: &World, record: &RunRecord) {
    for o in record
        .outputs
        .iter()
        .chain(record.steps.iter().flat_map(|s| s.outputs.iter()))
    {
        let _ = world.store.delete(&o.path).await;
    }
}

fn new_run_id(started_at: DateTime<Utc>) -> String {
    // Time first, so that run ids sort by start; a random suffix keeps two runs in one second apart.
    format!(
        "{}-{:06x}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>() & 0xFF_FFFF
    )
}

/// The months an input must supply for a period: the period's own and its declared history.
pub fn input_months(first: Month, last: Month, history_months: u32) -> Vec<Month> {
    first.add(-(history_months as i32)).through(last)
}

async fn execute(
    world: &World,
    plan: &Plan,
    params: &RunParams,
    layout: &RunLayout,
    record: &mut RunRecord,
    events: Arc<dyn Events>,
    previous: &Previous,
) -> Result<(), String> {
    let period = params.period();
    let engine = Engine::start(&world.config, &world.store)
        .await
        .map_err(|e| format!("starting the engine: {e}"))?;
    let sql_params = Arc::new(params.sql_values());

    // Register only the inputs and seeds some step reads.
    let read: BTreeSet<&str> = plan
        .steps
        .iter()
        .flat_map(|s| s.inputs.iter().map(String::as_str))
        .collect();
    for seed in plan.seeds.iter().filter(|s| read.contains(s.name.as_str())) {
        if seed.format == SeedFormat::Desnz {
            // Each file is read through the project, so that its hash goes into the run record.
            let mut files = Vec::new();
            for f in &seed.files {
                let bytes = world
                    .project
                    .read(f)
                    .map_err(|e| format!("seed `{}`: {e}", seed.name))?;
                files.push((f.clone(), bytes));
            }
            let sets = crate::factors::parse_all(&files)
                .map_err(|e| format!("seed `{}`: {e}", seed.name))?;
            let batch = crate::factors::to_batch(&sets)
                .map_err(|e| format!("seed `{}`: {e}", seed.name))?;
            engine
                .register_batch(&seed.name, batch)
                .map_err(|e| e.to_string())?;
            continue;
        }
        let bytes = world
            .project
            .read(&seed.file)
            .map_err(|e| format!("seed `{}`: {e}", seed.name))?;
        engine
            .register_seed(&seed.name, &seed.file, &bytes)
            .map_err(|e| e.to_string())?;
    }
    for input in plan
        .inputs
        .iter()
        .filter(|i| read.contains(i.name.as_str()))
    {
        let months = if input.partitioned_by_month {
            let mut months = input_months(
                period.first_month(),
                period.last_month(),
                input.history_months,
            );
            // Baseline months come first: they are earlier than the history, or already in it.
            let extra = input.baseline_months.iter().filter(|m| !months.contains(m));
            months = extra.copied().chain(months.iter().copied()).collect();
            months.sort();
            months
        } else {
            Vec::new()
        };
        let objects = engine
            .register_input(input, &months)
            .await
            .map_err(|e| e.to_string())?;
        let mut recorded = Vec::with_capacity(objects.len());
        for o in objects {
            let (_, sha256) = world
                .store
                .digest(&o.path)
                .await
                .map_err(|e| e.to_string())?;
            recorded.push(ObjectRecord {
                path: o.path,
                size: o.size,
                sha256,
            });
        }
        record.inputs.push(InputRecord {
            name: input.name.clone(),
            location: input.location.clone(),
            months: months.iter().map(|m| m.to_string()).collect(),
            objects: recorded,
        });
    }

    // What this run reads and what the previously published run of the period read and produced, for
    // steps that compare with it (restatements).
    let empty_previous =
        register_run_tables(world, plan, &engine, &period.to_string(), record, previous).await?;
    // The previous run counts only for a pipeline that reads it (restatements).
    let uses_previous = !plan.previous.is_empty()
        || plan
            .steps
            .iter()
            .any(|s| s.inputs.iter().any(|i| i == "previous_run_files"));
    record.fingerprint = fingerprint(record, &world.project.files_read(), uses_previous);
    // The PDFs' date: the last day of the period reported on, never the wall clock, so that a re-run
    // gives the same bytes and an auditor can reproduce them. (The printed pack date is the period label,
    // itself a parameter.) When the run happened is in the run record, which is the audit trail.
    let document_date = period
        .end()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(record.started_at);

    let context_base = json!({
        "pipeline": plan.name,
        "description": plan.description,
        "period": period.to_string(),
        "period_label": period.label(),
        "period_start": period.start().to_string(),
        "period_end": period.end().to_string(),
        "months": period.months().iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "params": params.to_json(),
        // The PDFs name what they were computed from (the fingerprint, in the run record as `fingerprint`),
        // not the run id: a run id is new every run, and would make two identical runs differ.
        "run": { "id": short_fingerprint(&record.fingerprint), "fingerprint": record.fingerprint },
        "tool": { "version": env!("CARGO_PKG_VERSION") },
    });

    let limit = world.config.engine.max_parallel_steps.max(1);
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<&Step> = plan.steps.iter().collect();
    let mut running: JoinSet<(String, StepRecord, Vec<String>)> = JoinSet::new();
    let mut failure: Option<String> = None;
    let by_id: BTreeMap<&str, &Step> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();

    loop {
        // Start every ready step, up to the limit, unless the run has already failed.
        while failure.is_none() && running.len() < limit {
            let Some(pos) = pending
                .iter()
                .position(|s| s.depends_on.iter().all(|d| done.contains(d)))
            else {
                break;
            };
            let step = pending.remove(pos).clone();
            events.step_started(&step);
            let ctx = StepContext {
                world: world.clone(),
                engine: engine.clone(),
                params: sql_params.clone(),
                layout: layout.clone(),
                context_base: context_base.clone(),
                date: document_date,
                ident: format!(
                    "{}/{}/{}/{}",
                    plan.name,
                    period,
                    step.id,
                    short_fingerprint(&record.fingerprint)
                ),
                empty_previous: empty_previous.clone(),
            };
            running.spawn(async move {
                let started = Instant::now();
                let (status, rows, outputs, message, warnings) = match run_step(&ctx, &step).await {
                    Ok(StepResult {
                        rows,
                        outputs,
                        warnings,
                    }) => {
                        let status = if warnings.is_empty() {
                            StepStatus::Succeeded
                        } else {
                            StepStatus::Warned
                        };
                        (status, rows, outputs, None, warnings)
                    }
                    Err(message) => (
                        StepStatus::Failed,
                        None,
                        Vec::new(),
                        Some(message),
                        Vec::new(),
                    ),
                };
                let record = StepRecord {
                    id: step.id.clone(),
                    kind: step.kind.label().to_string(),
                    status,
                    duration_ms: started.elapsed().as_millis() as u64,
                    rows,
                    outputs,
                    message,
                };
                (step.id.clone(), record, warnings)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (id, step_record, warnings) =
            joined.map_err(|e| format!("a step task stopped unexpectedly: {e}"))?;
        if let Some(step) = by_id.get(id.as_str()) {
            events.step_finished(step, &step_record);
        }
        for w in warnings {
            events.warning(&w);
            record.warnings.push(w);
        }
        if step_record.status == StepStatus::Failed && failure.is_none() {
            let step = by_id.get(id.as_str());
            let source = match step.map(|s| &s.kind) {
                Some(StepKind::Sql { file, .. }) => format!(" ({file})"),
                Some(StepKind::Report { template, .. }) => format!(" ({template})"),
                _ => String::new(),
            };
            failure = Some(format!(
                "step `{id}`{source} failed: {}",
                step_record.message.clone().unwrap_or_default()
            ));
        }
        record.outputs.extend(step_record.outputs.iter().cloned());
        done.insert(id);
        record.steps.push(step_record);
    }
    for step in pending {
        record.steps.push(StepRecord {
            id: step.id.clone(),
            kind: step.kind.label().to_string(),
            status: StepStatus::Skipped,
            duration_ms: 0,
            rows: None,
            outputs: Vec::new(),
            message: None,
        });
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

#[derive(Clone)]
struct StepContext {
    world: World,
    engine: Engine,
    params: Arc<Vec<(String, ScalarValue)>>,
    layout: RunLayout,
    context_base: Json,
    date: DateTime<Utc>,
    ident: String,
    /// Steps whose `previous_<id>` table is registered empty after the step runs (no previous run).
    empty_previous: Arc<BTreeSet<String>>,
}

struct StepResult {
    rows: Option<u64>,
    outputs: Vec<ObjectRecord>,
    warnings: Vec<String>,
}

async fn run_step(ctx: &StepContext, step: &Step) -> Result<StepResult, String> {
    match &step.kind {
        StepKind::Sql { sql, .. } => {
            let path = ctx.layout.table(&step.id);
            let m = ctx
                .engine
                .materialise(sql, &ctx.params, &path)
                .await
                .map_err(|e| e.to_string())?;
            ctx.engine
                .register_result(&step.id, &path)
                .await
                .map_err(|e| e.to_string())?;
            if ctx.empty_previous.contains(&step.id) {
                ctx.engine
                    .register_empty_like(&format!("{PREVIOUS_PREFIX}{}", step.id), &step.id)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(StepResult {
                rows: Some(m.rows),
                outputs: vec![ObjectRecord {
                    path: m.path,
                    size: m.bytes,
                    sha256: m.sha256,
                }],
                warnings: Vec::new(),
            })
        }
        StepKind::Check { assertions } => {
            let mut warnings = Vec::new();
            let mut errors = Vec::new();
            let mut offending = 0u64;
            for a in assertions {
                let rows = ctx
                    .engine
                    .query_json(&a.sql, &ctx.params)
                    .await
                    .map_err(|e| format!("assertion `{}`: {e}", a.name))?;
                if rows.is_empty() {
                    continue;
                }
                offending += rows.len() as u64;
                let examples: Vec<String> = rows
                    .iter()
                    .take(3)
                    .map(|r| Json::Object(r.clone()).to_string())
                    .collect();
                let text = format!(
                    "assertion `{}` found {} offending row(s), e.g. {}",
                    a.name,
                    rows.len(),
                    examples.join(", ")
                );
                match a.severity {
                    Severity::Error => errors.push(text),
                    Severity::Warn => warnings.push(format!("step `{}`: {text}", step.id)),
                }
            }
            if !errors.is_empty() {
                return Err(errors.join("; "));
            }
            Ok(StepResult {
                rows: Some(offending),
                outputs: Vec::new(),
                warnings,
            })
        }
        StepKind::Report {
            template,
            title,
            uses,
        } => {
            let mut tables = serde_json::Map::new();
            for name in uses {
                let rows = ctx
                    .engine
                    .table_json(name)
                    .await
                    .map_err(|e| format!("reading `{name}`: {e}"))?;
                tables.insert(
                    name.clone(),
                    Json::Array(rows.into_iter().map(Json::Object).collect()),
                );
            }
            let mut context = ctx.context_base.clone();
            context["title"] = json!(title);
            context["tables"] = Json::Object(tables);
            let project = ctx.world.project.clone();
            let fonts = ctx.world.fonts.clone();
            let template = template.clone();
            let (date, ident) = (ctx.date, ctx.ident.clone());
            // Typesetting is CPU-bound: keep it off the async workers.
            let pdf = tokio::task::spawn_blocking(move || {
                render::render_pdf(
                    project,
                    &fonts,
                    ReportInput {
                        template: &template,
                        context,
                        date,
                        ident,
                    },
                )
            })
            .await
            .map_err(|e| format!("typesetting stopped unexpectedly: {e}"))?
            .map_err(|e| e.to_string())?;
            let path = ctx.layout.report(&step.id);
            let size = pdf.len() as u64;
            let sha256 = crate::store::sha256_hex(&pdf);
            ctx.world
                .store
                .put(&path, Bytes::from(pdf))
                .await
                .map_err(|e| e.to_string())?;
            Ok(StepResult {
                rows: None,
                outputs: vec![ObjectRecord { path, size, sha256 }],
                warnings: Vec::new(),
            })
        }
    }
}

/// The previously published run of a pipeline and period, if any: the record the `published/` pointer
/// names. A pointer or record that cannot be read is an error: a restatement must not silently compare
/// with nothing.
pub async fn previous_run(
    world: &World,
    pipeline: &str,
    period: &str,
) -> Result<Option<RunRecord>, String> {
    let pointer_path = latest_pointer(pipeline, period);
    let exists = world
        .store
        .exists(&pointer_path)
        .await
        .map_err(|e| format!("reading `{pointer_path}`: {e}"))?;
    if !exists {
        return Ok(None);
    }
    let read = |path: String| async move {
        world
            .store
            .get(&path)
            .await
            .map_err(|e| format!("reading `{path}`: {e}"))
    };
    let pointer: LatestPointer = serde_json::from_slice(&read(pointer_path.clone()).await?)
        .map_err(|e| format!("`{pointer_path}` is not a publication pointer: {e}"))?;
    let record: RunRecord = serde_json::from_slice(&read(pointer.record.clone()).await?)
        .map_err(|e| format!("`{}` is not a run record: {e}", pointer.record))?;
    Ok(Some(record))
}

/// Registers `run_files` (this run's input objects, the project files read so far and the parameters, each
/// with a fingerprint: SHA-256, or a parameter's value), `previous_run_files`
/// and, for every step in `plan.previous`, the previous run's result as `previous_<id>`. Returns the steps
/// with no previous result, whose `previous_<id>` is registered empty once the step has run.
async fn register_run_tables(
    world: &World,
    plan: &Plan,
    engine: &Engine,
    period: &str,
    record: &mut RunRecord,
    choice: &Previous,
) -> Result<Arc<BTreeSet<String>>, String> {
    let previous = match choice {
        Previous::Published => previous_run(world, &plan.name, period).await?,
        Previous::Record(None) => None,
        Previous::Record(Some(path)) => {
            let bytes = world
                .store
                .get(path)
                .await
                .map_err(|e| format!("reading the previous run's record `{path}`: {e}"))?;
            Some(
                serde_json::from_slice::<RunRecord>(&bytes)
                    .map_err(|e| format!("`{path}` is not a run record: {e}"))?,
            )
        }
    };
    record.previous_record = previous
        .as_ref()
        .map(|p| RunLayout::new(&p.pipeline, &p.period, &p.run_id).record());
    // Parameters count too: a restatement can come from a changed parameter (a GWP set, a factor rule).
    let files = |r: &RunRecord, files: &BTreeMap<String, String>| -> Vec<[String; 5]> {
        let mut rows: Vec<[String; 5]> = r
            .inputs
            .iter()
            .flat_map(|i| {
                i.objects.iter().map(|o| {
                    [
                        "input".into(),
                        i.name.clone(),
                        o.path.clone(),
                        o.sha256.clone(),
                        r.run_id.clone(),
                    ]
                })
            })
            .collect();
        rows.extend(files.iter().map(|(path, sha)| {
            [
                "file".into(),
                path.clone(),
                path.clone(),
                sha.clone(),
                r.run_id.clone(),
            ]
        }));
        if let Json::Object(params) = &r.parameters {
            rows.extend(params.iter().map(|(name, value)| {
                let value = match value {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                [
                    "parameter".into(),
                    name.clone(),
                    format!("--param {name}"),
                    value,
                    r.run_id.clone(),
                ]
            }));
        }
        rows
    };
    let current = files(&*record, &world.project.files_read());
    let before = previous
        .as_ref()
        .map(|p| files(p, &p.files))
        .unwrap_or_default();
    for (name, rows) in [("run_files", current), ("previous_run_files", before)] {
        let column = |k: usize| -> datafusion::arrow::array::ArrayRef {
            Arc::new(datafusion::arrow::array::StringArray::from(
                rows.iter().map(|r| r[k].clone()).collect::<Vec<_>>(),
            ))
        };
        let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![
            ("kind", column(0)),
            ("name", column(1)),
            ("path", column(2)),
            ("fingerprint", column(3)),
            ("run_id", column(4)),
        ])
        .map_err(|e| e.to_string())?;
        engine
            .register_batch(name, batch)
            .map_err(|e| e.to_string())?;
    }
    let mut empty = BTreeSet::new();
    for id in &plan.previous {
        let table = previous.as_ref().and_then(|p| {
            let suffix = format!("/tables/{id}.parquet");
            p.outputs.iter().find(|o| o.path.ends_with(&suffix))
        });
        match table {
            Some(o) => engine
                .register_result(&format!("{PREVIOUS_PREFIX}{id}"), &o.path)
                .await
                .map_err(|e| format!("the previous run's `{}`: {e}", o.path))?,
            None => {
                empty.insert(id.clone());
            }
        }
    }
    Ok(Arc::new(empty))
}

/// The run's fingerprint: SHA-256 of a canonical JSON of everything the run computes from that is known
/// before its steps run (code version, pipeline, period, parameters, input objects, project files read).
/// Templates are read while typesetting and are not in it; their hashes are in the record's `files`.
fn fingerprint(
    record: &RunRecord,
    files: &BTreeMap<String, String>,
    uses_previous: bool,
) -> String {
    let inputs: Vec<Json> = record
        .inputs
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "months": i.months,
                "objects": i.objects.iter().map(|o| json!([o.path, o.sha256])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "tool": [record.tool.name, record.tool.version, record.tool.git_commit],
        "pipeline": record.pipeline,
        "period": record.period,
        "parameters": record.parameters,
        "inputs": inputs,
        "files": files,
        "previous": if uses_previous { record.previous_record.clone() } else { None },
    });
    // Keys come in a fixed order (sorted, or in insertion order if `preserve_order` is on), so the text
    // is the same for the same content.
    crate::store::sha256_hex(doc.to_string().as_bytes())
}

/// The first 16 hex digits of a fingerprint: enough to find the run, short enough for a page.
fn short_fingerprint(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}
