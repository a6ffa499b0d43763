//! NHS 111 call handling, an aggregated return as the real one is: per provider per month, calls offered,
//! answered, and answered within 60 seconds. Calibrated to the seed's 45.6% answered within 60 seconds in
//! March 2022 (standard 95%). The return lags the other sources by a month unless told otherwise.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

fn within_60s(m: Month) -> f64 {
    match m.year * 100 + m.month as i32 {
        ..=202002 => 0.86,
        202003..=202005 => 0.55,
        202006..=202012 => 0.75,
        202101..=202106 => 0.62,
        202107..=202112 => 0.50,
        202201..=202203 => 0.46,
        _ => 0.52,
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
    let (mut providers, mut offered, mut answered, mut fast) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if !skip_providers.iter().any(|p| p == "RYA") {
        // The ICB's share of the regional service's calls.
        let calls = (28_000.0 * scale as f64 * rng.random_range(0.95..1.05)) as i64;
        let answered_calls = (calls as f64 * rng.random_range(0.88..0.94)) as i64;
        let share = (within_60s(month) + rng.random_range(-0.02..0.02)).clamp(0.05, 0.99);
        providers.push("RYA".to_string());
        offered.push(calls);
        answered.push(answered_calls);
        fast.push((answered_calls as f64 * share) as i64);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("calls_offered", Arc::new(Int64Array::from(offered))),
        ("calls_answered", Arc::new(Int64Array::from(answered))),
        ("answered_within_60s", Arc::new(Int64Array::from(fast))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
