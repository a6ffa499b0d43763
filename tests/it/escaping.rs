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
