//! What the engine found about the quality of a run's inputs beyond a pass or a fail: rows set aside by
//! `on_fail: quarantine` rules, gaps against an input's declared `completeness:` (missing days, missing
//! expected codes), and the checks of `drift:` between months' objects.
//!
//! Owns those checks and the findings a run collects; `rules` owns the row rules themselves and
//! `execute` puts the findings into the run record and the reports' context.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::logical_expr::{cast, ident, lit};
use datafusion::prelude::DataFrame;
use object_store::ObjectStoreExt;
use serde_json::Value as Json;

use super::{Engine, EngineError, MONTH_COLUMN};
use crate::contract::Reference;
use crate::period::Month;
use crate::plan::{Input, PeriodMonths};
use crate::record::QuarantineRecord;
use crate::store::ObjectInfo;

/// The `what` of a gap that is a whole month without objects.
pub const MONTH_GAP: &str = "month";

/// How many missing days or codes a caveat lists.
const LISTED: usize = 10;

/// Where a run writes quarantined rows and which months completeness is judged on.
#[derive(Debug, Default)]
pub(super) struct State {
    pub quarantine_prefix: Option<String>,
    pub period_months: Vec<Month>,
    pub findings: Findings,
}

/// What a run's inputs looked like, for the run record and the data-quality pages.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Findings {
    pub quarantined: Vec<QuarantineRecord>,
    pub gaps: Vec<Gap>,
    /// Warnings of the run that are not the papers' to print: months missing inside an input's history
    /// (a run reads `history_months` for every month of the year, and may not use each of them).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// A month of an input short of what its `completeness:` expects, within the threshold (a caveat).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Gap {
    pub input: String,
    pub month: String,
    /// `days` or the column of the expected codes.
    pub what: String,
    pub expected: u64,
    pub missing: Vec<String>,
    /// Missing as a share of expected.
    pub share: f64,
    /// For a whole month without data (`what: month`): what follows for the figures.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Gap {
    /// The caveat as one sentence (the run's warning and the pack's line).
    pub fn text(&self) -> String {
        if self.what == MONTH_GAP {
            return format!(
                "input `{}`, {}: no data for the month; {}",
                self.input, self.month, self.note
            );
        }
        let what = if self.what == "days" {
            "day(s) of the month have no rows".to_string()
        } else {
            format!("expected `{}` value(s) have no rows", self.what)
        };
        format!(
            "input `{}`, {}: {} of {} {what} ({:.1}%): {}",
            self.input,
            self.month,
            self.missing.len(),
            self.expected,
            self.share * 100.0,
            list(&self.missing)
        )
    }
}

fn list(values: &[String]) -> String {
    let mut text = values
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > LISTED {
        text.push_str(&format!(" and {} more", values.len() - LISTED));
    }
    text
}

impl Findings {
    /// For templates: quarantined rows per input and rule, and the completeness caveats with their text.
    pub fn to_json(&self) -> Json {
        let gaps: Vec<Json> = self
            .gaps
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).unwrap_or(Json::Null);
                if let Json::Object(m) = &mut v {
                    m.insert("text".into(), Json::String(g.text()));
                    m.insert("listed".into(), Json::String(list(&g.missing)));
                }
                v
            })
            .collect();
        serde_json::json!({
            "quarantined": self.quarantined,
            "gaps": gaps,
        })
    }
}

impl Engine {
    /// Where quarantined rows go (a folder under the run's prefix) and the months of the period, whose
    /// completeness is judged. Set by `execute` before the inputs are registered.
    pub fn set_quality_context(&self, quarantine_prefix: &str, period_months: &[Month]) {
        if let Ok(mut s) = self.quality.lock() {
            s.quarantine_prefix = Some(quarantine_prefix.trim_end_matches('/').to_string());
            s.period_months = period_months.to_vec();
        }
    }

    /// What the inputs registered so far looked like.
    pub fn quality_findings(&self) -> Findings {
        self.quality
            .lock()
            .map(|s| s.findings.clone())
            .unwrap_or_default()
    }

    pub(super) fn quarantine_path(&self, input: &str) -> String {
        let prefix = self
            .quality
            .lock()
            .ok()
            .and_then(|s| s.quarantine_prefix.clone())
            .unwrap_or_else(|| "scratch/quarantine".to_string());
        format!("{prefix}/{input}.parquet")
    }

    pub(super) fn record_quarantine(&self, records: Vec<QuarantineRecord>) {
        if let Ok(mut s) = self.quality.lock() {
            s.findings.quarantined.extend(records);
        }
    }

    fn period_months(&self) -> Vec<Month> {
        self.quality
            .lock()
            .map(|s| s.period_months.clone())
            .unwrap_or_default()
    }

    /// Judges which months have objects against what the input declares, before any SQL reads it: a month
    /// of the period the input must hold (`period_months:`) and has no object for fails the run, unless it
    /// is among the period's latest `may_lag:` months, which is a caveat saying where the figures stop; a
    /// month missing inside the history read (between the earliest month found and the period) is a caveat
    /// too, since trend charts would otherwise join across it silently. An optional input (`required:
    /// false`) with nothing at all for the period is "not available", which the papers say elsewhere.
    pub(super) fn judge_months(
        &self,
        input: &Input,
        months: &[Month],
        objects: &[ObjectInfo],
    ) -> Result<(), EngineError> {
        let period = self.period_months();
        if period.is_empty() {
            return Ok(());
        }
        let found: BTreeSet<Month> = objects
            .iter()
            .filter_map(|o| match super::object_month(input, &o.path) {
                super::ObjectPlace::Month(m) => Some(m),
                _ => None,
            })
            .collect();
        let in_period = period.iter().any(|m| found.contains(m));
        if !in_period && !input.required {
            return Ok(());
        }
        // Objects of no month at all are `NoData`, said by the caller with the months wanted.
        if found.is_empty() {
            return Ok(());
        }
        let latest = found.iter().next_back().copied();
        let refused: Vec<Month> = match input.period_months {
            PeriodMonths::Any if !in_period => period.clone(),
            _ => input
                .required_months(&period)
                .into_iter()
                .filter(|m| !found.contains(m))
                .collect(),
        };
        if !refused.is_empty() {
            let names: Vec<String> = refused.iter().map(|m| m.to_string()).collect();
            let period_text = match (period.first(), period.last()) {
                (Some(a), Some(b)) if a != b => format!("{a} to {b}"),
                (Some(a), _) => a.to_string(),
                _ => String::new(),
            };
            return Err(EngineError::MissingMonths {
                input: input.name.clone(),
                location: input.location.clone(),
                missing: names.join(", "),
                period: period_text,
                found: match latest {
                    Some(l) => format!("the latest month found is {l}"),
                    None => "no month has objects".to_string(),
                },
            });
        }
        for m in input
            .lagging_months(&period)
            .into_iter()
            .filter(|m| !found.contains(m))
        {
            let note = format!(
                "the source is published up to {} month(s) in arrears, so its figures stop at {}",
                input.may_lag,
                latest
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "no month".into())
            );
            self.record_gap(month_gap(input, m, note));
        }
        // Holes in the history of a monthly return: months wanted before the period, after the earliest
        // found, with nothing (a quarterly return, or one whose SQL proxies missing months, says `first` or
        // `any`).
        if input.period_months == PeriodMonths::Every
            && let Some(earliest) = found.iter().next().copied()
        {
            let first_of_period = period[0];
            for m in months
                .iter()
                .filter(|m| **m > earliest && **m < first_of_period && !found.contains(m))
            {
                self.record_warning(format!(
                    "input `{}`: no data for {m}, a month of the history read (`{}/{MONTH_COLUMN}={m}/` is \
                     empty): a trend or comparison that needs it has no figure for it",
                    input.name, input.location
                ));
            }
        }
        Ok(())
    }

    fn record_warning(&self, warning: String) {
        if let Ok(mut s) = self.quality.lock() {
            s.findings.warnings.push(warning);
        }
    }

    fn record_gap(&self, gap: Gap) {
        if let Ok(mut s) = self.quality.lock() {
            s.findings.gaps.push(gap);
        }
    }

    /// The distinct values (as text) of a reference table's column, with its `where` filter.
    pub(super) async fn reference_values(
        &self,
        r: &Reference,
    ) -> Result<BTreeSet<String>, EngineError> {
        let mut df = self.ctx.table(r.table.as_str()).await?;
        for (k, v) in &r.filter {
            df = df.filter(cast(ident(k.as_str()), DataType::Utf8).eq(lit(v.as_str())))?;
        }
        let values = df
            .select(vec![
                cast(ident(r.column.as_str()), DataType::Utf8).alias("v"),
            ])?
            .distinct()?;
        Ok(strings(values, "v").await?.into_iter().collect())
    }
}

async fn strings(df: DataFrame, column: &str) -> Result<Vec<String>, EngineError> {
    Ok(super::batches_to_json(&df.collect().await?)?
        .into_iter()
        .filter_map(|r| r.get(column).and_then(Json::as_str).map(str::to_string))
        .collect())
}

fn month_gap(input: &Input, month: Month, note: String) -> Gap {
    Gap {
        input: input.name.clone(),
        month: month.to_string(),
        what: MONTH_GAP.to_string(),
        expected: 1,
        missing: vec![month.to_string()],
        share: 1.0,
        note,
    }
}

/// Judges each month of the period against the input's `completeness:` on the rows the steps will read:
/// a gap within the threshold is recorded as a caveat, one beyond it fails the run.
pub(super) async fn completeness(
    engine: &Engine,
    input: &Input,
    kept: DataFrame,
    objects: &[ObjectInfo],
) -> Result<(), EngineError> {
    let Some(c) = &input.rules.completeness else {
        return Ok(());
    };
    for m in engine.period_months() {
        let month = m.to_string();
        let in_month: Vec<&ObjectInfo> = objects
            .iter()
            .filter(|o| o.path.contains(&format!("/{MONTH_COLUMN}={month}/")))
            .collect();
        // A month with no object at all was judged when the input was registered (`judge_months`): refused,
        // or a caveat of a lag or an optional input's absence.
        if in_month.is_empty() {
            continue;
        }
        let rows = kept
            .clone()
            .filter(ident(MONTH_COLUMN).eq(lit(month.as_str())))?;
        let mut checks: Vec<(String, BTreeSet<String>, BTreeSet<String>, Option<f64>)> = Vec::new();
        if let Some(day_col) = &c.days {
            let expected: BTreeSet<String> = m
                .first_day()
                .iter_days()
                .take_while(|d| *d <= m.last_day())
                .map(|d| d.to_string())
                .collect();
            let seen = strings(
                rows.clone()
                    .select(vec![
                        cast(
                            cast(ident(day_col.as_str()), DataType::Date32),
                            DataType::Utf8,
                        )
                        .alias("d"),
                    ])?
                    .distinct()?,
                "d",
            )
            .await?;
            checks.push((
                "days".into(),
                expected,
                seen.into_iter().collect(),
                c.max_missing_days,
            ));
        }
        if let Some((column, reference)) = &c.codes {
            let expected = engine.reference_values(reference).await?;
            let seen = strings(
                rows.clone()
                    .select(vec![
                        cast(ident(column.as_str()), DataType::Utf8).alias("c"),
                    ])?
                    .distinct()?,
                "c",
            )
            .await?;
            checks.push((
                column.clone(),
                expected,
                seen.into_iter().collect(),
                c.max_missing_codes,
            ));
        }
        for (what, expected, seen, max) in checks {
            let missing: Vec<String> = expected.difference(&seen).cloned().collect();
            if missing.is_empty() || expected.is_empty() {
                continue;
            }
            let gap = Gap {
                input: input.name.clone(),
                month: month.clone(),
                what,
                expected: expected.len() as u64,
                share: missing.len() as f64 / expected.len() as f64,
                missing,
                note: String::new(),
            };
            match max {
                Some(max) if gap.share > max + 1e-12 => {
                    let mut named: Vec<&str> = in_month.iter().map(|o| o.path.as_str()).collect();
                    named.sort();
                    return Err(EngineError::Incomplete {
                        input: input.name.clone(),
                        month: month.clone(),
                        message: format!(
                            "{} — more than the `max_missing` of {}% its contract allows (objects read: {})",
                            gap.text()
                                .split_once(": ")
                                .map(|(_, rest)| rest)
                                .unwrap_or_default(),
                            max * 100.0,
                            if named.is_empty() {
                                "none".to_string()
                            } else {
                                named
                                    .iter()
                                    .map(|p| format!("`{p}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ),
                    });
                }
                _ => engine.record_gap(gap),
            }
        }
    }
    Ok(())
}

/// The month of an object's partition (`month=2022-04/`), if any.
fn month_of(path: &str) -> Option<&str> {
    let at = path.find(&format!("/{MONTH_COLUMN}="))? + MONTH_COLUMN.len() + 2;
    path.get(at..at + 7)
}

/// Compares every object's schema with the first object's (the earliest month): under `drift:`, a column
/// added later or a number widened is accepted when allowed; a column dropped or renamed, or any other
/// change of type, is an error naming the column, the object and the month.
pub(super) async fn drift(
    engine: &Engine,
    input: &Input,
    objects: &[ObjectInfo],
) -> Result<(), EngineError> {
    let Some(rules) = input.rules.drift else {
        return Ok(());
    };
    let mut sorted: Vec<&ObjectInfo> = objects.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut first: Option<(&ObjectInfo, Arc<Schema>)> = None;
    for o in sorted {
        let err = |message: String| EngineError::Contract {
            input: input.name.clone(),
            object: o.path.clone(),
            message,
        };
        if o.size == 0 {
            // Named by the contract check that follows.
            continue;
        }
        let store = engine.store.object_store();
        let meta = store
            .head(&engine.store.path(&o.path)?)
            .await
            .map_err(|e| err(format!("cannot be read: {e}")))?;
        let Ok(schema) = ParquetFormat::default()
            .infer_schema(&engine.ctx.state(), &store, &[meta])
            .await
        else {
            // Not Parquet: the contract check names it.
            continue;
        };
        let Some((base, base_schema)) = &first else {
            first = Some((o, schema));
            continue;
        };
        let month = |p: &str| {
            month_of(p)
                .map(|m| format!("month {m}"))
                .unwrap_or_else(|| "the object".into())
        };
        let (now, then) = (month(&o.path), month(&base.path));
        let added: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| base_schema.field_with_name(f.name()).is_err())
            .map(|f| f.name().as_str())
            .collect();
        for f in base_schema.fields() {
            match schema.field_with_name(f.name()) {
                Err(_) => {
                    let hint = if added.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (new column(s) in its place: {})",
                            added
                                .iter()
                                .map(|a| format!("`{a}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    return Err(err(format!(
                        "column `{}` was dropped or renamed in {now}: it is in {then} (`{}`) but not here{hint}",
                        f.name(),
                        base.path
                    )));
                }
                Ok(g) if !same_type(f.data_type(), g.data_type()) => {
                    if !(rules.allow_widening && widens(f.data_type(), g.data_type())) {
                        return Err(err(format!(
                            "column `{}` changed type in {now}: {} in {then} (`{}`), {} here{}",
                            f.name(),
                            f.data_type(),
                            base.path,
                            g.data_type(),
                            if widens(f.data_type(), g.data_type()) {
                                " (a widening: allow it with `drift: { allow_widening: true }`)"
                            } else {
                                ""
                            }
                        )));
                    }
                }
                Ok(_) => {}
            }
        }
        if !added.is_empty() && !rules.allow_added_columns {
            return Err(err(format!(
                "column(s) {} appear in {now} but not in {then} (`{}`); allow them with `drift: {{ allow_added_columns: true }}`",
                added
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                base.path
            )));
        }
    }
    Ok(())
}

fn same_type(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    a == b || (text(a) && text(b))
}

/// Whether `to` holds every value of `from` (a number widened).
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int_rank = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        _ => None,
    };
    let float_rank = |t: &DataType| match t {
        Float16 => Some(1),
        Float32 => Some(2),
        Float64 => Some(3),
        _ => None,
    };
    match (
        int_rank(from),
        int_rank(to),
        float_rank(from),
        float_rank(to),
    ) {
        (Some(a), Some(b), _, _) => a < b,
        (_, _, Some(a), Some(b)) => a < b,
        (Some(_), None, None, Some(3)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_one_way() {
        assert!(widens(&DataType::Int32, &DataType::Int64));
        assert!(!widens(&DataType::Int64, &DataType::Int32));
        assert!(widens(&DataType::Int32, &DataType::Float64));
        assert!(!widens(&DataType::Utf8, &DataType::Int64));
        assert_eq!(
            month_of("inputs/x/month=2022-04/part-0.parquet"),
            Some("2022-04")
        );
    }
}
