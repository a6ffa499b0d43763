//! Seed files as written: the small tables a pipeline keeps under `config/` (a YAML list of records, a CSV
//! table, or files of a published format), read as a run reads them and judged before any run.
//!
//! Owns what makes a seed file unusable: YAML that does not parse (at its line and column), a document that
//! is not a list of records, and a value whose type differs from the rest of its column (text in a column of
//! numbers), which the engine's type inference would refuse with no place at all. The engine reads YAML
//! seeds through `yaml_problems` (`crate::engine::seed_batch`), so `validate` and a run refuse the same
//! files with the same words; `check` adds what only reading the whole table finds (a CSV row of the wrong
//! width, a published file's layout).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Location};
use crate::plan::{Seed, SeedFormat};
use crate::world::Project;

/// Every problem of a seed's files, each at its file and, where there is one, its line and column.
pub fn check(project: &Project, seed: &Seed) -> Vec<Diagnostic> {
    let mut read = Vec::new();
    let mut out = Vec::new();
    for f in &seed.files {
        // A file that does not exist is the plan's to report, at the line that names it.
        if !project.exists(f) {
            continue;
        }
        match project.read(f) {
            Ok(bytes) => read.push((f.clone(), bytes)),
            Err(e) => out.push(Diagnostic::in_file(
                f,
                format!("seed `{}`: cannot be read: {e}", seed.name),
            )),
        }
    }
    match seed.format {
        SeedFormat::Metrics => {
            if read.len() == seed.files.len()
                && let Err(problems) = crate::registry::completed_seed(project, seed)
            {
                out.extend(problems);
            }
        }
        SeedFormat::Desnz => {
            if read.len() == seed.files.len()
                && let Err(e) = crate::factors::parse_all(&read)
            {
                out.push(Diagnostic::at(
                    Location {
                        file: PathBuf::from(&e.file),
                        line: e.line.max(1),
                        column: 1,
                    },
                    format!("seed `{}`: {}", seed.name, e.message),
                ));
            }
        }
        SeedFormat::Table => {
            for (file, bytes) in &read {
                let found = if is_yaml(file) {
                    yaml_problems(&seed.name, file, bytes)
                } else {
                    Vec::new()
                };
                if !found.is_empty() {
                    out.extend(found);
                } else if let Err(e) = crate::engine::seed_batch(&seed.name, file, bytes) {
                    // What the engine's own reader refuses (a CSV row of the wrong width, no rows).
                    out.push(Diagnostic::in_file(file, e.to_string()));
                }
            }
        }
    }
    out
}

pub fn is_yaml(file: &str) -> bool {
    file.ends_with(".yaml") || file.ends_with(".yml")
}

/// The problems of a YAML seed: not YAML (at the parser's line and column), not a list of records, or a
/// value whose type is not its column's (at the value, naming its row and column). Empty when the engine
/// can read it.
pub fn yaml_problems(name: &str, file: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    let at = |line: usize, column: usize, message: String| {
        Diagnostic::at(
            Location {
                file: PathBuf::from(file),
                line,
                column,
            },
            format!("seed `{name}`: {message}"),
        )
    };
    let value: serde_yaml::Value = match serde_yaml::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            return vec![at(line, column, format!("not valid YAML: {e}"))];
        }
    };
    let marked = marked(bytes);
    let place = |row: usize, column: Option<&str>| place(marked.as_ref(), row, column);
    let serde_yaml::Value::Sequence(rows) = value else {
        return vec![at(
            1,
            1,
            "expected a YAML list of records (`- { column: value, … }`)".into(),
        )];
    };
    let mut out = Vec::new();
    // Each column's kind, from its first value that is not null, and the row it came from.
    let mut kinds: BTreeMap<String, (&'static str, usize)> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let serde_yaml::Value::Mapping(fields) = untagged(row) else {
            let (line, column) = place(i, None);
            out.push(at(
                line,
                column,
                format!(
                    "row {} is {}, not a record (`column: value`)",
                    i + 1,
                    kind(row).unwrap_or("empty")
                ),
            ));
            continue;
        };
        for (key, value) in fields {
            let Some(key) = key.as_str() else {
                let (line, column) = place(i, None);
                out.push(at(
                    line,
                    column,
                    format!("row {}: a column name must be text", i + 1),
                ));
                continue;
            };
            let Some(k) = kind(value) else { continue };
            match kinds.get(key) {
                None => {
                    kinds.insert(key.to_string(), (k, i));
                }
                Some((expected, first)) if *expected != k => {
                    let (line, column) = place(i, Some(key));
                    out.push(at(
                        line,
                        column,
                        format!(
                            "row {}, column `{key}`: {} is {k}, but the column holds {expected} (row {})",
                            i + 1,
                            shown(value),
                            first + 1
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// A YAML list's text with the place of every node (serde_yaml's values have none). `None` for a file
/// marked-yaml refuses (an anchor): its problems are then placed at the top of the file.
pub fn marked(bytes: &[u8]) -> Option<marked_yaml::Node> {
    let text = std::str::from_utf8(bytes).ok()?;
    let options = marked_yaml::LoaderOptions::default().toplevel_sequence();
    marked_yaml::parse_yaml_with_options(0, text, options).ok()
}

/// The line and column of row `row` of a YAML list (0-based), or of its value in `column`; (1, 1) when
/// the place is not known.
pub fn place(
    marked: Option<&marked_yaml::Node>,
    row: usize,
    column: Option<&str>,
) -> (usize, usize) {
    let node = marked
        .and_then(|m| m.as_sequence())
        .and_then(|s| s.get(row));
    let node = match (node, column) {
        (Some(n), Some(c)) => n.as_mapping().and_then(|m| m.get_node(c)).or(Some(n)),
        (n, _) => n,
    };
    node.and_then(|n| n.span().start())
        .map(|m| (m.line(), m.column()))
        .unwrap_or((1, 1))
}

fn untagged(v: &serde_yaml::Value) -> &serde_yaml::Value {
    match v {
        serde_yaml::Value::Tagged(t) => untagged(&t.value),
        other => other,
    }
}

/// A value's kind as the engine's type inference sees it (whole and decimal numbers are one kind: they
/// widen to a float); `None` for null, which fits any column.
fn kind(v: &serde_yaml::Value) -> Option<&'static str> {
    use serde_yaml::Value::*;
    match untagged(v) {
        Null => None,
        Bool(_) => Some("true or false"),
        Number(_) => Some("a number"),
        String(_) => Some("text"),
        Sequence(_) => Some("a list"),
        Mapping(_) => Some("a record"),
        Tagged(_) => Some("a tagged value"),
    }
}

fn shown(v: &serde_yaml::Value) -> String {
    match untagged(v) {
        serde_yaml::Value::String(s) => format!("`{}`", s.chars().take(60).collect::<String>()),
        serde_yaml::Value::Number(n) => format!("`{n}`"),
        serde_yaml::Value::Bool(b) => format!("`{b}`"),
        _ => "the value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_another_type_is_placed_at_its_line_and_column() {
        let text =
            "- { id: a, standard: 0.95 }\n- { id: b, standard: high }\n- { id: c, standard: ~ }\n";
        let found = yaml_problems("metrics", "config/m.yaml", text.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "config/m.yaml:2:22: seed `metrics`: row 2, column `standard`: `high` is text, but the \
             column holds a number (row 1)"
        );
    }

    #[test]
    fn bad_yaml_is_placed_where_the_parser_stopped() {
        let found = yaml_problems("m", "config/m.yaml", b"- { id: a\n- { id: b }\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].location.is_some(), "{found:?}");
        assert!(found[0].to_string().contains("not valid YAML"), "{found:?}");
    }

    #[test]
    fn a_list_of_records_of_consistent_types_is_fine() {
        let text = "- { id: 1, x: 2.5, ok: true }\n- { id: 2, x: 3, ok: false, note: text }\n";
        assert!(yaml_problems("m", "config/m.yaml", text.as_bytes()).is_empty());
    }
}
