//! One rule for one set of records (issue 18): two inputs over the same objects share one declaration of
//! their rules (`same_as:`), so a record set aside is left out of every figure built from those objects
//! and counted once; two inputs declared over one location, each with its own rules, are refused by
//! `boardpack validate`, naming both at their file, line and column.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use boardpack::execute::{self, Silent};
use boardpack::params::RunParams;
use boardpack::period::Month;
use boardpack::plan;
use boardpack::render::format;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use datafusion::arrow::array::{ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::record_batch::RecordBatch;

use crate::pipeline::{BY_CLINIC, SUMMARY, TEMPLATE, seed_visits};
use crate::sample_pack::{assert_contains, col, pack_inputs, table_rows};
use crate::support::{TestProject, boardpack_output, pdf_text, read_parquet, repo, run_period};

const HOUR: i64 = 3_600_000_000;

/// Records that depart before they arrive, written into the sample's April 2022 A&E return.
const WRONG: usize = 6;

/// Rewrites the first `n` attendances of a month so that each departs an hour before it arrives; returns
/// how many attendances the month holds.
fn depart_before_arrival(store: &Path, month: &str, n: usize) -> usize {
    let path = store.join(format!(
        "inputs/ae_attendances/month={month}/part-0.parquet"
    ));
    let batches = read_parquet(&path);
    let schema = batches[0].schema();
    let batch = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
    let arrival = col::<TimestampMicrosecondArray>(&batch, "arrival_time");
    let departure = col::<TimestampMicrosecondArray>(&batch, "departure_time");
    let moved: TimestampMicrosecondArray = (0..batch.num_rows())
        .map(|i| {
            Some(if i < n {
                arrival.value(i) - HOUR
            } else {
                departure.value(i)
            })
        })
        .collect::<TimestampMicrosecondArray>()
        .with_timezone_opt(departure.timezone());
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if f.name() == "departure_time" {
                Arc::new(moved.clone()) as ArrayRef
            } else {
                c.clone()
            }
        })
        .collect();
    let rewritten = RecordBatch::try_new(schema, columns).unwrap();
    std::fs::write(&path, sample::parquet_bytes(&rewritten).unwrap()).unwrap();
    batch.num_rows()
}

#[tokio::test]
async fn records_set_aside_are_left_out_of_every_figure_over_their_objects() {
    let store = tempfile::tempdir().unwrap();
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, "board-pack").unwrap();
    // The pack's second reading of the A&E records shares the first's declaration.
    let history = plan
        .inputs
        .iter()
        .find(|i| i.name == "ae_attendances_history")
        .unwrap();
    assert_eq!(history.same_as.as_deref(), Some("ae_attendances"));
    assert_eq!(history.rules.rows.len(), 1);
    let april_2021 = Month {
        year: 2021,
        month: 4,
    };
    let april_2022 = Month {
        year: 2022,
        month: 4,
    };
    let opts = SampleOptions {
        from: april_2021,
        to: april_2022,
        only_months: vec![("op_attendances".to_string(), vec![april_2021, april_2022])],
        only: pack_inputs(&plan),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let received = depart_before_arrival(store.path(), "2022-04", WRONG);
    let counted = (received - WRONG) as f64;
    let last_year = read_parquet(
        &store
            .path()
            .join("inputs/ae_attendances/month=2021-04/part-0.parquet"),
    )
    .iter()
    .map(RecordBatch::num_rows)
    .sum::<usize>() as f64;

    let params = RunParams::bind(&plan, &BTreeMap::new()).unwrap();
    let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect("the board pack builds");
    let root = store.path();

    // Set aside once, under the input that declares the rule.
    let set_aside: Vec<_> = outcome
        .record
        .quarantine
        .iter()
        .map(|q| (q.input.as_str(), q.rule.as_str(), q.rows))
        .collect();
    assert_eq!(
        set_aside,
        vec![(
            "ae_attendances",
            "departure_not_before_arrival",
            WRONG as u64
        )]
    );

    // The activity table (from ae_attendances_history) and the A&E section (from ae_attendances) agree.
    let activity = table_rows(root, &outcome, "activity_summary");
    let ae_line = activity
        .iter()
        .find(|r| r["line"] == "ae_attendances")
        .expect("the A&E activity line");
    assert_eq!(ae_line["month_actual"].as_f64(), Some(counted));
    assert_eq!(ae_line["month_comparator"].as_f64(), Some(last_year));
    let ae_month = table_rows(root, &outcome, "ae_icb_month");
    let ae_april = ae_month
        .iter()
        .find(|r| r["month"] == "2022-04")
        .expect("April in the A&E table");
    assert_eq!(ae_april["attendances"].as_f64(), Some(counted));

    // And so does the PDF: the activity line, the A&E month row and one line of records set aside.
    let text = pdf_text(&root.join(&outcome.reports()[0]));
    let attendances = format::thousands(counted, 0);
    assert_contains(
        &text,
        &format!(
            "A&E attendances, all departments {} {attendances}",
            format::thousands(last_year, 0)
        ),
    );
    assert_contains(&text, &format!("Apr-22 {attendances} "));
    assert!(
        !text.contains(&format::thousands(received as f64, 0)),
        "the records set aside are counted somewhere: {text}"
    );
    assert_contains(
        &text,
        &format!(
            "ae_attendances departure_not_before_arrival arrival_time, departure_time {WRONG}"
        ),
    );
    assert_eq!(
        text.matches("departure_not_before_arrival").count(),
        1,
        "{text}"
    );
}

/// The waits pipeline with a second input over the visits: `second` is its declaration.
fn waits_with(second: &str) -> TestProject {
    let pipeline = crate::pipeline::PIPELINE.replace(
        "      - { name: wait_days, type: integer }\n",
        &format!(
            "      - {{ name: wait_days, type: integer }}\n    rules:\n      - {{ name: wait_not_negative, expr: wait_days >= 0, on_fail: quarantine }}\n{second}"
        ),
    );
    let pipeline = pipeline.replace(
        "  - id: sane\n",
        "  - id: history\n    sql: waits/history.sql\n  - id: sane\n",
    );
    let p = TestProject::new();
    p.write("pipelines/waits.yaml", &pipeline)
        .write("sql/waits/by_clinic.sql", BY_CLINIC)
        .write("sql/waits/summary.sql", SUMMARY)
        .write(
            "sql/waits/history.sql",
            "SELECT month, COUNT(*) AS visits FROM visits_history GROUP BY month ORDER BY month",
        )
        .write("reports/waits/report.typ.j2", TEMPLATE);
    p
}

#[test]
fn validate_refuses_two_inputs_over_one_location_with_their_own_rules() {
    let p = waits_with(
        "  visits_history:\n    location: inputs/visits/\n    partitioned_by: month\n    history_months: 2\n    columns:\n      - { name: visit_id, type: string, key: true }\n",
    );
    let (code, text) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 2, "{text}");
    // Both inputs, each at its `location:` (lines 9 and 19 of the pipeline).
    assert!(
        text.lines().any(|l| l.contains("pipelines/waits.yaml:19:15")
            && l.contains("inputs `visits` (pipelines/waits.yaml:9:15) and `visits_history` (pipelines/waits.yaml:19:15) both read `inputs/visits`")
            && l.contains("same_as: visits")),
        "{text}"
    );

    // An input declared `same_as` takes the other's rules: declaring its own is refused at the place.
    let p = waits_with(
        "  visits_history:\n    same_as: visits\n    history_months: 2\n    rules:\n      - { name: other, expr: wait_days < 100 }\n",
    );
    let (code, text) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("pipelines/waits.yaml:22:17:")
                && l.contains(
                    "input `visits_history` is `same_as: visits`: it reads the `rules` of `visits`"
                )),
        "{text}"
    );
    let p = waits_with("  visits_history:\n    same_as: vists\n");
    let (code, text) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("pipelines/waits.yaml:19:14")
            && text.contains("`same_as: vists` names no input of the pipeline"),
        "{text}"
    );
}

#[tokio::test]
async fn a_same_as_input_reads_the_objects_under_one_rule_over_its_own_months() {
    let p = waits_with("  visits_history:\n    same_as: visits\n    history_months: 2\n");
    seed_visits(&p);
    // A negative wait in April (read by both inputs) and in February (read only by the history).
    let rows = [("b9", "Cardiology", -3)];
    crate::support::write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &crate::pipeline::visits(&rows),
    );
    crate::support::write_parquet(
        &p,
        "inputs/visits/month=2022-02/part-0.parquet",
        &crate::pipeline::visits(&[("z1", "Cardiology", 4), ("z2", "Cardiology", -1)]),
    );
    let (code, text) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 0, "{text}");
    let outcome = run_period(&p, "waits", "2022-04").await.expect("the run");
    // Both rows set aside, once: under `visits`, which declares the rule.
    let set_aside: Vec<_> = outcome
        .record
        .quarantine
        .iter()
        .map(|q| (q.input.as_str(), q.rule.as_str(), q.rows))
        .collect();
    assert_eq!(set_aside, vec![("visits", "wait_not_negative", 2)]);
    // The history counts neither: February 1 (not 2), March 2, April 4 (not 5).
    let history = table_rows(p.root().join("lake").as_path(), &outcome, "history");
    let counts: Vec<(String, f64)> = history
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_string(),
                r["visits"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("2022-02".to_string(), 1.0),
            ("2022-03".to_string(), 2.0),
            ("2022-04".to_string(), 4.0)
        ]
    );
    // Both inputs are recorded with the months each read.
    let months = |name: &str| {
        outcome
            .record
            .inputs
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.months.clone())
            .unwrap()
    };
    assert_eq!(months("visits"), vec!["2022-03", "2022-04"]);
    assert_eq!(
        months("visits_history"),
        vec!["2022-02", "2022-03", "2022-04"]
    );
}
