//! Sample inputs of the primary-care quality dashboard, per practice per month: list size by age band,
//! QOF achievement, inhaler prescribing, the dementia, learning-disability and SMI registers and their
//! checks, immunisation and screening uptake, the GP Patient Survey, the Friends and Family Test,
//! incidents and complaints, CQC rating and e-declaration, and workforce FTE.
//!
//! Owns generating these tables only (GP appointments are `gp_appointments`). The variation is built to
//! be realistic for funnel plots: every practice has a true rate per indicator made of the ICB's rate, a
//! gradient with the deprivation (IMD decile) of its patients — worse outcomes where deprivation is
//! higher, as the seed papers describe — and, for a few practices, a genuine difference (worse or better);
//! the observed figures are then drawn binomially or from a Poisson distribution, so most practices sit
//! within chance. A few practices do not submit their Friends and Family Test each month (and
//! `--gap INPUT:PRACTICE:MONTH` leaves out any practice's month of any of these inputs).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};

use super::reference::Practice;
use super::{
    SampleError, SampleOptions, SampleSummary, batch, floats, ints, opt_ints, rng_for, strings,
    strs, write,
};
use crate::period::Month;
use crate::store::Store;

/// Age bands of the list-size table (those of every record-level input) and their ICB-wide shares.
pub const AGE_BANDS: [(&str, f64); 6] = [
    ("0-4", 0.055),
    ("5-17", 0.155),
    ("18-39", 0.285),
    ("40-64", 0.315),
    ("65-79", 0.135),
    ("80+", 0.055),
];

/// One binomial measure: how its true rate is made for a practice.
struct Measure {
    key: &'static str,
    /// The ICB's rate, on the logit scale's natural side (a proportion).
    base: f64,
    /// Change of the logit per IMD decile above the middle (5.5): positive = better where less deprived.
    imd_slope: f64,
}

const MEASURES: [Measure; 13] = [
    Measure {
        key: "HYP008",
        base: 0.60,
        imd_slope: 0.02,
    },
    Measure {
        key: "DM020",
        base: 0.62,
        imd_slope: 0.025,
    },
    Measure {
        key: "AST007",
        base: 0.55,
        imd_slope: 0.02,
    },
    Measure {
        key: "inhaler_mdi",
        base: 0.45,
        imd_slope: -0.03,
    },
    Measure {
        key: "dementia",
        base: 0.63,
        imd_slope: 0.0,
    },
    Measure {
        key: "learning_disability",
        base: 0.74,
        imd_slope: 0.03,
    },
    Measure {
        key: "serious_mental_illness",
        base: 0.54,
        imd_slope: 0.04,
    },
    Measure {
        key: "mmr1_24m",
        base: 0.91,
        imd_slope: 0.06,
    },
    Measure {
        key: "cervical_25_49",
        base: 0.69,
        imd_slope: 0.03,
    },
    Measure {
        key: "overall_good",
        base: 0.72,
        imd_slope: 0.03,
    },
    Measure {
        key: "phone_easy",
        base: 0.52,
        imd_slope: 0.035,
    },
    Measure {
        key: "fft_positive",
        base: 0.90,
        imd_slope: 0.03,
    },
    Measure {
        key: "salbutamol_share",
        base: 0.47,
        imd_slope: -0.02,
    },
];

/// A practice's lasting character: its age profile and its genuine difference on each measure.
struct Profile {
    /// −1 (young, student-town list) to +1 (older, rural list).
    age_tilt: f64,
    /// Logit shift per measure (same order as `MEASURES`): zero for most practices.
    effects: [f64; MEASURES.len()],
    /// Incidents and complaints: the practice's multiplier of the ICB rate.
    incident_factor: f64,
    cqc: &'static str,
    cqc_date: &'static str,
    edeclaration: bool,
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn profiles(seed: u64, practices: &[Practice]) -> Vec<Profile> {
    let mut rng = rng_for(seed, "primary_care_profiles", None);
    practices
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let age_tilt = rng.random_range(-1.0..1.0);
            let mut effects = [0.0; MEASURES.len()];
            for e in effects.iter_mut() {
                let u: f64 = rng.random();
                // About 5% of practices genuinely worse and 3% genuinely better on any one measure.
                *e = if u < 0.05 {
                    -rng.random_range(0.35..0.7)
                } else if u < 0.08 {
                    rng.random_range(0.3..0.6)
                } else {
                    0.0
                };
            }
            let incident_factor = if rng.random::<f64>() < 0.1 { 3.0 } else { 1.0 };
            // All Good or Outstanding but one Requires Improvement (seed: September 2021).
            let (cqc, cqc_date) = if i == 41 {
                ("Requires improvement", "2021-09-14")
            } else if rng.random::<f64>() < 0.06 {
                ("Outstanding", "2018-03-02")
            } else {
                ("Good", "2017-11-20")
            };
            Profile {
                age_tilt,
                effects,
                incident_factor,
                cqc,
                cqc_date,
                // Two practices have not returned the annual e-declaration.
                edeclaration: !(i == 12 || i == 77),
            }
        })
        .collect()
}

/// The registered list in a month: as `inputs/registered_population` (lists grow about 0.6% a year).
pub fn registered_patients(p: &Practice, month: Month) -> i64 {
    let years = (month.year * 12 + month.month as i32 - (2019 * 12 + 4)) as f64 / 12.0;
    (p.list_size as f64 * (1.0 + 0.006 * years)) as i64
}

/// The list split by age band; the bands add up to the registered list exactly.
fn list_by_age(p: &Practice, profile: &Profile, month: Month) -> Vec<(&'static str, i64)> {
    let total = registered_patients(p, month);
    let weights: Vec<f64> = AGE_BANDS
        .iter()
        .enumerate()
        .map(|(k, (_, share))| {
            // Older bands grow with the tilt, younger ones shrink.
            let lean = (k as f64 - 2.5) / 2.5;
            share * (1.0 + 0.35 * profile.age_tilt * lean)
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::new();
    let mut given = 0;
    for (k, (band, _)) in AGE_BANDS.iter().enumerate() {
        let n = if k + 1 == AGE_BANDS.len() {
            total - given
        } else {
            (total as f64 * weights[k] / sum).round() as i64
        };
        given += n;
        out.push((*band, n));
    }
    out
}

fn binomial(rng: &mut ChaCha8Rng, n: i64, p: f64) -> i64 {
    if n <= 0 {
        return 0;
    }
    Binomial::new(n as u64, p.clamp(0.0, 1.0))
        .map(|b| b.sample(rng) as i64)
        .unwrap_or(0)
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> i64 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|d| d.sample(rng) as i64)
        .unwrap_or(0)
}

/// The practice's true rate of a measure.
fn rate(p: &Practice, profile: &Profile, key: &str) -> f64 {
    let (k, m) = MEASURES
        .iter()
        .enumerate()
        .find(|(_, m)| m.key == key)
        .expect("a measure of MEASURES");
    expit(logit(m.base) + m.imd_slope * (p.imd_decile - 5.5) + profile.effects[k])
}

/// Inhaler products: (BNF chemical-substance code, product, device, salbutamol, share of items).
pub const INHALERS: [(&str, &str, &str, bool, f64); 8] = [
    (
        "0301011R0",
        "Salbutamol 100micrograms/dose inhaler (MDI)",
        "MDI",
        true,
        0.92,
    ),
    (
        "0301011R0",
        "Salbutamol 100micrograms/dose dry powder inhaler",
        "DPI",
        true,
        0.08,
    ),
    (
        "0302000C0",
        "Beclometasone dipropionate 100micrograms/dose inhaler (MDI)",
        "MDI",
        false,
        0.22,
    ),
    (
        "0302000C0",
        "Beclometasone/formoterol 100/6 inhaler (MDI)",
        "MDI",
        false,
        0.30,
    ),
    (
        "0302000N0",
        "Fluticasone/salmeterol 125/25 inhaler (MDI)",
        "MDI",
        false,
        0.12,
    ),
    (
        "0302000K0",
        "Budesonide/formoterol 200/6 Turbohaler (DPI)",
        "DPI",
        false,
        0.18,
    ),
    (
        "0302000V0",
        "Fluticasone furoate/vilanterol 92/22 Ellipta (DPI)",
        "DPI",
        false,
        0.13,
    ),
    (
        "0301020Q0",
        "Tiotropium 2.5micrograms/dose Respimat (SMI)",
        "SMI",
        false,
        0.05,
    ),
];

/// The practice-level inputs, by the name of their folder under `inputs/`.
const TABLES: [(&str, MonthTable); 10] = [
    ("practice_list_size", list_size),
    ("qof_achievement", qof),
    ("inhaler_prescribing", inhalers),
    ("practice_registers", registers),
    ("immunisation_screening", uptake),
    ("gp_patient_survey", survey),
    ("friends_family_test", fft),
    ("practice_incidents", incidents),
    ("practice_status", status),
    ("practice_workforce", workforce),
];

pub fn input_names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|(n, _)| *n)
}

/// Writes every primary-care table of one month.
pub async fn generate_month(
    store: &Store,
    opts: &SampleOptions,
    month: Month,
    practices: &[Practice],
    summary: &mut SampleSummary,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), SampleError> {
    let profiles = profiles(opts.seed, practices);
    for (input, make) in TABLES {
        if !opts.wants(input) || !opts.writes(input, month) {
            continue;
        }
        progress(&format!("{input} {month}"));
        let skip = opts.skipped(input, month);
        let mut rng = rng_for(opts.seed, input, Some(month));
        let rows: Vec<(&Practice, &Profile)> = practices
            .iter()
            .zip(&profiles)
            .filter(|(p, _)| !skip.contains(&p.code))
            .collect();
        let b = make(&mut rng, opts.seed, month, &rows)?;
        write(
            store,
            &format!("inputs/{input}/month={month}/part-0.parquet"),
            &b,
            summary,
        )
        .await?;
    }
    Ok(())
}

/// One table of one month: (the table's generator for the month, the sample's seed, the month, practices).
type MonthTable =
    fn(&mut ChaCha8Rng, u64, Month, &[(&Practice, &Profile)]) -> Result<RecordBatch, SampleError>;

fn list_size(
    _: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut band, mut n) = (Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        for (b, k) in list_by_age(p, prof, month) {
            code.push(p.code.clone());
            band.push(b);
            n.push(k);
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("age_band", strs(band)),
        ("patients", ints(n)),
    ])
}

/// QOF achievement over the twelve months to the month's end: register after exceptions (denominator),
/// patients meeting the indicator (numerator) and personalised care adjustments (exceptions).
fn qof(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut ind, mut num, mut den, mut exc) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        let list = registered_patients(p, month) as f64;
        let adults = list * (1.0 - 0.21);
        for (key, prevalence) in [("HYP008", 0.12), ("DM020", 0.07), ("AST007", 0.065)] {
            let register = (adults * prevalence * (1.0 + 0.15 * prof.age_tilt)).round() as i64;
            let exceptions = binomial(rng, register, 0.07);
            let d = register - exceptions;
            code.push(p.code.clone());
            ind.push(key);
            num.push(binomial(rng, d, rate(p, prof, key)));
            den.push(d);
            exc.push(exceptions);
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("indicator_code", strs(ind)),
        ("numerator", ints(num)),
        ("denominator", ints(den)),
        ("exceptions", ints(exc)),
    ])
}

/// Items prescribed in the month by product.
fn inhalers(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut bnf, mut product, mut device, mut salb, mut items) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (p, prof) in rows {
        // About 77 inhaler items per 1,000 patients a month.
        let total = poisson(rng, registered_patients(p, month) as f64 * 0.077);
        let salbutamol = binomial(rng, total, rate(p, prof, "salbutamol_share"));
        let others = total - salbutamol;
        let mdi_share = rate(p, prof, "inhaler_mdi");
        let other_mdi = binomial(rng, others, mdi_share);
        let other_mdi_products: f64 = INHALERS
            .iter()
            .filter(|i| !i.3 && i.2 == "MDI")
            .map(|i| i.4)
            .sum();
        let other_rest: f64 = INHALERS
            .iter()
            .filter(|i| !i.3 && i.2 != "MDI")
            .map(|i| i.4)
            .sum();
        // Split each group among its products (the last product of a group takes the remainder).
        let mut left = [
            (salbutamol, 1.0),
            (other_mdi, other_mdi_products),
            (others - other_mdi, other_rest),
        ];
        for (k, (b, name, dev, is_salb, share)) in INHALERS.iter().enumerate() {
            let g = if *is_salb {
                0
            } else if *dev == "MDI" {
                1
            } else {
                2
            };
            let is_last = !INHALERS[k + 1..].iter().any(|i| {
                (if i.3 {
                    0
                } else if i.2 == "MDI" {
                    1
                } else {
                    2
                }) == g
            });
            let (remaining, weight_left) = left[g];
            let n = if is_last {
                remaining
            } else {
                binomial(rng, remaining, (share / weight_left).min(1.0))
            };
            left[g] = (remaining - n, weight_left - share);
            code.push(p.code.clone());
            bnf.push(*b);
            product.push(*name);
            device.push(*dev);
            salb.push(*is_salb);
            items.push(n);
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("bnf_code", strs(bnf)),
        ("product", strs(product)),
        ("device_type", strs(device)),
        ("salbutamol", Arc::new(BooleanArray::from(salb)) as ArrayRef),
        ("items", ints(items)),
    ])
}

/// Registers at the month's end: dementia (with the expected number from age-specific prevalence), and
/// learning disability and SMI with the health checks done in the twelve months to the month's end.
fn registers(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut reg, mut patients, mut expected, mut checks) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        let bands = list_by_age(p, prof, month);
        let band = |b: &str| bands.iter().find(|x| x.0 == b).map(|x| x.1).unwrap_or(0) as f64;
        let exp_dementia = (band("65-79") * 0.03 + band("80+") * 0.17).round() as i64;
        let dementia = binomial(rng, exp_dementia, rate(p, prof, "dementia"));
        code.push(p.code.clone());
        reg.push("dementia");
        patients.push(dementia);
        expected.push(Some(exp_dementia));
        checks.push(None);
        let list = registered_patients(p, month) as f64;
        for (key, prevalence) in [
            ("learning_disability", 0.0055),
            ("serious_mental_illness", 0.0095),
        ] {
            let n = poisson(rng, list * prevalence);
            code.push(p.code.clone());
            reg.push(key);
            patients.push(n);
            expected.push(None);
            checks.push(Some(binomial(rng, n, rate(p, prof, key))));
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("register", strs(reg)),
        ("patients", ints(patients)),
        ("expected", opt_ints(expected)),
        ("health_checks", opt_ints(checks)),
    ])
}

/// Childhood immunisation (MMR1 by the second birthday) and cervical screening coverage (25–49).
fn uptake(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut prog, mut eligible, mut covered) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        let bands = list_by_age(p, prof, month);
        let band = |b: &str| bands.iter().find(|x| x.0 == b).map(|x| x.1).unwrap_or(0) as f64;
        for (key, n) in [
            // Children who turned two in the quarter to the month's end: about a fifth of the 0-4s / 5 × 3/12.
            ("mmr1_24m", (band("0-4") / 5.0 / 4.0).round() as i64),
            // Women aged 25-49: about 55% of the 18-39s and 40-64s' female half.
            (
                "cervical_25_49",
                ((band("18-39") + band("40-64")) * 0.5 * 0.55).round() as i64,
            ),
        ] {
            code.push(p.code.clone());
            prog.push(key);
            eligible.push(n);
            covered.push(binomial(rng, n, rate(p, prof, key)));
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("programme", strs(prog)),
        ("eligible", ints(eligible)),
        ("covered", ints(covered)),
    ])
}

/// The GP Patient Survey: one wave a year, published in July; every month carries the latest wave.
fn survey(
    _: &mut ChaCha8Rng,
    seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let wave = if month.month >= 7 {
        month.year
    } else {
        month.year - 1
    };
    // The wave's own generator, so that every month of a wave holds the same results.
    let mut rng = rng_for(seed, "gp_patient_survey_wave", Month::new(wave, 7));
    let (mut code, mut q, mut resp, mut pos, mut waves) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        // About 240 questionnaires per practice, more for large ones; about 35% answered.
        let sent = 150 + (p.list_size as i64 / 90);
        let responses = binomial(&mut rng, sent, 0.35);
        for key in ["overall_good", "phone_easy"] {
            code.push(p.code.clone());
            q.push(key);
            resp.push(responses);
            pos.push(binomial(&mut rng, responses, rate(p, prof, key)));
            waves.push(wave as i64);
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("question", strs(q)),
        ("responses", ints(resp)),
        ("positive", ints(pos)),
        ("survey_year", ints(waves)),
    ])
}

/// The Friends and Family Test: responses and "very good" or "good" answers. A few practices do not
/// submit in a month (one never does): they are missing, not zero.
fn fft(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut resp, mut pos) = (Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        let missing = p.code.ends_with("017") || rng.random::<f64>() < 0.025;
        let responses = poisson(rng, registered_patients(p, month) as f64 * 0.008);
        let positive = binomial(rng, responses, rate(p, prof, "fft_positive"));
        if missing {
            continue;
        }
        code.push(p.code.clone());
        resp.push(responses);
        pos.push(positive);
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("responses", ints(resp)),
        ("positive", ints(pos)),
    ])
}

/// Incidents reported about the practice and complaints received, in the month (usually a handful).
fn incidents(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut inc, mut comp) = (Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        let list = registered_patients(p, month) as f64;
        code.push(p.code.clone());
        // About 59 incidents a year across 1 million patients; complaints about 1 per 1,000 a year.
        inc.push(poisson(
            rng,
            list * 59.0 / 1_000_000.0 / 12.0 * prof.incident_factor,
        ));
        comp.push(poisson(rng, list / 1_000.0 / 12.0 * prof.incident_factor));
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("incidents", ints(inc)),
        ("complaints", ints(comp)),
    ])
}

/// CQC rating (with its date) and whether the annual e-declaration was returned.
fn status(
    _: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut rating, mut date, mut edec) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, prof) in rows {
        // The Requires Improvement rating dates from September 2021: Good before it.
        let (r, d) = if prof.cqc == "Requires improvement"
            && month < Month::new(2021, 9).expect("a month")
        {
            ("Good", "2017-11-20")
        } else {
            (prof.cqc, prof.cqc_date)
        };
        code.push(p.code.clone());
        rating.push(r);
        date.push(d);
        edec.push(prof.edeclaration);
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("cqc_rating", strs(rating)),
        ("cqc_rating_date", strs(date)),
        (
            "edeclaration_returned",
            Arc::new(BooleanArray::from(edec)) as ArrayRef,
        ),
    ])
}

/// Full-time equivalent staff by group at the month's end.
fn workforce(
    rng: &mut ChaCha8Rng,
    _seed: u64,
    month: Month,
    rows: &[(&Practice, &Profile)],
) -> Result<RecordBatch, SampleError> {
    let (mut code, mut group, mut fte) = (Vec::new(), Vec::new(), Vec::new());
    // Direct patient care roles (ARRS) grow from 2019; GP numbers drift down a little.
    let years = (month.year * 12 + month.month as i32 - (2019 * 12 + 4)) as f64 / 12.0;
    for (p, _) in rows {
        let list = registered_patients(p, month) as f64 / 10_000.0;
        for (g, per_10k) in [
            ("GP", 5.6 - 0.1 * years),
            ("Nurse", 2.9),
            ("Direct patient care", 1.6 + 0.5 * years),
            ("Admin/non-clinical", 11.0),
        ] {
            code.push(p.code.clone());
            group.push(g);
            let f = list * per_10k * rng.random_range(0.8..1.2);
            fte.push((f * 100.0).round() / 100.0);
        }
    }
    batch(vec![
        ("practice_code", strings(code)),
        ("staff_group", strs(group)),
        ("fte", floats(fte)),
    ])
}
