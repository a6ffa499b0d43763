//! Reproducibility: the same inputs, files and parameters give byte-identical outputs (whatever the clock
//! and the project folder), and `verify` re-executes a recorded run and names what no longer matches.

use std::collections::BTreeMap;

use boardpack::execute::RunOutcome;
use boardpack::record::RunRecord;
use chrono::{TimeZone, Utc};

use crate::pipeline::{project, seed_visits, visits};
use crate::support::{TestProject, boardpack_output, run_period_at, write_parquet};

/// Runs the `waits` pipeline for 2022-04 with the clock stopped at `at`.
async fn run_at(p: &TestProject, at: chrono::DateTime<Utc>) -> RunOutcome {
    run_period_at(p, "waits", "2022-04", at).await
}

/// Every output of a run by its path within the run (`tables/x.parquet`), with its SHA-256 as recorded,
/// checked against the bytes on the store.
fn outputs(p: &TestProject, r: &RunRecord) -> BTreeMap<String, String> {
    r.outputs
        .iter()
        .map(|o| {
            let bytes = std::fs::read(p.store_file(&o.path)).unwrap();
            assert_eq!(boardpack::store::sha256_hex(&bytes), o.sha256, "{}", o.path);
            let within = o
                .path
                .strip_prefix(&format!("runs/waits/2022-04/{}/", r.run_id));
            (
                within.expect("under the run's prefix").to_string(),
                o.sha256.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_runs_with_different_clocks_and_folders_give_identical_outputs() {
    let (a, b) = (project(), project());
    seed_visits(&a);
    seed_visits(&b);
    let first = run_at(&a, Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap()).await;
    let second = run_at(&b, Utc.with_ymd_and_hms(2024, 11, 3, 23, 59, 58).unwrap()).await;
    // And again in the first folder, a year later, with a published run already there.
    let third = run_at(&a, Utc.with_ymd_and_hms(2023, 1, 2, 3, 4, 5).unwrap()).await;
    assert_ne!(first.record.run_id, second.record.run_id);
    assert_ne!(first.record.run_id, third.record.run_id);

    let hashes = outputs(&a, &first.record);
    assert_eq!(
        hashes.keys().cloned().collect::<Vec<_>>(),
        vec![
            "reports/report.pdf",
            "tables/by_clinic.parquet",
            "tables/summary.parquet"
        ]
    );
    assert_eq!(hashes, outputs(&b, &second.record));
    assert_eq!(hashes, outputs(&a, &third.record));
    assert_eq!(first.record.fingerprint.len(), 64);
    assert_eq!(first.record.fingerprint, second.record.fingerprint);

    // The PDF names the fingerprint, not the run id or the clock.
    let pdf = std::fs::read(a.store_file(&first.reports()[0])).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(!text.contains(&first.record.run_id));
    assert!(!text.contains("2022-05-10") && !text.contains("20220510"));
}

async fn verify(p: &TestProject, r: &RunOutcome) -> boardpack::verify::VerifyReport {
    let world = p.world();
    let (path, record) = boardpack::verify::find_record(&world, &r.record.run_id)
        .await
        .expect("the record is found by run id");
    assert_eq!(path, r.record_path);
    boardpack::verify::verify(&world, &path, &record)
        .await
        .expect("verify runs")
}

#[tokio::test]
async fn verify_reports_identical_then_names_a_tampered_output_and_a_changed_input() {
    let p = project();
    seed_visits(&p);
    let run = run_at(&p, Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap()).await;
    let pointer = std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap();

    let report = verify(&p, &run).await;
    assert!(report.identical(), "{report}");
    assert_eq!(report.outputs.len(), 3);
    assert!(report.files_changed.is_empty() && report.inputs_changed.is_empty());
    let (code, out) = boardpack_output(&p, &["verify", &run.record.run_id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("all 3 outputs identical"), "{out}");
    // Nothing was published by verifying, and nothing was left in the scratch prefix.
    assert_eq!(
        std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap(),
        pointer
    );
    assert_eq!(
        std::fs::read_dir(p.store_file("runs/waits/2022-04"))
            .unwrap()
            .count(),
        1
    );
    let scratch = p.store_file(boardpack::verify::SCRATCH_PREFIX);
    let left: Vec<_> = walk(&scratch);
    assert!(left.is_empty(), "{left:?}");

    // Tamper with one output: exactly that one is reported.
    let summary = run
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("tables/summary.parquet"))
        .unwrap()
        .path
        .clone();
    let original = std::fs::read(p.store_file(&summary)).unwrap();
    std::fs::write(p.store_file(&summary), b"not what was published").unwrap();
    let report = verify(&p, &run).await;
    assert_eq!(
        report.different_outputs(),
        vec![summary.as_str()],
        "{report}"
    );
    assert!(report.inputs_changed.is_empty(), "{report}");
    let (code, out) = boardpack_output(&p, &["verify", &run.record_path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("DIFFERENT  {summary}")), "{out}");
    std::fs::write(p.store_file(&summary), original).unwrap();

    // Change one input row (b1 waited 5 days; now 45): the input object is named, and the tables that
    // depend on it differ row by row.
    let input = "inputs/visits/month=2022-04/part-0.parquet";
    write_parquet(
        &p,
        input,
        &visits(&[
            ("b1", "Cardiology", 45),
            ("b2", "Cardiology", 31),
            ("b3", "Cardiology", 30),
            ("b4", "Dermatology", 90),
        ]),
    );
    let report = verify(&p, &run).await;
    assert!(!report.identical());
    assert_eq!(report.inputs_changed.len(), 1, "{report}");
    assert_eq!(report.inputs_changed[0].0, input);
    let text = report.to_string();
    let by_clinic = report
        .outputs
        .iter()
        .find(|o| o.path.ends_with("tables/by_clinic.parquet"))
        .unwrap();
    assert!(!by_clinic.identical, "{text}");
    // April Cardiology: 3 visits, 2 within 30 days before; 1 after.
    assert!(
        by_clinic
            .details
            .iter()
            .any(|d| d == "rows: 3 → 3; 1 removed, 1 added"),
        "{text}"
    );
    assert!(
        by_clinic
            .details
            .iter()
            .any(|d| d == "columns with changed values: within, share_within"),
        "{text}"
    );
}

/// Every file under a folder (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// An object added under an input after the run: `verify` names it as added (as `diff` names added and
/// removed objects) instead of saying the inputs are unchanged and the run does not reproduce.
#[tokio::test]
async fn verify_names_an_input_object_added_since_the_run() {
    let p = project();
    seed_visits(&p);
    let run = run_at(&p, Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap()).await;
    let added = "inputs/visits/month=2022-04/part-1.parquet";
    write_parquet(&p, added, &visits(&[("z9", "Cardiology", 3)]));
    let report = verify(&p, &run).await;
    assert!(!report.identical(), "{report}");
    assert!(
        report
            .inputs_changed
            .iter()
            .any(|(path, what)| path == added && what.contains("added since the run")),
        "{report}"
    );
    let (code, out) = boardpack_output(&p, &["verify", &run.record.run_id]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("input objects: unchanged"), "{out}");
    assert!(
        out.contains("  summary: 3 of 3 outputs differ; 1 input object(s) and 0 project file(s) changed since the run"),
        "{out}"
    );
    assert!(
        out.contains(added) && out.contains("added since the run"),
        "{out}"
    );

    // Removed again, and the original object deleted: that one is named as gone.
    std::fs::remove_file(p.store_file(added)).unwrap();
    let original = "inputs/visits/month=2022-04/part-0.parquet";
    std::fs::remove_file(p.store_file(original)).unwrap();
    let report = verify(&p, &run).await;
    assert!(
        report
            .inputs_changed
            .iter()
            .any(|(path, what)| path == original && what.contains("gone")),
        "{report}"
    );
}
