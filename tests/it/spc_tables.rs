//! SPC computed by a step: the `spc(...) OVER (...)` window function in a pipeline's SQL publishes the
//! figures `boardpack::spc` computes (mean, limits, point types, variation, assurance), with missing months,
//! a rebase and a one-point series; a direction that varies within a series is refused by name; and the
//! shipped board pack's `metric_assessment` is what its PDF lists as areas of concern and good progress;
//! a value copied from a suppressed count stays suppressed beside its SPC figures, and a chart of an SPC
//! table draws the step's figures, refusing a second direction.

use boardpack::spc::{self, Improvement, Options};
use serde_json::{Map, Value};

use crate::sample_pack::{shared_pack, table_rows};
use crate::support::{TestProject, pdf_text, run_period};

const SQL: &str = "WITH j AS (
    SELECT series, month, CAST(NULLIF(CAST(value AS VARCHAR), '') AS DOUBLE) AS value,
           spc(series, CAST(NULLIF(CAST(value AS VARCHAR), '') AS DOUBLE), direction, target, rebase)
               OVER (PARTITION BY series ORDER BY month) AS s
    FROM points
)
SELECT series, month, value, s['mean'] AS mean, s['lower'] AS lower, s['upper'] AS upper,
       s['point_type'] AS point_type, s['rule'] AS rule, s['segment'] AS segment,
       s['variation'] AS variation, s['assurance'] AS assurance
FROM j ORDER BY series, month";

/// A project whose one SQL step runs `SQL` over the seed `points` (CSV: series, month, value, direction,
/// target, rebase).
fn project(csv: &str) -> TestProject {
    let p = TestProject::new();
    p.write("config/points.csv", csv)
        .write("sql/s/judged.sql", SQL)
        .write(
            "pipelines/s.yaml",
            "name: s
parameters:
  period: { type: period }
inputs: {}
seeds:
  points: points.csv
steps:
  - id: judged
    sql: s/judged.sql
",
        );
    p
}

fn month(i: usize) -> String {
    format!("{}-{:02}", 2020 + i / 12, i % 12 + 1)
}

/// CSV rows of one series; `None` is a missing month.
fn csv_rows(
    series: &str,
    values: &[Option<f64>],
    direction: &str,
    target: &str,
    rebase_at: Option<usize>,
) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{series},{},{},{direction},{target},{}\n",
                month(i),
                v.map(|x| x.to_string()).unwrap_or_default(),
                rebase_at == Some(i)
            )
        })
        .collect()
}

/// A text cell; the JSON of a table's rows leaves a NULL cell out.
fn text(row: &Map<String, Value>, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_str).map(str::to_string)
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts that the published rows of `series` are `spc::analyse`'s figures of its values (missing months
/// left out, their rows empty).
fn assert_matches(
    rows: &[Map<String, Value>],
    series: &str,
    values: &[Option<f64>],
    opts: &Options,
) {
    let rows: Vec<&Map<String, Value>> = rows.iter().filter(|r| r["series"] == series).collect();
    assert_eq!(rows.len(), values.len(), "{series}");
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let a = spc::analyse(&present, opts);
    let mut k = 0;
    for (i, (row, v)) in rows.iter().zip(values).enumerate() {
        let at = format!("{series}, month {i}");
        assert_eq!(
            text(row, "variation"),
            a.variation.as_ref().map(snake),
            "{at}"
        );
        assert_eq!(
            text(row, "assurance"),
            a.assurance.as_ref().map(snake),
            "{at}"
        );
        if v.is_none() {
            for c in ["mean", "lower", "upper", "point_type", "segment"] {
                assert!(row.get(c).is_none_or(Value::is_null), "{at}: {c} {row:?}");
            }
            continue;
        }
        let p = &a.points[k];
        k += 1;
        let close = |c: &str, want: Option<f64>| match (row.get(c).and_then(Value::as_f64), want) {
            (Some(got), Some(want)) => {
                assert!((got - want).abs() < 1e-9, "{at}: {c} {got} ≠ {want}")
            }
            (got, want) => assert_eq!(got, want, "{at}: {c}"),
        };
        close("mean", Some(p.mean));
        close("lower", p.lower_limit);
        close("upper", p.upper_limit);
        assert_eq!(text(row, "point_type"), Some(snake(&p.point_type)), "{at}");
        assert_eq!(text(row, "rule"), p.rule.as_ref().map(snake), "{at}");
        assert_eq!(
            row.get("segment").and_then(Value::as_u64),
            Some(p.segment as u64),
            "{at}"
        );
    }
}

#[tokio::test]
async fn the_window_function_publishes_what_spc_computes() {
    // Twelve months about 10, then eight well above: a shift, special-cause improvement when higher is
    // better, and the target of 8 below the lower limit: consistently passes.
    let base = [
        10.0, 11.0, 9.5, 10.5, 10.0, 9.0, 11.0, 10.0, 10.5, 9.5, 10.0, 11.0,
    ];
    let shift: Vec<Option<f64>> = base
        .iter()
        .copied()
        .chain([14.0, 15.0, 14.5, 15.5, 14.0, 15.0, 14.5, 15.0])
        .map(Some)
        .collect();
    // The same series with two missing months, and lower is better.
    let mut gaps = shift.clone();
    gaps[3] = None;
    gaps[15] = None;
    // Re-based at month 12: the shift is its own segment, with its own limits.
    let rebased = shift.clone();
    // One point: no limits, and "inconsistent" (hit and miss) against a target.
    let single = vec![Some(40.0)];
    let mut csv = String::from("series,month,value,direction,target,rebase\n");
    csv += &csv_rows("shift", &shift, "increase", "8", None);
    csv += &csv_rows("gaps", &gaps, "decrease", "", None);
    csv += &csv_rows("rebased", &rebased, "increase", "12", Some(12));
    csv += &csv_rows("single", &single, "increase", "30", None);
    let p = project(&csv);
    let outcome = run_period(&p, "s", "2022-04")
        .await
        .expect("the run succeeds");
    let rows = table_rows(&p.store_file(""), &outcome, "judged");

    let opts = |dir, target, rebase_at: Vec<usize>| Options {
        improvement: Some(dir),
        target,
        rebase_at,
        ..Default::default()
    };
    assert_matches(
        &rows,
        "shift",
        &shift,
        &opts(Improvement::Increase, Some(8.0), vec![]),
    );
    assert_matches(
        &rows,
        "gaps",
        &gaps,
        &opts(Improvement::Decrease, None, vec![]),
    );
    assert_matches(
        &rows,
        "rebased",
        &rebased,
        &opts(Improvement::Increase, Some(12.0), vec![12]),
    );
    assert_matches(
        &rows,
        "single",
        &single,
        &opts(Improvement::Increase, Some(30.0), vec![]),
    );

    // And the known values, so that the comparison cannot pass by both sides being empty.
    let of = |series: &str| -> Vec<&Map<String, Value>> {
        rows.iter().filter(|r| r["series"] == series).collect()
    };
    let last = *of("shift").last().unwrap();
    assert_eq!(last["variation"], "improvement_high");
    assert_eq!(last["assurance"], "consistently_passes");
    assert_eq!(last["point_type"], "improvement");
    assert_eq!(of("gaps").last().unwrap()["variation"], "concern_high");
    assert!(of("gaps")[3].get("mean").is_none_or(Value::is_null));
    let r = of("rebased");
    assert_eq!(
        (r[11]["segment"].as_u64(), r[12]["segment"].as_u64()),
        (Some(0), Some(1))
    );
    let mean_after: f64 = [14.0, 15.0, 14.5, 15.5, 14.0, 15.0, 14.5, 15.0]
        .iter()
        .sum::<f64>()
        / 8.0;
    assert!((r[12]["mean"].as_f64().unwrap() - mean_after).abs() < 1e-9);
    let s = of("single")[0];
    assert!(
        text(s, "lower").is_none() && s.get("lower").is_none_or(Value::is_null),
        "{s:?}"
    );
    assert!(s.get("upper").is_none_or(Value::is_null), "{s:?}");
    assert_eq!(s["point_type"], "common_cause");
    assert_eq!(s["assurance"], "hit_and_miss");
}

#[tokio::test]
async fn a_direction_that_varies_within_a_series_is_refused_naming_it() {
    let mut csv = String::from("series,month,value,direction,target,rebase\n");
    csv += &csv_rows("steady", &[Some(1.0), Some(2.0)], "increase", "", None);
    csv += "wobbly,2020-01,1,increase,,false\nwobbly,2020-02,2,decrease,,false\n";
    let p = project(&csv);
    let failure = run_period(&p, "s", "2022-04")
        .await
        .expect_err("a series with two directions");
    for expected in [
        "series `wobbly`",
        "improvement direction",
        "`increase`",
        "`decrease`",
    ] {
        assert!(
            failure.message.contains(expected),
            "{expected:?} not in {}",
            failure.message
        );
    }
}

/// The names of the metrics the PDF's section `heading` lists, in the seed's order.
fn listed_under(text: &str, heading: &str, next: &str, names: &[(String, String)]) -> Vec<String> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("{heading:?} in the PDF"));
    let rest = &text[start + heading.len()..];
    let end = rest
        .find(next)
        .unwrap_or_else(|| panic!("{next:?} after {heading:?}"));
    let section = &rest[..end];
    names
        .iter()
        .filter(|(_, name)| section.contains(&format!("{name} ")))
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn the_board_packs_assessment_is_what_its_pdf_lists() {
    let (store, outcome) = shared_pack().await;
    let assessed = table_rows(store.path(), outcome, "metric_assessment");
    let seed = crate::support::metric_list("config/board-pack/metrics.yaml", "id");
    let names: Vec<(String, String)> = seed
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pdf = pdf_text(&store.path().join(&outcome.reports()[0]));
    // The scorecard pages: "Areas of concern", then "Good progress", then the constitutional standards.
    let scorecards = &pdf[pdf.find("The rule:").expect("the rule is printed")..];
    let concern_pdf = listed_under(scorecards, "Areas of concern", "Good progress", &names);
    let good_pdf = listed_under(
        scorecards,
        "Good progress",
        "Constitutional standards",
        &names,
    );
    let group = |g: &str| -> Vec<String> {
        names
            .iter()
            .filter(|(id, _)| {
                assessed
                    .iter()
                    .any(|a| a["metric_id"] == id.as_str() && a["assessment"] == g)
            })
            .map(|(id, _)| id.clone())
            .collect()
    };
    assert!(
        !group("concern").is_empty() && !group("good").is_empty(),
        "{assessed:?}"
    );
    assert_eq!(concern_pdf, group("concern"), "areas of concern");
    assert_eq!(good_pdf, group("good"), "good progress");
    // Each row says why, by the printed rule.
    for a in &assessed {
        let reason = a["reason"].as_str().unwrap_or_default();
        let concern_by_spc = matches!(
            a.get("variation").and_then(Value::as_str),
            Some("concern_high" | "concern_low")
        ) || a.get("assurance").and_then(Value::as_str)
            == Some("consistently_fails");
        if concern_by_spc {
            assert_eq!(a["assessment"], "concern", "{a:?}");
        }
        assert!(!reason.is_empty(), "{a:?}");
    }
}

/// A project of monthly counts (one of them 3) whose step `judged` runs `spc` over them and keeps the
/// count and its copy `value` beside the SPC figures; its report is `template`.
fn counts_project(template: &str) -> TestProject {
    let p = TestProject::new();
    let mut csv = String::from("series,month,n\n");
    for (i, n) in [40.0, 42.0, 3.0, 41.0, 39.0, 44.0].iter().enumerate() {
        csv += &format!("a,{},{n}\n", month(i));
    }
    p.write("config/counts.csv", &csv)
        .write(
            "sql/c/judged.sql",
            "WITH j AS (
    SELECT series, month, n, spc(series, n, 'increase', NULL) OVER (PARTITION BY series ORDER BY month) AS s
    FROM counts
)
SELECT series, month, n, n * 1.0 AS value, s['mean'] AS mean, s['lower'] AS lower, s['upper'] AS upper,
       s['point_type'] AS point_type, s['segment'] AS segment, s['variation'] AS variation
FROM j ORDER BY series, month",
        )
        .write(
            "reports/c/c.typ.j2",
            &format!("#import \"/reports/_lib/boardpack.typ\": *\n{template}"),
        )
        .write(
            "pipelines/c.yaml",
            "name: c
disclosure:
  suppress: 1-4
  controlled:
    reports: [report]
    tables: {}
  restricted: tables
  public:
    judged:
      segment: the SPC segment, not a count
  counts:
    judged: [n]
parameters:
  period: { type: period }
inputs: {}
seeds:
  counts: counts.csv
steps:
  - id: judged
    sql: c/judged.sql
  - id: report
    report: c/c.typ.j2
    uses: [judged]
",
        );
    p
}

#[tokio::test]
async fn a_value_copied_from_a_suppressed_count_stays_suppressed_beside_its_spc_figures() {
    // The SPC table copies the count as its value; the report must not print the 3, neither as the
    // count nor as the value beside the SPC figures, and its chart draws the step's figures.
    let p = counts_project(
        "{% for r in tables.judged %}[{{ r.month }} n={{ r.n }} value={{ r.value }} type={{ r.point_type }}] {% endfor %}\n\n{{ spc_chart(tables.judged, value=\"value\", date=\"month\", title=\"Counts\") }}",
    );
    let outcome = run_period(&p, "c", "2022-04")
        .await
        .expect("the run succeeds");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    let small = text
        .split('[')
        .find(|s| s.starts_with("2020-03"))
        .unwrap_or_else(|| panic!("the row of 2020-03 in {text}"));
    assert!(small.contains("n=<5"), "{small}");
    assert!(
        !small.contains("value=3"),
        "the copy of the count is printed: {small}"
    );
    assert!(small.contains("type=common_cause"), "{small}");
    assert!(text.contains("value=40"), "{text}");
}

#[tokio::test]
async fn a_chart_of_an_spc_tables_rows_takes_its_direction_from_the_step() {
    // The rows carry the step's judgement: a second direction given to the chart is refused, not
    // silently ignored or used for a second analysis.
    let p = counts_project(
        "{{ spc_chart(tables.judged, value=\"value\", date=\"month\", improvement=\"decrease\", title=\"Counts\") }}",
    );
    let failure = run_period(&p, "c", "2022-04")
        .await
        .expect_err("a direction beside the step's");
    for expected in [
        "spc_chart",
        "carry an SPC step's figures",
        "leave out `improvement=`",
    ] {
        assert!(
            failure.message.contains(expected),
            "{expected:?} not in {}",
            failure.message
        );
    }
}
