//! Record-level outpatient appointments (SUS outpatients' shape): one row per appointment with the
//! provider, the appointment date, first or follow-up, the consultation medium (face to face, telephone,
//! video), whether the patient attended or did not (DNA), and whether the episode was moved or discharged
//! to patient-initiated follow-up (PIFU). Calibrated to the seed's April 2022 table: 109,476 attendances,
//! 30,719 first and 55,076 follow-up face to face, 7,421 first and 16,260 follow-up by telephone or video,
//! 2,531 moved or discharged to PIFU; virtual care replacing face to face in spring 2020.
//!
//! Owns this one input's generation; it must not touch the other inputs.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::apc::ACUTE_SHARES;
use super::reference::Practice;
use super::{Demography, PatientColumns, SampleError};
use crate::period::Month;

const SPECIALTIES: [&str; 8] = [
    "Trauma and Orthopaedics",
    "Ophthalmology",
    "Dermatology",
    "ENT",
    "Cardiology",
    "Gynaecology",
    "Urology",
    "General Surgery",
];

/// The share of booked appointments the patient did not attend.
const DNA_RATE: f64 = 0.07;

/// ICB-wide attendances expected in a month: (first face to face, follow-up face to face, first virtual,
/// follow-up virtual, episodes moved or discharged to PIFU).
fn volumes(m: Month) -> [f64; 5] {
    let v = match m.year * 100 + m.month as i32 {
        ..=202002 => [34_000.0, 72_000.0, 1_000.0, 3_000.0, 60.0],
        202003 => [25_000.0, 52_000.0, 4_000.0, 11_000.0, 60.0],
        202004 => [8_000.0, 14_000.0, 9_000.0, 26_000.0, 40.0],
        202005 => [10_000.0, 18_000.0, 10_000.0, 28_000.0, 50.0],
        202006..=202012 => [18_000.0, 32_000.0, 10_000.0, 27_000.0, 120.0],
        202101..=202103 => [17_000.0, 30_000.0, 11_000.0, 27_000.0, 250.0],
        202104 => [24_000.0, 42_000.0, 10_500.0, 24_500.0, 600.0],
        202105..=202203 => [27_000.0, 48_000.0, 9_000.0, 20_000.0, 1_400.0],
        202204 => [30_719.0, 55_076.0, 7_421.0, 16_260.0, 2_531.0],
        _ => [31_000.0, 56_000.0, 7_500.0, 16_500.0, 2_800.0],
    };
    let season = match m.month {
        8 => 0.92,
        12 => 0.88,
        _ => 1.0,
    };
    v.map(|x| x * season)
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
    let mut dates = Vec::new();
    let mut types = Vec::new();
    let mut media = Vec::new();
    let mut statuses = Vec::new();
    let mut pifu = Vec::new();
    let mut specialties = Vec::new();
    let mut patients = PatientColumns::default();

    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let days = (month.last_day() - month.first_day()).num_days() + 1;
    let [first_f2f, fu_f2f, first_virtual, fu_virtual, to_pifu] = volumes(month);
    // PIFU is an outcome of an attended follow-up.
    let p_pifu = to_pifu / (fu_f2f + fu_virtual);
    let mut seq = 0u64;
    for area in 0..scale.max(1) {
        for (code, share) in ACUTE_SHARES {
            if skip_providers.iter().any(|p| p == code) {
                continue;
            }
            let lines = [
                ("First", false, first_f2f),
                ("Follow-up", false, fu_f2f),
                ("First", true, first_virtual),
                ("Follow-up", true, fu_virtual),
            ];
            for (kind, is_virtual, volume) in lines {
                let attended = (volume * share * rng.random_range(0.985..1.015)) as usize;
                let booked = attended + (attended as f64 * DNA_RATE / (1.0 - DNA_RATE)) as usize;
                for i in 0..booked {
                    seq += 1;
                    let did_attend = i < attended;
                    let medium = if !is_virtual {
                        "Face to face"
                    } else if rng.random::<f64>() < 0.85 {
                        "Telephone"
                    } else {
                        "Video"
                    };
                    let day = month.first_day() + Duration::days(rng.random_range(0..days));
                    patients.draw(rng, practices, demography, area);
                    ids.push(format!(
                        "OP{:02}{}{:08}",
                        area,
                        month.to_string().replace('-', ""),
                        seq
                    ));
                    providers.push(code);
                    dates.push((day - epoch).num_days() as i32);
                    types.push(kind);
                    media.push(medium);
                    statuses.push(if did_attend { "Attended" } else { "DNA" });
                    pifu.push(did_attend && kind == "Follow-up" && rng.random::<f64>() < p_pifu);
                    specialties.push(SPECIALTIES[rng.random_range(0..SPECIALTIES.len())]);
                }
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("attendance_id", Arc::new(StringArray::from(ids))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("appointment_date", Arc::new(Date32Array::from(dates))),
        ("attendance_type", Arc::new(StringArray::from(types))),
        ("consultation_medium", Arc::new(StringArray::from(media))),
        ("attendance_status", Arc::new(StringArray::from(statuses))),
        ("pifu", Arc::new(BooleanArray::from(pifu))),
        ("specialty", Arc::new(StringArray::from(specialties))),
    ];
    patients.batch(columns)
}
