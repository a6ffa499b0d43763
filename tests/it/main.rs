//! Integration tests, in one binary (each file under tests/ would link DataFusion and Typst again).
//! They exercise boardpack through its public interfaces: pipelines run on small generated Parquet, and
//! the outputs, run records and PDF text are read back.

mod accessibility;
mod activity;
mod audit;
mod cache;
mod cancer;
mod carbon;
mod cli;
mod commentary;
mod disclosure_sweep;
#[cfg(feature = "distributed")]
mod distributed;
mod enforced_disclosure;
mod escaping;
mod failures;
mod faults;
mod finance;
mod hardening;
mod human_diffs;
mod inequalities;
mod input_months;
mod lineage;
mod log_redaction;
mod memory;
mod metric_registry;
mod missing_data;
mod observability;
mod pipeline;
mod primary_care;
mod publication;
mod quality;
mod report_parts;
mod reproducible;
mod s3_server;
mod sample_pack;
mod scheduler;
mod selection;
mod shared_rules;
mod silent_charts;
mod spc_command;
mod spc_tables;
mod spec_errors;
mod support;
mod validate_errors;
mod yaml_attacks;
