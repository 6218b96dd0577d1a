//! One article file: TOML front matter between `+++` lines, then Markdown.
//!
//! Every problem is reported with the line of the field at fault, and all of
//! them are reported, not only the first.

use std::ops::Range;
use std::path::Path;

use chrono::{DateTime, Utc};
use toml_edit::{ImDocument, Item, Table, Value};
use url::Url;

use super::markdown;
use crate::article::{Article, ArticleId, Image, Kind, Language, Slug, State, Tag};
use crate::config::Channel;
use crate::error::ContentError;
use crate::media::{MediaInfo, MediaPath};

/// The front-matter keys, in the order the README documents them.
pub const FIELDS: &[&str] = &[
    "id",
    "slug",
    "kind",
    "title",
    "summary",
    "authors",
    "language",
    "tags",
    "image",
    "published",
    "updated",
    "license",
    "url",
    "state",
];

const IMAGE_FIELDS: &[&str] = &["url", "alt", "type", "length", "width", "height"];

/// Finds a media file named by the front matter (`image.url = "img/a.jpg"`):
/// what its bytes are, or a message saying why it cannot be used.
pub type MediaLookup<'a> = dyn Fn(&MediaPath) -> Result<MediaInfo, String> + Send + Sync + 'a;

/// Parses one article file. `path` is only used in messages; `channel`
/// supplies the base URL (default canonical URL, relative links) and the
/// default language.
///
/// An image given as a media path is an error here, since no media file is
/// known: [`parse_article_with`] takes a look-up for them.
///
/// On failure every problem found is returned, each with its line.
pub fn parse_article(path: &Path, text: &str, channel: &Channel) -> Result<Article, Vec<ContentError>> {
    let no_media = |media: &MediaPath| {
        Err(format!("{:?} names a media file, but none is known here: give an http(s) URL", media.as_str()))
    };
    parse_article_with(path, text, channel, &no_media)
}

/// [`parse_article`], resolving an image given as a media path
/// (`image.url = "img/carte.jpg"` or `"/media/img/carte.jpg"`) with
/// `media`: its URL becomes the file's `/media/…` URL, and its `type`,
/// `length`, `width` and `height` come from the file when the front matter
/// omits them (and must agree with it when it does not). A file `media`
/// cannot find is an error on the line of `image.url`. Relative links and
/// images of the body that name a media file get its `/media/…` URL too.
pub fn parse_article_with(
    path: &Path,
    text: &str,
    channel: &Channel,
    media: &MediaLookup<'_>,
) -> Result<Article, Vec<ContentError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body, body_line) = split(path, text).map_err(|e| vec![e])?;
    let doc = ImDocument::parse(front).map_err(|e| {
        let line = 1 + e.span().map_or(1, |span| line_of(front, span.start));
        vec![ContentError::Syntax {
            path: path.to_owned(),
            line,
            message: format!("front matter is not valid TOML: {}", e.message()),
        }]
    })?;
    let mut fields = Fields { path, front, table: doc.as_table(), errors: Vec::new() };

    for (key, _) in fields.table.iter() {
        if !FIELDS.contains(&key) {
            let line = fields.key_line(fields.table, key);
            fields.error(line, key, format!("unknown key; expected one of: {}", FIELDS.join(", ")));
        }
    }

    let id = fields.required("id", |item| ArticleId::parse(str_of(item)?));
    let slug = fields.required("slug", |item| Slug::parse(str_of(item)?));
    let kind = fields.optional("kind", |item| Kind::parse(str_of(item)?)).unwrap_or(Kind::Full);
    let title = fields.required("title", |item| non_empty(str_of(item)?));
    let summary = fields.required("summary", |item| non_empty(str_of(item)?));
    let authors = fields
        .optional("authors", |item| strings_of(item)?.into_iter().map(non_empty).collect::<Result<Vec<_>, _>>())
        .unwrap_or_default();
    let language =
        fields.optional("language", |item| Language::parse(str_of(item)?)).unwrap_or_else(|| channel.language.clone());
    let tags = fields
        .optional("tags", |item| {
            let mut tags: Vec<Tag> = Vec::new();
            for raw in strings_of(item)? {
                let tag = Tag::parse(&raw)?;
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            Ok(tags)
        })
        .unwrap_or_default();
    let published = fields.required("published", datetime_of);
    let updated = fields.optional("updated", datetime_of);
    let state = fields.optional("state", |item| State::parse(str_of(item)?)).unwrap_or(State::Published);
    let explicit_url = fields.optional("url", |item| absolute_url(str_of(item)?, &channel.base_url));
    let url = explicit_url.or_else(|| slug.as_ref().map(|s| channel.article_url(s)));
    let license = url.as_ref().and_then(|base| fields.optional("license", |item| absolute_url(str_of(item)?, base)));
    let image = url.as_ref().and_then(|base| fields.image(base, &channel.base_url, media));

    if let (Some(published), Some(updated)) = (published, updated) {
        if updated < published {
            let line = fields.key_line(fields.table, "updated");
            fields.error(
                line,
                "updated",
                format!(
                    "{} is before published ({}); updated is the last change, so it is at or after published",
                    updated.to_rfc3339(),
                    published.to_rfc3339()
                ),
            );
        }
    }

    for (index, line) in body.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| !is_xml_char(c)) {
            fields.error(
                body_line + index,
                "body",
                format!(
                    "contains the control character U+{:04X}, which XML feeds cannot carry; remove it",
                    u32::from(c)
                ),
            );
        }
    }
    let has_body = !body.trim().is_empty();
    match (kind, has_body) {
        (Kind::Full, false) => fields.error(
            body_line,
            "body",
            "a full article needs a Markdown body after the closing +++; use kind = \"teaser\" for a summary-only item"
                .to_owned(),
        ),
        (Kind::Teaser, true) => fields.error(
            body_line,
            "body",
            "a teaser has no body; remove the text after the closing +++ or use kind = \"full\"".to_owned(),
        ),
        _ => {}
    }

    let Fields { errors, .. } = fields;
    match (id, slug, title, summary, published, url) {
        (Some(id), Some(slug), Some(title), Some(summary), Some(published), Some(url)) if errors.is_empty() => {
            // A relative link or image of the body that names a media file
            // points at it under /media/, as `image.url` does.
            let media_url = |raw: &str| {
                let path = MediaPath::referenced_by(raw)?.ok()?;
                media(&path).ok().map(|info| path.url(&channel.base_url, &info.sha256))
            };
            let body_html = (kind == Kind::Full).then(|| markdown::to_html_with(body, &url, &media_url));
            Ok(Article {
                id,
                slug,
                kind,
                title,
                summary,
                body_html,
                url,
                authors,
                language,
                tags,
                image,
                license,
                published,
                updated: updated.unwrap_or(published),
                state,
            })
        }
        _ => Err(errors),
    }
}

/// The `id` and `slug` strings of a file, as written, checking nothing else:
/// enough to recognise a file that holds an article (even a broken one)
/// without the channel a full parse needs. `None` where the file has no
/// front matter or the key is missing or not a string.
pub fn peek_id_and_slug(text: &str) -> (Option<String>, Option<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok((front, _, _)) = split(Path::new(""), text) else { return (None, None) };
    let Ok(doc) = ImDocument::parse(front) else { return (None, None) };
    let key = |name: &str| doc.get(name).and_then(Item::as_str).map(str::to_owned);
    (key("id"), key("slug"))
}

/// Splits a file into front matter, body and the 1-based line the body starts on.
fn split<'a>(path: &Path, text: &'a str) -> Result<(&'a str, &'a str, usize), ContentError> {
    let syntax =
        |line, message: &str| ContentError::Syntax { path: path.to_owned(), line, message: message.to_owned() };
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if first.trim_end() == "+++" => {}
        _ => return Err(syntax(1, "the file must start with a `+++` line, then TOML front matter, then `+++`")),
    }
    let front_start = text.find('\n').map_or(text.len(), |i| i + 1);
    let mut offset = front_start;
    for (index, line) in lines.enumerate() {
        if line.trim_end() == "+++" {
            let front = &text[front_start..offset];
            let body = &text[offset + line.len()..];
            return Ok((front, body, index + 3));
        }
        offset += line.len();
    }
    Err(syntax(1, "the front matter opened here is never closed: add a `+++` line after it"))
}

fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count()
}

struct Fields<'a> {
    path: &'a Path,
    front: &'a str,
    table: &'a Table,
    errors: Vec<ContentError>,
}

impl Fields<'_> {
    fn error(&mut self, line: usize, field: &str, message: String) {
        self.errors.push(ContentError::Field { path: self.path.to_owned(), line, field: field.to_owned(), message });
    }

    /// The file line of `key` in `table` (line 1, the opening `+++`, when unknown).
    fn key_line(&self, table: &Table, key: &str) -> usize {
        let span: Option<Range<usize>> = table.key(key).and_then(|k| k.span());
        span.map_or(1, |span| 1 + line_of(self.front, span.start))
    }

    fn optional<T>(&mut self, key: &str, parse: impl FnOnce(&Item) -> Result<T, String>) -> Option<T> {
        let item = self.table.get(key)?;
        match parse(item) {
            Ok(value) => Some(value),
            Err(message) => {
                let line = self.key_line(self.table, key);
                self.error(line, key, message);
                None
            }
        }
    }

    fn required<T>(&mut self, key: &str, parse: impl FnOnce(&Item) -> Result<T, String>) -> Option<T> {
        if self.table.get(key).is_none() {
            self.error(1, key, format!("missing; add `{key} = …` to the front matter"));
            return None;
        }
        self.optional(key, parse)
    }

    /// The `image` table. `base` resolves relative URLs; an image given as
    /// a media path is looked up with `media` and served from `site`.
    fn image(&mut self, base: &Url, site: &Url, media: &MediaLookup<'_>) -> Option<Image> {
        let item = self.table.get("image")?;
        let line = self.key_line(self.table, "image");
        let Some(table) = item.as_table_like() else {
            self.error(
                line,
                "image",
                "expected a table: image = { url = \"…\", alt = \"…\", type = \"image/jpeg\" }".to_owned(),
            );
            return None;
        };
        let mut problems = Vec::new();
        for (key, _) in table.iter() {
            if !IMAGE_FIELDS.contains(&key) {
                problems.push(format!("unknown key `{key}`; expected one of: {}", IMAGE_FIELDS.join(", ")));
            }
        }
        let text = |key: &str, problems: &mut Vec<String>| match table.get(key).map(str_of) {
            Some(Ok(value)) if !value.trim().is_empty() => Some(value.trim().to_owned()),
            Some(Ok(_)) | None => {
                problems.push(format!("`{key}` is required"));
                None
            }
            Some(Err(e)) => {
                problems.push(format!("`{key}`: {e}"));
                None
            }
        };
        let number = |key: &str, problems: &mut Vec<String>| match table.get(key) {
            None => None,
            Some(item) => match item.as_integer().filter(|n| *n > 0) {
                Some(n) => Some(n),
                None => {
                    problems.push(format!("`{key}` must be a positive integer"));
                    None
                }
            },
        };
        // A media file's problems point at the `url` line itself (its own
        // line in an `[image]` table).
        let url_line = table
            .get_key_value("url")
            .and_then(|(key, _)| key.span())
            .map_or(line, |span| 1 + line_of(self.front, span.start));
        let mut url_problems = Vec::new();
        let raw_url = text("url", &mut problems);
        let names_media = raw_url.as_deref().is_some_and(|raw| MediaPath::referenced_by(raw).is_some());
        let url = raw_url.and_then(|raw| match image_url(&raw, base, media) {
            Ok(url) => Some(url),
            Err(UrlProblem::Url(message)) => {
                problems.push(message);
                None
            }
            Err(UrlProblem::File(message)) => {
                url_problems.push(message);
                None
            }
        });
        let alt = text("alt", &mut problems);
        // A media file's type is known; an image elsewhere must say it.
        let media_type =
            (!names_media || table.contains_key("type")).then(|| text("type", &mut problems)).flatten().and_then(|t| {
                if t.starts_with("image/") && t.len() > 6 && !t.contains(char::is_whitespace) {
                    Some(t)
                } else {
                    problems.push(format!("`type` {t:?} is not an image media type, e.g. \"image/jpeg\""));
                    None
                }
            });
        let length = number("length", &mut problems).and_then(|n| u64::try_from(n).ok());
        let width = number("width", &mut problems).and_then(|n| u32::try_from(n).ok());
        let height = number("height", &mut problems).and_then(|n| u32::try_from(n).ok());
        let described = Described { media_type, length, width, height };
        let Described { media_type, length, width, height } = match url {
            Some(ImageUrl::File(ref path, ref info)) => described.filled_from(path, info, &mut problems),
            _ => described,
        };
        for message in problems {
            self.error(line, "image", message);
        }
        for message in url_problems {
            self.error(url_line, "image.url", message);
        }
        let url = match url? {
            ImageUrl::Url(url) => url,
            ImageUrl::File(path, info) => path.url(site, &info.sha256),
        };
        Some(Image { url, alt: alt?, media_type: media_type?, length, width, height })
    }
}

/// Where an image's `url` leads.
enum ImageUrl {
    /// A URL as written (resolved against the article's URL).
    Url(Url),
    /// A media file of the content directory.
    File(MediaPath, MediaInfo),
}

/// What is wrong with an image's `url`.
enum UrlProblem {
    /// Not a URL.
    Url(String),
    /// A media path that is invalid, or no image herald has.
    File(String),
}

/// Resolves an image's `url`: a relative path or a `/media/…` path names a
/// media file (looked up with `media`), anything else is a URL.
fn image_url(raw: &str, base: &Url, media: &MediaLookup<'_>) -> Result<ImageUrl, UrlProblem> {
    match MediaPath::referenced_by(raw) {
        None => absolute_url(raw, base).map(ImageUrl::Url).map_err(|e| UrlProblem::Url(format!("`url`: {e}"))),
        Some(Err(e)) => Err(UrlProblem::File(e)),
        Some(Ok(path)) => match media(&path) {
            Ok(info) if info.is_image() => Ok(ImageUrl::File(path, info)),
            Ok(info) => Err(UrlProblem::File(format!("{:?} is {}, not an image", path.as_str(), info.content_type))),
            Err(message) => Err(UrlProblem::File(message)),
        },
    }
}

/// The description of an image the front matter gives.
struct Described {
    media_type: Option<String>,
    length: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
}

impl Described {
    /// Fills what the front matter left out from the file; a value it gives
    /// that the file contradicts is a problem (a stale `length` would
    /// mislead every feed reader that downloads the enclosure).
    fn filled_from(self, path: &MediaPath, info: &MediaInfo, problems: &mut Vec<String>) -> Self {
        let pairs = [
            ("type", self.media_type.clone(), Some(info.content_type.clone())),
            ("length", self.length.map(|n| n.to_string()), Some(info.size.to_string())),
            ("width", self.width.map(|n| n.to_string()), info.width.map(|n| n.to_string())),
            ("height", self.height.map(|n| n.to_string()), info.height.map(|n| n.to_string())),
        ];
        for (key, given, actual) in pairs {
            if let (Some(given), Some(actual)) = (given, actual) {
                if given != actual {
                    problems.push(format!(
                        "`{key}` is {given} but the file {path} has {actual}; remove `{key}`: herald reads it from the file"
                    ));
                }
            }
        }
        Self {
            media_type: Some(info.content_type.clone()),
            length: Some(info.size),
            width: info.width,
            height: info.height,
        }
    }
}

fn str_of(item: &Item) -> Result<&str, String> {
    item.as_str().ok_or_else(|| format!("expected a string, found {}", item.type_name()))
}

fn non_empty(raw: impl AsRef<str>) -> Result<String, String> {
    let trimmed = raw.as_ref().trim();
    if trimmed.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(c) = trimmed.chars().find(|&c| !is_xml_char(c)) {
        return Err(format!(
            "contains the control character U+{:04X}, which XML feeds cannot carry; remove it",
            u32::from(c)
        ));
    }
    Ok(trimmed.to_owned())
}

/// XML 1.0 §2.2: the characters a feed can carry.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn strings_of(item: &Item) -> Result<Vec<String>, String> {
    let array = item
        .as_array()
        .ok_or_else(|| format!("expected an array of strings, e.g. [\"a\", \"b\"], found {}", item.type_name()))?;
    array
        .iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("expected strings only, found {}", value.type_name()))
        })
        .collect()
}

fn datetime_of(item: &Item) -> Result<DateTime<Utc>, String> {
    let raw = match item.as_value() {
        Some(Value::String(s)) => s.value().clone(),
        Some(Value::Datetime(d)) => d.value().to_string(),
        _ => {
            return Err(format!("expected an RFC 3339 date, e.g. \"2024-07-29T08:00:00Z\", found {}", item.type_name()))
        }
    };
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|dt| dt.with_timezone(&Utc))
        .map_err(|_| format!("{raw:?} is not RFC 3339 with a UTC offset, e.g. \"2024-07-29T08:00:00Z\""))
}

fn absolute_url(raw: &str, base: &Url) -> Result<Url, String> {
    let url = base.join(raw.trim()).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if matches!(url.scheme(), "http" | "https") {
        Ok(url)
    } else {
        Err(format!("{raw:?} is not an http(s) URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn channel() -> Channel {
        let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
        Settings::load_with_env(None, env).unwrap().channel
    }

    const GOOD: &str = r#"+++
id = "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8"
slug = "mali"
title = "Titre"
summary = "Résumé"
tags = ["Mali", "sahel", "mali"]
published = "2024-08-05T08:00:00+02:00"
image = { url = "/img/a.jpg", alt = "Une carte", type = "image/jpeg", length = 1200 }
+++

Premier [lien](../autre).
"#;

    #[test]
    fn a_good_file_becomes_an_article() {
        let article = parse_article(Path::new("a.md"), GOOD, &channel()).unwrap();
        assert_eq!(article.url.as_str(), "https://news.example.org/articles/mali");
        assert_eq!(article.published.to_rfc3339(), "2024-08-05T06:00:00+00:00");
        assert_eq!(article.updated, article.published);
        assert_eq!(article.tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["mali", "sahel"]);
        assert_eq!(article.language.as_str(), "fr");
        assert_eq!(article.image.as_ref().unwrap().url.as_str(), "https://news.example.org/img/a.jpg");
        let body = article.body_html.unwrap();
        assert!(body.contains(r#"href="https://news.example.org/autre""#), "{body}");
    }

    #[test]
    fn a_bad_date_and_an_unknown_key_are_both_reported_with_their_lines() {
        let text =
            GOOD.replace("2024-08-05T08:00:00+02:00", "27/07/2024").replace("tags =", "colour = \"red\"\ntags =");
        let errors = parse_article(Path::new("feeds/a.md"), &text, &channel()).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("feeds/a.md:6: colour: unknown key"), "{messages:#?}");
        assert!(messages[1].starts_with("feeds/a.md:8: published: \"27/07/2024\" is not RFC 3339"), "{messages:#?}");
    }

    #[test]
    fn missing_fields_point_at_the_opening_line() {
        let errors = parse_article(Path::new("a.md"), "+++\nslug = \"x\"\n+++\nbody\n", &channel()).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for field in ["id", "title", "summary", "published"] {
            assert!(messages.iter().any(|m| m.starts_with(&format!("a.md:1: {field}: missing"))), "{messages:#?}");
        }
    }

    #[test]
    fn toml_syntax_errors_carry_the_file_line() {
        let errors = parse_article(Path::new("a.md"), "+++\nid = \"x\"\ntitle = \n+++\n", &channel()).unwrap_err();
        assert!(errors[0].to_string().starts_with("a.md:3: front matter is not valid TOML"), "{}", errors[0]);
    }

    #[test]
    fn the_id_and_slug_of_a_file_can_be_read_without_a_full_parse() {
        let broken = GOOD.replace("title = \"Titre\"", "title = 3");
        assert_eq!(
            peek_id_and_slug(&broken),
            (Some("urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8".to_owned()), Some("mali".to_owned()))
        );
        assert_eq!(peek_id_and_slug("no front matter"), (None, None));
        assert_eq!(peek_id_and_slug("+++\nid = 1\n+++\n"), (None, None));
    }

    #[test]
    fn an_unclosed_front_matter_is_an_error() {
        let errors = parse_article(Path::new("a.md"), "+++\nid = \"x\"\n", &channel()).unwrap_err();
        assert!(errors[0].to_string().contains("never closed"));
    }

    #[test]
    fn teasers_have_no_body_and_full_articles_need_one() {
        let teaser = GOOD.replace("slug =", "kind = \"teaser\"\nslug =");
        let errors = parse_article(Path::new("a.md"), &teaser, &channel()).unwrap_err();
        assert!(errors[0].to_string().starts_with("a.md:11: body: a teaser has no body"), "{}", errors[0]);
        let empty = GOOD.replace("Premier [lien](../autre).", "");
        let errors = parse_article(Path::new("a.md"), &empty, &channel()).unwrap_err();
        assert!(errors[0].to_string().contains("body: a full article needs"), "{}", errors[0]);
    }

    #[test]
    fn control_characters_are_refused_with_their_line() {
        let text = GOOD.replace("title = \"Titre\"", "title = \"Ti\\u0001tre\"").replace("Premier", "Pre\u{7}mier");
        let errors = parse_article(Path::new("a.md"), &text, &channel()).unwrap_err();
        let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("a.md:4: title: contains the control character U+0001"), "{all}");
        assert!(all.contains("a.md:11: body: contains the control character U+0007"), "{all}");
    }

    fn carte(path: &MediaPath) -> Result<MediaInfo, String> {
        match path.as_str() {
            "img/carte.png" => Ok(MediaInfo {
                content_type: "image/png".into(),
                size: 6443,
                sha256: "3f1c0a9b8d7e6f5a4b3c2d1e0f".into(),
                width: Some(64),
                height: Some(40),
            }),
            "doc/rapport.pdf" => Ok(MediaInfo {
                content_type: "application/pdf".into(),
                size: 10,
                sha256: "00".into(),
                width: None,
                height: None,
            }),
            other => Err(format!("{other:?} is not in the content directory")),
        }
    }

    #[test]
    fn an_image_given_as_a_media_path_is_filled_from_the_file() {
        for url in ["img/carte.png", "/media/img/carte.png"] {
            let text = GOOD.replace(
                r#"image = { url = "/img/a.jpg", alt = "Une carte", type = "image/jpeg", length = 1200 }"#,
                &format!("[image]\nurl = \"{url}\"\nalt = \"Une carte\""),
            );
            let article = parse_article_with(Path::new("a.md"), &text, &channel(), &carte).unwrap();
            let image = article.image.unwrap();
            assert_eq!(image.url.as_str(), "https://news.example.org/media/img/carte.png?v=3f1c0a9b8d7e");
            assert_eq!(image.media_type, "image/png");
            assert_eq!((image.length, image.width, image.height), (Some(6443), Some(64), Some(40)));
        }
    }

    #[test]
    fn a_missing_media_file_is_reported_on_the_line_of_image_url() {
        let text = GOOD.replace(
            r#"image = { url = "/img/a.jpg", alt = "Une carte", type = "image/jpeg", length = 1200 }"#,
            "[image]\nalt = \"Une carte\"\nurl = \"img/absente.png\"",
        );
        let errors = parse_article_with(Path::new("a.md"), &text, &channel(), &carte).unwrap_err();
        let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert_eq!(errors.len(), 1, "{all}");
        assert!(all.starts_with("a.md:10: image.url: \"img/absente.png\" is not in the content directory"), "{all}");
        // Without a look-up, a media path cannot be resolved at all.
        let errors = parse_article(Path::new("a.md"), &text, &channel()).unwrap_err();
        assert!(errors[0].to_string().starts_with("a.md:10: image.url:"), "{}", errors[0]);
    }

    #[test]
    fn values_that_contradict_the_media_file_and_non_images_are_refused() {
        let text = GOOD.replace(r#"url = "/img/a.jpg""#, r#"url = "img/carte.png""#);
        let errors = parse_article_with(Path::new("a.md"), &text, &channel(), &carte).unwrap_err();
        let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("a.md:8: image: `type` is image/jpeg but the file img/carte.png has image/png"), "{all}");
        assert!(all.contains("a.md:8: image: `length` is 1200 but the file img/carte.png has 6443"), "{all}");
        let text = GOOD.replace(r#"url = "/img/a.jpg""#, r#"url = "doc/rapport.pdf""#);
        let errors = parse_article_with(Path::new("a.md"), &text, &channel(), &carte).unwrap_err();
        assert!(errors[0].to_string().contains("image.url: \"doc/rapport.pdf\" is application/pdf, not an image"));
    }

    #[test]
    fn image_problems_are_listed() {
        let text = GOOD.replace("type = \"image/jpeg\"", "type = \"jpeg\", colour = 1");
        let errors = parse_article(Path::new("a.md"), &text, &channel()).unwrap_err();
        let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("a.md:8: image: unknown key `colour`"), "{all}");
        assert!(all.contains("a.md:8: image: `type` \"jpeg\" is not an image media type"), "{all}");
    }
}
