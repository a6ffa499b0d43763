//! Record-level admitted patient care spells (SUS APC's shape): one row per spell with the provider, the
//! point of delivery (`DC` elective day case, `EL` elective inpatient, `NEL` non-elective), admission and
//! discharge dates and the treatment specialty. Partitioned by the month of discharge, as SUS counts
//! spells. Calibrated to the seed's activity tables: in April 2022 6,408 non-elective spells (2,089 with
//! a zero length of stay), 6,075 elective spells (3,558 day cases, 2,517 inpatients); in April 2021
//! 6,771 non-elective spells (2,253 zero length of stay); electives collapsing in spring 2020.
//!
//! Owns this one input's generation; it must not touch the other inputs.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::reference::Practice;
use super::{Demography, PatientColumns, SampleError};
use crate::period::Month;

/// Each acute trust's share of the ICB's patients' spells.
pub const ACUTE_SHARES: [(&str, f64); 3] = [("RKB", 0.52), ("RJC", 0.28), ("RLT", 0.20)];

const ELECTIVE_SPECIALTIES: [&str; 7] = [
    "General Surgery",
    "Trauma and Orthopaedics",
    "Urology",
    "Ophthalmology",
    "ENT",
    "Gastroenterology",
    "Gynaecology",
];
const EMERGENCY_SPECIALTIES: [&str; 6] = [
    "General Medicine",
    "Geriatric Medicine",
    "General Surgery",
    "Paediatrics",
    "Trauma and Orthopaedics",
    "Cardiology",
];

/// ICB-wide spells expected in a month: (non-elective, zero-stay share, day cases, elective inpatients).
fn volumes(m: Month) -> (f64, f64, f64, f64) {
    let key = m.year * 100 + m.month as i32;
    // Non-elective admissions fell by a third in April 2020 and recovered by the summer.
    let nel = match key {
        202003 => 6_000.0,
        202004 => 4_400.0,
        202005 => 5_200.0,
        202006..=202008 => 5_900.0,
        202009..=202103 => 6_100.0,
        202104 => 6_771.0,
        202105..=202203 => 6_650.0,
        202204 => 6_408.0,
        _ => 6_600.0,
    };
    let winter = match m.month {
        12 | 1 => 1.05,
        _ => 1.0,
    };
    let zero_share = match key {
        202104 => 2_253.0 / 6_771.0,
        202204 => 2_089.0 / 6_408.0,
        _ => 0.33,
    };
    // Elective day cases and inpatients: near-stopped in April 2020, rebuilding through 2021.
    let (dc, ip) = match key {
        ..=202002 => (3_900.0, 2_700.0),
        202003 => (2_600.0, 1_800.0),
        202004 => (700.0, 450.0),
        202005 => (1_100.0, 700.0),
        202006..=202008 => (2_000.0, 1_300.0),
        202009..=202012 => (2_900.0, 1_900.0),
        202101..=202102 => (2_100.0, 1_300.0),
        202103 => (2_900.0, 2_000.0),
        202104 => (3_250.0, 2_250.0),
        202105..=202203 => (3_500.0, 2_450.0),
        202204 => (3_558.0, 2_517.0),
        _ => (3_700.0, 2_600.0),
    };
    let elective_season = match m.month {
        8 => 0.93,
        12 => 0.9,
        _ => 1.0,
    };
    (
        nel * winter,
        zero_share,
        dc * elective_season,
        ip * elective_season,
    )
}

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
    let mut pods = Vec::new();
    let mut admitted = Vec::new();
    let mut discharged = Vec::new();
    let mut specialties = Vec::new();
    let mut patients = PatientColumns::default();

    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let days = (month.last_day() - month.first_day()).num_days() + 1;
    let (nel, zero_share, dc, ip) = volumes(month);
    let mut seq = 0u64;
    for area in 0..scale.max(1) {
        for (code, share) in ACUTE_SHARES {
            if skip_providers.iter().any(|p| p == code) {
                continue;
            }
            let jitter = |rng: &mut ChaCha8Rng, x: f64| x * share * rng.random_range(0.985..1.015);
            let counts = [
                ("NEL", jitter(rng, nel) as usize),
                ("DC", jitter(rng, dc) as usize),
                ("EL", jitter(rng, ip) as usize),
            ];
            for (pod, n) in counts {
                for _ in 0..n {
                    seq += 1;
                    let stay: i64 = match pod {
                        "DC" => 0,
                        "EL" => 1 + (rng.random::<f64>().powi(2) * 9.0) as i64,
                        _ if rng.random::<f64>() < zero_share => 0,
                        // Emergency stays of a day or more: mostly short, a long tail of frail patients.
                        _ => 1 + (rng.random::<f64>().powi(3) * 30.0) as i64,
                    };
                    let discharge = month.first_day() + Duration::days(rng.random_range(0..days));
                    let admission = discharge - Duration::days(stay);
                    let specialty = if pod == "NEL" {
                        EMERGENCY_SPECIALTIES[rng.random_range(0..EMERGENCY_SPECIALTIES.len())]
                    } else {
                        ELECTIVE_SPECIALTIES[rng.random_range(0..ELECTIVE_SPECIALTIES.len())]
                    };
                    if pod == "NEL" {
                        // Emergency admissions are more frequent where practices serve more deprived
                        // populations (about 1.8 times as many at the most deprived as the least).
                        patients.draw_weighted(rng, practices, demography, area, |p| {
                            (1.0 + 0.3 * (5.5 - p.imd_decile) / 4.5) / 1.3
                        });
                    } else {
                        patients.draw(rng, practices, demography, area);
                    }
                    ids.push(format!(
                        "APC{:02}{}{:07}",
                        area,
                        month.to_string().replace('-', ""),
                        seq
                    ));
                    providers.push(code);
                    pods.push(pod);
                    admitted.push((admission - epoch).num_days() as i32);
                    discharged.push((discharge - epoch).num_days() as i32);
                    specialties.push(specialty);
                }
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("spell_id", Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("point_of_delivery", Arc::new(StringArray::from(pods))),
        ("admission_date", Arc::new(Date32Array::from(admitted))),
        ("discharge_date", Arc::new(Date32Array::from(discharged))),
        ("specialty", Arc::new(StringArray::from(specialties))),
    ];
    patients.batch(columns)
}
