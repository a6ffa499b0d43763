//! One figure, one definition (issue 18): every metric a product prints is defined once, in the project's
//! registry (`config/metrics.yaml`); a product's list (`format: metrics`) names registry ids and is
//! completed with their name, unit, direction and standard, so a standard changed there changes in every
//! product, a product cannot redefine one, and two sources of one concept are two metrics with two names.
//! Across the shipped products, one metric for one organisation and period prints one value.

use serde_json::{Map, Value};

use crate::support::{TestProject, boardpack_output, pdf_text, run_period};

const REGISTRY: &str = "\
- { id: waits_4h, name: \"Seen within 4 hours\", unit: percent, direction: increase, standard: 0.95, standard_label: \"95%\" }
- { id: trolley, name: \"Trolley waits over 12 hours\", unit: count, direction: decrease }
";

/// A project whose one report lists its metrics as the seed `metrics` (a list of the registry's) gives them.
fn project(registry: &str, list: &str) -> TestProject {
    let p = TestProject::new();
    p.write("config/metrics.yaml", registry)
        .write("config/r/metrics.yaml", list)
        .write(
            "sql/r/scorecard.sql",
            "SELECT id, area, name, unit, unit_label, direction, standard, standard_label FROM metrics ORDER BY id",
        )
        .write(
            "sql/r/figures.sql",
            "SELECT m.id AS metric_id, t.org, '2022-04' AS month, t.numerator, t.denominator, \
             CAST(t.numerator AS DOUBLE) / t.denominator AS value \
             FROM metrics m CROSS JOIN (VALUES ('RKB', 40, 50), ('RJC', 45, 50)) AS t(org, numerator, denominator) \
             ORDER BY metric_id, org",
        )
        .write(
            "reports/r/r.typ.j2",
            "{% for m in tables.scorecard %}{{ m.name }} ({{ m.area }}): {{ m.standard_label or \"none\" }}. {% endfor %}",
        )
        .write(
            "pipelines/r.yaml",
            "name: r
parameters:
  period: { type: period }
inputs: {}
seeds:
  metrics: { format: metrics, files: [r/metrics.yaml] }
steps:
  - id: scorecard
    sql: r/scorecard.sql
  - id: figures
    sql: r/figures.sql
  - id: report
    report: r/r.typ.j2
    uses: [scorecard]
",
        );
    p
}

#[tokio::test]
async fn a_products_list_prints_the_registrys_names_and_standards_and_follows_a_change_there() {
    let p = project(
        REGISTRY,
        "- { id: waits_4h, area: Urgent care }\n- { id: trolley, area: Urgent care }\n",
    );
    let outcome = run_period(&p, "r", "2022-04")
        .await
        .expect("the run succeeds");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(
        text.contains("Seen within 4 hours (Urgent care): 95%."),
        "{text}"
    );
    assert!(
        text.contains("Trolley waits over 12 hours (Urgent care): none."),
        "{text}"
    );
    // The registry is a file of the run: its hash is recorded, so a change in it is a change of the run.
    assert!(outcome.record.files.contains_key("config/metrics.yaml"));

    p.write(
        "config/metrics.yaml",
        &REGISTRY.replace(
            "0.95, standard_label: \"95%\"",
            "0.76, standard_label: \"76%\"",
        ),
    );
    let outcome = run_period(&p, "r", "2022-04")
        .await
        .expect("the run succeeds");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(
        text.contains("Seen within 4 hours (Urgent care): 76%."),
        "{text}"
    );
}

#[test]
fn a_list_that_redefines_or_misnames_a_metric_is_refused_at_its_line_without_data() {
    let p = project(
        REGISTRY,
        "- { id: waits_4h, area: Urgent care, standard: 0.9 }\n- { id: trolly, area: Urgent care }\n",
    );
    let (code, out) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("config/r/metrics.yaml:1:")
            && out.contains(
                "`standard` is the metric's definition, kept once in config/metrics.yaml"
            ),
        "{out}"
    );
    assert!(
        out.contains("config/r/metrics.yaml:2:")
            && out.contains("`trolly` is not a metric of config/metrics.yaml")
            && out.contains("did you mean `trolley`?"),
        "{out}"
    );
}

#[test]
fn a_registry_with_one_name_for_two_metrics_is_refused_at_its_line() {
    let p = project(
        &format!(
            "{REGISTRY}- {{ id: waits_4h_returns, name: \"Seen within 4 hours\", unit: percent, direction: increase }}\n"
        ),
        "- { id: waits_4h, area: Urgent care }\n",
    );
    let (code, out) = boardpack_output(&p, &["validate"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("config/metrics.yaml:3:")
            && out.contains("metric `waits_4h_returns` has the name of metric `waits_4h`"),
        "{out}"
    );
}

fn num(r: &Map<String, Value>, k: &str) -> Option<f64> {
    r.get(k).and_then(Value::as_f64)
}

fn text(r: &Map<String, Value>, k: &str) -> String {
    r.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Text without its layout: words joined by single spaces (a long name wraps in a table cell).
fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn one_metric_prints_one_value_in_the_pack_and_the_dashboard() {
    let (pack_store, pack) = crate::sample_pack::shared_pack().await;
    let (pc_store, pc) = crate::disclosure_sweep::primary_care_run().await;
    let names: std::collections::BTreeMap<String, String> =
        crate::support::metric_list("config/board-pack/inequalities.yaml", "metric_id")
            .into_iter()
            .chain(crate::support::metric_list(
                "config/primary-care/indicators.yaml",
                "id",
            ))
            .chain(crate::support::metric_list(
                "config/board-pack/metrics.yaml",
                "id",
            ))
            .map(|m| {
                let id = m.get("metric_id").or(m.get("id")).and_then(Value::as_str);
                (id.unwrap_or_default().to_string(), text(&m, "name"))
            })
            .collect();

    // The ICB's value of each metric in April 2022 as each product's tables hold it.
    let mut pack_values = std::collections::BTreeMap::new();
    for r in crate::sample_pack::table_rows(pack_store.path(), pack, "metric_month") {
        if text(&r, "month") == "2022-04" {
            pack_values.insert(text(&r, "metric_id"), num(&r, "value"));
        }
    }
    for r in crate::sample_pack::table_rows(pack_store.path(), pack, "inequality_gap") {
        if text(&r, "month") == "2022-04" {
            let previous = pack_values.insert(text(&r, "metric_id"), num(&r, "overall_rate"));
            if let Some(before) = previous {
                // A metric of the scorecard and of the lens: one value in one pack.
                assert_eq!(
                    before,
                    num(&r, "overall_rate"),
                    "{} in one pack",
                    text(&r, "metric_id")
                );
            }
        }
    }
    let dashboard: Vec<_> = crate::sample_pack::table_rows(pc_store.path(), pc, "area_indicator")
        .into_iter()
        .filter(|r| text(r, "level") == "ICB")
        .collect();
    assert!(!dashboard.is_empty(), "the dashboard's ICB rows");
    let mut shared = Vec::new();
    for r in &dashboard {
        let id = text(r, "indicator_id");
        if let Some(in_pack) = pack_values.get(&id) {
            let (a, b) = (
                in_pack.unwrap_or(f64::NAN),
                num(r, "value").unwrap_or(f64::NAN),
            );
            assert!(
                (a - b).abs() < 1e-9,
                "{id} ({}): {a} in the pack, {b} on the dashboard",
                names[&id]
            );
            shared.push(id);
        }
    }
    // The metrics both products print: the practice registers' SMI checks and the two QOF indicators
    // of the inequality lens (before the registry they had other ids and names in the pack, and nothing
    // tied them). The GP DNA rate is one metric too (`appt_dna`), compared whenever the pack's lens holds
    // it for the month.
    for id in ["smi_checks_registers", "qof_hyp", "qof_dm"] {
        assert!(
            shared.contains(&id.to_string()),
            "{id} in both: {shared:?}; the pack holds {:?}",
            pack_values.keys().collect::<Vec<_>>()
        );
    }

    // And for each Place: the pack's inequality lens splits by Place what the dashboard rolls up by Place.
    let places = crate::sample_pack::table_rows(pack_store.path(), pack, "inequality_split");
    let mut compared = 0;
    for r in places
        .iter()
        .filter(|r| text(r, "month") == "2022-04" && text(r, "dimension") == "place")
    {
        let id = text(r, "metric_id");
        let Some(d) = crate::sample_pack::table_rows(pc_store.path(), pc, "area_indicator")
            .into_iter()
            .find(|d| {
                text(d, "level") == "Place"
                    && text(d, "area_code") == text(r, "group_label")
                    && text(d, "indicator_id") == id
            })
        else {
            continue;
        };
        for (pack_col, dash_col) in [
            ("numerator", "numerator"),
            ("denominator", "denominator"),
            ("rate", "value"),
        ] {
            assert_eq!(
                num(r, pack_col),
                num(&d, dash_col),
                "{id} {} {pack_col}: the pack and the dashboard",
                text(r, "group_label")
            );
        }
        compared += 1;
    }
    assert!(
        compared >= 4,
        "every Place of a shared metric compared: {compared}"
    );

    // Both PDFs print the shared metric under one name, and the provider return's version under its own.
    let pack_text = words(&pdf_text(&pack_store.path().join(&pack.reports()[0])));
    let dash_text = words(&pdf_text(&pc_store.path().join(&pc.reports()[0])));
    let registers = "SMI physical health checks (practice registers)";
    let returns = "SMI physical health checks (mental health returns)";
    assert!(pack_text.contains(registers) && dash_text.contains(registers));
    assert!(pack_text.contains(returns));
    let bare = |t: &str| {
        t.match_indices("SMI physical health checks")
            .filter(|(i, m)| !t[i + m.len()..].starts_with(" ("))
            .count()
    };
    assert_eq!(bare(&pack_text), 0, "a bare SMI checks name in the pack");
    assert_eq!(
        bare(&dash_text),
        0,
        "a bare SMI checks name on the dashboard"
    );
}

#[tokio::test]
async fn explain_traces_a_metric_of_an_organisation_and_month_to_its_definition_figures_and_sql() {
    let p = project(
        REGISTRY,
        "- { id: waits_4h, area: Urgent care }\n- { id: trolley, area: Urgent care }\n",
    );
    let outcome = run_period(&p, "r", "2022-04")
        .await
        .expect("the run succeeds");
    let id = outcome.record.run_id.clone();
    let (code, out) = boardpack_output(&p, &["explain", &id, "waits_4h@RKB@2022-04"]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "metric `waits_4h` in run",
        "name: Seen within 4 hours",
        "standard: 0.95",
        "standard_label: 95%",
        "table figures (",
        "1 row(s)",
        "org=RKB month=2022-04 numerator=40 denominator=50 value=0.8",
        "step figures (sql",
        "sql sql/r/figures.sql sha256",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
    assert!(!out.contains("org=RJC"), "cut to the organisation:\n{out}");
    let (code, out) = boardpack_output(
        &p,
        &["--output", "json", "explain", &id, "waits_4h@RKB@2022-04"],
    );
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["metric"], "waits_4h");
    assert_eq!(doc["definition"]["standard"], 0.95);
    assert_eq!(doc["tables"][0]["table"], "figures");
    assert_eq!(doc["tables"][0]["rows"][0]["numerator"], "40");
    assert_eq!(doc["tables"][0]["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["tables"][0]["lineage"]["table"], "figures");
    // Without the organisation, every provider's row; an organisation no table has is an error naming it.
    let (code, out) = boardpack_output(&p, &["explain", &id, "waits_4h"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("org=RJC") && out.contains("org=RKB"), "{out}");
    let (code, out) = boardpack_output(&p, &["explain", &id, "waits_4h@RXX"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("no published table of run") && out.contains("for organisation `RXX`"),
        "{out}"
    );
}

#[tokio::test]
async fn the_carbon_accounts_kpi_status_is_a_published_judgement_against_the_registrys_target() {
    let (store, outcome) = crate::disclosure_sweep::carbon_run().await;
    let rows = crate::sample_pack::table_rows(store.path(), outcome, "kpi_status");
    let ids: Vec<String> = rows.iter().map(|r| text(r, "metric_id")).collect();
    assert_eq!(
        ids,
        [
            "dpi_share_trusts",
            "mdi_share_non_salbutamol_pc",
            "desflurane_share",
            "n2o_tco2e",
            "remote_outpatients"
        ]
    );
    let text_of = words(&pdf_text(&store.path().join(&outcome.reports()[0])));
    for r in &rows {
        let (value, standard) = (num(r, "value"), num(r, "standard"));
        let expected = match (value, standard, text(r, "direction").as_str()) {
            (None, _, _) => "no_data",
            (Some(v), Some(s), "increase") => {
                if v >= s {
                    "met"
                } else {
                    "not_met"
                }
            }
            (Some(v), Some(s), _) => {
                if v <= s {
                    "met"
                } else {
                    "not_met"
                }
            }
            (Some(v), None, _) => match num(r, "last_year") {
                Some(ly) if ly != 0.0 => {
                    if v < ly {
                        "reduced"
                    } else {
                        "not_reduced"
                    }
                }
                _ => "no_target",
            },
        };
        assert_eq!(text(r, "status"), expected, "{r:?}");
        // The page prints the KPI by the registry's name with the step's judgement beside its target.
        let word = match expected {
            "met" => "Met",
            "not_met" => "Not met",
            "reduced" => "Reduced",
            "not_reduced" => "Not reduced",
            _ => "N/A",
        };
        let name = text(r, "name");
        let at = text_of
            .find(&name)
            .unwrap_or_else(|| panic!("{name} printed"));
        let row = &text_of[at..(at + 400).min(text_of.len())];
        assert!(
            row.contains(&text(r, "standard_label")) && row.contains(word),
            "{name}: {row}"
        );
    }
}
