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
//! | [`execute`] | running a plan: inputs, steps in parallel, staging, the run record, publication |
//! | [`engine`] | DataFusion and Parquet: registering inputs, running SQL, materialising results |
//! | `cluster` | a Ballista cluster running the engine's queries (feature `distributed`) |
//! | [`factors`] | published emission factor sets (DESNZ flat files) read into one table |
//! | [`render`] | templates, formats, charts and Typst → PDF |
//! | [`spc`] | statistical process control (Making Data Count) |
//! | [`stats`] | funnel-plot limits and confidence intervals for comparing organisations |
//! | [`disclosure`] | small-number suppression that totals cannot undo |
//! | [`lineage`] | `explain` and `diff` of recorded runs (read only) |
//! | [`record`] | the run record and the store layout of a run |
//! | [`store`] | the object store and path safety |
//! | [`world`] | everything a run takes from outside: project files, store, clock, fonts |
//! | [`config`] | `config/boardpack.yaml` and its environment overrides |
//! | [`sample`] | the synthetic sample data set |
//! | [`cli`], [`commands`], [`progress`] | the command line, carrying out commands, showing progress |

pub mod cli;
#[cfg(feature = "distributed")]
pub mod cluster;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod disclosure;
pub mod engine;
pub mod execute;
pub mod factors;
pub mod lineage;
pub mod params;
pub mod period;
pub mod plan;
pub mod progress;
pub mod record;
pub mod render;
pub mod sample;
pub mod spc;
pub mod spec;
pub mod stats;
pub mod store;
pub mod verify;
pub mod world;
