//! The template's view of a report's data: `tables`, each table a list of rows, each row its columns.
//!
//! Owns the guarantee that a template fed a wrong name fails instead of printing nothing: `tables.x` for a
//! table the report does not use, and `row.x` (or `row["x"]`) for a column its table does not have, are
//! errors at the template line that name what there is. A plain minijinja map would give `undefined`,
//! which a filter turns into `N/A` and a chart into a blank plot. Chart and filter helpers look columns up
//! with `cell` and `check_column`, so an argument naming a column (`y="wait_dayz"`) fails the same way.
//!
//! Owns, too, where the disclosure rule meets the template (`crate::disclosure`, "enforced, not opted
//! into"): a table built with a `Guard` hands the template each count the rule suppresses as a
//! `Withheld` value — printed as the rule's token by every filter and by plain `{{ x }}`, a gap in a
//! chart, an error in arithmetic — and each other count as the rule publishes it (rounded, under
//! `nhs-hes`). Only `protect(...)` and SPC's analysis read the count beneath (`raw`), to decide what else
//! to withhold and to compute limits; neither prints it.
//!
//! One gap remains: minijinja's `"x" in row` (and `in tables`) asks whether a lookup gives a value, and
//! the error value these give for a wrong name counts as one; the shipped templates do not test names so.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};
use serde_json::Value as Json;

use crate::disclosure::Guard;

/// Each row carries the step (or seed) it comes from as `_source` (see `execute::report_tables`); it is
/// not one of the table's columns as the pipeline declares them, so errors do not list it.
const SOURCE: &str = "_source";

/// What the rows of one table share: its name and its columns, and the disclosure rule over its counts.
#[derive(Debug)]
struct Columns {
    table: String,
    names: Vec<String>,
    index: HashMap<String, usize>,
    guard: Option<Arc<Guard>>,
}

/// A count the disclosure rule suppresses, as the template sees it: it prints as the rule's token
/// (`<5`), whatever prints it, and refuses arithmetic (minijinja has no operator for it). The count
/// itself is only for the rule's own code (`raw`).
#[derive(Debug)]
pub struct Withheld {
    /// The cell as the table holds it (an integer stays one when `protect` builds a table again).
    raw: Json,
    token: &'static str,
    /// A count the rule suppresses itself (else a value computed from one, `withhold_derived`).
    primary: bool,
    table: String,
    column: String,
}

impl Withheld {
    fn value(raw: &Json, token: &'static str, primary: bool, table: &str, column: &str) -> Value {
        Value::from_object(Withheld {
            raw: raw.clone(),
            token,
            primary,
            table: table.to_string(),
            column: column.to_string(),
        })
    }
}

impl Object for Withheld {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(self.token)
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

thread_local! {
    /// The last suppressed count a template looked up on this thread (table, column), so that an error
    /// its arithmetic provokes can name it (`describe_withheld`).
    static LAST_WITHHELD: std::cell::RefCell<Option<(String, String)>> = const { std::cell::RefCell::new(None) };
}

/// The token a suppressed count prints as, when `v` is one.
pub fn withheld(v: &Value) -> Option<&'static str> {
    v.downcast_object_ref::<Withheld>().map(|w| w.token)
}

/// The number beneath `v`: a suppressed count's own value, for the rule's code (never for printing).
pub fn raw(v: &Value) -> Value {
    match v.downcast_object_ref::<Withheld>() {
        Some(w) => Value::from_serialize(&w.raw),
        None => v.clone(),
    }
}

/// For an error a render met: when it is an operation on unsupported types and a suppressed count was
/// looked up last, what to add to the message (which count, and what to do instead).
pub fn describe_withheld(detail: &str) -> Option<String> {
    if !detail.contains("unsupported types") && !detail.contains("plain object") {
        return None;
    }
    let (table, column) = LAST_WITHHELD.with(|l| l.borrow().clone())?;
    Some(format!(
        "`{column}` of table `{table}` is a count under disclosure control (a count the rule suppresses \
         reaches the template as its token, not as a number): compute what needs it in the step's SQL, \
         or name the column under `disclosure.public` with the reason it is not a count of people or events"
    ))
}

/// The disclosure rule over the table `row` belongs to, when it is a row of one built under a rule.
pub fn guard_of(row: &Value) -> Option<Arc<Guard>> {
    row.downcast_object_ref::<Row>()?.columns.guard.clone()
}

/// A row as JSON with its suppressed counts as they are beneath (for `protect`, which builds a table
/// under the same rule from them again: nothing here is printed). A map a template built is taken as
/// it serializes.
pub fn raw_row(row: &Value) -> Result<serde_json::Map<String, Json>, String> {
    if let Some(r) = row.downcast_object_ref::<Row>() {
        let mut out = serde_json::Map::new();
        for (name, cell) in r.columns.names.iter().zip(&r.cells) {
            let json = match cell.downcast_object_ref::<Withheld>() {
                Some(w) => w.raw.clone(),
                None => serde_json::to_value(cell).map_err(|e| e.to_string())?,
            };
            out.insert(name.clone(), json);
        }
        return Ok(out);
    }
    match serde_json::to_value(row).map_err(|e| e.to_string())? {
        Json::Object(m) => Ok(m),
        _ => Err("rows must be maps".to_string()),
    }
}

/// Forgets the last suppressed count looked up (at the start of a render).
pub fn reset_withheld() {
    LAST_WITHHELD.with(|l| *l.borrow_mut() = None);
}

/// What a cell of `column` holding `v` becomes under `guard`.
fn guarded(table: &str, column: &str, v: &Json, guard: Option<&Guard>) -> Value {
    let Some(guard) = guard.filter(|g| g.is_count(column, v)) else {
        return Value::from_serialize(v);
    };
    let Some(x) = v.as_f64() else {
        return Value::from_serialize(v);
    };
    let count = x.round() as i64;
    if guard.rule.is_small(count) {
        return Withheld::value(v, guard.rule.token(), true, table, column);
    }
    let published = guard.rule.published(count);
    if published == count {
        Value::from_serialize(v)
    } else {
        Value::from(published)
    }
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
            Some(&i) => {
                let v = self.cells.get(i).cloned();
                if let Some(w) = v.as_ref().and_then(|v| v.downcast_object_ref::<Withheld>()) {
                    LAST_WITHHELD
                        .with(|l| *l.borrow_mut() = Some((w.table.clone(), w.column.clone())));
                }
                v
            }
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

/// Withholds (`*`) what else of a row would give a suppressed count of the row away:
/// 1. each number computed from it (`Guard::derived`): the percentage beside a `<5`, a copy of it;
/// 2. while the shown numbers a suppressed count is computed from determine it (`n` and `d` beside a
///    suppressed `d - n`: the atoms of those shown cover its atoms), the smallest of them.
fn withhold_derived(columns: &Columns, guard: &Guard, row: &Json, cells: &mut [Value]) {
    let is_primary = |v: &Value| {
        v.downcast_object_ref::<Withheld>()
            .is_some_and(|w| w.primary)
    };
    let index = |c: &str| columns.index.get(c).copied();
    let withhold = |cells: &mut [Value], i: usize, column: &str, token: &'static str| {
        if let Some(v) = row.get(column).filter(|v| v.is_number()) {
            cells[i] = Withheld::value(v, token, false, &columns.table, column);
        }
    };
    for (column, from) in &guard.derived {
        let Some(i) = index(column) else { continue };
        if guard.public.contains(column) || withheld(&cells[i]).is_some() {
            continue;
        }
        let value = row.get(column).and_then(Json::as_f64);
        let primary: Vec<&Withheld> = from
            .iter()
            .filter_map(|g| index(g))
            .filter_map(|k| cells[k].downcast_object_ref::<Withheld>())
            .filter(|w| w.primary)
            .collect();
        if primary.is_empty() {
            continue;
        }
        // A copy of the count (a count metric's `value`) is the count: it prints as the count does.
        let token = primary
            .iter()
            .find(|w| w.raw.as_f64().is_some() && w.raw.as_f64() == value)
            .map_or("*", |w| w.token);
        withhold(cells, i, column, token);
    }
    for (column, from) in &guard.derived {
        let (Some(i), Some(atoms)) = (index(column), guard.atoms.get(column)) else {
            continue;
        };
        if !is_primary(&cells[i]) {
            continue;
        }
        loop {
            let shown: Vec<(&String, usize)> = from
                .iter()
                .filter_map(|g| index(g).map(|k| (g, k)))
                .filter(|(g, k)| {
                    withheld(&cells[*k]).is_none()
                        && row.get(g.as_str()).is_some_and(Json::is_number)
                })
                .collect();
            let covered: std::collections::BTreeSet<&String> = shown
                .iter()
                .filter_map(|(g, _)| guard.atoms.get(*g))
                .flatten()
                .collect();
            if !atoms.iter().all(|a| covered.contains(a)) {
                break;
            }
            let smallest = shown
                .iter()
                .filter(|(g, _)| !guard.public.contains(*g))
                .min_by(|a, b| {
                    let size =
                        |g: &str| row.get(g).and_then(Json::as_f64).map_or(f64::MAX, f64::abs);
                    size(a.0).total_cmp(&size(b.0)).then_with(|| a.0.cmp(b.0))
                })
                .map(|(g, k)| ((*g).clone(), *k));
            let Some((g, k)) = smallest else { break };
            withhold(cells, k, &g, "*");
        }
    }
}

/// The template's view of table `name` from its rows (a JSON array of objects), with `columns` as its
/// columns when given (what a plan declares, for a table with no rows) and otherwise those of its rows.
/// Under `guard` (a step table in a controlled report), its counts are as the disclosure rule publishes
/// them; without (a seed: reference data), every cell is as it is.
pub fn table(
    name: &str,
    rows: &Json,
    columns: Option<&[String]>,
    guard: Option<Arc<Guard>>,
) -> Value {
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
        guard,
    });
    let guard = columns.guard.as_deref();
    let rows = rows
        .iter()
        .map(|r| {
            let mut cells: Vec<Value> = columns
                .names
                .iter()
                .map(|n| match r.get(n) {
                    Some(v) => guarded(name, n, v, guard),
                    None => Value::from(()),
                })
                .collect();
            if let Some(g) = guard {
                withhold_derived(&columns, g, r, &mut cells);
            }
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

/// Whether `row` has column `column` (a table's row) or key `column` (a map a template built).
pub fn has_column(row: &Value, column: &str) -> bool {
    match row.downcast_object_ref::<Row>() {
        Some(r) => r.columns.index.contains_key(column),
        None => row.get_attr(column).is_ok_and(|v| !v.is_undefined()),
    }
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
    table(
        name,
        &Json::Array(vec![Json::Object(row)]),
        Some(&names),
        None,
    )
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
