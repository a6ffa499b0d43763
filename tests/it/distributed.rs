//! Distributed execution (feature `distributed`): the shipped board pack on a small sample, run on a
//! Ballista cluster — a scheduler in this process and two executors, child processes of the `boardpack`
//! binary, on loopback ports, all reaching the in-process S3 server as their shared store, each with
//! credentials from its own configuration or environment — publishes the same bytes as the local engine. An executor killed during a
//! run leaves either identical outputs or a failed run with nothing published, and a re-run succeeds. A
//! scheduler that does not answer fails the run before anything is staged.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boardpack::cluster::{SchedulerOptions, run_scheduler};
use boardpack::execute::{RunFailure, RunOutcome};
use boardpack::period::Month;
use boardpack::plan;
use boardpack::record::{RunRecord, RunStatus};
use boardpack::sample::{self, SampleOptions};
use boardpack::store::Store;
use boardpack::world::World;

use crate::s3_server::{BUCKET, S3Server};
use crate::support::repo;

const PIPELINE: &str = "board-pack";
const PERIOD: &str = "2022-04";

/// Writes a little of the sample data into a new store: the board pack's inputs (without GP appointments)
/// for March and April 2022, outpatient appointments for April only. The pack's history and baselines
/// are shorter than real ones, which its SQL handles as it handles a new input.
async fn sample_store() -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    let plan = plan::load_named(&world.project, PIPELINE).unwrap();
    let april = Month {
        year: 2022,
        month: 4,
    };
    let opts = SampleOptions {
        from: Month {
            year: 2022,
            month: 3,
        },
        to: april,
        only_months: vec![("op_attendances".to_string(), vec![april])],
        only: crate::sample_pack::pack_inputs(&plan),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    store
}

/// Where a run's store is: a local folder, or a prefix of the in-process S3 server's bucket.
struct Lake {
    /// The store URL (a folder path, or `s3://bucket/<prefix>`).
    url: String,
    /// The store's builder options (endpoint and credentials of the test server), as configuration.
    options: Vec<(String, String)>,
    /// The same for a child process, as the AWS SDK's environment variables only.
    env: Vec<(&'static str, String)>,
    /// The folder on this machine that holds the store's objects, one file each, to read outputs back.
    dir: PathBuf,
}

impl Lake {
    fn folder(dir: &Path) -> Lake {
        Lake {
            url: dir.to_str().unwrap().to_string(),
            options: Vec::new(),
            env: Vec::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// `s3://bucket/lake` on `s3`, holding a copy of every object of the folder `from`, uploaded through
    /// the S3 API.
    async fn s3_copy_of(s3: &S3Server, from: &Path) -> Lake {
        let lake = Lake {
            url: format!("s3://{BUCKET}/lake"),
            options: s3.options(),
            env: s3.env(),
            dir: s3.bucket_dir().join("lake"),
        };
        let store = lake.store();
        for file in files_under(from) {
            let key = file
                .strip_prefix(from)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let bytes = std::fs::read(&file).unwrap();
            store.put(&key, bytes.into()).await.expect("upload");
        }
        lake
    }

    fn store(&self) -> Store {
        Store::open(&self.url, &repo(), &self.options).unwrap()
    }
}

/// The world of the repository's project on `lake`, with its SQL on `engine` (`local` or a scheduler).
fn world(lake: &Lake, engine: &str) -> World {
    // Opened on a memory store, then pointed at the lake: the project's own configuration names neither.
    let mut world = World::open(&repo(), Some("memory://")).unwrap();
    world.store = lake.store();
    let mut config = (*world.config).clone();
    config.store.url = lake.url.clone();
    config.store.options = lake.options.iter().cloned().collect();
    config.engine.url = engine.to_string();
    world.config = Arc::new(config);
    world
}

async fn run(world: &World) -> Result<RunOutcome, RunFailure> {
    crate::support::run_in(world, PIPELINE, &[("period", PERIOD)]).await
}

/// Every output of a run by its path within the run (`tables/x.parquet`), with the SHA-256 of the bytes
/// on the store (checked against the record).
fn output_hashes(store: &Path, record: &RunRecord) -> BTreeMap<String, String> {
    let prefix = format!("runs/{PIPELINE}/{PERIOD}/{}/", record.run_id);
    record
        .outputs
        .iter()
        .map(|o| {
            let bytes = std::fs::read(store.join(&o.path)).unwrap();
            assert_eq!(boardpack::store::sha256_hex(&bytes), o.sha256, "{}", o.path);
            let within = o
                .path
                .strip_prefix(&prefix)
                .expect("under the run's prefix");
            (within.to_string(), o.sha256.clone())
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An executor process, killed when dropped (a failing test leaves none behind).
struct Executor {
    child: Child,
    work_dir: tempfile::TempDir,
    flight_port: u16,
}

impl Executor {
    /// An executor reaching `lake` with the credentials in its own environment (as a container or a pod
    /// would have them), never from the scheduler or a plan.
    fn start(scheduler_port: u16, lake: &Lake, log: &Path) -> Executor {
        let work_dir = tempfile::tempdir().unwrap();
        let flight_port = free_port();
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_boardpack"))
            .args(["--project", repo().to_str().unwrap()])
            .args(["--store", &lake.url])
            .args(["cluster", "executor", "--bind", "127.0.0.1"])
            .args(["--external-host", "127.0.0.1", "--slots", "2"])
            .args(["--scheduler", &format!("127.0.0.1:{scheduler_port}")])
            .args(["--flight-port", &flight_port.to_string()])
            .args(["--grpc-port", &free_port().to_string()])
            .args(["--work-dir", work_dir.path().to_str().unwrap()])
            .env("BOARDPACK_LOG", "info")
            // The engine's memory limit, which an executor keeps to as a local run does.
            .env("BOARDPACK_MEMORY_LIMIT", "1GiB")
            .envs(lake.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the boardpack binary starts");
        Executor {
            child,
            work_dir,
            flight_port,
        }
    }

    /// The jobs whose tasks this executor ran (Ballista keeps each job's shuffle files in a folder named
    /// after the job, for a while after it finishes).
    fn jobs(&self) -> usize {
        std::fs::read_dir(self.work_dir.path())
            .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
            .unwrap_or(0)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scheduler on a loopback port, in this test's runtime, and two executors reaching `store`.
struct Cluster {
    url: String,
    executors: Vec<Executor>,
    _logs: tempfile::TempDir,
}

impl Cluster {
    /// Everything the executors logged.
    fn full_logs(&self) -> String {
        (0..self.executors.len())
            .map(|i| {
                std::fs::read_to_string(self._logs.path().join(format!("executor-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The executors' logs, for a failure's message.
    fn logs(&self) -> String {
        (0..self.executors.len())
            .map(|i| {
                let path = self._logs.path().join(format!("executor-{i}.log"));
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "executor {i}:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn cluster(lake: &Lake) -> Cluster {
    // The scheduler and the client log into the test's output when BOARDPACK_LOG asks (to see why a
    // run hangs or fails: heartbeats, stages, fetches).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("BOARDPACK_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let world = world(lake, "local");
    tokio::spawn(run_scheduler(
        listener,
        SchedulerOptions {
            external_host: "127.0.0.1".into(),
            // Short, so that a killed executor is noticed within the test; executors report every few
            // seconds at most, even when busy.
            executor_timeout_seconds: 15,
        },
        Some(world.store.clone()),
    ));
    let logs = tempfile::tempdir().unwrap();
    let executors: Vec<Executor> = (0..2)
        .map(|i| Executor::start(port, lake, &logs.path().join(format!("executor-{i}.log"))))
        .collect();
    // An executor serves Arrow Flight once it has joined the scheduler.
    let started = Instant::now();
    for e in &executors {
        let addr: SocketAddr = format!("127.0.0.1:{}", e.flight_port).parse().unwrap();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "executor did not start: {}",
                std::fs::read_to_string(logs.path().join("executor-0.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Cluster {
        url: format!("ballista://127.0.0.1:{port}"),
        executors,
        _logs: logs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_pack_on_a_cluster_publishes_the_bytes_of_a_local_run() {
    let local_store = sample_store().await;
    let local_lake = Lake::folder(local_store.path());
    let s3 = S3Server::start().await;
    let lake = Lake::s3_copy_of(&s3, local_store.path()).await;

    let started = Instant::now();
    let local = run(&world(&local_lake, "local"))
        .await
        .expect("the local run succeeds");
    let local_time = started.elapsed();
    let expected = output_hashes(local_store.path(), &local.record);
    assert!(
        expected.keys().filter(|k| k.ends_with(".parquet")).count() >= 10,
        "{expected:?}"
    );

    let c = cluster(&lake).await;
    let started = Instant::now();
    let remote = run(&world(&lake, &c.url))
        .await
        .unwrap_or_else(|e| panic!("the cluster run fails: {}\n{}", e.message, c.logs()));
    eprintln!(
        "board pack {PERIOD}: local {:.1} s, cluster {:.1} s",
        local_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(remote.record.status, RunStatus::Succeeded);
    // The same inputs and files were read (the fingerprint covers them), and every output (tables and
    // the PDF) has the same bytes.
    assert_eq!(remote.record.fingerprint, local.record.fingerprint);
    assert_eq!(output_hashes(&lake.dir, &remote.record), expected);
    // The cluster read its inputs and wrote its outputs through the S3 API.
    let requests = s3.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/inputs/"))
            && requests
                .iter()
                .any(|r| r.starts_with("PUT ") && r.contains("/runs/")),
        "{:?}",
        &requests[..requests.len().min(20)]
    );
    // The store's secret reached the executors through their environment only: no log line shows it.
    let secret = &lake
        .options
        .iter()
        .find(|(k, _)| k == "secret_access_key")
        .unwrap()
        .1;
    let logs = c.full_logs();
    assert!(
        logs.contains("Executor registration"),
        "no executor logged: {logs:?}"
    );
    assert!(
        !logs.contains(secret.as_str()),
        "an executor logged the secret"
    );
    // Each executor's memory pool is the configured engine limit, not Ballista's share of the host.
    assert_eq!(
        logs.matches("Executor memory pool: 1.0 GiB (configured")
            .count(),
        2,
        "{logs}"
    );
    // The queries ran on the executors.
    let jobs: Vec<usize> = c.executors.iter().map(Executor::jobs).collect();
    eprintln!("jobs with tasks on each executor: {jobs:?}");
    assert!(jobs.iter().sum::<usize>() > 0, "no executor ran a task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_lost_during_a_run_leaves_identical_outputs_or_nothing_published() {
    let local_store = sample_store().await;
    // The cluster's copy is taken before the local run, so that it holds the inputs alone.
    let s3 = S3Server::start().await;
    let lake = Lake::s3_copy_of(&s3, local_store.path()).await;
    let local = run(&world(&Lake::folder(local_store.path()), "local"))
        .await
        .expect("the local run succeeds");
    let expected = output_hashes(local_store.path(), &local.record);

    let mut c = cluster(&lake).await;
    let remote = world(&lake, &c.url);
    let running = tokio::spawn({
        let remote = remote.clone();
        async move { run(&remote).await }
    });
    // Kill an executor as soon as it has run a task of the run: whatever it holds (shuffle files, a
    // result not yet fetched) is lost with it.
    let started = Instant::now();
    let victim = loop {
        if let Some(i) = c.executors.iter().position(|e| e.jobs() > 0) {
            break i;
        }
        assert!(
            !running.is_finished(),
            "the run finished before any executor ran a task"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.executors[victim].kill();
    assert!(
        !running.is_finished(),
        "the run finished before the executor was killed"
    );

    let pointer = lake.dir.join(format!("published/{PIPELINE}/{PERIOD}.json"));
    match running.await.unwrap() {
        Ok(outcome) => {
            eprintln!("the run survived the lost executor");
            assert_eq!(output_hashes(&lake.dir, &outcome.record), expected);
            assert!(pointer.exists());
        }
        Err(failure) => {
            eprintln!("the run failed cleanly: {}", failure.message);
            assert!(!pointer.exists(), "a failed run published");
            let record: RunRecord = serde_json::from_slice(
                &std::fs::read(lake.dir.join(failure.record_path.unwrap())).unwrap(),
            )
            .unwrap();
            assert_eq!(record.status, RunStatus::Failed);
            assert!(!record.published && record.outputs.is_empty());
            // Nothing it staged is left: only run records under runs/.
            let staged: Vec<PathBuf> = files_under(&lake.dir.join("runs"))
                .into_iter()
                .filter(|p| !p.ends_with("run.json"))
                .collect();
            assert!(staged.is_empty(), "{staged:?}");
        }
    }
    // With one executor left, a re-run publishes the local run's bytes.
    let again = run(&remote)
        .await
        .unwrap_or_else(|e| panic!("the re-run fails: {}", e.message));
    assert_eq!(output_hashes(&lake.dir, &again.record), expected);
    assert!(pointer.exists());
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_scheduler_that_does_not_answer_fails_the_run_before_anything_is_staged() {
    let store = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let url = format!("ballista://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let failure = run(&world(&Lake::folder(store.path()), &url))
        .await
        .expect_err("the run fails");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        failure.message.contains("starting the engine")
            && failure.message.contains(&url)
            && failure.message.contains("does not answer"),
        "{}",
        failure.message
    );
    // No input was read and nothing staged: the failure's record is the only file of the run.
    let files = files_under(&store.path().join("runs"));
    assert_eq!(files.len(), 1, "{files:?}");
    let record: RunRecord = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert!(record.inputs.is_empty() && record.steps.is_empty() && record.outputs.is_empty());
    assert!(!store.path().join("published").exists());
}
