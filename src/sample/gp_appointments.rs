//! GP appointments at record level, in the shape of the GP Appointments Data (GPAD): one row per
//! appointment with the practice, the date it was booked, the date it took place, its mode, whether the
//! patient attended, and the kind of clinician. Shared by the board pack (activity) and the primary-care
//! dashboard (practice indicators).
//!
//! Calibrated to the seed (`seed-000-notes.md` §2.7): 392,268 appointments in Feb-20 (73.6% face to face,
//! the pre-Covid baseline), 413,658 / 479,924 / 394,473 in Feb-22 / Mar-22 / Apr-22 (55.6% / 56.8% /
//! 57.9%), and the seed's booking-to-appointment bands. Appointments happen on working days, so a month's
//! volume follows its working days (Apr-22 has two bank holidays). Did-not-attend rates rise with the
//! deprivation of the patient's area, as they do in the real data.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::reference::Practice;
use super::{Demography, PatientColumns, SampleError, pick_index};
use crate::period::Month;

/// Appointments per working day across the ICB at scale 1 before Covid (392,268 over 20 days in Feb-20).
const PER_WORKING_DAY: f64 = 19_613.0;

/// England's bank holidays over the sample's years (appointments are not booked on them).
const BANK_HOLIDAYS: [(i32, u32, u32); 40] = [
    (2018, 4, 2),
    (2018, 5, 7),
    (2018, 5, 28),
    (2018, 8, 27),
    (2018, 12, 25),
    (2018, 12, 26),
    (2019, 1, 1),
    (2019, 4, 19),
    (2019, 4, 22),
    (2019, 5, 6),
    (2019, 5, 27),
    (2019, 8, 26),
    (2019, 12, 25),
    (2019, 12, 26),
    (2020, 1, 1),
    (2020, 4, 10),
    (2020, 4, 13),
    (2020, 5, 8),
    (2020, 5, 25),
    (2020, 8, 31),
    (2020, 12, 25),
    (2020, 12, 28),
    (2021, 1, 1),
    (2021, 4, 2),
    (2021, 4, 5),
    (2021, 5, 3),
    (2021, 5, 31),
    (2021, 8, 30),
    (2021, 12, 27),
    (2021, 12, 28),
    (2022, 1, 3),
    (2022, 4, 15),
    (2022, 4, 18),
    (2022, 5, 2),
    (2022, 6, 2),
    (2022, 6, 3),
    (2022, 8, 29),
    (2022, 9, 19),
    (2022, 12, 26),
    (2022, 12, 27),
];

/// The working days of a month: weekdays that are not bank holidays.
pub fn working_days(month: Month) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut d = month.first_day();
    while d <= month.last_day() {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        let holiday = BANK_HOLIDAYS
            .iter()
            .any(|&(y, m, day)| d.year() == y && d.month() == m && d.day() == day);
        if !weekend && !holiday {
            days.push(d);
        }
        d += Duration::days(1);
    }
    days
}

/// Volume per working day relative to before Covid, and the share of appointments face to face.
fn volume_and_face_to_face(m: Month) -> (f64, f64) {
    match m.year * 100 + m.month as i32 {
        ..=202002 => (1.0, 0.736),
        202003 => (0.92, 0.62),
        202004 => (0.68, 0.44),
        202005 => (0.76, 0.46),
        202006..=202008 => (0.88, 0.50),
        202009..=202012 => (0.98, 0.53),
        202101..=202103 => (1.0, 0.52),
        202104..=202112 => (1.04, 0.56),
        202201 => (1.0, 0.55),
        202202 => (1.055, 0.556),
        202203 => (1.068, 0.568),
        202204 => (1.058, 0.579),
        _ => (1.06, 0.59),
    }
}

/// Booking-to-appointment bands (days from, days to) with their shares: the seed's Feb-20 figures before
/// Covid and its Apr-22 figures after (same day rounded up so that the shares add up to one).
const BANDS: [(i64, i64); 7] = [
    (0, 0),
    (1, 1),
    (2, 7),
    (8, 14),
    (15, 21),
    (22, 28),
    (29, 60),
];
const BAND_SHARES_PRE_COVID: [f64; 7] = [0.497, 0.067, 0.194, 0.118, 0.058, 0.036, 0.030];
const BAND_SHARES_NOW: [f64; 7] = [0.524, 0.085, 0.185, 0.098, 0.051, 0.031, 0.026];

/// Remote modes, with their shares of appointments that are not face to face.
const REMOTE_MODES: [(&str, f64); 4] = [
    ("Telephone", 0.925),
    ("Video Conference/Online", 0.03),
    ("Home Visit", 0.02),
    ("Unknown", 0.025),
];

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    demography: &Demography,
    _skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let days = working_days(month);
    let (volume, face_to_face) = volume_and_face_to_face(month);
    let shares = if month
        < (Month {
            year: 2020,
            month: 3,
        }) {
        BAND_SHARES_PRE_COVID
    } else {
        BAND_SHARES_NOW
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch exists");
    let month_key = month.to_string().replace('-', "");

    let per_area = (PER_WORKING_DAY * volume * days.len() as f64) as usize;
    let capacity = per_area * scale.max(1) as usize;
    let mut ids = Vec::with_capacity(capacity);
    let mut booked = Vec::with_capacity(capacity);
    let mut dates = Vec::with_capacity(capacity);
    let mut modes = Vec::with_capacity(capacity);
    let mut statuses = Vec::with_capacity(capacity);
    let mut hcp = Vec::with_capacity(capacity);
    let mut patients = PatientColumns::default();
    for area in 0..scale.max(1) {
        let n = (per_area as f64 * rng.random_range(0.985..1.015)) as usize;
        for seq in 0..n {
            let day = days[rng.random_range(0..days.len())];
            let band = pick_index(rng, shares.iter().copied());
            let (lo, hi) = BANDS[band];
            let lead = rng.random_range(lo..=hi);
            let f2f = rng.random::<f64>() < face_to_face;
            let mode = if f2f {
                "Face-to-Face"
            } else {
                super::weighted(rng, &REMOTE_MODES, |_| 1.0)
            };
            patients.draw(rng, practices, demography, area);
            let imd = patients.last_imd_decile().unwrap_or(5) as f64;
            // Face-to-face and long-booked appointments are missed more; so are those of patients from
            // the most deprived areas (about twice the rate of the least deprived).
            let base_dna = if f2f { 0.045 } else { 0.015 } * if lead > 7 { 1.5 } else { 1.0 };
            let dna = base_dna * (1.0 + 0.07 * (5.5 - imd));
            let x = rng.random::<f64>();
            let status = if x < dna {
                "DNA"
            } else if x < dna + 0.02 {
                "Unknown"
            } else {
                "Attended"
            };
            ids.push(format!("GP{area:02}{month_key}{seq:07}"));
            dates.push((day - epoch).num_days() as i32);
            booked.push((day - Duration::days(lead) - epoch).num_days() as i32);
            modes.push(mode);
            statuses.push(status);
            hcp.push(if rng.random::<f64>() < 0.48 {
                "GP"
            } else {
                "Other Practice staff"
            });
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("appointment_id", Arc::new(StringArray::from(ids))),
        ("booked_date", Arc::new(Date32Array::from(booked))),
        ("appointment_date", Arc::new(Date32Array::from(dates))),
        ("appointment_mode", Arc::new(StringArray::from(modes))),
        ("appointment_status", Arc::new(StringArray::from(statuses))),
        ("hcp_type", Arc::new(StringArray::from(hcp))),
    ];
    patients.batch(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_leave_out_weekends_and_bank_holidays() {
        // April 2022: 21 weekdays, less Good Friday and Easter Monday.
        assert_eq!(working_days(Month::new(2022, 4).unwrap()).len(), 19);
        assert_eq!(working_days(Month::new(2020, 2).unwrap()).len(), 20);
        assert_eq!(working_days(Month::new(2022, 3).unwrap()).len(), 23);
    }

    #[test]
    fn band_shares_add_up_to_one() {
        for shares in [BAND_SHARES_PRE_COVID, BAND_SHARES_NOW] {
            assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
