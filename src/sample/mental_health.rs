//! Mental health returns, aggregated as the real ones are (MHSDS, IAPT, the dementia, SMI and LD registers):
//! one row per indicator per organisation per month — the provider (CWPT) for service measures, each
//! general practice for register-based ones — with a numerator and a denominator. Calibrated to the seed's
//! Mental Health scorecard and dashboard: IAPT access about 16% (annualised), recovery about 51%, 6 and 18
//! weeks about 94% and 99%, early intervention in psychosis about 75%, dementia diagnosis about 56%, SMI
//! health checks about 32%, CYP eating disorders far below 95%, no inappropriate out-of-area placements in
//! 2022, learning disability annual health checks about 72%.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};

use super::reference::Practice;
use super::{Demography, SampleError};
use crate::period::Month;

/// The indicators of the return, named as the pack's metrics are (`config/board-pack/metrics.yaml`).
pub const INDICATORS: [&str; 11] = [
    "iapt_access",
    "iapt_recovery",
    "iapt_6w",
    "iapt_18w",
    "eip_2w",
    "dementia_dx",
    "smi_checks",
    "ld_checks",
    "cyp_ed_urgent",
    "cyp_ed_routine",
    "oap",
];

/// The mental health and community trust that reports the service measures.
const PROVIDER: &str = "RYG";

/// IAPT access rate (annualised), read off the seed's dashboard (May-21 … Mar-22) and scorecard.
fn iapt_access(m: Month) -> f64 {
    match m.year * 100 + m.month as i32 {
        ..=202002 => 0.21,
        202003..=202006 => 0.13,
        202007..=202104 => 0.19,
        202105 => 0.204,
        202106 => 0.245,
        202107 => 0.228,
        202108 => 0.225,
        202109 => 0.216,
        202110 => 0.205,
        202111 => 0.222,
        202112 => 0.177,
        202201 => 0.197,
        202202 => 0.165,
        202203 => 0.162,
        // The prevalence denominator rose from 84,094 to 123,621 in 2022/23.
        _ => 0.155,
    }
}

/// The people IAPT expects to need it in a year: the access rate's denominator.
fn iapt_prevalence(m: Month) -> f64 {
    if m.year * 100 + m.month as i32 >= 202204 {
        123_621.0
    } else {
        84_094.0
    }
}

/// (recovery, within 6 weeks, within 18 weeks, EIP within 2 weeks, dementia, SMI checks, ED urgent,
/// ED routine, out-of-area placements, LD health checks) in a month.
fn shares(m: Month) -> [f64; 10] {
    match m.year * 100 + m.month as i32 {
        ..=202002 => [0.52, 0.90, 0.99, 0.72, 0.66, 0.45, 0.80, 0.75, 6.0, 0.62],
        202003..=202012 => [0.50, 0.92, 0.99, 0.70, 0.60, 0.25, 0.60, 0.50, 4.0, 0.45],
        202101..=202112 => [0.51, 0.93, 0.99, 0.74, 0.57, 0.30, 0.35, 0.20, 2.0, 0.68],
        _ => [
            0.51, 0.938, 0.992, 0.75, 0.563, 0.324, 0.217, 0.094, 0.0, 0.72,
        ],
    }
}

pub fn generate(
    rng: &mut ChaCha8Rng,
    month: Month,
    scale: u32,
    practices: &[Practice],
    _demography: &Demography,
    skip_providers: &[String],
) -> Result<RecordBatch, SampleError> {
    let (mut indicators, mut orgs, mut kinds, mut nums, mut dens) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::<Option<i64>>::new(),
    );
    let binomial = |rng: &mut ChaCha8Rng, n: i64, p: f64| -> Result<i64, SampleError> {
        Binomial::new(n.max(0) as u64, p.clamp(0.0, 1.0))
            .map(|b| b.sample(rng) as i64)
            .map_err(|e| SampleError::Generator(e.to_string()))
    };
    let s = shares(month);
    let scale = scale.max(1) as f64;
    if !skip_providers.iter().any(|p| p == PROVIDER) {
        let mut push = |indicator: &'static str, num: i64, den: Option<i64>| {
            indicators.push(indicator);
            orgs.push(PROVIDER.to_string());
            kinds.push("provider");
            nums.push(num);
            dens.push(den);
        };
        // Access: people entering treatment in the month against the year's prevalence (annualised ×12).
        let prevalence = (iapt_prevalence(month) * scale) as i64;
        let entering =
            (iapt_access(month) * prevalence as f64 / 12.0 * rng.random_range(0.97..1.03)) as i64;
        push("iapt_access", entering, Some(prevalence));
        let finished = (1_150.0 * scale * rng.random_range(0.92..1.08)) as i64;
        push(
            "iapt_recovery",
            binomial(rng, finished, s[0])?,
            Some(finished),
        );
        push("iapt_6w", binomial(rng, finished, s[1])?, Some(finished));
        push("iapt_18w", binomial(rng, finished, s[2])?, Some(finished));
        let eip = (22.0 * scale * rng.random_range(0.8..1.2)) as i64;
        push("eip_2w", binomial(rng, eip, s[3])?, Some(eip));
        let urgent = (6.0 * scale * rng.random_range(0.7..1.3)) as i64;
        push("cyp_ed_urgent", binomial(rng, urgent, s[6])?, Some(urgent));
        let routine = (18.0 * scale * rng.random_range(0.8..1.2)) as i64;
        push(
            "cyp_ed_routine",
            binomial(rng, routine, s[7])?,
            Some(routine),
        );
        let oap = if s[8] > 0.0 {
            (s[8] * scale * rng.random_range(0.5..1.5)).round() as i64
        } else {
            0
        };
        push("oap", oap, None);
    }
    // Register-based indicators, per practice: dementia diagnoses of people 65+ against the expected
    // prevalence, SMI patients with all six health checks in twelve months against the SMI register, and
    // the same for annual health checks of the learning disability register.
    for p in practices {
        let expected = (p.list_size as f64 * 0.0075 * rng.random_range(0.8..1.2)) as i64;
        let smi = (p.list_size as f64 * 0.009 * rng.random_range(0.8..1.2)) as i64;
        // Practices differ: some diagnose and check far more than others.
        let skill = rng.random_range(-0.12..0.12);
        indicators.push("dementia_dx");
        orgs.push(p.code.clone());
        kinds.push("practice");
        nums.push(binomial(rng, expected, s[4] + skill)?);
        dens.push(Some(expected));
        indicators.push("smi_checks");
        orgs.push(p.code.clone());
        kinds.push("practice");
        nums.push(binomial(rng, smi, s[5] + skill)?);
        dens.push(Some(smi));
        // Learning disability register: patients with an annual health check in the last twelve months.
        let ld = (p.list_size as f64 * 0.005 * rng.random_range(0.8..1.2)) as i64;
        indicators.push("ld_checks");
        orgs.push(p.code.clone());
        kinds.push("practice");
        nums.push(binomial(rng, ld, s[9] + skill / 2.0)?);
        dens.push(Some(ld));
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("indicator", Arc::new(StringArray::from(indicators))),
        ("org_code", Arc::new(StringArray::from(orgs))),
        ("org_type", Arc::new(StringArray::from(kinds))),
        ("numerator", Arc::new(Int64Array::from(nums))),
        ("denominator", Arc::new(Int64Array::from(dens))),
    ];
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}
