//! `explain` and `diff` on recorded runs of the small `waits` pipeline: the lineage of a table down to
//! the input objects it read, and the figures that changed between two runs when one input row changed.

use boardpack::execute::RunOutcome;
use chrono::{TimeZone, Utc};

use crate::pipeline::{project, seed_visits, visits};
use crate::support::{TestProject, boardpack_output, run_period_at, write_parquet};

async fn run(p: &TestProject, period: &str, at: chrono::DateTime<Utc>) -> RunOutcome {
    run_period_at(p, "waits", period, at).await
}

#[tokio::test]
async fn explain_traces_a_table_to_its_steps_sql_and_input_objects() {
    let p = project();
    seed_visits(&p);
    let r = run(
        &p,
        "2022-04",
        Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap(),
    )
    .await;
    let id = r.record.run_id.clone();

    let (code, out) = boardpack_output(&p, &["explain", &id, "summary"]);
    assert_eq!(code, 0, "{out}");
    let by_clinic_sha = &r.record.files["sql/waits/by_clinic.sql"][..12];
    // summary has one row per clinic seen in April (Cardiology, Dermatology); by_clinic one per clinic
    // and month read (March: Cardiology; April: Cardiology, Dermatology).
    for expected in [
        "lineage of `summary` in run",
        "  step summary (sql, succeeded, 2 rows)",
        "    sql sql/waits/summary.sql sha256 ",
        "      step by_clinic (sql, succeeded, 3 rows)",
        &format!("        sql sql/waits/by_clinic.sql sha256 {by_clinic_sha}"),
        "          -- Visits per clinic and month, and how many waited no longer than the threshold.",
        // The rows of the objects read, from their Parquet footers (as the record says).
        &format!(
            "          input visits (inputs/visits, months 2022-03, 2022-04, 2 object(s), {} rows)",
            r.record.inputs[0].rows.unwrap()
        ),
        "            inputs/visits/month=2022-04/part-0.parquet ",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    // Only the months read: neither May nor June.
    assert!(!out.contains("month=2022-05"), "{out}");
    assert!(!out.contains("warning"), "{out}");

    // A table path works as well; an unknown id lists the run's tables.
    let (code, out) =
        boardpack_output(&p, &["explain", &r.record_path, "tables/by_clinic.parquet"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("  step by_clinic (sql"), "{out}");
    let (code, out) = boardpack_output(&p, &["explain", &id, "nope"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("no table or step `nope`"), "{out}");
    assert!(out.contains("by_clinic, summary, report"), "{out}");

    // A changed SQL file: the lineage is today's, and says so.
    p.write(
        "sql/waits/summary.sql",
        &format!("-- edited\n{}", crate::pipeline::SUMMARY),
    );
    let (code, out) = boardpack_output(&p, &["explain", &id, "summary"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: sql/waits/summary.sql changed since the run"),
        "{out}"
    );
}

#[tokio::test]
async fn diff_names_the_changed_input_and_exactly_the_affected_figures() {
    let p = project();
    seed_visits(&p);
    let first = run(
        &p,
        "2022-04",
        Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap(),
    )
    .await;
    // b1 waited 5 days; now 45: April Cardiology has 1 of 3 visits within 30 days instead of 2.
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
    let second = run(
        &p,
        "2022-04",
        Utc.with_ymd_and_hms(2022, 8, 17, 6, 0, 0).unwrap(),
    )
    .await;
    assert_ne!(first.record.run_id, second.record.run_id);

    let (code, out) = boardpack_output(&p, &["diff", &first.record.run_id, &second.record.run_id]);
    // Outputs differ: exit 1, as diff(1); `--exit-zero` keeps 0 for a script that only wants the report.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: runs ") && out.contains("3 output(s) differ"),
        "{out}"
    );
    let (_, json) = boardpack_output(
        &p,
        &[
            "diff",
            &first.record.run_id,
            &second.record.run_id,
            "--output",
            "json",
        ],
    );
    let doc: serde_json::Value =
        serde_json::from_str(json.split("\nerror:").next().unwrap()).expect("one JSON document");
    assert_eq!(doc["different"], 3, "{doc}");
    assert!(
        doc["input_objects"][0]
            .as_str()
            .unwrap()
            .starts_with("changed  inputs/"),
        "{doc}"
    );
    let (code, again) = boardpack_output(
        &p,
        &[
            "diff",
            &first.record.run_id,
            &second.record.run_id,
            "--exit-zero",
        ],
    );
    assert_eq!(code, 0, "{again}");
    // The conclusion comes first, before the lists.
    assert!(
        out.lines().nth(1).unwrap_or_default().starts_with(
            "  summary: 3 output(s) different, 0 in one run only, 0 identical; 1 input object(s) and 0 project file(s) changed"
        ),
        "{out}"
    );
    assert!(out.contains("  parameters: unchanged"), "{out}");
    assert!(out.contains("  project files: unchanged"), "{out}");
    let changed_inputs: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("changed  inputs/"))
        .collect();
    assert_eq!(changed_inputs.len(), 1, "{out}");
    assert!(changed_inputs[0].contains(input), "{out}");

    // Every figure line (`column: key: old → new (difference)`), in table order; a plain number's
    // difference at the precision its figures are written with (here 16 digits, at most 12 shown).
    let figures: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(" → ") && l.contains("clinic="))
        .collect();
    let third = 1.0f64 / 3.0;
    assert_eq!(
        figures,
        vec![
            "within: month=2022-04, clinic=Cardiology: 2 → 1 (-1)".to_string(),
            format!(
                "share_within: month=2022-04, clinic=Cardiology: {} → {} ({:+.12})",
                2.0 / 3.0,
                third,
                third - 2.0 / 3.0
            ),
            format!(
                "share_within: clinic=Cardiology: {} → {} ({:+.12})",
                2.0 / 3.0,
                third,
                third - 2.0 / 3.0
            ),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        "{out}"
    );
    assert!(
        out.contains("  DIFFERENT  tables/by_clinic.parquet"),
        "{out}"
    );
    assert!(out.contains("  DIFFERENT  tables/summary.parquet"), "{out}");
    assert!(out.contains("  DIFFERENT  reports/report.pdf"), "{out}");
    assert!(out.contains("0 output(s) identical, 3 different"), "{out}");

    // Two runs of the same inputs: every table identical, nothing changed.
    let third_run = run(
        &p,
        "2022-04",
        Utc.with_ymd_and_hms(2022, 9, 1, 6, 0, 0).unwrap(),
    )
    .await;
    let (code, out) = boardpack_output(
        &p,
        &["diff", &second.record.run_id, &third_run.record.run_id],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("  input objects: unchanged"), "{out}");
    assert!(out.contains("3 output(s) identical, 0 different"), "{out}");

    // Another period is refused with the reason.
    let may = run(
        &p,
        "2022-05",
        Utc.with_ymd_and_hms(2022, 6, 10, 7, 0, 0).unwrap(),
    )
    .await;
    let (code, out) = boardpack_output(&p, &["diff", &first.record.run_id, &may.record.run_id]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("different periods (2022-04 and 2022-05)"),
        "{out}"
    );
}
