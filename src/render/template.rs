//! The template environment: minijinja over `reports/`, with auto-escaping for Typst, the number formats
//! of `format`, and chart and SPC functions that turn rows into embedded SVG.
//!
//! Every `{{ value }}` in a `.typ.j2` template is escaped for Typst markup unless marked `|safe`; a gap
//! (`none`) prints as `N/A`. Undefined names are errors, so a template cannot silently print nothing; a
//! column or table a template names that its data does not have is an error too (`data`), in the
//! template, in every chart and in the filters that read a column (`selectattr`, `map`, `sort`, …), and a
//! chart with nothing to draw fails unless the template writes `allow_empty=true`.
//!
//! `validate` renders with this same environment in `Mode::Synthetic` (`render::check_names`).
//!
//! `check` compiles a template and every template it includes, imports or extends with this same
//! environment, so that `validate` (and every plan load) refuses what rendering would refuse: a syntax
//! error at its line and column, an include of a template that does not exist.

use std::sync::Arc;

use std::borrow::Cow;

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

use super::Generated;
use super::alt_text;
use super::chart::{self, ChartOptions};
use super::data;
use super::format::{self, NOT_AVAILABLE};
use crate::diagnostic::{Diagnostic, Location};
use crate::period::Month;
use crate::spc::{self, Improvement};
use crate::world::Project;

const TYPST: AutoEscape = AutoEscape::Custom("typst");

/// Compiles `template` (relative to the project: `reports/board-pack/pack.typ.j2`) and, transitively, the
/// templates it names in `{% include %}`, `{% import %}`, `{% from %}` and `{% extends %}`, with the
/// environment reports are rendered with. Returns every syntax error (at the template's line and column)
/// and every named template that does not exist (at the tag naming it). A missing `template` itself is
/// not reported here: the plan names the step that wants it.
pub fn check(project: Arc<Project>, template: &str) -> Vec<Diagnostic> {
    let env = environment(project, Generated::default());
    let mut out = Vec::new();
    let root = template
        .strip_prefix("reports/")
        .unwrap_or(template)
        .to_string();
    let mut queue = vec![root];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let source = match env.get_template(&name) {
            Ok(t) => t.source().to_string(),
            Err(e) if e.kind() == ErrorKind::TemplateNotFound => continue,
            // What it includes is still checked: every error in one pass.
            Err(e) => {
                out.push(diagnostic(&name, &e));
                match e.template_source() {
                    Some(source) => source.to_string(),
                    None => continue,
                }
            }
        };
        for r in references(&source) {
            let found = r
                .names
                .iter()
                .find(|n| !matches!(env.get_template(n), Err(e) if e.kind() == ErrorKind::TemplateNotFound));
            match found {
                Some(n) => queue.push(n.clone()),
                None if r.optional => {}
                None => out.push(Diagnostic::at(
                    Location {
                        file: format!("reports/{name}").into(),
                        line: r.line,
                        column: r.column,
                    },
                    format!(
                        "`{{% {} %}}` names `{}`, which does not exist under reports/",
                        r.tag,
                        r.names.join("`, `")
                    ),
                )),
            }
        }
    }
    out
}

/// An error of template `name` (or of the template it names, an include) at its line and column (from
/// minijinja's span when it has one): a compile error, or a wrong name a render met.
pub(super) fn diagnostic(name: &str, e: &Error) -> Diagnostic {
    let file = format!("reports/{}", e.name().unwrap_or(name));
    let message = match (e.kind(), e.detail()) {
        // The errors of charts and data lookups say what they are (`line_chart: table …`).
        (ErrorKind::InvalidOperation, Some(d)) => d.to_string(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    match e.line() {
        Some(line) => {
            let column = e
                .range()
                .zip(e.template_source())
                .and_then(|(r, src)| {
                    let before = src.get(..r.start)?;
                    Some(before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1)
                })
                .unwrap_or(1);
            Diagnostic::at(
                Location {
                    file: file.into(),
                    line,
                    column,
                },
                message,
            )
        }
        None => Diagnostic::in_file(file, message),
    }
}

/// A tag that names other templates: `{% include "_lib/x.typ.j2" %}`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reference {
    /// `include`, `import`, `from` or `extends`.
    pub tag: String,
    /// The names written as string literals (an include may list several: the first that exists is used).
    pub names: Vec<String>,
    /// `ignore missing`.
    pub optional: bool,
    /// Where the tag starts (1-based).
    pub line: usize,
    pub column: usize,
}

/// The byte ranges of a template's tags, comments and expressions, in order, as (start, end, kind) with
/// kind `%`, `#` or `{`. Text between them, and inside `{% raw %}`, is the template's literal text.
pub(super) fn tags(source: &str) -> Vec<(usize, usize, char)> {
    let mut out = Vec::new();
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut in_raw = false;
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' || !matches!(bytes[i + 1], b'%' | b'{' | b'#') {
            i += 1;
            continue;
        }
        let kind = bytes[i + 1] as char;
        let close = match kind {
            '%' => "%}",
            '#' => "#}",
            _ => "}}",
        };
        let end = match source[i + 2..].find(close) {
            Some(at) => i + 2 + at + 2,
            None => source.len(),
        };
        let first = tag_words(&source[i..end]).into_iter().next();
        if in_raw {
            // Inside `{% raw %}` everything up to `{% endraw %}` is text.
            if kind == '%' && first.as_deref() == Some("endraw") {
                in_raw = false;
                out.push((i, end, kind));
                i = end;
            } else {
                i += 1;
            }
            continue;
        }
        if kind == '%' && first.as_deref() == Some("raw") {
            in_raw = true;
        }
        out.push((i, end, kind));
        i = end;
    }
    out
}

/// The words of a tag's text without its delimiters and whitespace control (`{%- include "x" -%}`).
fn tag_words(tag: &str) -> Vec<String> {
    let inner = tag.get(2..tag.len().saturating_sub(2)).unwrap_or("");
    inner
        .trim_matches(|c: char| c == '-' || c == '+' || c == '~' || c.is_whitespace())
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The tags of `source` that name other templates by string literal. A name computed at render time
/// (`{% include page %}`) cannot be checked before the run and is left out.
pub(super) fn references(source: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for (start, end, kind) in tags(source) {
        if kind != '%' {
            continue;
        }
        let text = &source[start..end];
        let words = tag_words(text);
        let Some(tag) = words
            .first()
            .filter(|w| matches!(w.as_str(), "include" | "import" | "from" | "extends"))
        else {
            continue;
        };
        // The string literals up to the first word that ends the names (`as`, `import`, `with`, `ignore`).
        let body = text.get(2..text.len().saturating_sub(2)).unwrap_or("");
        let after = body.find(tag.as_str()).map(|i| i + tag.len()).unwrap_or(0);
        let names = string_literals(&body[after..]);
        if names.is_empty() {
            continue;
        }
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        out.push(Reference {
            tag: tag.clone(),
            optional: words
                .windows(2)
                .any(|w| w[0] == "ignore" && w[1] == "missing"),
            names,
            line,
            column,
        });
    }
    out
}

/// The quoted strings of a tag's arguments before its first bare word (`"a.j2" as x`, `["a", "b"]`);
/// none when the name is an expression (`"pages/" ~ name`), which only the render can evaluate.
fn string_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                let mut value = String::new();
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        value.push(d);
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    } else {
                        value.push(d);
                    }
                }
                out.push(value);
            }
            '[' | ']' | ',' => {}
            c if c.is_whitespace() => {}
            // A bare word (`as`, `import`, `ignore`, `with`) ends the names; anything else makes them an
            // expression.
            _ => {
                let word = text[at..].split_whitespace().next().unwrap_or("");
                if !matches!(word, "as" | "import" | "ignore" | "with" | "without") {
                    return Vec::new();
                }
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_outside_raw_blocks_and_comments() {
        let src = "a\n{% include \"_lib/x.typ.j2\" %}\n{# {% include \"no.j2\" %} #}\n\
                   {% raw %}{% include \"raw.j2\" %}{% endraw %}\n  {%- from 'm.j2' import f -%}\n\
                   {% include [\"a.j2\", \"b.j2\"] ignore missing %}{% include \"p/\" ~ name %}";
        let refs = references(src);
        let names: Vec<(&str, Vec<String>, usize, usize, bool)> = refs
            .iter()
            .map(|r| {
                (
                    r.tag.as_str(),
                    r.names.clone(),
                    r.line,
                    r.column,
                    r.optional,
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("include", vec!["_lib/x.typ.j2".to_string()], 2, 1, false),
                ("from", vec!["m.j2".to_string()], 5, 3, false),
                (
                    "include",
                    vec!["a.j2".to_string(), "b.j2".to_string()],
                    6,
                    1,
                    true
                ),
            ]
        );
    }
}

/// What a rendering is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A report of a run.
    Report,
    /// `validate`'s rendering against synthetic rows (`check_names`): a template's filters select
    /// nothing of rows they cannot match, so a chart of no rows is drawn as if the template allowed it,
    /// and the render goes on to check the names after it. Every other rule is the run's.
    Synthetic,
}

/// The environment for one report rendering; charts it draws are added to `generated`.
pub fn environment(project: Arc<Project>, generated: Generated) -> Environment<'static> {
    environment_for(project, generated, Mode::Report)
}

/// `environment`, for a rendering of `mode`.
pub fn environment_for(
    project: Arc<Project>,
    generated: Generated,
    mode: Mode,
) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_loader(
        move |name| match project.read_to_string(&format!("reports/{name}")) {
            Ok(text) => Ok(Some(text)),
            Err(crate::world::ProjectError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot read template `{name}`"),
            )
            .with_source(e)),
        },
    );
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".typ.j2") || name.ends_with(".typ") {
            TYPST
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == TYPST {
            if value.is_safe() {
                write!(out, "{value}")?;
            } else if value.is_none() || value.is_undefined() {
                out.write_str(NOT_AVAILABLE)?;
            } else {
                out.write_str(&format::escape_markup(&value.to_string()))?;
            }
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });

    env.add_filter("pct", |v: Value, dp: Option<usize>| {
        formatted(&v, |x| format::percent(x, dp.unwrap_or(1)))
    });
    env.add_filter("num", |v: Value, dp: Option<usize>| {
        formatted(&v, |x| format::thousands(x, dp.unwrap_or(0)))
    });
    env.add_filter("count", |v: Value| {
        formatted(&v, |x| format::thousands(x, 0))
    });
    env.add_filter("suppress", |v: Value| {
        formatted(&v, format::suppressed_count)
    });
    env.add_filter("money", |v: Value| formatted(&v, format::money_thousands));
    env.add_filter("signed", |v: Value, dp: Option<usize>| {
        formatted(&v, |x| format::signed(x, dp.unwrap_or(1)))
    });
    // A difference of two ratios in percentage points: 0.032 → +3.2pp.
    env.add_filter("pp", |v: Value, dp: Option<usize>| {
        formatted(&v, |x| {
            format!("{}pp", format::signed(x * 100.0, dp.unwrap_or(1)))
        })
    });
    env.add_filter("typst_str", |v: Value| {
        Value::from_safe_string(format::string_literal(&v.to_string()))
    });
    env.add_filter("month_label", |v: Value| {
        month_label(&v.to_string()).unwrap_or_else(|| v.to_string())
    });
    env.add_filter("index_by", index_by);
    // An SPC step's icon codes (`concern_high`, `consistently_fails`; `crate::spc_sql`) in a board
    // member's words; a series without a judgement is "no data" / "no target".
    // (`validate`'s synthetic rows hold `x`: worded as it is, so that the render goes on to check names.)
    let lenient = mode == Mode::Synthetic;
    env.add_filter("variation_text", move |v: Value| {
        spc_words(
            &v,
            "variation",
            "no data",
            spc::Variation::describe,
            lenient,
        )
    });
    env.add_filter("assurance_text", move |v: Value| {
        spc_words(
            &v,
            "assurance",
            "no target",
            spc::Assurance::describe,
            lenient,
        )
    });
    // `x is suppressed`: a count the disclosure rule withholds (or a value computed from one). A
    // comparison (`x >= 5`) does not fail on one — minijinja orders values of different kinds by kind —
    // so a template that compares a count tests this first, or better reads the judgement from a step.
    env.add_test("suppressed", |v: Value| data::withheld(&v).is_some());
    // The ordering tests (`selectattr("n", "gt", 5)`) refuse a withheld count rather than answer by kind
    // as the operators do: a selection of "large" counts must not silently take the small ones in.
    for (name, wanted) in [
        ("gt", [std::cmp::Ordering::Greater].as_slice()),
        ("greaterthan", &[std::cmp::Ordering::Greater]),
        (
            "ge",
            &[std::cmp::Ordering::Greater, std::cmp::Ordering::Equal],
        ),
        ("lt", &[std::cmp::Ordering::Less]),
        ("lessthan", &[std::cmp::Ordering::Less]),
        ("le", &[std::cmp::Ordering::Less, std::cmp::Ordering::Equal]),
    ] {
        env.add_test(name, move |v: Value, other: Value| -> Result<bool, Error> {
            if data::withheld(&v).is_some() || data::withheld(&other).is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "test `{name}`: a count under disclosure control (printed as its token) cannot \
                         be compared: test `is suppressed` first, or compare in the step's SQL"
                    ),
                ));
            }
            Ok(wanted.contains(&v.cmp(&other)))
        });
    }

    let g = generated.clone();
    env.add_function(
        "line_chart",
        move |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            const WHAT: &str = "line_chart";
            let x: String = kwargs.get("x")?;
            let ys: Vec<String> = match kwargs.get::<Option<Vec<String>>>("ys")? {
                Some(ys) => ys,
                None => vec![kwargs.get::<String>("y")?],
            };
            let names: Option<Vec<String>> = kwargs.get("names")?;
            let opts = chart_options(&kwargs)?;
            let alt: Option<String> = kwargs.get("alt")?;
            let allow_empty = allow_empty(&kwargs)? || mode == Mode::Synthetic;
            kwargs.assert_all_used()?;
            let rows = data::series(WHAT, &rows, allow_empty)?;
            if rows.is_empty() {
                return Ok(no_rows(&opts));
            }
            let labels = x_labels(WHAT, &rows, &x)?;
            let mut series = Vec::new();
            for (k, y) in ys.iter().enumerate() {
                let values = rows
                    .iter()
                    .map(|r| Ok(number(&data::cell(WHAT, r, y)?)))
                    .collect::<Result<Vec<_>, Error>>()?;
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(k).cloned())
                    .unwrap_or_else(|| y.clone());
                series.push((name, values, latest(WHAT, &rows, &labels, y)?));
            }
            // A series with no value in any row draws nothing: a column of gaps is as blank as no rows.
            if !allow_empty && series.iter().all(|(_, v, _)| v.iter().all(Option::is_none)) {
                return suppressed_or_none(WHAT, &rows, &ys, &opts);
            }
            let alt = alt.unwrap_or_else(|| {
                let named = series.len() > 1;
                let latest: Vec<_> = series
                    .iter()
                    .filter_map(|(name, _, l)| {
                        l.as_ref().map(|l| (named.then(|| name.clone()), l.clone()))
                    })
                    .collect();
                alt_text::series("Line chart", &opts, &labels, &latest, None, &[])
            });
            let series: Vec<(String, Vec<Option<f64>>)> =
                series.into_iter().map(|(n, v, _)| (n, v)).collect();
            let svg = chart::line_chart(&labels, &series, &opts).map_err(chart_error)?;
            Ok(image(&g, "line", svg, &rows, &alt))
        },
    );
    let g = generated.clone();
    env.add_function(
        "bar_chart",
        move |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            const WHAT: &str = "bar_chart";
            let label: String = kwargs.get("label")?;
            let value: String = kwargs.get("value")?;
            let opts = chart_options(&kwargs)?;
            let alt: Option<String> = kwargs.get("alt")?;
            let allow_empty = allow_empty(&kwargs)? || mode == Mode::Synthetic;
            kwargs.assert_all_used()?;
            let rows = data::series(WHAT, &rows, allow_empty)?;
            if rows.is_empty() {
                return Ok(no_rows(&opts));
            }
            let mut cats = Vec::new();
            let mut said = Vec::new();
            let mut withheld = 0;
            let mut any = false;
            for r in &rows {
                let mut l = data::cell(WHAT, r, &label)?.to_string();
                let cell = data::cell(WHAT, r, &value)?;
                // A suppressed count is no bar, and its label says why.
                if let Some(token) = data::withheld(&cell) {
                    l = format!("{l} ({token})");
                    withheld += 1;
                }
                let v = number(&cell);
                said.push((l.clone(), v));
                any |= v.is_some();
                cats.push((l, v.unwrap_or(0.0)));
            }
            if !allow_empty && !any {
                return suppressed_or_none(WHAT, &rows, std::slice::from_ref(&value), &opts);
            }
            let alt = alt
                .unwrap_or_else(|| alt_text::categories("Bar chart", &opts, &said, withheld, None));
            let svg = chart::bar_chart(&cats, &opts).map_err(chart_error)?;
            Ok(image(&g, "bar", svg, &rows, &alt))
        },
    );
    let g = generated.clone();
    env.add_function(
        "interval_chart",
        move |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            const WHAT: &str = "interval_chart";
            let label: String = kwargs.get("label")?;
            let value: String = kwargs.get("value")?;
            let lower: String = kwargs.get("lower")?;
            let upper: String = kwargs.get("upper")?;
            // Rates per patient are drawn per `scale` patients (e.g. 1,000).
            let scale: f64 = kwargs.get::<Option<f64>>("scale")?.unwrap_or(1.0);
            let reference: Option<f64> = kwargs.get::<Option<f64>>("reference")?.map(|r| r * scale);
            let opts = chart_options(&kwargs)?;
            let alt: Option<String> = kwargs.get("alt")?;
            let allow_empty = allow_empty(&kwargs)? || mode == Mode::Synthetic;
            kwargs.assert_all_used()?;
            let rows = data::series(WHAT, &rows, allow_empty)?;
            if rows.is_empty() {
                return Ok(no_rows(&opts));
            }
            let mut estimates = Vec::new();
            for r in &rows {
                let cell = |c: &str| data::cell(WHAT, r, c);
                let (v, lo, hi, l) = (cell(&value)?, cell(&lower)?, cell(&upper)?, cell(&label)?);
                // A group without an estimate (no denominator) has nothing to draw.
                if let Some(v) = number(&v) {
                    estimates.push(chart::Estimate {
                        label: l.to_string(),
                        value: v * scale,
                        lower: number(&lo).map(|x| x * scale),
                        upper: number(&hi).map(|x| x * scale),
                    });
                }
            }
            if !allow_empty && estimates.is_empty() {
                return suppressed_or_none(WHAT, &rows, std::slice::from_ref(&value), &opts);
            }
            let alt = alt.unwrap_or_else(|| {
                let said: Vec<(String, Option<f64>)> = estimates
                    .iter()
                    .map(|e| (e.label.clone(), Some(e.value)))
                    .collect();
                let reference = reference.map(|r| ("reference", r));
                alt_text::categories("Interval chart", &opts, &said, 0, reference)
            });
            let svg = chart::interval_chart(&estimates, reference, &opts).map_err(chart_error)?;
            Ok(image(&g, "interval", svg, &rows, &alt))
        },
    );
    let g = generated.clone();
    env.add_function(
        "funnel_chart",
        move |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            let allow_empty = allow_empty(&kwargs)? || mode == Mode::Synthetic;
            let rows = data::series("funnel_chart", &rows, allow_empty)?;
            let opts = chart_options(&kwargs)?;
            let alt: Option<String> = kwargs.get("alt")?;
            let svg = match funnel_from_rows(&rows, &kwargs, allow_empty)? {
                Ok(svg) => svg,
                Err(Nothing::Suppressed) => return Ok(all_suppressed(&opts)),
                Err(Nothing::NoRows) => return Ok(no_rows(&opts)),
            };
            // A funnel's points are many practices: their count and the title say what it shows; the
            // outliers are named in the table a template places beside it.
            let alt = alt.unwrap_or_else(|| {
                let title = if opts.title.trim().is_empty() {
                    "Funnel plot".to_string()
                } else {
                    format!("Funnel plot: {}", opts.title.trim())
                };
                format!(
                    "{title}; {} units against their denominators, with control limits.",
                    rows.len()
                )
            });
            Ok(image(&g, "funnel", svg, &rows, &alt))
        },
    );
    // `fill(text, figures)`: commentary with its placeholders replaced by their figures (`format::
    // fill_placeholders`); `figures` are maps of `placeholder` (the trimmed text between the braces, as
    // the `commentary_figures` step found it) and `text` (the figure as the template formatted it).
    env.add_function("fill", fill_figures);
    env.add_function("protect", protect_rows);
    // `source(rows, …)`: the line under a table naming the steps (and seeds) its rows come from.
    env.add_function("source", |tables: minijinja::value::Rest<Value>| {
        Value::from_safe_string(source_note(&tables))
    });
    // `spc(rows, value=, date=, improvement=, target=, baseline=)`: a series' Making Data Count judgement,
    // kept (and documented in the README) as a convenience for user templates. The shipped templates do
    // not call it: a verdict a report prints is a step's (`spc(...) OVER (...)` in SQL, `crate::spc_sql`),
    // so that a published table holds it.
    env.add_function(
        "spc",
        |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            // An analysis of no rows is the template's to word ("no data"): only the names are strict.
            let rows = data::series("spc", &rows, true)?;
            let (_, analysis, _, _) = spc_from_rows("spc", &rows, &kwargs, false)?;
            kwargs.assert_all_used()?;
            Ok(spc_value(&analysis))
        },
    );
    let g = generated;
    env.add_function(
        "spc_chart",
        move |rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            const WHAT: &str = "spc_chart";
            let allow_empty = allow_empty(&kwargs)? || mode == Mode::Synthetic;
            let rows = data::series(WHAT, &rows, allow_empty)?;
            // A synthetic row's point type (`x`) is no SPC code: the chart is of the values then.
            let precomputed = mode == Mode::Report;
            let (labels, analysis, target, hidden) =
                spc_from_rows(WHAT, &rows, &kwargs, precomputed)?;
            let opts = chart_options(&kwargs)?;
            let alt: Option<String> = kwargs.get("alt")?;
            kwargs.assert_all_used()?;
            if labels.is_empty() {
                if allow_empty {
                    return Ok(no_rows(&opts));
                }
                let value: String = kwargs.get("value")?;
                return suppressed_or_none(WHAT, &rows, &[value], &opts);
            }
            let alt = match alt {
                Some(a) => a,
                None => spc_alt(WHAT, &rows, &labels, &analysis, target, &hidden, &opts)?,
            };
            let svg = chart::spc_chart_with_gaps(&labels, &analysis, target, &hidden, &opts)
                .map_err(chart_error)?;
            Ok(image(&g, "spc", svg, &rows, &alt))
        },
    );
    // The built-in filters that read a column of every row see `undefined` for a column a table does
    // not have, and select (or sort by, or map to) nothing: these check the column first.
    env.add_filter(
        "selectattr",
        |state: &State,
         rows: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<Value>| {
            data::check_column("selectattr", &rows, &attr)?;
            minijinja::filters::selectattr(state, rows, attr, test, args)
        },
    );
    env.add_filter(
        "rejectattr",
        |state: &State,
         rows: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<Value>| {
            data::check_column("rejectattr", &rows, &attr)?;
            minijinja::filters::rejectattr(state, rows, attr, test, args)
        },
    );
    env.add_filter(
        "map",
        |state: &State, rows: Value, args: Rest<Value>| -> Result<Vec<Value>, Error> {
            if let Some(kwargs) = args.last().filter(|a| a.is_kwargs())
                && let Ok(attr) = kwargs.get_attr("attribute")
                && let Some(attr) = attr.as_str()
            {
                data::check_column("map", &rows, attr)?;
            }
            minijinja::filters::map(state, rows, args)
        },
    );
    env.add_filter(
        "sort",
        |state: &State, rows: Value, kwargs: Kwargs| -> Result<Value, Error> {
            if let Some(attr) = kwargs.peek::<Option<String>>("attribute")? {
                for a in attr.split(',') {
                    data::check_column("sort", &rows, a.trim())?;
                }
            }
            minijinja::filters::sort(state, rows, kwargs)
        },
    );
    env
}

/// `allow_empty=true`: the template means a chart of no rows (or no values) to be drawn as a note.
fn allow_empty(kwargs: &Kwargs) -> Result<bool, Error> {
    Ok(kwargs.get::<Option<bool>>("allow_empty")?.unwrap_or(false))
}

/// What a chart the template allows to be empty prints when it has nothing to draw.
fn no_rows(opts: &ChartOptions) -> Value {
    let title = if opts.title.is_empty() {
        "Chart".to_string()
    } else {
        format::escape_markup(&opts.title)
    };
    Value::from_safe_string(format!("_{title}: no data to draw._"))
}

/// What a chart with nothing to draw prints instead, when that is not an error.
enum Nothing {
    /// No rows, and the template allows that.
    NoRows,
    /// Every value is a count the disclosure rule suppresses (or computed from one).
    Suppressed,
}

/// What a chart whose every value is suppressed prints: a note, not a blank chart and not an error (the
/// data is there; it may not be shown).
fn all_suppressed(opts: &ChartOptions) -> Value {
    let title = if opts.title.is_empty() {
        "Chart".to_string()
    } else {
        format::escape_markup(&opts.title)
    };
    Value::from_safe_string(format!(
        "_{title}: every value is a small number, suppressed (see Disclosure control)._"
    ))
}

/// For a chart with no value to draw in `columns`: the note of `all_suppressed` when a row's cell of them
/// is one the disclosure rule withholds, else the error of `no_values`.
fn suppressed_or_none(
    what: &str,
    rows: &[Value],
    columns: &[String],
    opts: &ChartOptions,
) -> Result<Value, Error> {
    let withheld = rows.iter().any(|r| {
        columns
            .iter()
            .any(|c| data::cell(what, r, c).is_ok_and(|v| data::withheld(&v).is_some()))
    });
    if withheld {
        Ok(all_suppressed(opts))
    } else {
        Err(no_values(what, rows, columns))
    }
}

/// The error for a chart whose rows have no value in any of `columns`.
fn no_values(what: &str, rows: &[Value], columns: &[String]) -> Error {
    let table = data::table_name(&Value::from(rows.to_vec()))
        .map(|t| format!(" of table `{t}`"))
        .unwrap_or_default();
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "{what}: column `{}`{table} has no value in any of its {} rows; a blank chart is never \
             published: write `allow_empty=true` where one is meant",
            columns.join("`, `"),
            rows.len()
        ),
    )
}

/// `rows | index_by("practice_code")`: a map from each value of the column to the rows holding it, in
/// their order. Built once, it makes "the rows of this practice" a lookup (`by_practice[p.practice_code]
/// | default([])`) instead of a pass over the whole table (`selectattr`), which made a template with a
/// section per practice quadratic in the practices: 4 minutes of rendering at regional scale.
fn index_by(rows: Value, column: &str) -> Result<Value, Error> {
    // Strict, as every name in a template is: an undefined table is a mistake, not an empty lookup.
    if rows.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "index_by: the rows are undefined",
        ));
    }
    let mut groups: std::collections::BTreeMap<Value, Vec<Value>> = Default::default();
    for r in rows.try_iter()? {
        let key = data::cell("index_by", &r, column)?;
        groups.entry(key).or_default().push(r);
    }
    Ok(groups
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect())
}

fn na() -> String {
    NOT_AVAILABLE.to_string()
}

/// What a number filter prints: a withheld count's token (the disclosure rule, whatever the filter),
/// else the number as `format` writes it, else `N/A`.
fn formatted(v: &Value, format: impl Fn(f64) -> String) -> String {
    if let Some(token) = data::withheld(v) {
        return token.to_string();
    }
    number(v).map(format).unwrap_or_else(na)
}

/// A number from a template value: numbers as they are, numeric strings parsed; none and text → `None`.
fn number(v: &Value) -> Option<f64> {
    if v.is_none() || v.is_undefined() {
        return None;
    }
    if let Ok(x) = f64::try_from(v.clone()) {
        return x.is_finite().then_some(x);
    }
    v.as_str()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite())
}

/// `2022-04` or `2022-04-01` → `Apr-22`.
fn month_label(text: &str) -> Option<String> {
    let m: Month = text.get(..7)?.parse().ok()?;
    Some(m.label())
}

fn x_labels(what: &str, rows: &[Value], x: &str) -> Result<Vec<String>, Error> {
    rows.iter()
        .map(|r| {
            let v = data::cell(what, r, x)?;
            let s = v.to_string();
            Ok(month_label(&s).unwrap_or(s))
        })
        .collect()
}

/// The options every chart function takes: `title=`, `y_label=`, `percent=`, `height=`. Each also takes
/// `alt="…"`, read where it builds its alternative text (`alt_text`), to replace the generated one.
fn chart_options(kwargs: &Kwargs) -> Result<ChartOptions, Error> {
    let mut o = ChartOptions::default();
    if let Some(t) = kwargs.get::<Option<String>>("title")? {
        o.title = t;
    }
    if let Some(t) = kwargs.get::<Option<String>>("y_label")? {
        o.y_label = t;
    }
    if let Some(p) = kwargs.get::<Option<bool>>("percent")? {
        o.percent = p;
    }
    if let Some(h) = kwargs.get::<Option<u32>>("height")? {
        o.height = h;
    }
    Ok(o)
}

fn chart_error(e: chart::ChartError) -> Error {
    Error::new(ErrorKind::InvalidOperation, e.to_string())
}

/// The latest point of column `y` of a chart over `labels` (one per row): the last row with a value or
/// a withheld count, which is said suppressed, never printed. `None` when no row has either.
fn latest(
    what: &str,
    rows: &[Value],
    labels: &[String],
    y: &str,
) -> Result<Option<alt_text::Latest>, Error> {
    for (r, label) in rows.iter().zip(labels).rev() {
        let cell = data::cell(what, r, y)?;
        let label = label.clone();
        if data::withheld(&cell).is_some() {
            return Ok(Some(alt_text::Latest::Suppressed { label }));
        }
        if let Some(value) = number(&cell) {
            return Ok(Some(alt_text::Latest::Value { label, value }));
        }
    }
    Ok(None)
}

/// An SPC chart's alt text: its range, latest point (suppressed when the disclosure rule withholds it),
/// target, and the series' variation and assurance — the analysis's for plain rows, the step's (the last
/// row's `variation`/`assurance` codes) for rows an SPC step judged.
fn spc_alt(
    what: &str,
    rows: &[Value],
    labels: &[String],
    analysis: &spc::Analysis,
    target: Option<f64>,
    hidden: &[bool],
    opts: &ChartOptions,
) -> Result<String, Error> {
    let latest = match (analysis.points.last(), labels.last(), hidden.last()) {
        (Some(_), Some(label), Some(true)) => vec![(
            None,
            alt_text::Latest::Suppressed {
                label: label.clone(),
            },
        )],
        (Some(p), Some(label), _) => vec![(
            None,
            alt_text::Latest::Value {
                label: label.clone(),
                value: p.value,
            },
        )],
        _ => Vec::new(),
    };
    let mut variation = analysis.variation.map(|v| v.describe().to_string());
    let mut assurance = analysis.assurance.map(|a| a.describe().to_string());
    // A step's rows carry the series' icons on every row; the last row's are the latest reading.
    if let Some(last) = rows.last() {
        let code = |c: &str| -> Option<String> {
            data::has_column(last, c)
                .then(|| data::cell(what, last, c).ok())
                .flatten()
                .and_then(|v| v.as_str().map(str::to_string))
        };
        if variation.is_none()
            && let Some(c) = code("variation")
        {
            variation = serde_json::from_value::<spc::Variation>(serde_json::Value::String(c))
                .ok()
                .map(|v| v.describe().to_string());
        }
        if assurance.is_none()
            && let Some(c) = code("assurance")
        {
            assurance = serde_json::from_value::<spc::Assurance>(serde_json::Value::String(c))
                .ok()
                .map(|a| a.describe().to_string());
        }
    }
    let reading: Vec<&str> = [variation.as_deref(), assurance.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    Ok(alt_text::series(
        "SPC chart",
        opts,
        labels,
        &latest,
        target,
        &reading,
    ))
}

/// Typst markup embedding a generated SVG at full width, with its alternative text (`alt_text`; PDF/UA
/// requires one of every figure) and the source line of the rows drawn.
fn image(g: &Generated, stem: &str, svg: String, rows: &[Value], alt: &str) -> Value {
    // A label from data may hold control characters, which XML forbids: the chart would not typeset.
    let svg: String = svg
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    let path = g.add(stem, "svg", svg.into_bytes());
    Value::from_safe_string(format!(
        "#image({}, width: 100%, alt: {}){}",
        format::string_literal(&path),
        format::string_literal(alt),
        source_note(&[Value::from(rows.to_vec())])
    ))
}

/// The house style's source line (`#source-note(steps: (…), seeds: (…))`) for tables of rows: each row
/// carries `_source`, the step that produced it (`seed:<name>` for a seed), so the line names what
/// `boardpack explain <run> <step>` accepts. A name given as text counts as a step. Empty when no row
/// says where it comes from.
fn source_note(tables: &[Value]) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: String| {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    };
    for t in tables {
        if let Some(name) = t.as_str() {
            add(name.to_string());
            continue;
        }
        if let Ok(rows) = t.try_iter() {
            for r in rows {
                match r.get_attr("_source") {
                    Ok(v) if v.as_str().is_some() => {
                        add(v.as_str().unwrap_or_default().to_string())
                    }
                    // A row the template built from rows (`{"m": metric, "last": row}`): one level down.
                    _ if r.kind() == minijinja::value::ValueKind::Map => {
                        for key in r.try_iter().into_iter().flatten() {
                            if let Ok(inner) = r.get_item(&key)
                                && let Ok(v) = inner.get_attr("_source")
                                && let Some(name) = v.as_str()
                            {
                                add(name.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if names.is_empty() {
        return String::new();
    }
    let list = |items: Vec<&str>| -> String {
        let mut out: Vec<String> = items.iter().map(|s| format::string_literal(s)).collect();
        if out.len() == 1 {
            out.push(String::new());
        }
        format!("({})", out.join(", "))
    };
    let seeds: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("seed:"))
        .collect();
    let steps: Vec<&str> = names
        .iter()
        .filter(|n| !n.starts_with("seed:"))
        .map(String::as_str)
        .collect();
    format!(
        "#source-note(steps: {}, seeds: {})",
        list(steps),
        list(seeds)
    )
}

/// The labels, analysis and target of an SPC chart of `rows`, and which points are counts the disclosure
/// rule suppresses (drawn as gaps; the analysis is of every point, as the SPC step's would be).
type SpcRows = (Vec<String>, spc::Analysis, Option<f64>, Vec<bool>);

/// The columns an SPC step's table carries (`spc(...) OVER (...)` unpacked, `crate::spc_sql`): rows with
/// all of them are drawn from their own figures, so a chart shows the limits and point types the step
/// judged by, not a second analysis of the values.
const SPC_COLUMNS: [&str; 5] = ["mean", "lower", "upper", "point_type", "segment"];

/// `spc(rows, value=, date=, improvement=, target=, baseline=)` and `spc_chart(...)`: the series of `rows`
/// analysed, or — for a chart (`precomputed`) of rows that carry an SPC step's columns — as the step
/// analysed it; then `improvement=` and `baseline=` are the step's and may not be given.
fn spc_from_rows(
    what: &str,
    rows: &[Value],
    kwargs: &Kwargs,
    precomputed: bool,
) -> Result<SpcRows, Error> {
    let value: String = kwargs.get("value")?;
    let date: String = kwargs.get("date")?;
    let improvement: Option<String> = kwargs.get("improvement")?;
    let target: Option<f64> = kwargs.get("target")?;
    let baseline: Option<usize> = kwargs.get("baseline")?;
    let precomputed = precomputed
        && !rows.is_empty()
        && rows
            .iter()
            .all(|r| SPC_COLUMNS.iter().all(|c| data::has_column(r, c)));
    if precomputed {
        if improvement.is_some() || baseline.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{what}: these rows carry an SPC step's figures (columns {}): their improvement \
                     direction and baseline are the step's; leave out `improvement=` and `baseline=`",
                    SPC_COLUMNS.join(", ")
                ),
            ));
        }
        return spc_from_step_rows(what, rows, &value, &date, target);
    }
    let improvement = match improvement {
        Some(s) => Some(
            s.parse::<Improvement>()
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?,
        ),
        None => None,
    };
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut hidden = Vec::new();
    for r in rows {
        // SPC needs a series without gaps: a missing value is left out, and its month with it.
        let (v, d) = (data::cell(what, r, &value)?, data::cell(what, r, &date)?);
        let suppressed = data::withheld(&v).is_some();
        if let Some(v) = number(&data::raw(&v)) {
            hidden.push(suppressed);
            values.push(v);
            let d = d.to_string();
            labels.push(month_label(&d).unwrap_or(d));
        }
    }
    let analysis = spc::analyse(
        &values,
        &spc::Options {
            improvement,
            target,
            baseline,
            ..Default::default()
        },
    );
    Ok((labels, analysis, target, hidden))
}

/// The points of an SPC step's rows, from their own columns. A row without a value is left out, as the
/// step left it out of its analysis; a row with a value must have its mean and point type.
fn spc_from_step_rows(
    what: &str,
    rows: &[Value],
    value: &str,
    date: &str,
    target: Option<f64>,
) -> Result<SpcRows, Error> {
    let mut labels = Vec::new();
    let mut points = Vec::new();
    let mut hidden = Vec::new();
    for r in rows {
        let (v, d) = (data::cell(what, r, value)?, data::cell(what, r, date)?);
        let Some(x) = number(&data::raw(&v)) else {
            continue;
        };
        let d = d.to_string();
        let figure = |c: &str| -> Result<Option<f64>, Error> {
            Ok(number(&data::raw(&data::cell(what, r, c)?)))
        };
        let bad = |c: &str, why: &str| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{what}: the row of {d} has a `{value}` but {why} `{c}`"),
            )
        };
        let mean = figure("mean")?.ok_or_else(|| bad("mean", "no"))?;
        let point_type = data::cell(what, r, "point_type")?;
        let point_type: spc::PointType = point_type
            .as_str()
            .and_then(|s| serde_json::from_value(serde_json::Value::String(s.into())).ok())
            .ok_or_else(|| bad("point_type", "an unknown (or no)"))?;
        let segment = figure("segment")?
            .filter(|s| *s >= 0.0 && s.fract() == 0.0)
            .ok_or_else(|| bad("segment", "no whole-number"))? as usize;
        hidden.push(data::withheld(&v).is_some());
        labels.push(month_label(&d).unwrap_or(d));
        points.push(spc::Point {
            value: x,
            mean,
            lower_limit: figure("lower")?,
            upper_limit: figure("upper")?,
            // The chart draws the process limits only.
            lower_two_sigma: None,
            upper_two_sigma: None,
            point_type,
            rule: None,
            segment,
        });
    }
    let analysis = spc::Analysis {
        points,
        // The chart does not print the series' icons; the step's table holds them.
        variation: None,
        assurance: None,
        too_short: false,
    };
    Ok((labels, analysis, target, hidden))
}

/// An SPC icon code in words (`variation_text`, `assurance_text`); `none` for a series without one.
fn spc_words<T: serde::de::DeserializeOwned>(
    v: &Value,
    what: &str,
    none: &str,
    describe: fn(T) -> &'static str,
    lenient: bool,
) -> Result<String, Error> {
    if v.is_none() || v.is_undefined() {
        return Ok(none.to_string());
    }
    let code = v.to_string();
    serde_json::from_value::<T>(serde_json::Value::String(code.clone()))
        .map(|x| describe(x).to_string())
        .or_else(|_| if lenient { Ok(code.clone()) } else { Err(()) })
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{what}_text: `{code}` is not an SPC {what} icon code"),
            )
        })
}

fn spc_value(a: &spc::Analysis) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut v {
        map.insert(
            "variation_text".into(),
            a.variation
                .map(|x| x.describe())
                .unwrap_or("no data")
                .into(),
        );
        map.insert(
            "assurance_text".into(),
            a.assurance
                .map(|x| x.describe())
                .unwrap_or("no target")
                .into(),
        );
    }
    Value::from_serialize(&v)
}

/// `funnel_chart(rows, numerator=, denominator=, label=, kind="binomial"|"poisson", centre=,
/// direction="increase"|"decrease"|"neutral", target=, scale=, highlight=<column>, highlight_value=,
/// title=, y_label=, percent=, height=, alt=)`: a funnel plot of the rows (see `chart::funnel_chart`). Rows without a
/// numerator or denominator (non-submitters) are left out. `None` when there is nothing to draw and the
/// template allows that (`allow_empty=true`).
fn funnel_from_rows(
    rows: &[Value],
    kwargs: &Kwargs,
    allow_empty: bool,
) -> Result<Result<String, Nothing>, Error> {
    const WHAT: &str = "funnel_chart";
    let numerator: String = kwargs.get("numerator")?;
    let denominator: String = kwargs.get("denominator")?;
    let label: String = kwargs.get("label")?;
    let kind: String = kwargs.get("kind")?;
    let centre: f64 = kwargs.get("centre")?;
    let direction: Option<String> = kwargs.get("direction")?;
    let target: Option<f64> = kwargs.get("target")?;
    let scale: Option<f64> = kwargs.get("scale")?;
    // A row is highlighted when its `highlight` column is true, or equals `highlight_value` when given
    // (`highlight="place", highlight_value=pl`: one Place's practices among all).
    let highlight: Option<String> = kwargs.get("highlight")?;
    let highlight_value: Option<Value> = kwargs.get("highlight_value")?;
    let opts = chart_options(kwargs)?;
    kwargs.assert_all_used()?;
    let kind = kind
        .parse::<crate::stats::Funnel>()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
    let higher_is_better = match direction.as_deref() {
        Some("increase") => Some(true),
        Some("decrease") => Some(false),
        Some("neutral") | None => None,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("direction `{other}`: write increase, decrease or neutral"),
            ));
        }
    };
    let mut points = Vec::new();
    for r in rows {
        let cell = |c: &str| data::cell(WHAT, r, c);
        let (n, d, l) = (cell(&numerator)?, cell(&denominator)?, cell(&label)?);
        let (Some(n), Some(d)) = (number(&n), number(&d)) else {
            continue;
        };
        if d <= 0.0 {
            continue;
        }
        let highlight = match (&highlight, &highlight_value) {
            (Some(h), Some(value)) => cell(h)? == *value,
            (Some(h), None) => cell(h)?.is_true(),
            (None, _) => true,
        };
        points.push(chart::FunnelPoint {
            label: l.to_string(),
            denominator: d,
            value: n / d,
            highlight,
        });
    }
    let spec = chart::FunnelSpec {
        kind,
        centre,
        higher_is_better,
        target,
        scale: scale.unwrap_or(1.0),
    };
    if points.is_empty() {
        if allow_empty {
            return Ok(Err(Nothing::NoRows));
        }
        let columns = [numerator, denominator];
        return suppressed_or_none(WHAT, rows, &columns, &opts).map(|_| Err(Nothing::Suppressed));
    }
    chart::funnel_chart(&points, &spec, &opts)
        .map(Ok)
        .map_err(chart_error)
}

/// `fill(text, figures)`: see `format::fill_placeholders`. A figure's `text` is the template's own output
/// (a macro's, already escaped), so it is inserted as markup; a placeholder without a figure is an error.
fn fill_figures(text: Value, figures: Vec<Value>) -> Result<Value, Error> {
    if text.is_none() || text.is_undefined() {
        return Ok(Value::from_safe_string(NOT_AVAILABLE.to_string()));
    }
    let mut known = std::collections::BTreeMap::new();
    for f in &figures {
        let placeholder = f.get_attr("placeholder")?;
        let figure = f.get_attr("text")?;
        if placeholder.is_undefined() || figure.is_undefined() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "fill: each figure needs `placeholder` and `text`",
            ));
        }
        known.insert(placeholder.to_string(), figure.to_string());
    }
    format::fill_placeholders(&text.to_string(), |body| known.get(body).cloned())
        .map(Value::from_safe_string)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("fill: {e}")))
}

/// `protect(rows, group=[columns], counts=[columns])`: small-number suppression (`crate::disclosure`).
/// Returns the rows, each with `<count>_shown` (`"value"`, `"small"` for `<5`, `"withheld"` for `*`) for
/// every count column, `all_shown` (every count printed, so a rate resting on them may be) and
/// `group_total_shown` (false when a group's totals must not be printed).
fn protect_rows(rows: Vec<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let group: Vec<String> = kwargs.get("group")?;
    let counts: Vec<String> = kwargs.get("counts")?;
    kwargs.assert_all_used()?;
    let mut out: Vec<serde_json::Map<String, serde_json::Value>> = Vec::with_capacity(rows.len());
    let mut groups: std::collections::BTreeMap<Vec<String>, Vec<usize>> = Default::default();
    // The rows' table's disclosure rule: the protected rows are a table under it again.
    let guard = rows.first().and_then(data::guard_of);
    let rule = guard.as_ref().map(|g| g.rule).unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        let key = group
            .iter()
            .map(|g| data::cell("protect", r, g).map(|v| v.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        groups.entry(key).or_default().push(i);
        out.push(data::raw_row(r).map_err(|e| {
            Error::new(ErrorKind::InvalidOperation, format!("protect: a row: {e}"))
        })?);
    }
    // Two counts where the first is never above the second in any row (a numerator and its denominator):
    // a withheld numerator lies between the rule's band and its denominator, which `pair_gives_away`
    // checks row by row.
    let raw_count = |i: usize, c: &str| -> Result<Option<i64>, Error> {
        let v = data::raw(&data::cell("protect", &rows[i], c)?);
        Ok(number(&v).map(|x| x.round() as i64))
    };
    let pair = match counts.as_slice() {
        [n, d] => {
            let mut ordered = true;
            for i in 0..rows.len() {
                if let (Some(a), Some(b)) = (raw_count(i, n)?, raw_count(i, d)?) {
                    ordered &= a <= b;
                }
            }
            ordered.then(|| (n.clone(), d.clone()))
        }
        _ => None,
    };
    for members in groups.values() {
        let mut total_shown = true;
        for c in &counts {
            let values: Vec<Option<i64>> = members
                .iter()
                .map(|&i| raw_count(i, c))
                .collect::<Result<_, Error>>()?;
            let d = crate::disclosure::protect_group_under(rule, &values);
            total_shown &= d.total_shown;
            for (k, &i) in members.iter().enumerate() {
                out[i].insert(
                    format!("{c}_shown"),
                    serde_json::to_value(d.cells[k]).unwrap_or_default(),
                );
            }
        }
        if let Some((n, d)) = &pair {
            let shown = |m: &serde_json::Map<String, serde_json::Value>, c: &str| {
                serde_json::from_value::<crate::disclosure::Shown>(
                    m.get(&format!("{c}_shown")).cloned().unwrap_or_default(),
                )
                .ok()
            };
            let mut forced = Vec::with_capacity(members.len());
            for &i in members {
                forced.push(
                    match (shown(&out[i], n), shown(&out[i], d), raw_count(i, d)?) {
                        (Some(ns), Some(ds), Some(dv)) => {
                            crate::disclosure::pair_gives_away(rule, ns, dv, ds)
                        }
                        _ => false,
                    },
                );
            }
            // The denominators again, with those withheld as a protected `<5` is: the group's total
            // must not give them back.
            if forced.contains(&true) {
                let values: Vec<Option<i64>> = members
                    .iter()
                    .map(|&i| raw_count(i, d))
                    .collect::<Result<_, Error>>()?;
                let decision = crate::disclosure::protect_group_forced(rule, &values, &forced);
                total_shown &= decision.total_shown;
                for (k, &i) in members.iter().enumerate() {
                    out[i].insert(
                        format!("{d}_shown"),
                        serde_json::to_value(decision.cells[k]).unwrap_or_default(),
                    );
                }
            }
        }
        for &i in members {
            out[i].insert("group_total_shown".into(), total_shown.into());
            let all_shown = counts
                .iter()
                .all(|c| out[i].get(&format!("{c}_shown")) == Some(&"value".into()));
            out[i].insert("all_shown".into(), all_shown.into());
        }
    }
    // Still a table: a misspelled column of the protected rows is an error as it was before.
    let name = data::table_name(&Value::from(rows)).unwrap_or_else(|| "protect".into());
    let out: Vec<serde_json::Value> = out.into_iter().map(serde_json::Value::Object).collect();
    Ok(data::table(
        &name,
        &serde_json::Value::Array(out),
        None,
        guard,
    ))
}
