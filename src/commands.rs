//! Carrying out commands: each function takes a validated command and the world, does the work through
//! the library's modules (plan, execute, sample), and prints the result for a person.
//!
//! Owns what the user sees on standard output. Errors go back to `main` with context, which prints the
//! one-line reason and picks the exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::Command;
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
}

/// An error whose diagnostics were already printed; `main` prints only the summary line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reported(pub String);

pub async fn dispatch(command: Command, world: World, out: Output) -> Result<()> {
    match command {
        Command::Validate { pipelines } => validate(&world, &pipelines),
        Command::Plan { pipeline } => show_plan(&world, &pipeline),
        Command::List => list(&world),
        Command::Run { pipeline, params } => {
            let outcome = run(&world, &pipeline, &params, out).await?;
            print_outcome(&world, &outcome);
            Ok(())
        }
        Command::Sample(opts) => sample(&world, &opts, out).await,
        Command::Demo => demo(&world, out).await,
    }
}

fn load(world: &World, name: &str) -> Result<Plan> {
    plan::load_named(&world.project, name).map_err(|d| report_diagnostics(&d))
}

fn report_diagnostics(d: &Diagnostics) -> anyhow::Error {
    for line in &d.0 {
        eprintln!("{line}");
    }
    anyhow!(Reported(format!("{} error(s) found", d.len())))
}

fn validate(world: &World, names: &[String]) -> Result<()> {
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
    for f in &files {
        match plan::load(&world.project, f) {
            Ok(p) => println!(
                "ok      {f} ({} inputs, {} steps)",
                p.inputs.len(),
                p.steps.len()
            ),
            Err(d) => {
                println!("invalid {f} ({} errors)", d.len());
                all.extend(d);
            }
        }
    }
    if all.is_empty() {
        Ok(())
    } else {
        Err(report_diagnostics(&all))
    }
}

fn show_plan(world: &World, name: &str) -> Result<()> {
    let p = load(world, name)?;
    println!("{}: {}", p.name, p.description);
    for (i, wave) in p.waves().iter().enumerate() {
        let parallel = if wave.len() > 1 {
            "  (in parallel)"
        } else {
            ""
        };
        println!("wave {}{parallel}", i + 1);
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
            println!("  {:<24} {what}{reads}", s.id);
        }
    }
    Ok(())
}

fn list(world: &World) -> Result<()> {
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
                    .map(|s| format!(", schedule `{}`", s.cron))
                    .unwrap_or_default();
                println!("{:<16} {} ({period}{schedule})", p.name, p.description);
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
    let plan = load(world, name)?;
    let params = RunParams::bind(&plan, given).with_context(|| format!("pipeline `{name}`"))?;
    let progress = Arc::new(Progress::new(out.quiet, out.plain_logs));
    let result = execute::run(world, &plan, &params, progress.clone()).await;
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
