//! Advice and guidance requests: an aggregated monthly return, as the real one is (the Elective Recovery
//! Outpatient Collection counts requests per provider, specialty and type; there is no patient-level
//! record), so it carries no patient columns. `request_type` is `Pre-referral` (a GP asks a specialist
//! before deciding to refer) or `Post-referral` (a referral triaged into advice). Calibrated to the seed's
//! April 2022: 8,865 requests, 1,033 of them pre-referral.
//!
//! Owns this one input's generation; it must not touch the other inputs.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::apc::ACUTE_SHARES;
use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

const SPECIALTIES: [(&str, f64); 6] = [
    ("Dermatology", 0.24),
    ("Cardiology", 0.16),
    ("Gastroenterology", 0.18),
    ("Urology", 0.14),
    ("Gynaecology", 0.12),
    ("Trauma and Orthopaedics", 0.16),
];

/// ICB-wide (all requests, pre-referral requests) in a month: advice grew as referrals fell in 2020.
fn volumes(m: Month) -> (f64, f64) {
    match m.year * 100 + m.month as i32 {
        ..=202002 => (5_000.0, 450.0),
        202003..=202005 => (4_200.0, 350.0),
        202006..=202103 => (6_000.0, 600.0),
        202104..=202203 => (7_500.0, 900.0),
        202204 => (8_865.0, 1_033.0),
        _ => (9_200.0, 1_100.0),
    }
}

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    _practices: &[Practice],
    _demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (mut providers, mut specialties, mut types, mut requests) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (all, pre) = volumes(month);
    // An aggregate return: one row per provider, specialty and type whatever the scale, its volume scaled
    // (repeating the rows per area would repeat the key, which the input's contract refuses).
    let scale = f64::from(scale.max(1));
    {
        for (code, share) in ACUTE_SHARES {
            if skip_providers.iter().any(|p| p == code) {
                continue;
            }
            for (kind, volume) in [("Pre-referral", pre), ("Post-referral", all - pre)] {
                let total =
                    (volume * scale * share * rng.random_range(0.985..1.015)).round() as i64;
                let mut left = total;
                for (k, (specialty, weight)) in SPECIALTIES.iter().enumerate() {
                    let n = if k + 1 == SPECIALTIES.len() {
                        left
                    } else {
                        ((total as f64 * weight * rng.random_range(0.9..1.1)).round() as i64)
                            .min(left)
                    };
                    left -= n;
                    providers.push(code);
                    specialties.push(*specialty);
                    types.push(kind);
                    requests.push(n);
                }
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("specialty", Arc::new(StringArray::from(specialties))),
        ("request_type", Arc::new(StringArray::from(types))),
        ("requests", Arc::new(Int64Array::from(requests))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
