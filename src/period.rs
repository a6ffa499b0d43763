//! Reporting periods: a month (`2022-04`), a financial-year quarter (`2022-23-Q1`) or a financial year
//! (`2022-23`), as the NHS writes them (`shared/domain/reference.md`, "Periods").
//!
//! Owns parsing, the months a period covers, its first and last day, and its labels. It knows nothing of
//! pipelines or data: the engine turns a period into bound SQL parameters and partition lists.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1 = January … 12 = December.
    pub month: u32,
}

const MONTH_ABBR: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        (1..=12).contains(&month).then_some(Self { year, month })
    }

    /// The month `n` months later (earlier when negative).
    pub fn add(self, n: i32) -> Self {
        let index = self.year * 12 + self.month as i32 - 1 + n;
        Self {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a Month is always a valid date")
    }

    pub fn last_day(self) -> NaiveDate {
        self.add(1)
            .first_day()
            .pred_opt()
            .expect("dates before year 0 are never built")
    }

    /// The year in which the financial year containing this month starts (April–March).
    pub fn financial_year(self) -> i32 {
        if self.month >= 4 {
            self.year
        } else {
            self.year - 1
        }
    }

    /// The board-pack label: `Apr-22`.
    pub fn label(self) -> String {
        format!(
            "{}-{:02}",
            MONTH_ABBR[self.month as usize - 1],
            self.year.rem_euclid(100)
        )
    }

    /// Months from `self` to `last`, both included (empty when `last` is earlier).
    pub fn through(self, last: Month) -> Vec<Month> {
        let mut out = Vec::new();
        let mut m = self;
        while m <= last {
            out.push(m);
            m = m.add(1);
        }
        out
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PeriodError(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }
}

/// A reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Month(Month),
    /// Quarter 1–4 of the financial year starting in April of `fy`.
    Quarter {
        fy: i32,
        quarter: u32,
    },
    /// The financial year starting in April of `fy`.
    Year {
        fy: i32,
    },
}

/// The granularity of a period, as a pipeline declares which ones it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Month,
    Quarter,
    Year,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error(
    "`{}` is not a period: write a month `2022-04`, a financial-year quarter `2022-23-Q1` or a financial year `2022-23`",
    printable(.0)
)]
pub struct PeriodError(pub String);

/// Text with its control characters written as escapes (`\n`), so that an error about it stays one line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl Period {
    pub fn granularity(&self) -> Granularity {
        match self {
            Period::Month(_) => Granularity::Month,
            Period::Quarter { .. } => Granularity::Quarter,
            Period::Year { .. } => Granularity::Year,
        }
    }

    pub fn first_month(&self) -> Month {
        match *self {
            Period::Month(m) => m,
            Period::Quarter { fy, quarter } => {
                Month { year: fy, month: 4 }.add(3 * (quarter as i32 - 1))
            }
            Period::Year { fy } => Month { year: fy, month: 4 },
        }
    }

    pub fn last_month(&self) -> Month {
        match self {
            Period::Month(m) => *m,
            Period::Quarter { .. } => self.first_month().add(2),
            Period::Year { .. } => self.first_month().add(11),
        }
    }

    /// Every month of the period, in order.
    pub fn months(&self) -> Vec<Month> {
        self.first_month().through(self.last_month())
    }

    pub fn start(&self) -> NaiveDate {
        self.first_month().first_day()
    }

    /// The last day of the period (inclusive).
    pub fn end(&self) -> NaiveDate {
        self.last_month().last_day()
    }

    /// A label for people: `Apr-22`, `2022/23 Q1`, `2022/23`.
    pub fn label(&self) -> String {
        match *self {
            Period::Month(m) => m.label(),
            Period::Quarter { fy, quarter } => {
                format!("{}/{:02} Q{quarter}", fy, (fy + 1).rem_euclid(100))
            }
            Period::Year { fy } => format!("{}/{:02}", fy, (fy + 1).rem_euclid(100)),
        }
    }
}

impl fmt::Display for Period {
    /// The canonical form, as accepted by `--period` and used in store paths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Month(m) => write!(f, "{m}"),
            Period::Quarter { fy, quarter } => {
                write!(f, "{}-{:02}-Q{quarter}", fy, (fy + 1).rem_euclid(100))
            }
            Period::Year { fy } => write!(f, "{}-{:02}", fy, (fy + 1).rem_euclid(100)),
        }
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PeriodError(s.to_string());
        // Spaces around a period are forgiven; a newline or other control character is not: a period is
        // part of store paths and records, and `2022-04\n` is a pasted mistake, not a period.
        if s.chars().any(char::is_control) {
            return Err(bad());
        }
        let s_trim = s.trim();
        // A financial year `2022-23`, optionally followed by `-Q1`..`-Q4`.
        let fy_part = |text: &str| -> Option<i32> {
            let (a, b) = text.split_once('-')?;
            if a.len() != 4 || b.len() != 2 {
                return None;
            }
            let fy: i32 = a.parse().ok()?;
            let next: i32 = b.parse().ok()?;
            ((fy + 1).rem_euclid(100) == next).then_some(fy)
        };
        if let Some((fy_text, q)) = s_trim.rsplit_once("-Q") {
            let fy = fy_part(fy_text).ok_or_else(bad)?;
            let quarter: u32 = q.parse().map_err(|_| bad())?;
            return if (1..=4).contains(&quarter) {
                Ok(Period::Quarter { fy, quarter })
            } else {
                Err(bad())
            };
        }
        if let Some(fy) = fy_part(s_trim) {
            // `2022-12` is a month, not the financial year 2022/13: only a year followed by the next year's
            // two digits is a financial year, and `12` never follows `2022`.
            return Ok(Period::Year { fy });
        }
        Ok(Period::Month(s_trim.parse().map_err(|_| bad())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            "2022-04".parse::<Period>().unwrap(),
            Period::Month(Month {
                year: 2022,
                month: 4
            })
        );
        assert_eq!(
            "2022-23-Q1".parse::<Period>().unwrap(),
            Period::Quarter {
                fy: 2022,
                quarter: 1
            }
        );
        assert_eq!(
            "2022-23".parse::<Period>().unwrap(),
            Period::Year { fy: 2022 }
        );
        assert_eq!(
            "1999-00".parse::<Period>().unwrap(),
            Period::Year { fy: 1999 }
        );
        for bad in ["2022-13", "2022-24", "2022-23-Q5", "22-04", "April", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn quarter_and_year_bounds() {
        let q4: Period = "2022-23-Q4".parse().unwrap();
        assert_eq!(q4.start(), NaiveDate::from_ymd_opt(2023, 1, 1).unwrap());
        assert_eq!(q4.end(), NaiveDate::from_ymd_opt(2023, 3, 31).unwrap());
        let y: Period = "2022-23".parse().unwrap();
        assert_eq!(y.months().len(), 12);
        assert_eq!(y.label(), "2022/23");
        assert_eq!(q4.to_string(), "2022-23-Q4");
        assert_eq!(
            Month {
                year: 2022,
                month: 4
            }
            .label(),
            "Apr-22"
        );
        assert_eq!(
            Month {
                year: 2022,
                month: 1
            }
            .add(-1),
            Month {
                year: 2021,
                month: 12
            }
        );
        assert_eq!(
            Month {
                year: 2024,
                month: 2
            }
            .last_day(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
    }
}
