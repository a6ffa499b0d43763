//! Verifying a run: re-executes a recorded run from its parameters (the project files as the run read
//! into a scratch prefix of the store, and compares every output with the record, byte for byte. Says
//! which project files and input objects changed since the run, instead of guessing why outputs differ.
//!
//! Owns the comparison and its report. It uses `execute` (staged only: nothing is published, the
//! `published/` pointer never moves, the scratch outputs are deleted) and never prints.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::execute::{self, Previous, RunOptions, Silent};
use crate::params::RunParams;
use crate::record::{ObjectRecord, RunRecord};
use crate::store::sha256_hex;
use crate::world::World;

/// Where re-executions are staged; each under its own run id, removed when the comparison is done.
pub const SCRATCH_PREFIX: &str = "scratch/verify";

/// What `verify` found (`--output json` prints it as it is).
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub run_id: String,
    pub record_path: String,
    /// Project files whose content changed since the run (path, what happened).
    pub files_changed: Vec<(String, String)>,
    /// Input objects gone or changed since the run (path, what happened).
    pub inputs_changed: Vec<(String, String)>,
    /// The re-execution's failure, when it failed.
    pub rerun_error: Option<String>,
    pub outputs: Vec<OutputCheck>,
    /// Project files the re-execution took from the store's copies (`files/sha256/…`), because they
    /// changed or are gone in the project since the run.
    pub files_from_store: Vec<String>,
    /// The tool that re-executed, when it is not the run's (another version or git commit): the
    /// fingerprint, and so every PDF, names the code version, and other code may compute otherwise.
    pub tool_changed: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputCheck {
    /// The output's path in the record.
    pub path: String,
    pub identical: bool,
    /// Why it is not identical, one line each (empty when identical).
    pub details: Vec<String>,
    /// For a table whose stored and re-executed versions both read: the figures that changed, in their
    /// units, and the rank changes (as `diff` has them); `null` otherwise.
    pub changes: Option<crate::figure_diff::TableChanges>,
}

impl VerifyReport {
    /// Every output identical to the record and nothing changed underneath.
    pub fn identical(&self) -> bool {
        self.rerun_error.is_none() && self.outputs.iter().all(|o| o.identical)
    }
    pub fn different_outputs(&self) -> Vec<&str> {
        self.outputs
            .iter()
            .filter(|o| !o.identical)
            .map(|o| o.path.as_str())
            .collect()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verify run {} ({})", self.run_id, self.record_path)?;
        // The conclusion first, then its reasons: a long report read from the top says what it found.
        writeln!(
            f,
            "  summary: {}; {} input object(s) and {} project file(s) changed since the run{}",
            if self.identical() {
                format!("all {} outputs identical", self.outputs.len())
            } else {
                format!(
                    "{} of {} outputs differ",
                    self.different_outputs().len(),
                    self.outputs.len()
                )
            },
            self.inputs_changed.len(),
            self.files_changed.len(),
            if self.rerun_error.is_some() {
                "; the re-execution failed"
            } else {
                ""
            }
        )?;
        // What changed in the tables, before the list: how many figures, and the largest of each unit.
        let tables: Vec<(String, &crate::figure_diff::TableChanges)> = self
            .outputs
            .iter()
            .filter_map(|o| o.changes.as_ref().map(|c| (relative(&o.path), c)))
            .collect();
        if !tables.is_empty() {
            for line in crate::lineage::Summary::of(&tables, None).lines() {
                writeln!(f, "  {line}")?;
            }
        }
        if self.files_changed.is_empty() {
            writeln!(f, "  project files: unchanged since the run")?;
        } else {
            writeln!(f, "  project files changed since the run:")?;
            for (path, what) in &self.files_changed {
                writeln!(f, "    {path}: {what}")?;
            }
        }
        if self.inputs_changed.is_empty() {
            writeln!(f, "  input objects: unchanged since the run")?;
        } else {
            writeln!(f, "  input objects changed since the run:")?;
            for (path, what) in &self.inputs_changed {
                writeln!(f, "    {path}: {what}")?;
            }
        }
        if let Some(t) = &self.tool_changed {
            writeln!(f, "  tool: {t}")?;
        }
        if !self.files_from_store.is_empty() {
            writeln!(
                f,
                "  re-executed with the run's own copies of {} changed file(s) from the store ({})",
                self.files_from_store.len(),
                crate::audit::FILE_STORE
            )?;
        }
        if let Some(e) = &self.rerun_error {
            writeln!(f, "  re-execution failed: {e}")?;
        }
        for o in &self.outputs {
            let verdict = if o.identical {
                "identical"
            } else {
                "DIFFERENT"
            };
            writeln!(f, "  {verdict:9}  {}", o.path)?;
            for d in &o.details {
                writeln!(f, "             {d}")?;
            }
        }
        let n = self.different_outputs().len();
        if self.identical() {
            write!(f, "all {} outputs identical", self.outputs.len())
        } else {
            write!(f, "{n} of {} outputs differ", self.outputs.len())
        }
    }
}

/// Finds a run record: a run.json file on disk, a record path on the store, or a run id (looked up
/// under `runs/`).
pub async fn find_record(world: &World, what: &str) -> Result<(String, RunRecord), String> {
    let (path, mut record) = read_record(world, what).await?;
    // Whether it is published is the pointer's to say, not the record's.
    crate::publish::mark(&world.store, &mut record).await?;
    Ok((path, record))
}

async fn read_record(world: &World, what: &str) -> Result<(String, RunRecord), String> {
    let parse = |path: &str, bytes: &[u8]| {
        serde_json::from_slice::<RunRecord>(bytes)
            .map_err(|e| format!("`{path}` is not a run record: {e}"))
    };
    if what.ends_with(".json") {
        let disk = std::path::Path::new(what);
        if disk.is_file() {
            let bytes = std::fs::read(disk).map_err(|e| format!("{what}: {e}"))?;
            let record = parse(what, &bytes)?;
            let path =
                crate::record::RunLayout::new(&record.pipeline, &record.period, &record.run_id)
                    .record();
            return Ok((path, record));
        }
        let bytes = world
            .store
            .get(what)
            .await
            .map_err(|e| format!("reading `{what}`: {e}"))?;
        return Ok((what.to_string(), parse(what, &bytes)?));
    }
    let suffix = format!("/{what}/run.json");
    let listed = world
        .store
        .list("runs")
        .await
        .map_err(|e| format!("listing runs: {e}"))?;
    let found: Vec<String> = listed
        .into_iter()
        .map(|o| o.path)
        .filter(|p| p.ends_with(&suffix))
        .collect();
    match found.as_slice() {
        [path] => {
            let bytes = world
                .store
                .get(path)
                .await
                .map_err(|e| format!("reading `{path}`: {e}"))?;
            Ok((path.clone(), parse(path, &bytes)?))
        }
        [] => Err(format!("no run `{what}` under runs/ on the store")),
        _ => Err(format!("run id `{what}` names {} records", found.len())),
    }
}

/// Re-executes the run of `record` and compares its outputs with the record.
pub async fn verify(
    world: &World,
    record_path: &str,
    record: &RunRecord,
) -> Result<VerifyReport, String> {
    if record.status != crate::record::RunStatus::Succeeded {
        // A failed run published nothing: there is nothing to reproduce.
        return Err(format!(
            "run {} failed ({}): it published nothing to verify",
            record.run_id,
            record.error.as_deref().unwrap_or("no reason recorded")
        ));
    }
    let world = world.fresh();
    let mut report = VerifyReport {
        run_id: record.run_id.clone(),
        record_path: record_path.to_string(),
        files_changed: Vec::new(),
        inputs_changed: Vec::new(),
        rerun_error: None,
        outputs: Vec::new(),
        files_from_store: Vec::new(),
        tool_changed: None,
    };
    let now = crate::record::ToolInfo::current();
    if (&now.version, &now.git_commit) != (&record.tool.version, &record.tool.git_commit) {
        let describe = |t: &crate::record::ToolInfo| {
            format!(
                "{} {} (commit {})",
                t.name,
                t.version,
                t.git_commit.as_deref().unwrap_or("not recorded")
            )
        };
        report.tool_changed = Some(format!(
            "the run used {}, this is {}: the PDFs name the code version, so they differ",
            describe(&record.tool),
            describe(&now)
        ));
    }
    // Project files: read from disk directly, so that they are not counted as read by the re-execution.
    for (path, sha) in &record.files {
        let what = match world
            .project
            .file_path(path)
            .ok()
            .and_then(|p| std::fs::read(p).ok())
        {
            None => Some("gone".to_string()),
            Some(bytes) if &sha256_hex(&bytes) != sha => Some("content changed".to_string()),
            Some(_) => None,
        };
        if let Some(w) = what {
            report.files_changed.push((path.clone(), w));
        }
    }
    for input in &record.inputs {
        for o in &input.objects {
            if let Some(w) = object_change(&world, o).await {
                report
                    .inputs_changed
                    .push((o.path.clone(), format!("input `{}`: {w}", input.name)));
            }
        }
    }

    // Re-execute the run as it was: the files that changed since come from the store's copies.
    let run_project = if record.file_store.is_empty() {
        None
    } else {
        crate::audit::run_project(&world, record).await?
    };
    let world = match &run_project {
        Some(p) => {
            report.files_from_store = p.from_store.clone();
            crate::audit::world_at(&world, &p.root)
        }
        None => world,
    };
    let plan = crate::plan::load_named(&world.project, &record.pipeline)
        .map_err(|d| format!("pipeline `{}`: {d}", record.pipeline))?;
    let given = record.given_parameters();
    let params = RunParams::bind(&plan, &given).map_err(|e| format!("recorded parameters: {e}"))?;
    let mut options = RunOptions {
        stage_only: Some(format!("{SCRATCH_PREFIX}/{}", record.run_id)),
        previous: Previous::Record(record.previous_record.clone()),
        no_cache: true,
        ..Default::default()
    };
    // A run of selected steps is re-executed as it ran: the steps it reused take the same outputs again.
    options.control.selection = crate::select::recorded(&world, record).await?.map(Arc::new);
    let rerun = execute::run_with(&world, &plan, &params, Arc::new(Silent), &options).await;
    // Objects added under an input since the run: what the re-execution read that the run did not (or,
    // when it failed, what its months' folders hold now), named as `diff` names them.
    let recorded: std::collections::BTreeSet<&str> = record
        .inputs
        .iter()
        .flat_map(|i| i.objects.iter().map(|o| o.path.as_str()))
        .collect();
    for (input, path) in objects_now(&world, record, rerun.as_ref().ok().map(|o| &o.record)).await {
        if !recorded.contains(path.as_str()) {
            report.inputs_changed.push((
                path,
                format!("input `{input}`: added since the run (the re-execution reads it)"),
            ));
        }
    }
    let staged: BTreeMap<String, ObjectRecord> = match &rerun {
        Ok(outcome) => outcome
            .record
            .outputs
            .iter()
            .map(|o| (relative(&o.path), o.clone()))
            .collect(),
        Err(f) => {
            report.rerun_error = Some(f.message.clone());
            BTreeMap::new()
        }
    };

    let no_units = BTreeMap::new();
    for original in &record.outputs {
        let mut details = Vec::new();
        let mut changes = None;
        let stored_changed = object_change(&world, original).await;
        if let Some(w) = &stored_changed {
            details.push(format!("the stored object {w}"));
        }
        let rel = relative(&original.path);
        match staged.get(&rel) {
            None if report.rerun_error.is_none() => {
                details.push("the re-execution produced no such output".into())
            }
            None => details.push("not re-executed: the re-execution failed".into()),
            Some(new) => {
                if new.sha256 != original.sha256 {
                    details.push(format!(
                        "re-executed: sha256 {} ≠ recorded {}",
                        &new.sha256[..12.min(new.sha256.len())],
                        &original.sha256[..12.min(original.sha256.len())]
                    ));
                }
                // Rows of the stored table against the re-executed one: what a reader of it would see.
                if !details.is_empty() && original.path.ends_with(".parquet") {
                    let step = crate::record::output_step(&original.path);
                    let units = plan
                        .steps
                        .iter()
                        .find(|s| s.id == step)
                        .map(|s| &s.units)
                        .unwrap_or(&no_units);
                    let (lines, found) = table_diff(&world, &original.path, &new.path, units).await;
                    details.extend(lines);
                    changes = found;
                }
            }
        }
        report.outputs.push(OutputCheck {
            path: original.path.clone(),
            identical: details.is_empty(),
            details,
            changes,
        });
    }
    for (rel, new) in &staged {
        if !record.outputs.iter().any(|o| relative(&o.path) == *rel) {
            report.outputs.push(OutputCheck {
                path: rel.clone(),
                identical: false,
                details: vec![format!(
                    "new output, not in the record ({} bytes)",
                    new.size
                )],
                changes: None,
            });
        }
    }
    // The staged outputs were only for comparing.
    for o in staged.values() {
        let _ = world.store.delete(&o.path).await;
    }
    // So were the rows it set aside (`on_fail: quarantine`).
    if let Ok(outcome) = &rerun {
        for q in &outcome.record.quarantine {
            let _ = world.store.delete(&q.path).await;
        }
    }
    Ok(report)
}

/// The output's path within its run (`tables/x.parquet`), whatever prefix the run staged under.
fn relative(path: &str) -> String {
    crate::lineage::relative(path)
}

/// The input objects a re-execution of the run reads now, as (input, path): those its record lists, or,
/// when it did not get as far, every object now in the months' folders the run read.
async fn objects_now(
    world: &World,
    record: &RunRecord,
    rerun: Option<&RunRecord>,
) -> Vec<(String, String)> {
    if let Some(r) = rerun {
        return r
            .inputs
            .iter()
            .flat_map(|i| i.objects.iter().map(|o| (i.name.clone(), o.path.clone())))
            .collect();
    }
    let mut out = Vec::new();
    for input in &record.inputs {
        let Ok(listed) = world.store.list(&format!("{}/", input.location)).await else {
            continue;
        };
        let in_months = |path: &str| {
            input.months.is_empty()
                || input
                    .months
                    .iter()
                    .any(|m| path.contains(&format!("/month={m}/")))
        };
        out.extend(
            listed
                .into_iter()
                .filter(|o| o.path.ends_with(".parquet") && in_months(&o.path))
                .map(|o| (input.name.clone(), o.path)),
        );
    }
    out
}

/// How a stored object differs from its record, if it does.
async fn object_change(world: &World, o: &ObjectRecord) -> Option<String> {
    match world.store.exists(&o.path).await {
        Ok(false) => return Some("is gone".into()),
        Err(e) => return Some(format!("cannot be read: {e}")),
        Ok(true) => {}
    }
    match world.store.digest(&o.path).await {
        Ok((_, sha)) if sha == o.sha256 => None,
        Ok((size, sha)) => Some(format!(
            "changed since the run (sha256 {} ≠ recorded {}, {size} bytes)",
            &sha[..12.min(sha.len())],
            &o.sha256[..12.min(o.sha256.len())]
        )),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}

/// A row-level comparison of two Parquet tables on the store: how many rows are in one of them only and
/// the columns whose values differ, then the figures that changed, in their units (the comparison `diff`
/// makes, `figure_diff`), with the changes themselves when both tables read.
async fn table_diff(
    world: &World,
    old: &str,
    new: &str,
    units: &BTreeMap<String, crate::units::ColumnUnit>,
) -> (Vec<String>, Option<crate::figure_diff::TableChanges>) {
    let (old_table, new_table) = match crate::figure_diff::read_both(world, old, new).await {
        Ok(both) => both,
        Err(problem) => return (vec![problem], None),
    };
    let changes = crate::figure_diff::compare(&old_table, &new_table, units);
    if old_table.columns != new_table.columns {
        return (changes.lines(), Some(changes));
    }
    let columns = &old_table.columns;
    fn count(rows: &[Vec<String>]) -> BTreeMap<&Vec<String>, i64> {
        let mut m: BTreeMap<&Vec<String>, i64> = BTreeMap::new();
        for r in rows {
            *m.entry(r).or_default() += 1;
        }
        m
    }
    let (a, b) = (count(&old_table.rows), count(&new_table.rows));
    let only = |x: &BTreeMap<&Vec<String>, i64>, y: &BTreeMap<&Vec<String>, i64>| {
        let mut out = Vec::new();
        for (row, n) in x {
            for _ in 0..(n - y.get(row).copied().unwrap_or(0)).max(0) {
                out.push((*row).clone());
            }
        }
        out
    };
    let removed = only(&a, &b);
    let added = only(&b, &a);
    let mut out = vec![format!(
        "rows: {} → {}; {} removed, {} added",
        old_table.rows.len(),
        new_table.rows.len(),
        removed.len(),
        added.len()
    )];
    let changed_columns: Vec<&str> = (0..columns.len())
        .filter(|&i| {
            let mut x: Vec<&String> = removed.iter().map(|r| &r[i]).collect();
            let mut y: Vec<&String> = added.iter().map(|r| &r[i]).collect();
            x.sort();
            y.sort();
            x != y
        })
        .map(|i| columns[i].as_str())
        .collect();
    if !changed_columns.is_empty() {
        out.push(format!(
            "columns with changed values: {}",
            changed_columns.join(", ")
        ));
    }
    // The stored version is the old one: a figure reads `stored → re-executed`.
    out.push("figures, stored → re-executed:".into());
    out.extend(changes.lines().into_iter().map(|l| format!("  {l}")));
    (out, Some(changes))
}
