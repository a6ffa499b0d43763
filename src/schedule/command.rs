//! The scheduler's commands as a person sees them: `schedule [--once]`, `backfill`, `runs`, `runs show`
//! and `run --resume`. Prints to standard output; the work is `runner`'s and `history`'s.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use super::history;
use super::runner::{self, Launched};
use super::{Settings, format_duration};
use crate::cli::Command;
use crate::commands::Output;
use crate::execute::Events;
use crate::progress::Progress;
use crate::record::RunStatus;
use crate::world::World;

pub async fn dispatch(command: Command, world: World, out: Output) -> Result<()> {
    let settings = Settings::from_config(&world.config.scheduler).map_err(|e| anyhow!(e))?;
    match command {
        Command::Schedule { once, dry_run } => {
            let settings = Settings {
                dry_run,
                ..settings
            };
            schedule(&world, &settings, once, out).await
        }
        Command::Backfill {
            pipeline,
            from,
            to,
            force,
            jobs,
        } => {
            let plan = crate::plan::load_named(&world.project, &pipeline)
                .map_err(|d| anyhow!(crate::commands::Reported(d.to_string())))?;
            let periods = runner::backfill_periods(&plan, from, to).map_err(|e| anyhow!(e))?;
            let jobs = jobs.unwrap_or(settings.backfill_jobs);
            println!(
                "backfill {pipeline}: {} period(s) from {} to {}, {jobs} at a time",
                periods.len(),
                periods[0],
                periods[periods.len() - 1]
            );
            let stop = runner::stop_on_signals(settings.grace_period);
            let events: Arc<dyn Events> = Arc::new(Progress::new(out.quiet, true));
            let failed = runner::backfill(
                &world,
                &settings,
                &stop,
                events,
                &pipeline,
                &periods,
                force,
                jobs,
                &|line: &str| println!("{line}"),
            )
            .await
            .map_err(|e| anyhow!(e))?;
            if failed > 0 {
                bail!(
                    "{failed} period(s) of {pipeline} did not succeed (see `boardpack runs {pipeline}`)"
                );
            }
            Ok(())
        }
        Command::Runs { pipeline } => {
            let lines = history::lines(&world, pipeline.as_deref())
                .await
                .map_err(|e| anyhow!(e))?;
            if out.json {
                return crate::commands::print_json(&serde_json::to_value(&lines)?);
            }
            print!("{}", history::table(&lines));
            Ok(())
        }
        Command::RunShow { run } => {
            let (path, record) = crate::verify::find_record(&world, &run)
                .await
                .map_err(|e| anyhow!(e))?;
            let unpublished = crate::publish::unpublished_reason(&world.store, &record).await;
            if out.json {
                // The record as stored, with what the pointer says of it.
                let mut doc = serde_json::to_value(&record)?;
                doc["record_path"] = path.clone().into();
                doc["published"] = record.published.into();
                doc["not_published_because"] = unpublished.clone().into();
                return crate::commands::print_json(&doc);
            }
            print!("{}", history::show(&path, &record, unpublished.as_deref()));
            Ok(())
        }
        Command::Resume { pipeline, run } => {
            let stop = runner::stop_on_signals(settings.grace_period);
            let progress = Arc::new(Progress::new(out.quiet, out.plain_logs));
            let launched =
                runner::resume(&world, &settings, &stop, progress.clone(), &pipeline, &run)
                    .await
                    .map_err(|e| anyhow!(e));
            progress.finish();
            let launched = launched?;
            println!("{}", launched.line());
            match launched {
                Launched::Recorded { record, .. }
                    if record.status == RunStatus::Succeeded && record.published =>
                {
                    for s in record
                        .steps
                        .iter()
                        .filter_map(|s| s.message.as_ref().map(|m| (&s.id, m)))
                    {
                        println!("  {:<28} {}", s.0, s.1);
                    }
                    Ok(())
                }
                Launched::Recorded { record, .. } => bail!(
                    "the resumed run {} {}: {}",
                    record.run_id,
                    history::status_name(record.status),
                    record.error.unwrap_or_default()
                ),
                Launched::Busy(_) => bail!("another run of {pipeline} holds the lease"),
            }
        }
        _ => bail!("not a scheduler command"),
    }
}

async fn schedule(world: &World, settings: &Settings, once: bool, out: Output) -> Result<()> {
    let stop = runner::stop_on_signals(settings.grace_period);
    let events: Arc<dyn Events> = Arc::new(Progress::new(out.quiet, true));
    let report = |line: &str| println!("{line}");
    if once {
        let outcome = runner::pass(world, settings, &stop, events, &report, true)
            .await
            .map_err(|e| anyhow!(e))?;
        if outcome.handled == 0 {
            println!("nothing due");
        }
        if let Some((_, what)) = runner::next_firing(world).await.map_err(|e| anyhow!(e))? {
            println!("next: {what}");
        }
        if stop.is_stopped() {
            bail!("interrupted by a signal");
        }
        // Exit code 1 when a run failed, so that cron, systemd or the CronJob shows it too.
        if outcome.unsuccessful > 0 {
            bail!(
                "{} scheduled run(s) did not succeed (see `boardpack runs`)",
                outcome.unsuccessful
            );
        }
        return Ok(());
    }
    if let Some((_, what)) = runner::next_firing(world).await.map_err(|e| anyhow!(e))? {
        println!(
            "scheduler started (looking every {} at most); next: {what}",
            format_duration(settings.tick)
        );
    } else {
        println!("scheduler started; no pipeline has a schedule");
    }
    runner::serve(world, settings, &stop, events, &report)
        .await
        .map_err(|e| anyhow!(e))?;
    println!("scheduler stopped");
    Ok(())
}
