//! Nothing silent (issue 18): a chart or table fed a column its table does not have, a table the report
//! does not use, or no rows fails the run naming the template, its line and the names there are, instead
//! of publishing a blank chart or an empty table. `validate` finds the same wrong names without data, by
//! rendering every template once against the columns the plan declares.

use crate::pipeline::{TEMPLATE, project, seed_visits};
use crate::support::{TestProject, boardpack_output, pdf_text, run_period};

const TEMPLATE_FILE: &str = "reports/waits/report.typ.j2";

/// The waits project with its template's text `from` replaced by `to` (`TEMPLATE` must hold `from`).
fn with_template(from: &str, to: &str) -> TestProject {
    assert!(TEMPLATE.contains(from), "{from:?} is not in the template");
    let p = project();
    p.write(TEMPLATE_FILE, &TEMPLATE.replace(from, to));
    p
}

/// The 1-based line of the template holding `needle`.
fn line_of(template: &str, needle: &str) -> usize {
    template
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the template"))
}

/// Runs April through the binary: the run must fail (exit 1) and print `message` at the template line.
fn assert_run_fails(p: &TestProject, at_line: usize, message: &str) {
    seed_visits(p);
    let (code, text) = boardpack_output(p, &["run", "waits", "--period", "2022-04"]);
    assert_ne!(code, 0, "the run should fail:\n{text}");
    let at = format!("{TEMPLATE_FILE}:{at_line}: {message}");
    assert!(text.contains(&at), "expected {at:?} in:\n{text}");
    // Nothing published: no report of this period exists on the store.
    assert!(
        !p.store_file("published").exists()
            || !std::fs::read_dir(p.store_file("published"))
                .into_iter()
                .flatten()
                .any(|_| true),
        "a failed run published:\n{text}"
    );
}

#[test]
fn a_chart_of_a_misspelled_column_fails_the_run_naming_the_columns() {
    let to = "y=\"share_withinn\"";
    let p = with_template("y=\"share_within\"", to);
    let template = TEMPLATE.replace("y=\"share_within\"", to);
    assert_run_fails(
        &p,
        line_of(&template, to),
        "line_chart: table `by_clinic` has no column `share_withinn`; its columns are clinic, month, \
         share_within, visits, within",
    );
}

#[test]
fn a_misspelled_column_in_a_table_row_fails_the_run() {
    let p = with_template("r.visits | count", "r.visitz | count");
    let template = TEMPLATE.replace("r.visits | count", "r.visitz | count");
    assert_run_fails(
        &p,
        line_of(&template, "r.visitz"),
        "table `summary` has no column `visitz`; its columns are clinic, share_within, visits",
    );
}

#[test]
fn a_table_the_report_does_not_use_fails_the_run_naming_those_it_uses() {
    let p = with_template("in tables.summary", "in tables.sumary");
    let template = TEMPLATE.replace("in tables.summary", "in tables.sumary");
    assert_run_fails(
        &p,
        line_of(&template, "tables.sumary"),
        "no table `sumary`: the report uses by_clinic, summary",
    );
}

#[test]
fn a_filter_on_a_misspelled_column_fails_instead_of_selecting_nothing() {
    let to = "line_chart(tables.by_clinic | selectattr(\"clinc\", \"eq\", \"Cardiology\") | list,";
    let p = with_template("line_chart(tables.by_clinic,", to);
    let template = TEMPLATE.replace("line_chart(tables.by_clinic,", to);
    assert_run_fails(
        &p,
        line_of(&template, "clinc"),
        "selectattr: table `by_clinic` has no column `clinc`; its columns are clinic, month",
    );
}

#[test]
fn a_chart_of_no_rows_fails_the_run_unless_the_template_allows_it() {
    let to = "line_chart(tables.by_clinic | selectattr(\"clinic\", \"eq\", \"Nowhere\") | list,";
    let p = with_template("line_chart(tables.by_clinic,", to);
    let template = TEMPLATE.replace("line_chart(tables.by_clinic,", to);
    assert_run_fails(
        &p,
        line_of(&template, "Nowhere"),
        "line_chart: no rows to draw (the rows given were filtered to none); a blank chart is never \
         published",
    );
}

#[tokio::test]
async fn a_chart_the_template_allows_to_be_empty_says_so_in_the_pdf() {
    let to = "line_chart(tables.by_clinic | selectattr(\"clinic\", \"eq\", \"Nowhere\") | list, allow_empty=true,";
    let p = with_template("line_chart(tables.by_clinic,", to);
    seed_visits(&p);
    let outcome = run_period(&p, "waits", "2022-04").await.expect("the run");
    let reports = outcome.reports();
    let text = pdf_text(&p.store_file(&reports[0]));
    assert!(
        text.contains("Share within threshold: no data to draw."),
        "{text}"
    );
}

#[test]
fn a_chart_of_a_column_with_no_values_fails_the_run() {
    // `within` is a count of every row; `NULL` in every row is what a mistyped join would give.
    let p = with_template("y=\"share_within\"", "y=\"none_at_all\"");
    p.write(
        "sql/waits/by_clinic.sql",
        &crate::pipeline::BY_CLINIC.replace(
            "AS share_within",
            "AS share_within, CAST(NULL AS DOUBLE) AS none_at_all",
        ),
    );
    let template = TEMPLATE.replace("y=\"share_within\"", "y=\"none_at_all\"");
    assert_run_fails(
        &p,
        line_of(&template, "none_at_all"),
        "line_chart: column `none_at_all` of table `by_clinic` has no value in any of its",
    );
}

/// `boardpack validate` on a project with no data at all: exit code and everything printed.
fn validate(p: &TestProject) -> (i32, String) {
    boardpack_output(p, &["validate"])
}

#[test]
fn validate_finds_a_misspelled_chart_column_without_data() {
    let to = "y=\"share_withinn\"";
    let p = with_template("y=\"share_within\"", to);
    let template = TEMPLATE.replace("y=\"share_within\"", to);
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    // The columns are those the step's SQL plans to, against the input's declared columns.
    let at = format!("{TEMPLATE_FILE}:{}:", line_of(&template, to));
    assert!(
        text.lines().any(|l| l.contains(&at)
            && l.contains(
                "line_chart: table `by_clinic` has no column `share_withinn`; its columns are clinic, \
                 month, share_within, visits, within"
            )),
        "expected the chart's column at {at} in:\n{text}"
    );
}

#[test]
fn validate_finds_a_misspelled_row_column_and_table_without_data() {
    let p = with_template("r.visits | count", "r.visitz | count");
    let template = TEMPLATE.replace("r.visits | count", "r.visitz | count");
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    let at = format!("{TEMPLATE_FILE}:{}:", line_of(&template, "r.visitz"));
    assert!(
        text.lines().any(|l| l.contains(&at)
            && l.contains("table `summary` has no column `visitz`; its columns are clinic, share_within, visits")),
        "{text}"
    );

    let p = with_template("in tables.summary", "in tables.sumary");
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("no table `sumary`: the report uses by_clinic, summary"),
        "{text}"
    );
}

#[test]
fn validate_accepts_the_waits_template_as_it_is() {
    let p = project();
    let (code, text) = validate(&p);
    assert_eq!(code, 0, "{text}");
}

/// A copy of the shipped project (pipelines, SQL, templates, configuration), for changing a template.
fn shipped_copy() -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for d in ["pipelines", "sql", "reports", "config"] {
        copy(&crate::support::repo().join(d), &dir.path().join(d));
    }
    dir
}

#[test]
fn validate_finds_a_misspelled_column_in_the_shipped_packs_without_data() {
    let dir = shipped_copy();
    let edit = |rel: &str, from: &str, to: &str| {
        let path = dir.path().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} is not in {rel}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        line_of(&text, from)
    };
    // A chart's series in the carbon account, and a table cell of the board pack.
    let chart = edit(
        "reports/carbon-account/account.typ.j2",
        "\"footprint_target\"",
        "\"footprint_targt\"",
    );
    let cell = edit(
        "reports/board-pack/pack.typ.j2",
        "r.over_52w | suppress",
        "r.over_52_weeks | suppress",
    );
    let store = tempfile::tempdir().unwrap();
    let (code, out, err) = crate::support::boardpack(
        dir.path(),
        &["--store", store.path().to_str().unwrap(), "validate"],
    );
    let text = format!("{out}{err}");
    assert_eq!(code, 2, "{text}");
    for (at, message) in [
        (
            format!("reports/carbon-account/account.typ.j2:{chart}:"),
            "line_chart: table `annual` has no column `footprint_targt`; its columns are footprint_actual",
        ),
        (
            format!("reports/board-pack/pack.typ.j2:{cell}:"),
            "table `rtt_month` has no column `over_52_weeks`; its columns are month, over_104w, over_52w",
        ),
    ] {
        assert!(
            text.lines().any(|l| l.contains(&at) && l.contains(message)),
            "expected {message:?} at {at} in:\n{text}"
        );
    }
    assert!(
        text.contains("ok      pipelines/primary-care.yaml"),
        "{text}"
    );
}
