//! Typesetting within a memory budget.
//!
//! Typst memoises every evaluation and layout result in one process-wide cache (`comemo`) and empties it
//! only when told to. Over a long document (the primary-care dashboard is a page per practice: about 600
//! pages at scale 4) that cache, not the document, is most of the memory: 3.1 GB of resident memory at
//! scale 4, growing with every page. While a document is typeset, a watcher thread reads the process's
//! resident memory and, whenever it passes the budget (the engine's memory limit), empties the cache and
//! hands the freed pages back to the system; when the document is done, the cache is emptied for good (a
//! long-lived scheduler would otherwise keep every report it ever typeset).
//!
//! Memoisation is only a cache: Typst recomputes what it needs after an eviction, so the PDF's bytes do not
//! depend on it, only the time taken. The budget is watched on Linux (`/proc/self/status`); elsewhere the
//! cache is still emptied after each document.
//!
//! Owns the watcher and the eviction; it knows nothing of templates, documents or the engine.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the watcher reads the resident memory: Typst allocates tens of MB a second at most here,
/// so the overshoot between two readings is small against the budget.
const POLL: Duration = Duration::from_millis(100);
/// The least time between two evictions.
const SPACING: Duration = Duration::from_secs(1);

/// Watches the resident memory while it lives; dropping it stops the watcher and empties Typst's cache.
pub(super) struct MemoBudget {
    stop: Arc<(Mutex<bool>, Condvar)>,
    watcher: Option<JoinHandle<Evictions>>,
    template: String,
}

/// What the watcher did, for the log.
#[derive(Default)]
struct Evictions {
    count: u32,
    peak_kib: u64,
}

impl MemoBudget {
    /// Starts watching; `None` only empties the cache at the end.
    pub(super) fn start(budget: Option<u64>, template: &str) -> MemoBudget {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let watcher = budget.filter(|_| resident_kib().is_some()).and_then(|b| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("typst-memory".into())
                .spawn(move || watch(b / 1024, &stop))
                .ok()
        });
        MemoBudget {
            stop,
            watcher,
            template: template.to_string(),
        }
    }
}

impl Drop for MemoBudget {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.stop;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cvar.notify_all();
        }
        if let Some(Ok(e)) = self.watcher.take().map(|w| w.join()) {
            if e.count > 0 {
                tracing::info!(
                    template = %self.template,
                    evictions = e.count,
                    peak_mib = e.peak_kib / 1024,
                    "typesetting kept within the memory budget by emptying Typst's cache"
                );
            }
        }
        typst::comemo::evict(0);
        release_free_memory();
    }
}

fn watch(budget_kib: u64, stop: &(Mutex<bool>, Condvar)) -> Evictions {
    let (lock, cvar) = stop;
    let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = Evictions::default();
    // Freed memory is reused before the heap grows again, so the resident memory stays near the budget
    // while the cache refills; it is emptied again once the memory passes the budget again, but never
    // twice within `SPACING`: a document whose pages alone pass the budget would otherwise lose its cache
    // at every reading and typeset without memoisation at all.
    let mut last: Option<Instant> = None;
    while !*done {
        let Some(rss) = resident_kib() else { break };
        seen.peak_kib = seen.peak_kib.max(rss);
        if rss > budget_kib && last.is_none_or(|t| t.elapsed() >= SPACING) {
            typst::comemo::evict(0);
            release_free_memory();
            seen.count += 1;
            last = Some(Instant::now());
            tracing::debug!(
                before_mib = rss / 1024,
                after_mib = resident_kib().unwrap_or(rss) / 1024,
                "Typst's cache emptied"
            );
        }
        done = cvar
            .wait_timeout(done, POLL)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    seen
}

/// The process's resident memory in MiB (Linux), for the log.
pub(super) fn resident_mib() -> Option<u64> {
    resident_kib().map(|k| k / 1024)
}

/// The process's resident memory in KiB (Linux), `None` where it cannot be read.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Hands freed heap pages back to the system. glibc's allocator keeps freed memory mapped for reuse, so
/// without this the resident memory would not fall after an eviction and could not be watched.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: `malloc_trim` takes no pointers and may be called at any time from any thread; it only
    // returns free pages of the allocator's arenas to the system.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resident_memory_where_it_can() {
        if cfg!(target_os = "linux") {
            let kib = resident_kib().expect("VmRSS in /proc/self/status");
            assert!(kib > 0);
        }
        // Starting and stopping the watcher with a budget already passed evicts and returns.
        drop(MemoBudget::start(Some(1), "test"));
    }
}
