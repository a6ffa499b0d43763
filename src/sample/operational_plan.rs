//! The operational plan and its trajectories: an aggregated input, as the real planning submission is —
//! one row per plan line, per month, per provider, with the planned value.
//!
//! Two kinds of line share the table. Activity lines (`el_dc`, `op_first_f2f`, …, named as in
//! `config/board-pack/activity_lines.yaml`) are planned per acute trust and add up to the ICB. Trajectory
//! lines are named by a metric id of `config/board-pack/metrics.yaml` (`rtt_52w`, `amb_15`, …) and are
//! planned for the ICB as a whole (`provider_code` = `QWU`), in the metric's own unit (a proportion or a
//! count). Plans exist from 2021/22; earlier months are written empty. Calibrated to the seed's
//! 2022/23 plan for April 2022 (elective 6,791 spells, outpatients 109,524, PIFU 1,749, A&G 10,711) and
//! its trajectories (52-week waits 4,515, zero 104-week waits by June 2022, zero 78-week waits by March
//! 2023, handovers 65% within 15 and 95% within 30 minutes, the 62-day cancer backlog 456 falling to 429).
//!
//! Owns this one input's generation; it must not touch the other inputs.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand_chacha::ChaCha8Rng;

use super::apc::ACUTE_SHARES;
use super::reference::{ICB_CODE, Practice};
use super::{Demography, SampleError};
use crate::period::Month;

/// The ICB's planned activity for April 2022, per line.
const ACTIVITY_APRIL_2022: [(&str, f64); 9] = [
    ("el_dc", 3_813.0),
    ("el_ip", 2_978.0),
    ("op_first_f2f", 33_336.0),
    ("op_fu_f2f", 48_415.0),
    ("op_first_virtual", 9_120.0),
    ("op_fu_virtual", 18_653.0),
    ("pifu", 1_749.0),
    ("ag_pre_referral", 1_278.0),
    ("ag_post_referral", 9_433.0),
];

/// Months since April 2022 (negative before).
fn offset(m: Month) -> i32 {
    m.year * 12 + m.month as i32 - (2022 * 12 + 4)
}

/// The ICB-wide trajectories planned for a month: (metric id, target).
fn trajectories(m: Month) -> Vec<(&'static str, f64)> {
    let k = offset(m) as f64;
    let this_year = k >= 0.0;
    let mut out = vec![
        ("ae_12h_arrival", 0.02),
        ("amb_15", 0.65),
        ("amb_30", 0.95),
        ("amb_60", 0.0),
    ];
    if this_year {
        out.push(("rtt_52w", (4_515.0 * (1.0 - 0.012 * k)).round()));
        out.push(("rtt_78w", (512.0 * (11.0 - k) / 11.0).round().max(0.0)));
        out.push((
            "rtt_104w",
            match k as i32 {
                0 => 56.0,
                1 => 38.0,
                _ => 0.0,
            },
        ));
        out.push(("cancer_fds", 0.70 + 0.05 * k / 11.0));
        out.push(("cancer_104d", (30.0 - 1.5 * k).round()));
        // Back to the February 2020 level of the 62-day backlog by March 2023.
        out.push(("cancer_62d_backlog", (456.0 - 2.5 * k).round()));
    } else {
        // 2021/22: recovery from the pandemic backlog.
        let j = k + 12.0;
        out.push(("rtt_52w", (6_300.0 - 110.0 * j).round()));
        out.push(("rtt_104w", (150.0 - 8.0 * j).round()));
        out.push(("cancer_104d", 40.0));
        out.push(("cancer_62d_backlog", 480.0));
    }
    out
}

pub fn generate(
    // The plan is set, not drawn: no randomness.
    _rng: &mut ChaCha8Rng,
    month: Month,
    _scale: u32,
    _practices: &[Practice],
    _demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (mut lines, mut providers, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let k = offset(month);
    // No operational plan was set during the pandemic's first year.
    if k >= -12 {
        let year = if k >= 0 { 1.0 } else { 0.95 };
        let season = match month.month {
            8 => 0.93,
            12 => 0.9,
            _ => 1.0,
        };
        for (line, april) in ACTIVITY_APRIL_2022 {
            // Plans rise through the year towards 104% of 2019/20's activity.
            let growth = 1.0 + 0.004 * (k.rem_euclid(12)) as f64;
            let icb = april * year * season * growth;
            for (code, share) in ACUTE_SHARES {
                if skip_providers.iter().any(|p| p == code) {
                    continue;
                }
                lines.push(line.to_string());
                providers.push(code.to_string());
                // Planned values are whole numbers of spells or attendances.
                values.push((icb * share).round());
            }
        }
        for (line, target) in trajectories(month) {
            lines.push(line.to_string());
            providers.push(ICB_CODE.to_string());
            values.push(target);
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("plan_line", Arc::new(StringArray::from(lines))),
        ("provider_code", Arc::new(StringArray::from(providers))),
        ("planned_value", Arc::new(Float64Array::from(values))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
