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
