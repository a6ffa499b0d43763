//! The Green Plan carbon account (`pipelines/carbon-account.yaml`, its SQL, configuration, factor files
//! and template, copied from the repository) on small hand-made returns: every expected kgCO2e is
//! computed here from the activity and the published factor values (read from the factor files by hand
//! and written out below), and compared with the published tables and the PDF's text.

use std::path::Path;
use std::sync::Arc;

use boardpack::execute::{self, RunFailure, RunOutcome, Silent};
use boardpack::params::RunParams;
use boardpack::plan;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::support::{TestProject, pdf_text, read_parquet, repo, write_parquet};

// DESNZ 2022, as published (config/carbon-account/factors/desnz/ghg-conversion-factors-2022-flat-file.csv).
const ELEC_2022: f64 = 0.19338; // UK electricity > Electricity generated > Electricity: UK, kWh
const ELEC_TD_2022: f64 = 0.01769; // Transmission and distribution > T&D- UK electricity
const ELEC_WTT_GEN_2022: f64 = 0.04625; // WTT- UK & overseas elec > WTT- UK electricity (generation)
const ELEC_WTT_TD_2022: f64 = 0.00423; // WTT- UK & overseas elec > WTT- UK electricity (T&D)
const GAS_2022: f64 = 0.18254; // Fuels > Gaseous fuels > Natural gas, kWh (Gross CV)
const GAS_WTT_2022: f64 = 0.03110; // WTT- fuels > Gaseous fuels > Natural gas, kWh (Gross CV)
// DESNZ 2023 (IDs from 2023).
const ELEC_2023: f64 = 0.20707; // 7_400_4000_5_1
const ELEC_TD_2023: f64 = 0.01792; // 13_402_4000_5_1
const ELEC_WTT_GEN_2023: f64 = 0.04590; // 15_917_4000_5_1
const ELEC_WTT_TD_2023: f64 = 0.00397; // 15_918_4000_5_1

/// A project with the shipped carbon account and nothing else.
fn project() -> TestProject {
    let p = TestProject::new();
    for dir in [
        "sql/carbon-account",
        "reports/carbon-account",
        "config/carbon-account",
    ] {
        copy_dir(&repo().join(dir), &p.root().join(dir));
    }
    let pipeline = std::fs::read_to_string(repo().join("pipelines/carbon-account.yaml")).unwrap();
    p.write("pipelines/carbon-account.yaml", &pipeline);
    // The project's metric registry, which the account's KPIs are chosen from.
    let registry = std::fs::read_to_string(repo().join("config/metrics.yaml")).unwrap();
    p.write("config/metrics.yaml", &registry);
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn strings(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn floats(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

/// One month of an input (`month` may name the file too: `2022-04/part-RKB`).
fn put(p: &TestProject, input: &str, month: &str, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let rel = match month.split_once('/') {
        Some((m, file)) => format!("inputs/{input}/month={m}/{file}.parquet"),
        None => format!("inputs/{input}/month={month}/part-0.parquet"),
    };
    write_parquet(p, &rel, &batch);
}

/// Energy of one organisation and site in a month: (fuel, unit, quantity) lines.
fn energy(p: &TestProject, month: &str, org: &str, lines: &[(&str, &str, f64)]) {
    let n = lines.len();
    put(
        p,
        "carbon_energy",
        &format!("{month}/part-{org}"),
        vec![
            ("org_code", strings(&vec![org; n])),
            ("site", strings(&vec!["Main site"; n])),
            (
                "fuel",
                strings(&lines.iter().map(|l| l.0).collect::<Vec<_>>()),
            ),
            (
                "unit",
                strings(&lines.iter().map(|l| l.1).collect::<Vec<_>>()),
            ),
            (
                "quantity",
                floats(&lines.iter().map(|l| l.2).collect::<Vec<_>>()),
            ),
        ],
    );
}

/// The reference table of practices the inhaler KPIs group by.
fn practices(p: &TestProject) {
    let batch = RecordBatch::try_from_iter(vec![
        ("practice_code", strings(&["M84001", "M84002"])),
        ("pcn_code", strings(&["U84001", "U84001"])),
        ("pcn_name", strings(&["Coventry PCN 1", "Coventry PCN 1"])),
        ("place", strings(&["Coventry", "Coventry"])),
    ])
    .unwrap();
    write_parquet(p, "reference/practices/practices.parquet", &batch);
}

async fn run(
    p: &TestProject,
    period: &str,
    extra: &[(&str, &str)],
) -> Result<RunOutcome, RunFailure> {
    let world = p.world();
    let plan = plan::load_named(&world.project, "carbon-account").expect("a valid pipeline");
    let mut given = std::collections::BTreeMap::from([("period".to_string(), period.to_string())]);
    for (k, v) in extra {
        given.insert(k.to_string(), v.to_string());
    }
    let params = RunParams::bind(&plan, &given).expect("valid parameters");
    execute::run(&world.fresh(), &plan, &params, Arc::new(Silent)).await
}

/// Every row of a published table as JSON objects.
fn table(p: &TestProject, outcome: &RunOutcome, name: &str) -> Vec<Map<String, Value>> {
    let o = outcome
        .record
        .outputs
        .iter()
        .find(|o| o.path.ends_with(&format!("/tables/{name}.parquet")))
        .unwrap_or_else(|| panic!("no table {name}"));
    let batches = read_parquet(&p.store_file(&o.path));
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write_batches(&batches.iter().collect::<Vec<_>>())
        .unwrap();
    w.finish().unwrap();
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).unwrap()
}

fn pdf(p: &TestProject, outcome: &RunOutcome) -> String {
    pdf_text(&p.store_file(&outcome.reports()[0]))
}

fn kg(rows: &[Map<String, Value>], filter: impl Fn(&Map<String, Value>) -> bool) -> f64 {
    rows.iter()
        .filter(|r| filter(r))
        .map(|r| r["kgco2e"].as_f64().unwrap())
        .sum()
}

fn s<'a>(r: &'a Map<String, Value>, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * b.abs().max(1.0)
}

/// Thousands separators, as the account prints whole tonnes.
fn tonnes(t: f64) -> String {
    boardpack::render::format::thousands(t, 0)
}

#[tokio::test]
async fn energy_times_published_factors_including_wtt_and_td() {
    let p = project();
    practices(&p);
    energy(
        &p,
        "2022-04",
        "RKB",
        &[
            ("grid_electricity", "kWh", 1_000_000.0),
            ("natural_gas", "kWh", 500_000.0),
        ],
    );
    let out = run(&p, "2022-23-Q1", &[])
        .await
        .expect("the account builds");
    let e = table(&p, &out, "emissions");
    let elec = 1_000_000.0 * (ELEC_2022 + ELEC_TD_2022 + ELEC_WTT_GEN_2022 + ELEC_WTT_TD_2022);
    let gas = 500_000.0 * (GAS_2022 + GAS_WTT_2022);
    let got_elec = kg(&e, |r| s(r, "activity") == "grid_electricity");
    let got_gas = kg(&e, |r| s(r, "activity") == "natural_gas");
    assert!(close(got_elec, elec), "electricity {got_elec} vs {elec}");
    assert!(close(got_gas, gas), "gas {got_gas} vs {gas}");
    // Generation is scope 2; T&D and both well-to-tank rows scope 3; gas combustion scope 1.
    let scope3 = kg(&e, |r| {
        s(r, "activity") == "grid_electricity" && s(r, "scope") == "Scope 3"
    });
    assert!(close(
        scope3,
        1_000_000.0 * (ELEC_TD_2022 + ELEC_WTT_GEN_2022 + ELEC_WTT_TD_2022)
    ));
    assert!(e.iter().all(|r| s(r, "set_label") == "DESNZ 2022"));

    let text = pdf(&p, &out);
    let total = (elec + gas) / 1000.0;
    assert!(
        text.contains(&format!("emitted {} tCO2e", tonnes(total))),
        "the summary prints {} t: {}",
        tonnes(total),
        &text[..600.min(text.len())]
    );
    // The appendix lists the factor rows used with their published values.
    for v in [
        "0.19338", "0.01769", "0.04625", "0.00423", "0.18254", "0.0311",
    ] {
        assert!(text.contains(v), "appendix lists {v}");
    }
}

#[tokio::test]
async fn the_factor_year_rule_is_configurable() {
    let p = project();
    practices(&p);
    energy(&p, "2022-04", "RKB", &[("grid_electricity", "kWh", 1000.0)]);
    // Offset 1: financial year 2022/23 takes the 2023 set, whose rows have published IDs.
    let out = run(&p, "2022-23-Q1", &[("factor_year_offset", "1")])
        .await
        .expect("the account builds");
    let e = table(&p, &out, "emissions");
    let gen_row = e.iter().find(|r| s(r, "map_id") == "elec_gen").unwrap();
    assert_eq!(s(gen_row, "set_label"), "DESNZ 2023");
    assert_eq!(s(gen_row, "factor_id"), "7_400_4000_5_1");
    let want = 1000.0 * (ELEC_2023 + ELEC_TD_2023 + ELEC_WTT_GEN_2023 + ELEC_WTT_TD_2023);
    assert!(close(kg(&e, |_| true), want));
    let years = table(&p, &out, "factor_years");
    assert_eq!(years[0]["wanted_set"], 2023);
    assert!(pdf(&p, &out).contains("7_400_4000_5_1"));
}

#[tokio::test]
async fn a_missing_set_or_factor_row_stops_the_run_naming_it() {
    // A year whose set is not shipped and has no substitute.
    let p = project();
    practices(&p);
    energy(&p, "2022-04", "RKB", &[("grid_electricity", "kWh", 1000.0)]);
    let e = run(&p, "2022-23-Q1", &[("factor_year_offset", "4")])
        .await
        .expect_err("no 2026 set");
    assert!(e.message.contains("factor_set_missing"), "{}", e.message);
    assert!(
        e.message.contains("the 2026 factor set is not shipped"),
        "{}",
        e.message
    );

    // A mapping row naming a factor row the set lacks: an error naming the row, never a zero.
    let map =
        std::fs::read_to_string(p.root().join("config/carbon-account/factor_map.csv")).unwrap();
    p.write(
        "config/carbon-account/factor_map.csv",
        &format!("{map}elec_narnia,building_energy,grid_electricity,kWh,building_energy,direct,Scope 2,footprint,desnz,,UK electricity,Electricity generated,Electricity: Narnia,,,kWh,\n"),
    );
    let e = run(&p, "2022-23-Q1", &[]).await.expect_err("no Narnia row");
    assert!(e.message.contains("factor_row_missing"), "{}", e.message);
    assert!(e.message.contains("elec_narnia"), "{}", e.message);
    assert!(e.message.contains("DESNZ 2022"), "{}", e.message);
    assert!(e.message.contains("electricity: narnia"), "{}", e.message);
}

#[tokio::test]
async fn gases_from_bottles_and_litres_with_the_chosen_gwp() {
    let p = project();
    practices(&p);
    put(
        &p,
        "carbon_anaesthetic",
        "2022-05",
        vec![
            ("org_code", strings(&["RKB", "RKB", "RLT"])),
            (
                "agent",
                strings(&["desflurane", "nitrous_oxide", "sevoflurane"]),
            ),
            ("unit", strings(&["ml", "litres", "kg"])),
            (
                "bottles",
                Arc::new(Float64Array::from(vec![Some(10.0), None, None])),
            ),
            (
                "bottle_ml",
                Arc::new(Float64Array::from(vec![Some(240.0), None, None])),
            ),
            ("quantity", floats(&[2400.0, 1000.0, 2.0])),
        ],
    );
    // 10 bottles × 240 ml × 1.465 g/ml = 3.516 kg of desflurane; 1,000 l × 1.83 g/l = 1.83 kg of N2O.
    let des_kg = 10.0 * 240.0 * 0.001465;
    let n2o_kg = 1000.0 * 0.00183;
    for (set, des_gwp, n2o_gwp, sevo_gwp) in
        [("AR4", 2540.0, 298.0, 130.0), ("AR6", 2590.0, 273.0, 195.0)]
    {
        let out = run(&p, "2022-23-Q1", &[("gwp_set", set)])
            .await
            .expect("builds");
        let e = table(&p, &out, "emissions");
        let des = kg(&e, |r| s(r, "activity") == "desflurane");
        let n2o = kg(&e, |r| s(r, "activity") == "nitrous_oxide");
        let sevo = kg(&e, |r| s(r, "activity") == "sevoflurane");
        assert!(close(des, des_kg * des_gwp), "{set} desflurane {des}");
        assert!(close(n2o, n2o_kg * n2o_gwp), "{set} N2O {n2o}");
        assert!(close(sevo, 2.0 * sevo_gwp), "{set} sevoflurane {sevo}");
        let gases = table(&p, &out, "kpi_gases");
        let all = gases.iter().find(|r| s(r, "org_code") == "ALL").unwrap();
        // Desflurane's share of the liquid volume: 2.4 l against 2.4 l + 2 kg ÷ 1.52 kg/l of sevoflurane.
        let share = 2.4 / (2.4 + 2.0 / 1.52);
        assert!(close(
            all["desflurane_share_volume"].as_f64().unwrap(),
            share
        ));
        assert!(pdf(&p, &out).contains(&format!("Global warming potentials: {set}")));
    }
}

#[tokio::test]
async fn inhalers_per_product_and_the_dpi_share() {
    let p = project();
    practices(&p);
    put(
        &p,
        "carbon_inhalers",
        "2022-06",
        vec![
            ("org_code", strings(&["PC", "PC", "PC"])),
            (
                "practice_code",
                Arc::new(StringArray::from(vec![
                    Some("M84001"),
                    Some("M84001"),
                    Some("M84002"),
                ])),
            ),
            (
                "bnf_code",
                strings(&["0301011R0AAAPAP", "0302000K0AAAPAP", "0302000K0AAAJAJ"]),
            ),
            ("items", Arc::new(Int64Array::from(vec![90, 45, 40]))),
            ("quantity", Arc::new(Int64Array::from(vec![100, 50, 40]))),
        ],
    );
    let out = run(&p, "2022-23-Q1", &[]).await.expect("builds");
    let e = table(&p, &out, "emissions");
    // Salbutamol MDI: 32 g HFA-134a × 1,430; Symbicort MDI: 17 g HFA-227ea × 3,220; a DPI 1 kg.
    let salbutamol = 100.0 * 0.032 * 1430.0;
    let symbicort = 50.0 * 0.017 * 3220.0;
    let dpi = 40.0;
    assert!(close(
        kg(&e, |r| s(r, "activity") == "HFA-134a"),
        salbutamol
    ));
    assert!(close(
        kg(&e, |r| s(r, "activity") == "HFA-227ea"),
        symbicort
    ));
    assert!(close(kg(&e, |r| s(r, "activity") == "dry_powder"), dpi));
    let k = table(&p, &out, "kpi_inhalers");
    let pcn = k.iter().find(|r| s(r, "code") == "U84001").unwrap();
    assert!(close(pcn["dpi_share"].as_f64().unwrap(), 40.0 / 190.0));
    // Non-salbutamol: 50 MDIs and 40 DPIs.
    assert!(close(
        pcn["mdi_share_non_salbutamol"].as_f64().unwrap(),
        50.0 / 90.0
    ));
    let text = pdf(&p, &out);
    // MDIs 150, DPIs 40, DPI share 21.1%, MDIs of non-salbutamol inhalers 55.6%.
    assert!(text.contains("Coventry PCN 1 150 40 21.1% 55.6%"), "{text}");
}

#[tokio::test]
async fn a_trust_missing_a_month_is_proxied_from_last_year_and_said_so() {
    let p = project();
    practices(&p);
    for m in [
        "2021-04", "2021-05", "2021-06", "2022-04", "2022-05", "2022-06",
    ] {
        energy(&p, m, "RKB", &[("grid_electricity", "kWh", 1000.0)]);
        // GEH sent no return for May 2022.
        if m != "2022-05" {
            let q = if m == "2021-05" { 7000.0 } else { 5000.0 };
            energy(&p, m, "RLT", &[("grid_electricity", "kWh", q)]);
        }
    }
    let out = run(&p, "2022-23-Q1", &[]).await.expect("builds");
    let a = table(&p, &out, "activity");
    let proxy: Vec<_> = a
        .iter()
        .filter(|r| s(r, "method") == "proxy: same month last year")
        .collect();
    assert_eq!(proxy.len(), 1, "{proxy:?}");
    assert_eq!(s(proxy[0], "org_code"), "RLT");
    assert_eq!(s(proxy[0], "month"), "2022-05");
    assert_eq!(proxy[0]["quantity"].as_f64(), Some(7000.0));
    let text = pdf(&p, &out);
    assert!(
        text.contains("RLT Building energy 2022/23 Q1 (this period) 1 proxy: same month last year"),
        "{text}"
    );
    // The period's figure is estimated in part, and says so on the cover.
    let est = 7000.0 * (ELEC_2022 + ELEC_TD_2022 + ELEC_WTT_GEN_2022 + ELEC_WTT_TD_2022) / 1000.0;
    assert!(
        text.contains(&format!("{} t of the period", tonnes(est))),
        "{text}"
    );
}

#[tokio::test]
async fn a_rerun_after_a_factor_change_restates_exactly_that_change() {
    let p = project();
    practices(&p);
    energy(
        &p,
        "2022-04",
        "RKB",
        &[
            ("grid_electricity", "kWh", 2_000_000.0),
            ("natural_gas", "kWh", 1000.0),
        ],
    );
    let first = run(&p, "2022-23-Q1", &[]).await.expect("builds");
    assert!(table(&p, &first, "restatement").is_empty());
    assert!(pdf(&p, &first).contains("nothing is restated"));

    // DESNZ revises 2022's grid electricity factor: 0.19338 → 0.21338.
    let file = "config/carbon-account/factors/desnz/ghg-conversion-factors-2022-flat-file.csv";
    let text = std::fs::read_to_string(p.root().join(file)).unwrap();
    let row =
        "Scope 2,UK electricity,Electricity generated,Electricity: UK,2020,,kWh,kg CO2e,0.19338";
    assert_eq!(text.matches(row).count(), 1);
    p.write(file, &text.replace(row, &row.replace("0.19338", "0.21338")));
    let second = run(&p, "2022-23-Q1", &[]).await.expect("builds");
    assert_ne!(first.record.run_id, second.record.run_id);
    // The first run stays readable beside the second.
    assert!(p.store_file(&first.record_path).is_file());

    let r = table(&p, &second, "restatement");
    let changed: Vec<_> = r
        .iter()
        .filter(|x| x["t_difference"].as_f64().unwrap().abs() > 1e-9)
        .collect();
    assert_eq!(changed.len(), 1, "{r:?}");
    assert_eq!(s(changed[0], "account_category"), "building_energy");
    assert_eq!(s(changed[0], "org_code"), "RKB");
    let diff = 2_000_000.0 * 0.02 / 1000.0;
    assert!(close(changed[0]["t_difference"].as_f64().unwrap(), diff));
    assert_eq!(s(changed[0], "previous_run_id"), first.record.run_id);

    let why = table(&p, &second, "restatement_reasons");
    let items: Vec<(&str, &str)> = why.iter().map(|w| (s(w, "kind"), s(w, "item"))).collect();
    assert_eq!(
        items,
        vec![("factor row", "DESNZ 2022 elec_gen"), ("file", file)],
        "{why:?}"
    );
    let f = why.iter().find(|w| s(w, "kind") == "factor row").unwrap();
    assert_eq!(f["old_value"].as_f64(), Some(0.19338));
    assert_eq!(f["new_value"].as_f64(), Some(0.21338));
    let text = pdf(&p, &second);
    assert!(
        text.contains(&format!(
            "was published before (run {})",
            first.record.run_id
        )),
        "{text}"
    );
    assert!(
        text.contains("+40"),
        "the difference of 40 t is printed: {text}"
    );

    // A changed parameter is a reason too; nothing else changed this time.
    let third = run(&p, "2022-23-Q1", &[("gwp_set", "AR6")])
        .await
        .expect("builds");
    let why = table(&p, &third, "restatement_reasons");
    assert_eq!(why.len(), 1, "{why:?}");
    assert_eq!(s(&why[0], "kind"), "parameter");
    assert_eq!(s(&why[0], "detail"), "AR4 → AR6");
    assert_eq!(
        s(&table(&p, &third, "restatement")[0], "previous_run_id"),
        second.record.run_id
    );
}

#[test]
fn a_factor_seed_of_an_unknown_format_or_missing_file_is_refused_at_its_place() {
    let p = TestProject::new();
    p.write("sql/x/a.sql", "SELECT * FROM factors")
        .write("config/x/2022.csv", "not read at validation")
        .write(
            "pipelines/x.yaml",
            "name: x\nparameters:\n  period: { type: period }\nseeds:\n  factors:\n    format: desnz\n    files:\n      - x/2022.csv\n      - x/2023.csv\n  other:\n    format: ghg\n    files: [x/2022.csv]\nsteps:\n  - id: a\n    sql: x/a.sql\n",
        );
    let world = p.world();
    let errors = plan::load(&world.project, "pipelines/x.yaml")
        .expect_err("two errors")
        .to_string();
    assert!(
        errors.contains("pipelines/x.yaml:9:9")
            && errors.contains("`config/x/2023.csv` does not exist"),
        "{errors}"
    );
    assert!(
        errors.contains("pipelines/x.yaml:11:13") && errors.contains("unknown format `ghg`"),
        "{errors}"
    );
}

#[tokio::test]
async fn remote_outpatients_kpi_counts_attended_telephone_and_video() {
    let p = project();
    practices(&p);
    energy(&p, "2022-05", "RKB", &[("grid_electricity", "kWh", 1000.0)]);
    // May 2022 at RKB: 3 attended face to face, 1 by telephone, 1 by video, 1 video not attended.
    let day = |d: u32| {
        (chrono::NaiveDate::from_ymd_opt(2022, 5, d).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32
    };
    put(
        &p,
        "op_attendances",
        "2022-05",
        vec![
            ("attendance_id", strings(&["a", "b", "c", "d", "e", "f"])),
            ("provider_code", strings(&["RKB"; 6])),
            (
                "appointment_date",
                Arc::new(datafusion::arrow::array::Date32Array::from(
                    (1..=6).map(day).collect::<Vec<_>>(),
                )),
            ),
            (
                "consultation_medium",
                strings(&[
                    "Face to face",
                    "Face to face",
                    "Face to face",
                    "Telephone",
                    "Video",
                    "Video",
                ]),
            ),
            (
                "attendance_status",
                strings(&[
                    "Attended", "Attended", "Attended", "Attended", "Attended", "DNA",
                ]),
            ),
        ],
    );
    // April and June were returned with no appointments at RKB (every month of the quarter must be there).
    for m in ["2022-04", "2022-06"] {
        put(
            &p,
            "op_attendances",
            m,
            vec![
                ("attendance_id", strings(&[])),
                ("provider_code", strings(&[])),
                (
                    "appointment_date",
                    Arc::new(datafusion::arrow::array::Date32Array::from(
                        Vec::<i32>::new(),
                    )),
                ),
                ("consultation_medium", strings(&[])),
                ("attendance_status", strings(&[])),
            ],
        );
    }
    let out = run(&p, "2022-23-Q1", &[]).await.expect("builds");
    let k = table(&p, &out, "kpi_outpatients");
    let all = k.iter().find(|r| s(r, "org_code") == "All trusts").unwrap();
    assert_eq!(all["attended"], 5);
    assert!(close(all["remote_share"].as_f64().unwrap(), 2.0 / 5.0));
    let text = pdf(&p, &out);
    assert!(
        // 2 of 5 is a small count: the share computed from it is withheld (`*`), the judgement stands.
        text.contains("Outpatient appointments delivered remotely * 25% Met"),
        "{text}"
    );
}
