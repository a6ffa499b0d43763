//! Complete or refused: a month an input must hold and does not fails the run before any SQL, naming the
//! input and the month (the shipped board pack, primary-care dashboard and a user pipeline), or publishes
//! with the gap stated where the pipeline declares it (`may_lag:`, the carbon account's proxies); every
//! object under an input's prefix is read and recorded, or refused with its path; absurd values and dates
//! outside their partition are refused by the shipped contracts; the record lists the months read.

use std::path::Path;
use std::sync::Arc;

use boardpack::period::Month;
use boardpack::plan;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;

use crate::pipeline::{BY_CLINIC, PIPELINE, SUMMARY, TEMPLATE, visits};
use crate::support::{TestProject, boardpack, pdf_text, read_parquet, repo, write_parquet};

fn month(text: &str) -> Month {
    text.parse().unwrap()
}

/// Sample data of `pipeline`'s own inputs from `from` to `to`, in a store of its own.
async fn sample_store(pipeline: &str, from: &str, to: &str) -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, pipeline).unwrap();
    let mut only: Vec<String> = plan
        .inputs
        .iter()
        .map(|i| i.location.rsplit('/').next().unwrap().to_string())
        // GP appointments are about 400,000 rows a month; the board pack reads them as optional.
        .filter(|n| !(pipeline == "board-pack" && n == "gp_appointments"))
        .collect();
    only.sort();
    only.dedup();
    let opts = SampleOptions {
        from: month(from),
        to: month(to),
        only,
        lagging: Vec::new(),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    store
}

/// Runs the shipped `pipeline` of the repository on `store` through the binary.
fn run_shipped(store: &Path, pipeline: &str, period: &str) -> (i32, String) {
    let (code, out, err) = boardpack(
        &repo(),
        &[
            "--store",
            store.to_str().unwrap(),
            "run",
            pipeline,
            "--period",
            period,
            "--no-cache",
        ],
    );
    (code, format!("{out}{err}"))
}

fn published(store: &Path, pipeline: &str, period: &str) -> bool {
    store
        .join(format!("published/{pipeline}/{period}.json"))
        .exists()
}

/// Moves an input's month away (and back): `rm -r lake/inputs/<input>/month=<m>`.
fn remove_month(store: &Path, input: &str, m: &str) -> std::path::PathBuf {
    let dir = store.join(format!("inputs/{input}/month={m}"));
    let aside = store.join(format!("aside-{input}-{m}"));
    std::fs::rename(&dir, &aside).unwrap();
    aside
}

fn restore_month(store: &Path, input: &str, m: &str, aside: &Path) {
    std::fs::rename(aside, store.join(format!("inputs/{input}/month={m}"))).unwrap();
}

#[tokio::test]
async fn the_board_pack_without_its_months_finance_or_rtt_is_refused_before_sql() {
    let store = sample_store("board-pack", "2022-03", "2022-04").await;
    for input in ["finance_ledger", "rtt_waiting_list"] {
        let aside = remove_month(store.path(), input, "2022-04");
        let (code, text) = run_shipped(store.path(), "board-pack", "2022-04");
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains(&format!("input `{input}`: no data for 2022-04")),
            "the error names the input and the month: {text}"
        );
        assert!(
            text.contains("may_lag"),
            "and says how to declare a lag: {text}"
        );
        // Refused before any SQL step ran, and nothing is published.
        assert!(!text.contains("step `"), "no step ran: {text}");
        assert!(!published(store.path(), "board-pack", "2022-04"));
        restore_month(store.path(), input, "2022-04", &aside);
    }
}

#[tokio::test]
async fn the_dashboard_without_its_months_registered_population_is_refused() {
    let store = sample_store("primary-care", "2022-03", "2022-04").await;
    remove_month(store.path(), "registered_population", "2022-04");
    let (code, text) = run_shipped(store.path(), "primary-care", "2022-04");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("input `registered_population`: no data for 2022-04"),
        "{text}"
    );
    assert!(!published(store.path(), "primary-care", "2022-04"));
}

#[tokio::test]
async fn a_month_missing_from_every_energy_return_is_proxied_and_listed() {
    let store = sample_store("carbon-account", "2021-04", "2022-06").await;
    remove_month(store.path(), "carbon_energy", "2022-05");
    let (code, text) = run_shipped(store.path(), "carbon-account", "2022-23-Q1");
    assert_eq!(
        code, 0,
        "the account publishes, with the month proxied: {text}"
    );
    let record = latest_record(store.path(), "carbon-account", "2022-23-Q1");
    let table = |name: &str| -> Vec<serde_json::Map<String, serde_json::Value>> {
        let out = record["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| {
                o["path"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/tables/{name}.parquet"))
            })
            .unwrap_or_else(|| panic!("a `{name}` table"));
        let batches = read_parquet(&store.path().join(out["path"].as_str().unwrap()));
        let mut rows = Vec::new();
        for b in &batches {
            let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
            w.write(b).unwrap();
            w.finish().unwrap();
            let v: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_slice(&w.into_inner()).unwrap();
            rows.extend(v);
        }
        rows
    };
    // Every trust that returned energy in April has May's energy from May 2021.
    let activity = table("activity");
    let orgs = |m: &str, method: &str| -> std::collections::BTreeSet<String> {
        activity
            .iter()
            .filter(|r| {
                r["category"] == "building_energy" && r["month"] == m && r["method"] == method
            })
            .map(|r| r["org_code"].as_str().unwrap().to_string())
            .collect()
    };
    let april = orgs("2022-04", "reported");
    assert!(!april.is_empty());
    assert_eq!(orgs("2022-05", "proxy: same month last year"), april);
    assert!(orgs("2022-05", "reported").is_empty());
    // The coverage table (the account's data-gaps page) lists them.
    let coverage = table("coverage");
    let listed = coverage.iter().find(|r| {
        r["category"] == "building_energy"
            && r["in_period"] == true
            && r["method"] == "proxy: same month last year"
    });
    assert!(
        listed.is_some(),
        "coverage lists the proxied month: {coverage:?}"
    );
    let pdf = record["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"].as_str().unwrap().ends_with(".pdf"))
        .unwrap();
    let text = pdf_text(&store.path().join(pdf["path"].as_str().unwrap()));
    assert!(text.contains("proxy: same month last year"), "{text}");
}

/// The run record of the period's newest run.
fn latest_record(store: &Path, pipeline: &str, period: &str) -> serde_json::Value {
    let dir = store.join(format!("runs/{pipeline}/{period}"));
    let mut runs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.json").exists())
        .collect();
    runs.sort();
    let text = std::fs::read_to_string(runs.last().unwrap().join("run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn waits(extra_input_keys: &str) -> TestProject {
    let p = TestProject::new();
    let pipeline = PIPELINE.replace(
        "    history_months: 1\n",
        &format!("    history_months: 1\n{extra_input_keys}"),
    );
    p.write("pipelines/waits.yaml", &pipeline)
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write("reports/waits/report.typ.j2", TEMPLATE);
    p
}

fn put(p: &TestProject, rel: &str, rows: &[(&str, &str, i64)]) {
    write_parquet(p, rel, &visits(rows));
}

#[tokio::test]
async fn a_quarter_missing_a_month_is_refused_naming_it() {
    let p = waits("");
    put(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &[("a", "Eye", 3)],
    );
    put(
        &p,
        "inputs/visits/month=2022-06/part-0.parquet",
        &[("b", "Eye", 4)],
    );
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-23-Q1"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("input `visits`: no data for 2022-05"),
        "{text}"
    );
    assert!(text.contains("the period 2022-04 to 2022-06"), "{text}");
    assert!(text.contains("the latest month found is 2022-06"), "{text}");
}

#[tokio::test]
async fn a_declared_lag_publishes_with_the_gap_on_the_data_quality_page() {
    let p = waits("    may_lag: 1\n");
    // The report prints the shared data-quality section.
    p.write(
        "reports/waits/report.typ.j2",
        &format!("{TEMPLATE}\n{{% include \"_lib/input_quality.typ.j2\" %}}\n"),
    );
    put(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &[("a", "Eye", 3)],
    );
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{text}");
    let record = latest_record(&p.root().join("lake"), "waits", "2022-04");
    let warnings = record["warnings"].to_string();
    assert!(
        warnings.contains("input `visits`, 2022-04: no data for the month")
            && warnings.contains("figures stop at 2022-03"),
        "{warnings}"
    );
    let pdf = record["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"].as_str().unwrap().ends_with(".pdf"))
        .unwrap();
    let text = pdf_text(&p.root().join("lake").join(pdf["path"].as_str().unwrap()));
    assert!(
        text.contains("No data received for the month: the source is published up to 1 month(s) in arrears, so its figures stop at 2022-03"),
        "{text}"
    );
}

#[tokio::test]
async fn every_object_under_the_prefix_is_read_or_refused_with_its_path() {
    for (rel, says) in [
        (
            "inputs/visits/month=2022-04/sub/part-0.parquet",
            "nested below its partition",
        ),
        (
            "inputs/visits/month=2022-4/part-0.parquet",
            "`month=2022-4` is not a month partition",
        ),
        (
            "inputs/visits/month=garbage/part-0.parquet",
            "`month=garbage` is not a month partition",
        ),
        (
            "inputs/visits/part-0.parquet",
            "a Parquet object at the input's root",
        ),
        (
            "inputs/visits/2022-04/part-0.parquet",
            "`2022-04/` is not a month partition",
        ),
    ] {
        let p = waits("");
        put(
            &p,
            "inputs/visits/month=2022-04/part-0.parquet",
            &[("a", "Eye", 3)],
        );
        put(&p, rel, &[("a", "Eye", 3)]);
        let (code, text) =
            crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
        assert_eq!(code, 1, "{rel}: {text}");
        assert!(text.contains(&format!("object `{rel}`")), "{rel}: {text}");
        assert!(text.contains(says), "{rel}: {text}");
    }
    // Markers are not data and are left alone.
    let p = waits("");
    put(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &[("a", "Eye", 3)],
    );
    p.write("lake/inputs/visits/_SUCCESS", "");
    p.write("lake/inputs/visits/month=2022-04/.part-0.parquet.crc", "");
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{text}");
}

#[tokio::test]
async fn the_record_lists_the_months_read_and_warns_of_a_hole_in_the_history() {
    let p = waits("");
    let pipeline = std::fs::read_to_string(p.root().join("pipelines/waits.yaml"))
        .unwrap()
        .replace("    history_months: 1\n", "    history_months: 3\n");
    p.write("pipelines/waits.yaml", &pipeline);
    for m in ["2022-01", "2022-03", "2022-04"] {
        put(
            &p,
            &format!("inputs/visits/month={m}/part-0.parquet"),
            &[("a", "Eye", 3)],
        );
    }
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{text}");
    let record = latest_record(&p.root().join("lake"), "waits", "2022-04");
    assert_eq!(
        record["inputs"][0]["months"],
        serde_json::json!(["2022-01", "2022-03", "2022-04"]),
        "the deleted month is not listed as read"
    );
    let warnings = record["warnings"].to_string();
    assert!(
        warnings.contains("input `visits`: no data for 2022-02, a month of the history read"),
        "{warnings}"
    );
}

fn practices_batch(patients: i64) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "practice_code",
            Arc::new(StringArray::from(vec!["M1", "M2"])) as ArrayRef,
        ),
        (
            "patients",
            Arc::new(Int64Array::from(vec![9_000, patients])) as ArrayRef,
        ),
    ])
    .unwrap()
}

#[tokio::test]
async fn the_shipped_contracts_refuse_absurd_values_and_dates_outside_their_month() {
    // The shipped registered_population contract: a practice of −500,000 patients is refused.
    let plan = {
        let world = World::open(&repo(), None).unwrap();
        plan::load_named(&world.project, "primary-care").unwrap()
    };
    let pop = plan
        .inputs
        .iter()
        .find(|i| i.name == "registered_population")
        .unwrap();
    let patients = pop.columns.iter().find(|c| c.name == "patients").unwrap();
    assert_eq!(patients.min, Some(0.0));
    // Every number column of every shipped input has a bound, and event dates a partition rule.
    for name in ["board-pack", "carbon-account", "primary-care"] {
        let world = World::open(&repo(), None).unwrap();
        let plan = plan::load_named(&world.project, name).unwrap();
        assert!(
            plan.warnings().is_empty(),
            "{name}: {:?}",
            plan.warnings()
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        );
    }

    // The same rules on a user pipeline, through a run.
    let p = TestProject::new();
    p.write(
        "pipelines/lists.yaml",
        r#"
name: lists
description: List sizes
parameters:
  period: { type: period }
inputs:
  registered_population:
    location: inputs/registered_population
    partitioned_by: month
    columns:
      - { name: practice_code, type: string, key: true, nullable: false }
      - { name: patients, type: integer, nullable: false, min: 0, max: 250000 }
  appointments:
    location: inputs/appointments
    partitioned_by: month
    required: false
    columns:
      - { name: appointment_id, type: string, key: true, nullable: false }
      - { name: appointment_date, type: date, nullable: false, partition_month: within }
steps:
  - id: total
    sql: lists/total.sql
"#,
    )
    .write(
        "sql/lists/total.sql",
        "SELECT (SELECT SUM(patients) FROM registered_population) AS patients, \
         (SELECT COUNT(*) FROM appointments) AS appointments",
    );
    write_parquet(
        &p,
        "inputs/registered_population/month=2022-04/part-0.parquet",
        &practices_batch(-500_000),
    );
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "lists", "--period", "2022-04"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("below the minimum 0"), "{text}");
    assert!(text.contains("M2"), "the row is named: {text}");

    write_parquet(
        &p,
        "inputs/registered_population/month=2022-04/part-0.parquet",
        &practices_batch(7_000),
    );
    // 1900 and 2100 inside the April partition.
    let days = |d: &[(i32, u32, u32)]| -> ArrayRef {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        Arc::new(Date32Array::from(
            d.iter()
                .map(|(y, m, dd)| {
                    (chrono::NaiveDate::from_ymd_opt(*y, *m, *dd).unwrap() - epoch).num_days()
                        as i32
                })
                .collect::<Vec<_>>(),
        ))
    };
    let batch = RecordBatch::try_from_iter(vec![
        (
            "appointment_id",
            Arc::new(StringArray::from(vec!["A1", "A2", "A3"])) as ArrayRef,
        ),
        (
            "appointment_date",
            days(&[(2022, 4, 5), (1900, 1, 1), (2100, 4, 1)]),
        ),
    ])
    .unwrap();
    write_parquet(
        &p,
        "inputs/appointments/month=2022-04/part-0.parquet",
        &batch,
    );
    let (code, text) =
        crate::support::boardpack_output(&p, &["run", "lists", "--period", "2022-04"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("2 row(s) have a `appointment_date` outside its partition's month"),
        "{text}"
    );
}

#[test]
fn validate_warns_of_a_number_column_without_bounds() {
    let p = waits("");
    let (code, out, err) = boardpack(p.root(), &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("pipelines/waits.yaml:")
            && err.contains("warning: input `visits`, column `wait_days` is a number with neither `min:` nor `max:`"),
        "{err}"
    );
}
