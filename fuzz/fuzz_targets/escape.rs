//! Fuzzes the Typst escaping of text from data (`render::format::escape_markup`, what every `{{ value }}`
//! in a template goes through): whatever the text, Typst must parse the escaped markup as plain text only
//! (text, escapes and spaces: no markup, code, maths, label, comment, paragraph break or error), and the
//! text Typst reads must be the input's (line breaks read as spaces; control characters and bidirectional
//! overrides dropped).
#![no_main]

use boardpack::render::format::escape_markup;
use libfuzzer_sys::fuzz_target;
use typst::syntax::{SyntaxKind, SyntaxNode};

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let escaped = escape_markup(input);
    let root: SyntaxNode = typst::syntax::parse(&escaped);
    assert!(!root.diagnosis().errors, "{escaped:?} does not parse");
    let mut read = String::new();
    for node in root.children() {
        match node.kind() {
            SyntaxKind::Text => read.push_str(node.leaf_text()),
            // `\#` reads as `#`.
            SyntaxKind::Escape => read.push_str(&node.leaf_text()[1..]),
            SyntaxKind::Space => read.push(' '),
            other => panic!("{input:?} escapes to {escaped:?}, which Typst reads as {other:?}"),
        }
    }
    let expected: String = input
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => Some(' '),
            // Explicit bidirectional embeddings, overrides and isolates are dropped too: they would make
            // the printed text read other than its value.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    assert_eq!(
        collapse(&read),
        collapse(&expected),
        "{input:?} → {escaped:?}"
    );
});
