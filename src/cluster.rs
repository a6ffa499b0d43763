//! Distributed execution on an Apache DataFusion Ballista cluster (cargo feature `distributed`): the
//! session through which a run sends its queries to a Ballista scheduler, and the scheduler and executor
//! that `boardpack cluster` starts with boardpack's SQL functions and store.
//!
//! Owns everything that speaks Ballista. The engine registers tables and runs SQL as it does locally; only
//! its session differs: each query is planned in this process, sent to the scheduler as a logical plan,
//! split into stages and run by the executors, and its rows stream back here, where the engine writes them
//! exactly as a local run does — so outputs, hashes and the run record do not depend on where SQL ran.
//! In-memory tables (seeds, the run's file list) travel inside the plan; Parquet inputs and step results
//! are read by the executors from the store, which every process opens from its own configuration and
//! environment: credentials never travel in a plan or a session setting, and are never logged.
//! It does not decide what runs when (`execute`) nor where outputs go (`engine`, `record`).

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::JobId;
use ballista_core::extension::{
    SessionConfigExt, SessionStateExt, ballista_aggregate_functions, ballista_scalar_functions,
    ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use ballista_core::serde::protobuf::GetJobStatusParams;
use ballista_core::serde::protobuf::ShuffleWritePartition;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::store::Store;

/// How long a run waits for the scheduler to answer before it gives up, having run nothing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The DataFusion settings Ballista changes for its own reasons that would change what a query returns:
/// whether strings are read as views (the column types written to Parquet), and the join algorithm (the
/// order in which rows reach an aggregate, and so the last digits of a floating-point sum). The cluster
/// keeps the local engine's values, so that a run's outputs are byte for byte those of a local run.
/// (Ballista's other changes — no dynamic filters or physical scalar subqueries across stages — are
/// needed for plans to run at all there, and do not change results.)
const LOCAL_SETTINGS: [&str; 5] = [
    "datafusion.execution.parquet.schema_force_view_types",
    "datafusion.sql_parser.map_string_types_to_utf8view",
    "datafusion.optimizer.prefer_hash_join",
    "datafusion.optimizer.hash_join_single_partition_threshold",
    "datafusion.optimizer.hash_join_single_partition_threshold_rows",
];

/// A session like `local` (its settings, memory pool, object stores and SQL functions) whose queries run
/// on the Ballista cluster of the scheduler at `host:port`. Fails, having sent nothing, when the
/// scheduler does not answer.
pub async fn connect(
    local: &SessionContext,
    host: &str,
    port: u16,
) -> Result<SessionContext, String> {
    let scheduler = format!("http://{host}:{port}");
    probe(&scheduler)
        .await
        .map_err(|e| format!("the Ballista scheduler at {host}:{port} does not answer: {e}"))?;
    let state = local.state();
    let local_settings = state.config().options().entries();
    let mut config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_job_name("boardpack");
    for key in LOCAL_SETTINGS {
        let value = local_settings
            .iter()
            .find(|e| e.key == key)
            .and_then(|e| e.value.clone());
        if let Some(value) = value {
            config
                .options_mut()
                .set(key, &value)
                .map_err(|e| format!("setting {key}: {e}"))?;
        }
    }
    // Ballista's adaptive planner (its default in 55) loses or repeats rows of some plans: the board pack's
    // `inequality_split`, four aggregates over one UNION ALL of sources, came back with one arm's
    // totals a third of the others'. The static planner returns what a local run returns.
    config
        .options_mut()
        .set("ballista.planner.adaptive.enabled", "false")
        .map_err(|e| format!("setting ballista.planner.adaptive.enabled: {e}"))?;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
        .upgrade_for_ballista(scheduler)
        .map_err(|e| e.to_string())?;
    let ctx = SessionContext::new_with_state(state);
    // The upgrade replaced the session's functions with Ballista's list: boardpack's go back in.
    for f in crate::stats::sql_functions() {
        ctx.register_udf(f);
    }
    for f in crate::spc_sql::window_functions() {
        ctx.register_udwf(f);
    }
    Ok(ctx)
}

/// Checks that a Ballista scheduler answers at `url`: a connection, then a question about a job no
/// scheduler has (any answer in its protocol will do).
async fn probe(url: &str) -> Result<(), String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| crate::diagnostic::error_chain(&e))?
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| crate::diagnostic::error_chain(&e))?;
    let asked = SchedulerGrpcClient::new(channel)
        .get_job_status(GetJobStatusParams {
            job_id: "boardpack-probe".into(),
        })
        .await;
    match asked {
        Ok(_) => Ok(()),
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::Unimplemented
                    | tonic::Code::DeadlineExceeded
            ) =>
        {
            Err(format!("{:?}: {}", status.code(), status.message()))
        }
        // Another error is still the scheduler answering (it knows no such job).
        Err(_) => Ok(()),
    }
}

/// The logical plan codec of boardpack's cluster: Ballista's, plus in-memory tables (seeds, the run's file
/// list, an empty `previous_` table) carried inside the plan as Arrow IPC, and boardpack's SQL functions
/// found by name. Client, scheduler and executors must all use it.
#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

/// Marks an in-memory table in a plan (other tables are Ballista's own encoding).
const MEMORY_TABLE: &[u8] = b"boardpack.memory-table.1\n";

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEMORY_TABLE) {
            Some(ipc) => Ok(Arc::new(decode_memory_table(ipc, schema)?)),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        match node.downcast_ref::<MemTable>() {
            Some(table) => encode_memory_table(table, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match crate::stats::sql_functions()
            .into_iter()
            .find(|f| f.name() == name)
        {
            Some(f) => Ok(Arc::new(f)),
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        match crate::spc_sql::window_functions()
            .into_iter()
            .find(|f| f.name() == name)
        {
            Some(f) => Ok(Arc::new(f)),
            None => self.inner.try_decode_udwf(name, buf),
        }
    }
}

/// An in-memory table as its partitions, each an Arrow IPC stream preceded by its length.
fn encode_memory_table(table: &MemTable, buf: &mut Vec<u8>) -> DfResult<()> {
    buf.extend_from_slice(MEMORY_TABLE);
    for partition in &table.batches {
        // Tables are filled when registered and never written after, so the lock is free.
        let batches = partition.try_read().map_err(|_| {
            DataFusionError::Internal("an in-memory table is being written to".into())
        })?;
        let mut ipc = Vec::new();
        let mut writer = StreamWriter::try_new(&mut ipc, &table.schema())?;
        for b in batches.iter() {
            writer.write(b)?;
        }
        writer.finish()?;
        drop(writer);
        buf.extend_from_slice(&(ipc.len() as u64).to_le_bytes());
        buf.extend_from_slice(&ipc);
    }
    Ok(())
}

fn decode_memory_table(mut bytes: &[u8], schema: SchemaRef) -> DfResult<MemTable> {
    let bad = || DataFusionError::Internal("a malformed in-memory table in a plan".into());
    let mut partitions: Vec<Vec<RecordBatch>> = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad())?;
        if rest.len() < len {
            return Err(bad());
        }
        let (ipc, rest) = rest.split_at(len);
        let reader = StreamReader::try_new(Cursor::new(ipc), None)?;
        partitions.push(reader.collect::<Result<Vec<_>, _>>()?);
        bytes = rest;
    }
    if partitions.is_empty() {
        partitions.push(Vec::new());
    }
    MemTable::try_new(schema, partitions)
}

/// Boardpack's SQL functions with Ballista's defaults, for the sessions of a scheduler or executor.
fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut all = ballista_scalar_functions();
    all.extend(crate::stats::sql_functions().into_iter().map(Arc::new));
    all
}

/// Boardpack's SQL window functions (`spc`) with Ballista's defaults.
fn window_functions() -> Vec<Arc<WindowUDF>> {
    let mut all = ballista_window_functions();
    all.extend(crate::spc_sql::window_functions().into_iter().map(Arc::new));
    all
}

/// A runtime that reaches `store` (a local folder is reachable without it).
fn runtime(store: Option<&Store>, work_dir: Option<&str>) -> DfResult<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new();
    if let Some(dir) = work_dir {
        builder = builder.with_temp_file_path(dir);
    }
    let runtime = builder.build()?;
    if let Some(store) = store {
        runtime.register_object_store(&store.authority_url(), store.object_store());
    }
    Ok(Arc::new(runtime))
}

/// How a scheduler is run.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The host name executors and clients reach the scheduler by.
    pub external_host: String,
    /// Seconds without word from an executor after which it is taken as lost and its tasks run again
    /// elsewhere.
    pub executor_timeout_seconds: u64,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            external_host: "localhost".into(),
            executor_timeout_seconds: 30,
        }
    }
}

/// Runs a Ballista scheduler on `listener` until the process ends. It plans queries with boardpack's SQL
/// functions and codec, and lists objects on `store` (which its executors read too).
pub async fn run_scheduler(
    listener: tokio::net::TcpListener,
    options: SchedulerOptions,
    store: Option<Store>,
) -> Result<(), String> {
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let runtime = runtime(store.as_ref(), None).map_err(|e| e.to_string())?;
    let session = move |config: SessionConfig| -> DfResult<SessionState> {
        Ok(SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime.clone())
            .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
            .with_scalar_functions(functions())
            .with_aggregate_functions(ballista_aggregate_functions())
            .with_window_functions(window_functions())
            .build())
    };
    let mut config = SchedulerConfig::default()
        .with_hostname(options.external_host.clone())
        .with_port(port)
        .with_override_session_builder(Arc::new(session));
    config.override_logical_codec = Some(Arc::new(Codec::default()));
    config.executor_timeout_seconds = options.executor_timeout_seconds;
    // With every executor lost, queries wait as long for one to (re)join, then fail.
    config.no_executors_grace_period_seconds = options.executor_timeout_seconds;
    // Checked often, so that a lost executor is noticed within a few seconds of its timeout.
    config.expire_dead_executor_interval_seconds =
        (options.executor_timeout_seconds / 4).clamp(1, 15);
    config.validate().map_err(|e| e.to_string())?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(|e| e.to_string())?;
    tracing::info!(port, "Ballista scheduler listening");
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| e.to_string())
}

/// How an executor is run.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// The address to listen on.
    pub bind_host: String,
    /// The host name the scheduler, other executors and clients reach this executor by.
    pub external_host: Option<String>,
    /// The Arrow Flight port, from which results and shuffle data are fetched.
    pub flight_port: u16,
    /// The executor's gRPC port.
    pub grpc_port: u16,
    /// Tasks run at once; the number of cores when 0.
    pub slots: usize,
    /// Where shuffle files go; a temporary folder when absent.
    pub work_dir: Option<String>,
    /// The executor's memory pool in bytes, shared by its slots: sorts, joins and aggregations spill to
    /// `work_dir` beyond it. The same setting as a local run's (`engine.memory_limit`).
    pub memory_limit: u64,
}

/// Runs a Ballista executor until the process ends or the scheduler stops it. It runs tasks with
/// boardpack's SQL functions and codec, and reads and lists objects on `store`.
pub async fn run_executor(options: ExecutorOptions, store: Option<Store>) -> Result<(), String> {
    let mut registry = BallistaFunctionRegistry::default();
    // Ballista's executors know DataFusion's core functions only; boardpack's SQL may use the nested
    // (array) functions and its own.
    for f in datafusion::functions_nested::all_default_nested_functions()
        .into_iter()
        .chain(functions())
    {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in window_functions() {
        registry.window_functions.insert(f.name().to_string(), f);
    }
    let work_dir = options.work_dir.clone();
    let runtime_producer = move |_: &SessionConfig| runtime(store.as_ref(), work_dir.as_deref());
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host,
        external_host: options.external_host,
        port: options.flight_port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        // An executor started with its scheduler (a container, a test) waits for it to listen.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots,
        work_dir: options.work_dir,
        // Ballista's own default is 70% of the host's memory; an executor keeps to the configured limit,
        // as a local run does.
        memory_pool_size: Some(options.memory_limit),
        print_thread_info: false,
        // Often enough for a scheduler's executor timeout of a few tens of seconds (Ballista's default, a
        // minute, needs a timeout of minutes before a lost executor's tasks run elsewhere).
        executor_heartbeat_interval_seconds: 3,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(Arc::new(runtime_producer)),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_execution_engine: Some(Arc::new(NoOperatorMetrics)),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| e.to_string())
}

/// Ballista's stage execution, reporting no operator metrics to the scheduler.
///
/// Why: the scheduler (Ballista 55) gives each task of a stage its own copy of the plan, with the arms of
/// a `UNION ALL` the task does not read cut away, so tasks of one stage report metrics for different
/// numbers of operators; the scheduler then rejects the task's status update ("task metrics array size
/// 53 does not equal with the stage metrics array size 55"), never records the task as done, and the
/// query waits for ever. The board pack's SQL unions many sources. An empty metrics list is what the
/// scheduler accepts from any task; the metrics are only shown in its UI.
struct NoOperatorMetrics;

impl ExecutionEngine for NoOperatorMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> DfResult<Arc<dyn QueryStageExecutor>> {
        let inner = DefaultExecutionEngine::new().create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StageWithoutMetrics(inner)))
    }
}

#[derive(Debug)]
struct StageWithoutMetrics(Arc<dyn QueryStageExecutor>);

impl std::fmt::Display for StageWithoutMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl QueryStageExecutor for StageWithoutMetrics {
    // The trait is declared with `async_trait`; this is its expansion (no extra dependency).
    fn execute_query_stage<'a, 'b>(
        &'a self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = DfResult<Vec<ShuffleWritePartition>>> + Send + 'b>,
    >
    where
        'a: 'b,
        Self: 'b,
    {
        self.0.execute_query_stage(task_id, context)
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(
        &self,
    ) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> DfResult<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<ballista_core::serde::protobuf::TaskColumnStats> {
        self.0.collect_column_stats()
    }
}

/// Carries out `boardpack cluster …`: a scheduler or an executor that reaches the world's store.
pub async fn serve(
    world: &crate::world::World,
    args: crate::cli::ClusterArgs,
) -> Result<(), String> {
    use crate::cli::ClusterArgs;
    // A local folder is reachable by every process on the machine without registering it; another store
    // is opened here from this process's configuration and environment, as a run opens it.
    let store = Some(world.store.clone());
    match args {
        ClusterArgs::Scheduler {
            bind,
            external_host,
            executor_timeout,
        } => {
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .map_err(|e| format!("listening on {bind}: {e}"))?;
            run_scheduler(
                listener,
                SchedulerOptions {
                    external_host,
                    executor_timeout_seconds: executor_timeout,
                },
                store,
            )
            .await
        }
        ClusterArgs::Executor {
            scheduler,
            bind,
            external_host,
            flight_port,
            grpc_port,
            slots,
            work_dir,
        } => {
            let (host, port) = match scheduler.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| format!("--scheduler {scheduler}: write HOST:PORT"))?,
                ),
                None => (scheduler.clone(), crate::config::BALLISTA_DEFAULT_PORT),
            };
            run_executor(
                ExecutorOptions {
                    scheduler_host: host,
                    scheduler_port: port,
                    bind_host: bind,
                    external_host,
                    flight_port,
                    grpc_port,
                    slots,
                    work_dir: work_dir.map(|d| d.display().to_string()),
                    memory_limit: world.config.memory_limit_bytes() as u64,
                },
                store,
            )
            .await
        }
    }
}
