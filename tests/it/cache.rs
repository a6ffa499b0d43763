//! The step cache and partition pruning, seen through run records: a SQL step reruns exactly when its SQL,
//! a parameter, an input object it reads or an upstream result changed; a cached run's outputs are the
//! bytes of an uncached one; a monthly run reads only the partitions of its period and history.

use std::collections::BTreeMap;
use std::sync::Arc;

use boardpack::execute::{self, RunOptions, Silent};
use boardpack::params::RunParams;
use boardpack::record::RunRecord;

use crate::pipeline::{BY_CLINIC, SUMMARY, TEMPLATE, project, seed_visits, visits};
use crate::support::{TestProject, write_parquet};

async fn run(p: &TestProject, extra: &[(&str, &str)], no_cache: bool) -> RunRecord {
    let world = p.world().fresh();
    let plan = boardpack::plan::load_named(&world.project, "waits").expect("a valid pipeline");
    let mut given = BTreeMap::from([("period".to_string(), "2022-04".to_string())]);
    for (k, v) in extra {
        given.insert(k.to_string(), v.to_string());
    }
    let params = RunParams::bind(&plan, &given).expect("valid parameters");
    let options = RunOptions {
        no_cache,
        ..Default::default()
    };
    execute::run_with(&world, &plan, &params, Arc::new(Silent), &options)
        .await
        .expect("the run succeeds")
        .record
}

/// The ids of the steps a run took from the cache, sorted.
fn cached(r: &RunRecord) -> Vec<&str> {
    let mut ids: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.cached)
        .map(|s| s.id.as_str())
        .collect();
    ids.sort();
    ids
}

/// Every step with a result: two SQL steps and the report (the check step keeps nothing).
const ALL: [&str; 3] = ["by_clinic", "report", "summary"];

/// Each output by its path within the run, with its SHA-256.
fn hashes(r: &RunRecord) -> BTreeMap<String, String> {
    r.outputs
        .iter()
        .map(|o| {
            let within = o.path.splitn(5, '/').nth(4).unwrap_or(&o.path);
            (within.to_string(), o.sha256.clone())
        })
        .collect()
}

#[tokio::test]
async fn a_step_reruns_exactly_when_what_it_reads_changed() {
    let p = project();
    seed_visits(&p);

    let cold = run(&p, &[], false).await;
    assert!(cached(&cold).is_empty(), "an empty cache serves nothing");
    let warm = run(&p, &[], false).await;
    assert_eq!(cached(&warm), ALL);
    assert_eq!(
        warm.files, cold.files,
        "a cached report still lists its template"
    );
    assert_eq!(
        hashes(&warm),
        hashes(&cold),
        "cached outputs are the same bytes"
    );
    let uncached = run(&p, &[], true).await;
    assert!(cached(&uncached).is_empty(), "--no-cache runs every step");
    assert_eq!(hashes(&uncached), hashes(&cold));

    // A template change re-renders the report from cached tables.
    p.write(
        "reports/waits/report.typ.j2",
        &format!("{TEMPLATE}\nTemplate changed.\n"),
    );
    let templated = run(&p, &[], false).await;
    assert_eq!(cached(&templated), vec!["by_clinic", "summary"]);
    assert_ne!(
        hashes(&templated)["reports/report.pdf"],
        hashes(&warm)["reports/report.pdf"]
    );

    // A changed SQL file reruns its step; `summary` reads an unchanged result and stays cached.
    p.write(
        "sql/waits/by_clinic.sql",
        &format!("-- A comment changes the text, not the result.\n{BY_CLINIC}"),
    );
    assert_eq!(cached(&run(&p, &[], false).await), vec!["summary"]);
    // A changed upstream result reruns its readers.
    p.write(
        "sql/waits/by_clinic.sql",
        &BY_CLINIC.replace("wait_days <= $threshold", "wait_days < $threshold"),
    );
    let upstream = run(&p, &[], false).await;
    assert!(cached(&upstream).is_empty());
    assert_ne!(
        hashes(&upstream)["tables/summary.parquet"],
        hashes(&warm)["tables/summary.parquet"]
    );
    p.write("sql/waits/by_clinic.sql", BY_CLINIC);
    let restored = run(&p, &[], false).await;
    assert_eq!(cached(&restored), ALL);
    p.write("sql/waits/summary.sql", &format!("{SUMMARY}\n"));
    assert_eq!(cached(&run(&p, &[], false).await), vec!["by_clinic"]);
    p.write("sql/waits/summary.sql", SUMMARY);

    // A changed parameter reruns every step that binds it (here, all; parameters count for every step).
    let param = run(&p, &[("threshold", "20")], false).await;
    assert!(cached(&param).is_empty());
    assert_eq!(cached(&run(&p, &[("threshold", "20")], false).await), ALL);

    // A month outside the period and its history changes nothing read; a month read reruns every step.
    write_parquet(
        &p,
        "inputs/visits/month=2022-06/part-0.parquet",
        &visits(&[("d1", "Dermatology", 1), ("d2", "Dermatology", 2)]),
    );
    assert_eq!(cached(&run(&p, &[], false).await), ALL);
    write_parquet(
        &p,
        "inputs/visits/month=2022-03/part-0.parquet",
        &visits(&[("a1", "Cardiology", 10), ("a2", "Cardiology", 5)]),
    );
    let changed = run(&p, &[], false).await;
    assert!(cached(&changed).is_empty());
    assert_eq!(hashes(&run(&p, &[], true).await), hashes(&changed));
}

#[tokio::test]
async fn verify_recomputes_a_run_whose_steps_were_cached() {
    let p = project();
    seed_visits(&p);
    run(&p, &[], false).await;
    let warm = run(&p, &[], false).await;
    assert_eq!(cached(&warm), ALL);
    // Break the cache entries: a verify that read them would no longer reproduce the run.
    let dir = p.store_file(boardpack::cache::CACHE_PREFIX);
    let mut broken = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            std::fs::write(&path, r#"{"rows":0,"size":0,"sha256":"x"}"#).unwrap();
            broken += 1;
        }
    }
    assert_eq!(broken, 2);
    let world = p.world();
    let (path, record) = boardpack::verify::find_record(&world, &warm.run_id)
        .await
        .unwrap();
    let report = boardpack::verify::verify(&world, &path, &record)
        .await
        .unwrap();
    assert!(report.identical(), "{report}");
    // And a run meeting broken entries computes the steps instead.
    let after = run(&p, &[], false).await;
    assert_eq!(
        cached(&after),
        vec!["report"],
        "only the report's entry is whole"
    );
    assert_eq!(hashes(&after), hashes(&warm));
}

#[tokio::test]
async fn a_monthly_run_reads_only_its_period_and_history() {
    let p = project();
    let rows = seed_visits(&p);
    let r = run(&p, &[], true).await;
    let input = r.inputs.iter().find(|i| i.name == "visits").unwrap();
    // April and one month of history (`history_months: 1`); May and June are never read.
    assert_eq!(input.months, vec!["2022-03", "2022-04"]);
    let months = ["2022-03", "2022-04"];
    let objects: Vec<String> = months
        .iter()
        .map(|m| format!("inputs/visits/month={m}/part-0.parquet"))
        .collect();
    assert_eq!(
        input
            .objects
            .iter()
            .map(|o| o.path.clone())
            .collect::<Vec<_>>(),
        objects
    );
    let expected_rows = rows.iter().filter(|r| months.contains(&r.0)).count() as u64;
    assert_eq!(input.rows, Some(expected_rows));
    let expected_bytes: u64 = objects
        .iter()
        .map(|o| std::fs::metadata(p.store_file(o)).unwrap().len())
        .sum();
    assert_eq!(input.bytes, expected_bytes);
}

#[tokio::test]
async fn concurrent_runs_fill_the_cache_once_and_agree() {
    let p = project();
    seed_visits(&p);
    // Two runs at once on an empty cache both compute and both try to keep the same entries.
    let (a, b) = tokio::join!(run(&p, &[], false), run(&p, &[], false));
    assert_eq!(hashes(&a), hashes(&b));
    let entries = std::fs::read_dir(p.store_file(boardpack::cache::CACHE_PREFIX))
        .unwrap()
        .count();
    assert_eq!(entries, 4, "one Parquet and one JSON per SQL step");
    let c = run(&p, &[], false).await;
    assert_eq!(cached(&c), ALL);
    assert_eq!(hashes(&c), hashes(&a));
}

#[tokio::test]
async fn rows_that_break_the_contract_are_refused_after_a_clean_run() {
    let p = project();
    seed_visits(&p);
    run(&p, &[], false).await;
    // A re-delivered April repeats a key: the row rules must run again on the new objects, not trust the
    // clean run's marker.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&[("b1", "Cardiology", 5), ("b1", "Cardiology", 6)]),
    );
    let world = p.world().fresh();
    let plan = boardpack::plan::load_named(&world.project, "waits").unwrap();
    let given = BTreeMap::from([("period".to_string(), "2022-04".to_string())]);
    let params = RunParams::bind(&plan, &given).unwrap();
    let failed = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect_err("a repeated key fails the run");
    assert!(failed.message.contains("share a key"), "{}", failed.message);
}
