//! `boardpack bench`: generates the sample data at each scale asked for and measures every pipeline —
//! a cold run, a warm re-run with nothing changed, a re-run after a template-only change and a re-run
//! after one month of one input was re-delivered — each as a child process (`/usr/bin/time` gives its
//! wall time, CPU time and peak RSS), with the rows and bytes read and the steps cached from its run
//! record. Then, over the Parquet files the cold run read and staged, it times every SQL step in
//! DataFusion and in DuckDB (installed from PyPI into a virtual environment, driven by
//! `benches/duckdb_steps.py`) for a side-by-side.
//!
//! Owns the benchmark's scenarios and its report. It works on a copy of the project (templates are edited)
//! and on its own stores under the benchmark folder; it never touches the project's store. Timings are
//! measurements, never pass/fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::engine::{Engine, table_references};
use crate::params::RunParams;
use crate::period::Month;
use crate::plan::{self, PREVIOUS_PREFIX, Plan, RUN_TABLES, StepKind};
use crate::record::RunRecord;
use crate::world::{Project, World};

/// What `boardpack bench` was asked to do.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scales: Vec<u32>,
    /// Repetitions of each scenario (the median is reported) and of each step's query.
    pub runs: usize,
    /// Pipelines to measure; every pipeline of the project when empty.
    pub pipelines: Vec<String>,
    /// Where the sample stores, the project copy, the DuckDB environment and the results go.
    pub dir: PathBuf,
    pub duckdb: bool,
    /// The engine's memory limit for the runs (`BOARDPACK_MEMORY_LIMIT`), else the project's.
    pub memory_limit: Option<String>,
}

/// One scenario of one pipeline at one scale: medians over the repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub scale: u32,
    pub pipeline: String,
    pub scenario: String,
    pub runs: usize,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
    /// The run record's own duration (without process start and exit).
    pub run_ms: f64,
    /// Sum of the SQL steps' durations in the record (cached steps cost their copy).
    pub sql_ms: f64,
    pub rows_read: u64,
    pub bytes_read: u64,
    /// Steps with a result (SQL and report steps), and how many of them came from the cache.
    pub result_steps: usize,
    pub cached_steps: usize,
}

/// One SQL step timed in both engines over the same Parquet files.
#[derive(Debug, Clone, Serialize)]
pub struct StepComparison {
    pub scale: u32,
    pub pipeline: String,
    pub step: String,
    pub rows: Option<u64>,
    pub datafusion_ms: Option<f64>,
    pub duckdb_ms: Option<f64>,
    /// Why a side is missing (a DataFusion-only function, a run table).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub machine: Json,
    pub measurements: Vec<Measurement>,
    pub steps: Vec<StepComparison>,
}

const SCENARIOS: [&str; 4] = ["cold", "warm", "template", "input"];

/// Runs the benchmark; `log` hears what is happening.
pub async fn run(
    world: &World,
    opts: &BenchOptions,
    log: &dyn Fn(&str),
) -> Result<BenchReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the boardpack binary: {e}"))?;
    std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let dir = opts
        .dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    // A copy of the project: the template scenario edits templates.
    let project = dir.join("project");
    let _ = std::fs::remove_dir_all(&project);
    for sub in ["pipelines", "sql", "reports", "config"] {
        let from = world.project.root().join(sub);
        if from.is_dir() {
            copy_dir(&from, &project.join(sub)).map_err(|e| format!("copying {sub}/: {e}"))?;
        }
    }
    let names: Vec<String> = if opts.pipelines.is_empty() {
        let p = Project::new(&project);
        p.pipeline_files()
            .iter()
            .filter_map(|f| plan::load(&p, f).ok().map(|plan| plan.name))
            .collect()
    } else {
        opts.pipelines.clone()
    };
    if names.is_empty() {
        return Err(format!(
            "no pipelines under {}",
            world.project.root().join("pipelines").display()
        ));
    }
    let timer = have_time();
    let mut report = BenchReport {
        machine: json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "profile": if cfg!(debug_assertions) { "dev (boardpack at opt-level 0, dependencies at 1)" } else { "release" },
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "rusage": if timer { "/usr/bin/time" } else { "none (wall time only)" },
            "memory_limit": opts.memory_limit,
        }),
        measurements: Vec::new(),
        steps: Vec::new(),
    };
    // The driver script ships with the project (the checkout the binary was built from, else this one).
    let mut script = world.project.root().join("benches/duckdb_steps.py");
    if !script.exists() {
        script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_steps.py");
    }
    let duckdb = if opts.duckdb {
        match duckdb_python(&dir, log) {
            Ok(p) => Some((p, script)),
            Err(e) => {
                log(&format!("DuckDB side-by-side skipped: {e}"));
                None
            }
        }
    } else {
        None
    };
    for &scale in &opts.scales {
        let lake = dir.join(format!("scale-{scale}")).join("lake");
        ensure_sample(&exe, &project, &lake, scale, log)?;
        for name in &names {
            let plan = plan::load_named(&Project::new(&project), name)
                .map_err(|d| format!("pipeline `{name}`: {d:?}"))?;
            let mut runs: BTreeMap<&str, Vec<RunStats>> = BTreeMap::new();
            let mut cold_record = None;
            let templates = report_templates(&plan);
            let originals: Vec<(PathBuf, Vec<u8>)> = templates
                .iter()
                .filter_map(|t| {
                    let p = project.join(t);
                    std::fs::read(&p).ok().map(|b| (p, b))
                })
                .collect();
            for rep in 0..opts.runs.max(1) {
                for scenario in SCENARIOS {
                    match scenario {
                        "cold" => {
                            let _ = std::fs::remove_dir_all(lake.join("cache"));
                        }
                        "template" => {
                            for (p, original) in &originals {
                                let mut text = original.clone();
                                text.extend_from_slice(
                                    format!("\n// boardpack bench: edit {rep}\n").as_bytes(),
                                );
                                std::fs::write(p, text).map_err(|e| e.to_string())?;
                            }
                        }
                        "input" => {
                            if let Some(r) = &cold_record {
                                redeliver_month(&lake, r, rep)?;
                            }
                        }
                        _ => {}
                    }
                    log(&format!(
                        "scale {scale}: {name} {scenario} run {}/{}",
                        rep + 1,
                        opts.runs
                    ));
                    let stats = run_child(&exe, &project, &lake, name, opts, timer)?;
                    if scenario == "cold" {
                        cold_record = Some(stats.record.clone());
                    }
                    runs.entry(scenario).or_default().push(stats);
                }
            }
            for (p, original) in &originals {
                let _ = std::fs::write(p, original);
            }
            for scenario in SCENARIOS {
                if let Some(r) = runs.get(scenario) {
                    report
                        .measurements
                        .push(summarise(scale, name, scenario, r));
                }
            }
            if let Some(record) = &cold_record {
                log(&format!(
                    "scale {scale}: {name} steps in DataFusion and DuckDB"
                ));
                let steps = side_by_side(
                    &project,
                    &lake,
                    &dir,
                    &plan,
                    record,
                    scale,
                    opts.runs.max(1),
                    duckdb.as_ref(),
                )
                .await?;
                report.steps.extend(steps);
            }
        }
    }
    let body = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
    let out = dir.join("bench-results.json");
    std::fs::write(&out, body).map_err(|e| format!("{}: {e}", out.display()))?;
    log(&format!("results saved to {}", out.display()));
    Ok(report)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn have_time() -> bool {
    Command::new("/usr/bin/time")
        .args(["-f", "%e", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Writes the sample data at `scale` unless a complete set is there already.
fn ensure_sample(
    exe: &Path,
    project: &Path,
    lake: &Path,
    scale: u32,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let marker = lake.with_file_name("sample-complete");
    if marker.exists() {
        return Ok(());
    }
    log(&format!(
        "writing the sample data at scale {scale} to {}",
        lake.display()
    ));
    let _ = std::fs::remove_dir_all(lake);
    let status = Command::new(exe)
        .arg("--project")
        .arg(project)
        .arg("--store")
        .arg(lake)
        .args(["-q", "sample", "--scale", &scale.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("writing the sample data at scale {scale} failed"));
    }
    std::fs::write(&marker, b"").map_err(|e| e.to_string())
}

struct RunStats {
    wall_s: f64,
    cpu_s: Option<f64>,
    max_rss_kb: Option<f64>,
    record: RunRecord,
}

/// One `boardpack run` in its own process, so that its peak RSS is its own.
fn run_child(
    exe: &Path,
    project: &Path,
    lake: &Path,
    pipeline: &str,
    opts: &BenchOptions,
    timer: bool,
) -> Result<RunStats, String> {
    let stats_file = lake.with_file_name("time.txt");
    let mut cmd = if timer {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%e %U %S %M", "-o"])
            .arg(&stats_file)
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.arg("--project")
        .arg(project)
        .arg("--store")
        .arg(lake)
        .args(["-q", "run", pipeline]);
    if let Some(limit) = &opts.memory_limit {
        cmd.env("BOARDPACK_MEMORY_LIMIT", limit);
    }
    let started = Instant::now();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`boardpack run {pipeline}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let record_path = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("record"))
        .map(|p| PathBuf::from(p.trim()))
        .ok_or_else(|| format!("`boardpack run {pipeline}` printed no record: {stdout}"))?;
    let record: RunRecord = serde_json::from_slice(
        &std::fs::read(&record_path).map_err(|e| format!("{}: {e}", record_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", record_path.display()))?;
    let (mut wall_s, mut cpu_s, mut rss) = (wall, None, None);
    if timer {
        let text = std::fs::read_to_string(&stats_file).unwrap_or_default();
        // The last line: `time` writes the child's own exit message first when it fails.
        let f: Vec<f64> = text
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [e, u, s, m] = f[..] {
            wall_s = e;
            cpu_s = Some(u + s);
            rss = Some(m);
        }
    }
    Ok(RunStats {
        wall_s,
        cpu_s,
        max_rss_kb: rss,
        record,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn summarise(scale: u32, pipeline: &str, scenario: &str, runs: &[RunStats]) -> Measurement {
    let sql = |r: &RunRecord| -> f64 {
        r.steps
            .iter()
            .filter(|s| s.kind == "sql")
            .map(|s| s.duration_ms as f64)
            .sum()
    };
    let last = &runs[runs.len() - 1].record;
    Measurement {
        scale,
        pipeline: pipeline.to_string(),
        scenario: scenario.to_string(),
        runs: runs.len(),
        wall_s: median(runs.iter().map(|r| r.wall_s).collect()),
        cpu_s: median(runs.iter().filter_map(|r| r.cpu_s).collect()),
        max_rss_mb: median(
            runs.iter()
                .filter_map(|r| r.max_rss_kb.map(|k| k / 1024.0))
                .collect(),
        ),
        run_ms: median(runs.iter().map(|r| r.record.duration_ms as f64).collect()),
        sql_ms: median(runs.iter().map(|r| sql(&r.record)).collect()),
        rows_read: last.inputs.iter().filter_map(|i| i.rows).sum(),
        bytes_read: last.inputs.iter().map(|i| i.bytes).sum(),
        result_steps: last.steps.iter().filter(|s| s.kind != "check").count(),
        cached_steps: last.steps.iter().filter(|s| s.cached).count(),
    }
}

fn report_templates(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Report { template, .. } => Some(template.clone()),
            _ => None,
        })
        .collect()
}

/// Re-delivers the last month the cold run read of its largest month-partitioned input: the same rows,
/// written again with a revision number in the Parquet metadata, so the objects' hashes change.
fn redeliver_month(lake: &Path, record: &RunRecord, rep: usize) -> Result<(), String> {
    let Some(input) = record
        .inputs
        .iter()
        .filter(|i| !i.months.is_empty())
        .max_by_key(|i| i.bytes)
    else {
        return Ok(());
    };
    let Some(month) = input.months.last() else {
        return Ok(());
    };
    let part = format!("/month={month}/");
    for o in input.objects.iter().filter(|o| o.path.contains(&part)) {
        rewrite_parquet(&lake.join(&o.path), rep).map_err(|e| format!("{}: {e}", o.path))?;
    }
    Ok(())
}

fn rewrite_parquet(path: &Path, rep: usize) -> Result<(), Box<dyn std::error::Error>> {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?.build()?;
    let schema = datafusion::arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "boardpack_bench_revision".to_string(),
            format!("{rep}-{}", std::process::id()),
        )]))
        .build();
    let tmp = path.with_extension("parquet.tmp");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&tmp)?, schema, Some(props))?;
    for b in &batches {
        w.write(b)?;
    }
    w.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The Python of a virtual environment with DuckDB, made on first use.
fn duckdb_python(dir: &Path, log: &dyn Fn(&str)) -> Result<String, String> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let ok = |p: &Path| {
        Command::new(p)
            .args(["-c", "import duckdb"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !ok(&python) {
        log("installing duckdb from PyPI into a virtual environment");
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| format!("python3 -m venv: {e}"))?;
        if !made.success() {
            return Err("python3 -m venv failed".into());
        }
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "duckdb"])
            .status()
            .map_err(|e| format!("pip install duckdb: {e}"))?;
        if !pip.success() || !ok(&python) {
            return Err("pip install duckdb failed".into());
        }
    }
    Ok(python.display().to_string())
}

/// Times each SQL step of a recorded run in DataFusion and (when given) DuckDB, over the Parquet objects
/// the run read and the results it staged. Seeds are exported to Parquet for DuckDB.
#[allow(clippy::too_many_arguments)]
async fn side_by_side(
    project: &Path,
    lake: &Path,
    dir: &Path,
    plan: &Plan,
    record: &RunRecord,
    scale: u32,
    repeats: usize,
    duckdb: Option<&(String, PathBuf)>,
) -> Result<Vec<StepComparison>, String> {
    let world =
        World::open(project, Some(&lake.display().to_string())).map_err(|e| format!("{e:#}"))?;
    let engine = Engine::new(&world.config, &world.store).map_err(|e| e.to_string())?;
    let given = record.given_parameters();
    let params = RunParams::bind(plan, &given)
        .map_err(|e| e.to_string())?
        .sql_values();
    // name → how DuckDB reads it: Parquet files, and whether they are month-partitioned.
    let mut tables: BTreeMap<String, Json> = BTreeMap::new();
    for i in &record.inputs {
        let Some(input) = plan.inputs.iter().find(|x| x.name == i.name) else {
            continue;
        };
        let months: Vec<Month> = i.months.iter().filter_map(|m| m.parse().ok()).collect();
        engine
            .register_input_unchecked(input, &months)
            .await
            .map_err(|e| e.to_string())?;
        let files: Vec<String> = i
            .objects
            .iter()
            .map(|o| lake.join(&o.path).display().to_string())
            .collect();
        tables.insert(
            i.name.clone(),
            json!({"files": files, "hive": input.partitioned_by_month}),
        );
    }
    let read: std::collections::BTreeSet<&str> = plan
        .steps
        .iter()
        .flat_map(|s| s.inputs.iter().map(String::as_str))
        .collect();
    for seed in plan.seeds.iter().filter(|s| read.contains(s.name.as_str())) {
        crate::execute::register_seed(&world, &engine, seed).await?;
        let path = format!("bench/seeds/{}/{}.parquet", plan.name, seed.name);
        engine
            .materialise(&format!("SELECT * FROM \"{}\"", seed.name), &[], &path)
            .await
            .map_err(|e| e.to_string())?;
        tables.insert(
            seed.name.clone(),
            json!({"files": [lake.join(&path).display().to_string()], "hive": false}),
        );
    }
    for s in &record.steps {
        if let Some(o) = s.outputs.iter().find(|o| o.path.ends_with(".parquet")) {
            engine
                .register_result(&s.id, &o.path)
                .await
                .map_err(|e| e.to_string())?;
            tables.insert(
                s.id.clone(),
                json!({"files": [lake.join(&o.path).display().to_string()], "hive": false}),
            );
        }
    }
    let mut out = Vec::new();
    let mut spec = Vec::new();
    for step in &plan.steps {
        let StepKind::Sql { sql, .. } = &step.kind else {
            continue;
        };
        let refs = table_references(sql).unwrap_or_default();
        let mut cmp = StepComparison {
            scale,
            pipeline: plan.name.clone(),
            step: step.id.clone(),
            rows: None,
            datafusion_ms: None,
            duckdb_ms: None,
            note: None,
        };
        if let Some(t) = refs
            .iter()
            .find(|t| RUN_TABLES.contains(&t.as_str()) || t.starts_with(PREVIOUS_PREFIX))
        {
            cmp.note = Some(format!("reads `{t}`, a table of the run itself; not timed"));
            out.push(cmp);
            continue;
        }
        let mut times = Vec::new();
        for _ in 0..repeats {
            let started = Instant::now();
            match engine.query_rows(sql, &params).await {
                Ok(n) => {
                    cmp.rows = Some(n);
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                Err(e) => {
                    cmp.note = Some(format!("DataFusion: {e}"));
                    break;
                }
            }
        }
        if !times.is_empty() {
            cmp.datafusion_ms = Some(median(times));
        }
        let used: BTreeMap<String, Json> = params
            .iter()
            .filter(|(n, _)| mentions_param(sql, n))
            .map(|(n, v)| (n.clone(), scalar_json(v)))
            .collect();
        let step_tables: BTreeMap<&String, &Json> =
            tables.iter().filter(|(n, _)| refs.contains(n)).collect();
        spec.push(json!({"step": step.id, "sql": sql, "params": used, "tables": step_tables}));
        out.push(cmp);
    }
    if let Some((python, script)) = duckdb {
        let spec_file = dir.join(format!("duckdb-spec-{scale}-{}.json", plan.name));
        let result_file = dir.join(format!("duckdb-result-{scale}-{}.json", plan.name));
        let body = json!({"repeats": repeats, "steps": spec});
        std::fs::write(&spec_file, body.to_string()).map_err(|e| e.to_string())?;
        let status = Command::new(python)
            .arg(script)
            .arg(&spec_file)
            .arg(&result_file)
            .status()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!("{} failed", script.display()));
        }
        let results: Json = serde_json::from_slice(
            &std::fs::read(&result_file).map_err(|e| format!("{}: {e}", result_file.display()))?,
        )
        .map_err(|e| e.to_string())?;
        for cmp in out.iter_mut() {
            let Some(r) = results.get(&cmp.step) else {
                continue;
            };
            cmp.duckdb_ms = r.get("ms").and_then(Json::as_f64);
            if let Some(e) = r.get("error").and_then(Json::as_str) {
                let note = format!("DuckDB: {}", first_line(e));
                cmp.note = Some(match cmp.note.take() {
                    Some(n) => format!("{n}; {note}"),
                    None => note,
                });
            } else if let (Some(a), Some(b)) = (cmp.rows, r.get("rows").and_then(Json::as_u64)) {
                if a != b {
                    cmp.note = Some(format!("row counts differ: DataFusion {a}, DuckDB {b}"));
                }
            }
        }
    }
    Ok(out)
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    line.chars().take(160).collect()
}

/// Whether `sql` uses the parameter `$name` (and not only a longer one such as `$name_start`).
fn mentions_param(sql: &str, name: &str) -> bool {
    let needle = format!("${name}");
    sql.match_indices(&needle).any(|(i, _)| {
        !sql[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// A bound parameter as the DuckDB driver script expects it: `{"type": ..., "value": ...}`.
fn scalar_json(v: &datafusion::scalar::ScalarValue) -> Json {
    use datafusion::scalar::ScalarValue as S;
    match v {
        S::Date32(Some(d)) => {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(*d + 719_163);
            json!({"type": "date", "value": date.map(|d| d.to_string())})
        }
        S::Int64(Some(i)) => json!({"type": "int", "value": i}),
        S::Float64(Some(f)) => json!({"type": "float", "value": f}),
        S::Boolean(Some(b)) => json!({"type": "bool", "value": b}),
        S::Utf8(Some(s)) => json!({"type": "str", "value": s}),
        other => json!({"type": "str", "value": other.to_string()}),
    }
}

/// The report as tables for a person.
pub fn render_table(r: &BenchReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "machine: {}\n\n",
        serde_json::to_string(&r.machine).unwrap_or_default()
    ));
    s.push_str(&format!(
        "{:>5}  {:<15} {:<9} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>9} {:>7}\n",
        "scale",
        "pipeline",
        "scenario",
        "runs",
        "wall s",
        "cpu s",
        "rss MB",
        "run ms",
        "sql ms",
        "rows read",
        "MB read",
        "cached"
    ));
    for m in &r.measurements {
        s.push_str(&format!(
            "{:>5}  {:<15} {:<9} {:>4} {:>8.2} {:>8.2} {:>8.0} {:>8.0} {:>8.0} {:>11} {:>9.1} {:>3}/{:<3}\n",
            m.scale,
            m.pipeline,
            m.scenario,
            m.runs,
            m.wall_s,
            m.cpu_s,
            m.max_rss_mb,
            m.run_ms,
            m.sql_ms,
            m.rows_read,
            m.bytes_read as f64 / 1e6,
            m.cached_steps,
            m.result_steps
        ));
    }
    s.push_str(&format!(
        "\n{:>5}  {:<15} {:<26} {:>9} {:>11} {:>9} {:>7}  {}\n",
        "scale", "pipeline", "step", "rows", "datafusion", "duckdb", "ratio", "note"
    ));
    let mut totals: BTreeMap<(u32, String), (f64, f64, usize)> = BTreeMap::new();
    for c in &r.steps {
        let ratio = match (c.datafusion_ms, c.duckdb_ms) {
            (Some(a), Some(b)) if b > 0.0 => {
                let t = totals.entry((c.scale, c.pipeline.clone())).or_default();
                t.0 += a;
                t.1 += b;
                t.2 += 1;
                format!("{:.2}", a / b)
            }
            _ => "-".into(),
        };
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or("-".into());
        s.push_str(&format!(
            "{:>5}  {:<15} {:<26} {:>9} {:>11} {:>9} {:>7}  {}\n",
            c.scale,
            c.pipeline,
            c.step,
            c.rows.map(|r| r.to_string()).unwrap_or("-".into()),
            ms(c.datafusion_ms),
            ms(c.duckdb_ms),
            ratio,
            c.note.clone().unwrap_or_default()
        ));
    }
    s.push_str("\ntotal over the steps both engines ran (ms; ratio = DataFusion / DuckDB):\n");
    for ((scale, p), (a, b, n)) in totals {
        s.push_str(&format!(
            "{scale:>5}  {p:<15} {n:>3} steps  datafusion {a:>9.1}  duckdb {b:>9.1}  ratio {:.2}\n",
            a / b
        ));
    }
    s
}
