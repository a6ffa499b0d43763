//! Run records: the JSON document every run leaves on the store, saying what ran, on what, with what
//! result. The record is written once, after every output; a succeeded run is then published by the
//! `published/` pointer (`crate::publish`), the one source of truth for what is published, so a run that
//! dies leaves nothing that looks published.
//!
//! Owns the record's shape and where records live on the store; `execute` fills it in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Bumped when the record's shape changes incompatibly.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u32,
    pub run_id: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub period: String,
    pub parameters: Json,
    pub status: RunStatus,
    /// Whether the `published/` pointer names this run. Never written: the pointer is the one source of
    /// truth, and this flag is derived from it when a record is read (`crate::publish::mark`). Records
    /// written before publication moved to the pointer say `true` here; they are read the same way.
    #[serde(default, skip_serializing)]
    pub published: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub tool: ToolInfo,
    /// The store root the run used (never with credentials: those come from the environment).
    pub store: String,
    pub inputs: Vec<InputRecord>,
    pub steps: Vec<StepRecord>,
    /// Every output, published together when the run succeeded.
    pub outputs: Vec<ObjectRecord>,
    /// Every project file the run read (pipeline, SQL, templates), with its SHA-256.
    pub files: BTreeMap<String, String>,
    /// What the run computed from, as one SHA-256: code version, pipeline, period, parameters, the hash of
    /// every input object and of every project file read before the steps ran. Two runs with the same
    /// fingerprint must produce the same bytes; PDFs carry it (as their identifier and as the run they
    /// name), never the run id, so that they are reproducible. Empty in records from before it existed.
    #[serde(default)]
    pub fingerprint: String,
    /// The record of the published run this run compared with (restatements), when there was one: a
    /// re-execution (`verify`) compares with the same run, not with whatever is published today.
    #[serde(default)]
    pub previous_record: Option<String>,
    /// Where the store keeps a copy of every project file in `files`, by SHA-256
    /// (`files/sha256/<hash>`), so that `verify` can re-execute the run as it was even after the
    /// project has changed. Empty in records from before the copies were kept.
    #[serde(default)]
    pub file_store: String,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// Rows of the inputs set aside by rules saying `on_fail: quarantine`: per input and rule, how many and
    /// where they were written (under the run's prefix). Empty when no row was set aside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<QuarantineRecord>,
    /// What started the run: `manual` (records from before it existed), `schedule`, `backfill`, `resume`.
    #[serde(default)]
    pub trigger: Trigger,
    /// The failed run this run resumed, reusing the outputs of its succeeded steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// Per output, whether it is released beyond the organisation under small-number suppression
    /// (`controlled`) or kept for audit (`restricted`), as the pipeline's `disclosure:` declares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclosure: Vec<crate::disclosure::OutputDisclosure>,
    /// A run of some steps only (`run --select/--exclude`): what was asked, the steps that ran, and the
    /// steps whose outputs were copied from the published run. Absent for a run of every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionRecord>,
}

/// What a run of selected steps (`run --select … --exclude …`) ran and reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionRecord {
    /// The selectors as given (`summary+`, `+report`, `state:modified`).
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    /// The steps this run ran, in the plan's order.
    pub selected: Vec<String>,
    /// The steps not selected, each with the run whose outputs it took.
    pub reused: Vec<ReusedStep>,
    /// The SQL steps not selected that the published run has no output of, taken from the step cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cached: Vec<String>,
    /// The published run `state:modified` compared with, and why each step it selected counts as
    /// modified. Absent without `state:modified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateComparison>,
}

/// A step a selected run did not run: its outputs are copies of this run's (their SHA-256 checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReusedStep {
    pub step: String,
    pub run_id: String,
    /// That run's record on the store.
    pub record: String,
}

/// What `state:modified` compared: the published run's record, and per modified step what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateComparison {
    /// The published run compared with; `None` when no run of the period is published (then every step
    /// is modified).
    pub run_id: Option<String>,
    pub modified: Vec<ModifiedStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifiedStep {
    pub step: String,
    /// What changed, one phrase each: "`sql/x.sql` changed", "seed `metrics` changed".
    pub why: Vec<String>,
}

/// Rows of one input set aside by one rule (a row breaking several rules is counted under each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    pub input: String,
    /// `nullable`, `allowed`, `min`, `max`, `in_reference` (a column's rules) or a row rule's name.
    pub rule: String,
    /// The column, or the columns a row rule reads.
    pub column: String,
    pub rows: u64,
    /// The input's quarantined rows (every rule), relative to the store root.
    pub path: String,
    pub sha256: String,
}

impl RunRecord {
    /// The run's parameters as they were given (`period` included): text values as they are, others as
    /// JSON text, ready to bind again.
    pub fn given_parameters(&self) -> BTreeMap<String, String> {
        match &self.parameters {
            Json::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The record of a run as it starts: failed and unpublished until the run says otherwise. `store` is the
    /// store's root as records may show it (without credentials).
    pub fn begin(
        run_id: &str,
        pipeline: &str,
        pipeline_file: &str,
        period: &str,
        parameters: Json,
        started_at: DateTime<Utc>,
        store: String,
        trigger: Trigger,
    ) -> RunRecord {
        RunRecord {
            format: FORMAT,
            run_id: run_id.to_string(),
            pipeline: pipeline.to_string(),
            pipeline_file: pipeline_file.to_string(),
            period: period.to_string(),
            parameters,
            status: RunStatus::Failed,
            published: false,
            started_at,
            finished_at: started_at,
            duration_ms: 0,
            tool: ToolInfo::current(),
            store,
            inputs: Vec::new(),
            steps: Vec::new(),
            outputs: Vec::new(),
            files: BTreeMap::new(),
            fingerprint: String::new(),
            previous_record: None,
            file_store: String::new(),
            warnings: Vec::new(),
            error: None,
            quarantine: Vec::new(),
            trigger,
            resumed_from: None,
            disclosure: Vec::new(),
            selection: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Stopped by SIGTERM/SIGINT: no step was started after the signal; nothing was published.
    Interrupted,
    /// The process died (SIGKILL, a lost machine) and left only its lease; recorded by the next scheduler
    /// pass once the lease expired.
    Abandoned,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    #[default]
    Manual,
    Schedule,
    Backfill,
    Resume,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// The git commit the binary was built from, when built from a checkout.
    pub git_commit: Option<String>,
}

impl ToolInfo {
    pub fn current() -> Self {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("BOARDPACK_GIT_COMMIT")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Relative to the store root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub location: String,
    /// The months read (empty for an unpartitioned input).
    pub months: Vec<String>,
    pub objects: Vec<ObjectRecord>,
    /// Rows in all the objects read (from their Parquet footers): with `bytes`, what pruning left to read.
    #[serde(default)]
    pub rows: Option<u64>,
    /// Rows per object, by path.
    #[serde(default)]
    pub object_rows: BTreeMap<String, u64>,
    /// One SHA-256 for the input as read: of the lines `<path> <sha256>` of its objects, in order
    /// (`crate::audit::input_digest`). The PDFs' appendix prints it.
    #[serde(default)]
    pub sha256: String,
    /// Bytes of the objects read.
    #[serde(default)]
    pub bytes: u64,
    /// SHA-256 of the input's declaration in the pipeline as the run read it (location, partitioning,
    /// months, columns, rules; `crate::select::input_declaration`), for `--select state:modified`.
    /// Empty in records from before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub declaration: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Succeeded,
    /// Succeeded with warnings from `warn` assertions.
    Warned,
    Failed,
    /// Not run because the run failed first.
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub kind: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    /// Rows materialised (sql steps) or offending rows found (check steps).
    pub rows: Option<u64>,
    pub outputs: Vec<ObjectRecord>,
    pub message: Option<String>,
    /// The result was reused from the step cache (nothing the step reads had changed), not computed.
    #[serde(default)]
    pub cached: bool,
    /// The run whose outputs this step's are copies of (SHA-256 checked), when the step was not run: a
    /// step a `--select` left out, or one a `--resume` took from the failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// SHA-256 of the step's declaration in the pipeline (its kind, SQL file, assertions, template,
    /// title, tables used; `crate::select::step_declaration`), for `--select state:modified`. Empty in
    /// records from before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub declaration: String,
}

/// Where the pieces of one run live on the store.
#[derive(Debug, Clone)]
pub struct RunLayout {
    pub prefix: String,
}

impl RunLayout {
    pub fn new(pipeline: &str, period: &str, run_id: &str) -> Self {
        RunLayout {
            prefix: format!("runs/{pipeline}/{period}/{run_id}"),
        }
    }
    pub fn table(&self, step: &str) -> String {
        format!("{}/tables/{step}.parquet", self.prefix)
    }
    pub fn report(&self, step: &str) -> String {
        format!("{}/reports/{step}.pdf", self.prefix)
    }
    /// One PDF of a report typeset per value (`each:`): `reports/<step>/<value>.pdf`.
    pub fn report_part(&self, step: &str, value: &str) -> String {
        format!("{}/{value}.pdf", self.report_parts(step))
    }
    pub fn report_parts(&self, step: &str) -> String {
        format!("{}/reports/{step}", self.prefix)
    }
    pub fn record(&self) -> String {
        format!("{}/run.json", self.prefix)
    }
}

/// The step an output of a run belongs to, from its path (full, relative to the run, or a bare name):
/// `…/tables/<step>.parquet`, `…/reports/<step>.pdf`, and `…/reports/<step>/<value>.pdf` for a report
/// typeset per value; otherwise the last segment without its extension (`summary`, `summary.parquet`).
pub fn output_step(path: &str) -> &str {
    let after_reports = path
        .strip_prefix("reports/")
        .or_else(|| path.rsplit_once("/reports/").map(|(_, rest)| rest));
    let name = match after_reports {
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None => path.rsplit('/').next().unwrap_or(path),
    };
    name.strip_suffix(".parquet")
        .or_else(|| name.strip_suffix(".pdf"))
        .unwrap_or(name)
}

/// The pointer to the published run of a pipeline and period, written after the run's record: moving it
/// is what publishes a run (`crate::publish`).
pub fn latest_pointer(pipeline: &str, period: &str) -> String {
    format!("published/{pipeline}/{period}.json")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatestPointer {
    pub run_id: String,
    pub record: String,
    pub published_at: DateTime<Utc>,
    pub outputs: Vec<String>,
}
