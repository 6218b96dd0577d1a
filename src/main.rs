//! The `herald` binary: parse the command line, start logging, run.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        // Colours for a terminal only, never in a log file or a journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match herald::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            // The whole chain: "publishing feeds: opening the database: …".
            eprintln!("herald: {error:#}");
            ExitCode::from(2)
        }
    }
}
