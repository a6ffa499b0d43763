//! Running some steps of a pipeline (`run PIPELINE --select … --exclude …`), with dbt's selectors: `STEP`;
//! `+STEP`, the step and every step it reads from (its ancestors); `STEP+`, the step and every step that
//! reads from it (its descendants); `2+STEP` and `STEP+1`, to that many levels; and `state:modified`, the
//! steps whose SQL, template, seeds or input declarations changed since the pipeline's published run of
//! the period (with `+` too: `state:modified+`). Several selectors select the steps of any of them;
//! `--exclude` takes steps out.
//!
//! A step left out is not run: its outputs are copied from the published run of the same period, each
//! refused unless its SHA-256 is the one that run recorded — the same machinery as `run --resume`
//! (`schedule::control::Reused`). The run is then a whole run like any other, published by its pointer.
//!
//! Owns the selectors' syntax, resolving them over the step graph, what counts as modified (by the
//! hashes the published run recorded: project files, step and input declarations), and refusing a
//! selection that cannot run (naming the step or selector, and the fix). It runs nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::params::RunParams;
use crate::plan::{Input, Plan, SeedFormat, Step, StepKind};
use crate::record::{
    ModifiedStep, ReusedStep, RunLayout, RunRecord, SelectionRecord, StateComparison, StepStatus,
};
use crate::schedule::control::Reused;
use crate::store::sha256_hex;
use crate::world::World;

/// One selector as typed: `STEP`, `+STEP`, `STEP+`, `N+STEP`, `STEP+N` or `state:modified` (with `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// As typed, for messages and the record.
    pub text: String,
    /// Ancestors too (`+` before): to this many levels, or all (`None` inside `Some`).
    ancestors: Option<Option<u32>>,
    /// Descendants too (`+` after).
    descendants: Option<Option<u32>>,
    what: Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Step(String),
    StateModified,
}

const SYNTAX: &str = "write STEP, +STEP (with what it reads), STEP+ (with what reads it), 2+STEP or STEP+1 \
                      (to a depth), or state:modified";

impl Selector {
    /// Parses one selector.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("an empty selector: {SYNTAX}"));
        }
        if t.contains(',') {
            return Err(format!(
                "`{t}`: a comma (dbt's intersection) is not supported; give several selectors \
                 (`--select a b`) for the steps of any of them"
            ));
        }
        let (ancestors, rest) = match t.split_once('+') {
            Some((depth, rest)) if depth.chars().all(|c| c.is_ascii_digit()) => {
                (Some(depth_of(t, depth)?), rest)
            }
            _ => (None, t),
        };
        let (body, descendants) = match rest.rsplit_once('+') {
            Some((body, depth)) if depth.chars().all(|c| c.is_ascii_digit()) => {
                (body, Some(depth_of(t, depth)?))
            }
            _ => (rest, None),
        };
        let what = match body.split_once(':') {
            Some(("state", "modified")) => Method::StateModified,
            Some(("state", other)) => {
                return Err(format!(
                    "`{t}`: the only state selector is `state:modified` (not `state:{other}`)"
                ));
            }
            Some((method, _)) => {
                return Err(format!(
                    "`{t}`: there is no selector method `{method}:`; {SYNTAX}"
                ));
            }
            None if !body.is_empty()
                && body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Method::Step(body.to_string())
            }
            None => return Err(format!("`{t}` is not a selector: {SYNTAX}")),
        };
        Ok(Selector {
            text: t.to_string(),
            ancestors,
            descendants,
            what,
        })
    }

    /// Parses the selectors of one flag's values, each value possibly several separated by spaces
    /// (`--select "a+ +b"`, as dbt takes them).
    pub fn parse_all(values: &[String]) -> Result<Vec<Selector>, String> {
        values
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(Selector::parse)
            .collect()
    }

    fn is_state(&self) -> bool {
        self.what == Method::StateModified
    }
}

fn depth_of(selector: &str, digits: &str) -> Result<Option<u32>, String> {
    if digits.is_empty() {
        return Ok(None);
    }
    digits
        .parse()
        .map(Some)
        .map_err(|_| format!("`{selector}`: `{digits}` is not a depth"))
}

/// What `--select` and `--exclude` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub select: Vec<Selector>,
    pub exclude: Vec<Selector>,
}

impl Request {
    pub fn is_empty(&self) -> bool {
        self.select.is_empty() && self.exclude.is_empty()
    }

    fn uses_state(&self) -> bool {
        self.select
            .iter()
            .chain(&self.exclude)
            .any(Selector::is_state)
    }
}

/// A selection resolved against a plan and the published run: the steps to run, and for every other step
/// what it reuses. `record` is what the run record says of it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub record: SelectionRecord,
    /// Per step not selected, the outputs it takes (none for a check).
    pub reused: BTreeMap<String, Reused>,
    /// SQL steps not selected whose result the published run lacks but the step cache holds: taken from
    /// the cache, never computed.
    pub from_cache: BTreeSet<String>,
}

impl Resolved {
    /// Whether the selection left nothing to run.
    pub fn is_empty(&self) -> bool {
        self.record.selected.is_empty()
    }
}

/// Resolves a request for a run of `plan` with `params`: the steps selected, and where each other step's
/// outputs come from: the published run of the period, or for a SQL step that run lacks, the step cache
/// (with `use_cache`, judged from listings and records as a dry run judges it). Refuses, naming the step
/// or selector and the fix, a selector naming no step, a selection of nothing (unless `state:modified`
/// found nothing changed: then an empty selection, for the caller to say so), and a step left out whose
/// outputs neither the published run nor the cache has. Reads the published pointer and record, listings
/// and cache records, and the project's files (without recording them as read by the run).
pub async fn resolve(
    world: &World,
    plan: &Plan,
    params: &RunParams,
    request: &Request,
    use_cache: bool,
) -> Result<Resolved, String> {
    let period = params.period().to_string();
    let published = crate::execute::previous_run(world, &plan.name, &period).await?;
    let state = request
        .uses_state()
        .then(|| modified(world, plan, params, published.as_ref()));
    let graph = Graph::new(plan);

    let chosen = |selectors: &[Selector]| -> Result<BTreeSet<String>, String> {
        let mut out = BTreeSet::new();
        for s in selectors {
            let base: BTreeSet<String> = match &s.what {
                Method::StateModified => state
                    .as_ref()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
                Method::Step(id) if graph.has(id) => BTreeSet::from([id.clone()]),
                Method::Step(id) => return Err(unknown_step(plan, s, id)),
            };
            for id in &base {
                out.insert(id.clone());
                if let Some(depth) = s.ancestors {
                    out.extend(graph.reach(id, depth, true));
                }
                if let Some(depth) = s.descendants {
                    out.extend(graph.reach(id, depth, false));
                }
            }
        }
        Ok(out)
    };
    let mut wanted: BTreeSet<String> = if request.select.is_empty() {
        plan.steps.iter().map(|s| s.id.clone()).collect()
    } else {
        chosen(&request.select)?
    };
    for id in chosen(&request.exclude)? {
        wanted.remove(&id);
    }
    let texts = |s: &[Selector]| s.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
    let state_record = state.as_ref().map(|m| StateComparison {
        run_id: published.as_ref().map(|p| p.run_id.clone()),
        modified: m
            .iter()
            .map(|(step, why)| ModifiedStep {
                step: step.clone(),
                why: why.clone(),
            })
            .collect(),
    });
    let mut record = SelectionRecord {
        select: texts(&request.select),
        exclude: texts(&request.exclude),
        selected: plan
            .steps
            .iter()
            .filter(|s| wanted.contains(&s.id))
            .map(|s| s.id.clone())
            .collect(),
        reused: Vec::new(),
        cached: Vec::new(),
        state: state_record,
    };
    if record.selected.is_empty() {
        if request.select.iter().any(Selector::is_state) && request.exclude.is_empty() {
            // Nothing changed: nothing to run, which the caller says.
            return Ok(Resolved {
                record,
                reused: BTreeMap::new(),
                from_cache: BTreeSet::new(),
            });
        }
        return Err(format!(
            "{} select no step of `{}`: its steps are {}",
            flags(request),
            plan.name,
            step_list(plan)
        ));
    }

    let left_out: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| !wanted.contains(&s.id))
        .collect();
    let mut reused = BTreeMap::new();
    if left_out.is_empty() {
        return Ok(Resolved {
            record,
            reused,
            from_cache: BTreeSet::new(),
        });
    }
    let with_outputs: Vec<&str> = left_out
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Check { .. }))
        .map(|s| s.id.as_str())
        .collect();
    // Where each step left out takes its outputs from: the published run; failing that, for a SQL step,
    // the step cache (when its entry is there, judged as a dry run judges it).
    let mut missing: Vec<(&str, String)> = Vec::new();
    match &published {
        None => {
            for s in &left_out {
                match s.kind {
                    StepKind::Check { .. } => {
                        reused.insert(s.id.clone(), not_run(""));
                    }
                    _ => missing.push((s.id.as_str(), String::new())),
                }
            }
        }
        Some(published) => {
            // Tables computed with other parameters are not this run's.
            let now = params.to_json();
            if !with_outputs.is_empty() && published.parameters != now {
                return Err(format!(
                    "the published run {} of `{}` {period} has other parameters ({}): its outputs of {} \
                     are not this run's to reuse; give the same parameters, or select every step",
                    published.run_id,
                    plan.name,
                    parameter_changes(&published.parameters, &now).join(", "),
                    name_steps(&with_outputs)
                ));
            }
            take_published(published, &left_out, &mut record, &mut reused, &mut missing);
        }
    }
    let mut from_cache = BTreeSet::new();
    if !missing.is_empty() && use_cache {
        let forecast =
            crate::cache::forecast(world, plan, params, published.as_ref(), &reused).await?;
        missing.retain(|(id, _)| {
            let sql = plan
                .steps
                .iter()
                .any(|s| s.id == *id && matches!(s.kind, StepKind::Sql { .. }));
            let hit = forecast
                .iter()
                .any(|(f, how)| f == id && *how == crate::cache::Forecast::Cached);
            if sql && hit {
                from_cache.insert(id.to_string());
            }
            !(sql && hit)
        });
    }
    record.cached = plan
        .steps
        .iter()
        .filter(|s| from_cache.contains(&s.id))
        .map(|s| s.id.clone())
        .collect();
    if missing.is_empty() {
        return Ok(Resolved {
            record,
            reused,
            from_cache,
        });
    }
    let ids: Vec<&str> = missing.iter().map(|(id, _)| *id).collect();
    let (it, its) = if ids.len() == 1 {
        ("it", "its outputs")
    } else {
        ("them", "their outputs")
    };
    Err(match &published {
        None => format!(
            "{} not selected, and no run of `{}` is published for {period} to take {its} from (nor \
             does the step cache hold {its}): select {it} too (`+STEP` selects a step with what it \
             reads), or run every step once",
            name_steps(&ids),
            plan.name,
        ),
        Some(published) => {
            let lines: Vec<String> = missing
                .iter()
                .map(|(id, why)| format!("`{id}` ({why})"))
                .collect();
            format!(
                "{} not selected, but the published run {} of `{}` {period} has no output of {it} to \
                 reuse (nor does the step cache hold {its}): {}; select {it} too (`--select {}`), or \
                 run every step",
                name_steps(&ids),
                published.run_id,
                plan.name,
                lines.join(", "),
                ids.join(" ")
            )
        }
    })
}

/// Takes the outputs of the steps left out from the published run: each step's objects (nothing for a
/// check), or, when that run has none of a step, the step and why into `missing`.
fn take_published<'a>(
    published: &RunRecord,
    left_out: &[&'a Step],
    record: &mut SelectionRecord,
    reused: &mut BTreeMap<String, Reused>,
    missing: &mut Vec<(&'a str, String)>,
) {
    let prefix = format!(
        "{}/",
        RunLayout::new(&published.pipeline, &published.period, &published.run_id).prefix
    );
    for step in left_out {
        let earlier = published.steps.iter().find(|r| r.id == step.id);
        let ok = earlier.filter(|r| matches!(r.status, StepStatus::Succeeded | StepStatus::Warned));
        if let StepKind::Check { .. } = step.kind {
            let mut r = not_run(ok.map(|_| published.run_id.as_str()).unwrap_or(""));
            r.rows = ok.and_then(|r| r.rows);
            r.warned = ok.is_some_and(|r| r.status == StepStatus::Warned);
            reused.insert(step.id.clone(), r);
            continue;
        }
        let Some(earlier) = ok.filter(|r| !r.outputs.is_empty()) else {
            let why = match earlier {
                None => "it is not a step of that run".to_string(),
                Some(r) => format!(
                    "it {} there",
                    serde_json::to_value(r.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            };
            missing.push((step.id.as_str(), why));
            continue;
        };
        let mut objects = Vec::new();
        for o in &earlier.outputs {
            let Some(within) = o.path.strip_prefix(&prefix) else {
                missing.push((
                    step.id.as_str(),
                    format!("its output `{}` lies outside that run", o.path),
                ));
                break;
            };
            objects.push((o.clone(), within.to_string()));
        }
        record.reused.push(ReusedStep {
            step: step.id.clone(),
            run_id: published.run_id.clone(),
            record: RunLayout::new(&published.pipeline, &published.period, &published.run_id)
                .record(),
        });
        reused.insert(
            step.id.clone(),
            Reused {
                from_run_id: published.run_id.clone(),
                objects,
                rows: earlier.rows,
                unselected: true,
                warned: earlier.status == StepStatus::Warned,
            },
        );
    }
}

/// The selection of a recorded run of selected steps, for re-executing it as it ran (`verify`): each step
/// it did not run takes the outputs of the run it took them from (that run's record, which `reused` names,
/// not the copies under the recorded run), and its checks left out are not run. `None` for a run of every
/// step.
pub async fn recorded(world: &World, record: &RunRecord) -> Result<Option<Resolved>, String> {
    let Some(selection) = &record.selection else {
        return Ok(None);
    };
    let mut reused = BTreeMap::new();
    let mut sources: BTreeMap<String, RunRecord> = BTreeMap::new();
    for r in &selection.reused {
        if !sources.contains_key(&r.record) {
            let bytes =
                world.store.get(&r.record).await.map_err(|e| {
                    format!("reading run {}'s record `{}`: {e}", r.run_id, r.record)
                })?;
            let source: RunRecord = serde_json::from_slice(&bytes)
                .map_err(|e| format!("`{}` is not a run record: {e}", r.record))?;
            sources.insert(r.record.clone(), source);
        }
        let source = &sources[&r.record];
        let prefix = format!(
            "{}/",
            RunLayout::new(&source.pipeline, &source.period, &source.run_id).prefix
        );
        let step = source
            .steps
            .iter()
            .find(|s| s.id == r.step)
            .ok_or_else(|| {
                format!(
                    "run {} reused step `{}` from run {}, whose record has no such step",
                    record.run_id, r.step, r.run_id
                )
            })?;
        let objects = step
            .outputs
            .iter()
            .map(|o| {
                let within = o.path.strip_prefix(&prefix).unwrap_or(&o.path).to_string();
                (o.clone(), within)
            })
            .collect();
        reused.insert(
            r.step.clone(),
            Reused {
                from_run_id: r.run_id.clone(),
                objects,
                rows: step.rows,
                unselected: true,
                warned: step.status == StepStatus::Warned,
            },
        );
    }
    for s in &record.steps {
        if !selection.selected.contains(&s.id) && !reused.contains_key(&s.id) {
            let mut r = not_run(s.reused_from.as_deref().unwrap_or(""));
            r.rows = s.rows;
            r.warned = s.status == StepStatus::Warned;
            reused.insert(s.id.clone(), r);
        }
    }
    // A step the run took from the cache is computed again: the cache's bytes are a computation's.
    Ok(Some(Resolved {
        record: selection.clone(),
        reused,
        from_cache: BTreeSet::new(),
    }))
}

/// A check left out: not run (its result in `run_id`'s run stands, when there is one).
fn not_run(run_id: &str) -> Reused {
    Reused {
        from_run_id: run_id.to_string(),
        objects: Vec::new(),
        rows: None,
        unselected: true,
        warned: false,
    }
}

fn flags(request: &Request) -> String {
    let mut parts = Vec::new();
    if !request.select.is_empty() {
        parts.push(format!(
            "--select {}",
            request
                .select
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if !request.exclude.is_empty() {
        parts.push(format!(
            "--exclude {}",
            request
                .exclude
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    format!("`{}`", parts.join(" "))
}

fn name_steps(ids: &[&str]) -> String {
    match ids {
        [one] => format!("step `{one}` is"),
        many => format!(
            "steps {} are",
            many.iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn step_list(plan: &Plan) -> String {
    plan.steps
        .iter()
        .map(|s| format!("`{}`", s.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_step(plan: &Plan, selector: &Selector, id: &str) -> String {
    // The closest id by edit distance, when it is close: a typing slip.
    let near = crate::diagnostic::nearest(id, plan.steps.iter().map(|s| s.id.as_str()))
        .map(|s| format!(" (did you mean `{}`?)", selector.text.replacen(id, s, 1)))
        .unwrap_or_default();
    format!(
        "selector `{}`: `{}` has no step `{id}`{near}; its steps are {}",
        selector.text,
        plan.name,
        step_list(plan)
    )
}

fn parameter_changes(before: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        before.as_object().unwrap_or(&empty),
        now.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| match v {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "unset".to_string(),
            };
            format!("{k} {} there, {} here", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// The step graph: what each step reads from (`depends_on`) and what reads from it.
struct Graph {
    parents: BTreeMap<String, Vec<String>>,
    children: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn new(plan: &Plan) -> Graph {
        let mut parents = BTreeMap::new();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &plan.steps {
            parents.insert(s.id.clone(), s.depends_on.iter().cloned().collect());
            children.entry(s.id.clone()).or_default();
            for d in &s.depends_on {
                children.entry(d.clone()).or_default().push(s.id.clone());
            }
        }
        Graph { parents, children }
    }

    fn has(&self, id: &str) -> bool {
        self.parents.contains_key(id)
    }

    /// The steps reached from `id` upwards (ancestors) or downwards, to `depth` levels (all when None).
    fn reach(&self, id: &str, depth: Option<u32>, up: bool) -> BTreeSet<String> {
        let edges = if up { &self.parents } else { &self.children };
        let mut out = BTreeSet::new();
        let mut frontier = vec![id.to_string()];
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = Vec::new();
            for s in frontier {
                for n in edges.get(&s).into_iter().flatten() {
                    if out.insert(n.clone()) {
                        next.push(n.clone());
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }
}

/// The SHA-256 of a step's declaration in the pipeline, apart from the files it names (whose own hashes
/// the record keeps): its kind, SQL file, assertions, template, title, tables used and `each`.
pub fn step_declaration(step: &Step) -> String {
    let doc = match &step.kind {
        StepKind::Sql { file, .. } => json!({"sql": file}),
        StepKind::Check { assertions } => json!({
            "check": assertions.iter().map(|a| json!([a.name, a.sql, a.severity])).collect::<Vec<_>>(),
        }),
        StepKind::Report {
            template,
            title,
            uses,
            each,
        } => json!({
            "report": template, "title": title, "uses": uses,
            "each": each.as_ref().map(|e| [&e.table, &e.column]),
        }),
    };
    sha256_hex(doc.to_string().as_bytes())
}

/// The SHA-256 of an input's declaration: where and how it is read, its columns and rules (not its
/// description).
pub fn input_declaration(input: &Input) -> String {
    let doc = json!({
        "location": input.location,
        "partitioned_by_month": input.partitioned_by_month,
        "history_months": input.history_months,
        "baseline_months": input.baseline_months.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "required": input.required,
        "period_months": input.period_months,
        "may_lag": input.may_lag,
        "columns": input.columns,
        "rules": input.rules,
        "same_as": input.same_as,
    });
    sha256_hex(doc.to_string().as_bytes())
}

/// The steps modified since the published run, each with what changed: a step that run does not have,
/// whose declaration changed, whose SQL file or template (or a template it includes) has another
/// SHA-256 than the run recorded, or that reads a seed whose files changed or an input whose declaration
/// changed. Every step when no run is published or the parameters differ.
fn modified(
    world: &World,
    plan: &Plan,
    params: &RunParams,
    published: Option<&RunRecord>,
) -> BTreeMap<String, Vec<String>> {
    let every = |why: String| -> BTreeMap<String, Vec<String>> {
        plan.steps
            .iter()
            .map(|s| (s.id.clone(), vec![why.clone()]))
            .collect()
    };
    let Some(p) = published else {
        return every(format!(
            "no run is published for {} to compare with",
            params.period()
        ));
    };
    let now = params.to_json();
    if p.parameters != now {
        return every(format!(
            "the parameters differ from run {}'s ({})",
            p.run_id,
            parameter_changes(&p.parameters, &now).join(", ")
        ));
    }
    let hash_now = |rel: &str| -> Option<String> {
        let path = world.project.file_path(rel).ok()?;
        std::fs::read(path).ok().map(|b| sha256_hex(&b))
    };
    let changed_file = |rel: &str, why: &mut Vec<String>| {
        let (then, now) = (p.files.get(rel), hash_now(rel));
        match (then, now) {
            (Some(a), Some(b)) if *a == b => {}
            (None, None) => {}
            (None, Some(_)) => why.push(format!("`{rel}` is new since run {}", p.run_id)),
            (Some(_), None) => why.push(format!("`{rel}` is gone")),
            (Some(_), Some(_)) => why.push(format!("`{rel}` changed")),
        }
    };
    let mut out = BTreeMap::new();
    for step in &plan.steps {
        let mut why = Vec::new();
        let Some(earlier) = p.steps.iter().find(|r| r.id == step.id) else {
            out.insert(
                step.id.clone(),
                vec![format!("not a step of run {}", p.run_id)],
            );
            continue;
        };
        if earlier.declaration.is_empty() {
            why.push(format!(
                "run {} recorded no hash of its declaration",
                p.run_id
            ));
        } else if earlier.declaration != step_declaration(step) {
            why.push(format!(
                "its declaration in {} changed",
                plan.file.display()
            ));
        }
        match &step.kind {
            StepKind::Sql { file, .. } => changed_file(file, &mut why),
            StepKind::Report { template, .. } => {
                for f in crate::render::template_sources(&world.project, template) {
                    changed_file(&f, &mut why);
                }
            }
            StepKind::Check { .. } => {}
        }
        for name in &step.inputs {
            if let Some(seed) = plan.seeds.iter().find(|s| &s.name == name) {
                let files = match seed.format {
                    SeedFormat::Desnz | SeedFormat::Metrics => seed.files.clone(),
                    SeedFormat::Table => vec![seed.file.clone()],
                };
                let mut seed_why = Vec::new();
                for f in &files {
                    changed_file(f, &mut seed_why);
                }
                if !seed_why.is_empty() {
                    why.push(format!("seed `{name}`: {}", seed_why.join(", ")));
                }
            } else if let Some(input) = plan.inputs.iter().find(|i| &i.name == name) {
                match p.inputs.iter().find(|i| &i.name == name) {
                    None => why.push(format!("input `{name}` is not one run {} read", p.run_id)),
                    Some(r) if r.declaration.is_empty() => why.push(format!(
                        "run {} recorded no hash of input `{name}`'s declaration",
                        p.run_id
                    )),
                    Some(r) if r.declaration != input_declaration(input) => {
                        why.push(format!("the declaration of input `{name}` changed"))
                    }
                    Some(_) => {}
                }
            }
        }
        if !why.is_empty() {
            out.insert(step.id.clone(), why);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_with_their_operators() {
        let s = Selector::parse("+summary").unwrap();
        assert_eq!(
            (s.ancestors, s.descendants, s.what),
            (Some(None), None, Method::Step("summary".into()))
        );
        let s = Selector::parse("2+summary+1").unwrap();
        assert_eq!((s.ancestors, s.descendants), (Some(Some(2)), Some(Some(1))));
        let s = Selector::parse("state:modified+").unwrap();
        assert_eq!((s.descendants, s.what), (Some(None), Method::StateModified));
        assert!(Selector::parse("a,b").unwrap_err().contains("comma"));
        assert!(
            Selector::parse("state:new")
                .unwrap_err()
                .contains("state:modified")
        );
        assert!(Selector::parse("tag:x").unwrap_err().contains("`tag:`"));
        assert!(
            Selector::parse("++x")
                .unwrap_err()
                .contains("not a selector")
        );
        assert_eq!(
            Selector::parse_all(&["a+ +b".into(), "c".into()])
                .unwrap()
                .len(),
            3
        );
    }
}
