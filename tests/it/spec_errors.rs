//! A broken pipeline reports every error at once, each with its file, line and column, before anything
//! runs.

use boardpack::plan;

use crate::support::TestProject;

const BROKEN: &str = r#"name: broken
description: Every kind of mistake
colour: blue
parameters:
  period: { type: period }
  size: { type: huge }
inputs:
  visits:
    location: ../outside
    partitioned_by: month
    columns:
      - { name: id, type: string }
      - { name: wait, type: decimal }
steps:
  - id: first
    sql: broken/first.sql
  - id: first
    sql: broken/missing.sql
  - id: second
    sql: broken/second.sql
    depends_on: [nowhere]
  - id: loop_a
    sql: broken/loop_a.sql
  - id: loop_b
    sql: broken/loop_b.sql
  - id: pack
    report: broken/nothing.typ.j2
    uses: [ghost]
  - id: both
    sql: broken/first.sql
    report: broken/nothing.typ.j2
  - id: odd
    sql: broken/first.sql
    retries: 3
"#;

fn project() -> TestProject {
    let p = TestProject::new();
    p.write("pipelines/broken.yaml", BROKEN)
        .write("sql/broken/first.sql", "SELECT id FROM visits")
        .write("sql/broken/second.sql", "SELECT * FROM unknown_table")
        .write("sql/broken/loop_a.sql", "SELECT * FROM loop_b")
        .write("sql/broken/loop_b.sql", "SELECT * FROM loop_a");
    p
}

#[test]
fn every_error_is_listed_with_its_place() {
    let p = project();
    let world = p.world();
    let errors =
        plan::load(&world.project, "pipelines/broken.yaml").expect_err("the spec is broken");
    let lines: Vec<String> = errors.0.iter().map(|d| d.to_string()).collect();
    let text = lines.join("\n");
    let expect = |needle: &str, line: usize| {
        let hit = lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no error mentioning {needle:?} in:\n{text}"));
        assert!(
            hit.starts_with(&format!("pipelines/broken.yaml:{line}:")),
            "{needle:?} should be reported at line {line}: {hit}"
        );
    };
    // Shape errors: an unknown key at the top and inside a step, with their positions.
    expect("unknown key `colour`", 3);
    expect("unknown key `retries`", 34);
    // Names, types and references.
    expect("unknown type `huge`", 6);
    expect("not allowed", 9);
    expect("unknown type `decimal`", 13);
    expect("duplicate step id `first`", 17);
    expect("broken/missing.sql", 18);
    expect("unknown step `nowhere`", 21);
    expect("exactly one of", 29);
    expect("`ghost`", 28);
    expect("broken/nothing.typ.j2", 27);
    // A table that does not exist is reported in the SQL file that reads it.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sql/broken/second.sql:1:1") && l.contains("unknown_table")),
        "{text}"
    );
    // The cycle names both steps.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`loop_a` is part of a dependency cycle")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`loop_b` is part of a dependency cycle")),
        "{text}"
    );
    assert!(errors.len() >= 13, "{text}");
}

#[test]
fn yaml_syntax_errors_and_aliases_are_refused_with_a_place() {
    let p = TestProject::new();
    p.write(
        "pipelines/bad.yaml",
        "name: bad\nsteps:\n  - id: [unclosed\n",
    );
    p.write(
        "pipelines/alias.yaml",
        "name: alias\nbase: &b {x: 1}\nsteps:\n  - *b\n",
    );
    let world = p.world();
    let e = plan::load(&world.project, "pipelines/bad.yaml").unwrap_err();
    assert!(e.0[0].to_string().starts_with("pipelines/bad.yaml:"), "{e}");
    assert!(e.0[0].location.is_some());
    let e = plan::load(&world.project, "pipelines/alias.yaml").unwrap_err();
    assert!(
        e.to_string()
            .contains("anchors and aliases are not allowed"),
        "{e}"
    );
}

#[test]
fn the_shipped_pipelines_are_valid() {
    let world = boardpack::world::World::open(&crate::support::repo(), Some("memory://")).unwrap();
    for f in world.project.pipeline_files() {
        if let Err(e) = plan::load(&world.project, &f) {
            panic!("{f} is invalid:\n{e}");
        }
    }
}

#[test]
fn a_value_of_the_wrong_type_is_named_at_its_place() {
    let p = TestProject::new();
    p.write(
        "pipelines/typed.yaml",
        "name: typed\nparameters:\n  period: { type: period }\ninputs:\n  visits:\n    location: inputs/visits\n    partitioned_by: month\n    history_months: lots\n    columns:\n      - { name: id, type: string, key: maybe }\nsteps: []\n",
    );
    let world = p.world();
    let errors = plan::load(&world.project, "pipelines/typed.yaml").expect_err("wrong types");
    let text = errors.to_string();
    assert!(
        text.contains("pipelines/typed.yaml:8:21: expected a whole number"),
        "{text}"
    );
}
