//! The `boardpack` command: parse the command line, set up logging, dispatch, and turn the outcome into
//! an exit code with a one-line reason.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use boardpack::cli::{Cli, LogFormat, OutputFormat};
use boardpack::commands::{self, Output, Reported};
use boardpack::logging::redact_line;
use boardpack::world::World;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.quiet, cli.global.log_format);
    let command = match cli.command.validate(cli.global.output) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", redact_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    // Completions and the manual page speak of the command line only: no project, no store.
    if let boardpack::cli::Command::Documentation(text) = &command {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let out = Output {
        quiet: cli.global.quiet,
        plain_logs: cli.global.log_format == LogFormat::Json,
        json: cli.global.output == OutputFormat::Json,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let world = World::open_with(
            &cli.global.project,
            cli.global.config.as_deref(),
            cli.global.store.as_deref(),
            cli.global.target.as_deref(),
            &cli.global.set,
        )?;
        // The store's configured credentials are blanked from the log lines too.
        boardpack::logging::redact_store(&world.store);
        commands::dispatch(command, world, out).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Diagnostics were printed one per line already; the last line is the reason.
            let line = match e.downcast_ref::<Reported>() {
                Some(r) => r.0.clone(),
                None => format!("{e:#}"),
            };
            // The reason may quote a server's answer (an S3 error echoing the request's headers): it passes
            // through the same redaction as every log line.
            eprintln!("error: {}", redact_line(&line));
            ExitCode::from(if e.downcast_ref::<Reported>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

fn init_logging(quiet: bool, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // Ballista's client (feature `distributed`) logs each query it sends: a run shows its own progress.
    let default = if quiet {
        "warn"
    } else {
        "info,ballista_core=warn"
    };
    let filter =
        EnvFilter::try_from_env("BOARDPACK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Every line, the dependencies' too (the object store's retries), is redacted before it is written.
    // Colour only on a terminal: log files and CI output stay plain text.
    let subscriber = boardpack::logging::subscriber(
        filter,
        format == LogFormat::Json,
        std::io::stderr().is_terminal(),
        std::io::stderr,
    );
    use tracing_subscriber::util::SubscriberInitExt;
    subscriber.init();
}
