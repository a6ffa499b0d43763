//! Run observability through the binary: OpenLineage run events (START, then COMPLETE or FAIL) kept on the
//! store and POSTed to an endpoint, each validated against the OpenLineage JSON Schema checked in under
//! `tests/data/openlineage/`; an endpoint that refuses or fails leaves the run as it was, with a warning;
//! and the Prometheus textfile, parsed line by line as the text exposition format and replaced whole.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use boardpack::execute::Silent;
use boardpack::record::Trigger;
use boardpack::schedule::control::StopSignal;
use boardpack::schedule::{Settings, lease, runner};
use boardpack::world::FixedClock;
use chrono::{TimeZone, Utc};

use crate::pipeline::{PIPELINE, project, seed_visits};
use crate::support::{TestProject, boardpack, repo};

/// The core schema's `$id`: the specification of OpenLineage 1.52.0.
const CORE: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json";

/// The OpenLineage schema and the facet schemas the events use, compiled once per test: the event against
/// the core (which checks every facet's `_producer` and `_schemaURL`), each standard facet against its own
/// schema. Nothing is fetched: boon resolves only the resources it is given.
struct Spec {
    schemas: boon::Schemas,
    core: boon::SchemaIndex,
    /// Facet key (`errorMessage`) → its schema's `$id` and compiled schema.
    facets: BTreeMap<String, (String, boon::SchemaIndex)>,
}

impl Spec {
    fn load() -> Spec {
        let dir = repo().join("tests/data/openlineage");
        let read = |path: std::path::PathBuf| -> Value {
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        };
        let mut compiler = boon::Compiler::new();
        // `uri`, `uuid`, `date-time` are checked, not only annotated.
        compiler.enable_format_assertions();
        compiler
            .add_resource(CORE, read(dir.join("OpenLineage.json")))
            .unwrap();
        let mut facet_files = Vec::new();
        for entry in std::fs::read_dir(dir.join("facets")).unwrap() {
            let schema = read(entry.unwrap().path());
            let id = schema["$id"].as_str().unwrap().to_string();
            let key = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone();
            compiler.add_resource(&id, schema).unwrap();
            facet_files.push((key, id));
        }
        let mut schemas = boon::Schemas::new();
        let core = compiler.compile(CORE, &mut schemas).unwrap();
        let facets = facet_files
            .into_iter()
            .map(|(key, id)| {
                let index = compiler.compile(&id, &mut schemas).unwrap();
                (key, (id, index))
            })
            .collect();
        Spec {
            schemas,
            core,
            facets,
        }
    }

    /// Panics with boon's explanation unless the event is a valid RunEvent whose standard facets are valid
    /// by their own schemas (and name them as `_schemaURL`); boardpack's own facet is `boardpack_*`.
    fn check(&self, event: &Value) {
        if let Err(e) = self.schemas.validate(event, self.core) {
            panic!("not a valid OpenLineage event: {e:#}\n{event:#}");
        }
        let mut groups = vec![&event["run"]["facets"], &event["job"]["facets"]];
        for d in event["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .chain(event["outputs"].as_array().unwrap())
        {
            groups.extend([&d["facets"], &d["inputFacets"], &d["outputFacets"]]);
        }
        for group in groups.into_iter().filter_map(Value::as_object) {
            for (key, facet) in group {
                if key.starts_with("boardpack_") {
                    continue;
                }
                let (id, index) = self
                    .facets
                    .get(key)
                    .unwrap_or_else(|| panic!("facet `{key}` has no schema here"));
                let one = serde_json::json!({ key: facet });
                if let Err(e) = self.schemas.validate(&one, *index) {
                    panic!("facet `{key}` is not valid: {e:#}\n{facet:#}");
                }
                assert!(
                    facet["_schemaURL"]
                        .as_str()
                        .unwrap()
                        .starts_with(id.as_str()),
                    "facet `{key}` names another version of its schema: {facet:#}"
                );
            }
        }
    }
}

fn config(p: &TestProject, text: &str) {
    p.write("config/boardpack.yaml", text);
}

fn run_april(p: &TestProject) -> (i32, String, String) {
    boardpack(p.root(), &["run", "waits", "--period", "2022-04"])
}

/// The events the store keeps for each run of April: run id → file names in order, with their events.
fn stored_events(p: &TestProject) -> BTreeMap<String, Vec<(String, Value)>> {
    stored_events_of(p, "2022-04")
}

fn stored_events_of(p: &TestProject, period: &str) -> BTreeMap<String, Vec<(String, Value)>> {
    let dir = p.store_file(&format!("lineage/waits/{period}"));
    let mut runs = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return runs;
    };
    for run in entries {
        let run = run.unwrap();
        let mut files: Vec<(String, Value)> = std::fs::read_dir(run.path())
            .unwrap()
            .map(|f| {
                let f = f.unwrap();
                let event = serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
                (f.file_name().to_string_lossy().into_owned(), event)
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        runs.insert(run.file_name().to_string_lossy().into_owned(), files);
    }
    runs
}

fn published_run_id(p: &TestProject) -> String {
    let pointer: Value = serde_json::from_slice(
        &std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap(),
    )
    .unwrap();
    pointer["run_id"].as_str().unwrap().to_string()
}

fn names(files: &[(String, Value)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

/// The dataset of `list` named `name`.
fn dataset<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no dataset {name} in {list:#}"))
}

#[test]
fn a_run_keeps_its_start_and_complete_events_on_the_store() {
    let p = project();
    seed_visits(&p);
    config(&p, "openlineage:\n  store: true\n  namespace: nhs-icb\n");
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    let run_id = published_run_id(&p);
    let runs = stored_events(&p);
    let files = runs
        .get(&run_id)
        .unwrap_or_else(|| panic!("no events of {run_id}: {runs:?}"));
    assert_eq!(names(files), ["1-START.json", "2-COMPLETE.json"]);
    let spec = Spec::load();
    let (start, complete) = (&files[0].1, &files[1].1);
    for e in [start, complete] {
        spec.check(e);
        assert_eq!(e["job"]["namespace"], "nhs-icb");
        assert_eq!(e["job"]["name"], "waits");
        assert_eq!(
            e["run"]["facets"]["boardpack_run"]["runId"],
            run_id.as_str()
        );
        assert!(
            e["producer"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v{}", env!("CARGO_PKG_VERSION"))),
            "{e:#}"
        );
    }
    assert_eq!(start["eventType"], "START");
    assert_eq!(complete["eventType"], "COMPLETE");
    assert_eq!(start["run"]["runId"], complete["run"]["runId"]);
    // The period is the run's nominal time.
    assert_eq!(
        complete["run"]["facets"]["nominalTime"]["nominalStartTime"],
        "2022-04-01T00:00:00+00:00"
    );
    assert_eq!(
        complete["run"]["facets"]["nominalTime"]["nominalEndTime"],
        "2022-05-01T00:00:00+00:00"
    );
    assert_eq!(
        complete["run"]["facets"]["boardpack_run"]["published"],
        true
    );

    // Inputs: the store's prefix, declared at START, with what was read at COMPLETE (March and April).
    let record: Value = serde_json::from_slice(
        &std::fs::read(p.store_file(&format!("runs/waits/2022-04/{run_id}/run.json"))).unwrap(),
    )
    .unwrap();
    let namespace = record["store"].as_str().unwrap().trim_end_matches('/');
    let declared = dataset(&start["inputs"], "inputs/visits");
    assert_eq!(declared["namespace"], namespace);
    let read = dataset(&complete["inputs"], "inputs/visits");
    let stats = &read["inputFacets"]["inputStatistics"];
    assert_eq!(stats["rowCount"], 6, "{read:#}");
    assert_eq!(stats["fileCount"], 2, "{read:#}");
    assert_eq!(stats["size"], record["inputs"][0]["bytes"], "{read:#}");
    assert_eq!(
        read["facets"]["version"]["datasetVersion"],
        record["inputs"][0]["sha256"]
    );
    // Outputs: every published object, the tables with their step's rows.
    assert_eq!(
        start["outputs"].as_array().unwrap().len(),
        0,
        "nothing is written yet"
    );
    let outputs: BTreeSet<&str> = complete["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let recorded: BTreeSet<&str> = record["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, recorded);
    let table = dataset(
        &complete["outputs"],
        &format!("runs/waits/2022-04/{run_id}/tables/by_clinic.parquet"),
    );
    assert_eq!(table["outputFacets"]["outputStatistics"]["rowCount"], 3);
    let pdf = dataset(
        &complete["outputs"],
        &format!("runs/waits/2022-04/{run_id}/reports/report.pdf"),
    );
    assert!(
        pdf["outputFacets"]["outputStatistics"]["size"]
            .as_u64()
            .unwrap()
            > 1000
    );
}

/// The check above can fail: an event the specification refuses is refused.
#[test]
fn the_schema_check_refuses_what_the_specification_refuses() {
    let p = project();
    seed_visits(&p);
    config(&p, "openlineage:\n  store: true\n");
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    let complete = stored_events(&p)[&published_run_id(&p)][1].1.clone();
    let spec = Spec::load();
    spec.check(&complete);
    let broken: [(&str, fn(&mut Value)); 4] = [
        ("a run id that is no UUID", |e| {
            e["run"]["runId"] = "20220510T070000Z-1a2b3c".into()
        }),
        ("an unknown event type", |e| e["eventType"] = "DONE".into()),
        ("a facet without _producer", |e| {
            e["run"]["facets"]["nominalTime"]
                .as_object_mut()
                .unwrap()
                .remove("_producer");
        }),
        ("a row count that is not a number", |e| {
            e["outputs"][1]["outputFacets"]["outputStatistics"]["rowCount"] = "three".into()
        }),
    ];
    for (what, breaks) in broken {
        let mut e = complete.clone();
        breaks(&mut e);
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spec.check(&e)));
        assert!(refused.is_err(), "{what} was accepted");
    }
}

#[test]
fn a_failing_run_keeps_start_and_fail_with_its_error_message() {
    let p = project();
    seed_visits(&p);
    config(&p, "openlineage:\n  store: true\n");
    p.write(
        "sql/waits/summary.sql",
        "SELECT no_such_column FROM by_clinic",
    );
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 1, "{out}{err}");
    let runs = stored_events(&p);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (run_id, files) = runs.iter().next().unwrap();
    assert_eq!(names(files), ["1-START.json", "2-FAIL.json"]);
    let spec = Spec::load();
    let fail = &files[1].1;
    spec.check(&files[0].1);
    spec.check(fail);
    assert_eq!(files[0].1["run"]["runId"], fail["run"]["runId"]);
    assert_eq!(
        fail["job"]["namespace"], "boardpack",
        "the default namespace"
    );
    let message = fail["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("no_such_column"), "{message}");
    // The same error as the run record's, and nothing published.
    let record: Value = serde_json::from_slice(
        &std::fs::read(p.store_file(&format!("runs/waits/2022-04/{run_id}/run.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["error"], message);
    assert_eq!(fail["outputs"].as_array().unwrap().len(), 0);
    assert_eq!(fail["run"]["facets"]["boardpack_run"]["published"], false);
    assert_eq!(fail["run"]["facets"]["boardpack_run"]["status"], "failed");
}

#[test]
fn without_configuration_no_event_is_kept() {
    let p = project();
    seed_visits(&p);
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!p.store_file("lineage").exists());
}

#[test]
fn the_environment_turns_events_on_by_the_key_path() {
    let p = project();
    seed_visits(&p);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args(["--project", p.root().to_str().unwrap(), "--quiet"])
        .args(["run", "waits", "--period", "2022-04"])
        .env("BOARDPACK__OPENLINEAGE__STORE", "true")
        .env("BOARDPACK__OPENLINEAGE__NAMESPACE", "from-env")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let runs = stored_events(&p);
    let files = &runs[&published_run_id(&p)];
    assert_eq!(names(files), ["1-START.json", "2-COMPLETE.json"]);
    assert_eq!(files[1].1["job"]["namespace"], "from-env");
}

#[test]
fn a_bad_endpoint_url_is_refused_at_its_key() {
    let p = project();
    seed_visits(&p);
    config(&p, "openlineage:\n  url: marquez:5000/api/v1/lineage\n");
    let (code, out, err) = run_april(&p);
    assert_ne!(code, 0);
    assert!(
        err.contains("config/boardpack.yaml:2:3: openlineage.url: not an http:// or https:// URL"),
        "{out}{err}"
    );
}

/// 07:00 London time on the 1st of each month, for the month before.
const SCHEDULE: &str = "schedule:\n  cron: \"0 7 1 * *\"\n  timezone: Europe/London\n  builds: previous-month\n  ready: { poll: 50ms, deadline: 1h }\n";

#[test]
fn backfilled_runs_emit_their_events() {
    let p = project();
    seed_visits(&p);
    p.write("pipelines/waits.yaml", &format!("{PIPELINE}{SCHEDULE}"));
    config(&p, "openlineage:\n  store: true\n");
    let (code, out, err) = boardpack(
        p.root(),
        &["backfill", "waits", "--from", "2022-04", "--to", "2022-05"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let spec = Spec::load();
    for period in ["2022-04", "2022-05"] {
        let runs = stored_events_of(&p, period);
        assert_eq!(runs.len(), 1, "{period}: {runs:?}");
        let files = runs.values().next().unwrap();
        assert_eq!(
            names(files),
            ["1-START.json", "2-COMPLETE.json"],
            "{period}"
        );
        for (_, e) in files {
            spec.check(e);
            assert_eq!(e["run"]["facets"]["boardpack_run"]["trigger"], "backfill");
            assert_eq!(e["run"]["facets"]["boardpack_run"]["period"], period);
        }
    }
}

/// The scheduler's runs emit through the same hook, and a run whose process died — its START sent, its
/// lease expired — gets its FAIL from the pass that records it abandoned.
#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_emits_its_runs_events_and_a_fail_for_an_abandoned_run() {
    let p = project();
    seed_visits(&p);
    p.write("pipelines/waits.yaml", &format!("{PIPELINE}{SCHEDULE}"));
    config(
        &p,
        "openlineage:\n  store: true\nscheduler:\n  catch_up_window: 1d\n",
    );
    let t0 = Utc.with_ymd_and_hms(2022, 5, 1, 6, 1, 0).unwrap();
    let w = p.world().with_clock(Arc::new(FixedClock(t0)));
    // A process took the lease at 06:01 and was killed.
    lease::acquire(
        &w.store,
        "waits",
        "2022-04",
        "20220501T060100Z-dead00",
        Trigger::Schedule,
        t0,
        std::time::Duration::from_secs(300),
    )
    .await
    .unwrap();
    let later = p
        .world()
        .with_clock(Arc::new(FixedClock(t0 + chrono::Duration::minutes(10))));
    runner::pass(
        &later,
        &Settings::from_config(&later.config.scheduler).unwrap(),
        &StopSignal::new(std::time::Duration::from_secs(5)),
        Arc::new(Silent),
        &|_: &str| {},
        false,
    )
    .await
    .expect("the pass runs");
    let runs = stored_events_of(&p, "2022-04");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let spec = Spec::load();
    let dead = &runs["20220501T060100Z-dead00"];
    assert_eq!(names(dead), ["2-FAIL.json"]);
    spec.check(&dead[0].1);
    let message = dead[0].1["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("lease expired"), "{message}");
    assert_eq!(
        dead[0].1["run"]["facets"]["boardpack_run"]["status"],
        "abandoned"
    );
    let (_, scheduled) = runs
        .iter()
        .find(|(id, _)| id.as_str() != "20220501T060100Z-dead00")
        .unwrap();
    assert_eq!(names(scheduled), ["1-START.json", "2-COMPLETE.json"]);
    for (_, e) in scheduled {
        spec.check(e);
        assert_eq!(e["run"]["facets"]["boardpack_run"]["trigger"], "schedule");
    }
}

/// The requests the test endpoint received: each one's path, headers (lower-cased names) and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
type Headers = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// An HTTP endpoint in this process answering every request with `status`, recording each request's path
/// and body; its base URL.
fn endpoint(status: &'static str) -> (String, Received) {
    let (url, received, _) = endpoint_with_headers(status);
    (url, received)
}

fn endpoint_with_headers(status: &'static str) -> (String, Received, Headers) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let log = received.clone();
    let headers: Headers = Arc::default();
    let header_log = headers.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            let mut these = BTreeMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let name = name.to_ascii_lowercase();
                    if name == "content-length" {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    these.insert(name, value.trim().to_string());
                }
            }
            header_log.lock().unwrap().push(these);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push((path, body));
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, received, headers)
}

#[test]
fn every_event_is_posted_to_the_endpoint() {
    let p = project();
    seed_visits(&p);
    let (url, received) = endpoint("201 Created");
    config(
        &p,
        &format!("openlineage:\n  url: {url}/api/v1/lineage\n  namespace: icb\n"),
    );
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("OpenLineage"), "no warning: {err}");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:?}");
    let spec = Spec::load();
    let events: Vec<Value> = received
        .iter()
        .map(|(path, body)| {
            assert_eq!(path, "/api/v1/lineage");
            serde_json::from_slice(body).expect("JSON")
        })
        .collect();
    for e in &events {
        spec.check(e);
    }
    assert_eq!(events[0]["eventType"], "START");
    assert_eq!(events[1]["eventType"], "COMPLETE");
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
    assert_eq!(
        events[1]["run"]["facets"]["boardpack_run"]["runId"],
        published_run_id(&p).as_str()
    );
    // Sent, not kept: `store` was not asked for.
    assert!(!p.store_file("lineage").exists());
}

#[test]
fn an_endpoint_that_fails_leaves_the_run_published_with_a_warning() {
    let p = project();
    seed_visits(&p);
    let (url, received) = endpoint("500 Internal Server Error");
    // A token in the URL never reaches the log.
    let with_token = url.replace("http://", "http://lineage:s3cr3tpass@") + "/api?api_key=k3yk3y";
    config(
        &p,
        &format!("openlineage:\n  url: {with_token}\n  store: true\n"),
    );
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(received.lock().unwrap().len(), 2);
    assert!(
        err.contains("sending the OpenLineage START event to ")
            && err.contains("HTTP 500")
            && err.contains("the run is unaffected"),
        "{err}"
    );
    assert!(
        !err.contains("s3cr3tpass") && !err.contains("k3yk3y"),
        "{err}"
    );
    // Named without its query and credentials.
    assert!(
        err.contains(&format!(
            "sending the OpenLineage COMPLETE event to {url}/api: HTTP 500"
        )),
        "{err}"
    );
    // Published, and the events still kept on the store.
    let run_id = published_run_id(&p);
    assert_eq!(
        names(&stored_events(&p)[&run_id]),
        ["1-START.json", "2-COMPLETE.json"]
    );
}

#[test]
fn an_endpoint_that_refuses_connections_leaves_the_run_published_with_a_warning() {
    let p = project();
    seed_visits(&p);
    // A port nobody listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config(
        &p,
        &format!("openlineage:\n  url: http://127.0.0.1:{port}/api/v1/lineage\n  store: true\n"),
    );
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    for kind in ["START", "COMPLETE"] {
        assert!(
            err.contains(&format!(
                "sending the OpenLineage {kind} event to http://127.0.0.1:{port}/api/v1/lineage"
            )),
            "{err}"
        );
    }
    let run_id = published_run_id(&p);
    assert_eq!(
        names(&stored_events(&p)[&run_id]),
        ["1-START.json", "2-COMPLETE.json"]
    );
}

/// One line of the text exposition format.
#[derive(Debug)]
enum PromLine {
    Help(String),
    Type(String),
    Sample {
        name: String,
        labels: BTreeMap<String, String>,
    },
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn bad(line: &str, why: &str) -> ! {
    panic!("{why}: {line:?}")
}

/// Parses a line as the exposition format says (HELP, TYPE, or `name{label="value",…} number`), label
/// values with their `\\`, `\"` and `\n` escapes; panics naming the line otherwise.
fn parse_prom_line(line: &str) -> PromLine {
    if let Some(rest) = line.strip_prefix("# HELP ") {
        let (name, help) = rest
            .split_once(' ')
            .unwrap_or_else(|| bad(line, "no help text"));
        assert!(is_metric_name(name) && !help.is_empty(), "{line}");
        return PromLine::Help(name.to_string());
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        let (name, kind) = rest.split_once(' ').unwrap_or_else(|| bad(line, "no type"));
        assert!(
            is_metric_name(name)
                && ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
            "{line}"
        );
        return PromLine::Type(name.to_string());
    }
    assert!(
        !line.starts_with('#'),
        "a comment that is neither HELP nor TYPE: {line}"
    );
    let end = line
        .find(['{', ' '])
        .unwrap_or_else(|| bad(line, "no value"));
    let name = &line[..end];
    assert!(is_metric_name(name), "{line}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // label name
            let start = chars
                .peek()
                .map(|(i, _)| *i)
                .unwrap_or_else(|| bad(line, "open labels"));
            let mut key_end = start;
            while let Some((i, c)) = chars.next() {
                if c == '=' {
                    key_end = i;
                    break;
                }
            }
            let key = &inner[start..key_end];
            assert!(
                is_metric_name(key) && !key.contains(':'),
                "label name {key:?}: {line}"
            );
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars
                    .next()
                    .unwrap_or_else(|| bad(line, "unterminated value"))
                {
                    (_, '"') => break,
                    (_, '\\') => match chars.next().unwrap_or_else(|| bad(line, "bad escape")).1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => bad(line, "unknown escape"),
                    },
                    (_, '\n') => bad(line, "raw newline"),
                    (_, c) => value.push(c),
                }
            }
            labels.insert(key.to_string(), value);
            match chars.next().unwrap_or_else(|| bad(line, "open labels")) {
                (_, ',') => continue,
                (i, '}') => {
                    rest = &inner[i + 1..];
                    break;
                }
                _ => bad(line, "after a label value"),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| bad(line, "no space before the value"));
    // A value, optionally followed by a timestamp.
    let mut parts = value.split(' ');
    let number = parts.next().unwrap();
    assert!(
        number.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&number),
        "not a number: {line}"
    );
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| bad(line, "bad timestamp"));
    }
    PromLine::Sample {
        name: name.to_string(),
        labels,
    }
}

/// The file's samples by metric name, checked: every sample's family has one HELP and one TYPE before it.
fn parse_prom(text: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut samples: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in text.lines() {
        match parse_prom_line(line) {
            PromLine::Help(n) => assert!(helped.insert(n), "two HELP lines: {line}"),
            PromLine::Type(n) => assert!(typed.insert(n), "two TYPE lines: {line}"),
            PromLine::Sample { name, labels } => {
                assert!(
                    helped.contains(&name) && typed.contains(&name),
                    "a sample before its HELP and TYPE: {line}"
                );
                samples.entry(name).or_default().push(labels);
            }
        }
    }
    assert!(text.ends_with('\n'), "the last line ends in a newline");
    samples
}

/// The value of the one sample of `name` whose labels include `with`.
fn sample_value(text: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            with.iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{name} {with:?} in\n{text}");
    found[0]
}

#[test]
fn the_metrics_file_is_valid_exposition_format_naming_every_step_and_replaced_whole() {
    let p = project();
    seed_visits(&p);
    config(&p, "metrics:\n  textfile_dir: node_exporter\n");
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    let file = p.root().join("node_exporter/boardpack_waits.prom");
    let text = std::fs::read_to_string(&file).expect("the metrics file");
    let samples = parse_prom(&text);
    for family in [
        "boardpack_run_duration_seconds",
        "boardpack_run_succeeded",
        "boardpack_run_published",
        "boardpack_run_finished_timestamp_seconds",
        "boardpack_run_cache_hits",
        "boardpack_step_duration_seconds",
        "boardpack_step_rows",
        "boardpack_step_cached",
        "boardpack_input_bytes",
        "boardpack_input_rows",
    ] {
        assert!(samples.contains_key(family), "{family} in\n{text}");
    }
    let steps: BTreeSet<&str> = samples["boardpack_step_duration_seconds"]
        .iter()
        .map(|l| l["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        BTreeSet::from(["by_clinic", "summary", "sane", "report"])
    );
    for labels in samples.values().flatten() {
        assert_eq!(labels["pipeline"], "waits");
        assert_eq!(labels["period"], "2022-04");
    }
    assert_eq!(
        sample_value(&text, "boardpack_run_cache_hits", &[("pipeline", "waits")]),
        0.0
    );
    assert!(sample_value(&text, "boardpack_input_bytes", &[("input", "visits")]) > 0.0);
    // Only the file: the one written beside it was renamed over it.
    let left: Vec<String> = std::fs::read_dir(p.root().join("node_exporter"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["boardpack_waits.prom"]);

    // The next run replaces the file by a rename (a new inode), never by rewriting it where the collector
    // may be reading; its steps come from the step cache this time.
    use std::os::unix::fs::MetadataExt;
    let before = std::fs::metadata(&file).unwrap().ino();
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(std::fs::metadata(&file).unwrap().ino(), before);
    let text = std::fs::read_to_string(&file).unwrap();
    parse_prom(&text);
    assert!(sample_value(&text, "boardpack_run_cache_hits", &[("pipeline", "waits")]) >= 2.0);
    assert_eq!(
        sample_value(&text, "boardpack_step_cached", &[("step", "by_clinic")]),
        1.0
    );
    let left = std::fs::read_dir(p.root().join("node_exporter"))
        .unwrap()
        .count();
    assert_eq!(left, 1);
}

#[test]
fn the_api_key_is_read_from_the_variable_named_and_sent_as_a_bearer_token() {
    let p = project();
    seed_visits(&p);
    let (url, _, headers) = endpoint_with_headers("200 OK");
    config(
        &p,
        &format!(
            "openlineage:\n  url: {url}/api/v1/lineage\n  api_key_env: TEST_OPENLINEAGE_KEY\n"
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args(["--project", p.root().to_str().unwrap(), "--quiet"])
        .args(["run", "waits", "--period", "2022-04"])
        .env("TEST_OPENLINEAGE_KEY", "k-0123456789")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let headers = headers.lock().unwrap().clone();
    assert_eq!(headers.len(), 2);
    for h in &headers {
        assert_eq!(h["authorization"], "Bearer k-0123456789");
        assert_eq!(h["content-type"], "application/json");
    }
}

/// An endpoint that takes the connection and never answers holds the run up to `timeout_seconds` per
/// event, then is a warning like any other failure.
#[test]
fn an_endpoint_that_never_answers_times_out_and_the_run_is_published() {
    let p = project();
    seed_visits(&p);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    config(
        &p,
        &format!(
            "openlineage:\n  url: http://{addr}/lineage\n  timeout_seconds: 1\n  store: true\n"
        ),
    );
    let started = std::time::Instant::now();
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        err.contains("sending the OpenLineage START event to ") && err.contains("timed out"),
        "{err}"
    );
    assert_eq!(
        names(&stored_events(&p)[&published_run_id(&p)]),
        ["1-START.json", "2-COMPLETE.json"]
    );
}

/// Seeds are inputs too: the project's files, with their SHA-256 once the run read them.
#[test]
fn seeds_are_input_datasets_of_the_project() {
    let p = project();
    seed_visits(&p);
    p.write(
        "config/waits/clinics.csv",
        "clinic,lead\nCardiology,Dr Patel\nDermatology,Dr Khan\n",
    );
    p.write("sql/waits/leads.sql", "SELECT clinic, lead FROM clinics");
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE.replace(
            "steps:\n",
            "seeds:\n  clinics: waits/clinics.csv\nsteps:\n  - id: leads\n    sql: waits/leads.sql\n",
        ),
    );
    config(&p, "openlineage:\n  store: true\n");
    let (code, out, err) = run_april(&p);
    assert_eq!(code, 0, "{out}{err}");
    let files = &stored_events(&p)[&published_run_id(&p)];
    let spec = Spec::load();
    for (_, e) in files {
        spec.check(e);
        let seed = dataset(&e["inputs"], "config/waits/clinics.csv");
        assert_eq!(seed["namespace"], "file");
    }
    let record: Value = serde_json::from_slice(
        &std::fs::read(p.store_file(&format!(
            "runs/waits/2022-04/{}/run.json",
            published_run_id(&p)
        )))
        .unwrap(),
    )
    .unwrap();
    let seed = dataset(&files[1].1["inputs"], "config/waits/clinics.csv");
    assert_eq!(
        seed["facets"]["version"]["datasetVersion"],
        record["files"]["config/waits/clinics.csv"]
    );
}
