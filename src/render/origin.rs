//! Where a line of generated Typst markup came from: the template line (of the report's template or of a
//! template it includes) that produced it. Typst reports its errors in the markup a template generated
//! (`generated markup:1848:1`), which nobody wrote; this names the line somebody did.
//!
//! A heuristic, because minijinja keeps no map from output to source: the generated line is compared with
//! the literal text of every template line (what lies outside `{{ }}`, `{% %}` and `{# #}`). A template
//! line whose every piece of literal text appears in the generated line, in order, matches, and the match
//! with the most literal text wins. One winner is given as the place; several equal winners, or only a
//! partial match, are given as "near".

use std::collections::BTreeSet;

use super::template::{references, tags};
use crate::world::Project;

/// One line of a template, as its pieces of literal text.
struct TemplateLine {
    /// Relative to the project: `reports/board-pack/pack.typ.j2`.
    file: String,
    line: usize,
    /// Each piece of literal text (trimmed) with its 1-based column.
    pieces: Vec<(usize, String)>,
}

/// The literal text of a template and of everything it includes, line by line.
pub(super) struct Origin {
    lines: Vec<TemplateLine>,
}

/// The template line a generated line most likely came from.
#[derive(Debug, PartialEq)]
pub(super) struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// One template line matched all its text and no other matched as well.
    pub exact: bool,
    /// Other lines that matched as well (`reports/x.typ.j2:12`), at most three.
    pub also: Vec<String>,
}

/// How many characters a trimmed piece of literal text needs before it can place a line on its own.
const MIN_PARTIAL: usize = 3;

impl Origin {
    /// Reads `template` (`reports/…`) and, transitively, the templates it names by string literal.
    pub fn load(project: &Project, template: &str) -> Origin {
        let mut lines = Vec::new();
        let mut queue = vec![
            template
                .strip_prefix("reports/")
                .unwrap_or(template)
                .to_string(),
        ];
        let mut seen = BTreeSet::new();
        while let Some(name) = queue.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let file = format!("reports/{name}");
            let Ok(source) = project.read_to_string(&file) else {
                continue;
            };
            for r in references(&source) {
                queue.extend(r.names);
            }
            lines.extend(literal_lines(&file, &source));
        }
        Origin { lines }
    }

    /// The template line of `generated` (a line of markup); `column` is the 1-based column of the error in
    /// it, mapped into the template line when it falls in a piece of literal text.
    pub fn locate(&self, generated: &str, column: usize) -> Option<Place> {
        let mut best: Vec<(&TemplateLine, Vec<Option<usize>>)> = Vec::new();
        let mut best_score = (false, 0usize);
        for t in &self.lines {
            let found = find_in_order(generated, &t.pieces);
            let matched: usize = t
                .pieces
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_some())
                .map(|((_, p), _)| p.chars().count())
                .sum();
            let full = found.iter().all(Option::is_some);
            let score = (full, matched);
            if matched == 0 || (!full && matched < MIN_PARTIAL) {
                continue;
            }
            if score > best_score {
                best_score = score;
                best.clear();
            }
            if score == best_score {
                best.push((t, found));
            }
        }
        let (t, found) = best.first()?;
        // The error's column, moved from the piece of generated text it falls in to the same piece in the
        // template; else the line's first piece.
        let at = column.saturating_sub(1);
        let mapped = t.pieces.iter().zip(found).find_map(|((col, piece), f)| {
            let start = generated[..(*f)?].chars().count();
            (at >= start && at < start + piece.chars().count()).then(|| col + (at - start))
        });
        let column = mapped.unwrap_or_else(|| t.pieces.first().map(|(c, _)| *c).unwrap_or(1));
        Some(Place {
            file: t.file.clone(),
            line: t.line,
            column,
            exact: best_score.0 && best.len() == 1,
            also: best
                .iter()
                .skip(1)
                .take(3)
                .map(|(o, _)| format!("{}:{}", o.file, o.line))
                .collect(),
        })
    }
}

/// Each piece's byte offset in `text`, searched for in order after the previous piece found.
fn find_in_order(text: &str, pieces: &[(usize, String)]) -> Vec<Option<usize>> {
    let mut from = 0;
    pieces
        .iter()
        .map(|(_, p)| {
            let at = text.get(from..)?.find(p.as_str()).map(|i| from + i)?;
            from = at + p.len();
            Some(at)
        })
        .collect()
}

/// The pieces of literal text of each line of a template.
fn literal_lines(file: &str, source: &str) -> Vec<TemplateLine> {
    // Which bytes are template syntax rather than text.
    let mut syntax = vec![false; source.len()];
    for (start, end, _) in tags(source) {
        for b in &mut syntax[start..end.min(source.len())] {
            *b = true;
        }
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, line) in source.split('\n').enumerate() {
        let mut pieces = Vec::new();
        let mut run_start: Option<usize> = None;
        for (j, _) in line
            .char_indices()
            .chain(std::iter::once((line.len(), ' ')))
        {
            let is_text = j < line.len() && !syntax[offset + j];
            match (is_text, run_start) {
                (true, None) => run_start = Some(j),
                (false, Some(s)) => {
                    let run = &line[s..j];
                    let trimmed = run.trim();
                    if !trimmed.is_empty() {
                        let lead = run.len() - run.trim_start().len();
                        pieces.push((line[..s + lead].chars().count() + 1, trimmed.to_string()));
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        if !pieces.is_empty() {
            out.push(TemplateLine {
                file: file.to_string(),
                line: i + 1,
                pieces,
            });
        }
        offset += line.len() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(source: &str) -> Origin {
        Origin {
            lines: literal_lines("reports/t.typ.j2", source),
        }
    }

    #[test]
    fn a_generated_line_is_placed_at_the_template_line_with_its_text() {
        let o = origin(
            "= {{ title }}\n{% for r in rows %}\n#box(fill: red)[{{ r.name }}\n{% endfor %}\n",
        );
        let p = o.locate("#box(fill: red)[Cardiology", 5).expect("placed");
        assert_eq!((p.line, p.column, p.exact), (3, 5, true), "{p:?}");
    }

    #[test]
    fn equal_matches_are_near() {
        let o = origin("#box(\n{{ x }}\n#box(\n");
        let p = o.locate("#box(", 1).expect("placed");
        assert!(!p.exact);
        assert_eq!(p.line, 1);
        assert_eq!(p.also, vec!["reports/t.typ.j2:3".to_string()]);
    }

    #[test]
    fn text_from_data_alone_is_not_placed() {
        let o = origin("{{ a }}\n{{ b }}\n");
        assert_eq!(o.locate("#unknown-func()", 1), None);
    }
}
