//! The board pack's finance summary SQL and its configuration (budget lines, variance bands) on a
//! hand-made ledger: under/(over) spend = budget − actual, the bands at and across their edges, a year to
//! date with a month missing, and totals that leave out lines the configuration does not know.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::support::{TestProject, read_parquet, repo, run_period, write_parquet};

const PIPELINE: &str = r#"
name: fin
parameters:
  period: { type: period, granularities: [month] }
inputs:
  finance_ledger:
    location: inputs/finance_ledger
    partitioned_by: month
    history_months: 11
    columns:
      - { name: budget_line, type: string }
      - { name: budget, type: float }
      - { name: actual, type: float }
seeds:
  finance_lines: board-pack/finance_lines.yaml
  finance_bands: board-pack/finance_bands.yaml
steps:
  - id: finance_summary
    sql: board-pack/finance_summary.sql
"#;

fn ledger(rows: &[(&str, f64, f64)]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "budget_line",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "budget",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "actual",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
    ])
    .unwrap()
}

#[tokio::test]
async fn under_and_over_spend_bands_and_totals() {
    let p = TestProject::new();
    p.write("pipelines/fin.yaml", PIPELINE);
    // The shipped SQL and configuration, unchanged.
    for file in [
        "sql/board-pack/finance_summary.sql",
        "config/board-pack/finance_lines.yaml",
        "config/board-pack/finance_bands.yaml",
    ] {
        p.write(file, &std::fs::read_to_string(repo().join(file)).unwrap());
    }
    write_parquet(
        &p,
        "inputs/finance_ledger/month=2022-04/part-0.parquet",
        &ledger(&[
            ("Acute Healthcare", 100.0, 110.0),
            ("Prescribing", 100.0, 100.0),
        ]),
    );
    write_parquet(
        &p,
        "inputs/finance_ledger/month=2022-05/part-0.parquet",
        &ledger(&[
            // 40% over: the 30–50% band; the year to date (−50 of 200, 25%) is in 0–30%.
            ("Acute Healthcare", 100.0, 140.0),
            // 60% under: over 50%.
            ("Prescribing", 100.0, 40.0),
            // Exactly 50% over: still 30–50% (a band includes its upper edge). No April row: its year to
            // date is unknown, and so is the total's.
            ("Primary Care", 64.0, 96.0),
            // Not in config/board-pack/finance_lines.yaml: in no total.
            ("Unmapped cost centre", 1_000.0, 1_000.0),
        ]),
    );
    let outcome = run_period(&p, "fin", "2022-05").await.expect("runs");
    let out = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("/finance_summary.parquet"))
        .unwrap();
    let batches = read_parquet(&p.store_file(&out.path));
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write_batches(&batches.iter().collect::<Vec<_>>())
        .unwrap();
    w.finish().unwrap();
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&w.into_inner()).unwrap();
    let row = |label: &str| rows.iter().find(|r| r["label"] == label).unwrap();
    let f = |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_f64);
    let band = |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_str).map(String::from);

    let acute = row("Acute Healthcare");
    assert_eq!(f(acute, "month_under_over"), Some(-40.0));
    assert_eq!(band(acute, "month_band").as_deref(), Some("30–50%"));
    assert_eq!(f(acute, "ytd_budget"), Some(200.0));
    assert_eq!(f(acute, "ytd_under_over"), Some(-50.0));
    assert_eq!(band(acute, "ytd_band").as_deref(), Some("0–30%"));

    let prescribing = row("Prescribing");
    assert_eq!(f(prescribing, "month_under_over"), Some(60.0));
    assert_eq!(band(prescribing, "month_band").as_deref(), Some("Over 50%"));

    let primary = row("Primary Care");
    assert_eq!(band(primary, "month_band").as_deref(), Some("30–50%"));
    assert_eq!(f(primary, "ytd_budget"), None, "April is missing");

    // A configured line with no ledger rows has no figures, not zeros.
    assert_eq!(f(row("Continuing Healthcare"), "month_budget"), None);

    let total = row("Total net expenditure");
    assert_eq!(total["is_total"], true);
    assert_eq!(f(total, "month_budget"), Some(264.0));
    assert_eq!(f(total, "month_actual"), Some(276.0));
    assert_eq!(f(total, "month_under_over"), Some(-12.0));
    assert_eq!(
        f(total, "ytd_budget"),
        None,
        "a line's year to date is unknown"
    );
    assert!(rows.iter().all(|r| r["label"] != "Unmapped cost centre"));
}
