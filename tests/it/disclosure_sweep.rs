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
    let metrics: Vec<Map<String, Value>> = serde_yaml::from_str(
        &std::fs::read_to_string(crate::support::repo().join("config/board-pack/metrics.yaml"))
            .unwrap(),
    )
    .unwrap();
    let exceptions = table_rows(store.path(), outcome, "exceptions");
    let by_provider = table_rows(store.path(), outcome, "metric_provider_month");
    for e in &exceptions {
        let id = s(e, "metric_id");
        let Some(m) = metrics.iter().find(|m| s(m, "id") == id) else {
            continue;
        };
        if s(m, "kind").starts_with("ratio") {
            continue;
        }
        let anchor = format!("{} (", s(m, "name"));
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
