//! Publication has one source of truth (issue 27): the `published/` pointer, written after the run's
//! record, is the one write that publishes. A run that cannot write it fails and is shown as not
//! published; a killed write's leftovers are removed by the next publication; a run killed outright is
//! found by `run --resume`, recorded as abandoned and its staged objects removed.

use std::time::{Duration, SystemTime};

use boardpack::record::{RunRecord, RunStatus, Trigger};
use boardpack::schedule::history;

use crate::faults::{binary, files_under, kill_once_staged, run_on, s3_project, slow_project};
use crate::pipeline::{project, seed_visits};
use crate::s3_server::S3Server;
use crate::support::run_period;

fn output(c: &mut std::process::Command) -> (i32, String, String) {
    let out = tokio::task::block_in_place(|| c.output().expect("the binary runs"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_move_the_pointer_fails_and_is_not_published() {
    let s3 = S3Server::start().await;
    let (p, world) = s3_project(&s3).await;
    let first = run_on(&world, "2022-04")
        .await
        .expect("the first run publishes");

    // The pointer cannot be written (a read-only `published/`; the moment a process is killed).
    s3.refuse_method("PUT", "/bucket/lake/published/", 403);
    let (code, _, stderr) = output(&mut binary(
        p.root(),
        &["run", "waits", "--period", "2022-04"],
    ));
    assert_eq!(
        code, 1,
        "a run that cannot publish exits non-zero: {stderr}"
    );
    assert!(
        stderr.contains("the run succeeded but was not published")
            && stderr.contains("published/waits/2022-04.json"),
        "{stderr}"
    );
    s3.heal();

    // The pointer still names the first run; the second is a succeeded run that is not published.
    let pointer = boardpack::publish::current(&world.store, "waits", "2022-04")
        .await
        .unwrap()
        .expect("a pointer");
    assert_eq!(pointer.run_id, first.record.run_id);
    let records = history::records(&world, Some("waits")).await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let second: &RunRecord = records
        .iter()
        .find(|r| r.run_id != first.record.run_id)
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded);
    assert!(!second.published);
    assert!(
        records
            .iter()
            .any(|r| r.run_id == first.record.run_id && r.published)
    );
    // The record itself never claims publication: the pointer is the one place that says it.
    let raw: serde_json::Value = serde_json::from_slice(
        &world
            .store
            .get(&format!("runs/waits/2022-04/{}/run.json", second.run_id))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(raw.get("published").is_none(), "{raw}");
    let (code, out, err) = output(&mut binary(p.root(), &["runs", "show", &second.run_id]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "succeeded, not the published run of waits 2022-04 (that is run {})",
            first.record.run_id
        )),
        "{out}"
    );
    let (_, out, _) = output(&mut binary(
        p.root(),
        &["runs", "show", &first.record.run_id],
    ));
    assert!(out.contains("succeeded, published"), "{out}");

    // The next run publishes, comparing with the published run, not with the unpublished one.
    let third = run_on(&world, "2022-04")
        .await
        .expect("the next run publishes");
    assert_eq!(
        third.record.previous_record.as_deref(),
        Some(first.record_path.as_str())
    );
    let pointer = boardpack::publish::current(&world.store, "waits", "2022-04")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pointer.run_id, third.record.run_id);
    let (_, out, _) = output(&mut binary(
        p.root(),
        &["runs", "show", &first.record.run_id],
    ));
    assert!(
        out.contains(&format!(
            "succeeded, not the published run of waits 2022-04 (that is run {})",
            third.record.run_id
        )),
        "{out}"
    );
}

#[tokio::test]
async fn a_killed_write_of_the_pointer_leaves_nothing_behind_after_the_next_publication() {
    let p = project();
    seed_visits(&p);
    run_period(&p, "waits", "2022-04").await.expect("publishes");
    // What a process killed while writing the pointer leaves beside it (the local store writes a
    // temporary `#n` file and renames it into place), ten minutes ago…
    let stray = p.store_file("published/waits/2022-04.json#3");
    std::fs::write(&stray, b"{\"run_id\":").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();
    // …and one being written this moment by another process, which must be left alone.
    let in_progress = p.store_file("published/waits/2022-04.json#4");
    std::fs::write(&in_progress, b"{").unwrap();
    let second = run_period(&p, "waits", "2022-04").await.expect("publishes");
    assert!(!stray.exists(), "the killed write's leftover is removed");
    assert!(in_progress.exists(), "a write in progress is not touched");
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pointer["run_id"], second.record.run_id.as_str());
}

#[test]
fn a_killed_run_is_found_by_resume_and_its_staged_objects_are_removed() {
    let p = slow_project();
    // A killed run's lease lapses after this.
    p.write("config/boardpack.yaml", "scheduler:\n  lease_ttl: 2s\n");
    let runs = p.store_file("runs");
    let staged = kill_once_staged(&p);
    // waits/2022-04/<run>/tables/<step>.parquet
    let killed = staged[0].split('/').nth(2).unwrap().to_string();

    // While its lease is live the run may still be going (on another machine): resume says so.
    let out = binary(p.root(), &["run", "waits", "--resume", &killed])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        assert!(
            said.contains(&format!("run {killed} has no record yet"))
                && said.contains("holds the lease"),
            "{said}"
        );
        std::thread::sleep(Duration::from_millis(2500));
    }
    // Then it is found, recorded as abandoned, its staged objects removed, and resumed.
    let out = binary(p.root(), &["run", "waits", "--resume", &killed])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("succeeded and published"), "{stdout}");
    let left = files_under(&runs.join(format!("waits/2022-04/{killed}")));
    assert_eq!(
        left,
        vec!["run.json".to_string()],
        "only the abandoned record stays"
    );
    let abandoned: RunRecord = serde_json::from_slice(
        &std::fs::read(runs.join(format!("waits/2022-04/{killed}/run.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(abandoned.status, RunStatus::Abandoned);
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap(),
    )
    .unwrap();
    let resumed: RunRecord = serde_json::from_slice(
        &std::fs::read(p.store_file(pointer["record"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(resumed.trigger, Trigger::Resume);
    assert_eq!(resumed.resumed_from.as_deref(), Some(killed.as_str()));
}

/// A process killed at the moment it moves the pointer (the store dies on that write, and the process is
/// killed while it retries): its record says `succeeded`, the pointer still names the run before it, and
/// `runs` shows the killed run as not the published one; the next run publishes over the published run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_between_its_record_and_the_pointer_is_not_published() {
    let s3 = S3Server::start().await;
    let (p, world) = s3_project(&s3).await;
    let first = run_on(&world, "2022-04")
        .await
        .expect("the first run publishes");
    s3.crash_on("PUT", "/bucket/lake/published/");
    let mut child = binary(p.root(), &["run", "waits", "--period", "2022-04"])
        .spawn()
        .expect("the binary starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while s3.is_running() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended before the pointer write: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pointer write in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    s3.restart().await;

    let records = history::records(&world, Some("waits")).await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let killed = records
        .iter()
        .find(|r| r.run_id != first.record.run_id)
        .unwrap();
    assert_eq!(
        killed.status,
        RunStatus::Succeeded,
        "its record was written"
    );
    assert!(!killed.published);
    let pointer = boardpack::publish::current(&world.store, "waits", "2022-04")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pointer.run_id, first.record.run_id);
    let (_, out, _) = output(&mut binary(p.root(), &["runs", "show", &killed.run_id]));
    assert!(out.contains("succeeded, not the published run"), "{out}");
    let next = run_on(&world, "2022-04")
        .await
        .expect("the next run publishes");
    assert_eq!(
        next.record.previous_record.as_deref(),
        Some(first.record_path.as_str())
    );
}
