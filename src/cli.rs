//! The command line as typed: flags and arguments (clap), and their conversion into validated commands.
//!
//! Owns parsing and `--help` text only. Nothing here touches the store or runs anything; `commands`
//! carries out what this module decided was asked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::period::{Month, Period};
use crate::sample::{Gap, SampleOptions};
use crate::spc::Improvement;

#[derive(Debug, Parser)]
#[command(
    name = "boardpack",
    version,
    about = "Batch ETL and reporting for NHS integrated care boards: YAML pipelines of SQL over Parquet, typeset to PDF.",
    long_about = "Batch ETL and reporting for NHS integrated care boards.\n\n\
A pipeline (pipelines/NAME.yaml) declares its parameters, its inputs (Parquet on the object store, \
partitioned by month) and its steps: `sql` steps run a file from sql/ with DataFusion and keep the result \
as a table; `check` steps assert rules over those tables; `report` steps render a template from reports/ \
to PDF with Typst (PDF/UA-1: tagged, titled, with alt text on every chart; README \"Accessibility\"). A run writes its outputs and a run record (JSON) to the store; outputs are published \
only when the whole run succeeds.",
    after_help = "Start here:\n  boardpack demo                          sample data, every pipeline, PDFs\n  \
boardpack validate                      check every pipeline without reading data\n  \
boardpack plan board-pack               the step order and what runs in parallel\n  \
boardpack run board-pack --period 2022-04\n  \
boardpack schedule --once               fire the scheduled runs that are due (`boardpack schedule --help`)\n\n\
Periods: a month `2022-04`, a financial-year quarter `2022-23-Q1` (April–June 2022), a financial year `2022-23`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: CommandArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The project folder (holding pipelines/, sql/, reports/, config/).
    #[arg(long, global = true, env = "BOARDPACK_PROJECT", default_value = ".")]
    pub project: PathBuf,
    /// The settings file to read instead of the project's config/boardpack.yaml (relative to the current
    /// folder; it must exist). Settings, each over the one before: the defaults, this file, its target
    /// (--target), the environment (BOARDPACK__SECTION__KEY, then BOARDPACK_STORE, …), --set, then
    /// --store.
    #[arg(long, global = true, env = "BOARDPACK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set one configuration key by its dotted path, as the file nests it (repeatable):
    /// `--set engine.target_partitions=4 --set store.url=/data/lake`. The value is read as the file's
    /// would be (a YAML scalar; a store option is always text). Settings, each over the one before: the
    /// defaults, the file (--config), its target (--target), the environment (BOARDPACK__SECTION__KEY,
    /// then BOARDPACK_STORE, …), --set, then --store. A wrong key or value names its flag, never a store
    /// option's value.
    #[arg(
        long = "set",
        global = true,
        value_name = "KEY=VALUE",
        value_parser = crate::config::parse_set_flag
    )]
    pub set: Vec<(String, String)>,
    /// The store: a folder, or an s3://, gs://, az:// URL. Overrides config/boardpack.yaml, BOARDPACK_STORE
    /// and `--set store.url=…`.
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// A named target of config/boardpack.yaml (`targets:`, e.g. dev or prod) applied over its other
    /// settings; the environment variables, --set and --store still override it. Given before the command
    /// (`boardpack --target prod run …`): `spc --target` is the SPC target value.
    #[arg(long, env = "BOARDPACK_TARGET")]
    pub target: Option<String>,
    /// Print only warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// How log lines are written to standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What standard output holds: text for people, or one JSON document for programs (`list`, `plan`,
    /// `validate`, `runs`, `runs show`, `verify`, `diff`, `explain`; the README documents each document's
    /// fields).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CommandArgs {
    /// Check every pipeline (or the ones named) without reading any data; list every error with its place.
    Validate {
        /// Pipeline names (files under pipelines/); all when omitted.
        pipelines: Vec<String>,
    },
    /// Show a pipeline's steps in order, grouped into waves that run in parallel.
    Plan { pipeline: String },
    /// Run a pipeline for a period and publish its outputs.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// List the pipelines of the project: parameters, schedule and its next firing, the last run.
    List,
    /// Write the synthetic sample data set to the store.
    Sample(SampleArgs),
    /// Create the sample data if missing, run every pipeline for its default period, print where the PDFs are.
    Demo,
    /// Statistical process control (Making Data Count) on a CSV or Parquet file: one row per point with its
    /// mean, process limits and type, and each series' variation and assurance icons.
    #[command(after_help = SPC_HELP)]
    Spc(SpcArgs),
    /// Re-execute a recorded run (into a scratch prefix; nothing is published) and compare every output
    /// with the record, byte for byte; for a table that differs, the figures that changed (stored →
    /// re-executed) in their units, as `diff` prints them. Exit code 0 when all are identical, 1 otherwise.
    #[command(
        after_help = "Examples:\n  boardpack verify 20220510T070000Z-1a2b3c\n  boardpack verify runs/board-pack/2022-04/20220510T070000Z-1a2b3c/run.json"
    )]
    Verify {
        /// A run id, a run record's path on the store, or a run.json file.
        run: String,
        /// Exit 0 even when an output differs (the report still says so).
        #[arg(long)]
        exit_zero: bool,
    },
    /// The lineage of a published table of a run: the step that produced it, its SQL file (with the
    /// recorded SHA-256) and leading comments, the tables it read, down to the input objects and seed
    /// files, with the row counts and hashes the run recorded. Reads only; the dependency graph is the
    /// pipeline's as it is now, with a warning when its files differ from the run's. Given a metric of
    /// the registry (`config/metrics.yaml`), optionally `@ORG` and `@PERIOD`: its definition, every
    /// published table of the run that holds it (numerator, denominator, value), and their lineage.
    #[command(
        after_help = "Examples:\n  boardpack explain 20220510T070000Z-1a2b3c summary\n  boardpack explain runs/board-pack/2022-04/20220510T070000Z-1a2b3c/run.json tables/summary.parquet\n  boardpack explain 20220510T070000Z-1a2b3c rtt_18w@SWFT@2022-04\n\nAn unknown table lists the run's tables."
    )]
    Explain {
        /// A run id, a run record's path on the store, or a run.json file.
        run: String,
        /// A table or step id (`summary`), an output's path (`tables/summary.parquet`), or a metric of
        /// the registry with an organisation and period to cut its figures to (`ae_4h@RKB@2022-04`).
        table: String,
    },
    /// Compare two runs of the same pipeline and period: a summary first (outputs identical, changed,
    /// added, removed; figures and ranks changed; the largest change of each unit), then parameters,
    /// input objects and project files that changed (by SHA-256), then per published table identical or
    /// the figures that changed (rows matched on their text and date columns; old → new and the change,
    /// in the column's unit: `90.5% → 91.7% (+1.2 pp)`, `£78,904k`, `tCO2e`) and a league table's rank
    /// changes (`SWFT 3rd → 1st`). Reads only.
    #[command(
        after_help = "Example (a restated quarter against the first publication):\n  boardpack diff 20220510T070000Z-1a2b3c 20220817T060000Z-4d5e6f\n\nAt most 20 changed figures are listed per table, then how many more. Units come from the step's \
`units:` in the pipeline (percent, count, gbp, gbp_thousands, tco2e, rate_per_1000, days, minutes, rank, or \
{ from_column: COLUMN }), else a long table's own `unit` column; other figures print as plain numbers."
    )]
    Diff {
        /// The earlier run (id, record path on the store, or run.json file).
        old: String,
        /// The later run.
        new: String,
        /// Exit 0 even when outputs differ (by default 1, as `diff(1)` does).
        #[arg(long)]
        exit_zero: bool,
    },
    /// Run the pipelines' schedules (`schedule:` in each pipeline): fire due runs, wait for their data,
    /// run them under a lease, record them. Long-lived until SIGTERM/SIGINT, or one pass with `--once`.
    #[command(after_help = SCHEDULE_HELP)]
    Schedule {
        /// One pass: fire what is due (and missed firings, up to the catch-up limit), then exit. For cron,
        /// systemd timers and Kubernetes CronJobs.
        #[arg(long)]
        once: bool,
        /// With --once: say which firings are due and what each would do (run, skip as published, wait
        /// for data or a lease); start nothing, record nothing.
        #[arg(long, requires = "once")]
        dry_run: bool,
    },
    /// Run a pipeline for a range of periods, a few at a time, skipping periods already published.
    #[command(
        after_help = "Example:\n  boardpack backfill board-pack --from 2021-04 --to 2022-03\n  boardpack backfill carbon-account --from 2021-22 --to 2022-23 --force\n\nThe periods are the pipeline's own (months, quarters or years) lying wholly within the range."
    )]
    Backfill(BackfillArgs),
    /// The run history from the run records on the store: id, period, status, trigger, start, duration.
    Runs(RunsArgs),
    /// Benchmark every pipeline on sample data at each --scale: cold run, warm re-run, re-run after a
    /// template change and after one month's input changed (wall, CPU, peak RSS, rows and bytes read,
    /// medians), then each SQL step in DataFusion and DuckDB side by side. Prints tables and saves JSON.
    #[command(
        after_help = "Example (see BENCHMARKS.md):\n  boardpack bench --scale 1 --scale 4 --runs 3\n\nSample data, a project copy, a Python venv with duckdb (from PyPI) and bench-results.json go under --dir."
    )]
    Bench(BenchArgs),
    /// Run a scheduler or an executor of an Apache DataFusion Ballista cluster with boardpack's SQL
    /// functions, for runs whose `engine.url` is `ballista://HOST:PORT` (the `distributed` feature,
    /// on by default; docs/distributed.md). Both reach the store as configured here (`--store`,
    /// BOARDPACK_STORE, config/boardpack.yaml), with credentials from this process's environment.
    #[command(subcommand)]
    Cluster(ClusterArgs),
    /// Print a shell completion script: `boardpack completions bash > /etc/bash_completion.d/boardpack`.
    #[command(
        after_help = "Install:\n  bash  boardpack completions bash > ~/.local/share/bash-completion/completions/boardpack\n  \
zsh   boardpack completions zsh > ~/.zfunc/_boardpack   (with fpath+=~/.zfunc before compinit)\n  \
fish  boardpack completions fish > ~/.config/fish/completions/boardpack.fish\n  \
powershell  boardpack completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `boardpack man > /usr/local/share/man/man1/boardpack.1`.
    Man {
        /// Write boardpack.1 and a page per subcommand (boardpack-run.1, …) into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

const RUN_HELP: &str = "Examples:\n  boardpack run board-pack --period 2022-04\n\n  \
# one step and every step reading from it\n  \
boardpack run board-pack --period 2022-04 --select ae_icb_month+\n  \
# a step and what it reads, less one of those\n  \
boardpack run board-pack --period 2022-04 --select +exceptions --exclude metric_month\n  \
# what changed since the published run, and what reads it; first without running anything\n  \
boardpack run board-pack --period 2022-04 --select state:modified+ --dry-run\n\n\
Steps not selected are not run: their tables and PDFs are copied from the period's published run (each SHA-256 \
checked) and the run is published like any other; its record's `selection` says which steps ran and which were \
reused from which run. A SQL step left out that the published run has no output of (none is published, the step \
is new, or it failed there) comes from the step cache when it holds the result; otherwise it is refused by name: \
select it too.\n\n\
Observability (config/boardpack.yaml; each key also as BOARDPACK__SECTION__KEY):\n  \
openlineage:\n    \
url: http://marquez:5000/api/v1/lineage  # POST each event: START, COMPLETE/FAIL/ABORT\n    \
namespace: boardpack                     # the jobs' namespace; a pipeline is a job\n    \
store: true                              # keep them: lineage/PIPELINE/PERIOD/RUN-ID/\n  \
metrics:\n    \
textfile_dir: /var/lib/node_exporter/textfile  # boardpack_PIPELINE.prom\n\
Every run (run, backfill, --resume, the scheduler) reports to both; an endpoint that fails is a \
warning, never a failed run.";

const SCHEDULE_HELP: &str = "A pipeline's schedule (pipelines/NAME.yaml):\n  schedule:\n    cron: \"0 7 * * *\"          # minute hour day month weekday\n    timezone: Europe/London     # GMT/BST handled\n    working_day: 8              # only on the 8th working day of the month\n    builds: previous-month      # or previous-quarter, previous-year\n    ready: { poll: 15m, deadline: 8h, min_rows: { INPUT: N }, markers: [PATH] }\n    retries: 2\n    retry_backoff: 1m\n    step_timeout: 30m\n\nScheduler settings (bank holidays, lease, catch-up, notifications) are under `scheduler:` in\nconfig/boardpack.yaml. On SIGTERM/SIGINT no new step starts, running steps have the grace period,\nthe lease is released and the run is recorded as interrupted.";

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The pipeline (a file under pipelines/).
    pub pipeline: String,
    /// The first period (a month `2021-04`, or a quarter or year).
    #[arg(long)]
    pub from: String,
    /// The last period.
    #[arg(long)]
    pub to: String,
    /// Rebuild periods already published.
    #[arg(long)]
    pub force: bool,
    /// Periods run at once (default: `scheduler.backfill_jobs`, 2).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Say which periods would run and which are skipped, and what each lacks; run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub show: Option<RunsCommand>,
    /// Only this pipeline's runs.
    pub pipeline: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run: its record's status, trigger, times, error and steps.
    Show {
        /// A run id, a run record's path on the store, or a run.json file.
        run: String,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Sample data scale (repeatable): 1 is one ICB, 16 a region.
    #[arg(long = "scale", default_values_t = [1u32])]
    pub scales: Vec<u32>,
    /// Repetitions of every scenario and step query; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Only this pipeline (repeatable; default: every pipeline).
    #[arg(long = "pipeline")]
    pub pipelines: Vec<String>,
    /// Where sample data, results and the DuckDB environment go (kept between runs).
    #[arg(long, default_value = "target/bench")]
    pub dir: PathBuf,
    /// Skip the DuckDB side-by-side (it needs python3 and PyPI the first time).
    #[arg(long)]
    pub no_duckdb: bool,
    /// The engine's memory limit for the runs, e.g. 2GiB (else config/boardpack.yaml's).
    #[arg(long)]
    pub memory_limit: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ClusterArgs {
    /// The scheduler: plans each query into stages and hands their tasks to executors.
    Scheduler {
        /// The address to listen on.
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: String,
        /// The host name executors reach this scheduler by.
        #[arg(long, default_value = "localhost")]
        external_host: String,
        /// Seconds without word from an executor after which it is taken as lost and its tasks run
        /// again on the others.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// An executor: runs the tasks the scheduler hands it, reading Parquet from the store.
    Executor {
        /// The scheduler, as HOST:PORT.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// The address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: String,
        /// The host name the scheduler, other executors and boardpack runs reach this executor by.
        #[arg(long)]
        external_host: Option<String>,
        /// The Arrow Flight port, from which results and shuffle data are fetched.
        #[arg(long, default_value_t = 50051)]
        flight_port: u16,
        /// The executor's gRPC port.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once; the number of cores when 0.
        #[arg(long, default_value_t = 0)]
        slots: usize,
        /// Where shuffle files go; a temporary folder when absent. The executor's memory pool is the
        /// configuration's `engine.memory_limit` (or BOARDPACK_MEMORY_LIMIT), shared by its slots; work
        /// beyond it spills here.
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SpcArgs {
    /// A .csv or .parquet file with one row per point (per facet value), in any order.
    pub file: PathBuf,
    /// The column holding the values.
    #[arg(long, required_unless_present = "numerator", conflicts_with_all = ["numerator", "denominator"])]
    pub value: Option<String>,
    /// The value is this column divided by --denominator, row by row (instead of --value).
    #[arg(long, requires = "denominator", value_name = "COLUMN")]
    pub numerator: Option<String>,
    /// The column --numerator is divided by; a row where it is zero is an error.
    #[arg(long, requires = "numerator", value_name = "COLUMN")]
    pub denominator: Option<String>,
    /// The column holding the dates (points are ordered by it; one point per date).
    #[arg(long)]
    pub date: String,
    /// Keep only the rows where COLUMN holds VALUE (repeatable: every condition must hold).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// Which way is better.
    #[arg(long, value_parser = ["increase", "decrease", "neutral"], default_value = "neutral")]
    pub improvement: String,
    /// The target, for the assurance icon, in the values' unit (a percentage with --percent: 95).
    /// May be negative.
    #[arg(long, allow_negative_numbers = true)]
    pub target: Option<f64>,
    /// A fixed baseline: the first N points of each segment (at least 12).
    #[arg(long)]
    pub baseline: Option<usize>,
    /// Start a new segment at the point with this date (repeatable).
    #[arg(long = "rebase", value_name = "DATE")]
    pub rebase: Vec<String>,
    /// One series per value of this column.
    #[arg(long)]
    pub facet: Option<String>,
    /// The values are proportions: multiply them by 100 and print and chart them as percentages, the
    /// chart's limits kept within 0–100%.
    #[arg(long)]
    pub percent: bool,
    /// Keep every moving range: no screening of outliers before the limits are computed
    /// (NHSRplotthedots' `screen_outliers = FALSE`).
    #[arg(long)]
    pub no_screen: bool,
    /// The chart's title (default: the value column), followed by the facet value for each series.
    #[arg(long)]
    pub title: Option<String>,
    /// Print JSON instead of CSV.
    #[arg(long)]
    pub json: bool,
    /// Also draw the chart: `out.svg` (one file per series) or `out.pdf` (one page per series).
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

// Each example line is short enough that clap's wrapping (at the terminal's width, or 100) leaves it whole.
const SPC_HELP: &str = "Examples:
  boardpack spc ae.csv --value pct_4h --date month --improvement increase \\
      --target 0.95 --chart ae.pdf
  boardpack spc ae.csv --numerator within_4h --denominator attendances --percent \\
      --date month --where type=1 --facet provider --improvement increase \\
      --target 95 --title \"A&E within 4 hours\" --chart ae.pdf
  boardpack spc carbon.csv --value net_tco2e --date month --improvement decrease \\
      --target -43.2 --no-screen

Output: one CSV row (or JSON object) per point with its value, mean, process limits, point type
and rule, and the series' variation and assurance icons.

One point per date: a series with two rows on one date is refused. Split it with --facet, or
keep one with --where COLUMN=VALUE.";

/// Where the value of each point of `boardpack spc` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpcMeasure {
    /// A column of values.
    Column(String),
    /// One column divided by another, row by row.
    Ratio {
        numerator: String,
        denominator: String,
    },
}

/// `boardpack spc`, validated: what to read, how to judge it, what to write.
#[derive(Debug, Clone)]
pub struct SpcCommand {
    pub file: PathBuf,
    pub measure: SpcMeasure,
    pub date: String,
    /// Rows are kept when every (column, value) holds.
    pub filters: Vec<(String, String)>,
    pub facet: Option<String>,
    pub improvement: Improvement,
    pub target: Option<f64>,
    pub baseline: Option<usize>,
    pub rebase: Vec<String>,
    pub screen_outliers: bool,
    /// Values ×100, shown as percentages.
    pub percent: bool,
    pub title: Option<String>,
    pub json: bool,
    pub chart: Option<PathBuf>,
}

impl SpcCommand {
    /// The name of what is measured, for titles: the value column, or `numerator / denominator`.
    pub fn measure_name(&self) -> String {
        match &self.measure {
            SpcMeasure::Column(c) => c.clone(),
            SpcMeasure::Ratio {
                numerator,
                denominator,
            } => format!("{numerator} / {denominator}"),
        }
    }
}

impl SpcArgs {
    fn validate(self) -> Result<SpcCommand, String> {
        if self.baseline.is_some_and(|n| n < 12) {
            return Err("--baseline must be at least 12 points".into());
        }
        if let Some(t) = self.target.filter(|t| !t.is_finite()) {
            return Err(format!("--target {t}: give a finite number"));
        }
        if let Some(chart) = &self.chart {
            let ext = chart.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "svg" && ext != "pdf" {
                return Err(format!(
                    "--chart {}: write a .svg or .pdf file",
                    chart.display()
                ));
            }
        }
        let measure = match (self.value, self.numerator, self.denominator) {
            (Some(v), None, None) => SpcMeasure::Column(v),
            (None, Some(numerator), Some(denominator)) => SpcMeasure::Ratio {
                numerator,
                denominator,
            },
            // clap enforces this already; kept as an error rather than a panic.
            _ => {
                return Err(
                    "give either --value COLUMN or both --numerator and --denominator".into(),
                );
            }
        };
        let mut filters: Vec<(String, String)> = Vec::new();
        for f in &self.filters {
            let (column, value) = f
                .split_once('=')
                .map(|(c, v)| (c.trim(), v))
                .filter(|(c, _)| !c.is_empty())
                .ok_or_else(|| format!("--where `{f}`: write COLUMN=VALUE"))?;
            // A row holds one value per column: two conditions on one column would keep nothing.
            if let Some((_, earlier)) = filters.iter().find(|(c, _)| c == column) {
                return Err(format!(
                    "--where names `{column}` twice (`{earlier}` and `{value}`); a row holds one value"
                ));
            }
            filters.push((column.to_string(), value.to_string()));
        }
        Ok(SpcCommand {
            file: self.file,
            measure,
            date: self.date,
            filters,
            facet: self.facet,
            improvement: self.improvement.parse()?,
            target: self.target,
            baseline: self.baseline,
            rebase: self.rebase,
            screen_outliers: !self.no_screen,
            percent: self.percent,
            title: self.title,
            json: self.json,
            chart: self.chart,
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub pipeline: String,
    /// The period to build: `2022-04`, `2022-23-Q1` or `2022-23` (the pipeline's default when omitted).
    #[arg(long)]
    pub period: Option<String>,
    /// Another parameter, as NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Continue this failed run from its failed step, reusing the tables of the steps that succeeded
    /// (their SHA-256 checked); the period and parameters are the failed run's.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["period", "params"])]
    pub resume: Option<String>,
    /// Run every SQL step, neither reusing nor keeping results in the step cache (`cache/steps/`).
    #[arg(long)]
    pub no_cache: bool,
    /// Run only these steps (dbt's selectors, several at once or repeated): STEP; +STEP, with every step
    /// it reads from; STEP+, with every step reading from it; 2+STEP or STEP+1, to that depth;
    /// state:modified, the steps whose SQL, template, seeds or input declarations changed since the
    /// period's published run (state:modified+ with what reads them). The other steps' outputs are
    /// copied from the period's published run, their SHA-256 checked; the record says which.
    #[arg(long, value_name = "SELECTOR", num_args = 1.., conflicts_with = "resume")]
    pub select: Vec<String>,
    /// Leave these steps out (same selectors as --select; without --select, run every other step).
    #[arg(long, value_name = "SELECTOR", num_args = 1.., conflicts_with = "resume")]
    pub exclude: Vec<String>,
    /// Say what the run would do — the inputs it lacks, the published run it would replace, its steps in
    /// order, which of them the step cache would serve and why the others run, what a --select would run
    /// and reuse — reading only listings and records, and run nothing.
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// First month to generate.
    #[arg(long, default_value = "2019-04")]
    pub from: String,
    /// Last month to generate.
    #[arg(long, default_value = "2023-03")]
    pub to: String,
    /// Population multiplier: N ICB-sized areas (for benchmarks).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Random seed: the same seed always writes the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Leave a provider's month out of an input, as INPUT:PROVIDER:YYYY-MM (repeatable).
    #[arg(long = "gap", value_name = "INPUT:PROVIDER:MONTH")]
    pub gaps: Vec<String>,
    /// An input whose last month has not landed (repeatable; default: nhs111_calls, as in the seed).
    #[arg(long = "lag", value_name = "INPUT", conflicts_with = "no_lag")]
    pub lagging: Vec<String>,
    /// Every input has every month.
    #[arg(long)]
    pub no_lag: bool,
    /// Write only this input, with the reference data (repeatable; default: every input).
    #[arg(long = "only", value_name = "INPUT")]
    pub only: Vec<String>,
}

/// A command, validated.
#[derive(Debug)]
pub enum Command {
    Validate {
        pipelines: Vec<String>,
    },
    Plan {
        pipeline: String,
    },
    Run {
        pipeline: String,
        params: BTreeMap<String, String>,
        no_cache: bool,
        /// The steps asked for (`--select`, `--exclude`); empty for every step.
        selection: crate::select::Request,
    },
    /// What a run (`run --dry-run`) or a backfill (`backfill --dry-run`) of these periods would do.
    DryRun {
        pipeline: String,
        /// The run's parameters (the period among them) for `run`; the periods for `backfill`.
        params: BTreeMap<String, String>,
        periods: Option<(Period, Period)>,
        force: bool,
        /// The steps asked for (`run --select`, `--exclude`).
        selection: crate::select::Request,
    },
    List,
    Sample(SampleOptions),
    Demo,
    Spc(SpcCommand),
    Verify {
        run: String,
        exit_zero: bool,
    },
    Explain {
        run: String,
        table: String,
    },
    Diff {
        old: String,
        new: String,
        exit_zero: bool,
    },
    Schedule {
        once: bool,
        dry_run: bool,
    },
    Backfill {
        pipeline: String,
        from: Period,
        to: Period,
        force: bool,
        jobs: Option<usize>,
    },
    Runs {
        pipeline: Option<String>,
    },
    RunShow {
        run: String,
    },
    Resume {
        pipeline: String,
        run: String,
    },
    Bench(crate::bench::BenchOptions),
    Cluster(ClusterArgs),
    /// Text about the command line itself, printed without opening a project or a store.
    Documentation(String),
}

impl CommandArgs {
    /// Checks what can be checked without the project: period and parameter syntax, sample ranges, and
    /// that a command asked for JSON has a JSON document to give.
    pub fn validate(self, output: OutputFormat) -> Result<Command, String> {
        if output == OutputFormat::Json && !self.speaks_json() {
            return Err(
                "--output json is available for list, plan, validate, runs, runs show, verify, diff and explain; this command prints text only"
                    .into(),
            );
        }
        self.into_command()
    }

    fn speaks_json(&self) -> bool {
        matches!(
            self,
            CommandArgs::List
                | CommandArgs::Plan { .. }
                | CommandArgs::Validate { .. }
                | CommandArgs::Verify { .. }
                | CommandArgs::Diff { .. }
                | CommandArgs::Explain { .. }
                | CommandArgs::Runs { .. }
        )
    }

    fn into_command(self) -> Result<Command, String> {
        Ok(match self {
            CommandArgs::Validate { pipelines } => Command::Validate { pipelines },
            CommandArgs::Plan { pipeline } => Command::Plan { pipeline },
            CommandArgs::List => Command::List,
            CommandArgs::Demo => Command::Demo,
            CommandArgs::Completions { shell } => Command::Documentation(completions(shell)),
            CommandArgs::Man { dir } => Command::Documentation(man_page(dir.as_deref())?),
            CommandArgs::Verify { run, exit_zero } => Command::Verify { run, exit_zero },
            CommandArgs::Explain { run, table } => Command::Explain { run, table },
            CommandArgs::Diff {
                old,
                new,
                exit_zero,
            } => Command::Diff {
                old,
                new,
                exit_zero,
            },
            CommandArgs::Schedule { once, dry_run } => Command::Schedule { once, dry_run },
            CommandArgs::Runs(RunsArgs { show, pipeline }) => match show {
                Some(RunsCommand::Show { run }) => Command::RunShow { run },
                None => Command::Runs { pipeline },
            },
            CommandArgs::Backfill(args) => {
                let from: Period = args.from.parse().map_err(|e| format!("--from: {e}"))?;
                let to: Period = args.to.parse().map_err(|e| format!("--to: {e}"))?;
                if to.last_month() < from.first_month() {
                    return Err(format!("--to {to} is before --from {from}"));
                }
                if args.jobs == Some(0) {
                    return Err("--jobs must be at least 1".into());
                }
                if args.dry_run {
                    return Ok(Command::DryRun {
                        pipeline: args.pipeline,
                        params: BTreeMap::new(),
                        periods: Some((from, to)),
                        force: args.force,
                        selection: crate::select::Request::default(),
                    });
                }
                Command::Backfill {
                    pipeline: args.pipeline,
                    from,
                    to,
                    force: args.force,
                    jobs: args.jobs,
                }
            }
            CommandArgs::Run(RunArgs {
                pipeline,
                resume: Some(run),
                ..
            }) => Command::Resume { pipeline, run },
            CommandArgs::Bench(a) => {
                if a.scales.iter().any(|s| *s == 0 || *s > 1000) {
                    return Err("--scale must be between 1 and 1000".into());
                }
                Command::Bench(crate::bench::BenchOptions {
                    scales: a.scales,
                    runs: a.runs.max(1),
                    pipelines: a.pipelines,
                    dir: a.dir,
                    duckdb: !a.no_duckdb,
                    memory_limit: a.memory_limit,
                })
            }
            CommandArgs::Cluster(args) => Command::Cluster(args),
            CommandArgs::Spc(args) => Command::Spc(args.validate()?),
            CommandArgs::Run(args) => {
                let mut params = BTreeMap::new();
                for p in &args.params {
                    let (k, v) = p
                        .split_once('=')
                        .ok_or_else(|| format!("--param `{p}`: write NAME=VALUE"))?;
                    // A value is recorded, bound into SQL and printed: a newline or other control
                    // character in it is a mistake (a pasted line end), never data.
                    if p.chars().any(char::is_control) {
                        return Err(format!(
                            "--param {:?}: a control character (newline, tab, …) is not allowed",
                            p
                        ));
                    }
                    let k = k.trim().to_string();
                    if k == "period" && args.period.is_some() {
                        return Err(
                            "the period is given twice (--period and --param period=): give it once, with --period"
                                .into(),
                        );
                    }
                    if params.insert(k.clone(), v.trim().to_string()).is_some() {
                        return Err(format!(
                            "--param {k}= is given twice: give each parameter once"
                        ));
                    }
                }
                if let Some(period) = args.period {
                    // Recorded as parsed (`2022-04`), so that the record and the paths hold one spelling.
                    let parsed: Period = period
                        .parse()
                        .map_err(|e: crate::period::PeriodError| e.to_string())?;
                    params.insert("period".to_string(), parsed.to_string());
                }
                let selection = crate::select::Request {
                    select: crate::select::Selector::parse_all(&args.select)
                        .map_err(|e| format!("--select: {e}"))?,
                    exclude: crate::select::Selector::parse_all(&args.exclude)
                        .map_err(|e| format!("--exclude: {e}"))?,
                };
                if args.dry_run {
                    return Ok(Command::DryRun {
                        pipeline: args.pipeline,
                        params,
                        periods: None,
                        force: false,
                        selection,
                    });
                }
                Command::Run {
                    pipeline: args.pipeline,
                    params,
                    no_cache: args.no_cache,
                    selection,
                }
            }
            CommandArgs::Sample(args) => {
                let from: Month = args
                    .from
                    .parse()
                    .map_err(|e: crate::period::PeriodError| format!("--from: {e}"))?;
                let to: Month = args
                    .to
                    .parse()
                    .map_err(|e: crate::period::PeriodError| format!("--to: {e}"))?;
                if to < from {
                    return Err(format!("--to {to} is before --from {from}"));
                }
                if args.scale == 0 || args.scale > 1000 {
                    return Err("--scale must be between 1 and 1000".into());
                }
                let gaps = args
                    .gaps
                    .iter()
                    .map(|g| g.parse::<Gap>())
                    .collect::<Result<Vec<_>, _>>()?;
                let known = crate::sample::input_names();
                for name in gaps
                    .iter()
                    .map(|g| &g.input)
                    .chain(&args.lagging)
                    .chain(&args.only)
                {
                    if !known.contains(&name.as_str()) {
                        return Err(format!(
                            "`{name}` is not a sample input; the inputs are: {}",
                            known.join(", ")
                        ));
                    }
                }
                let lagging = if args.no_lag {
                    Vec::new()
                } else if args.lagging.is_empty() {
                    SampleOptions::default().lagging
                } else {
                    args.lagging
                };
                Command::Sample(SampleOptions {
                    from,
                    to,
                    scale: args.scale,
                    seed: args.seed,
                    gaps,
                    lagging,
                    only_months: Vec::new(),
                    only: args.only,
                })
            }
        })
    }
}

/// The completion script of a shell, from the same definition as `--help`.
pub fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "boardpack", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The manual page (roff) of `boardpack`, listing its subcommands; with `dir`, writes it and one page per
/// subcommand (`boardpack-run.1`, …) there instead and says where.
pub fn man_page(dir: Option<&std::path::Path>) -> Result<String, String> {
    use clap::CommandFactory;
    let command = Cli::command();
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(|e| format!("writing the manual page: {e}"))?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|_| clap_mangen::generate_to(command, dir))
                .map_err(|e| format!("writing the manual pages to {}: {e}", dir.display()))?;
            Ok(format!(
                "manual pages written to {} (boardpack.1 and one per subcommand)\n",
                dir.display()
            ))
        }
    }
}
