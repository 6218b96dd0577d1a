//! Reads article files (and the API's JSON documents) into the article
//! model, and the media files beside the articles, reporting every problem
//! as `path:line: field: message` (or, for JSON, by field). This module
//! never touches the database.

pub mod document;
pub mod fields;
pub mod front_matter;
pub mod markdown;
pub mod media;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use front_matter::{parse_article, parse_article_with, peek_id_and_slug};
pub use media::MediaFile;
pub use writer::FrontMatter;

use crate::article::Article;
use crate::config::Channel;
use crate::error::ContentError;
use crate::media::{MediaInfo, MediaPath};

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
    /// The media files beside the articles (those that can be published).
    pub media: Vec<MediaFile>,
    /// Every problem found.
    pub errors: Vec<ContentError>,
}

/// Reads every `*.md` file under `dir` (recursively, hidden entries skipped,
/// in path order), and every media file beside them ([`media`]), which an
/// article's `image.url` may name by its path. Good files are kept even when
/// others are broken. Two files with the same `id` or `slug` are both
/// refused, since either could be the one the newsroom meant.
pub fn load_dir(dir: &Path, channel: &Channel) -> Loaded {
    load_dir_with_progress(dir, channel, |_, _| {})
}

/// [`load_dir`], calling `progress(files read, files)` after each file,
/// for a progress bar.
pub fn load_dir_with_progress(dir: &Path, channel: &Channel, progress: impl Fn(usize, usize)) -> Loaded {
    let mut loaded = Loaded::default();
    let (mut files, mut others) = (Vec::new(), Vec::new());
    if let Err(source) = collect_files(dir, &mut files, &mut others) {
        loaded.errors.push(ContentError::Read { path: dir.to_owned(), source });
        return loaded;
    }
    files.sort();
    others.sort();
    loaded.media = media::load(dir, &others, &mut loaded.errors);
    let by_path: HashMap<&MediaPath, &MediaInfo> = loaded.media.iter().map(|m| (&m.path, &m.info)).collect();
    let lookup =
        |path: &MediaPath| by_path.get(path).map(|&info| info.clone()).ok_or_else(|| media::missing(dir, path));
    let mut articles = Vec::new();
    for (n, path) in files.iter().enumerate() {
        progress(n, files.len());
        match std::fs::read_to_string(path) {
            Ok(text) => match parse_article_with(path, &text, channel, &lookup) {
                Ok(article) => articles.push(SourcedArticle { path: path.clone(), article }),
                Err(errors) => loaded.errors.extend(errors),
            },
            Err(source) => loaded.errors.push(ContentError::Read { path: path.clone(), source }),
        }
    }
    progress(files.len(), files.len());
    loaded.articles = articles;
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
    collect_files(dir, out, &mut Vec::new())
}

/// Lists the `*.md` files under `dir` in `md`, every other file in `others`.
fn collect_files(dir: &Path, md: &mut Vec<PathBuf>, others: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect_files(&path, md, others)?;
        } else if path.extension().is_some_and(|ext| ext == "md") {
            md.push(path);
        } else {
            others.push(path);
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
    fn media_files_are_loaded_beside_the_articles_and_named_by_images() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("img")).unwrap();
        let png =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media/img/carte.png")).unwrap();
        std::fs::write(dir.path().join("img/carte.png"), &png).unwrap();
        std::fs::write(dir.path().join("img/broken.jpg"), "not a JPEG").unwrap();
        std::fs::write(dir.path().join("img/notes.txt"), "not media").unwrap();
        write(dir.path(), "a.md", "urn:uuid:00000000-0000-4000-8000-000000000001", "one");
        let text = std::fs::read_to_string(dir.path().join("a.md")).unwrap().replacen(
            "published",
            "image = { url = \"img/carte.png\", alt = \"Carte\" }\npublished",
            1,
        );
        std::fs::write(dir.path().join("a.md"), text).unwrap();

        let loaded = load_dir(dir.path(), &channel());

        let paths: Vec<&str> = loaded.media.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["img/carte.png"]);
        let messages: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0]
                .ends_with("img/broken.jpg: not a JPEG, PNG, GIF, WebP or AVIF image that herald can read the size of"),
            "{messages:#?}"
        );
        let image = loaded.articles[0].article.image.clone().unwrap();
        assert_eq!(
            (image.media_type.as_str(), image.length, image.width, image.height),
            ("image/png", Some(png.len() as u64), Some(64), Some(40))
        );
        assert!(image.url.path().ends_with("/media/img/carte.png"), "{}", image.url);
    }

    #[test]
    fn a_missing_directory_is_one_read_error() {
        let loaded = load_dir(Path::new("/nonexistent/herald"), &channel());
        assert!(matches!(loaded.errors.as_slice(), [ContentError::Read { .. }]));
    }
}
