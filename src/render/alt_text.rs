//! The alternative text of a chart: what a screen reader says in place of the picture (WCAG 2.1
//! "non-text content", required of every figure of a PDF/UA-1 document).
//!
//! Owns only the wording, from figures the chart functions of `super::template` already hold: the chart's
//! title, the range of its x axis, the latest value in the chart's unit, the target it is judged against
//! and, for SPC charts, the series' variation and assurance. It must not read data itself, and it never
//! prints a value the disclosure rule withholds: such a value is said to be suppressed.

use super::chart::ChartOptions;
use super::format;

/// The latest point of a series, as alt text may say it.
#[derive(Debug, Clone)]
pub enum Latest {
    /// A figure that may be printed, at its x label.
    Value { label: String, value: f64 },
    /// A count the disclosure rule withholds: its x label only.
    Suppressed { label: String },
}

/// A figure in the chart's unit: a ratio as a percentage when the chart is in percent, a percentage
/// with its sign, else the number with thousands separated (1 dp unless it is whole; three significant
/// figures below 1).
pub fn figure(value: f64, opts: &ChartOptions) -> String {
    if opts.percent {
        format::percent(value, 1)
    } else if opts.percentages {
        format!("{}%", format::thousands(value, 1))
    } else if value.fract() == 0.0 {
        format::thousands(value, 0)
    } else if value.abs() < 1.0 {
        // A rate per patient (0.0066) would read as 0.0 at one place: three significant figures.
        let places = (2 - value.abs().log10().floor() as i32).clamp(1, 8) as usize;
        let text = format::thousands(value, places);
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format::thousands(value, 1)
    }
}

/// What the chart is, first: its title, or its kind when it has none.
fn subject(kind: &str, opts: &ChartOptions) -> String {
    let title = opts.title.trim();
    if title.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {title}")
    }
}

/// A chart over time (line or SPC): "SPC chart: A&E 4-hour %, Apr-21 to Apr-22; latest Apr-22 68.7%
/// against a target of 95%; concern (low); consistently fails the target."
pub fn series(
    kind: &str,
    opts: &ChartOptions,
    labels: &[String],
    latest: &[(Option<String>, Latest)],
    target: Option<f64>,
    reading: &[&str],
) -> String {
    let mut parts = vec![subject(kind, opts)];
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        if first == last {
            parts[0] = format!("{}, {first}", parts[0]);
        } else {
            parts[0] = format!("{}, {first} to {last}", parts[0]);
        }
    }
    let latest: Vec<String> = latest
        .iter()
        .map(|(name, l)| {
            let name = name.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
            match l {
                Latest::Value { label, value } => {
                    format!("{name}{label} {}", figure(*value, opts))
                }
                Latest::Suppressed { label } => {
                    format!("{name}{label} suppressed (a small number)")
                }
            }
        })
        .collect();
    let mut latest = if latest.is_empty() {
        String::new()
    } else {
        format!("latest {}", latest.join(", "))
    };
    if let Some(t) = target {
        let t = format!("a target of {}", figure(t, opts));
        latest = if latest.is_empty() {
            t
        } else {
            format!("{latest} against {t}")
        };
    }
    if !latest.is_empty() {
        parts.push(latest);
    }
    parts.extend(
        reading
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.to_string()),
    );
    format!("{}.", parts.join("; "))
}

/// A chart of categories (bars, intervals, funnel points): how many, and the highest and lowest value
/// among those that may be printed; withheld ones are counted as suppressed.
pub fn categories(
    kind: &str,
    opts: &ChartOptions,
    values: &[(String, Option<f64>)],
    suppressed: usize,
    reference: Option<(&str, f64)>,
) -> String {
    let mut parts = vec![subject(kind, opts)];
    let shown: Vec<&(String, Option<f64>)> = values.iter().filter(|(_, v)| v.is_some()).collect();
    let mut count = format!(
        "{} {}",
        values.len(),
        if values.len() == 1 { "group" } else { "groups" }
    );
    if suppressed > 0 {
        count = format!("{count}, {suppressed} suppressed (small numbers)");
    }
    parts.push(count);
    let max = shown
        .iter()
        .filter_map(|(l, v)| v.map(|v| (l, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let min = shown
        .iter()
        .filter_map(|(l, v)| v.map(|v| (l, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some((hl, hv)), Some((ll, lv))) = (max, min) {
        if shown.len() > 1 {
            parts.push(format!(
                "highest {hl} {}, lowest {ll} {}",
                figure(hv, opts),
                figure(lv, opts)
            ));
        } else {
            parts.push(format!("{hl} {}", figure(hv, opts)));
        }
    }
    if let Some((name, r)) = reference {
        parts.push(format!("{name} {}", figure(r, opts)));
    }
    format!("{}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(title: &str) -> ChartOptions {
        ChartOptions {
            title: title.into(),
            percent: true,
            ..ChartOptions::default()
        }
    }

    #[test]
    fn an_spc_chart_says_its_range_latest_value_target_and_reading() {
        let labels: Vec<String> = vec!["Apr-21".into(), "May-21".into(), "Apr-22".into()];
        let latest = [(
            None,
            Latest::Value {
                label: "Apr-22".into(),
                value: 0.687,
            },
        )];
        let alt = series(
            "SPC chart",
            &percent("A&E 4-hour %"),
            &labels,
            &latest,
            Some(0.95),
            &["concern (low)", "consistently fails the target"],
        );
        assert_eq!(
            alt,
            "SPC chart: A&E 4-hour %, Apr-21 to Apr-22; latest Apr-22 68.7% against a target of 95.0%; \
             concern (low); consistently fails the target."
        );
    }

    #[test]
    fn a_suppressed_latest_value_is_named_suppressed_not_printed() {
        let labels: Vec<String> = vec!["Jan-24".into(), "Feb-24".into()];
        let latest = [(
            None,
            Latest::Suppressed {
                label: "Feb-24".into(),
            },
        )];
        let alt = series(
            "Line chart",
            &ChartOptions::default(),
            &labels,
            &latest,
            None,
            &[],
        );
        assert!(alt.contains("latest Feb-24 suppressed"), "{alt}");
    }

    #[test]
    fn a_small_rate_keeps_three_significant_figures() {
        let o = ChartOptions::default();
        assert_eq!(figure(0.006612, &o), "0.00661");
        assert_eq!(figure(0.5, &o), "0.5");
        assert_eq!(figure(1234.56, &o), "1,234.6");
        assert_eq!(figure(0.728, &percent("")), "72.8%");
    }

    #[test]
    fn categories_name_the_highest_and_lowest_and_count_the_suppressed() {
        let values = vec![
            ("A".to_string(), Some(12.0)),
            ("B".to_string(), Some(3.5)),
            ("C (*)".to_string(), None),
        ];
        let alt = categories("Bar chart", &ChartOptions::default(), &values, 1, None);
        assert_eq!(
            alt,
            "Bar chart; 3 groups, 1 suppressed (small numbers); highest A 12, lowest B 3.5."
        );
    }
}
