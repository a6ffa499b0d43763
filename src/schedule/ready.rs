//! Readiness: whether a period's data has landed on the store, and waiting for it.
//!
//! Ready means every required input the pipeline reads has at least one Parquet object in each month
//! partition its `period_months:` rule needs, less the months it `may_lag:` (an unpartitioned input: any
//! object), each input named in `min_rows` has at
//! least that many rows in those months (from the Parquet footers), and every marker object exists.
//! Owns these checks only; it reads the store and the clock, and writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Readiness;
use super::control::StopSignal;
use crate::engine::MONTH_COLUMN;
use crate::period::Period;
use crate::plan::Plan;
use crate::world::World;

/// What is still missing for a period (empty when ready).
pub async fn missing(
    world: &World,
    plan: &Plan,
    period: &Period,
    ready: &Readiness,
) -> Result<Vec<String>, String> {
    let read: std::collections::BTreeSet<&str> = plan
        .steps
        .iter()
        .flat_map(|s| s.inputs.iter().map(String::as_str))
        .collect();
    let mut missing = Vec::new();
    for input in plan
        .inputs
        .iter()
        .filter(|i| read.contains(i.name.as_str()))
    {
        // The months the run would refuse to go without: by the input's `period_months:`, less the months
        // it may lag by (a run publishes without those, the gap stated). `any`: each month of the period,
        // one of which is enough.
        let any = input.period_months == crate::plan::PeriodMonths::Any;
        let months = if any {
            period.months()
        } else {
            input.required_months(&period.months())
        };
        let mut any_found = false;
        let prefixes: Vec<(String, String)> = if input.partitioned_by_month {
            months
                .iter()
                .map(|m| {
                    (
                        format!("{}/{MONTH_COLUMN}={m}/", input.location),
                        format!("`{}` has no data for {m}", input.name),
                    )
                })
                .collect()
        } else {
            vec![(
                format!("{}/", input.location),
                format!("`{}` has no data", input.name),
            )]
        };
        let minimum = ready.min_rows.get(&input.name).copied();
        let mut rows = 0u64;
        for (prefix, absent) in prefixes {
            let objects: Vec<_> = world
                .store
                .list(&prefix)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|o| o.path.ends_with(".parquet"))
                .collect();
            if objects.is_empty() {
                if (input.required || minimum.is_some()) && !any {
                    missing.push(absent);
                }
                continue;
            }
            any_found = true;
            if minimum.is_some() {
                for o in &objects {
                    rows += crate::audit::parquet_rows(&world.store, &o.path, o.size).await?;
                }
            }
        }
        if any && !any_found && (input.required || minimum.is_some()) {
            missing.push(format!(
                "`{}` has no data for any month of the period",
                input.name
            ));
        }
        if let Some(min) = minimum
            && rows < min
        {
            missing.push(format!(
                "`{}` has {rows} row(s) for {period}, fewer than the {min} required",
                input.name
            ));
        }
    }
    let last = period.last_month().to_string();
    for marker in &ready.markers {
        let path = marker
            .replace("{period}", &period.to_string())
            .replace("{month}", &last);
        if !world.store.exists(&path).await.map_err(|e| e.to_string())? {
            missing.push(format!("marker `{path}` is not on the store"));
        }
    }
    Ok(missing)
}

/// Waits until the period is ready, looking again every `ready.poll`, until `deadline`; past it, fails
/// with what is still missing. A stop signal ends the wait.
pub async fn wait(
    world: &World,
    plan: &Plan,
    period: &Period,
    ready: &Readiness,
    deadline: DateTime<Utc>,
    stop: Option<&StopSignal>,
) -> Result<(), String> {
    let mut first = true;
    loop {
        let missing = missing(world, plan, period, ready).await?;
        if missing.is_empty() {
            return Ok(());
        }
        let now = world.clock.now();
        if now >= deadline {
            return Err(format!(
                "the data for {period} had not landed by the readiness deadline {}: {}",
                deadline.format("%Y-%m-%d %H:%M UTC"),
                missing.join("; ")
            ));
        }
        if first {
            tracing::info!(
                "{} {period}: waiting for data ({}), looking again every {}",
                plan.name,
                missing.join("; "),
                super::format_duration(ready.poll)
            );
            first = false;
        }
        let left = (deadline - now).to_std().unwrap_or(Duration::ZERO);
        let nap = ready.poll.min(left).max(Duration::from_millis(1));
        match stop {
            Some(s) => {
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = s.stopped() => return Err("interrupted while waiting for data (by a signal, or because the run's lease was taken over)".into()),
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}
