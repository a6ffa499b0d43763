//! Diagnostics: an error or warning about a file the user wrote, with the place it points at.
//!
//! Owns only the shape and display of a diagnostic (`pipelines/x.yaml:12:5: unknown step `y``), so that
//! spec parsing, plan validation and SQL analysis all report problems the same way, all at once.

use std::fmt;
use std::path::PathBuf;

/// A place in a project file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem found in a project file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Where the problem is; `None` when it concerns a whole file that could not be read.
    pub location: Option<Location>,
    pub file: PathBuf,
    pub message: String,
}

impl Diagnostic {
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        Self {
            file: location.file.clone(),
            location: Some(location),
            message: message.into(),
        }
    }

    pub fn in_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in one pass; reported together so that a user fixes them in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// `Ok(value)` when nothing was found, otherwise every diagnostic, sorted by place.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.sorted())
        }
    }

    /// The diagnostics in file, line and column order.
    pub fn sorted(mut self) -> Diagnostics {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                (
                    d.file.clone(),
                    d.location
                        .as_ref()
                        .map(|l| (l.line, l.column))
                        .unwrap_or((0, 0)),
                )
            };
            key(a).cmp(&key(b))
        });
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// An error with its causes, `: `-joined: transport errors (tonic's "transport error", reqwest's "error
/// sending request") say little at the top.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The name among `known` nearest to a mistyped `name`, when it is near enough to be a typing slip (an
/// edit distance of at most 2, or a quarter of the name's length): for "did you mean" in messages.
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(k, name), k))
        .min()
        .filter(|(d, _)| *d <= 2.max(name.len() / 4))
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod nearest_tests {
    #[test]
    fn a_typing_slip_finds_the_name_meant_and_a_stranger_finds_none() {
        assert_eq!(super::edit_distance("summary", "sumary"), 1);
        assert_eq!(
            super::nearest("sumary", ["summary", "by_clinic"]),
            Some("summary")
        );
        assert_eq!(
            super::nearest("waiting_list", ["summary", "by_clinic"]),
            None
        );
    }
}
