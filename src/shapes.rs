//! What `validate` learns of a plan's tables without data, and the check it makes with it: every report
//! template rendered once against the columns its tables will have.
//!
//! The columns of each SQL step come from planning its statement (DataFusion's logical plan, which reads
//! no data) against empty tables of the inputs' declared `columns:`, the seeds as they are, the run's
//! `run_files` tables and the steps before it. A report's template is then rendered by
//! `render::check_names` with one synthetic row per step's table and the seeds' own rows, so a misspelled
//! column or table is an error at its template line before any run. A step whose SQL does not plan here (the run reports that) leaves the
//! reports that use it unchecked rather than wrongly accused.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::json;

use crate::diagnostic::Diagnostic;
use crate::engine::{Engine, MONTH_COLUMN, contract_schema};
use crate::params::RunParams;
use crate::plan::{PREVIOUS_PREFIX, Parameter, Plan, RUN_TABLES, StepKind};
use crate::render::{Shape, SyntheticKind, TableValue};
use crate::world::{Project, World};

/// The period a template is rendered for at validate time, when the plan has a period parameter: a
/// month, which every period parameter accepts unless it allows quarters or years only (then the
/// others are tried).
const PERIODS: [&str; 3] = ["2024-04", "2024-25 Q1", "2024-25"];

/// Renders every report template of `plan` against the columns its tables will have, and returns each
/// wrong name met (at most one per report: a render stops at its first error).
pub async fn check_reports(world: &World, plan: &Plan) -> Vec<Diagnostic> {
    let Some(params) = synthetic_params(plan) else {
        tracing::debug!(
            pipeline = plan.name,
            "validate: no parameters bind without a value"
        );
        return Vec::new();
    };
    let (shapes, seeds) = match step_shapes(world, plan, &params).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(
                pipeline = plan.name,
                error = e,
                "validate: tables not planned"
            );
            return Vec::new();
        }
    };
    let mut out = disclosure_columns(plan, &shapes);
    out.extend(unit_columns(plan, &shapes));
    let context = crate::execute::report_context(
        plan,
        &params,
        json!({ "id": "validate", "fingerprint": "validate" }),
        json!({}),
        crate::engine::Findings::default().to_json(),
    );
    let month = params
        .period()
        .months()
        .last()
        .map(|m| m.to_string())
        .unwrap_or_default();
    // A project of its own, so that what validation reads is not counted among the files a run read.
    let project = Arc::new(Project::new(world.project.root()));
    let mut checked = BTreeSet::new();
    for step in &plan.steps {
        let StepKind::Report {
            template,
            title,
            uses,
            each,
        } = &step.kind
        else {
            continue;
        };
        let Some(tables) = uses
            .iter()
            .map(|u| {
                let table = match (seeds.get(u), shapes.get(u)) {
                    // A seed's own rows: a template looks its rows up by value (`selectattr("id", "eq",
                    // "ae_4h")`), which a synthetic row would not match.
                    (Some(rows), Some(shape)) => {
                        let columns: Vec<String> = shape.iter().map(|(c, _)| c.clone()).collect();
                        crate::render::table_value(u, rows, Some(&columns), None)
                    }
                    (None, Some(shape)) => crate::render::synthetic_table(u, shape, &month),
                    _ => return None,
                };
                Some((u.clone(), table))
            })
            .collect::<Option<BTreeMap<String, TableValue>>>()
        else {
            continue;
        };
        let mut context = context.clone();
        context["title"] = json!(title);
        if let Some(each) = each {
            context["each"] = json!({"column": each.column, "value": "x"});
        }
        if let Some(d) = crate::render::check_names(project.clone(), template, &context, tables)
            && checked.insert(d.to_string())
        {
            out.push(d);
        }
    }
    out
}

/// Parameters bound with their defaults, and a period from `PERIODS` for a period parameter; `None`
/// when a parameter has neither.
fn synthetic_params(plan: &Plan) -> Option<RunParams> {
    let period: Option<&Parameter> = plan.period_parameter();
    let Some(period) = period else {
        return RunParams::bind(plan, &BTreeMap::new()).ok();
    };
    PERIODS.iter().find_map(|value| {
        let given = BTreeMap::from([(period.name.clone(), value.to_string())]);
        RunParams::bind(plan, &given).ok()
    })
}

/// The columns of every table a report can use: seeds and SQL steps, in plan order (each planned against
/// the tables before it); and the seeds' rows, with the source each row of a run carries.
/// Each column the disclosure declaration names (`public`, `counts`) that its step's table will not
/// have: a misspelled exemption would leave its column under the rule, and a misspelled count would leave
/// a count printed as it is.
fn disclosure_columns(plan: &Plan, shapes: &BTreeMap<String, Shape>) -> Vec<Diagnostic> {
    let d = &plan.disclosure;
    let named = d
        .public
        .iter()
        .flat_map(|(t, cols)| cols.keys().map(move |c| ("public", t, c)))
        .chain(
            d.counts
                .iter()
                .flat_map(|(t, cols)| cols.iter().map(move |c| ("counts", t, c))),
        );
    let mut out = Vec::new();
    for (key, table, column) in named {
        let Some(shape) = shapes.get(table) else {
            continue;
        };
        if !shape.iter().any(|(c, _)| c == column) {
            let mut columns: Vec<&str> = shape.iter().map(|(c, _)| c.as_str()).collect();
            columns.sort_unstable();
            out.push(Diagnostic::in_file(
                &plan.file,
                format!(
                    "disclosure: `{key}` names column `{column}` of `{table}`, which has no such \
                     column; its columns are {}",
                    columns.join(", ")
                ),
            ));
        }
    }
    out
}

/// Each column a step's `units:` names (or takes each row's unit from) that its table will not have: a
/// misspelled column would leave its figures printed as plain numbers by `diff` and `verify`.
fn unit_columns(plan: &Plan, shapes: &BTreeMap<String, Shape>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &plan.steps {
        let Some(shape) = shapes.get(&step.id) else {
            continue;
        };
        let has = |c: &str| shape.iter().any(|(name, _)| name == c);
        for (column, unit) in &step.units {
            let mut missing = Vec::new();
            if !has(column) {
                missing.push(column.as_str());
            }
            if let crate::units::ColumnUnit::FromColumn(from) = unit
                && !has(from)
            {
                missing.push(from.as_str());
            }
            for m in missing {
                let mut columns: Vec<&str> = shape.iter().map(|(c, _)| c.as_str()).collect();
                columns.sort_unstable();
                out.push(Diagnostic::in_file(
                    &plan.file,
                    format!(
                        "step `{}`: units: names column `{m}`, which its table has not; its columns are {}",
                        step.id,
                        columns.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

async fn step_shapes(
    world: &World,
    plan: &Plan,
    params: &RunParams,
) -> Result<(BTreeMap<String, Shape>, BTreeMap<String, serde_json::Value>), String> {
    let engine = Engine::new(&world.config, &world.store).map_err(|e| e.to_string())?;
    for input in &plan.inputs {
        let mut fields: Vec<Field> = contract_schema(input)
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        if input.partitioned_by_month {
            fields.push(Field::new(MONTH_COLUMN, DataType::Utf8, false));
        }
        register_empty(&engine, &input.name, Arc::new(Schema::new(fields)))?;
    }
    // The run's own tables of the files it read (`execute::register_run_tables`): five text columns.
    let run_files: SchemaRef = Arc::new(Schema::new(
        ["kind", "name", "path", "fingerprint", "run_id"]
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    for name in RUN_TABLES {
        register_empty(&engine, name, run_files.clone())?;
    }
    let mut shapes = BTreeMap::new();
    let mut seeds = BTreeMap::new();
    for seed in &plan.seeds {
        // A seed that cannot be read is reported by the seed check; its reports go unchecked.
        if crate::execute::register_seed(world, &engine, seed)
            .await
            .is_ok()
            && let Some(schema) = engine.table_schema(&seed.name).await
        {
            shapes.insert(seed.name.clone(), shape(&schema));
            if let Ok(rows) = engine.table_json(&seed.name).await {
                let source = json!(format!("seed:{}", seed.name));
                let rows = rows
                    .into_iter()
                    .map(|mut r| {
                        r.insert("_source".into(), source.clone());
                        serde_json::Value::Object(r)
                    })
                    .collect();
                seeds.insert(seed.name.clone(), serde_json::Value::Array(rows));
            }
        }
    }
    let sql_params = params.sql_values();
    for step in &plan.steps {
        let StepKind::Sql { sql, .. } = &step.kind else {
            continue;
        };
        let schema = match engine.dataframe(sql, &sql_params).await {
            Ok(df) => Arc::new(df.schema().as_arrow().clone()),
            Err(e) => {
                tracing::debug!(step = step.id, error = %e, "validate: the step's SQL does not plan");
                continue;
            }
        };
        register_empty(&engine, &step.id, schema.clone())?;
        if plan.previous.contains(&step.id) {
            register_empty(
                &engine,
                &format!("{PREVIOUS_PREFIX}{}", step.id),
                schema.clone(),
            )?;
        }
        shapes.insert(step.id.clone(), shape(&schema));
    }
    Ok((shapes, seeds))
}

fn register_empty(engine: &Engine, name: &str, schema: SchemaRef) -> Result<(), String> {
    let batch = datafusion::arrow::record_batch::RecordBatch::new_empty(schema);
    engine
        .register_batch(name, batch)
        .map(|_| ())
        .map_err(|e| format!("`{name}`: {e}"))
}

/// A table's columns as the synthetic row fills them.
fn shape(schema: &Schema) -> Shape {
    schema
        .fields()
        .iter()
        .map(|f| {
            let kind = match f.data_type() {
                t if t.is_numeric() => SyntheticKind::Number,
                DataType::Boolean => SyntheticKind::Boolean,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
                    SyntheticKind::Date
                }
                _ => SyntheticKind::Text,
            };
            (f.name().clone(), kind)
        })
        .collect()
}
