//! The project's metric registry: `config/metrics.yaml`, where every indicator that any product prints is
//! defined once — its id, the name a reader sees, its unit, which way is better, its standard with the
//! standard's source, and what its numerator and denominator count.
//!
//! A product does not define metrics; it chooses them. Its own list (the board pack's `metrics`, the
//! dashboard's `indicators`, the carbon account's `kpis`, the inequality lens) is a seed declared with
//! `format: metrics`: each row names a registry id in its key column and carries only what is the
//! product's to say (its section, its order, how months add up on its pages). The engine completes every
//! row with the registry's fields before any SQL sees it, so a standard changed in the registry changes in
//! every product, and two products cannot print one metric under two names or against two standards.
//! Where two sources legitimately exist for one concept (a provider return and the practice registers),
//! they are two metrics with two ids and two names.
//!
//! Owns the registry's format and its rules, and the completion of a product's list. It must not compute
//! figures (that is SQL's) nor decide how a product prints them (templates').

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Location};

/// Where the registry lives, relative to the project.
pub const REGISTRY: &str = "config/metrics.yaml";

/// The fields the registry defines, in the order they are added to a product's rows (with `unit_label`,
/// the unit as a page prints it). A product's list that sets one of them is refused: the definition
/// would then exist twice.
pub const DEFINED: [&str; 9] = [
    "name",
    "unit",
    "direction",
    "standard",
    "standard_label",
    "standard_source",
    "numerator",
    "denominator",
    "data_source",
];

/// The column added beside `unit`: how a page prints the unit (`crate::units::Unit::label`).
pub const UNIT_LABEL: &str = "unit_label";

/// The units a metric can be in: the closed set of `crate::units`, the one set `diff` prints by too.
fn unit_names() -> String {
    crate::units::UNITS
        .iter()
        .map(|(u, _)| *u)
        .collect::<Vec<_>>()
        .join(", ")
}

pub const DIRECTIONS: [&str; 3] = ["increase", "decrease", "neutral"];

/// The registry, read and judged.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Each metric's fields as written (`id` included), by id.
    metrics: BTreeMap<String, serde_yaml::Mapping>,
}

impl Registry {
    /// Reads the registry's text, every problem at its line and column.
    pub fn parse(bytes: &[u8]) -> Result<Registry, Vec<Diagnostic>> {
        let file = REGISTRY;
        let problems = crate::seed::yaml_problems("metric registry", file, bytes);
        if !problems.is_empty() {
            return Err(problems);
        }
        let rows: Vec<serde_yaml::Value> = match serde_yaml::from_slice(bytes) {
            Ok(serde_yaml::Value::Sequence(rows)) => rows,
            _ => {
                return Err(vec![Diagnostic::in_file(
                    file,
                    "the metric registry must be a YAML list of metrics (`- { id: …, name: … }`)",
                )]);
            }
        };
        let marked = crate::seed::marked(bytes);
        let at = |row: usize, key: Option<&str>, message: String| {
            let (line, column) = crate::seed::place(marked.as_ref(), row, key);
            Diagnostic::at(
                Location {
                    file: PathBuf::from(file),
                    line,
                    column,
                },
                message,
            )
        };
        let mut out = Vec::new();
        let mut metrics = BTreeMap::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            let Some(fields) = row.as_mapping() else {
                continue; // yaml_problems has said so
            };
            let text = |k: &str| fields.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let Some(id) = text("id") else {
                out.push(at(i, None, format!("metric {} has no `id`", i + 1)));
                continue;
            };
            for key in fields.keys() {
                let key = key.as_str().unwrap_or_default();
                if key != "id" && !DEFINED.contains(&key) {
                    out.push(at(
                        i,
                        Some(key),
                        format!(
                            "metric `{id}`: unknown field `{key}` (a metric has id, {})",
                            DEFINED.join(", ")
                        ),
                    ));
                }
            }
            match text("name") {
                None => out.push(at(i, None, format!("metric `{id}` has no `name`"))),
                Some(name) => {
                    if let Some(other) = names.insert(name.clone(), id.clone()) {
                        out.push(at(
                            i,
                            Some("name"),
                            format!(
                                "metric `{id}` has the name of metric `{other}` (\"{name}\"): a reader could not tell them apart; name the source in one of them"
                            ),
                        ));
                    }
                }
            }
            match text("unit") {
                Some(u) if crate::units::Unit::named(&u).is_some() => {}
                Some(u) => out.push(at(
                    i,
                    Some("unit"),
                    format!(
                        "metric `{id}`: unknown unit `{u}` (known: {})",
                        unit_names()
                    ),
                )),
                None => out.push(at(
                    i,
                    None,
                    format!("metric `{id}` has no `unit` ({})", unit_names()),
                )),
            }
            match text("direction") {
                Some(d) if DIRECTIONS.contains(&d.as_str()) => {}
                other => out.push(at(
                    i,
                    other.as_ref().map(|_| "direction"),
                    format!(
                        "metric `{id}`: `direction` must be one of {} ({})",
                        DIRECTIONS.join(", "),
                        other.map_or("missing".to_string(), |d| format!("`{d}`"))
                    ),
                )),
            }
            let standard = fields.get("standard").filter(|v| !v.is_null());
            if let Some(s) = standard {
                if !s.is_number() {
                    out.push(at(
                        i,
                        Some("standard"),
                        format!("metric `{id}`: `standard` must be a number (a proportion for a percent)"),
                    ));
                }
                if text("standard_label").is_none_or(|l| l.is_empty()) {
                    out.push(at(
                        i,
                        Some("standard"),
                        format!(
                            "metric `{id}` has a standard but no `standard_label` to print it by"
                        ),
                    ));
                }
            }
            if metrics.insert(id.clone(), fields.clone()).is_some() {
                out.push(at(i, Some("id"), format!("metric `{id}` is defined twice")));
            }
        }
        if out.is_empty() {
            Ok(Registry { metrics })
        } else {
            Err(out)
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.metrics.keys().map(String::as_str)
    }

    /// A metric's field as written (`None` when the registry does not define the metric or the field).
    pub fn field(&self, id: &str, field: &str) -> Option<&serde_yaml::Value> {
        self.metrics.get(id)?.get(field)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.metrics.contains_key(id)
    }

    /// A product's list of metrics (`file`, its rows naming registry ids in column `key`) completed with
    /// the registry's fields, as YAML the engine reads like any seed. Every problem is returned at once,
    /// at its row and column: an id the registry lacks, a row without one, a field the registry defines.
    pub fn complete(
        &self,
        seed: &str,
        file: &str,
        key: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, Vec<Diagnostic>> {
        let problems = crate::seed::yaml_problems(seed, file, bytes);
        if !problems.is_empty() {
            return Err(problems);
        }
        let Ok(serde_yaml::Value::Sequence(rows)) = serde_yaml::from_slice(bytes) else {
            return Err(vec![Diagnostic::in_file(
                file,
                format!("seed `{seed}`: expected a YAML list of records"),
            )]);
        };
        let marked = crate::seed::marked(bytes);
        let at = |row: usize, column: Option<&str>, message: String| {
            let (line, col) = crate::seed::place(marked.as_ref(), row, column);
            Diagnostic::at(
                Location {
                    file: PathBuf::from(file),
                    line,
                    column: col,
                },
                format!("seed `{seed}`: {message}"),
            )
        };
        let mut out = Vec::new();
        let mut completed = Vec::with_capacity(rows.len());
        let known: BTreeSet<&str> = self.ids().collect();
        for (i, row) in rows.into_iter().enumerate() {
            let serde_yaml::Value::Mapping(mut fields) = row else {
                continue;
            };
            for k in DEFINED.iter().chain([&UNIT_LABEL]) {
                if fields.contains_key(*k) {
                    out.push(at(
                        i,
                        Some(k),
                        format!(
                            "row {}: `{k}` is the metric's definition, kept once in {REGISTRY}; remove it here",
                            i + 1
                        ),
                    ));
                }
            }
            let id = fields.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let Some(id) = id else {
                out.push(at(
                    i,
                    None,
                    format!("row {} has no `{key}` naming a metric of {REGISTRY}", i + 1),
                ));
                continue;
            };
            let Some(definition) = self.metrics.get(&id) else {
                out.push(at(
                    i,
                    Some(key),
                    format!(
                        "row {}: `{id}` is not a metric of {REGISTRY} (define it there first{})",
                        i + 1,
                        crate::diagnostic::nearest(&id, known.iter().copied())
                            .map(|c| format!("; did you mean `{c}`?"))
                            .unwrap_or_default()
                    ),
                ));
                continue;
            };
            for k in DEFINED {
                let v = definition
                    .get(k)
                    .cloned()
                    .unwrap_or(serde_yaml::Value::Null);
                fields.insert(serde_yaml::Value::String(k.to_string()), v);
            }
            let label = definition
                .get("unit")
                .and_then(|u| u.as_str())
                .and_then(crate::units::Unit::named)
                .map(|u| u.label())
                .unwrap_or_default();
            fields.insert(UNIT_LABEL.into(), label.into());
            completed.push(serde_yaml::Value::Mapping(fields));
        }
        if !out.is_empty() {
            return Err(out);
        }
        serde_yaml::to_string(&serde_yaml::Value::Sequence(completed))
            .map(String::into_bytes)
            .map_err(|e| vec![Diagnostic::in_file(file, format!("seed `{seed}`: {e}"))])
    }
}

/// A `format: metrics` seed's table as the engine reads it: its list completed from the registry, both
/// files read through the project (so that both are hashed into the run record).
pub fn completed_seed(
    project: &crate::world::Project,
    seed: &crate::plan::Seed,
) -> Result<Vec<u8>, Vec<Diagnostic>> {
    let read = |f: &str| {
        project
            .read(f)
            .map_err(|e| vec![Diagnostic::in_file(f, format!("seed `{}`: {e}", seed.name))])
    };
    let registry = Registry::parse(&read(REGISTRY)?)?;
    let key = seed.key.as_deref().unwrap_or("id");
    registry.complete(&seed.name, &seed.file, key, &read(&seed.file)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "\
- { id: ae_4h, name: \"A&E: seen within 4 hours\", unit: percent, direction: increase, standard: 0.95, standard_label: \"95%\" }
- { id: oap, name: \"Out-of-area placements\", unit: count, direction: decrease }
";

    #[test]
    fn a_products_rows_are_completed_with_the_registrys_fields() {
        let reg = Registry::parse(REG.as_bytes()).unwrap();
        let out = reg
            .complete(
                "metrics",
                "config/p.yaml",
                "id",
                b"- { id: oap, area: MH }\n",
            )
            .unwrap();
        let rows: serde_yaml::Value = serde_yaml::from_slice(&out).unwrap();
        let row = &rows[0];
        assert_eq!(row["area"], "MH");
        assert_eq!(row["name"], "Out-of-area placements");
        assert_eq!(row["unit"], "count");
        assert_eq!(row["unit_label"], "");
        assert!(row["standard"].is_null());
    }

    #[test]
    fn a_product_that_defines_or_misnames_a_metric_is_refused_at_its_row() {
        let reg = Registry::parse(REG.as_bytes()).unwrap();
        let text = "- { id: ae_4h, name: \"Four hours\" }\n- { id: ae_4hr }\n";
        let errs = reg
            .complete("metrics", "config/p.yaml", "id", text.as_bytes())
            .unwrap_err();
        let all: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert!(
            all[0].contains("config/p.yaml:1:")
                && all[0].contains("`name` is the metric's definition"),
            "{all:?}"
        );
        assert!(
            all[1].contains("config/p.yaml:2:") && all[1].contains("did you mean `ae_4h`"),
            "{all:?}"
        );
    }

    #[test]
    fn two_metrics_under_one_name_or_an_unknown_unit_are_refused() {
        let text = "\
- { id: smi_a, name: \"SMI checks\", unit: percent, direction: increase }
- { id: smi_b, name: \"SMI checks\", unit: percentage, direction: up }
";
        let errs = Registry::parse(text.as_bytes()).unwrap_err();
        let all = errs
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains("has the name of metric `smi_a`"), "{all}");
        assert!(all.contains("unknown unit `percentage`"), "{all}");
        assert!(all.contains("`direction` must be one of"), "{all}");
        assert!(all.contains("config/metrics.yaml:2:"), "{all}");
    }
}
