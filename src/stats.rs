//! Statistics for comparing organisations fairly: funnel-plot control limits for proportions (binomial)
//! and for rates (Poisson), the Wilson score interval for a proportion and the exact (Garwood) interval
//! for a Poisson count or rate — and the same functions registered as SQL functions, so that a pipeline's
//! published tables carry the limits and flags a reader can check.
//!
//! Owns the arithmetic only: no data, no configuration, no drawing. The charts (`render::chart`) and the
//! SQL of a pipeline call these functions; the health-inequalities breakdowns reuse the intervals.
//!
//! Methods (stated, because a funnel plot is only as fair as its limits):
//! - **Funnel limits** are the exact ones of Spiegelhalter (2005, *Funnel plots for comparing
//!   institutional performance*, Stat Med 24:1185, appendix A.1.1), not the normal approximation: for a
//!   target θ, a denominator n and a probability p (0.001, 0.025, 0.975, 0.999 for the two-sided 99.8% and
//!   95% limits), r_p is the smallest count with F(r_p) ≥ p under Binomial(n, θ) (proportions; n rounded
//!   to a whole number) or Poisson(θ·n) (rates per unit of the denominator); the limit is interpolated
//!   between counts to give a smooth funnel: α = (F(r_p) − p) / (F(r_p) − F(r_p − 1)), limit = (r_p − α)/n,
//!   kept within the indicator's range (a rate no lower than 0, a proportion between 0 and 1).
//!   F is computed from the regularised incomplete beta (binomial) and gamma (Poisson) functions.
//!   No allowance is made for over-dispersion: the limits describe chance alone.
//! - **Outside the limits** is judged on the count itself, by its exact tail probability: above when
//!   P(X ≥ x) < (1 − level)/2, below when P(X ≤ x) < (1 − level)/2. This agrees with the drawn limits
//!   except on their steps, and never flags a count at the edge of what is possible (15 of 15) that is
//!   in fact common.
//! - **Wilson score interval** for x of n: (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n).
//! - **Exact Poisson interval** for a count x (Garwood 1936): the λ with P(X ≥ x; λ) = α/2 (0 when
//!   x = 0) and P(X ≤ x; λ) = α/2, found by bisection on the Poisson CDF; a rate divides by the exposure.
//! - z for a two-sided level is the normal quantile (Acklam's approximation refined by one Halley step).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// Which distribution a funnel plot's limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funnel {
    /// A proportion: numerator out of a denominator of people (binomial).
    Binomial,
    /// A rate: events per unit of the denominator (patients, patient-months) (Poisson).
    Poisson,
}

impl std::str::FromStr for Funnel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "binomial" => Ok(Funnel::Binomial),
            "poisson" => Ok(Funnel::Poisson),
            _ => Err(format!(
                "`{s}` is not a funnel type: write binomial or poisson"
            )),
        }
    }
}

/// The funnel's lower and upper limit around `target` at a denominator, for a two-sided `level`
/// (0.95, 0.998), on the scale of the target (a proportion, or a rate per unit of the denominator).
/// `None` when the inputs cannot give limits (no denominator, a target outside its range).
pub fn funnel_limits(
    kind: Funnel,
    target: f64,
    denominator: f64,
    level: f64,
) -> Option<(f64, f64)> {
    let p = (1.0 - level) / 2.0;
    Some((
        funnel_limit(kind, target, denominator, p)?,
        funnel_limit(kind, target, denominator, 1.0 - p)?,
    ))
}

/// Where a unit lies against the funnel at a two-sided `level`: `1` above the upper limit, `-1` below the
/// lower, `0` within — by the exact tail probability of its count, P(X ≥ x) or P(X ≤ x) below
/// (1 − level)/2. The interpolated limits are for drawing; judging the count itself keeps a practice at
/// the edge of what is possible (12 of 12, or none) from being flagged when such a count is common.
pub fn funnel_position(
    kind: Funnel,
    target: f64,
    numerator: f64,
    denominator: f64,
    level: f64,
) -> Option<i8> {
    if !(target.is_finite() && numerator.is_finite() && denominator > 0.0 && numerator >= 0.0)
        || !(level > 0.0 && level < 1.0)
    {
        return None;
    }
    let a = (1.0 - level) / 2.0;
    let x = numerator.round();
    let cdf: Box<dyn Fn(f64) -> f64> = match kind {
        Funnel::Binomial => {
            if !(0.0..=1.0).contains(&target) {
                return None;
            }
            let n = denominator.round().max(1.0);
            Box::new(move |r| binomial_cdf(r, n, target))
        }
        Funnel::Poisson => {
            if target < 0.0 {
                return None;
            }
            let lambda = target * denominator;
            Box::new(move |r| poisson_cdf(r, lambda))
        }
    };
    let upper_tail = 1.0 - cdf(x - 1.0);
    let lower_tail = cdf(x);
    Some(if upper_tail < a {
        1
    } else if lower_tail < a {
        -1
    } else {
        0
    })
}

/// The funnel limit at probability `p` of the distribution of the indicator under `target`.
pub fn funnel_limit(kind: Funnel, target: f64, denominator: f64, p: f64) -> Option<f64> {
    if !(target.is_finite() && denominator.is_finite() && denominator > 0.0 && p > 0.0 && p < 1.0) {
        return None;
    }
    match kind {
        Funnel::Binomial => {
            if !(0.0..=1.0).contains(&target) {
                return None;
            }
            let n = denominator.round().max(1.0);
            let cdf = |r: f64| binomial_cdf(r, n, target);
            let r = smallest_count(&cdf, p, n);
            Some((interpolate(&cdf, r, p) / n).clamp(0.0, 1.0))
        }
        Funnel::Poisson => {
            if target < 0.0 {
                return None;
            }
            let lambda = target * denominator;
            let cdf = |r: f64| poisson_cdf(r, lambda);
            // The count below which P(X ≤ r) ≥ p surely: well past the mean by many standard deviations.
            let hi = (lambda + 40.0 * lambda.sqrt() + 40.0).ceil();
            let r = smallest_count(&cdf, p, hi);
            Some((interpolate(&cdf, r, p) / denominator).max(0.0))
        }
    }
}

/// The smallest whole r in 0..=hi with cdf(r) ≥ p (bisection: cdf is non-decreasing).
fn smallest_count(cdf: &dyn Fn(f64) -> f64, p: f64, hi: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, hi);
    if cdf(lo) >= p {
        return 0.0;
    }
    // Invariant: cdf(lo) < p ≤ cdf(hi).
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if cdf(mid) >= p { hi = mid } else { lo = mid }
    }
    hi
}

/// Spiegelhalter's interpolation between r − 1 and r, so that the limits are a smooth curve.
fn interpolate(cdf: &dyn Fn(f64) -> f64, r: f64, p: f64) -> f64 {
    let f_r = cdf(r);
    let f_below = if r >= 1.0 { cdf(r - 1.0) } else { 0.0 };
    let step = f_r - f_below;
    let alpha = if step > 0.0 { (f_r - p) / step } else { 0.0 };
    r - alpha
}

/// Wilson score interval for `x` of `n` at a two-sided `level`. `None` when n ≤ 0 or x is outside 0..=n.
pub fn wilson_interval(x: f64, n: f64, level: f64) -> Option<(f64, f64)> {
    if !(n > 0.0 && x >= 0.0 && x <= n && level > 0.0 && level < 1.0) {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - level) / 2.0);
    let p = x / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    Some((
        ((centre - half) / denom).max(0.0),
        ((centre + half) / denom).min(1.0),
    ))
}

/// Exact (Garwood) interval for the mean of a Poisson count `x` at a two-sided `level`.
pub fn poisson_count_interval(x: f64, level: f64) -> Option<(f64, f64)> {
    if !(x >= 0.0 && x.is_finite() && level > 0.0 && level < 1.0) {
        return None;
    }
    let x = x.round();
    let a = (1.0 - level) / 2.0;
    // Lower: P(X ≥ x; λ) = a, i.e. 1 − F(x − 1; λ) = a (increasing in λ).
    let lower = if x == 0.0 {
        0.0
    } else {
        bisect(|l| 1.0 - poisson_cdf(x - 1.0, l) - a, 0.0, x.max(1.0))
    };
    // Upper: F(x; λ) = a (decreasing in λ).
    let upper = bisect(
        |l| a - poisson_cdf(x, l),
        x,
        x + 20.0 * (x + 1.0).sqrt() + 20.0,
    );
    Some((lower, upper))
}

/// Exact interval for a rate: `count` events over `exposure` (patients, patient-months …).
pub fn poisson_rate_interval(count: f64, exposure: f64, level: f64) -> Option<(f64, f64)> {
    if !(exposure > 0.0) {
        return None;
    }
    poisson_count_interval(count, level).map(|(l, u)| (l / exposure, u / exposure))
}

/// The root of an increasing function on [lo, hi] by bisection.
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < 0.0 {
            lo = mid
        } else {
            hi = mid
        }
        if hi - lo <= 1e-12 * hi.max(1.0) {
            break;
        }
    }
    (lo + hi) / 2.0
}

/// P(X ≤ r) for X ~ Binomial(n, p).
pub fn binomial_cdf(r: f64, n: f64, p: f64) -> f64 {
    let r = r.floor();
    if r < 0.0 {
        0.0
    } else if r >= n {
        1.0
    } else if p <= 0.0 {
        1.0
    } else if p >= 1.0 {
        0.0
    } else {
        beta_inc(n - r, r + 1.0, 1.0 - p)
    }
}

/// P(X ≤ r) for X ~ Poisson(λ).
pub fn poisson_cdf(r: f64, lambda: f64) -> f64 {
    let r = r.floor();
    if r < 0.0 {
        0.0
    } else if lambda <= 0.0 {
        1.0
    } else {
        gamma_q(r + 1.0, lambda)
    }
}

/// The standard normal quantile (inverse CDF) at probability p in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    // Acklam's rational approximation (relative error 1.15e-9) …
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // … refined by one Halley step on the exact CDF.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The standard normal CDF, from the incomplete gamma function: Φ(x) = ½·erfc(−x/√2).
pub fn normal_cdf(x: f64) -> f64 {
    let t = x * x / 2.0;
    let tail = 0.5 * gamma_q(0.5, t); // P(Z > |x|)
    if x >= 0.0 { 1.0 - tail } else { tail }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_fraction(a, x)
    }
}

fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut sum = 1.0 / a;
    let mut term = sum;
    let mut ap = a;
    for _ in 0..100_000 {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * 1e-16 {
            break;
        }
    }
    sum * (-x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_q_fraction(a: f64, x: f64) -> f64 {
    // Modified Lentz on the continued fraction of Γ(a, x).
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..100_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a)).exp() * h
}

/// The regularised incomplete beta function I_x(a, b).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

// ---------------------------------------------------------------------------------------------------
// SQL functions
// ---------------------------------------------------------------------------------------------------

/// The SQL functions of this module, for every run's session:
///
/// | function | returns |
/// | --- | --- |
/// | `funnel_lower(kind, target, denominator, level)` / `funnel_upper(…)` | the funnel limit (kind `'binomial'` or `'poisson'`; level 0.95, 0.998) |
/// | `funnel_position(kind, target, numerator, denominator, level)` | 1 above, −1 below, 0 within the funnel (exact tail test) |
/// | `wilson_lower(x, n, level)` / `wilson_upper(…)` | the Wilson interval of a proportion |
/// | `poisson_lower(count, exposure, level)` / `poisson_upper(…)` | the exact interval of a rate (count / exposure) |
///
/// Each returns NULL where its arguments give no answer (a NULL, no denominator, an unknown kind).
pub fn sql_functions() -> Vec<ScalarUDF> {
    let f64s = |n: usize| vec![DataType::Float64; n];
    let mut kind_and_3 = vec![DataType::Utf8];
    kind_and_3.extend(f64s(3));
    let mut position_args = vec![DataType::Utf8];
    position_args.extend(f64s(4));
    vec![
        udf("funnel_lower", kind_and_3.clone(), |a| {
            funnel_row(a, |l, _| l)
        }),
        udf("funnel_upper", kind_and_3, |a| funnel_row(a, |_, u| u)),
        udf("funnel_position", position_args, |a| {
            let kinds = kinds_of(&a[0])?;
            let cols = a[1..].iter().map(floats).collect::<Result<Vec<_>, _>>()?;
            Ok((0..kinds.len())
                .map(|i| {
                    let kind: Funnel = (!kinds.is_null(i)).then(|| kinds.value(i))?.parse().ok()?;
                    let v: Vec<f64> = cols
                        .iter()
                        .map(|c| (!c.is_null(i)).then(|| c.value(i)))
                        .collect::<Option<_>>()?;
                    funnel_position(kind, v[0], v[1], v[2], v[3]).map(f64::from)
                })
                .collect())
        }),
        udf("wilson_lower", f64s(3), |a| {
            numeric_row(a, |v| wilson_interval(v[0]?, v[1]?, v[2]?).map(|i| i.0))
        }),
        udf("wilson_upper", f64s(3), |a| {
            numeric_row(a, |v| wilson_interval(v[0]?, v[1]?, v[2]?).map(|i| i.1))
        }),
        udf("poisson_lower", f64s(3), |a| {
            numeric_row(a, |v| {
                poisson_rate_interval(v[0]?, v[1]?, v[2]?).map(|i| i.0)
            })
        }),
        udf("poisson_upper", f64s(3), |a| {
            numeric_row(a, |v| {
                poisson_rate_interval(v[0]?, v[1]?, v[2]?).map(|i| i.1)
            })
        }),
    ]
}

type RowFn = fn(&[ArrayRef]) -> Result<Float64Array, DataFusionError>;

fn udf(name: &str, inputs: Vec<DataType>, f: RowFn) -> ScalarUDF {
    let n = inputs.len();
    create_udf(
        name,
        inputs,
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            if arrays.len() != n {
                return Err(DataFusionError::Execution(format!(
                    "expected {n} arguments, got {}",
                    arrays.len()
                )));
            }
            let out = f(&arrays)?;
            if scalar {
                Ok(ColumnarValue::Scalar(
                    datafusion::common::ScalarValue::try_from_array(&out, 0)?,
                ))
            } else {
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
        }),
    )
}

fn floats(a: &ArrayRef) -> Result<Float64Array, DataFusionError> {
    let c = cast(a, &DataType::Float64)?;
    Ok(c.as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .unwrap_or_else(|| Float64Array::from(vec![None::<f64>; a.len()])))
}

fn numeric_row(
    args: &[ArrayRef],
    f: impl Fn(&[Option<f64>]) -> Option<f64>,
) -> Result<Float64Array, DataFusionError> {
    let cols = args.iter().map(floats).collect::<Result<Vec<_>, _>>()?;
    let len = cols.first().map(|c| c.len()).unwrap_or(0);
    Ok((0..len)
        .map(|i| {
            let row: Vec<Option<f64>> = cols
                .iter()
                .map(|c| (!c.is_null(i)).then(|| c.value(i)))
                .collect();
            f(&row).filter(|x| x.is_finite())
        })
        .collect())
}

fn kinds_of(a: &ArrayRef) -> Result<StringArray, DataFusionError> {
    let kinds = cast(a, &DataType::Utf8)?;
    Ok(kinds
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; a.len()])))
}

fn funnel_row(
    args: &[ArrayRef],
    pick: fn(f64, f64) -> f64,
) -> Result<Float64Array, DataFusionError> {
    let kinds = kinds_of(&args[0])?;
    let cols = args[1..]
        .iter()
        .map(floats)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..kinds.len())
        .map(|i| {
            let kind: Funnel = (!kinds.is_null(i)).then(|| kinds.value(i))?.parse().ok()?;
            let v: Vec<f64> = cols
                .iter()
                .map(|c| (!c.is_null(i)).then(|| c.value(i)))
                .collect::<Option<_>>()?;
            funnel_limits(kind, v[0], v[1], v[2]).map(|(l, u)| pick(l, u))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} is not within {tol} of {b}");
    }

    #[test]
    fn normal_quantiles_match_tables() {
        close(normal_quantile(0.975), 1.959_963_985, 1e-9);
        close(normal_quantile(0.999), 3.090_232_306, 1e-9);
        close(normal_quantile(0.001), -3.090_232_306, 1e-9);
        close(normal_quantile(0.5), 0.0, 1e-12);
        close(normal_cdf(1.959_963_985), 0.975, 1e-9);
    }

    #[test]
    fn special_functions_match_known_values() {
        // ln Γ(10) = ln 362880.
        close(ln_gamma(10.0), 362_880f64.ln(), 1e-12);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-12);
        // Binomial(10, 0.5): P(X ≤ 5) = 638/1024.
        close(binomial_cdf(5.0, 10.0, 0.5), 638.0 / 1024.0, 1e-12);
        // Poisson(2): P(X ≤ 2) = e^-2 (1 + 2 + 2) = 5e^-2.
        close(poisson_cdf(2.0, 2.0), 5.0 * (-2.0f64).exp(), 1e-12);
        // A large binomial against its normal approximation (continuity corrected): n = 10,000.
        let n: f64 = 10_000.0;
        let p: f64 = 0.3;
        let sd = (n * p * (1.0 - p)).sqrt();
        close(
            binomial_cdf(3_050.0, n, p),
            normal_cdf((3_050.5 - n * p) / sd),
            2e-3,
        );
    }

    /// P(X ≤ r) by summing the probability mass directly: independent of the incomplete beta.
    fn binomial_cdf_by_sum(r: u64, n: u64, p: f64) -> f64 {
        let mut ln_c = 0.0; // ln C(n, 0)
        let mut total = 0.0;
        for k in 0..=r {
            if k > 0 {
                ln_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
            }
            total += (ln_c + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp();
        }
        total
    }

    #[test]
    fn binomial_funnel_limits_by_direct_summation() {
        for (n, theta) in [(50u64, 0.3), (400, 0.72), (2_000, 0.05)] {
            for q in [0.001, 0.025, 0.975, 0.999] {
                let mut r = 0;
                while binomial_cdf_by_sum(r, n, theta) < q {
                    r += 1;
                }
                let f = binomial_cdf_by_sum(r, n, theta);
                let below = if r == 0 {
                    0.0
                } else {
                    binomial_cdf_by_sum(r - 1, n, theta)
                };
                let expected = (r as f64 - (f - q) / (f - below)) / n as f64;
                let got = funnel_limit(Funnel::Binomial, theta, n as f64, q).unwrap();
                close(got, expected, 1e-9);
            }
        }
        // And near the normal approximation for a large denominator: 0.5 ± 1.96·√(0.25/10,000).
        let (lo, hi) = funnel_limits(Funnel::Binomial, 0.5, 10_000.0, 0.95).unwrap();
        close(lo, 0.5 - 1.96 * 0.005, 2e-4);
        close(hi, 0.5 + 1.96 * 0.005, 2e-4);
    }

    #[test]
    fn poisson_funnel_limits() {
        // θ = 0.01 per patient, 1,000 patients: λ = 10. From published Poisson tables, P(X ≤ 16; 10) =
        // 0.97296 and P(X ≤ 17) = 0.98572, so r = 17 and the 97.5% limit is 17 − (0.98572 − 0.975)/(0.98572
        // − 0.97296) events per 1,000.
        let hi = funnel_limit(Funnel::Poisson, 0.01, 1_000.0, 0.975).unwrap();
        close(
            hi * 1_000.0,
            17.0 - (0.98572 - 0.975) / (0.98572 - 0.97296),
            2e-3,
        );
        // P(X ≤ 3; 10) = 0.01034, P(X ≤ 4) = 0.02925: the 2.5% limit is 4 − (0.02925 − 0.025)/(0.02925 − 0.01034).
        let lo = funnel_limit(Funnel::Poisson, 0.01, 1_000.0, 0.025).unwrap();
        close(
            lo * 1_000.0,
            4.0 - (0.02925 - 0.025) / (0.02925 - 0.01034),
            2e-3,
        );
        // With few expected events the lower limit is 0, never negative.
        assert_eq!(
            funnel_limit(Funnel::Poisson, 0.0001, 1_000.0, 0.001),
            Some(0.0)
        );
        // A limit never inverts, and the 99.8% funnel is wider than the 95%.
        let (l95, u95) = funnel_limits(Funnel::Poisson, 0.5, 500.0, 0.95).unwrap();
        let (l998, u998) = funnel_limits(Funnel::Poisson, 0.5, 500.0, 0.998).unwrap();
        assert!(l998 < l95 && l95 < 0.5 && 0.5 < u95 && u95 < u998);
    }

    #[test]
    fn positions_judge_the_count_not_the_interpolated_line() {
        // 15 of 15 at a rate of 0.906: P(X = 15) = 0.906^15 ≈ 0.228, a common result, not an outlier —
        // though 100% lies above the interpolated 99.8% limit (about 99.97%).
        let (_, hi) = funnel_limits(Funnel::Binomial, 0.906, 15.0, 0.998).unwrap();
        assert!(hi < 1.0);
        assert_eq!(
            funnel_position(Funnel::Binomial, 0.906, 15.0, 15.0, 0.998),
            Some(0)
        );
        // 30 of 100 at 0.5: P(X ≤ 30) ≈ 3.9e-5, below 0.001.
        assert_eq!(
            funnel_position(Funnel::Binomial, 0.5, 30.0, 100.0, 0.998),
            Some(-1)
        );
        // 22 events where 10 are expected: P(X ≥ 22; 10) ≈ 0.0007 < 0.001.
        assert_eq!(
            funnel_position(Funnel::Poisson, 0.01, 22.0, 1_000.0, 0.998),
            Some(1)
        );
        assert_eq!(
            funnel_position(Funnel::Poisson, 0.01, 15.0, 1_000.0, 0.998),
            Some(0)
        );
    }

    #[test]
    fn wilson_interval_matches_a_worked_example() {
        // 8 of 10 at 95% (Newcombe 1998, Table I: 0.4902 to 0.9433).
        let (l, u) = wilson_interval(8.0, 10.0, 0.95).unwrap();
        close(l, 0.4902, 1e-4);
        close(u, 0.9433, 1e-4);
        // 0 of 20: the lower limit is 0, the upper 0.1611 (Newcombe, Table I).
        let (l, u) = wilson_interval(0.0, 20.0, 0.95).unwrap();
        close(l, 0.0, 1e-12);
        close(u, 0.1611, 1e-4);
        assert!(wilson_interval(3.0, 0.0, 0.95).is_none());
    }

    #[test]
    fn exact_poisson_interval_matches_tables() {
        // Garwood limits as tabulated (e.g. Ulm 1990): x = 0 → (0, 3.689); 1 → (0.0253, 5.572);
        // 10 → (4.795, 18.390).
        let (l, u) = poisson_count_interval(0.0, 0.95).unwrap();
        close(l, 0.0, 1e-12);
        close(u, 3.6889, 1e-4);
        let (l, u) = poisson_count_interval(1.0, 0.95).unwrap();
        close(l, 0.0253, 1e-4);
        close(u, 5.5716, 1e-4);
        let (l, u) = poisson_count_interval(10.0, 0.95).unwrap();
        close(l, 4.7954, 1e-4);
        close(u, 18.3904, 1e-4);
        let (l, u) = poisson_rate_interval(10.0, 1_000.0, 0.95).unwrap();
        close(l, 0.0047954, 1e-7);
        close(u, 0.0183904, 1e-7);
    }
}
