//! Data-quality rules of an input's contract (issue 8): rows set aside by `on_fail: quarantine`, rules over
//! several columns (`rules:` with a SQL `expr`), codes checked against a reference (`in_reference:`), schema
//! drift between months (`drift:`), and completeness of a month (`completeness:`), each provoked on small
//! hand-made Parquet and read back from the run record, the outputs and the PDF.

use std::sync::Arc;

use boardpack::plan;
use boardpack::record::RunRecord;
use datafusion::arrow::array::{
    Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::pipeline::{BY_CLINIC, SUMMARY, visits};
use crate::support::{TestProject, pdf_text, read_parquet, run_period, write_parquet};

/// The waits pipeline with `columns` (and anything after them in the input) in place of its own, a seed of
/// known clinics, and a report printing the quality findings.
/// The `summary` table of a run: (clinic, visits), by clinic.
fn summary_visits(p: &TestProject, outcome: &boardpack::execute::RunOutcome) -> Vec<(String, i64)> {
    let path = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("/tables/summary.parquet"))
        .expect("the summary table")
        .path
        .clone();
    let mut out = Vec::new();
    for b in read_parquet(&p.store_file(&path)) {
        let clinic = b.column_by_name("clinic").unwrap();
        let clinic =
            datafusion::arrow::compute::cast(clinic, &datafusion::arrow::datatypes::DataType::Utf8)
                .unwrap();
        let clinic = clinic
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        let visits = b.column_by_name("visits").unwrap();
        let visits = visits
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            out.push((clinic.value(i).to_string(), visits.value(i)));
        }
    }
    out.sort();
    out
}

fn project_with(columns: &str) -> TestProject {
    let p = TestProject::new();
    let pipeline = crate::pipeline::PIPELINE
        .replace(
            "    columns:
      - { name: visit_id, type: string, key: true }
      - { name: clinic, type: string }
      - { name: wait_days, type: integer }
",
            columns,
        )
        .replace("steps:\n", "seeds:\n  clinics: waits/clinics.csv\nsteps:\n");
    assert!(pipeline.contains(columns));
    p.write("pipelines/waits.yaml", &pipeline)
        .write(
            "config/waits/clinics.csv",
            "clinic\nCardiology\nDermatology\n",
        )
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write(
            "reports/waits/report.typ.j2",
            r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})
= Clinic waits
{%- for r in tables.summary %}
{{ r.clinic }}: {{ r.visits | count }} visits.
{%- endfor %}

= Data quality
{%- for q in quality.quarantined %}
Quarantined {{ q.rows }} row(s) of {{ q.input }} by rule {{ q.rule }}.
{%- endfor %}
{%- for g in quality.gaps %}
Caveat: {{ g.text }}
{%- endfor %}
"#,
        );
    p
}

fn record(p: &TestProject, path: &str) -> RunRecord {
    serde_json::from_slice(&std::fs::read(p.store_file(path)).unwrap()).unwrap()
}

const QUARANTINED: &str = "    columns:
      - { name: visit_id, type: string, key: true }
      - { name: clinic, type: string, in_reference: { seed: clinics, column: clinic }, on_fail: quarantine }
      - { name: wait_days, type: integer, min: 0, on_fail: quarantine }
      - { name: seen_days, type: integer, nullable: false, on_fail: quarantine }
    rules:
      - { name: seen_after_waiting, expr: \"seen_days >= wait_days\", on_fail: quarantine }
";

const NO_SEEN: i64 = i64::MIN;

/// Visits with a second number: `(id, clinic, wait_days, seen_days)`.
fn visits_seen(rows: &[(&str, &str, i64, i64)]) -> RecordBatch {
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
        (
            "seen_days",
            // `NO_SEEN` stands for a missing value.
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| (r.3 != NO_SEEN).then_some(r.3))
                    .collect::<Vec<_>>(),
            )),
        ),
    ])
    .unwrap()
}

#[tokio::test]
async fn quarantined_rows_are_set_aside_counted_and_printed() {
    let p = project_with(QUARANTINED);
    write_parquet(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &visits_seen(&[("a1", "Cardiology", 10, 12)]),
    );
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits_seen(&[
            ("b1", "Cardiology", 5, 5),
            ("b2", "Cardiology", 31, 40),
            // Unknown clinic, negative wait, seen before waiting (twice: the wait is also negative).
            ("x1", "Oncology", 3, 4),
            ("x2", "Dermatology", -2, -5),
            ("x3", "Dermatology", 9, 1),
            // No seen date where the contract says `nullable: false`.
            ("x5", "Cardiology", 4, NO_SEEN),
            ("b3", "Dermatology", 90, 91),
        ]),
    );
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("quarantined rows do not fail the run");
    let rec = record(&p, &outcome.record_path);
    let counts: Vec<(String, String, u64)> = rec
        .quarantine
        .iter()
        .map(|q| (q.input.clone(), q.rule.clone(), q.rows))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("visits".to_string(), "min".to_string(), 1),
            ("visits".to_string(), "nullable".to_string(), 1),
            ("visits".to_string(), "in_reference".to_string(), 1),
            ("visits".to_string(), "seen_after_waiting".to_string(), 2),
        ],
        "{:?}",
        rec.quarantine
    );
    // The rows are written under the run's prefix, with the rules each broke.
    let path = &rec.quarantine[0].path;
    assert!(
        path.starts_with("runs/waits/2022-04/") && path.ends_with("/quarantine/visits.parquet"),
        "{path}"
    );
    let batches = read_parquet(&p.store_file(path));
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("visit_id")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..a.len()).map(move |i| a.value(i).to_string())
        })
        .collect();
    assert_eq!(ids, vec!["x1", "x2", "x3", "x5"]);
    let rules = batches[0]
        .column_by_name("quarantine_rules")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(1)
        .to_string();
    assert!(
        rules.contains("min (wait_days)") && rules.contains("seen_after_waiting"),
        "{rules}"
    );
    // The steps never saw them: April's Cardiology 2 visits, Dermatology 1 (x2 and x3 set aside).
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    // (Small numbers, the PDF prints them as `<5`; the summary table holds them.)
    assert!(text.contains("Cardiology: <5 visits"), "{text}");
    assert!(text.contains("Dermatology: <5 visits"), "{text}");
    assert_eq!(
        summary_visits(&p, &outcome),
        [
            ("Cardiology".to_string(), 2),
            ("Dermatology".to_string(), 1)
        ]
    );
    assert!(!text.contains("Oncology"), "{text}");
    assert!(
        text.contains("Quarantined 2 row(s) of visits by rule seen_after_waiting"),
        "{text}"
    );
    // A failed run removes its quarantine file with what it staged.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits_seen(&[("b1", "Cardiology", 1, 1)]),
    );
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("a repeated key still fails");
    let failed = record(&p, failure.record_path.as_deref().unwrap());
    assert!(!failed.quarantine.is_empty());
    assert!(!p.store_file(&failed.quarantine[0].path).exists());
}

#[tokio::test]
async fn rules_without_quarantine_fail_naming_object_column_count_and_examples() {
    let p = project_with(&QUARANTINED.replace(", on_fail: quarantine", ""));
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits_seen(&[
            ("b1", "Cardiology", 5, 5),
            ("x1", "Oncology", 3, 4),
            ("x3", "Dermatology", 9, 1),
            ("x4", "Dermatology", 20, 2),
        ]),
    );
    let m = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("the rules fail the run")
        .message;
    assert!(
        m.contains("input `visits`, object `inputs/visits/month=2022-04/part-0.parquet`"),
        "{m}"
    );
    assert!(
        m.contains("1 row(s) have a `clinic` not found in seed `clinics`, column `clinic`; e.g. (month=\"2022-04\", visit_id=\"x1\", clinic=\"Oncology\")"),
        "{m}"
    );
    assert!(
        m.contains("2 row(s) have `seen_days >= wait_days` false (rule `seen_after_waiting`); e.g. (month=\"2022-04\", visit_id=\"x3\", seen_days=1, wait_days=9), (month=\"2022-04\", visit_id=\"x4\", seen_days=2, wait_days=20)"),
        "{m}"
    );
}

#[test]
fn bad_rules_are_refused_at_load_with_their_place() {
    let p = project_with(
        "    columns:
      - { name: visit_id, type: string, key: true }
      - { name: clinic, type: string, in_reference: { seed: nowhere, column: clinic }, on_fail: ignore }
      - { name: wait_days, type: integer }
    rules:
      - { name: not_boolean, expr: \"wait_days + 1\" }
      - { name: unknown_column, expr: \"waited > 3\" }
    completeness: { days: clinic, max_missing: 150% }
",
    );
    let text = plan::load_named(&p.world().project, "waits")
        .expect_err("bad rules")
        .to_string();
    for expected in [
        "unknown `on_fail: ignore` (write `error` or `quarantine`)",
        "input `visits`: reference to unknown seed `nowhere`",
        "rule `not_boolean`: `wait_days + 1` is not a boolean expression",
        "rule `unknown_column`: `waited > 3` is not a boolean expression",
        "completeness `days: clinic` needs a date or timestamp column",
        "`max_missing: 150%` is not a share between 0% and 100%",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.contains("pipelines/waits.yaml:"), "{text}");
}

/// Visits of one month with `wait_days` as 32-bit integers and possibly an extra column.
fn visits_i32(rows: &[(&str, &str, i32)], extra: Option<&str>) -> RecordBatch {
    let mut cols: Vec<(&str, Arc<dyn Array>)> = vec![
        (
            "visit_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
        ),
        (
            "clinic",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "wait_days",
            Arc::new(Int32Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
    ];
    if let Some(name) = extra {
        cols.push((
            name,
            Arc::new(StringArray::from(
                rows.iter().map(|_| "x").collect::<Vec<_>>(),
            )),
        ));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

const DRIFTING: &str = "    columns:
      - { name: visit_id, type: string, key: true }
      - { name: clinic, type: string }
      - { name: wait_days, type: integer }
    drift: { allow_added_columns: true, allow_widening: true }
";

#[tokio::test]
async fn added_columns_and_widened_integers_between_months_are_read_together() {
    let p = project_with(DRIFTING);
    // March: wait_days as Int32; April: Int64 and a new column.
    write_parquet(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &visits_i32(&[("a1", "Cardiology", 10), ("a2", "Cardiology", 50)], None),
    );
    let mut april = visits(&[("b1", "Cardiology", 5), ("b2", "Dermatology", 40)]);
    april = {
        let schema = april.schema();
        let mut cols: Vec<(&str, Arc<dyn Array>)> = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .zip(april.columns().iter().cloned())
            .collect();
        cols.push((
            "referral_source",
            Arc::new(StringArray::from(vec!["GP", "GP"])),
        ));
        RecordBatch::try_from_iter(cols).unwrap()
    };
    write_parquet(&p, "inputs/visits/month=2022-04/part-0.parquet", &april);
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("allowed drift is read as one table");
    let by_clinic = read_parquet(
        &p.store_file(
            &outcome
                .record
                .outputs
                .iter()
                .find(|o| o.path.ends_with("by_clinic.parquet"))
                .unwrap()
                .path,
        ),
    );
    let visits_col = by_clinic[0]
        .column_by_name("visits")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let total: i64 = (0..visits_col.len()).map(|i| visits_col.value(i)).sum();
    assert_eq!(total, 4, "both months' visits are read");

    // Without the allowances, each difference is named with the object and the month.
    p.write(
        "pipelines/waits.yaml",
        &std::fs::read_to_string(p.root().join("pipelines/waits.yaml"))
            .unwrap()
            .replace(
                "drift: { allow_added_columns: true, allow_widening: true }",
                "drift: { allow_added_columns: true }",
            ),
    );
    let m = run_period(&p, "waits", "2022-04")
        .await
        .unwrap_err()
        .message;
    assert!(
        m.contains("input `visits`, object `inputs/visits/month=2022-04/part-0.parquet`: column `wait_days` changed type in month 2022-04: Int32 in month 2022-03"),
        "{m}"
    );
    assert!(m.contains("allow_widening: true"), "{m}");
    p.write(
        "pipelines/waits.yaml",
        &std::fs::read_to_string(p.root().join("pipelines/waits.yaml"))
            .unwrap()
            .replace(
                "drift: { allow_added_columns: true }",
                "drift: { allow_widening: true }",
            ),
    );
    let m = run_period(&p, "waits", "2022-04")
        .await
        .unwrap_err()
        .message;
    assert!(
        m.contains("column(s) `referral_source` appear in month 2022-04 but not in month 2022-03"),
        "{m}"
    );
}

#[tokio::test]
async fn a_column_renamed_between_months_is_named_with_object_and_month() {
    let p = project_with(DRIFTING);
    write_parquet(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &visits_i32(&[("a1", "Cardiology", 10)], Some("referral_source")),
    );
    // April renames `referral_source` (not in the contract) to `source`.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits_i32(&[("b1", "Cardiology", 10)], Some("source")),
    );
    let m = run_period(&p, "waits", "2022-04")
        .await
        .unwrap_err()
        .message;
    assert!(
        m.contains("input `visits`, object `inputs/visits/month=2022-04/part-0.parquet`: column `referral_source` was dropped or renamed in month 2022-04: it is in month 2022-03 (`inputs/visits/month=2022-03/part-0.parquet`) but not here (new column(s) in its place: `source`)"),
        "{m}"
    );
}

/// Attendances: `(id, provider, arrival as "YYYY-MM-DD")`.
fn attendances(rows: &[(String, &str, String)]) -> RecordBatch {
    let micros = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    };
    RecordBatch::try_from_iter(vec![
        (
            "attendance_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            )) as Arc<dyn Array>,
        ),
        (
            "provider_code",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "arrival_time",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| micros(&r.2)).collect::<Vec<_>>(),
            )),
        ),
    ])
    .unwrap()
}

fn completeness_project(max_days: &str, max_codes: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        "pipelines/ae.yaml",
        &format!(
            "name: ae
parameters:
  period: {{ type: period }}
inputs:
  attendances:
    location: inputs/attendances
    partitioned_by: month
    columns:
      - {{ name: attendance_id, type: string, key: true }}
      - {{ name: provider_code, type: string }}
      - {{ name: arrival_time, type: timestamp }}
    completeness:
      days: arrival_time
      max_missing: {max_days}
      codes: {{ column: provider_code, expected: {{ seed: providers, column: code, where: {{ kind: acute }} }}, max_missing: {max_codes} }}
seeds:
  providers: ae/providers.csv
steps:
  - id: per_provider
    sql: ae/per_provider.sql
"
        ),
    )
    .write("config/ae/providers.csv", "code,kind\nRKB,acute\nRJC,acute\nRLT,acute\nRYA,ambulance\n")
    .write(
        "sql/ae/per_provider.sql",
        "SELECT provider_code, COUNT(*) AS attendances FROM attendances GROUP BY provider_code",
    );
    // April 2022 from RKB and RJC (not RLT), every day but the 3rd and 4th.
    let mut rows = Vec::new();
    for day in (1..=30).filter(|d| *d != 3 && *d != 4) {
        for provider in ["RKB", "RJC"] {
            rows.push((
                format!("{provider}-{day}"),
                provider,
                format!("2022-04-{day:02}"),
            ));
        }
    }
    write_parquet(
        &p,
        "inputs/attendances/month=2022-04/part-0.parquet",
        &attendances(&rows),
    );
    p
}

#[tokio::test]
async fn gaps_within_the_threshold_are_caveats_and_beyond_it_fail_the_run() {
    let p = completeness_project("10%", "34%");
    let outcome = run_period(&p, "ae", "2022-04")
        .await
        .expect("2 of 30 days and 1 of 3 providers are within the thresholds");
    let warnings = &outcome.record.warnings;
    assert!(
        warnings.iter().any(|w| w
            == "input `attendances`, 2022-04: 2 of 30 day(s) of the month have no rows (6.7%): 2022-04-03, 2022-04-04"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w
            == "input `attendances`, 2022-04: 1 of 3 expected `provider_code` value(s) have no rows (33.3%): RLT"),
        "{warnings:?}"
    );

    let p = completeness_project("5%", "34%");
    let m = run_period(&p, "ae", "2022-04").await.unwrap_err().message;
    assert!(
        m.contains("input `attendances`, month 2022-04 is incomplete: 2 of 30 day(s) of the month have no rows (6.7%): 2022-04-03, 2022-04-04 — more than the `max_missing` of 5% its contract allows (objects read: `inputs/attendances/month=2022-04/part-0.parquet`)"),
        "{m}"
    );
    let p = completeness_project("10%", "20%");
    let m = run_period(&p, "ae", "2022-04").await.unwrap_err().message;
    assert!(
        m.contains("input `attendances`, month 2022-04 is incomplete: 1 of 3 expected `provider_code` value(s) have no rows (33.3%): RLT"),
        "{m}"
    );
}

/// The shipped board pack with George Eliot's April A&E return missing: within the contract's threshold
/// (one of three providers), so a caveat on the data-quality page and a warning of the run.
#[tokio::test]
async fn the_board_pack_prints_a_missing_provider_as_a_caveat() {
    let (store, outcome) = crate::sample_pack::shared_gapped_pack().await;
    let caveat = "input `ae_attendances`, 2022-04: 1 of 3 expected `provider_code` value(s) have no rows (33.3%): RLT";
    assert!(
        outcome.record.warnings.iter().any(|w| w == caveat),
        "{:?}",
        outcome.record.warnings
    );
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    assert!(
        text.contains(
            "Records set aside and incomplete months Input Month What is missing ae_attendances Apr-22 1 of 3 expected provider_code values have no records: RLT"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn rows_of_a_repeated_key_are_quarantined_when_the_key_says_so() {
    let p = project_with(
        "    columns:
      - { name: visit_id, type: string, key: true, on_fail: quarantine }
      - { name: clinic, type: string }
      - { name: wait_days, type: integer }
      - { name: seen_days, type: integer }
",
    );
    // The shipped data-quality section, as every pipeline's data-quality page includes it.
    p.write(
        "reports/waits/report.typ.j2",
        r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})
= Clinic waits
{%- for r in tables.summary %}
{{ r.clinic }}: {{ r.visits | count }} visits.
{%- endfor %}

= Data quality
{% include "_lib/input_quality.typ.j2" %}
"#,
    );
    // `a1` in March and in April: the month is part of the key, so these are two keys.
    write_parquet(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &visits_seen(&[("a1", "Cardiology", 10, 12)]),
    );
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits_seen(&[
            ("a1", "Cardiology", 5, 5),
            ("b2", "Cardiology", 31, 40),
            ("d1", "Dermatology", 3, 4),
            ("d1", "Dermatology", 7, 8),
        ]),
    );
    // `b2` again in another object of the month, and `d1` a third time.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits_seen(&[("b2", "Cardiology", 2, 3), ("d1", "Dermatology", 1, 1)]),
    );
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("a repeated key set aside does not fail the run");
    let rec = record(&p, &outcome.record_path);
    let counts: Vec<(String, String, String, u64)> = rec
        .quarantine
        .iter()
        .map(|q| (q.input.clone(), q.rule.clone(), q.column.clone(), q.rows))
        .collect();
    // Every row of each repeated key: b2 twice and d1 three times.
    assert_eq!(
        counts,
        vec![(
            "visits".to_string(),
            "key".to_string(),
            "visit_id".to_string(),
            5
        )],
        "{:?}",
        rec.quarantine
    );
    let batches = read_parquet(&p.store_file(&rec.quarantine[0].path));
    let mut ids: Vec<String> = Vec::new();
    for b in &batches {
        let a = b
            .column_by_name("visit_id")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        ids.extend((0..a.len()).map(|i| a.value(i).to_string()));
        assert!(
            b.column_by_name("__key_rows").is_none(),
            "the marking column is not written"
        );
        let rules = b
            .column_by_name("quarantine_rules")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(
            (0..rules.len()).all(|i| rules.value(i) == "key (visit_id)"),
            "{rules:?}"
        );
    }
    ids.sort();
    assert_eq!(ids, vec!["b2", "b2", "d1", "d1", "d1"]);
    // The steps read only April's `a1`; the data-quality page counts what was set aside.
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(text.contains("Cardiology: <5 visits"), "{text}");
    assert_eq!(
        summary_visits(&p, &outcome),
        [("Cardiology".to_string(), 1)]
    );
    assert!(!text.contains("Dermatology:"), "{text}");
    assert!(
        text.contains("Input Rule Column(s) Records set aside visits key visit_id 5"),
        "{text}"
    );
}

#[test]
fn key_columns_disagreeing_on_on_fail_are_refused_at_their_place() {
    let p = project_with(
        "    columns:
      - { name: visit_id, type: string, key: true, on_fail: quarantine }
      - { name: clinic, type: string, key: true }
      - { name: wait_days, type: integer }
",
    );
    let text = plan::load_named(&p.world().project, "waits")
        .expect_err("one key, two rules")
        .to_string();
    assert!(
        text.contains("pipelines/waits.yaml:")
            && text.contains(
                "input `visits`: the key columns `visit_id` and `clinic` disagree on `on_fail`"
            ),
        "{text}"
    );
}

/// The cache keeps only a clean pass of rules that look codes up in a reference: keyed by the input's
/// objects, the reference's content and the period, so that a changed reference judges the same rows
/// again, and a pass that set rows aside is never kept.
#[tokio::test]
async fn a_changed_reference_judges_unchanged_rows_again() {
    let p = project_with(QUARANTINED);
    for (month, rows) in [
        ("2022-03", vec![("a1", "Cardiology", 10, 12)]),
        (
            "2022-04",
            vec![("b1", "Cardiology", 5, 5), ("b2", "Dermatology", 31, 40)],
        ),
    ] {
        write_parquet(
            &p,
            &format!("inputs/visits/month={month}/part-0.parquet"),
            &visits_seen(&rows),
        );
    }
    let markers = || {
        std::fs::read_dir(p.store_file(boardpack::cache::RULES_PREFIX))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let quarantined = |outcome: &boardpack::execute::RunOutcome| -> Vec<(String, u64)> {
        record(&p, &outcome.record_path)
            .quarantine
            .iter()
            .map(|q| (q.rule.clone(), q.rows))
            .collect()
    };
    let clean = run_period(&p, "waits", "2022-04")
        .await
        .expect("a clean run");
    assert!(quarantined(&clean).is_empty());
    let kept = markers();
    assert_eq!(kept, 1, "the clean pass of `visits` is kept");

    // Dermatology leaves the reference: the same objects of `visits` are judged again.
    p.write("config/waits/clinics.csv", "clinic\nCardiology\n");
    let changed = run_period(&p, "waits", "2022-04")
        .await
        .expect("the re-run");
    assert_eq!(
        quarantined(&changed),
        [("in_reference".to_string(), 1)],
        "b2 is set aside"
    );
    let text = pdf_text(&p.store_file(&changed.reports()[0]));
    assert!(
        text.contains("Quarantined 1 row(s) of visits by rule in_reference."),
        "{text}"
    );
    assert_eq!(markers(), kept, "a pass that set rows aside is not kept");

    // The reference as it was: the kept pass holds again, and nothing is set aside.
    p.write(
        "config/waits/clinics.csv",
        "clinic\nCardiology\nDermatology\n",
    );
    let again = run_period(&p, "waits", "2022-04")
        .await
        .expect("the third run");
    assert!(quarantined(&again).is_empty());
    assert_eq!(markers(), kept);
}
