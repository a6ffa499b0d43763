//! Record-level ambulance handovers at the acute trusts (the handover returns' shape): one row per
//! conveyance with the ambulance's arrival and the handover to A&E staff, calibrated so that handovers
//! within 15 and 30 minutes fall from before Covid to 2022 and waits over an hour grow, as the seed's
//! "handovers over 15 minutes: 5,643" describes.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use datafusion::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::reference::Practice;
use super::{Demography, PatientColumns, SampleError};
use crate::period::Month;

/// (share within 15 minutes, within 30 minutes, over 60 minutes) for the ICB in a month.
fn shares(m: Month) -> (f64, f64, f64) {
    match m.year * 100 + m.month as i32 {
        ..=201911 => (0.55, 0.88, 0.01),
        201912..=202002 => (0.45, 0.82, 0.025),
        202003..=202008 => (0.70, 0.94, 0.004),
        202009..=202103 => (0.50, 0.85, 0.015),
        202104..=202109 => (0.44, 0.80, 0.03),
        202110..=202203 => (0.36, 0.74, 0.06),
        202204..=202210 => (0.35, 0.73, 0.065),
        _ => (0.30, 0.68, 0.09),
    }
}

/// (code, conveyances a month at scale 1, offset on the within-15 share).
const TRUSTS: [(&str, f64, f64); 3] = [
    ("RKB", 3_600.0, -0.04),
    ("RJC", 1_900.0, 0.03),
    ("RLT", 1_300.0, 0.06),
];

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (p15, p30, p60) = shares(month);
    let days = (month.last_day() - month.first_day()).num_days() + 1;
    let start: NaiveDateTime = month
        .first_day()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    let tail = Exp::new(1.0 / 45.0).map_err(|e| SampleError::Generator(e.to_string()))?;
    let (mut ids, mut providers, mut arrivals, mut handovers) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut patients = PatientColumns::default();
    let covid = if (202004..=202005).contains(&(month.year * 100 + month.month as i32)) {
        0.7
    } else {
        1.0
    };
    let mut seq = 0u64;
    for area in 0..scale.max(1) {
        for (code, volume, offset) in TRUSTS {
            if skip_providers.iter().any(|p| p == code) {
                continue;
            }
            let n = (volume * covid * rng.random_range(0.96..1.04)) as usize;
            let (a, b) = (
                (p15 + offset).clamp(0.05, 0.95),
                (p30 + offset / 2.0).clamp(0.1, 0.99),
            );
            for _ in 0..n {
                seq += 1;
                let u: f64 = rng.random();
                let minutes = if u < a {
                    rng.random_range(3.0..15.0)
                } else if u < b {
                    rng.random_range(15.0..30.0)
                } else if u < 1.0 - p60 {
                    rng.random_range(30.0..60.0)
                } else {
                    60.5 + tail.sample(rng)
                };
                let arrival = start
                    + Duration::days(rng.random_range(0..days))
                    + Duration::minutes(rng.random_range(0..24 * 60));
                let handover = arrival + Duration::seconds((minutes * 60.0) as i64);
                patients.draw(rng, practices, demography, area);
                ids.push(format!(
                    "AH{:02}{}{:07}",
                    area,
                    month.to_string().replace('-', ""),
                    seq
                ));
                providers.push(code.to_string());
                arrivals.push(arrival.and_utc().timestamp_micros());
                handovers.push(handover.and_utc().timestamp_micros());
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("handover_id", Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        (
            "arrival_time",
            Arc::new(TimestampMicrosecondArray::from(arrivals)),
        ),
        (
            "handover_time",
            Arc::new(TimestampMicrosecondArray::from(handovers)),
        ),
    ];
    patients.batch(columns)
}
