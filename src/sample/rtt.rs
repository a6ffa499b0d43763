//! The referral-to-treatment (RTT) waiting list as monthly snapshots: one row per open pathway at month
//! end, with its clock start, provider and specialty. Calibrated to the seed: about 84% within 18 weeks
//! before Covid, the collapse in 2020, about 61% and about 5,500 pathways over 52 weeks in April 2022.

use std::sync::Arc;

use chrono::Duration;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

/// (list size at scale 1, share within 18 weeks, share at 52 weeks or more) at the month's end.
fn shape(m: Month) -> (f64, f64, f64) {
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

const PROVIDERS: [(&str, f64); 4] = [("RKB", 0.50), ("RJC", 0.25), ("RLT", 0.15), ("RRK", 0.10)];
const SPECIALTIES: [&str; 9] = [
    "Trauma and Orthopaedics",
    "Ophthalmology",
    "Ear Nose and Throat",
    "General Surgery",
    "Gynaecology",
    "Dermatology",
    "Cardiology",
    "Urology",
    "Other",
];

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (size, p18, p52) = shape(month);
    let snapshot = month.last_day();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let tail = Exp::new(1.0 / 84.0).map_err(|e| SampleError::Generator(e.to_string()))?;
    let (
        mut ids,
        mut providers,
        mut specialties,
        mut starts,
        mut codes,
        mut imd,
        mut ethnic,
        mut age,
        mut sex,
    ) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
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
            // Days waited at the snapshot: within 18 whole weeks is fewer than 133 days.
            let w: f64 = rng.random();
            let days: i64 = if w < p18 {
                rng.random_range(0..133)
            } else if w < 1.0 - p52 {
                rng.random_range(133..364)
            } else {
                364 + tail.sample(rng) as i64
            };
            let practice = demography.pick_practice(rng, practices, area);
            let person = demography.person(rng, practice);
            ids.push(format!("RTT{:02}{:08}", area, seq));
            providers.push(provider.to_string());
            specialties.push(SPECIALTIES[rng.random_range(0..SPECIALTIES.len())].to_string());
            starts.push(((snapshot - Duration::days(days)) - epoch).num_days() as i32);
            codes.push(practice.code.clone());
            imd.push(person.imd_decile);
            ethnic.push(person.ethnic_group);
            age.push(person.age_band);
            sex.push(person.sex);
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("pathway_id", Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("specialty", Arc::new(StringArray::from(specialties))),
        ("clock_start", Arc::new(Date32Array::from(starts))),
        ("practice_code", Arc::new(StringArray::from(codes))),
        ("imd_decile", Arc::new(Int64Array::from(imd))),
        ("ethnic_group", Arc::new(StringArray::from(ethnic))),
        ("age_band", Arc::new(StringArray::from(age))),
        ("sex", Arc::new(StringArray::from(sex))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
