//! Bounded memory: the engine's memory limit holds for every query of a run. Under the smallest limit
//! the engine accepts (16 MiB), a step grouping two million rows into a million groups and sorting them
//! (several times the limit in memory) completes by spilling to disk with every figure right; a join
//! whose build side cannot spill fails saying the resources ran out; a report that would read a table
//! bigger than the limit into memory fails naming the table; and the PDF typeset while its memory budget
//! is passed (Typst's caches emptied as it goes) is the same bytes as the one typeset without.

use std::collections::BTreeMap;
use std::sync::Arc;

use boardpack::execute::{self, RunOptions, Silent};
use boardpack::params::RunParams;
use boardpack::world::World;
use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::record_batch::RecordBatch;

use crate::support::{TestProject, pdf_text, read_parquet, write_parquet};

const ROWS: i64 = 2_000_000;
const KEYS: i64 = 1_000_000;

fn pipeline(name: &str, steps: &str) -> String {
    format!(
        r#"
name: {name}
description: A large grouping and sort under a small memory limit
parameters:
  period: {{ type: period, granularities: [month] }}
inputs:
  big:
    location: inputs/big
    columns:
      - {{ name: k, type: integer }}
      - {{ name: v, type: integer }}
steps:
{steps}
"#
    )
}

const STEPS: &str = r#"
  - id: by_key
    sql: big/by_key.sql
  - id: summary
    sql: big/summary.sql
"#;

/// A million groups, each with its count and total, sorted on the total: the grouping and the sort
/// both need several times 16 MiB.
const BY_KEY: &str =
    "SELECT k, COUNT(*) AS n, SUM(v) AS total FROM big GROUP BY k ORDER BY total DESC, k";
const SUMMARY: &str = "SELECT COUNT(*) AS keys, SUM(n) AS rows, SUM(total) AS total, MAX(n) AS most, MIN(n) AS least FROM by_key";
const TEMPLATE: &str = r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})
{%- set s = tables.summary | first %}
= Totals
Keys {{ s.keys }}; rows {{ s.rows }}; total {{ s.total }}.
{%- for i in range(40) %}
#pagebreak()
== Page {{ i }}
#table(columns: 4, table.header([A], [B], [C], [D]),
{%- for j in range(60) %}
  [{{ i * 1000 + j }}], [{{ j }}], [{{ (i + j) | pct }}], [x],
{%- endfor %}
)
{%- endfor %}
"#;

fn project() -> TestProject {
    let p = TestProject::new();
    let report = |uses: &str| {
        format!(
            "  - id: report\n    report: big/report.typ.j2\n    title: Totals\n    uses: [{uses}]\n"
        )
    };
    p.write(
        "pipelines/big.yaml",
        &pipeline("big", &format!("{STEPS}{}", report("summary"))),
    )
    .write(
        "pipelines/big_table.yaml",
        &pipeline(
            "big_table",
            &format!("{STEPS}{}", report("summary, by_key")),
        ),
    )
    .write(
        "pipelines/big_join.yaml",
        &pipeline("big_join", "  - id: pairs\n    sql: big/pairs.sql\n"),
    )
    .write("sql/big/by_key.sql", BY_KEY)
    .write("sql/big/summary.sql", SUMMARY)
    .write(
        "sql/big/pairs.sql",
        "SELECT a.k, b.v FROM big a JOIN big b ON a.v = b.v",
    )
    .write("reports/big/report.typ.j2", TEMPLATE);
    // Row i has key (i × 7919) mod 1,000,000 (7919 is prime to 10⁶, so every key twice) and value i.
    let (k, v): (Vec<i64>, Vec<i64>) = (0..ROWS).map(|i| ((i * 7919) % KEYS, i)).unzip();
    let batch = RecordBatch::try_from_iter(vec![
        ("k", Arc::new(Int64Array::from(k)) as Arc<dyn Array>),
        ("v", Arc::new(Int64Array::from(v))),
    ])
    .unwrap();
    write_parquet(&p, "inputs/big/part-0.parquet", &batch);
    p
}

/// The project's world with the engine's memory limit set (not through the project's files, which the
/// PDF's lineage appendix lists: the two PDFs compared must come from the same files).
fn world(p: &TestProject, limit: &str) -> World {
    let mut world = p.world().fresh();
    let mut config = (*world.config).clone();
    config.engine.memory_limit = limit.into();
    config.engine.spill_dir = Some(p.root().join("spill").to_string_lossy().into());
    world.config = Arc::new(config);
    world
}

async fn run(world: &World, pipeline: &str) -> Result<execute::RunOutcome, execute::RunFailure> {
    std::fs::create_dir_all(world.project.root().join("spill")).unwrap();
    let plan = boardpack::plan::load_named(&world.project, pipeline).expect("a valid pipeline");
    let given = BTreeMap::from([("period".to_string(), "2022-04".to_string())]);
    let params = RunParams::bind(&plan, &given).expect("valid parameters");
    let options = RunOptions {
        no_cache: true,
        ..Default::default()
    };
    execute::run_with(world, &plan, &params, Arc::new(Silent), &options).await
}

fn int(batch: &RecordBatch, col: &str) -> Vec<i64> {
    let a = batch.column_by_name(col).unwrap();
    let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
    (0..a.len()).map(|i| a.value(i)).collect()
}

/// The output of a step in a run, by its path within the run.
fn output(p: &TestProject, outcome: &execute::RunOutcome, within: &str) -> std::path::PathBuf {
    let o = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with(within))
        .unwrap_or_else(|| panic!("no output {within}"));
    p.store_file(&o.path)
}

#[tokio::test]
async fn a_run_larger_than_the_memory_limit_spills_and_gets_every_figure_right() {
    let p = project();
    let small = run(&world(&p, "16MiB"), "big")
        .await
        .unwrap_or_else(|f| panic!("the run spills instead of failing: {}", f.message));

    // Every group, independently: totals[k] = the sum of the row numbers with key k.
    let mut totals = vec![0i64; KEYS as usize];
    for i in 0..ROWS {
        totals[((i * 7919) % KEYS) as usize] += i;
    }
    let mut expected: Vec<(i64, i64)> = totals
        .iter()
        .enumerate()
        .map(|(k, t)| (k as i64, *t))
        .collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let batches = read_parquet(&output(&p, &small, "tables/by_key.parquet"));
    let (mut ks, mut ns, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    for b in &batches {
        ks.extend(int(b, "k"));
        ns.extend(int(b, "n"));
        ts.extend(int(b, "total"));
    }
    assert_eq!(ks.len(), KEYS as usize, "one row per key");
    assert!(ns.iter().all(|n| *n == 2), "every key counted twice");
    let got: Vec<(i64, i64)> = ks.into_iter().zip(ts).collect();
    assert!(
        got == expected,
        "every group's total, in the statement's order"
    );
    let text = pdf_text(&output(&p, &small, "reports/report.pdf"));
    let total = ROWS * (ROWS - 1) / 2;
    assert!(
        text.contains(&format!("Keys {KEYS}; rows {ROWS}; total {total}.")),
        "{}",
        &text[..text.len().min(400)]
    );

    // The same run under the default limit: the same table, and the same PDF although the first was
    // typeset past its budget (16 MiB: the test process alone is bigger, so Typst's caches were emptied
    // throughout).
    let roomy = run(&world(&p, "2GiB"), "big")
        .await
        .expect("the run succeeds");
    for within in ["tables/by_key.parquet", "reports/report.pdf"] {
        assert_eq!(
            std::fs::read(output(&p, &roomy, within)).unwrap(),
            std::fs::read(output(&p, &small, within)).unwrap(),
            "{within}"
        );
    }
}

#[tokio::test]
async fn what_cannot_spill_fails_within_the_limit_and_says_so() {
    let p = project();
    // A hash join keeps its whole build side (two million rows) in memory.
    let join = run(&world(&p, "16MiB"), "big_join")
        .await
        .err()
        .expect("the join cannot fit 16 MiB");
    assert!(
        join.message.contains("pairs") && join.message.contains("Resources exhausted"),
        "{}",
        join.message
    );
    // A report reads its tables into memory: a million rows do not fit 16 MiB, and the error names the
    // table and the setting.
    let report = run(&world(&p, "16MiB"), "big_table")
        .await
        .err()
        .expect("the report's table cannot fit 16 MiB");
    assert!(
        report.message.contains("table `by_key`") && report.message.contains("engine.memory_limit"),
        "{}",
        report.message
    );
}
