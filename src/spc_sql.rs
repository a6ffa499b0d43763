//! Statistical process control as a SQL window function, so that a pipeline's step — not a template —
//! computes every SPC figure and judgement, and a published table holds them for `explain`, `diff` and
//! the reports to read:
//!
//! ```sql
//! spc(series, value, improvement, target [, rebase])
//!     OVER (PARTITION BY metric_id ORDER BY month)
//! ```
//!
//! One row in, one row out: a struct of the point's figures (`mean`, `lower`, `upper`, `point_type`,
//! `rule`, `segment`) and its series' (`variation`, `assurance`, `too_short`), all from
//! [`crate::spc::analyse`] over the partition in the window's order. The window frame is ignored: a
//! point's limits are its whole segment's, so every row sees the whole partition.
//!
//! - `series` names the partition in errors (write the `PARTITION BY` key; any type, read as text).
//! - `value` is the measure. A NULL (a missing month) is left out of the analysis, as a series given
//!   to `crate::spc` has no gaps: its row's point figures are NULL, its series figures are the series'.
//! - `improvement` (`increase`, `decrease`, `neutral`, or NULL for none) and `target` (NULL for none) are
//!   the series' own and must be one value within a partition — columns joined from a seed are fine;
//!   a partition in which either varies is refused, naming the series.
//! - `rebase` (optional) is true on the row from which a new segment (new limits) starts; a rebase on a
//!   NULL value starts the segment at the next point.
//!
//! A series too short for limits, a segment of one point and a series without spread are as
//! `crate::spc` defines them (no limits; a one-point segment's assurance is `hit_and_miss`).
//!
//! Why one function returning a struct rather than one function per figure: the figures of a point are
//! one judgement (its limits decide its type, its segment decides its limits), and one function computes
//! them once and cannot let a table hold a mean of one analysis beside the limits of another. A step
//! unpacks the struct with `s['mean']` (see `sql/board-pack/metric_spc.sql`).
//!
//! Owns the SQL binding only — argument checking, the partition-to-series mapping and the struct — and
//! none of the method, which stays in `crate::spc`, the one implementation the `spc` command and the
//! charts use too.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder, Int64Builder,
    StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, TypeSignature, Volatility, WindowUDF, WindowUDFImpl,
};

use crate::spc::{self, Improvement};

/// The SQL name of the function.
pub const NAME: &str = "spc";

/// The SQL window functions boardpack adds (registered locally and on a Ballista cluster).
pub fn window_functions() -> Vec<WindowUDF> {
    vec![WindowUDF::from(SpcWindow::new())]
}

/// The fields of the struct `spc(...)` returns, in order.
pub fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("mean", DataType::Float64, true),
        Field::new("lower", DataType::Float64, true),
        Field::new("upper", DataType::Float64, true),
        Field::new("point_type", DataType::Utf8, true),
        Field::new("rule", DataType::Utf8, true),
        Field::new("segment", DataType::Int64, true),
        Field::new("variation", DataType::Utf8, true),
        Field::new("assurance", DataType::Utf8, true),
        Field::new("too_short", DataType::Boolean, true),
    ])
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpcWindow {
    signature: Signature,
}

impl SpcWindow {
    fn new() -> Self {
        SpcWindow {
            signature: Signature::one_of(
                vec![TypeSignature::Any(4), TypeSignature::Any(5)],
                Volatility::Immutable,
            ),
        }
    }
}

impl WindowUDFImpl for SpcWindow {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(SpcEvaluator))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        let n = args.input_fields().len();
        if !(4..=5).contains(&n) {
            return Err(DataFusionError::Plan(format!(
                "spc(series, value, improvement, target [, rebase]) takes 4 or 5 arguments, not {n}"
            )));
        }
        Ok(Arc::new(Field::new(
            args.name(),
            DataType::Struct(result_fields()),
            true,
        )))
    }
}

#[derive(Debug)]
struct SpcEvaluator;

fn exec(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

fn as_text(a: &ArrayRef) -> DfResult<StringArray> {
    let c = cast(a, &DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| exec("spc: an argument cannot be read as text".into()))
}

fn as_float(a: &ArrayRef, what: &str) -> DfResult<Float64Array> {
    let c = cast(a, &DataType::Float64)
        .map_err(|e| exec(format!("spc: the {what} argument is not a number: {e}")))?;
    c.as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .ok_or_else(|| exec(format!("spc: the {what} argument is not a number")))
}

fn as_bool(a: &ArrayRef) -> DfResult<BooleanArray> {
    let c = cast(a, &DataType::Boolean).map_err(|e| {
        exec(format!(
            "spc: the rebase argument is not true or false: {e}"
        ))
    })?;
    c.as_any()
        .downcast_ref::<BooleanArray>()
        .cloned()
        .ok_or_else(|| exec("spc: the rebase argument is not true or false".into()))
}

/// The one value of a per-series argument within a partition; an error naming the series when the rows
/// disagree (a NULL and a value disagree too: "no target" for some months is not a target).
fn one_per_series<T: PartialEq + std::fmt::Debug>(
    series: &str,
    what: &str,
    values: impl Iterator<Item = Option<T>>,
    show: impl Fn(&Option<T>) -> String,
) -> DfResult<Option<T>> {
    let mut first: Option<Option<T>> = None;
    for (row, v) in values.enumerate() {
        match &first {
            None => first = Some(v),
            Some(f) if *f != v => {
                return Err(exec(format!(
                    "spc: the {what} of series `{series}` varies within its partition ({} in its first row, {} in row {}): a series has one {what}",
                    show(f),
                    show(&v),
                    row + 1
                )));
            }
            Some(_) => {}
        }
    }
    Ok(first.flatten())
}

fn snake<T: serde::Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

impl PartitionEvaluator for SpcEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> DfResult<ArrayRef> {
        if !(4..=5).contains(&values.len()) {
            return Err(exec(format!(
                "spc(series, value, improvement, target [, rebase]) takes 4 or 5 arguments, not {}",
                values.len()
            )));
        }
        let names = as_text(&values[0])?;
        let series = (0..names.len())
            .find(|&i| !names.is_null(i))
            .map(|i| names.value(i).to_string())
            .unwrap_or_else(|| "(unnamed)".into());
        let value = as_float(&values[1], "value")?;
        let improvement_text = as_text(&values[2])?;
        let target = as_float(&values[3], "target")?;
        let rebase = values.get(4).map(as_bool).transpose()?;

        let quoted = |v: &Option<String>| match v {
            Some(s) => format!("`{s}`"),
            None => "NULL".into(),
        };
        one_per_series(
            &series,
            "name",
            (0..num_rows).map(|i| (!names.is_null(i)).then(|| names.value(i).to_string())),
            quoted,
        )?;
        let improvement = one_per_series(
            &series,
            "improvement direction",
            (0..num_rows).map(|i| {
                (!improvement_text.is_null(i)).then(|| improvement_text.value(i).to_string())
            }),
            quoted,
        )?
        .map(|s| {
            s.parse::<Improvement>()
                .map_err(|e| exec(format!("spc: series `{series}`: {e}")))
        })
        .transpose()?;
        let target = one_per_series(
            &series,
            "target",
            // Compared by their bits: one target is one number, written the same in every row.
            (0..num_rows).map(|i| (!target.is_null(i)).then(|| target.value(i).to_bits())),
            |v| match v {
                Some(b) => f64::from_bits(*b).to_string(),
                None => "NULL".into(),
            },
        )?
        .map(f64::from_bits);

        // The series without its gaps, and where each row's point is in it.
        let mut points = Vec::new();
        let mut at: Vec<Option<usize>> = Vec::with_capacity(num_rows);
        let mut rebase_at = Vec::new();
        let mut rebase_pending = false;
        for i in 0..num_rows {
            if let Some(r) = &rebase {
                rebase_pending |= !r.is_null(i) && r.value(i);
            }
            if value.is_null(i) || !value.value(i).is_finite() {
                at.push(None);
                continue;
            }
            if rebase_pending {
                rebase_at.push(points.len());
                rebase_pending = false;
            }
            at.push(Some(points.len()));
            points.push(value.value(i));
        }
        let analysis = spc::analyse(
            &points,
            &spc::Options {
                improvement,
                target,
                rebase_at,
                ..Default::default()
            },
        );

        let mut mean = Float64Builder::with_capacity(num_rows);
        let mut lower = Float64Builder::with_capacity(num_rows);
        let mut upper = Float64Builder::with_capacity(num_rows);
        let mut point_type = StringBuilder::new();
        let mut rule = StringBuilder::new();
        let mut segment = Int64Builder::with_capacity(num_rows);
        let mut variation = StringBuilder::new();
        let mut assurance = StringBuilder::new();
        let mut too_short = BooleanBuilder::with_capacity(num_rows);
        let series_variation = analysis.variation.as_ref().and_then(snake);
        let series_assurance = analysis.assurance.as_ref().and_then(snake);
        for k in at {
            match k.and_then(|k| analysis.points.get(k)) {
                Some(p) => {
                    mean.append_value(p.mean);
                    lower.append_option(p.lower_limit);
                    upper.append_option(p.upper_limit);
                    point_type.append_option(snake(&p.point_type));
                    rule.append_option(p.rule.as_ref().and_then(snake));
                    segment.append_value(p.segment as i64);
                }
                None => {
                    mean.append_null();
                    lower.append_null();
                    upper.append_null();
                    point_type.append_null();
                    rule.append_null();
                    segment.append_null();
                }
            }
            variation.append_option(series_variation.as_deref());
            assurance.append_option(series_assurance.as_deref());
            too_short.append_value(analysis.too_short);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(mean.finish()),
            Arc::new(lower.finish()),
            Arc::new(upper.finish()),
            Arc::new(point_type.finish()),
            Arc::new(rule.finish()),
            Arc::new(segment.finish()),
            Arc::new(variation.finish()),
            Arc::new(assurance.finish()),
            Arc::new(too_short.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(
            result_fields(),
            columns,
            None,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn query(sql: &str) -> DfResult<Vec<datafusion::arrow::record_batch::RecordBatch>> {
        let ctx = SessionContext::new();
        for f in window_functions() {
            ctx.register_udwf(f);
        }
        ctx.sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn a_varying_direction_names_its_series() {
        let err = query(
            "SELECT spc(s, v, d, NULL) OVER (PARTITION BY s ORDER BY m) FROM (VALUES ('a', 1, 1.0, 'increase'), ('a', 2, 2.0, 'decrease')) t(s, m, v, d)",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("series `a`"), "{err}");
        assert!(err.contains("improvement direction"), "{err}");
    }
}
