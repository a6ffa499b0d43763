//! Executing a plan: registers the inputs a period needs, runs steps as their dependencies allow (up to
//! the configured number at once), stages every output under the run's own prefix, writes the run
//! record, then publishes by moving the `published/` pointer (`publish`).
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
    InputRecord, ObjectRecord, RunLayout, RunRecord, RunStatus, StepRecord, StepStatus,
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
    /// What started the run, for its record.
    pub trigger: crate::record::Trigger,
    /// The run's id when the caller chose it (the scheduler names it in its lease first); new otherwise.
    pub run_id: Option<String>,
    /// Step retries and timeout, the stop signal and the steps a resumed run reuses (`crate::schedule`).
    pub control: crate::schedule::control::RunControl,
    /// Run every SQL step, neither reading nor filling the step cache (`--no-cache`). A staged-only run
    /// (`verify`) never uses the cache either: it must recompute what it compares.
    pub no_cache: bool,
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
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| new_run_id(started_at));
    let layout = match &options.stage_only {
        Some(prefix) => RunLayout {
            prefix: format!("{}/{run_id}", prefix.trim_end_matches('/')),
        },
        None => RunLayout::new(&plan.name, &period.to_string(), &run_id),
    };
    events.run_started(plan, &run_id);

    // Without credentials, whatever the configured URL carried.
    let mut record = RunRecord::begin(
        &run_id,
        &plan.name,
        &plan.file.display().to_string(),
        &period.to_string(),
        params.to_json(),
        started_at,
        world.store.display_root(),
        options.trigger,
    );
    record.resumed_from = options.control.resumed_from();
    record.selection = options.control.selection.as_ref().map(|s| s.record.clone());
    // A staged-only run (`verify`) is no run of the pipeline: monitoring hears nothing of it.
    if options.stage_only.is_none() {
        observe_start(world, plan, &period, &record).await;
    }

    let result = execute(
        world,
        plan,
        params,
        &layout,
        &mut record,
        events.clone(),
        &options.previous,
        &options.control,
        (!options.no_cache && options.stage_only.is_none())
            .then(|| crate::cache::StepCache::new(&world.store, &world.config)),
    )
    .await
    // An error may quote a request's URL or a configured value: no credential reaches a record or a log.
    .map_err(|m| world.store.redact(&m));
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
    let finished = finish(
        world,
        plan,
        &layout,
        &mut record,
        result,
        events.as_ref(),
        options,
    )
    .await;
    observe_end(
        world,
        plan,
        &period,
        &record,
        finished.as_ref().err().map(|f| f.message.as_str()),
    )
    .await;
    finished.map(|record_path| RunOutcome {
        record,
        record_path,
    })
}

/// Writes the record of a run that was not staged only, and publishes it when it succeeded: the path of
/// the record, or why the run failed (the record says so when it could be written).
async fn finish(
    world: &World,
    plan: &Plan,
    layout: &RunLayout,
    record: &mut RunRecord,
    result: Result<(), String>,
    events: &dyn Events,
    options: &RunOptions,
) -> Result<String, RunFailure> {
    match result {
        Ok(()) => {
            record.status = RunStatus::Succeeded;
            // Steps finish in whatever order the machine allows; the record lists outputs by path.
            record.outputs.sort_by(|a, b| a.path.cmp(&b.path));
            record.disclosure = plan.disclosure.classify(&record.outputs);
            let record_path = layout.record();
            // A copy of every project file the run read, by hash, so that `verify` can re-execute the run
            // as it was when the project has changed since.
            match crate::audit::store_files(world, &record.files).await {
                Ok(changed) => {
                    record.file_store = crate::audit::FILE_STORE.to_string();
                    for path in changed {
                        let w = format!(
                            "`{path}` changed while the run read it: no copy of it is kept on the store"
                        );
                        events.warning(&w);
                        record.warnings.push(w);
                    }
                }
                Err(message) => {
                    cleanup(world, &record).await;
                    return Err(RunFailure {
                        message,
                        record_path: None,
                    });
                }
            }
            let body = serde_json::to_vec_pretty(&record).map_err(|e| RunFailure {
                message: e.to_string(),
                record_path: None,
            })?;
            // The record is written once, before publication: a run killed after it is a succeeded run
            // that was not published, never a published run without a record.
            if let Err(e) = world.store.put_new(&record_path, Bytes::from(body)).await {
                cleanup(world, &record).await;
                return Err(RunFailure {
                    message: world.store.redact(&format!("writing the run record: {e}")),
                    record_path: None,
                });
            }
            // The one write that publishes. When it fails the run is not published: it fails, and its
            // record and outputs stay for inspection (the record says `succeeded`; `runs show` says it
            // was not published).
            if let Err(e) = crate::publish::publish(&world.store, record, &record_path).await {
                return Err(RunFailure {
                    message: format!(
                        "the run succeeded but was not published: {e} (its record is `{record_path}`)"
                    ),
                    record_path: Some(record_path),
                });
            }
            record.published = true;
            Ok(record_path)
        }
        Err(message) => {
            // Nothing of a failed run may look published: remove what it staged, then record the failure.
            // Its succeeded tables are kept aside first, for `run --resume`.
            crate::schedule::control::keep_checkpoints(world, &record).await;
            cleanup(world, &record).await;
            if options.control.is_stopped() {
                record.status = RunStatus::Interrupted;
            }
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

/// What monitoring hears when a run starts: its OpenLineage START event, where the configuration asks for
/// events (`crate::openlineage`). With [`observe_end`], the one place a run is told to anything outside
/// the store: `run`, `backfill`, `--resume` and the scheduler all run through [`run_with`].
async fn observe_start(
    world: &World,
    plan: &Plan,
    period: &crate::period::Period,
    record: &RunRecord,
) {
    let config = &world.config.openlineage;
    if config.enabled() {
        let event = crate::openlineage::start_event(config, plan, period, record);
        crate::openlineage::emit(
            world,
            record,
            1,
            crate::openlineage::EventType::Start,
            &event,
        )
        .await;
    }
}

/// What monitoring hears when a run's record is final (written, and the run published or not): the
/// run's metrics (`crate::metrics`) and its last OpenLineage event, COMPLETE, FAIL or ABORT with
/// `failure` as its error (`crate::openlineage`). Both are best effort: they never change the outcome.
/// The scheduler calls it too, for the record it writes of a run whose process died (`abandoned`).
pub(crate) async fn observe_end(
    world: &World,
    plan: &Plan,
    period: &crate::period::Period,
    record: &RunRecord,
    failure: Option<&str>,
) {
    if let Some(dir) = &world.config.metrics.textfile_dir {
        crate::metrics::write(&world.project.root().join(dir), record);
    }
    let config = &world.config.openlineage;
    if config.enabled() {
        let (kind, event) = crate::openlineage::end_event(config, plan, period, record, failure);
        crate::openlineage::emit(world, record, 2, kind, &event).await;
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
    for q in &record.quarantine {
        let _ = world.store.delete(&q.path).await;
    }
}

pub fn new_run_id(started_at: DateTime<Utc>) -> String {
    // Time first, so that run ids sort by start; a random suffix keeps two runs in one second apart.
    format!(
        "{}-{:06x}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>() & 0xFF_FFFF
    )
}

/// The months an input reads for a period: the period's own, its declared history and its baseline months,
/// in order (none for an unpartitioned input).
pub fn months_read(input: &crate::plan::Input, period: &crate::period::Period) -> Vec<Month> {
    if !input.partitioned_by_month {
        return Vec::new();
    }
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
}

/// The input whose declaration holds an input's rules: the input named by its `same_as`, or itself.
fn rules_owner(input: &crate::plan::Input) -> &str {
    input.same_as.as_deref().unwrap_or(input.name.as_str())
}

/// The objects with their SHA-256, as the run record lists them.
async fn digests(
    world: &World,
    objects: Vec<crate::store::ObjectInfo>,
) -> Result<Vec<ObjectRecord>, String> {
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
    Ok(recorded)
}

/// The content id of objects read for months (step and rules cache keys).
fn content_id(months: &[Month], objects: &[ObjectRecord]) -> String {
    let month_names: Vec<String> = months.iter().map(|m| m.to_string()).collect();
    crate::cache::StepCache::input_id(
        &month_names,
        objects.iter().map(|o| (o.path.as_str(), o.sha256.as_str())),
    )
}

/// Adds a registered input to the run record (and its content to the step cache's sources).
async fn record_input(
    world: &World,
    record: &mut RunRecord,
    input: &crate::plan::Input,
    recorded: Vec<ObjectRecord>,
    content: String,
    cache: &Option<crate::cache::StepCache>,
    content_ids: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    // The record lists the months read: those with objects, not those wanted (a month deleted from the
    // history is not one the figures came from).
    let months: Vec<String> = if input.partitioned_by_month {
        let found: BTreeSet<String> = recorded
            .iter()
            .filter_map(|o| match crate::engine::object_month(input, &o.path) {
                crate::engine::ObjectPlace::Month(m) => Some(m.to_string()),
                _ => None,
            })
            .collect();
        found.into_iter().collect()
    } else {
        Vec::new()
    };
    if let Some(cache) = &cache {
        cache.add_source(&input.name, content.clone());
    }
    content_ids.insert(input.name.clone(), content);
    let mut input_record = InputRecord {
        name: input.name.clone(),
        location: input.location.clone(),
        months,
        bytes: recorded.iter().map(|o| o.size).sum(),
        objects: recorded,
        rows: None,
        object_rows: BTreeMap::new(),
        sha256: String::new(),
        declaration: crate::select::input_declaration(input),
    };
    crate::audit::complete_input(&world.store, &mut input_record).await?;
    record.inputs.push(input_record);
    Ok(())
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
    control: &crate::schedule::control::RunControl,
    cache: Option<crate::cache::StepCache>,
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
    // An input or seed named by another's `in_reference:` or completeness is registered (first) even if no step
    // reads it.
    let referenced: BTreeSet<&str> = plan
        .inputs
        .iter()
        .filter(|i| read.contains(i.name.as_str()))
        .flat_map(crate::contract::references)
        .map(|r| r.table.as_str())
        .collect();
    for seed in plan
        .seeds
        .iter()
        .filter(|s| read.contains(s.name.as_str()) || referenced.contains(s.name.as_str()))
    {
        register_seed(world, &engine, seed).await?;
    }
    // The seeds' content ids (their files were read as they were registered): step cache keys, and the
    // keys of input rules that look codes up in a seed.
    let mut content_ids: BTreeMap<String, String> = BTreeMap::new();
    if let Some(cache) = &cache {
        let hashes = world.project.files_read();
        for seed in &plan.seeds {
            let files = match seed.format {
                SeedFormat::Desnz | SeedFormat::Metrics => seed.files.clone(),
                SeedFormat::Table => vec![seed.file.clone()],
            };
            if let Some(id) = crate::cache::StepCache::seed_id(&files, &hashes) {
                cache.add_source(&seed.name, id.clone());
                content_ids.insert(seed.name.clone(), id);
            }
        }
    }
    // Quarantined rows go under the run's prefix; completeness is judged on the period's months.
    engine.set_quality_context(&format!("{}/quarantine", layout.prefix), &period.months());
    let period_months: Vec<String> = period.months().iter().map(|m| m.to_string()).collect();
    let registered: Vec<&crate::plan::Input> = plan
        .inputs
        .iter()
        .filter(|i| read.contains(i.name.as_str()) || referenced.contains(i.name.as_str()))
        .collect();
    // Inputs over one set of objects (`same_as`) share one declaration of their rules: the rules are
    // checked once, as the declaring input's, over every month any of them reads, so that a row is set
    // aside from all of them (each registers its months through the same filter) and counted once.
    let mut rule_months: BTreeMap<&str, Vec<Month>> = BTreeMap::new();
    for input in &registered {
        let months = rule_months.entry(rules_owner(input)).or_default();
        months.extend(months_read(input, &period));
        months.sort();
        months.dedup();
    }
    let mut rules_checked: BTreeSet<&str> = BTreeSet::new();
    for input in registered.iter().copied() {
        let months = months_read(input, &period);
        let objects = engine
            .register_input_unchecked(input, &months)
            .await
            .map_err(|e| e.to_string())?;
        let checked = objects.clone();
        let recorded = digests(world, objects).await?;
        let content = content_id(&months, &recorded);
        // The row rules need a scan of every object; objects that passed them under the same contract
        // before need not be scanned again. Rules that look codes up in another input or seed, or judge
        // completeness over the period, are judged by more than these objects: their key holds the
        // references' content and the period too, and only a clean pass is kept — one that set no row aside
        // and found no gap, so that skipping it leaves the run's findings exactly as checking would.
        let owner_name = rules_owner(input);
        // The rules are checked once, as the rules of the input that declares them.
        if let Some(rule_months) = rule_months
            .get(owner_name)
            .filter(|_| rules_checked.insert(owner_name))
        {
            // `same_as` names a declared input (the plan checks it); the owner may not be read itself.
            let owner = plan
                .inputs
                .iter()
                .find(|i| i.name == owner_name)
                .unwrap_or(input);
            let (checked, rules_content) = if *rule_months == months {
                (checked, content.clone())
            } else {
                let objects = engine
                    .input_objects(owner, rule_months)
                    .await
                    .map_err(|e| e.to_string())?;
                let digested = digests(world, objects.clone()).await?;
                (objects, content_id(rule_months, &digested))
            };
            let rules_key = if crate::contract::judged_by_rows_alone(owner) {
                Some(rules_content.clone())
            } else {
                crate::contract::references(owner)
                    .iter()
                    .map(|r| content_ids.get(&r.table).cloned())
                    .collect::<Option<Vec<_>>>()
                    .map(|refs| json!([rules_content, refs, period_months]).to_string())
            };
            let passed = match (&cache, &rules_key) {
                (Some(cache), Some(key)) => cache.rules_passed(owner, key).await,
                _ => None,
            };
            if passed != Some(true) {
                let before = engine.quality_findings();
                let checked_rows = engine.check_rows(owner, rule_months, &checked).await;
                // Rows set aside so far are in the record (a failed run removes their files with its outputs).
                let after = engine.quality_findings();
                record.quarantine = after.quarantined.clone();
                checked_rows.map_err(|e| e.to_string())?;
                let clean = after.quarantined.len() == before.quarantined.len()
                    && after.gaps.len() == before.gaps.len();
                if let (Some(cache), Some(false), Some(key), true) =
                    (&cache, passed, &rules_key, clean)
                {
                    cache.mark_rules_passed(owner, key).await;
                }
            }
        }
        record_input(
            world,
            record,
            input,
            recorded,
            content,
            &cache,
            &mut content_ids,
        )
        .await?;
    }

    // Caveats of the inputs' completeness: warnings of the run, and lines on the data-quality pages.
    let quality = engine.quality_findings();
    for g in &quality.gaps {
        events.warning(&g.text());
        record.warnings.push(g.text());
    }
    for w in &quality.warnings {
        events.warning(w);
        record.warnings.push(w.clone());
    }

    // What this run reads and what the previously published run of the period read and produced, for
    // steps that compare with it (restatements).
    let empty_previous =
        register_run_tables(world, plan, &engine, &period.to_string(), record, previous).await?;
    let disclosure = Arc::new(plan.disclosure.clone());
    let atoms = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    // The previous run counts only for a pipeline that reads it (restatements).
    let uses_previous = !plan.previous.is_empty()
        || plan
            .steps
            .iter()
            .any(|s| s.inputs.iter().any(|i| i == "previous_run_files"));
    // The configuration and templates too: the PDFs' appendix lists every file the run reads.
    crate::audit::read_run_files(&world.project, plan, world.config.source.as_deref());
    record.fingerprint = fingerprint(record, &world.project.files_read(), uses_previous);
    // The PDFs' date: the last day of the period reported on, never the wall clock, so that a re-run
    // gives the same bytes and an auditor can reproduce them. (The printed pack date is the period label,
    // itself a parameter.) When the run happened is in the run record, which is the audit trail.
    let document_date = period
        .end()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(record.started_at);

    let mut lineage = crate::audit::lineage_context(record, &world.project.files_read());
    if let Some(l) = lineage.as_object_mut() {
        l.insert("disclosure".into(), plan.disclosure.to_json());
    }
    let context_base = report_context(
        plan,
        params,
        json!({ "id": short_fingerprint(&record.fingerprint), "fingerprint": record.fingerprint }),
        lineage,
        quality.to_json(),
    );

    let limit = world.config.engine.max_parallel_steps.max(1);
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<&Step> = plan.steps.iter().collect();
    let mut running: JoinSet<(String, StepRecord, Vec<String>)> = JoinSet::new();
    let mut failure: Option<String> = None;
    let by_id: BTreeMap<&str, &Step> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();

    loop {
        // Start every ready step, up to the limit, unless the run has already failed.
        while failure.is_none() && !control.is_stopped() && running.len() < limit {
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
                disclosure: disclosure.clone(),
                atoms: atoms.clone(),
                cache: cache.clone(),
                cache_only: control
                    .selection
                    .as_ref()
                    .is_some_and(|s| s.from_cache.contains(&step.id)),
            };
            let reused = control.reused(&step.id);
            let control = control.clone();
            running.spawn(async move {
                let started = Instant::now();
                let mut cached = false;
                let result = match &reused {
                    Some(from) => reuse_step(&ctx, &step, from).await,
                    None => {
                        let mut attempts = 0u32;
                        control
                            .attempt(&step.id, || {
                                attempts += 1;
                                let again = attempts > 1;
                                let (ctx, step) = (&ctx, &step);
                                async move {
                                    // An attempt cut short (a timeout) may have left its output whole;
                                    // it is this run's own, and the next attempt writes it anew.
                                    if again {
                                        clear_outputs(ctx, step).await?;
                                    }
                                    run_step(ctx, step).await
                                }
                            })
                            .await
                    }
                };
                let (status, rows, outputs, message, warnings) = match result {
                    Ok(StepResult {
                        rows,
                        outputs,
                        warnings,
                        cached: from_cache,
                    }) => {
                        cached = from_cache;
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
                        Some(ctx.world.store.redact(&message)),
                        Vec::new(),
                    ),
                };
                // A step taken from another run keeps that run's verdict (a check's warnings).
                let status = match &reused {
                    Some(r) if r.warned && status == StepStatus::Succeeded => StepStatus::Warned,
                    _ => status,
                };
                let record = StepRecord {
                    id: step.id.clone(),
                    kind: step.kind.label().to_string(),
                    status,
                    duration_ms: started.elapsed().as_millis() as u64,
                    rows,
                    outputs,
                    message: message.or_else(|| reused.as_ref().map(|r| r.note())),
                    cached,
                    reused_from: reused
                        .as_ref()
                        .map(|r| r.from_run_id.clone())
                        .filter(|id| !id.is_empty()),
                    declaration: crate::select::step_declaration(&step),
                };
                (step.id.clone(), record, warnings)
            });
        }
        let Some(joined) = control.join_next(&mut running).await else {
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
    if failure.is_none() && control.is_stopped() && !pending.is_empty() {
        failure = Some("interrupted (by a signal, or because the run's lease was taken over): no step was started after it".to_string());
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
            cached: false,
            reused_from: None,
            declaration: crate::select::step_declaration(step),
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
    /// The step cache, unless bypassed.
    cache: Option<crate::cache::StepCache>,
    /// The disclosure rule every report's step tables reach its template under.
    disclosure: Arc<crate::disclosure::Declaration>,
    /// What each step table's columns are computed from (`crate::derivation`), as the steps run.
    atoms: Arc<std::sync::Mutex<BTreeMap<String, crate::derivation::Atoms>>>,
    /// The step is not selected and takes its result from the cache: it is never computed.
    cache_only: bool,
}

impl StepContext {
    /// The disclosure rule over table `name` as a report reads it: a step table's guard; none for a seed
    /// (reference data, not counts).
    fn guard(&self, name: &str) -> Option<Arc<crate::disclosure::Guard>> {
        let seed = self.context_base["sources"].get(name).is_some();
        if seed {
            return None;
        }
        let atoms = self
            .atoms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default();
        Some(Arc::new(self.disclosure.guard(name, atoms)))
    }

    /// Records what the columns of step `id`'s table (of `sql`) are computed from, for `guard`. A
    /// statement that cannot be planned again leaves its table without derivations (its counts are
    /// still under the rule), with a warning in the log.
    async fn derive(&self, id: &str, sql: &str) {
        match self.engine.dataframe(sql, &self.params).await {
            Ok(df) => {
                let mut atoms = self.atoms.lock().unwrap_or_else(|e| e.into_inner());
                let found = crate::derivation::atoms(df.logical_plan(), &atoms);
                tracing::debug!(
                    step = id,
                    derived = ?crate::derivation::derived(&found),
                    "derivations: columns computed from others"
                );
                atoms.insert(id.to_string(), found);
            }
            Err(e) => {
                tracing::warn!(step = id, error = %e, "derivations: the statement cannot be planned")
            }
        }
    }
}

struct StepResult {
    rows: Option<u64>,
    outputs: Vec<ObjectRecord>,
    warnings: Vec<String>,
    /// The result was the step cache's, not computed.
    cached: bool,
}

async fn run_step(ctx: &StepContext, step: &Step) -> Result<StepResult, String> {
    match &step.kind {
        StepKind::Sql { sql, .. } => {
            let path = ctx.layout.table(&step.id);
            // An output of a run is never replaced (the run's prefix is new; this guards against a clash).
            if ctx
                .world
                .store
                .exists(&path)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "`{path}` already exists: a run's output is never replaced"
                ));
            }
            let (m, cached) = if ctx.cache_only {
                let m = crate::cache::fetch_only(ctx.cache.as_ref(), sql, &ctx.params, &path)
                    .await
                    .ok_or_else(|| {
                        format!(
                            "step `{}` is not selected and was to come from the step cache, which no \
                             longer holds its result: select it (`--select {}`)",
                            step.id, step.id
                        )
                    })?;
                (m, true)
            } else {
                crate::cache::materialise(ctx.cache.as_ref(), &ctx.engine, sql, &ctx.params, &path)
                    .await?
            };
            if let Some(cache) = &ctx.cache {
                cache.add_source(&step.id, m.sha256.clone());
            }
            register_step_table(ctx, &step.id, &path).await?;
            ctx.derive(&step.id, sql).await;
            // A table the pipeline releases beyond the organisation is held to the disclosure rule.
            let released = format!("/disclosure/released/{}", step.id);
            if let Some(columns) = ctx.context_base.pointer(&released).and_then(Json::as_array) {
                crate::disclosure::check_released(&ctx.engine, &step.id, columns).await?;
            }
            Ok(StepResult {
                rows: Some(m.rows),
                outputs: vec![ObjectRecord {
                    path: m.path,
                    size: m.bytes,
                    sha256: m.sha256,
                }],
                warnings: Vec::new(),
                cached,
            })
        }
        StepKind::Check { assertions } => {
            let mut warnings = Vec::new();
            let mut errors = Vec::new();
            let mut offending = 0u64;
            for a in assertions {
                // Counted as they stream, keeping three examples: offending rows can be many.
                let (count, rows) = ctx
                    .engine
                    .query_count(&a.sql, &ctx.params, 3)
                    .await
                    .map_err(|e| format!("assertion `{}`: {e}", a.name))?;
                if count == 0 {
                    continue;
                }
                offending += count;
                let examples: Vec<String> = rows
                    .iter()
                    .map(|r| Json::Object(r.clone()).to_string())
                    .collect();
                let text = format!(
                    "assertion `{}` found {} offending row(s), e.g. {}",
                    a.name,
                    count,
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
                cached: false,
            })
        }
        StepKind::Report {
            template,
            title,
            uses,
            each,
        } => {
            let report = Report {
                template,
                title,
                uses,
            };
            match each {
                None => {
                    let path = ctx.layout.report(&step.id);
                    let key = report_key(ctx, &report, &ctx.ident);
                    let (output, cached) = match cached_report(ctx, key.as_deref(), &path).await {
                        Some(output) => (output, true),
                        None => {
                            let tables = report_tables(ctx, uses)
                                .await?
                                .into_iter()
                                .map(|(name, rows)| {
                                    let guard = ctx.guard(&name);
                                    let table = render::table_value(&name, &rows, None, guard);
                                    (name, table)
                                })
                                .collect();
                            let output = typeset_report(
                                ctx,
                                &report,
                                &ctx.ident,
                                key.as_deref(),
                                None,
                                tables,
                                path,
                            )
                            .await?;
                            (output, false)
                        }
                    };
                    Ok(StepResult {
                        rows: None,
                        outputs: vec![output],
                        warnings: Vec::new(),
                        cached,
                    })
                }
                Some(each) => typeset_parts(ctx, &step.id, &report, each).await,
            }
        }
    }
}

/// The context every report template of a run is rendered with, apart from its tables, `title` and `each`.
/// `validate` renders templates with it too (with a synthetic period and run), so that a name the run's
/// context does not have is found without data.
pub fn report_context(
    plan: &Plan,
    params: &RunParams,
    run: Json,
    lineage: Json,
    quality: Json,
) -> Json {
    let period = params.period();
    json!({
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
        "run": run,
        "tool": { "version": env!("CARGO_PKG_VERSION") },
        // What the PDFs' appendix "Data sources and lineage" prints, and whether each table a report uses
        // is a step's result or a seed (for the source line under each table and chart).
        "lineage": lineage,
        // The disclosure control over this pipeline's outputs, which the appendix states.
        "disclosure": plan.disclosure.to_json(),
        "sources": plan.seeds.iter().map(|s| (s.name.clone(), json!("seed"))).collect::<serde_json::Map<_, _>>(),
        // Rows quarantined and completeness caveats (`crate::engine::Findings`), for data-quality pages.
        "quality": quality,
    })
}

/// What a report step typesets, borrowed from its plan.
struct Report<'a> {
    template: &'a str,
    title: &'a str,
    uses: &'a [String],
}

/// A report with `each`: one PDF per value of the column. Parts already in the cache are copied without
/// reading the report's tables; the rest are typeset one at a time, each from its own rows only, so
/// memory holds one part's document at a time however many parts there are.
async fn typeset_parts(
    ctx: &StepContext,
    step: &str,
    report: &Report<'_>,
    each: &crate::plan::Each,
) -> Result<StepResult, String> {
    // The table naming the parts is read once: for the values, and (if a part must be typeset) as one of
    // the report's tables (validation makes it one of `uses`).
    let mut keys = report_tables(ctx, std::slice::from_ref(&each.table)).await?;
    let values = part_values(step, each, keys.get(&each.table))?;
    let mut outputs = Vec::with_capacity(values.len());
    let mut missing = Vec::new();
    for value in values {
        let path = ctx.layout.report_part(step, &value);
        let ident = format!("{}/{value}", ctx.ident);
        let key = report_key(ctx, report, &ident);
        match cached_report(ctx, key.as_deref(), &path).await {
            Some(output) => outputs.push(output),
            None => missing.push((value, ident, key, path)),
        }
    }
    let cached = missing.is_empty();
    if !missing.is_empty() {
        let others: Vec<String> = report
            .uses
            .iter()
            .filter(|u| **u != each.table)
            .cloned()
            .collect();
        let mut tables = report_tables(ctx, &others).await?;
        tables.append(&mut keys);
        let mut parts = Parts::new(ctx, &each.column, tables);
        for (value, ident, key, path) in missing {
            let tables = parts.take(&value);
            let part = json!({"column": each.column, "value": value});
            let typeset = typeset_report(
                ctx,
                report,
                &ident,
                key.as_deref(),
                Some(part),
                tables,
                path,
            )
            .await;
            match typeset {
                Ok(output) => outputs.push(output),
                Err(e) => {
                    // A failed step leaves no PDF of its own behind, not even its finished parts.
                    for o in &outputs {
                        let _ = ctx.world.store.delete(&o.path).await;
                    }
                    return Err(format!("{} = {value}: {e}", each.column));
                }
            }
        }
        outputs.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(StepResult {
        rows: Some(outputs.len() as u64),
        outputs,
        warnings: Vec::new(),
        cached,
    })
}

/// The rows of the tables a report uses, each row saying which step (or seed) it comes from: tables and
/// charts print it as their source.
async fn report_tables(
    ctx: &StepContext,
    uses: &[String],
) -> Result<serde_json::Map<String, Json>, String> {
    let mut tables = serde_json::Map::new();
    for name in uses {
        let rows = ctx
            .engine
            .table_json(name)
            .await
            .map_err(|e| format!("reading `{name}`: {e}"))?;
        let source = if ctx.context_base["sources"].get(name).is_some() {
            format!("seed:{name}")
        } else {
            name.clone()
        };
        tables.insert(
            name.clone(),
            Json::Array(
                rows.into_iter()
                    .map(|mut r| {
                        r.insert("_source".into(), json!(source));
                        Json::Object(r)
                    })
                    .collect(),
            ),
        );
    }
    Ok(tables)
}

/// A value of an `each` column as the text that names its PDF.
fn part_value(cell: &Json) -> Option<String> {
    match cell {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The values of `each.column` in `each.table`, sorted and distinct. A value names an object on the
/// store, so it must be a plain name: letters, digits, `-`, `_` and inner `.`.
fn part_values(
    step: &str,
    each: &crate::plan::Each,
    rows: Option<&Json>,
) -> Result<Vec<String>, String> {
    let mut values = BTreeSet::new();
    for (i, row) in rows
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let cell = row.get(&each.column).ok_or_else(|| {
            format!(
                "report `{step}`: `each: {}.{}`: table `{}` has no column `{}`",
                each.table, each.column, each.table, each.column
            )
        })?;
        let value = part_value(cell).ok_or_else(|| {
            format!(
                "report `{step}`: `each: {}.{}`: row {} has no value (a PDF per value needs one in every row)",
                each.table,
                each.column,
                i + 1
            )
        })?;
        let plain = !value.is_empty()
            && !value.starts_with('.')
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain {
            return Err(format!(
                "report `{step}`: `each: {}.{}`: row {} holds {value:?}, which cannot name a PDF \
                 (letters, digits, `-`, `_` and inner `.` only)",
                each.table,
                each.column,
                i + 1
            ));
        }
        values.insert(value);
    }
    Ok(values.into_iter().collect())
}

/// A report's tables cut by the `each` column: every table holding the column is split once into its
/// rows per value, and the others are kept whole. Each is converted to the template's values once, here:
/// a whole table is then shared by every part (not copied and converted again per part, which made a
/// region's 320 packs cost as many copies of its region-wide tables), and a value's rows are moved out
/// when its part is typeset.
struct Parts {
    whole: BTreeMap<String, render::TableValue>,
    /// Per table: its columns, its disclosure rule, and its rows per value.
    #[allow(clippy::type_complexity)]
    split: BTreeMap<
        String,
        (
            Vec<String>,
            Option<Arc<crate::disclosure::Guard>>,
            BTreeMap<String, render::TableValue>,
        ),
    >,
}

impl Parts {
    fn new(ctx: &StepContext, column: &str, tables: serde_json::Map<String, Json>) -> Parts {
        let (mut whole, mut split) = (BTreeMap::new(), BTreeMap::new());
        for (name, rows) in tables {
            let guard = ctx.guard(&name);
            let keyed = rows
                .as_array()
                .is_some_and(|rows| rows.iter().any(|r| r.get(column).is_some()));
            if !keyed {
                let table = render::table_value(&name, &rows, None, guard);
                whole.insert(name, table);
                continue;
            }
            // Every part's table has the whole table's columns, a part without rows too.
            let mut columns: Vec<String> = Vec::new();
            for r in rows.as_array().into_iter().flatten() {
                for k in r.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            let mut by_value: BTreeMap<String, Vec<Json>> = BTreeMap::new();
            if let Json::Array(rows) = rows {
                for row in rows {
                    if let Some(value) = row.get(column).and_then(part_value) {
                        by_value.entry(value).or_default().push(row);
                    }
                }
            }
            let by_value = by_value
                .into_iter()
                .map(|(value, rows)| {
                    let table = render::table_value(
                        &name,
                        &Json::Array(rows),
                        Some(&columns),
                        guard.clone(),
                    );
                    (value, table)
                })
                .collect();
            split.insert(name, (columns, guard, by_value));
        }
        Parts { whole, split }
    }

    /// The tables of one value's PDF: its own rows of the split tables (taken out: each value is
    /// typeset once) and the whole tables (shared).
    fn take(&mut self, value: &str) -> BTreeMap<String, render::TableValue> {
        let mut tables = self.whole.clone();
        for (name, (columns, guard, by_value)) in &mut self.split {
            let rows = by_value.remove(value).unwrap_or_else(|| {
                render::table_value(name, &Json::Array(Vec::new()), Some(columns), guard.clone())
            });
            tables.insert(name.clone(), rows);
        }
        tables
    }
}

/// The cache key of one PDF of a report, when the run keeps a cache and every table it uses has a known
/// source.
fn report_key(ctx: &StepContext, report: &Report<'_>, ident: &str) -> Option<String> {
    ctx.cache.as_ref().and_then(|c| {
        let date = ctx.date.to_rfc3339();
        c.report_key(
            report.template,
            report.title,
            &ctx.context_base,
            &date,
            ident,
            report.uses,
        )
    })
}

/// Copies a PDF typeset by an earlier run with the same key to `path`, if the cache holds one.
async fn cached_report(ctx: &StepContext, key: Option<&str>, path: &str) -> Option<ObjectRecord> {
    let (cache, key) = (ctx.cache.as_ref()?, key?);
    let entry = cache.fetch_report(key, &ctx.world.project, path).await?;
    Some(ObjectRecord {
        path: path.to_string(),
        size: entry.size,
        sha256: entry.sha256,
    })
}

/// Typesets one PDF of a report from its tables to `path` and keeps it in the cache under `key`: the
/// whole report, or with `each` one value's part.
async fn typeset_report(
    ctx: &StepContext,
    report: &Report<'_>,
    ident: &str,
    key: Option<&str>,
    each: Option<Json>,
    tables: BTreeMap<String, render::TableValue>,
    path: String,
) -> Result<ObjectRecord, String> {
    let mut context = ctx.context_base.clone();
    context["title"] = json!(report.title);
    if let Some(each) = each {
        context["each"] = each;
    }
    let project = ctx.world.project.clone();
    let fonts = ctx.world.fonts.clone();
    let template = report.template.to_string();
    let (date, ident) = (ctx.date, ident.to_string());
    let memory_budget = ctx.world.config.memory_limit_bytes() as u64;
    // Typesetting is CPU-bound: keep it off the async workers.
    let pdf = tokio::task::spawn_blocking(move || {
        render::render_pdf(
            project,
            &fonts,
            ReportInput {
                memory_budget: Some(memory_budget),
                template: &template,
                context,
                tables,
                date,
                ident,
            },
        )
    })
    .await
    .map_err(|e| format!("typesetting stopped unexpectedly: {e}"))?
    .map_err(|e| e.to_string())?;
    let size = pdf.len() as u64;
    let sha256 = crate::store::sha256_hex(&pdf);
    let pdf = Bytes::from(pdf);
    // Written once: an output of a run is never replaced.
    ctx.world
        .store
        .put_new(&path, pdf.clone())
        .await
        .map_err(|e| e.to_string())?;
    if let (Some(cache), Some(key)) = (&ctx.cache, key) {
        cache
            .keep_report(key, pdf, ctx.world.project.files_read())
            .await;
    }
    Ok(ObjectRecord { path, size, sha256 })
}

/// Removes what an earlier attempt of a step may have staged under this run's prefix.
async fn clear_outputs(ctx: &StepContext, step: &Step) -> Result<(), String> {
    let path = match &step.kind {
        StepKind::Sql { .. } => ctx.layout.table(&step.id),
        StepKind::Report { each: None, .. } => ctx.layout.report(&step.id),
        StepKind::Report { each: Some(_), .. } => {
            let parts = ctx
                .world
                .store
                .list(&ctx.layout.report_parts(&step.id))
                .await
                .map_err(|e| e.to_string())?;
            for o in parts {
                ctx.world
                    .store
                    .delete(&o.path)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            return Ok(());
        }
        StepKind::Check { .. } => return Ok(()),
    };
    ctx.world
        .store
        .delete(&path)
        .await
        .map_err(|e| e.to_string())
}

/// Makes a step's table available to later steps, and its empty twin `previous_<step>` when the
/// previously published run has none to compare with.
async fn register_step_table(ctx: &StepContext, step: &str, path: &str) -> Result<(), String> {
    ctx.engine
        .register_result(step, path)
        .await
        .map_err(|e| e.to_string())?;
    if ctx.empty_previous.contains(step) {
        ctx.engine
            .register_empty_like(&format!("{PREVIOUS_PREFIX}{step}"), step)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A step not run but taken from another run: a resumed run's table from the failed run's checkpoint, or
/// a step a `--select` left out from the published run (its tables and PDFs; nothing for a check). Each
/// object's SHA-256 is checked against what that run recorded; a table is then read by later steps, and
/// known to the step cache by its hash, as a computed one is.
async fn reuse_step(
    ctx: &StepContext,
    step: &Step,
    from: &crate::schedule::control::Reused,
) -> Result<StepResult, String> {
    let outputs = from.copy_to(&ctx.world.store, &ctx.layout.prefix).await?;
    if let StepKind::Sql { sql, .. } = &step.kind {
        let path = ctx.layout.table(&step.id);
        let Some(table) = outputs.iter().find(|o| o.path == path) else {
            return Err(format!(
                "run {} recorded no table `{path}` of step `{}` to reuse",
                from.from_run_id, step.id
            ));
        };
        if let Some(cache) = &ctx.cache {
            cache.add_source(&step.id, table.sha256.clone());
        }
        register_step_table(ctx, &step.id, &path).await?;
        // A reused table reaches reports under the disclosure rule as a computed one does.
        ctx.derive(&step.id, sql).await;
    }
    Ok(StepResult {
        rows: from.rows,
        outputs,
        warnings: Vec::new(),
        cached: false,
    })
}

/// The previously published run of a pipeline and period, if any: the record the `published/` pointer
/// names. A pointer or record that cannot be read is an error: a restatement must not silently compare
/// with nothing.
pub async fn previous_run(
    world: &World,
    pipeline: &str,
    period: &str,
) -> Result<Option<RunRecord>, String> {
    let Some(pointer) = crate::publish::current(&world.store, pipeline, period).await? else {
        return Ok(None);
    };
    let bytes = world
        .store
        .get(&pointer.record)
        .await
        .map_err(|e| format!("reading `{}`: {e}", pointer.record))?;
    let mut record: RunRecord = serde_json::from_slice(&bytes)
        .map_err(|e| format!("`{}` is not a run record: {e}", pointer.record))?;
    record.published = true;
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
    // A run of selected steps computes from the outputs it reused too: which steps, from which run.
    let mut doc = doc;
    if let Some(s) = &record.selection {
        doc["selection"] = json!({
            "selected": s.selected,
            "reused": s.reused.iter().map(|r| [&r.step, &r.run_id]).collect::<Vec<_>>(),
        });
    }
    // Keys come in a fixed order (sorted, or in insertion order if `preserve_order` is on), so the text
    // is the same for the same content.
    crate::store::sha256_hex(doc.to_string().as_bytes())
}

/// The first 16 hex digits of a fingerprint: enough to find the run, short enough for a page.
fn short_fingerprint(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// Registers a seed as a table, its files read through the project (so that their hashes go into the run
/// record).
pub async fn register_seed(
    world: &World,
    engine: &Engine,
    seed: &crate::plan::Seed,
) -> Result<(), String> {
    if seed.format == SeedFormat::Desnz {
        let mut files = Vec::new();
        for f in &seed.files {
            let bytes = world
                .project
                .read(f)
                .map_err(|e| format!("seed `{}`: {e}", seed.name))?;
            files.push((f.clone(), bytes));
        }
        let sets =
            crate::factors::parse_all(&files).map_err(|e| format!("seed `{}`: {e}", seed.name))?;
        let batch =
            crate::factors::to_batch(&sets).map_err(|e| format!("seed `{}`: {e}", seed.name))?;
        engine
            .register_batch(&seed.name, batch)
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let bytes = if seed.format == SeedFormat::Metrics {
        crate::registry::completed_seed(&world.project, seed).map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?
    } else {
        world
            .project
            .read(&seed.file)
            .map_err(|e| format!("seed `{}`: {e}", seed.name))?
    };
    engine
        .register_seed(&seed.name, &seed.file, &bytes)
        .map_err(|e| e.to_string())?;
    Ok(())
}
