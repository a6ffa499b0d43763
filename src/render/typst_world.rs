//! Typst's view of a report: the generated markup as the main file, `reports/` for imports, generated
//! charts from memory, the embedded fonts, and a date given by the run — never the wall clock.

use chrono::{DateTime, Datelike, Timelike, Utc};
use typst::diag::{FileError, FileResult, Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::model::DocumentElem;
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook, Lang, Region, TextElem};
use typst::utils::LazyHash;
use typst::{Feature, Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use super::origin::Origin;
use super::{Fonts, Generated, RenderError};
use crate::world::Project;

const MAIN: &str = "/_main.typ";

struct ReportWorld<'a> {
    library: LazyHash<Library>,
    fonts: &'a Fonts,
    main: Source,
    /// Where `reports/` imports come from; `None` for documents that import nothing.
    project: Option<&'a Project>,
    generated: &'a Generated,
    date: DateTime<Utc>,
}

fn file_id(path: &str) -> Option<FileId> {
    Some(RootedPath::new(VirtualRoot::Project, VirtualPath::new(path).ok()?).intern())
}

impl World for ReportWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        let bytes = self.file(id)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| FileError::InvalidUtf8)?;
        Ok(Source::new(id, text.to_string()))
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if !matches!(id.root(), VirtualRoot::Project) {
            return Err(FileError::Other(Some(
                "Typst packages are not available: reports must be self-contained".into(),
            )));
        }
        let path = id.vpath().get_with_slash();
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.text().to_string()));
        }
        if let Some(bytes) = self.generated.get(path) {
            return Ok(Bytes::new(bytes));
        }
        // Only files under reports/ are visible to templates.
        let rel = path.trim_start_matches('/');
        if !rel.starts_with("reports/") {
            return Err(FileError::AccessDenied);
        }
        let project = self.project.ok_or(FileError::AccessDenied)?;
        project
            .read(rel)
            .map(Bytes::new)
            .map_err(|_| FileError::NotFound(rel.into()))
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }
    fn today(&self, offset: Option<Duration>) -> Option<Datetime> {
        let hours = offset.map(|o| o.hours() as i64).unwrap_or(0);
        let d = self.date + chrono::Duration::hours(hours);
        Datetime::from_ymd(d.year(), d.month() as u8, d.day() as u8)
    }
}

pub(super) fn typeset(
    project: Option<&Project>,
    fonts: &Fonts,
    generated: &Generated,
    template: &str,
    markup: String,
    date: DateTime<Utc>,
    ident: &str,
    title: &str,
) -> Result<Vec<u8>, RenderError> {
    let id = file_id(MAIN).expect("a constant valid path");
    // `a11y-extras` gives templates `pdf.header-cell(scope: "row")`: the first column of a table of
    // facts (the cover sheet, a practice's profile) is its header, tagged as PDF/UA asks.
    let mut library = Library::builder()
        .with_features([Feature::A11yExtras].into_iter().collect())
        .build();
    // PDF/UA-1 asks every document for a title and a language. These are the defaults beneath the
    // template's own `set` rules (the house style's `report` sets both), so that a user's template
    // that sets neither is still accessible: the report's title and British English.
    library
        .styles
        .set(DocumentElem::title, Some(TextElem::packed(title)));
    library.styles.set(TextElem::lang, Lang::ENGLISH);
    library
        .styles
        .set(TextElem::region, "gb".parse::<Region>().ok());
    let world = ReportWorld {
        library: LazyHash::new(library),
        fonts,
        main: Source::new(id, markup),
        project,
        generated,
        date,
    };
    let err = |message: String| RenderError::Typst {
        template: template.to_string(),
        message,
    };
    let result = typst::compile::<PagedDocument>(&world);
    let document = result
        .output
        .map_err(|diags| err(describe(&world, template, &diags)))?;
    tracing::debug!(
        template,
        pages = document.pages().len(),
        resident_mib = super::memory::resident_mib(),
        "typeset"
    );
    let datetime = Datetime::from_ymd_hms(
        date.year(),
        date.month() as u8,
        date.day() as u8,
        date.hour() as u8,
        date.minute() as u8,
        date.second() as u8,
    );
    // Every PDF is PDF/UA-1 (the Public Sector Bodies Accessibility Regulations 2018 ask board papers
    // to meet WCAG 2.1 AA): Typst then tags the document and refuses to export one without a title, a
    // language or alt text on an image, an error `describe` places at the template's line.
    let standards = PdfStandards::new(&[PdfStandard::Ua_1])
        .map_err(|e| err(format!("PDF/UA-1 could not be configured: {}", e.message())))?;
    let options = PdfOptions {
        ident: Smart::Custom(ident.to_string()),
        creator: Smart::Custom(Some(format!("boardpack {}", env!("CARGO_PKG_VERSION")))),
        timestamp: datetime.map(Timestamp::new_utc),
        standards,
        ..PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|diags| err(describe(&world, template, &diags)))
}

/// Typst diagnostics as `file:line:column: message` lines. An error in the generated markup is placed at
/// the template line that produced it (`super::origin`), the generated line kept as context.
fn describe(world: &ReportWorld, template: &str, diags: &[SourceDiagnostic]) -> String {
    let mut out = Vec::new();
    // Read only when an error needs it: the template and what it includes.
    let mut origin: Option<Origin> = None;
    for d in diags.iter().filter(|d| d.severity == Severity::Error) {
        let mut line = d.message.to_string();
        if let Some(id) = d.span.id() {
            if let (Ok(source), Some(range)) = (world.source(id), world.range(d.span)) {
                if let Some((l, c)) = source.lines().byte_to_line_column(range.start) {
                    let file = if id == world.main.id() {
                        "generated markup".to_string()
                    } else {
                        id.vpath().get_without_slash().to_string()
                    };
                    let full = source.text().lines().nth(l).unwrap_or("");
                    let text = full.trim().chars().take(120).collect::<String>();
                    let place = match (id == world.main.id(), world.project) {
                        (true, Some(project)) => origin
                            .get_or_insert_with(|| Origin::load(project, template))
                            .locate(full, c + 1),
                        _ => None,
                    };
                    line = match place {
                        Some(p) => {
                            let also = if p.also.is_empty() {
                                String::new()
                            } else {
                                format!(" (or {})", p.also.join(", "))
                            };
                            format!(
                                "{}{}:{}:{}{also}: {} (generated markup {}:{}: `{text}`)",
                                if p.exact { "" } else { "near " },
                                p.file,
                                p.line,
                                p.column,
                                d.message,
                                l + 1,
                                c + 1,
                            )
                        }
                        None => format!("{file}:{}:{}: {} (in `{text}`)", l + 1, c + 1, d.message),
                    };
                }
            }
        }
        // PDF/UA-1's errors say what is missing; their hints say what to do, worded here for a template.
        if d.message.starts_with("PDF/UA") {
            if d.message.contains("missing alt text") {
                line.push_str(
                    " — give the image alternative text: `#image(…, alt: \"…\")`; the chart functions \
                     generate theirs, or take `alt=\"…\"`",
                );
            } else {
                for hint in &d.hints {
                    line.push_str(&format!(" (hint: {})", hint.v));
                }
            }
        }
        out.push(line);
    }
    if out.is_empty() {
        "unknown Typst error".to_string()
    } else {
        out.join("; ")
    }
}
