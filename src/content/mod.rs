//! Reads article files (and the API's JSON documents) into the article
//! model, reporting every problem as `path:line: field: message` (or, for
//! JSON, by field). This module never touches the database.

pub mod document;
pub mod fields;
pub mod front_matter;
pub mod markdown;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use front_matter::{parse_article, peek_id_and_slug};
pub use writer::FrontMatter;

use crate::article::Article;
use crate::config::Channel;
use crate::error::ContentError;

/// An article and the file it came from.
#[derive(Debug, Clone)]
pub struct SourcedArticle {
    /// The file, as found under the content directory.
    pub path: PathBuf,
    /// The parsed article.
    pub article: Article,
}

/// The result of reading a content directory: the good files and one error per problem.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Articles that parsed and do not clash with another file.
    pub articles: Vec<SourcedArticle>,
    /// Every `*.md` file seen, good or bad (so a broken file is not mistaken
    /// for a deleted one).
    pub files: Vec<PathBuf>,
    /// Every problem found.
    pub errors: Vec<ContentError>,
}

/// Reads every `*.md` file under `dir` (recursively, hidden entries skipped,
/// in path order). Good files are kept even when others are broken. Two files
/// with the same `id` or `slug` are both refused, since either could be the
/// one the newsroom meant.
pub fn load_dir(dir: &Path, channel: &Channel) -> Loaded {
    load_dir_with_progress(dir, channel, |_, _| {})
}

/// [`load_dir`], calling `progress(files read, files)` after each file,
/// for a progress bar.
pub fn load_dir_with_progress(dir: &Path, channel: &Channel, progress: impl Fn(usize, usize)) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    if let Err(source) = collect_md_files(dir, &mut files) {
        loaded.errors.push(ContentError::Read { path: dir.to_owned(), source });
        return loaded;
    }
    files.sort();
    for (n, path) in files.iter().enumerate() {
        progress(n, files.len());
        match std::fs::read_to_string(path) {
            Ok(text) => match parse_article(path, &text, channel) {
                Ok(article) => loaded.articles.push(SourcedArticle { path: path.clone(), article }),
                Err(errors) => loaded.errors.extend(errors),
            },
            Err(source) => loaded.errors.push(ContentError::Read { path: path.clone(), source }),
        }
    }
    progress(files.len(), files.len());
    loaded.files = files;
    reject_clashes(&mut loaded);
    loaded
}

/// Reads the key two files must not share.
type KeyOf = fn(&Article) -> &str;

fn reject_clashes(loaded: &mut Loaded) {
    let mut clashing = vec![false; loaded.articles.len()];
    let keys: [(&str, KeyOf); 2] = [("id", |a| a.id.as_str()), ("slug", |a| a.slug.as_str())];
    for (field, key_of) in keys {
        let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, sourced) in loaded.articles.iter().enumerate() {
            groups.entry(key_of(&sourced.article)).or_default().push(index);
        }
        let mut groups: Vec<_> = groups.into_iter().filter(|(_, members)| members.len() > 1).collect();
        groups.sort();
        for (key, members) in groups {
            for &this in &members {
                let others: Vec<String> = members
                    .iter()
                    .filter(|&&other| other != this)
                    .map(|&other| loaded.articles[other].path.display().to_string())
                    .collect();
                loaded.errors.push(ContentError::Field {
                    path: loaded.articles[this].path.clone(),
                    line: 1,
                    field: field.to_owned(),
                    message: format!(
                        "{key:?} is also used by {}; each article needs its own {field}",
                        others.join(", ")
                    ),
                });
                clashing[this] = true;
            }
        }
    }
    let mut flags = clashing.into_iter();
    loaded.articles.retain(|_| !flags.next().unwrap_or(false));
}

/// Every `*.md` file under `dir`, recursively, hidden entries skipped.
pub(crate) fn collect_md_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect_md_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "md") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn channel() -> Channel {
        Settings::load_with_env(None, Vec::new()).unwrap().channel
    }

    fn write(dir: &Path, name: &str, id: &str, slug: &str) {
        let text = format!(
            "+++\nid = \"{id}\"\nslug = \"{slug}\"\nkind = \"teaser\"\ntitle = \"T\"\nsummary = \"S\"\npublished = \"2024-01-01T00:00:00Z\"\n+++\n"
        );
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_sample_publication_loads_without_problems() {
        let loaded = load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds").as_path(), &channel());
        assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
        assert_eq!(loaded.articles.len(), 4);
        assert_eq!(loaded.articles.iter().filter(|a| a.article.body_html.is_some()).count(), 1);
    }

    #[test]
    fn files_sharing_an_id_or_slug_are_all_refused_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = "urn:uuid:00000000-0000-4000-8000-000000000001";
        let b = "urn:uuid:00000000-0000-4000-8000-000000000002";
        let c = "urn:uuid:00000000-0000-4000-8000-000000000003";
        write(dir.path(), "a.md", a, "one");
        write(dir.path(), "b.md", a, "two");
        write(dir.path(), "c.md", c, "one-more");
        write(dir.path(), "d.md", b, "one-more");
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let loaded = load_dir(dir.path(), &channel());
        assert_eq!(loaded.files.len(), 4);
        assert!(loaded.articles.is_empty(), "{:#?}", loaded.articles);
        assert_eq!(loaded.errors.len(), 4, "{:#?}", loaded.errors);
    }

    #[test]
    fn a_missing_directory_is_one_read_error() {
        let loaded = load_dir(Path::new("/nonexistent/herald"), &channel());
        assert!(matches!(loaded.errors.as_slice(), [ContentError::Read { .. }]));
    }
}
