//! Working days: Monday to Friday except the bank holidays listed in a project file
//! (`config/bank-holidays/england-and-wales.yaml`, named by `scheduler.bank_holidays`).
//!
//! Owns counting working days in a month. A date in a year the list does not cover is an error when a
//! working-day rule needs it: the scheduler refuses to guess a board's date.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

use crate::world::Project;

/// Weekends and bank holidays. The default has no bank holidays and covers no year: it serves only
/// schedules without a working-day rule.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    holidays: BTreeMap<NaiveDate, String>,
    years: BTreeSet<i32>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    #[serde(default)]
    #[allow(dead_code)]
    division: Option<String>,
    dates: Vec<Holiday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    date: NaiveDate,
    title: String,
}

impl Calendar {
    /// Reads the bank holiday file named in the configuration; no file, no bank holidays.
    pub fn load(project: &Project, file: Option<&str>) -> Result<Calendar, String> {
        let Some(file) = file else {
            return Ok(Calendar::default());
        };
        let text = project.read_to_string(file).map_err(|e| e.to_string())?;
        Calendar::parse(file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Calendar, String> {
        let parsed: HolidayFile = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            format!("{file}{at}: {e}")
        })?;
        let mut cal = Calendar {
            source: file.to_string(),
            ..Default::default()
        };
        for h in parsed.dates {
            cal.years.insert(h.date.year());
            cal.holidays.insert(h.date, h.title);
        }
        Ok(cal)
    }

    /// The shipped England and Wales list, for tests.
    #[cfg(test)]
    pub fn england_and_wales_for_tests() -> Calendar {
        Calendar::parse(
            "config/bank-holidays/england-and-wales.yaml",
            include_str!("../../config/bank-holidays/england-and-wales.yaml"),
        )
        .expect("the shipped bank holiday list parses")
    }

    pub fn holiday(&self, d: NaiveDate) -> Option<&str> {
        self.holidays.get(&d).map(String::as_str)
    }

    fn covers(&self, year: i32) -> Result<(), String> {
        if self.years.contains(&year) {
            return Ok(());
        }
        Err(if self.source.is_empty() {
            format!(
                "a working-day schedule needs bank holidays for {year}: name a list in config/boardpack.yaml (`scheduler.bank_holidays`)"
            )
        } else {
            format!(
                "{} lists no bank holidays for {year}: add the year's dates (gov.uk/bank-holidays) before a working-day schedule can fire in it",
                self.source
            )
        })
    }

    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool, String> {
        if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return Ok(false);
        }
        self.covers(d.year())?;
        Ok(!self.holidays.contains_key(&d))
    }

    /// Which working day of its month a date is (1 for the first), or `None` when it is not one.
    pub fn working_day_of_month(&self, d: NaiveDate) -> Result<Option<u32>, String> {
        if !self.is_working_day(d)? {
            return Ok(None);
        }
        let mut n = 0;
        let mut day = d.with_day(1).unwrap_or(d);
        while day <= d {
            if self.is_working_day(day)? {
                n += 1;
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        Ok(Some(n))
    }

    /// The Nth working day of a month.
    pub fn nth_working_day(
        &self,
        year: i32,
        month: u32,
        n: u32,
    ) -> Result<Option<NaiveDate>, String> {
        let Some(mut day) = NaiveDate::from_ymd_opt(year, month, 1) else {
            return Ok(None);
        };
        let mut count = 0;
        while day.month() == month {
            if self.is_working_day(day)? {
                count += 1;
                if count == n {
                    return Ok(Some(day));
                }
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn working_days_skip_weekends_and_bank_holidays() {
        let cal = Calendar::england_and_wales_for_tests();
        assert_eq!(
            cal.holiday(date("2022-09-19")),
            Some("Bank Holiday for the State Funeral of Queen Elizabeth II")
        );
        // April 2022: Fri 1st, then Good Friday (15th) and Easter Monday (18th) are skipped.
        assert_eq!(
            cal.nth_working_day(2022, 4, 1).unwrap(),
            Some(date("2022-04-01"))
        );
        assert_eq!(
            cal.nth_working_day(2022, 4, 10).unwrap(),
            Some(date("2022-04-14"))
        );
        assert_eq!(
            cal.nth_working_day(2022, 4, 11).unwrap(),
            Some(date("2022-04-19"))
        );
        // December 2021: Christmas and Boxing Day fell at a weekend; the 27th and 28th are substitutes.
        assert_eq!(cal.working_day_of_month(date("2021-12-27")).unwrap(), None);
        assert_eq!(
            cal.working_day_of_month(date("2021-12-29")).unwrap(),
            Some(19)
        );
        assert_eq!(
            cal.working_day_of_month(date("2022-01-04")).unwrap(),
            Some(1)
        );
        // The 8th working day after month end in 2026 (a year the list covers).
        assert_eq!(
            cal.nth_working_day(2026, 1, 8).unwrap(),
            Some(date("2026-01-13"))
        );
        assert_eq!(
            cal.nth_working_day(2026, 4, 8).unwrap(),
            Some(date("2026-04-14"))
        );
        assert_eq!(cal.nth_working_day(2022, 2, 25).unwrap(), None);
        let err = cal.nth_working_day(2031, 1, 8).unwrap_err();
        assert!(err.contains("lists no bank holidays for 2031"), "{err}");
        // Weekends need no list.
        assert!(
            !Calendar::default()
                .is_working_day(date("2031-01-04"))
                .unwrap()
        );
    }
}
