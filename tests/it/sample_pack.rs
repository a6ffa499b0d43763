//! The shipped board pack on a little of the built-in sample data: the sample generator, the real
//! pipeline, SQL and template, and the PDF's text and published tables checked against figures computed
//! here from the raw records.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use boardpack::execute::{self, RunOutcome, Silent};
use boardpack::params::RunParams;
use boardpack::period::Month;
use boardpack::plan;
use boardpack::render::format;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, BooleanArray, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::support::{pdf_text, read_parquet, repo};

const HOUR: i64 = 3_600_000_000;

/// Writes the sample data for April 2021 to April 2022 (with `gaps`) and builds the April 2022 pack.
/// Outpatient appointments (about 118,000 a month) are written only for the months the tests check: April
/// 2022 and the same month a year before.
pub(crate) async fn build_pack(gaps: &[&str]) -> (tempfile::TempDir, RunOutcome) {
    let store = tempfile::tempdir().unwrap();
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, "board-pack").unwrap();
    let opts = SampleOptions {
        from: Month {
            year: 2021,
            month: 4,
        },
        to: Month {
            year: 2022,
            month: 4,
        },
        gaps: gaps.iter().map(|g| g.parse().unwrap()).collect(),
        only_months: vec![(
            "op_attendances".to_string(),
            vec![
                Month {
                    year: 2021,
                    month: 4,
                },
                Month {
                    year: 2022,
                    month: 4,
                },
            ],
        )],
        // Only the board pack's own inputs; GP appointments are about 400,000 rows a month, and the pack's
        // tests of them write their own months.
        only: pack_inputs(&plan),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let params = RunParams::bind(&plan, &BTreeMap::new()).unwrap();
    let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect("the board pack builds");
    (store, outcome)
}

/// The April 2022 pack without gaps, built once and shared by every test that reads it (each build writes
/// thirteen months of sample data).
pub(crate) async fn shared_pack() -> &'static (tempfile::TempDir, RunOutcome) {
    static PACK: tokio::sync::OnceCell<(tempfile::TempDir, RunOutcome)> =
        tokio::sync::OnceCell::const_new();
    PACK.get_or_init(|| build_pack(&[])).await
}

/// The April 2022 pack with gaps, shared likewise: George Eliot's April 2022 A&E return is missing (as the
/// seed's April cancer data was), and so are George Eliot's February 2022 cancer records and CWPT's February
/// 2022 mental health return.
pub(crate) async fn shared_gapped_pack() -> &'static (tempfile::TempDir, RunOutcome) {
    static PACK: tokio::sync::OnceCell<(tempfile::TempDir, RunOutcome)> =
        tokio::sync::OnceCell::const_new();
    PACK.get_or_init(|| {
        build_pack(&[
            "ae_attendances:RLT:2022-04",
            "cancer_pathways:RLT:2022-02",
            "mental_health_returns:RYG:2022-02",
        ])
    })
    .await
}

/// The April 2022 records of an input.
pub(crate) fn april(store: &Path, input: &str) -> Vec<RecordBatch> {
    read_parquet(&store.join(format!("inputs/{input}/month=2022-04/part-0.parquet")))
}

pub(crate) fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

/// Days from a Date32 day number to the end of April 2022 (the snapshot date).
fn days_at_april_end(day: i32) -> i64 {
    let end = NaiveDate::from_ymd_opt(2022, 4, 30).unwrap()
        - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    end.num_days() - day as i64
}

/// Rows of a published table, read back from the run's Parquet output.
pub(crate) fn table_rows(
    store: &Path,
    outcome: &RunOutcome,
    name: &str,
) -> Vec<Map<String, Value>> {
    let out = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with(&format!("/{name}.parquet")))
        .expect("published");
    let batches = read_parquet(&store.join(&out.path));
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write_batches(&batches.iter().collect::<Vec<_>>())
        .unwrap();
    w.finish().unwrap();
    serde_json::from_slice(&w.into_inner()).unwrap()
}

pub(crate) fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in {text}");
}

#[tokio::test]
async fn board_pack_on_sample_data() {
    // George Eliot's April 2022 A&E return is missing, as the seed's April cancer data was.
    let (store, outcome) = shared_gapped_pack().await;
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));

    // A&E: 4-hour performance and trolley waits, counted from the attendance records.
    let (mut total, mut within, mut trolley) = (0u64, 0u64, 0u64);
    for b in &april(store.path(), "ae_attendances") {
        let arr = col::<TimestampMicrosecondArray>(b, "arrival_time");
        let dep = col::<TimestampMicrosecondArray>(b, "departure_time");
        let dta = col::<TimestampMicrosecondArray>(b, "decision_to_admit_time");
        let adm = col::<BooleanArray>(b, "admitted");
        for i in 0..b.num_rows() {
            total += 1;
            within += u64::from(dep.value(i) - arr.value(i) <= 4 * HOUR);
            trolley += u64::from(
                adm.value(i) && !dta.is_null(i) && dep.value(i) - dta.value(i) > 12 * HOUR,
            );
        }
    }
    let pct = within as f64 / total as f64;
    assert!(
        (0.66..0.73).contains(&pct),
        "calibrated near the seed's 68.9% for Apr-22, got {pct}"
    );
    assert_contains(
        &text,
        &format!(
            "A&E 4-hour performance was {} in Apr-22",
            format::percent(pct, 1)
        ),
    );
    assert_contains(&text, &format::thousands(total as f64, 0));
    assert_contains(
        &text,
        &format!(
            "{} patients waited more than 12 hours",
            format::thousands(trolley as f64, 0)
        ),
    );
    assert_contains(&text, "Page 1 of");

    // Ambulance handovers within 15 minutes, in the scorecard.
    let (mut n, mut within_15) = (0u64, 0u64);
    for b in &april(store.path(), "ambulance_handovers") {
        let arr = col::<TimestampMicrosecondArray>(b, "arrival_time");
        let hand = col::<TimestampMicrosecondArray>(b, "handover_time");
        for i in 0..b.num_rows() {
            n += 1;
            within_15 += u64::from(hand.value(i) - arr.value(i) <= HOUR / 4);
        }
    }
    let share = format::percent(within_15 as f64 / n as f64, 1);
    assert_contains(
        &text,
        &format!("Handovers within 15 minutes Provider 65% {share}"),
    );
    assert_contains(&text, "Areas of concern");

    // RTT within 18 whole weeks and 52 weeks or more at the end of April, from the pathway snapshot.
    let (mut pathways, mut within_18, mut over_52) = (0u64, 0u64, 0u64);
    for b in &april(store.path(), "rtt_waiting_list") {
        let start = col::<Date32Array>(b, "clock_start");
        for i in 0..b.num_rows() {
            let weeks = days_at_april_end(start.value(i)) / 7;
            pathways += 1;
            within_18 += u64::from(weeks <= 18);
            over_52 += u64::from(weeks >= 52);
        }
    }
    let share = format::percent(within_18 as f64 / pathways as f64, 1);
    assert_contains(
        &text,
        &format!("RTT incomplete pathways within 18 weeks Commissioner 92% {share}"),
    );
    assert_contains(
        &text,
        &format!(
            "RTT pathways over 52 weeks Commissioner 0 {}",
            format::thousands(over_52 as f64, 0)
        ),
    );

    // Diagnostics waiting under six weeks (fewer than 42 days).
    let (mut waiting, mut under_6) = (0u64, 0u64);
    for b in &april(store.path(), "diagnostics_waiting_list") {
        let referred = col::<Date32Array>(b, "referral_date");
        for i in 0..b.num_rows() {
            waiting += 1;
            under_6 += u64::from(days_at_april_end(referred.value(i)) < 42);
        }
    }
    let share = format::percent(under_6 as f64 / waiting as f64, 1);
    assert_contains(
        &text,
        &format!("Diagnostics: waiting under 6 weeks Commissioner 99% {share}"),
    );

    // NHS 111 lags a month (the sample's default, as in the seed): March is shown, marked, and explained.
    assert_contains(&text, "Calls answered within 60 seconds Provider 95%");
    assert_contains(&text, "(Mar-22)");
    assert_contains(
        &text,
        "Calls answered within 60 seconds Mar-22 No data for Apr-22 yet: the scorecard and charts show Mar-22, marked as such.",
    );

    // The gap is found from the data and printed as a caveat, and the run warns about it.
    assert_contains(
        &text,
        "Apr-22 GEH No A&E data was received from GEH for Apr-22: ICB figures for that month exclude GEH.",
    );
    let warned = outcome
        .record
        .warnings
        .iter()
        .any(|w| w.contains("every_provider_reports_every_month") && w.contains("GEH"));
    assert!(warned, "{:?}", outcome.record.warnings);
}

#[tokio::test]
async fn quarters_and_years_follow_the_aggregation_rules() {
    let (store, outcome) = shared_pack().await;
    let monthly = table_rows(store.path(), &outcome, "metric_month");
    let matrix = table_rows(store.path(), &outcome, "metric_matrix");
    let months_of = |metric: &str, from: &str, to: &str| -> Vec<&Map<String, Value>> {
        monthly
            .iter()
            .filter(|r| {
                r["metric_id"] == metric && (from..=to).contains(&r["month"].as_str().unwrap())
            })
            .collect()
    };
    let cell = |metric: &str, part: &str| -> f64 {
        let r = matrix
            .iter()
            .find(|r| r["metric_id"] == metric && r["fy"] == 2021 && r["part"] == part)
            .unwrap();
        assert_eq!(r["complete"], true, "{metric} {part}");
        r["value"].as_f64().unwrap()
    };
    let num = |r: &&Map<String, Value>| r["numerator"].as_f64().unwrap();
    let den = |r: &&Map<String, Value>| r["denominator"].as_f64().unwrap();
    // A count adds up over the year.
    let trolley: f64 = months_of("ae_trolley_12h", "2021-04", "2022-03")
        .iter()
        .map(num)
        .sum();
    assert_eq!(cell("ae_trolley_12h", "Year"), trolley);
    // A total that adds in a month printed as <5 is marked, and the pack withholds it.
    let small = months_of("ae_trolley_12h", "2021-04", "2022-03")
        .iter()
        .any(|r| (1.0..=4.0).contains(&num(r)));
    let year = matrix
        .iter()
        .find(|r| r["metric_id"] == "ae_trolley_12h" && r["fy"] == 2021 && r["part"] == "Year")
        .unwrap();
    assert_eq!(year["has_small_month"], small);
    // A ratio is recomputed from the quarter's numerators and denominators, not averaged.
    let q3 = months_of("ae_4h", "2021-10", "2021-12");
    assert_eq!(q3.len(), 3);
    let expected = q3.iter().map(num).sum::<f64>() / q3.iter().map(den).sum::<f64>();
    assert!((cell("ae_4h", "Q3") - expected).abs() < 1e-12);
    // A snapshot takes the period's last month.
    let march = months_of("rtt_18w", "2022-03", "2022-03")[0]["value"]
        .as_f64()
        .unwrap();
    assert_eq!(cell("rtt_18w", "Year"), march);
    let june = months_of("rtt_52w", "2021-06", "2021-06")[0]["value"]
        .as_f64()
        .unwrap();
    assert_eq!(cell("rtt_52w", "Q1"), june);
    // The reporting year 2022/23 has only April: incomplete, so the pack prints N/A for it.
    let fy22 = matrix
        .iter()
        .find(|r| r["metric_id"] == "ae_4h" && r["fy"] == 2022 && r["part"] == "Year")
        .unwrap();
    assert_eq!(fy22["complete"], false);
}

#[tokio::test]
async fn weekly_trajectories_count_the_records() {
    let (store, outcome) = shared_pack().await;
    // Handovers within 15 minutes in the week commencing Monday 4 April 2022, from the April records.
    let monday = NaiveDate::from_ymd_opt(2022, 4, 4).unwrap();
    let start = monday
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let end = start + 7 * 24 * HOUR;
    let (mut n, mut within) = (0u64, 0u64);
    for b in &april(store.path(), "ambulance_handovers") {
        let arr = col::<TimestampMicrosecondArray>(b, "arrival_time");
        let hand = col::<TimestampMicrosecondArray>(b, "handover_time");
        for i in 0..b.num_rows() {
            if (start..end).contains(&arr.value(i)) {
                n += 1;
                within += u64::from(hand.value(i) - arr.value(i) <= HOUR / 4);
            }
        }
    }
    assert!(n > 0);
    let weekly = table_rows(store.path(), outcome, "trajectory_week");
    let row = weekly
        .iter()
        .find(|r| r["metric_id"] == "amb_15" && r["week_commencing"] == "2022-04-04")
        .expect("the week of 4 April");
    let share = within as f64 / n as f64;
    assert!((row["actual"].as_f64().unwrap() - share).abs() < 1e-12);
    assert!((row["variance"].as_f64().unwrap() - (share - 0.65)).abs() < 1e-12);
    // Only whole weeks within the month: the week of 25 April runs into May.
    assert!(weekly.iter().all(|r| r["week_commencing"] != "2022-04-25"));
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    assert_contains(&text, "Weekly, to Apr-22");
    assert_contains(&text, &format::percent(share, 1));
}

/// The sample inputs of the board pack's own tests: every input but GP appointments (about 400,000 rows a
/// month; the tests of them write their own months).
pub fn pack_inputs(plan: &boardpack::plan::Plan) -> Vec<String> {
    plan.inputs
        .iter()
        .filter_map(|i| i.location.strip_prefix("inputs/"))
        .filter(|i| *i != "gp_appointments")
        .map(String::from)
        .collect()
}
