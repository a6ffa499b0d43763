//! Disclosure enforced, not opted into (issue 19): in a pipeline written by a new user — no
//! `disclosure:` declaration, no `protect(...)`, no `suppress` filter — a count from 1 to 4 of a step
//! table prints as `<5` whatever prints it (`{{ n }}`, `count`, `num`, `pct`), arithmetic on one fails
//! the run at its template line naming the column, a column that is not a count prints as it is only
//! when `disclosure.public` names it with a reason (which the PDF prints), and the `nhs-hes` rule set
//! suppresses 1 to 7 and rounds the rest to 5.

use crate::support::{TestProject, boardpack_output, pdf_text, run_period};

const TEMPLATE: &str = "reports/r/r.typ.j2";

/// A project of one step over a seed of counts and one report of `template`; `disclosure` is the
/// pipeline's declaration (empty for none).
fn project(template: &str, disclosure: &str) -> TestProject {
    project_of(
        template,
        disclosure,
        "SELECT practice, n, d, rank, CAST(n AS DOUBLE) AS n_float FROM counts ORDER BY practice",
        "SELECT * FROM by_practice",
    )
}

/// `project`, with the SQL of its step `by_practice` and of a second step `shares` that reads it.
fn project_of(template: &str, disclosure: &str, sql: &str, shares: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        "config/counts.csv",
        "practice,n,d,rank\nA,12,40,1\nB,3,13,2\nC,0,20,3\nD,40,41,4\n",
    )
    .write("sql/r/by_practice.sql", sql)
    .write("sql/r/shares.sql", shares)
    .write(TEMPLATE, template)
    .write(
        "pipelines/r.yaml",
        &format!(
            "name: r
{disclosure}parameters:
  period: {{ type: period }}
inputs: {{}}
seeds:
  counts: counts.csv
steps:
  - id: by_practice
    sql: r/by_practice.sql
  - id: shares
    sql: r/shares.sql
  - id: report
    report: r/r.typ.j2
    uses: [by_practice, shares]
"
        ),
    );
    p
}

/// Runs April of the project's pipeline `r` and returns its PDF's text.
async fn printed(p: &TestProject) -> String {
    let outcome = run_period(p, "r", "2022-04")
        .await
        .expect("the run succeeds");
    pdf_text(&p.store_file(&outcome.reports()[0]))
}

/// The words of the PDF between `start` and `end` markers the template prints.
fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = text[from..]
        .find(end)
        .map(|i| from + i)
        .unwrap_or(text.len());
    text[from..to].trim().to_string()
}

#[tokio::test]
async fn a_new_users_report_prints_no_small_count_whatever_prints_it() {
    let p = project(
        "START {% for r in tables.by_practice %}{{ r.practice }}: {{ r.n }} / {{ r.n | count }} / \
         {{ r.n | num }} / {{ r.n | pct }} / {{ r.n | suppress }}; {% endfor %}END",
        "",
    );
    let outcome = run_period(&p, "r", "2022-04")
        .await
        .expect("the run succeeds");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    let body = between(&text, "START", "END");
    assert_eq!(
        body,
        "A: 12 / 12 / 12 / 1200.0% / 12; B: <5 / <5 / <5 / <5 / <5; C: 0 / 0 / 0 / 0.0% / 0; \
         D: 40 / 40 / 40 / 4000.0% / 40;",
        "{text}"
    );
    // Undeclared, the report is still controlled, and says so under the default rule.
    assert!(
        text.contains(
            "under small-number suppression: counts of people or events from 1 to 4 print as <5"
        ),
        "{text}"
    );
    let record: boardpack::record::RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(&outcome.record_path)).unwrap())
            .unwrap();
    let report = record
        .disclosure
        .iter()
        .find(|d| d.path.ends_with(".pdf"))
        .expect("the PDF is classified");
    assert_eq!(
        (report.class.as_str(), report.suppress.as_deref()),
        ("controlled", Some("1-4"))
    );
}

#[test]
fn arithmetic_on_a_small_count_fails_the_run_at_the_template_line_naming_the_column() {
    let p = project(
        "{% for r in tables.by_practice %}\n{{ r.practice }}\n{{ (r.n / r.d) | pct }}\n{% endfor %}\n",
        "",
    );
    let (code, text) = boardpack_output(&p, &["run", "r", "--period", "2022-04"]);
    assert_ne!(code, 0, "the run should fail:\n{text}");
    assert!(text.contains(&format!("{TEMPLATE}:3:")), "{text}");
    assert!(
        text.contains("`n` of table `by_practice` is a count under disclosure control"),
        "{text}"
    );
    assert!(
        text.contains("compute what needs it in the step's SQL"),
        "{text}"
    );
    // Nothing was published for the period.
    let published = p.store_file("published");
    assert!(
        !published.exists() || std::fs::read_dir(&published).unwrap().next().is_none(),
        "a failed run published"
    );
}

#[tokio::test]
async fn a_column_that_is_no_count_prints_as_it_is_only_when_declared_public_with_its_reason() {
    let template =
        "START {% for r in tables.by_practice %}{{ r.practice }} {{ r.rank }}; {% endfor %}END";
    // Undeclared, a rank of 1 to 4 is taken for a count.
    let p = project(template, "");
    let text = printed(&p).await;
    assert_eq!(between(&text, "START", "END"), "A <5; B <5; C <5; D <5;");

    let declared = "disclosure:
  suppress: 1-4
  controlled:
    reports: [report]
  restricted: tables
  public:
    by_practice:
      rank: the practice's place in the table, not a count of people
";
    let p = project(template, declared);
    let text = printed(&p).await;
    assert_eq!(between(&text, "START", "END"), "A 1; B 2; C 3; D 4;");
    // The appendix names the exemption and its reason.
    for said in [
        "These columns are printed as they are, being no counts of people or events",
        "by_practice rank the practice's place in the table, not a count of people",
    ] {
        assert!(text.contains(said), "{said:?} not in:\n{text}");
    }
}

#[tokio::test]
async fn a_count_of_another_type_is_under_the_rule_when_declared() {
    let template = "START {% for r in tables.by_practice %}{{ r.practice }} {{ r.n_float | num }}; {% endfor %}END";
    let declared = "disclosure:
  suppress: 1-4
  controlled:
    reports: [report]
  restricted: tables
  counts:
    by_practice: [n_float]
";
    let p = project(template, declared);
    let text = printed(&p).await;
    assert_eq!(between(&text, "START", "END"), "A 12; B <5; C 0; D 40;");
}

#[tokio::test]
async fn the_nhs_hes_rule_suppresses_1_to_7_and_rounds_the_rest_to_5() {
    let template = "START {% for r in tables.by_practice %}{{ r.practice }} {{ r.n }} of {{ r.d }}{% if r.practice != \"B\" %} {{ (r.n / r.d) | pct }}{% endif %}; {% endfor %}END";
    let declared = "disclosure:
  suppress: nhs-hes
  controlled:
    reports: [report]
  restricted: tables
  public:
    by_practice:
      rank: a place in a table
";
    let p = project(template, declared);
    let text = printed(&p).await;
    // 12 → 10, 13 → 15, 41 → 40; 3 is `*`; the rate is of the rounded figures (10 of 40 = 25%).
    assert_eq!(
        between(&text, "START", "END"),
        "A 10 of 40 25.0%; B * of 15; C 0 of 20 0.0%; D 40 of 40 100.0%;",
        "{text}"
    );
    assert!(
        text.contains(
            "the NHS England HES/ECDS method: counts of people or events from 1 to 7 print as *"
        ),
        "{text}"
    );
}

#[test]
fn an_unknown_rule_set_or_an_exemption_without_a_reason_is_refused_at_its_place() {
    let declared = "disclosure:
  suppress: 1-9
  controlled:
    reports: [report]
  restricted: tables
  public:
    by_practice:
      rank: \"\"
    nowhere:
      x: why
";
    let p = project("x", declared);
    let (code, text) = boardpack_output(&p, &["validate", "r"]);
    assert_ne!(code, 0, "{text}");
    for expected in [
        "pipelines/r.yaml:3:13: disclosure: `suppress: 1-9` is not a rule set boardpack knows: write `1-4` or `nhs-hes`",
        "disclosure: public column `by_practice.rank` needs its reason",
        "disclosure: `public` names `nowhere`, which is not a sql step",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_rate_or_a_difference_computed_from_a_small_count_is_withheld_with_it() {
    // `share` and `rest` are computed from `n` (and `d`); `mean_d` and `d` are not; `shares` computes its
    // rate one step downstream, from the first step's columns. B's `n` is 3: its share and the rest are
    // withheld with it. D's rest is 1: its share is withheld with it, and as 41 − 40 would give it away,
    // the smaller of the two it is computed from (40) is withheld too.
    let sql = "SELECT practice, SUM(n) AS n, SUM(d) AS d, SUM(n) * 1.0 / SUM(d) AS share, \
               SUM(d) - SUM(n) AS rest, AVG(d) * 1.0 AS mean_d FROM counts GROUP BY practice ORDER BY practice";
    let shares = "SELECT practice, n, n * 100.0 / d AS per_100 FROM by_practice ORDER BY practice";
    let template = "START {% for r in tables.by_practice %}{{ r.practice }} {{ r.n }} {{ r.d }} \
                    {{ r.share | pct }} {{ r.rest | count }} {{ r.mean_d | num }}; {% endfor %}\
                    {% for r in tables.shares if r.practice in [\"A\", \"B\"] %}{{ r.practice }} {{ r.per_100 | num(1) }}; {% endfor %}END";
    let p = project_of(template, "", sql, shares);
    let text = printed(&p).await;
    assert_eq!(
        between(&text, "START", "END"),
        "A 12 40 30.0% 28 40; B <5 13 * * 13; C 0 20 0.0% 20 20; D * 41 * <5 41; \
         A 30.0; B *;",
        "{text}"
    );
}

#[test]
fn validate_names_a_declared_column_the_table_will_not_have() {
    let declared = "disclosure:
  suppress: 1-4
  controlled:
    reports: [report]
  restricted: tables
  public:
    by_practice:
      rnak: a place in a table
  counts:
    by_practice: [n_flaot]
";
    let p = project("x", declared);
    let (code, text) = boardpack_output(&p, &["validate", "r"]);
    assert_ne!(code, 0, "{text}");
    for expected in [
        "disclosure: `public` names column `rnak` of `by_practice`, which has no such column; its \
         columns are d, n, n_float, practice, rank",
        "disclosure: `counts` names column `n_flaot` of `by_practice`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_withheld_numerator_over_a_denominator_of_5_takes_the_denominator_and_a_complement_with_it()
 {
    // One PCN of three practices: A's 3 is small, so the smallest other numerator (B's 5) is withheld;
    // B's denominator is 5, and `*` of 5 would be 5 of 5, so B's denominator is withheld too, and so is
    // another denominator, or the PCN's total of 55 would give B's back.
    let p = TestProject::new();
    p.write(
        "config/counts.csv",
        "pcn,practice,n,d\nP1,A,3,10\nP1,B,5,5\nP1,C,20,40\n",
    )
    .write(
        "sql/r/by_practice.sql",
        "SELECT pcn, practice, n, d FROM counts ORDER BY practice",
    )
    .write(
        TEMPLATE,
        "START {% for r in protect(tables.by_practice, group=[\"pcn\"], counts=[\"n\", \"d\"]) %}\
         {{ r.practice }} {{ r.n_shown }} {{ r.d_shown }}; {% endfor %}END",
    )
    .write(
        "pipelines/r.yaml",
        "name: r
parameters:
  period: { type: period }
inputs: {}
seeds:
  counts: counts.csv
steps:
  - id: by_practice
    sql: r/by_practice.sql
  - id: report
    report: r/r.typ.j2
    uses: [by_practice]
",
    );
    let text = printed(&p).await;
    assert_eq!(
        between(&text, "START", "END"),
        "A small withheld; B withheld withheld; C value value;",
        "{text}"
    );
}

#[tokio::test]
async fn a_template_tests_whether_a_count_is_suppressed_before_it_compares_it() {
    // `r.n >= 5` would not fail on a withheld count (minijinja orders values of different kinds by kind,
    // so it would be true of B's 3): `is suppressed` says which counts are withheld.
    let p = project(
        "START {% for r in tables.by_practice %}{{ r.practice }} \
         {{ \"hidden\" if r.n is suppressed else (\"large\" if r.n >= 5 else \"none\") }}; {% endfor %}END",
        "",
    );
    let text = printed(&p).await;
    assert_eq!(
        between(&text, "START", "END"),
        "A large; B hidden; C none; D large;"
    );
}

#[test]
fn an_ordering_test_on_a_suppressed_count_fails_the_run_rather_than_answer_by_kind() {
    let p = project(
        "{% for r in tables.by_practice | selectattr(\"n\", \"gt\", 10) %}{{ r.practice }} {% endfor %}",
        "",
    );
    let (code, text) = boardpack_output(&p, &["run", "r", "--period", "2022-04"]);
    assert_ne!(code, 0, "the run should fail:\n{text}");
    assert!(
        text.contains(
            "test `gt`: a count under disclosure control (printed as its token) cannot be compared"
        ),
        "{text}"
    );
}
