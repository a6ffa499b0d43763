//! Published benchmarks, aggregated as NHS England publishes them: per metric per month, the Midlands
//! region's and England's values (ratios as proportions). Calibrated to the seed's "Regional Average"
//! column and benchmarking page for April 2022 (e.g. RTT 58.0%, 2-week wait 73.7%, 62-day 54.4%); earlier
//! months move from a pre-Covid level to April 2022's.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

/// (metric id as in `config/board-pack/metrics.yaml`, Midlands before Covid, Midlands in April 2022,
/// England minus Midlands).
const BENCHMARKS: [(&str, f64, f64, f64); 22] = [
    ("ae_4h", 0.85, 0.700, 0.026),
    ("amb_15", 0.50, 0.300, 0.05),
    ("amb_30", 0.85, 0.640, 0.05),
    ("nhs111_60s", 0.85, 0.520, 0.04),
    ("rtt_18w", 0.84, 0.580, 0.031),
    ("dm01_6w", 0.97, 0.631, 0.085),
    ("cancer_2ww", 0.90, 0.737, 0.018),
    ("cancer_2ww_breast", 0.88, 0.619, 0.053),
    ("cancer_fds", 0.74, 0.710, 0.007),
    ("cancer_31d", 0.96, 0.898, 0.017),
    ("cancer_31d_surgery", 0.90, 0.746, 0.084),
    ("cancer_31d_drug", 0.99, 0.955, 0.015),
    ("cancer_31d_radio", 0.97, 0.918, 0.022),
    ("cancer_62d", 0.77, 0.544, 0.071),
    ("cancer_62d_screening", 0.84, 0.653, 0.047),
    ("cancer_62d_upgrade", 0.85, 0.731, 0.019),
    ("iapt_recovery", 0.51, 0.500, 0.005),
    ("iapt_6w", 0.89, 0.900, -0.01),
    ("eip_2w", 0.72, 0.700, -0.02),
    ("dementia_dx", 0.67, 0.600, 0.02),
    ("smi_checks", 0.40, 0.415, 0.035),
    ("ld_checks", 0.58, 0.690, 0.02),
];

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    _scale: u32,
    _practices: &[Practice],
    _demography: &Demography,
    _skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    // From March 2020 (0) to April 2022 (1), levels move from before Covid to April 2022's.
    let since = (month.year * 12 + month.month as i32) - (2020 * 12 + 3);
    let t = (since as f64 / 25.0).clamp(0.0, 1.0);
    let (mut ids, mut midlands, mut england) = (Vec::new(), Vec::new(), Vec::new());
    for (id, before, april_22, gap) in BENCHMARKS {
        let m =
            (before + (april_22 - before) * t + rng.random_range(-0.008..0.008)).clamp(0.0, 1.0);
        ids.push(id);
        midlands.push(m);
        england.push((m + gap + rng.random_range(-0.004..0.004)).clamp(0.0, 1.0));
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("metric_id", Arc::new(StringArray::from(ids))),
        ("midlands", Arc::new(Float64Array::from(midlands))),
        ("england", Arc::new(Float64Array::from(england))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
