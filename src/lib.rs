//! boardpack: YAML-defined batch pipelines for NHS integrated care boards — DataFusion SQL over Parquet
//! on an object store, typeset to PDF with Typst.
//!
//! Data flows one way: **spec → plan → execute → render → publish**.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`spec`] | the pipeline YAML as written, with the place of every node |
//! | [`plan`] | the validated plan: names resolved, files read, SQL parsed, steps ordered |
//! | [`params`] | run parameters and the bound SQL parameters derived from them |
//! | [`period`] | months, financial quarters and years |
//! | [`cache`] | the step cache: results reused when nothing a step reads has changed |
//! | [`execute`] | running a plan: inputs, steps in parallel, staging, the run record, publication |
//! | [`engine`] | DataFusion and Parquet: registering inputs, running SQL, materialising results |
//! | `cluster` | a Ballista cluster running the engine's queries (feature `distributed`) |
//! | [`factors`] | published emission factor sets (DESNZ flat files) read into one table |
//! | [`seed`] | seed files as written: bad YAML and values of the wrong type, at their line and column |
//! | [`select`] | `run --select`: dbt selectors over the step graph, `state:modified`, what unselected steps reuse |
//! | [`render`] | templates, formats, charts and Typst → PDF |
//! | [`spc`] | statistical process control (Making Data Count) |
//! | [`spc_sql`] | the same SPC as the SQL window function `spc(...) OVER (...)` |
//! | [`stats`] | funnel-plot limits and confidence intervals for comparing organisations |
//! | [`disclosure`] | small-number suppression that totals cannot undo, enforced in every report |
//! | [`derivation`] | which columns of a step's table are computed from which (a rate from its count) |
//! | [`lineage`] | `explain` and `diff` of recorded runs (read only) |
//! | [`audit`] | input row counts, the PDFs' lineage appendix data, copies of project files on the store |
//! | [`record`] | the run record and the store layout of a run |
//! | [`publish`] | publication: the `published/` pointer, the one write that publishes a run |
//! | [`store`] | the object store and path safety |
//! | [`faults`] | retries and timeouts of the store, keeping credentials out of messages and records |
//! | [`logging`] | the log lines written, every one through the redaction of credentials |
//! | [`metrics`] | a finished run as Prometheus text for node_exporter's textfile collector |
//! | [`openlineage`] | a run's OpenLineage events (START, COMPLETE, FAIL, ABORT): kept on the store, sent to a lineage service |
//! | [`world`] | everything a run takes from outside: project files, store, clock, fonts |
//! | [`config`] | `config/boardpack.yaml` and its environment overrides |
//! | [`contract`] | an input's data-quality rules: quarantine, row and reference rules, drift, completeness |
//! | [`sample`] | the synthetic sample data set |
//! | [`schedule`] | the scheduler: when pipelines run, readiness, leases, retries, resume, backfill, run history |
//! | [`bench`] | the benchmark: scenarios at several scales, and the side-by-side with DuckDB |
//! | [`cli`], [`commands`], [`progress`] | the command line, carrying out commands, showing progress |

pub mod audit;
pub mod bench;
pub mod cache;
pub mod cli;
#[cfg(feature = "distributed")]
pub mod cluster;
pub mod commands;
pub mod config;
pub mod contract;
pub mod derivation;
pub mod diagnostic;
pub mod disclosure;
pub mod engine;
pub mod execute;
pub mod factors;
pub mod faults;
pub mod figure_diff;
pub mod lineage;
pub mod logging;
pub mod metrics;
pub mod openlineage;
pub mod params;
pub mod period;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod record;
pub mod registry;
pub mod render;
pub mod sample;
pub mod schedule;
pub mod seed;
pub mod select;
pub mod shapes;
pub mod spc;
pub mod spc_sql;
pub mod spec;
pub mod stats;
pub mod store;
pub mod units;
pub mod verify;
pub mod world;
