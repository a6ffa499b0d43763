//! `boardpack spc` through the binary: one point per date, `--where`, `--numerator`/`--denominator`,
//! `--percent`, `--title`, `--no-screen`, negative numbers, its `--help`; and the icon key of the packs.

use crate::support::{TestProject, boardpack, pdf_text};

/// Month `i` of a series starting April 2021.
fn month(i: usize) -> String {
    let m = 3 + i;
    format!("{}-{:02}", 2021 + m / 12, m % 12 + 1)
}

/// Runs `spc` on `file` of the project with `args`; (exit code, stdout, stderr).
fn spc(p: &TestProject, file: &str, args: &[&str]) -> (i32, String, String) {
    let path = p.root().join(file);
    let mut all = vec!["spc", path.to_str().unwrap()];
    all.extend(args);
    boardpack(p.root(), &all)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Two sites' monthly values, 14 months each, with the rows of both sites interleaved.
fn two_sites() -> String {
    let mut csv = String::from("site,type,month,value\n");
    for i in 0..14 {
        for (site, base) in [("North", 10.0), ("South", 20.0)] {
            let v = base + if i % 2 == 0 { 1.0 } else { -1.0 };
            csv.push_str(&format!("{site},1,{},{v}\n", month(i)));
            // Type 3 (minor injury units) is another measure on the same months.
            csv.push_str(&format!("{site},3,{},{}\n", month(i), v * 3.0));
        }
    }
    csv
}

#[test]
fn two_points_on_one_date_are_refused_naming_the_facet_value_and_the_date() {
    let p = TestProject::new();
    let mut csv = String::from("ward,month,value\n");
    for i in 0..13 {
        csv.push_str(&format!("North,{},{}\n", month(i), 10 + i % 3));
        csv.push_str(&format!("South,{},{}\n", month(i), 20 + i % 3));
    }
    // South's June 2021 twice (a resubmission appended rather than replacing).
    csv.push_str("South,2021-06,25\n");
    p.write("wards.csv", &csv);
    let (code, stdout, stderr) = spc(
        &p,
        "wards.csv",
        &["--value", "value", "--date", "month", "--facet", "ward"],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing is printed: {stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("ward `South`") && stderr.contains("two points on 2021-06"),
        "{stderr}"
    );
    // Without a facet, the whole file is one series and every month is doubled.
    let (code, _, stderr) = spc(&p, "wards.csv", &["--value", "value", "--date", "month"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("two points on 2021-04"), "{stderr}");
}

#[test]
fn where_keeps_the_matching_rows_and_names_an_unknown_column() {
    let p = TestProject::new();
    p.write("ae.csv", &two_sites());
    let (code, stdout, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--value",
            "value",
            "--date",
            "month",
            "--where",
            "site=North",
            "--where",
            "type=1",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let out = json(&stdout);
    let points = out["series"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 14);
    assert_eq!(points[0]["value"], 11.0, "North's type 1 only");
    assert!((points[0]["mean"].as_f64().unwrap() - 10.0).abs() < 1e-9);
    // Without the type, two rows per month: refused.
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--value",
            "value",
            "--date",
            "month",
            "--where",
            "site=North",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("two points on 2021-04"), "{stderr}");
    // A column the file does not have is named, with the flag.
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--value",
            "value",
            "--date",
            "month",
            "--where",
            "sitee=North",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--where sitee=North") && stderr.contains("no column `sitee`"),
        "{stderr}"
    );
    assert!(stderr.contains("site, type, month, value"), "{stderr}");
    // A value no row holds.
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--value",
            "value",
            "--date",
            "month",
            "--where",
            "site=East",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("no row of"), "{stderr}");
    assert!(stderr.contains("site=East"), "{stderr}");
}

#[test]
fn numerator_over_denominator_in_percent_and_a_zero_denominator_is_named() {
    let p = TestProject::new();
    let mut csv = String::from("month,within_4h,attendances\n");
    for i in 0..13 {
        csv.push_str(&format!("{},{},1000\n", month(i), 700 + (i % 3) * 25));
    }
    p.write("ae.csv", &csv);
    let (code, stdout, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--numerator",
            "within_4h",
            "--denominator",
            "attendances",
            "--percent",
            "--date",
            "month",
            "--improvement",
            "increase",
            "--target",
            "95",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let out = json(&stdout);
    let s = &out["series"][0];
    assert_eq!(s["unit"], "%");
    assert_eq!(s["points"][1]["value"], 72.5, "725 of 1,000, in percent");
    assert_eq!(
        s["assurance"], "consistently_fails",
        "the 95% target is above the upper limit (about 81%)"
    );
    // The CSV prints the percentages too.
    let (_, csv_out, _) = spc(
        &p,
        "ae.csv",
        &[
            "--numerator",
            "within_4h",
            "--denominator",
            "attendances",
            "--percent",
            "--date",
            "month",
        ],
    );
    assert!(
        csv_out.lines().nth(2).unwrap().starts_with("2021-05,72.5,"),
        "{csv_out}"
    );

    // --value with --numerator is a usage error.
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--value",
            "within_4h",
            "--numerator",
            "within_4h",
            "--denominator",
            "attendances",
            "--date",
            "month",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    // A numerator alone too.
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &["--numerator", "within_4h", "--date", "month"],
    );
    assert_eq!(code, 2, "{stderr}");

    // A month with no attendances: the row and its date are named.
    csv.push_str(&format!("{},0,0\n", month(13)));
    p.write("ae.csv", &csv);
    let (code, _, stderr) = spc(
        &p,
        "ae.csv",
        &[
            "--numerator",
            "within_4h",
            "--denominator",
            "attendances",
            "--date",
            "month",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("row 14 (2022-05)") && stderr.contains("`attendances` is zero"),
        "{stderr}"
    );
}

#[test]
fn negative_targets_and_values_are_numbers() {
    let p = TestProject::new();
    // Net emissions after offsets, tonnes CO2e: negative, falling.
    let mut csv = String::from("month,net\n");
    for i in 0..14 {
        csv.push_str(&format!("{},{:.1}\n", month(i), -40.0 - i as f64 * 0.5));
    }
    p.write("carbon.csv", &csv);
    let (code, stdout, stderr) = spc(
        &p,
        "carbon.csv",
        &[
            "--value",
            "net",
            "--date",
            "month",
            "--improvement",
            "decrease",
            "--target",
            "-43.2",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let out = json(&stdout);
    let s = &out["series"][0];
    assert_eq!(s["points"][13]["value"], -46.5);
    assert_eq!(s["points"][13]["rule"], "outside_limits");
    assert_eq!(s["variation"], "improvement_low");
    assert_eq!(
        s["assurance"], "hit_and_miss",
        "the target is inside the limits"
    );
    // `--target=-43.2` was always fine; a target that is no number still is not.
    let (code, _, stderr) = spc(
        &p,
        "carbon.csv",
        &["--value", "net", "--date", "month", "--target", "-x"],
    );
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn no_screen_keeps_every_moving_range() {
    let p = TestProject::new();
    // Steady around 10, one month at 40: its two moving ranges are screened out by default.
    let mut csv = String::from("month,value\n");
    for i in 0..14 {
        let v = if i == 7 { 40.0 } else { 10.0 + (i % 2) as f64 };
        csv.push_str(&format!("{},{v}\n", month(i)));
    }
    p.write("s.csv", &csv);
    let upper = |extra: &[&str]| {
        let mut args = vec!["--value", "value", "--date", "month", "--json"];
        args.extend(extra);
        let (code, stdout, stderr) = spc(&p, "s.csv", &args);
        assert_eq!(code, 0, "{stderr}");
        let out = json(&stdout);
        (
            out["series"][0]["points"][0]["upper_limit"]
                .as_f64()
                .unwrap(),
            out["series"][0]["points"][7]["rule"].clone(),
        )
    };
    let (screened, rule) = upper(&[]);
    let (unscreened, rule_unscreened) = upper(&["--no-screen"]);
    // Mean 176/14; moving ranges: eleven of 1 and two of 30 → screened mean mR 1, unscreened 71/13.
    let mean = 176.0 / 14.0;
    assert!((screened - (mean + 2.66)).abs() < 1e-9, "{screened}");
    assert!(
        (unscreened - (mean + 2.66 * 71.0 / 13.0)).abs() < 1e-9,
        "{unscreened}"
    );
    assert_eq!(rule, "outside_limits");
    assert_eq!(rule_unscreened, "outside_limits");
}

#[test]
fn title_and_percent_on_the_chart_with_limits_inside_0_to_100() {
    let p = TestProject::new();
    // Around 97% with wide swings: the upper limit computes to about 109%.
    let mut csv = String::from("month,share\n");
    for (i, v) in [
        0.99, 0.95, 1.0, 0.96, 0.99, 0.94, 1.0, 0.96, 0.99, 0.95, 1.0, 0.96,
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("{},{v}\n", month(i)));
    }
    p.write("h.csv", &csv);
    let svg = p.root().join("h.svg");
    let (code, stdout, stderr) = spc(
        &p,
        "h.csv",
        &[
            "--value",
            "share",
            "--date",
            "month",
            "--percent",
            "--title",
            "Handovers within 15 minutes",
            "--json",
            "--chart",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let upl = json(&stdout)["series"][0]["points"][0]["upper_limit"]
        .as_f64()
        .unwrap();
    assert!(upl > 105.0, "the judgement keeps the computed limit: {upl}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("Handovers within 15 minutes"), "the title");
    let ticks: Vec<f64> = text
        .split('>')
        .filter_map(|t| t.split('<').next()?.trim().strip_suffix('%')?.parse().ok())
        .collect();
    assert!(ticks.len() >= 3, "a percent axis: {ticks:?}");
    assert!(
        ticks.iter().all(|t| *t <= 100.0),
        "the axis stops at 100%: {ticks:?}"
    );
}

#[test]
fn spc_help_teaches_the_new_flags() {
    let p = TestProject::new();
    let (code, stdout, _) = boardpack(p.root(), &["spc", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "--where COLUMN=VALUE",
        "--numerator within_4h --denominator attendances --percent",
        "--target -43.2",
        "--no-screen",
        "--title",
        "One point per date",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    }
}

#[tokio::test]
async fn the_packs_icon_key_says_the_letter_is_the_direction_and_the_colour_the_meaning() {
    let (store, outcome) = crate::sample_pack::shared_pack().await;
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    // Each meaning with both letters (the icons' letters come out of the PDF as text).
    for needle in [
        "H L special-cause improvement, H L special-cause concern,",
        "(H the measure is significantly higher, L significantly lower)",
        "common cause, no significant change",
        "P consistently passes the target, F consistently fails it, ? hit and miss",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the pack");
    }
}

#[test]
fn a_rebase_date_no_point_has_and_a_row_without_a_date_are_errors() {
    let p = TestProject::new();
    let mut csv = String::from("month,value\n");
    for i in 0..13 {
        csv.push_str(&format!("{},{}\n", month(i), 10 + i % 3));
    }
    p.write("s.csv", &csv);
    // A typing mistake in the date used to be ignored: one segment, as if no re-base was asked.
    let (code, _, stderr) = spc(
        &p,
        "s.csv",
        &["--value", "value", "--date", "month", "--rebase", "2021-13"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--rebase 2021-13: no point"), "{stderr}");
    let (code, stdout, stderr) = spc(
        &p,
        "s.csv",
        &[
            "--value", "value", "--date", "month", "--rebase", "2021-10", "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["series"][0]["points"][6]["segment"], 1);
    csv.push_str(",12\n");
    p.write("s.csv", &csv);
    let (code, _, stderr) = spc(&p, "s.csv", &["--value", "value", "--date", "month"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("row 14: no date in `month`"), "{stderr}");
}
