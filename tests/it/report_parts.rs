//! A report typeset once per value of a column (`each: TABLE.COLUMN`): one PDF per value, each with only
//! its value's rows, cached like any report, validated with its place, and refused when a value cannot
//! name a PDF.

use boardpack::plan;

use crate::pipeline::{project, seed_visits, visits};
use crate::support::{TestProject, pdf_text, run_period, write_parquet};

/// The disclosure declaration of the per-clinic pipeline: its visit counts print as they are.
const PUBLIC_VISITS: &str = "disclosure:
  suppress: 1-4
  controlled:
    reports: [report, per_clinic]
  restricted: tables
  public:
    by_clinic:
      visits: the test's synthetic visits (not people)
    summary:
      visits: the test's synthetic visits (not people)
";

/// The `waits` pipeline with a second report: one PDF per clinic. Its visits are declared public (the
/// parts are told apart by their counts, which are all small numbers of the test's own making).
fn per_clinic(each: &str) -> TestProject {
    let p = project();
    let yaml = std::fs::read_to_string(p.root().join("pipelines/waits.yaml")).unwrap();
    p.write(
        "pipelines/waits.yaml",
        &format!(
            "{yaml}  - id: per_clinic\n    report: waits/clinic.typ.j2\n    title: Clinic sheet\n    \
             each: {each}\n    uses: [by_clinic, summary]\n{PUBLIC_VISITS}"
        ),
    )
    .write(
        "reports/waits/clinic.typ.j2",
        r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: {{ title | typst_str }}, period: {{ period_label | typst_str }})
= Clinic {{ each.value }}
{%- for r in tables.by_clinic %}
Month {{ r.month }} of {{ r.clinic }}: {{ r.visits | count }} visits.
{%- endfor %}
{%- for r in tables.summary %}
Period total of {{ r.clinic }}: {{ r.visits | count }} visits.
{%- endfor %}
"#,
    );
    p
}

#[tokio::test]
async fn a_report_per_value_writes_one_pdf_each_with_its_own_rows() {
    let p = per_clinic("by_clinic.clinic");
    seed_visits(&p);
    let outcome = run_period(&p, "waits", "2022-04").await.expect("the run");
    let reports = outcome.reports();
    let parts: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.split_once("/reports/per_clinic/").map(|(_, name)| name))
        .collect();
    // by_clinic holds March (history) and April: two clinics, two PDFs, in order.
    assert_eq!(parts, ["Cardiology.pdf", "Dermatology.pdf"], "{reports:?}");
    let text = |name: &str| {
        let path = reports.iter().find(|r| r.ends_with(name)).unwrap();
        pdf_text(&p.store_file(path))
    };
    let cardiology = text("per_clinic/Cardiology.pdf");
    // Its rows, counted from `seed_visits`: March 2 visits, April 3; nothing of Dermatology's.
    assert!(
        cardiology.contains("Month 2022-03 of Cardiology: 2 visits."),
        "{cardiology}"
    );
    assert!(
        cardiology.contains("Month 2022-04 of Cardiology: 3 visits."),
        "{cardiology}"
    );
    assert!(
        cardiology.contains("Period total of Cardiology: 3 visits."),
        "{cardiology}"
    );
    assert!(!cardiology.contains("Dermatology"), "{cardiology}");
    let dermatology = text("per_clinic/Dermatology.pdf");
    assert!(
        dermatology.contains("Month 2022-04 of Dermatology: 1 visits."),
        "{dermatology}"
    );
    assert!(!dermatology.contains("Cardiology"), "{dermatology}");
    // The whole report is still one PDF of every clinic.
    let whole = text("reports/report.pdf");
    assert!(whole.contains("Cardiology") && whole.contains("Dermatology"));

    let step = |o: &boardpack::execute::RunOutcome| {
        o.record
            .steps
            .iter()
            .find(|s| s.id == "per_clinic")
            .cloned()
            .unwrap()
    };
    let first = step(&outcome);
    assert_eq!(first.outputs.len(), 2);
    assert!(!first.cached);
    // Nothing changed: both PDFs come from the cache, byte for byte.
    let again = run_period(&p, "waits", "2022-04")
        .await
        .expect("the re-run");
    let second = step(&again);
    assert!(second.cached, "{second:?}");
    let hashes = |s: &boardpack::record::StepRecord| -> Vec<String> {
        s.outputs.iter().map(|o| o.sha256.clone()).collect()
    };
    assert_eq!(hashes(&first), hashes(&second));

    // A new April visit in Dermatology: the table changed, so every part is typeset again (each PDF's
    // lineage appendix lists the input objects), Dermatology's with the new count.
    let mut april: Vec<(&str, &str, i64)> = vec![
        ("b1", "Cardiology", 5),
        ("b2", "Cardiology", 31),
        ("b3", "Cardiology", 30),
        ("b4", "Dermatology", 90),
    ];
    april.push(("b5", "Dermatology", 3));
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&april),
    );
    let third = run_period(&p, "waits", "2022-04")
        .await
        .expect("after a change");
    let changed = step(&third);
    assert!(!changed.cached);
    assert_ne!(
        changed.outputs[1].sha256, first.outputs[1].sha256,
        "Dermatology"
    );
    let path = third
        .reports()
        .into_iter()
        .find(|r| r.ends_with("per_clinic/Dermatology.pdf"))
        .unwrap();
    let dermatology = pdf_text(&p.store_file(&path));
    assert!(
        dermatology.contains("Month 2022-04 of Dermatology: 2 visits."),
        "{dermatology}"
    );
}

#[test]
fn each_is_validated_with_its_place() {
    // A table the report does not use, then no column at all.
    for each in ["visits.clinic", "by_clinic"] {
        let p = per_clinic(each);
        let world = p.world();
        let e = plan::load(&world.project, "pipelines/waits.yaml").expect_err("refused");
        let text = e.to_string();
        let hit =
            e.0.iter()
                .find(|d| d.to_string().contains(&format!("`each: {each}`")))
                .unwrap_or_else(|| panic!("no error about `each: {each}` in {text}"));
        // The line of `each:` in the appended step (the pipeline's last line but one).
        let yaml = std::fs::read_to_string(p.root().join("pipelines/waits.yaml")).unwrap();
        let line = yaml.lines().position(|l| l.contains("each:")).unwrap() + 1;
        assert!(
            hit.to_string()
                .starts_with(&format!("pipelines/waits.yaml:{line}:")),
            "{hit}"
        );
        assert!(hit.to_string().contains("TABLE.COLUMN"), "{hit}");
    }
    // `each` belongs to report steps only.
    let p = project();
    let yaml = std::fs::read_to_string(p.root().join("pipelines/waits.yaml")).unwrap();
    p.write(
        "pipelines/waits.yaml",
        &yaml.replace(
            "    sql: waits/summary.sql\n",
            "    sql: waits/summary.sql\n    each: by_clinic.clinic\n",
        ),
    );
    let e = plan::load(&p.world().project, "pipelines/waits.yaml").expect_err("refused");
    assert!(
        e.to_string()
            .contains("step `summary`: `each` applies only to report steps"),
        "{e}"
    );
}

#[tokio::test]
async fn a_value_that_cannot_name_a_pdf_fails_the_step_and_leaves_no_part() {
    let p = per_clinic("by_clinic.clinic");
    for month in ["2022-03", "2022-04"] {
        write_parquet(
            &p,
            &format!("inputs/visits/month={month}/part-0.parquet"),
            &visits(&[
                (&format!("{month}-a"), "Allergy", 10),
                (&format!("{month}-b"), "../../published/x", 10),
            ]),
        );
    }
    let failure = run_period(&p, "waits", "2022-04")
        .await
        .expect_err("a clinic named like a path is refused");
    assert!(
        failure.message.contains("per_clinic")
            && failure.message.contains("\"../../published/x\"")
            && failure.message.contains("cannot name a PDF"),
        "{}",
        failure.message
    );
    // No PDF left under the run (the whole report's, written before, is removed with it), nothing published.
    let pdfs: Vec<_> = walk(&p.store_file("runs"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "pdf"))
        .collect();
    assert!(pdfs.is_empty(), "{pdfs:?}");
    assert!(!p.store_file("published").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
