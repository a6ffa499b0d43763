//! Number and text formats of the published packs (`shared/domain/reference.md`, "Number formats"), and
//! the escaping that keeps text from data from ever being read as Typst markup.
//!
//! Pure functions, so that every format is tested once here and used the same way by every template.

/// What every gap prints as: never 0.
pub const NOT_AVAILABLE: &str = "N/A";

/// `1234567.0` → `1,234,567` (rounded to `dp` decimal places, thousands separated).
pub fn thousands(value: f64, dp: usize) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_string();
    }
    // One grouping for pages and diffs (`crate::units`); a page prints a hyphen-minus.
    crate::units::grouped(value, dp).replace(crate::units::MINUS, "-")
}

/// A ratio as a percentage: `0.7284` → `72.8%` (1 dp by default).
pub fn percent(ratio: f64, dp: usize) -> String {
    if !ratio.is_finite() {
        return NOT_AVAILABLE.to_string();
    }
    let text = format!("{:.*}%", dp, ratio * 100.0);
    // A small negative that rounds to zero is zero: `0%`, not `-0%`.
    match text.strip_prefix('-') {
        Some(rest) if !rest.chars().any(|c| c.is_ascii_digit() && c != '0') => rest.to_string(),
        _ => text,
    }
}

/// Money in £000s, negatives (overspends) in brackets: `-980` → `(980)`.
pub fn money_thousands(value: f64) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_string();
    }
    let rounded = value.round();
    if rounded < 0.0 {
        format!("({})", thousands(-rounded, 0))
    } else {
        thousands(rounded, 0)
    }
}

/// A count under disclosure control: 1 to 4 print as `<5`.
pub fn suppressed_count(value: f64) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_string();
    }
    let v = value.round();
    if (1.0..=4.0).contains(&v) {
        "<5".to_string()
    } else {
        thousands(v, 0)
    }
}

/// A signed number: `+3.2`, `-1.0`, for variances.
pub fn signed(value: f64, dp: usize) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_string();
    }
    let text = thousands(value, dp);
    if value > 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("+{text}")
    } else {
        text
    }
}

/// Escapes text for Typst markup: every ASCII punctuation character is backslash-escaped (Typst reads
/// `\x` as the literal `x`), so nothing in the text can start markup, code, maths, a label, a reference
/// or a comment. Line breaks become spaces; other control characters are dropped, and so are explicit
/// bidirectional overrides and isolates, which would make printed text read other than its value
/// (`"\u{202e}txt.exe"` shows as `exe.txt`); right-to-left script itself prints as written.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_bidi_control(c) {
            continue;
        }
        if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else if matches!(c, '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}') {
            // Typst reads the Unicode line and paragraph separators as line breaks too: two would end
            // the paragraph (the property fuzz/fuzz_targets/escape.rs checks).
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Commentary text with its placeholders filled in: every `{{ … }}` is replaced by `figure(body)` (the
/// text between the braces, trimmed of spaces and tabs), which is already Typst markup (a formatted figure, escaped where it
/// came from data); the text around the placeholders is escaped like any other text from data, so neither
/// the prose nor a figure's text can become markup. The rule for where a placeholder ends is the one
/// `sql/board-pack/commentary_figures.sql` splits by, so the template fills exactly the placeholders the
/// step resolved: a body runs from `{{` to the first `}}`; a `{{` before it leaves the first unclosed. An
/// unclosed placeholder, or one `figure` does not know, is an error naming it.
pub fn fill_placeholders(
    text: &str,
    figure: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&escape_markup(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after.find("}}");
        let next_open = after.find("{{");
        let end = match (close, next_open) {
            (Some(c), Some(o)) if o < c => None,
            (c, _) => c,
        };
        let Some(end) = end else {
            return Err(format!(
                "the placeholder `{{{{{}` is not closed with `}}}}`",
                after.chars().take(40).collect::<String>()
            ));
        };
        // Spaces and tabs only: the step trims the same characters (a line break cannot occur here).
        let body = after[..end].trim_matches([' ', '\t']);
        match figure(body) {
            Some(markup) => out.push_str(&markup),
            None => {
                return Err(format!(
                    "the placeholder `{{{{ {body} }}}}` was not resolved"
                ));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(&escape_markup(rest));
    Ok(out)
}

/// Explicit bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text as a Typst string literal (`"…"`), for template positions in code rather than markup.
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_plain_text_to_typst() {
        let input = "A&E #1 *x* $y$ // z \u{2028}\u{2028}para\u{2029}graph\n\n= not a heading";
        let escaped = escape_markup(input);
        let root = typst::syntax::parse(&escaped);
        assert!(!root.diagnosis().errors, "{escaped}");
        for node in root.children() {
            use typst::syntax::SyntaxKind::{Escape, Space, Text};
            assert!(
                matches!(node.kind(), Text | Escape | Space),
                "{escaped:?} holds {:?}",
                node.kind()
            );
        }
    }

    #[test]
    fn formats_as_the_seed_papers() {
        assert_eq!(thousands(392268.0, 0), "392,268");
        assert_eq!(thousands(-1234.5, 1), "-1,234.5");
        assert_eq!(thousands(-0.04, 1), "0.0");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(percent(0.7284, 1), "72.8%");
        assert_eq!(percent(-0.0035, 0), "0%");
        assert_eq!(percent(-0.051, 0), "-5%");
        assert_eq!(percent(f64::NAN, 1), "N/A");
        assert_eq!(money_thousands(-980.0), "(980)");
        assert_eq!(money_thousands(12345.4), "12,345");
        assert_eq!(suppressed_count(3.0), "<5");
        assert_eq!(suppressed_count(0.0), "0");
        assert_eq!(suppressed_count(5.0), "5");
        assert_eq!(signed(3.24, 1), "+3.2");
        assert_eq!(signed(-3.24, 1), "-3.2");
    }

    #[test]
    fn placeholders_are_filled_and_the_text_around_them_escaped() {
        let figure = |b: &str| (b == "cancer_2ww@SWFT | met").then(|| "90.5\\%".to_string());
        assert_eq!(
            fill_placeholders("SWFT *at* {{ cancer_2ww@SWFT | met }}.", figure).as_deref(),
            Ok("SWFT \\*at\\* 90.5\\%\\.")
        );
        assert!(
            fill_placeholders("{{ other }}", figure)
                .unwrap_err()
                .contains("`{{ other }}`")
        );
        assert!(fill_placeholders("{{ a {{ cancer_2ww@SWFT | met }}", figure).is_err());
        assert_eq!(
            fill_placeholders("a }} b", figure).as_deref(),
            Ok("a \\}\\} b")
        );
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape_markup("*Smith* & #Jones $1"),
            "\\*Smith\\* \\& \\#Jones \\$1"
        );
        assert_eq!(escape_markup("a\\b"), "a\\\\b");
        assert_eq!(escape_markup("= heading\n- item"), "\\= heading \\- item");
        assert_eq!(string_literal("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    }
}
