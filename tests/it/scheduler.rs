//! The scheduler through its public interface: passes driven by a fixed clock (no sleeping through real
//! time except short readiness polls), on the small `waits` pipeline with a schedule added: readiness,
//! deadlines, leases between two schedulers, abandoned runs, catch-up, retries with a step timeout,
//! resume, backfill, interruption, and the `schedule`, `runs` and `backfill` commands.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boardpack::execute::Silent;
use boardpack::record::{RunRecord, RunStatus, StepStatus, Trigger};
use boardpack::schedule::control::StopSignal;
use boardpack::schedule::runner::{self, Launch, Launched};
use boardpack::schedule::{Settings, history, lease};
use boardpack::world::{FixedClock, World};
use chrono::{DateTime, TimeZone, Utc};

use crate::pipeline::{PIPELINE, project, visits};
use crate::support::{TestProject, boardpack_output, run_period, write_parquet};

/// 07:00 London time on the 1st of each month, for the month before; data looked for every 50 ms.
const SCHEDULE: &str = r#"
schedule:
  cron: "0 7 1 * *"
  timezone: Europe/London
  builds: previous-month
  ready: { poll: 50ms, deadline: 1h }
  retries: 1
  retry_backoff: 10ms
"#;

/// The `waits` project with its schedule; `scheduler` is the `scheduler:` section of the configuration
/// (by default a first pass looks back one day).
fn scheduled(scheduler: &str) -> TestProject {
    let p = project();
    p.write("pipelines/waits.yaml", &format!("{PIPELINE}{SCHEDULE}"));
    let scheduler = if scheduler.is_empty() {
        "  catch_up_window: 1d\n"
    } else {
        scheduler
    };
    p.write("config/boardpack.yaml", &format!("scheduler:\n{scheduler}"));
    p
}

fn month(p: &TestProject, m: &str) {
    write_parquet(
        p,
        &format!("inputs/visits/month={m}/part-0.parquet"),
        &visits(&[
            (&*format!("{m}-a"), "Cardiology", 10),
            (&*format!("{m}-b"), "Dermatology", 40),
        ]),
    );
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn at(p: &TestProject, t: DateTime<Utc>) -> World {
    p.world().with_clock(Arc::new(FixedClock(t)))
}

fn settings(w: &World) -> Settings {
    Settings::from_config(&w.config.scheduler).unwrap()
}

/// Runs one pass of the long-lived scheduler (waiting for data); returns its lines.
async fn pass(w: &World, stop: &StopSignal) -> Vec<String> {
    pass_as(w, stop, false).await
}

async fn pass_as(w: &World, stop: &StopSignal, once: bool) -> Vec<String> {
    let lines = Mutex::new(Vec::new());
    runner::pass(
        w,
        &settings(w),
        stop,
        Arc::new(Silent),
        &|l: &str| lines.lock().unwrap().push(l.to_string()),
        once,
    )
    .await
    .expect("the pass runs");
    lines.into_inner().unwrap()
}

async fn records(w: &World) -> Vec<RunRecord> {
    history::records(w, None).await.unwrap()
}

fn stop() -> StopSignal {
    StopSignal::new(Duration::from_secs(5))
}

#[tokio::test]
async fn a_due_firing_waits_for_its_month_then_runs_and_is_recorded() {
    let p = scheduled("");
    month(&p, "2022-03");
    // 07:05 BST on 1 May 2022: the 07:00 firing (06:00 UTC) is due and builds April, not yet landed.
    let w = at(&p, utc(2022, 5, 1, 6, 5));
    let writer = {
        let p_root = p.root().to_path_buf();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let bytes =
                boardpack::sample::parquet_bytes(&visits(&[("x", "Cardiology", 3)])).unwrap();
            let path = p_root.join("lake/inputs/visits/month=2022-04/part-0.parquet");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        })
    };
    let started = Instant::now();
    let lines = pass(&w, &stop()).await;
    writer.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the run waited for the partition"
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("firing of 2022-05-01 07:00 BST"),
        "{lines:?}"
    );
    let rs = records(&w).await;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].period, "2022-04");
    assert_eq!(rs[0].status, RunStatus::Succeeded);
    assert_eq!(rs[0].trigger, Trigger::Schedule);
    assert!(p.store_file("published/waits/2022-04.json").exists());
    // The lease was released; a second pass at the same time finds nothing due.
    let (_, l) = lease::current(&w.store, "waits", "2022-04")
        .await
        .unwrap()
        .unwrap();
    assert!(l.released);
    assert!(pass(&w, &stop()).await.is_empty());

    // `boardpack runs` lists it from the record.
    let (code, out) = boardpack_output(&p, &["runs", "waits"]);
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.contains(&rs[0].run_id)).expect(&out);
    assert!(
        line.contains("2022-04") && line.contains("succeeded") && line.contains("schedule"),
        "{line}"
    );
    let (code, out) = boardpack_output(&p, &["runs", "show", &rs[0].run_id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("trigger   schedule"), "{out}");
    assert!(out.contains("by_clinic"), "{out}");
}

#[tokio::test]
async fn a_once_pass_does_not_wait_for_data_but_looks_again_next_pass() {
    let p = scheduled("");
    month(&p, "2022-03");
    let w = at(&p, utc(2022, 5, 1, 6, 5));
    let lines = pass_as(&w, &stop(), true).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("waiting for data (`visits` has no data for 2022-04)")
            && lines[0].contains("until 2022-05-01 08:00 BST"),
        "{lines:?}"
    );
    assert!(records(&w).await.is_empty());
    // April lands; the next pass (a quarter of an hour later) runs the same firing.
    month(&p, "2022-04");
    let lines = pass_as(&at(&p, utc(2022, 5, 1, 6, 20)), &stop(), true).await;
    assert!(lines[0].contains("waits 2022-04 succeeded"), "{lines:?}");
}

#[tokio::test]
async fn past_the_readiness_deadline_the_run_fails_with_what_is_missing() {
    let p = scheduled("");
    month(&p, "2022-03");
    // Two hours after the firing, with a one-hour deadline, April is still missing.
    let w = at(&p, utc(2022, 5, 1, 8, 0));
    let lines = pass(&w, &stop()).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let rs = records(&w).await;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, RunStatus::Failed);
    let error = rs[0].error.clone().unwrap();
    assert!(
        error.contains("had not landed by the readiness deadline 2022-05-01 07:00 UTC")
            && error.contains("`visits` has no data for 2022-04"),
        "{error}"
    );
    assert!(!p.store_file("published/waits/2022-04.json").exists());
}

#[tokio::test]
async fn two_schedulers_on_one_store_start_one_run() {
    let p = scheduled("");
    month(&p, "2022-03");
    let (a, b) = (at(&p, utc(2022, 5, 1, 6, 5)), at(&p, utc(2022, 5, 1, 6, 5)));
    // April lands while both are at it: whoever holds the lease waits for it; the other is turned away.
    let root = p.root().to_path_buf();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let bytes = boardpack::sample::parquet_bytes(&visits(&[("x", "Cardiology", 3)])).unwrap();
        let path = root.join("lake/inputs/visits/month=2022-04/part-0.parquet");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    });
    let (sa, sb) = (stop(), stop());
    let (la, lb) = tokio::join!(pass(&a, &sa), pass(&b, &sb));
    writer.await.unwrap();
    let all: Vec<String> = la.into_iter().chain(lb).collect();
    assert_eq!(
        all.iter().filter(|l| l.contains("holds the lease")).count(),
        1,
        "{all:?}"
    );
    let rs = records(&a).await;
    assert_eq!(rs.len(), 1, "one run, not two: {all:?}");
    assert_eq!(rs[0].status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_killed_run_leaves_a_lease_that_expires_and_is_recorded_abandoned() {
    let p = scheduled("");
    month(&p, "2022-03");
    month(&p, "2022-04");
    let t0 = utc(2022, 5, 1, 6, 1);
    let w = at(&p, t0);
    // A process took the lease at 06:01 and was killed: nothing renews or releases it.
    let dead = match lease::acquire(
        &w.store,
        "waits",
        "2022-04",
        "20220501T060100Z-dead00",
        Trigger::Schedule,
        t0,
        Duration::from_secs(300),
    )
    .await
    .unwrap()
    {
        lease::Acquired::Held { lease, .. } => lease,
        other => panic!("{other:?}"),
    };
    // Three minutes later the lease is still live: the firing is left for later, not run twice.
    let lines = pass(&at(&p, t0 + chrono::Duration::minutes(3)), &stop()).await;
    assert!(lines[0].contains("holds the lease"), "{lines:?}");
    assert!(records(&w).await.is_empty());
    // Past its expiry, the next pass records the dead run as abandoned and runs the period.
    let later = at(&p, t0 + chrono::Duration::minutes(10));
    pass(&later, &stop()).await;
    let rs = records(&later).await;
    assert_eq!(rs.len(), 2, "{rs:?}");
    let abandoned = rs.iter().find(|r| r.run_id == dead.body.run_id).unwrap();
    assert_eq!(abandoned.status, RunStatus::Abandoned);
    assert!(
        abandoned
            .error
            .as_ref()
            .unwrap()
            .contains("lease expired at 2022-05-01 06:06:00 UTC")
    );
    assert!(
        rs.iter()
            .any(|r| r.status == RunStatus::Succeeded && r.period == "2022-04")
    );
}

#[tokio::test]
async fn missed_firings_are_caught_up_oldest_first_up_to_the_limit() {
    let p = scheduled("  catch_up_window: 200d\n  catch_up_limit: 2\n");
    for m in ["2022-05", "2022-06", "2022-07"] {
        month(&p, m);
    }
    // Down since January: seven firings (1 February … 1 August) were missed; the newest two run.
    let w = at(&p, utc(2022, 8, 1, 6, 30));
    let lines = pass(&w, &stop()).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("5 older missed firing(s) not caught up"),
        "{lines:?}"
    );
    assert!(lines[1].contains("waits 2022-06 succeeded"), "{lines:?}");
    assert!(lines[2].contains("waits 2022-07 succeeded"), "{lines:?}");
    assert!(pass(&w, &stop()).await.is_empty(), "each firing runs once");
}

#[tokio::test]
async fn a_step_that_times_out_is_retried_then_fails_the_run() {
    let p = scheduled("");
    p.write(
        "pipelines/waits.yaml",
        &format!("{PIPELINE}{SCHEDULE}  step_timeout: 1ms\n"),
    );
    month(&p, "2022-03");
    month(&p, "2022-04");
    let w = at(&p, utc(2022, 5, 1, 6, 5));
    pass(&w, &stop()).await;
    let rs = records(&w).await;
    assert_eq!(rs[0].status, RunStatus::Failed);
    let failed = rs[0]
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
        .unwrap();
    let message = failed.message.clone().unwrap();
    assert!(
        message.contains("timed out after") && message.contains("(failed 2 times)"),
        "{message}"
    );
}

#[tokio::test]
async fn resume_reuses_the_succeeded_steps_and_runs_the_rest() {
    let p = scheduled("");
    month(&p, "2022-03");
    month(&p, "2022-04");
    // `summary` fails at execution; `by_clinic` succeeded before it.
    p.write(
        "sql/waits/summary.sql",
        "SELECT clinic, CAST(clinic AS INT) AS n FROM by_clinic",
    );
    let failure = run_period(&p, "waits", "2022-04").await.expect_err("fails");
    let w = p.world();
    let failed: RunRecord = serde_json::from_slice(
        &std::fs::read(p.store_file(&failure.record_path.unwrap())).unwrap(),
    )
    .unwrap();
    let by_clinic = failed.steps.iter().find(|s| s.id == "by_clinic").unwrap();
    assert_eq!(by_clinic.status, StepStatus::Succeeded);
    let checkpoint = format!(
        "checkpoints/waits/2022-04/{}/by_clinic.parquet",
        failed.run_id
    );
    assert!(p.store_file(&checkpoint).exists());

    // Fixed, and resumed.
    p.write("sql/waits/summary.sql", crate::pipeline::SUMMARY);
    let launched = runner::resume(
        &w,
        &settings(&w),
        &stop(),
        Arc::new(Silent),
        "waits",
        &failed.run_id,
    )
    .await
    .expect("resumes");
    let Launched::Recorded { record, .. } = launched else {
        panic!("{launched:?}")
    };
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.trigger, Trigger::Resume);
    assert_eq!(record.resumed_from.as_deref(), Some(failed.run_id.as_str()));
    let step = |id: &str| record.steps.iter().find(|s| s.id == id).unwrap().clone();
    assert!(
        step("by_clinic")
            .message
            .unwrap()
            .contains(&format!("reused from run {}", failed.run_id))
    );
    assert_eq!(
        step("by_clinic").outputs[0].sha256,
        by_clinic.outputs[0].sha256
    );
    assert_eq!(step("summary").status, StepStatus::Succeeded);
    assert!(step("summary").message.is_none(), "summary ran afresh");
    assert!(
        !p.store_file(&checkpoint).exists(),
        "checkpoints removed once published"
    );
    // A run that succeeded is not resumed.
    let err = runner::resume(
        &w,
        &settings(&w),
        &stop(),
        Arc::new(Silent),
        "waits",
        &record.run_id,
    )
    .await
    .unwrap_err();
    assert!(err.contains("nothing to resume"), "{err}");
}

#[tokio::test]
async fn a_changed_checkpoint_is_not_reused() {
    let p = scheduled("");
    month(&p, "2022-03");
    month(&p, "2022-04");
    p.write(
        "sql/waits/summary.sql",
        "SELECT CAST(clinic AS INT) AS n FROM by_clinic",
    );
    let failure = run_period(&p, "waits", "2022-04").await.expect_err("fails");
    let record_path = failure.record_path.unwrap();
    let failed: RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(&record_path)).unwrap()).unwrap();
    let checkpoint = format!(
        "checkpoints/waits/2022-04/{}/by_clinic.parquet",
        failed.run_id
    );
    std::fs::write(p.store_file(&checkpoint), b"not the table").unwrap();
    p.write("sql/waits/summary.sql", crate::pipeline::SUMMARY);
    let w = p.world();
    let launched = runner::resume(
        &w,
        &settings(&w),
        &stop(),
        Arc::new(Silent),
        "waits",
        &failed.run_id,
    )
    .await
    .unwrap();
    let Launched::Recorded { record, .. } = launched else {
        panic!()
    };
    assert_eq!(record.status, RunStatus::Failed);
    assert!(record.error.unwrap().contains("the checkpoint changed"));
}

#[tokio::test]
async fn backfill_skips_published_periods_unless_forced() {
    let p = scheduled("");
    for m in ["2022-02", "2022-03", "2022-04", "2022-05"] {
        month(&p, m);
    }
    run_period(&p, "waits", "2022-04").await.expect("published");
    let (code, out) = boardpack_output(
        &p,
        &[
            "backfill", "waits", "--from", "2022-03", "--to", "2022-05", "--jobs", "2",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 period(s) from 2022-03 to 2022-05"), "{out}");
    assert!(
        out.contains("waits 2022-04: already published, skipped"),
        "{out}"
    );
    let w = p.world();
    let rs = records(&w).await;
    let mut by_trigger: Vec<(String, Trigger)> =
        rs.iter().map(|r| (r.period.clone(), r.trigger)).collect();
    by_trigger.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_trigger,
        vec![
            ("2022-03".to_string(), Trigger::Backfill),
            ("2022-04".to_string(), Trigger::Manual),
            ("2022-05".to_string(), Trigger::Backfill)
        ]
    );
    // Forced: a published period runs again.
    let (code, out) = boardpack_output(
        &p,
        &[
            "backfill", "waits", "--from", "2022-04", "--to", "2022-04", "--force",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(records(&w).await.len(), 4);
}

#[tokio::test]
async fn a_signal_while_waiting_records_the_run_interrupted_and_frees_the_lease() {
    let p = scheduled("");
    month(&p, "2022-03");
    let w = at(&p, utc(2022, 5, 1, 6, 5));
    let s = stop();
    let stopper = {
        let s = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            s.stop();
        })
    };
    let schedule = boardpack::schedule::Schedule::parse(
        &serde_yaml::from_str(&SCHEDULE.replace("schedule:\n", "").replace("\n  ", "\n")).unwrap(),
    )
    .unwrap();
    let launched = runner::launch(
        &w,
        &settings(&w),
        &s,
        Arc::new(Silent),
        Launch {
            pipeline: "waits".into(),
            period: "2022-04".parse().unwrap(),
            params: Default::default(),
            trigger: Trigger::Schedule,
            readiness: Some((schedule.ready.clone(), utc(2022, 5, 1, 7, 0))),
            retry: schedule.retry.clone(),
            resume: None,
        },
    )
    .await
    .unwrap();
    stopper.await.unwrap();
    let Launched::Recorded { record, .. } = launched else {
        panic!()
    };
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(
        record
            .error
            .unwrap()
            .contains("interrupted while waiting for data")
    );
    let (_, l) = lease::current(&w.store, "waits", "2022-04")
        .await
        .unwrap()
        .unwrap();
    assert!(l.released);
}

/// The `waits` project due every minute on real time (building the month before), with `month` written for
/// the three months before now and this one, whichever month the firings fall in.
fn due_every_minute(month: impl Fn(&TestProject, &str)) -> TestProject {
    let p = project();
    p.write(
        "pipelines/waits.yaml",
        &format!(
            "{PIPELINE}schedule:\n  cron: \"* * * * *\"\n  timezone: Europe/London\n  builds: previous-month\n"
        ),
    );
    let now = Utc::now();
    let this =
        boardpack::period::Month::new(chrono::Datelike::year(&now), chrono::Datelike::month(&now))
            .unwrap();
    for k in -3..=0 {
        month(&p, &this.add(k).to_string());
    }
    p
}

/// The command as deployed: a schedule due every minute on real time, `schedule --once`, then `runs`;
/// and the long-lived scheduler stopping cleanly on SIGTERM.
#[test]
fn the_schedule_command_fires_a_due_run_and_stops_on_sigterm() {
    // Data for the months around now, whichever month the firings fall in.
    let p = due_every_minute(|p, m| month(p, m));
    let (code, out) = boardpack_output(&p, &["schedule", "--once"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("succeeded and published"), "{out}");
    assert!(out.contains("next: waits"), "{out}");
    let (code, out) = boardpack_output(&p, &["runs"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("succeeded") && out.contains("schedule"),
        "{out}"
    );

    #[cfg(unix)]
    {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
            .args([
                "--project",
                p.root().to_str().unwrap(),
                "--quiet",
                "schedule",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("scheduler started") && text.contains("scheduler stopped"),
            "{text}"
        );
    }
}

/// `schedule --once` from cron, systemd or a CronJob: a scheduled run that fails makes the command exit 1
/// (so the host's own monitoring sees it), says so, and the run is recorded failed.
#[test]
fn schedule_once_exits_1_when_a_scheduled_run_fails() {
    // Every month around now holds one visit twice: the input breaks its key, so the run fails.
    let p = due_every_minute(|p, m| {
        write_parquet(
            p,
            &format!("inputs/visits/month={m}/part-0.parquet"),
            &visits(&[
                (&*format!("{m}-a"), "Cardiology", 10),
                (&*format!("{m}-a"), "Cardiology", 10),
            ]),
        )
    });
    let (code, out) = boardpack_output(&p, &["schedule", "--once"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not succeed"), "{out}");
    let (code, out) = boardpack_output(&p, &["runs"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("failed") && !out.contains("succeeded"),
        "{out}"
    );
}

#[tokio::test]
async fn readiness_counts_rows_and_looks_for_markers() {
    let p = scheduled("");
    month(&p, "2022-04");
    let w = p.world();
    let plan = boardpack::plan::load_named(&w.project, "waits").unwrap();
    let period = "2022-04".parse().unwrap();
    let mut ready = boardpack::schedule::Readiness {
        poll: Duration::from_millis(10),
        deadline: Duration::from_secs(60),
        min_rows: [("visits".to_string(), 3)].into(),
        markers: vec!["inputs/visits/_READY_{month}".into()],
    };
    let missing = boardpack::schedule::ready::missing(&w, &plan, &period, &ready)
        .await
        .unwrap();
    assert_eq!(
        missing,
        vec![
            "`visits` has 2 row(s) for 2022-04, fewer than the 3 required".to_string(),
            "marker `inputs/visits/_READY_2022-04` is not on the store".to_string()
        ]
    );
    std::fs::write(p.store_file("inputs/visits/_READY_2022-04"), b"").unwrap();
    ready.min_rows.insert("visits".into(), 2);
    assert!(
        boardpack::schedule::ready::missing(&w, &plan, &period, &ready)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A scheduled run that fails (past its deadline with April missing), notified by `sh -c "<shell> > FILE"`
/// with the rest of `scheduler.notify` as given; returns the project, FILE and the records.
async fn fail_and_notify(
    shell: &str,
    notify: &str,
) -> (TestProject, std::path::PathBuf, Vec<RunRecord>) {
    let p = scheduled("");
    let out = p.root().join("notified.out");
    p.write(
        "config/boardpack.yaml",
        &format!(
            "scheduler:\n  catch_up_window: 1d\n  notify:\n    command: [\"sh\", \"-c\", \"{shell} > '{}'\"]\n{notify}",
            out.display()
        ),
    );
    month(&p, "2022-03");
    let w = at(&p, utc(2022, 5, 1, 8, 0));
    pass(&w, &stop()).await;
    let rs = records(&w).await;
    assert_eq!(rs[0].status, RunStatus::Failed);
    (p, out, rs)
}

/// A failed run is sent to the configured command (the record on standard input) and POSTed to the URL
/// named by an environment variable.
#[tokio::test]
async fn a_failed_run_is_notified_by_command_and_by_post() {
    use std::io::{Read, Write};
    // A one-request HTTP server on a thread of its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 8192];
        // Read until the body (after the headers) holds the whole JSON record.
        loop {
            let n = socket.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&request).trim_end().ends_with('}') {
                break;
            }
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request).to_string()
    });
    let var = format!("BOARDPACK_TEST_NOTIFY_URL_{port}");
    // SAFETY: a variable of this test's own, read by this test's pass only.
    unsafe { std::env::set_var(&var, format!("http://127.0.0.1:{port}/hooks/s3cr3t-token")) };
    let (_p, out, rs) = fail_and_notify("cat", &format!("    url_env: {var}\n")).await;
    let sent: RunRecord = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(sent.run_id, rs[0].run_id);
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /hooks/s3cr3t-token"), "{request}");
    assert!(request.contains(&rs[0].run_id), "{request}");
}

/// A run whose lease went unrenewed and was taken over stops: two runs of a period never go on at once.
#[tokio::test]
async fn a_run_that_loses_its_lease_stops() {
    // Leases of 300 ms, renewed every 100 ms; the fixed clock never lets them expire by themselves.
    let p = scheduled("  catch_up_window: 1d\n  lease_ttl: 300ms\n");
    month(&p, "2022-03");
    let t = utc(2022, 5, 1, 6, 5);
    let w = at(&p, t);
    let store = w.store.clone();
    let thief = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Another scheduler whose clock is a second later finds the lease expired and takes it over.
        lease::acquire(
            &store,
            "waits",
            "2022-04",
            "other-run",
            Trigger::Schedule,
            t + chrono::Duration::seconds(1),
            Duration::from_secs(300),
        )
        .await
        .unwrap()
    });
    // The run waits for April (never written) until it notices the takeover.
    let lines = pass(&w, &stop()).await;
    assert!(matches!(thief.await.unwrap(), lease::Acquired::Held { .. }));
    assert!(lines[0].contains("interrupted"), "{lines:?}");
    let rs = records(&w).await;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, RunStatus::Interrupted);
    assert!(
        rs[0]
            .error
            .as_ref()
            .unwrap()
            .contains("lease was taken over"),
        "{:?}",
        rs[0].error
    );
}

#[tokio::test]
async fn a_run_typed_by_hand_waits_its_turn_behind_the_lease() {
    let p = scheduled("");
    month(&p, "2022-03");
    month(&p, "2022-04");
    let w = p.world();
    // A scheduled run of 2022-04 holds the lease now (the command line runs on the real clock).
    let held = match lease::acquire(
        &w.store,
        "waits",
        "2022-04",
        "20220501T070000Z-sched0",
        Trigger::Schedule,
        Utc::now(),
        Duration::from_secs(300),
    )
    .await
    .unwrap()
    {
        lease::Acquired::Held { lease, .. } => lease,
        other => panic!("{other:?}"),
    };
    let (code, out) = boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("run 20220501T070000Z-sched0") && out.contains("holds the lease"),
        "{out}"
    );
    assert!(records(&w).await.is_empty(), "nothing ran");
    // Another period is not held; once the scheduled run lets go, the typed run goes ahead.
    let (code, out) = boardpack_output(&p, &["run", "waits", "--period", "2022-03"]);
    assert_eq!(code, 0, "{out}");
    held.release(Utc::now()).await.unwrap();
    let (code, out) = boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{out}");
    let rs = records(&w).await;
    assert_eq!(rs.len(), 2, "{rs:?}");
    assert!(
        rs.iter()
            .all(|r| r.status == RunStatus::Succeeded && r.trigger == Trigger::Manual)
    );
}

/// The notification command runs with a cleared environment: the run's own variables, the basics
/// (`PATH`, …) and the variables `notify.pass_env` names; nothing else the scheduler holds (its store
/// credentials among them).
#[tokio::test]
async fn the_notification_command_gets_only_the_environment_it_is_given() {
    let (passed, withheld) = (
        "BOARDPACK_TEST_PAGER_TOKEN_PASSED",
        "BOARDPACK_TEST_STORE_SECRET_WITHHELD",
    );
    // SAFETY: variables of this test's own, read by this test's pass only.
    unsafe {
        std::env::set_var(passed, "pager-token-value");
        std::env::set_var(withheld, "store-secret-value");
    }
    let (_p, out, rs) = fail_and_notify("env", &format!("    pass_env: [{passed}]\n")).await;
    let env = std::fs::read_to_string(&out).expect("the command ran");
    assert!(
        env.contains(&format!("BOARDPACK_RUN_ID={}", rs[0].run_id)),
        "{env}"
    );
    assert!(env.contains("BOARDPACK_RUN_STATUS=failed"), "{env}");
    assert!(
        env.contains(&format!("{passed}=pager-token-value")),
        "{env}"
    );
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(
        !env.contains(withheld) && !env.contains("store-secret-value"),
        "{env}"
    );
    // Nothing but what was given: the run's variables, the basics and the one passed on (`sh` may add
    // `PWD`, `SHLVL` and `_` of its own).
    for line in env.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(
            name.starts_with("BOARDPACK_RUN_")
                || [
                    "BOARDPACK_PIPELINE",
                    "BOARDPACK_PERIOD",
                    passed,
                    "PATH",
                    "HOME",
                    "LANG",
                    "TZ",
                    "PWD",
                    "SHLVL",
                    "_",
                    "OLDPWD"
                ]
                .contains(&name),
            "`{name}` reached the notification command:\n{env}"
        );
    }
}

/// `schedule --once` that meets a period held by another run's lease says so, naming the holder and the
/// lease's expiry, and starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_once_names_a_held_lease() {
    let p = due_every_minute(|p, m| month(p, m));
    let now = Utc::now();
    let this =
        boardpack::period::Month::new(chrono::Datelike::year(&now), chrono::Datelike::month(&now))
            .unwrap();
    let period = this.add(-1).to_string();
    let w = p.world();
    let held = match lease::acquire(
        &w.store,
        "waits",
        &period,
        "20260101T000000Z-held00",
        Trigger::Manual,
        now,
        Duration::from_secs(600),
    )
    .await
    .unwrap()
    {
        lease::Acquired::Held { lease, .. } => lease,
        other => panic!("{other:?}"),
    };
    let (code, out) = tokio::task::block_in_place(|| boardpack_output(&p, &["schedule", "--once"]));
    assert_eq!(
        code, 0,
        "another run holding the period is not a failure: {out}"
    );
    assert!(
        out.contains(&format!(
            "waits {period}: run 20260101T000000Z-held00 ({}) holds the lease until",
            held.body.holder
        )) && out.contains("not started twice"),
        "{out}"
    );
    assert!(records(&w).await.is_empty(), "nothing ran");
}

/// `schedule --once --dry-run` says what each due firing would do and starts nothing: no run, lease,
/// record or scheduler state is written, so the real pass afterwards fires the same firings.
#[test]
fn schedule_once_dry_run_starts_nothing() {
    let p = due_every_minute(|p, m| month(p, m));
    let (code, out) = boardpack_output(&p, &["schedule", "--once", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": would run"), "{out}");
    for nothing in ["runs", "leases", "scheduler", "published"] {
        assert!(
            !p.store_file(nothing).exists(),
            "{nothing}/ was written: {out}"
        );
    }
    let (code, out) = boardpack_output(&p, &["schedule", "--dry-run"]);
    assert_eq!(code, 2, "--dry-run needs --once: {out}");
    let (code, out) = boardpack_output(&p, &["schedule", "--once"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("succeeded and published"), "{out}");
}
