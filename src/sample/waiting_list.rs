//! Waiting lists as monthly snapshots: one row per person waiting at month end, with the date their wait
//! started, the provider and what they wait for. Two lists share the generator:
//! - referral to treatment (RTT): about 84% within 18 weeks before Covid, the collapse in 2020, about 61%
//!   and about 5,500 pathways over 52 weeks in April 2022 (the seed);
//! - diagnostics (DM01): about 98% waiting under 6 weeks before Covid, about 92% in April 2022.

use std::sync::Arc;

use chrono::Duration;
use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::reference::Practice;
use super::{Demography, PatientColumns, SampleError};
use crate::period::Month;

/// A waiting list's shape: its columns and, per month, how long and how old it is.
pub struct WaitingList {
    pub id_column: &'static str,
    pub id_prefix: &'static str,
    /// The column holding the date the wait started.
    pub start_column: &'static str,
    /// The column holding what the person waits for.
    pub category_column: &'static str,
    pub categories: &'static [&'static str],
    /// Days below which a wait is "short" (RTT: 19 whole weeks = 133 days; DM01: 6 weeks = 42 days).
    pub short_days: i64,
    /// Days from which a wait is "long" (RTT: 52 weeks = 364 days; DM01: 13 weeks = 91 days).
    pub long_days: i64,
    /// Mean days beyond `long_days` of the long waits.
    pub tail_mean_days: f64,
    /// (list size at scale 1, share short, share long) at a month's end.
    pub shape: fn(Month) -> (f64, f64, f64),
}

pub const RTT: WaitingList = WaitingList {
    id_column: "pathway_id",
    id_prefix: "RTT",
    start_column: "clock_start",
    category_column: "specialty",
    categories: &[
        "Trauma and Orthopaedics",
        "Ophthalmology",
        "Ear Nose and Throat",
        "General Surgery",
        "Gynaecology",
        "Dermatology",
        "Cardiology",
        "Urology",
        "Other",
    ],
    short_days: 133,
    long_days: 364,
    tail_mean_days: 84.0,
    shape: rtt_shape,
};

pub const DIAGNOSTICS: WaitingList = WaitingList {
    id_column: "waiter_id",
    id_prefix: "DM",
    start_column: "referral_date",
    category_column: "test",
    categories: &[
        "Magnetic Resonance Imaging",
        "Computed Tomography",
        "Non-obstetric ultrasound",
        "Echocardiography",
        "Colonoscopy",
        "Gastroscopy",
        "DEXA Scan",
        "Audiology Assessments",
    ],
    short_days: 42,
    long_days: 91,
    tail_mean_days: 30.0,
    shape: diagnostics_shape,
};

fn rtt_shape(m: Month) -> (f64, f64, f64) {
    match m.year * 100 + m.month as i32 {
        ..=202002 => (80_000.0, 0.84, 0.001),
        202003 => (78_000.0, 0.80, 0.002),
        202004..=202006 => (70_000.0, 0.52, 0.02),
        202007..=202012 => (76_000.0, 0.58, 0.05),
        202101..=202103 => (82_000.0, 0.60, 0.075),
        202104..=202109 => (88_000.0, 0.63, 0.067),
        202110..=202203 => (92_000.0, 0.625, 0.055),
        202204 => (95_000.0, 0.608, 0.058),
        _ => (97_000.0, 0.60, 0.055),
    }
}

fn diagnostics_shape(m: Month) -> (f64, f64, f64) {
    match m.year * 100 + m.month as i32 {
        ..=202002 => (14_000.0, 0.985, 0.002),
        202003 => (14_500.0, 0.93, 0.01),
        202004..=202006 => (12_000.0, 0.45, 0.25),
        202007..=202012 => (15_000.0, 0.75, 0.08),
        202101..=202103 => (16_000.0, 0.82, 0.05),
        202104..=202203 => (17_000.0, 0.93, 0.015),
        202204 => (17_500.0, 0.917, 0.02),
        _ => (18_000.0, 0.92, 0.02),
    }
}

/// Patients from more deprived areas wait longer, as the seed's inequalities papers describe: the share
/// of short waits falls and the share of long waits rises with deprivation (IMD decile 1 = most deprived),
/// roughly preserving the list's overall shape.
fn inequality_tilt(p_short: f64, p_long: f64, imd_decile: i64) -> (f64, f64) {
    // -1 for the least deprived decile, +1 for the most deprived.
    let deprivation = (5.5 - imd_decile as f64) / 4.5;
    (
        (p_short - 0.06 * deprivation).clamp(0.01, 0.99),
        (p_long * (1.0 + 0.4 * deprivation)).clamp(0.0, 0.5),
    )
}

const PROVIDERS: [(&str, f64); 4] = [("RKB", 0.50), ("RJC", 0.25), ("RLT", 0.15), ("RRK", 0.10)];

pub fn generate(
    list: &WaitingList,
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (size, p_short, p_long) = (list.shape)(month);
    let snapshot = month.last_day();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let tail =
        Exp::new(1.0 / list.tail_mean_days).map_err(|e| SampleError::Generator(e.to_string()))?;
    let (mut ids, mut providers, mut specialties, mut starts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut patients = PatientColumns::default();
    let mut seq = 0u64;
    for area in 0..scale.max(1) {
        let n = (size * rng.random_range(0.99..1.01)) as usize;
        for _ in 0..n {
            let mut u: f64 = rng.random();
            let provider = PROVIDERS
                .iter()
                .find(|(_, share)| {
                    u -= share;
                    u <= 0.0
                })
                .map(|p| p.0)
                .unwrap_or("RKB");
            if skip_providers.iter().any(|p| p == provider) {
                continue;
            }
            seq += 1;
            patients.draw(rng, practices, demography, area);
            let (p_short, p_long) =
                inequality_tilt(p_short, p_long, patients.last_imd_decile().unwrap_or(5));
            // Days waited at the snapshot.
            let w: f64 = rng.random();
            let days: i64 = if w < p_short {
                rng.random_range(0..list.short_days)
            } else if w < 1.0 - p_long {
                rng.random_range(list.short_days..list.long_days)
            } else {
                list.long_days + tail.sample(rng) as i64
            };
            ids.push(format!("{}{:02}{:08}", list.id_prefix, area, seq));
            providers.push(provider.to_string());
            specialties
                .push(list.categories[rng.random_range(0..list.categories.len())].to_string());
            starts.push(((snapshot - Duration::days(days)) - epoch).num_days() as i32);
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (list.id_column, Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        (
            list.category_column,
            Arc::new(StringArray::from(specialties)),
        ),
        (list.start_column, Arc::new(Date32Array::from(starts))),
    ];
    patients.batch(columns)
}
