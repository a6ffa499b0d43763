//! Starting runs as the scheduler does: under a lease, after readiness, with step retries, recorded with
//! their trigger, and notified. `pass` fires what is due once (`schedule --once`); `serve` repeats it
//! until a signal (`schedule`); `backfill` runs a range of periods; `resume` continues a failed run.
//!
//! Owns the scheduler's state on the store (`scheduler/state/<pipeline>.json`: the last firing handled,
//! for catch-up) and the records of runs that never reached `execute` (not ready, abandoned). Runs go
//! through `execute::run_with`; nothing here touches a run's outputs except deleting a resumed run's
//! checkpoints once the resume has published.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::control::{Resume, RetryPolicy, Reused, RunControl, StopSignal, checkpoint_path};
use super::lease::{self, Acquired, LeaseBody};
use super::{Calendar, NotifyConfig, Readiness, Schedule, Settings, containing, ready};
use crate::execute::{self, Events, RunOptions};
use crate::params::RunParams;
use crate::period::{Granularity, Period};
use crate::plan::{self, Plan, StepKind};
use crate::record::{
    ObjectRecord, RunLayout, RunRecord, RunStatus, StepStatus, Trigger, latest_pointer,
};
use crate::world::World;

/// How one run is to be started.
pub struct Launch {
    pub pipeline: String,
    pub period: Period,
    /// Parameters besides the period (a resume passes the failed run's).
    pub params: BTreeMap<String, String>,
    pub trigger: Trigger,
    /// Wait for the data until this deadline first (scheduled runs).
    pub readiness: Option<(Readiness, DateTime<Utc>)>,
    pub retry: RetryPolicy,
    pub resume: Option<Arc<Resume>>,
}

/// How a launch ended.
#[derive(Debug)]
pub enum Launched {
    /// The run ran (or failed readiness) and has this record.
    Recorded { record: RunRecord, path: String },
    /// Another run of the pipeline and period holds the lease.
    Busy(LeaseBody),
}

impl Launched {
    /// One line for people.
    pub fn line(&self) -> String {
        match self {
            Launched::Recorded { record: r, path } => format!(
                "{} {} {}{} (run {}, {}){}",
                r.pipeline,
                r.period,
                super::history::status_name(r.status),
                if r.published { " and published" } else { "" },
                r.run_id,
                path,
                r.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            Launched::Busy(b) => format!(
                "{} {}: run {} ({}) holds the lease until {}; not started twice",
                b.pipeline,
                b.period,
                b.run_id,
                b.holder,
                b.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
    }
}

/// Starts one run under the pipeline and period's lease.
pub async fn launch(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    l: Launch,
) -> Result<Launched, String> {
    // A fresh record of files read: the run records only its own pipeline's files.
    let world = world.fresh();
    let plan = plan::load_named(&world.project, &l.pipeline).map_err(|d| d.to_string())?;
    let period_text = l.period.to_string();
    let run_id = execute::new_run_id(world.clock.now());
    let started_at = world.clock.now();
    let (w, p, id, launch) = (&world, &plan, &run_id, &l);
    let leased = under_lease(
        &world,
        settings,
        &plan,
        &period_text,
        &run_id,
        l.trigger,
        stop,
        move |run_stop| async move {
            let outcome = run_leased(w, p, id, &run_stop, events, launch).await;
            (outcome, run_stop.is_stopped())
        },
    )
    .await?;
    let (outcome, stopped) = match leased {
        Ok(done) => done,
        Err(busy) => return Ok(Launched::Busy(busy)),
    };
    let (record, path) = match outcome {
        Ok(found) => found,
        Err(reason) => {
            // The run never reached `execute` (not ready, bad parameters): record why.
            let mut r = bare_record(&world, &plan, &period_text, &run_id, l.trigger, started_at);
            r.status = if stopped {
                RunStatus::Interrupted
            } else {
                RunStatus::Failed
            };
            r.error = Some(reason);
            r.resumed_from = l.resume.as_ref().map(|x| x.from_run_id.clone());
            let path = write_record(&world, &r).await?;
            (r, path)
        }
    };
    notify(&settings.notify, &record).await;
    Ok(Launched::Recorded { record, path })
}

/// Runs `work` under the lease of a pipeline and period: one run of them at a time, across processes and
/// machines. `Ok(Err(holder))` when another run holds the lease (nothing ran). The lease is renewed every
/// third of its life while `work` lives and released after; `work` is given a stop signal that fires on
/// `stop` or when the lease was lost (it went unrenewed past its expiry and another process took it over).
/// A dead holder's run found on the way is recorded as abandoned.
#[allow(clippy::too_many_arguments)]
pub async fn under_lease<T, F, Fut>(
    world: &World,
    settings: &Settings,
    plan: &Plan,
    period: &str,
    run_id: &str,
    trigger: Trigger,
    stop: &StopSignal,
    work: F,
) -> Result<Result<T, LeaseBody>, String>
where
    F: FnOnce(StopSignal) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let ttl = settings.lease_ttl;
    let acquired = lease::acquire(
        &world.store,
        &plan.name,
        period,
        run_id,
        trigger,
        world.clock.now(),
        ttl,
    )
    .await
    .map_err(|e| format!("taking the lease of {} {period}: {e}", plan.name))?;
    let lease = match acquired {
        Acquired::Busy(b) => return Ok(Err(b)),
        Acquired::Held { lease, expired } => {
            if let Some(dead) = expired {
                record_abandoned(world, settings, plan, &dead).await;
            }
            lease
        }
    };
    let run_stop = StopSignal::new(settings.grace_period);
    let follower = {
        let (parent, run_stop) = (stop.clone(), run_stop.clone());
        tokio::spawn(async move {
            parent.stopped().await;
            run_stop.stop();
        })
    };
    let lease = Arc::new(tokio::sync::Mutex::new(lease));
    let renewer = {
        let lease = lease.clone();
        let clock = world.clock.clone();
        let run_stop = run_stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let renewed = lease.lock().await.renew(clock.now(), ttl).await;
                match renewed {
                    Ok(lease::Renewal::Renewed) => {}
                    Ok(lease::Renewal::Lost) => {
                        tracing::error!(
                            "the lease of run {} was taken over by another process: stopping the run",
                            lease.lock().await.body.run_id
                        );
                        run_stop.stop();
                        return;
                    }
                    Err(e) => tracing::warn!("renewing the lease (tried again shortly): {e}"),
                }
            }
        })
    };
    let done = work(run_stop).await;
    renewer.abort();
    follower.abort();
    let lease = lease.lock().await.clone();
    if let Err(e) = lease.release(world.clock.now()).await {
        tracing::warn!("releasing the lease: {e}");
    }
    Ok(Ok(done))
}

/// Waits for readiness and runs; `Err` only when the run never started.
async fn run_leased(
    world: &World,
    plan: &Plan,
    run_id: &str,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    l: &Launch,
) -> Result<(RunRecord, String), String> {
    if let Some((readiness, deadline)) = &l.readiness {
        ready::wait(world, plan, &l.period, readiness, *deadline, Some(stop)).await?;
    }
    let mut given = l.params.clone();
    given.insert("period".into(), l.period.to_string());
    let params = RunParams::bind(plan, &given).map_err(|e| e.to_string())?;
    let options = RunOptions {
        trigger: l.trigger,
        run_id: Some(run_id.to_string()),
        control: RunControl {
            retry: l.retry.clone(),
            stop: Some(stop.clone()),
            resume: l.resume.clone(),
            selection: None,
        },
        ..Default::default()
    };
    let path = RunLayout::new(&plan.name, &l.period.to_string(), run_id).record();
    match execute::run_with(world, plan, &params, events, &options).await {
        Ok(outcome) => Ok((outcome.record, outcome.record_path)),
        Err(failure) => {
            // `execute` wrote the failed run's record; read it back for the caller and the notification.
            let written = match &failure.record_path {
                Some(p) => world.store.get(p).await.ok(),
                None => None,
            };
            match written.and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok()) {
                // A run that succeeded but could not be published says why it is not.
                Some(mut r) => {
                    r.error.get_or_insert(failure.message);
                    Ok((r, path))
                }
                None => Err(failure.message),
            }
        }
    }
}

/// A record for a run that did not get as far as `execute`.
fn bare_record(
    world: &World,
    plan: &Plan,
    period: &str,
    run_id: &str,
    trigger: Trigger,
    started_at: DateTime<Utc>,
) -> RunRecord {
    let now = world.clock.now();
    let mut record = RunRecord::begin(
        run_id,
        &plan.name,
        &plan.file.display().to_string(),
        period,
        serde_json::json!({ "period": period }),
        started_at,
        world.store.display_root(),
        trigger,
    );
    record.files = world.project.files_read();
    record.finished_at = now;
    record.duration_ms = (now - started_at).num_milliseconds().max(0) as u64;
    record
}

async fn write_record(world: &World, r: &RunRecord) -> Result<String, String> {
    let path = RunLayout::new(&r.pipeline, &r.period, &r.run_id).record();
    let body = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
    world
        .store
        .put_new(&path, Bytes::from(body))
        .await
        .map_err(|e| format!("writing the run record: {e}"))?;
    Ok(path)
}

/// Records the run of an expired, unreleased lease as abandoned, unless it left a record, and removes
/// what it had staged (nothing of it was published; its record says what became of it).
async fn record_abandoned(world: &World, settings: &Settings, plan: &Plan, dead: &LeaseBody) {
    let layout = RunLayout::new(&dead.pipeline, &dead.period, &dead.run_id);
    let path = layout.record();
    if world.store.exists(&path).await.unwrap_or(true) {
        return;
    }
    let staged = world.store.list(&layout.prefix).await.unwrap_or_default();
    for o in &staged {
        if let Err(e) = world.store.delete(&o.path).await {
            tracing::warn!(
                "removing `{}`, staged by abandoned run {}: {e}",
                o.path,
                dead.run_id
            );
        }
    }
    if !staged.is_empty() {
        tracing::info!(
            "removed {} object(s) staged by abandoned run {} under {}",
            staged.len(),
            dead.run_id,
            layout.prefix
        );
    }
    let mut r = bare_record(
        world,
        plan,
        &dead.period,
        &dead.run_id,
        dead.trigger,
        dead.acquired_at,
    );
    r.status = RunStatus::Abandoned;
    r.finished_at = dead.expires_at;
    r.duration_ms = (dead.expires_at - dead.acquired_at)
        .num_milliseconds()
        .max(0) as u64;
    r.files.clear();
    r.error = Some(format!(
        "the process holding the lease ({}) stopped without finishing; its lease expired at {}",
        dead.holder,
        dead.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    match write_record(world, &r).await {
        Ok(p) => {
            tracing::warn!("run {} recorded as abandoned ({p})", r.run_id);
            notify(&settings.notify, &r).await;
            // Its START was sent by the process that died: monitoring hears how it ended from here.
            if let Ok(period) = dead.period.parse::<crate::period::Period>() {
                crate::execute::observe_end(world, plan, &period, &r, r.error.as_deref()).await;
            }
        }
        Err(e) => tracing::warn!("recording run {} as abandoned: {e}", r.run_id),
    }
}

/// Whether a pipeline's period has a published run.
pub async fn published(world: &World, pipeline: &str, period: &str) -> Result<bool, String> {
    world
        .store
        .exists(&latest_pointer(pipeline, period))
        .await
        .map_err(|e| e.to_string())
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// The last firing handled (run, found published, or skipped as too old).
    last_firing: DateTime<Utc>,
}

fn state_path(pipeline: &str) -> String {
    format!("scheduler/state/{pipeline}.json")
}

async fn read_state(world: &World, pipeline: &str) -> Option<State> {
    let bytes = world.store.get(&state_path(pipeline)).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn write_state(world: &World, pipeline: &str, last_firing: DateTime<Utc>) {
    let body = serde_json::to_vec_pretty(&State { last_firing }).unwrap_or_default();
    if let Err(e) = world
        .store
        .put(&state_path(pipeline), Bytes::from(body))
        .await
    {
        tracing::warn!("saving the scheduler's state of {pipeline}: {e}");
    }
}

/// One pass: for every scheduled pipeline, the firings due since the last pass (or, on a first start,
/// within the catch-up window), at most `catch_up_limit` of them, oldest first; each builds its period
/// unless it is published already.
///
/// `once` (`schedule --once`, under cron or a CronJob) never waits for data: a firing whose data has not
/// landed is left for the next pass until its readiness deadline, then fails with what is missing. The
/// long-lived scheduler waits, polling, within the pass.
pub async fn pass(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    report: &(dyn Fn(&str) + Sync),
    once: bool,
) -> Result<PassOutcome, String> {
    let calendar = Calendar::load(
        &world.project,
        world.config.scheduler.bank_holidays.as_deref(),
    )?;
    if !settings.dry_run {
        sweep_abandoned(world, settings).await;
    }
    let mut scheduled = Vec::new();
    for file in world.project.pipeline_files() {
        let plan = match plan::load(&world.project, &file) {
            Ok(p) => p,
            Err(d) => {
                report(&format!(
                    "{file}: invalid ({} error(s)); run `boardpack validate`",
                    d.len()
                ));
                continue;
            }
        };
        let Some(raw) = &plan.schedule else {
            continue;
        };
        let schedule = Schedule::parse(raw).map_err(|e| format!("{file}: {}", e.join("; ")))?;
        scheduled.push((plan, schedule));
    }
    // Pipelines side by side: one waiting for its data does not hold up another's firing.
    let passes = scheduled.iter().map(|(plan, schedule)| {
        pipeline_pass(
            world,
            settings,
            stop,
            events.clone(),
            report,
            once,
            &calendar,
            plan,
            schedule,
        )
    });
    // A pipeline that cannot be scheduled (a working day in a year without bank holidays, a store
    // error) is reported and does not stop the others; the pass still fails, so that cron notices.
    let mut total = PassOutcome::default();
    let mut errors = Vec::new();
    for r in futures::future::join_all(passes).await {
        match r {
            Ok(o) => {
                total.handled += o.handled;
                total.unsuccessful += o.unsuccessful;
            }
            Err(e) => {
                report(&format!("error: {e}"));
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(total)
    } else {
        Err(errors.join("; "))
    }
}

/// One pipeline's part of a pass: its due firings, oldest first.
#[allow(clippy::too_many_arguments)]
async fn pipeline_pass(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    report: &(dyn Fn(&str) + Sync),
    once: bool,
    calendar: &Calendar,
    plan: &Plan,
    schedule: &Schedule,
) -> Result<PassOutcome, String> {
    let now = world.clock.now();
    let mut outcome = PassOutcome::default();
    let since = match read_state(world, &plan.name).await {
        Some(s) => s.last_firing,
        None => now - chrono::Duration::from_std(settings.catch_up_window).unwrap_or_default(),
    };
    let mut due = schedule
        .firings_between(since, now, calendar)
        .map_err(|e| format!("{}: {e}", plan.name))?;
    if due.len() > settings.catch_up_limit {
        let skipped = due.len() - settings.catch_up_limit;
        report(&format!(
            "{}: {skipped} older missed firing(s) not caught up (catch_up_limit {}); backfill them if needed",
            plan.name, settings.catch_up_limit
        ));
        due.drain(..skipped);
    }
    for firing in due {
        if stop.is_stopped() {
            break;
        }
        let period = schedule.period_for(firing);
        let when = schedule.local(firing);
        if published(world, &plan.name, &period.to_string()).await? {
            report(&format!(
                "{} {period}: firing of {when}: already published",
                plan.name
            ));
            if !settings.dry_run {
                write_state(world, &plan.name, firing).await;
            }
            continue;
        }
        let deadline =
            firing + chrono::Duration::from_std(schedule.ready.deadline).unwrap_or_default();
        let waiting = world.clock.now() < deadline;
        if (once && waiting) || settings.dry_run {
            let missing = ready::missing(world, plan, &period, &schedule.ready).await?;
            if !missing.is_empty() && !waiting {
                // Only a dry run gets here: a real one would wait no more and fail with this.
                report(&format!(
                    "{} {period}: firing of {when}: would fail, past its readiness deadline: {}",
                    plan.name,
                    missing.join("; ")
                ));
                outcome.handled += 1;
                continue;
            }
            if !missing.is_empty() {
                report(&format!(
                    "{} {period}: firing of {when}: waiting for data ({}); looked for again next pass, until {}",
                    plan.name,
                    missing.join("; "),
                    schedule.local(deadline)
                ));
                break;
            }
        }
        if settings.dry_run {
            let held = lease::current(&world.store, &plan.name, &period.to_string())
                .await
                .map_err(|e| e.to_string())?
                .map(|(_, b)| b)
                .filter(|b| b.live(world.clock.now()));
            report(&match held {
                Some(b) => format!(
                    "{} {period}: firing of {when}: would wait: run {} holds the lease until {}",
                    plan.name,
                    b.run_id,
                    b.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => format!("{} {period}: firing of {when}: would run", plan.name),
            });
            outcome.handled += 1;
            continue;
        }
        let launched = launch(
            world,
            settings,
            stop,
            events.clone(),
            Launch {
                pipeline: plan.name.clone(),
                period,
                params: BTreeMap::new(),
                trigger: Trigger::Schedule,
                readiness: Some((schedule.ready.clone(), deadline)),
                retry: schedule.retry.clone(),
                resume: None,
            },
        )
        .await?;
        report(&format!("firing of {when}: {}", launched.line()));
        outcome.handled += 1;
        match launched {
            // Another process runs it: look again next pass (it may die; its lease will expire).
            Launched::Busy(_) => break,
            Launched::Recorded { record, .. } => {
                if record.status != RunStatus::Succeeded || !record.published {
                    outcome.unsuccessful += 1;
                }
                if record.status == RunStatus::Interrupted {
                    // Not handled: the next start fires it again.
                    break;
                }
                write_state(world, &plan.name, firing).await;
            }
        }
    }
    Ok(outcome)
}

/// What a pass did: firings run (or found held by another run), and how many of those runs did not
/// succeed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassOutcome {
    pub handled: usize,
    pub unsuccessful: usize,
}

/// A run of `pipeline` killed before it wrote its record, found by what it staged under
/// `runs/<pipeline>/<period>/<run>/` or by the lease it held: recorded as abandoned now (its staged
/// objects removed), so that `run --resume` starts from it. `None` when nothing of the run is found; an
/// error while its lease is live (it may still be running on another machine).
async fn record_killed(
    world: &World,
    settings: &Settings,
    pipeline: &str,
    run: &str,
) -> Result<Option<RunRecord>, String> {
    let now = world.clock.now();
    let staged_period = world
        .store
        .list(&format!("runs/{pipeline}"))
        .await
        .map_err(|e| format!("listing runs: {e}"))?
        .iter()
        .find_map(|o| {
            // runs/<pipeline>/<period>/<run>/…
            let parts: Vec<&str> = o.path.split('/').collect();
            (parts.len() > 4 && parts[3] == run).then(|| parts[2].to_string())
        });
    let mut lease_of_run = None;
    let leases = world
        .store
        .list(&format!("leases/{pipeline}"))
        .await
        .map_err(|e| format!("listing leases: {e}"))?;
    let periods: std::collections::BTreeSet<&str> = leases
        .iter()
        .filter_map(|o| o.path.split('/').nth(2))
        .collect();
    for period in periods {
        if let Ok(Some((_, body))) = lease::current(&world.store, pipeline, period).await
            && body.run_id == run
        {
            lease_of_run = Some(body);
        }
    }
    if let Some(body) = &lease_of_run
        && body.live(now)
    {
        return Err(format!(
            "run {run} has no record yet: it holds the lease of {pipeline} {} until {} ({}), so it may \
             still be running; if it was killed, resume it once the lease has expired",
            body.period,
            body.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
            body.holder
        ));
    }
    let dead = match (lease_of_run, staged_period) {
        (Some(body), _) => body,
        (None, Some(period)) => LeaseBody {
            pipeline: pipeline.to_string(),
            period,
            run_id: run.to_string(),
            trigger: Trigger::Manual,
            holder: "unknown (no lease left)".into(),
            acquired_at: now,
            expires_at: now,
            released: true,
        },
        (None, None) => return Ok(None),
    };
    let plan = plan::load_named(&world.project, pipeline).map_err(|d| d.to_string())?;
    record_abandoned(world, settings, &plan, &dead).await;
    let path = RunLayout::new(pipeline, &dead.period, run).record();
    let bytes =
        world.store.get(&path).await.map_err(|e| {
            format!("run {run} was killed and could not be recorded as abandoned: {e}")
        })?;
    let record: RunRecord =
        serde_json::from_slice(&bytes).map_err(|e| format!("`{path}` is not a run record: {e}"))?;
    tracing::warn!(
        "run {run} was killed before it wrote its record: recorded as abandoned ({path}); nothing of it \
         can be reused, every step runs again"
    );
    Ok(Some(record))
}

/// Records as abandoned the runs whose leases expired unreleased (their process died), and frees them.
async fn sweep_abandoned(world: &World, settings: &Settings) {
    let now = world.clock.now();
    let Ok(listed) = world.store.list("leases").await else {
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for o in listed {
        // leases/<pipeline>/<period>/<generation>.json
        let parts: Vec<&str> = o.path.split('/').collect();
        let [_, pipeline, period, _] = parts.as_slice() else {
            continue;
        };
        if !seen.insert((pipeline.to_string(), period.to_string())) {
            continue;
        }
        let Ok(Some((_, body))) = lease::current(&world.store, pipeline, period).await else {
            continue;
        };
        if body.released || body.live(now) {
            continue;
        }
        let Ok(plan) = plan::load_named(&world.project, pipeline) else {
            continue;
        };
        let sweeper = format!("sweep-{}", execute::new_run_id(now));
        if let Ok(Acquired::Held { lease, expired }) = lease::acquire(
            &world.store,
            pipeline,
            period,
            &sweeper,
            body.trigger,
            now,
            settings.lease_ttl,
        )
        .await
        {
            if let Some(dead) = expired {
                record_abandoned(world, settings, &plan, &dead).await;
            }
            let _ = lease.release(now).await;
        }
    }
}

/// The scheduler as a long-lived process: a pass, then sleep until the next firing (or `tick`, to pick
/// up edited pipelines), until a signal.
pub async fn serve(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    report: &(dyn Fn(&str) + Sync),
) -> Result<(), String> {
    loop {
        // A pass that fails (a store that cannot be reached) is retried at the next tick: the long-lived
        // scheduler outlives passing faults.
        if let Err(e) = pass(world, settings, stop, events.clone(), report, false).await {
            tracing::error!("scheduler pass: {e}");
        }
        if stop.is_stopped() {
            return Ok(());
        }
        let now = world.clock.now();
        let next = next_firing(world).await.ok().flatten();
        let nap = match next {
            Some((t, _)) => (t - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(settings.tick),
            None => settings.tick,
        }
        .max(Duration::from_millis(200));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = stop.stopped() => return Ok(()),
        }
    }
}

/// The next firing of any scheduled pipeline: (when, what).
pub async fn next_firing(world: &World) -> Result<Option<(DateTime<Utc>, String)>, String> {
    Ok(next_firings(world)
        .await?
        .into_values()
        .min_by_key(|(t, _)| *t))
}

/// Each scheduled pipeline's next firing after now, by pipeline name: when (UTC) and, for people, the
/// pipeline, the period it builds and the time in the schedule's own time zone.
pub async fn next_firings(
    world: &World,
) -> Result<BTreeMap<String, (DateTime<Utc>, String)>, String> {
    let calendar = Calendar::load(
        &world.project,
        world.config.scheduler.bank_holidays.as_deref(),
    )?;
    let now = world.clock.now();
    let mut out = BTreeMap::new();
    for file in world.project.pipeline_files() {
        let Ok(plan) = plan::load(&world.project, &file) else {
            continue;
        };
        let Some(raw) = &plan.schedule else { continue };
        let Ok(s) = Schedule::parse(raw) else {
            continue;
        };
        if let Some(t) = s.next_after(now, &calendar)? {
            let what = format!("{} {} at {}", plan.name, s.period_for(t), s.local(t));
            out.insert(plan.name.clone(), (t, what));
        }
    }
    Ok(out)
}

/// The periods of a backfill: those of the pipeline's granularity lying wholly within `from..to`.
pub fn backfill_periods(plan: &Plan, from: Period, to: Period) -> Result<Vec<Period>, String> {
    let granularity = plan
        .schedule
        .as_ref()
        .and_then(|s| Schedule::parse(s).ok())
        .map(|s| s.builds.granularity())
        .or_else(|| {
            plan.period_parameter()
                .and_then(|p| p.granularities.first().copied())
        })
        .unwrap_or(Granularity::Month);
    let (first, last) = (from.first_month(), to.last_month());
    if last < first {
        return Err(format!("--to {to} is before --from {from}"));
    }
    let mut out: Vec<Period> = Vec::new();
    for m in first.through(last) {
        let p = containing(m, granularity);
        if p.first_month() >= first && p.last_month() <= last && !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no whole {} lies between {from} and {to}",
            format!("{granularity:?}").to_lowercase()
        ));
    }
    Ok(out)
}

/// Runs a range of periods, `jobs` at a time, skipping published ones unless `force`. Returns the
/// number of runs that did not succeed.
#[allow(clippy::too_many_arguments)]
pub async fn backfill(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    pipeline: &str,
    periods: &[Period],
    force: bool,
    jobs: usize,
    report: &(dyn Fn(&str) + Sync),
) -> Result<usize, String> {
    let plan = plan::load_named(&world.project, pipeline).map_err(|d| d.to_string())?;
    let retry = plan
        .schedule
        .as_ref()
        .and_then(|s| Schedule::parse(s).ok())
        .map(|s| s.retry)
        .unwrap_or_default();
    let mut todo = Vec::new();
    for p in periods {
        if !force && published(world, &plan.name, &p.to_string()).await? {
            report(&format!(
                "{} {p}: already published, skipped (--force to rebuild)",
                plan.name
            ));
        } else {
            todo.push(*p);
        }
    }
    let mut results: Vec<(Period, Result<Launched, String>)> = futures::stream::iter(todo)
        .map(|period| {
            let events = events.clone();
            let retry = retry.clone();
            async move {
                if stop.is_stopped() {
                    return (
                        period,
                        Err(format!("{pipeline} {period}: not started (interrupted)")),
                    );
                }
                let launched = launch(
                    world,
                    settings,
                    stop,
                    events,
                    Launch {
                        pipeline: pipeline.to_string(),
                        period,
                        params: BTreeMap::new(),
                        trigger: Trigger::Backfill,
                        readiness: None,
                        retry,
                        resume: None,
                    },
                )
                .await;
                (period, launched)
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    // Reported in period order, whatever order they finished in.
    results.sort_by_key(|(p, _)| (p.first_month(), p.last_month()));
    let mut failed = 0;
    for (_, r) in results {
        match r {
            Ok(l) => {
                if !matches!(&l, Launched::Recorded { record, .. } if record.status == RunStatus::Succeeded && record.published)
                {
                    failed += 1;
                }
                report(&l.line());
            }
            Err(e) => {
                failed += 1;
                report(&e);
            }
        }
    }
    Ok(failed)
}

/// Continues a failed run: a new run (trigger `resume`) of the same pipeline, period and parameters that
/// reuses the tables of the failed run's succeeded SQL steps — each only if its SQL file is unchanged,
/// every SQL step it reads is reused too, and its checkpoint still has the recorded SHA-256 — and runs
/// the rest. Refused when the input objects changed since the failed run.
pub async fn resume(
    world: &World,
    settings: &Settings,
    stop: &StopSignal,
    events: Arc<dyn Events>,
    pipeline: &str,
    run: &str,
) -> Result<Launched, String> {
    let failed = match crate::verify::find_record(world, run).await {
        Ok((_, r)) => r,
        // A run killed outright left no record: found by what it left, it is recorded now.
        Err(not_found) => match record_killed(world, settings, pipeline, run).await? {
            Some(r) => r,
            None => return Err(not_found),
        },
    };
    if failed.pipeline != pipeline {
        return Err(format!(
            "run {} is of pipeline `{}`, not `{pipeline}`",
            failed.run_id, failed.pipeline
        ));
    }
    if failed.status == RunStatus::Succeeded {
        return Err(format!(
            "run {} succeeded: there is nothing to resume (run afresh to rebuild)",
            failed.run_id
        ));
    }
    let period: Period = failed.period.parse().map_err(|e| format!("{e}"))?;
    let fresh = world.fresh();
    let plan = plan::load_named(&fresh.project, pipeline).map_err(|d| d.to_string())?;
    let files_now = fresh.project.files_read();

    // The data must be what the failed run read: same objects, same bytes.
    for input in &failed.inputs {
        for o in &input.objects {
            let now = fresh.store.digest(&o.path).await.ok();
            if now.as_ref().map(|(_, sha)| sha) != Some(&o.sha256) {
                return Err(format!(
                    "input `{}` changed since run {} (`{}`): resuming would mix data; run afresh",
                    input.name, failed.run_id, o.path
                ));
            }
        }
    }

    let mut steps: BTreeMap<String, Reused> = BTreeMap::new();
    for step in &plan.steps {
        let StepKind::Sql { file, .. } = &step.kind else {
            continue;
        };
        let Some(rec) = failed.steps.iter().find(|s| s.id == step.id) else {
            continue;
        };
        let [table] = rec.outputs.as_slice() else {
            continue;
        };
        let same_sql =
            failed.files.get(file).is_some() && failed.files.get(file) == files_now.get(file);
        let deps_reused = step.depends_on.iter().all(|d| {
            steps.contains_key(d)
                || !plan
                    .steps
                    .iter()
                    .any(|s| &s.id == d && matches!(s.kind, StepKind::Sql { .. }))
        });
        let checkpoint =
            checkpoint_path(&failed.pipeline, &failed.period, &failed.run_id, &step.id);
        if matches!(rec.status, StepStatus::Succeeded | StepStatus::Warned)
            && same_sql
            && deps_reused
            && fresh.store.exists(&checkpoint).await.unwrap_or(false)
        {
            steps.insert(
                step.id.clone(),
                Reused::checkpoint(
                    &failed.run_id,
                    &step.id,
                    ObjectRecord {
                        path: checkpoint,
                        size: table.size,
                        sha256: table.sha256.clone(),
                    },
                    rec.rows,
                ),
            );
        }
    }
    tracing::info!(
        "resuming run {}: reusing {} step(s) ({})",
        failed.run_id,
        steps.len(),
        steps.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    let mut params = failed.given_parameters();
    params.remove("period");
    let retry = plan
        .schedule
        .as_ref()
        .and_then(|s| Schedule::parse(s).ok())
        .map(|s| s.retry)
        .unwrap_or_default();
    let launched = launch(
        world,
        settings,
        stop,
        events,
        Launch {
            pipeline: pipeline.to_string(),
            period,
            params,
            trigger: Trigger::Resume,
            readiness: None,
            retry,
            resume: Some(Arc::new(Resume {
                from_run_id: failed.run_id.clone(),
                steps,
            })),
        },
    )
    .await?;
    if let Launched::Recorded { record, .. } = &launched
        && record.status == RunStatus::Succeeded
    {
        // Published: the failed run's checkpoints have served.
        let prefix = format!(
            "checkpoints/{}/{}/{}",
            failed.pipeline, failed.period, failed.run_id
        );
        for o in fresh.store.list(&prefix).await.unwrap_or_default() {
            let _ = fresh.store.delete(&o.path).await;
        }
    }
    Ok(launched)
}

/// A stop signal set by SIGTERM or SIGINT (Ctrl-C); a second signal exits at once.
pub fn stop_on_signals(grace: Duration) -> StopSignal {
    let stop = StopSignal::new(grace);
    let s = stop.clone();
    tokio::spawn(async move {
        let mut signals = 0;
        loop {
            wait_for_signal().await;
            signals += 1;
            if signals > 1 {
                tracing::error!("second signal: exiting now");
                std::process::exit(130);
            }
            tracing::warn!(
                "signal received: no new step starts; steps running have {} to finish; a run in progress releases its lease and is recorded as interrupted",
                super::format_duration(grace)
            );
            s.stop();
        }
    });
    stop
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sends a finished run's record where the configuration says: failures, interruptions and abandoned runs
/// always, successes when `on_success`. A notification that fails is logged, never fatal.
pub async fn notify(config: &NotifyConfig, record: &RunRecord) {
    if record.status == RunStatus::Succeeded && !config.on_success {
        return;
    }
    let Ok(body) = serde_json::to_vec_pretty(record) else {
        return;
    };
    if let [program, args @ ..] = config.command.as_slice() {
        let (program, args) = (program.clone(), args.to_vec());
        let body = body.clone();
        // A cleared environment: the command gets only what the configuration passes it.
        let run = [
            ("BOARDPACK_RUN_ID", record.run_id.clone()),
            ("BOARDPACK_PIPELINE", record.pipeline.clone()),
            ("BOARDPACK_PERIOD", record.period.clone()),
            (
                "BOARDPACK_RUN_STATUS",
                super::history::status_name(record.status).to_string(),
            ),
        ];
        let env = config.command_env(|k| std::env::var(k).ok(), run);
        let result =
            tokio::task::spawn_blocking(move || -> std::io::Result<std::process::ExitStatus> {
                use std::io::Write;
                let mut child = std::process::Command::new(&program)
                    .args(&args)
                    .env_clear()
                    .envs(env)
                    .stdin(std::process::Stdio::piped())
                    .spawn()?;
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(&body);
                }
                child.wait()
            })
            .await;
        match result {
            Ok(Ok(status)) if status.success() => {
                tracing::info!("notified: `{}`", config.command[0])
            }
            Ok(Ok(status)) => tracing::warn!(
                "the notification command `{}` exited with {status}",
                config.command[0]
            ),
            Ok(Err(e)) => tracing::warn!(
                "the notification command `{}` could not run: {e}",
                config.command[0]
            ),
            Err(e) => tracing::warn!("the notification command stopped: {e}"),
        }
    }
    let url = config
        .url_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok())
        .filter(|u| !u.is_empty())
        .or_else(|| config.url.clone());
    if let Some(url) = url {
        let shown = redact(&url);
        let sent = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(30))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => tracing::info!("notified {shown}"),
            Ok(r) => tracing::warn!("notifying {shown}: HTTP {}", r.status()),
            // `without_url`: the error must not print the URL, which may hold a token.
            Err(e) => tracing::warn!("notifying {shown}: {}", e.without_url()),
        }
    }
}

/// A URL as it may be logged: scheme and host only (paths and queries often carry tokens).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("(no host)")),
        Err(_) => "(the configured URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_their_secrets() {
        assert_eq!(
            redact("https://hooks.example.org/services/T000/B000/XXXXSECRET?token=abc"),
            "https://hooks.example.org/…"
        );
        assert_eq!(redact("not a url"), "(the configured URL)");
    }
}
