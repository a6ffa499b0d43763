//! A small pipeline end to end: hand-made record-level Parquet → two SQL steps (one reading the other)
//! → a check → a PDF. The figures are computed independently here and compared with the outputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use boardpack::execute::{self, Silent};
use boardpack::params::RunParams;
use boardpack::plan;
use boardpack::record::{RunRecord, RunStatus, StepStatus};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;

use crate::support::{TestProject, pdf_text, read_parquet, write_parquet};

pub const PIPELINE: &str = r#"
name: waits
description: Waiting times by clinic
parameters:
  period: { type: period, granularities: [month, quarter] }
  threshold: { type: integer, default: "30" }
inputs:
  visits:
    location: inputs/visits
    partitioned_by: month
    history_months: 1
    columns:
      - { name: visit_id, type: string, key: true }
      - { name: clinic, type: string }
      - { name: wait_days, type: integer }
steps:
  - id: by_clinic
    sql: waits/by_clinic.sql
  - id: summary
    sql: waits/summary.sql
  - id: sane
    check:
      - name: shares_are_proportions
        sql: SELECT * FROM by_clinic WHERE share_within < 0 OR share_within > 1
  - id: report
    report: waits/report.typ.j2
    title: Clinic waits
    uses: [by_clinic, summary]
"#;

pub const BY_CLINIC: &str = "
-- Visits per clinic and month, and how many waited no longer than the threshold.
SELECT month, clinic, COUNT(*) AS visits,
       SUM(CASE WHEN wait_days <= $threshold THEN 1 ELSE 0 END) AS within,
       CAST(SUM(CASE WHEN wait_days <= $threshold THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS share_within
FROM visits
GROUP BY month, clinic
ORDER BY month, clinic";

pub const SUMMARY: &str = "
SELECT clinic, SUM(visits) AS visits, CAST(SUM(within) AS DOUBLE) / SUM(visits) AS share_within
FROM by_clinic
WHERE CAST(month || '-01' AS DATE) BETWEEN $period_start AND $period_end
GROUP BY clinic";

pub const TEMPLATE: &str = r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})
= Clinic waits
#table(columns: 3, table.header([Clinic], [Visits], [Within]),
{%- for r in tables.summary %}
  [{{ r.clinic }}], [{{ r.visits | count }}], [{{ r.share_within | pct }}],
{%- endfor %}
)
{{ line_chart(tables.by_clinic, x="month", y="share_within", title="Share within threshold", percent=true) }}
"#;

pub fn project() -> TestProject {
    let p = TestProject::new();
    p.write("pipelines/waits.yaml", PIPELINE)
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write("reports/waits/report.typ.j2", TEMPLATE);
    p
}

/// Visits for a month: `(id, clinic, wait_days)`.
pub fn visits(rows: &[(&str, &str, i64)]) -> RecordBatch {
    let rows: Vec<(&str, Option<&str>, i64)> = rows.iter().map(|r| (r.0, Some(r.1), r.2)).collect();
    visits_with_nulls(&rows)
}

/// Visits with possibly missing clinics: `(id, clinic, wait_days)`.
pub fn visits_with_nulls(rows: &[(&str, Option<&str>, i64)]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "visit_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as Arc<dyn Array>,
        ),
        (
            "clinic",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "wait_days",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
    ])
    .unwrap()
}

pub fn seed_visits(p: &TestProject) -> Vec<(&'static str, &'static str, &'static str, i64)> {
    // (month, id, clinic, wait_days). March is history for an April run; June is outside every period used.
    let rows = vec![
        ("2022-03", "a1", "Cardiology", 10),
        ("2022-03", "a2", "Cardiology", 50),
        ("2022-04", "b1", "Cardiology", 5),
        ("2022-04", "b2", "Cardiology", 31),
        ("2022-04", "b3", "Cardiology", 30),
        ("2022-04", "b4", "Dermatology", 90),
        ("2022-05", "c1", "Dermatology", 12),
        ("2022-06", "d1", "Dermatology", 1),
    ];
    for month in ["2022-03", "2022-04", "2022-05", "2022-06"] {
        let these: Vec<(&str, &str, i64)> = rows
            .iter()
            .filter(|r| r.0 == month)
            .map(|r| (r.1, r.2, r.3))
            .collect();
        write_parquet(
            p,
            &format!("inputs/visits/month={month}/part-0.parquet"),
            &visits(&these),
        );
    }
    rows
}

fn strings(batch: &RecordBatch, col: &str) -> Vec<String> {
    let a = batch.column_by_name(col).unwrap();
    let a =
        datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
    let s = a.as_any().downcast_ref::<StringArray>().unwrap();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

fn floats(batch: &RecordBatch, col: &str) -> Vec<f64> {
    let a = batch.column_by_name(col).unwrap();
    a.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[tokio::test]
async fn runs_end_to_end_and_the_figures_match_an_independent_count() {
    let p = project();
    let rows = seed_visits(&p);
    let world = p.world();
    let plan = plan::load_named(&world.project, "waits").expect("valid plan");
    let given = BTreeMap::from([("period".to_string(), "2022-04".to_string())]);
    let params = RunParams::bind(&plan, &given).unwrap();
    let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect("run succeeds");

    // The record: published, every step succeeded, inputs are exactly March and April.
    let record: RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(&outcome.record_path)).unwrap())
            .unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    // Published by the pointer (checked below); the record leaves that to it.
    assert!(outcome.record.published && !record.published);
    assert!(
        record
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Succeeded),
        "{:?}",
        record.steps
    );
    let objects: Vec<&str> = record.inputs[0]
        .objects
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(
        objects,
        vec![
            "inputs/visits/month=2022-03/part-0.parquet",
            "inputs/visits/month=2022-04/part-0.parquet"
        ]
    );
    assert!(
        record.inputs[0]
            .objects
            .iter()
            .all(|o| o.sha256.len() == 64 && o.size > 0)
    );
    assert!(record.files.contains_key("sql/waits/by_clinic.sql"));
    assert!(
        record
            .outputs
            .iter()
            .all(|o| p.store_file(&o.path).exists())
    );
    let by_clinic_step = record.steps.iter().find(|s| s.id == "by_clinic").unwrap();
    assert_eq!(
        by_clinic_step.rows,
        Some(3),
        "Cardiology in March and April, Dermatology in April"
    );

    // The summary for April, computed independently over the rows: within = wait_days <= 30.
    let mut expected: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for (month, _, clinic, wait) in &rows {
        if *month == "2022-04" {
            let e = expected.entry(clinic).or_default();
            e.0 += 1;
            e.1 += u32::from(*wait <= 30);
        }
    }
    let summary_path = record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("summary.parquet"))
        .unwrap();
    let batches = read_parquet(&p.store_file(&summary_path.path));
    let batch = &batches[0];
    let clinics = strings(batch, "clinic");
    let shares = floats(batch, "share_within");
    assert_eq!(
        clinics,
        vec!["Cardiology", "Dermatology"],
        "sorted deterministically"
    );
    for (clinic, share) in clinics.iter().zip(&shares) {
        let (n, within) = expected[clinic.as_str()];
        assert!(
            (share - within as f64 / n as f64).abs() < 1e-12,
            "{clinic}: {share}"
        );
    }

    // The PDF shows the same figures under the disclosure rule: 3 and 1 visits are small numbers, so
    // they print as `<5` and the shares computed from them are withheld (`*`).
    let pdf = outcome.reports().into_iter().next().expect("a report");
    let text = pdf_text(&p.store_file(&pdf));
    assert!(text.contains("Cardiology <5 *"), "{text}");
    assert!(text.contains("Dermatology <5 *"), "{text}");
    // One page of report, then the appendix "Data sources and lineage".
    assert!(text.contains("Page 1 of 2"), "{text}");
    assert!(text.contains("Data sources and lineage"), "{text}");

    // The published index points at this run.
    let pointer = std::fs::read_to_string(p.store_file("published/waits/2022-04.json")).unwrap();
    assert!(pointer.contains(&record.run_id));
}

#[tokio::test]
async fn a_quarter_reads_its_three_months_and_a_parameter_changes_the_answer() {
    let p = project();
    seed_visits(&p);
    let world = p.world();
    let plan = plan::load_named(&world.project, "waits").unwrap();
    let given = BTreeMap::from([
        ("period".to_string(), "2022-23-Q1".to_string()),
        ("threshold".to_string(), "100".to_string()),
    ]);
    let params = RunParams::bind(&plan, &given).unwrap();
    let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .unwrap();
    let months: Vec<String> = outcome.record.inputs[0].months.clone();
    assert_eq!(
        months,
        vec!["2022-03", "2022-04", "2022-05", "2022-06"],
        "Q1 and one month of history"
    );
    let summary = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("summary.parquet"))
        .unwrap();
    let batch = &read_parquet(&p.store_file(&summary.path))[0];
    // With a threshold of 100 days every visit is within.
    assert!(
        floats(batch, "share_within")
            .iter()
            .all(|s| (*s - 1.0).abs() < 1e-12)
    );
    let visits = batch
        .column_by_name("visits")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(
        visits.values().iter().sum::<i64>(),
        6,
        "four April visits, one in May, one in June"
    );
}

#[test]
fn plan_infers_order_and_parallel_waves() {
    let p = project();
    let world = p.world();
    let plan = plan::load_named(&world.project, "waits").unwrap();
    let order: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(order, vec!["by_clinic", "summary", "sane", "report"]);
    let waves: Vec<Vec<&str>> = plan
        .waves()
        .iter()
        .map(|w| w.iter().map(|s| s.id.as_str()).collect())
        .collect();
    assert_eq!(
        waves,
        vec![vec!["by_clinic"], vec!["summary", "sane"], vec!["report"]]
    );
}

#[test]
fn parameters_are_typed_and_checked() {
    let p = project();
    let world = p.world();
    let plan = plan::load_named(&world.project, "waits").unwrap();
    let bind = |pairs: &[(&str, &str)]| {
        let given: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RunParams::bind(&plan, &given)
    };
    assert!(bind(&[]).is_err(), "period is required");
    assert!(
        bind(&[("period", "2022-23")]).is_err(),
        "a year is not an accepted granularity"
    );
    assert!(bind(&[("period", "2022-04"), ("threshold", "ten")]).is_err());
    assert!(bind(&[("period", "2022-04"), ("colour", "red")]).is_err());
    assert!(bind(&[("period", "2022-04")]).is_ok());
}

#[tokio::test]
async fn seeds_from_yaml_and_csv_are_tables() {
    let p = project();
    seed_visits(&p);
    p.write(
        "config/waits/clinics.csv",
        "clinic,lead\nCardiology,Dr Patel\nDermatology,\"Dr O'Neill, Jr\"\n",
    );
    p.write(
        "config/waits/targets.yaml",
        "- { clinic: Cardiology, target: 0.9 }\n- { clinic: Dermatology, target: 0.5 }\n",
    );
    p.write(
        "sql/waits/against_target.sql",
        "SELECT c.clinic, c.lead, t.target, s.share_within, s.share_within >= t.target AS met
         FROM summary s JOIN clinics c ON c.clinic = s.clinic JOIN targets t ON t.clinic = s.clinic",
    );
    let spec = PIPELINE.replace(
        "steps:\n",
        "seeds:\n  clinics: waits/clinics.csv\n  targets: waits/targets.yaml\nsteps:\n  - id: against_target\n    sql: waits/against_target.sql\n",
    );
    p.write("pipelines/waits.yaml", &spec);
    let outcome = crate::support::run_period(&p, "waits", "2022-04")
        .await
        .expect("runs");
    let out = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("against_target.parquet"))
        .unwrap();
    let batch = &read_parquet(&p.store_file(&out.path))[0];
    assert_eq!(strings(batch, "clinic"), vec!["Cardiology", "Dermatology"]);
    assert_eq!(strings(batch, "lead"), vec!["Dr Patel", "Dr O'Neill, Jr"]);
    assert_eq!(
        strings(batch, "met"),
        vec!["false", "false"],
        "66.7% < 90% and 0% < 50%"
    );
    assert!(
        outcome
            .record
            .files
            .contains_key("config/waits/clinics.csv"),
        "seed files are recorded with their hashes"
    );
}

/// With `metrics.textfile_dir`, every run rewrites `boardpack_<pipeline>.prom` for node_exporter's textfile
/// collector: the last run's outcome, durations, rows and cache use, in Prometheus text format.
#[test]
fn a_run_writes_its_metrics_for_the_textfile_collector() {
    let p = project();
    seed_visits(&p);
    p.write(
        "config/boardpack.yaml",
        "metrics:\n  textfile_dir: metrics\n",
    );
    let (code, out) =
        crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{out}");
    let prom = std::fs::read_to_string(p.root().join("metrics/boardpack_waits.prom"))
        .expect("the metrics file");
    assert!(
        prom.contains("# TYPE boardpack_run_succeeded gauge"),
        "{prom}"
    );
    assert!(
        prom.contains("boardpack_run_succeeded{pipeline=\"waits\",period=\"2022-04\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("boardpack_run_published{pipeline=\"waits\",period=\"2022-04\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("boardpack_step_rows{pipeline=\"waits\",period=\"2022-04\",step=\"by_clinic\",kind=\"sql\"} 3"),
        "{prom}"
    );
    assert!(
        prom.contains(
            "boardpack_input_rows{pipeline=\"waits\",period=\"2022-04\",input=\"visits\"}"
        ),
        "{prom}"
    );
    // Every sample line is `name{labels} number`.
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("a value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
    }
    // A failed run rewrites it: the last run did not succeed.
    std::fs::remove_dir_all(p.store_file("inputs/visits/month=2022-04")).unwrap();
    let (code, _) = crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 1);
    let prom = std::fs::read_to_string(p.root().join("metrics/boardpack_waits.prom")).unwrap();
    assert!(
        prom.contains("boardpack_run_succeeded{pipeline=\"waits\",period=\"2022-04\"} 0"),
        "{prom}"
    );
    assert!(
        !p.root()
            .join("metrics/.boardpack_waits.prom.partial")
            .exists()
    );
}
