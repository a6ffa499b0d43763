//! Leases: one run of a pipeline and period at a time, across processes and machines sharing a store.
//!
//! A lease is a numbered object `leases/<pipeline>/<period>/<generation>.json`, written only with the
//! store's create-if-absent put (`Store::put_new`: a hard link on a local folder, `If-None-Match: *` on
//! S3), so of two schedulers creating the same generation exactly one succeeds. The highest generation is
//! the lease. Its holder rewrites it to renew its expiry and marks it released at the end; anyone may
//! create the next generation once the current one is released or expired — taking over a lease is again
//! a create-if-absent, so two takers cannot both win. Older generations are deleted by the winner.
//!
//! Owns the lease objects only; what a run does while holding one is `runner`'s.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::Trigger;
use crate::store::{Store, StoreError};

/// What a lease object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseBody {
    pub pipeline: String,
    pub period: String,
    /// The run holding the lease (its record will be `runs/<pipeline>/<period>/<run_id>/run.json`).
    pub run_id: String,
    pub trigger: Trigger,
    /// Host and process id of the holder, for people.
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub released: bool,
}

impl LeaseBody {
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        !self.released && self.expires_at > now
    }
}

/// A lease held by this process.
#[derive(Debug, Clone)]
pub struct Lease {
    store: Store,
    path: String,
    prefix: String,
    generation: u64,
    pub body: LeaseBody,
}

/// The outcome of renewing a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// Another process took the lease over after it expired.
    Lost,
}

/// The outcome of asking for a lease.
#[derive(Debug)]
pub enum Acquired {
    /// This process holds the lease. `expired` is the previous holder's lease when it expired without
    /// being released: a process that died, whose run the caller records as abandoned.
    Held {
        lease: Lease,
        expired: Option<LeaseBody>,
    },
    /// Another run holds it.
    Busy(LeaseBody),
}

pub fn lease_prefix(pipeline: &str, period: &str) -> String {
    format!("leases/{pipeline}/{period}")
}

fn generation_path(prefix: &str, generation: u64) -> String {
    // Zero-padded, so that the store's listing order is the generations' order.
    format!("{prefix}/{generation:020}.json")
}

fn generation_of(path: &str) -> Option<u64> {
    path.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
}

/// The current lease of a pipeline and period, if any: the highest generation.
pub async fn current(
    store: &Store,
    pipeline: &str,
    period: &str,
) -> Result<Option<(u64, LeaseBody)>, StoreError> {
    let prefix = lease_prefix(pipeline, period);
    let Some(generation) = store
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|o| generation_of(&o.path))
        .max()
    else {
        return Ok(None);
    };
    let bytes = match store.get(&generation_path(&prefix, generation)).await {
        Ok(b) => b,
        // Deleted between the listing and the read: a newer generation exists; look again once.
        Err(StoreError::NotFound { .. }) => {
            return Box::pin(current(store, pipeline, period)).await;
        }
        Err(e) => return Err(e),
    };
    let body: LeaseBody = serde_json::from_slice(&bytes).map_err(|e| StoreError::Open {
        url: generation_path(&prefix, generation),
        reason: format!("not a lease: {e}"),
    })?;
    Ok(Some((generation, body)))
}

/// Asks for the lease of a pipeline and period for a run, to expire `ttl` after `now` unless renewed.
pub async fn acquire(
    store: &Store,
    pipeline: &str,
    period: &str,
    run_id: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Acquired, StoreError> {
    let prefix = lease_prefix(pipeline, period);
    let existing = current(store, pipeline, period).await?;
    if let Some((_, body)) = &existing
        && body.live(now)
    {
        return Ok(Acquired::Busy(body.clone()));
    }
    let generation = existing.as_ref().map(|(g, _)| g + 1).unwrap_or(0);
    let body = LeaseBody {
        pipeline: pipeline.to_string(),
        period: period.to_string(),
        run_id: run_id.to_string(),
        trigger,
        holder: holder(),
        acquired_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5)),
        released: false,
    };
    let path = generation_path(&prefix, generation);
    let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    match store.put_new(&path, Bytes::from(bytes)).await {
        Ok(()) => {}
        // Another process created this generation first: it holds the lease. (Unless the object is our
        // own: a put retried after a lost response finds the object its first attempt wrote.)
        Err(StoreError::AlreadyExists { .. }) => {
            let winner = store.get(&path).await?;
            return match serde_json::from_slice::<LeaseBody>(&winner) {
                Ok(b) if b.run_id == body.run_id && b.holder == body.holder => Ok(Acquired::Held {
                    lease: Lease {
                        store: store.clone(),
                        path,
                        prefix,
                        generation,
                        body,
                    },
                    expired: existing.map(|(_, b)| b).filter(|b| !b.released),
                }),
                Ok(b) => Ok(Acquired::Busy(b)),
                Err(e) => Err(StoreError::Open {
                    url: path,
                    reason: format!("not a lease: {e}"),
                }),
            };
        }
        Err(e) => return Err(e),
    }
    // Earlier generations are history now; removing them keeps the listing short.
    for old in store.list(&prefix).await.unwrap_or_default() {
        if generation_of(&old.path).is_some_and(|g| g < generation) {
            let _ = store.delete(&old.path).await;
        }
    }
    let expired = existing.map(|(_, b)| b).filter(|b| !b.released);
    Ok(Acquired::Held {
        lease: Lease {
            store: store.clone(),
            path,
            prefix,
            generation,
            body,
        },
        expired,
    })
}

impl Lease {
    /// Pushes the expiry to `ttl` after `now`. `Lost` when another process has taken the lease over
    /// (this one expired unrenewed): the caller must stop. An error is a store fault; the lease may still
    /// be renewed at the next attempt.
    pub async fn renew(
        &mut self,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Renewal, String> {
        let newest = self
            .store
            .list(&self.prefix)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|o| generation_of(&o.path))
            .max();
        if newest != Some(self.generation) {
            return Ok(Renewal::Lost);
        }
        self.body.expires_at =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
        self.write().await.map(|()| Renewal::Renewed)
    }

    /// Marks the lease released, so that the next run need not wait for it to expire.
    pub async fn release(mut self, now: DateTime<Utc>) -> Result<(), String> {
        self.body.released = true;
        self.body.expires_at = now;
        self.write().await
    }

    async fn write(&self) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(&self.body).map_err(|e| e.to_string())?;
        self.store
            .put(&self.path, Bytes::from(bytes))
            .await
            .map_err(|e| e.to_string())
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

fn holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_at_a_time_and_takeover_only_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("lake", dir.path(), &[]).unwrap();
        let t0 = Utc.with_ymd_and_hms(2022, 5, 12, 7, 0, 0).unwrap();
        let ttl = Duration::from_secs(300);
        let a = acquire(&store, "p", "2022-04", "run-a", Trigger::Schedule, t0, ttl)
            .await
            .unwrap();
        let Acquired::Held { mut lease, expired } = a else {
            panic!("the first asker holds the lease")
        };
        assert!(expired.is_none());
        // A second scheduler, a minute later, finds it held.
        let t1 = t0 + chrono::Duration::minutes(1);
        match acquire(&store, "p", "2022-04", "run-b", Trigger::Schedule, t1, ttl)
            .await
            .unwrap()
        {
            Acquired::Busy(b) => assert_eq!(b.run_id, "run-a"),
            other => panic!("expected busy, got {other:?}"),
        }
        // Renewed at 4 minutes, it is still held at 8 (past the first expiry).
        assert_eq!(
            lease.renew(t0 + chrono::Duration::minutes(4), ttl).await,
            Ok(Renewal::Renewed)
        );
        let t8 = t0 + chrono::Duration::minutes(8);
        assert!(matches!(
            acquire(&store, "p", "2022-04", "run-b", Trigger::Schedule, t8, ttl)
                .await
                .unwrap(),
            Acquired::Busy(_)
        ));
        // Not renewed again: at 10 minutes it has expired and is taken over; the old holder learns so.
        let t10 = t0 + chrono::Duration::minutes(10);
        let Acquired::Held { lease: b, expired } =
            acquire(&store, "p", "2022-04", "run-b", Trigger::Schedule, t10, ttl)
                .await
                .unwrap()
        else {
            panic!("an expired lease is taken over")
        };
        assert_eq!(expired.unwrap().run_id, "run-a");
        assert_eq!(lease.renew(t10, ttl).await, Ok(Renewal::Lost));
        // Released, the next run takes it at once, with nothing abandoned.
        b.release(t10).await.unwrap();
        let Acquired::Held { expired, .. } =
            acquire(&store, "p", "2022-04", "run-c", Trigger::Manual, t10, ttl)
                .await
                .unwrap()
        else {
            panic!("a released lease is free")
        };
        assert!(expired.is_none());
        assert_eq!(store.list("leases/p/2022-04").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn racing_askers_get_one_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("lake", dir.path(), &[]).unwrap();
        let t0 = Utc.with_ymd_and_hms(2022, 5, 12, 7, 0, 0).unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                acquire(
                    &store,
                    "p",
                    "2022-04",
                    &format!("run-{i}"),
                    Trigger::Schedule,
                    t0,
                    Duration::from_secs(60),
                )
                .await
                .unwrap()
            }));
        }
        let mut held = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Acquired::Held { .. }) {
                held += 1;
            }
        }
        assert_eq!(held, 1);
    }
}
