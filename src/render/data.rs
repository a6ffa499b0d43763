//! The template's view of a report's data: `tables`, each table a list of rows, each row its columns.
//!
//! Owns the guarantee that a template fed a wrong name fails instead of printing nothing: `tables.x` for a
//! table the report does not use, and `row.x` (or `row["x"]`) for a column its table does not have, are
//! errors at the template line that name what there is. A plain minijinja map would give `undefined`,
//! which a filter turns into `N/A` and a chart into a blank plot. Chart and filter helpers look columns up
//! with `cell` and `check_column`, so an argument naming a column (`y="wait_dayz"`) fails the same way.
//!
//! One gap remains: minijinja's `"x" in row` (and `in tables`) asks whether a lookup gives a value, and
//! the error value these give for a wrong name counts as one; the shipped templates do not test names so.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};
use serde_json::Value as Json;

/// Each row carries the step (or seed) it comes from as `_source` (see `execute::report_tables`); it is
/// not one of the table's columns as the pipeline declares them, so errors do not list it.
const SOURCE: &str = "_source";

/// What the rows of one table share: its name and its columns.
#[derive(Debug)]
struct Columns {
    table: String,
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    fn listed(&self) -> String {
        // In name order, at run time and in `validate` alike: a run's rows reach rendering as JSON objects,
        // which keep no column order, while `validate` knows the plan's.
        let mut names: Vec<&str> = self
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| *n != SOURCE)
            .collect();
        names.sort_unstable();
        if names.is_empty() {
            "it has no columns".to_string()
        } else {
            format!("its columns are {}", names.join(", "))
        }
    }

    fn unknown(&self, what: &str, column: &str) -> Error {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what}table `{}` has no column `{column}`; {}",
                self.table,
                self.listed()
            ),
        )
    }
}

/// A table: its rows, and its name and columns even when it has no rows (so that an empty table can be
/// named in an error, and a chart can say which table gave it nothing).
#[derive(Debug)]
pub struct Table {
    columns: Arc<Columns>,
    rows: Vec<Value>,
}

/// One row of a table: its cells in the order of the table's columns.
#[derive(Debug)]
struct Row {
    columns: Arc<Columns>,
    cells: Vec<Value>,
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match self.columns.index.get(name) {
            Some(&i) => self.cells.get(i).cloned(),
            // An invalid value: the engine raises its error where the template looks the column up.
            None => Some(Value::from(self.columns.unknown("", name))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.columns
                .names
                .iter()
                .map(|n| Value::from(n.as_str()))
                .collect(),
        )
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.columns.names.len())
    }
}

impl Object for Table {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = usize::try_from(key.clone()).ok()?;
        self.rows.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.rows.len())
    }
}

/// The `tables` of a template: the tables the report step uses, by name.
#[derive(Debug)]
struct Tables(BTreeMap<String, Value>);

impl Object for Tables {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        Some(match self.0.get(name) {
            Some(t) => t.clone(),
            None => {
                let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
                Value::from(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "no table `{name}`: the report uses {} (a table reaches a template through the \
                         report step's `uses:`)",
                        if names.is_empty() {
                            "no tables".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ))
            }
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

/// The template's view of table `name` from its rows (a JSON array of objects), with `columns` as its
/// columns when given (what a plan declares, for a table with no rows) and otherwise those of its rows.
pub fn table(name: &str, rows: &Json, columns: Option<&[String]>) -> Value {
    let rows: &[Json] = rows.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut names: Vec<String> = columns.map(<[String]>::to_vec).unwrap_or_default();
    let mut index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    // Rows of one query share their keys; a key the first rows lack is still a column of the table.
    for r in rows {
        for k in r.as_object().into_iter().flat_map(|m| m.keys()) {
            if !index.contains_key(k) {
                index.insert(k.clone(), names.len());
                names.push(k.clone());
            }
        }
    }
    let columns = Arc::new(Columns {
        table: name.to_string(),
        names,
        index,
    });
    let rows = rows
        .iter()
        .map(|r| {
            let cells = columns
                .names
                .iter()
                .map(|n| match r.get(n) {
                    Some(v) => Value::from_serialize(v),
                    None => Value::from(()),
                })
                .collect();
            Value::from_object(Row {
                columns: columns.clone(),
                cells,
            })
        })
        .collect();
    Value::from_object(Table { columns, rows })
}

/// The template's `tables`.
pub fn tables(tables: BTreeMap<String, Value>) -> Value {
    Value::from_object(Tables(tables))
}

/// The name of the table `rows` is (or whose rows it holds), for an error about them.
pub fn table_name(rows: &Value) -> Option<String> {
    if let Some(t) = rows.downcast_object_ref::<Table>() {
        return Some(t.columns.table.clone());
    }
    let first = rows.try_iter().ok()?.next()?;
    first
        .downcast_object_ref::<Row>()
        .map(|r| r.columns.table.clone())
}

/// Column `column` of `row`, as a chart or filter named `what` reads it: an error naming the table's
/// columns when its table has no such column, and an error naming the keys of a map a template built
/// (`{"m": metric, "last": row}`) that has no such key.
pub fn cell(what: &str, row: &Value, column: &str) -> Result<Value, Error> {
    if let Some(r) = row.downcast_object_ref::<Row>() {
        return match r.columns.index.get(column) {
            Some(&i) => Ok(r.cells.get(i).cloned().unwrap_or_default()),
            None => Err(r.columns.unknown(&format!("{what}: "), column)),
        };
    }
    let v = row.get_attr(column)?;
    if v.is_undefined() {
        let keys: Vec<String> = row
            .try_iter()
            .into_iter()
            .flatten()
            .map(|k| k.to_string())
            .collect();
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what}: a row has no column `{column}`; its keys are {}",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ),
        ));
    }
    Ok(v)
}

/// Checks that every row of `rows` that belongs to a table has the column a dotted `path` starts with
/// (`selectattr("month", …)`, `map(attribute="value")`): the built-in filters would see `undefined` and
/// select nothing.
pub fn check_column(what: &str, rows: &Value, path: &str) -> Result<(), Error> {
    let column = path.split('.').next().unwrap_or(path);
    let Ok(iter) = rows.try_iter() else {
        return Ok(());
    };
    for r in iter {
        if let Some(r) = r.downcast_object_ref::<Row>()
            && !r.columns.index.contains_key(column)
        {
            return Err(r.columns.unknown(&format!("{what}: "), column));
        }
    }
    Ok(())
}

/// The rows a chart draws, as a list. Undefined rows are an error; so are no rows, unless the template
/// says the chart may be empty (`allow_empty=true`): an empty chart in a published pack is a mistake
/// (a filter that matched nothing, a step that returned nothing) far more often than it is meant.
pub fn series(what: &str, rows: &Value, allow_empty: bool) -> Result<Vec<Value>, Error> {
    if rows.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("{what}: the rows are undefined"),
        ));
    }
    let list: Vec<Value> = rows
        .try_iter()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{what}: the rows are not a list"),
            )
            .with_source(e)
        })?
        .collect();
    if list.is_empty() && !allow_empty {
        let whose = match table_name(rows) {
            Some(t) => format!("table `{t}` has no rows"),
            None => "no rows to draw (the rows given were filtered to none)".to_string(),
        };
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what}: {whose}; a blank chart is never published: test `{{% if rows %}}` first, or \
                 write `allow_empty=true` where an empty chart is meant"
            ),
        ));
    }
    Ok(list)
}

/// Synthetic tables for `validate`: one row per table, of the declared columns, each cell a value of
/// the column's type, so that a template renders its loops and charts once without data and every name
/// it looks up is checked against what the plan declares. A text column named `month` (or `…_month`)
/// holds `month` (`2024-04`), as a run's do: templates slice and compare months.
pub fn synthetic_table(name: &str, columns: &[(String, SyntheticKind)], month: &str) -> Value {
    let mut row = serde_json::Map::new();
    for (c, kind) in columns {
        row.insert(
            c.clone(),
            match kind {
                SyntheticKind::Number => Json::from(1),
                SyntheticKind::Text if c == "month" || c.ends_with("_month") => Json::from(month),
                SyntheticKind::Text => Json::from("x"),
                SyntheticKind::Date => Json::from(format!("{month}-01")),
                SyntheticKind::Boolean => Json::from(true),
            },
        );
    }
    row.insert(SOURCE.into(), Json::from(name));
    let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
    table(name, &Json::Array(vec![Json::Object(row)]), Some(&names))
}

/// The kinds of synthetic value `synthetic_table` fills a column with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticKind {
    Number,
    Text,
    Date,
    Boolean,
}

/// Whether `e` (or the error it carries) is one of the wrong-name errors of this module, which
/// `validate` reports; a synthetic render stops at other errors without reporting them (one synthetic
/// row cannot satisfy every condition a template tests).
pub fn is_wrong_name(e: &Error) -> bool {
    let detail = e.detail().unwrap_or("");
    detail.contains("has no column `")
        || detail.starts_with("no table `")
        || detail.contains("a row has no column `")
}
