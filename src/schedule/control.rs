//! What the scheduler controls inside a run, through hooks `execute` calls: a failed step retried with
//! exponential backoff and a step timeout; a stop signal (SIGTERM/SIGINT) after which no step starts and
//! running ones get a grace period; and, for `run --resume`, the tables of a failed run's succeeded steps
//! kept aside as checkpoints and reused once their SHA-256 is checked.
//!
//! These are step-level retries of a whole step; retries of single store requests belong to the store.
//! Owns no run record: `execute` writes it, and asks this module only whether to start, retry or reuse.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::{JoinError, JoinSet};

use crate::record::{ObjectRecord, RunRecord, StepStatus};
use crate::store::{Store, sha256_hex};
use crate::world::World;

/// How a run is controlled from outside. The default runs every step once, with no timeout, and is never
/// stopped: an ordinary `boardpack run`.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    pub retry: RetryPolicy,
    pub stop: Option<StopSignal>,
    pub resume: Option<Arc<Resume>>,
    /// The steps a run of selected steps (`run --select`) does not run, and what the record says of it.
    pub selection: Option<Arc<crate::select::Resolved>>,
}

/// Step retries: a failed (or timed-out) step is run again up to `retries` more times, waiting `backoff`,
/// then twice that, and so on.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub retries: u32,
    pub backoff: Duration,
    pub step_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            backoff: Duration::from_secs(30),
            step_timeout: None,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (0 for the first retry): `backoff × 2ⁿ`, at most an hour.
    pub fn wait(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(20));
        self.backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }
}

impl RunControl {
    pub fn is_stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(StopSignal::is_stopped)
    }

    pub fn resumed_from(&self) -> Option<String> {
        self.resume.as_ref().map(|r| r.from_run_id.clone())
    }

    /// The checkpoint a resumed run takes a step's table from, if it reuses the step.
    pub fn reused(&self, step: &str) -> Option<Reused> {
        self.resume
            .as_ref()
            .and_then(|r| r.steps.get(step).cloned())
            .or_else(|| {
                self.selection
                    .as_ref()
                    .and_then(|s| s.reused.get(step).cloned())
            })
    }

    /// Runs a step, retrying as the policy says; no retry starts once the run is stopped.
    pub async fn attempt<T, F, Fut>(&self, step: &str, mut run: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let policy = &self.retry;
        let mut n = 0u32;
        loop {
            let result = match policy.step_timeout {
                Some(limit) => match tokio::time::timeout(limit, run()).await {
                    Ok(r) => r,
                    Err(_) => Err(format!(
                        "timed out after {} (the step timeout)",
                        super::format_duration(limit)
                    )),
                },
                None => run().await,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if n >= policy.retries || self.is_stopped() => {
                    return Err(if n > 0 {
                        format!("{e} (failed {} times)", n + 1)
                    } else {
                        e
                    });
                }
                Err(e) => {
                    let wait = policy.wait(n);
                    tracing::warn!(
                        "step `{step}` failed (attempt {} of {}), retrying in {}: {e}",
                        n + 1,
                        policy.retries + 1,
                        super::format_duration(wait)
                    );
                    tokio::time::sleep(wait).await;
                    n += 1;
                }
            }
        }
    }

    /// The next finished step. Once the run is stopped and its grace period is over, the steps still
    /// running are cancelled.
    pub async fn join_next<T: 'static>(
        &self,
        running: &mut JoinSet<T>,
    ) -> Option<Result<T, JoinError>> {
        let Some(stop) = &self.stop else {
            return running.join_next().await;
        };
        tokio::select! {
            r = running.join_next() => r,
            _ = stop.grace_over() => {
                tracing::warn!("grace period over: cancelling {} running step(s)", running.len());
                running.abort_all();
                running.join_next().await
            }
        }
    }
}

/// Set once by a signal handler; runs watching it start no more steps.
#[derive(Clone)]
pub struct StopSignal {
    inner: Arc<StopInner>,
}

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StopSignal(stopped: {})", self.is_stopped())
    }
}

struct StopInner {
    stopped: AtomicBool,
    at: Mutex<Option<Instant>>,
    grace: Duration,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    pub fn new(grace: Duration) -> StopSignal {
        StopSignal {
            inner: Arc::new(StopInner {
                stopped: AtomicBool::new(false),
                at: Mutex::new(None),
                grace,
                notify: tokio::sync::Notify::new(),
            }),
        }
    }

    pub fn stop(&self) {
        if let Ok(mut at) = self.inner.at.lock() {
            at.get_or_insert_with(Instant::now);
        }
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is set.
    pub async fn stopped(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves when the grace period after the signal is over.
    pub async fn grace_over(&self) {
        self.stopped().await;
        let at = self
            .inner
            .at
            .lock()
            .ok()
            .and_then(|a| *a)
            .unwrap_or_else(Instant::now);
        tokio::time::sleep_until((at + self.inner.grace).into()).await;
    }
}

/// What a resumed run reuses of the failed run: per step id, its checkpointed table.
#[derive(Debug, Clone)]
pub struct Resume {
    pub from_run_id: String,
    pub steps: BTreeMap<String, Reused>,
}

/// A step's outputs taken from another run instead of running it: a failed run's table kept for a resume,
/// or a published run's outputs of a step a `--select` left out. Each object with the SHA-256 its run
/// recorded.
#[derive(Debug, Clone)]
pub struct Reused {
    pub from_run_id: String,
    /// What to copy: each object where it is now, and where it goes within the new run's prefix
    /// (`tables/x.parquet`). None for a check, which keeps no output.
    pub objects: Vec<(ObjectRecord, String)>,
    pub rows: Option<u64>,
    /// The step was not selected (`run --select`), rather than resumed.
    pub unselected: bool,
    /// The step's result had warnings in the run it is taken from (a check's `warn` assertions).
    pub warned: bool,
}

impl Reused {
    /// The table of a failed run's step, kept for a resume at its checkpoint.
    pub fn checkpoint(
        from_run_id: &str,
        step: &str,
        object: ObjectRecord,
        rows: Option<u64>,
    ) -> Reused {
        Reused {
            from_run_id: from_run_id.to_string(),
            objects: vec![(object, format!("tables/{step}.parquet"))],
            rows,
            unselected: false,
            warned: false,
        }
    }

    /// Copies every object under the new run's `prefix`, refusing one unless its SHA-256 is the one its
    /// run recorded.
    pub async fn copy_to(&self, store: &Store, prefix: &str) -> Result<Vec<ObjectRecord>, String> {
        let mut copied = Vec::with_capacity(self.objects.len());
        for (object, within) in &self.objects {
            let bytes = store.get(&object.path).await.map_err(|e| {
                format!("reusing run {}'s `{}`: {e}", self.from_run_id, object.path)
            })?;
            let sha256 = sha256_hex(&bytes);
            if sha256 != object.sha256 {
                let (what, fix) = if self.unselected {
                    (
                        "the published output changed",
                        "select the step too, or run every step",
                    )
                } else {
                    ("the checkpoint changed", "run afresh")
                };
                return Err(format!(
                    "`{}` has SHA-256 {sha256}, not the {} run {} recorded: {what}, so it is not reused ({fix})",
                    object.path, object.sha256, self.from_run_id
                ));
            }
            let size = bytes.len() as u64;
            let path = format!("{}/{within}", prefix.trim_end_matches('/'));
            store.put(&path, bytes).await.map_err(|e| e.to_string())?;
            copied.push(ObjectRecord { path, size, sha256 });
        }
        Ok(copied)
    }

    pub fn note(&self) -> String {
        let hashes = match self.objects.as_slice() {
            [] => String::new(),
            [(o, _)] => format!(" (SHA-256 {} checked)", &o.sha256[..o.sha256.len().min(12)]),
            many => format!(" ({} objects, SHA-256 checked)", many.len()),
        };
        if self.unselected {
            if self.from_run_id.is_empty() {
                "not selected: not run".to_string()
            } else if self.objects.is_empty() {
                format!(
                    "not selected: not run (its result in run {} stands)",
                    self.from_run_id
                )
            } else {
                format!("not selected: reused from run {}{hashes}", self.from_run_id)
            }
        } else {
            format!("reused from run {}{hashes}", self.from_run_id)
        }
    }
}

/// Where a failed run's table of a step is kept for `run --resume`.
pub fn checkpoint_path(pipeline: &str, period: &str, run_id: &str, step: &str) -> String {
    format!("checkpoints/{pipeline}/{period}/{run_id}/{step}.parquet")
}

/// Copies the tables of a failed run's succeeded SQL steps to their checkpoints, before the run's staged
/// outputs are removed. Best effort: a checkpoint that cannot be written only means that step re-runs.
pub async fn keep_checkpoints(world: &World, record: &RunRecord) {
    for step in &record.steps {
        if !matches!(step.status, StepStatus::Succeeded | StepStatus::Warned) {
            continue;
        }
        let [table] = step.outputs.as_slice() else {
            continue;
        };
        if !table.path.ends_with(".parquet") {
            continue;
        }
        let to = checkpoint_path(&record.pipeline, &record.period, &record.run_id, &step.id);
        let copied: Result<Bytes, _> = world.store.get(&table.path).await;
        match copied {
            Ok(bytes) => {
                if let Err(e) = world.store.put(&to, bytes).await {
                    tracing::warn!("keeping `{}` for a resume: {e}", table.path);
                }
            }
            Err(e) => tracing::warn!("keeping `{}` for a resume: {e}", table.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            retries: 3,
            backoff: Duration::from_secs(10),
            step_timeout: None,
        };
        assert_eq!(p.wait(0), Duration::from_secs(10));
        assert_eq!(p.wait(1), Duration::from_secs(20));
        assert_eq!(p.wait(2), Duration::from_secs(40));
        assert_eq!(p.wait(30), Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn a_step_is_retried_then_succeeds() {
        let control = RunControl {
            retry: RetryPolicy {
                retries: 2,
                backoff: Duration::from_millis(5),
                step_timeout: None,
            },
            ..Default::default()
        };
        let calls = AtomicU32::new(0);
        let r = control
            .attempt("s", || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Err(format!("fail {n}"))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(r, Ok(2));
        // Out of retries: the last error, with the number of attempts.
        calls.store(0, Ordering::SeqCst);
        let r: Result<u32, String> = control
            .attempt("s", || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                Err(format!("fail {n}"))
            })
            .await;
        assert_eq!(r, Err("fail 2 (failed 3 times)".to_string()));
    }

    #[tokio::test]
    async fn a_step_that_runs_too_long_times_out() {
        let control = RunControl {
            retry: RetryPolicy {
                retries: 0,
                backoff: Duration::from_millis(1),
                step_timeout: Some(Duration::from_millis(20)),
            },
            ..Default::default()
        };
        let r: Result<(), String> = control
            .attempt("slow", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().contains("timed out"));
    }
}
