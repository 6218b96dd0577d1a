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

/// Parses one article file. `path` is only used in messages; `channel`
/// supplies the base URL (default canonical URL, relative links) and the
/// default language.
///
/// On failure every problem found is returned, each with its line.
pub fn parse_article(path: &Path, text: &str, channel: &Channel) -> Result<Article, Vec<ContentError>> {
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
    let image = url.as_ref().and_then(|base| fields.image(base));

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
            let body_html = (kind == Kind::Full).then(|| markdown::to_html(body, &url));
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

    fn image(&mut self, base: &Url) -> Option<Image> {
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
        let url = text("url", &mut problems).and_then(|raw| match absolute_url(&raw, base) {
            Ok(url) => Some(url),
            Err(e) => {
                problems.push(format!("`url`: {e}"));
                None
            }
        });
        let alt = text("alt", &mut problems);
        let media_type = text("type", &mut problems).and_then(|t| {
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
        for message in problems {
            self.error(line, "image", message);
        }
        Some(Image { url: url?, alt: alt?, media_type: media_type?, length, width, height })
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

    #[test]
    fn image_problems_are_listed() {
        let text = GOOD.replace("type = \"image/jpeg\"", "type = \"jpeg\", colour = 1");
        let errors = parse_article(Path::new("a.md"), &text, &channel()).unwrap_err();
        let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("a.md:8: image: unknown key `colour`"), "{all}");
        assert!(all.contains("a.md:8: image: `type` \"jpeg\" is not an image media type"), "{all}");
    }
}
