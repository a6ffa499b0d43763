//! Rendering: step results → minijinja template → Typst markup → PDF, in process.
//!
//! Owns templates (`reports/`), formats, charts and the Typst compiler's view of the world (fonts, files,
//! the date). It receives the rows a report uses and returns PDF bytes; it never queries the engine and
//! never writes to the store.

mod alt_text;
pub mod chart;
mod data;
pub mod format;
mod memory;
mod origin;
mod template;
mod typst_world;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use typst::foundations::Bytes;
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;

use crate::world::Project;

/// The fonts reports are typeset with: Typst's bundled fonts plus Liberation Sans (SIL OFL 1.1, metric-
/// compatible with Arial, the NHS's fallback for Frutiger) for body text. Embedded in the binary, so a
/// report looks the same on every machine and no system font is ever consulted.
pub struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

const BODY_FONTS: [&[u8]; 4] = [
    include_bytes!("../../reports/fonts/LiberationSans-Regular.ttf"),
    include_bytes!("../../reports/fonts/LiberationSans-Bold.ttf"),
    include_bytes!("../../reports/fonts/LiberationSans-Italic.ttf"),
    include_bytes!("../../reports/fonts/LiberationSans-BoldItalic.ttf"),
];

impl Fonts {
    pub fn embedded() -> Arc<Fonts> {
        let fonts: Vec<Font> = BODY_FONTS
            .into_iter()
            .chain(typst_assets::fonts())
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        let book = LazyHash::new(FontBook::from_fonts(&fonts));
        Arc::new(Fonts { book, fonts })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template `{template}`: {message}")]
    Template { template: String, message: String },
    #[error("typesetting `{template}`: {message}")]
    Typst { template: String, message: String },
}

/// Files a template generates while rendering (charts), served to Typst from memory.
#[derive(Clone, Default)]
pub struct Generated(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl Generated {
    /// Stores `bytes` and returns the absolute Typst path to embed them (`/_generated/chart-3.svg`).
    pub fn add(&self, stem: &str, extension: &str, bytes: Vec<u8>) -> String {
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let path = format!("/_generated/{stem}-{}.{extension}", files.len() + 1);
        files.insert(path.clone(), bytes);
        path
    }

    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }
}

/// A table as the template sees it: a list of rows, each a map of column to value. Built once from JSON
/// rows; clones share it, so a table every part of a report reads is converted once, not once per part.
pub type TableValue = minijinja::Value;

/// The template's view of table `name` from its rows (a JSON array of objects): a row refuses a column
/// the table does not have, naming those it has (`data`). `columns`, when given, are the table's columns
/// even when `rows` is a part of the table that has none.
///
/// `guard` is the disclosure rule over its counts (`crate::disclosure::Declaration::guard`): every step
/// table a report reads has one, a seed (reference data) none.
pub fn table_value(
    name: &str,
    rows: &Json,
    columns: Option<&[String]>,
    guard: Option<Arc<crate::disclosure::Guard>>,
) -> TableValue {
    data::table(name, rows, columns, guard)
}

/// What a report needs to be typeset.
pub struct ReportInput<'a> {
    /// The template, relative to the project (`reports/board-pack/pack.typ.j2`).
    pub template: &'a str,
    /// The template context apart from the tables: parameters, run metadata.
    pub context: Json,
    /// The tables, by name (the template's `tables`).
    pub tables: BTreeMap<String, TableValue>,
    /// The document date and PDF timestamp.
    pub date: DateTime<Utc>,
    /// A stable identifier for the PDF (same report of the same run → same identifier).
    pub ident: String,
    /// The process's resident memory beyond which typesetting empties Typst's caches (`memory`).
    pub memory_budget: Option<u64>,
}

/// The stack of the thread a report is rendered and typeset on. Typst's parser, evaluator and layout recurse
/// over the document; the primary-care dashboard at scale 16 (9 MB of markup) overflowed the 2 MiB stack of
/// a Tokio blocking thread and aborted the process. Only the pages touched count as memory.
const RENDER_STACK: usize = 512 << 20;

/// Renders a template to Typst markup and typesets it to PDF, on a thread of its own with a large stack.
pub fn render_pdf(
    project: Arc<Project>,
    fonts: &Fonts,
    input: ReportInput<'_>,
) -> Result<Vec<u8>, RenderError> {
    let template = input.template.to_string();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("typeset".into())
            .stack_size(RENDER_STACK)
            .spawn_scoped(scope, || render_pdf_here(project, fonts, input))
            .map_err(|e| RenderError::Typst {
                template: template.clone(),
                message: format!("cannot start the typesetting thread: {e}"),
            })?
            .join()
            .map_err(|_| RenderError::Typst {
                template: template.clone(),
                message: "typesetting stopped unexpectedly (a panic)".into(),
            })?
    })
}

fn render_pdf_here(
    project: Arc<Project>,
    fonts: &Fonts,
    input: ReportInput<'_>,
) -> Result<Vec<u8>, RenderError> {
    let generated = Generated::default();
    let ReportInput {
        memory_budget,
        template,
        context,
        tables,
        date,
        ident,
    } = input;
    let mut markup = render_markup(project.clone(), &generated, template, &context, tables)?;
    // Every report of a run ends with the house style's appendix "Data sources and lineage".
    if let Some(lineage) = context.get("lineage").filter(|l| l.is_object()) {
        let path = generated.add("lineage", "json", lineage.to_string().into_bytes());
        markup.push_str(&format!(
            "\n#import \"/reports/_lib/boardpack.typ\": lineage-appendix\n#lineage-appendix(json({}))\n",
            format::string_literal(&path)
        ));
    }
    // The tables (moved into `render_markup`, freed when it returned) are in the markup now: hand their
    // memory back before Typst lays the document out (at regional scale they were a gigabyte, held for
    // nothing while the pages grew).
    memory::release_free_memory();
    tracing::debug!(
        template,
        markup_bytes = markup.len(),
        resident_mib = memory::resident_mib(),
        "template rendered"
    );
    let _budget = memory::MemoBudget::start(memory_budget, template);
    // The document's title unless the template sets one (the house style's `report` does).
    let title = context
        .get("title")
        .and_then(|t| t.as_str())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(template)
        .to_string();
    typst_world::typeset(
        Some(&project),
        fonts,
        &generated,
        template,
        markup,
        date,
        &ident,
        &title,
    )
}

/// Typesets SVG charts into a PDF, one titled chart per page (for `boardpack spc --chart out.pdf`).
pub fn charts_pdf(
    fonts: &Fonts,
    title: &str,
    charts: &[(String, String)],
    date: DateTime<Utc>,
) -> Result<Vec<u8>, RenderError> {
    let generated = Generated::default();
    let mut markup = String::from(
        "#set page(paper: \"a4\", flipped: true, margin: 14mm)\n#set text(font: \"Liberation Sans\", size: 10pt)\n",
    );
    for (i, (heading, svg)) in charts.iter().enumerate() {
        let path = generated.add("chart", "svg", svg.clone().into_bytes());
        if i > 0 {
            markup.push_str("#pagebreak()\n");
        }
        markup.push_str(&format!(
            "#text(size: 13pt, weight: \"bold\")[{}]\n\n#image({}, width: 100%, alt: {})\n",
            format::escape_markup(heading),
            format::string_literal(&path),
            // PDF/UA-1: every image has alternative text; the chart's heading names what it shows.
            format::string_literal(&format!("SPC chart: {heading}"))
        ));
    }
    // Nothing to import: the document sees no project files at all.
    typst_world::typeset(
        None,
        fonts,
        &generated,
        "spc chart",
        markup,
        date,
        title,
        title,
    )
}

/// Every syntax error and missing included template of `template` (relative to the project) and of the
/// templates it includes, found by compiling them with the environment reports are rendered with.
pub fn check_template(project: Arc<Project>, template: &str) -> Vec<crate::diagnostic::Diagnostic> {
    template::check(project, template)
}

/// The project files a template's text comes from: the template (`reports/…`), the templates it includes,
/// imports or extends by string literal (transitively), and the Typst files it `#import`s by absolute path
/// (`/reports/_lib/boardpack.typ`), sorted. Read from disk without being recorded as read by a run: the
/// selection of changed steps (`crate::select`) asks, not the run.
pub fn template_sources(project: &Project, template: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = vec![
        template
            .strip_prefix("reports/")
            .unwrap_or(template)
            .to_string(),
    ];
    while let Some(name) = queue.pop() {
        let file = format!("reports/{name}");
        if !seen.insert(file.clone()) {
            continue;
        }
        let Some(source) = project
            .file_path(&file)
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            continue;
        };
        for r in template::references(&source) {
            queue.extend(r.names);
        }
        for piece in source.split("#import \"/").skip(1) {
            if let Some((path, _)) = piece.split_once('"') {
                if let Some(rest) = path.strip_prefix("reports/") {
                    queue.push(rest.to_string());
                } else if !path.is_empty() {
                    seen.insert(path.to_string());
                }
            }
        }
    }
    seen.into_iter().collect()
}

/// Renders a template to Typst markup only (for inspection and tests).
pub fn render_markup(
    project: Arc<Project>,
    generated: &Generated,
    template: &str,
    context: &Json,
    tables: BTreeMap<String, TableValue>,
) -> Result<String, RenderError> {
    render_template(
        project,
        generated,
        template,
        context,
        tables,
        template::Mode::Report,
    )
    .map_err(|e| RenderError::Template {
        template: template.into(),
        message: describe(&e),
    })
}

fn render_template(
    project: Arc<Project>,
    generated: &Generated,
    template: &str,
    context: &Json,
    tables: BTreeMap<String, TableValue>,
    mode: template::Mode,
) -> Result<String, minijinja::Error> {
    let name = template.strip_prefix("reports/").unwrap_or(template);
    let env = template::environment_for(project, generated.clone(), mode);
    let tmpl = env.get_template(name)?;
    let mut values: BTreeMap<String, minijinja::Value> = context
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), minijinja::Value::from_serialize(v)))
        .collect();
    values.insert("tables".into(), data::tables(tables));
    data::reset_withheld();
    tmpl.render(minijinja::Value::from_iter(values))
}

/// The columns of a table as `validate` knows them (from the plan, without data): name and type.
pub type Shape = Vec<(String, data::SyntheticKind)>;

pub use data::{SyntheticKind, synthetic_table};

/// Renders `template` once, with the render's environment, against `tables` (one synthetic row of the
/// columns the plan declares, `synthetic_table`, or a seed's own rows), and returns the wrong name it
/// meets, at its template line: a table the report does not use, a column its table does not have, as a
/// run would report it. Other errors a synthetic row provokes (a condition on values it cannot meet) are
/// not reported: the render stops there, and what follows is checked by the run.
pub fn check_names(
    project: Arc<Project>,
    template: &str,
    context: &Json,
    tables: BTreeMap<String, TableValue>,
) -> Option<crate::diagnostic::Diagnostic> {
    let name = template.strip_prefix("reports/").unwrap_or(template);
    let mode = template::Mode::Synthetic;
    match render_template(
        project,
        &Generated::default(),
        template,
        context,
        tables,
        mode,
    ) {
        Err(e) if data::is_wrong_name(&e) => Some(template::diagnostic(name, &e)),
        Err(e) => {
            tracing::debug!(template, error = %e, "validate: the synthetic render stopped");
            None
        }
        Ok(_) => None,
    }
}

/// A minijinja error with its template line and the chain of causes.
fn describe(e: &minijinja::Error) -> String {
    // `file:line: what is wrong`; minijinja's own text ends with `(in file:line)` again.
    let what = match (e.kind(), e.detail()) {
        // The errors of charts and data lookups say what they are (`line_chart: table …`).
        (minijinja::ErrorKind::InvalidOperation, Some(d)) => d.to_string(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    let mut text = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("reports/{name}:{line}: {what}"),
        _ => e.to_string(),
    };
    if let Some(why) = e.detail().and_then(data::describe_withheld) {
        text.push_str(&format!(": {why}"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
