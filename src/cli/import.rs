//! `herald import FILE|URL`: one article file per entry of a feed, and of
//! every page of its RFC 5005 archive, written into the content directory.
//!
//! The mapping is [`crate::import`]'s; this module reads the pages (files,
//! or URLs through the guarded federation client), recognises what was
//! imported before, and writes new files atomically, never over another.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use url::Url;

use crate::article::ArticleId;
use crate::config::{Channel, Settings};
use crate::content;
use crate::federation::client::DocumentClient;
use crate::import::{self, Page};

/// Pages read at most, following `prev-archive` / `next_url`.
pub const MAX_PAGES: usize = 10_000;

/// What `herald import` asks servers for.
const ACCEPT: &str = "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, \
                      application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1";

/// Imports `source` (a file path or an http(s) URL) into `dir`. Fails only
/// when the first page cannot be read; every other problem is reported.
pub async fn run(settings: &Settings, source: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let start = location(source)?;
    let client = DocumentClient::new(settings.delivery.allow_private_addresses).context("building the HTTP client")?;
    let mut report = Report { dir: dir.to_owned(), ..Report::default() };
    let mut chain = Chain::new(start, MAX_PAGES);
    // The first page is read before the directory is touched, so a wrong
    // URL or file leaves nothing behind.
    let first = chain.next_page(&client, &mut report).await?.with_context(|| format!("{source}: nothing to read"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let existing = Existing::scan(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut target = Target { channel: &settings.channel, dir, existing, seen: HashMap::new() };

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("page {msg:>5} [{bar:40}] {pos}/{len} entries ({elapsed})")
            .context("the progress bar template")?
            .progress_chars("=> "),
    );
    // One page in memory at a time: an archive can be thousands of pages.
    let mut page = Some(first);
    while let Some(current) = page {
        let several = chain.read > 1 || current.next.is_some();
        bar.inc_length(current.entries.len() as u64);
        bar.set_message(chain.read.to_string());
        for (i, item) in current.entries.iter().enumerate() {
            let label = entry_label(several.then_some(chain.read), i, &item.entry.id);
            target.import(&current, item, &label, &mut report);
            bar.inc(1);
        }
        page = chain.next_page(&client, &mut report).await?;
    }
    bar.finish_and_clear();
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// A file path or an http(s) URL as a URL (`file:` for paths).
fn location(source: &str) -> anyhow::Result<Url> {
    if let Ok(url) = Url::parse(source) {
        if matches!(url.scheme(), "http" | "https") {
            return Ok(url);
        }
    }
    let path =
        std::fs::canonicalize(source).with_context(|| format!("{source}: no such file, and not an http(s) URL"))?;
    Url::from_file_path(&path).map_err(|()| anyhow::anyhow!("{}: not an absolute path", path.display()))
}

/// The pages of an archive chain, read one at a time from the newest:
/// `prev-archive` (JSON Feed: `next_url`) links, loops and more than
/// `max_pages` pages stopped, each page reported.
struct Chain {
    next: Option<Url>,
    max_pages: usize,
    visited: HashSet<Url>,
    /// Pages read so far.
    read: usize,
    /// Whether the chain started from a file (only then may it read files).
    local: bool,
}

impl Chain {
    fn new(start: Url, max_pages: usize) -> Self {
        Self { local: start.scheme() == "file", next: Some(start), max_pages, visited: HashSet::new(), read: 0 }
    }

    /// The next page, or `None` at the end of the chain. Only a failure to
    /// read the first page is an error; later ones end the chain, reported.
    async fn next_page(&mut self, client: &DocumentClient, report: &mut Report) -> anyhow::Result<Option<Page>> {
        let Some(url) = self.next.take() else { return Ok(None) };
        if self.read == self.max_pages {
            report.pages.push(format!("stopped after {} pages: {url} and older pages were not read", self.max_pages));
            return Ok(None);
        }
        if !self.visited.insert(url.clone()) {
            report.pages.push(format!("{url} was read before: the archive chain loops, stopped there"));
            return Ok(None);
        }
        let number = self.read + 1;
        match read_page(client, &url, self.local).await {
            Ok(page) => {
                report.pages.push(format!(
                    "page {number}: {}: {}, {} entries",
                    page.url,
                    page.format,
                    page.entries.len()
                ));
                self.read = number;
                self.visited.insert(page.url.clone());
                self.next = page.next.clone();
                Ok(Some(page))
            }
            Err(error) if number == 1 => Err(error).with_context(|| format!("reading {url}")),
            Err(error) => {
                report.pages.push(format!("page {number}: {url}: {error:#}; this page and older ones were not read"));
                Ok(None)
            }
        }
    }
}

async fn read_page(client: &DocumentClient, url: &Url, local: bool) -> anyhow::Result<Page> {
    let (body, url) = if url.scheme() == "file" {
        // A page read over HTTP must not make herald read local files.
        anyhow::ensure!(local, "a page read over HTTP cannot point at a local file");
        let path = url.to_file_path().map_err(|()| anyhow::anyhow!("not a file path"))?;
        let body = tokio::fs::read(&path).await.with_context(|| format!("cannot read {}", path.display()))?;
        (body, url.clone())
    } else {
        let document = client.get_document(url, ACCEPT).await?;
        (document.body.to_vec(), document.url)
    };
    Page::parse(&body, &url).map_err(anyhow::Error::msg)
}

/// `entry 3 ("guid")`, after `page 2 ` when the chain has several pages.
fn entry_label(page: Option<usize>, index: usize, guid: &str) -> String {
    let mut label = match page {
        Some(page) => format!("page {page} entry {}", index + 1),
        None => format!("entry {}", index + 1),
    };
    if !guid.trim().is_empty() {
        label.push_str(&format!(" ({:?})", guid.trim()));
    }
    label
}

/// Where entries go: the directory, what it holds, and the ids met so far.
struct Target<'a> {
    channel: &'a Channel,
    dir: &'a Path,
    existing: Existing,
    /// Ids met in this import, and the entry each was first met as.
    seen: HashMap<String, String>,
}

impl Target<'_> {
    /// Maps one entry and writes its file, unless it was imported before.
    fn import(&mut self, page: &Page, item: &import::PageEntry, label: &str, report: &mut Report) {
        let mut mapped = match import::map_entry(item, page) {
            Ok(mapped) => mapped,
            Err(why) => return report.skipped.push(format!("{label}: {why}")),
        };
        let id = mapped.front.id.as_str().to_owned();
        if let Some(first) = self.seen.get(&id) {
            return report.skipped.push(format!("{label}: the same id as {first}, which was kept"));
        }
        self.seen.insert(id.clone(), label.to_owned());
        if let Some(path) = self.existing.ids.get(&id) {
            return report.already.push(format!("{label}: already imported as {}", path.display()));
        }
        mapped.front.slug = import::unique_slug(&mapped.front.slug, &self.existing.slugs);
        let path = self.dir.join(format!("{}.md", mapped.front.slug));
        let text = mapped.to_file();
        if let Err(errors) = content::parse_article(&path, &text, self.channel) {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return report.skipped.push(format!("{label}: the file would not be valid: {}", errors.join("; ")));
        }
        if let Err(error) = write_new(self.dir, &path, &text) {
            return report.skipped.push(format!("{label}: cannot write {}: {error}", path.display()));
        }
        report.imported += 1;
        self.existing.slugs.insert(mapped.front.slug.to_string());
        self.existing.ids.insert(id, path);
        report.notes.extend(mapped.notes.iter().map(|note| format!("{label}: {note}")));
    }
}

/// Writes `text` to a hidden temporary file in `dir`, then links it to
/// `path` only if nothing is there: a reader never sees half a file, and
/// no file is ever overwritten.
fn write_new(dir: &Path, path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = tempfile::Builder::new().prefix(".import-").suffix(".tmp").tempfile_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

/// What the content directory already holds.
#[derive(Debug, Default)]
struct Existing {
    /// Article ids (normalised) and the file holding each.
    ids: HashMap<String, PathBuf>,
    /// Slugs in use, from front matter and from file names.
    slugs: HashSet<String>,
}

impl Existing {
    /// Reads the `id` and `slug` of every `*.md` file under `dir`, broken
    /// files included (their id is still taken).
    fn scan(dir: &Path) -> std::io::Result<Self> {
        let mut existing = Self::default();
        let mut files = Vec::new();
        content::collect_md_files(dir, &mut files)?;
        files.sort();
        for path in files {
            if let Some(stem) = path.file_stem() {
                existing.slugs.insert(stem.to_string_lossy().into_owned());
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let (id, slug) = content::peek_id_and_slug(&text);
            if let Some(slug) = slug {
                existing.slugs.insert(slug);
            }
            if let Some(raw) = id {
                let id = ArticleId::parse(&raw).map_or(raw, String::from);
                existing.ids.entry(id).or_insert(path);
            }
        }
        Ok(existing)
    }
}

/// What an import did, printed at the end.
#[derive(Debug, Default)]
struct Report {
    dir: PathBuf,
    pages: Vec<String>,
    imported: usize,
    already: Vec<String>,
    skipped: Vec<String>,
    notes: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.pages {
            writeln!(f, "{line}")?;
        }
        for (title, lines) in [("notes", &self.notes), ("already imported", &self.already), ("skipped", &self.skipped)]
        {
            if !lines.is_empty() {
                writeln!(f, "{title}:")?;
                for line in lines {
                    writeln!(f, "  {line}")?;
                }
            }
        }
        writeln!(
            f,
            "imported {} into {}, skipped {}, already imported {}",
            self.imported,
            self.dir.display(),
            self.skipped.len(),
            self.already.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_every_skip_with_its_reason_and_ends_with_the_counts() {
        let report = Report {
            dir: PathBuf::from("feeds"),
            pages: vec!["page 1: https://e.org/feed.atom: Atom, 2 entries".into()],
            imported: 1,
            already: vec![],
            skipped: vec!["entry 2: no date: neither published nor updated is given".into()],
            notes: vec![],
        };
        assert_eq!(
            report.to_string(),
            "page 1: https://e.org/feed.atom: Atom, 2 entries\nskipped:\n  entry 2: no date: neither published nor \
             updated is given\nimported 1 into feeds, skipped 1, already imported 0\n"
        );
        assert_eq!(entry_label(None, 1, " 12345 "), "entry 2 (\"12345\")");
        assert_eq!(entry_label(Some(3), 0, ""), "page 3 entry 1");
    }

    /// Writes `n` JSON Feed pages chained with `next_url`, the last back to the first.
    fn chained_pages(dir: &Path, n: usize) -> Url {
        for i in 1..=n {
            let next = if i == n { 1 } else { i + 1 };
            let page = format!(
                r#"{{"version":"https://jsonfeed.org/version/1.1","title":"t","next_url":"{next}.json","items":[]}}"#
            );
            std::fs::write(dir.join(format!("{i}.json")), page).unwrap();
        }
        Url::from_file_path(dir.join("1.json")).unwrap()
    }

    async fn walk(start: Url, max_pages: usize) -> (usize, Report) {
        let client = DocumentClient::new(false).unwrap();
        let mut report = Report::default();
        let mut chain = Chain::new(start, max_pages);
        let mut pages = 0;
        while chain.next_page(&client, &mut report).await.unwrap().is_some() {
            pages += 1;
        }
        (pages, report)
    }

    #[tokio::test]
    async fn a_chain_stops_at_a_loop_and_at_the_page_limit() {
        let dir = tempfile::tempdir().unwrap();
        let start = chained_pages(dir.path(), 3);
        let (pages, report) = walk(start.clone(), 10).await;
        assert_eq!(pages, 3);
        assert_eq!(report.pages[3], format!("{start} was read before: the archive chain loops, stopped there"));
        let (pages, report) = walk(start, 2).await;
        assert_eq!(pages, 2);
        assert!(report.pages[2].starts_with("stopped after 2 pages: file://"), "{:?}", report.pages);
    }

    #[tokio::test]
    async fn pages_read_over_http_cannot_lead_to_local_files() {
        let client = DocumentClient::new(false).unwrap();
        let file = Url::parse("file:///etc/hostname").unwrap();
        let error = read_page(&client, &file, false).await.unwrap_err();
        assert_eq!(error.to_string(), "a page read over HTTP cannot point at a local file");
    }

    #[test]
    fn files_are_written_once_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.md");
        write_new(dir.path(), &path, "one").unwrap();
        assert!(write_new(dir.path(), &path, "two").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
