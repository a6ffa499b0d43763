//! Disclosure sweep of the board pack (issue 8): every table of the PDF that prints provider counts beside
//! the ICB's total — A&E trolley waits, ambulance handovers over 60 minutes, and each count metric's
//! exception report — is read back from the PDF text, and (1) no count from 1 to 4 prints as a number,
//! (2) when one cell of a group is suppressed, the total minus the visible cells does not give it (from
//! 1 to 4). The groups and their totals come from the published tables; the cells from the PDF.

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

/// Checks one group: every cell is printed safely, and the total does not reveal a single suppressed cell.
fn audit(what: &str, cells: &[(String, i64, Cell)], failures: &mut Vec<String>) {
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
    assert!(groups >= 3, "the sweep found its tables ({groups})");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
