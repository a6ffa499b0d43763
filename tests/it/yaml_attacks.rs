//! Hostile pipeline files (issue 8): a huge file, deep nesting, an alias-expansion bomb ("billion laughs")
//! and unknown keys are refused with a clear error, in bounded time and memory, before any data is read.

use std::time::{Duration, Instant};

use boardpack::plan;

use crate::support::TestProject;

/// Loads `pipelines/hostile.yaml` with `text`; returns the errors, which must come within a second.
fn refused(text: &str) -> String {
    let p = TestProject::new();
    p.write("pipelines/hostile.yaml", text);
    let world = p.world();
    let started = Instant::now();
    let errors = plan::load(&world.project, "pipelines/hostile.yaml")
        .expect_err("the file is refused")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}: {errors}",
        started.elapsed()
    );
    assert!(errors.contains("pipelines/hostile.yaml"), "{errors}");
    errors
}

#[test]
fn a_huge_file_is_refused_before_it_is_parsed() {
    // 64 MiB of comment: refused by its size, not read into the parser.
    let p = TestProject::new();
    let path = p.root().join("pipelines/hostile.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(64 * 1024 * 1024).unwrap();
    let started = Instant::now();
    let errors = plan::load(&p.world().project, "pipelines/hostile.yaml")
        .expect_err("too big")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        errors.contains("the file is 67108864 bytes; a pipeline file may be at most 1048576"),
        "{errors}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    // Flow nesting needs two bytes a level: a million levels fit under the size cap.
    let depth = 400_000;
    let text = format!(
        "name: hostile\nsteps: []\ndescription: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let errors = refused(&text);
    // The YAML parser's own recursion limit stops it first.
    assert!(errors.contains("recursion limit exceeded"), "{errors}");
    // Block nesting within that limit is stopped by the pipeline's own depth limit.
    let mut text = String::from("name: hostile\nsteps: []\nparameters:\n");
    for level in 0..40 {
        text.push_str(&format!("{}k{level}:\n", "  ".repeat(level + 1)));
    }
    let errors = refused(&text);
    assert!(
        errors.contains("nested more than 32 levels deep"),
        "{errors}"
    );
}

#[test]
fn an_alias_expansion_bomb_is_refused() {
    let mut text = String::from(
        "name: hostile\nsteps: []\nlol0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        text.push_str(&format!("lol{i}: &a{i} [{refs}]\n"));
    }
    let errors = refused(&text);
    assert!(
        errors.contains("YAML anchors and aliases are not allowed in pipeline files"),
        "{errors}"
    );
    // An alias with no anchor is a syntax error, not a crash.
    let errors = refused("name: hostile\nsteps:\n  - *nowhere\n");
    assert!(errors.contains("hostile.yaml:3"), "{errors}");
}

#[test]
fn unknown_keys_are_named_where_they_are() {
    let errors = refused(
        "name: hostile
parameters:
  period: { type: period, shell: \"rm -rf /\" }
inputs:
  visits:
    location: inputs/visits
    columns:
      - { name: id, type: string, on_fail: quarantine, execute: true }
steps: []
run_this: now
",
    );
    for expected in [
        "pipelines/hostile.yaml:3:27: unknown key `shell`",
        "pipelines/hostile.yaml:8:56: unknown key `execute`",
        "pipelines/hostile.yaml:10:1: unknown key `run_this`",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in {errors}"
        );
    }
}
