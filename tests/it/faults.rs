//! Faults of the outside world (issue 8): an S3 store that throttles, refuses, or dies mid-run; a process
//! killed with SIGKILL mid-run; a store that stops accepting writes (a full disk); and credentials that
//! must not show anywhere. In every case nothing of the broken run looks published (no `published/`
//! pointer, no `succeeded` record), and the next run succeeds.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use boardpack::record::{RunRecord, RunStatus};
use boardpack::world::World;
use bytes::Bytes;

use crate::pipeline::{PIPELINE, project, seed_visits};
use crate::s3_server::S3Server;
use crate::support::{TestProject, run_period};

/// Every file under a folder, as paths relative to it (sorted).
pub(crate) fn files_under(dir: &FsPath) -> Vec<String> {
    fn walk(base: &FsPath, dir: &FsPath, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The waits project with its store on the S3 server, and its sample visits uploaded through the store.
pub(crate) async fn s3_project(s3: &S3Server) -> (TestProject, World) {
    let p = project();
    seed_visits(&p);
    p.write("config/boardpack.yaml", &s3.config_yaml("lake"));
    let world = p.world();
    let local = p.root().join("lake");
    for rel in files_under(&local) {
        let bytes = std::fs::read(local.join(&rel)).unwrap();
        world
            .store
            .put(&rel, Bytes::from(bytes))
            .await
            .expect("upload");
    }
    std::fs::remove_dir_all(&local).unwrap();
    (p, world)
}

pub(crate) async fn run_on(
    world: &World,
    period: &str,
) -> Result<boardpack::execute::RunOutcome, boardpack::execute::RunFailure> {
    let plan = boardpack::plan::load_named(&world.project, "waits").expect("a valid pipeline");
    let given = std::collections::BTreeMap::from([("period".to_string(), period.to_string())]);
    let params = boardpack::params::RunParams::bind(&plan, &given).expect("valid parameters");
    boardpack::execute::run(
        &world.fresh(),
        &plan,
        &params,
        Arc::new(boardpack::execute::Silent),
    )
    .await
}

/// Every run record on the store under `runs/waits/<period>/`, parsed.
async fn records(world: &World, period: &str) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for o in world
        .store
        .list(&format!("runs/waits/{period}/"))
        .await
        .unwrap()
    {
        if o.path.ends_with("/run.json") {
            out.push(serde_json::from_slice(&world.store.get(&o.path).await.unwrap()).unwrap());
        }
    }
    out
}

/// Asserts that nothing of a run of the period looks published.
async fn nothing_published(world: &World, period: &str) {
    assert!(
        !world
            .store
            .exists(&format!("published/waits/{period}.json"))
            .await
            .unwrap(),
        "a publication pointer exists"
    );
    for r in records(world, period).await {
        assert_eq!(
            r.status,
            RunStatus::Failed,
            "run {} looks published",
            r.run_id
        );
        assert!(!r.published && r.outputs.is_empty());
    }
}

fn pdf_text_of(bytes: &[u8]) -> String {
    let text = pdf_extract::extract_text_from_mem(bytes).expect("PDF text");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_and_publishes_through_an_s3_server() {
    let s3 = S3Server::start().await;
    let (_p, world) = s3_project(&s3).await;
    let outcome = run_on(&world, "2022-04").await.expect("the run succeeds");
    assert_eq!(outcome.record.store, "s3://bucket/lake/");
    let objects: Vec<&str> = outcome.record.inputs[0]
        .objects
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(
        objects,
        [
            "inputs/visits/month=2022-03/part-0.parquet",
            "inputs/visits/month=2022-04/part-0.parquet"
        ]
    );
    // The PDF, read back from the bucket, shows April's figures (3 Cardiology visits, 2 within 30 days).
    let pdf = outcome.reports().into_iter().next().expect("a report");
    let bytes = world.store.get(&pdf).await.unwrap();
    let text = pdf_text_of(&bytes);
    // (Under the disclosure rule: small counts print `<5`, their shares `*`.)
    assert!(
        text.contains("Cardiology <5 *") && text.contains("Dermatology <5 *"),
        "{text}"
    );
    // The objects really are in the server's bucket folder, and requests went over HTTP.
    assert!(s3.bucket_dir().join("lake").join(&pdf).is_file());
    assert!(
        s3.bucket_dir()
            .join("lake/published/waits/2022-04.json")
            .is_file()
    );
    assert!(
        s3.requests()
            .iter()
            .any(|r| r.starts_with("PUT /bucket/lake/runs/waits/2022-04/"))
    );
    let record: RunRecord =
        serde_json::from_slice(&world.store.get(&outcome.record_path).await.unwrap()).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_with_backoff() {
    let s3 = S3Server::start().await;
    let (_p, world) = s3_project(&s3).await;
    // The configured 3 retries: the first request of the run fails three times and succeeds on the fourth.
    let before = s3.requests().len();
    s3.fail_next(3);
    let started = std::time::Instant::now();
    let outcome = run_on(&world, "2022-04").await.expect("retried to success");
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    let log = s3.requests();
    let first = &log[before];
    assert!(
        log[before..before + 4].iter().all(|r| r == first),
        "the first request is tried 4 times: {:?}",
        &log[before..before + 5]
    );
    assert_ne!(&log[before + 4], first, "and not a fifth time");
    // Backoff waited between tries (10 ms, then about 20 and 40: at least 10 ms in all).
    assert!(started.elapsed() >= std::time::Duration::from_millis(10));

    // More failures in a row than retries: the run fails, and says the store was unavailable.
    s3.fail_next(100);
    let failure = run_on(&world, "2022-05")
        .await
        .expect_err("retries run out");
    assert!(
        failure.message.contains("503") || failure.message.contains("SlowDown"),
        "{}",
        failure.message
    );
    s3.heal();
    nothing_published(&world, "2022-05").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_times_out_is_retried() {
    let s3 = S3Server::start().await;
    let (p, _) = s3_project(&s3).await;
    // A 300 ms request timeout, from the configuration.
    p.write(
        "config/boardpack.yaml",
        &s3.config_yaml("lake")
            .replace("    timeout: 10s", "    timeout: 300ms"),
    );
    let world = p.world();
    let before = s3.requests().len();
    s3.stall_next(1);
    let started = std::time::Instant::now();
    let outcome = run_on(&world, "2022-04")
        .await
        .expect("the stalled request is retried");
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    // The stalled request was abandoned after the timeout, not waited for (30 s).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let log = s3.requests();
    assert_eq!(
        log[before],
        log[before + 1],
        "the same request, tried again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_store_error_fails_at_once_naming_the_object() {
    for status in [403u16, 400] {
        let s3 = S3Server::start().await;
        let (_p, world) = s3_project(&s3).await;
        s3.refuse("2022-04/part-0.parquet", status);
        let failure = run_on(&world, "2022-04").await.expect_err("refused");
        assert!(
            failure.message.contains("month=2022-04/part-0.parquet")
                || failure.message.contains("month%3D2022-04/part-0.parquet"),
            "{status}: {}",
            failure.message
        );
        // Not retried: no request for the object was repeated back to back.
        let log = s3.requests();
        let hits: Vec<&String> = log
            .iter()
            .filter(|r| r.contains("2022-04/part-0.parquet"))
            .collect();
        assert!(!hits.is_empty());
        assert!(
            log.windows(2)
                .all(|w| !(w[0] == w[1] && w[0].contains("2022-04/part-0.parquet"))),
            "{status}: a refused request was retried: {hits:?}"
        );
        s3.heal();
        nothing_published(&world, "2022-04").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_dying_mid_run_publishes_nothing_and_a_rerun_succeeds() {
    let s3 = S3Server::start().await;
    let (_p, world) = s3_project(&s3).await;
    // The inputs are read; the server dies on the first write under the run's staging prefix.
    s3.crash_on("PUT", "/bucket/lake/runs/");
    let failure = run_on(&world, "2022-04").await.expect_err("the store died");
    assert!(!s3.is_running());
    assert!(failure.record_path.is_none(), "no record could be written");
    assert!(
        failure.message.contains("runs/waits/2022-04/"),
        "the failure names the object being written: {}",
        failure.message
    );
    s3.restart().await;
    nothing_published(&world, "2022-04").await;
    let staged: Vec<String> = files_under(&s3.bucket_dir().join("lake/runs"));
    assert!(
        staged.iter().all(|f| !f.ends_with("run.json")),
        "{staged:?}"
    );

    let outcome = run_on(&world, "2022-04")
        .await
        .expect("the re-run succeeds");
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    assert!(
        world
            .store
            .exists("published/waits/2022-04.json")
            .await
            .unwrap()
    );
    let pdf = outcome.reports().into_iter().next().unwrap();
    assert!(pdf_text_of(&world.store.get(&pdf).await.unwrap()).contains("Cardiology <5 *"));
}

/// An object store that accepts `allowed` writes under `runs/` and then refuses `refused` writes (every
/// one after, as a full disk does, with `usize::MAX`), then accepts again; reads and deletes still work.
#[derive(Debug)]
struct FullDisk {
    inner: Arc<dyn object_store::ObjectStore>,
    allowed: usize,
    refused: usize,
    writes: AtomicUsize,
}

impl FullDisk {
    fn check(&self, location: &object_store::path::Path) -> object_store::Result<()> {
        if !location.as_ref().contains("/runs/") {
            return Ok(());
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if n < self.allowed || n - self.allowed >= self.refused {
            return Ok(());
        }
        Err(object_store::Error::Generic {
            store: "FullDisk",
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device",
            )),
        })
    }
}

impl std::fmt::Display for FullDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FullDisk({})", self.inner)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for FullDisk {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// The waits project with its sample visits, on a store that writes one object and then refuses the next
/// `refused` writes as a full disk would.
fn full_disk_after_one_write(p: &TestProject, refused: usize) -> World {
    seed_visits(p);
    let mut world = p.world();
    world.store = world.store.wrapped(|inner| {
        Arc::new(FullDisk {
            inner,
            allowed: 1,
            refused,
            writes: AtomicUsize::new(0),
        })
    });
    world
}

#[tokio::test]
async fn a_store_refusing_writes_mid_run_fails_cleanly_naming_the_object() {
    let p = project();
    // The first staged table is written; the next write (another table) finds the disk full.
    let world = full_disk_after_one_write(&p, usize::MAX);
    let failure = run_on(&world, "2022-04")
        .await
        .expect_err("the disk is full");
    assert!(
        failure.message.contains("No space left on device")
            && failure.message.contains("runs/waits/2022-04/")
            && failure.message.contains("/tables/summary.parquet"),
        "{}",
        failure.message
    );
    // Nothing published; the record itself could not be written; what was staged has been removed.
    assert!(failure.record_path.is_none());
    assert!(!p.store_file("published").exists());
    let left = files_under(&p.store_file("runs"));
    assert!(left.is_empty(), "staged objects left behind: {left:?}");

    // With room again, the same period runs and publishes.
    let outcome = run_period(&p, "waits", "2022-04").await.expect("succeeds");
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    assert!(p.store_file("published/waits/2022-04.json").is_file());
}

/// The waits pipeline with a step slow enough (a few seconds) to kill the process while it runs.
pub(crate) fn slow_project() -> TestProject {
    let p = project();
    seed_visits(&p);
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE.replace(
            "  - id: summary\n",
            "  - id: slow\n    sql: waits/slow.sql\n  - id: summary\n",
        ),
    );
    p.write(
        "sql/waits/slow.sql",
        // 3 rows × 10^7: a sum the engine must compute (a count it could take from statistics).
        "WITH d(x) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))
         SELECT SUM(a.x * b.x + c.x * e.x + f.x * g.x + h.x + visits) AS n
         FROM by_clinic, d AS a, d AS b, d AS c, d AS e, d AS f, d AS g, d AS h",
    );
    p
}

/// Starts `run waits --period 2022-04` and kills it outright (SIGKILL) once it has staged its first
/// table; returns what it had staged (paths under `runs/`).
pub(crate) fn kill_once_staged(p: &TestProject) -> Vec<String> {
    let mut child = binary(p.root(), &["run", "waits", "--period", "2022-04"])
        .spawn()
        .expect("the binary starts");
    let runs = p.store_file("runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let staged = loop {
        let staged: Vec<String> = files_under(&runs);
        if staged.iter().any(|f| f.ends_with(".parquet")) {
            break staged;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended before it could be killed: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing staged in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed, not finished: {status}");
    staged
}

pub(crate) fn binary(project: &FsPath, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"));
    c.args(["--project", project.to_str().unwrap(), "--quiet"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

#[test]
fn a_run_killed_mid_step_publishes_nothing_and_the_next_run_succeeds() {
    let p = slow_project();
    // Every run holds its pipeline and period's lease; a killed one's lease lapses after this.
    p.write("config/boardpack.yaml", "scheduler:\n  lease_ttl: 2s\n");
    let runs = p.store_file("runs");
    let staged = kill_once_staged(&p);

    // Nothing looks published: no pointer, no record at all (the record is written last).
    assert!(!p.store_file("published").exists());
    let after = files_under(&runs);
    assert!(after.iter().all(|f| !f.ends_with("run.json")), "{after:?}");
    assert!(!staged.is_empty());

    // The killed run's lease is still live: a run started at once is refused, naming the holder.
    let out = binary(p.root(), &["run", "waits", "--period", "2022-04"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        assert!(said.contains("holds the lease until"), "{said}");
        std::thread::sleep(std::time::Duration::from_millis(2500));
    }
    // Once it lapses, the next run records the killed run as abandoned, succeeds and publishes; the
    // killed run's leftovers stay unpublished beside it.
    let out = binary(p.root(), &["run", "waits", "--period", "2022-04"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.store_file("published/waits/2022-04.json")).unwrap(),
    )
    .unwrap();
    let record_path = pointer["record"].as_str().unwrap();
    let record: RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(record_path)).unwrap()).unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    let records: Vec<String> = files_under(&runs)
        .into_iter()
        .filter(|f| f.ends_with("run.json"))
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    let killed: Vec<RunRecord> = records
        .iter()
        .map(|r| serde_json::from_slice(&std::fs::read(runs.join(r)).unwrap()).unwrap())
        .filter(|r: &RunRecord| r.run_id != record.run_id)
        .collect();
    assert_eq!(killed[0].status, RunStatus::Abandoned, "{killed:?}");
    assert!(!killed[0].published);
}

/// Runs the binary against the S3 server configured by environment only, verbose, with JSON logs.
fn run_binary_on_s3(p: &TestProject, s3: &S3Server, period: &str) -> (bool, String, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"));
    c.args([
        "--project",
        p.root().to_str().unwrap(),
        "--log-format",
        "json",
    ])
    .args(["run", "waits", "--period", period])
    .env("BOARDPACK_STORE", "s3://bucket/lake")
    .env("BOARDPACK_LOG", "debug");
    for (k, v) in s3.env() {
        c.env(k, v);
    }
    let out = c.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_logs_records_pdfs_or_errors() {
    const SECRET: &str = "bpFAKEsecretDoNotShow7f3a9c1e5b2d";
    let s3 = S3Server::start_with_secret(SECRET).await;
    let (p, world) = s3_project(&s3).await;
    // The project's own configuration names no store: the environment alone points the binary at it.
    std::fs::remove_file(p.root().join("config/boardpack.yaml")).unwrap();

    let sweep = |what: &str, text: &str| {
        assert!(
            !text.contains(SECRET),
            "the secret key appears in {what}:\n{text}"
        );
    };
    // The server runs on this test's runtime: wait for the child without blocking it.
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| run_binary_on_s3(&p, &s3, "2022-04"));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("\"level\":\"DEBUG\""),
        "verbose JSON logs: {stderr}"
    );
    sweep("standard output", &stdout);
    sweep("the logs", &stderr);
    let published = records(&world, "2022-04").await;
    assert_eq!(published.len(), 1);
    let record = &published[0];
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.store, "s3://bucket/lake/");
    let record_text = serde_json::to_string(record).unwrap();
    sweep("the run record", &record_text);
    for o in &record.outputs {
        let bytes = world.store.get(&o.path).await.unwrap();
        sweep(&o.path, &String::from_utf8_lossy(&bytes));
        if o.path.ends_with(".pdf") {
            sweep("the PDF text", &pdf_text_of(&bytes));
        }
    }

    // A failing run: the error, its logs and its record are swept too.
    s3.refuse("2022-05/part-0.parquet", 403);
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| run_binary_on_s3(&p, &s3, "2022-05"));
    assert!(!ok);
    assert!(stderr.contains("2022-05/part-0.parquet"), "{stderr}");
    sweep("standard output of a failed run", &stdout);
    sweep("the logs of a failed run", &stderr);
    s3.heal();
    for r in records(&world, "2022-05").await {
        sweep("a failed run's record", &serde_json::to_string(&r).unwrap());
    }
}

#[tokio::test]
async fn a_step_whose_write_is_refused_once_is_retried_and_the_run_succeeds() {
    let p = project();
    // The first staged table is written; the next write is refused once, then writes succeed again.
    let world = full_disk_after_one_write(&p, 1);
    let plan = boardpack::plan::load_named(&world.project, "waits").expect("a valid pipeline");
    let given = std::collections::BTreeMap::from([("period".to_string(), "2022-04".to_string())]);
    let params = boardpack::params::RunParams::bind(&plan, &given).expect("valid parameters");
    let retried = |retries| boardpack::execute::RunOptions {
        control: boardpack::schedule::control::RunControl {
            retry: boardpack::schedule::control::RetryPolicy {
                retries,
                backoff: std::time::Duration::from_millis(20),
                step_timeout: None,
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let outcome = boardpack::execute::run_with(
        &world.fresh(),
        &plan,
        &params,
        Arc::new(boardpack::execute::Silent),
        &retried(1),
    )
    .await
    .expect("the second attempt succeeds");
    assert_eq!(outcome.record.status, RunStatus::Succeeded);
    assert!(p.store_file("published/waits/2022-04.json").is_file());
    let pdf = outcome.reports().into_iter().next().unwrap();
    assert!(pdf_text_of(&world.store.get(&pdf).await.unwrap()).contains("Cardiology <5 *"));
}
