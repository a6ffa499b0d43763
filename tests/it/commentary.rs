//! Commentary that cannot silently contradict the data (README, "Board pack commentary"): placeholders
//! print the figures the steps computed, formatted as the tables beside them print them; a claim the data
//! contradicts is flagged beside the commentary and warned by the run; a placeholder naming an unknown
//! metric or organisation fails the run naming the record; text from data stays text. And the shipped
//! commentary agrees with the sample data `boardpack demo` builds.

use std::path::Path;
use std::sync::Arc;

use boardpack::execute::RunOutcome;
use boardpack::period::Month;
use boardpack::plan;
use boardpack::render::format;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::sample_pack::{assert_contains, pack_inputs, table_rows};
use crate::support::{pdf_text, read_parquet, repo, run_in};

fn month(year: i32, month: u32) -> Month {
    Month { year, month }
}

/// Writes the board pack's sample inputs from April 2021 to `to` into `store` (outpatients only for the
/// months the pack compares: April 2022 and April 2021), as `boardpack demo` writes them.
async fn write_sample(store: &Path, to: Month) {
    let world = World::open(&repo(), Some(store.to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, "board-pack").unwrap();
    let opts = SampleOptions {
        from: month(2021, 4),
        to,
        only_months: vec![(
            "op_attendances".to_string(),
            vec![month(2021, 4), month(2022, 4)],
        )],
        only: pack_inputs(&plan),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
}

/// The board pack of April 2022 from `project` on the data of `store`.
async fn run_pack(
    project: &Path,
    store: &Path,
) -> Result<RunOutcome, boardpack::execute::RunFailure> {
    let world = World::open(project, Some(store.to_str().unwrap())).unwrap();
    run_in(&world, "board-pack", &[("period", "2022-04")]).await
}

/// A copy of the repository's project files (pipelines, SQL, templates, configuration), to change.
fn copy_project() -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for d in ["pipelines", "sql", "reports", "config"] {
        copy_dir(&repo().join(d), &dir.path().join(d));
    }
    dir
}

/// The report of one metric in the pack's text: from its heading to the next report's headline.
fn report_of<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no report {heading:?} in {text}"));
    let rest = &text[start..];
    let own = rest.find(" against a standard of ").expect("a headline") + 1;
    let end = rest[own..]
        .find(" against a standard of ")
        .map(|i| own + i)
        .unwrap_or(rest.len());
    &rest[..end]
}

fn number(row: &Map<String, Value>, column: &str) -> f64 {
    row[column]
        .as_f64()
        .unwrap_or_else(|| panic!("{column} in {row:?}"))
}

/// The shipped commentary, on sample data reaching past April 2022 as the demo's does (NHS 111 lags a
/// month, so April's 111 return has landed): no claim is contradicted, no flag is printed, and the figures
/// the prose quotes are the tables' own.
#[tokio::test]
async fn the_shipped_commentary_agrees_with_the_sample_data() {
    let store = tempfile::tempdir().unwrap();
    write_sample(store.path(), month(2022, 5)).await;
    let outcome = run_pack(&repo(), store.path())
        .await
        .expect("the board pack builds");
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));

    let figures = table_rows(store.path(), &outcome, "commentary_figures");
    assert!(figures.len() > 10, "{figures:?}");
    // (A null is left out of a row read back.)
    for f in &figures {
        assert!(!f.contains_key("problem"), "{f:?}");
        assert!(!f.contains_key("contradiction"), "{f:?}");
    }
    assert!(
        !outcome
            .record
            .warnings
            .iter()
            .any(|w| w.contains("commentary_agrees_with_the_data")),
        "{:?}",
        outcome.record.warnings
    );
    assert!(!text.contains("Commentary contradicts the data"), "{text}");
    assert!(!text.contains("{{"), "a placeholder left unfilled: {text}");

    // The ICB's figure as the report's headline prints it; a provider's as its row of the provider table.
    let month_rows = table_rows(store.path(), &outcome, "metric_month");
    let trolley = month_rows
        .iter()
        .find(|r| r["metric_id"] == "ae_trolley_12h" && r["month"] == "2022-04")
        .unwrap();
    let trolley = format::suppressed_count(number(trolley, "value"));
    let report = report_of(&text, "A&E: 12-hour trolley waits (0)");
    assert_contains(
        report,
        &format!("Apr-22: {trolley} against a standard of 0"),
    );
    assert_contains(report, &format!("Trolley waits rose to {trolley} in April"));

    let providers = table_rows(store.path(), &outcome, "metric_provider_month");
    let swft = providers
        .iter()
        .find(|r| {
            r["metric_id"] == "cancer_2ww_breast"
                && r["month"] == "2022-04"
                && r["provider"] == "SWFT"
        })
        .unwrap();
    let (n, d) = (number(swft, "numerator"), number(swft, "denominator"));
    let pct = format::percent(number(swft, "value"), 1);
    let report = report_of(&text, "2-week wait, breast symptomatic (93%)");
    assert_contains(
        report,
        &format!(
            "SWFT {} / {} {pct}",
            format::thousands(n, 0),
            format::thousands(d, 0)
        ),
    );
    assert_contains(report, &format!("SWFT met the standard at {pct};"));
}

/// Commentary that quotes a figure, claims what the data contradicts and carries markup, on sample data
/// whose reference data names a trust with markup; then a placeholder that names nothing.
#[tokio::test]
async fn claims_the_data_contradicts_are_flagged_and_unknown_placeholders_fail() {
    let store = tempfile::tempdir().unwrap();
    write_sample(store.path(), month(2022, 4)).await;
    // Reference data is data: SWFT's short name carries Typst markup, which must print as written.
    let orgs_path = store
        .path()
        .join("reference/organisations/organisations.parquet");
    let batch = read_parquet(&orgs_path).remove(0);
    let codes = batch
        .column_by_name("org_code")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone();
    let names = batch
        .column_by_name("short_name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let renamed: StringArray = (0..names.len())
        .map(|i| {
            Some(if codes.value(i) == "RJC" {
                "SW*FT_ #x $y$".to_string()
            } else {
                names.value(i).to_string()
            })
        })
        .collect();
    let index = batch.schema().index_of("short_name").unwrap();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(renamed);
    let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
    std::fs::write(&orgs_path, sample::parquet_bytes(&batch).unwrap()).unwrap();

    let project = copy_project();
    let commentary = project.path().join("config/board-pack/commentary.yaml");
    std::fs::write(
        &commentary,
        r#"- period: "2022-04"
  metric_id: ae_4h
  issues: |
    Prose with *no bold* #strong[no call] $x^2$ <no-label> quotes {{ ae_4h }} within 4 hours.
  updates: |
    The standard was met, at {{ ae_4h | met }}.
  recovery_actions: |
    The renamed trust stood at {{ ae_4h@RJC | was 0.1% }}.
"#,
    )
    .unwrap();
    let outcome = run_pack(project.path(), store.path())
        .await
        .expect("contradicted claims warn; the pack builds");
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    let report = report_of(&text, "A&E: seen within 4 hours (95%)");

    // (a) The placeholder prints the headline's figure, which is the step's value formatted.
    let month_rows = table_rows(store.path(), &outcome, "metric_month");
    let row = month_rows
        .iter()
        .find(|r| r["metric_id"] == "ae_4h" && r["month"] == "2022-04")
        .unwrap();
    let icb = format::percent(number(row, "value"), 1);
    assert_contains(report, &format!("Apr-22: {icb} against a standard of 95%"));
    // (d) Markup in the prose and in a trust's name from the data prints as written.
    assert_contains(
        report,
        &format!(
            "Prose with *no bold* #strong[no call] $x^2$ <no-label> quotes {icb} within 4 hours."
        ),
    );
    let provider = table_rows(store.path(), &outcome, "metric_provider_month")
        .into_iter()
        .find(|r| {
            r["metric_id"] == "ae_4h" && r["month"] == "2022-04" && r["provider_code"] == "RJC"
        })
        .unwrap();
    let rjc = format::percent(number(&provider, "value"), 1);
    assert_contains(report, &format!("The renamed trust stood at {rjc}."));

    // (b) Each contradicted claim is flagged beside the commentary, after it in the same report.
    let flag = report
        .find("Commentary contradicts the data")
        .unwrap_or_else(|| panic!("no flag in {report}"));
    assert!(
        report.find("The standard was met").unwrap() < flag,
        "{report}"
    );
    assert_contains(
        report,
        &format!(
            "“ae_4h | met” (Update) says the standard was met, but the ICB's figure for Apr-22 is {icb}, which does not meet it"
        ),
    );
    assert_contains(
        report,
        &format!(
            "“ae_4h@RJC | was 0.1%” (Recovery actions) was written against 0.1%, but SW*FT_ #x $y$'s figure for Apr-22 is now {rjc}"
        ),
    );
    // … and the run warns of each.
    let warned = |needle: &str| {
        outcome.record.warnings.iter().any(|w| {
            w.contains("commentary_agrees_with_the_data")
                && w.contains(needle)
                && w.contains("ae_4h")
        })
    };
    assert!(warned("not_met"), "{:?}", outcome.record.warnings);
    assert!(warned("changed"), "{:?}", outcome.record.warnings);

    // (c) A placeholder naming an unknown metric or organisation fails the run, naming the record.
    std::fs::write(
        &commentary,
        r#"- period: "2022-04"
  metric_id: cancer_2ww
  issues: |
    Quoting {{ cancer_2ww@NOWHERE }} and {{ no_such_metric | rose }}.
  updates: |
    None.
  recovery_actions: |
    None.
"#,
    )
    .unwrap();
    let failure = run_pack(project.path(), store.path())
        .await
        .expect_err("an unknown placeholder fails the run");
    for needle in [
        "commentary_placeholders_resolve",
        r#""period":"2022-04""#,
        r#""metric_id":"cancer_2ww""#,
        r#""placeholder":"cancer_2ww@NOWHERE""#,
        "no organisation `NOWHERE`",
        r#""placeholder":"no_such_metric | rose""#,
        "no metric `no_such_metric`",
    ] {
        assert!(
            failure.message.contains(needle),
            "{needle} not in {}",
            failure.message
        );
    }
}
