//! Run parameters: the values a run is given (`--period 2022-04 --param region=Midlands`), checked against
//! the pipeline's declared parameters, and the bound SQL parameters derived from them.
//!
//! Values reach SQL only as bound parameters (`$period_start`), never as text pasted into a statement.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;
use serde_json::{Value as Json, json};

use crate::period::Period;
use crate::plan::{ParamKind, Plan};

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Period(Period),
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Date(NaiveDate),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    #[error("{0}")]
    Invalid(String),
    #[error("missing parameter `{0}`")]
    Missing(String),
    #[error("unknown parameter `{name}` (this pipeline takes: {known})")]
    Unknown { name: String, known: String },
}

pub fn parse_value(kind: ParamKind, text: &str) -> Result<ParamValue, ParamError> {
    let bad = |what: &str| ParamError::Invalid(format!("`{text}` is not {what}"));
    Ok(match kind {
        ParamKind::Period => ParamValue::Period(
            text.parse()
                .map_err(|e: crate::period::PeriodError| ParamError::Invalid(e.to_string()))?,
        ),
        ParamKind::String => ParamValue::String(text.to_string()),
        ParamKind::Integer => ParamValue::Integer(text.parse().map_err(|_| bad("a whole number"))?),
        ParamKind::Number => ParamValue::Number(text.parse().map_err(|_| bad("a number"))?),
        ParamKind::Boolean => ParamValue::Boolean(match text {
            "true" | "yes" => true,
            "false" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        ParamKind::Date => ParamValue::Date(
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad("a date YYYY-MM-DD"))?,
        ),
    })
}

/// The parameters of one run, by name, in declaration order of the pipeline.
#[derive(Debug, Clone)]
pub struct RunParams {
    pub values: BTreeMap<String, ParamValue>,
    /// The name of the pipeline's period parameter.
    period_name: String,
}

impl RunParams {
    /// Binds given `name=value` texts to the plan's parameters: types checked, defaults applied, unknown
    /// and missing names refused, and the period's granularity checked against those the pipeline accepts.
    pub fn bind(plan: &Plan, given: &BTreeMap<String, String>) -> Result<RunParams, ParamError> {
        let known = plan
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        for name in given.keys() {
            if !plan.parameters.iter().any(|p| &p.name == name) {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    known,
                });
            }
        }
        let mut values = BTreeMap::new();
        let mut period_name = String::new();
        for p in &plan.parameters {
            let text = given
                .get(&p.name)
                .or(p.default.as_ref())
                .ok_or_else(|| ParamError::Missing(p.name.clone()))?;
            let value = parse_value(p.kind, text)
                .map_err(|e| ParamError::Invalid(format!("parameter `{}`: {e}", p.name)))?;
            if let ParamValue::Period(period) = &value {
                if !p.granularities.is_empty() && !p.granularities.contains(&period.granularity()) {
                    let accepted: Vec<String> = p
                        .granularities
                        .iter()
                        .map(|g| format!("{g:?}").to_lowercase())
                        .collect();
                    return Err(ParamError::Invalid(format!(
                        "pipeline `{}` builds {} periods, not `{period}`",
                        plan.name,
                        accepted.join(" or ")
                    )));
                }
                period_name = p.name.clone();
            }
            values.insert(p.name.clone(), value);
        }
        Ok(RunParams {
            values,
            period_name,
        })
    }

    pub fn period(&self) -> Period {
        match self.values.get(&self.period_name) {
            Some(ParamValue::Period(p)) => *p,
            _ => unreachable!("bind() always sets the period parameter"),
        }
    }

    /// The bound SQL parameters: each parameter as `$name`; the period also as `$<name>_start` and
    /// `$<name>_end` (first and last day, dates) and `$<name>_label` (`Apr-22`).
    pub fn sql_values(&self) -> Vec<(String, ScalarValue)> {
        let mut out = Vec::new();
        for (name, value) in &self.values {
            match value {
                ParamValue::Period(p) => {
                    out.push((name.clone(), ScalarValue::Utf8(Some(p.to_string()))));
                    out.push((format!("{name}_start"), date(p.start())));
                    out.push((format!("{name}_end"), date(p.end())));
                    out.push((format!("{name}_label"), ScalarValue::Utf8(Some(p.label()))));
                }
                ParamValue::String(s) => {
                    out.push((name.clone(), ScalarValue::Utf8(Some(s.clone()))))
                }
                ParamValue::Integer(i) => out.push((name.clone(), ScalarValue::Int64(Some(*i)))),
                ParamValue::Number(n) => out.push((name.clone(), ScalarValue::Float64(Some(*n)))),
                ParamValue::Boolean(b) => out.push((name.clone(), ScalarValue::Boolean(Some(*b)))),
                ParamValue::Date(d) => out.push((name.clone(), date(*d))),
            }
        }
        out
    }

    /// The parameters as JSON, for run records and templates.
    pub fn to_json(&self) -> Json {
        let mut map = serde_json::Map::new();
        for (name, value) in &self.values {
            let v = match value {
                ParamValue::Period(p) => json!(p.to_string()),
                ParamValue::String(s) => json!(s),
                ParamValue::Integer(i) => json!(i),
                ParamValue::Number(n) => json!(n),
                ParamValue::Boolean(b) => json!(b),
                ParamValue::Date(d) => json!(d.to_string()),
            };
            map.insert(name.clone(), v);
        }
        Json::Object(map)
    }
}

fn date(d: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    ScalarValue::Date32(Some((d - epoch).num_days() as i32))
}
