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
        let lib = repo().join("reports/_lib/boardpack.typ");
        std::fs::create_dir_all(dir.path().join("reports/_lib")).unwrap();
        std::fs::copy(lib, dir.path().join("reports/_lib/boardpack.typ")).unwrap();
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
    let world = project.world();
    let plan = boardpack::plan::load_named(&world.project, pipeline).expect("a valid pipeline");
    let given = std::collections::BTreeMap::from([("period".to_string(), period.to_string())]);
    let params = boardpack::params::RunParams::bind(&plan, &given).expect("valid parameters");
    boardpack::execute::run(&world, &plan, &params, Arc::new(boardpack::execute::Silent)).await
}
