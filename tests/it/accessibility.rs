//! Accessible PDFs (issue 21): every PDF boardpack publishes is PDF/UA-1, with its language and title, alt
//! text on every chart (generated from the chart's data) and header cells in every table.
//!
//! veraPDF, the reference PDF/UA checker, is no Debian, PyPI or crates.io package, so `check_pdf_ua`
//! reads the structure a PDF/UA-1 checker reads, with lopdf (re-exported by pdf-extract, already a
//! dev-dependency): the catalog's `/MarkInfo`, `/Lang`, `/ViewerPreferences /DisplayDocTitle`, the XMP
//! metadata's `pdfuaid:part`, the title, and the structure tree — `/Alt` on every `/Figure`, a `/TH` in
//! every `/Table`. It is a check of those machine-readable requirements, not of everything veraPDF checks.

use std::collections::{BTreeMap, HashSet};

use pdf_extract::{Document, Object, ObjectId, decode_text_string};

use crate::support::{TestProject, boardpack_output, run_period};

/// One structure element: its standard role (after the role map), its `/Alt`, its children.
#[derive(Debug)]
pub(crate) struct Element {
    pub role: String,
    pub alt: Option<String>,
    pub kids: Vec<Element>,
}

/// What the check read of a PDF: the failures (empty when it passes), the document's title and the alt
/// text of each figure, in reading order.
#[derive(Debug, Default)]
pub(crate) struct UaCheck {
    pub failures: Vec<String>,
    pub title: Option<String>,
    pub figures: Vec<String>,
    pub tables: usize,
}

/// Checks a PDF against the machine-readable requirements of PDF/UA-1 named in the module doc.
pub(crate) fn check_pdf_ua(bytes: &[u8]) -> UaCheck {
    let mut out = UaCheck::default();
    let doc = match Document::load_mem(bytes) {
        Ok(d) => d,
        Err(e) => {
            out.failures.push(format!("not a readable PDF: {e}"));
            return out;
        }
    };
    let catalog = match doc.catalog() {
        Ok(c) => c,
        Err(e) => {
            out.failures.push(format!("no catalog: {e}"));
            return out;
        }
    };
    let get = |d: &pdf_extract::Dictionary, key: &[u8]| -> Option<Object> {
        d.get(key)
            .ok()
            .and_then(|o| doc.dereference(o).ok())
            .map(|(_, o)| o.clone())
    };

    let marked = get(catalog, b"MarkInfo")
        .and_then(|m| m.as_dict().ok().and_then(|m| get(m, b"Marked")))
        .and_then(|m| m.as_bool().ok());
    if marked != Some(true) {
        out.failures
            .push("catalog: no /MarkInfo << /Marked true >> (not a tagged PDF)".into());
    }
    match get(catalog, b"Lang").and_then(|l| decode_text_string(&l).ok()) {
        Some(l) if !l.trim().is_empty() => {}
        _ => out
            .failures
            .push("catalog: no /Lang (the document's language)".into()),
    }
    let display_title = get(catalog, b"ViewerPreferences")
        .and_then(|v| v.as_dict().ok().and_then(|v| get(v, b"DisplayDocTitle")))
        .and_then(|d| d.as_bool().ok());
    if display_title != Some(true) {
        out.failures
            .push("catalog: no /ViewerPreferences << /DisplayDocTitle true >>".into());
    }
    let xmp = get(catalog, b"Metadata").and_then(|m| {
        m.as_stream().ok().map(|s| {
            let bytes = s
                .decompressed_content()
                .unwrap_or_else(|_| s.content.clone());
            String::from_utf8_lossy(&bytes).into_owned()
        })
    });
    match &xmp {
        Some(x)
            if x.contains("<pdfuaid:part>1</pdfuaid:part>") || x.contains("pdfuaid:part=\"1\"") => {
        }
        Some(_) => out
            .failures
            .push("XMP metadata: no pdfuaid:part 1 (does not claim PDF/UA-1)".into()),
        None => out.failures.push("catalog: no /Metadata (XMP)".into()),
    }
    out.title = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|i| doc.dereference(i).ok())
        .and_then(|(_, i)| i.as_dict().ok().and_then(|i| get(i, b"Title")))
        .and_then(|t| decode_text_string(&t).ok())
        .filter(|t| !t.trim().is_empty());
    let xmp_title = xmp.as_deref().is_some_and(|x| x.contains("<dc:title>"));
    if out.title.is_none() && !xmp_title {
        out.failures
            .push("no document title (neither /Info /Title nor XMP dc:title)".into());
    }

    let Some(tree) = get(catalog, b"StructTreeRoot") else {
        out.failures
            .push("catalog: no /StructTreeRoot (no structure tree)".into());
        return out;
    };
    let Ok(tree) = tree.as_dict() else {
        out.failures.push("/StructTreeRoot is no dictionary".into());
        return out;
    };
    let mut role_map = BTreeMap::new();
    if let Some(Object::Dictionary(map)) = get(tree, b"RoleMap") {
        for (k, v) in map.iter() {
            if let Ok(v) = v.as_name() {
                role_map.insert(k.clone(), v.to_vec());
            }
        }
    }
    let mut seen = HashSet::new();
    let mut roots = Vec::new();
    if let Ok(k) = tree.get(b"K") {
        elements(&doc, k, &role_map, &mut seen, &mut roots);
    }
    if roots.is_empty() {
        out.failures.push("the structure tree is empty".into());
    }
    let mut n = (0, 0);
    for e in &roots {
        judge(e, &mut out, &mut n);
    }
    out
}

/// The structure elements under `k` (a `/K`: an element, a marked-content id, or an array of them).
fn elements(
    doc: &Document,
    k: &Object,
    role_map: &BTreeMap<Vec<u8>, Vec<u8>>,
    seen: &mut HashSet<ObjectId>,
    out: &mut Vec<Element>,
) {
    let Ok((id, k)) = doc.dereference(k) else {
        return;
    };
    if let Some(id) = id
        && !seen.insert(id)
    {
        return;
    }
    match k {
        Object::Array(items) => {
            for item in items {
                elements(doc, item, role_map, seen, out);
            }
        }
        Object::Dictionary(d) => {
            // Marked-content and object references (`/MCR`, `/OBJR`) have no `/S`: content, not structure.
            let Ok(s) = d.get(b"S").and_then(Object::as_name) else {
                return;
            };
            let mut role = s.to_vec();
            for _ in 0..8 {
                match role_map.get(&role) {
                    Some(r) if *r != role => role = r.clone(),
                    _ => break,
                }
            }
            let alt = d
                .get(b"Alt")
                .ok()
                .and_then(|a| doc.dereference(a).ok())
                .and_then(|(_, a)| decode_text_string(a).ok());
            let mut kids = Vec::new();
            if let Ok(k) = d.get(b"K") {
                elements(doc, k, role_map, seen, &mut kids);
            }
            out.push(Element {
                role: String::from_utf8_lossy(&role).into_owned(),
                alt,
                kids,
            });
        }
        _ => {}
    }
}

fn has_role(e: &Element, role: &str) -> bool {
    e.role == role || e.kids.iter().any(|k| has_role(k, role))
}

/// Every figure has alt text, every table a header cell; `n` counts (figures, tables) for the messages.
fn judge(e: &Element, out: &mut UaCheck, n: &mut (usize, usize)) {
    match e.role.as_str() {
        "Figure" => {
            n.0 += 1;
            match e.alt.as_deref().map(str::trim) {
                Some(a) if !a.is_empty() => out.figures.push(a.to_string()),
                _ => out
                    .failures
                    .push(format!("figure {} has no /Alt (alternative text)", n.0)),
            }
        }
        "Table" => {
            n.1 += 1;
            out.tables += 1;
            if !has_role(e, "TH") {
                out.failures
                    .push(format!("table {} has no header cell (/TH)", n.1));
            }
        }
        _ => {}
    }
    for k in &e.kids {
        judge(k, out, n);
    }
}

/// Checks every PDF of a run on its store; returns the checks by store path.
fn check_run(
    store: &std::path::Path,
    outcome: &boardpack::execute::RunOutcome,
) -> Vec<(String, UaCheck)> {
    let reports = outcome.reports();
    assert!(!reports.is_empty(), "the run published no PDF");
    reports
        .into_iter()
        .map(|r| {
            let bytes = std::fs::read(store.join(&r)).expect("the published PDF");
            let check = check_pdf_ua(&bytes);
            (r, check)
        })
        .collect()
}

/// Every check passed, with at least one table and (when `charts`) one figure in each PDF.
fn assert_accessible(checks: &[(String, UaCheck)], charts: bool) {
    let mut failures = Vec::new();
    for (path, c) in checks {
        for f in &c.failures {
            failures.push(format!("{path}: {f}"));
        }
        if c.tables == 0 {
            failures.push(format!("{path}: the check found no table"));
        }
        if charts && c.figures.is_empty() {
            failures.push(format!("{path}: the check found no figure"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_board_pack_is_pdf_ua_with_alt_text_from_its_charts_data() {
    let (store, outcome) = crate::sample_pack::shared_pack().await;
    let checks = check_run(store.path(), outcome);
    assert_accessible(&checks, true);
    let c = &checks[0].1;
    eprintln!(
        "board pack: {} tables; alt text: {:#?}",
        c.tables, c.figures
    );
    let title = c.title.as_deref().unwrap_or_default();
    assert!(
        title.contains("Apr-22") || title.contains("2022"),
        "title {title:?}"
    );
    // The A&E chart: what it shows, its range, the latest value in percent against the 95% standard, and
    // the series' variation and assurance as the SPC step judged them.
    let ae = c
        .figures
        .iter()
        .find(|a| a.starts_with("SPC chart: A&E"))
        .unwrap_or_else(|| panic!("no A&E chart among {:#?}", c.figures));
    for said in ["Apr-22; latest Apr-22 ", "% against a target of 95.0%"] {
        assert!(ae.contains(said), "{said:?} not in {ae:?}");
    }
    let variation = [
        "common cause variation",
        "improvement (",
        "concern (",
        "special cause (",
    ];
    assert!(
        variation.iter().any(|v| ae.contains(v)),
        "no variation in {ae:?}"
    );
    let assurance = ["passes the target", "fails the target", "hit and miss"];
    assert!(
        assurance.iter().any(|a| ae.contains(a)),
        "no assurance in {ae:?}"
    );
}

#[tokio::test]
async fn the_primary_care_dashboard_and_practice_visit_packs_are_pdf_ua() {
    let (store, outcome) = crate::disclosure_sweep::primary_care_run().await;
    let checks = check_run(store.path(), outcome);
    assert!(
        checks.iter().any(|(p, _)| p.contains("practice_profiles/")),
        "no practice-visit pack among {:?}",
        checks.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    let (dashboard, packs): (Vec<_>, Vec<_>) = checks
        .into_iter()
        .partition(|(p, _)| !p.contains("practice_profiles/"));
    assert_accessible(&dashboard, true);
    assert_accessible(&packs, false);
}

#[tokio::test]
async fn the_carbon_account_is_pdf_ua() {
    let (store, outcome) = crate::disclosure_sweep::carbon_run().await;
    assert_accessible(&check_run(store.path(), outcome), false);
}

const USER_TEMPLATE: &str = "reports/r/r.typ.j2";

/// A user's project: a seed of monthly counts (the last a small number, withheld: the pipeline declares
/// nothing, so every count is under the rule) and a report of `template`.
fn user_project(template: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        "config/counts.csv",
        "month,n\n2021-11,12\n2021-12,15\n2022-01,14\n2022-02,18\n2022-03,16\n2022-04,3\n",
    )
    .write(
        "sql/r/by_month.sql",
        "SELECT month, n FROM counts ORDER BY month",
    )
    .write(USER_TEMPLATE, template)
    .write(
        "pipelines/r.yaml",
        "name: r
parameters:
  period: { type: period }
inputs: {}
seeds:
  counts: counts.csv
steps:
  - id: by_month
    sql: r/by_month.sql
  - id: report
    report: r/r.typ.j2
    uses: [by_month]
",
    );
    p
}

const CHART_AND_TABLE: &str = r#"#import "/reports/_lib/boardpack.typ": *
#show: report.with(title: "Referrals", period: {{ period_label | typst_str }})
= Referrals
#table(columns: 2, table.header([Month], [Referrals]),
{%- for r in tables.by_month %}
  [{{ r.month }}], [{{ r.n | count }}],
{%- endfor %}
)
{{ line_chart(tables.by_month, x="month", y="n", title="Referrals a month") }}
{{ spc_chart(tables.by_month, value="n", date="month", title="Referrals, SPC") }}
{{ bar_chart(tables.by_month, label="month", value="n", title="Referrals by month", alt="Referrals by month: bars as in the table above.") }}
"#;

#[tokio::test]
async fn a_users_chart_and_table_pass_and_a_suppressed_latest_value_is_not_in_alt_text() {
    let p = user_project(CHART_AND_TABLE);
    let outcome = run_period(&p, "r", "2022-04").await.expect("the run");
    let bytes = std::fs::read(p.store_file(&outcome.reports()[0])).unwrap();
    let c = check_pdf_ua(&bytes);
    assert!(c.failures.is_empty(), "{:#?}", c.failures);
    eprintln!("user report: alt text: {:#?}", c.figures);
    assert_eq!(c.figures.len(), 3, "{:#?}", c.figures);
    // The latest month's 3 is withheld: the alt text says so, and no word of it is the 3.
    for alt in &c.figures[..2] {
        assert!(alt.contains("suppressed"), "{alt:?}");
        let words: Vec<&str> = alt.split(|ch: char| !ch.is_ascii_alphanumeric()).collect();
        assert!(!words.contains(&"3"), "the withheld 3 is in {alt:?}");
    }
    assert!(
        c.figures[0].starts_with("Line chart: Referrals a month,"),
        "{:?}",
        c.figures[0]
    );
    assert!(
        c.figures[1].starts_with("SPC chart: Referrals, SPC,"),
        "{:?}",
        c.figures[1]
    );
    // A template's own `alt=` is used as it is.
    assert_eq!(
        c.figures[2],
        "Referrals by month: bars as in the table above."
    );
}

#[tokio::test]
async fn a_template_without_the_house_style_still_has_a_title_and_language() {
    let p = user_project(
        "#table(columns: 2, table.header([Month], [Referrals]),\n\
         {%- for r in tables.by_month %}[{{ r.month }}], [{{ r.n | count }}],{% endfor %})\n",
    );
    let outcome = run_period(&p, "r", "2022-04").await.expect("the run");
    let bytes = std::fs::read(p.store_file(&outcome.reports()[0])).unwrap();
    let c = check_pdf_ua(&bytes);
    assert!(c.failures.is_empty(), "{:#?}", c.failures);
    assert!(c.title.is_some(), "no title");
}

#[test]
fn an_image_without_alt_text_fails_the_run_at_its_template_line() {
    let template = "#import \"/reports/_lib/boardpack.typ\": *\n\
        #show: report.with(title: \"Referrals\", period: {{ period_label | typst_str }})\n\
        = Referrals\n\
        #image(bytes(\"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'></svg>\"), format: \"svg\")\n";
    let p = user_project(template);
    let (code, text) = boardpack_output(&p, &["run", "r", "--period", "2022-04"]);
    assert_ne!(code, 0, "the run should fail:\n{text}");
    assert!(
        text.contains(&format!("{USER_TEMPLATE}:4:")),
        "the template line is not named:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "{USER_TEMPLATE}:4:2: PDF/UA-1 error: missing alt text"
        )),
        "the message does not say alt text is missing:\n{text}"
    );
    assert!(text.contains("alt: \"…\""), "no way out is named:\n{text}");
}

#[tokio::test]
async fn the_check_fails_on_a_pdf_without_what_pdf_ua_requires() {
    let p = user_project(CHART_AND_TABLE);
    let outcome = run_period(&p, "r", "2022-04").await.expect("the run");
    let bytes = std::fs::read(p.store_file(&outcome.reports()[0])).unwrap();
    assert!(check_pdf_ua(&bytes).failures.is_empty());

    // The same PDF with what a PDF typeset without PDF/UA lacks: no marking, no language, no display of
    // the title, a figure without alt text and a table without header cells.
    let mut doc = Document::load_mem(&bytes).unwrap();
    let catalog = doc.catalog_mut().unwrap();
    for key in [&b"MarkInfo"[..], b"Lang", b"ViewerPreferences"] {
        catalog.remove(key);
    }
    let mut figure = false;
    for obj in doc.objects.values_mut() {
        if let Object::Dictionary(d) = obj {
            let role = d.get(b"S").and_then(Object::as_name).map(<[u8]>::to_vec);
            match role.as_deref() {
                Ok(b"Figure") if !figure => {
                    d.remove(b"Alt");
                    figure = true;
                }
                Ok(b"TH") => d.set("S", Object::Name(b"TD".to_vec())),
                _ => {}
            }
        }
    }
    assert!(figure, "the PDF has a figure to strip");
    let mut stripped = Vec::new();
    doc.save_to(&mut stripped).unwrap();
    let failures = check_pdf_ua(&stripped).failures.join("\n");
    for said in [
        "no /MarkInfo",
        "no /Lang",
        "DisplayDocTitle",
        "figure 1 has no /Alt",
        "table 1 has no header cell",
    ] {
        assert!(failures.contains(said), "{said:?} not in:\n{failures}");
    }
}

#[test]
fn the_spc_commands_chart_pdf_is_pdf_ua() {
    let p = TestProject::new();
    let mut csv = String::from("month,share\n");
    for (i, v) in [
        0.71, 0.69, 0.73, 0.70, 0.68, 0.72, 0.70, 0.69, 0.71, 0.70, 0.68, 0.69,
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("2021-{:02},{v}\n", i + 1));
    }
    p.write("ae.csv", &csv);
    let pdf = p.root().join("ae.pdf");
    let (code, _, stderr) = crate::support::boardpack(
        p.root(),
        &[
            "spc",
            p.root().join("ae.csv").to_str().unwrap(),
            "--value",
            "share",
            "--date",
            "month",
            "--percent",
            "--title",
            "A&E 4-hour",
            "--chart",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let c = check_pdf_ua(&std::fs::read(&pdf).unwrap());
    assert!(c.failures.is_empty(), "{:#?}", c.failures);
    assert_eq!(c.figures.len(), 1, "{:#?}", c.figures);
    assert!(c.title.is_some(), "no title");
}
