//! The command line: exit codes, one-line reasons, and `validate` listing every error.

use std::process::Command;

use crate::support::{TestProject, repo};

fn boardpack(project: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_boardpack"))
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
fn validate_lists_every_error_and_exits_2() {
    let p = TestProject::new();
    p.write(
        "pipelines/one.yaml",
        "name: one\nsteps:\n  - id: a\n    sql: one/a.sql\n  - id: b\n    sql: one/b.sql\n",
    );
    let (code, stdout, stderr) = boardpack(p.root(), &["validate"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("invalid pipelines/one.yaml"), "{stdout}");
    assert!(
        stderr
            .contains("pipelines/one.yaml:4:10: step `a`: SQL file `sql/one/a.sql` cannot be read"),
        "{stderr}"
    );
    assert!(stderr.contains("pipelines/one.yaml:6:10:"), "{stderr}");
    assert!(stderr.contains("type: period"), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("error: "),
        "{stderr}"
    );
}

#[test]
fn validate_and_plan_the_shipped_pipelines() {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args([
            "--project",
            repo().to_str().unwrap(),
            "--store",
            store.path().to_str().unwrap(),
            "validate",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args([
            "--project",
            repo().to_str().unwrap(),
            "--store",
            store.path().to_str().unwrap(),
            "plan",
            "board-pack",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wave 1") && text.contains("(in parallel)"),
        "{text}"
    );
}

#[test]
fn a_bad_period_is_a_one_line_usage_error() {
    let p = TestProject::new();
    let (code, _, stderr) = boardpack(p.root(), &["run", "anything", "--period", "April"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("`April` is not a period"), "{stderr}");
}
