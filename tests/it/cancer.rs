//! The board pack's cancer, mental health, benchmarking, exception-report and data-quality sections on the
//! sample data (the builder of `sample_pack`): every cancer standard for April 2022 counted here from the
//! pathway records equals the pipeline's figure and prints; the exception reports carry the period's
//! commentary, and the one failing metric left without commentary is flagged in the PDF and warned by the
//! run; benchmarks print beside the ICB's value; provider gaps of any source become caveats.

use std::collections::BTreeMap;

use boardpack::render::format;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
};
use serde_json::{Map, Value};

use crate::sample_pack::{april, assert_contains, col, shared_gapped_pack, table_rows};
use crate::support::pdf_text;

/// Numerator and denominator of one standard.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Count {
    within: f64,
    total: f64,
}

impl Count {
    fn add(&mut self, within: bool) {
        self.total += 1.0;
        self.within += f64::from(u8::from(within));
    }
}

/// Every cancer metric of April 2022, counted from the pathway records by the rules of board-pack.md:
/// whole days from referral (or decision to treat) to the event, counted in the month of the event.
fn cancer_by_hand(store: &std::path::Path) -> BTreeMap<&'static str, Count> {
    let day = |y, m, d| {
        (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32
    };
    let (start, end) = (day(2022, 4, 1), day(2022, 4, 30));
    let in_month = |d: Option<i32>| d.is_some_and(|d| (start..=end).contains(&d));
    let mut c: BTreeMap<&'static str, Count> = [
        "cancer_2ww",
        "cancer_2ww_breast",
        "cancer_fds",
        "cancer_31d",
        "cancer_31d_surgery",
        "cancer_31d_drug",
        "cancer_31d_radio",
        "cancer_62d",
        "cancer_62d_screening",
        "cancer_62d_upgrade",
        "cancer_104d",
        "cancer_62d_backlog",
    ]
    .into_iter()
    .map(|id| (id, Count::default()))
    .collect();
    for b in &april(store, "cancer_pathways") {
        let date = |name: &str, i: usize| {
            let a = col::<Date32Array>(b, name);
            (!a.is_null(i)).then(|| a.value(i))
        };
        let route = col::<StringArray>(b, "route");
        let modality = col::<StringArray>(b, "treatment_modality");
        let first = col::<BooleanArray>(b, "first_treatment");
        let diagnosed = col::<BooleanArray>(b, "cancer_diagnosed");
        for i in 0..b.num_rows() {
            let r = route.value(i);
            let referral = date("referral_date", i);
            let seen = date("first_seen_date", i);
            let told = date("diagnosis_date", i);
            let decided = date("decision_to_treat_date", i);
            let treated = date("treatment_date", i);
            let days = |a: Option<i32>, b: Option<i32>| b.unwrap() - a.unwrap();
            if in_month(seen) && r == "gp_urgent" {
                c.entry("cancer_2ww")
                    .or_default()
                    .add(days(referral, seen) <= 14);
            }
            if in_month(seen) && r == "breast_symptomatic" {
                c.entry("cancer_2ww_breast")
                    .or_default()
                    .add(days(referral, seen) <= 14);
            }
            if in_month(told) && r != "upgrade" {
                c.entry("cancer_fds")
                    .or_default()
                    .add(days(referral, told) <= 28);
            }
            let is_first = first.value(i);
            if in_month(treated) {
                let within_31 = days(decided, treated) <= 31;
                if is_first {
                    c.entry("cancer_31d").or_default().add(within_31);
                    let id = match r {
                        "gp_urgent" => Some("cancer_62d"),
                        "screening" => Some("cancer_62d_screening"),
                        "upgrade" => Some("cancer_62d_upgrade"),
                        _ => None,
                    };
                    if let Some(id) = id {
                        c.entry(id).or_default().add(days(referral, treated) <= 62);
                    }
                } else {
                    let id = match modality.value(i) {
                        "surgery" => "cancer_31d_surgery",
                        "drug" => "cancer_31d_drug",
                        _ => "cancer_31d_radio",
                    };
                    c.entry(id).or_default().add(within_31);
                }
            }
            let ruled_out = !diagnosed.is_null(i) && !diagnosed.value(i);
            if is_first && r != "breast_symptomatic" && treated.is_none() && !ruled_out {
                let waited = end - referral.unwrap();
                if waited > 104 {
                    c.entry("cancer_104d").or_default().within += 1.0;
                }
                if waited > 62 {
                    c.entry("cancer_62d_backlog").or_default().within += 1.0;
                }
            }
        }
    }
    c
}

fn metric<'a>(
    rows: &'a [Map<String, Value>],
    id: &str,
    month: &str,
) -> Option<&'a Map<String, Value>> {
    rows.iter()
        .find(|r| r["metric_id"] == id && r["month"] == month)
}

#[tokio::test]
async fn cancer_mental_health_benchmarks_and_exceptions() {
    let (store, outcome) = shared_gapped_pack().await;
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    let monthly = table_rows(store.path(), &outcome, "metric_month");

    // Every cancer standard: the pipeline's numerator and denominator are the records' own, and print.
    let by_hand = cancer_by_hand(store.path());
    assert_eq!(by_hand.len(), 12, "{by_hand:?}");
    let names: BTreeMap<&str, (&str, &str)> = BTreeMap::from([
        ("cancer_2ww", ("2-week wait, GP urgent referral", "93%")),
        (
            "cancer_2ww_breast",
            ("2-week wait, breast symptomatic", "93%"),
        ),
        ("cancer_fds", ("28-day faster diagnosis standard", "75%")),
        ("cancer_31d", ("31-day first definitive treatment", "96%")),
        ("cancer_31d_surgery", ("31-day subsequent: surgery", "94%")),
        ("cancer_31d_drug", ("31-day subsequent: drug", "98%")),
        (
            "cancer_31d_radio",
            ("31-day subsequent: radiotherapy", "94%"),
        ),
        ("cancer_62d", ("62-day GP urgent referral", "85%")),
        ("cancer_62d_screening", ("62-day screening", "90%")),
        ("cancer_62d_upgrade", ("62-day consultant upgrade", "85%")),
    ]);
    for (id, count) in &by_hand {
        let row = metric(&monthly, id, "2022-04").unwrap_or_else(|| panic!("{id} in metric_month"));
        assert_eq!(row["numerator"].as_f64().unwrap(), count.within, "{id}");
        if let Some((name, standard)) = names.get(id) {
            assert_eq!(row["denominator"].as_f64().unwrap(), count.total, "{id}");
            let share = count.within / count.total;
            assert!(
                (row["value"].as_f64().unwrap() - share).abs() < 1e-12,
                "{id}"
            );
            assert_contains(
                &text,
                &format!(
                    "{name} {standard} {} {} / {}",
                    format::percent(share, 1),
                    format::thousands(count.within, 0),
                    format::thousands(count.total, 0)
                ),
            );
        }
    }
    // Calibrated to the seed's April 2022: 62-day GP referral 51.5%, 2-week wait 79.0%.
    let share = |id: &str| by_hand[id].within / by_hand[id].total;
    assert!(
        (0.45..0.59).contains(&share("cancer_62d")),
        "{}",
        share("cancer_62d")
    );
    assert!(
        (0.74..0.84).contains(&share("cancer_2ww")),
        "{}",
        share("cancer_2ww")
    );

    // Mental health: the IAPT access rate is annualised from the return; the provider's missing month is
    // a gap, not a zero.
    let (mut entering, mut prevalence) = (0.0, 0.0);
    for b in &april(store.path(), "mental_health_returns") {
        let indicator = col::<StringArray>(b, "indicator");
        let num = col::<Int64Array>(b, "numerator");
        let den = col::<Int64Array>(b, "denominator");
        for i in 0..b.num_rows() {
            if indicator.value(i) == "iapt_access" {
                entering += num.value(i) as f64;
                prevalence += den.value(i) as f64;
            }
        }
    }
    let access = metric(&monthly, "iapt_access", "2022-04").unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!((access - entering * 12.0 / prevalence).abs() < 1e-12);
    assert!(metric(&monthly, "iapt_access", "2022-02").is_none());
    assert!(
        metric(&monthly, "dementia_dx", "2022-02").is_some(),
        "practices still reported"
    );
    assert_contains(&text, "Mental health dashboard");
    // Register-based indicators come per practice: their exception report splits them by Place, and the
    // Places add up to the ICB.
    let places = table_rows(store.path(), outcome, "metric_place_month");
    let april_dementia: Vec<_> = places
        .iter()
        .filter(|r| r["metric_id"] == "dementia_dx" && r["month"] == "2022-04")
        .collect();
    assert_eq!(april_dementia.len(), 4, "four Places");
    let icb = metric(&monthly, "dementia_dx", "2022-04").unwrap();
    for key in ["numerator", "denominator"] {
        let sum: f64 = april_dementia
            .iter()
            .map(|r| r[key].as_f64().unwrap())
            .sum();
        assert_eq!(sum, icb[key].as_f64().unwrap(), "{key}");
    }
    // Dementia diagnosis fails its 66.7% standard in the sample, so its exception report shows the Places.
    assert!(icb["value"].as_f64().unwrap() < 0.667);
    assert_contains(&text, "By Place, Apr-22");
    assert_contains(
        &text,
        "No mental health data was received from CWPT for Feb-22: ICB figures for that month exclude CWPT.",
    );
    assert_contains(
        &text,
        "No cancer waiting times data was received from GEH for Feb-22: ICB figures for that month exclude GEH.",
    );

    // Benchmarks print beside the ICB's own value.
    let b = &april(store.path(), "benchmarks")[0];
    let ids = col::<StringArray>(b, "metric_id");
    let i = (0..b.num_rows())
        .find(|&i| ids.value(i) == "cancer_62d")
        .unwrap();
    let (midlands, england) = (
        col::<Float64Array>(b, "midlands").value(i),
        col::<Float64Array>(b, "england").value(i),
    );
    assert_contains(
        &text,
        &format!(
            "62-day GP urgent referral 85% Apr-22 {} {} {}",
            format::percent(share("cancer_62d"), 1),
            format::percent(midlands, 1),
            format::percent(england, 1)
        ),
    );

    // The scorecard's regional average is the Midlands value of the same month.
    let row = format!(
        "62-day GP urgent referral Commissioner 85% {}",
        format::percent(share("cancer_62d"), 1)
    );
    let at = text
        .find(&row)
        .unwrap_or_else(|| panic!("{row:?} not in {text}"));
    let rest: String = text[at + row.len()..].chars().take(24).collect();
    assert!(rest.contains(&format::percent(midlands, 1)), "{rest:?}");
    // A source with no data for the reporting month is behind (NHS 111 lags a month in the sample).
    assert_contains(&text, "NHS 111 1 Apr-21 Mar-22 (behind) 0");

    // Exception reports: a failing metric's report carries the period's commentary.
    assert_contains(&text, "Exception reports");
    assert_contains(&text, "62-day GP urgent referral (85%)");
    assert_contains(
        &text,
        "Long waits follow diagnostic delays, in urology above all.",
    );
    assert_contains(&text, "Recovery actions");
    // The consultant upgrade standard fails and has deliberately no commentary for 2022-04: flagged in
    // the pack and warned by the run.
    assert!(share("cancer_62d_upgrade") < 0.85);
    assert_contains(
        &text,
        "Commentary missing. No commentary was written for 62-day consultant upgrade for Apr-22",
    );
    let warned = outcome.record.warnings.iter().any(|w| {
        w.contains("every_failing_metric_has_commentary") && w.contains("cancer_62d_upgrade")
    });
    assert!(warned, "{:?}", outcome.record.warnings);
    // Metrics that fail but have commentary are not warned about.
    assert!(
        !outcome
            .record
            .warnings
            .iter()
            .any(|w| w.contains("every_failing_metric_has_commentary")
                && w.contains("\"cancer_62d\"")),
        "{:?}",
        outcome.record.warnings
    );
}
