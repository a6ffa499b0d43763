//! `diff` and `verify` print figures in their units (a proportion's change in percentage points, money
//! in £000, carbon in tCO2e), name rank changes of a league table and summarise before listing; and the
//! global `--set KEY=VALUE` flag sets any configuration key, over the environment and under `--store`.
//!
//! A small `league` pipeline over one seed: two runs of one period whose seed changed between them.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::support::{TestProject, boardpack_output, read_parquet, run_period_at, write_parquet};

const PIPELINE: &str = r#"
name: league
description: A provider league table
parameters:
  period: { type: period, granularities: [month] }
seeds:
  providers: league/providers.csv
steps:
  - id: league
    sql: league/league.sql
    units:
      attendances: count
      seen: count
      pct_4h: percent
      spend_k: gbp_thousands
      tco2e: tco2e
      rank: rank
"#;

const SQL: &str = "
-- Each provider's share seen within four hours, its spend (£000) and carbon, ranked by the share.
SELECT provider, attendances, seen, CAST(seen AS DOUBLE) / attendances AS pct_4h, spend_k, tco2e,
       RANK() OVER (ORDER BY CAST(seen AS DOUBLE) / attendances DESC) AS rank
FROM providers
ORDER BY provider";

/// SWFT 90.5% (3rd), UHB 95% (1st), GEH 94% (2nd).
const FIRST: &str = "provider,attendances,seen,spend_k,tco2e\nSWFT,1000,905,78914,1234.5\nUHB,2000,1900,120000,2000.0\nGEH,500,470,30000,500.4\n";
/// SWFT restated: 96% (1st), £10k less spend, 12.3 tCO2e more; UHB and GEH move down a place.
const SECOND: &str = "provider,attendances,seen,spend_k,tco2e\nSWFT,1000,960,78904,1246.8\nUHB,2000,1900,120000,2000.0\nGEH,500,470,30000,500.4\n";

fn project() -> TestProject {
    let p = TestProject::new();
    p.write("pipelines/league.yaml", PIPELINE)
        .write("sql/league/league.sql", SQL)
        .write("config/league/providers.csv", FIRST);
    p
}

/// The first run (FIRST) and the restated one (SECOND), ids old then new.
async fn two_runs(p: &TestProject) -> (String, String) {
    let first = run_period_at(
        p,
        "league",
        "2022-04",
        Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap(),
    )
    .await;
    p.write("config/league/providers.csv", SECOND);
    let second = run_period_at(
        p,
        "league",
        "2022-04",
        Utc.with_ymd_and_hms(2022, 8, 17, 6, 0, 0).unwrap(),
    )
    .await;
    (first.record.run_id, second.record.run_id)
}

#[tokio::test]
async fn diff_prints_figures_in_their_units_names_rank_changes_and_summarises_first() {
    let p = project();
    let (old, new) = two_runs(&p).await;
    let (code, out) = boardpack_output(&p, &["diff", &old, &new]);
    assert_eq!(code, 1, "outputs differ: {out}");
    for expected in [
        "seen: provider=SWFT: 905 → 960 (+55)",
        "pct_4h: provider=SWFT: 90.5% → 96.0% (+5.5 pp)",
        "spend_k: provider=SWFT: £78,914k → £78,904k (\u{2212}£10k)",
        "tco2e: provider=SWFT: 1,234.5 tCO2e → 1,246.8 tCO2e (+12.3 tCO2e)",
        "rank changes (rank):",
        "SWFT 3rd → 1st",
        "UHB 1st → 2nd",
        "GEH 2nd → 3rd",
        "  figures: 4 changed in 1 table(s), 3 rank change(s); outputs: 0 added, 0 removed",
        "  largest in percent: +5.5 pp, pct_4h of provider=SWFT in tables/league.parquet (90.5% → 96.0%)",
        "  largest in gbp_thousands: \u{2212}£10k, spend_k of provider=SWFT",
        "  largest in tco2e: +12.3 tCO2e",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    // The summary comes before the listing; an unchanged figure is not listed; the rank not as a figure.
    let summary = out.find("  figures: 4 changed").unwrap();
    let listing = out.find("DIFFERENT  tables/league.parquet").unwrap();
    assert!(summary < listing, "{out}");
    assert!(
        out.lines().nth(1).unwrap().starts_with("  summary: "),
        "{out}"
    );
    assert!(!out.contains("attendances: provider="), "{out}");
    assert!(!out.contains("rank: provider="), "{out}");

    // The JSON carries each figure's unit and texts, the rank changes and the summary.
    let (code, json) = boardpack_output(&p, &["diff", &old, &new, "--output", "json"]);
    assert_eq!(code, 1, "{json}");
    let doc: Value =
        serde_json::from_str(json.split("\nerror:").next().unwrap()).expect("one JSON document");
    let table = doc["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "tables/league.parquet")
        .expect("the table is compared");
    let pct = table["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "pct_4h")
        .expect("the share changed");
    assert_eq!(pct["unit"], "percent", "{pct}");
    assert_eq!(pct["change_text"], "+5.5 pp", "{pct}");
    assert_eq!(pct["row"], "provider=SWFT", "{pct}");
    assert_eq!(
        table["rank_changes"].as_array().unwrap().len(),
        3,
        "{table}"
    );
    assert_eq!(table["rank_changes"][0]["text"], "GEH 2nd → 3rd", "{table}");
    // The figures' lines as before: strings.
    assert!(table["figures"][0].is_string(), "{table}");
    assert_eq!(doc["summary"]["figures_changed"], 4, "{doc}");
    assert_eq!(doc["summary"]["rank_changes"], 3, "{doc}");
    assert_eq!(doc["summary"]["different"], 1, "{doc}");
    let units: Vec<&str> = doc["summary"]["largest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["unit"].as_str().unwrap())
        .collect();
    assert_eq!(
        units,
        vec!["count", "percent", "gbp_thousands", "tco2e"],
        "{doc}"
    );
}

#[tokio::test]
async fn verify_shows_a_changed_stored_table_in_its_units() {
    let p = project();
    let run = run_period_at(
        &p,
        "league",
        "2022-04",
        Utc.with_ymd_and_hms(2022, 5, 10, 7, 0, 0).unwrap(),
    )
    .await;
    let table = run
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with("tables/league.parquet"))
        .unwrap()
        .path
        .clone();
    // The stored table altered after the run: GEH's share and carbon, as if edited by hand.
    let batch = read_parquet(&p.store_file(&table)).remove(0);
    let edited = edit(&batch, "GEH", &[("pct_4h", 0.5), ("tco2e", 400.0)]);
    write_parquet(&p, &table, &edited);

    let (code, out) = boardpack_output(&p, &["verify", &run.record.run_id]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        &format!("DIFFERENT  {table}"),
        "figures, stored → re-executed:",
        "  figures: 2 changed in 1 table(s), 0 rank change(s)\n",
        "  largest in percent: +44.0 pp, pct_4h of provider=GEH in tables/league.parquet (50.0% → 94.0%)",
        "pct_4h: provider=GEH: 50.0% → 94.0% (+44.0 pp)",
        "tco2e: provider=GEH: 400.0 tCO2e → 500.4 tCO2e (+100.4 tCO2e)",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    let (_, json) = boardpack_output(&p, &["verify", &run.record.run_id, "--output", "json"]);
    let doc: Value =
        serde_json::from_str(json.split("\nerror:").next().unwrap()).expect("one JSON document");
    let check = doc["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == table.as_str())
        .unwrap();
    let units: Vec<&str> = check["changes"]["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["unit"].as_str().unwrap_or("plain"))
        .collect();
    assert_eq!(units, vec!["percent", "tco2e"], "{check}");
}

/// `batch` with the given float columns of one provider's row replaced.
fn edit(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    provider: &str,
    values: &[(&str, f64)],
) -> datafusion::arrow::record_batch::RecordBatch {
    use datafusion::arrow::array::{Array, AsArray, Float64Array};
    use datafusion::arrow::datatypes::Float64Type;
    use std::sync::Arc;
    let providers = batch.column_by_name("provider").unwrap();
    let providers =
        datafusion::arrow::compute::cast(providers, &datafusion::arrow::datatypes::DataType::Utf8)
            .unwrap();
    let providers = providers.as_string::<i32>();
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| match values.iter().find(|(n, _)| n == f.name()) {
            Some((_, v)) => {
                let old = c.as_primitive::<Float64Type>();
                let new: Float64Array = (0..old.len())
                    .map(|i| {
                        Some(if providers.value(i) == provider {
                            *v
                        } else {
                            old.value(i)
                        })
                    })
                    .collect();
                Arc::new(new) as Arc<dyn Array>
            }
            None => c.clone(),
        })
        .collect();
    datafusion::arrow::record_batch::RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[test]
fn validate_names_an_unknown_unit_and_a_column_the_table_has_not() {
    let p = project();
    p.write(
        "pipelines/league.yaml",
        &PIPELINE
            .replace("pct_4h: percent", "pct_4h: percentage")
            .replace("rank: rank", "rnak: rank"),
    );
    let (code, out) = boardpack_output(&p, &["validate", "league"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("pipelines/league.yaml:")
            && out.contains(
                "step `league`: units: unknown unit `percentage` for column `pct_4h`: the units are percent, count"
            ),
        "{out}"
    );
    p.write(
        "pipelines/league.yaml",
        &PIPELINE.replace("rank: rank", "rnak: rank"),
    );
    let (code, out) = boardpack_output(&p, &["validate", "league"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("step `league`: units: names column `rnak`, which its table has not"),
        "{out}"
    );
}

/// The binary with a clean environment of store settings, and `env` set.
fn boardpack_env(p: &TestProject, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args(["--project", p.root().to_str().unwrap(), "--quiet"])
        .args(args)
        .env_remove("BOARDPACK_STORE")
        .env_remove("BOARDPACK_TARGET")
        .env_remove("BOARDPACK_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn published(p: &TestProject, lake: &str) -> bool {
    p.root()
        .join(lake)
        .join("published/league/2022-04.json")
        .is_file()
}

#[test]
fn set_flag_sets_any_key_over_the_environment_and_under_store() {
    let p = project();
    let run = ["run", "league", "--period", "2022-04"];
    let args = |first: &[&'static str]| -> Vec<&'static str> {
        first.iter().chain(&run).copied().collect()
    };

    let (code, out) = boardpack_env(&p, &[], &args(&["--set", "store.url=flag-lake"]));
    assert_eq!(code, 0, "{out}");
    assert!(published(&p, "flag-lake"), "{out}");
    assert!(!published(&p, "lake"), "{out}");

    // Over both kinds of environment variable.
    let (code, out) = boardpack_env(
        &p,
        &[
            ("BOARDPACK__STORE__URL", "env-path-lake"),
            ("BOARDPACK_STORE", "env-named-lake"),
        ],
        &args(&["--set", "store.url=flag-lake-2"]),
    );
    assert_eq!(code, 0, "{out}");
    assert!(published(&p, "flag-lake-2"), "{out}");
    assert!(
        !published(&p, "env-path-lake") && !published(&p, "env-named-lake"),
        "{out}"
    );
    // Under --store; given after the command too, and a later --set of a key wins.
    let (code, out) = boardpack_env(
        &p,
        &[],
        &[
            "run",
            "league",
            "--period",
            "2022-04",
            "--set",
            "store.url=not-this",
            "--set",
            "engine.target_partitions=2",
            "--store",
            "store-lake",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        published(&p, "store-lake") && !published(&p, "not-this"),
        "{out}"
    );

    // A wrong key, a wrong value and a wrong shape are refused, naming the flag and key, exit 2.
    let (code, out) = boardpack_env(&p, &[], &["--set", "engine.colour=blue", "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--set engine.colour: unknown field `colour`"),
        "{out}"
    );
    let (code, out) = boardpack_env(
        &p,
        &[("BOARDPACK__ENGINE__TARGET_PARTITIONS", "4")],
        &["--set", "engine.target_partitions=many", "list"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--set engine.target_partitions: invalid type"),
        "{out}"
    );
    let (code, out) = boardpack_env(&p, &[], &["--set", "engine.memory_limit=lots", "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("engine.memory_limit: `lots` is not a size")
            && out.contains("(the value comes from --set engine.memory_limit)"),
        "{out}"
    );
    let (code, out) = boardpack_env(&p, &[], &["--set", "store.options=s3cr3t", "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--set store.options: "), "{out}");
    assert!(
        !out.contains("s3cr3t"),
        "a store option's value is never printed: {out}"
    );
    let (code, out) = boardpack_env(&p, &[], &["--set", "engine.target_partitions", "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("KEY=VALUE"), "{out}");
}
