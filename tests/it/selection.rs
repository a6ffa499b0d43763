//! `run --select / --exclude` through the binary: dbt's graph operators, `state:modified` against the
//! published run's recorded hashes, the steps left out copied from the published run (and said so in the
//! record), and the refusals that name the step or selector and the fix.

use serde_json::Value;

use crate::pipeline::{PIPELINE, SUMMARY, TEMPLATE, project, seed_visits, visits};
use crate::support::{TestProject, boardpack, write_parquet};

/// The published run of a period: its id and record.
fn published(p: &TestProject, period: &str) -> (String, Value) {
    let pointer: Value = serde_json::from_slice(
        &std::fs::read(p.store_file(&format!("published/waits/{period}.json"))).unwrap(),
    )
    .unwrap();
    let record_path = pointer["record"].as_str().unwrap();
    let record: Value =
        serde_json::from_slice(&std::fs::read(p.store_file(record_path)).unwrap()).unwrap();
    (pointer["run_id"].as_str().unwrap().to_string(), record)
}

fn run(p: &TestProject, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["run", "waits", "--period", "2022-04"];
    args.extend(extra);
    boardpack(p.root(), &args)
}

/// The record of a step.
fn step<'a>(record: &'a Value, id: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {record}"))
}

/// The SHA-256 the record gives the output ending in `suffix`.
fn output_sha(record: &Value, suffix: &str) -> String {
    record["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no output {suffix} in {record}"))["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A full run of April, published.
fn first_run(p: &TestProject) -> (String, Value) {
    let (code, out, err) = run(p, &[]);
    assert_eq!(code, 0, "{out}{err}");
    published(p, "2022-04")
}

#[test]
fn descendants_run_and_the_other_steps_are_copied_from_the_published_run() {
    let p = project();
    seed_visits(&p);
    let (first_id, first) = first_run(&p);

    // April's data is restated: a full run would change `by_clinic`. A run of `summary+` does not run
    // `by_clinic` (nor the check on it): it takes the published table, so `summary` reads the old one.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&[("b1", "Cardiology", 5), ("b9", "Neurology", 3)]),
    );
    p.write(
        "sql/waits/summary.sql",
        &SUMMARY.replace("SELECT clinic,", "SELECT clinic, 2 AS version,"),
    );
    let (code, out, err) = run(&p, &["--select", "summary+"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ran     summary, report"), "{out}");
    assert!(
        out.contains(&format!("reused  by_clinic from run {first_id}")),
        "{out}"
    );

    let (second_id, second) = published(&p, "2022-04");
    assert_ne!(second_id, first_id, "the selected run is published");
    let selection = &second["selection"];
    assert_eq!(strings(&selection["select"]), ["summary+"]);
    assert_eq!(strings(&selection["selected"]), ["summary", "report"]);
    assert_eq!(
        selection["reused"],
        serde_json::json!([{
            "step": "by_clinic", "run_id": first_id,
            "record": format!("runs/waits/2022-04/{first_id}/run.json"),
        }])
    );
    // The reused table is a copy of the published one, under the new run's own prefix.
    let by_clinic = step(&second, "by_clinic");
    assert_eq!(by_clinic["reused_from"], first_id.as_str());
    assert!(
        by_clinic["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("not selected: reused from run {first_id}")),
        "{by_clinic}"
    );
    assert_eq!(
        output_sha(&second, "/tables/by_clinic.parquet"),
        output_sha(&first, "/tables/by_clinic.parquet")
    );
    assert!(
        p.store_file(&format!(
            "runs/waits/2022-04/{second_id}/tables/by_clinic.parquet"
        ))
        .is_file()
    );
    // The check on it is not run; its result in the published run stands.
    let sane = step(&second, "sane");
    assert_eq!(sane["reused_from"], first_id.as_str());
    assert!(
        sane["message"].as_str().unwrap().contains("not run"),
        "{sane}"
    );
    // The selected steps ran: `summary` has the new column, over the old `by_clinic` (no Neurology).
    assert!(step(&second, "summary")["reused_from"].is_null());
    assert_ne!(
        output_sha(&second, "/tables/summary.parquet"),
        output_sha(&first, "/tables/summary.parquet")
    );
    let summary = crate::support::read_parquet(&p.store_file(&format!(
        "runs/waits/2022-04/{second_id}/tables/summary.parquet"
    )));
    assert!(summary[0].column_by_name("version").is_some());
    let column = summary[0].column_by_name("clinic").unwrap();
    let clinics = (0..column.len())
        .map(|i| datafusion::arrow::util::display::array_value_to_string(column, i).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(clinics, ["Cardiology", "Dermatology"]);

    // `verify` re-executes it as it ran (reusing the same table, not recomputing it from today's data).
    let (code, verified, err) = boardpack(p.root(), &["verify", &second_id]);
    assert_eq!(code, 0, "{verified}{err}");

    // `runs show` says what was selected and reused.
    let (code, shown, err) = boardpack(p.root(), &["runs", "show", &second_id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("selected  summary, report (--select summary+)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("reused    by_clinic from run {first_id}")),
        "{shown}"
    );
}

#[test]
fn ancestors_exclusions_and_reports_left_out() {
    let p = project();
    seed_visits(&p);
    let (first_id, first) = first_run(&p);

    // `+summary` is `summary` and what it reads (`by_clinic`); `--exclude by_clinic` takes that out again.
    let (code, out, err) = run(&p, &["--select", "+summary", "--exclude", "by_clinic"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, second) = published(&p, "2022-04");
    assert_eq!(strings(&second["selection"]["selected"]), ["summary"]);
    assert_eq!(strings(&second["selection"]["exclude"]), ["by_clinic"]);
    let reused: Vec<&str> = second["selection"]["reused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(reused, ["by_clinic", "report"]);
    // The report left out is the published PDF, copied.
    assert_eq!(
        output_sha(&second, "/reports/report.pdf"),
        output_sha(&first, "/reports/report.pdf")
    );
    assert_eq!(step(&second, "report")["reused_from"], first_id.as_str());

    // `--exclude` alone runs every other step; several selectors in one value, as dbt takes them.
    let (code, out, err) = run(&p, &["--exclude", "report"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, third) = published(&p, "2022-04");
    assert_eq!(
        strings(&third["selection"]["selected"]),
        ["by_clinic", "summary", "sane"]
    );
    let (code, out, err) = run(
        &p,
        &["--select", "by_clinic summary", "--select", "1+report"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (_, fourth) = published(&p, "2022-04");
    assert_eq!(
        strings(&fourth["selection"]["selected"]),
        ["by_clinic", "summary", "report"]
    );
    // A run of every step says nothing of a selection.
    let (code, out, err) = run(&p, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, full) = published(&p, "2022-04");
    assert!(full.get("selection").is_none(), "{full}");
}

#[test]
fn a_selection_that_cannot_run_is_refused_naming_the_step_and_the_fix() {
    let p = project();
    seed_visits(&p);

    // Nothing published yet: the steps left out have nowhere to come from.
    let (code, out, err) = run(&p, &["--select", "summary"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("steps `by_clinic`, `report` are not selected, and no run of `waits` is published for 2022-04")
            && err.contains("select them too"),
        "{err}"
    );
    assert!(
        !p.store_file("published/waits/2022-04.json").exists(),
        "a refused run publishes nothing"
    );
    // A typing slip is named, with the step meant.
    let (code, _, err) = run(&p, &["--select", "sumary+"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("selector `sumary+`: `waits` has no step `sumary` (did you mean `summary+`?)")
            && err.contains("`by_clinic`, `summary`, `sane`, `report`"),
        "{err}"
    );
    for (flag, bad, said) in [
        ("--select", "a,b", "--select: `a,b`: a comma"),
        (
            "--exclude",
            "state:new",
            "--exclude: `state:new`: the only state selector is `state:modified`",
        ),
        (
            "--select",
            "tag:nightly",
            "there is no selector method `tag:`",
        ),
    ] {
        let (code, _, err) = run(&p, &[flag, bad]);
        assert_eq!(code, 2, "{flag} {bad}");
        assert!(err.contains(said), "{flag} {bad}: {err}");
    }
    let (code, _, err) = run(&p, &["--select", "summary", "--exclude", "summary"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`--select summary --exclude summary` select no step of `waits`"),
        "{err}"
    );

    let (first_id, _) = first_run(&p);
    // Other parameters: the published tables are not this run's.
    let (code, _, err) = run(&p, &["--select", "summary+", "--param", "threshold=20"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("the published run {first_id} of `waits` 2022-04 has other parameters (threshold 30 there, 20 here)")),
        "{err}"
    );
    // A step the published run does not have cannot be left out.
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE.replace(
            "  - id: sane\n",
            "  - id: busiest\n    sql: waits/busiest.sql\n  - id: sane\n",
        ),
    );
    p.write(
        "sql/waits/busiest.sql",
        "SELECT clinic, visits FROM summary ORDER BY visits DESC, clinic LIMIT 1",
    );
    let (code, _, err) = run(&p, &["--select", "summary"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "step `busiest` is not selected, but the published run {first_id} of `waits` 2022-04 has no output of it to reuse (nor does the step cache hold its outputs): `busiest` (it is not a step of that run); select it too (`--select busiest`)"
        )),
        "{err}"
    );
    // Selecting it too runs.
    let (code, out, err) = run(&p, &["--select", "summary+"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ran     summary, busiest, report"), "{out}");

    // A published table changed on the store since its run recorded it: not copied, the run fails.
    let (published_id, record) = published(&p, "2022-04");
    let table = record["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["path"]
                .as_str()
                .unwrap()
                .ends_with("/tables/by_clinic.parquet")
        })
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    write_parquet(&p, &table, &visits(&[("x", "Cardiology", 1)]));
    let (code, _, err) = run(&p, &["--select", "summary+"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("not the")) && err.contains(&format!("run {published_id} recorded: the published output changed, so it is not reused (select the step too, or run every step)")),
        "{err}"
    );
    assert_eq!(
        published(&p, "2022-04").0,
        published_id,
        "nothing else is published"
    );
}

/// The waits pipeline with a seed of targets read by one more step.
fn project_with_seed() -> TestProject {
    let p = project();
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE.replace(
            "steps:\n",
            "seeds:\n  targets: waits/targets.yaml\nsteps:\n  - id: against_target\n    sql: waits/against_target.sql\n",
        ),
    )
    .write(
        "sql/waits/against_target.sql",
        "SELECT s.clinic, s.share_within, t.target FROM summary s JOIN targets t ON s.clinic = t.clinic ORDER BY s.clinic",
    )
    .write(
        "config/waits/targets.yaml",
        "- { clinic: Cardiology, target: 0.9 }\n- { clinic: Dermatology, target: 0.8 }\n",
    );
    p
}

/// The modified steps a run recorded, with why.
fn modified(record: &Value) -> Vec<(String, Vec<String>)> {
    record["selection"]["state"]["modified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["step"].as_str().unwrap().to_string(), strings(&m["why"])))
        .collect()
}

#[test]
fn state_modified_selects_the_steps_whose_sql_template_seed_or_input_changed() {
    let p = project_with_seed();
    seed_visits(&p);
    // No published run: every step counts as modified, and the run is a whole one.
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{out}{err}");
    let (first_id, first) = published(&p, "2022-04");
    assert_eq!(first["selection"]["reused"], serde_json::json!([]));
    assert_eq!(
        strings(&first["selection"]["selected"]).len(),
        5,
        "{}",
        first["selection"]
    );

    // Nothing changed since: nothing to run, and that is not a failure.
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "nothing to run: no step of waits is modified since run {first_id}, published for 2022-04"
        )),
        "{out}"
    );
    assert_eq!(published(&p, "2022-04").0, first_id, "nothing is published");

    // A changed SQL file: that step only; with `+`, what reads it too (here seen by a dry run first).
    p.write(
        "sql/waits/summary.sql",
        &format!("{SUMMARY}\n-- reviewed\n"),
    );
    let (code, out, err) = run(&p, &["--select", "state:modified+", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("modified  summary") && out.contains("`sql/waits/summary.sql` changed"),
        "{out}"
    );
    assert!(
        out.contains("selection: would run summary, report, against_target"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "would reuse by_clinic from published run {first_id}"
        )),
        "{out}"
    );
    assert_eq!(
        published(&p, "2022-04").0,
        first_id,
        "a dry run publishes nothing"
    );
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{out}{err}");
    let (second_id, second) = published(&p, "2022-04");
    assert_eq!(strings(&second["selection"]["selected"]), ["summary"]);
    assert_eq!(
        modified(&second),
        [(
            "summary".to_string(),
            vec!["`sql/waits/summary.sql` changed".to_string()]
        )]
    );
    assert_eq!(second["selection"]["state"]["run_id"], first_id.as_str());

    // A changed seed: the step reading it.
    p.write(
        "config/waits/targets.yaml",
        "- { clinic: Cardiology, target: 0.95 }\n- { clinic: Dermatology, target: 0.8 }\n",
    );
    // A changed template: the report.
    p.write(
        "reports/waits/report.typ.j2",
        &format!("{TEMPLATE}\nReviewed.\n"),
    );
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{out}{err}");
    let (third_id, third) = published(&p, "2022-04");
    assert_eq!(
        modified(&third),
        [
            (
                "against_target".to_string(),
                vec!["seed `targets`: `config/waits/targets.yaml` changed".to_string()]
            ),
            (
                "report".to_string(),
                vec!["`reports/waits/report.typ.j2` changed".to_string()]
            ),
        ]
    );
    assert_eq!(third["selection"]["state"]["run_id"], second_id.as_str());

    // A changed input declaration: the steps reading the input; a changed step declaration: that step.
    p.write(
        "pipelines/waits.yaml",
        &std::fs::read_to_string(p.root().join("pipelines/waits.yaml"))
            .unwrap()
            .replace(
                "{ name: wait_days, type: integer }",
                "{ name: wait_days, type: integer, min: 0 }",
            )
            .replace("title: Clinic waits", "title: Clinic waiting times"),
    );
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, fourth) = published(&p, "2022-04");
    assert_eq!(
        modified(&fourth),
        [
            (
                "by_clinic".to_string(),
                vec!["the declaration of input `visits` changed".to_string()]
            ),
            (
                "report".to_string(),
                vec!["its declaration in pipelines/waits.yaml changed".to_string()]
            ),
        ]
    );
    assert_eq!(
        step(&fourth, "summary")["reused_from"],
        third_id.as_str(),
        "{fourth}"
    );
    // `summary` was not run: its table is the third run's, copied.
    assert_eq!(
        output_sha(&fourth, "/tables/summary.parquet"),
        output_sha(&third, "/tables/summary.parquet")
    );

    // A file the template imports (the house style) counts for the report too.
    let style = p.root().join("reports/_lib/boardpack.typ");
    let mut text = std::fs::read_to_string(&style).unwrap();
    text.push_str("\n// reviewed\n");
    std::fs::write(&style, text).unwrap();
    let (code, out, err) = run(&p, &["--select", "state:modified"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, fifth) = published(&p, "2022-04");
    assert_eq!(
        modified(&fifth),
        [(
            "report".to_string(),
            vec!["`reports/_lib/boardpack.typ` changed".to_string()]
        )]
    );
}

/// `explain --output json`: the lineage as one document, the step and what it reads, upstream first, each
/// once, with the record's statuses, outputs and full hashes; a seed by its files; an unknown table
/// refused as in text.
#[test]
fn explain_output_json_gives_the_lineage_as_one_document() {
    let p = project_with_seed();
    seed_visits(&p);
    let (id, record) = first_run(&p);
    let (code, out, err) = boardpack(
        p.root(),
        &["explain", &id, "against_target", "--output", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["run_id"], id.as_str());
    assert_eq!(doc["pipeline"], "waits");
    assert_eq!(doc["period"], "2022-04");
    assert_eq!(doc["table"], "against_target");
    assert_eq!(doc["kind"], "step");
    assert_eq!(doc["warnings"], serde_json::json!([]));
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["by_clinic", "summary", "against_target"]);
    let by_clinic = &doc["steps"][0];
    assert_eq!(by_clinic["kind"], "sql");
    assert_eq!(by_clinic["status"], "succeeded");
    assert_eq!(by_clinic["file"], "sql/waits/by_clinic.sql");
    assert_eq!(
        by_clinic["file_sha256"],
        record["files"]["sql/waits/by_clinic.sql"]
    );
    assert_eq!(
        by_clinic["comments"],
        serde_json::json!([
            "Visits per clinic and month, and how many waited no longer than the threshold."
        ])
    );
    assert_eq!(by_clinic["reads"]["inputs"], serde_json::json!(["visits"]));
    assert_eq!(by_clinic["outputs"], step(&record, "by_clinic")["outputs"]);
    assert_eq!(
        doc["steps"][2]["reads"],
        serde_json::json!({"steps": ["summary"], "inputs": [], "seeds": ["targets"], "tables": []})
    );
    assert_eq!(doc["inputs"][0]["name"], "visits");
    assert_eq!(
        doc["inputs"][0]["months"],
        serde_json::json!(["2022-03", "2022-04"])
    );
    assert_eq!(doc["inputs"][0]["objects"], record["inputs"][0]["objects"]);
    assert_eq!(
        doc["seeds"],
        serde_json::json!([{
            "name": "targets",
            "files": [{"path": "config/waits/targets.yaml", "sha256": record["files"]["config/waits/targets.yaml"]}],
        }])
    );
    // A seed is explained by its files.
    let (code, out, _) = boardpack(p.root(), &["explain", &id, "targets", "--output", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["kind"], "seed");
    assert_eq!(doc["steps"], serde_json::json!([]));
    assert_eq!(doc["seeds"][0]["name"], "targets");
    // An unknown table: exit 1, the run's tables named, nothing on standard output.
    let (code, out, err) = boardpack(p.root(), &["explain", &id, "nope", "--output", "json"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("has no table or step `nope`"), "{err}");
}

/// Every file under the store, for "a dry run writes nothing".
fn store_files(p: &TestProject) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&p.store_file(""), &mut out);
    out.sort();
    out
}

/// The line a dry run prints for a step.
fn step_line<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no line for {id}: {out}"))
}

/// `run --dry-run` says which steps the step cache would serve and why the others would run, from
/// listings and records alone, and what the period lacks; it writes nothing.
#[test]
fn a_dry_run_says_which_steps_come_from_the_cache() {
    let p = project();
    seed_visits(&p);
    let dry = |p: &TestProject| {
        let before = store_files(p);
        let (code, out, err) = run(p, &["--dry-run"]);
        assert_eq!(store_files(p), before, "a dry run writes nothing");
        (code, out, err)
    };
    // Nothing published: no input's hashes are known, every step runs.
    let (code, out, err) = dry(&p);
    assert_eq!(code, 0, "{err}");
    assert!(
        step_line(&out, "by_clinic").contains(
            "runs: no run of 2022-04 is published whose record holds input `visits`'s hashes"
        ),
        "{out}"
    );
    assert!(
        step_line(&out, "summary").contains("runs: reads `by_clinic`, which runs"),
        "{out}"
    );
    assert!(out.contains("0 step(s) from the cache, 4 to run"), "{out}");

    let (first_id, _) = first_run(&p);
    // Nothing changed: the SQL steps and the report come from the cache; the check runs.
    let (_, out, _) = dry(&p);
    for id in ["by_clinic", "summary", "report"] {
        assert!(
            step_line(&out, id).ends_with("from the cache"),
            "{id}: {out}"
        );
    }
    assert!(
        step_line(&out, "sane").contains("runs: a check always runs"),
        "{out}"
    );
    assert!(
        out.contains(&format!("that run {first_id} recorded")),
        "{out}"
    );
    // A backfill's dry run counts them per period.
    let (code, out, err) = boardpack(
        p.root(),
        &[
            "backfill",
            "waits",
            "--from",
            "2022-04",
            "--to",
            "2022-05",
            "--force",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "2022-04     would run, replacing published run {first_id} (3 of 4 steps from the cache)"
        )) && out.contains("2022-05     would run (0 of 4 steps from the cache)"),
        "{out}"
    );
    // The real run agrees.
    let (code, _, err) = run(&p, &[]);
    assert_eq!(code, 0, "{err}");
    let (_, second) = published(&p, "2022-04");
    for id in ["by_clinic", "summary", "report"] {
        assert_eq!(step(&second, id)["cached"], true, "{id}");
    }

    // A changed SQL file: its step and what reads it run; `by_clinic` is still cached.
    p.write(
        "sql/waits/summary.sql",
        &SUMMARY.replace("SELECT clinic,", "SELECT clinic, 2 AS version,"),
    );
    let (_, out, _) = dry(&p);
    assert!(
        step_line(&out, "by_clinic").ends_with("from the cache"),
        "{out}"
    );
    assert!(
        step_line(&out, "summary").contains("runs: no cached result"),
        "{out}"
    );
    assert!(
        step_line(&out, "report").contains("runs: reads `summary`, which runs"),
        "{out}"
    );
    // A new object in April: the steps reading the input run, and what reads them.
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-1.parquet",
        &visits(&[("b7", "Cardiology", 8)]),
    );
    let (_, out, _) = dry(&p);
    let (_, published_now) = published(&p, "2022-04");
    let published_id = published_now["run_id"].as_str().unwrap();
    assert!(
        step_line(&out, "by_clinic").contains(&format!(
            "runs: input `visits` lists other objects than run {published_id} read"
        )),
        "{out}"
    );
    // With a selection: the steps left out are reused, the others judged as before.
    let (code, out, err) = run(&p, &["--select", "summary+", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        step_line(&out, "by_clinic")
            .contains(&format!("not selected: reused from run {published_id}")),
        "{out}"
    );
    assert!(step_line(&out, "sane").contains("not selected"), "{out}");
    assert!(
        step_line(&out, "summary").contains("runs: no cached result"),
        "{out}"
    );
    // A month without data: named, and the dry run exits 1.
    std::fs::remove_dir_all(p.store_file("inputs/visits/month=2022-05")).unwrap();
    let (code, out, _) = boardpack(
        p.root(),
        &["run", "waits", "--period", "2022-05", "--dry-run"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("would fail: `visits` has no data for 2022-05"),
        "{out}"
    );
}

/// Runs the binary with environment variables set.
fn boardpack_env<S: AsRef<std::ffi::OsStr>>(
    p: &TestProject,
    env: &[(&str, &str)],
    args: &[S],
) -> (i32, String) {
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

/// `--config FILE` (or `BOARDPACK_CONFIG`) reads another settings file; the defaults, the file, its
/// target, the environment and the flags, each over the one before.
#[test]
fn another_settings_file_is_read_with_one_precedence() {
    let p = project();
    seed_visits(&p);
    let other = p.root().join("other-lake");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::rename(p.store_file("inputs"), other.join("inputs")).unwrap();
    // The project's own file names a store without data; the other file the one with it, and a target
    // naming a third, empty one.
    p.write("config/boardpack.yaml", "store: { url: wrong-lake }\n");
    p.write(
        "config/prod.yaml",
        "store: { url: other-lake }\ntargets:\n  empty:\n    store: { url: third-lake }\n",
    );
    let prod = p.root().join("config/prod.yaml");
    let prod = prod.to_str().unwrap();
    let dry = ["run", "waits", "--period", "2022-04", "--dry-run"];
    let with = |first: &[&str]| -> Vec<String> {
        first.iter().chain(&dry).map(|s| s.to_string()).collect()
    };

    let (code, out) = boardpack_env(&p, &[], &dry);
    assert_eq!(code, 1, "the project's file: no data there: {out}");
    let (code, out) = boardpack_env(&p, &[], &with(&["--config", prod]));
    assert_eq!(code, 0, "the other file: {out}");
    // Given after the command too, or by the environment.
    let mut after = dry.to_vec();
    after.extend(["--config", prod]);
    assert_eq!(boardpack_env(&p, &[], &after).0, 0);
    assert_eq!(boardpack_env(&p, &[("BOARDPACK_CONFIG", prod)], &dry).0, 0);
    // The target over the file, the environment over the target, the flag over the environment.
    let (code, out) = boardpack_env(&p, &[], &with(&["--config", prod, "--target", "empty"]));
    assert_eq!(code, 1, "the target's store has no data: {out}");
    let other_url = other.to_str().unwrap();
    let (code, out) = boardpack_env(
        &p,
        &[("BOARDPACK_STORE", other_url)],
        &with(&["--config", prod, "--target", "empty"]),
    );
    assert_eq!(code, 0, "the environment over the target: {out}");
    let (code, out) = boardpack_env(
        &p,
        &[("BOARDPACK_STORE", "third-lake")],
        &with(&["--config", prod, "--store", other_url]),
    );
    assert_eq!(code, 0, "the flag over the environment: {out}");

    // A run records the file it read, not the project's usual one.
    let (code, out) = boardpack_env(
        &p,
        &[],
        &["--config", prod, "run", "waits", "--period", "2022-04"],
    );
    assert_eq!(code, 0, "{out}");
    let pointer: Value =
        serde_json::from_slice(&std::fs::read(other.join("published/waits/2022-04.json")).unwrap())
            .unwrap();
    let record: Value = serde_json::from_slice(
        &std::fs::read(other.join(pointer["record"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert!(
        record["files"]["config/prod.yaml"].is_string(),
        "{}",
        record["files"]
    );
    assert!(record["files"].get("config/boardpack.yaml").is_none());

    // A file that is not there, and a bad setting in one, are named as given.
    let (code, out) = boardpack_env(&p, &[], &["--config", "no/such.yaml", "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "the configuration file `no/such.yaml` (--config or BOARDPACK_CONFIG) does not exist"
        ),
        "{out}"
    );
    p.write("config/bad.yaml", "engine:\n  colour: blue\n");
    let bad = p.root().join("config/bad.yaml");
    let (code, out) = boardpack_env(&p, &[], &["--config", bad.to_str().unwrap(), "list"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("{}:2:3:", bad.display())) && out.contains("colour"),
        "{out}"
    );
}

/// The waits pipeline with one more step, `busiest`, reading `summary`.
fn with_busiest(p: &TestProject) {
    p.write(
        "pipelines/waits.yaml",
        &PIPELINE.replace(
            "  - id: sane\n",
            "  - id: busiest\n    sql: waits/busiest.sql\n  - id: sane\n",
        ),
    )
    .write(
        "sql/waits/busiest.sql",
        "SELECT clinic, visits FROM summary ORDER BY visits DESC, clinic LIMIT 1",
    );
}

/// A SQL step left out that the published run has no output of comes from the step cache when the cache
/// holds its result (never computed); with `--no-cache` it is refused.
#[test]
fn a_step_the_published_run_lacks_comes_from_the_step_cache() {
    let p = project();
    seed_visits(&p);
    with_busiest(&p);
    let (_, with) = first_run(&p);
    // Published without `busiest`, then the step is back.
    p.write("pipelines/waits.yaml", PIPELINE);
    let (code, out, err) = run(&p, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (without_id, _) = published(&p, "2022-04");
    with_busiest(&p);

    // Without the cache there is nowhere to take it from.
    let (code, _, err) = run(&p, &["--select", "summary", "--no-cache"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "step `busiest` is not selected, but the published run {without_id}"
        )) && err.contains("`busiest` (it is not a step of that run)"),
        "{err}"
    );
    let (code, out, err) = run(&p, &["--select", "summary", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would take busiest from the step cache (not in the published run)"),
        "{out}"
    );
    let (code, out, err) = run(&p, &["--select", "summary"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("cached  busiest (not selected; from the step cache)"),
        "{out}"
    );
    let (_, record) = published(&p, "2022-04");
    assert_eq!(strings(&record["selection"]["cached"]), ["busiest"]);
    assert_eq!(strings(&record["selection"]["selected"]), ["summary"]);
    assert_eq!(step(&record, "busiest")["cached"], true);
    assert_eq!(
        output_sha(&record, "/tables/busiest.parquet"),
        output_sha(&with, "/tables/busiest.parquet")
    );
    assert_eq!(
        step(&record, "by_clinic")["reused_from"],
        without_id.as_str()
    );
}
