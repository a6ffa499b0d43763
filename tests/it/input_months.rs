//! An input reads the period's months, its `history_months`, and any fixed `baseline_months` however far
//! back (a pre-Covid baseline month) — and nothing else; a baseline month that is not a month is refused
//! at its place before anything runs.

use std::sync::Arc;

use boardpack::plan;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;

use crate::pipeline::{BY_CLINIC, SUMMARY, TEMPLATE};
use crate::support::{TestProject, read_parquet, run_period, write_parquet};

fn pipeline(baseline: &str) -> String {
    crate::pipeline::PIPELINE.replace(
        "    history_months: 1\n",
        &format!("    history_months: 1\n    baseline_months: {baseline}\n"),
    )
}

fn visits(n: usize) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "visit_id",
            Arc::new(StringArray::from(
                (0..n).map(|i| format!("V{i}")).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "clinic",
            Arc::new(StringArray::from(vec!["Eye"; n])) as ArrayRef,
        ),
        (
            "wait_days",
            Arc::new(Int64Array::from(vec![10i64; n])) as ArrayRef,
        ),
    ])
    .unwrap()
}

#[tokio::test]
async fn baseline_months_are_read_besides_the_history() {
    let p = TestProject::new();
    p.write("pipelines/waits.yaml", &pipeline("[\"2020-02\"]"))
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write("reports/waits/report.typ.j2", TEMPLATE);
    // The baseline, a month between (not asked for), the history month and the period.
    for (month, n) in [
        ("2020-02", 3),
        ("2021-06", 5),
        ("2022-03", 7),
        ("2022-04", 11),
    ] {
        write_parquet(
            &p,
            &format!("inputs/visits/month={month}/part-0.parquet"),
            &visits(n),
        );
    }
    let outcome = run_period(&p, "waits", "2022-04").await.expect("runs");
    let input = &outcome.record.inputs[0];
    assert_eq!(input.months, ["2020-02", "2022-03", "2022-04"]);
    let out = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("/by_clinic.parquet"))
        .unwrap();
    let mut seen = Vec::new();
    for b in read_parquet(&p.store_file(&out.path)) {
        let month = b
            .column_by_name("month")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        let visits = b
            .column_by_name("visits")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone();
        for i in 0..b.num_rows() {
            seen.push((month.value(i).to_string(), visits.value(i)));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("2020-02".to_string(), 3),
            ("2022-03".to_string(), 7),
            ("2022-04".to_string(), 11)
        ]
    );
}

#[test]
fn a_baseline_month_that_is_not_a_month_is_refused_at_its_place() {
    let p = TestProject::new();
    // A second input, not partitioned by month, cannot have baseline months at all.
    let spec = pipeline("[\"2020-02\", \"Feb-20\"]").replace(
        "steps:\n",
        "  clinics:\n    location: reference/clinics\n    baseline_months: [\"2020-02\"]\n    columns:\n      - { name: clinic, type: string }\nsteps:\n",
    );
    p.write("pipelines/waits.yaml", &spec)
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write("reports/waits/report.typ.j2", TEMPLATE);
    let world = p.world();
    let errors = plan::load(&world.project, "pipelines/waits.yaml").expect_err("invalid");
    let text = errors.to_string();
    assert!(
        text.contains("pipelines/waits.yaml:12:")
            && text.contains("baseline month `Feb-20` is not a month: write YYYY-MM"),
        "{text}"
    );
    assert!(
        text.contains("pipelines/waits.yaml:19:")
            && text.contains("input `clinics`: `baseline_months` needs `partitioned_by: month`"),
        "{text}"
    );
    assert_eq!(errors.len(), 2, "{text}");
}
