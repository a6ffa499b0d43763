//! OpenLineage run events: a run's life told to a lineage service (Marquez, DataHub, a catalogue) as the
//! OpenLineage 2-0-2 `RunEvent`s START, then COMPLETE, FAIL or ABORT, with the inputs read and the outputs
//! written as datasets.
//!
//! Owns the events' shape (the standard facets used, boardpack's own `boardpack_run` facet), the run's
//! UUID, where events are kept on the store (`lineage/<pipeline>/<period>/<run-id>/<n>-<TYPE>.json`) and
//! their delivery to the configured endpoint (`openlineage:` in `config/boardpack.yaml`). It reads the plan
//! and the run record and changes neither: `execute` calls it once when a run starts and once when its
//! record is final. A failure to write or to deliver an event is a warning — lineage never fails a run,
//! nor holds back or undoes its publication.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::config::OpenLineageConfig;
use crate::period::Period;
use crate::plan::Plan;
use crate::record::{RunRecord, RunStatus};
use crate::world::World;

/// The version of the OpenLineage specification the events follow (the spec of OpenLineage 1.52.0).
pub const SPEC_VERSION: &str = "2-0-2";
/// Every event's `schemaURL`: the `RunEvent` definition of that version.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// The store prefix under which events are kept (`openlineage.store: true`).
pub const STORE_PREFIX: &str = "lineage";

/// Where boardpack's source is published, for `producer`: OpenLineage wants a URI naming the producer and
/// its version. The crate's `repository` when Cargo.toml names one; until then a `.invalid` address, which
/// names boardpack without pointing at a site it is not on.
const SOURCE: &str = match option_env!("CARGO_PKG_REPOSITORY") {
    Some(r) if !r.is_empty() => r,
    _ => "https://boardpack.invalid/boardpack",
};

/// A transition of a run, as OpenLineage names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
    /// A run stopped by a signal (recorded `interrupted`).
    Abort,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
            EventType::Abort => "ABORT",
        }
    }
}

/// `producer`: boardpack and its version.
pub fn producer() -> String {
    format!(
        "{}/releases/tag/v{}",
        SOURCE.trim_end_matches('/'),
        env!("CARGO_PKG_VERSION")
    )
}

/// The run's `runId`: OpenLineage wants a UUID, boardpack's run ids are `20220510T070000Z-1a2b3c`. A
/// name-based UUID of the run id, so that every event of a run — and anyone holding only the run record —
/// gets the same one: version 8 over SHA-256, as RFC 9562 (appendix B.2) shows for name-based UUIDs with a
/// modern hash. (Version 5 would need SHA-1 and a feature of the `uuid` crate that the rest of the tree
/// does not build.)
pub fn run_uuid(run_id: &str) -> uuid::Uuid {
    let digest = Sha256::new()
        .chain_update(b"boardpack run\n")
        .chain_update(run_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The START event of a run: the job, the period as the run's nominal time, and the inputs and seeds the
/// plan declares (their objects are not listed yet).
pub fn start_event(
    config: &OpenLineageConfig,
    plan: &Plan,
    period: &Period,
    record: &RunRecord,
) -> Json {
    let namespace = store_namespace(record);
    let inputs: Vec<Json> = plan
        .inputs
        .iter()
        .map(|i| json!({"namespace": namespace, "name": i.location}))
        .chain(seed_datasets(plan, record, false))
        .collect();
    event(
        EventType::Start,
        record.started_at,
        config,
        plan,
        period,
        record,
        None,
        inputs,
        Vec::new(),
    )
}

/// The last event of a run, once its record is final: COMPLETE for a published run, ABORT for one stopped
/// by a signal, FAIL otherwise — with `failure`, the run's error, as its `errorMessage`. The inputs are
/// those the record lists (with rows, bytes and objects), the outputs what the run published.
pub fn end_event(
    config: &OpenLineageConfig,
    plan: &Plan,
    period: &Period,
    record: &RunRecord,
    failure: Option<&str>,
) -> (EventType, Json) {
    let kind = end_type(record.status, failure.is_some());
    let namespace = store_namespace(record);
    let inputs: Vec<Json> = record
        .inputs
        .iter()
        .map(|i| {
            let mut statistics = json!({
                "_producer": producer(),
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
                "size": i.bytes,
                "fileCount": i.objects.len(),
            });
            if let Some(rows) = i.rows {
                statistics["rowCount"] = json!(rows);
            }
            let mut dataset = json!({
                "namespace": namespace,
                "name": i.location,
                "inputFacets": {"inputStatistics": statistics},
            });
            if !i.sha256.is_empty() {
                dataset["facets"] = json!({"version": version_facet(&i.sha256)});
            }
            dataset
        })
        .chain(seed_datasets(plan, record, true))
        .collect();
    // Rows are the step's: a table is one step's result; a PDF has none.
    let outputs: Vec<Json> = record
        .outputs
        .iter()
        .map(|o| {
            let step = crate::record::output_step(&o.path);
            let rows = o
                .path
                .ends_with(".parquet")
                .then(|| record.steps.iter().find(|s| s.id == step))
                .flatten()
                .and_then(|s| s.rows);
            let mut statistics = json!({
                "_producer": producer(),
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                "size": o.size,
                "fileCount": 1,
            });
            if let Some(rows) = rows {
                statistics["rowCount"] = json!(rows);
            }
            json!({
                "namespace": namespace,
                "name": o.path,
                "facets": {"version": version_facet(&o.sha256)},
                "outputFacets": {"outputStatistics": statistics},
            })
        })
        .collect();
    let time = record.finished_at;
    let event = event(
        kind, time, config, plan, period, record, failure, inputs, outputs,
    );
    (kind, event)
}

/// How a run ended, as OpenLineage names it: COMPLETE only when it was published (`failed` is whether the
/// run failed, its publication included); ABORT when a signal stopped it; FAIL otherwise (a failed or
/// abandoned run, or a succeeded one whose publication failed).
fn end_type(status: RunStatus, failed: bool) -> EventType {
    match (failed, status) {
        (false, _) => EventType::Complete,
        (true, RunStatus::Interrupted) => EventType::Abort,
        (true, _) => EventType::Fail,
    }
}

/// One event: the parts every event has, around its datasets.
#[allow(clippy::too_many_arguments)]
fn event(
    kind: EventType,
    time: DateTime<Utc>,
    config: &OpenLineageConfig,
    plan: &Plan,
    period: &Period,
    record: &RunRecord,
    failure: Option<&str>,
    inputs: Vec<Json>,
    outputs: Vec<Json>,
) -> Json {
    let producer = producer();
    let midnight = |d: chrono::NaiveDate| d.and_time(NaiveTime::MIN).and_utc().to_rfc3339();
    let mut run_facets = json!({
        // The period the run is for, from its first day to the day after its last (UTC midnights).
        "nominalTime": {
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
            "nominalStartTime": midnight(period.start()),
            "nominalEndTime": midnight(period.end().succ_opt().unwrap_or(period.end())),
        },
        "processing_engine": {
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
            "name": "boardpack",
            "version": record.tool.version,
            "openlineageAdapterVersion": record.tool.version,
        },
        // What OpenLineage has no facet for: boardpack's own run id (the store's `runs/…` prefix), the
        // period, what started the run, its record and whether it was published.
        "boardpack_run": {
            "_producer": producer,
            "_schemaURL": format!("{}/blob/v{}/README.md#observability", SOURCE.trim_end_matches('/'), env!("CARGO_PKG_VERSION")),
            "runId": record.run_id,
            "pipeline": record.pipeline,
            "period": record.period,
            "trigger": record.trigger,
            "status": if kind == EventType::Start { "running" } else { crate::schedule::history::status_name(record.status) },
            "published": record.published,
            "record": (kind != EventType::Start).then(|| crate::record::RunLayout::new(&record.pipeline, &record.period, &record.run_id).record()),
            "fingerprint": (!record.fingerprint.is_empty()).then_some(&record.fingerprint),
        },
    });
    if let Some(message) = failure {
        run_facets["errorMessage"] = json!({
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
            "message": message,
            "programmingLanguage": "Rust",
        });
    }
    let mut job = json!({
        "namespace": config.namespace,
        "name": plan.name,
        "facets": {
            "jobType": {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                "processingType": "BATCH",
                "integration": "BOARDPACK",
                "jobType": "PIPELINE",
            },
        },
    });
    if !plan.description.is_empty() {
        job["facets"]["documentation"] = json!({
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
            "description": plan.description,
        });
    }
    json!({
        "eventType": kind.name(),
        "eventTime": time.to_rfc3339(),
        "producer": producer,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_uuid(&record.run_id).to_string(), "facets": run_facets},
        "job": job,
        "inputs": inputs,
        "outputs": outputs,
    })
}

/// The namespace of the store's datasets: the store's root as the record names it (never with
/// credentials), without its trailing `/`; the dataset's name is its path under that root.
fn store_namespace(record: &RunRecord) -> String {
    record.store.trim_end_matches('/').to_string()
}

/// The seeds' files as datasets of the project (namespace `file`, as OpenLineage names local files; name
/// the path in the project), with their SHA-256 as version once the record has it.
fn seed_datasets<'a>(
    plan: &'a Plan,
    record: &'a RunRecord,
    versioned: bool,
) -> impl Iterator<Item = Json> + 'a {
    plan.seeds
        .iter()
        .flat_map(|s| s.files.iter())
        .map(move |f| {
            let mut d = json!({"namespace": "file", "name": f});
            if let Some(sha) = record.files.get(f).filter(|_| versioned) {
                d["facets"] = json!({"version": version_facet(sha)});
            }
            d
        })
}

fn version_facet(sha256: &str) -> Json {
    json!({
        "_producer": producer(),
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
        "datasetVersion": sha256,
    })
}

/// Where the store keeps the `n`th event of a run: `lineage/<pipeline>/<period>/<run-id>/<n>-<TYPE>.json`.
pub fn event_path(record: &RunRecord, n: u32, kind: EventType) -> String {
    format!(
        "{STORE_PREFIX}/{}/{}/{}/{n}-{}.json",
        record.pipeline,
        record.period,
        record.run_id,
        kind.name()
    )
}

/// Keeps and sends an event as `openlineage:` says: written to the store (`store: true`) and POSTed to
/// `url`. Each failure is a warning naming what failed; neither stops the other.
pub async fn emit(world: &World, record: &RunRecord, n: u32, kind: EventType, event: &Json) {
    let config = &world.config.openlineage;
    let body = match serde_json::to_vec_pretty(event) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::warn!("the OpenLineage {} event: {e}", kind.name());
            return;
        }
    };
    if config.store {
        let path = event_path(record, n, kind);
        if let Err(e) = world.store.put(&path, body.clone()).await {
            tracing::warn!(
                "writing the OpenLineage {} event to the store: {}",
                kind.name(),
                world.store.redact(&e.to_string())
            );
        }
    }
    if let Some(url) = config.url.as_deref().filter(|u| !u.trim().is_empty()) {
        post(config, url, kind, body).await;
    }
}

/// POSTs one event; a refusal, a timeout or an HTTP error is a warning with the URL as logs may show it
/// (credentials and tokens blanked, `crate::faults`).
async fn post(config: &OpenLineageConfig, url: &str, kind: EventType, body: Bytes) {
    // Shown without its query (where keys are often passed) and without user and password.
    let shown = match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            crate::faults::redact_url(&u)
        }
        Err(_) => "(the configured openlineage.url)".to_string(),
    };
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
        .body(body);
    // A key is read from the environment, never from the file (`api_key_env`).
    if let Some(key) = config
        .api_key_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok())
        .filter(|k| !k.is_empty())
    {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => {
            tracing::debug!("sent the OpenLineage {} event to {shown}", kind.name())
        }
        Ok(r) => tracing::warn!(
            "sending the OpenLineage {} event to {shown}: HTTP {} (the run is unaffected)",
            kind.name(),
            r.status()
        ),
        // `without_url`: the error must not print the URL a second time, unredacted.
        Err(e) => tracing::warn!(
            "sending the OpenLineage {} event to {shown}: {} (the run is unaffected)",
            kind.name(),
            crate::diagnostic::error_chain(&e.without_url())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_uuid_is_a_version_8_uuid_fixed_by_the_run_id() {
        let a = run_uuid("20220510T070000Z-1a2b3c");
        assert_eq!(a, run_uuid("20220510T070000Z-1a2b3c"));
        assert_ne!(a, run_uuid("20220510T070000Z-1a2b3d"));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn a_run_ends_in_the_event_its_status_names() {
        assert_eq!(end_type(RunStatus::Succeeded, false), EventType::Complete);
        // Succeeded, but its publication failed.
        assert_eq!(end_type(RunStatus::Succeeded, true), EventType::Fail);
        assert_eq!(end_type(RunStatus::Failed, true), EventType::Fail);
        assert_eq!(end_type(RunStatus::Abandoned, true), EventType::Fail);
        assert_eq!(end_type(RunStatus::Interrupted, true), EventType::Abort);
    }

    #[test]
    fn the_producer_names_the_version() {
        assert!(producer().ends_with(&format!("/v{}", env!("CARGO_PKG_VERSION"))));
        assert!(url::Url::parse(&producer()).is_ok());
    }
}
