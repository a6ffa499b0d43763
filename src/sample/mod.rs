//! The sample data set: a deterministic, synthetic but realistic ICB — reference data and the inputs of
//! every shipped pipeline — written to the store as Parquet, partitioned by month.
//!
//! Owns generation only. The same seed gives the same bytes, and each month is generated from its own
//! seed, so any sub-range of months is identical to the same months of a longer run. Memory stays bounded
//! at any `--scale`: one month of one table is built and written at a time.

pub mod advice_guidance;
pub mod ae;
pub mod ambulance;
pub mod apc;
pub mod benchmarks;
pub mod cancer;
pub mod carbon;
pub mod finance;
pub mod gp_appointments;
pub mod mental_health;
pub mod nhs111;
pub mod operational_plan;
pub mod outpatients;
pub mod primary_care;
pub mod reference;
pub mod waiting_list;

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::period::Month;
use crate::store::Store;
use reference::{PROVIDERS, Practice};

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("generating sample data: {0}")]
    Generator(String),
    #[error("writing sample data: {0}")]
    Write(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A provider's month left out of one input, as real returns sometimes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub input: String,
    pub provider: String,
    pub month: Month,
}

impl std::str::FromStr for Gap {
    type Err = String;
    /// `ae_attendances:RLT:2022-04`
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [input, provider, month] => Ok(Gap {
                input: input.to_string(),
                provider: provider.to_string(),
                month: month
                    .parse()
                    .map_err(|e: crate::period::PeriodError| e.to_string())?,
            }),
            _ => Err(format!(
                "`{s}` is not a gap: write INPUT:PROVIDER:YYYY-MM, e.g. ae_attendances:RLT:2022-04"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub from: Month,
    pub to: Month,
    pub scale: u32,
    pub seed: u64,
    pub gaps: Vec<Gap>,
    /// Inputs whose last month has not landed yet (real sources lag: NHS 111 by a month).
    pub lagging: Vec<String>,
    /// Inputs written only for the listed months instead of `from` to `to` (months outside that range
    /// included): tests keep the large record-level inputs to the months they check.
    pub only_months: Vec<(String, Vec<Month>)>,
    /// Only these inputs are written (with the reference data); empty means every input. Tests use it
    /// to leave out large inputs they do not read.
    pub only: Vec<String>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            from: Month {
                year: 2019,
                month: 4,
            },
            to: Month {
                year: 2023,
                month: 3,
            },
            scale: 1,
            seed: 42,
            gaps: Vec::new(),
            lagging: vec!["nhs111_calls".to_string()],
            only_months: Vec::new(),
            only: Vec::new(),
        }
    }
}

impl SampleOptions {
    /// Whether `input` is to be written.
    pub fn wants(&self, input: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == input)
    }

    /// The providers whose month of `input` is left out.
    fn skipped(&self, input: &str, month: Month) -> Vec<String> {
        self.gaps
            .iter()
            .filter(|g| g.input == input && g.month == month)
            .map(|g| g.provider.clone())
            .collect()
    }

    /// Whether `input` is written for `month`.
    fn writes(&self, input: &str, month: Month) -> bool {
        match self.only_months.iter().find(|(i, _)| i == input) {
            Some((_, months)) => months.contains(&month),
            None => self.from <= month && month <= self.to,
        }
    }
}

/// What was written.
#[derive(Debug, Default)]
pub struct SampleSummary {
    pub objects: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// A random generator for one (table, month): independent of every other table and month.
fn rng_for(seed: u64, table: &str, month: Option<Month>) -> ChaCha8Rng {
    let mut key = seed ^ 0x9E37_79B9_7F4A_7C15;
    for b in table.bytes() {
        key = key.rotate_left(7) ^ b as u64;
        key = key.wrapping_mul(0x100_0000_01B3);
    }
    if let Some(m) = month {
        key ^= (m.year as u64) << 8 | m.month as u64;
    }
    ChaCha8Rng::seed_from_u64(key)
}

/// Picks patients: which practice they are registered with (by list size) and who they are.
pub struct Demography {
    /// Cumulative list sizes per area, for weighted choice.
    cumulative: Vec<Vec<(u64, usize)>>,
}

pub struct Person {
    pub imd_decile: i64,
    pub ethnic_group: &'static str,
    pub age_band: &'static str,
    pub sex: &'static str,
}

/// The patient columns every record-level input carries — registered practice, IMD decile of the area of
/// residence, ethnic group, age band and sex — so that any metric can be split by them.
#[derive(Default)]
pub struct PatientColumns {
    practice: Vec<String>,
    imd: Vec<i64>,
    ethnic: Vec<&'static str>,
    age: Vec<&'static str>,
    sex: Vec<&'static str>,
}

impl PatientColumns {
    /// Draws a patient of `area` (their practice by list size, then who they are) and records them.
    pub fn draw(
        &mut self,
        rng: &mut ChaCha8Rng,
        practices: &[Practice],
        demography: &Demography,
        area: u32,
    ) {
        self.draw_weighted(rng, practices, demography, area, |_| 1.0);
    }

    /// Draws a patient as [`draw`](Self::draw) does, with their practice's chance scaled by `weight`
    /// (from 0 to 1): events that happen more where practices serve more deprived populations.
    pub fn draw_weighted(
        &mut self,
        rng: &mut ChaCha8Rng,
        practices: &[Practice],
        demography: &Demography,
        area: u32,
        weight: impl Fn(&Practice) -> f64,
    ) {
        let mut practice = demography.pick_practice(rng, practices, area);
        // Rejection sampling; a bounded number of tries keeps a zero weight from looping for ever.
        for _ in 0..64 {
            if rng.random::<f64>() < weight(practice) {
                break;
            }
            practice = demography.pick_practice(rng, practices, area);
        }
        let person = demography.person(rng, practice);
        self.practice.push(practice.code.clone());
        self.imd.push(person.imd_decile);
        self.ethnic.push(person.ethnic_group);
        self.age.push(person.age_band);
        self.sex.push(person.sex);
    }

    /// The IMD decile of the patient drawn last.
    pub fn last_imd_decile(&self) -> Option<i64> {
        self.imd.last().copied()
    }

    /// A record batch of `columns` followed by the patient columns.
    pub fn batch(self, mut columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, SampleError> {
        columns.extend(self.into_columns());
        batch(columns)
    }

    pub fn into_columns(self) -> Vec<(&'static str, ArrayRef)> {
        vec![
            (
                "practice_code",
                Arc::new(StringArray::from(self.practice)) as ArrayRef,
            ),
            ("imd_decile", Arc::new(Int64Array::from(self.imd))),
            ("ethnic_group", Arc::new(StringArray::from(self.ethnic))),
            ("age_band", Arc::new(StringArray::from(self.age))),
            ("sex", Arc::new(StringArray::from(self.sex))),
        ]
    }
}

/// The standard NHS ethnic groupings, with shares like Coventry and Warwickshire's.
const ETHNIC_GROUPS: [(&str, f64); 6] = [
    ("White", 0.79),
    ("Asian or Asian British", 0.11),
    ("Black or Black British", 0.035),
    ("Mixed", 0.025),
    ("Other ethnic group", 0.015),
    ("Not stated", 0.025),
];
const AGE_BANDS: [(&str, f64); 6] = [
    ("0-4", 0.09),
    ("5-17", 0.12),
    ("18-39", 0.27),
    ("40-64", 0.27),
    ("65-79", 0.15),
    ("80+", 0.10),
];

impl Demography {
    pub fn new(practices: &[Practice], scale: u32) -> Self {
        let per_area = practices.len() / scale.max(1) as usize;
        let per_area = per_area.max(1);
        let cumulative = (0..practices.len().div_ceil(per_area))
            .map(|area| {
                let mut total = 0u64;
                (area * per_area..((area + 1) * per_area).min(practices.len()))
                    .map(|i| {
                        total += practices[i].list_size as u64;
                        (total, i)
                    })
                    .collect()
            })
            .collect();
        Demography { cumulative }
    }

    pub fn pick_practice<'a>(
        &self,
        rng: &mut ChaCha8Rng,
        practices: &'a [Practice],
        area: u32,
    ) -> &'a Practice {
        let table = &self.cumulative[(area as usize).min(self.cumulative.len() - 1)];
        let total = table.last().map(|t| t.0).unwrap_or(1);
        let x = rng.random_range(0..total);
        let i = table.partition_point(|(c, _)| *c <= x).min(table.len() - 1);
        &practices[table[i].1]
    }

    pub fn person(&self, rng: &mut ChaCha8Rng, practice: &Practice) -> Person {
        let imd = (practice.imd_decile + rng.random_range(-2.0..2.0))
            .round()
            .clamp(1.0, 10.0) as i64;
        // More deprived areas of Coventry have larger minority ethnic populations.
        let minority_boost = if imd <= 3 { 1.6 } else { 1.0 };
        let ethnic_group = weighted(rng, &ETHNIC_GROUPS, |name| {
            if name == "White" || name == "Not stated" {
                1.0
            } else {
                minority_boost
            }
        });
        let age_band = weighted(rng, &AGE_BANDS, |_| 1.0);
        let sex = if rng.random::<bool>() { "F" } else { "M" };
        Person {
            imd_decile: imd,
            ethnic_group,
            age_band,
            sex,
        }
    }
}

pub(crate) fn weighted<'a>(
    rng: &mut ChaCha8Rng,
    table: &[(&'a str, f64)],
    boost: impl Fn(&str) -> f64,
) -> &'a str {
    table[pick_index(rng, table.iter().map(|(n, w)| w * boost(n)))].0
}

/// An index drawn with the given (not necessarily normalised) weights.
pub(crate) fn pick_index(
    rng: &mut ChaCha8Rng,
    weights: impl Iterator<Item = f64> + Clone,
) -> usize {
    let total: f64 = weights.clone().sum();
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        x -= w;
        last = i;
        if x <= 0.0 {
            return i;
        }
    }
    last
}

/// Encodes a batch as Parquet (deterministic writer settings).
pub fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>, SampleError> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_created_by(format!("boardpack sample {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))
        .map_err(|e| SampleError::Write(e.to_string()))?;
    w.write(batch)
        .map_err(|e| SampleError::Write(e.to_string()))?;
    w.close().map_err(|e| SampleError::Write(e.to_string()))?;
    Ok(buf)
}

async fn write(
    store: &Store,
    path: &str,
    batch: &RecordBatch,
    summary: &mut SampleSummary,
) -> Result<(), SampleError> {
    let bytes = parquet_bytes(batch)?;
    summary.objects += 1;
    summary.rows += batch.num_rows() as u64;
    summary.bytes += bytes.len() as u64;
    store.put(path, Bytes::from(bytes)).await?;
    Ok(())
}

// Column builders shared by the generators.
pub(crate) fn strings(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from(v.into_iter().collect::<Vec<_>>()))
}
pub(crate) fn strs(v: Vec<&str>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}
pub(crate) fn ints(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
pub(crate) fn opt_ints(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
pub(crate) fn floats(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}
pub(crate) fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, SampleError> {
    RecordBatch::try_from_iter(columns).map_err(|e| SampleError::Generator(e.to_string()))
}

/// A generator of one month of one record-level input: (rng, month, scale, practices, demography,
/// providers to leave out).
type Generator = fn(
    &mut ChaCha8Rng,
    Month,
    u32,
    &[Practice],
    &Demography,
    &[String],
) -> Result<RecordBatch, SampleError>;

/// Every monthly record-level input, by the name of its folder under `inputs/`.
const MONTHLY_INPUTS: [(&str, Generator); 14] = [
    ("nhs111_calls", nhs111::generate),
    ("ae_attendances", ae::generate),
    ("ambulance_handovers", ambulance::generate),
    ("rtt_waiting_list", |rng, m, scale, p, d, skip| {
        waiting_list::generate(&waiting_list::RTT, rng, m, scale, p, d, skip)
    }),
    ("diagnostics_waiting_list", |rng, m, scale, p, d, skip| {
        waiting_list::generate(&waiting_list::DIAGNOSTICS, rng, m, scale, p, d, skip)
    }),
    ("cancer_pathways", cancer::generate),
    ("mental_health_returns", mental_health::generate),
    ("benchmarks", benchmarks::generate),
    ("apc_spells", apc::generate),
    ("op_attendances", outpatients::generate),
    ("advice_guidance", advice_guidance::generate),
    ("operational_plan", operational_plan::generate),
    ("finance_ledger", finance::generate),
    ("gp_appointments", gp_appointments::generate),
];

/// The inputs the generator writes, by the name of their folder under `inputs/`.
pub fn input_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = MONTHLY_INPUTS.iter().map(|(n, _)| *n).collect();
    names.push("registered_population");
    names.extend(primary_care::input_names());
    names.extend(carbon::input_names());
    names
}

/// Writes the whole sample data set. `progress` is told what is being written.
pub async fn generate(
    store: &Store,
    opts: &SampleOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SampleSummary, SampleError> {
    let mut summary = SampleSummary::default();
    let mut rng = rng_for(opts.seed, "practices", None);
    let practices = reference::practices(&mut rng, opts.scale);
    let demography = Demography::new(&practices, opts.scale);

    progress("reference data");
    let orgs = RecordBatch::try_from_iter(vec![
        (
            "org_code",
            strings(PROVIDERS.iter().map(|p| p.code.to_string())),
        ),
        (
            "short_name",
            strings(PROVIDERS.iter().map(|p| p.short.to_string())),
        ),
        (
            "org_name",
            strings(PROVIDERS.iter().map(|p| p.name.to_string())),
        ),
        (
            "org_kind",
            strings(PROVIDERS.iter().map(|p| p.kind.to_string())),
        ),
        (
            "home_place",
            strings(PROVIDERS.iter().map(|p| p.home_place.to_string())),
        ),
    ])
    .map_err(|e| SampleError::Generator(e.to_string()))?;
    write(
        store,
        "reference/organisations/organisations.parquet",
        &orgs,
        &mut summary,
    )
    .await?;
    let prac = RecordBatch::try_from_iter(vec![
        (
            "practice_code",
            strings(practices.iter().map(|p| p.code.clone())),
        ),
        (
            "practice_name",
            strings(practices.iter().map(|p| p.name.clone())),
        ),
        (
            "pcn_code",
            strings(practices.iter().map(|p| p.pcn_code.clone())),
        ),
        (
            "pcn_name",
            strings(practices.iter().map(|p| p.pcn_name.clone())),
        ),
        (
            "place",
            strings(practices.iter().map(|p| p.place.to_string())),
        ),
        (
            "imd_decile",
            Arc::new(Float64Array::from(
                practices
                    .iter()
                    .map(|p| (p.imd_decile * 10.0).round() / 10.0)
                    .collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .map_err(|e| SampleError::Generator(e.to_string()))?;
    write(
        store,
        "reference/practices/practices.parquet",
        &prac,
        &mut summary,
    )
    .await?;

    for month in opts.from.through(opts.to) {
        if opts.wants("registered_population") {
            progress(&format!("registered_population {month}"));
            // Lists grow about 0.6% a year.
            let years = (month.year * 12 + month.month as i32 - (2019 * 12 + 4)) as f64 / 12.0;
            let growth = 1.0 + 0.006 * years;
            let pop = RecordBatch::try_from_iter(vec![
                (
                    "practice_code",
                    strings(practices.iter().map(|p| p.code.clone())),
                ),
                (
                    "patients",
                    Arc::new(Int64Array::from(
                        practices
                            .iter()
                            .map(|p| (p.list_size as f64 * growth) as i64)
                            .collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
            ])
            .map_err(|e| SampleError::Generator(e.to_string()))?;
            write(
                store,
                &format!("inputs/registered_population/month={month}/part-0.parquet"),
                &pop,
                &mut summary,
            )
            .await?;
        }

        for (input, generate) in MONTHLY_INPUTS {
            if !opts.wants(input)
                || !opts.writes(input, month)
                || (month == opts.to && opts.lagging.iter().any(|l| l == input))
            {
                continue;
            }
            progress(&format!("{input} {month}"));
            let skip = opts.skipped(input, month);
            let mut rng = rng_for(opts.seed, input, Some(month));
            let batch = generate(&mut rng, month, opts.scale, &practices, &demography, &skip)?;
            let path = format!("inputs/{input}/month={month}/part-0.parquet");
            write(store, &path, &batch, &mut summary).await?;
        }
        primary_care::generate_month(store, opts, month, &practices, &mut summary, progress)
            .await?;
    }
    // Months outside the range that an input is limited to (a baseline month long before the range).
    for (input, generate) in MONTHLY_INPUTS {
        let Some((_, months)) = opts.only_months.iter().find(|(i, _)| i == input) else {
            continue;
        };
        if !opts.wants(input) {
            continue;
        }
        for &month in months.iter().filter(|m| **m < opts.from || **m > opts.to) {
            progress(&format!("{input} {month}"));
            let skip = opts.skipped(input, month);
            let mut rng = rng_for(opts.seed, input, Some(month));
            let batch = generate(&mut rng, month, opts.scale, &practices, &demography, &skip)?;
            let path = format!("inputs/{input}/month={month}/part-0.parquet");
            write(store, &path, &batch, &mut summary).await?;
        }
    }
    // The carbon account's inputs, over their own wider range (from 2018/19).
    carbon::generate(store, opts, &practices, progress, &mut summary).await?;
    Ok(summary)
}
