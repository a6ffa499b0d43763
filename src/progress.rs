//! Showing a run's progress: a progress bar on a terminal (steps done, the steps running, elapsed time),
//! plain log lines otherwise, nothing but warnings with `--quiet`.
//!
//! Owns presentation only; it implements `execute::Events` and never changes what runs.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::execute::Events;
use crate::plan::{Plan, Step};
use crate::record::{StepRecord, StepStatus};

pub struct Progress {
    bar: Option<ProgressBar>,
    running: Mutex<BTreeSet<String>>,
}

impl Progress {
    /// A bar when standard error is a terminal and not quiet; log lines otherwise.
    pub fn new(quiet: bool, plain_logs: bool) -> Self {
        let bar = (!quiet && !plain_logs && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            running: Mutex::new(BTreeSet::new()),
        }
    }

    fn refresh(&self) {
        if let (Some(bar), Ok(running)) = (&self.bar, self.running.lock()) {
            bar.set_message(running.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Events for Progress {
    fn run_started(&self, plan: &Plan, run_id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(plan.steps.len() as u64);
            bar.println(format!("run {run_id} of {}", plan.name));
        } else {
            tracing::info!(pipeline = %plan.name, run_id, steps = plan.steps.len(), "run started");
        }
    }

    fn step_started(&self, step: &Step) {
        if let Ok(mut r) = self.running.lock() {
            r.insert(step.id.clone());
        }
        self.refresh();
        if self.bar.is_none() {
            tracing::info!(step = %step.id, kind = step.kind.label(), "step started");
        }
    }

    fn step_finished(&self, step: &Step, record: &StepRecord) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&step.id);
        }
        let rows = record
            .rows
            .map(|r| format!(", {r} rows"))
            .unwrap_or_default();
        let line = format!(
            "{:?} {} ({} ms{rows})",
            record.status, step.id, record.duration_ms
        )
        .to_lowercase();
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.println(format!("  {line}"));
                self.refresh();
            }
            None if record.status == StepStatus::Failed => {
                tracing::error!(step = %step.id, message = record.message.as_deref().unwrap_or(""), "step failed")
            }
            None => {
                tracing::info!(step = %step.id, status = ?record.status, duration_ms = record.duration_ms, rows = record.rows, "step finished")
            }
        }
    }

    fn warning(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => tracing::warn!("{message}"),
        }
    }
}
