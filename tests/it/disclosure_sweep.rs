//! Disclosure sweep (issue 8) over every disclosure-controlled output of sample runs of the three shipped
//! pipelines. Each pipeline declares which outputs are released (its PDFs) and which stay restricted (its
//! tables); the run record says so per output and each PDF states it. Then the PDFs are read back:
//!
//! - the board pack: every table printing provider counts beside the ICB's total (A&E trolley waits,
//!   ambulance handovers over 60 minutes, each count metric's exception report, each cancer standard), the
//!   health-inequalities splits (records and events by group) and the waiting list by specialty;
//! - the primary-care dashboard: the PCN pages (incidents and complaints by practice, with the PCN total),
//!   every practice page (numerators and denominators), the outlier table, the funnel charts' labels;
//! - the carbon account: the only counts of events it prints (remote outpatient appointments per trust).
//!
//! For each: (1) no count from 1 to 4 prints as a number, (2) when one cell of a group is hidden, the
//! printed total minus the visible cells does not give it (from 1 to 4). Groups and totals come from the
//! published (restricted) tables; cells from the PDF text.

use serde_json::{Map, Value};

use crate::sample_pack::{shared_pack, table_rows};
use crate::support::pdf_text;

/// What the PDF prints for one provider's count.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Number(i64),
    Small,
    Withheld,
}

fn cell(token: &str) -> Option<Cell> {
    match token {
        "<5" => Some(Cell::Small),
        "*" => Some(Cell::Withheld),
        t => t.replace(',', "").parse().ok().map(Cell::Number),
    }
}

/// The token `skip` tokens after `label`'s first occurrence after `anchor` (whitespace-separated words).
fn token_after(text: &str, anchor: &str, label: &str, skip: usize) -> Option<String> {
    let start = text.find(anchor)? + anchor.len();
    let rest = &text[start..];
    let at = rest.find(&format!(" {label} "))? + 1;
    rest[at..].split_whitespace().nth(skip).map(str::to_string)
}

fn num(r: &Map<String, Value>, k: &str) -> i64 {
    r.get(k).and_then(Value::as_f64).unwrap_or(0.0).round() as i64
}

fn s<'a>(r: &'a Map<String, Value>, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

/// How many `<5` cells the sweeps have read (so that a sweep over data without small counts shows).
static SMALL_SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Checks one group: every cell is printed safely, and the total does not reveal a single suppressed cell.
fn audit(what: &str, cells: &[(String, i64, Cell)], failures: &mut Vec<String>) {
    for c in cells.iter().filter(|c| c.2 == Cell::Small) {
        SMALL_SEEN.lock().unwrap().push(format!("{what}: {}", c.0));
    }
    let total: i64 = cells.iter().map(|c| c.1).sum();
    for (label, value, shown) in cells {
        match shown {
            Cell::Number(n) if (1..=4).contains(n) => {
                failures.push(format!("{what}: {label} prints {n}, a count from 1 to 4"))
            }
            Cell::Number(n) if n != value => failures.push(format!(
                "{what}: {label} prints {n} but the table says {value}"
            )),
            Cell::Small if !(1..=4).contains(value) => {
                failures.push(format!("{what}: {label} prints <5 for {value}"))
            }
            _ => {}
        }
    }
    let hidden: Vec<&(String, i64, Cell)> = cells
        .iter()
        .filter(|c| !matches!(c.2, Cell::Number(_)))
        .collect();
    if hidden.len() == 1 {
        let visible: i64 = cells
            .iter()
            .filter_map(|c| match c.2 {
                Cell::Number(n) => Some(n),
                _ => None,
            })
            .sum();
        let derived = total - visible;
        if (1..=4).contains(&derived) {
            failures.push(format!(
                "{what}: the total {total} minus the visible cells ({visible}) reveals {} = {derived}",
                hidden[0].0
            ));
        }
    }
}

#[tokio::test]
async fn no_printed_total_reveals_a_small_count() {
    let (store, outcome) = shared_pack().await;
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    let period = "2022-04";
    let mut failures = Vec::new();
    let mut groups = 0;

    // A&E by provider: code, name words, attendances, within 4 hours, 4-hour %, trolley waits.
    let ae = table_rows(store.path(), outcome, "ae_provider_period");
    let icb = table_rows(store.path(), outcome, "ae_icb_month");
    let icb_trolleys = icb
        .iter()
        .find(|r| s(r, "month") == period)
        .map(|r| num(r, "trolley_waits_12h"))
        .expect("the ICB's April");
    assert_eq!(
        ae.iter().map(|r| num(r, "trolley_waits_12h")).sum::<i64>(),
        icb_trolleys,
        "the providers add up to the ICB's printed total"
    );
    let mut cells = Vec::new();
    for r in &ae {
        let skip = s(r, "provider_name").split_whitespace().count() + 4;
        let token = token_after(&text, "4-hour % Trolley waits", s(r, "provider"), skip)
            .unwrap_or_default();
        let shown = cell(&token)
            .unwrap_or_else(|| panic!("A&E {}: cell {token:?} is not a count", s(r, "provider")));
        cells.push((
            s(r, "provider").to_string(),
            num(r, "trolley_waits_12h"),
            shown,
        ));
    }
    audit("A&E trolley waits by provider", &cells, &mut failures);
    groups += 1;

    // Ambulance handovers by trust: trust, handovers, within 15, within 30, over 60.
    let amb = table_rows(store.path(), outcome, "amb_provider_month");
    let mut cells = Vec::new();
    for r in amb.iter().filter(|r| s(r, "month") == period) {
        let token = token_after(&text, "Within 30 min Over 60 min", s(r, "provider"), 4)
            .unwrap_or_default();
        let shown = cell(&token)
            .unwrap_or_else(|| panic!("ambulance {}: cell {token:?}", s(r, "provider")));
        cells.push((s(r, "provider").to_string(), num(r, "over_60"), shown));
    }
    audit("ambulance handovers over 60 minutes", &cells, &mut failures);
    groups += 1;

    // Each count metric's exception report: its providers' counts beside the ICB's figure.
    let metrics = crate::support::metric_list("config/board-pack/metrics.yaml", "id");
    let exceptions = table_rows(store.path(), outcome, "exceptions");
    let by_provider = table_rows(store.path(), outcome, "metric_provider_month");
    for e in &exceptions {
        let id = s(e, "metric_id");
        let Some(m) = metrics.iter().find(|m| s(m, "id") == id) else {
            continue;
        };
        let anchor = format!("{} (", s(m, "name"));
        if s(m, "kind").starts_with("ratio") {
            // "N / D pct": both counts protected together, the percentage only beside both.
            let (mut nums, mut dens) = (Vec::new(), Vec::new());
            for r in by_provider
                .iter()
                .filter(|r| s(r, "metric_id") == id && s(r, "month") == period)
            {
                let p = s(r, "provider");
                let (Some(n), Some(slash), Some(d), Some(pct)) = (
                    token_after(&text, &anchor, p, 1),
                    token_after(&text, &anchor, p, 2),
                    token_after(&text, &anchor, p, 3),
                    token_after(&text, &anchor, p, 4),
                ) else {
                    continue;
                };
                if slash != "/" {
                    continue;
                }
                let (Some(nc), Some(dc)) = (cell(&n), cell(&d)) else {
                    failures.push(format!("exception report {id}: {p} prints {n:?} / {d:?}"));
                    continue;
                };
                if (nc == Cell::Small
                    || dc == Cell::Small
                    || nc == Cell::Withheld
                    || dc == Cell::Withheld)
                    && pct != "*"
                {
                    failures.push(format!(
                        "exception report {id}: {p} prints {pct} beside a hidden count"
                    ));
                }
                nums.push((p.to_string(), num(r, "numerator"), nc));
                dens.push((p.to_string(), num(r, "denominator"), dc));
            }
            if !nums.is_empty() {
                audit(
                    &format!("exception report {id} (numerators)"),
                    &nums,
                    &mut failures,
                );
                audit(
                    &format!("exception report {id} (denominators)"),
                    &dens,
                    &mut failures,
                );
                groups += 1;
            }
            continue;
        }
        let mut cells = Vec::new();
        for r in by_provider
            .iter()
            .filter(|r| s(r, "metric_id") == id && s(r, "month") == period)
        {
            let Some(token) = token_after(&text, &anchor, s(r, "provider"), 1) else {
                continue;
            };
            if let Some(shown) = cell(&token) {
                cells.push((s(r, "provider").to_string(), num(r, "numerator"), shown));
            }
        }
        if !cells.is_empty() {
            audit(&format!("exception report {id}"), &cells, &mut failures);
            groups += 1;
        }
    }
    // Each cancer standard: the providers' counts beside the ICB's (count standards), and the ICB's
    // "within / total" (ratio standards).
    let cancer_from = text
        .find(&format!("Every cancer standard, {}", "Apr-22"))
        .expect("the cancer table");
    let cancer_to = cancer_from + text[cancer_from..].find("Source:").unwrap_or(0);
    let cancer = &text[cancer_from..cancer_to];
    let metric_month = table_rows(store.path(), outcome, "metric_month");
    let ca_metrics: Vec<&Map<String, Value>> = metrics
        .iter()
        .filter(|m| s(m, "area") == "Cancer")
        .collect();
    let ca_providers: std::collections::BTreeSet<&str> = by_provider
        .iter()
        .filter(|r| ca_metrics.iter().any(|m| s(m, "id") == s(r, "metric_id")))
        .map(|r| s(r, "provider"))
        .collect();
    for (k, m) in ca_metrics.iter().enumerate() {
        let name = s(m, "name");
        let Some(at) = cancer.find(&format!("{name} ")) else {
            failures.push(format!("cancer: `{name}` not found"));
            continue;
        };
        let end = ca_metrics
            .get(k + 1)
            .and_then(|n| cancer[at..].find(&format!("{} ", s(n, "name"))))
            .map(|e| at + e)
            .unwrap_or(cancer.len());
        let row: Vec<&str> = cancer[at + name.len()..end].split_whitespace().collect();
        let id = s(m, "id");
        if s(m, "kind").starts_with("ratio") {
            // "N / D": neither a count from 1 to 4.
            for w in row.windows(3).filter(|w| w[1] == "/") {
                for t in [w[0], w[2]] {
                    if let Some(n) = integer(t).filter(|n| (1..=4).contains(n)) {
                        failures.push(format!("cancer {id}: the ICB's within / total prints {n}"));
                    }
                }
            }
            groups += 1;
            continue;
        }
        let mine: Vec<&Map<String, Value>> = by_provider
            .iter()
            .filter(|r| s(r, "metric_id") == id && s(r, "month") == period)
            .collect();
        let shown = &row[row.len().saturating_sub(ca_providers.len())..];
        let mut cells = Vec::new();
        for (p, token) in ca_providers.iter().zip(shown) {
            let Some(r) = mine.iter().find(|r| s(r, "provider") == *p) else {
                continue;
            };
            match cell(token) {
                Some(c) => cells.push((p.to_string(), num(r, "numerator"), c)),
                None => failures.push(format!("cancer {id}: {p} prints {token:?}")),
            }
        }
        let _ = &metric_month;
        audit(&format!("cancer standard {id}"), &cells, &mut failures);
        groups += 1;
    }

    // Health inequalities: each metric's split by each dimension prints records (or patients) and events
    // per group; the split adds up to the whole.
    let split: Vec<Map<String, Value>> = table_rows(store.path(), outcome, "inequality_split")
        .into_iter()
        .filter(|r| s(r, "month") == period)
        .collect();
    let titles = [
        (
            "imd_quintile",
            "Deprivation (IMD 2019 quintile of the area of residence)",
        ),
        ("ethnic_group", "Ethnic group"),
        ("place", "Place of the registered practice"),
        ("plus_group", "PLUS groups"),
    ];
    let mut cursor = text.find("Health inequalities The Health").unwrap_or(0);
    let mut seen_metrics: Vec<&str> = Vec::new();
    for r in &split {
        if !seen_metrics.contains(&s(r, "metric_id")) {
            seen_metrics.push(s(r, "metric_id"));
        }
    }
    let mut split_groups = 0;
    for id in &seen_metrics {
        let rows: Vec<&Map<String, Value>> =
            split.iter().filter(|r| s(r, "metric_id") == *id).collect();
        let name = s(rows[0], "name");
        let Some(at) = text[cursor..].find(&format!("{name} ")).map(|a| cursor + a) else {
            failures.push(format!("inequalities: section `{name}` not found"));
            continue;
        };
        cursor = at;
        for (dim, title) in titles {
            let mine: Vec<&&Map<String, Value>> =
                rows.iter().filter(|r| s(r, "dimension") == dim).collect();
            if mine.is_empty() {
                continue;
            }
            let Some(t) = text[cursor..].find(&format!("{title} Group ")) else {
                failures.push(format!("inequalities {id}: table `{title}` not found"));
                continue;
            };
            let mut at = cursor + t;
            let (mut numerators, mut denominators) = (Vec::new(), Vec::new());
            for r in &mine {
                let label = s(r, "group_label");
                let Some(g) = text[at..].find(&format!(" {label} ")) else {
                    failures.push(format!(
                        "inequalities {id} {dim}: group `{label}` not found"
                    ));
                    continue;
                };
                at += g + label.len() + 2;
                let tokens: Vec<&str> = text[at..].split_whitespace().take(2).collect();
                for (token, k, out) in [
                    (tokens[0], "denominator", &mut denominators),
                    (tokens[1], "numerator", &mut numerators),
                ] {
                    match cell(token) {
                        Some(c) => out.push((label.to_string(), num(r, k), c)),
                        None => failures.push(format!(
                            "inequalities {id} {dim} {label}: {k} prints {token:?}"
                        )),
                    }
                }
            }
            audit(
                &format!("inequalities {id} by {dim}: events"),
                &numerators,
                &mut failures,
            );
            audit(
                &format!("inequalities {id} by {dim}: records"),
                &denominators,
                &mut failures,
            );
            cursor = at;
            split_groups += 2;
        }
    }
    assert!(
        split_groups >= 4,
        "the sweep found the inequality splits ({split_groups})"
    );
    groups += split_groups;

    // The waiting list by specialty: the pathways of each specialty (the quintiles print waits, not counts).
    let waits = table_rows(store.path(), outcome, "inequality_wait_specialty");
    let from = text
        .find("Specialty Pathways Q1 most deprived")
        .expect("the specialty table");
    let mut specialties: Vec<&str> = waits.iter().map(|r| s(r, "specialty")).collect();
    specialties.dedup();
    for sp in specialties {
        let total: i64 = waits
            .iter()
            .filter(|r| s(r, "specialty") == sp)
            .map(|r| num(r, "pathways"))
            .sum();
        let Some(token) = token_after(&text[from..], "", sp, sp.split_whitespace().count()) else {
            failures.push(format!("specialty `{sp}` not found"));
            continue;
        };
        audit(
            &format!("waiting list, {sp}"),
            &[(
                sp.to_string(),
                total,
                cell(&token).unwrap_or(Cell::Number(-1)),
            )],
            &mut failures,
        );
    }
    groups += 1;

    assert!(groups >= 3, "the sweep found its tables ({groups})");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let small = SMALL_SEEN.lock().unwrap().clone();
    eprintln!("board pack: {groups} groups swept; `<5` cells read: {small:?}");
}

/// A whole number as printed (`1,234`).
fn integer(token: &str) -> Option<i64> {
    let t = token.replace(',', "");
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// The primary-care dashboard for April 2022 on the sample data, every practice page printed; built once.
pub(crate) async fn primary_care_run()
-> &'static (tempfile::TempDir, boardpack::execute::RunOutcome) {
    static RUN: tokio::sync::OnceCell<(tempfile::TempDir, boardpack::execute::RunOutcome)> =
        tokio::sync::OnceCell::const_new();
    RUN.get_or_init(|| async {
        use boardpack::period::Month;
        let store = tempfile::tempdir().unwrap();
        let world = boardpack::world::World::open(
            &crate::support::repo(),
            Some(store.path().to_str().unwrap()),
        )
        .unwrap();
        let april = Month {
            year: 2022,
            month: 4,
        };
        let opts = boardpack::sample::SampleOptions {
            from: april,
            to: april,
            only: boardpack::sample::primary_care::input_names()
                .chain(["gp_appointments", "registered_population"])
                .map(str::to_string)
                .collect(),
            ..Default::default()
        };
        boardpack::sample::generate(&world.store, &opts, &|_| {})
            .await
            .unwrap();
        let outcome = crate::support::run_in(
            &world,
            "primary-care",
            &[("period", "2022-04"), ("practice_pages", "all")],
        )
        .await
        .expect("the dashboard builds");
        (store, outcome)
    })
    .await
}

/// The tokens of `text` from `from` to the first `to` after it (or the end).
fn between<'a>(text: &'a str, from: usize, to: &str) -> &'a str {
    let end = text[from..]
        .find(to)
        .map(|e| from + e)
        .unwrap_or(text.len());
    &text[from..end]
}

#[tokio::test]
async fn the_primary_care_dashboard_prints_no_small_count() {
    let (store, outcome) = primary_care_run().await;
    let text = pdf_text(&store.path().join(&outcome.reports()[0]));
    std::fs::write("/tmp/harden-primary-care.txt", &text).ok();
    let funnel = table_rows(store.path(), outcome, "practice_funnel");
    let rag = table_rows(store.path(), outcome, "practice_rag");
    let areas = table_rows(store.path(), outcome, "area_indicator");
    let indicators = crate::support::metric_list("config/primary-care/indicators.yaml", "id");
    let row = |code: &str, id: &str| {
        funnel
            .iter()
            .find(|r| s(r, "practice_code") == code && s(r, "indicator_id") == id)
    };
    let submitted =
        |r: &Map<String, Value>| r.get("submitted").and_then(Value::as_bool) == Some(true);
    let mut failures = Vec::new();
    let mut checked = 0;

    // PCN pages: each practice's incidents and complaints, and the PCN's totals.
    let mut pcns: Vec<&str> = rag.iter().map(|r| s(r, "pcn_code")).collect();
    pcns.sort();
    pcns.dedup();
    let first_pcn_page = text.find("PCN: ").expect("PCN pages");
    for pcn in &pcns {
        let practices: Vec<&Map<String, Value>> =
            rag.iter().filter(|r| s(r, "pcn_code") == *pcn).collect();
        let pcn_name = areas
            .iter()
            .find(|a| s(a, "area_code") == *pcn)
            .map(|a| s(a, "area_name"))
            .unwrap_or("");
        let Some(page) = text[first_pcn_page..]
            .find(&format!("PCN: {pcn_name} ("))
            .map(|p| first_pcn_page + p)
        else {
            failures.push(format!("PCN page of {pcn} not found"));
            continue;
        };
        let table = between(&text, page, "Source:");
        for (k, id) in [(0usize, "incidents"), (1, "complaints")] {
            let mut cells = Vec::new();
            for (i, p) in practices.iter().enumerate() {
                let code = s(p, "practice_code");
                // The code runs into the name in the text (a line break in the cell).
                let Some(at) = table.find(code) else {
                    failures.push(format!("{pcn}: practice {code} not in its PCN table"));
                    continue;
                };
                let end = practices
                    .get(i + 1)
                    .and_then(|n| table[at..].find(s(n, "practice_code")))
                    .map(|e| at + e)
                    .or_else(|| table[at..].find(" PCN ").map(|e| at + e))
                    .unwrap_or(table.len());
                // The row ends with incidents, complaints and the CQC rating (words).
                let mut tokens: Vec<&str> = table[at..end].split_whitespace().collect();
                while tokens
                    .last()
                    .is_some_and(|t| t.chars().all(char::is_alphabetic))
                {
                    tokens.pop();
                }
                let token = tokens[tokens.len() - 2 + k];
                let Some(r) = row(code, id) else { continue };
                if !submitted(r) {
                    continue;
                }
                match cell(token) {
                    Some(c) => cells.push((code.to_string(), num(r, "numerator"), c)),
                    None => failures.push(format!("{pcn} {code} {id}: prints {token:?}")),
                }
            }
            // The PCN total row: `PCN`, the PCN's rates, then the incidents and complaints totals.
            let total_row = table.rfind(" PCN ").map(|p| between(table, p, " ICB "));
            if let Some(total) = total_row {
                let tokens: Vec<&str> = total.split_whitespace().collect();
                let printed = tokens[tokens.len() - 2 + k];
                let sum: i64 = cells.iter().map(|c| c.1).sum();
                match (printed, integer(printed)) {
                    ("*", _) => {}
                    (_, Some(n)) if (1..=4).contains(&n) => failures.push(format!(
                        "{pcn} {id}: the PCN total prints {n}, a count from 1 to 4"
                    )),
                    (_, Some(n)) if n == sum => {}
                    _ => failures.push(format!("{pcn} {id}: the PCN total prints {printed:?}, the practices add up to {sum}")),
                }
                if printed == "*" {
                    // A withheld total reveals nothing: audit the cells alone.
                    for c in &cells {
                        if let Cell::Number(n) = c.2
                            && (1..=4).contains(&n)
                        {
                            failures.push(format!("{pcn} {id}: {} prints {n}", c.0));
                        }
                    }
                } else {
                    audit(&format!("{pcn} {id}"), &cells, &mut failures);
                }
            }
            checked += 1;
        }
    }

    // Every practice page: each counted indicator's numerator and denominator.
    let appendix = text
        .find("Appendix: practice profiles")
        .expect("the practice pages");
    let mut cursor = appendix;
    for p in &rag {
        let code = s(p, "practice_code");
        let Some(at) = text[cursor..]
            .find(&format!("{code} {}", s(p, "practice_name")))
            .map(|a| cursor + a)
        else {
            failures.push(format!("practice page of {code} not found"));
            continue;
        };
        cursor = at;
        let Some(head) = text[cursor..]
            .find("Indicator Numerator Denominator Practice ICB England")
            .map(|h| cursor + h)
        else {
            failures.push(format!("practice page of {code}: no indicator table"));
            continue;
        };
        cursor = head;
        for i in &indicators {
            let Some(at) = text[cursor..]
                .find(&format!(" {} ", s(i, "name")))
                .map(|a| cursor + a + s(i, "name").len() + 2)
            else {
                failures.push(format!(
                    "{code}: indicator `{}` not on its page",
                    s(i, "name")
                ));
                continue;
            };
            cursor = at;
            if s(i, "funnel") == "none" {
                continue;
            }
            let Some(r) = row(code, s(i, "id")) else {
                continue;
            };
            let tokens: Vec<&str> = text[at..].split_whitespace().take(2).collect();
            for (token, k) in [(tokens[0], "numerator"), (tokens[1], "denominator")] {
                let value = num(r, k);
                let ok = match cell(token) {
                    _ if !submitted(r) => token == "–",
                    Some(Cell::Number(n)) => n == value && !(1..=4).contains(&n),
                    Some(Cell::Small) => (1..=4).contains(&value),
                    Some(Cell::Withheld) => true,
                    None => false,
                };
                if !ok {
                    failures.push(format!(
                        "practice page {code}, {} {k}: prints {token:?} for {value}",
                        s(i, "id")
                    ));
                }
                if token == "<5" {
                    SMALL_SEEN
                        .lock()
                        .unwrap()
                        .push(format!("practice page {code} {} {k}", s(i, "id")));
                }
            }
        }
        checked += 1;
    }

    // The outlier table and the funnel charts: a practice whose counts are withheld shows neither a rate
    // nor a difference, and is not drawn or labelled.
    let hidden: Vec<(&str, &str)> = funnel
        .iter()
        .filter(|r| submitted(r) && s(r, "funnel") != "none")
        .filter(|r| {
            [num(r, "numerator"), num(r, "denominator")]
                .iter()
                .any(|n| (1..=4).contains(n))
        })
        .map(|r| (s(r, "practice_code"), s(r, "indicator_id")))
        .collect();
    let outliers = table_rows(store.path(), outcome, "outliers");
    let table = between(
        &text,
        text.find("Outliers: outside the 99.8% limit")
            .expect("the outlier table"),
        "Source:",
    );
    for o in &outliers {
        let (code, id) = (s(o, "practice_code"), s(o, "indicator_id"));
        if !hidden.contains(&(code, id)) {
            continue;
        }
        let at = table
            .find(&format!("{code} {}", s(o, "practice_name")))
            .and_then(|a| table[a..].find(s(o, "indicator_name")).map(|b| a + b));
        match at {
            Some(a) => {
                let tokens: Vec<&str> = table[a + s(o, "indicator_name").len()..]
                    .split_whitespace()
                    .take(4)
                    .collect();
                if !(matches!(tokens[0], "<5" | "*") && tokens[2] == "*" && tokens[3] == "*") {
                    failures.push(format!(
                        "outlier {code} {id} with a small count prints {tokens:?}"
                    ));
                }
            }
            None => failures.push(format!("outlier {code} {id} not in the outlier table")),
        }
        checked += 1;
    }
    // Chart text comes out letter by letter: compare without white space. The funnel pages are the ICB's
    // ("Funnel plots: every practice", up to the first Place) and each Place's (up to its first PCN page).
    let compact = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut funnel_pages = vec![between(
        &text,
        text.find("Funnel plots: every practice")
            .expect("the funnel plots"),
        "Place: ",
    )];
    let mut from = 0;
    while let Some(f) = text[from..].find("’s practices against the ICB") {
        funnel_pages.push(between(&text, from + f, "PCN: "));
        from += f + "’s practices against the ICB".len();
    }
    // Every label on a key indicator's chart is a practice whose counts are printed.
    let mut labels_checked = 0;
    for page in funnel_pages.iter().map(|p| compact(p)) {
        for i in indicators
            .iter()
            .filter(|i| i.get("key") == Some(&Value::Bool(true)))
        {
            let (id, name) = (s(i, "id"), compact(s(i, "name")));
            let mut at = 0;
            while let Some(t) = page[at..].find(&name) {
                // A chart's labels follow its title, up to the next title or source line.
                let chart = between(&page, at + t + name.len(), "Source:");
                let chart = indicators
                    .iter()
                    .filter_map(|o| chart.find(&compact(s(o, "name"))))
                    .min()
                    .map_or(chart, |e| &chart[..e]);
                for p in &rag {
                    let code = s(p, "practice_code");
                    if !chart.contains(code) {
                        continue;
                    }
                    labels_checked += 1;
                    let drawable = row(code, id).is_some_and(|r| {
                        submitted(r)
                            && !(1..=4).contains(&num(r, "numerator"))
                            && !(1..=4).contains(&num(r, "denominator"))
                    });
                    if !drawable || hidden.contains(&(code, id)) {
                        failures.push(format!(
                            "funnel chart `{id}` labels {code}, whose counts are withheld or missing"
                        ));
                    }
                }
                at += t + name.len();
            }
        }
    }
    assert!(labels_checked > 0, "the funnel charts' labels were read");
    eprintln!(
        "primary care: {checked} tables and pages swept, {} practice-indicators with a small count, {labels_checked} chart label sets checked",
        hidden.len()
    );

    assert!(
        checked > 100,
        "the sweep found the dashboard's tables ({checked})"
    );
    assert!(!hidden.is_empty(), "the sample has small counts to protect");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The carbon account for 2022-23 Q1 on the sample data (its inputs and April–June 2022's outpatients).
/// Built once and shared (this module's sweep, `accessibility` and `metric_registry` read it).
pub(crate) async fn carbon_run() -> &'static (tempfile::TempDir, boardpack::execute::RunOutcome) {
    static RUN: tokio::sync::OnceCell<(tempfile::TempDir, boardpack::execute::RunOutcome)> =
        tokio::sync::OnceCell::const_new();
    RUN.get_or_init(build_carbon_run).await
}

async fn build_carbon_run() -> (tempfile::TempDir, boardpack::execute::RunOutcome) {
    use boardpack::period::Month;
    let store = tempfile::tempdir().unwrap();
    let world = boardpack::world::World::open(
        &crate::support::repo(),
        Some(store.path().to_str().unwrap()),
    )
    .unwrap();
    let month = |m| Month {
        year: 2022,
        month: m,
    };
    let opts = boardpack::sample::SampleOptions {
        from: month(4),
        to: month(6),
        only: boardpack::sample::carbon::input_names()
            .chain(["op_attendances"])
            .map(str::to_string)
            .collect(),
        only_months: vec![(
            "op_attendances".to_string(),
            vec![month(4), month(5), month(6)],
        )],
        ..Default::default()
    };
    boardpack::sample::generate(&world.store, &opts, &|_| {})
        .await
        .unwrap();
    let outcome = crate::support::run_in(&world, "carbon-account", &[("period", "2022-23-Q1")])
        .await
        .expect("the carbon account builds");
    (store, outcome)
}

/// Every output of a run is in its record's `disclosure`: PDFs controlled under `1-4`, tables restricted;
/// the PDF states it. Returns the PDF's text.
fn declared_and_stated(
    what: &str,
    store: &std::path::Path,
    outcome: &boardpack::execute::RunOutcome,
) -> String {
    let record: boardpack::record::RunRecord =
        serde_json::from_slice(&std::fs::read(store.join(&outcome.record_path)).unwrap()).unwrap();
    assert_eq!(
        record.disclosure.len(),
        record.outputs.len(),
        "{what}: {:?}",
        record.disclosure
    );
    for (o, d) in record.outputs.iter().zip(&record.disclosure) {
        assert_eq!(o.path, d.path);
        if o.path.ends_with(".pdf") {
            assert_eq!(
                (d.class.as_str(), d.suppress.as_deref()),
                ("controlled", Some("1-4")),
                "{what}: {d:?}"
            );
        } else {
            assert!(o.path.contains("/tables/"), "{what}: {}", o.path);
            assert_eq!(
                (d.class.as_str(), d.suppress.as_deref()),
                ("restricted", None),
                "{what}: {d:?}"
            );
        }
    }
    assert!(
        record.disclosure.iter().any(|d| d.class == "restricted"),
        "{what}"
    );
    let text = pdf_text(&store.join(&outcome.reports()[0]));
    for said in [
        "This report is released beyond the organisation and is under small-number suppression: counts of people or events from 1 to 4 print as <5",
        "are restricted: they hold the raw counts by design and are kept on the store for audit and boardpack verify , never released.",
    ] {
        assert!(text.contains(said), "{what}: {said:?} not in the appendix");
    }
    text
}

#[tokio::test]
async fn every_output_of_the_three_pipelines_is_declared_recorded_and_stated() {
    let (store, outcome) = shared_pack().await;
    declared_and_stated("board pack", store.path(), outcome);
    let (store, outcome) = primary_care_run().await;
    declared_and_stated("primary care", store.path(), outcome);

    // The carbon account declares that it prints no count of people, and says why; its only counts of
    // events (remote outpatient appointments per trust) pass through the rule.
    let (store, outcome) = carbon_run().await;
    let text = declared_and_stated("carbon account", store.path(), outcome);
    assert!(
        text.contains("This pipeline publishes no counts of people: No count of people: it reports tonnes of CO2e"),
        "the carbon account says why it has no person counts"
    );
    let op = table_rows(store.path(), outcome, "kpi_outpatients");
    let mut failures = Vec::new();
    let mut seen = 0;
    for r in op.iter().filter(|r| s(r, "org_code") != "All trusts") {
        let anchor = format!(" {} ", s(r, "org_code"));
        let Some(at) = text
            .find("Outpatient appointments attended remotely")
            .and_then(|a| text[a..].find(&anchor).map(|b| a + b + anchor.len()))
        else {
            failures.push(format!(
                "remote outpatients of {} not found",
                s(r, "org_code")
            ));
            continue;
        };
        // "RXX 12.3% (1,234 of 10,000)"
        let tokens: Vec<&str> = text[at..].split_whitespace().take(4).collect();
        let remote = tokens[1].trim_start_matches('(');
        let attended = tokens[3].trim_end_matches([')', ';', '.']);
        for (token, k) in [(remote, "remote"), (attended, "attended")] {
            let value = num(r, k);
            let ok = match cell(token) {
                Some(Cell::Number(n)) => n == value && !(1..=4).contains(&n),
                Some(Cell::Small) => (1..=4).contains(&value),
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "remote outpatients {}: {k} prints {token:?} for {value}",
                    s(r, "org_code")
                ));
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "the carbon account's counts were read");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_disclosure_declaration_is_validated_with_its_place() {
    let p = crate::support::TestProject::new();
    p.write("sql/d/t.sql", "SELECT 1 AS n")
        .write("reports/d/r.typ.j2", "x")
        .write(
            "pipelines/d.yaml",
            "name: d
disclosure:
  suppress: 1-9
  controlled:
    reports: [t, nowhere]
    tables: { r: [] }
  restricted: everything
  person_counts: false
parameters:
  period: { type: period }
inputs: {}
steps:
  - id: t
    sql: d/t.sql
  - id: r
    report: d/r.typ.j2
    uses: [t]
",
        );
    let text = boardpack::plan::load_named(&p.world().project, "d")
        .expect_err("a bad declaration")
        .to_string();
    for expected in [
        "pipelines/d.yaml:3:13: disclosure: `suppress: 1-9` is not a rule set boardpack knows: write `1-4` or `nhs-hes`",
        "pipelines/d.yaml:5:15: disclosure: `t` is not a report step",
        "pipelines/d.yaml:5:18: disclosure: unknown step `nowhere`",
        "pipelines/d.yaml:5:14: disclosure: report `r` is not in `controlled.reports`",
        "pipelines/d.yaml:6:18: disclosure: `controlled.tables` names `r`, which is not a sql step",
        "pipelines/d.yaml:6:18: disclosure: released table `r` lists no count columns",
        "pipelines/d.yaml:7:15: disclosure: `restricted: everything`: write `restricted: tables`",
        "pipelines/d.yaml:8:18: disclosure: `person_counts: false` needs a `note`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_released_table_is_held_to_the_rule_and_recorded_controlled() {
    let p = crate::support::TestProject::new();
    p.write("config/counts.csv", "practice,n\nA,12\nB,3\nC,0\nD,40\n")
        .write(
            "sql/r/released.sql",
            "SELECT practice, n FROM counts ORDER BY practice",
        )
        .write(
            "sql/r/kept.sql",
            "SELECT practice, n FROM counts ORDER BY practice",
        )
        .write(
            "reports/r/r.typ.j2",
            "{% for r in tables.released %}{{ r.practice }} {{ r.n | suppress }} {% endfor %}",
        )
        .write(
            "pipelines/r.yaml",
            "name: r
disclosure:
  suppress: 1-4
  controlled:
    reports: [report]
    tables: { released: [n] }
  restricted: tables
parameters:
  period: { type: period }
inputs: {}
seeds:
  counts: counts.csv
steps:
  - id: released
    sql: r/released.sql
  - id: kept
    sql: r/kept.sql
  - id: report
    report: r/r.typ.j2
    uses: [released, kept]
",
        );
    // B's 3 would leave the organisation in the released table: the step fails, naming the column.
    let failure = crate::support::run_period(&p, "r", "2022-04")
        .await
        .expect_err("a released table with a count from 1 to 4");
    assert!(
        failure.message.contains(
            "released table `released` (disclosure: controlled) has 1 row(s) with a `n` from 1 to 4"
        ),
        "{}",
        failure.message
    );
    // Suppressed in its SQL (a small count becomes a gap), it is released; the restricted one keeps it.
    p.write(
        "sql/r/released.sql",
        "SELECT practice, CASE WHEN n BETWEEN 1 AND 4 THEN NULL ELSE n END AS n FROM counts ORDER BY practice",
    );
    let outcome = crate::support::run_period(&p, "r", "2022-04")
        .await
        .expect("the released table is suppressed");
    let record: boardpack::record::RunRecord =
        serde_json::from_slice(&std::fs::read(p.store_file(&outcome.record_path)).unwrap())
            .unwrap();
    let class = |name: &str| {
        record
            .disclosure
            .iter()
            .find(|d| d.path.ends_with(name))
            .map(|d| d.class.clone())
            .unwrap_or_default()
    };
    assert_eq!(class("/tables/released.parquet"), "controlled");
    assert_eq!(class("/tables/kept.parquet"), "restricted");
    assert_eq!(class("/reports/report.pdf"), "controlled");
    // The sweep of the released table itself: no count from 1 to 4 in its declared column.
    let released = table_rows(p.store_file("").as_path(), &outcome, "released");
    assert!(
        released
            .iter()
            .all(|r| !(1..=4).contains(&r.get("n").and_then(Value::as_i64).unwrap_or(0))),
        "{released:?}"
    );
    let kept = table_rows(p.store_file("").as_path(), &outcome, "kept");
    assert!(
        kept.iter()
            .any(|r| r.get("n").and_then(Value::as_i64) == Some(3))
    );
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(
        text.contains("except released , which are released under the same rule")
            || text.contains("except released, which are released under the same rule"),
        "{text}"
    );
}

/// The rates a text prints beside a suppressed count: in `N / D R%` (a count over its total, then the
/// rate) and `R% (N of D)` forms, a rate whose `N` or `D` is `<5` or `*`. Returns (rates read, rates
/// beside a suppressed count).
fn rates_beside_suppressed(text: &str) -> (usize, Vec<String>) {
    let t: Vec<&str> = text.split_whitespace().collect();
    let hidden = |s: &str| matches!(s.trim_matches(|c| "(),.;".contains(c)), "<5" | "*");
    let count = |s: &str| {
        let s = s.trim_matches(|c| "(),.;".contains(c));
        hidden(s) || (!s.is_empty() && s.replace(',', "").bytes().all(|b| b.is_ascii_digit()))
    };
    let rate = |s: &str| {
        let s = s.trim_matches(|c| "(),.;".contains(c));
        s.strip_suffix('%')
            .is_some_and(|n| n.parse::<f64>().is_ok())
    };
    let (mut read, mut found) = (0, Vec::new());
    for i in 0..t.len() {
        // `N / D R%`
        if i + 3 < t.len() && t[i + 1] == "/" && count(t[i]) && count(t[i + 2]) && rate(t[i + 3]) {
            read += 1;
            if hidden(t[i]) || hidden(t[i + 2]) {
                found.push(t[i.saturating_sub(3)..=i + 3].join(" "));
            }
        }
        // `R% (N of D)`
        if i + 3 < t.len() && rate(t[i]) && t[i + 1].starts_with('(') && t[i + 2] == "of" {
            read += 1;
            if hidden(t[i + 1]) || hidden(t[i + 3]) {
                found.push(t[i.saturating_sub(2)..=i + 3].join(" "));
            }
        }
    }
    (read, found)
}

#[test]
fn the_rate_reader_finds_a_rate_beside_a_suppressed_count() {
    let (read, found) =
        rates_beside_suppressed("GEH <5 / 8 37.5% SWFT 10 / 17 58.8% RKB 40.0% (<5 of 5).");
    assert_eq!(read, 3);
    assert_eq!(found.len(), 2, "{found:?}");
    let (read, found) = rates_beside_suppressed("GEH <5 / 8 * SWFT 10 / 17 58.8% RKB * (<5 of 5).");
    assert_eq!((read, found.len()), (1, 0), "{found:?}");
}

#[tokio::test]
async fn no_rate_is_printed_beside_a_suppressed_count_in_the_pack_or_the_dashboard() {
    // The differencing attack by percentage: a rate beside a `<5` (or `*`) count gives the count back
    // (33.3% of a `<5` is 1 of 3). Every PDF of the board pack and of the primary-care run is read.
    let (store, outcome) = shared_pack().await;
    let mut pdfs: Vec<std::path::PathBuf> = outcome
        .reports()
        .iter()
        .map(|r| store.path().join(r))
        .collect();
    let (store, outcome) = primary_care_run().await;
    pdfs.extend(outcome.reports().iter().map(|r| store.path().join(r)));
    let (mut read, mut found) = (0, Vec::new());
    for pdf in &pdfs {
        let (r, f) = rates_beside_suppressed(&pdf_text(pdf));
        read += r;
        found.extend(f.into_iter().map(|f| format!("{}: {f}", pdf.display())));
    }
    eprintln!(
        "rates read beside their counts: {read} in {} PDFs; beside a suppressed count: {}",
        pdfs.len(),
        found.len()
    );
    assert!(
        read > 20,
        "the sweep read only {read} rates: it reads nothing"
    );
    assert!(
        found.is_empty(),
        "{} rate(s) beside a suppressed count:\n{}",
        found.len(),
        found.join("\n")
    );
}
