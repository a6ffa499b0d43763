//! A throw-away project: a temporary folder with pipelines, SQL and templates written by the test, the
//! repository's report library, a local store, and a fixed clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use boardpack::world::{FixedClock, World};
use chrono::{TimeZone, Utc};
use datafusion::arrow::record_batch::RecordBatch;

pub struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // The shared report library: the house style and the templates every pipeline includes.
        std::fs::create_dir_all(dir.path().join("reports/_lib")).unwrap();
        for e in std::fs::read_dir(repo().join("reports/_lib")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(
                e.path(),
                dir.path().join("reports/_lib").join(e.file_name()),
            )
            .unwrap();
        }
        TestProject { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn world(&self) -> World {
        World::open(self.root(), None)
            .expect("world")
            .with_clock(Arc::new(FixedClock(
                Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap(),
            )))
    }

    pub fn store_file(&self, rel: &str) -> PathBuf {
        self.root().join("lake").join(rel)
    }
}

/// The repository checkout (for the shipped pipelines and report library).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped product's list of metrics (`config/board-pack/metrics.yaml`, …) as its pipeline reads it:
/// each row completed from the project's registry (`config/metrics.yaml`) with the metric's name, unit,
/// direction and standard.
pub fn metric_list(file: &str, key: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let read = |rel: &str| std::fs::read(repo().join(rel)).unwrap();
    let registry = boardpack::registry::Registry::parse(&read(boardpack::registry::REGISTRY))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let yaml = registry
        .complete("metrics", file, key, &read(file))
        .unwrap_or_else(|e| panic!("{e:?}"));
    serde_yaml::from_slice(&yaml).unwrap()
}

/// Writes a batch as Parquet into the project's store.
pub fn write_parquet(project: &TestProject, rel: &str, batch: &RecordBatch) {
    let bytes = boardpack::sample::parquet_bytes(batch).unwrap();
    let path = project.store_file(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Reads every row of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

/// The text of a PDF, with runs of white space folded.
pub fn pdf_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let text = pdf_extract::extract_text_from_mem(&bytes).expect("PDF text");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads a pipeline of the project and runs it for a period with the fixed clock.
pub async fn run_period(
    project: &TestProject,
    pipeline: &str,
    period: &str,
) -> Result<boardpack::execute::RunOutcome, boardpack::execute::RunFailure> {
    run_with(project.world(), pipeline, period).await
}

/// Runs a pipeline of the project for a period with its clock at `at` (a run made at another time).
pub async fn run_period_at(
    project: &TestProject,
    pipeline: &str,
    period: &str,
    at: chrono::DateTime<Utc>,
) -> boardpack::execute::RunOutcome {
    run_with(
        project.world().with_clock(Arc::new(FixedClock(at))),
        pipeline,
        period,
    )
    .await
    .expect("the run succeeds")
}

async fn run_with(
    world: World,
    pipeline: &str,
    period: &str,
) -> Result<boardpack::execute::RunOutcome, boardpack::execute::RunFailure> {
    run_in(&world, pipeline, &[("period", period)]).await
}

/// Runs a pipeline of `world`'s project with these parameters (a fresh record of the project files read).
pub async fn run_in(
    world: &World,
    pipeline: &str,
    params: &[(&str, &str)],
) -> Result<boardpack::execute::RunOutcome, boardpack::execute::RunFailure> {
    // Fresh before the plan is loaded: the pipeline and SQL files it reads belong to this run's record.
    let world = world.fresh();
    let plan = boardpack::plan::load_named(&world.project, pipeline).expect("a valid pipeline");
    let given = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = boardpack::params::RunParams::bind(&plan, &given).expect("valid parameters");
    boardpack::execute::run(&world, &plan, &params, Arc::new(boardpack::execute::Silent)).await
}

/// Runs the `boardpack` binary on a project: (exit code, standard output, standard error).
pub fn boardpack(project: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args(["--project", project.to_str().unwrap(), "--quiet"])
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The same, with both streams as one text.
pub fn boardpack_output(project: &TestProject, args: &[&str]) -> (i32, String) {
    let (code, out, err) = boardpack(project.root(), args);
    (code, format!("{out}{err}"))
}
