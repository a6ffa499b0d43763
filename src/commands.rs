//! Carrying out commands: each function takes a validated command and the world, does the work through
//! the library's modules (plan, execute, sample), and prints the result for a person.
//!
//! Owns what the user sees on standard output. Errors go back to `main` with context, which prints the
//! one-line reason and picks the exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use crate::cli::{Command, SpcCommand};
use crate::diagnostic::Diagnostics;
use crate::execute::{self, RunOutcome};
use crate::params::RunParams;
use crate::plan::{self, Plan, StepKind};
use crate::progress::Progress;
use crate::sample::{self, SampleOptions};
use crate::world::World;

/// How output is shown.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub quiet: bool,
    pub plain_logs: bool,
    /// Standard output is one JSON document (`--output json`), for the commands that have one.
    pub json: bool,
}

/// Prints one JSON document on standard output.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// An error whose diagnostics were already printed; `main` prints only the summary line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reported(pub String);

pub async fn dispatch(command: Command, world: World, out: Output) -> Result<()> {
    match command {
        Command::Validate { pipelines } => validate(&world, &pipelines, out).await,
        Command::Plan { pipeline } => show_plan(&world, &pipeline, out),
        Command::List => list(&world, out).await,
        Command::Run {
            pipeline,
            params,
            no_cache,
            selection,
        } => {
            let mut options = execute::RunOptions {
                no_cache,
                ..Default::default()
            };
            if !selection.is_empty() {
                let plan = load(&world, &pipeline)?;
                let bound = RunParams::bind(&plan, &params)?;
                let resolved = crate::select::resolve(&world, &plan, &bound, &selection, !no_cache)
                    .await
                    .map_err(|e| anyhow!(Reported(e)))?;
                if resolved.is_empty() {
                    // `state:modified` found nothing changed: nothing to run, and that is no failure.
                    let since = resolved
                        .record
                        .state
                        .as_ref()
                        .and_then(|s| s.run_id.clone())
                        .unwrap_or_default();
                    println!(
                        "nothing to run: no step of {pipeline} is modified since run {since}, published for {}",
                        bound.period()
                    );
                    return Ok(());
                }
                options.control.selection = Some(Arc::new(resolved));
            }
            let outcome = run_with(&world, &pipeline, &params, out, &options).await?;
            print_outcome(&world, &outcome);
            Ok(())
        }
        Command::DryRun {
            pipeline,
            params,
            periods,
            force,
            selection,
        } => dry_run(&world, &pipeline, &params, periods, force, &selection).await,
        Command::Sample(opts) => sample(&world, &opts, out).await,
        Command::Demo => demo(&world, out).await,
        Command::Spc(args) => spc(&world, &args).await,
        Command::Verify { run, exit_zero } => verify(&world, &run, exit_zero, out).await,
        Command::Explain { run, table } => explain(&world, &run, &table, out).await,
        Command::Diff {
            old,
            new,
            exit_zero,
        } => diff(&world, &old, &new, exit_zero, out).await,
        // The scheduler's commands (`crate::schedule::command`).
        c @ (Command::Schedule { .. }
        | Command::Backfill { .. }
        | Command::Runs { .. }
        | Command::RunShow { .. }
        | Command::Resume { .. }) => crate::schedule::command::dispatch(c, world, out).await,
        Command::Bench(opts) => {
            let quiet = out.quiet;
            let report = crate::bench::run(&world, &opts, &|what: &str| {
                if !quiet {
                    eprintln!("bench: {what}");
                }
            })
            .await
            .map_err(|e| anyhow!(e))?;
            print_long(&crate::bench::render_table(&report))
        }
        Command::Cluster(args) => cluster(&world, args).await,
        // `main` prints it before any world exists; here for a caller that dispatches it anyway.
        Command::Documentation(text) => {
            print!("{text}");
            Ok(())
        }
    }
}

#[cfg(feature = "distributed")]
async fn cluster(world: &World, args: crate::cli::ClusterArgs) -> Result<()> {
    crate::cluster::serve(world, args)
        .await
        .map_err(|e| anyhow!(e))
}

#[cfg(not(feature = "distributed"))]
async fn cluster(_: &World, _: crate::cli::ClusterArgs) -> Result<()> {
    bail!(
        "this build of boardpack has no distributed engine (it was built with `--no-default-features`; build it with the default features)"
    )
}

async fn verify(world: &World, run: &str, exit_zero: bool, out: Output) -> Result<()> {
    let (path, record) = crate::verify::find_record(world, run)
        .await
        .map_err(|e| anyhow!(e))?;
    let report = crate::verify::verify(world, &path, &record)
        .await
        .map_err(|e| anyhow!(e))?;
    if out.json {
        print_json(&serde_json::to_value(&report)?)?;
    } else {
        println!("{report}");
    }
    if report.identical() || exit_zero {
        Ok(())
    } else {
        // Exit code 1: the run does not reproduce.
        bail!(
            "run {} does not reproduce: {} output(s) differ",
            report.run_id,
            report.different_outputs().len()
        )
    }
}

async fn explain(world: &World, run: &str, table: &str, out: Output) -> Result<()> {
    let (_, record) = crate::verify::find_record(world, run)
        .await
        .map_err(|e| anyhow!(e))?;
    if let Some(trace) = crate::lineage::trace_metric(world, &record, table)
        .await
        .map_err(|e| anyhow!(e))?
    {
        if out.json {
            return print_json(&trace.document(world, &record).map_err(|e| anyhow!(e))?);
        }
        return print_long(&trace.text(&record));
    }
    if out.json {
        let doc =
            crate::lineage::explain_document(world, &record, table).map_err(|e| anyhow!(e))?;
        return print_json(&doc);
    }
    let text = crate::lineage::explain(world, &record, table).map_err(|e| anyhow!(e))?;
    print_long(&text)
}

/// Prints a long report; a reader that stops early (`| head`) is not an error.
fn print_long(text: &str) -> Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

async fn diff(world: &World, old: &str, new: &str, exit_zero: bool, out: Output) -> Result<()> {
    let (_, a) = crate::verify::find_record(world, old)
        .await
        .map_err(|e| anyhow!(e))?;
    let (_, b) = crate::verify::find_record(world, new)
        .await
        .map_err(|e| anyhow!(e))?;
    let found = crate::lineage::compare(world, &a, &b)
        .await
        .map_err(|e| anyhow!(e))?;
    if out.json {
        print_json(&found.document)?;
    } else {
        print_long(&found.text)?;
    }
    if found.different == 0 || exit_zero {
        Ok(())
    } else {
        // Exit code 1, as diff(1): scripts can tell a restatement that changed figures.
        bail!(
            "runs {} and {}: {} output(s) differ",
            a.run_id,
            b.run_id,
            found.different
        )
    }
}

/// What a run (or a backfill's runs) would do, reading only listings and records: per period, whether it
/// is published (and skipped by a backfill), held by a live lease, or lacks input months; then the steps
/// in order. Exit code 1 when a period it would run lacks data, so that a script can wait.
async fn dry_run(
    world: &World,
    name: &str,
    given: &BTreeMap<String, String>,
    periods: Option<(crate::period::Period, crate::period::Period)>,
    force: bool,
    selection: &crate::select::Request,
) -> Result<()> {
    use std::fmt::Write as _;
    let plan = load(world, name)?;
    let (periods, backfill) = match periods {
        Some((from, to)) => (
            crate::schedule::runner::backfill_periods(&plan, from, to).map_err(|e| anyhow!(e))?,
            true,
        ),
        None => (vec![RunParams::bind(&plan, given)?.period()], false),
    };
    // No poll, no rows counted (that reads footers), no markers: listings only.
    let readiness = crate::schedule::Readiness {
        poll: std::time::Duration::ZERO,
        deadline: std::time::Duration::ZERO,
        min_rows: BTreeMap::new(),
        markers: Vec::new(),
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "dry run of {name}: nothing is run or written; only listings and records are read"
    );
    let (mut would_run, mut lacking) = (0, 0);
    for period in &periods {
        let p = period.to_string();
        let published = crate::publish::current(&world.store, &plan.name, &p)
            .await
            .map_err(|e| anyhow!(e))?;
        let lease = crate::schedule::lease::current(&world.store, &plan.name, &p)
            .await
            .map_err(|e| anyhow!("{e}"))?
            .map(|(_, body)| body)
            .filter(|b| b.live(world.clock.now()));
        let missing = crate::schedule::ready::missing(world, &plan, period, &readiness)
            .await
            .map_err(|e| anyhow!(e))?;
        let verdict = if backfill && published.is_some() && !force {
            "skipped: published (--force rebuilds it)".to_string()
        } else if let Some(b) = &lease {
            format!(
                "would wait: run {} holds the lease until {}",
                b.run_id,
                b.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            )
        } else if !missing.is_empty() {
            lacking += 1;
            format!("would fail: {}", missing.join("; "))
        } else {
            would_run += 1;
            "would run".to_string()
        };
        let replaces = match (&published, verdict.starts_with("would run")) {
            (Some(pointer), true) => format!(", replacing published run {}", pointer.run_id),
            _ => String::new(),
        };
        // A backfill's period that would run: how much of it the step cache would serve (a run's dry run
        // lists every step below).
        let cached = if backfill && verdict.starts_with("would run") {
            let params =
                RunParams::bind(&plan, &BTreeMap::from([("period".to_string(), p.clone())]))?;
            let reference = execute::previous_run(world, &plan.name, &p)
                .await
                .map_err(|e| anyhow!(e))?;
            let forecast =
                crate::cache::forecast(world, &plan, &params, reference.as_ref(), &BTreeMap::new())
                    .await
                    .map_err(|e| anyhow!(e))?;
            let hits = forecast
                .iter()
                .filter(|(_, f)| *f == crate::cache::Forecast::Cached)
                .count();
            format!(" ({hits} of {} steps from the cache)", forecast.len())
        } else {
            String::new()
        };
        let _ = writeln!(text, "  {p:<11} {verdict}{replaces}{cached}");
    }
    // The steps a selection would run, and what the others would reuse (the same resolution as the run's:
    // the published pointer and record are all it reads).
    let mut reused = BTreeMap::new();
    if !selection.is_empty() {
        let params = RunParams::bind(&plan, given)?;
        let resolved = crate::select::resolve(world, &plan, &params, selection, true)
            .await
            .map_err(|e| anyhow!(Reported(e)))?;
        let s = &resolved.record;
        if let Some(state) = &s.state {
            for m in &state.modified {
                let _ = writeln!(text, "  modified  {:<24} {}", m.step, m.why.join("; "));
            }
        }
        if resolved.is_empty() {
            let _ = writeln!(text, "selection: nothing to run (no step is modified)");
        } else {
            let _ = writeln!(text, "selection: would run {}", s.selected.join(", "));
        }
        let mut from: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &s.reused {
            from.entry(&r.run_id).or_default().push(&r.step);
        }
        for (run, steps) in from {
            let _ = writeln!(
                text,
                "  would reuse {} from published run {run}",
                steps.join(", ")
            );
        }
        if !s.cached.is_empty() {
            let _ = writeln!(
                text,
                "  would take {} from the step cache (not in the published run)",
                s.cached.join(", ")
            );
        }
        reused = resolved.reused;
    }
    let kind = |s: &crate::plan::Step| match &s.kind {
        StepKind::Sql { .. } => "sql",
        StepKind::Check { .. } => "check",
        StepKind::Report { .. } => "report",
    };
    if backfill {
        let _ = writeln!(
            text,
            "steps of each run, wave by wave (a SQL step or report whose inputs are unchanged comes from the step cache):"
        );
        for (i, wave) in plan.waves().iter().enumerate() {
            let steps: Vec<String> = wave
                .iter()
                .map(|s| format!("{} ({})", s.id, kind(s)))
                .collect();
            let _ = writeln!(text, "  wave {}: {}", i + 1, steps.join(", "));
        }
    } else {
        // One period: which steps the step cache would serve, judged from listings and records only.
        let params = RunParams::bind(&plan, given)?;
        let reference = execute::previous_run(world, &plan.name, &params.period().to_string())
            .await
            .map_err(|e| anyhow!(e))?;
        let forecast = crate::cache::forecast(world, &plan, &params, reference.as_ref(), &reused)
            .await
            .map_err(|e| anyhow!(e))?;
        let forecast: BTreeMap<String, crate::cache::Forecast> = forecast.into_iter().collect();
        let judged = match &reference {
            Some(r) => format!(
                "an input listed with the objects, paths and sizes that run {} recorded is taken to hold the bytes it hashed",
                r.run_id
            ),
            None => "no run of the period is published, so no input's hashes are known".to_string(),
        };
        let _ = writeln!(
            text,
            "steps, wave by wave, and the step cache (judged without reading data: {judged}):"
        );
        let (mut cached, mut to_run) = (0, 0);
        for (i, wave) in plan.waves().iter().enumerate() {
            let _ = writeln!(text, "  wave {}", i + 1);
            for s in wave {
                let what = match forecast.get(&s.id) {
                    Some(crate::cache::Forecast::Cached) => {
                        cached += 1;
                        "from the cache".to_string()
                    }
                    Some(crate::cache::Forecast::Runs(why)) => {
                        to_run += 1;
                        format!("runs: {why}")
                    }
                    Some(crate::cache::Forecast::Reused { run_id, objects })
                        if run_id.is_empty() || *objects == 0 =>
                    {
                        "not selected: not run".to_string()
                    }
                    Some(crate::cache::Forecast::Reused { run_id, .. }) => {
                        format!("not selected: reused from run {run_id}")
                    }
                    None => String::new(),
                };
                let _ = writeln!(text, "    {:<28} {:<7} {what}", s.id, kind(s));
            }
        }
        let _ = writeln!(text, "{cached} step(s) from the cache, {to_run} to run");
    }
    let _ = write!(
        text,
        "{would_run} of {} period(s) would run; {lacking} lack data",
        periods.len()
    );
    print_long(&text)?;
    if lacking > 0 {
        bail!("{lacking} period(s) lack data (see above)")
    }
    Ok(())
}

fn load(world: &World, name: &str) -> Result<Plan> {
    plan::load_named(&world.project, name).map_err(|d| report_diagnostics(&d))
}

/// Prints every diagnostic but the last line's reason, which `main` prints with exit code 2.
pub fn report_diagnostics(d: &Diagnostics) -> anyhow::Error {
    // One problem is the reason itself; several are listed, then counted.
    if let [only] = d.0.as_slice() {
        return anyhow!(Reported(only.to_string()));
    }
    for line in &d.0 {
        eprintln!("{line}");
    }
    anyhow!(Reported(format!("{} errors found", d.len())))
}

async fn validate(world: &World, names: &[String], out: Output) -> Result<()> {
    let files: Vec<String> = if names.is_empty() {
        world.project.pipeline_files()
    } else {
        names
            .iter()
            .map(|n| format!("pipelines/{n}.yaml"))
            .collect()
    };
    if files.is_empty() {
        bail!(
            "no pipelines found under {}",
            world.project.root().join("pipelines").display()
        );
    }
    let mut all = Diagnostics::default();
    let mut documents = Vec::new();
    for f in &files {
        // A plan that loads has its seeds read too: a run would refuse a bad one only once it starts.
        let loaded = match plan::load(&world.project, f) {
            Ok(p) => {
                let mut found = Diagnostics::default();
                for seed in &p.seeds {
                    for d in crate::seed::check(&world.project, seed) {
                        found.push(d);
                    }
                }
                // Every template rendered against the columns its tables will have: a misspelled column
                // or table is found now, without data (`shapes`).
                if found.is_empty() {
                    for d in crate::shapes::check_reports(world, &p).await {
                        found.push(d);
                    }
                }
                found.into_result(p)
            }
            Err(d) => Err(d),
        };
        match loaded {
            Ok(p) => {
                let warnings = p.warnings();
                if out.json {
                    documents.push(json!({
                        "file": f, "valid": true, "inputs": p.inputs.len(), "steps": p.steps.len(),
                        "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                        "errors": [],
                    }));
                    continue;
                }
                println!(
                    "ok      {f} ({} inputs, {} steps)",
                    p.inputs.len(),
                    p.steps.len()
                );
                for w in warnings {
                    eprintln!("{w}");
                }
            }
            Err(d) => {
                if out.json {
                    documents.push(json!({
                        "file": f, "valid": false, "warnings": [], "errors": &d.0,
                    }));
                } else {
                    println!("invalid {f} ({} errors)", d.len());
                }
                all.extend(d);
            }
        }
    }
    if out.json {
        print_json(&json!({ "pipelines": documents }))?;
        return if all.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(Reported(format!("{} errors found", all.len()))))
        };
    }
    if all.is_empty() {
        Ok(())
    } else {
        // A template or seed that two pipelines share is reported once.
        let mut all = all.sorted();
        all.0.dedup();
        Err(report_diagnostics(&all))
    }
}

fn show_plan(world: &World, name: &str, out: Output) -> Result<()> {
    use std::fmt::Write as _;
    let p = load(world, name)?;
    if out.json {
        let waves: Vec<Vec<serde_json::Value>> = p
            .waves()
            .iter()
            .map(|wave| {
                wave.iter()
                    .map(|s| {
                        let (kind, file) = match &s.kind {
                            StepKind::Sql { file, .. } => ("sql", Some(file.clone())),
                            StepKind::Check { .. } => ("check", None),
                            StepKind::Report { template, .. } => ("report", Some(template.clone())),
                        };
                        json!({
                            "id": s.id, "kind": kind, "file": file,
                            "inputs": s.inputs, "depends_on": s.depends_on,
                        })
                    })
                    .collect()
            })
            .collect();
        return print_json(&json!({
            "pipeline": p.name, "description": p.description, "waves": waves,
        }));
    }
    // Written at once, so that a reader that stops early (`| head`) is not an error.
    let mut text = String::new();
    let _ = writeln!(text, "{}: {}", p.name, p.description);
    for (i, wave) in p.waves().iter().enumerate() {
        let parallel = if wave.len() > 1 {
            "  (in parallel)"
        } else {
            ""
        };
        let _ = writeln!(text, "wave {}{parallel}", i + 1);
        for s in wave {
            let what = match &s.kind {
                StepKind::Sql { file, .. } => format!("sql     {file}"),
                StepKind::Check { assertions } => {
                    format!("check   {} assertion(s)", assertions.len())
                }
                StepKind::Report { template, .. } => format!("report  {template}"),
            };
            let mut reads: Vec<String> = s.inputs.iter().map(|i| format!("input {i}")).collect();
            reads.extend(s.depends_on.iter().cloned());
            let reads = if reads.is_empty() {
                String::new()
            } else {
                format!("  ← {}", reads.join(", "))
            };
            let _ = writeln!(text, "  {:<24} {what}{reads}", s.id);
        }
    }
    print_long(text.trim_end())
}

async fn list(world: &World, out: Output) -> Result<()> {
    // Where each scheduled pipeline fires next, and the last run of each: what an operator asks first.
    let next = crate::schedule::runner::next_firings(world)
        .await
        .map_err(|e| anyhow!(e))?;
    let runs = crate::schedule::history::records(world, None)
        .await
        .map_err(|e| anyhow!(e))?;
    if out.json {
        let mut documents = Vec::new();
        for f in world.project.pipeline_files() {
            documents.push(match plan::load(&world.project, &f) {
                Ok(p) => {
                    let next = next.get(&p.name);
                    let last = runs.iter().rev().find(|r| r.pipeline == p.name);
                    json!({
                        "name": p.name, "file": f, "valid": true, "description": p.description,
                        "periods": p.period_parameter().map(|pp| pp.granularities.iter()
                            .map(|g| format!("{g:?}").to_lowercase()).collect::<Vec<_>>()),
                        "schedule": p.schedule.as_ref().map(|s| json!({
                            "cron": s.cron, "working_day": s.working_day,
                            "next_firing": next.map(|(t, _)| t),
                            "next": next.map(|(_, what)| what),
                        })),
                        "last_run": last.map(|r| json!({
                            "run_id": r.run_id, "period": r.period,
                            "status": crate::schedule::history::status_name(r.status),
                            "published": r.published, "started_at": r.started_at,
                        })),
                    })
                }
                Err(d) => json!({ "file": f, "valid": false, "errors": d.0 }),
            });
        }
        return print_json(&serde_json::Value::Array(documents));
    }
    for f in world.project.pipeline_files() {
        match plan::load(&world.project, &f) {
            Ok(p) => {
                let period = p
                    .period_parameter()
                    .map(|pp| {
                        let g: Vec<String> = pp
                            .granularities
                            .iter()
                            .map(|g| format!("{g:?}").to_lowercase())
                            .collect();
                        format!(
                            "period: {}",
                            if g.is_empty() {
                                "any".into()
                            } else {
                                g.join("/")
                            }
                        )
                    })
                    .unwrap_or_default();
                let schedule = p
                    .schedule
                    .as_ref()
                    .map(|s| {
                        let day = s.working_day.map(|n| format!(" on working day {n}"));
                        format!(", schedule `{}`{}", s.cron, day.unwrap_or_default())
                    })
                    .unwrap_or_default();
                println!("{:<16} {} ({period}{schedule})", p.name, p.description);
                if let Some((_, what)) = next.get(&p.name) {
                    println!("{:<16} next: {what}", "");
                }
                // Records are oldest first.
                if let Some(r) = runs.iter().rev().find(|r| r.pipeline == p.name) {
                    println!(
                        "{:<16} last run: {} {} {}{} ({})",
                        "",
                        r.period,
                        r.run_id,
                        crate::schedule::history::status_name(r.status),
                        if r.published { ", published" } else { "" },
                        r.started_at.format("%Y-%m-%d %H:%M UTC")
                    );
                }
            }
            Err(d) => println!(
                "{:<16} invalid: {} error(s); run `boardpack validate`",
                f,
                d.len()
            ),
        }
    }
    Ok(())
}

async fn run(
    world: &World,
    name: &str,
    given: &BTreeMap<String, String>,
    out: Output,
) -> Result<RunOutcome> {
    run_with(world, name, given, out, &execute::RunOptions::default()).await
}

async fn run_with(
    world: &World,
    name: &str,
    given: &BTreeMap<String, String>,
    out: Output,
    options: &execute::RunOptions,
) -> Result<RunOutcome> {
    // A fresh record of files read: the run record lists only this pipeline's files (`demo` runs every
    // pipeline in one world), and the run's fingerprint depends on nothing else.
    let world = &world.fresh();
    let plan = load(world, name)?;
    let params = RunParams::bind(&plan, given)?;
    let progress = Arc::new(Progress::new(out.quiet, out.plain_logs));
    let result = if options.stage_only.is_some() || options.control.resume.is_some() {
        execute::run_with(world, &plan, &params, progress.clone(), options).await
    } else {
        // Under the pipeline and period's lease, as a scheduled run: a run typed by hand never goes on at
        // the same time as a scheduled one (or another typed one) of the same period, on any machine. A
        // signal stops it as it stops the scheduler: no new step starts, the run is recorded interrupted.
        let settings = crate::schedule::Settings::from_config(&world.config.scheduler)
            .map_err(|e| anyhow!(e))?;
        let period = params.period().to_string();
        let run_id = execute::new_run_id(world.clock.now());
        let stop = crate::schedule::runner::stop_on_signals(settings.grace_period);
        let (plan_ref, params_ref, id, events) = (&plan, &params, &run_id, progress.clone());
        let leased = crate::schedule::runner::under_lease(
            world,
            &settings,
            &plan,
            &period,
            &run_id,
            options.trigger,
            &stop,
            move |run_stop| async move {
                let mut options = options.clone();
                options.run_id = Some(id.clone());
                options.control.stop = Some(run_stop);
                execute::run_with(world, plan_ref, params_ref, events, &options).await
            },
        )
        .await
        .map_err(|e| anyhow!(e))?;
        match leased {
            Ok(result) => result,
            Err(holder) => {
                progress.finish();
                bail!(
                    "run {} ({}) of {} {} holds the lease until {}: not started twice",
                    holder.run_id,
                    holder.holder,
                    holder.pipeline,
                    holder.period,
                    holder.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
        }
    };
    progress.finish();
    result.map_err(|f| match f.record_path {
        Some(p) => anyhow!("{} (run record: {p}; nothing was published)", f.message),
        None => anyhow!("{} (nothing was published)", f.message),
    })
}

/// A path a person can open: the file on disk for a local store, the URL otherwise.
fn openable(world: &World, rel: &str) -> String {
    match world.store.root().to_file_path() {
        Ok(dir) => dir.join(rel).display().to_string(),
        Err(_) => world
            .store
            .url(rel)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| rel.to_string()),
    }
}

fn print_outcome(world: &World, o: &RunOutcome) {
    let r = &o.record;
    println!(
        "published {} {} (run {}, {} ms)",
        r.pipeline, r.period, r.run_id, r.duration_ms
    );
    if let Some(s) = &r.selection {
        println!("  ran     {}", s.selected.join(", "));
        let mut from: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for reused in &s.reused {
            from.entry(&reused.run_id).or_default().push(&reused.step);
        }
        for (run, steps) in from {
            println!("  reused  {} from run {run}", steps.join(", "));
        }
        if !s.cached.is_empty() {
            println!(
                "  cached  {} (not selected; from the step cache)",
                s.cached.join(", ")
            );
        }
    }
    for report in o.reports() {
        println!("  report  {}", openable(world, &report));
    }
    println!("  record  {}", openable(world, &o.record_path));
}

async fn sample(world: &World, opts: &SampleOptions, out: Output) -> Result<()> {
    let progress = Progress::new(out.quiet, out.plain_logs);
    let quiet = out.quiet;
    let summary = sample::generate(&world.store, opts, &|what: &str| {
        if !quiet {
            tracing::info!("writing {what}");
        }
    })
    .await
    .context("writing the sample data set")?;
    progress.finish();
    println!(
        "sample data {}..{} (scale {}, seed {}): {} objects, {} rows, {:.1} MB under {}",
        opts.from,
        opts.to,
        opts.scale,
        opts.seed,
        summary.objects,
        summary.rows,
        summary.bytes as f64 / 1e6,
        openable(world, "")
    );
    Ok(())
}

/// The marker the demo looks for to decide whether the sample data exists.
const SAMPLE_MARKER: &str = "reference/practices/practices.parquet";

async fn demo(world: &World, out: Output) -> Result<()> {
    if !world.store.exists(SAMPLE_MARKER).await? {
        println!(
            "no sample data in {}: writing it (2019-04 to 2023-03, seed 42)",
            openable(world, "")
        );
        sample(world, &SampleOptions::default(), out).await?;
    }
    let mut reports: Vec<PathBuf> = Vec::new();
    let mut failed = Vec::new();
    for f in world.project.pipeline_files() {
        let name = f
            .trim_start_matches("pipelines/")
            .trim_end_matches(".yaml")
            .to_string();
        match run(world, &name, &BTreeMap::new(), out).await {
            Ok(o) => {
                print_outcome(world, &o);
                reports.extend(
                    o.reports()
                        .iter()
                        .map(|r| PathBuf::from(openable(world, r))),
                );
            }
            Err(e) => {
                eprintln!("{name}: {e:#}");
                failed.push(name);
            }
        }
    }
    if !reports.is_empty() {
        println!("\nPDFs to open:");
        for r in &reports {
            println!("  {}", r.display());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{} pipeline(s) failed: {}", failed.len(), failed.join(", "))
    }
}

/// One series of the `spc` command: its facet value, dates and values in date order.
struct Series {
    facet: Option<String>,
    dates: Vec<String>,
    values: Vec<f64>,
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A cell as a number: `None` for an empty cell, an error naming the row for text that is not a number.
fn number_cell(
    row: &serde_json::Map<String, serde_json::Value>,
    column: &str,
    i: usize,
) -> Result<Option<f64>> {
    let v = &row[column];
    let x = match v {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) if s.trim().is_empty() => return Ok(None),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    x.filter(|x: &f64| x.is_finite())
        .map(Some)
        .ok_or_else(|| anyhow!("row {}: `{}` in `{column}` is not a number", i + 1, cell(v)))
}

/// Whether a cell holds a `--where` value: the same text, or the same number (`1` and `1.0`, a CSV
/// column read as integers and `01`).
fn cell_matches(v: &serde_json::Value, want: &str) -> bool {
    let text = cell(v);
    text == want
        || matches!((text.trim().parse::<f64>(), want.trim().parse::<f64>()), (Ok(a), Ok(b)) if a == b)
}

async fn spc(world: &World, args: &SpcCommand) -> Result<()> {
    use crate::cli::SpcMeasure;
    use crate::spc as stats;
    let file = args.file.display().to_string();
    let measure_columns: Vec<&str> = match &args.measure {
        SpcMeasure::Column(c) => vec![c.as_str()],
        SpcMeasure::Ratio {
            numerator,
            denominator,
        } => vec![numerator.as_str(), denominator.as_str()],
    };
    let mut columns = vec![args.date.as_str()];
    columns.extend(&measure_columns);
    columns.extend(args.facet.as_deref());
    columns.extend(args.filters.iter().map(|(c, _)| c.as_str()));
    let rows = match crate::engine::read_file_columns(&args.file, &columns).await {
        Ok(rows) => rows,
        // Say which flag named the missing column.
        Err(crate::engine::EngineError::UnknownColumn {
            column, available, ..
        }) => {
            let flag = spc_flag_of(args, &column);
            bail!("{flag}: {file} has no column `{column}`; its columns are: {available}")
        }
        Err(e) => return Err(anyhow!(e).context(format!("reading {file}"))),
    };
    // Keep the rows --where asks for, group them into series and order each by date; a row without a
    // value is left out (SPC needs no gaps).
    let mut groups: BTreeMap<Option<String>, Vec<(String, f64, usize)>> = BTreeMap::new();
    let mut kept = 0usize;
    for (i, r) in rows.iter().enumerate() {
        if !args
            .filters
            .iter()
            .all(|(c, want)| cell_matches(&r[c.as_str()], want))
        {
            continue;
        }
        kept += 1;
        let facet = args.facet.as_ref().map(|f| cell(&r[f.as_str()]));
        let date = cell(&r[args.date.as_str()]);
        if date.is_empty() {
            bail!("row {}: no date in `{}`", i + 1, args.date);
        }
        let value = match &args.measure {
            SpcMeasure::Column(c) => number_cell(r, c, i)?,
            SpcMeasure::Ratio {
                numerator,
                denominator,
            } => match (
                number_cell(r, numerator, i)?,
                number_cell(r, denominator, i)?,
            ) {
                (Some(_), Some(d)) if d == 0.0 => bail!(
                    "row {} ({date}{}): the denominator `{denominator}` is zero",
                    i + 1,
                    facet.as_ref().map(|f| format!(", {f}")).unwrap_or_default()
                ),
                // ×100 before dividing: 725 of 1,000 is 72.5, not 72.49999999999999.
                (Some(n), Some(d)) if args.percent => Some(n * 100.0 / d),
                (Some(n), Some(d)) => Some(n / d),
                _ => None,
            },
        };
        let Some(value) = value else { continue };
        let value = match (&args.measure, args.percent) {
            (SpcMeasure::Column(_), true) => value * 100.0,
            _ => value,
        };
        groups.entry(facet).or_default().push((date, value, i + 1));
    }
    if groups.is_empty() {
        if kept == 0 && !args.filters.is_empty() {
            let conditions: Vec<String> = args
                .filters
                .iter()
                .map(|(c, v)| format!("{c}={v}"))
                .collect();
            bail!("no row of {file} has {}", conditions.join(" and "));
        }
        bail!(
            "{file} has no rows with a value in `{}`",
            args.measure_name()
        );
    }
    let mut series: Vec<Series> = Vec::new();
    for (facet, mut points) in groups {
        points.sort_by(|a, b| a.0.cmp(&b.0));
        // Two points on one date would be charted side by side as if a month apart: refuse them.
        if let Some(w) = points.windows(2).find(|w| w[0].0 == w[1].0) {
            let whose = match (&args.facet, &facet) {
                (Some(column), Some(f)) => format!("{column} `{f}` in {file}"),
                _ => file.clone(),
            };
            bail!(
                "{whose} has two points on {} (rows {} and {}); SPC needs one point per date: split the \
                 series with --facet or keep one with --where",
                w[0].0,
                w[0].2.min(w[1].2),
                w[0].2.max(w[1].2)
            );
        }
        let (dates, values) = points.into_iter().map(|(d, v, _)| (d, v)).unzip();
        series.push(Series {
            facet,
            dates,
            values,
        });
    }
    // A re-base date no series holds is a typing mistake, not a request to ignore.
    for d in &args.rebase {
        if !series.iter().any(|s| s.dates.contains(d)) {
            bail!("--rebase {d}: no point of {file} has that date");
        }
    }

    let mut analyses = Vec::new();
    for s in &series {
        let rebase_at: Vec<usize> = args
            .rebase
            .iter()
            .filter_map(|d| s.dates.iter().position(|x| x == d))
            .collect();
        let options = stats::Options {
            improvement: Some(args.improvement),
            target: args.target,
            baseline: args.baseline,
            rebase_at,
            screen_outliers: args.screen_outliers,
        };
        analyses.push(stats::analyse(&s.values, &options));
    }

    let mut text = String::new();
    if args.json {
        let out: Vec<serde_json::Value> = series
            .iter()
            .zip(&analyses)
            .map(|(s, a)| {
                let points: Vec<serde_json::Value> = s
                    .dates
                    .iter()
                    .zip(&a.points)
                    .map(|(d, p)| {
                        let mut v = serde_json::to_value(p).unwrap_or_default();
                        v["date"] = serde_json::json!(d);
                        v
                    })
                    .collect();
                serde_json::json!({
                    "facet": s.facet, "unit": args.percent.then_some("%"), "variation": a.variation,
                    "assurance": a.assurance, "too_short": a.too_short, "points": points,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "series": out }))?
        );
    } else {
        let facet_col = args
            .facet
            .as_ref()
            .map(|f| format!("{f},"))
            .unwrap_or_default();
        println!(
            "{facet_col}date,value,mean,lower_limit,upper_limit,point_type,rule,variation,assurance"
        );
        for (s, a) in series.iter().zip(&analyses) {
            let variation = cell(&serde_json::to_value(a.variation)?);
            let assurance = cell(&serde_json::to_value(a.assurance)?);
            for (d, p) in s.dates.iter().zip(&a.points) {
                let facet = s
                    .facet
                    .as_ref()
                    .map(|f| format!("{},", csv_field(f)))
                    .unwrap_or_default();
                let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
                text.push_str(&format!(
                    "{facet}{},{},{},{},{},{},{},{variation},{assurance}\n",
                    csv_field(d),
                    p.value,
                    p.mean,
                    opt(p.lower_limit),
                    opt(p.upper_limit),
                    cell(&serde_json::to_value(p.point_type)?),
                    cell(&serde_json::to_value(p.rule)?),
                ));
            }
        }
    }

    if let Some(path) = &args.chart {
        let mut charts = Vec::new();
        let heading = args.title.clone().unwrap_or_else(|| args.measure_name());
        for (s, a) in series.iter().zip(&analyses) {
            let title = match &s.facet {
                Some(f) => format!("{heading} — {f}"),
                None => heading.clone(),
            };
            let opts = crate::render::chart::ChartOptions {
                title: title.clone(),
                percentages: args.percent,
                ..Default::default()
            };
            charts.push((
                title,
                crate::render::chart::spc_chart(&s.dates, a, args.target, &opts)?,
            ));
        }
        let written = if path.extension().and_then(|e| e.to_str()) == Some("pdf") {
            let pdf =
                crate::render::charts_pdf(&world.fonts, &heading, &charts, world.clock.now())?;
            std::fs::write(path, pdf).with_context(|| format!("writing {}", path.display()))?;
            vec![path.clone()]
        } else if charts.len() == 1 {
            std::fs::write(path, &charts[0].1)
                .with_context(|| format!("writing {}", path.display()))?;
            vec![path.clone()]
        } else {
            let stem = path.with_extension("");
            let mut files = Vec::new();
            for (s, (_, svg)) in series.iter().zip(&charts) {
                let slug: String = s
                    .facet
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let file = PathBuf::from(format!("{}-{slug}.svg", stem.display()));
                std::fs::write(&file, svg)
                    .with_context(|| format!("writing {}", file.display()))?;
                files.push(file);
            }
            files
        };
        for f in written {
            eprintln!("chart written to {}", f.display());
        }
    }
    // Written once at the end; a reader that stops early (`| head`) is not an error.
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The flag of `boardpack spc` that named a column, for an error about it.
fn spc_flag_of(args: &SpcCommand, column: &str) -> String {
    use crate::cli::SpcMeasure;
    if let Some((c, v)) = args.filters.iter().find(|(c, _)| c == column) {
        return format!("--where {c}={v}");
    }
    let named = |flag: &str, c: &str| (c == column).then(|| format!("--{flag} {c}"));
    let measure = match &args.measure {
        SpcMeasure::Column(c) => named("value", c),
        SpcMeasure::Ratio {
            numerator,
            denominator,
        } => named("numerator", numerator).or_else(|| named("denominator", denominator)),
    };
    measure
        .or_else(|| named("date", &args.date))
        .or_else(|| args.facet.as_deref().and_then(|f| named("facet", f)))
        .unwrap_or_else(|| format!("column `{column}`"))
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
