//! The `herald` binary: parse the command line, start logging, run.

use std::process::ExitCode;

use clap::Parser;
use herald::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    init_logging(log_format(cli.config.as_deref()));
    match herald::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            // The whole chain: "publishing feeds: opening the database: …".
            eprintln!("herald: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `HERALD_LOG_FORMAT`, else `server.log_format`; text when neither is
/// readable (a broken configuration is reported by `run`, in text).
fn log_format(config: Option<&std::path::Path>) -> LogFormat {
    if let Ok(raw) = std::env::var("HERALD_LOG_FORMAT") {
        match LogFormat::parse(&raw) {
            Ok(format) => return format,
            // Logging is not started yet: say it plainly and go on in text.
            Err(message) => eprintln!("herald: HERALD_LOG_FORMAT: {message}; logging as text"),
        }
    }
    Settings::load(config).map(|settings| settings.server.log_format).unwrap_or_default()
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // One object per line, with the span fields, for log collectors.
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
        // Colours for a terminal only, never in a log file or a journal.
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}
