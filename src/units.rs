//! Units of published figures: the small closed set a pipeline declares for the columns of a SQL step's
//! table (`units:` on the step), and how a figure and a change of it print in each — a proportion as
//! `90.5%` and its change in percentage points (`+1.2 pp`), money in the unit its column holds (`£78,904k`),
//! carbon in `tCO2e`, counts with thousands separators, ranks as `3rd`.
//!
//! Owns the names of the units, their reading from a pipeline (`validate` reports an unknown one) and from
//! a table's own `unit` column, and the text of numbers in them. It reads no table and prints nothing:
//! `figure_diff` decides which figures to show.

use std::collections::BTreeMap;

/// A unit a column's figures are in.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    /// A proportion from 0 to 1, printed as a percentage; its changes are in percentage points.
    Percent,
    /// A count of things: whole numbers with thousands separators.
    Count,
    /// Pounds sterling.
    Gbp,
    /// Thousands of pounds (`£000`), as finance tables hold them: `£78,904k`.
    GbpThousands,
    /// Tonnes of carbon dioxide equivalent.
    Tco2e,
    /// A rate per 1,000 (people, attendances…).
    RatePer1000,
    /// A rate per 10,000 (staff per patients).
    RatePer10000,
    /// Kilograms of CO2e per 1,000 (patients).
    Kgco2ePer1000,
    Days,
    Minutes,
    /// A place in a league table (1 is first): its changes are named per row (`SWFT 3rd → 1st`).
    Rank,
    /// A unit named by the table's own `unit` column that is not one of the above (`kWh`, `litres`): the
    /// number with the unit's text after it.
    Named(String),
}

/// Where a column's unit comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnUnit {
    /// One unit for every row (`pct_4h: percent`).
    Fixed(Unit),
    /// Each row's own unit, from a text column of the table (`value: { from_column: unit }`), for a long
    /// table whose rows hold figures of several units.
    FromColumn(String),
}

/// The names a pipeline writes, with the unit each means (the closed set `validate` accepts).
pub const UNITS: [(&str, Unit); 11] = [
    ("percent", Unit::Percent),
    ("count", Unit::Count),
    ("gbp", Unit::Gbp),
    ("gbp_thousands", Unit::GbpThousands),
    ("tco2e", Unit::Tco2e),
    ("rate_per_1000", Unit::RatePer1000),
    ("rate_per_10000", Unit::RatePer10000),
    ("kgco2e_per_1000", Unit::Kgco2ePer1000),
    ("days", Unit::Days),
    ("minutes", Unit::Minutes),
    ("rank", Unit::Rank),
];

/// The numeric columns of a long table that take the row's unit from its `unit` column when the
/// pipeline declares none for them: the row's figure by the usual names.
pub const LONG_TABLE_FIGURES: [&str; 2] = ["value", "quantity"];

/// The column of a long table that says each row's unit.
pub const UNIT_COLUMN: &str = "unit";

/// The minus sign printed: a typographic minus, as finance packs print it.
pub const MINUS: char = '\u{2212}';

impl Unit {
    /// The unit a pipeline names (`percent`), or `None` when it is not one of [`UNITS`].
    pub fn named(name: &str) -> Option<Unit> {
        UNITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, u)| u.clone())
    }

    /// The unit a table's `unit` column gives for a row: one of [`UNITS`] by name, or by its usual symbol
    /// (`%`, `£000`, `tCO2e`), otherwise the text itself (`kWh`).
    pub fn from_row(text: &str) -> Unit {
        let t = text.trim();
        if let Some(u) = Unit::named(&t.to_ascii_lowercase()) {
            return u;
        }
        match t {
            "%" | "proportion" => Unit::Percent,
            "£" => Unit::Gbp,
            "£000" | "£k" | "£000s" => Unit::GbpThousands,
            "tCO2e" | "tCO₂e" | "t CO2e" => Unit::Tco2e,
            "per 1,000" | "per 1000" => Unit::RatePer1000,
            _ => Unit::Named(t.to_string()),
        }
    }

    /// How a page labels the unit (an axis, a column heading): `%`, `per 1,000`, `tCO2e`; empty for a
    /// count.
    pub fn label(&self) -> String {
        match self {
            Unit::Percent => "%".into(),
            Unit::Count | Unit::Rank => String::new(),
            Unit::Gbp => "£".into(),
            Unit::GbpThousands => "£000".into(),
            Unit::Tco2e => "tCO2e".into(),
            Unit::RatePer1000 => "per 1,000".into(),
            Unit::RatePer10000 => "per 10,000".into(),
            Unit::Kgco2ePer1000 => "kgCO2e per 1,000".into(),
            Unit::Days => "days".into(),
            Unit::Minutes => "minutes".into(),
            Unit::Named(t) => t.clone(),
        }
    }

    /// The unit's name in JSON documents (`percent`; a named unit's own text).
    pub fn name(&self) -> String {
        UNITS
            .iter()
            .find(|(_, u)| u == self)
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| match self {
                Unit::Named(t) => t.clone(),
                _ => String::new(),
            })
    }

    /// A value's text in the unit: `90.5%`, `£78,904k`, `1,234.5 tCO2e`, `3rd`. `decimals` is the least
    /// the unit shows; [`Unit::pair`] raises it so that a small change still shows.
    fn value(&self, x: f64, decimals: usize) -> String {
        match self {
            Unit::Percent => format!("{}%", grouped(x * 100.0, decimals)),
            Unit::Count => grouped(x, decimals),
            Unit::Gbp => money(x, decimals, ""),
            Unit::GbpThousands => money(x, decimals, "k"),
            Unit::Tco2e => format!("{} tCO2e", grouped(x, decimals)),
            Unit::RatePer1000 => format!("{} per 1,000", grouped(x, decimals)),
            Unit::RatePer10000 => format!("{} per 10,000", grouped(x, decimals)),
            Unit::Kgco2ePer1000 => format!("{} kgCO2e per 1,000", grouped(x, decimals)),
            Unit::Days => format!("{} days", grouped(x, decimals)),
            Unit::Minutes => format!("{} min", grouped(x, decimals)),
            Unit::Rank => ordinal(x),
            Unit::Named(t) => format!("{} {t}", grouped(x, decimals)),
        }
    }

    /// A change's text, signed: `+1.2 pp` for a proportion (percentage points), `−£10k`, `+12.3 tCO2e`.
    fn change(&self, d: f64, decimals: usize) -> String {
        let sign = if d < 0.0 { MINUS } else { '+' };
        let magnitude = d.abs();
        match self {
            Unit::Percent => format!("{sign}{} pp", grouped(magnitude * 100.0, decimals)),
            Unit::Gbp | Unit::GbpThousands => format!("{sign}{}", self.value(magnitude, decimals)),
            Unit::Rank => format!("{sign}{} place(s)", grouped(magnitude, 0)),
            _ => format!("{sign}{}", self.value(magnitude, decimals)),
        }
    }

    /// The fewest decimals the unit prints its values with.
    fn base_decimals(&self, values: &[f64]) -> usize {
        let whole = values.iter().all(|v| v.fract() == 0.0);
        match self {
            Unit::Percent
            | Unit::Tco2e
            | Unit::RatePer1000
            | Unit::RatePer10000
            | Unit::Kgco2ePer1000
            | Unit::Days
            | Unit::Minutes => 1,
            Unit::Count | Unit::GbpThousands | Unit::Named(_) => usize::from(!whole),
            Unit::Gbp => {
                if whole {
                    0
                } else {
                    2
                }
            }
            Unit::Rank => 0,
        }
    }

    /// An old and a new value and their change, as text in the unit: `(90.5%, 91.7%, +1.2 pp)`. The
    /// decimals are the unit's, or more when the change, or the difference between the two values, would
    /// otherwise not show (`+0.0`, `68.3% → 68.3%`).
    pub fn pair(&self, old: f64, new: f64) -> (String, String, String) {
        let scale = if *self == Unit::Percent { 100.0 } else { 1.0 };
        let mut decimals = self.base_decimals(&[old, new]);
        let delta = (new - old) * scale;
        let hidden = |d: usize| {
            (delta * 10f64.powi(d as i32)).round() == 0.0
                || self.value(old, d) == self.value(new, d)
        };
        while *self != Unit::Rank && decimals < 6 && delta != 0.0 && hidden(decimals) {
            decimals += 1;
        }
        (
            self.value(old, decimals),
            self.value(new, decimals),
            self.change(new - old, decimals),
        )
    }
}

/// The units a pipeline declares for a step's columns, from its YAML (`units: { column: name }` or
/// `{ column: { from_column: other } }`): each column's unit, or the message of each that is wrong.
pub fn declared(
    raw: &BTreeMap<String, crate::spec::RawUnit>,
) -> (BTreeMap<String, ColumnUnit>, Vec<String>) {
    let mut units = BTreeMap::new();
    let mut wrong = Vec::new();
    for (column, unit) in raw {
        match unit {
            crate::spec::RawUnit::Name(name) => match Unit::named(name) {
                Some(u) => {
                    units.insert(column.clone(), ColumnUnit::Fixed(u));
                }
                None => wrong.push(format!(
                    "unknown unit `{name}` for column `{column}`: the units are {} (or \
                     `{{ from_column: COLUMN }}` for a column that names each row's unit)",
                    UNITS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                )),
            },
            crate::spec::RawUnit::FromColumn { from_column } => {
                units.insert(column.clone(), ColumnUnit::FromColumn(from_column.clone()));
            }
        }
    }
    (units, wrong)
}

/// `x` with thousands separators and `decimals` decimals, a typographic minus when negative.
pub fn grouped(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w.to_string(), Some(f.to_string())),
        None => (text, None),
    };
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(&f);
    }
    // A value that rounds to zero prints without a sign.
    if x < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, MINUS);
    }
    out
}

fn money(x: f64, decimals: usize, suffix: &str) -> String {
    let g = grouped(x, decimals);
    match g.strip_prefix(MINUS) {
        Some(rest) => format!("{MINUS}£{rest}{suffix}"),
        None => format!("£{g}{suffix}"),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`.
fn ordinal(x: f64) -> String {
    if x.fract() != 0.0 || x < 0.0 {
        return grouped(x, 1);
    }
    let n = x as u64;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_in_their_units() {
        assert_eq!(
            Unit::Percent.pair(0.905, 0.917),
            ("90.5%".into(), "91.7%".into(), "+1.2 pp".into())
        );
        assert_eq!(
            Unit::GbpThousands.pair(78914.0, 78904.0),
            ("£78,914k".into(), "£78,904k".into(), "\u{2212}£10k".into())
        );
        assert_eq!(
            Unit::Tco2e.pair(1234.5, 1246.8),
            (
                "1,234.5 tCO2e".into(),
                "1,246.8 tCO2e".into(),
                "+12.3 tCO2e".into()
            )
        );
        assert_eq!(
            Unit::Count.pair(1200.0, 1197.0),
            ("1,200".into(), "1,197".into(), "\u{2212}3".into())
        );
        // A change too small for the unit's decimals gets more.
        assert_eq!(Unit::Tco2e.pair(10.01, 10.02).2, "+0.01 tCO2e");
        // Two values that round alike get the decimals that tell them apart.
        assert_eq!(
            Unit::Percent.pair(0.68251, 0.68349),
            ("68.25%".into(), "68.35%".into(), "+0.10 pp".into())
        );
        assert_eq!(ordinal(1.0), "1st");
        assert_eq!(ordinal(3.0), "3rd");
        assert_eq!(ordinal(12.0), "12th");
        assert_eq!(ordinal(22.0), "22nd");
        assert_eq!(grouped(-1234567.25, 2), "\u{2212}1,234,567.25");
        assert_eq!(Unit::from_row("tCO2e"), Unit::Tco2e);
        assert_eq!(Unit::from_row("kWh"), Unit::Named("kWh".into()));
        assert_eq!(
            Unit::Named("kWh".into()).pair(1000.0, 1500.0).1,
            "1,500 kWh"
        );
    }
}
