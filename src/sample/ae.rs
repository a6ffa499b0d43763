//! Record-level A&E attendances (the Emergency Care Data Set's shape): one row per attendance with
//! arrival, decision-to-admit, admission and departure times, calibrated so that the ICB's 4-hour
//! performance follows the seed papers (about 88% in April 2021, 69–72% in April/May 2022, provider
//! differences, winter pressure, the spring-2020 Covid collapse in attendances).

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::reference::{Practice, acute_providers};
use super::{Demography, PatientColumns, SampleError};
use crate::period::Month;

/// The ICB's target 4-hour performance for a month (all departments), read off the seed's matrix.
fn icb_four_hour(m: Month) -> f64 {
    let key = m.year * 100 + m.month as i32;
    let base = match key {
        ..=201911 => 0.84,
        201912..=202002 => 0.80,
        202003 => 0.86,
        202004..=202005 => 0.93,
        202006..=202009 => 0.90,
        202010..=202103 => 0.86,
        202104 => 0.881,
        202105 => 0.849,
        202106 => 0.82,
        202107..=202109 => 0.74,
        202110..=202202 => 0.72,
        202203 => 0.713,
        202204 => 0.689,
        202205 => 0.717,
        202206..=202210 => 0.71,
        _ => 0.66,
    };
    base
}

/// Attendance volume relative to normal: the spring-2020 collapse and recovery, and a summer peak.
fn volume_factor(m: Month) -> f64 {
    let covid = match m.year * 100 + m.month as i32 {
        202003 => 0.8,
        202004 => 0.55,
        202005 => 0.7,
        202006 => 0.8,
        202007..=202009 => 0.9,
        202010..=202103 => 0.82,
        _ => 1.0,
    };
    let seasonal = match m.month {
        5..=7 => 1.06,
        12 | 1 | 2 => 0.96,
        _ => 1.0,
    };
    covid * seasonal
}

/// 12-hour waits from decision to admit ("trolley waits") expected in a month across the ICB.
fn trolley_waits(m: Month) -> f64 {
    match m.year * 100 + m.month as i32 {
        ..=202108 => 0.2,
        202109..=202112 => 1.5,
        202201..=202203 => 6.0,
        202204 => 13.0,
        202205..=202210 => 5.0,
        _ => 12.0,
    }
}

/// (code, monthly attendances at scale 1, 4-hour offset from the ICB, type-3 share). Together about
/// 31,000 a month at all departments in April 2022 (the seed's 31,324).
const SITES: [(&str, f64, f64, f64); 3] = [
    ("RKB", 16_250.0, -0.005, 0.12),
    ("RJC", 8_750.0, -0.03, 0.0),
    ("RLT", 6_250.0, 0.065, 0.0),
];
/// The sites' attendances together, over which the ICB's trolley waits are shared out.
const ALL_SITES: f64 = 31_250.0;

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let mut ids = Vec::new();
    let mut providers = Vec::new();
    let mut dept_types = Vec::new();
    let mut arrivals = Vec::new();
    let mut departures = Vec::new();
    let mut dtas: Vec<Option<i64>> = Vec::new();
    let mut admitted = Vec::new();
    let mut patients = PatientColumns::default();

    let days = (month.last_day() - month.first_day()).num_days() + 1;
    let start: NaiveDateTime = month
        .first_day()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    let long_tail = Exp::new(1.0 / 170.0).map_err(|e| SampleError::Generator(e.to_string()))?;
    let target = icb_four_hour(month);
    let total_trolley = trolley_waits(month) * scale as f64;
    let mut seq = 0u64;
    debug_assert!(acute_providers().count() == SITES.len());
    for area in 0..scale.max(1) {
        for (code, volume, offset, type3_share) in SITES {
            if skip_providers.iter().any(|p| p == code) {
                continue;
            }
            let n = (volume * volume_factor(month) * rng.random_range(0.97..1.03)) as usize;
            let n3 = (n as f64 * type3_share) as usize;
            // Type-1 performance chosen so that all departments together land on the ICB's figure.
            let p_type1 = ((target + offset - type3_share * 0.97) / (1.0 - type3_share)
                + rng.random_range(-0.012..0.012))
            .clamp(0.3, 0.99);
            let admissions = (n - n3) as f64 * 0.26;
            let p_trolley = (total_trolley * volume / ALL_SITES / admissions.max(1.0)).min(1.0);
            for i in 0..n {
                seq += 1;
                let type3 = i < n3;
                patients.draw(rng, practices, demography, area);
                // Patients from the most deprived areas wait longer (IMD decile 1 = most deprived).
                let deprivation = (5.5 - patients.last_imd_decile().unwrap_or(5) as f64) / 4.5;
                let p_within = if type3 {
                    0.97
                } else {
                    p_type1 - 0.03 * deprivation
                };
                let within = rng.random::<f64>() < p_within;
                let minutes: i64 = if within {
                    rng.random_range(if type3 { 20..240 } else { 45..240 })
                } else {
                    241 + long_tail.sample(rng) as i64
                };
                let day = rng.random_range(0..days);
                // Arrivals peak late morning to evening.
                let hour = [
                    8, 9, 10, 10, 11, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 2,
                ][rng.random_range(0..18)];
                let arrival = start
                    + Duration::days(day)
                    + Duration::hours(hour)
                    + Duration::minutes(rng.random_range(0..60));
                let is_admitted = !type3 && rng.random::<f64>() < 0.26;
                let mut departure = arrival + Duration::minutes(minutes);
                let dta = if is_admitted {
                    let decided = arrival
                        + Duration::minutes((minutes as f64 * rng.random_range(0.4..0.8)) as i64);
                    if rng.random::<f64>() < p_trolley {
                        // A trolley wait: more than 12 hours from the decision to admit to admission.
                        departure = decided + Duration::minutes(721 + rng.random_range(0..300));
                    }
                    Some(decided)
                } else {
                    None
                };
                ids.push(format!(
                    "AE{:02}{}{:08}",
                    area,
                    month.to_string().replace('-', ""),
                    seq
                ));
                providers.push(code.to_string());
                dept_types.push(if type3 { 3 } else { 1 });
                arrivals.push(arrival.and_utc().timestamp_micros());
                departures.push(departure.and_utc().timestamp_micros());
                dtas.push(dta.map(|d| d.and_utc().timestamp_micros()));
                admitted.push(is_admitted);
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("attendance_id", Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("department_type", Arc::new(Int64Array::from(dept_types))),
        (
            "arrival_time",
            Arc::new(TimestampMicrosecondArray::from(arrivals)),
        ),
        (
            "decision_to_admit_time",
            Arc::new(TimestampMicrosecondArray::from(dtas)),
        ),
        (
            "departure_time",
            Arc::new(TimestampMicrosecondArray::from(departures)),
        ),
        ("admitted", Arc::new(BooleanArray::from(admitted))),
    ];
    patients.batch(columns)
}
