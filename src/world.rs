//! The world a run sees: project files, the store, the clock and the fonts — everything a run takes from
//! outside, through one value, as Typst's `World` does for its compiler.
//!
//! A test builds a `World` with a fixed clock and a temporary store, and the run is deterministic. Nothing
//! else in the crate reads the wall clock, the environment or the project folder directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::render::Fonts;
use crate::store::{Store, StoreError, check_relative, sha256_hex};

/// The source of "now". Runs take their start time, run ids and document dates from it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant, for tests and reproductions.
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Path(#[from] StoreError),
    #[error(
        "`{path}` resolves to `{target}`, outside the project folder: a link may not leave the project"
    )]
    Escapes { path: String, target: String },
}

/// The project folder: `pipelines/`, `sql/`, `reports/`, `config/`. Every file read through it is
/// remembered with its SHA-256, so that a run record can say exactly which files produced it.
pub struct Project {
    root: PathBuf,
    read: Mutex<BTreeMap<String, String>>,
}

impl Project {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            read: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path on disk of a project file, refusing any path that would leave the project folder.
    pub fn file_path(&self, rel: &str) -> Result<PathBuf, ProjectError> {
        check_relative(rel)?;
        let path = self.root.join(rel);
        // The text of the path stays inside; a symbolic link on the way may still point out. A path that
        // does not resolve (a missing file) is left for the read to report.
        if let (Ok(root), Ok(target)) = (self.root.canonicalize(), path.canonicalize())
            && !target.starts_with(&root)
        {
            return Err(ProjectError::Escapes {
                path: rel.to_string(),
                target: target.display().to_string(),
            });
        }
        Ok(path)
    }

    /// Reads a project file (`sql/board-pack/ae.sql`) and remembers its hash.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, ProjectError> {
        let path = self.file_path(rel)?;
        let bytes = std::fs::read(&path).map_err(|source| ProjectError::Read {
            path: rel.to_string(),
            source,
        })?;
        self.remember(rel, &bytes);
        Ok(bytes)
    }

    pub fn read_to_string(&self, rel: &str) -> Result<String, ProjectError> {
        let bytes = self.read(rel)?;
        String::from_utf8(bytes).map_err(|e| ProjectError::Read {
            path: rel.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.file_path(rel).map(|p| p.is_file()).unwrap_or(false)
    }

    fn remember(&self, rel: &str, bytes: &[u8]) {
        if let Ok(mut read) = self.read.lock() {
            read.insert(rel.to_string(), sha256_hex(bytes));
        }
    }

    /// Every project file read so far, with its SHA-256, by path.
    pub fn files_read(&self) -> BTreeMap<String, String> {
        self.read.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The pipeline files, sorted by name: `pipelines/*.yaml`.
    pub fn pipeline_files(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("pipelines"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                (name.ends_with(".yaml") || name.ends_with(".yml"))
                    .then(|| format!("pipelines/{name}"))
            })
            .collect();
        out.sort();
        out
    }
}

/// Everything a run takes from outside.
#[derive(Clone)]
pub struct World {
    pub project: Arc<Project>,
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub fonts: Arc<Fonts>,
}

impl World {
    /// The world of a project folder with its configuration, the system clock and the embedded fonts.
    pub fn open(project_root: &Path, store_override: Option<&str>) -> anyhow::Result<World> {
        Self::open_target(project_root, store_override, None)
    }

    /// [`World::open`] with a named target of the configuration (`--target`; `BOARDPACK_TARGET` when
    /// `None`).
    pub fn open_target(
        project_root: &Path,
        store_override: Option<&str>,
        target: Option<&str>,
    ) -> anyhow::Result<World> {
        Self::open_with(project_root, None, store_override, target, &[])
    }

    /// [`World::open_target`] with the settings read from `config_file` (`--config FILE`) instead of
    /// `config/boardpack.yaml`, and the command line's `--set KEY=VALUE` settings (`sets`). Each over the
    /// one before: the defaults, the file, its target, the environment, `--set`, `--store`.
    pub fn open_with(
        project_root: &Path,
        config_file: Option<&Path>,
        store_override: Option<&str>,
        target: Option<&str>,
        sets: &[(String, String)],
    ) -> anyhow::Result<World> {
        use anyhow::Context;
        let target = match target {
            Some(t) => Some(t.to_string()),
            None => std::env::var("BOARDPACK_TARGET").ok(),
        };
        let loaded = Config::load_with(project_root, config_file, target.as_deref(), sets);
        // A configuration's problems are diagnostics like a pipeline's: each at its place, exit code 2.
        let mut config = loaded.map_err(|e| match e {
            crate::config::ConfigError::Invalid(d) => crate::commands::report_diagnostics(&d),
            other => other.into(),
        })?;
        if let Some(url) = store_override {
            config.store.url = url.to_string();
        }
        let options: Vec<(String, String)> = config
            .store
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let store = Store::open_with(
            &config.store.url,
            project_root,
            &options,
            &config.store.retry,
        )
        .with_context(|| {
            format!(
                "opening the store `{}`",
                crate::faults::redact_location(&config.store.url)
            )
        })?;
        Ok(World {
            project: Arc::new(Project::new(project_root)),
            config: Arc::new(config),
            store,
            clock: Arc::new(SystemClock),
            fonts: Fonts::embedded(),
        })
    }

    /// The same world with a fresh record of project files read: each run records only its own files.
    pub fn fresh(&self) -> World {
        let mut w = self.clone();
        w.project = Arc::new(Project::new(self.project.root()));
        w
    }

    /// The same world with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> World {
        self.clock = clock;
        self
    }
}
