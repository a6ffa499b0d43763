//! Publication: the `published/<pipeline>/<period>.json` pointer is the one write that publishes a run.
//!
//! A run stages its outputs under its own prefix and writes its record (`succeeded`) once; only then does
//! the pointer move to it, in one write of one small object (atomic on every store: a rename on a local
//! folder, a single PUT on a bucket). "Published" therefore has one source of truth. A record never claims
//! publication itself: its `published` flag is derived from the pointer whenever a record is read
//! ([`mark`]). A run killed between its record and the pointer is a succeeded run that was not published,
//! and is shown as such; a pointer that cannot be written fails the run (exit non-zero) with its record
//! kept. Each publication first removes what an earlier killed write of the same pointer left behind.
//!
//! Owns writing, reading and repairing the pointer. It never decides whether a run may publish (`execute`
//! does) and never touches a run's outputs.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::record::{LatestPointer, RunRecord, latest_pointer};
use crate::store::Store;

/// How old a local write's leftover must be before it is taken for a killed write's and removed: a
/// write in progress (another process publishing the same period this very moment) is never that slow.
const STRAY_AGE: Duration = Duration::from_secs(60);

/// The pointer of a pipeline and period, if one exists. A pointer that cannot be read or parsed is an
/// error: nothing may silently take "unreadable" for "not published".
pub async fn current(
    store: &Store,
    pipeline: &str,
    period: &str,
) -> Result<Option<LatestPointer>, String> {
    let path = latest_pointer(pipeline, period);
    if !store
        .exists(&path)
        .await
        .map_err(|e| format!("reading `{path}`: {e}"))?
    {
        return Ok(None);
    }
    let bytes = store
        .get(&path)
        .await
        .map_err(|e| format!("reading `{path}`: {e}"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("`{path}` is not a publication pointer: {e}"))
}

/// Publishes a succeeded run whose record is written at `record_path`: moves the pointer of its
/// pipeline and period to it. `Err` says why it could not; the run is then not published.
pub async fn publish(store: &Store, record: &RunRecord, record_path: &str) -> Result<(), String> {
    let path = latest_pointer(&record.pipeline, &record.period);
    remove_strays(store, &path);
    let pointer = LatestPointer {
        run_id: record.run_id.clone(),
        record: record_path.to_string(),
        published_at: record.finished_at,
        outputs: record.outputs.iter().map(|o| o.path.clone()).collect(),
    };
    let body = serde_json::to_vec_pretty(&pointer).map_err(|e| e.to_string())?;
    store
        .put(&path, Bytes::from(body))
        .await
        .map_err(|e| store.redact(&format!("writing the publication pointer `{path}`: {e}")))
}

/// Sets the record's `published` flag from the pointer: whether the pointer of its pipeline and period
/// names this run now. A pointer that cannot be read leaves the flag false and says why.
pub async fn mark(store: &Store, record: &mut RunRecord) -> Result<(), String> {
    let pointer = current(store, &record.pipeline, &record.period).await?;
    record.published = pointer.is_some_and(|p| p.run_id == record.run_id);
    Ok(())
}

/// Why a succeeded run is not the published one, for people. Whether it was superseded or stopped
/// before its publication is not told apart: run ids and clocks cannot be trusted to order runs (two
/// machines, a fixed clock), so the line names the run that *is* published.
pub async fn unpublished_reason(store: &Store, record: &RunRecord) -> Option<String> {
    if record.published || record.status != crate::record::RunStatus::Succeeded {
        return None;
    }
    Some(
        match current(store, &record.pipeline, &record.period).await {
            Ok(Some(p)) => format!(
                "not the published run of {} {} (that is run {})",
                record.pipeline, record.period, p.run_id
            ),
            Ok(None) => format!(
                "not published: {} {} has no published run (this run stopped before its publication)",
                record.pipeline, record.period
            ),
            Err(e) => format!("publication unknown: {e}"),
        },
    )
}

/// Removes the leftovers of a killed write of the pointer on a local store (`<name>.json#<n>`, the
/// temporary file the local object store renames into place; a bucket's PUT leaves none). They are
/// invisible to listings but would stay on disk forever.
fn remove_strays(store: &Store, pointer: &str) {
    let Some(file) = store.local_path(pointer) else {
        return;
    };
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let stale = |e: &std::fs::DirEntry| {
        e.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age >= STRAY_AGE)
    };
    for e in entries.flatten() {
        let stray = e
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('#'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if stray && stale(&e) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::info!(
                    "removed `{}`, left by a publication that was killed",
                    e.path().display()
                ),
                Err(err) => tracing::warn!("removing `{}`: {err}", e.path().display()),
            }
        }
    }
}
