//! The command line: exit codes, one-line reasons, and `validate` listing every error.

use std::process::Command;

use crate::support::{TestProject, boardpack, repo};

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
    let store = store.path().to_str().unwrap();
    let (code, _, stderr) = boardpack(&repo(), &["--store", store, "validate"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, text, _) = boardpack(&repo(), &["--store", store, "plan", "board-pack"]);
    assert_eq!(code, 0);
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

#[test]
fn spc_command_judges_a_csv_and_draws_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    // Twelve points around 10, then a run of seven above the mean, for two wards (facets).
    let mut csv = String::from("ward,month,value\n");
    let values = [
        10.0, 9.0, 10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 10.8, 10.9, 10.8,
        10.9, 10.8, 10.9, 10.8,
    ];
    for ward in ["North", "South, East"] {
        for (i, v) in values.iter().enumerate() {
            let month = if i < 12 {
                format!("2021-{:02}", i + 1)
            } else {
                format!("2022-{:02}", i - 11)
            };
            csv.push_str(&format!("\"{ward}\",{month},{v}\n"));
        }
    }
    let file = dir.path().join("wards.csv");
    std::fs::write(&file, csv).unwrap();
    let chart = dir.path().join("wards.pdf");
    let out = Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args([
            "spc",
            file.to_str().unwrap(),
            "--value",
            "value",
            "--date",
            "month",
            "--facet",
            "ward",
        ])
        .args([
            "--improvement",
            "decrease",
            "--target",
            "12",
            "--json",
            "--chart",
            chart.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = json["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[1]["facet"], "South, East");
    let last = series[0]["points"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["date"], "2022-07");
    assert_eq!(last["rule"], "run", "seven points above the mean: {last}");
    assert_eq!(last["point_type"], "concern", "higher is worse here");
    assert_eq!(series[0]["variation"], "concern_high");
    assert!(
        std::fs::metadata(&chart).unwrap().len() > 1000,
        "a PDF with two charts"
    );
}

#[test]
fn sample_names_an_unknown_input_and_writes_only_what_is_asked() {
    let store = tempfile::tempdir().unwrap();
    let at = store.path().to_str().unwrap();
    let (code, _, stderr) = boardpack(
        &repo(),
        &["--store", at, "sample", "--only", "gp_apointments"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`gp_apointments` is not a sample input")
            && stderr.contains("gp_appointments"),
        "{stderr}"
    );
    let (code, _, stderr) = boardpack(
        &repo(),
        &[
            "--store",
            at,
            "sample",
            "--from",
            "2022-04",
            "--to",
            "2022-04",
            "--only",
            "nhs111_calls",
            "--no-lag",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        store
            .path()
            .join("inputs/nhs111_calls/month=2022-04/part-0.parquet")
            .exists()
    );
    assert!(!store.path().join("inputs/ae_attendances").exists());
    assert!(
        store
            .path()
            .join("reference/practices/practices.parquet")
            .exists()
    );
}

/// Shell completions and the manual page come from the same definition as `--help`, and need no project:
/// nothing is created where they run.
#[test]
fn completions_and_the_manual_page_need_no_project() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_boardpack()"),
        ("zsh", "#compdef boardpack"),
        ("fish", "complete -c boardpack"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, out, err) = boardpack(dir.path(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        // Every subcommand completes, `backfill` and `verify` among them.
        assert!(
            out.contains("backfill") && out.contains("verify"),
            "{shell}"
        );
    }
    let (code, out, err) = boardpack(dir.path(), &["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(".TH boardpack 1") && out.contains("\\-\\-project"),
        "{out}"
    );
    let pages = dir.path().join("man1");
    let (code, _, err) = boardpack(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let run =
        std::fs::read_to_string(pages.join("boardpack-run.1")).expect("a page per subcommand");
    assert!(
        run.contains("\\-\\-resume") && run.contains("\\-\\-period"),
        "{run}"
    );
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        made,
        vec![std::ffi::OsString::from("man1")],
        "no lake/ or anything else"
    );
}

/// `list` shows each scheduled pipeline's next firing in its own time zone and each pipeline's last run.
#[test]
fn list_shows_the_next_firing_and_the_last_run() {
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    p.write(
        "pipelines/waits.yaml",
        &format!(
            "{}schedule:\n  cron: \"0 7 1 * *\"\n  timezone: Europe/London\n  builds: previous-month\n",
            crate::pipeline::PIPELINE
        ),
    );
    let (code, out, err) = boardpack(p.root(), &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("next: waits "), "{out}");
    assert!(
        out.contains(" at ") && (out.contains(" GMT") || out.contains(" BST")),
        "{out}"
    );
    assert!(!out.contains("last run:"), "no run yet: {out}");
    let (code, _, err) = boardpack(p.root(), &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = boardpack(p.root(), &["list"]);
    assert!(
        out.contains("last run: 2022-04 ") && out.contains("succeeded, published"),
        "{out}"
    );
}

/// `--output json`: one JSON document on standard output for the commands that have one, the same facts
/// as the text; refused (exit 2) by a command that prints text only.
#[test]
fn output_json_gives_one_document_per_command() {
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    let json = |args: &[&str]| -> (i32, serde_json::Value) {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (code, out, err) = boardpack(p.root(), &all);
        let doc = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {out}{err}"));
        (code, doc)
    };
    let (code, doc) = json(&["validate"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["pipelines"][0]["file"], "pipelines/waits.yaml");
    assert_eq!(doc["pipelines"][0]["valid"], true);
    let (code, doc) = json(&["plan", "waits"]);
    assert_eq!(code, 0);
    assert_eq!(doc["waves"][0][0]["kind"], "sql", "{doc}");
    let (code, _, err) = boardpack(p.root(), &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{err}");
    let (_, doc) = json(&["list"]);
    assert_eq!(doc[0]["name"], "waits");
    assert_eq!(doc[0]["last_run"]["status"], "succeeded");
    assert_eq!(doc[0]["last_run"]["published"], true);
    let (_, doc) = json(&["runs"]);
    let run = doc[0]["run_id"].as_str().expect("a run id").to_string();
    assert_eq!(doc[0]["status"], "succeeded");
    let (_, doc) = json(&["runs", "show", &run]);
    assert_eq!(doc["run_id"], run.as_str());
    assert_eq!(doc["published"], true);
    assert!(
        doc["steps"].is_array() && doc["outputs"].is_array(),
        "{doc}"
    );
    let (code, doc) = json(&["verify", &run]);
    assert_eq!(code, 0, "{doc}");
    assert!(
        doc["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["identical"] == true),
        "{doc}"
    );
    // A broken pipeline: exit 2, the errors in the document with their places.
    p.write(
        "pipelines/waits.yaml",
        "name: waits\nsteps:\n  - id: a\n    sql: nope.sql\n",
    );
    let (code, doc) = json(&["validate"]);
    assert_eq!(code, 2);
    assert_eq!(doc["pipelines"][0]["valid"], false);
    assert!(
        doc["pipelines"][0]["errors"][0]["location"]["line"].is_u64(),
        "{doc}"
    );
    let (code, _, err) = boardpack(p.root(), &["demo", "--output", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains("--output json is available for"), "{err}");
}

/// Named targets of `config/boardpack.yaml`: `--target` (or `BOARDPACK_TARGET`) applies one over the rest
/// of the file; `--store` still wins; an unknown target is refused naming the ones defined.
#[test]
fn a_named_target_chooses_the_store() {
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    let prod = p.root().join("prod-lake");
    std::fs::create_dir_all(&prod).unwrap();
    std::fs::rename(p.store_file("inputs"), prod.join("inputs")).unwrap();
    p.write(
        "config/boardpack.yaml",
        &format!(
            "store:\n  url: lake\nengine:\n  max_parallel_steps: 1\ntargets:\n  prod:\n    store:\n      url: {}\n",
            prod.display()
        ),
    );
    // The default target has no inputs: the run fails.
    let (code, _, _) = boardpack(p.root(), &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 1);
    let (code, _, err) = boardpack(
        p.root(),
        &["--target", "prod", "run", "waits", "--period", "2022-04"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(prod.join("published/waits/2022-04.json").is_file());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boardpack"))
        .args(["--project", p.root().to_str().unwrap(), "--quiet", "runs"])
        .env("BOARDPACK_TARGET", "prod")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("succeeded"),
        "the environment chooses it too"
    );
    let (code, _, err) = boardpack(p.root(), &["--target", "staging", "list"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown target `staging`: the file defines prod"),
        "{err}"
    );
    // A target's bad value is placed at the target.
    p.write(
        "config/boardpack.yaml",
        "store:\n  url: lake\ntargets:\n  prod:\n    engine:\n      max_parallel_steps: lots\n",
    );
    let (code, _, err) = boardpack(p.root(), &["--target", "prod", "list"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("config/boardpack.yaml:4:3: targets.prod:"),
        "{err}"
    );
}

/// `run --dry-run` and `backfill --dry-run` say what would happen, period by period, reading only
/// listings and records: nothing is run, recorded or published.
#[test]
fn a_dry_run_says_what_would_run_and_writes_nothing() {
    let p = crate::pipeline::project();
    crate::pipeline::seed_visits(&p);
    let (code, out, err) = boardpack(
        p.root(),
        &["run", "waits", "--period", "2022-04", "--dry-run"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2022-04     would run\n"), "{out}");
    assert!(out.contains("  wave 1\n    by_clinic "), "{out}");
    assert!(!p.store_file("runs").exists() && !p.store_file("published").exists());
    assert!(!p.store_file("leases").exists(), "no lease was taken");
    let (code, _, err) = boardpack(p.root(), &["run", "waits", "--period", "2022-04"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = boardpack(
        p.root(),
        &["run", "waits", "--period", "2022-04", "--dry-run"],
    );
    assert!(out.contains("would run, replacing published run "), "{out}");
    // A month without data: the run would fail, and the dry run exits 1 saying why.
    let (code, out, err) = boardpack(
        p.root(),
        &["run", "waits", "--period", "2022-08", "--dry-run"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("would fail: `visits` has no data for 2022-08"),
        "{out}"
    );
    let (code, out, _) = boardpack(
        p.root(),
        &[
            "backfill",
            "waits",
            "--from",
            "2022-04",
            "--to",
            "2022-08",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1);
    assert!(out.contains("2022-04     skipped: published"), "{out}");
    assert!(
        out.contains("2022-06     would run") && out.contains("2022-08     would fail"),
        "{out}"
    );
    let runs = std::fs::read_dir(p.store_file("runs/waits"))
        .unwrap()
        .count();
    assert_eq!(runs, 1, "only the real run's period has runs");
}
