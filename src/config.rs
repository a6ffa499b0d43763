//! Tool configuration: `config/boardpack.yaml`, overridable by environment variables and flags.
//!
//! Owns the settings that say *where* and *how* pipelines run — the store URL and its non-secret options,
//! the engine's memory limit and parallelism — never *what* they compute (that is in `pipelines/`, `sql/`
//! and `reports/`). Credentials are never read from here: the store takes them from the environment.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Diagnostics, Location};

pub const CONFIG_FILE: &str = "config/boardpack.yaml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub engine: EngineConfig,
    /// `boardpack schedule`: bank holidays, leases, catch-up, notifications (`crate::schedule`).
    pub scheduler: crate::schedule::SchedulerConfig,
    /// Run metrics for monitoring (`crate::metrics`).
    pub metrics: MetricsConfig,
    /// OpenLineage run events, kept on the store and/or sent to a lineage service (`crate::openlineage`).
    pub openlineage: OpenLineageConfig,
    /// Named targets (`dev`, `prod`, …): each a part of this file's settings that replaces the same keys
    /// of the rest when chosen by `--target NAME` or `BOARDPACK_TARGET` (mappings are merged key by key;
    /// other values are replaced). Read raw here and applied by `Config::load_target`.
    #[serde(skip_serializing)]
    pub targets: BTreeMap<String, serde_yaml::Value>,
    /// The file these settings were read from, relative to the project, when it lies inside it: a run
    /// records it (and its SHA-256) among the project files it read. `None` for the defaults and for a
    /// `--config` file outside the project.
    #[serde(skip)]
    pub source: Option<String>,
}

/// Where run metrics go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A folder read by node_exporter's textfile collector: each run rewrites
    /// `boardpack_<pipeline>.prom` there (Prometheus text format). Nothing is written when absent.
    pub textfile_dir: Option<String>,
}

/// Where a run's OpenLineage events go. Nothing is written or sent unless `store` or `url` says so.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenLineageConfig {
    /// An OpenLineage HTTP endpoint (Marquez: `http://marquez:5000/api/v1/lineage`): each event is POSTed
    /// to it as JSON. One that refuses or fails is a warning; the run goes on as if it had answered.
    pub url: Option<String>,
    /// The name of an environment variable holding an API key, sent as `Authorization: Bearer …` (a key is
    /// never written in this file).
    pub api_key_env: Option<String>,
    /// The namespace of the jobs (each pipeline is a job of that name).
    pub namespace: String,
    /// Keep every event on the store, under `lineage/<pipeline>/<period>/<run-id>/<n>-<TYPE>.json`.
    pub store: bool,
    /// How long to wait for the endpoint, per event.
    pub timeout_seconds: u64,
}

impl Default for OpenLineageConfig {
    fn default() -> Self {
        Self {
            url: None,
            api_key_env: None,
            namespace: "boardpack".into(),
            store: false,
            timeout_seconds: 10,
        }
    }
}

impl OpenLineageConfig {
    /// Whether events are kept or sent at all.
    pub fn enabled(&self) -> bool {
        self.store || self.url.as_deref().is_some_and(|u| !u.trim().is_empty())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// A folder (relative to the project) or an `s3://`, `gs://`, `az://` URL.
    pub url: String,
    /// Non-secret builder options, e.g. `endpoint` and `allow_http` for an S3-compatible server.
    pub options: BTreeMap<String, String>,
    /// Retries and timeouts of a cloud store (`s3://`, `gs://`, `az://`).
    pub retry: crate::faults::RetryPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The engine's memory pool, e.g. `2GiB`; sorts, joins and aggregations spill to disk beyond it.
    pub memory_limit: String,
    /// Where spill files go; the system temporary folder when absent.
    pub spill_dir: Option<String>,
    /// Partitions each query is split into; the number of cores when 0. The default is 1: with more,
    /// sums of floating-point numbers depend on how rows were split (and so on the machine's cores) and
    /// differ in the last digits from run to run, and outputs are no longer byte-identical.
    pub target_partitions: usize,
    /// How many independent steps run at once.
    pub max_parallel_steps: usize,
    /// Where SQL runs: `local` (in this process), or `ballista://host:port`, the scheduler of an Apache
    /// DataFusion Ballista cluster (the `distributed` feature, on by default; `docs/distributed.md`).
    pub url: String,
}

/// Where SQL runs, from `engine.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineLocation {
    Local,
    /// A Ballista scheduler's gRPC address.
    Ballista {
        host: String,
        port: u16,
    },
}

/// The port of a Ballista scheduler when `engine.url` names none.
pub const BALLISTA_DEFAULT_PORT: u16 = 50050;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "lake".into(),
            options: BTreeMap::new(),
            retry: Default::default(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memory_limit: "2GiB".into(),
            spill_dir: None,
            target_partitions: 1,
            max_parallel_steps: 2,
            url: "local".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: StoreConfig::default(),
            engine: EngineConfig::default(),
            scheduler: Default::default(),
            metrics: Default::default(),
            openlineage: Default::default(),
            targets: BTreeMap::new(),
            source: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Every problem of `config/boardpack.yaml`, each at the line and column of the key at fault
    /// (`config/boardpack.yaml:7:3: engine.memory_limit: …`).
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
}

/// The settings the environment can override, by their key in the file.
const ENV_OVERRIDES: [(&str, &str); 5] = [
    ("store.url", "BOARDPACK_STORE"),
    ("metrics.textfile_dir", "BOARDPACK_METRICS_DIR"),
    ("engine.memory_limit", "BOARDPACK_MEMORY_LIMIT"),
    ("engine.max_parallel_steps", "BOARDPACK_MAX_PARALLEL_STEPS"),
    ("engine.url", "BOARDPACK_ENGINE"),
];

impl Config {
    /// Reads `config/boardpack.yaml` under `project` (defaults when absent), then applies the environment:
    /// `BOARDPACK_STORE`, `BOARDPACK_MEMORY_LIMIT`, `BOARDPACK_MAX_PARALLEL_STEPS`, `BOARDPACK_ENGINE`.
    /// The target is `BOARDPACK_TARGET`'s, when set (see [`Config::load_target`]).
    pub fn load(project: &Path) -> Result<Config, ConfigError> {
        Self::load_target(project, std::env::var("BOARDPACK_TARGET").ok().as_deref())
    }

    /// [`Config::load`] with a named target of the file applied over the rest, before the environment.
    /// The order, each over the one before: the file, the target, the `BOARDPACK__SECTION__KEY`
    /// variables (any key by its path, `env_settings`), the named variables (`BOARDPACK_STORE`, …), the
    /// command line's `--set KEY=VALUE` ([`Config::load_with`]), then its specific flags (`--store`,
    /// applied by the caller).
    pub fn load_target(project: &Path, target: Option<&str>) -> Result<Config, ConfigError> {
        Self::load_from(project, None, target)
    }

    /// [`Config::load_target`] from `file` (`--config FILE`, `BOARDPACK_CONFIG`; relative to the current
    /// folder) instead of the project's `config/boardpack.yaml`. A file named so must exist; its problems
    /// are placed in it, as it was named.
    pub fn load_from(
        project: &Path,
        file: Option<&Path>,
        target: Option<&str>,
    ) -> Result<Config, ConfigError> {
        Self::load_with(project, file, target, &[])
    }

    /// [`Config::load_from`] with the command line's `--set KEY=VALUE` settings (each a key by its dotted
    /// path, `engine.target_partitions`, and its value) over the environment, both the
    /// `BOARDPACK__SECTION__KEY` variables and the named ones: a `--set` of `store.url` wins over
    /// `BOARDPACK_STORE`. Only the specific flags (`--store`, applied by the caller) come after.
    pub fn load_with(
        project: &Path,
        file: Option<&Path>,
        target: Option<&str>,
        sets: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let (path, name) = match file {
            Some(f) => (f.to_path_buf(), f.display().to_string()),
            None => (project.join(CONFIG_FILE), CONFIG_FILE.to_string()),
        };
        let name = name.as_str();
        let layers: Vec<PathSettings> = env_settings(std::env::vars())
            .into_iter()
            .chain(flag_settings(sets))
            .collect();
        let (mut config, text) = match std::fs::read_to_string(&path) {
            Ok(text) => (Self::parse(&text, target, name, &layers)?, text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_some() => {
                return Err(ConfigError::Invalid(Diagnostics(vec![
                    Diagnostic::in_file(
                        name,
                        format!(
                            "the configuration file `{name}` (--config or BOARDPACK_CONFIG) does not exist: \
                         give the path of a YAML file of settings, relative to the current folder"
                        ),
                    ),
                ])));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match target {
                Some(t) => {
                    return Err(ConfigError::Invalid(Diagnostics(vec![
                        Diagnostic::in_file(
                            name,
                            format!(
                                "target `{t}` was asked for, but there is no {name} to define it"
                            ),
                        ),
                    ])));
                }
                None => (Self::parse("", None, name, &layers)?, String::new()),
            },
            Err(e) => {
                return Err(ConfigError::Invalid(Diagnostics(vec![
                    Diagnostic::in_file(name, e.to_string()),
                ])));
            }
        };
        if !text.is_empty() || path.is_file() {
            config.source = match file {
                None => Some(CONFIG_FILE.to_string()),
                Some(f) => within(project, f),
            };
        }
        // A named variable gives way to a `--set` of its key (or of a section holding it): `--set`
        // comes after the whole environment.
        let flagged = |key: &str| {
            sets.iter()
                .any(|(k, _)| k == key || key.starts_with(&format!("{k}.")))
        };
        let var = |v: &str| {
            let shadowed = ENV_OVERRIDES
                .iter()
                .any(|(key, named)| *named == v && flagged(key));
            if shadowed {
                None
            } else {
                std::env::var(v).ok()
            }
        };
        config.apply_env(var)?;
        let problems = config.problems();
        if problems.is_empty() {
            return Ok(config);
        }
        // Each problem at its key; a value the environment or a flag set is said to come from there.
        let mut found = Diagnostics::default();
        for (key, message) in problems {
            let named = ENV_OVERRIDES
                .iter()
                .find(|(k, v)| *k == key && var(v).is_some())
                .map(|(_, v)| format!("the environment variable {v}"));
            // The last layer that gives the key wins: `--set` over the `BOARDPACK__…` variables; a named
            // variable is over those, unless a `--set` of its key shadowed it (then `var` says none).
            let by_path = layers.iter().rev().find_map(|l| l.naming(&key));
            let from = named.or(by_path);
            found.push(match (from, key_location(&text, &key, name)) {
                (Some(from), _) => {
                    Diagnostic::in_file(name, format!("{message} (the value comes from {from})"))
                }
                (None, Some(at)) => Diagnostic::at(at, message),
                (None, None) => Diagnostic::in_file(name, message),
            });
        }
        Err(ConfigError::Invalid(found))
    }

    /// Decodes the file's text with a target applied; an error is placed where serde_yaml stopped, or,
    /// for a target's values, at the target.
    fn parse(
        text: &str,
        target: Option<&str>,
        file: &str,
        layers: &[PathSettings],
    ) -> Result<Config, ConfigError> {
        let base = if text.trim().is_empty() {
            Config::default()
        } else {
            Self::decode(text, file)?
        };
        let Some(name) = target else {
            if layers.is_empty() {
                return Ok(base);
            }
            let value = if text.trim().is_empty() {
                serde_yaml::Value::Mapping(Default::default())
            } else {
                Self::without_targets(text, file)?
            };
            return Self::with_settings(value, layers, file);
        };
        let at = |message: String| {
            let d = match key_location(text, &format!("targets.{name}"), file) {
                Some(l) => Diagnostic::at(l, message),
                None => Diagnostic::in_file(file, message),
            };
            ConfigError::Invalid(Diagnostics(vec![d]))
        };
        let Some(overlay) = base.targets.get(name) else {
            let known: Vec<&str> = base.targets.keys().map(String::as_str).collect();
            return Err(ConfigError::Invalid(Diagnostics(vec![
                Diagnostic::in_file(
                    file,
                    if known.is_empty() {
                        format!("target `{name}` was asked for, but the file defines no `targets:`")
                    } else {
                        format!(
                            "unknown target `{name}`: the file defines {}",
                            known.join(", ")
                        )
                    },
                ),
            ])));
        };
        // The file decoded once already: it is a mapping.
        let mut value = Self::without_targets(text, file)?;
        merge(&mut value, overlay.clone());
        // The target alone first, so that its own mistake is placed at it.
        let targeted = serde_yaml::from_value::<Config>(value.clone())
            .map_err(|e| at(format!("targets.{name}: {e}")))?;
        if layers.is_empty() {
            return Ok(targeted);
        }
        Self::with_settings(value, layers, file)
    }

    /// The file's settings as a mapping, without its `targets:`.
    fn without_targets(text: &str, file: &str) -> Result<serde_yaml::Value, ConfigError> {
        let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
            ConfigError::Invalid(Diagnostics(vec![Diagnostic::in_file(file, e.to_string())]))
        })?;
        if let Some(map) = value.as_mapping_mut() {
            map.remove("targets");
        }
        Ok(value)
    }

    /// `value` (the file, with its target) with each layer of settings by path over it, in order (the
    /// `BOARDPACK__…` variables, then `--set`); a mistake names the variables or flags at fault.
    fn with_settings(
        mut value: serde_yaml::Value,
        layers: &[PathSettings],
        file: &str,
    ) -> Result<Config, ConfigError> {
        for layer in layers {
            let base = value.clone();
            merge(&mut value, layer.value.clone());
            if let Err(e) = serde_yaml::from_value::<Config>(value.clone()) {
                return Err(ConfigError::Invalid(Diagnostics(vec![
                    Diagnostic::in_file(file, layer.mistake(&base, &e)),
                ])));
            }
        }
        serde_yaml::from_value::<Config>(value).map_err(|e| {
            ConfigError::Invalid(Diagnostics(vec![Diagnostic::in_file(file, e.to_string())]))
        })
    }

    /// Decodes the file's text as written; an error is placed where serde_yaml stopped.
    fn decode(text: &str, file: &str) -> Result<Config, ConfigError> {
        serde_yaml::from_str::<Config>(text).map_err(|e| {
            // serde_yaml ends its message with the place, which the diagnostic says in front.
            let message = e.to_string();
            let message = match (e.location(), message.rfind(" at line ")) {
                (Some(_), Some(i)) => message[..i].to_string(),
                _ => message,
            };
            let d = match e.location() {
                Some(l) => Diagnostic::at(
                    Location {
                        file: file.into(),
                        line: l.line(),
                        column: l.column(),
                    },
                    message,
                ),
                None => Diagnostic::in_file(file, message),
            };
            ConfigError::Invalid(Diagnostics(vec![d]))
        })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("BOARDPACK_STORE") {
            self.store.url = v;
        }
        if let Some(v) = var("BOARDPACK_MEMORY_LIMIT") {
            self.engine.memory_limit = v;
        }
        if let Some(v) = var("BOARDPACK_MAX_PARALLEL_STEPS") {
            self.engine.max_parallel_steps = v.parse().map_err(|_| ConfigError::Env {
                var: "BOARDPACK_MAX_PARALLEL_STEPS",
                message: format!("`{v}` is not a whole number"),
            })?;
        }
        if let Some(v) = var("BOARDPACK_ENGINE") {
            self.engine.url = v;
        }
        if let Some(v) = var("BOARDPACK_METRICS_DIR") {
            self.metrics.textfile_dir = Some(v);
        }
        Ok(())
    }

    /// Every setting that is wrong, as (its key, `store.retry.timeout: …`), all of them at once.
    fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(message) = self.store.retry.validate() {
            // The retry policy names its setting first (`store.retry.timeout: …`, `store.retry.backoff_base
            // must …`).
            let key = message
                .split([':', ' '])
                .next()
                .unwrap_or("store.retry")
                .to_string();
            out.push((key, message));
        }
        if let Err(message) = parse_size(&self.engine.memory_limit) {
            out.push((
                "engine.memory_limit".into(),
                format!("engine.memory_limit: {message}"),
            ));
        }
        if self.engine.max_parallel_steps == 0 {
            out.push((
                "engine.max_parallel_steps".into(),
                "engine.max_parallel_steps must be at least 1".into(),
            ));
        }
        if let Err(message) = self.engine_location() {
            out.push(("engine.url".into(), format!("engine.url: {message}")));
        }
        if let Some(url) = self
            .openlineage
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            // The URL itself is not quoted: it may carry a token.
            let ok = url::Url::parse(url)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .unwrap_or(false);
            if !ok {
                out.push((
                    "openlineage.url".into(),
                    "openlineage.url: not an http:// or https:// URL (e.g. \
                     `http://marquez:5000/api/v1/lineage`)"
                        .into(),
                ));
            }
        }
        if self.openlineage.namespace.trim().is_empty() {
            out.push((
                "openlineage.namespace".into(),
                "openlineage.namespace must not be empty".into(),
            ));
        }
        if self.openlineage.timeout_seconds == 0 {
            out.push((
                "openlineage.timeout_seconds".into(),
                "openlineage.timeout_seconds must be at least 1".into(),
            ));
        }
        out
    }

    /// Where SQL runs: `engine.url` read as `local` or `ballista://host[:port]`.
    pub fn engine_location(&self) -> Result<EngineLocation, String> {
        let text = self.engine.url.trim();
        if text.is_empty() || text == "local" {
            return Ok(EngineLocation::Local);
        }
        let bad = || format!("`{text}`: write `local` or `ballista://host:port`");
        let url = url::Url::parse(text).map_err(|_| bad())?;
        let host = match url.host_str() {
            Some(h) if url.scheme() == "ballista" && !h.is_empty() => h,
            _ => return Err(bad()),
        };
        // A scheduler is an address: anything more would be ignored, so it is refused.
        if !url.username().is_empty()
            || url.password().is_some()
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(bad());
        }
        Ok(EngineLocation::Ballista {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port().unwrap_or(BALLISTA_DEFAULT_PORT),
        })
    }

    pub fn memory_limit_bytes(&self) -> usize {
        parse_size(&self.engine.memory_limit).unwrap_or(2 << 30)
    }
}

/// Where a setting (`store.retry.timeout`) is written in the file's text: its key's line and column, or its
/// closest enclosing key's when it is not written (a default). `None` when no part of it is written.
/// `overlay` over `base`: mappings merged key by key, anything else replaced.
fn merge(base: &mut serde_yaml::Value, overlay: serde_yaml::Value) {
    match (base, overlay) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The prefix of an environment variable that sets any key of the configuration by its path.
const SETTING_PREFIX: &str = "BOARDPACK__";

/// Where settings given by a key's path come from: the environment or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettingSource {
    /// `BOARDPACK__SECTION__KEY` variables.
    Environment,
    /// `--set KEY=VALUE` flags.
    Flag,
}

/// One setting given by its key's path: the name it was given by (`BOARDPACK__ENGINE__TARGET_PARTITIONS`
/// or `--set engine.target_partitions`), the path and the text of its value.
#[derive(Debug, Clone)]
struct GivenSetting {
    name: String,
    path: Vec<String>,
    text: String,
}

/// Settings given by their keys' paths from one source, as a mapping to merge over the file's, and each
/// as it was given.
#[derive(Debug, Clone)]
struct PathSettings {
    source: SettingSource,
    value: serde_yaml::Value,
    given: Vec<GivenSetting>,
}

impl PathSettings {
    /// The settings of `given` (in order: a later one of the same key wins); `None` when there are none.
    fn of(source: SettingSource, given: Vec<GivenSetting>) -> Option<PathSettings> {
        if given.is_empty() {
            return None;
        }
        let mut value = serde_yaml::Value::Mapping(Default::default());
        for g in &given {
            merge(&mut value, path_value(&g.path, &g.text));
        }
        Some(PathSettings {
            source,
            value,
            given,
        })
    }

    /// How the setting of `key` (`engine.memory_limit`) was given, when this source gives it.
    fn naming(&self, key: &str) -> Option<String> {
        let g = self.given.iter().rev().find(|g| g.path.join(".") == key)?;
        Some(match self.source {
            SettingSource::Environment => format!("the environment variable {}", g.name),
            SettingSource::Flag => g.name.clone(),
        })
    }

    /// Why these settings do not decode over `base`: which of them is wrong (each tried alone over it),
    /// by name only, and serde's reason, unless a wrong one is a store option (a credential, often,
    /// whose value the reason could quote).
    fn mistake(&self, base: &serde_yaml::Value, error: &serde_yaml::Error) -> String {
        let wrong: Vec<&GivenSetting> = self
            .given
            .iter()
            .filter(|g| {
                let mut v = base.clone();
                merge(&mut v, path_value(&g.path, &g.text));
                serde_yaml::from_value::<Config>(v).is_err()
            })
            .collect();
        let named: Vec<&GivenSetting> = if wrong.is_empty() {
            self.given.iter().collect()
        } else {
            wrong
        };
        let names: Vec<&str> = named.iter().map(|g| g.name.as_str()).collect();
        let reason = if named.iter().any(|g| is_store_option(&g.path)) {
            "store options are text settings of a mapping, `store.options.NAME`".to_string()
        } else {
            error.to_string()
        };
        match self.source {
            SettingSource::Environment => format!(
                "the environment's setting {}: {reason} (each `BOARDPACK__SECTION__KEY` variable sets \
                 the key `section.key`)",
                names.join(", ")
            ),
            SettingSource::Flag => format!(
                "{}: {reason} (`--set KEY=VALUE` sets the key by its dotted path as the file writes it, \
                 e.g. `--set engine.target_partitions=4`)",
                names.join(", ")
            ),
        }
    }
}

/// Whether a path is under `store.options` (or is it): a store option is often a credential.
fn is_store_option(path: &[String]) -> bool {
    path.len() >= 2 && path[0] == "store" && path[1] == "options"
}

/// The one setting at `path` with its value as a nested mapping, `{engine: {target_partitions: 4}}`: the
/// value read as a YAML scalar (`4` a number, `true` a boolean, anything else text), except a store option
/// (a credential, often), which is text as given, never read as a number: its value must not reach an
/// error message as one of the wrong type. Serves both the environment and `--set`.
fn path_value(path: &[String], text: &str) -> serde_yaml::Value {
    let text_only = path.len() > 2 && is_store_option(path);
    let value = serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .filter(|v| !text_only && !v.is_mapping() && !v.is_sequence())
        .unwrap_or_else(|| serde_yaml::Value::String(text.to_string()));
    path.iter().rev().fold(value, |inner, key| {
        let mut m = serde_yaml::Mapping::new();
        m.insert(serde_yaml::Value::String(key.clone()), inner);
        serde_yaml::Value::Mapping(m)
    })
}

/// The settings the environment gives by path, and the variables that gave them:
/// `BOARDPACK__ENGINE__TARGET_PARTITIONS=4` sets `engine.target_partitions` (the parts after the prefix,
/// lower-cased, each `__` a level; the value as [`path_value`] reads it). `None` when no variable does.
fn env_settings(vars: impl Iterator<Item = (String, String)>) -> Option<PathSettings> {
    let mut found: Vec<(String, String)> = vars
        .filter(|(k, _)| k.starts_with(SETTING_PREFIX) && k.len() > SETTING_PREFIX.len())
        .collect();
    found.sort();
    let given = found
        .into_iter()
        .map(|(name, text)| GivenSetting {
            path: name[SETTING_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect(),
            name,
            text,
        })
        .collect();
    PathSettings::of(SettingSource::Environment, given)
}

/// The settings of the command line's `--set KEY=VALUE` flags, in the order given (a later one of the
/// same key wins): `engine.target_partitions=4` sets `engine.target_partitions`, the value as
/// [`path_value`] reads it. `None` when there are none.
fn flag_settings(sets: &[(String, String)]) -> Option<PathSettings> {
    let given = sets
        .iter()
        .map(|(key, text)| GivenSetting {
            name: format!("--set {key}"),
            path: key.split('.').map(str::to_string).collect(),
            text: text.clone(),
        })
        .collect();
    PathSettings::of(SettingSource::Flag, given)
}

/// A `--set` flag's text split into its key and value (`engine.target_partitions=4`): the key a dotted
/// path of names, the value anything after the first `=` (empty allowed). The command line refuses any
/// other shape before a setting is read.
pub fn parse_set_flag(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        // Not echoed: a setting typed without its `=` may still be a credential.
        return Err(
            "write KEY=VALUE, the key by its dotted path (`engine.target_partitions=4`)"
                .to_string(),
        );
    };
    let key = key.trim();
    let name_ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !key.split('.').all(name_ok) {
        return Err(format!(
            "`{key}` is not a key: write its dotted path as the file nests it (`store.url`, \
             `engine.target_partitions`)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// A file's path relative to the project folder, when it lies inside it.
fn within(project: &Path, file: &Path) -> Option<String> {
    let root = project.canonicalize().ok()?;
    let file = file.canonicalize().ok()?;
    let rel = file.strip_prefix(&root).ok()?;
    Some(rel.to_string_lossy().replace('\\', "/"))
}

fn key_location(text: &str, key: &str, file: &str) -> Option<Location> {
    let root = marked_yaml::parse_yaml(0, text).ok()?;
    let mut node = &root;
    let mut found = None;
    for part in key.split('.') {
        let Some(map) = node.as_mapping() else { break };
        let Some((k, v)) = map.iter().find(|(k, _)| k.as_str() == part) else {
            break;
        };
        found = k.span().start().copied();
        node = v;
    }
    let m = found?;
    Some(Location {
        file: file.into(),
        line: m.line(),
        column: m.column(),
    })
}

/// Parses a size such as `512MiB`, `2GiB`, `1.5GB` or `1048576`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `2GiB`"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{text}`: unknown unit (use KiB, MiB or GiB)")),
    };
    let bytes = value * scale;
    if bytes < 16.0 * 1024.0 * 1024.0 {
        return Err(format!("`{text}` is below the 16MiB the engine needs"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn any_key_is_set_by_its_path_from_the_environment_over_the_file_and_its_target() {
        let file = "engine:\n  target_partitions: 2\n  max_parallel_steps: 3\ntargets:\n  prod:\n    engine:\n      max_parallel_steps: 5\n";
        let env = env_settings(vars(&[
            ("BOARDPACK__ENGINE__TARGET_PARTITIONS", "7"),
            ("BOARDPACK__METRICS__TEXTFILE_DIR", "/var/lib/node_exporter"),
            ("BOARDPACK_STORE", "not a path setting"),
            ("HOME", "/root"),
        ]));
        let c = Config::parse(file, Some("prod"), "f.yaml", env.as_slice()).unwrap();
        assert_eq!(c.engine.target_partitions, 7);
        assert_eq!(c.engine.max_parallel_steps, 5);
        assert_eq!(
            c.metrics.textfile_dir.as_deref(),
            Some("/var/lib/node_exporter")
        );
        let c = Config::parse("", None, "f.yaml", env.as_slice()).unwrap();
        assert_eq!(c.engine.target_partitions, 7);
        // A store option is text whatever it looks like.
        let env = env_settings(vars(&[(
            "BOARDPACK__STORE__OPTIONS__AWS_SECRET_ACCESS_KEY",
            "0123",
        )]));
        let c = Config::parse("", None, "f.yaml", env.as_slice()).unwrap();
        assert_eq!(
            c.store
                .options
                .get("aws_secret_access_key")
                .map(String::as_str),
            Some("0123")
        );
        assert!(env_settings(vars(&[("HOME", "/root")])).is_none());
    }

    #[test]
    fn a_wrong_setting_from_the_environment_names_its_variable() {
        let env = env_settings(vars(&[("BOARDPACK__ENGINE__TARGET_PARTITIONS", "many")]));
        let e = Config::parse("", None, "f.yaml", env.as_slice()).unwrap_err();
        let text = match e {
            ConfigError::Invalid(d) => format!("{:?}", d.0),
            other => format!("{other:?}"),
        };
        assert!(
            text.contains(
                "the environment's setting BOARDPACK__ENGINE__TARGET_PARTITIONS: invalid type"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_set_flag_is_over_the_environment_and_a_wrong_one_is_named_without_its_value() {
        let env = env_settings(vars(&[("BOARDPACK__ENGINE__TARGET_PARTITIONS", "7")]));
        let flags = flag_settings(&[("engine.target_partitions".into(), "3".into())]);
        let layers: Vec<PathSettings> = env.into_iter().chain(flags).collect();
        let c =
            Config::parse("engine:\n  target_partitions: 2\n", None, "f.yaml", &layers).unwrap();
        assert_eq!(c.engine.target_partitions, 3);

        let flags = flag_settings(&[
            ("engine.max_parallel_steps".into(), "4".into()),
            ("engine.colour".into(), "blue".into()),
        ]);
        let e = Config::parse("", None, "f.yaml", flags.as_slice())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set engine.colour: "), "{e}");
        assert!(!e.contains("--set engine.max_parallel_steps"), "{e}");
        // A store option given as a mapping's value is refused without its text.
        let flags = flag_settings(&[("store.options".into(), "s3cr3t".into())]);
        let e = Config::parse("", None, "f.yaml", flags.as_slice())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set store.options: "), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");

        assert_eq!(
            parse_set_flag("store.url=s3://b/p?x=1").unwrap(),
            ("store.url".to_string(), "s3://b/p?x=1".to_string())
        );
        assert!(parse_set_flag("store.url").is_err());
        assert!(parse_set_flag("store..url=x").is_err());
    }

    #[test]
    fn openlineage_settings_come_from_the_file_or_the_environment_and_are_checked() {
        let c = Config::parse("", None, "f.yaml", &[]).unwrap();
        assert!(!c.openlineage.enabled());
        assert_eq!(c.openlineage.namespace, "boardpack");
        let env = env_settings(vars(&[
            (
                "BOARDPACK__OPENLINEAGE__URL",
                "http://marquez:5000/api/v1/lineage",
            ),
            ("BOARDPACK__OPENLINEAGE__STORE", "true"),
        ]));
        let c = Config::parse(
            "openlineage:\n  namespace: icb\n",
            None,
            "f.yaml",
            &env.into_iter().collect::<Vec<PathSettings>>(),
        )
        .unwrap();
        assert!(c.openlineage.store && c.openlineage.enabled());
        assert_eq!(c.openlineage.namespace, "icb");
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let mut c = Config::default();
        c.openlineage.url = Some("ftp://host/x?token=SECRET".into());
        c.openlineage.namespace = " ".into();
        let problems = c.problems();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["openlineage.url", "openlineage.namespace"]);
        assert!(!problems[0].1.contains("SECRET"), "{problems:?}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1KiB").is_err());
    }

    #[test]
    fn engine_locations() {
        let at = |url: &str| {
            let mut c = Config::default();
            c.engine.url = url.into();
            c.engine_location()
        };
        assert_eq!(at("local"), Ok(EngineLocation::Local));
        assert_eq!(
            at("ballista://10.0.0.5:50051"),
            Ok(EngineLocation::Ballista {
                host: "10.0.0.5".into(),
                port: 50051
            })
        );
        assert_eq!(
            at("ballista://scheduler"),
            Ok(EngineLocation::Ballista {
                host: "scheduler".into(),
                port: BALLISTA_DEFAULT_PORT
            })
        );
        for bad in [
            "remote",
            "http://h:50050",
            "ballista://",
            "ballista://h/x",
            "ballista://u:p@h",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_bad_setting_is_placed_at_its_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "store:\n  url: lake\nengine:\n  memory_limit: lots\n  max_parallel_steps: 0\n",
        )
        .unwrap();
        let Err(ConfigError::Invalid(found)) = Config::load(dir.path()) else {
            panic!("the configuration is refused");
        };
        let lines: Vec<String> = found.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("config/boardpack.yaml:4:3: engine.memory_limit:"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("config/boardpack.yaml:5:3: engine.max_parallel_steps"),
            "{lines:?}"
        );
        std::fs::write(dir.path().join(CONFIG_FILE), "engine:\n  colour: blue\n").unwrap();
        let e = Config::load(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with("config/boardpack.yaml:2:3: "), "{e}");
        assert!(!e.contains(" at line "), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "BOARDPACK_STORE").then(|| "s3://bucket/prefix".to_string()))
            .unwrap();
        assert_eq!(c.store.url, "s3://bucket/prefix");
        assert!(
            c.apply_env(|k| (k == "BOARDPACK_MAX_PARALLEL_STEPS").then(|| "x".into()))
                .is_err()
        );
    }
}
