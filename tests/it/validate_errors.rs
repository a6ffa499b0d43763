//! `boardpack validate` finds, in one pass and each at its file, line and column, what would otherwise fail
//! a run late or be reported without a place (issue 27): a template that does not compile, an include of a
//! template that does not exist, a seed that is not YAML or holds a value of another type than its column,
//! a bad setting of `config/boardpack.yaml`, and several errors of one mapping. A Typst error in the markup
//! a template generated fails the run naming the template line, not the generated one.

use crate::pipeline::{PIPELINE, project, seed_visits};
use crate::support::{TestProject, boardpack_output};

/// `boardpack validate` on the project: its exit code and everything it printed.
fn validate(p: &TestProject) -> (i32, String) {
    boardpack_output(p, &["validate"])
}

/// Some line of `text` reports `needle` at `at` (`reports/x.typ.j2:4:`).
fn assert_reported(text: &str, needle: &str, at: &str) {
    assert!(
        text.lines().any(|l| l.contains(needle) && l.contains(at)),
        "{needle:?} should be reported at {at} in:\n{text}"
    );
}

#[test]
fn a_template_syntax_error_is_reported_at_its_line_and_column() {
    let p = project();
    p.write(
        "reports/waits/report.typ.j2",
        "#import \"/reports/_lib/boardpack.typ\": *\n= Clinic waits\n{% include \"waits/_part.typ.j2\" %}\nTotal: {{ tables.summary | length + }}\n",
    )
    // An included template's own syntax error is reported in that file.
    .write(
        "reports/waits/_part.typ.j2",
        "Part\n{% for r in tables.summary %}\n{{ r.clinic }}\n",
    );
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("invalid pipelines/waits.yaml"), "{text}");
    assert_reported(
        &text,
        "syntax error: unexpected end of variable block",
        "reports/waits/report.typ.j2:4:37:",
    );
    assert_reported(
        &text,
        "syntax error: unexpected end of input",
        "reports/waits/_part.typ.j2:3:",
    );
}

#[test]
fn a_missing_include_is_reported_at_the_including_line() {
    let p = project();
    p.write(
        "reports/waits/report.typ.j2",
        "#import \"/reports/_lib/boardpack.typ\": *\n= Clinic waits\n\n  {% include \"_lib/nope.typ.j2\" %}\n{% include \"_lib/maybe.typ.j2\" ignore missing %}\n",
    );
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    assert_reported(
        &text,
        "_lib/nope.typ.j2",
        "reports/waits/report.typ.j2:4:3:",
    );
    // `ignore missing` means what it says.
    assert!(!text.contains("maybe.typ.j2"), "{text}");
}

#[test]
fn a_seed_with_bad_yaml_or_a_value_of_another_type_is_placed() {
    let p = project();
    p.write(
        "pipelines/waits.yaml",
        &format!("{PIPELINE}seeds:\n  bands: waits/bands.yaml\n  broken: waits/broken.yaml\n"),
    )
    .write(
        "config/waits/bands.yaml",
        "- { band: short, upto_days: 7 }\n- { band: medium, upto_days: 30 }\n- { band: long, upto_days: many }\n",
    )
    .write(
        "config/waits/broken.yaml",
        "- { band: short\n- { band: long }\n",
    );
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    assert_reported(
        &text,
        "row 3, column `upto_days`: `many` is text, but the column holds a number (row 1)",
        "config/waits/bands.yaml:3:28:",
    );
    assert_reported(&text, "not valid YAML", "config/waits/broken.yaml:2:");
}

#[test]
fn a_bad_configuration_is_reported_at_its_keys_by_every_command() {
    let p = project();
    p.write(
        "config/boardpack.yaml",
        "store:\n  url: lake\nengine:\n  memory_limit: lots\n  max_parallel_steps: 0\n  url: remote\n",
    );
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    assert_reported(&text, "engine.memory_limit", "config/boardpack.yaml:4:3:");
    assert_reported(
        &text,
        "engine.max_parallel_steps",
        "config/boardpack.yaml:5:3:",
    );
    assert_reported(&text, "engine.url", "config/boardpack.yaml:6:3:");
    assert!(text.contains("3 errors found"), "{text}");
    // A key the file format does not know, placed by the YAML decoder, and for any command.
    p.write(
        "config/boardpack.yaml",
        "store:\n  url: lake\n  colour: blue\n",
    );
    for args in [&["validate"][..], &["list"][..]] {
        let (code, text) = boardpack_output(&p, args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("error: config/boardpack.yaml:3:3: store: unknown field `colour`"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn a_typst_error_names_the_template_line_that_produced_it() {
    let p = project();
    seed_visits(&p);
    p.write(
        "reports/waits/report.typ.j2",
        "#import \"/reports/_lib/boardpack.typ\": *\n#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})\n= Clinic waits\n{% for r in tables.summary %}- {{ r.clinic }}\n{% endfor %}\n#unknown-func({{ period_label | typst_str }})\n",
    );
    let (code, text) = validate(&p);
    assert_eq!(code, 0, "the template compiles: {text}");
    let (code, text) = boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    // A run that fails is exit code 1 (2 is for what `validate` finds before a run).
    assert_eq!(code, 1, "{text}");
    assert_reported(&text, "unknown-func", "reports/waits/report.typ.j2:6:2:");
    assert!(text.contains("generated markup"), "{text}");

    // A syntax error of the markup: a `[` left unclosed on line 5, after a tag on the same line.
    p.write(
        "reports/waits/report.typ.j2",
        "#import \"/reports/_lib/boardpack.typ\": *\n#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})\n= Clinic waits\n{% for r in tables.summary %}- {{ r.clinic }}\n{% endfor %}#box(fill: luma(230))[{{ period_label }}\n",
    );
    let (code, text) = boardpack_output(&p, &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 1, "{text}");
    assert_reported(
        &text,
        "unclosed delimiter",
        "reports/waits/report.typ.j2:5:34:",
    );
}

#[test]
fn every_error_of_one_mapping_is_reported() {
    let p = project();
    let broken = PIPELINE
        .replace(
            "    history_months: 1\n",
            "    history_months: lots\n    may_lag: many\n",
        )
        .replace(
            "  - id: summary\n    sql: waits/summary.sql\n",
            "  - id: summary\n    sql: waits/summary.sql\n    colour: blue\n    retries: 3\n",
        );
    p.write("pipelines/waits.yaml", &broken);
    let (code, text) = validate(&p);
    assert_eq!(code, 2, "{text}");
    // Line numbers count the pipeline's leading blank line.
    assert_reported(&text, "unknown key `colour`", "pipelines/waits.yaml:22:5:");
    assert_reported(&text, "unknown key `retries`", "pipelines/waits.yaml:23:5:");
    let numbers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("expected a whole number"))
        .collect();
    assert!(
        numbers
            .iter()
            .any(|l| l.starts_with("pipelines/waits.yaml:11:21:"))
            && numbers
                .iter()
                .any(|l| l.starts_with("pipelines/waits.yaml:12:14:")),
        "{text}"
    );
    // Taking an entry out to find the next error does not invent a missing key.
    assert!(!text.contains("missing key"), "{text}");
}
