//! The finance ledger: an aggregated input, as the real one is — per budget line per month, the budget and
//! the actual spend in £000s. Lines are those of the seed's Month 3 2022/23 finance report; April 2022's
//! budgets are a third of its year-to-date figures (Acute Healthcare 78,904, Continuing Healthcare
//! 8,692, …) and each line over- or underspends about as it did there (Continuing Healthcare about 3.8%
//! over, Mental Health about 1.5% under).
//!
//! Owns this one input's generation; it must not touch the other inputs.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

/// (budget line, monthly budget in April 2022 in £000s, typical spend relative to budget).
const LINES: [(&str, f64, f64); 9] = [
    ("Acute Healthcare", 78_903.7, 1.0006),
    ("Mental Health & LD", 18_317.7, 0.9846),
    ("Community Services", 12_514.7, 1.0049),
    ("Continuing Healthcare", 8_692.3, 1.0376),
    ("Primary Care", 2_136.7, 0.9844),
    ("Prescribing", 12_620.0, 0.9936),
    ("Primary Care Delegated", 13_677.7, 1.0),
    ("Other Programme", 3_423.0, 0.9966),
    ("Running Costs", 1_551.7, 1.0),
];

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    _practices: &[Practice],
    _demography: &Demography,
    _skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (mut lines, mut budgets, mut actuals) = (Vec::new(), Vec::new(), Vec::new());
    // Allocations grow about 4% a year.
    let years = (month.year * 12 + month.month as i32 - (2022 * 12 + 4)) as f64 / 12.0;
    let growth = 1.04f64.powf(years) * scale.max(1) as f64;
    for (line, budget, spend) in LINES {
        let budget = budget * growth;
        // Lines on a block contract (delegated primary care, running costs) spend exactly to budget.
        let noise = if spend == 1.0 {
            1.0
        } else {
            rng.random_range(0.996..1.004)
        };
        lines.push(line);
        // Ledger figures are kept to the nearest £100.
        budgets.push((budget * 10.0).round() / 10.0);
        actuals.push((budget * spend * noise * 10.0).round() / 10.0);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("budget_line", Arc::new(StringArray::from(lines))),
        ("budget", Arc::new(Float64Array::from(budgets))),
        ("actual", Arc::new(Float64Array::from(actuals))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
