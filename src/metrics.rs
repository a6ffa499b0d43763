//! Run metrics for monitoring: a finished run's record as Prometheus text, written for node_exporter's
//! textfile collector (`metrics.textfile_dir` in `config/boardpack.yaml`, or `BOARDPACK_METRICS_DIR`).
//!
//! Owns the metric names and the file. Each run of a pipeline rewrites `boardpack_<pipeline>.prom` (written
//! beside it, then renamed, so the collector never reads half a file): the pipeline's last run, whether it
//! succeeded and was published, its and each step's duration, rows and cache use, how many of its steps the
//! step cache served, and each input's rows and bytes. A failure to write is a warning: monitoring never
//! fails a run. `execute` calls it once per run, from the record, with the run's OpenLineage events.

use std::fmt::Write as _;
use std::path::Path;

use crate::record::{RunRecord, RunStatus};

/// The record as Prometheus text exposition format.
pub fn render(record: &RunRecord) -> String {
    let mut t = String::new();
    let run = format!(
        "pipeline=\"{}\",period=\"{}\"",
        label(&record.pipeline),
        label(&record.period)
    );
    let status = crate::schedule::history::status_name(record.status);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(t, "# HELP {name} {help}");
        let _ = writeln!(t, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(t, "{name}{{{labels}}} {value}");
        }
    };
    family(
        "boardpack_run_finished_timestamp_seconds",
        "gauge",
        "When the pipeline's last run finished (Unix time).",
        &[(
            format!("{run},status=\"{status}\""),
            record.finished_at.timestamp() as f64,
        )],
    );
    family(
        "boardpack_run_succeeded",
        "gauge",
        "1 when the pipeline's last run succeeded, 0 when it failed, was interrupted or abandoned.",
        &[(
            run.clone(),
            f64::from(record.status == RunStatus::Succeeded),
        )],
    );
    family(
        "boardpack_run_published",
        "gauge",
        "1 when the pipeline's last run was published.",
        &[(run.clone(), f64::from(record.published))],
    );
    family(
        "boardpack_run_duration_seconds",
        "gauge",
        "How long the pipeline's last run took.",
        &[(run.clone(), record.duration_ms as f64 / 1000.0)],
    );
    family(
        "boardpack_run_cache_hits",
        "gauge",
        "Steps of the pipeline's last run whose result was reused from the step cache.",
        &[(
            run.clone(),
            record.steps.iter().filter(|s| s.cached).count() as f64,
        )],
    );
    let step = |s: &crate::record::StepRecord| {
        format!(
            "{run},step=\"{}\",kind=\"{}\"",
            label(&s.id),
            label(&s.kind)
        )
    };
    family(
        "boardpack_step_duration_seconds",
        "gauge",
        "How long each step of the last run took.",
        &record
            .steps
            .iter()
            .map(|s| (step(s), s.duration_ms as f64 / 1000.0))
            .collect::<Vec<_>>(),
    );
    family(
        "boardpack_step_rows",
        "gauge",
        "Rows each step of the last run materialised (sql) or found offending (check).",
        &record
            .steps
            .iter()
            .filter_map(|s| s.rows.map(|r| (step(s), r as f64)))
            .collect::<Vec<_>>(),
    );
    family(
        "boardpack_step_cached",
        "gauge",
        "1 when the step's result was reused from the step cache.",
        &record
            .steps
            .iter()
            .map(|s| (step(s), f64::from(s.cached)))
            .collect::<Vec<_>>(),
    );
    let input = |name: &str| format!("{run},input=\"{}\"", label(name));
    family(
        "boardpack_input_rows",
        "gauge",
        "Rows of each input the last run read.",
        &record
            .inputs
            .iter()
            .filter_map(|i| i.rows.map(|r| (input(&i.name), r as f64)))
            .collect::<Vec<_>>(),
    );
    family(
        "boardpack_input_bytes",
        "gauge",
        "Bytes of each input's objects the last run read.",
        &record
            .inputs
            .iter()
            .map(|i| (input(&i.name), i.bytes as f64))
            .collect::<Vec<_>>(),
    );
    t
}

/// A label value as the format wants it: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Rewrites `<dir>/boardpack_<pipeline>.prom` with the record's metrics (best effort: a warning on
/// failure).
pub fn write(dir: &Path, record: &RunRecord) {
    let name: String = record
        .pipeline
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let file = dir.join(format!("boardpack_{name}.prom"));
    // The collector reads every `*.prom`: the file in progress has another extension.
    let partial = dir.join(format!(".boardpack_{name}.prom.partial"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&partial, render(record)))
        .and_then(|_| std::fs::rename(&partial, &file));
    if let Err(e) = written {
        tracing::warn!("writing the run's metrics to {}: {e}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
