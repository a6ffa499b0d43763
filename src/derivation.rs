//! Which columns of a step's table are computed from which others, read off the step's logical plan, so
//! that the disclosure rule can withhold a rate, a difference or a copy of a count with the count it is
//! computed from (`crate::disclosure::Guard::derived`): a percentage beside a `<5` would give it away.
//!
//! Owns that analysis and nothing else: it plans a step's SQL (never executes it) and never decides what
//! is printed. A column's *atoms* are what its value is made of, followed down through renames, filters,
//! joins, sorts and the expressions of projections, and stopping at an aggregate's or a window's result
//! (`SUM(within_4h)`) or at a column of an input. A column is derived from another of its table when the
//! other's atoms are all among its own: `SUM(w) / SUM(a)` from `SUM(w)`, `n * 1.0` from `n`, while
//! `AVG(wait)` and `SUM(CASE WHEN wait > 60 …)` are distinct results and neither derives from the other.
//! A step table another step reads is followed into its own atoms, so a rate computed one step upstream
//! still derives from the count it shares a row with.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// One thing a value is made of: an input's column (`table.column`) or an aggregate or window result of
/// one node of a plan (`#<node>:<name>`).
pub type Atom = String;

/// The atoms of each column of a step's table, by column name.
pub type Atoms = BTreeMap<String, BTreeSet<Atom>>;

/// The atoms of each output column of `plan`. `steps` holds the atoms of the step tables the plan may
/// scan (computed when those steps ran), so that a scan of one is followed into its own.
pub fn atoms(plan: &LogicalPlan, steps: &BTreeMap<String, Atoms>) -> Atoms {
    let columns = plan.schema().columns();
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), output(plan, i, steps)))
        .collect()
}

/// For each column of a table with these atoms: the other columns it is derived from (see the module doc).
pub fn derived(atoms: &Atoms) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (f, fa) in atoms {
        let from: Vec<String> = atoms
            .iter()
            .filter(|(g, ga)| *g != f && !ga.is_empty() && ga.is_subset(fa))
            .map(|(g, _)| g.clone())
            .collect();
        if !from.is_empty() {
            out.insert(f.clone(), from);
        }
    }
    out
}

/// A node's identity within one plan (an aggregate reached twice through a CTE is one node).
fn node(plan: &LogicalPlan) -> usize {
    plan as *const LogicalPlan as usize
}

/// The atoms of output column `i` of `plan`.
fn output(plan: &LogicalPlan, i: usize, steps: &BTreeMap<String, Atoms>) -> BTreeSet<Atom> {
    let schema = plan.schema();
    let own = |name: &str| BTreeSet::from([format!("#{}:{name}", node(plan))]);
    let Some(column) = schema.columns().get(i).cloned() else {
        return BTreeSet::new();
    };
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = scan.table_name.table().to_string();
            match steps.get(&table).and_then(|a| a.get(&column.name)) {
                Some(atoms) => atoms.clone(),
                None => BTreeSet::from([format!("{table}.{}", column.name)]),
            }
        }
        LogicalPlan::Projection(p) => match p.expr.get(i) {
            Some(e) => expression(e, &p.input, steps),
            None => own(&column.name),
        },
        LogicalPlan::Aggregate(a) => {
            if schema.fields().len() == a.group_expr.len() + a.aggr_expr.len()
                && i < a.group_expr.len()
            {
                expression(&a.group_expr[i], &a.input, steps)
            } else {
                own(&column.name)
            }
        }
        LogicalPlan::Window(w) => {
            let passed = w.input.schema().fields().len();
            if i < passed {
                output(&w.input, i, steps)
            } else {
                own(&column.name)
            }
        }
        // A subquery's alias renames its columns' qualifier only: the same columns in the same order.
        LogicalPlan::SubqueryAlias(s) => output(&s.input, i, steps),
        LogicalPlan::Union(u) => u
            .inputs
            .iter()
            .flat_map(|input| output(input, i, steps))
            .collect(),
        // Filters, sorts, limits, joins, distinct…: each column is one of an input's, found by its name.
        _ => {
            let inputs = plan.inputs();
            if inputs.is_empty() {
                return own(&column.name);
            }
            for input in &inputs {
                if let Some(k) = input.schema().maybe_index_of_column(&column) {
                    return output(input, k, steps);
                }
            }
            let unqualified = Column::new_unqualified(column.name.clone());
            for input in &inputs {
                if let Some(k) = input.schema().maybe_index_of_column(&unqualified) {
                    return output(input, k, steps);
                }
            }
            own(&column.name)
        }
    }
}

/// The atoms of expression `e` over `input`: those of each input column it refers to. An expression that
/// refers to none (a literal) has none.
fn expression(e: &Expr, input: &LogicalPlan, steps: &BTreeMap<String, Atoms>) -> BTreeSet<Atom> {
    let schema = input.schema();
    let mut out = BTreeSet::new();
    for c in e.column_refs() {
        match schema.maybe_index_of_column(c) {
            Some(k) => out.extend(output(input, k, steps)),
            // An outer reference of a correlated subquery, or a name this analysis cannot place: itself.
            None => {
                out.insert(format!("?{}", c.flat_name()));
            }
        }
    }
    out
}
