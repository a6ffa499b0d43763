//! A failing step stops the run with a message naming the step and its file, and nothing is published.

use std::collections::BTreeMap;
use std::sync::Arc;

use boardpack::record::{RunRecord, RunStatus, StepStatus};

use crate::pipeline::{project, seed_visits};
use crate::support::run_period;

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_failing_sql_step_names_itself_and_publishes_nothing() {
    let p = project();
    seed_visits(&p);
    // Fails at execution, not at planning: the cast of a clinic name to an integer.
    p.write(
        "sql/waits/summary.sql",
        "SELECT clinic, CAST(clinic AS INT) AS n FROM by_clinic",
    );
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("the run fails");
    assert!(
        failure
            .message
            .contains("step `summary` (sql/waits/summary.sql) failed"),
        "{}",
        failure.message
    );

    // The failure is recorded, but nothing looks published: no PDF, no table, no index entry.
    let record_path = failure.record_path.expect("a failure record");
    let record: RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(&record_path)).unwrap()).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert!(!record.published);
    assert!(record.outputs.is_empty());
    let status: BTreeMap<&str, StepStatus> = record
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status))
        .collect();
    assert_eq!(status["summary"], StepStatus::Failed);
    assert_eq!(status["report"], StepStatus::Skipped);
    let left: Vec<String> = files_under(&p.store_file("runs"))
        .into_iter()
        .filter(|f| !f.ends_with("run.json"))
        .collect();
    assert!(left.is_empty(), "staged outputs left behind: {left:?}");
    assert!(!p.store_file("published/waits/2022-04.json").exists());
}

#[tokio::test]
async fn a_failing_check_fails_the_run_with_examples() {
    let p = project();
    seed_visits(&p);
    p.write(
        "pipelines/waits.yaml",
        &crate::pipeline::PIPELINE.replace("share_within < 0 OR share_within > 1", "visits > 0"),
    );
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("the check fails");
    assert!(
        failure
            .message
            .contains("assertion `shares_are_proportions` found 3 offending row(s)"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("Cardiology"),
        "examples are shown: {}",
        failure.message
    );
}

#[tokio::test]
async fn a_missing_input_is_named() {
    let p = project();
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("no data");
    assert!(
        failure.message.contains("input `visits`")
            && failure.message.contains("2022-03 to 2022-04"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn an_object_missing_a_contract_column_is_named() {
    let p = project();
    seed_visits(&p);
    let bad = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![(
        "visit_id",
        Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]))
            as Arc<dyn datafusion::arrow::array::Array>,
    )])
    .unwrap();
    crate::support::write_parquet(&p, "inputs/visits/month=2022-04/part-1.parquet", &bad);
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("contract");
    assert!(
        failure
            .message
            .contains("inputs/visits/month=2022-04/part-1.parquet")
            && failure.message.contains("column `clinic` is missing"),
        "{}",
        failure.message
    );
}
