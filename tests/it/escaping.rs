//! Text from data is printed exactly and never executed: Typst markup, code and maths in a value stay
//! text in the PDF.

use crate::pipeline::{project, visits};
use crate::support::{pdf_text, run_period, write_parquet};

#[tokio::test]
async fn hostile_names_print_exactly() {
    let p = project();
    let hostile = "*Smith* & #Jones $1";
    let code = "#panic(\"boom\") = heading <label> @ref // comment [x]";
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&[("a", hostile, 1), ("b", code, 2)]),
    );
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("hostile text does not break the run");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(text.contains(hostile), "{text}");
    assert!(text.contains(code), "{text}");
}

/// Every kind of hostile name, in a string column that reaches the PDF as a table cell, a heading, a
/// chart label and a code-position string: the run succeeds and the PDF holds the literal text.
#[tokio::test]
async fn a_sweep_of_hostile_names_prints_literally_everywhere() {
    let long = "Very Long Practice Name ".repeat(40);
    // (value written, text expected in the PDF: control characters are dropped, line breaks are spaces).
    let names: Vec<(String, String)> = vec![
        (
            "= Heading *bold* _em_ `raw` <lbl> @ref".into(),
            "= Heading *bold* _em_ `raw` <lbl> @ref".into(),
        ),
        (
            "#set page(width: 1cm) #read(\"/etc/passwd\")".into(),
            "#set page(width: 1cm) #read(\"/etc/passwd\")".into(),
        ),
        (
            "$ sum_(i=0)^oo x_i $ and $1,000".into(),
            "$ sum_(i=0)^oo x_i $ and $1,000".into(),
        ),
        (
            "```typ #panic()``` raw block".into(),
            "```typ #panic()``` raw block".into(),
        ),
        (
            "{{ 7*7 }} {% raw %} {# c #}".into(),
            "{{ 7*7 }} {% raw %} {# c #}".into(),
        ),
        (
            "/* open comment \\ back\\slash ] [".into(),
            "/* open comment \\ back\\slash ] [".into(),
        ),
        (
            "Bell\u{7}Escape\u{1b}Nul\u{0}End".into(),
            "BellEscapeNulEnd".into(),
        ),
        (
            "Line one\nLine two\ttab".into(),
            "Line one Line two tab".into(),
        ),
        (
            "Surgery \u{202e}txt.exe\u{2066}x\u{2069}".into(),
            "Surgery txt.exex".into(),
        ),
        ("מרפאת השלום Clinic".into(), "Clinic".into()),
        (
            long.trim().to_string(),
            "Very Long Practice Name Very Long Practice Name".into(),
        ),
    ];
    let p = project();
    // The test template prints clinics in a table; add a heading, a chart label and a code string.
    p.write(
        "reports/waits/report.typ.j2",
        &format!(
            "{}\n{{% for r in tables.summary %}}\n== Clinic {{{{ r.clinic }}}}\n#text({{{{ r.clinic | typst_str }}}})\n{{% endfor %}}\n{{{{ bar_chart(tables.summary, label=\"clinic\", value=\"visits\", title=\"Visits\") }}}}\n",
            crate::pipeline::TEMPLATE
        ),
    );
    let rows: Vec<(String, String, i64)> = names
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (format!("h{i}"), n.clone(), i as i64))
        .collect();
    let refs: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
        .collect();
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&refs),
    );
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("hostile names do not break the run");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    for (written, expected) in &names {
        assert!(
            text.contains(expected.as_str()),
            "{written:?}: expected {expected:?} in the PDF text:\n{text}"
        );
    }
    // Each name printed as a heading: the page was not resized nor the run stopped by markup in data.
    assert!(text.matches("Clinic ").count() >= names.len(), "{text}");
    assert!(!text.contains("root:"), "a file was read: {text}");
}

/// The shipped primary-care dashboard with hostile practice names in its reference data: the names reach
/// headings (practice profiles), tables and the outlier list, and print literally.
#[tokio::test]
async fn hostile_practice_names_print_literally_in_the_primary_care_dashboard() {
    use boardpack::period::Month;
    use datafusion::arrow::array::{Array, StringArray};
    use std::sync::Arc;

    let store = tempfile::tempdir().unwrap();
    let world = boardpack::world::World::open(
        &crate::support::repo(),
        Some(store.path().to_str().unwrap()),
    )
    .unwrap();
    // Only the dashboard's required inputs, for the one month: the indicators' sources are optional.
    let april = Month {
        year: 2022,
        month: 4,
    };
    let opts = boardpack::sample::SampleOptions {
        from: april,
        to: april,
        only: [
            "registered_population",
            "practice_list_size",
            "practice_status",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    boardpack::sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let names = [
        "= Heading *bold* #panic(\"boom\") $x^2$ <lbl> @ref",
        "```raw``` {{ 7*7 }} {% if x %} // not a comment",
        "Surgery \u{202e}gnp.exe \u{7}Bell מרפאה",
        "Very Long Surgery Name With Many Many Words That Goes On And On Past The Width Of Any Heading Line",
    ];
    let printed = [
        "= Heading *bold* #panic(\"boom\") $x^2$ <lbl> @ref",
        "```raw``` {{ 7*7 }} {% if x %} // not a comment",
        "Surgery gnp.exe Bell",
        "Very Long Surgery Name With Many Many Words That Goes On And On Past The Width Of Any Heading Line",
    ];
    // The first practices of the first PCN get the hostile names; its profiles are printed.
    let path = store.path().join("reference/practices/practices.parquet");
    let batches = crate::support::read_parquet(&path);
    let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let strings = |c: &str| {
        batch
            .column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    };
    let (codes, pcns, old) = (
        strings("practice_code"),
        strings("pcn_code"),
        strings("practice_name"),
    );
    let pcn = pcns.value(0).to_string();
    let mut given = 0;
    let renamed: Vec<String> = (0..old.len())
        .map(|i| {
            if pcns.value(i) == pcn && given < names.len() {
                given += 1;
                names[given - 1].to_string()
            } else {
                old.value(i).to_string()
            }
        })
        .collect();
    assert_eq!(given, names.len(), "the PCN has enough practices");
    let mut columns = batch.columns().to_vec();
    let at = batch.schema().index_of("practice_name").unwrap();
    columns[at] = Arc::new(StringArray::from(renamed));
    let batch =
        datafusion::arrow::record_batch::RecordBatch::try_new(batch.schema(), columns).unwrap();
    std::fs::write(&path, boardpack::sample::parquet_bytes(&batch).unwrap()).unwrap();

    let plan = boardpack::plan::load_named(&world.project, "primary-care").unwrap();
    let given = std::collections::BTreeMap::from([
        ("period".to_string(), "2022-04".to_string()),
        ("practice_pages".to_string(), pcn.clone()),
    ]);
    let params = boardpack::params::RunParams::bind(&plan, &given).unwrap();
    let outcome =
        boardpack::execute::run(&world, &plan, &params, Arc::new(boardpack::execute::Silent))
            .await
            .expect("hostile practice names do not break the dashboard");
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    for (name, expected) in names.iter().zip(printed) {
        assert!(
            text.contains(expected),
            "{name:?}: {expected:?} not in the dashboard"
        );
    }
    // Each profile heading names its practice: code, then the name as written.
    assert!(
        text.contains(&format!("{} {}", codes.value(0), printed[0])),
        "the first practice's profile heading"
    );
}
