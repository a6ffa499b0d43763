//! The pack's activity, trajectory and finance sections on the built-in sample data: GP appointments
//! against the pre-Covid baseline, acute activity against last year and against the operational plan, plan
//! trajectories, and the finance summary, each checked against figures computed here in plain Rust from the
//! generated records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use boardpack::execute::{self, RunOutcome, Silent};
use boardpack::params::RunParams;
use boardpack::period::Month;
use boardpack::plan;
use boardpack::render::format;
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::sample_pack::{assert_contains, col, shared_pack, table_rows};
use crate::support::{pdf_text, read_parquet};

/// The records of one month of an input.
fn records(store: &Path, input: &str, month: &str) -> Vec<RecordBatch> {
    read_parquet(&store.join(format!("inputs/{input}/month={month}/part-0.parquet")))
}

/// The leaf activity lines of one month, counted from the records as activity_lines.yaml defines them.
fn leaf_counts(store: &Path, month: &str) -> BTreeMap<&'static str, f64> {
    let mut n: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut add = |line: &'static str, k: f64| *n.entry(line).or_default() += k;
    for b in records(store, "ae_attendances", month) {
        add("ae_attendances", b.num_rows() as f64);
    }
    for b in records(store, "apc_spells", month) {
        let pod = col::<StringArray>(&b, "point_of_delivery");
        let adm = col::<Date32Array>(&b, "admission_date");
        let dis = col::<Date32Array>(&b, "discharge_date");
        for i in 0..b.num_rows() {
            match pod.value(i) {
                "DC" => add("el_dc", 1.0),
                "EL" => add("el_ip", 1.0),
                "NEL" if dis.value(i) > adm.value(i) => add("nel_los_1plus", 1.0),
                "NEL" => add("nel_zero_los", 1.0),
                other => panic!("unexpected point of delivery {other}"),
            }
        }
    }
    let op_path = store.join(format!(
        "inputs/op_attendances/month={month}/part-0.parquet"
    ));
    if op_path.exists() {
        for b in read_parquet(&op_path) {
            let kind = col::<StringArray>(&b, "attendance_type");
            let medium = col::<StringArray>(&b, "consultation_medium");
            let status = col::<StringArray>(&b, "attendance_status");
            let pifu = col::<BooleanArray>(&b, "pifu");
            for i in 0..b.num_rows() {
                if pifu.value(i) {
                    add("pifu", 1.0);
                }
                if status.value(i) != "Attended" {
                    continue;
                }
                let f2f = medium.value(i) == "Face to face";
                add(
                    match (kind.value(i), f2f) {
                        ("First", true) => "op_first_f2f",
                        ("First", false) => "op_first_virtual",
                        (_, true) => "op_fu_f2f",
                        (_, false) => "op_fu_virtual",
                    },
                    1.0,
                );
            }
        }
    }
    for b in records(store, "advice_guidance", month) {
        let kind = col::<StringArray>(&b, "request_type");
        let requests = col::<Int64Array>(&b, "requests");
        for i in 0..b.num_rows() {
            let line = if kind.value(i) == "Pre-referral" {
                "ag_pre_referral"
            } else {
                "ag_post_referral"
            };
            add(line, requests.value(i) as f64);
        }
    }
    n
}

/// The ICB's planned value of each plan line for a month (activity lines add up over the trusts).
fn planned(store: &Path, month: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for b in records(store, "operational_plan", month) {
        let line = col::<StringArray>(&b, "plan_line");
        let value = col::<Float64Array>(&b, "planned_value");
        for i in 0..b.num_rows() {
            *out.entry(line.value(i).to_string()).or_default() += value.value(i);
        }
    }
    out
}

/// A total line is the sum of its parts (config/board-pack/activity_lines.yaml).
const PARTS: [(&str, &[&str]); 4] = [
    ("nel_spells", &["nel_zero_los", "nel_los_1plus"]),
    ("el_spells", &["el_dc", "el_ip"]),
    (
        "op_total",
        &[
            "op_first_f2f",
            "op_fu_f2f",
            "op_first_virtual",
            "op_fu_virtual",
        ],
    ),
    ("ag_total", &["ag_pre_referral", "ag_post_referral"]),
];

fn line_value(leaves: &BTreeMap<impl AsRef<str> + Ord, f64>, line: &str) -> f64 {
    let get = |l: &str| {
        leaves
            .iter()
            .find(|(k, _)| k.as_ref() == l)
            .map(|(_, v)| *v)
            .unwrap_or(0.0)
    };
    match PARTS.iter().find(|(total, _)| *total == line) {
        Some((_, parts)) => parts.iter().map(|p| get(p)).sum(),
        None => get(line),
    }
}

/// A figure of a published row; a NULL is left out of the row by the JSON writer.
fn num(r: &Map<String, Value>, key: &str) -> Option<f64> {
    r.get(key).and_then(Value::as_f64)
}

/// The row's figures as the pack prints them: comparator, actual, variance, %variance.
fn printed(comparator: f64, actual: f64) -> String {
    format!(
        "{} {} {} {}",
        format::thousands(comparator, 0),
        format::thousands(actual, 0),
        format::signed(actual - comparator, 0),
        format::percent((actual - comparator) / comparator, 0)
    )
}

/// Builds the pack again on the same store for another period.
async fn run_pack(store: &Path, period: &str) -> RunOutcome {
    let world = World::open(&crate::support::repo(), Some(store.to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, "board-pack").unwrap();
    let given = BTreeMap::from([("period".to_string(), period.to_string())]);
    let params = RunParams::bind(&plan, &given).unwrap();
    execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect("the board pack builds")
}

#[tokio::test]
async fn activity_against_last_year_and_the_plan() {
    let started = std::time::Instant::now();
    let (store, outcome) = shared_pack().await;
    let built = started.elapsed();
    let root = store.path();
    let text = pdf_text(&root.join(&outcome.reports()[0]));
    let this = leaf_counts(root, "2022-04");
    let last = leaf_counts(root, "2021-04");
    let plan = planned(root, "2022-04");

    // Calibrated to the seed's April 2022 tables.
    let near = |line: &str, seed: f64| {
        let v = line_value(&this, line);
        assert!(
            (v - seed).abs() / seed < 0.03,
            "{line}: {v} is not near the seed's {seed}"
        );
    };
    near("nel_spells", 6_408.0);
    near("nel_zero_los", 2_089.0);
    near("el_spells", 6_075.0);
    near("op_total", 109_476.0);
    near("op_first_f2f", 30_719.0);
    near("op_fu_f2f", 55_076.0);
    near("pifu", 2_531.0);
    near("ag_total", 8_865.0);
    assert!((line_value(&last, "nel_spells") - 6_771.0).abs() / 6_771.0 < 0.03);

    let summary = table_rows(root, &outcome, "activity_summary");
    assert_eq!(summary.len(), 16, "every configured line has a row");
    for r in &summary {
        let line = r["line"].as_str().unwrap();
        let actual = line_value(&this, line);
        let comparator = if r["compare"] == "plan" {
            line_value(&plan, line)
        } else {
            line_value(&last, line)
        };
        assert_eq!(num(r, "month_actual"), Some(actual), "{line}");
        assert_eq!(num(r, "month_comparator"), Some(comparator), "{line}");
        assert_eq!(
            num(r, "month_variance"),
            Some(actual - comparator),
            "{line}"
        );
        let pct = num(r, "month_pct_variance").unwrap();
        assert!(
            (pct - (actual - comparator) / comparator).abs() < 1e-12,
            "{line}"
        );
        // April: the year to date is the month.
        assert_eq!(num(r, "ytd_actual"), Some(actual), "{line}");
        assert_eq!(num(r, "ytd_comparator"), Some(comparator), "{line}");
        // Printed as YTD comparator, actual, var, %var, then the month's.
        let label = r["label"].as_str().unwrap();
        let figures = printed(comparator, actual);
        assert_contains(&text, &format!("{label} {figures} {figures}"));
    }
    // The cover's key points carry elective activity against plan.
    let (el, el_plan) = (
        line_value(&this, "el_spells"),
        line_value(&plan, "el_spells"),
    );
    assert_contains(
        &text,
        &format!(
            "Elective spells were {} in Apr-22 against a plan of {} ({}).",
            format::thousands(el, 0),
            format::thousands(el_plan, 0),
            format::percent((el - el_plan) / el_plan, 0)
        ),
    );
    // The PDF shows the seed's headings and the tables' comparators.
    assert_contains(&text, "Acute activity against the same period last year");
    assert_contains(
        &text,
        "Year to date: April to Apr-22 Month Point of delivery 21/22 22/23 Var %Var Apr-21 Apr-22 Var %Var",
    );
    assert_contains(&text, "Acute activity against the 22/23 operational plan");
    eprintln!("activity: sample data and pack built in {built:?}");

    eprintln!("activity: whole test took {:?}", started.elapsed());
}

#[tokio::test]
async fn trajectories_and_finance() {
    let (store, outcome) = shared_pack().await;
    let root = store.path();
    let text = pdf_text(&root.join(&outcome.reports()[0]));

    // Trajectories: the plan's ICB targets against the metrics' actuals; variance = actual − target.
    let targets = planned(root, "2022-04");
    let metric = table_rows(root, &outcome, "metric_month");
    let trajectory = table_rows(root, &outcome, "trajectory_month");
    let t = trajectory
        .iter()
        .find(|r| r["metric_id"] == "rtt_52w" && r["month"] == "2022-04")
        .unwrap();
    let actual = metric
        .iter()
        .find(|r| r["metric_id"] == "rtt_52w" && r["month"] == "2022-04")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert_eq!(num(t, "target"), Some(targets["rtt_52w"]));
    assert_eq!(num(t, "actual"), Some(actual));
    assert_eq!(num(t, "variance"), Some(actual - targets["rtt_52w"]));
    assert_eq!(t["on_track"], Value::Bool(actual <= targets["rtt_52w"]));
    // Six months to the period, every trajectory of the plan that names a metric.
    let months: BTreeSet<&str> = trajectory
        .iter()
        .map(|r| r["month"].as_str().unwrap())
        .collect();
    assert_eq!(months.len(), 6);
    assert_contains(&text, "Trajectory monitoring");
    // The 52-week row prints its six targets in order, and April's variance.
    let six: Vec<String> = [
        "2021-11", "2021-12", "2022-01", "2022-02", "2022-03", "2022-04",
    ]
    .iter()
    .map(|m| format::thousands(planned(root, m)["rtt_52w"], 0))
    .collect();
    assert_contains(&text, &format!("Target {}", six.join(" ")));
    assert_contains(&text, &format::signed(actual - targets["rtt_52w"], 0));

    // Finance: under/(over) spend = budget − actual per line, £000s, an overspend in brackets.
    let mut lines: Vec<(String, f64, f64)> = Vec::new();
    for b in records(root, "finance_ledger", "2022-04") {
        let line = col::<StringArray>(&b, "budget_line");
        let budget = col::<Float64Array>(&b, "budget");
        let actual = col::<Float64Array>(&b, "actual");
        for i in 0..b.num_rows() {
            lines.push((line.value(i).to_string(), budget.value(i), actual.value(i)));
        }
    }
    let chc = lines
        .iter()
        .find(|l| l.0 == "Continuing Healthcare")
        .unwrap();
    let over = chc.1 - chc.2;
    assert!(
        over < 0.0,
        "Continuing Healthcare overspends, as in the seed"
    );
    let printed_over = format::money_thousands(over);
    assert!(printed_over.starts_with('(') && printed_over.ends_with(')'));
    let f = |x: f64| format::money_thousands(x);
    // April: the year to date is the month.
    let cells = format!("{} {} {} 0–30%", f(chc.1), f(chc.2), printed_over);
    assert_contains(&text, &format!("Continuing Healthcare {cells} {cells}"));
    let (budget, spent): (f64, f64) = lines.iter().fold((0.0, 0.0), |a, l| (a.0 + l.1, a.1 + l.2));
    assert_contains(
        &text,
        &format!(
            "Total net expenditure {} {} {}",
            f(budget),
            f(spent),
            f(budget - spent)
        ),
    );
    assert_contains(
        &text,
        &format!(
            "Year to date the ICB has spent {} against a budget of {} (£000s): an under/(over) spend of {}.",
            f(spent),
            f(budget),
            f(budget - spent)
        ),
    );
    let summary = table_rows(root, &outcome, "finance_summary");
    let total = summary
        .iter()
        .find(|r| r["label"] == "Total net expenditure")
        .unwrap();
    assert!((num(total, "month_under_over").unwrap() - (budget - spent)).abs() < 1e-6);
    assert!((num(total, "ytd_under_over").unwrap() - (budget - spent)).abs() < 1e-6);
}

/// GP appointments of one month from the records: (total, face to face, the seven booking bands, unknown).
fn gp_counts(store: &Path, month: &str) -> (u64, u64, [u64; 8]) {
    let (mut total, mut f2f, mut bands) = (0u64, 0u64, [0u64; 8]);
    for b in records(store, "gp_appointments", month) {
        let mode = col::<StringArray>(&b, "appointment_mode");
        let booked = col::<Date32Array>(&b, "booked_date");
        let when = col::<Date32Array>(&b, "appointment_date");
        for i in 0..b.num_rows() {
            total += 1;
            f2f += u64::from(mode.value(i) == "Face-to-Face");
            let band = if booked.is_null(i) || when.is_null(i) {
                7
            } else {
                match when.value(i) - booked.value(i) {
                    0 => 0,
                    1 => 1,
                    2..=7 => 2,
                    8..=14 => 3,
                    15..=21 => 4,
                    22..=28 => 5,
                    29.. => 6,
                    _ => 7,
                }
            };
            bands[band] += 1;
        }
    }
    (total, f2f, bands)
}

#[tokio::test]
async fn a_later_month_year_to_date_and_gp_appointments() {
    let started = std::time::Instant::now();
    let (store, _) = shared_pack().await;
    let root = store.path();
    // One pack for March 2022 checks what April cannot: years to date of several months, and GP
    // appointments (about 400,000 a month, so only the baseline month and the reporting month).
    let world = World::open(&crate::support::repo(), Some(root.to_str().unwrap())).unwrap();
    let feb20 = Month {
        year: 2020,
        month: 2,
    };
    let mar22 = Month {
        year: 2022,
        month: 3,
    };
    let opts = SampleOptions {
        from: mar22,
        to: mar22,
        // The shared pack's outpatients are April's and a year before; March's pack needs its own month
        // (a month the input must hold: without it the run is refused).
        only: vec!["gp_appointments".to_string(), "op_attendances".to_string()],
        only_months: vec![
            ("gp_appointments".to_string(), vec![feb20, mar22]),
            ("op_attendances".to_string(), vec![mar22]),
        ],
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let generated = started.elapsed();
    let march = run_pack(root, "2022-03").await;
    let outcome = &march;
    let text = pdf_text(&root.join(&outcome.reports()[0]));
    let rows = table_rows(root, &outcome, "gp_month");
    assert_eq!(
        rows.len(),
        2,
        "the baseline and the reporting month: {rows:?}"
    );
    let mut totals = Vec::new();
    let mut f2f_line = Vec::new();
    for (month, baseline) in [("2020-02", true), ("2022-03", false)] {
        let (total, f2f, bands) = gp_counts(root, month);
        assert_eq!(
            bands.iter().sum::<u64>(),
            total,
            "the bands add up to the total"
        );
        let r = rows.iter().find(|r| r["month"] == month).unwrap();
        assert_eq!(r["baseline"], Value::Bool(baseline), "{month}");
        assert_eq!(num(r, "appointments"), Some(total as f64));
        assert_eq!(num(r, "face_to_face"), Some(f2f as f64));
        let keys = [
            "same_day",
            "day_1",
            "days_2_7",
            "days_8_14",
            "days_15_21",
            "days_22_28",
            "over_28",
            "unknown_interval",
        ];
        for (k, n) in keys.iter().zip(bands) {
            assert_eq!(num(r, k), Some(n as f64), "{month} {k}");
        }
        // The booking bands as printed: counts, then each as a share of the month's appointments.
        let counts: Vec<String> = bands[..7]
            .iter()
            .map(|n| format::thousands(*n as f64, 0))
            .collect();
        let shares: Vec<String> = bands[..7]
            .iter()
            .map(|n| format::percent(*n as f64 / total as f64, 1))
            .collect();
        let label = if baseline { "Feb-20" } else { "Mar-22" };
        assert_contains(
            &text,
            &format!("{label} {} % {}", counts.join(" "), shares.join(" ")),
        );
        totals.push(format::thousands(total as f64, 0));
        f2f_line.push(format::percent(f2f as f64 / total as f64, 1));
    }
    // Calibrated to the seed: 392,268 appointments, 73.6% face to face in Feb-20; 479,924, 56.8% in Mar-22.
    for ((month, seed_total, seed_f2f), (total, f2f)) in
        [("2020-02", 392_268.0, 0.736), ("2022-03", 479_924.0, 0.568)]
            .into_iter()
            .zip(["2020-02", "2022-03"].map(|m| {
                let (t, f, _) = gp_counts(root, m);
                (t as f64, f as f64)
            }))
    {
        assert!(
            (total - seed_total).abs() / seed_total < 0.05,
            "{month}: {total}"
        );
        assert!(
            (f2f / total - seed_f2f).abs() < 0.02,
            "{month}: {}",
            f2f / total
        );
    }
    assert_contains(&text, "Feb-20 (pre-Covid baseline) Mar-22");
    assert_contains(&text, &format!("Total appointments {}", totals.join(" ")));
    assert_contains(&text, &format!("% face to face {}", f2f_line.join(" ")));
    // Later in the year the year to date adds up the months, and a year to date with a month of data
    // missing (outpatients are written only for April of each year here) is N/A, not a partial sum.
    let summary = table_rows(root, &march, "activity_summary");
    let row = |line: &str| summary.iter().find(|r| r["line"] == line).unwrap().clone();
    let months: Vec<String> = (4..=15)
        .map(|k| format!("{}-{:02}", 2021 + (k - 1) / 12, (k - 1) % 12 + 1))
        .collect();
    let (mut spells, mut planned_spells) = (0.0, 0.0);
    for m in &months {
        spells += line_value(&leaf_counts(root, m), "el_spells");
        planned_spells += line_value(&planned(root, m), "el_spells");
    }
    let el = row("el_spells");
    assert_eq!(num(&el, "ytd_actual"), Some(spells));
    assert_eq!(num(&el, "ytd_comparator"), Some(planned_spells));
    assert_eq!(num(&row("op_total"), "ytd_actual"), None);
    // 2020/21 is not in this sample: last year's year to date is unknown.
    assert_eq!(num(&row("nel_spells"), "ytd_comparator"), None);
    let total = format::thousands(spells, 0);
    assert_contains(
        &text,
        &format!(
            "Elective spells {} {total}",
            format::thousands(planned_spells, 0)
        ),
    );
    eprintln!(
        "gp: sample data written in {generated:?}, whole test {:?}",
        started.elapsed()
    );
}
