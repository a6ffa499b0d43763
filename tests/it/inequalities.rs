//! The health-inequalities lens of the board pack: splits by deprivation, ethnic group and Place add up to
//! the whole, and the rates, Wilson intervals, the deprivation gap with its Newcombe interval and the slope
//! index of inequality equal figures computed here in plain Rust from the sample's records; small groups
//! are suppressed in the printed section.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, Int64Array, TimestampMicrosecondArray};
use serde_json::{Map, Value};

use crate::sample_pack::{assert_contains, col, shared_pack, table_rows};
use crate::support::{TestProject, pdf_text, read_parquet, repo, run_period};

const HOUR: i64 = 3_600_000_000;
/// The normal quantile for a two-sided 95% interval.
const Z: f64 = 1.959_963_984_540_054;

fn wilson(x: f64, n: f64) -> (f64, f64) {
    let p = x / n;
    let centre = p + Z * Z / (2.0 * n);
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt();
    let d = 1.0 + Z * Z / n;
    ((centre - half) / d, (centre + half) / d)
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} against {b}");
}

fn f(r: &Map<String, Value>, k: &str) -> f64 {
    r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r:?}"))
}

#[tokio::test]
async fn a_and_e_split_by_deprivation_matches_the_records() {
    let (store, outcome) = shared_pack().await;
    // Attendances and those within 4 hours, by IMD quintile, counted from April 2022's records.
    let mut by_quintile: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    let mut total = 0.0;
    for b in read_parquet(
        &store
            .path()
            .join("inputs/ae_attendances/month=2022-04/part-0.parquet"),
    ) {
        let arr = col::<TimestampMicrosecondArray>(&b, "arrival_time");
        let dep = col::<TimestampMicrosecondArray>(&b, "departure_time");
        let imd = col::<Int64Array>(&b, "imd_decile");
        for i in 0..b.num_rows() {
            total += 1.0;
            if imd.is_null(i) {
                continue;
            }
            let e = by_quintile.entry((imd.value(i) + 1) / 2).or_default();
            e.0 += f64::from(dep.value(i) - arr.value(i) <= 4 * HOUR);
            e.1 += 1.0;
        }
    }
    assert_eq!(by_quintile.len(), 5, "every quintile has attendances");

    let split = table_rows(store.path(), outcome, "inequality_split");
    let april: Vec<&Map<String, Value>> = split
        .iter()
        .filter(|r| r["metric_id"] == "ae_4h" && r["month"] == "2022-04")
        .collect();
    // Every split of the metric adds up to the whole month.
    for dimension in ["imd_quintile", "ethnic_group", "place"] {
        let sum: f64 = april
            .iter()
            .filter(|r| r["dimension"] == dimension)
            .map(|r| f(r, "denominator"))
            .sum();
        assert_eq!(sum, total, "{dimension} adds up to every attendance");
    }
    // Each quintile's counts, rate and Wilson interval.
    for (q, (x, n)) in &by_quintile {
        let row = april
            .iter()
            .find(|r| r["dimension"] == "imd_quintile" && r["quintile"] == *q)
            .unwrap_or_else(|| panic!("quintile {q}"));
        assert_eq!(f(row, "numerator"), *x, "quintile {q}");
        assert_eq!(f(row, "denominator"), *n, "quintile {q}");
        let (lo, hi) = wilson(*x, *n);
        close(f(row, "ci_lower"), lo, "Wilson lower");
        close(f(row, "ci_upper"), hi, "Wilson upper");
    }

    // The gap between quintile 1 and quintile 5, its Newcombe interval, and the slope index.
    let (x1, n1) = by_quintile[&1];
    let (x5, n5) = by_quintile[&5];
    let (p1, p5) = (x1 / n1, x5 / n5);
    let ((l1, u1), (l5, u5)) = (wilson(x1, n1), wilson(x5, n5));
    let gap = p1 - p5;
    let lower = gap - ((p1 - l1).powi(2) + (u5 - p5).powi(2)).sqrt();
    let upper = gap + ((u1 - p1).powi(2) + (p5 - l5).powi(2)).sqrt();
    // Weighted regression of the quintiles' rates on the midpoints of their cumulative population
    // share, ranked from the least deprived (quintile 5) to the most deprived.
    let weight: f64 = by_quintile.values().map(|v| v.1).sum();
    let mut cumulative = 0.0;
    let mut points = Vec::new();
    for (x, n) in by_quintile.values().rev() {
        points.push(((cumulative + n / 2.0) / weight, x / n, *n));
        cumulative += n;
    }
    let x_bar = points.iter().map(|p| p.0 * p.2).sum::<f64>() / weight;
    let y_bar = points.iter().map(|p| p.1 * p.2).sum::<f64>() / weight;
    let sii = points
        .iter()
        .map(|p| p.2 * (p.0 - x_bar) * (p.1 - y_bar))
        .sum::<f64>()
        / points
            .iter()
            .map(|p| p.2 * (p.0 - x_bar).powi(2))
            .sum::<f64>();

    let gaps = table_rows(store.path(), outcome, "inequality_gap");
    let row = gaps
        .iter()
        .find(|r| r["metric_id"] == "ae_4h" && r["month"] == "2022-04")
        .expect("a gap row for A&E in April");
    close(f(row, "gap_absolute"), gap, "gap");
    close(f(row, "gap_relative"), p1 / p5, "relative gap");
    close(f(row, "gap_lower"), lower, "gap lower");
    close(f(row, "gap_upper"), upper, "gap upper");
    close(f(row, "sii"), sii, "slope index");
    assert_eq!(row["significant"], lower > 0.0 || upper < 0.0);
    // The sample carries a realistic gradient: the most deprived wait longer in A&E.
    assert!(
        gap < 0.0,
        "4-hour performance is lower in quintile 1: {gap}"
    );

    // The pack prints the gap line with these figures.
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    assert_contains(&text, "Health inequalities");
    let pct = |v: f64| boardpack::render::format::percent(v, 1);
    let pp = |v: f64| format!("{}pp", boardpack::render::format::signed(v * 100.0, 1));
    assert_contains(
        &text,
        &format!(
            "A&E: seen within 4 hours {} {} {} {} {} to {} {}",
            pct(total_rate(&april)),
            pct(p1),
            pct(p5),
            pp(gap),
            pp(lower),
            pp(upper),
            pp(sii)
        ),
    );
}

/// The rate over every record of the month (the quintile split, `Not known` included).
fn total_rate(rows: &[&Map<String, Value>]) -> f64 {
    let q: Vec<_> = rows
        .iter()
        .filter(|r| r["dimension"] == "imd_quintile")
        .collect();
    q.iter().map(|r| f(r, "numerator")).sum::<f64>()
        / q.iter().map(|r| f(r, "denominator")).sum::<f64>()
}

#[tokio::test]
async fn waits_and_missed_appointments_are_worse_in_the_most_deprived_areas() {
    let (store, outcome) = shared_pack().await;
    let gaps = table_rows(store.path(), outcome, "inequality_gap");
    for metric in ["rtt_over_18w", "rtt_over_52w", "dm01_over_6w"] {
        let row = gaps
            .iter()
            .find(|r| r["metric_id"] == metric && r["month"] == "2022-04")
            .unwrap_or_else(|| panic!("{metric}"));
        assert!(
            f(row, "gap_lower") > 0.0,
            "{metric}: longer waits in quintile 1, beyond noise: {row:?}"
        );
    }
}

/// A split with small groups, printed by the shipped section template.
#[tokio::test]
async fn small_groups_are_suppressed_in_the_section() {
    let p = TestProject::new();
    let section = "reports/board-pack/sections/inequalities.typ.j2";
    p.write(
        section,
        &std::fs::read_to_string(repo().join(section)).unwrap(),
    );
    p.write(
        "reports/t/split.typ.j2",
        "#import \"/reports/_lib/boardpack.typ\": *\n#show: report.with(title: \"t\", period: \"p\", organisation: \"o\")\n{% include \"board-pack/sections/inequalities.typ.j2\" %}\n",
    );
    let row = |group: &str, q: i64, x: i64, n: i64, enough: bool| {
        format!(
            "- {{ metric_id: m, month: \"2022-04\", name: \"Test metric\", dimension: imd_quintile, group_label: \"{group}\", quintile: {q}, improvement: decrease, measure: proportion, per: 1, basis: patient, numerator: {x}, denominator: {n}, rate: {}, ci_lower: 0.01, ci_upper: 0.9, enough: {enough} }}\n",
            x as f64 / n as f64
        )
    };
    let mut split = String::new();
    split += &row("Q1 most deprived (Core20)", 1, 3, 40, true);
    split += &row("Q2", 2, 17, 60, true);
    split += &row("Q3", 3, 9, 55, true);
    split += &row("Q4", 4, 12, 61, true);
    split += &row("Q5 least deprived", 5, 6, 12, false);
    p.write("config/t/split.yaml", &split);
    // A gap of another month only: this month has none to print.
    p.write(
        "config/t/gap.yaml",
        "- { metric_id: m, month: \"2022-03\", name: \"Test metric\", improvement: decrease, measure: proportion, per: 1, basis: patient, overall_rate: 0.2, most_deprived_rate: 0.1, least_deprived_rate: 0.3, gap_absolute: -0.2, gap_relative: 0.33, gap_lower: -0.3, gap_upper: -0.1, significant: true, sii: -0.2 }\n",
    );
    // Elective waits by specialty: quintile 1 has three pathways only, so its average is withheld.
    p.write(
        "config/t/waits.yaml",
        "- { specialty: Urology, quintile: 1, pathways: 3, mean_weeks: 30.0 }\n- { specialty: Urology, quintile: 5, pathways: 40, mean_weeks: 12.5 }\n",
    );
    p.write(
        "pipelines/t.yaml",
        "name: t\nparameters:\n  period: { type: period }\nseeds:\n  inequality_split: t/split.yaml\n  inequality_gap: t/gap.yaml\n  inequality_wait_specialty: t/waits.yaml\nsteps:\n  - id: report\n    report: t/split.typ.j2\n    uses: [inequality_split, inequality_gap, inequality_wait_specialty]\n",
    );
    let outcome = run_period(&p, "t", "2022-04")
        .await
        .expect("the section renders");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    // Quintile 1's 3 prints as <5, and the next smallest count of the split (Q5's 6) is withheld.
    assert_contains(&text, "Q1 most deprived (Core20) 40 <5 *");
    assert_contains(&text, "Q5 least deprived 12 * Too few");
    assert!(!text.contains(" 3 7.5%"), "{text}");
    assert_contains(&text, "Q2 60 17 28.3%");
    assert_contains(&text, "No metric has a deprivation split for");
    assert_contains(&text, "Urology 43 <5 pathways – – – 12.5 wk");
}

#[tokio::test]
async fn a_quintile_with_too_few_has_no_rate_in_the_gap_table_either() {
    // One figure, one value: the split table prints "Too few" for a quintile under the metric's minimum
    // denominator, so the gap table publishes neither that end's rate nor the gap.
    let (store, outcome) = shared_pack().await;
    let split = table_rows(store.path(), outcome, "inequality_split");
    let gaps = table_rows(store.path(), outcome, "inequality_gap");
    let text = |r: &Map<String, Value>, k: &str| {
        r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let mut too_few = 0;
    for g in &gaps {
        let ends_enough = [1, 5].iter().all(|q| {
            split.iter().any(|s| {
                text(s, "metric_id") == text(g, "metric_id")
                    && text(s, "month") == text(g, "month")
                    && text(s, "dimension") == "imd_quintile"
                    && s.get("quintile").and_then(Value::as_i64) == Some(*q)
                    && s.get("enough").and_then(Value::as_bool) == Some(true)
            })
        });
        assert_eq!(
            g.get("ends_enough").and_then(Value::as_bool),
            Some(ends_enough),
            "{g:?}"
        );
        if !ends_enough {
            too_few += 1;
            for k in [
                "most_deprived_rate",
                "least_deprived_rate",
                "gap_absolute",
                "gap_lower",
                "gap_upper",
            ] {
                assert!(
                    g.get(k).is_none_or(Value::is_null),
                    "{k} published beside Too few: {g:?}"
                );
            }
        }
    }
    assert!(
        too_few > 0,
        "the sample has no end quintile with too few: the test checks nothing"
    );
}
