//! Hardening (issue 8): bad input is refused before any SQL runs, with an error naming the input, the
//! object(s), the column, how many rows offend and a few examples; broken files are named, not skipped;
//! hostile periods and paths are refused.

use boardpack::plan;

use crate::pipeline::{PIPELINE, project, seed_visits, visits, visits_with_nulls};
use crate::support::{TestProject, run_period, write_parquet};

/// The test pipeline with its column declarations replaced.
fn with_columns(p: &TestProject, clinic: &str, wait_days: &str) {
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE
            .replace(
                "{ name: clinic, type: string }",
                &format!("{{ name: clinic, type: string{clinic} }}"),
            )
            .replace(
                "{ name: wait_days, type: integer }",
                &format!("{{ name: wait_days, type: integer{wait_days} }}"),
            ),
    );
}

/// Fails the run and returns its message; the run must stop before its first SQL step.
async fn refused(p: &TestProject) -> String {
    let failure = run_period(p, "waits", "2022-04")
        .await
        .expect_err("the run is refused");
    // Nothing ran: the record has no step that started.
    if let Some(path) = &failure.record_path {
        let record: boardpack::record::RunRecord =
            serde_json::from_slice(&std::fs::read(p.store_file(path)).unwrap()).unwrap();
        assert!(
            record
                .steps
                .iter()
                .all(|s| s.status != boardpack::record::StepStatus::Succeeded),
            "a step ran: {:?}",
            record.steps
        );
    }
    failure.message
}

#[tokio::test]
async fn nulls_in_a_required_column_are_counted_with_examples() {
    let p = project();
    seed_visits(&p);
    with_columns(&p, ", nullable: false", "");
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits_with_nulls(&[
            ("n1", None, 3),
            ("n2", Some("Cardiology"), 3),
            ("n3", None, 4),
        ]),
    );
    let m = refused(&p).await;
    assert!(m.contains("input `visits`"), "{m}");
    // The month's objects are named (the offending rows are in April's partition).
    assert!(
        m.contains("inputs/visits/month=2022-04/part-1.parquet") && !m.contains("month=2022-03"),
        "{m}"
    );
    assert!(
        m.contains("2 row(s) have a null `clinic`") && m.contains("nullable: false"),
        "{m}"
    );
    assert!(
        m.contains("visit_id=\"n1\"") && m.contains("visit_id=\"n3\""),
        "{m}"
    );
    assert!(!m.contains("\"n2\""), "a good row is not an example: {m}");
}

#[tokio::test]
async fn a_repeated_key_is_refused_but_the_same_key_in_another_month_is_not() {
    let p = project();
    seed_visits(&p);
    // March already holds `a1`: the same id in April is a different row (the month is part of the grain).
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits(&[("a1", "Cardiology", 1)]),
    );
    run_period(&p, "waits", "2022-04")
        .await
        .expect("the same key in two months is fine");

    // `b1` again in April (already in part-0), three times: 4 rows share one key value.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-2.parquet",
        &visits(&[
            ("b1", "Cardiology", 1),
            ("b1", "Cardiology", 2),
            ("b1", "X", 3),
        ]),
    );
    let m = refused(&p).await;
    assert!(
        m.contains("input `visits`")
            && m.contains("inputs/visits/month=2022-04/part-0.parquet")
            && m.contains("inputs/visits/month=2022-04/part-2.parquet"),
        "{m}"
    );
    assert!(
        m.contains("4 row(s) share a key: 1 value(s) of the key (month, visit_id)")
            && m.contains("`visit_id`"),
        "{m}"
    );
    assert!(m.contains("visit_id=\"b1\"") && m.contains("rows=4"), "{m}");
}

#[tokio::test]
async fn a_key_of_several_columns_is_checked_as_a_whole() {
    let p = project();
    seed_visits(&p);
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE
            .replace(
                "{ name: visit_id, type: string, key: true }",
                "{ name: visit_id, type: string, key: true }",
            )
            .replace(
                "{ name: clinic, type: string }",
                "{ name: clinic, type: string, key: true }",
            ),
    );
    // The same visit id in two clinics is two keys.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits(&[("b1", "Dermatology", 1)]),
    );
    run_period(&p, "waits", "2022-04")
        .await
        .expect("(visit_id, clinic) is unique");
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-2.parquet",
        &visits(&[("b1", "Dermatology", 7)]),
    );
    let m = refused(&p).await;
    assert!(
        m.contains("2 row(s) share a key: 1 value(s) of the key (month, visit_id, clinic)")
            && m.contains("clinic=\"Dermatology\""),
        "{m}"
    );
}

#[tokio::test]
async fn values_outside_the_allowed_set_or_range_are_refused() {
    let p = project();
    seed_visits(&p);
    with_columns(
        &p,
        ", allowed: [Cardiology, Dermatology]",
        ", min: 0, max: 365",
    );
    // The declared rules hold on the seeded data.
    run_period(&p, "waits", "2022-04")
        .await
        .expect("the seeded visits keep the rules");
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits(&[
            ("x1", "Oncology", 3),
            ("x2", "Cardiology", -2),
            ("x3", "Oncology", 400),
            ("x4", "Cardiology", 12),
        ]),
    );
    let m = refused(&p).await;
    assert!(
        m.contains("input `visits`, object `inputs/visits/month=2022-04/part-1.parquet`"),
        "{m}"
    );
    assert!(
        m.contains(
            "2 row(s) have a `clinic` not among the allowed values (Cardiology, Dermatology); \
             e.g. (month=\"2022-04\", visit_id=\"x1\", clinic=\"Oncology\"), (month=\"2022-04\", visit_id=\"x3\", clinic=\"Oncology\")"
        ),
        "{m}"
    );
    assert!(
        m.contains("1 row(s) have a `wait_days` below the minimum 0") && m.contains("wait_days=-2"),
        "{m}"
    );
    assert!(
        m.contains("1 row(s) have a `wait_days` above the maximum 365")
            && m.contains("wait_days=400"),
        "{m}"
    );
}

#[test]
fn allowed_values_and_ranges_are_checked_against_the_column_type_at_load() {
    let p = TestProject::new();
    p.write(
        "pipelines/rules.yaml",
        "name: rules
parameters:
  period: { type: period }
inputs:
  visits:
    location: inputs/visits
    partitioned_by: month
    columns:
      - { name: seen, type: boolean, allowed: [true] }
      - { name: clinic, type: string, min: 3 }
      - { name: grade, type: integer, allowed: [1, two] }
      - { name: wait, type: integer, min: 10, max: 5 }
      - { name: ward, type: string, allowed: [] }
steps: []
",
    );
    let world = p.world();
    let errors = plan::load(&world.project, "pipelines/rules.yaml").expect_err("bad rules");
    let text = errors.to_string();
    for expected in [
        "pipelines/rules.yaml:9:47: input `visits`, column `seen`: `allowed` needs a string or integer column",
        "pipelines/rules.yaml:10:44: input `visits`, column `clinic`: `min` needs an integer or float column",
        "pipelines/rules.yaml:11:52: input `visits`, column `grade`: allowed value `two` is not a whole number",
        "pipelines/rules.yaml:12:52: input `visits`, column `wait`: `max` (5) is below `min` (10)",
        "pipelines/rules.yaml:13:46: input `visits`, column `ward`: `allowed` lists no values",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// A good April, and `bytes` written beside it as `name`.
async fn broken_object(name: &str, bytes: &[u8]) -> String {
    let p = project();
    seed_visits(&p);
    let path = p.store_file(&format!("inputs/visits/month=2022-04/{name}"));
    std::fs::write(&path, bytes).unwrap();
    let m = refused(&p).await;
    assert!(
        m.contains(&format!(
            "input `visits`, object `inputs/visits/month=2022-04/{name}`"
        )),
        "{m}"
    );
    m
}

#[tokio::test]
async fn broken_files_are_named_not_skipped() {
    let good = boardpack::sample::parquet_bytes(&visits(&[("z1", "Cardiology", 1)])).unwrap();
    let m = broken_object("part-1.parquet", &[]).await;
    assert!(m.contains("empty (0 bytes)"), "{m}");
    let m = broken_object("part-1.parquet", &good[..good.len() / 2]).await;
    assert!(m.contains("not a readable Parquet file"), "{m}");
    let m = broken_object("part-1.parquet", b"provider_code,visits\nRX1,3\n").await;
    assert!(m.contains("not a readable Parquet file"), "{m}");
    // A readable footer over garbled pages: found when the rows are read, and still named.
    let ids: Vec<String> = (0..5000).map(|i| format!("z{i}")).collect();
    let many: Vec<(&str, &str, i64)> = ids.iter().map(|i| (i.as_str(), "Cardiology", 1)).collect();
    let mut garbled = boardpack::sample::parquet_bytes(&visits(&many))
        .unwrap()
        .to_vec();
    let len = garbled.len();
    for b in garbled.iter_mut().skip(4).take(len / 2) {
        *b = 0xA5;
    }
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(
        garbled.clone(),
    ))
    .expect("the footer is still readable");
    let m = broken_object("part-1.parquet", &garbled).await;
    assert!(m.contains("its pages cannot be read in full"), "{m}");
    // A file of another kind in the partition is data that would be left out: refused, not skipped.
    let m = broken_object(
        "part-1.csv",
        b"visit_id,clinic,wait_days\nz1,Cardiology,1\n",
    )
    .await;
    assert!(m.contains("not a Parquet file"), "{m}");
}

fn boardpack_cli(project: &std::path::Path, args: &[&str]) -> (i32, String, String) {
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

#[test]
fn a_period_carrying_sql_is_refused_before_any_sql() {
    let p = project();
    seed_visits(&p);
    let (code, stdout, stderr) = boardpack_cli(
        p.root(),
        &["run", "waits", "--period", "2022-04'; DROP TABLE x; --"],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: `2022-04'; DROP TABLE x; --` is not a period"),
        "{stderr}"
    );
    // Refused before a run started: no run record, nothing published.
    assert!(!p.store_file("runs").exists(), "a run was recorded");
    assert!(!p.store_file("published").exists());
}

#[test]
fn configured_paths_cannot_leave_the_project_or_the_store() {
    let p = project();
    let world = p.world();
    for (bad, why) in [
        ("../outside.sql", "`..`"),
        ("/etc/passwd", "absolute"),
        ("waits/../../../x.sql", "`..`"),
    ] {
        p.write(
            "pipelines/waits.yaml",
            &PIPELINE.replace("sql: waits/summary.sql", &format!("sql: \"{bad}\"")),
        );
        let text = plan::load_named(&world.project, "waits")
            .expect_err("escaping SQL path")
            .to_string();
        assert!(text.contains(bad) || text.contains(why), "{bad}: {text}");
        assert!(text.contains("pipelines/waits.yaml:"), "{bad}: {text}");
    }
    for (bad, what) in [
        ("../reports/x.typ.j2", "report"),
        ("/tmp/x.typ.j2", "report"),
    ] {
        p.write(
            "pipelines/waits.yaml",
            &PIPELINE.replace("report: waits/report.typ.j2", &format!("report: \"{bad}\"")),
        );
        let text = plan::load_named(&world.project, "waits")
            .expect_err("escaping template path")
            .to_string();
        assert!(
            text.contains("pipelines/waits.yaml:"),
            "{what} {bad}: {text}"
        );
    }
    for bad in ["../elsewhere", "/var/data/visits"] {
        p.write(
            "pipelines/waits.yaml",
            &PIPELINE.replace("location: inputs/visits", &format!("location: \"{bad}\"")),
        );
        let text = plan::load_named(&world.project, "waits")
            .expect_err("escaping input location")
            .to_string();
        assert!(text.contains("pipelines/waits.yaml:"), "{bad}: {text}");
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_project_is_refused() {
    let p = project();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.sql");
    std::fs::write(&secret, "SELECT 'from outside' AS clinic").unwrap();
    std::fs::remove_file(p.root().join("sql/waits/summary.sql")).unwrap();
    std::os::unix::fs::symlink(&secret, p.root().join("sql/waits/summary.sql")).unwrap();
    let world = p.world();
    let text = plan::load_named(&world.project, "waits")
        .expect_err("the link leaves the project")
        .to_string();
    assert!(
        text.contains("`sql/waits/summary.sql` resolves to")
            && text.contains("outside the project folder"),
        "{text}"
    );
    // A link that stays inside the project is fine.
    std::fs::remove_file(p.root().join("sql/waits/summary.sql")).unwrap();
    p.write("sql/waits/real_summary.sql", crate::pipeline::SUMMARY);
    std::os::unix::fs::symlink(
        p.root().join("sql/waits/real_summary.sql"),
        p.root().join("sql/waits/summary.sql"),
    )
    .unwrap();
    plan::load_named(&p.world().project, "waits").expect("a link inside the project is followed");
}

#[test]
fn a_period_given_twice_or_carrying_a_control_character_is_refused() {
    let p = project();
    seed_visits(&p);
    // `--param period=` beside `--period`: which one would run? Neither: it is a usage error.
    let (code, stdout, stderr) = boardpack_cli(
        p.root(),
        &[
            "run",
            "waits",
            "--period",
            "2022-04",
            "--param",
            "period=2022-05",
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("the period is given twice"), "{stderr}");
    // A pasted line end (or any control character) in the period or a parameter.
    for bad in ["2022-04\n", "2022-04\r", "2022\t-04"] {
        let (code, stdout, stderr) = boardpack_cli(p.root(), &["run", "waits", "--period", bad]);
        assert_eq!(code, 2, "{bad:?}: {stdout}{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("is not a period"), "{bad:?}: {stderr}");
    }
    let (code, _, stderr) = boardpack_cli(
        p.root(),
        &[
            "run",
            "waits",
            "--period",
            "2022-04",
            "--param",
            "note=a\nb",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("control character"), "{stderr}");
    assert!(!p.store_file("runs").exists(), "a run was recorded");
    assert!(!p.store_file("published").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_symbolic_link_out_of_the_store_is_refused_with_its_path() {
    let p = project();
    seed_visits(&p);
    // An object of the April input is a link to a file outside the store.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("elsewhere.parquet");
    std::fs::copy(
        p.store_file("inputs/visits/month=2022-04/part-0.parquet"),
        &target,
    )
    .unwrap();
    let link = p.store_file("inputs/visits/month=2022-04/part-1.parquet");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("the link leaves the store");
    assert!(
        failure
            .message
            .contains("`inputs/visits/month=2022-04/part-1.parquet` on the store leads through a symbolic link")
            && failure.message.contains("outside the store's root"),
        "{}",
        failure.message
    );
    assert!(!p.store_file("published").exists());
    // A linked folder is refused for writing too: outputs never land outside the root.
    std::fs::remove_file(&link).unwrap();
    // (The refused run's failure record is under `runs/`; the folder is replaced by the link.)
    let _ = std::fs::remove_dir_all(p.store_file("runs"));
    std::os::unix::fs::symlink(outside.path(), p.store_file("runs")).unwrap();
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("the runs folder leaves the store");
    assert!(
        failure.message.contains("outside the store's root"),
        "{}",
        failure.message
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "nothing was written through the link: {:?}",
        crate::faults::files_under(outside.path())
    );
    // A link that stays inside the store is followed.
    std::fs::remove_file(p.store_file("runs")).unwrap();
    std::fs::create_dir_all(p.store_file("elsewhere")).unwrap();
    std::fs::rename(
        p.store_file("inputs/visits/month=2022-04/part-0.parquet"),
        p.store_file("elsewhere/real.parquet"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        p.store_file("elsewhere/real.parquet"),
        p.store_file("inputs/visits/month=2022-04/part-0.parquet"),
    )
    .unwrap();
    run_period(&p, "waits", "2022-04")
        .await
        .expect("a link inside the store is followed");
}
