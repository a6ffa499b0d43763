//! Audit of the three shipped pipelines on a little sample data: every PDF ends with "Data sources and
//! lineage" agreeing with the run record; every table and chart names its step, which `explain` accepts;
//! `verify` re-executes from the store's copies of the project files when the project changed; a re-run
//! publishes a new version beside the old; every result's `ORDER BY` is a total order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boardpack::execute::{self, RunOutcome, Silent};
use boardpack::params::RunParams;
use boardpack::period::Month;
use boardpack::plan::{self, StepKind};
use boardpack::record::{LatestPointer, RunRecord};
use boardpack::sample::{self, SampleOptions};
use boardpack::world::World;

use crate::support::{pdf_text, repo};

/// A copy of the repository's project (pipelines, SQL, templates, configuration) and its own store, so
/// that a test can change a project file after a run.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "pipelines",
            "sql",
            "reports/_lib",
            "reports/board-pack",
            "reports/carbon-account",
            "reports/primary-care",
            "config",
        ] {
            copy_dir(&repo().join(d), &dir.path().join(d));
        }
        Copy { dir }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn store(&self) -> PathBuf {
        self.root().join("store")
    }
    fn world(&self) -> World {
        World::open(self.root(), Some(self.store().to_str().unwrap())).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn month(year: i32, month: u32) -> Month {
    Month { year, month }
}

async fn run(world: &World, pipeline: &str, given: &[(&str, &str)]) -> RunOutcome {
    // A fresh record of files read, then the plan: the pipeline and SQL files count as the run's.
    let world = &world.fresh();
    let plan = plan::load_named(&world.project, pipeline).unwrap();
    let given: BTreeMap<String, String> = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = RunParams::bind(&plan, &given).unwrap();
    execute::run(world, &plan, &params, Arc::new(Silent))
        .await
        .unwrap_or_else(|e| panic!("{pipeline} runs: {}", e.message))
}

/// The primary-care dashboard for April 2022 (no practice pages) on one month of sample data.
async fn primary_care(copy: &Copy) -> RunOutcome {
    let world = copy.world();
    let opts = SampleOptions {
        from: month(2022, 4),
        to: month(2022, 4),
        only: sample::primary_care::input_names()
            .chain(["gp_appointments", "registered_population"])
            .map(String::from)
            .collect(),
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    run(
        &world,
        "primary-care",
        &[("period", "2022-04"), ("practice_pages", "none")],
    )
    .await
}

/// The carbon account for 2022-23 Q1 on the sample returns (outpatient records only for the quarter).
async fn carbon(copy: &Copy) -> RunOutcome {
    let world = copy.world();
    let quarter = vec![month(2022, 4), month(2022, 5), month(2022, 6)];
    let opts = SampleOptions {
        from: month(2022, 4),
        to: month(2022, 6),
        only: sample::carbon::input_names()
            .chain(["op_attendances"])
            .map(String::from)
            .collect(),
        only_months: vec![("op_attendances".to_string(), quarter)],
        ..SampleOptions::default()
    };
    sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    run(&world, "carbon-account", &[("period", "2022-23-Q1")]).await
}

/// 1234567 → 1,234,567 (as the appendix prints rows).
fn thousands(n: u64) -> String {
    boardpack::render::format::thousands(n as f64, 0)
}

/// The step names of every "Source: step ‘x’" / "steps ‘x’, ‘y’" line of a PDF's text.
fn source_steps(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split("Source: ").skip(1) {
        let Some(rest) = part
            .strip_prefix("steps ")
            .or_else(|| part.strip_prefix("step "))
        else {
            continue;
        };
        // The names are quoted ‘…’, separated by ", "; the line ends at the first name not followed by one.
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('‘') {
            let Some(end) = r.find('’') else { break };
            let name = r[..end].to_string();
            if !out.contains(&name) {
                out.push(name);
            }
            rest = &r[end + '’'.len_utf8()..];
            match rest.strip_prefix(", ") {
                Some(r) => rest = r,
                None => break,
            }
        }
    }
    out
}

/// The PDF's appendix agrees with its record: fingerprint, code version, every input's rows and digest,
/// every project file's hash; and every source line names a step `explain` accepts.
fn check_pdf(world: &World, store: &Path, record: &RunRecord, min_sources: usize) {
    let pdf = record
        .outputs
        .iter()
        .find(|o| o.path.ends_with(".pdf"))
        .expect("a PDF");
    let text = pdf_text(&store.join(&pdf.path));
    let appendix = text
        .rsplit_once("Data sources and lineage")
        .map(|(_, a)| a)
        .unwrap_or_else(|| panic!("{}: no appendix", record.pipeline));
    assert!(appendix.contains(&record.fingerprint), "fingerprint");
    assert!(
        !text.contains(&record.run_id),
        "the PDF names the fingerprint, not the run id"
    );
    assert!(appendix.contains(&format!("{} {}", record.tool.name, record.tool.version)));
    assert!(
        appendix.contains("run id"),
        "the appendix says where the run id is"
    );
    assert!(!record.inputs.is_empty());
    for i in &record.inputs {
        let rows = i.rows.expect("input rows recorded");
        assert_eq!(rows, i.object_rows.values().sum::<u64>(), "{}", i.name);
        assert_eq!(i.object_rows.len(), i.objects.len(), "{}", i.name);
        assert_eq!(i.sha256.len(), 64);
        let inputs = appendix
            .split_once("Inputs")
            .map(|(_, a)| a)
            .unwrap_or(appendix);
        let line = format!("{} ", i.name);
        let at = inputs
            .find(&line)
            .unwrap_or_else(|| panic!("{}: input {} not in the appendix", record.pipeline, i.name));
        let row: String = inputs[at..].chars().take(200).collect();
        assert!(
            row.contains(&format!("{} {}", thousands(rows), &i.sha256[..12])),
            "{}: input {} should show {} rows and {}: {row}",
            record.pipeline,
            i.name,
            rows,
            &i.sha256[..12]
        );
    }
    assert!(record.files.contains_key("config/boardpack.yaml"));
    assert!(record.files.keys().any(|f| f.starts_with("sql/")));
    assert!(
        record
            .files
            .keys()
            .any(|f| f.starts_with("reports/") && f.ends_with(".typ.j2"))
    );
    // A long path may wrap in its cell: compare without white space.
    let packed: String = appendix.split_whitespace().collect();
    for (path, sha) in &record.files {
        assert!(
            packed.contains(&format!("{path}")) && appendix.contains(&sha[..12]),
            "{}: file {path} ({}) not in the appendix",
            record.pipeline,
            &sha[..12]
        );
        // A copy of each on the store, by its hash.
        assert!(
            store.join(format!("files/sha256/{sha}")).is_file(),
            "copy of {path}"
        );
    }
    let steps = source_steps(&text);
    assert!(
        steps.len() >= min_sources,
        "{}: {} steps named as sources: {steps:?}",
        record.pipeline,
        steps.len()
    );
    for s in &steps {
        boardpack::lineage::explain(world, record, s)
            .unwrap_or_else(|e| panic!("{}: explain {s}: {e}", record.pipeline));
    }
}

/// Every SQL step's result sorted by its `ORDER BY` columns has no two rows with the same keys.
async fn check_total_order(world: &World, record: &RunRecord) -> Vec<String> {
    let plan = plan::load_named(&world.project, &record.pipeline).unwrap();
    let mut ties = Vec::new();
    for step in &plan.steps {
        let StepKind::Sql { sql, file } = &step.kind else {
            continue;
        };
        // Without ORDER BY the engine sorts by every column (a total order); keys that are expressions
        // are left out, which can only make ties more likely.
        let Some(keys) = boardpack::audit::order_by_columns(sql) else {
            continue;
        };
        if keys.is_empty() {
            continue;
        }
        let out = record
            .outputs
            .iter()
            .find(|o| o.path.ends_with(&format!("/tables/{}.parquet", step.id)))
            .unwrap();
        let table = boardpack::lineage::read_table(world, &out.path)
            .await
            .unwrap();
        let idx: Vec<usize> = keys
            .iter()
            .filter_map(|k| table.columns.iter().position(|c| c == k))
            .collect();
        if idx.len() != keys.len() {
            continue; // ordered by a column not kept in the result
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &table.rows {
            let key: Vec<&str> = idx.iter().map(|&i| r[i].as_str()).collect();
            if !seen.insert(key.clone()) {
                ties.push(format!(
                    "{file}: ORDER BY {} ties on {key:?}",
                    keys.join(", ")
                ));
                break;
            }
        }
    }
    ties
}

#[tokio::test(flavor = "multi_thread")]
async fn board_pack_appendix_sources_and_order() {
    let (store, outcome) = crate::sample_pack::shared_pack().await;
    let world = World::open(&repo(), Some(store.path().to_str().unwrap())).unwrap();
    check_pdf(&world, store.path(), &outcome.record, 15);
    // A seed named as a source is explained by its file as the run read it.
    let seed = boardpack::lineage::explain(&world, &outcome.record, "metrics").unwrap();
    let sha = &outcome.record.files["config/board-pack/metrics.yaml"][..12];
    assert!(
        seed.contains(&format!("config/board-pack/metrics.yaml sha256 {sha}")),
        "{seed}"
    );
    let ties = check_total_order(&world, &outcome.record).await;
    assert!(ties.is_empty(), "{ties:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn primary_care_appendix_sources_order_and_verify_after_an_sql_change() {
    let copy = Copy::new();
    let outcome = primary_care(&copy).await;
    let world = copy.world();
    check_pdf(&world, &copy.store(), &outcome.record, 5);
    let ties = check_total_order(&world, &outcome.record).await;
    assert!(ties.is_empty(), "{ties:#?}");

    // The project changes after the run: verify re-executes with the run's own copy of the file.
    let sql = copy.root().join("sql/primary-care/practice_rag.sql");
    let text = std::fs::read_to_string(&sql).unwrap();
    std::fs::write(
        &sql,
        text.replace("SELECT", "SELECT 1 AS changed_since_the_run,"),
    )
    .unwrap();
    let report = boardpack::verify::verify(&world, &outcome.record_path, &outcome.record)
        .await
        .unwrap();
    assert!(report.identical(), "{report}");
    assert_eq!(
        report.files_from_store,
        vec!["sql/primary-care/practice_rag.sql".to_string()]
    );
    assert!(
        report
            .files_changed
            .iter()
            .any(|(p, _)| p == "sql/primary-care/practice_rag.sql"),
        "{report}"
    );
    assert!(report.to_string().contains("copies of 1 changed file(s)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn carbon_appendix_order_and_a_rerun_publishes_a_new_version_beside_the_old() {
    let copy = Copy::new();
    let first = carbon(&copy).await;
    let world = copy.world();
    check_pdf(&world, &copy.store(), &first.record, 5);
    let ties = check_total_order(&world, &first.record).await;
    assert!(ties.is_empty(), "{ties:#?}");

    let before: Vec<(PathBuf, Vec<u8>)> = first
        .record
        .outputs
        .iter()
        .map(|o| copy.store().join(&o.path))
        .chain([copy.store().join(&first.record_path)])
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    let second = run(&world, "carbon-account", &[("period", "2022-23-Q1")]).await;
    assert_ne!(first.record.run_id, second.record.run_id);
    assert_ne!(first.record_path, second.record_path);
    // The pointer moved to the second run; the first run's record and outputs are untouched.
    let pointer: LatestPointer = serde_json::from_slice(
        &std::fs::read(
            copy.store()
                .join("published/carbon-account/2022-23-Q1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(pointer.run_id, second.record.run_id);
    assert_eq!(pointer.record, second.record_path);
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    for o in &second.record.outputs {
        assert!(copy.store().join(&o.path).is_file());
    }
    // The older version stays readable by its run id: explain, diff and verify.
    let (path, old) = boardpack::verify::find_record(&world, &first.record.run_id)
        .await
        .unwrap();
    assert_eq!(path, first.record_path);
    boardpack::lineage::explain(&world, &old, "annual").unwrap();
    let diff = boardpack::lineage::diff(&world, &old, &second.record)
        .await
        .unwrap();
    assert!(diff.contains("identical"), "{diff}");
    let report = boardpack::verify::verify(&world, &path, &old)
        .await
        .unwrap();
    assert!(report.identical(), "{report}");
}

#[test]
fn order_by_columns_of_a_statement() {
    use boardpack::audit::order_by_columns;
    assert_eq!(
        order_by_columns("SELECT a, b FROM t ORDER BY a, t.b DESC"),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(order_by_columns("SELECT a FROM t"), None);
    assert_eq!(
        order_by_columns("SELECT a, b FROM t ORDER BY CASE a WHEN 'x' THEN 0 END, b"),
        Some(vec!["b".to_string()])
    );
}
