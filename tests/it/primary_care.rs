//! The primary-care quality dashboard: the shipped pipeline on a little of the sample data (a month and a
//! quarter), and its rules on hand-made data — funnel limits computed here independently, rollups against
//! the raw inputs, non-submitters listed and not zero, the RAG rule, and small-number suppression that
//! the printed totals cannot undo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use boardpack::execute::{self, RunOutcome, Silent};
use boardpack::params::RunParams;
use boardpack::period::Month;
use boardpack::plan;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::support::{TestProject, pdf_text, read_parquet, repo, run_period, write_parquet};

type Row = Map<String, Value>;

/// Rows of a table the run published, read back from its Parquet output.
fn table_rows(store: &Path, outcome: &RunOutcome, name: &str) -> Vec<Row> {
    let out = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with(&format!("/{name}.parquet")))
        .unwrap_or_else(|| panic!("{name} published"));
    let batches = read_parquet(&store.join(&out.path));
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write_batches(&batches.iter().collect::<Vec<_>>())
        .unwrap();
    w.finish().unwrap();
    serde_json::from_slice(&w.into_inner()).unwrap()
}

fn f(r: &Row, k: &str) -> f64 {
    r.get(k)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("{k} in {r:?}"))
}

fn s<'a>(r: &'a Row, k: &str) -> &'a str {
    r.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

/// P(X ≤ r) for Binomial(n, p), by summing the probability mass (independent of `boardpack::stats`).
fn binomial_cdf(r: i64, n: i64, p: f64) -> f64 {
    let mut ln_c = 0.0;
    let mut total = 0.0;
    for k in 0..=r.min(n) {
        if k > 0 {
            ln_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        total += (ln_c + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp();
    }
    total
}

/// P(X ≤ r) for Poisson(λ), by summing the probability mass.
fn poisson_cdf(r: i64, lambda: f64) -> f64 {
    let mut term = (-lambda).exp();
    let mut total = term;
    for k in 1..=r {
        term *= lambda / k as f64;
        total += term;
    }
    total
}

/// Spiegelhalter's interpolated limit at probability q, computed here from first principles.
fn limit(cdf: &dyn Fn(i64) -> f64, q: f64, n: f64) -> f64 {
    let mut r = 0;
    while cdf(r) < q {
        r += 1;
    }
    let below = if r == 0 { 0.0 } else { cdf(r - 1) };
    // Never below zero (with few expected events, the interpolation at r = 0 would go below).
    ((r as f64 - (cdf(r) - q) / (cdf(r) - below)) / n).max(0.0)
}

/// Writes the sample data for April to June 2022 (FFT of M84005 missing in May) and runs the dashboard
/// for April 2022 and for the quarter.
async fn build() -> (tempfile::TempDir, RunOutcome, RunOutcome) {
    let store = tempfile::tempdir().unwrap();
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    let opts = SampleOptions {
        from: Month {
            year: 2022,
            month: 4,
        },
        to: Month {
            year: 2022,
            month: 6,
        },
        gaps: vec!["friends_family_test:M84005:2022-05".parse().unwrap()],
        // Only what the dashboard reads (GP appointments are about 450,000 rows a month).
        only: sample::primary_care::input_names()
            .chain(["gp_appointments", "registered_population"])
            .map(|s| s.to_string())
            .collect(),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let plan = plan::load_named(&world.project, "primary-care").unwrap();
    let mut outcomes = Vec::new();
    // Practice pages only for one PCN's practices (M84001 to M84007), to keep the test quick.
    for (period, pages) in [("2022-04", "none"), ("2022-23-Q1", "U84001")] {
        let given = BTreeMap::from([
            ("period".to_string(), period.to_string()),
            ("practice_pages".to_string(), pages.to_string()),
        ]);
        let params = RunParams::bind(&plan, &given).unwrap();
        let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
            .await
            .unwrap_or_else(|e| panic!("the dashboard builds for {period}: {e:?}"));
        outcomes.push(outcome);
    }
    let quarter = outcomes.pop().unwrap();
    let month = outcomes.pop().unwrap();
    (store, month, quarter)
}

/// Sums a raw input column per practice over the given months.
fn raw_sum(
    store: &Path,
    input: &str,
    months: &[&str],
    filter: &dyn Fn(&RecordBatch, usize) -> bool,
    column: &str,
) -> BTreeMap<String, (i64, usize)> {
    let mut out: BTreeMap<String, (i64, usize)> = BTreeMap::new();
    for m in months {
        for b in read_parquet(&store.join(format!("inputs/{input}/month={m}/part-0.parquet"))) {
            let codes = b
                .column_by_name("practice_code")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            let values = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            for i in 0..b.num_rows() {
                if filter(&b, i) {
                    let e = out.entry(codes.value(i).to_string()).or_default();
                    e.0 += values.value(i);
                    e.1 += 1;
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn dashboard_for_a_month_and_a_quarter_on_sample_data() {
    let (store, month, quarter) = build().await;
    let store = store.path();
    let month_text = pdf_text(&store.join(&month.reports()[0]));
    let text = pdf_text(&store.join(&quarter.reports()[0]));
    for t in [&month_text, &text] {
        assert!(t.contains("ICB summary"), "{t}");
        assert!(t.contains("Funnel plots: every practice"));
        assert!(t.contains("Data notes"));
    }
    assert!(!month_text.contains("Appendix: practice profiles"));

    // Rollups equal the sums of their parts: PCN = its submitting practices, Place = its PCNs, ICB = the
    // Places — for every indicator, in the quarter.
    let practices = table_rows(store, &quarter, "practice_indicator");
    let areas = table_rows(store, &quarter, "area_indicator");
    let area = |level: &str, code: &str, ind: &str| -> Row {
        areas
            .iter()
            .find(|r| {
                s(r, "level") == level && s(r, "area_code") == code && s(r, "indicator_id") == ind
            })
            .unwrap_or_else(|| panic!("{level} {code} {ind}"))
            .clone()
    };
    let indicators: BTreeSet<String> = practices
        .iter()
        .map(|r| s(r, "indicator_id").to_string())
        .collect();
    for ind in &indicators {
        let mut by_pcn: BTreeMap<String, (f64, String)> = BTreeMap::new();
        for r in practices.iter().filter(|r| s(r, "indicator_id") == ind) {
            if r["submitted"] == true {
                let e = by_pcn
                    .entry(s(r, "pcn_code").to_string())
                    .or_insert((0.0, s(r, "place").to_string()));
                e.0 += f(r, "numerator");
            }
        }
        let mut by_place: BTreeMap<String, f64> = BTreeMap::new();
        for (pcn, (num, place)) in &by_pcn {
            let a = area("PCN", pcn, ind);
            assert!((f(&a, "numerator") - num).abs() < 1e-6, "{ind} {pcn}");
            *by_place.entry(place.clone()).or_default() += f(&a, "numerator");
        }
        let mut icb = 0.0;
        for (place, num) in &by_place {
            let a = area("Place", place, ind);
            assert!((f(&a, "numerator") - num).abs() < 1e-6, "{ind} {place}");
            icb += f(&a, "numerator");
        }
        let a = area("ICB", "ICB", ind);
        assert!((f(&a, "numerator") - icb).abs() < 1e-6, "{ind} ICB");
        assert!((f(&a, "value") - f(&a, "numerator") / f(&a, "denominator")).abs() < 1e-12);
    }

    // Against the raw inputs. A snapshot (QOF HYP008) takes June; a flow (FFT) adds up April to June, only
    // for practices that submitted every month.
    let hyp = raw_sum(
        store,
        "qof_achievement",
        &["2022-06"],
        &|b, i| {
            b.column_by_name("indicator_code")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(i)
                == "HYP008"
        },
        "numerator",
    );
    let icb_hyp = hyp.values().map(|v| v.0).sum::<i64>() as f64;
    assert_eq!(f(&area("ICB", "ICB", "qof_hyp"), "numerator"), icb_hyp);
    let fft = raw_sum(
        store,
        "friends_family_test",
        &["2022-04", "2022-05", "2022-06"],
        &|_, _| true,
        "positive",
    );
    let whole_quarter: i64 = fft.values().filter(|v| v.1 == 3).map(|v| v.0).sum();
    assert_eq!(
        f(&area("ICB", "ICB", "fft_positive"), "numerator"),
        whole_quarter as f64
    );
    assert!(
        fft.get("M84005").is_some_and(|v| v.1 == 2),
        "the gap in May"
    );

    // A practice that did not submit is listed in the data notes and shown as not submitted, never zero.
    let m05 = practices
        .iter()
        .find(|r| s(r, "practice_code") == "M84005" && s(r, "indicator_id") == "fft_positive")
        .unwrap();
    assert_eq!(m05["submitted"], false);
    assert!(m05.get("numerator").is_none_or(|v| v.is_null()), "{m05:?}");
    let non = table_rows(store, &quarter, "non_submissions");
    assert!(
        non.iter()
            .any(|r| s(r, "practice_code") == "M84005" && s(r, "source") == "fft"),
        "{non:?}"
    );
    assert!(text.contains("Appendix: practice profiles"));
    let notes = &text[text.rfind("Practices that did not submit").unwrap()..];
    assert!(notes.contains("M84005"), "{notes}");
    assert!(
        notes.contains("Friends and Family Test FFT 2 of 3"),
        "{notes}"
    );
    // Its profile page: the FFT row says so, and prints no figure.
    let appendix = &text[text.find("Appendix: practice profiles").unwrap()..];
    let profile = &appendix[appendix.find("M84005 ").unwrap()..];
    let profile = &profile[profile
        .find("Friends and Family Test: good or very good")
        .unwrap()..];
    assert!(
        profile.starts_with("Friends and Family Test: good or very good – – Not submitted"),
        "{}",
        &profile[..120]
    );
    // In the PCN's table its FFT cell says n/s (not submitted), not a figure.
    let pcn = &text[text.find("PCN: Coventry PCN 1").unwrap()..];
    let row = &pcn[pcn.find("M84005").unwrap()..pcn.find("M84006").unwrap()];
    assert!(row.contains(" n/s "), "{row}");
    // M84017 never submits its FFT: in the month too.
    let notes = &month_text[month_text.rfind("Practices that did not submit").unwrap()..];
    assert!(notes.contains("M84017"), "{notes}");

    // Funnel limits, computed here from the binomial and Poisson distributions for a few practices.
    let funnel = table_rows(store, &month, "practice_funnel");
    let mut checked = 0;
    for ind in [
        "qof_hyp",
        "cervical",
        "smi_checks_registers",
        "incidents",
        "complaints",
    ] {
        for r in funnel
            .iter()
            .filter(|r| s(r, "indicator_id") == ind && r["submitted"] == true)
            .take(3)
        {
            let theta = f(r, "icb_value");
            let n = f(r, "denominator");
            let (lo, hi) = if s(r, "funnel") == "binomial" {
                let cdf = |k: i64| binomial_cdf(k, n as i64, theta);
                (limit(&cdf, 0.001, n), limit(&cdf, 0.975, n))
            } else {
                let cdf = |k: i64| poisson_cdf(k, theta * n);
                (limit(&cdf, 0.001, n), limit(&cdf, 0.975, n))
            };
            assert!((f(r, "lower_outer") - lo).abs() < 1e-7, "{ind} {r:?} {lo}");
            assert!((f(r, "upper_inner") - hi).abs() < 1e-7, "{ind} {r:?} {hi}");
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
    // Positions: every practice on two indicators, judged by the exact tail probability of its count.
    let mut outside = 0;
    for r in funnel.iter().filter(|r| {
        ["cervical", "incidents"].contains(&s(r, "indicator_id")) && r["submitted"] == true
    }) {
        let theta = f(r, "icb_value");
        let n = f(r, "denominator");
        let x = f(r, "numerator").round() as i64;
        let cdf: Box<dyn Fn(i64) -> f64> = if s(r, "funnel") == "binomial" {
            Box::new(move |k| binomial_cdf(k, n as i64, theta))
        } else {
            Box::new(move |k| poisson_cdf(k, theta * n))
        };
        let (above, below) = (1.0 - if x > 0 { cdf(x - 1) } else { 0.0 }, cdf(x));
        let expected = if above < 0.001 {
            "high_outer"
        } else if below < 0.001 {
            "low_outer"
        } else if above < 0.025 {
            "high_inner"
        } else if below < 0.025 {
            "low_inner"
        } else {
            "within"
        };
        assert_eq!(s(r, "position"), expected, "{r:?}");
        outside += usize::from(expected != "within");
    }
    assert!(outside > 0, "the sample has outliers to find");
    fair_comparison_within_deprivation_bands(store, &month, &month_text);
    practice_visit_packs_print_the_dashboards_figures(store, &quarter, &text);
}

/// The practice-visit packs (step `practice_profiles`, one PDF per PCN): a pack for every PCN, and the
/// pack of Coventry PCN 1 prints the PCN page and the practice profiles of the dashboard (which the
/// quarter's run printed for that PCN), text for text: same figures, same suppression.
fn practice_visit_packs_print_the_dashboards_figures(
    store: &Path,
    quarter: &RunOutcome,
    text: &str,
) {
    let rag = table_rows(store, quarter, "practice_rag");
    let pcns: BTreeSet<&str> = rag.iter().map(|r| s(r, "pcn_code")).collect();
    let reports = quarter.reports();
    let packs: BTreeSet<&str> = reports
        .iter()
        .filter_map(|r| r.split_once("/reports/practice_profiles/"))
        .filter_map(|(_, name)| name.strip_suffix(".pdf"))
        .collect();
    assert_eq!(packs, pcns);
    let pack = pdf_text(
        &store.join(
            reports
                .iter()
                .find(|r| r.ends_with("/practice_profiles/U84001.pdf"))
                .unwrap(),
        ),
    );
    let slice = |t: &'_ str, from: &str, to: &str| -> String {
        let start = t.find(from).unwrap_or_else(|| panic!("{from:?} in {t}"));
        let len = t[start..]
            .find(to)
            .unwrap_or_else(|| panic!("{to:?} after {from:?}"));
        t[start..start + len + to.len()].to_string()
    };
    let pcn_page = |t: &str| slice(t, "PCN: Coventry PCN 1 (Coventry)", "Trend, Coventry PCN 1");
    assert_eq!(pcn_page(&pack), pcn_page(text));
    let mut practices = 0;
    for r in rag.iter().filter(|r| s(r, "pcn_code") == "U84001") {
        let heading = format!("{} {}", s(r, "practice_code"), s(r, "practice_name"));
        let profile = |t: &str| {
            let appendix = &t[t.find("profiles").unwrap()..];
            slice(appendix, &heading, "; seed ‘indicators’")
        };
        assert_eq!(profile(&pack), profile(text), "{heading}");
        assert!(profile(&pack).contains("Registered list"));
        practices += 1;
    }
    assert_eq!(practices, 7, "M84001 to M84007");
    assert!(!pack.contains("PCN: Coventry PCN 2"));
}

/// The health-inequalities lens on the dashboard: each band's rate is recomputed from its practices'
/// numerators and denominators, a practice's band comes from its patients' mean IMD decile, and a practice
/// worse than the ICB but not than its band is listed as following deprivation.
fn fair_comparison_within_deprivation_bands(store: &Path, month: &RunOutcome, text: &str) {
    let fair = table_rows(store, month, "practice_fair");
    let practices = table_rows(store, month, "practice_funnel");
    let deciles: std::collections::BTreeMap<String, f64> = {
        let batches = read_parquet(&store.join("reference/practices/practices.parquet"));
        let mut m = std::collections::BTreeMap::new();
        for b in &batches {
            let code = b
                .column_by_name("practice_code")
                .unwrap()
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap();
            let imd = b
                .column_by_name("imd_decile")
                .unwrap()
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Float64Array>()
                .unwrap();
            for i in 0..b.num_rows() {
                m.insert(code.value(i).to_string(), imd.value(i));
            }
        }
        m
    };
    let band_of = |code: &str| ((deciles[code].round() as i64) + 1) / 2;
    // The DNA rate of each band, from the practices' own rows.
    let mut sums: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    for r in practices
        .iter()
        .filter(|r| s(r, "indicator_id") == "appt_dna" && r["submitted"] == true)
    {
        let e = sums.entry(band_of(s(r, "practice_code"))).or_default();
        e.0 += f(r, "numerator");
        e.1 += f(r, "denominator");
    }
    let dna: Vec<&Row> = fair
        .iter()
        .filter(|r| s(r, "indicator_id") == "appt_dna")
        .collect();
    assert!(!dna.is_empty());
    for r in &dna {
        let band = r["band"].as_i64().unwrap();
        assert_eq!(band, band_of(s(r, "practice_code")), "{r:?}");
        let (x, n) = sums[&band];
        assert!((f(r, "band_value") - x / n).abs() < 1e-12, "{r:?}");
    }
    // The sample's missed appointments rise with deprivation, so some practices are worse than the ICB
    // only because of whom they serve: each is listed with the reading that says so.
    let follows: Vec<&&Row> = dna
        .iter()
        .filter(|r| {
            s(r, "icb_side") == "worse"
                && r["icb_outside_outer"] == true
                && r.get("band_side").is_none_or(|v| v.is_null())
        })
        .collect();
    assert!(
        !follows.is_empty(),
        "a DNA outlier that follows deprivation"
    );
    assert!(text.contains("Compared within deprivation bands"), "{text}");
    for r in follows {
        let needle = format!("{} {}", s(r, "practice_code"), s(r, "practice_name"));
        let at = text
            .find(&needle)
            .unwrap_or_else(|| panic!("{needle} listed"));
        assert!(
            text[at..].contains("Worse than the ICB only: follows deprivation"),
            "{needle}"
        );
    }
}

/// A practice's funnel results, hand-made: (practice, indicator, counts towards RAG, side, outside 99.8%,
/// outside 95%, submitted).
type Made = (
    &'static str,
    &'static str,
    bool,
    Option<&'static str>,
    bool,
    bool,
    bool,
);

#[tokio::test]
async fn the_rag_rule_classifies_hand_made_practices() {
    let project = TestProject::new();
    let read = |p: &str| std::fs::read_to_string(repo().join(p)).unwrap();
    project
        .write(
            "config/primary-care/rag.yaml",
            &read("config/primary-care/rag.yaml"),
        )
        .write(
            "config/primary-care/cqc_ratings.yaml",
            &read("config/primary-care/cqc_ratings.yaml"),
        )
        .write(
            "sql/primary-care/practice_rag.sql",
            &read("sql/primary-care/practice_rag.sql"),
        )
        .write(
            "pipelines/rag.yaml",
            r#"
name: rag
parameters:
  period: { type: period, granularities: [month] }
inputs:
  practice_funnel:
    location: inputs/practice_funnel
    columns:
      - { name: practice_code, type: string }
      - { name: indicator_short, type: string }
      - { name: indicator_order, type: integer }
      - { name: rag, type: boolean }
      - { name: side, type: string }
      - { name: outside_outer, type: boolean }
      - { name: outside_inner, type: boolean }
      - { name: submitted, type: boolean }
  practices:
    location: reference/practices
    columns:
      - { name: practice_code, type: string }
      - { name: practice_name, type: string }
      - { name: pcn_code, type: string }
      - { name: pcn_name, type: string }
      - { name: place, type: string }
      - { name: imd_decile, type: float }
  registered_population:
    location: inputs/registered_population
    partitioned_by: month
    columns:
      - { name: practice_code, type: string }
      - { name: patients, type: integer }
  practice_list_size:
    location: inputs/practice_list_size
    partitioned_by: month
    columns:
      - { name: practice_code, type: string }
      - { name: age_band, type: string }
      - { name: patients, type: integer }
  practice_status:
    location: inputs/practice_status
    partitioned_by: month
    columns:
      - { name: practice_code, type: string }
      - { name: cqc_rating, type: string }
      - { name: cqc_rating_date, type: string }
      - { name: edeclaration_returned, type: boolean }
seeds:
  rag_rule: primary-care/rag.yaml
  cqc_ratings: primary-care/cqc_ratings.yaml
steps:
  - id: practice_rag
    sql: primary-care/practice_rag.sql
"#,
        );
    let w = Some("worse");
    let b = Some("better");
    #[rustfmt::skip]
    let made: Vec<Made> = vec![
        // Two RAG indicators outside 99.8% on the worse side: red.
        ("P01", "A", true, w, true, true, true), ("P01", "B", true, w, true, true, true),
        // One: amber.
        ("P02", "A", true, w, true, true, true), ("P02", "B", true, None, false, false, true),
        // Two outside 95% only: amber; one: green.
        ("P03", "A", true, w, false, true, true), ("P03", "B", true, w, false, true, true),
        ("P04", "A", true, w, false, true, true), ("P04", "B", true, None, false, false, true),
        // Nothing outside, but CQC Requires improvement: red.
        ("P05", "A", true, None, false, false, true),
        // Nothing outside, no e-declaration: amber.
        ("P06", "A", true, None, false, false, true),
        // Better, not worse: green.
        ("P07", "A", true, b, true, true, true), ("P07", "B", true, b, true, true, true), ("P07", "C", true, b, true, true, true),
        // Worse on indicators that do not count towards RAG: green.
        ("P08", "X", false, w, true, true, true), ("P08", "Y", false, w, true, true, true),
        // Not submitted: counts for nothing either way.
        ("P09", "A", true, None, false, false, false), ("P09", "B", true, None, false, false, false),
    ];
    let col_s = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let col_b = |v: Vec<bool>| Arc::new(BooleanArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "practice_code",
            col_s(made.iter().map(|m| Some(m.0)).collect()),
        ),
        (
            "indicator_short",
            col_s(made.iter().map(|m| Some(m.1)).collect()),
        ),
        (
            "indicator_order",
            Arc::new(Int64Array::from((0..made.len() as i64).collect::<Vec<_>>())) as ArrayRef,
        ),
        ("rag", col_b(made.iter().map(|m| m.2).collect())),
        ("side", col_s(made.iter().map(|m| m.3).collect())),
        ("outside_outer", col_b(made.iter().map(|m| m.4).collect())),
        ("outside_inner", col_b(made.iter().map(|m| m.5).collect())),
        ("submitted", col_b(made.iter().map(|m| m.6).collect())),
    ])
    .unwrap();
    write_parquet(&project, "inputs/practice_funnel/part-0.parquet", &batch);
    let codes: Vec<String> = (1..=9).map(|i| format!("P0{i}")).collect();
    let strs = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let practices = RecordBatch::try_from_iter(vec![
        ("practice_code", strs(codes.clone())),
        (
            "practice_name",
            strs(codes.iter().map(|c| format!("{c} Surgery")).collect()),
        ),
        ("pcn_code", strs(vec!["U1".to_string(); 9])),
        ("pcn_name", strs(vec!["PCN 1".to_string(); 9])),
        ("place", strs(vec!["Rugby".to_string(); 9])),
        (
            "imd_decile",
            Arc::new(Float64Array::from(vec![5.0; 9])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_parquet(
        &project,
        "reference/practices/practices.parquet",
        &practices,
    );
    let pop = RecordBatch::try_from_iter(vec![
        ("practice_code", strs(codes.clone())),
        (
            "patients",
            Arc::new(Int64Array::from(vec![5000; 9])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_parquet(
        &project,
        "inputs/registered_population/month=2022-04/part-0.parquet",
        &pop,
    );
    write_parquet(
        &project,
        "inputs/practice_list_size/month=2022-04/part-0.parquet",
        &RecordBatch::try_from_iter(vec![
            ("practice_code", strs(codes.clone())),
            ("age_band", strs(vec!["80+".to_string(); 9])),
            (
                "patients",
                Arc::new(Int64Array::from(vec![5000; 9])) as ArrayRef,
            ),
        ])
        .unwrap(),
    );
    let status = RecordBatch::try_from_iter(vec![
        ("practice_code", strs(codes.clone())),
        (
            "cqc_rating",
            strs(
                codes
                    .iter()
                    .map(|c| {
                        if c == "P05" {
                            "Requires improvement"
                        } else {
                            "Good"
                        }
                        .to_string()
                    })
                    .collect(),
            ),
        ),
        ("cqc_rating_date", strs(vec!["2021-09-14".to_string(); 9])),
        (
            "edeclaration_returned",
            col_b(codes.iter().map(|c| c != "P06").collect()),
        ),
    ])
    .unwrap();
    write_parquet(
        &project,
        "inputs/practice_status/month=2022-04/part-0.parquet",
        &status,
    );

    let outcome = run_period(&project, "rag", "2022-04").await.expect("runs");
    let rows = table_rows(
        project.root().join("lake").as_path(),
        &outcome,
        "practice_rag",
    );
    let rag: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (s(r, "practice_code"), s(r, "rag")))
        .collect();
    let expected = [
        ("P01", "Red"),
        ("P02", "Amber"),
        ("P03", "Amber"),
        ("P04", "Green"),
        ("P05", "Red"),
        ("P06", "Amber"),
        ("P07", "Green"),
        ("P08", "Green"),
        ("P09", "Green"),
    ];
    for (code, want) in expected {
        assert_eq!(rag.get(code), Some(&want), "{code}: {rows:?}");
    }
    let p01 = rows
        .iter()
        .find(|r| s(r, "practice_code") == "P01")
        .unwrap();
    assert_eq!(s(p01, "reasons"), "outside 99.8% (worse): A, B");
}

#[tokio::test]
async fn a_suppressed_count_cannot_be_derived_from_the_printed_totals() {
    // Groups of counts with their totals, printed through the dashboards' `protect` function.
    #[rustfmt::skip]
    let groups: Vec<(&str, Vec<i64>)> = vec![
        ("A", vec![30, 3, 12, 9]),
        ("B", vec![1, 5, 6, 40]),
        ("C", vec![2, 0]),
        ("D", vec![10, 20, 7]),
        ("E", vec![4, 4, 50, 60]),
        ("F", vec![1, 1, 9, 9, 9]),
    ];
    let mut csv = String::from("grp,id,n\n");
    for (g, counts) in &groups {
        for (i, n) in counts.iter().enumerate() {
            csv.push_str(&format!("{g},{g}{i},{n}\n"));
        }
    }
    let project = TestProject::new();
    project
        .write("config/cells.csv", &csv)
        .write(
            "pipelines/cells.yaml",
            r#"
name: cells
parameters:
  period: { type: period, granularities: [month] }
inputs: {}
seeds:
  cells: cells.csv
steps:
  - id: totals
    sql: cells/totals.sql
  - id: report
    report: cells/report.typ.j2
    title: Cells
    uses: [cells, totals]
"#,
        )
        .write(
            "sql/cells/totals.sql",
            "SELECT grp, SUM(n) AS total FROM cells GROUP BY grp ORDER BY grp",
        )
        .write(
            "reports/cells/report.typ.j2",
            r#"{%- set rows = protect(tables.cells, group=["grp"], counts=["n"]) %}
{%- for t in tables.totals %}
{%- set mine = rows | selectattr("grp", "eq", t.grp) | list %}
GROUP {{ t.grp }} TOTAL {{ t.total if (mine | first).group_total_shown else "*" }}
{%- for r in mine %} CELL {% if r.n_shown == "small" %}{{ "<5" }}{% elif r.n_shown == "withheld" %}{{ "*" }}{% else %}{{ r.n }}{% endif %}{% endfor %}
{% endfor %}
"#,
        );
    let outcome = run_period(&project, "cells", "2022-04")
        .await
        .expect("runs");
    let text = pdf_text(&project.store_file(&outcome.reports()[0]));

    // Read each group back from the PDF: what a reader has.
    let mut leaked_without_secondary = false;
    for (g, counts) in &groups {
        let start = text.find(&format!("GROUP {g} ")).unwrap();
        let tokens: Vec<&str> = text[start..].split_whitespace().collect();
        let total = tokens[3];
        let cells: Vec<&str> = tokens[4..]
            .chunks(2)
            .take(counts.len())
            .map(|c| {
                assert_eq!(c[0], "CELL", "{:?}", &tokens[..12]);
                c[1]
            })
            .collect();
        // Every count from 1 to 4 prints as <5; nothing else does.
        for (n, c) in counts.iter().zip(&cells) {
            assert_eq!(
                (1..=4).contains(n),
                *c == "<5",
                "group {g}: {n} printed as {c}"
            );
            if *c != "<5" && *c != "*" {
                assert_eq!(c.parse::<i64>().unwrap(), *n);
            }
        }
        if total == "*" {
            continue;
        }
        let total: i64 = total.parse().unwrap();
        assert_eq!(total, counts.iter().sum::<i64>());
        // Every assignment of the hidden cells consistent with what is printed: `<5` is 1–4, `*` is at
        // least 5 and no more than the smallest count printed (it was withheld smallest first).
        let shown: Vec<i64> = cells.iter().filter_map(|c| c.parse().ok()).collect();
        let cap = shown
            .iter()
            .copied()
            .filter(|v| *v >= 5)
            .min()
            .unwrap_or(total);
        let hidden: Vec<(usize, i64, i64)> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match *c {
                "<5" => Some((i, 1, 4)),
                "*" => Some((i, 5, cap)),
                _ => None,
            })
            .collect();
        let left = total - shown.iter().sum::<i64>();
        let mut possible: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
        let mut values = vec![0i64; hidden.len()];
        fn search(
            k: usize,
            hidden: &[(usize, i64, i64)],
            values: &mut Vec<i64>,
            left: i64,
            possible: &mut BTreeMap<usize, BTreeSet<i64>>,
        ) {
            if k == hidden.len() {
                if left == 0 {
                    for (j, h) in hidden.iter().enumerate() {
                        possible.entry(h.0).or_default().insert(values[j]);
                    }
                }
                return;
            }
            for v in hidden[k].1..=hidden[k].2.min(left) {
                values[k] = v;
                search(k + 1, hidden, values, left - v, possible);
            }
        }
        search(0, &hidden, &mut values, left, &mut possible);
        for (i, c) in cells.iter().enumerate() {
            if *c == "<5" {
                let p = &possible[&i];
                assert!(p.len() >= 2, "group {g}: the <5 in cell {i} must be {p:?}");
            }
        }
        // Without the secondary suppression, a group with a single small count would give it away.
        let small: Vec<&i64> = counts.iter().filter(|n| (1..=4).contains(*n)).collect();
        leaked_without_secondary |= small.len() == 1;
    }
    assert!(leaked_without_secondary, "the data exercise the rule");
}
