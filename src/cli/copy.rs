//! `herald copy`: moves a whole database to another backend, with a
//! progress bar and a count per table compared on both sides.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::DatabaseSettings;
use crate::error::StoreError;
use crate::store::{redact, CopyProgress, CopyRefused, Store, TableCount};

/// Copies the database at `from` into the one at `to`.
pub async fn run(from: &DatabaseSettings, to: &str, replace: bool) -> anyhow::Result<ExitCode> {
    if from.url.trim_end_matches('/') == to.trim_end_matches('/') {
        return Err(anyhow::Error::new(StoreError::Copy(CopyRefused::SameDatabase)))
            .with_context(|| format!("--to names the database being copied ({})", redact(to)));
    }
    let source = Store::connect(from).await.with_context(|| format!("opening the source {}", redact(&from.url)))?;
    let target_settings = DatabaseSettings { url: to.to_owned(), ..from.clone() };
    let target =
        Store::connect(&target_settings).await.with_context(|| format!("opening the target {}", redact(to)))?;
    let bar = indicatif::ProgressBar::with_draw_target(Some(0), super::ops::draw_target());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} rows ({elapsed})")
            .context("the progress bar template")?
            .progress_chars("=> "),
    );
    let progress = |p: CopyProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(p.table);
    };
    let counts = source
        .copy_to(&target, replace, &progress)
        .await
        .with_context(|| format!("copying {} to {} (the target is unchanged)", redact(&from.url), redact(to)))?;
    bar.finish_and_clear();
    source.close().await;
    target.close().await;
    let (report, all_equal) = report(&counts);
    print!("{report}");
    if all_equal {
        println!("copied {} to {}: every table has the same rows on both sides", redact(&from.url), redact(to));
        Ok(ExitCode::SUCCESS)
    } else {
        println!("the counts differ: was the source written to during the copy? Stop every herald using it and copy again with --replace");
        Ok(ExitCode::FAILURE)
    }
}

/// The per-table comparison, and whether every table matches.
fn report(counts: &[TableCount]) -> (String, bool) {
    let mut out = format!("{:<22} {:>10} {:>10}\n", "table", "source", "target");
    let mut all_equal = true;
    for count in counts {
        let mark = if count.source == count.target { "" } else { "  DIFFERS" };
        all_equal &= count.source == count.target;
        let _ = writeln!(out, "{:<22} {:>10} {:>10}{mark}", count.table, count.source, count.target);
    }
    (out, all_equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_marks_tables_whose_counts_differ() {
        let counts = [
            TableCount { table: "articles", source: 3, target: 3 },
            TableCount { table: "followers", source: 2, target: 1 },
        ];
        let (text, equal) = report(&counts);
        assert!(!equal);
        assert!(text.contains("followers                       2          1  DIFFERS"), "{text}");
        assert!(report(&counts[..1]).1);
    }
}
