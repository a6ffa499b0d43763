//! The engine: DataFusion over the object store. Registers a pipeline's inputs (only the partitions a
//! period needs), runs SQL with bound parameters, and materialises results as Parquet on the store.
//!
//! Owns every use of DataFusion and Parquet. It does not decide what runs when (that is `execute`) nor
//! where results are published; it writes where it is told and reports what it read and wrote.

use std::sync::Arc;

use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext, col, lit};
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::DFParser;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value as Json};

use crate::config::{Config, EngineLocation};
use crate::period::Month;
use crate::plan::{ColumnType, Input};
use crate::store::{ObjectInfo, Store, StoreError};

mod quality;
mod rules;

pub use quality::{Findings, Gap};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("input `{input}`: no Parquet objects under `{location}` for {months}")]
    NoData {
        input: String,
        location: String,
        months: String,
    },
    #[error("input `{input}`, object `{object}`: {message}")]
    Contract {
        input: String,
        object: String,
        message: String,
    },
    /// Rows breaking a rule of the input's contract (nulls, a repeated key, a value out of bounds).
    #[error("input `{input}`, {objects}: {message}")]
    Rows {
        input: String,
        objects: String,
        message: String,
    },
    /// Months of the period with no objects, which the input's `period_months:` / `may_lag:` require.
    #[error(
        "input `{input}`: no data for {missing} under `{location}/month=…/`, which the period {period} needs \
         ({found}); load the month(s), or declare `may_lag:` on the input to publish with the gap stated"
    )]
    MissingMonths {
        input: String,
        location: String,
        missing: String,
        period: String,
        found: String,
    },
    /// A month of the period short of what the input's `completeness:` expects, beyond its threshold.
    #[error("input `{input}`, month {month} is incomplete: {message}")]
    Incomplete {
        input: String,
        month: String,
        message: String,
    },
    #[error("writing `{path}`: {message}")]
    Write { path: String, message: String },
    #[error("`{path}`: expected a .csv or .parquet file")]
    UnsupportedFile { path: String },
    /// A column asked of a file (`read_file_columns`) that it does not have.
    #[error("`{path}` has no column `{column}`; its columns are: {available}")]
    UnknownColumn {
        path: String,
        column: String,
        available: String,
    },
    /// The cluster of `engine.url` cannot be used (unreachable, or not in this build).
    #[error("engine `{url}`: {message}")]
    Cluster { url: String, message: String },
}

/// The partition column of month-partitioned inputs (`month=2022-04/`).
pub const MONTH_COLUMN: &str = "month";

/// A table the engine materialised.
#[derive(Debug, Clone)]
pub struct Materialised {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// One DataFusion session for one run. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
    store: Store,
    /// Quarantined rows and completeness gaps found while registering inputs (`quality`).
    quality: Arc<std::sync::Mutex<quality::State>>,
}

impl Engine {
    pub fn new(config: &Config, store: &Store) -> Result<Engine, EngineError> {
        let mut runtime =
            RuntimeEnvBuilder::new().with_memory_limit(config.memory_limit_bytes(), 1.0);
        if let Some(dir) = &config.engine.spill_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        // A sort sets memory aside for merging its spilled runs (10 MiB by default, per sort); under a
        // small limit that alone is more than is left and the sort fails instead of spilling, so it is a
        // sixteenth of the limit at most.
        let merge_reserve = (config.memory_limit_bytes() / 16).min(10 << 20);
        let mut session = SessionConfig::new()
            .with_information_schema(false)
            .with_sort_spill_reservation_bytes(merge_reserve);
        if config.engine.target_partitions > 0 {
            session = session.with_target_partitions(config.engine.target_partitions);
        }
        let ctx = SessionContext::new_with_config_rt(session, runtime.build_arc()?);
        ctx.register_object_store(&store.authority_url(), store.object_store());
        // Funnel limits and confidence intervals, callable from any pipeline's SQL (`crate::stats`).
        for f in crate::stats::sql_functions() {
            ctx.register_udf(f);
        }
        // SPC over a partition, so that a step publishes the verdicts (`crate::spc_sql`).
        for f in crate::spc_sql::window_functions() {
            ctx.register_udwf(f);
        }
        Ok(Engine {
            ctx,
            store: store.clone(),
            quality: Default::default(),
        })
    }

    /// Starts the engine `engine.url` names: this process, or a Ballista cluster whose scheduler must
    /// answer before anything is read or staged (`crate::cluster`).
    pub async fn start(config: &Config, store: &Store) -> Result<Engine, EngineError> {
        let engine = Engine::new(config, store)?;
        let cluster_err = |message: String| EngineError::Cluster {
            url: config.engine.url.clone(),
            message,
        };
        match config.engine_location().map_err(cluster_err)? {
            EngineLocation::Local => Ok(engine),
            #[cfg(feature = "distributed")]
            EngineLocation::Ballista { host, port } => {
                let ctx = crate::cluster::connect(&engine.ctx, &host, port)
                    .await
                    .map_err(cluster_err)?;
                Ok(Engine { ctx, ..engine })
            }
            #[cfg(not(feature = "distributed"))]
            EngineLocation::Ballista { .. } => Err(cluster_err(
                "this build of boardpack has no distributed engine (it was built with `--no-default-features`; build it with the default features)"
                    .into(),
            )),
        }
    }

    /// Registers an input as a table restricted to `months` (ignored for unpartitioned inputs), after
    /// checking every object's schema against the input's contract. Returns the objects it will read.
    pub async fn register_input(
        &self,
        input: &Input,
        months: &[Month],
    ) -> Result<Vec<ObjectInfo>, EngineError> {
        let objects = self.register_input_unchecked(input, months).await?;
        self.check_rows(input, months, &objects).await?;
        Ok(objects)
    }

    /// The row rules of an input's contract over the registered input (see `register_input`).
    pub async fn check_rows(
        &self,
        input: &Input,
        months: &[Month],
        objects: &[ObjectInfo],
    ) -> Result<(), EngineError> {
        // The row rules (nulls, keys, allowed values and ranges) run on what the steps will read, through
        // a schema where every column may be null: a non-nullable scan would fail on the first null
        // without saying where, and the optimiser would fold `IS NULL` on it to false.
        let prepared = rules::prepare(self, input).await?;
        rules::check(self, input, months, objects, &prepared).await
    }

    /// `register_input` without the row rules: for a caller that knows these objects already passed them
    /// under this contract (the step cache), or runs `check_rows` itself.
    pub async fn register_input_unchecked(
        &self,
        input: &Input,
        months: &[Month],
    ) -> Result<Vec<ObjectInfo>, EngineError> {
        let objects = self.input_objects(input, months).await?;
        if input.partitioned_by_month {
            self.judge_months(input, months, &objects)?;
        }
        let file_schema = contract_schema(input);
        if objects.is_empty() {
            if input.required {
                let months_text = match (months.first(), months.last()) {
                    (Some(a), Some(b)) if input.partitioned_by_month => {
                        format!("months {a} to {b}")
                    }
                    _ => "any month".to_string(),
                };
                return Err(EngineError::NoData {
                    input: input.name.clone(),
                    location: input.location.clone(),
                    months: months_text,
                });
            }
        }
        // Months' objects compared with each other under `drift:` (a column dropped or renamed is named).
        quality::drift(self, input, &objects).await?;
        for o in &objects {
            self.check_contract(input, o).await?;
        }
        // Rules whose offending rows are quarantined are left out of what the steps read, by a filter over a
        // schema where every column may be null (on the contract's schema the optimiser would fold a
        // quarantined `IS NULL` to false).
        let prepared = rules::prepare(self, input).await?;
        let file_schema = if prepared.keep()?.is_some() {
            contract_schema_with(input, true)
        } else {
            file_schema
        };

        let url =
            ListingTableUrl::parse(self.store.url(&format!("{}/", input.location))?.as_str())?;
        let mut options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if input.partitioned_by_month {
            options =
                options.with_table_partition_cols(vec![(MONTH_COLUMN.to_string(), DataType::Utf8)]);
        }
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema);
        let table = Arc::new(ListingTable::try_new(config)?);
        if input.partitioned_by_month {
            // The filter on the partition column prunes the listing to the months needed; the months are
            // values, not SQL text.
            let raw = self.ctx.read_table(table)?;
            let wanted = months.iter().map(|m| lit(m.to_string())).collect();
            let mut view = raw.filter(col(MONTH_COLUMN).in_list(wanted, false))?;
            if let Some(keep) = prepared.keep()? {
                // A repeated key set aside is marked by a grouping over the rows read, then unmarked.
                view = rules::mark_repeated_keys(input, view)?
                    .filter(keep)?
                    .drop_columns(&[rules::KEY_ROWS])?;
            }
            self.ctx
                .register_table(input.name.as_str(), view.into_view())?;
        } else if let Some(keep) = prepared.keep()? {
            let view = rules::mark_repeated_keys(input, self.ctx.read_table(table)?)?
                .filter(keep)?
                .drop_columns(&[rules::KEY_ROWS])?;
            self.ctx
                .register_table(input.name.as_str(), view.into_view())?;
        } else {
            self.ctx.register_table(input.name.as_str(), table)?;
        }
        Ok(objects)
    }

    /// `register_input_unchecked` without registering: the input's objects of `months` (every object of
    /// an unpartitioned input), or the error naming a misplaced one.
    pub async fn input_objects(
        &self,
        input: &Input,
        months: &[Month],
    ) -> Result<Vec<ObjectInfo>, EngineError> {
        // The whole prefix is listed, not only the months read: every object under it is either read (and
        // recorded) or refused with its path, so that nothing the record lists goes unread by the SQL and
        // nothing misplaced (a nested folder, `month=2022-4`, a stray object at the root) is skipped silently.
        let listed = self.store.list(&format!("{}/", input.location)).await?;
        let mut objects = Vec::new();
        for o in listed {
            match object_month(input, &o.path) {
                ObjectPlace::Marker => {}
                ObjectPlace::Unpartitioned => objects.push(o),
                ObjectPlace::Month(m) => {
                    if months.contains(&m) {
                        objects.push(o);
                    }
                }
                ObjectPlace::Refused(message) => {
                    return Err(EngineError::Contract {
                        input: input.name.clone(),
                        object: o.path.clone(),
                        message,
                    });
                }
            }
        }
        Ok(objects)
    }

    /// Registers a seed (a small table kept with the project) from its file's bytes: a YAML list of records
    /// or a CSV file with a header. Column types are inferred.
    pub fn register_seed(
        &self,
        name: &str,
        file: &str,
        bytes: &[u8],
    ) -> Result<usize, EngineError> {
        let batch = seed_batch(name, file, bytes)?;
        self.register_batch(name, batch)
    }

    /// Registers a table built in memory (a seed of a published format, already read and checked).
    pub fn register_batch(&self, name: &str, batch: RecordBatch) -> Result<usize, EngineError> {
        let rows = batch.num_rows();
        let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(rows)
    }

    /// Reads an object's Parquet footer and checks it has every contract column with a compatible type.
    async fn check_contract(&self, input: &Input, object: &ObjectInfo) -> Result<(), EngineError> {
        let err = |message: String| EngineError::Contract {
            input: input.name.clone(),
            object: object.path.clone(),
            message,
        };
        if object.size == 0 {
            return Err(err(
                "the object is empty (0 bytes), not a Parquet file".into()
            ));
        }
        let store = self.store.object_store();
        let meta = store
            .head(&self.store.path(&object.path)?)
            .await
            .map_err(|e| err(format!("cannot be read: {e}")))?;
        let schema = ParquetFormat::default()
            .infer_schema(&self.ctx.state(), &store, &[meta])
            .await
            .map_err(|e| {
                err(format!(
                    "not a readable Parquet file: {}",
                    e.strip_backtrace()
                ))
            })?;
        for c in &input.columns {
            match schema.field_with_name(&c.name) {
                Err(_) => {
                    return Err(err(format!(
                        "column `{}` is missing (the contract requires it)",
                        c.name
                    )));
                }
                Ok(f) if !compatible(c.kind, f.data_type()) => {
                    return Err(err(format!(
                        "column `{}` is {} but the contract says {:?}",
                        c.name,
                        f.data_type(),
                        c.kind
                    )));
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Plans a statement with its parameters bound.
    pub async fn dataframe(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
    ) -> Result<DataFrame, EngineError> {
        let df = self.ctx.sql(sql).await?;
        Ok(df.with_param_values(ParamValues::from(params.to_vec()))?)
    }

    /// Runs a statement and writes its result to `path` (relative to the store root) as Parquet, in a
    /// deterministic row order: the statement's own `ORDER BY`, or else every column ascending.
    pub async fn materialise(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
        path: &str,
    ) -> Result<Materialised, EngineError> {
        let mut df = self.dataframe(sql, params).await?;
        if !is_sorted(df.logical_plan()) {
            let keys = df
                .schema()
                .fields()
                .iter()
                .map(|f| col(format!("\"{}\"", f.name())).sort(true, true))
                .collect();
            df = df.sort(keys)?;
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let mut stream = df.execute_stream().await?;
        let write_err = |e: parquet::errors::ParquetError| EngineError::Write {
            path: path.to_string(),
            message: e.to_string(),
        };
        let writer = BufWriter::new(self.store.object_store(), self.store.path(path)?);
        let mut writer =
            AsyncArrowWriter::try_new(writer, schema.clone(), Some(writer_properties()))
                .map_err(write_err)?;
        let mut rows = 0u64;
        // Rows go to the writer in batches of one size whatever sizes the plan delivered (a cluster
        // streams results in the sizes its shuffle and transport chose): the Parquet writer cuts pages
        // relative to each batch, so the bytes then depend on the rows alone.
        // Coalesced in the stream's own (physical) schema: it may hold string views where the logical
        // schema, which the file keeps, says plain strings.
        let mut batches =
            BatchCoalescer::new(stream.schema(), self.ctx.copied_config().batch_size());
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            batches
                .push_batch(batch)
                .map_err(datafusion::error::DataFusionError::from)?;
            while let Some(batch) = batches.next_completed_batch() {
                writer.write(&batch).await.map_err(write_err)?;
            }
        }
        batches
            .finish_buffered_batch()
            .map_err(datafusion::error::DataFusionError::from)?;
        while let Some(batch) = batches.next_completed_batch() {
            writer.write(&batch).await.map_err(write_err)?;
        }
        writer.close().await.map_err(write_err)?;
        // One read gives both the size and the hash of what was written.
        let (bytes, sha256) = self.store.digest(path).await?;
        Ok(Materialised {
            path: path.to_string(),
            rows,
            bytes,
            sha256,
        })
    }

    /// Makes a materialised result available to later steps as table `name`.
    pub async fn register_result(&self, name: &str, path: &str) -> Result<(), EngineError> {
        let url = self.store.url(path)?;
        self.ctx
            .register_parquet(name, url.as_str(), ParquetReadOptions::default())
            .await?;
        Ok(())
    }

    /// The columns of registered table `name`, when there is one.
    pub async fn table_schema(&self, name: &str) -> Option<SchemaRef> {
        let table = self.ctx.table(name).await.ok()?;
        Some(Arc::new(table.schema().as_arrow().clone()))
    }

    /// Registers an empty table `name` with the columns of the registered table `like`.
    pub async fn register_empty_like(&self, name: &str, like: &str) -> Result<(), EngineError> {
        let schema: SchemaRef = Arc::new(self.ctx.table(like).await?.schema().as_arrow().clone());
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![]])?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }

    /// Runs a statement and returns its rows as JSON objects (small results), within the engine's memory
    /// limit (`collect_bounded`).
    pub async fn query_json(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
    ) -> Result<Vec<Map<String, Json>>, EngineError> {
        let df = self.dataframe(sql, params).await?;
        let (batches, _held) = self.collect_bounded(df, "the result").await?;
        batches_to_json(&batches)
    }

    /// Runs a statement and returns how many rows it gives and the first `keep` of them as JSON objects,
    /// holding no more than those in memory (a check's offending rows: a count and examples).
    pub async fn query_count(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
        keep: usize,
    ) -> Result<(u64, Vec<Map<String, Json>>), EngineError> {
        let mut stream = self.dataframe(sql, params).await?.execute_stream().await?;
        let (mut rows, mut first) = (0u64, Vec::new());
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let wanted = keep.saturating_sub(first.len()).min(batch.num_rows());
            if wanted > 0 {
                first.extend(batches_to_json(&[batch.slice(0, wanted)])?);
            }
            rows += batch.num_rows() as u64;
        }
        Ok((rows, first))
    }

    /// Runs a statement and counts its rows, keeping nothing (for timing the engine alone: `bench`).
    pub async fn query_rows(
        &self,
        sql: &str,
        params: &[(String, ScalarValue)],
    ) -> Result<u64, EngineError> {
        let mut stream = self.dataframe(sql, params).await?.execute_stream().await?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            rows += batch?.num_rows() as u64;
        }
        Ok(rows)
    }

    /// Every row of a registered table as JSON objects (a report's table), within the engine's memory
    /// limit (`collect_bounded`).
    pub async fn table_json(&self, name: &str) -> Result<Vec<Map<String, Json>>, EngineError> {
        let df = self.ctx.table(name).await?;
        let (batches, _held) = self.collect_bounded(df, &format!("table `{name}`")).await?;
        batches_to_json(&batches)
    }

    /// Runs a plan and keeps its result, counting every batch against the engine's memory pool (and
    /// holding that reservation while the caller converts the batches): a result read into memory is
    /// bounded by the same limit as the engine's sorts and joins, and one too big fails naming what was
    /// read instead of exhausting the machine's memory.
    async fn collect_bounded(
        &self,
        df: DataFrame,
        what: &str,
    ) -> Result<(Vec<RecordBatch>, MemoryReservation), EngineError> {
        let pool = self.ctx.runtime_env().memory_pool.clone();
        let held = MemoryConsumer::new(format!("boardpack: reading {what}")).register(&pool);
        let mut stream = df.execute_stream().await?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            held.try_grow(batch.get_array_memory_size()).map_err(|e| {
                EngineError::DataFusion(datafusion::error::DataFusionError::Context(
                    format!(
                        "reading {what} into memory: it does not fit the engine's memory limit \
                         (engine.memory_limit, BOARDPACK_MEMORY_LIMIT)"
                    ),
                    Box::new(e),
                ))
            })?;
            batches.push(batch);
        }
        Ok((batches, held))
    }
}

/// Checks, without data, that `expr` parses as a boolean SQL expression over the input's columns (a row
/// rule of its contract).
/// Where an object lies under its input's prefix, and so whether the engine reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectPlace {
    /// A marker (`_SUCCESS`, `.crc`, a hidden or `_temporary` folder): not data, never read.
    Marker,
    /// An object of an unpartitioned input (read whatever its depth: the listing is recursive).
    Unpartitioned,
    /// An object directly in a month partition: `…/month=2022-04/part-0.parquet`.
    Month(Month),
    /// Anything else: refused, with why, rather than skipped.
    Refused(String),
}

/// Classifies an object of an input by its path (relative to the store, under the input's location).
pub fn object_month(input: &Input, path: &str) -> ObjectPlace {
    let rel = path
        .strip_prefix(input.location.as_str())
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(path);
    let parts: Vec<&str> = rel.split('/').collect();
    if parts
        .iter()
        .any(|p| p.starts_with('_') || p.starts_with('.'))
    {
        return ObjectPlace::Marker;
    }
    if !rel.ends_with(".parquet") {
        return ObjectPlace::Refused(
            "not a Parquet file: an input's prefix may hold only `.parquet` objects (and markers whose \
             names start with `_` or `.`)"
                .into(),
        );
    }
    if !input.partitioned_by_month {
        return ObjectPlace::Unpartitioned;
    }
    let partition = |dir: &str| -> Option<Month> {
        let value = dir.strip_prefix(&format!("{MONTH_COLUMN}="))?;
        value
            .parse::<Month>()
            .ok()
            .filter(|m| m.to_string() == value)
    };
    match parts.as_slice() {
        [_file] => ObjectPlace::Refused(
            "a Parquet object at the input's root: a `partitioned_by: month` input keeps its objects in \
             `month=YYYY-MM/` folders, so this one would never be read"
                .into(),
        ),
        [dir, _file] => match partition(dir) {
            Some(m) => ObjectPlace::Month(m),
            None if dir.starts_with(&format!("{MONTH_COLUMN}=")) => ObjectPlace::Refused(format!(
                "`{dir}` is not a month partition: write `{MONTH_COLUMN}=YYYY-MM`, e.g. `{MONTH_COLUMN}=2022-04`"
            )),
            None => ObjectPlace::Refused(format!(
                "`{dir}/` is not a month partition (`{MONTH_COLUMN}=YYYY-MM/`), so this object would never be read"
            )),
        },
        [dir, ..] => ObjectPlace::Refused(format!(
            "nested below its partition `{dir}/`: objects must lie directly in `{MONTH_COLUMN}=YYYY-MM/`, \
             or the engine would list them without reading them"
        )),
        [] => ObjectPlace::Marker,
    }
}

pub fn check_row_expr(input: &Input, expr: &str) -> Result<(), String> {
    rules::row_expr(&SessionContext::new(), input, expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads the named columns of a CSV or Parquet file (by its extension), as JSON rows in file order. For
/// analysts' commands (`boardpack spc`) that work on a file rather than a pipeline.
pub async fn read_file_columns(
    path: &std::path::Path,
    columns: &[&str],
) -> Result<Vec<Map<String, Json>>, EngineError> {
    let ctx = SessionContext::new();
    let name = path.to_string_lossy().to_string();
    let df = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("parquet") => {
            ctx.read_parquet(name.as_str(), ParquetReadOptions::default())
                .await?
        }
        Some("csv") => {
            ctx.read_csv(name.as_str(), datafusion::prelude::CsvReadOptions::new())
                .await?
        }
        _ => {
            return Err(EngineError::UnsupportedFile { path: name });
        }
    };
    // A column asked for twice (`--date x --facet x`) is read once.
    let mut wanted: Vec<&str> = Vec::new();
    for c in columns {
        if !wanted.contains(c) {
            wanted.push(c);
        }
    }
    // Named here rather than by DataFusion's planner error, so that a caller can say which flag was wrong.
    let available: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if let Some(missing) = wanted.iter().find(|c| !available.iter().any(|a| a == *c)) {
        return Err(EngineError::UnknownColumn {
            path: name,
            column: missing.to_string(),
            available: available.join(", "),
        });
    }
    let df = df.select(
        wanted
            .iter()
            .map(|c| col(format!("\"{c}\"")))
            .collect::<Vec<_>>(),
    )?;
    batches_to_json(&df.collect().await?)
}

fn is_sorted(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Sort(_) => true,
        // `SELECT … ORDER BY … LIMIT n` and projections over a sort keep its order.
        LogicalPlan::Limit(l) => is_sorted(&l.input),
        LogicalPlan::Projection(p) => is_sorted(&p.input),
        _ => false,
    }
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // A fixed writer name: the same result is the same bytes whatever the build date.
        .set_created_by(format!("boardpack {}", env!("CARGO_PKG_VERSION")))
        .build()
}

fn batches_to_json(batches: &[RecordBatch]) -> Result<Vec<Map<String, Json>>, EngineError> {
    // Arrow's JSON writer leaves out null values; templates expect every column, so put them back.
    let names: Vec<String> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let mut rows: Vec<Map<String, Json>> = Vec::new();
    // One batch at a time: the JSON text of a whole table would be its largest copy in memory.
    for batch in batches {
        let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
        writer
            .write(batch)
            .map_err(datafusion::error::DataFusionError::from)?;
        writer
            .finish()
            .map_err(datafusion::error::DataFusionError::from)?;
        let bytes = writer.into_inner();
        if bytes.is_empty() {
            continue;
        }
        let parsed: Vec<Map<String, Json>> = serde_json::from_slice(&bytes)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        rows.extend(parsed.into_iter().map(|mut row| {
            for n in &names {
                row.entry(n.clone()).or_insert(Json::Null);
            }
            row
        }));
    }
    Ok(rows)
}

/// The Arrow schema a contract describes (the partition column is added by the listing, not here).
pub fn contract_schema(input: &Input) -> SchemaRef {
    contract_schema_with(input, false)
}

/// The contract's schema; with `all_nullable`, every column may be null whatever the contract says.
fn contract_schema_with(input: &Input, all_nullable: bool) -> SchemaRef {
    let fields: Vec<Field> = input
        .columns
        .iter()
        .map(|c| {
            let dt = match c.kind {
                ColumnType::String => DataType::Utf8,
                ColumnType::Integer => DataType::Int64,
                ColumnType::Float => DataType::Float64,
                ColumnType::Boolean => DataType::Boolean,
                ColumnType::Date => DataType::Date32,
                ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            };
            Field::new(&c.name, dt, c.nullable || all_nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Whether a file's column type can be read as the contract's type (widening is fine, narrowing is not).
fn compatible(kind: ColumnType, dt: &DataType) -> bool {
    use DataType::*;
    match kind {
        ColumnType::String => matches!(dt, Utf8 | LargeUtf8 | Utf8View | Dictionary(_, _)),
        ColumnType::Integer => matches!(dt, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32),
        ColumnType::Float => matches!(
            dt,
            Float16 | Float32 | Float64 | Int8 | Int16 | Int32 | Int64 | Decimal128(_, _)
        ),
        ColumnType::Boolean => matches!(dt, Boolean),
        ColumnType::Date => matches!(dt, Date32 | Date64),
        ColumnType::Timestamp => matches!(dt, Timestamp(_, _)),
    }
}

/// The tables a single SQL statement reads (CTE names excluded), lower-cased as DataFusion resolves them.
pub fn table_references(sql: &str) -> Result<Vec<String>, String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| e.strip_backtrace())?;
    if statements.len() != 1 {
        return Err(format!(
            "expected exactly one statement, found {}",
            statements.len()
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    let state = SessionContext::new().state();
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| e.strip_backtrace())?;
    let mut names: Vec<String> = refs.iter().map(|r| r.table().to_string()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The line and column a SQL parser message points at ("… at Line: 3, Column: 12").
pub fn sql_error_location(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// A seed's table from its file's bytes: a YAML list of records or a CSV file with a header, column types
/// inferred. A YAML seed is judged first by `crate::seed::yaml_problems`, so that a bad value is named at
/// its line and column rather than by the type inference's bare refusal.
pub fn seed_batch(name: &str, file: &str, bytes: &[u8]) -> Result<RecordBatch, EngineError> {
    let err = |message: String| EngineError::Contract {
        input: name.to_string(),
        object: file.to_string(),
        message,
    };
    if crate::seed::is_yaml(file) {
        let problems = crate::seed::yaml_problems(name, file, bytes);
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
            return Err(err(text.join("; ")));
        }
    }
    let batch = if file.ends_with(".csv") {
        let format = datafusion::arrow::csv::reader::Format::default().with_header(true);
        let (schema, _) = format
            .infer_schema(std::io::Cursor::new(bytes), None)
            .map_err(|e| err(e.to_string()))?;
        let reader = datafusion::arrow::csv::ReaderBuilder::new(Arc::new(schema.clone()))
            .with_format(format)
            .build(std::io::Cursor::new(bytes))
            .map_err(|e| err(e.to_string()))?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        datafusion::arrow::compute::concat_batches(&Arc::new(schema), &batches)
            .map_err(|e| err(e.to_string()))?
    } else {
        let rows: Vec<Map<String, Json>> = serde_yaml::from_slice(bytes)
            .map_err(|e| err(format!("expected a YAML list of records: {e}")))?;
        if rows.is_empty() {
            return Err(err("the seed has no rows".into()));
        }
        let values: Vec<Json> = rows.into_iter().map(Json::Object).collect();
        let schema = datafusion::arrow::json::reader::infer_json_schema_from_iterator(
            values.iter().map(|v| Ok(v.clone())),
        )
        .map_err(|e| err(e.to_string()))?;
        let mut decoder = datafusion::arrow::json::ReaderBuilder::new(Arc::new(schema))
            .build_decoder()
            .map_err(|e| err(e.to_string()))?;
        decoder.serialize(&values).map_err(|e| err(e.to_string()))?;
        decoder
            .flush()
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("the seed has no rows".into()))?
    };
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tables_but_not_ctes() {
        let t = table_references("WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON x.k = b.k")
            .unwrap();
        assert_eq!(t, vec!["a", "b"]);
        assert!(table_references("SELECT 1; SELECT 2").is_err());
        let e = table_references("SELECT *\nFROM a\nWHERE x = = 1").unwrap_err();
        assert_eq!(sql_error_location(&e).map(|(line, _)| line), Some(3), "{e}");
    }
}
