//! Emission factor sets: the UK Government GHG conversion factors for company reporting (DESNZ, earlier
//! BEIS) in their published "flat file" CSV form, read into one normalised table that SQL can join.
//!
//! Owns the published layouts and their drift from year to year: title lines before the header; no `ID`
//! column before 2023; 2019 and 2021 with `UOM (simple)`, `UOM`, `GHG` and `Lookup` columns, later years
//! with `UOM` and `GHG/Unit`; the per-gas rows worded `kg CH4` (mass), `kg CO2e of CH4` or
//! `kg CO2e of CH4 per unit`; `kg CO2e` or `kgCO2e` for the total; values written `0.18385`,
//! `"1 861,79440"` (a mirror's thousands space and decimal comma), blank or `< 1`; an `END` row after the
//! last factor. It reads bytes and
//! returns rows; it does not decide which set or row an account uses (that is the pipeline's mapping) and
//! never turns a blank into a zero.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;

/// The value column's name starts with this, followed by the set's year.
const VALUE_COLUMN: &str = "GHG Conversion Factor";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}, line {line}: {message}")]
pub struct FactorError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// One published factor row, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorRow {
    /// The year of the set (from the `GHG Conversion Factor <year>` column).
    pub set_year: i32,
    /// The published `ID` (2023 onwards); `None` before.
    pub id: Option<String>,
    /// A key naming the row within its set whatever the year: its levels, column text, unit and GHG.
    pub key: String,
    pub scope: String,
    pub level1: String,
    pub level2: String,
    pub level3: String,
    pub level4: String,
    pub column_text: String,
    /// The unit of activity (`kWh (Gross CV)`, `litres`, `km`, `tonnes`).
    pub uom: String,
    /// As published: `kg CO2e`, `kgCO2e`, `kg CO2e of CH4 per unit`, `kg CH4`, `kWh (Net CV)` …
    pub ghg_unit: String,
    /// Normalised: `CO2e` for the total, `CO2`, `CH4`, `N2O` for a per-gas row, empty for other rows.
    pub gas: String,
    /// `None` when the published cell is blank or not a number (`< 1`).
    pub value: Option<f64>,
    pub value_text: String,
    /// The line of the file the row is on (1-based).
    pub line: usize,
}

/// One year's set, as read from one file.
#[derive(Debug, Clone)]
pub struct FactorSet {
    pub file: String,
    pub year: i32,
    pub rows: Vec<FactorRow>,
}

/// Which published column holds which field.
struct Layout {
    id: Option<usize>,
    scope: usize,
    levels: [usize; 4],
    column_text: usize,
    uom: usize,
    ghg: usize,
    value: usize,
    width: usize,
}

impl Layout {
    fn from_header(cells: &[String]) -> Result<(Layout, i32), String> {
        let find = |names: &[&str]| {
            cells
                .iter()
                .position(|c| names.iter().any(|n| c.trim().eq_ignore_ascii_case(n)))
        };
        let need = |names: &[&str]| {
            find(names).ok_or_else(|| format!("the header has no `{}` column", names[0]))
        };
        let (value, year) = cells
            .iter()
            .enumerate()
            .find_map(|(i, c)| {
                let rest = c.trim().strip_prefix(VALUE_COLUMN)?;
                rest.trim().parse::<i32>().ok().map(|y| (i, y))
            })
            .ok_or_else(|| format!("the header has no `{VALUE_COLUMN} <year>` column"))?;
        Ok((
            Layout {
                id: find(&["ID"]),
                scope: need(&["Scope"])?,
                levels: [
                    need(&["Level 1"])?,
                    need(&["Level 2"])?,
                    need(&["Level 3"])?,
                    need(&["Level 4"])?,
                ],
                column_text: need(&["Column Text"])?,
                // 2019 and 2021 have both `UOM (simple)` and `UOM`; the full one matches later years'.
                uom: need(&["UOM"])?,
                ghg: need(&["GHG/Unit", "GHG"])?,
                value,
                width: cells.len(),
            },
            year,
        ))
    }
}

/// Reads one published flat file. `file` names it in errors (a path relative to the project).
pub fn parse(file: &str, bytes: &[u8]) -> Result<FactorSet, FactorError> {
    let err = |line: usize, message: String| FactorError {
        file: file.to_string(),
        line,
        message,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| err(1, format!("not UTF-8 text: {e}")))?
        .trim_start_matches('\u{feff}');
    let records = records(text).map_err(|(line, m)| err(line, m))?;
    // Title lines come before the header: the header is the first record naming the value column.
    let header_at = records
        .iter()
        .position(|(_, cells)| cells.iter().any(|c| c.trim().starts_with(VALUE_COLUMN)))
        .ok_or_else(|| {
            err(
                1,
                format!("no header line with a `{VALUE_COLUMN} <year>` column: is this a DESNZ flat file?"),
            )
        })?;
    let (header_line, header) = &records[header_at];
    let (layout, year) = Layout::from_header(header).map_err(|m| err(*header_line, m))?;
    let mut rows = Vec::new();
    for (line, cells) in &records[header_at + 1..] {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // The published files end with a marker row: `END` in a cell or two, nothing else.
        if cells
            .iter()
            .all(|c| c.trim().is_empty() || c.trim() == "END")
        {
            break;
        }
        if cells.len() != layout.width {
            return Err(err(
                *line,
                format!(
                    "{} cells where the header has {}",
                    cells.len(),
                    layout.width
                ),
            ));
        }
        let cell = |i: usize| cells[i].trim().to_string();
        let scope = cell(layout.scope);
        if scope.is_empty() {
            return Err(err(*line, "the Scope cell is empty".into()));
        }
        let [l1, l2, l3, l4] = layout.levels.map(cell);
        let column_text = cell(layout.column_text);
        let uom = cell(layout.uom);
        let ghg_unit = cell(layout.ghg);
        let value_text = cell(layout.value);
        let value = parse_value(&value_text)
            .map_err(|m| err(*line, format!("the factor value `{value_text}`: {m}")))?;
        let key = [&l1, &l2, &l3, &l4, &column_text, &uom, &ghg_unit]
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
        rows.push(FactorRow {
            set_year: year,
            id: layout.id.map(cell).filter(|s| !s.is_empty()),
            key,
            scope,
            level1: l1,
            level2: l2,
            level3: l3,
            level4: l4,
            column_text,
            uom,
            gas: gas(&ghg_unit).to_string(),
            ghg_unit,
            value,
            value_text,
            line: *line,
        });
    }
    if rows.is_empty() {
        return Err(err(*header_line, "the file has no factor rows".into()));
    }
    Ok(FactorSet {
        file: file.to_string(),
        year,
        rows,
    })
}

/// The gas a `GHG/Unit` cell speaks of: the total (`CO2e`), one gas, or none (an energy row).
pub fn gas(ghg_unit: &str) -> &'static str {
    let g: String = ghg_unit
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match g.as_str() {
        "kgco2e" => "CO2e",
        _ if g.ends_with("ofco2") || g.ends_with("ofco2perunit") || g == "kgco2" => "CO2",
        _ if g.contains("ch4") => "CH4",
        _ if g.contains("n2o") => "N2O",
        _ => "",
    }
}

/// A published value: `0.18385`; `1 861,79440` (thousands space, decimal comma, as a mirror wrote it);
/// blank or `< 1` (published as not a number) → `None`. Anything else is an error, never a zero.
fn parse_value(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() || t.starts_with('<') {
        return Ok(None);
    }
    if let Ok(x) = t.parse::<f64>() {
        return Ok(Some(x));
    }
    let compact: String = t.chars().filter(|c| *c != ' ' && *c != '\u{a0}').collect();
    if compact.matches(',').count() == 1 && !compact.contains('.') {
        if let Ok(x) = compact.replace(',', ".").parse::<f64>() {
            return Ok(Some(x));
        }
    }
    Err("not a number".into())
}

/// Splits CSV text into records of cells, each with the line it starts on. Quoted cells may hold commas,
/// doubled quotes and line breaks.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, (usize, String)> {
    let mut out = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
            }
            ',' if !quoted => cells.push(std::mem::take(&mut cell)),
            '\r' if !quoted => {}
            '\n' => {
                line += 1;
                if quoted {
                    cell.push('\n');
                } else {
                    cells.push(std::mem::take(&mut cell));
                    out.push((start, std::mem::take(&mut cells)));
                    start = line;
                }
            }
            _ => cell.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted cell is not closed".into()));
    }
    if !cell.is_empty() || !cells.is_empty() {
        cells.push(cell);
        out.push((start, cells));
    }
    Ok(out)
}

/// Every row of the given sets as one Arrow table (the `format: desnz` seed): `set_year`, `factor_id`,
/// `factor_key`, `scope`, `level1`–`level4`, `column_text`, `uom`, `ghg_unit`, `gas`, `value`,
/// `value_text`, `source_file`, `source_line`.
pub fn to_batch(sets: &[FactorSet]) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let rows: Vec<(&FactorSet, &FactorRow)> = sets
        .iter()
        .flat_map(|s| s.rows.iter().map(move |r| (s, r)))
        .collect();
    let text = |f: &dyn Fn(&FactorRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|(_, r)| f(r)).collect::<Vec<_>>(),
        ))
    };
    RecordBatch::try_from_iter(vec![
        (
            "set_year",
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|(_, r)| r.set_year as i64)
                    .collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "factor_id",
            Arc::new(StringArray::from(
                rows.iter().map(|(_, r)| r.id.clone()).collect::<Vec<_>>(),
            )),
        ),
        ("factor_key", text(&|r| &r.key)),
        ("scope", text(&|r| &r.scope)),
        ("level1", text(&|r| &r.level1)),
        ("level2", text(&|r| &r.level2)),
        ("level3", text(&|r| &r.level3)),
        ("level4", text(&|r| &r.level4)),
        ("column_text", text(&|r| &r.column_text)),
        ("uom", text(&|r| &r.uom)),
        ("ghg_unit", text(&|r| &r.ghg_unit)),
        ("gas", text(&|r| &r.gas)),
        (
            "value",
            Arc::new(Float64Array::from(
                rows.iter().map(|(_, r)| r.value).collect::<Vec<_>>(),
            )),
        ),
        ("value_text", text(&|r| &r.value_text)),
        (
            "source_file",
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|(s, _)| s.file.as_str())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "source_line",
            Arc::new(Int64Array::from(
                rows.iter().map(|(_, r)| r.line as i64).collect::<Vec<_>>(),
            )),
        ),
    ])
}

/// Reads several files as one table, refusing two files of the same year.
pub fn parse_all(files: &[(String, Vec<u8>)]) -> Result<Vec<FactorSet>, FactorError> {
    let mut sets: Vec<FactorSet> = Vec::new();
    for (file, bytes) in files {
        let set = parse(file, bytes)?;
        if let Some(other) = sets.iter().find(|s| s.year == set.year) {
            return Err(FactorError {
                file: file.clone(),
                line: 1,
                message: format!("a second {} set (the first is `{}`)", set.year, other.file),
            });
        }
        sets.push(set);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "config/carbon-account/factors/desnz";

    fn shipped(year: i32) -> FactorSet {
        let file = format!("{DIR}/ghg-conversion-factors-{year}-flat-file.csv");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse(&file, &bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    fn total<'a>(set: &'a FactorSet, l1: &str, l3: &str, uom: &str) -> &'a FactorRow {
        let found: Vec<&FactorRow> = set
            .rows
            .iter()
            .filter(|r| r.level1 == l1 && r.level3 == l3 && r.uom == uom && r.gas == "CO2e")
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{l1} / {l3} / {uom} in {}: {found:?}",
            set.year
        );
        found[0]
    }

    /// A known row of every shipped year, with its value as published (read from the files by hand).
    #[test]
    fn every_shipped_year_reads_with_its_known_values() {
        let cases = [
            (2019, 0.25560, 0.18385, None),
            (2021, 0.21233, 0.18316, None),
            (2022, 0.19338, 0.18254, None),
            (2023, 0.20707, 0.18293, Some("7_400_4000_5_1")),
            (2024, 0.20705, 0.18290, Some("7_400_4000_5_1")),
            (2025, 0.17700, 0.18296, Some("7_400_4000_5_1")),
        ];
        for (year, electricity, gas, id) in cases {
            let set = shipped(year);
            assert_eq!(set.year, year);
            assert!(set.rows.len() > 5000, "{year}: {} rows", set.rows.len());
            let e = total(&set, "UK electricity", "Electricity: UK", "kWh");
            assert_eq!(e.value, Some(electricity), "{year} electricity");
            assert_eq!(e.scope, "Scope 2");
            assert_eq!(e.id.as_deref(), id, "{year} electricity ID");
            let g = total(&set, "Fuels", "Natural gas", "kWh (Gross CV)");
            assert_eq!(g.value, Some(gas), "{year} natural gas");
        }
    }

    #[test]
    fn per_gas_rows_are_told_apart_from_the_total_in_every_wording() {
        assert_eq!(gas("kg CO2e"), "CO2e");
        assert_eq!(gas("kgCO2e"), "CO2e");
        assert_eq!(gas("kg CO2e of CO2 per unit"), "CO2");
        assert_eq!(gas("kg CO2e of CO2"), "CO2");
        assert_eq!(gas("kg CO2"), "CO2");
        assert_eq!(gas("kg CH4"), "CH4");
        assert_eq!(gas("kg CO2e of N2O per unit"), "N2O");
        assert_eq!(gas("kWh (Net CV)"), "");
        // 2024 writes the total `kgCO2e`: its electricity row is still the total.
        let set = shipped(2024);
        let rows: Vec<_> = set
            .rows
            .iter()
            .filter(|r| r.id.as_deref() == Some("7_400_4000_5_1"))
            .collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ghg_unit, "kgCO2e");
        assert_eq!(rows[0].gas, "CO2e");
    }

    #[test]
    fn mirror_numbers_blanks_and_title_lines() {
        let set = shipped(2019);
        let insulation = set
            .rows
            .iter()
            .find(|r| r.value_text == "1 861,79440")
            .expect("the 2019 file has a value with a decimal comma");
        assert_eq!(insulation.value, Some(1861.7944));
        assert!(
            set.rows
                .iter()
                .any(|r| r.value.is_none() && r.value_text.is_empty())
        );
        assert!(
            set.rows
                .iter()
                .any(|r| r.value.is_none() && r.value_text == "< 1")
        );

        let text = "Title of the set\nOpen Government Licence\n\
            ID,Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2030\n\
            a_1,Scope 1,Fuels,\"Gaseous, fuels\",Natural gas,,,kWh (Gross CV),kg CO2e,0.2\n";
        let set = parse("t.csv", text.as_bytes()).unwrap();
        assert_eq!(set.year, 2030);
        assert_eq!(set.rows[0].level2, "Gaseous, fuels");
        assert_eq!(set.rows[0].line, 4);
        assert_eq!(set.rows[0].id.as_deref(), Some("a_1"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text = "Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2022\n\
            Scope 1,Fuels,Gaseous fuels,Butane,,,tonnes,kg CO2e,3033.32\n\
            Scope 1,Fuels,Gaseous fuels,Butane,,,tonnes,kg CO2e,three\n";
        let e = parse("f.csv", text.as_bytes()).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("f.csv", 3), "{e}");
        assert!(
            e.to_string()
                .starts_with("f.csv, line 3: the factor value `three`"),
            "{e}"
        );
        let e = parse("g.csv", b"Scope,Level 1\nScope 1,Fuels\n").unwrap_err();
        assert!(e.to_string().contains("no header line"), "{e}");
        let short = "Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2022\nScope 1,Fuels\n";
        assert_eq!(parse("h.csv", short.as_bytes()).unwrap_err().line, 2);
        let two = vec![
            (
                "a.csv".to_string(),
                text.lines()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
            ),
            (
                "b.csv".to_string(),
                text.lines()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
            ),
        ];
        assert!(
            parse_all(&two)
                .unwrap_err()
                .to_string()
                .contains("a second 2022 set")
        );
    }
}
