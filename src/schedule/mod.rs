//! The scheduler: when each pipeline runs and for which period, whether its data has landed, and running
//! it once — across processes and machines — with retries, catch-up, resume and backfill.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this file | a pipeline's `schedule:` given meaning: cron in a time zone, working days, the period built |
//! | [`calendar`] | working days: weekends and the configured bank holidays |
//! | [`ready`] | readiness: the period's partitions, row counts and markers on the store, polled to a deadline |
//! | [`lease`] | one run per pipeline and period at a time: lease objects written create-if-absent |
//! | [`control`] | hooks `execute` calls: step retries and timeout, the stop signal, reused steps |
//! | [`runner`] | `schedule` passes and the long-lived loop, catch-up, backfill, resume, notifications |
//! | [`command`] | the scheduler's commands as printed for people |
//! | [`history`] | `runs`: the run records on the store, listed and shown |
//!
//! Time comes only from the world's clock (`World::clock`), so tests drive it; the module never reads the
//! wall clock. It runs pipelines only through `execute`, and writes on the store only leases, its own
//! state (`scheduler/`), checkpoints and the records of runs it could not start (not ready, abandoned).

pub mod calendar;
pub mod command;
pub mod control;
pub mod history;
pub mod lease;
pub mod ready;
pub mod runner;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::period::{Granularity, Month, Period};
use crate::plan::{Input, ParamKind, Parameter};
use crate::spec::RawSchedule;

pub use calendar::Calendar;
use control::RetryPolicy;

/// The scheduler's settings in `config/boardpack.yaml` (`scheduler:`). Durations are written `30s`,
/// `5m`, `6h`, `35d`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// A project file listing bank holidays (skipped, with weekends, when counting working days).
    pub bank_holidays: Option<String>,
    /// How often the long-lived scheduler wakes to look for due firings.
    pub tick: String,
    /// How long a lease lives unless renewed; a run renews it every third of this.
    pub lease_ttl: String,
    /// Missed firings run once each, oldest first, at most this many per pipeline per pass.
    pub catch_up_limit: usize,
    /// With no scheduler state yet (a first start), how far back to look for missed firings.
    pub catch_up_window: String,
    /// After SIGTERM/SIGINT, how long running steps may go on before they are cancelled.
    pub grace_period: String,
    /// Backfill: how many periods run at once.
    pub backfill_jobs: usize,
    pub notify: NotifyConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            bank_holidays: None,
            tick: "30s".into(),
            lease_ttl: "5m".into(),
            catch_up_limit: 3,
            catch_up_window: "35d".into(),
            grace_period: "2m".into(),
            backfill_jobs: 2,
            notify: NotifyConfig::default(),
        }
    }
}

/// Where to send a finished run's record: a command (the record as JSON on its standard input) and/or an
/// HTTP POST. The URL may carry a token: it is never logged, and can come from the environment instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// A program and its arguments, e.g. `["/usr/local/bin/page-oncall", "--team", "bi"]`.
    pub command: Vec<String>,
    /// A URL to POST the record to. Prefer `url_env` for a URL holding a token.
    pub url: Option<String>,
    /// The environment variable holding the URL (e.g. `BOARDPACK_NOTIFY_URL`).
    pub url_env: Option<String>,
    /// Also notify when a run succeeds (failures, interruptions and abandoned runs always notify).
    pub on_success: bool,
    /// The environment variables passed on to `command`, by name (e.g. `["PAGER_TOKEN"]`). The command
    /// gets these, `PATH`, `HOME`, `LANG`, `TZ` and the `BOARDPACK_RUN_*` variables, nothing else: never the
    /// store's credentials the scheduler itself holds.
    pub pass_env: Vec<String>,
}

/// Variables every notification command gets from the scheduler's environment (none is a credential).
const NOTIFY_BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "TZ"];

impl NotifyConfig {
    /// The environment of the notification command, from the scheduler's (read through `var`): the
    /// basics and the variables the configuration names, with the run's own.
    pub fn command_env(
        &self,
        var: impl Fn(&str) -> Option<String>,
        run: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Vec<(String, String)> {
        NOTIFY_BASE_ENV
            .iter()
            .map(|k| k.to_string())
            .chain(self.pass_env.iter().cloned())
            .filter_map(|k| var(&k).map(|v| (k, v)))
            .chain(run.into_iter().map(|(k, v)| (k.to_string(), v)))
            .collect()
    }
}

/// The scheduler's settings, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tick: Duration,
    pub lease_ttl: Duration,
    pub catch_up_limit: usize,
    pub catch_up_window: Duration,
    pub grace_period: Duration,
    pub backfill_jobs: usize,
    pub notify: NotifyConfig,
    /// A pass only says what it would do (`schedule --once --dry-run`): no run, record, lease or state.
    pub dry_run: bool,
}

impl Settings {
    pub fn from_config(c: &SchedulerConfig) -> Result<Settings, String> {
        let d = |name: &str, text: &str| {
            parse_duration(text)
                .map_err(|e| format!("config/boardpack.yaml: scheduler.{name}: {e}"))
        };
        Ok(Settings {
            tick: d("tick", &c.tick)?,
            lease_ttl: d("lease_ttl", &c.lease_ttl)?,
            catch_up_limit: c.catch_up_limit,
            catch_up_window: d("catch_up_window", &c.catch_up_window)?,
            grace_period: d("grace_period", &c.grace_period)?,
            backfill_jobs: c.backfill_jobs.max(1),
            notify: c.notify.clone(),
            dry_run: false,
        })
    }
}

/// Which period a firing builds, relative to the firing's date in the schedule's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builds {
    PreviousMonth,
    /// The financial quarter (April–June = Q1) before the one the firing falls in.
    PreviousQuarter,
    /// The financial year before the one the firing falls in.
    PreviousYear,
}

impl FromStr for Builds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "previous-month" => Ok(Builds::PreviousMonth),
            "previous-quarter" => Ok(Builds::PreviousQuarter),
            "previous-year" => Ok(Builds::PreviousYear),
            other => Err(format!(
                "`builds: {other}`: write previous-month, previous-quarter or previous-year"
            )),
        }
    }
}

impl Builds {
    pub fn granularity(self) -> Granularity {
        match self {
            Builds::PreviousMonth => Granularity::Month,
            Builds::PreviousQuarter => Granularity::Quarter,
            Builds::PreviousYear => Granularity::Year,
        }
    }

    /// The period built by a firing in `month`.
    pub fn period(self, month: Month) -> Period {
        match self {
            Builds::PreviousMonth => Period::Month(month.add(-1)),
            Builds::PreviousQuarter => containing(month.add(-3), Granularity::Quarter),
            Builds::PreviousYear => containing(month.add(-12), Granularity::Year),
        }
    }
}

/// The period of a granularity that contains a month.
pub fn containing(m: Month, g: Granularity) -> Period {
    let fy = m.financial_year();
    match g {
        Granularity::Month => Period::Month(m),
        Granularity::Quarter => Period::Quarter {
            fy,
            quarter: ((m.month + 8) % 12) / 3 + 1,
        },
        Granularity::Year => Period::Year { fy },
    }
}

/// What a firing waits for before the run starts.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub poll: Duration,
    /// After the firing.
    pub deadline: Duration,
    pub min_rows: BTreeMap<String, u64>,
    pub markers: Vec<String>,
}

/// A pipeline's schedule, parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron_text: String,
    cron: Cron,
    pub tz: Tz,
    pub builds: Builds,
    pub working_day: Option<u32>,
    pub ready: Readiness,
    pub retry: RetryPolicy,
}

impl Schedule {
    pub fn parse(raw: &RawSchedule) -> Result<Schedule, Vec<String>> {
        let mut errors = Vec::new();
        let cron = Cron::from_str(&raw.cron)
            .map_err(|e| errors.push(format!("schedule `cron: {}`: {e}", raw.cron)))
            .ok();
        let tz_name = raw.timezone.as_deref().unwrap_or("Europe/London");
        let tz = tz_name
            .parse::<Tz>()
            .map_err(|_| {
                errors.push(format!(
                    "schedule `timezone: {tz_name}` is not a time zone (e.g. Europe/London)"
                ))
            })
            .ok();
        let builds = raw
            .builds
            .as_deref()
            .unwrap_or("previous-month")
            .parse::<Builds>()
            .map_err(|e| errors.push(format!("schedule {e}")))
            .ok();
        if let Some(n) = raw.working_day
            && !(1..=23).contains(&n)
        {
            errors.push(format!(
                "schedule `working_day: {n}`: a month has between 1 and 23 working days"
            ));
        }
        let mut duration = |what: &str, text: Option<&str>, default: Duration| match text {
            None => default,
            Some(t) => parse_duration(t).unwrap_or_else(|e| {
                errors.push(format!("schedule `{what}`: {e}"));
                default
            }),
        };
        let ready = raw.ready.clone().unwrap_or_default();
        let poll = duration(
            "ready.poll",
            ready.poll.as_deref(),
            Duration::from_secs(600),
        );
        let deadline = duration(
            "ready.deadline",
            ready.deadline.as_deref(),
            Duration::from_secs(12 * 3600),
        );
        let backoff = duration(
            "retry_backoff",
            raw.retry_backoff.as_deref(),
            Duration::from_secs(60),
        );
        let step_timeout = raw
            .step_timeout
            .as_deref()
            .map(|t| duration("step_timeout", Some(t), Duration::ZERO));
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(cron), Some(tz), Some(builds)) = (cron, tz, builds) else {
            return Err(vec!["schedule: invalid".into()]);
        };
        Ok(Schedule {
            cron_text: raw.cron.clone(),
            cron,
            tz,
            builds,
            working_day: raw.working_day,
            ready: Readiness {
                poll: poll.max(Duration::from_millis(10)),
                deadline,
                min_rows: ready.min_rows,
                markers: ready.markers,
            },
            retry: RetryPolicy {
                retries: raw.retries.unwrap_or(0),
                backoff,
                step_timeout,
            },
        })
    }

    /// Whether the schedule fires on a local date: every date, or only the Nth working day of its month.
    fn fires_on(&self, date: chrono::NaiveDate, cal: &Calendar) -> Result<bool, String> {
        match self.working_day {
            None => Ok(true),
            Some(n) => Ok(cal.working_day_of_month(date)? == Some(n)),
        }
    }

    /// The first firing strictly after `after`.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        cal: &Calendar,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let mut t = after.with_timezone(&self.tz);
        // A cron that matches every minute of a day rejected by the working-day rule needs up to 1440
        // steps a day; months of that are bounded by this.
        for _ in 0..100_000 {
            let next = match self.cron.find_next_occurrence(&t, false) {
                Ok(n) => n,
                Err(_) => return Ok(None),
            };
            if self.fires_on(next.date_naive(), cal)? {
                return Ok(Some(next.with_timezone(&Utc)));
            }
            t = next;
        }
        Ok(None)
    }

    /// Every firing in `(since, until]`, oldest first.
    pub fn firings_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        cal: &Calendar,
    ) -> Result<Vec<DateTime<Utc>>, String> {
        let mut out = Vec::new();
        let mut t = since;
        while let Some(next) = self.next_after(t, cal)? {
            if next > until {
                break;
            }
            out.push(next);
            t = next;
        }
        Ok(out)
    }

    /// The period a firing builds, from the firing's date in the schedule's time zone.
    pub fn period_for(&self, firing: DateTime<Utc>) -> Period {
        let local = firing.with_timezone(&self.tz).date_naive();
        let month = Month::new(local.year(), local.month()).unwrap_or(Month {
            year: local.year(),
            month: 1,
        });
        self.builds.period(month)
    }

    /// A firing as people read it: local time with the zone's abbreviation (GMT or BST).
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

/// Problems with a pipeline's schedule, checked with the plan: the cron, zone, durations, the period it
/// builds against the pipeline's period parameter, and the inputs readiness names.
pub fn check_schedule(
    raw: &RawSchedule,
    inputs: &[Input],
    parameters: &[Parameter],
) -> Vec<String> {
    let schedule = match Schedule::parse(raw) {
        Ok(s) => s,
        Err(errors) => return errors,
    };
    let mut errors = Vec::new();
    match parameters.iter().find(|p| p.kind == ParamKind::Period) {
        None => errors.push(
            "a scheduled pipeline needs a `type: period` parameter for the period a firing builds"
                .into(),
        ),
        Some(p) => {
            let g = schedule.builds.granularity();
            if !p.granularities.is_empty() && !p.granularities.contains(&g) {
                errors.push(format!(
                    "schedule builds a {} but parameter `{}` accepts only {:?}",
                    format!("{g:?}").to_lowercase(),
                    p.name,
                    p.granularities
                ));
            }
        }
    }
    for name in schedule.ready.min_rows.keys() {
        if !inputs.iter().any(|i| &i.name == name) {
            errors.push(format!(
                "schedule `ready.min_rows` names `{name}`, which is not an input"
            ));
        }
    }
    for m in &schedule.ready.markers {
        let filled = m
            .replace("{period}", "2022-04")
            .replace("{month}", "2022-04");
        if let Err(e) = crate::store::check_relative(&filled) {
            errors.push(format!("schedule `ready.markers`: {e}"));
        }
    }
    errors
}

/// Parses `500ms`, `30s`, `5m`, `6h`, `2d` (or a number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `30s`, `5m`, `6h` or `2d`"))?;
    let secs = |k: u64| Ok(Duration::from_secs(n.saturating_mul(k)));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "`{text}`: unknown unit (use ms, s, m, h or d, as in `30s`, `5m`, `6h`, `2d`)"
        )),
    }
}

/// A duration as people read it: `1h 30m`, `45s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(format!("{sec}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(yaml: &str) -> Schedule {
        let raw: RawSchedule = serde_yaml::from_str(yaml).unwrap();
        Schedule::parse(&raw).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn seven_in_the_morning_in_london_across_the_clock_changes() {
        let s = schedule("{cron: '0 7 * * *', timezone: Europe/London}");
        let cal = Calendar::default();
        // GMT until the last Sunday of March (2022-03-27), BST after: 07:00 local is 07:00Z then 06:00Z.
        let f = s
            .firings_between(utc(2022, 3, 25, 12, 0), utc(2022, 3, 29, 12, 0), &cal)
            .unwrap();
        assert_eq!(
            f,
            vec![
                utc(2022, 3, 26, 7, 0),
                utc(2022, 3, 27, 6, 0),
                utc(2022, 3, 28, 6, 0),
                utc(2022, 3, 29, 6, 0)
            ]
        );
        assert_eq!(s.local(f[1]), "2022-03-27 07:00 BST");
        // Back to GMT on the last Sunday of October (2022-10-30).
        let f = s
            .firings_between(utc(2022, 10, 29, 0, 0), utc(2022, 10, 31, 0, 0), &cal)
            .unwrap();
        assert_eq!(f, vec![utc(2022, 10, 29, 6, 0), utc(2022, 10, 30, 7, 0)]);
        assert_eq!(s.local(f[1]), "2022-10-30 07:00 GMT");
    }

    #[test]
    fn a_time_inside_the_changes_fires_once() {
        // 01:30 does not exist on 2022-03-27 (01:00 GMT → 02:00 BST) and happens twice on 2022-10-30.
        let s = schedule("{cron: '30 1 * * *', timezone: Europe/London}");
        let cal = Calendar::default();
        let spring = s
            .firings_between(utc(2022, 3, 26, 12, 0), utc(2022, 3, 28, 12, 0), &cal)
            .unwrap();
        assert_eq!(spring.len(), 2, "{spring:?}");
        assert_eq!(spring[0], utc(2022, 3, 27, 1, 0));
        assert_eq!(spring[1], utc(2022, 3, 28, 0, 30));
        let autumn = s
            .firings_between(utc(2022, 10, 29, 12, 0), utc(2022, 10, 31, 12, 0), &cal)
            .unwrap();
        assert_eq!(autumn.len(), 2, "{autumn:?}");
        assert_eq!(autumn[0], utc(2022, 10, 30, 0, 30));
        assert_eq!(autumn[1], utc(2022, 10, 31, 1, 30));
    }

    #[test]
    fn monthly_and_quarterly_firings_cross_month_and_year_ends() {
        let cal = Calendar::default();
        let monthly = schedule("{cron: '0 7 15 * *', builds: previous-month}");
        let f = monthly
            .firings_between(utc(2022, 11, 20, 0, 0), utc(2023, 3, 1, 0, 0), &cal)
            .unwrap();
        assert_eq!(
            f,
            vec![
                utc(2022, 12, 15, 7, 0),
                utc(2023, 1, 15, 7, 0),
                utc(2023, 2, 15, 7, 0)
            ]
        );
        let built: Vec<String> = f
            .iter()
            .map(|t| monthly.period_for(*t).to_string())
            .collect();
        assert_eq!(built, ["2022-11", "2022-12", "2023-01"]);

        let quarterly = schedule("{cron: '0 7 20 1,4,7,10 *', builds: previous-quarter}");
        let f = quarterly
            .firings_between(utc(2022, 1, 1, 0, 0), utc(2023, 1, 31, 0, 0), &cal)
            .unwrap();
        let built: Vec<String> = f
            .iter()
            .map(|t| quarterly.period_for(*t).to_string())
            .collect();
        // January builds Q3 (October–December), April Q4 of the year before (January–March).
        assert_eq!(
            built,
            [
                "2021-22-Q3",
                "2021-22-Q4",
                "2022-23-Q1",
                "2022-23-Q2",
                "2022-23-Q3"
            ]
        );
        let yearly = schedule("{cron: '0 7 1 6 *', builds: previous-year}");
        assert_eq!(
            yearly.period_for(utc(2023, 6, 1, 6, 0)).to_string(),
            "2022-23"
        );
    }

    #[test]
    fn eighth_working_day_skips_weekends_and_bank_holidays() {
        let cal = Calendar::england_and_wales_for_tests();
        let s = schedule("{cron: '0 7 * * *', timezone: Europe/London, working_day: 8}");
        // May 2022: Mon 2nd is the Early May bank holiday; working days 3,4,5,6,9,10,11,12 → the 12th.
        // June 2022: 2nd and 3rd are Jubilee holidays; 1,6,7,8,9,10,13,14 → the 14th.
        // January 2023: Mon 2nd is the New Year substitute; 3,4,5,6,9,10,11,12 → the 12th.
        let f = s
            .firings_between(utc(2022, 5, 1, 0, 0), utc(2023, 1, 31, 0, 0), &cal)
            .unwrap();
        let days: Vec<String> = f.iter().map(|t| s.local(*t)).collect();
        assert_eq!(days[0], "2022-05-12 07:00 BST");
        assert_eq!(days[1], "2022-06-14 07:00 BST");
        assert_eq!(days.last().unwrap(), "2023-01-12 07:00 GMT");
        assert_eq!(days.len(), 9);
        assert_eq!(s.period_for(f[0]).to_string(), "2022-04");
        // A year with no bank holidays configured is refused, not guessed.
        let err = s.next_after(utc(2030, 1, 1, 0, 0), &cal).unwrap_err();
        assert!(err.contains("2030"), "{err}");
    }

    #[test]
    fn schedules_are_checked() {
        let bad: RawSchedule = serde_yaml::from_str(
            "{cron: '61 7 * * *', timezone: Mars/Base, builds: next-week, ready: {poll: soon}}",
        )
        .unwrap();
        let errors = Schedule::parse(&bad).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[1].contains("Mars/Base"));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 weeks").is_err());
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h 30m");
    }
}
