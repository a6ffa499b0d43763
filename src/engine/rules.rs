//! The row rules of an input's contract, checked before any SQL step runs: no nulls in a column declared
//! `nullable: false`, no two rows with the same key (the declared `key: true` columns, plus the month for
//! partitioned inputs), values within `allowed:` / `min:` / `max:`, codes found in a reference
//! (`in_reference:`), and rules over several columns (`rules:`, a boolean SQL expression parsed by the
//! engine over the input's schema). A rule saying `on_fail: quarantine` sets its offending rows aside
//! (written under the run's prefix, left out of what steps read) instead of failing the run.
//!
//! Each rule is a query the engine runs over the registered input, aggregated so that a clean input costs
//! one scan for the value rules and one grouping for the key; rows are fetched into Rust only when a rule
//! fails, and then only a few examples. Values from the contract reach the plan as literals built with the
//! DataFrame API, never as SQL text. Owns nothing else: the schema checks stay in `engine`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, cast, ident, lit, when};
use datafusion::prelude::DataFrame;
use serde_json::{Map, Value as Json};

use super::{Engine, EngineError, MONTH_COLUMN, batches_to_json, contract_schema_with};
use crate::contract::OnFail;
use crate::period::Month;
use crate::plan::{ColumnType, Input, PartitionMonth};
use crate::store::ObjectInfo;

/// How many offending rows an error shows.
const EXAMPLES: usize = 3;
/// How many objects an error names before saying how many more.
const OBJECTS_NAMED: usize = 5;

/// A rule on one column's values: `offends` is true for a row that breaks it.
struct ValueRule {
    column: String,
    offends: Expr,
    /// What an offending row is, after the count: "have a null `x` …".
    says: String,
    /// The rule's name in the run record: `nullable`, `allowed`, `min`, `max`, `in_reference` or the name of
    /// a row rule.
    rule: String,
    on_fail: OnFail,
    /// Columns an example shows besides the key (a row rule's columns).
    shows: Vec<String>,
}

/// An input's rules, ready to run: those whose rows are quarantined and those that fail the run.
pub(super) struct Prepared {
    quarantine: Vec<ValueRule>,
    error: Vec<ValueRule>,
}

impl Prepared {
    /// The filter keeping the rows no quarantine rule sets aside (a rule evaluating to null keeps the row,
    /// as a SQL `CHECK` would).
    pub(super) fn keep(&self) -> Result<Option<Expr>, EngineError> {
        let mut any: Option<Expr> = None;
        for r in &self.quarantine {
            let hit = r.offends.clone().is_true();
            any = Some(match any {
                Some(a) => a.or(hit),
                None => hit,
            });
        }
        Ok(any.map(|a| !a))
    }
}

/// Builds an input's value and row rules (reading its references' codes from the tables registered first).
pub(super) async fn prepare(engine: &Engine, input: &Input) -> Result<Prepared, EngineError> {
    let mut rules = value_rules(input)?;
    for c in &input.columns {
        let Some(r) = &c.in_reference else { continue };
        let codes = engine.reference_values(r).await?;
        let value = cast(ident(c.name.as_str()), DataType::Utf8);
        let offends = if codes.is_empty() {
            value.is_not_null()
        } else {
            value.in_list(codes.iter().map(|v| lit(v.as_str())).collect(), true)
        };
        rules.push(ValueRule {
            column: c.name.clone(),
            offends,
            says: format!("a `{}` not found in {}", c.name, r.describe()),
            rule: "in_reference".into(),
            on_fail: c.on_fail,
            shows: Vec::new(),
        });
    }
    for r in &input.rules.rows {
        let expr = row_expr(&engine.ctx, input, &r.expr)?;
        let mut shows: Vec<String> = expr.column_refs().iter().map(|c| c.name.clone()).collect();
        shows.sort();
        shows.dedup();
        rules.push(ValueRule {
            column: shows.join(", "),
            // A rule is broken where it is false; null (a missing value) is for `nullable` to judge.
            offends: expr.is_false(),
            says: format!("`{}` false (rule `{}`)", r.expr, r.name),
            rule: r.name.clone(),
            on_fail: r.on_fail,
            shows,
        });
    }
    if quarantines_key(input) {
        let key = key_columns(input);
        rules.push(ValueRule {
            column: key.join(", "),
            // Marked by `mark_repeated_keys`: every row of a key held more than once.
            offends: ident(KEY_ROWS).is_not_null(),
            says: format!("a key ({}) held by more than one row", grain_text(input)),
            rule: "key".into(),
            on_fail: OnFail::Quarantine,
            shows: Vec::new(),
        });
    }
    let (quarantine, error) = rules
        .into_iter()
        .partition(|r| r.on_fail == OnFail::Quarantine);
    Ok(Prepared { quarantine, error })
}

/// The column `mark_repeated_keys` adds: how many rows hold the row's key, null when only this one does.
pub(super) const KEY_ROWS: &str = "__key_rows";

/// Whether the input's contract sets the rows of a repeated key aside (`on_fail: quarantine` on its key
/// columns) rather than failing the run.
pub(super) fn quarantines_key(input: &Input) -> bool {
    input.rules.key_on_fail == OnFail::Quarantine && input.columns.iter().any(|c| c.key)
}

fn key_columns(input: &Input) -> Vec<&str> {
    input
        .columns
        .iter()
        .filter(|c| c.key)
        .map(|c| c.name.as_str())
        .collect()
}

/// The key as an error or record names it: `month, visit_id` for a partitioned input.
fn grain_text(input: &Input) -> String {
    let key = key_columns(input).join(", ");
    if input.partitioned_by_month {
        format!("{MONTH_COLUMN}, {key}")
    } else {
        key
    }
}

/// The key's columns (the month first, for a partitioned input).
fn grain(input: &Input) -> Vec<Expr> {
    let mut grain: Vec<Expr> = Vec::new();
    if input.partitioned_by_month {
        grain.push(ident(MONTH_COLUMN));
    }
    grain.extend(key_columns(input).into_iter().map(ident));
    grain
}

/// The table with the column `__key_rows` (`KEY_ROWS`) when the input quarantines repeated keys: one
/// grouping finds the keys held more than once, joined back to mark each of their rows (null elsewhere; a
/// null in a key column matches a null, as the grouping counts it). Unchanged otherwise.
pub(super) fn mark_repeated_keys(
    input: &Input,
    table: DataFrame,
) -> Result<DataFrame, EngineError> {
    if !quarantines_key(input) {
        return Ok(table);
    }
    let grain = grain(input);
    let names = names(&grain);
    let right: Vec<String> = (0..names.len()).map(|i| format!("__key_{i}")).collect();
    let mut select: Vec<Expr> = grain
        .iter()
        .zip(&right)
        .map(|(g, r)| g.clone().alias(r.as_str()))
        .collect();
    select.push(ident(KEY_ROWS));
    let repeated = table
        .clone()
        .aggregate(grain, vec![count(lit(1i64)).alias(KEY_ROWS)])?
        .filter(ident(KEY_ROWS).gt(lit(1i64)))?
        .select(select)?;
    let on: Vec<Expr> = names
        .iter()
        .zip(&right)
        .map(|(l, r)| {
            Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
                Box::new(ident(l.as_str())),
                datafusion::logical_expr::Operator::IsNotDistinctFrom,
                Box::new(ident(r.as_str())),
            ))
        })
        .collect();
    let joined = table.join_on(repeated, datafusion::common::JoinType::Left, on)?;
    let drop: Vec<&str> = right.iter().map(String::as_str).collect();
    Ok(joined.drop_columns(drop.as_slice())?)
}

/// A row rule's expression, parsed over the input's columns (and `month` for a partitioned input); it must
/// be boolean. The expression is configuration, never data.
pub(super) fn row_expr(
    ctx: &datafusion::prelude::SessionContext,
    input: &Input,
    text: &str,
) -> Result<Expr, EngineError> {
    let mut fields: Vec<datafusion::arrow::datatypes::Field> = contract_schema_with(input, true)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if input.partitioned_by_month {
        fields.push(datafusion::arrow::datatypes::Field::new(
            MONTH_COLUMN,
            DataType::Utf8,
            true,
        ));
    }
    let schema =
        datafusion::common::DFSchema::try_from(datafusion::arrow::datatypes::Schema::new(fields))?;
    let expr = ctx.parse_sql_expr(text, &schema)?;
    use datafusion::logical_expr::ExprSchemable;
    let kind = expr.get_type(&schema)?;
    if kind != DataType::Boolean {
        return Err(EngineError::DataFusion(
            datafusion::error::DataFusionError::Plan(format!(
                "the expression is {kind}, not boolean"
            )),
        ));
    }
    Ok(expr)
}

/// Checks the registered table `input.name` against the input's row rules.
pub(super) async fn check(
    engine: &Engine,
    input: &Input,
    months: &[Month],
    objects: &[ObjectInfo],
    prepared: &Prepared,
) -> Result<(), EngineError> {
    if objects.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let table = read(engine, input, &format!("{}/", input.location), Some(months))?;
    let table = mark_repeated_keys(input, table)?;
    let checked = async {
        let kept = match prepared.keep()? {
            Some(keep) => {
                quarantine(engine, input, table.clone(), &prepared.quarantine).await?;
                table.filter(keep)?
            }
            None => table,
        };
        if !prepared.error.is_empty() {
            check_values(engine, input, kept.clone(), objects, &prepared.error).await?;
        }
        check_key(input, kept.clone(), months, objects).await?;
        super::quality::completeness(engine, input, kept, objects).await
    };
    match checked.await {
        Ok(()) => {}
        // A scan that fails (a corrupt page behind a readable footer) does not say which object it was
        // reading: read each one on its own to name it.
        Err(EngineError::DataFusion(e)) => {
            return Err(unreadable_object(engine, input, objects)
                .await
                .unwrap_or(EngineError::DataFusion(e)));
        }
        Err(e) => return Err(e),
    }
    tracing::info!(
        input = %input.name,
        objects = objects.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "contract rules checked"
    );
    Ok(())
}

fn value_rules(input: &Input) -> Result<Vec<ValueRule>, EngineError> {
    let mut rules = Vec::new();
    for c in &input.columns {
        let column = || ident(c.name.as_str());
        if !c.nullable {
            rules.push(ValueRule {
                column: c.name.clone(),
                offends: column().is_null(),
                says: format!("a null `{}` (the contract says `nullable: false`)", c.name),
                rule: "nullable".into(),
                on_fail: c.on_fail,
                shows: Vec::new(),
            });
        }
        if !c.allowed.is_empty() {
            let mut values = Vec::with_capacity(c.allowed.len());
            for a in &c.allowed {
                values.push(match c.kind {
                    ColumnType::Integer => {
                        lit(a.parse::<i64>().map_err(|_| EngineError::Contract {
                            input: input.name.clone(),
                            object: input.location.clone(),
                            message: format!(
                                "column `{}`: allowed value `{a}` is not a whole number",
                                c.name
                            ),
                        })?)
                    }
                    _ => lit(a.as_str()),
                });
            }
            rules.push(ValueRule {
                column: c.name.clone(),
                offends: column().in_list(values, true),
                says: format!(
                    "a `{}` not among the allowed values ({})",
                    c.name,
                    c.allowed.join(", ")
                ),
                rule: "allowed".into(),
                on_fail: c.on_fail,
                shows: Vec::new(),
            });
        }
        if let Some(min) = c.min {
            rules.push(ValueRule {
                column: c.name.clone(),
                offends: cast(column(), DataType::Float64).lt(lit(min)),
                says: format!("a `{}` below the minimum {min}", c.name),
                rule: "min".into(),
                on_fail: c.on_fail,
                shows: Vec::new(),
            });
        }
        if let Some(pm) = c.partition_month {
            // The value's month as `YYYY-MM`, compared with the partition's (text of the same shape, so
            // the order of the text is the order of the months).
            let value_month = datafusion::functions::expr_fn::to_char(
                cast(column(), DataType::Date32),
                lit("%Y-%m"),
            );
            let (offends, says) = match pm {
                PartitionMonth::Within => (
                    value_month.not_eq(ident(MONTH_COLUMN)),
                    format!("a `{}` outside its partition's month", c.name),
                ),
                PartitionMonth::ByEnd => (
                    value_month.gt(ident(MONTH_COLUMN)),
                    format!("a `{}` after its partition month's end", c.name),
                ),
            };
            rules.push(ValueRule {
                column: c.name.clone(),
                offends,
                says,
                rule: "partition_month".into(),
                on_fail: c.on_fail,
                shows: vec![c.name.clone(), MONTH_COLUMN.to_string()],
            });
        }
        if let Some(max) = c.max {
            rules.push(ValueRule {
                column: c.name.clone(),
                offends: cast(column(), DataType::Float64).gt(lit(max)),
                says: format!("a `{}` above the maximum {max}", c.name),
                rule: "max".into(),
                on_fail: c.on_fail,
                shows: Vec::new(),
            });
        }
    }
    Ok(rules)
}

/// Reads every page of a plan's result, keeping none of it.
async fn read_through(df: DataFrame) -> datafusion::error::Result<()> {
    use futures::StreamExt;
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        batch?;
    }
    Ok(())
}

/// The first object that cannot be read in full, as an error naming it.
async fn unreadable_object(
    engine: &Engine,
    input: &Input,
    objects: &[ObjectInfo],
) -> Option<EngineError> {
    for o in objects {
        // Read through, not kept: an object can be large.
        let whole = match read(engine, input, &o.path, None) {
            Ok(df) => read_through(df).await,
            Err(_) => continue,
        };
        if let Err(e) = whole {
            return Some(EngineError::Contract {
                input: input.name.clone(),
                object: o.path.clone(),
                message: format!(
                    "not a readable Parquet file (its pages cannot be read in full): {}",
                    e.strip_backtrace()
                ),
            });
        }
    }
    None
}

/// The input (a prefix, with its months) or one of its objects, read with every column nullable.
fn read(
    engine: &Engine,
    input: &Input,
    rel: &str,
    months: Option<&[Month]>,
) -> Result<DataFrame, EngineError> {
    let url = ListingTableUrl::parse(engine.store.url(rel)?.as_str())?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let partitioned = input.partitioned_by_month && months.is_some();
    if partitioned {
        options =
            options.with_table_partition_cols(vec![(MONTH_COLUMN.to_string(), DataType::Utf8)]);
    }
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(contract_schema_with(input, true));
    let df = engine
        .ctx
        .read_table(Arc::new(ListingTable::try_new(config)?))?;
    Ok(match months {
        Some(months) if partitioned => {
            let wanted = months.iter().map(|m| lit(m.to_string())).collect();
            df.filter(ident(MONTH_COLUMN).in_list(wanted, false))?
        }
        _ => df,
    })
}

/// One scan counts the offending rows of every value rule; only a failing rule is looked at again.
async fn check_values(
    engine: &Engine,
    input: &Input,
    table: DataFrame,
    objects: &[ObjectInfo],
    rules: &[ValueRule],
) -> Result<(), EngineError> {
    let counts = offending_counts(&table, rules).await?;
    let mut failures = Vec::new();
    let mut failing = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let n = counts[i];
        if n == 0 {
            continue;
        }
        let offending = table.clone().filter(r.offends.clone())?;
        let mut shown: Vec<Expr> = Vec::new();
        if input.partitioned_by_month {
            shown.push(ident(MONTH_COLUMN));
        }
        shown.extend(
            input
                .columns
                .iter()
                .filter(|c| c.key)
                .map(|c| ident(c.name.as_str())),
        );
        if r.shows.is_empty() {
            if !input.columns.iter().any(|c| c.key && c.name == r.column) {
                shown.push(ident(r.column.as_str()));
            }
        } else {
            for c in &r.shows {
                if !input.columns.iter().any(|k| k.key && &k.name == c) && c != MONTH_COLUMN {
                    shown.push(ident(c.as_str()));
                }
            }
        }
        let order = names(&shown);
        let sort = shown.iter().map(|e| e.clone().sort(true, true)).collect();
        let examples = rows(
            offending
                .clone()
                .select(shown)?
                .sort(sort)?
                .limit(0, Some(EXAMPLES))?,
        )
        .await?;
        let months = offending_months(input, offending).await?;
        failing.extend(objects_holding(engine, input, objects, &months, &r.offends).await?);
        failures.push(format!(
            "{n} row(s) have {}; e.g. {}",
            r.says,
            describe(&examples, &order)
        ));
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(EngineError::Rows {
        input: input.name.clone(),
        objects: name_objects(&failing),
        message: failures.join("; and "),
    })
}

/// Writes the rows any quarantine rule sets aside to `<quarantine prefix>/<input>.parquet`, with a column
/// `quarantine_rules` naming the rules each breaks, and records how many rows each rule set aside.
async fn quarantine(
    engine: &Engine,
    input: &Input,
    table: DataFrame,
    rules: &[ValueRule],
) -> Result<(), EngineError> {
    let n = offending_counts(&table, rules).await?;
    if n.iter().all(|n| *n == 0) {
        return Ok(());
    }
    let mut any: Option<Expr> = None;
    let mut names = Vec::new();
    for r in rules {
        let hit = r.offends.clone().is_true();
        names.push(when(hit.clone(), lit(format!("{} ({})", r.rule, r.column))).end()?);
        any = Some(match any {
            Some(a) => a.or(hit),
            None => hit,
        });
    }
    let set_aside = table
        .filter(any.expect("at least one rule"))?
        .with_column(
            "quarantine_rules",
            datafusion::functions::string::expr_fn::concat_ws(lit("; "), names),
        )?
        .drop_columns(&[KEY_ROWS])?;
    // Written through the engine's own writer (deterministic order, hashed), from a view of the run's own.
    let view = format!("__quarantine_{}", input.name);
    let path = engine.quarantine_path(&input.name);
    engine
        .ctx
        .register_table(view.as_str(), set_aside.into_view())?;
    let written = engine
        .materialise(&format!("SELECT * FROM \"{view}\""), &[], &path)
        .await;
    engine.ctx.deregister_table(view.as_str())?;
    let written = written?;
    let records = rules
        .iter()
        .zip(&n)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| crate::record::QuarantineRecord {
            input: input.name.clone(),
            rule: r.rule.clone(),
            column: r.column.clone(),
            rows: *n as u64,
            path: written.path.clone(),
            sha256: written.sha256.clone(),
        })
        .collect::<Vec<_>>();
    for r in &records {
        tracing::warn!(input = %r.input, rule = %r.rule, rows = r.rows, path = %r.path, "rows quarantined");
    }
    engine.record_quarantine(records);
    Ok(())
}

/// Of the objects in the offending months, those holding an offending row: each is read on its own, which
/// is paid only when a rule has failed.
async fn objects_holding<'a>(
    engine: &Engine,
    input: &Input,
    objects: &'a [ObjectInfo],
    months: &[String],
    offends: &Expr,
) -> Result<Vec<&'a ObjectInfo>, EngineError> {
    let candidates = in_months(input, objects, months);
    if candidates.len() <= 1 {
        return Ok(candidates);
    }
    let mut holding = Vec::new();
    for o in candidates {
        let one = read(engine, input, &o.path, None)?;
        let hit = rows(one.filter(offends.clone())?.limit(0, Some(1))?).await?;
        if !hit.is_empty() {
            holding.push(o);
        }
    }
    Ok(holding)
}

/// Rows sharing a key: one grouping counts the keys held more than once and the rows holding them.
/// The month is part of a partitioned input's key, so a key can only repeat within a month: such an input
/// is grouped a month at a time, and the grouping's hash table holds one month's keys rather than the
/// whole history's (at regional scale, tens of millions of appointment ids).
async fn check_key(
    input: &Input,
    table: DataFrame,
    months: &[Month],
    objects: &[ObjectInfo],
) -> Result<(), EngineError> {
    let key: Vec<&str> = input
        .columns
        .iter()
        .filter(|c| c.key)
        .map(|c| c.name.as_str())
        .collect();
    if key.is_empty() {
        return Ok(());
    }
    let mut grain: Vec<Expr> = Vec::new();
    if input.partitioned_by_month {
        grain.push(ident(MONTH_COLUMN));
    }
    grain.extend(key.iter().map(|k| ident(*k)));
    let slices = if input.partitioned_by_month {
        let mut months = months.to_vec();
        months.sort();
        months.dedup();
        months
            .iter()
            .map(|m| {
                table
                    .clone()
                    .filter(ident(MONTH_COLUMN).eq(lit(m.to_string())))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![table]
    };
    let (mut keys, mut rows_n) = (0i64, 0i64);
    let mut examples = Vec::new();
    let mut offending = Vec::new();
    let mut order = names(&grain);
    order.push("__rows".into());
    for slice in slices {
        let repeated = slice
            .aggregate(grain.clone(), vec![count(lit(1i64)).alias("__rows")])?
            .filter(ident("__rows").gt(lit(1i64)))?;
        let totals = first_row(repeated.clone().aggregate(
            vec![],
            vec![
                count(lit(1i64)).alias("keys"),
                sum(ident("__rows")).alias("rows"),
            ],
        )?)
        .await?;
        let slice_keys = totals.get("keys").and_then(Json::as_i64).unwrap_or(0);
        if slice_keys == 0 {
            continue;
        }
        keys += slice_keys;
        rows_n += totals.get("rows").and_then(Json::as_i64).unwrap_or(0);
        // Months in order and the key sorted within each: the first examples over all months.
        if examples.len() < EXAMPLES {
            let sort = grain.iter().map(|e| e.clone().sort(true, true)).collect();
            let wanted = EXAMPLES - examples.len();
            examples.extend(rows(repeated.clone().sort(sort)?.limit(0, Some(wanted))?).await?);
        }
        offending.extend(offending_months(input, repeated).await?);
    }
    if keys == 0 {
        return Ok(());
    }
    let grain_text = if input.partitioned_by_month {
        format!("month, {}", key.join(", "))
    } else {
        key.join(", ")
    };
    Err(EngineError::Rows {
        input: input.name.clone(),
        objects: name_objects(&in_months(input, objects, &offending)),
        message: format!(
            "{rows_n} row(s) share a key: {keys} value(s) of the key ({grain_text}) occur more than once \
             (column(s) {}); e.g. {}",
            key.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            describe(&examples, &order).replace("__rows=", "rows=")
        ),
    })
}

/// The months (partitions) holding offending rows, for naming their objects.
async fn offending_months(input: &Input, offending: DataFrame) -> Result<Vec<String>, EngineError> {
    if !input.partitioned_by_month {
        return Ok(Vec::new());
    }
    let found = rows(offending.aggregate(vec![ident(MONTH_COLUMN)], vec![])?).await?;
    Ok(found
        .iter()
        .filter_map(|r| {
            r.get(MONTH_COLUMN)
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .collect())
}

/// "object `a`" or "objects `a`, `b` …": the objects of the offending months (every object of an
/// unpartitioned input).
fn name_objects(objects: &[&ObjectInfo]) -> String {
    let mut named: Vec<&str> = objects.iter().map(|o| o.path.as_str()).collect();
    named.sort();
    named.dedup();
    let more = named.len().saturating_sub(OBJECTS_NAMED);
    let list = named
        .iter()
        .take(OBJECTS_NAMED)
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match (named.len(), more) {
        (1, _) => format!("object {list}"),
        (_, 0) => format!("objects {list}"),
        _ => format!("objects {list} and {more} more"),
    }
}

/// The objects of the given months (every object of an unpartitioned input).
fn in_months<'a>(
    input: &Input,
    objects: &'a [ObjectInfo],
    months: &[String],
) -> Vec<&'a ObjectInfo> {
    objects
        .iter()
        .filter(|o| {
            !input.partitioned_by_month
                || months
                    .iter()
                    .any(|m| o.path.contains(&format!("/{MONTH_COLUMN}={m}/")))
        })
        .collect()
}

fn names(exprs: &[Expr]) -> Vec<String> {
    exprs.iter().map(|e| e.schema_name().to_string()).collect()
}

/// Example rows as `(month="2022-04", id="a1", value=3)`, columns in `order` (then any others).
fn describe(examples: &[Map<String, Json>], order: &[String]) -> String {
    examples
        .iter()
        .map(|r| {
            let mut keys: Vec<&String> = order.iter().filter(|k| r.contains_key(*k)).collect();
            keys.extend(r.keys().filter(|k| !order.contains(k)));
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| (k, &r[k]))
                .map(|(k, v)| match v {
                    Json::String(s) => format!("{k}={s:?}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            format!("({})", fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn rows(df: DataFrame) -> Result<Vec<Map<String, Json>>, EngineError> {
    batches_to_json(&df.collect().await?)
}

async fn first_row(df: DataFrame) -> Result<Map<String, Json>, EngineError> {
    Ok(rows(df).await?.into_iter().next().unwrap_or_default())
}

/// How many rows break each rule, in one scan of the table.
async fn offending_counts(table: &DataFrame, rules: &[ValueRule]) -> Result<Vec<i64>, EngineError> {
    let counts: Vec<Expr> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(
                sum(when(r.offends.clone(), lit(1i64)).otherwise(lit(0i64))?)
                    .alias(format!("r{i}")),
            )
        })
        .collect::<Result<_, datafusion::error::DataFusionError>>()?;
    let row = first_row(table.clone().aggregate(vec![], counts)?).await?;
    Ok((0..rules.len())
        .map(|i| {
            row.get(&format!("r{i}"))
                .and_then(Json::as_i64)
                .unwrap_or(0)
        })
        .collect())
}
