//! Audit trail of a run beyond its record's core: input row counts from Parquet footers, one digest per
//! input, the configuration and template files a run depends on (read before it computes its
//! fingerprint), the "Data sources and lineage" data its PDFs print, content-addressed copies of every
//! project file on the store (`files/sha256/<hash>`), a project rebuilt from those copies for `verify`,
//! and the `ORDER BY` keys of a statement (for checking that a result's row order is total).
//!
//! Owns those pieces only; `execute` calls them and writes the record, `verify` re-executes. It never
//! deletes or overwrites anything on the store: copies are written create-if-absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value as Json, json};

use crate::plan::{Plan, StepKind};
use crate::record::{InputRecord, ObjectRecord, RunRecord};
use crate::store::{Store, StoreError, sha256_hex};
use crate::world::{Project, World};

/// Where copies of project files live on the store, by SHA-256.
pub const FILE_STORE: &str = "files/sha256";

/// The store path of the copy of a file with this SHA-256.
pub fn stored_file(sha256: &str) -> String {
    format!("{FILE_STORE}/{sha256}")
}

/// Reads, through the project (so that their hashes go into the record and the fingerprint), the
/// configuration file (`config_file`: the one the settings came from, when it lies in the project) and
/// every template a report step of the plan can use: the files under the template's folder and the shared
/// house style `reports/_lib/`. They are read before the fingerprint so that the PDFs' appendix can list
/// them; a report reads nothing else of the project.
pub fn read_run_files(project: &Project, plan: &Plan, config_file: Option<&str>) {
    if let Some(f) = config_file
        && project.exists(f)
    {
        let _ = project.read(f);
    }
    let mut folders = std::collections::BTreeSet::new();
    for s in &plan.steps {
        if let StepKind::Report { template, .. } = &s.kind {
            let rel = template.strip_prefix("reports/").unwrap_or(template);
            let folder = match rel.rsplit_once('/') {
                Some((dir, _)) => format!("reports/{dir}"),
                None => "reports".to_string(),
            };
            folders.insert(folder);
            folders.insert("reports/_lib".to_string());
        }
    }
    for folder in folders {
        let mut files = Vec::new();
        if let Ok(dir) = project.file_path(&folder) {
            template_files(&dir, &folder, &mut files);
        }
        files.sort();
        for f in files {
            let _ = project.read(&f);
        }
    }
}

fn template_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let rel = format!("{rel}/{name}");
        if path.is_dir() {
            template_files(&path, &rel, out);
        } else if name.ends_with(".typ.j2") || name.ends_with(".typ") {
            out.push(rel);
        }
    }
}

/// One SHA-256 for an input as read: of `<path> <sha256>\n` for each of its objects, in order.
pub fn input_digest(objects: &[ObjectRecord]) -> String {
    let text: String = objects
        .iter()
        .map(|o| format!("{} {}\n", o.path, o.sha256))
        .collect();
    sha256_hex(text.as_bytes())
}

/// The rows of a Parquet object, from its footer (two ranged reads; the data pages are not read).
pub async fn parquet_rows(store: &Store, path: &str, size: u64) -> Result<u64, String> {
    use object_store::ObjectStoreExt as _;
    let bad = |what: &str| format!("`{path}`: {what}");
    if size < 12 {
        return Err(bad("too short to be Parquet"));
    }
    let location = store.path(path).map_err(|e| e.to_string())?;
    let os = store.object_store();
    let tail = os
        .get_range(&location, size - 8..size)
        .await
        .map_err(|e| bad(&format!("reading the Parquet footer: {e}")))?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(bad("not Parquet (no footer)"));
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 8 > size - 4 {
        return Err(bad("the Parquet footer length is wrong"));
    }
    let footer = os
        .get_range(&location, size - 8 - len..size - 8)
        .await
        .map_err(|e| bad(&format!("reading the Parquet footer: {e}")))?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer)
        .map_err(|e| bad(&format!("the Parquet footer: {e}")))?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

/// Fills in an input's row counts and digest from its objects.
pub async fn complete_input(store: &Store, input: &mut InputRecord) -> Result<(), String> {
    let mut total = 0u64;
    for o in &input.objects {
        let n = parquet_rows(store, &o.path, o.size)
            .await
            .map_err(|e| format!("input `{}`: {e}", input.name))?;
        total += n;
        input.object_rows.insert(o.path.clone(), n);
    }
    input.rows = Some(total);
    input.sha256 = input_digest(&input.objects);
    Ok(())
}

/// The first 12 hex digits of a hash, as the appendix prints it (the full hash is in the record).
pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// What the PDFs' appendix "Data sources and lineage" prints: the run's fingerprint (not its id, so that
/// a PDF stays reproducible), the code version, every input (months, objects, rows, digest) and every
/// project file read (with its hash). The same values are in the run record.
pub fn lineage_context(record: &RunRecord, files: &BTreeMap<String, String>) -> Json {
    let inputs: Vec<Json> = record
        .inputs
        .iter()
        .map(|i| {
            let months = match (i.months.first(), i.months.last()) {
                (Some(a), Some(b)) if a == b => a.clone(),
                (Some(a), Some(b)) => format!("{a} to {b} ({} months)", i.months.len()),
                _ => "all (not partitioned)".to_string(),
            };
            json!({
                "name": i.name,
                "location": i.location,
                "months": months,
                "objects": i.objects.len(),
                "rows": i.rows,
                "sha256": i.sha256,
                "short": short(&i.sha256),
            })
        })
        .collect();
    let files: Vec<Json> = files
        .iter()
        .map(|(path, sha)| json!({ "path": path, "kind": file_kind(path), "sha256": sha, "short": short(sha) }))
        .collect();
    json!({
        "fingerprint": record.fingerprint,
        "pipeline": record.pipeline,
        "period": record.period,
        "tool": record.tool.name,
        "version": record.tool.version,
        "git_commit": record.tool.git_commit.clone().unwrap_or_else(|| "not recorded".into()),
        "parameters": record.parameters,
        "inputs": inputs,
        "files": files,
        "record": format!("runs/{}/{}/<run id>/run.json", record.pipeline, record.period),
    })
}

/// What a project file is, for the appendix.
fn file_kind(path: &str) -> &'static str {
    if path.starts_with("pipelines/") {
        "pipeline"
    } else if path.starts_with("sql/") {
        "SQL"
    } else if path.starts_with("reports/") {
        "template"
    } else if path == "config/boardpack.yaml" {
        "configuration"
    } else if path.contains("/factors/") {
        "factors"
    } else if path.contains("commentary") {
        "commentary"
    } else if path.starts_with("config/") {
        "seed"
    } else {
        "file"
    }
}

/// Keeps a copy of every project file of `files` on the store under its SHA-256, written once: a copy
/// already there (same content, by its name) is left alone. A file that changed on disk since the run
/// read it is not copied; its name is returned so that the run can warn.
pub async fn store_files(
    world: &World,
    files: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let mut changed = Vec::new();
    for (path, sha) in files {
        let target = stored_file(sha);
        if world
            .store
            .exists(&target)
            .await
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        let bytes = world
            .project
            .file_path(path)
            .ok()
            .and_then(|p| std::fs::read(p).ok());
        match bytes {
            Some(b) if sha256_hex(&b) == *sha => {
                match world.store.put_new(&target, Bytes::from(b)).await {
                    Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(format!("keeping a copy of `{path}`: {e}")),
                }
            }
            _ => changed.push(path.clone()),
        }
    }
    Ok(changed)
}

/// A project folder holding exactly the files of a run as it read them: each from the project when it
/// is unchanged, else from its copy on the store. Removed when dropped.
pub struct RunProject {
    pub root: PathBuf,
    /// Files taken from the store's copies (changed or gone in the project).
    pub from_store: Vec<String>,
}

impl Drop for RunProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Rebuilds the run's project files in a scratch folder (see [`RunProject`]). `Ok(None)` when every file
/// is unchanged in the project (nothing to rebuild). Errors name a file that changed and has no copy.
pub async fn run_project(world: &World, record: &RunRecord) -> Result<Option<RunProject>, String> {
    let mut unchanged = BTreeMap::new();
    let mut changed = Vec::new();
    for (path, sha) in &record.files {
        let now = world
            .project
            .file_path(path)
            .ok()
            .and_then(|p| std::fs::read(p).ok());
        match now {
            Some(b) if sha256_hex(&b) == *sha => {
                unchanged.insert(path.clone(), b);
            }
            _ => changed.push((path.clone(), sha.clone())),
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let root = std::env::temp_dir().join(format!(
        "boardpack-verify-{}-{:08x}",
        record.run_id,
        rand::random::<u32>()
    ));
    let project = RunProject {
        root: root.clone(),
        from_store: changed.iter().map(|(p, _)| p.clone()).collect(),
    };
    let write = |rel: &str, bytes: &[u8]| -> Result<(), String> {
        crate::store::check_relative(rel).map_err(|e| e.to_string())?;
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    for (rel, bytes) in &unchanged {
        write(rel, bytes)?;
    }
    for (rel, sha) in &changed {
        let bytes = world.store.get(&stored_file(sha)).await.map_err(|e| {
            format!(
                "`{rel}` changed since the run and the store has no copy of it as the run read it ({e})"
            )
        })?;
        if sha256_hex(&bytes) != *sha {
            return Err(format!(
                "the store's copy of `{rel}` ({}) does not have its recorded content",
                stored_file(sha)
            ));
        }
        write(rel, &bytes)?;
    }
    Ok(Some(project))
}

/// The same world reading its project files from `root`.
pub fn world_at(world: &World, root: &Path) -> World {
    let mut w = world.clone();
    w.project = Arc::new(Project::new(root));
    w
}

/// The plain columns among a statement's outermost `ORDER BY` keys (expressions left out; `None` when the
/// statement has no `ORDER BY`). When the result has no two rows alike on these columns, its order is
/// total whatever the other keys are.
pub fn order_by_columns(sql: &str) -> Option<Vec<String>> {
    use datafusion::sql::sqlparser::ast::{Expr, OrderByKind, Statement};
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    let Some(Statement::Query(q)) = statements.into_iter().next() else {
        return None;
    };
    let order = q.order_by.as_ref()?;
    let OrderByKind::Expressions(exprs) = &order.kind else {
        return None;
    };
    Some(
        exprs
            .iter()
            .filter_map(|e| match &e.expr {
                Expr::Identifier(i) => Some(i.value.clone()),
                Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
                _ => None,
            })
            .collect(),
    )
}
