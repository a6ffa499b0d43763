//! The step cache: a SQL step whose result is fully determined by what it reads reuses the result an
//! earlier run computed from the same things, instead of running its SQL again.
//!
//! A step's key is the SHA-256 of everything its result depends on: the tool (name, version, git commit,
//! which fix the engine and the Parquet writer), the engine settings that change results (partitions), the
//! step's SQL text, every bound parameter, and the content of every table it reads: an input by its months
//! and the SHA-256 of each object read, a seed by the SHA-256 of its files, an upstream step by the
//! SHA-256 of its materialised Parquet. A step that reads anything else (`run_files`, the previous run's
//! tables) has no key and always runs.
//!
//! Entries live on the run's store, content addressed: `cache/steps/<key>.parquet` (the result, the same
//! bytes an uncached run writes) and `cache/steps/<key>.json` (its rows, size and SHA-256), each written
//! create-if-absent, the JSON after the Parquet. A reader trusts an entry only when the Parquet's bytes hash
//! to what the JSON says, so two runs filling the same entry at once, or a run that died halfway, can never
//! hand a reader a partial result: at worst the step runs again.
//!
//! The same goes for an input's row rules (nulls, keys, ranges: a scan of every object read): objects
//! whose SHA-256 passed them under the same contract leave a marker, `cache/rules/<key>.json`, and are not
//! scanned again.
//!
//! Owns the keys and the entries. It does not run SQL (that is `engine`) nor decide what runs (`execute`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Config;
use crate::engine::{Engine, Materialised, table_references};
use crate::plan::Input;
use crate::record::ToolInfo;
use crate::store::{Store, StoreError, sha256_hex};

/// Where entries live on the store.
pub const CACHE_PREFIX: &str = "cache/steps";
/// Markers of inputs whose objects passed their contract's row rules.
pub const RULES_PREFIX: &str = "cache/rules";

/// What the JSON half of an entry says about its Parquet half.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub rows: u64,
    pub size: u64,
    pub sha256: String,
}

/// The cache as one run uses it: the store, and the content ids of the tables known so far.
#[derive(Clone)]
pub struct StepCache {
    store: Store,
    /// What every key starts with: tool and engine settings.
    salt: String,
    /// Table name → content id (a SHA-256), for every table a cacheable step may read.
    sources: Arc<Mutex<BTreeMap<String, String>>>,
}

impl StepCache {
    pub fn new(store: &Store, config: &Config) -> StepCache {
        let tool = ToolInfo::current();
        let salt = json!({
            "tool": [tool.name, tool.version, tool.git_commit],
            "target_partitions": config.engine.target_partitions,
        })
        .to_string();
        StepCache {
            store: store.clone(),
            salt,
            sources: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Records the content id of a table steps may read (an input, a seed, a step's result).
    pub fn add_source(&self, table: &str, content_id: String) {
        if let Ok(mut s) = self.sources.lock() {
            s.insert(table.to_string(), content_id);
        }
    }

    /// The content id of an input: its months and each object read, with its SHA-256.
    pub fn input_id<'a>(
        months: &[String],
        objects: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> String {
        let objects: Vec<[&str; 2]> = objects.map(|(p, s)| [p, s]).collect();
        sha256_hex(
            json!({"months": months, "objects": objects})
                .to_string()
                .as_bytes(),
        )
    }

    /// The content id of a seed: the SHA-256 of each of its files, as the project read them. None when a
    /// file was not read (then the seed is unknown and its readers are not cached).
    pub fn seed_id(files: &[String], read: &BTreeMap<String, String>) -> Option<String> {
        let mut hashes = Vec::new();
        for f in files {
            hashes.push([f.as_str(), read.get(f)?.as_str()]);
        }
        Some(sha256_hex(json!(hashes).to_string().as_bytes()))
    }

    /// The key of a SQL step reading `tables`, or None when one of them has no content id.
    pub fn key(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
        tables: &BTreeSet<String>,
    ) -> Option<String> {
        let sources = self.sources.lock().ok()?;
        let mut read = BTreeMap::new();
        for t in tables {
            read.insert(t.as_str(), sources.get(t)?.as_str());
        }
        // A parameter by its type and value: `Date32(19083)` and `Utf8("19083")` differ.
        let params: Vec<[String; 2]> = params
            .iter()
            .map(|(n, v)| [n.clone(), format!("{v:?}")])
            .collect();
        let doc = json!({
            "salt": self.salt,
            "sql": sql,
            "params": params,
            "tables": read,
        });
        Some(sha256_hex(doc.to_string().as_bytes()))
    }

    fn paths(key: &str) -> (String, String) {
        (
            format!("{CACHE_PREFIX}/{key}.parquet"),
            format!("{CACHE_PREFIX}/{key}.json"),
        )
    }

    /// Copies the entry for `key` to `dest`, when there is a whole one. Anything missing, unreadable or
    /// not matching its hash is a miss, never an error: the step then runs.
    pub async fn fetch(&self, key: &str, dest: &str) -> Option<Entry> {
        let (parquet, meta) = Self::paths(key);
        let entry: Entry = serde_json::from_slice(&self.store.get(&meta).await.ok()?).ok()?;
        let bytes = self.store.get(&parquet).await.ok()?;
        if bytes.len() as u64 != entry.size || sha256_hex(&bytes) != entry.sha256 {
            return None;
        }
        self.store.put(dest, bytes).await.ok()?;
        Some(entry)
    }

    /// Keeps a result just materialised at `staged` as the entry for `key`. An entry already there (a run
    /// computing the same thing at the same time) is left as it is: it holds the same bytes.
    pub async fn keep(&self, key: &str, staged: &str, entry: &Entry) -> Result<(), StoreError> {
        let (parquet, meta) = Self::paths(key);
        let bytes = self.store.get(staged).await?;
        if sha256_hex(&bytes) != entry.sha256 {
            // Changed under us: keep nothing rather than an entry that lies.
            return Ok(());
        }
        ignore_existing(self.store.put_new(&parquet, bytes).await)?;
        let body = serde_json::to_vec(entry).unwrap_or_default();
        ignore_existing(self.store.put_new(&meta, Bytes::from(body)).await)
    }
}

fn ignore_existing(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Err(StoreError::AlreadyExists { .. }) => Ok(()),
        other => other,
    }
}

/// Materialises a SQL step's result at `path`: from the cache when it holds the step's key, else by
/// running the SQL (and keeping the result for next time). Returns whether it came from the cache.
pub async fn materialise(
    cache: Option<&StepCache>,
    engine: &Engine,
    sql: &str,
    params: &[(String, ScalarValue)],
    path: &str,
) -> Result<(Materialised, bool), String> {
    let key = cache.and_then(|c| {
        let tables: BTreeSet<String> = table_references(sql).ok()?.into_iter().collect();
        c.key(sql, params, &tables)
    });
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(e) = cache.fetch(key, path).await {
            let m = Materialised {
                path: path.to_string(),
                rows: e.rows,
                bytes: e.size,
                sha256: e.sha256,
            };
            return Ok((m, true));
        }
    }
    let m = engine
        .materialise(sql, params, path)
        .await
        .map_err(|e| e.to_string())?;
    if let (Some(cache), Some(key)) = (cache, &key) {
        let entry = Entry {
            rows: m.rows,
            size: m.bytes,
            sha256: m.sha256.clone(),
        };
        // A cache that cannot be written costs the next run time, not this run its result.
        let _ = cache.keep(key, path, &entry).await;
    }
    Ok((m, false))
}

/// A SQL step's result from the cache only, materialised at `path`; `None` when there is no cache or it
/// does not hold the step's key (a step a selection leaves out to the cache is never computed).
pub async fn fetch_only(
    cache: Option<&StepCache>,
    sql: &str,
    params: &[(String, ScalarValue)],
    path: &str,
) -> Option<Materialised> {
    let cache = cache?;
    let tables: BTreeSet<String> = table_references(sql).ok()?.into_iter().collect();
    let key = cache.key(sql, params, &tables)?;
    let e = cache.fetch(&key, path).await?;
    Some(Materialised {
        path: path.to_string(),
        rows: e.rows,
        bytes: e.size,
        sha256: e.sha256,
    })
}

impl StepCache {
    /// Where the marker lives that says an input's objects passed its contract's row rules.
    fn rules_marker(&self, input: &Input, content_id: &str) -> String {
        let key =
            json!({"salt": self.salt, "contract": format!("{input:?}"), "content": content_id});
        format!(
            "{RULES_PREFIX}/{}.json",
            sha256_hex(key.to_string().as_bytes())
        )
    }

    /// Whether these objects passed the input's row rules under this contract before (None when that
    /// cannot be known: the store did not answer).
    pub async fn rules_passed(&self, input: &Input, content_id: &str) -> Option<bool> {
        self.store
            .exists(&self.rules_marker(input, content_id))
            .await
            .ok()
    }

    /// Records that these objects passed the input's row rules.
    pub async fn mark_rules_passed(&self, input: &Input, content_id: &str) {
        let marker = self.rules_marker(input, content_id);
        let _ = self.store.put_new(&marker, Bytes::from_static(b"{}")).await;
    }
}

/// Where typeset reports are kept.
pub const REPORT_PREFIX: &str = "cache/reports";

/// What the JSON half of a report entry says: the PDF's size and hash, and every project file the
/// typesetting could have read, with its SHA-256 (the template, what it includes, the house style).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportEntry {
    pub size: u64,
    pub sha256: String,
    pub files: BTreeMap<String, String>,
}

impl StepCache {
    /// The key of a report step: its template and title, everything the context holds apart from the
    /// tables (period, parameters, the run's fingerprint), the PDF's date and identifier, and the content
    /// of every table it uses. None when a table has no content id. The files the template reads are not
    /// in the key: they are checked against the entry when it is found.
    pub fn report_key(
        &self,
        template: &str,
        title: &str,
        context: &serde_json::Value,
        date: &str,
        ident: &str,
        uses: &[String],
    ) -> Option<String> {
        let sources = self.sources.lock().ok()?;
        let mut tables = BTreeMap::new();
        for t in uses {
            tables.insert(t.as_str(), sources.get(t)?.as_str());
        }
        let doc = json!({
            "salt": self.salt,
            "template": template,
            "title": title,
            "context": context,
            "date": date,
            "ident": ident,
            "tables": tables,
        });
        Some(sha256_hex(doc.to_string().as_bytes()))
    }

    /// Copies a PDF kept for `key` to `dest` when every file its typesetting read is unchanged (each is
    /// read through the project, so the run record lists it as an uncached run's would). A key can hold
    /// several entries, one per version of the files (a template changed and changed back).
    pub async fn fetch_report(
        &self,
        key: &str,
        project: &crate::world::Project,
        dest: &str,
    ) -> Option<ReportEntry> {
        let listed = self
            .store
            .list(&format!("{REPORT_PREFIX}/{key}/"))
            .await
            .ok()?;
        'entries: for meta in listed.iter().filter(|o| o.path.ends_with(".json")) {
            let Some(entry) = self
                .store
                .get(&meta.path)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<ReportEntry>(&b).ok())
            else {
                continue;
            };
            for (path, sha) in &entry.files {
                match project.read(path) {
                    Ok(bytes) if &sha256_hex(&bytes) == sha => {}
                    _ => continue 'entries,
                }
            }
            let pdf_path = format!("{}.pdf", meta.path.trim_end_matches(".json"));
            let Ok(pdf) = self.store.get(&pdf_path).await else {
                continue;
            };
            if pdf.len() as u64 != entry.size || sha256_hex(&pdf) != entry.sha256 {
                continue;
            }
            self.store.put(dest, pdf).await.ok()?;
            return Some(entry);
        }
        None
    }

    /// Keeps a typeset PDF for `key`, with the project files read so far (a superset of what the
    /// typesetting read).
    pub async fn keep_report(&self, key: &str, pdf: Bytes, files: BTreeMap<String, String>) {
        let entry = ReportEntry {
            size: pdf.len() as u64,
            sha256: sha256_hex(&pdf),
            files,
        };
        let Ok(body) = serde_json::to_vec(&entry) else {
            return;
        };
        let stem = format!("{REPORT_PREFIX}/{key}/{}", sha256_hex(&body));
        let written = self.store.put_new(&format!("{stem}.pdf"), pdf).await;
        if matches!(written, Ok(()) | Err(StoreError::AlreadyExists { .. })) {
            let _ = self
                .store
                .put_new(&format!("{stem}.json"), Bytes::from(body))
                .await;
        }
    }
}

/// What a dry run says of one step and the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forecast {
    /// The cache holds the step's result (a SQL step), or everything the report depends on is as in
    /// the reference run (a report).
    Cached,
    /// The step would run, for this reason.
    Runs(String),
    /// A step a selection leaves out: not run, its outputs (this many; none for a check) copied from
    /// this run (empty when there is none).
    Reused { run_id: String, objects: usize },
}

/// Which steps of a run of `plan` with `params` would come from the step cache, judged without reading
/// any data: the inputs' objects are listed and compared, by path and size, with those a recorded run of
/// the period (`reference`, the published one) hashed, and an input whose listing matches is taken to
/// hold those bytes; seeds and SQL are hashed from the project; a SQL step is cached when the JSON half
/// of its entry (`cache/steps/<key>.json`, a record) is there, and its result's hash is then what later
/// steps' keys read. A report is cached when nothing the run computes from differs from the reference
/// run (inputs, project files, parameters, tool) and it succeeded there; a check always runs. Steps in
/// `reused` (left out by a selection) are taken to have the outputs recorded there.
pub async fn forecast(
    world: &crate::world::World,
    plan: &crate::plan::Plan,
    params: &crate::params::RunParams,
    reference: Option<&crate::record::RunRecord>,
    reused: &BTreeMap<String, crate::schedule::control::Reused>,
) -> Result<Vec<(String, Forecast)>, String> {
    use crate::plan::{SeedFormat, StepKind};
    let cache = StepCache::new(&world.store, &world.config);
    let period = params.period();
    let mut changed: BTreeMap<String, String> = BTreeMap::new();
    let read: BTreeSet<&str> = plan
        .steps
        .iter()
        .flat_map(|s| s.inputs.iter().map(String::as_str))
        .collect();
    for input in plan
        .inputs
        .iter()
        .filter(|i| read.contains(i.name.as_str()))
    {
        let months = crate::execute::months_read(input, &period);
        let listed = world
            .store
            .list(&format!("{}/", input.location))
            .await
            .map_err(|e| e.to_string())?;
        let mut now: Vec<(String, u64)> = Vec::new();
        for o in listed {
            match crate::engine::object_month(input, &o.path) {
                crate::engine::ObjectPlace::Marker => {}
                crate::engine::ObjectPlace::Month(m) if !months.contains(&m) => {}
                _ => now.push((o.path, o.size)),
            }
        }
        now.sort();
        let recorded = reference.and_then(|r| r.inputs.iter().find(|i| i.name == input.name));
        let Some(recorded) = recorded else {
            changed.insert(
                input.name.clone(),
                match reference {
                    Some(r) => format!("input `{}` was not read by run {}", input.name, r.run_id),
                    None => format!(
                        "no run of {period} is published whose record holds input `{}`'s hashes",
                        input.name
                    ),
                },
            );
            continue;
        };
        let mut then: Vec<(String, u64)> = recorded
            .objects
            .iter()
            .map(|o| (o.path.clone(), o.size))
            .collect();
        then.sort();
        if now != then {
            let reference = reference.map(|r| r.run_id.as_str()).unwrap_or_default();
            changed.insert(
                input.name.clone(),
                format!(
                    "input `{}` lists other objects than run {reference} read (added, removed or resized)",
                    input.name
                ),
            );
            continue;
        }
        let month_names: Vec<String> = months.iter().map(|m| m.to_string()).collect();
        cache.add_source(
            &input.name,
            StepCache::input_id(
                &month_names,
                recorded
                    .objects
                    .iter()
                    .map(|o| (o.path.as_str(), o.sha256.as_str())),
            ),
        );
    }
    let hash_now = |rel: &str| -> Option<String> {
        let path = world.project.file_path(rel).ok()?;
        std::fs::read(path).ok().map(|b| sha256_hex(&b))
    };
    for seed in &plan.seeds {
        let files = match seed.format {
            SeedFormat::Desnz | SeedFormat::Metrics => seed.files.clone(),
            SeedFormat::Table => vec![seed.file.clone()],
        };
        let hashes: BTreeMap<String, String> = files
            .iter()
            .filter_map(|f| hash_now(f).map(|h| (f.clone(), h)))
            .collect();
        if let Some(id) = StepCache::seed_id(&files, &hashes) {
            cache.add_source(&seed.name, id);
        }
    }
    // Whether the run would compute from exactly what the reference run did: then its reports' keys are
    // that run's, whose PDFs the cache kept.
    let unchanged = reference.and_then(|r| {
        let same_files = r
            .files
            .iter()
            .all(|(f, sha)| hash_now(f).as_ref() == Some(sha));
        let same = changed.is_empty()
            && same_files
            && r.parameters == params.to_json()
            && r.tool.version == ToolInfo::current().version
            && r.tool.git_commit == ToolInfo::current().git_commit
            && plan.previous.is_empty()
            && reused.is_empty();
        same.then_some(r)
    });
    // Entries are kept per build (the tool's version and commit are in every key).
    let tool = ToolInfo::current();
    let other_build = reference
        .filter(|r| r.tool.version != tool.version || r.tool.git_commit != tool.git_commit)
        .map(|r| {
            format!(
                "entries are kept per build, and this build ({}) is not run {}'s ({})",
                build_name(&tool),
                r.run_id,
                build_name(&r.tool)
            )
        });
    let sql_params = params.sql_values();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for step in &plan.steps {
        if let Some(r) = reused.get(&step.id) {
            if let Some(table) = r
                .objects
                .iter()
                .find(|(_, within)| within.starts_with("tables/"))
            {
                cache.add_source(&step.id, table.0.sha256.clone());
            }
            out.push((
                step.id.clone(),
                Forecast::Reused {
                    run_id: r.from_run_id.clone(),
                    objects: r.objects.len(),
                },
            ));
            continue;
        }
        let forecast = match &step.kind {
            StepKind::Check { .. } => Forecast::Runs("a check always runs".into()),
            StepKind::Report { uses, .. } => match unchanged {
                Some(r)
                    if r.steps.iter().any(|s| {
                        s.id == step.id
                            && matches!(
                                s.status,
                                crate::record::StepStatus::Succeeded
                                    | crate::record::StepStatus::Warned
                            )
                    }) =>
                {
                    Forecast::Cached
                }
                _ => match uses.iter().find(|u| runs.contains(*u)) {
                    Some(u) => Forecast::Runs(format!("reads `{u}`, which runs")),
                    None => Forecast::Runs(match reference {
                        Some(r) => format!(
                            "typeset: what the run computes from (files, inputs, parameters) differs from run {}'s",
                            r.run_id
                        ),
                        None => "typeset: no run of the period is published to compare with".into(),
                    }),
                },
            },
            StepKind::Sql { sql, .. } => {
                let tables: BTreeSet<String> = table_references(sql)
                    .map(|t| t.into_iter().collect())
                    .unwrap_or_default();
                match cache.key(sql, &sql_params, &tables) {
                    Some(key) => {
                        let (_, meta) = StepCache::paths(&key);
                        let entry = match world.store.get(&meta).await {
                            Ok(b) => serde_json::from_slice::<Entry>(&b).ok(),
                            Err(_) => None,
                        };
                        match entry {
                            Some(e) => {
                                cache.add_source(&step.id, e.sha256);
                                Forecast::Cached
                            }
                            None => Forecast::Runs(match &other_build {
                                Some(why) => format!("no cached result ({why})"),
                                None => "no cached result (its SQL, parameters or what it reads are new)"
                                    .into(),
                            }),
                        }
                    }
                    None => {
                        let why = tables
                            .iter()
                            .find_map(|t| {
                                if let Some(why) = changed.get(t) {
                                    Some(why.clone())
                                } else if runs.contains(t) {
                                    Some(format!("reads `{t}`, which runs"))
                                } else if plan.steps.iter().any(|s| &s.id == t)
                                    || plan.seeds.iter().any(|s| &s.name == t)
                                    || plan.inputs.iter().any(|i| &i.name == t)
                                {
                                    None
                                } else {
                                    Some(format!("reads `{t}`, which is never cached"))
                                }
                            })
                            .unwrap_or_else(|| "what it reads is not known before it runs".into());
                        Forecast::Runs(why)
                    }
                }
            }
        };
        if matches!(forecast, Forecast::Runs(_)) {
            runs.insert(step.id.clone());
        }
        out.push((step.id.clone(), forecast));
    }
    Ok(out)
}

/// A build as people name it: its version and the first digits of its commit.
fn build_name(tool: &ToolInfo) -> String {
    match &tool.git_commit {
        Some(c) => format!("{} {}", tool.version, &c[..c.len().min(7)]),
        None => tool.version.clone(),
    }
}
