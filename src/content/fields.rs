//! The article fields, checked once for both ways they arrive: TOML front
//! matter (files, [`super::front_matter`]) and JSON (the publishing API,
//! [`super::document`]).
//!
//! Each syntax turns its document into [`Input`]: the fields as neutral
//! [`Value`]s with the line each was written on (files) or none (JSON), and
//! the Markdown body. [`article`] checks every field the same way for both
//! and returns every problem found, each naming its field; only the wording
//! of a hint ("add `id = …` to the front matter" or "add \"id\": … to the
//! document") depends on the syntax. Nothing here reads files or the clock.

use chrono::{DateTime, Utc};
use url::Url;

use super::markdown;
use crate::article::{Article, ArticleId, Image, Kind, Language, Slug, State, Tag};
use crate::config::Channel;

/// The article fields, in the order the README documents them.
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

/// The fields of `image`.
pub const IMAGE_FIELDS: &[&str] = &["url", "alt", "type", "length", "width", "height"];

/// Where a document came from: it decides the wording of hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// TOML front matter in a Markdown file.
    Toml,
    /// A JSON object sent to the API.
    Json,
}

/// One field's value, whatever the syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A TOML date-time, as written.
    Datetime(String),
    /// An array.
    Array(Vec<Value>),
    /// A table (TOML) or object (JSON), in the order written.
    Table(Vec<(String, Value)>),
    /// Anything else, by its type name (`boolean`, `float`, `number`, `null`).
    Other(&'static str),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
            Value::Other(name) => name,
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Table(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A document reduced to its fields, ready for [`article`].
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// Whether it came from a file or the API.
    pub syntax: Syntax,
    /// Every top-level key with its value and its line (`None` in JSON),
    /// in the order written; unknown keys included, so they are reported.
    pub fields: Vec<(String, Value, Option<usize>)>,
    /// The Markdown body (empty for none).
    pub body: &'a str,
    /// The line the body starts on (files).
    pub body_line: Option<usize>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field at fault (`body` for the Markdown).
    pub field: String,
    /// The line, when the syntax has lines and the field was written.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Checks every field of `input` and builds the article. `channel` supplies
/// the base URL (default canonical URL, relative links) and the default
/// language.
///
/// On failure every problem found is returned, not only the first.
pub fn article(input: &Input<'_>, channel: &Channel) -> Result<Article, Vec<Problem>> {
    let mut fields = Fields { input, problems: Vec::new() };
    for (key, _, line) in &input.fields {
        if !FIELDS.contains(&key.as_str()) {
            fields.problem(key, *line, format!("unknown key; expected one of: {}", FIELDS.join(", ")));
        }
    }

    let id = fields.required("id", |v| ArticleId::parse(str_of(v)?));
    let slug = fields.required("slug", |v| Slug::parse(str_of(v)?));
    let kind = fields.optional("kind", |v| Kind::parse(str_of(v)?)).unwrap_or(Kind::Full);
    let title = fields.required("title", |v| non_empty(str_of(v)?));
    let summary = fields.required("summary", |v| non_empty(str_of(v)?));
    let authors = fields
        .optional("authors", |v| strings_of(v)?.into_iter().map(non_empty).collect::<Result<Vec<_>, _>>())
        .unwrap_or_default();
    let language =
        fields.optional("language", |v| Language::parse(str_of(v)?)).unwrap_or_else(|| channel.language.clone());
    let tags = fields.optional("tags", tags_of).unwrap_or_default();
    let published = fields.required("published", datetime_of);
    let updated = fields.optional("updated", datetime_of);
    let state = fields.optional("state", |v| State::parse(str_of(v)?)).unwrap_or(State::Published);
    let explicit_url = fields.optional("url", |v| absolute_url(str_of(v)?, &channel.base_url));
    let url = explicit_url.or_else(|| slug.as_ref().map(|s| channel.article_url(s)));
    // Relative links resolve against the article's URL; when that is
    // broken too, against the site's, so their own problems still show.
    let base = url.as_ref().unwrap_or(&channel.base_url);
    let license = fields.optional("license", |v| absolute_url(str_of(v)?, base));
    let image = fields.image(base);

    if let (Some(published), Some(updated)) = (published, updated) {
        if updated < published {
            let line = fields.line("updated");
            fields.problem(
                "updated",
                line,
                format!(
                    "{} is before published ({}); updated is the last change, so it is at or after published",
                    updated.to_rfc3339(),
                    published.to_rfc3339()
                ),
            );
        }
    }
    fields.body(kind);

    let problems = fields.problems;
    match (id, slug, title, summary, published, url) {
        (Some(id), Some(slug), Some(title), Some(summary), Some(published), Some(url)) if problems.is_empty() => {
            let body_html = (kind == Kind::Full).then(|| markdown::to_html(input.body, &url));
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
        _ => Err(problems),
    }
}

struct Fields<'i, 'a> {
    input: &'i Input<'a>,
    problems: Vec<Problem>,
}

impl Fields<'_, '_> {
    fn problem(&mut self, field: &str, line: Option<usize>, message: String) {
        self.problems.push(Problem { field: field.to_owned(), line, message });
    }

    fn entry(&self, key: &str) -> Option<(&Value, Option<usize>)> {
        self.input.fields.iter().find(|(k, _, _)| k == key).map(|(_, value, line)| (value, *line))
    }

    fn line(&self, key: &str) -> Option<usize> {
        self.entry(key).and_then(|(_, line)| line)
    }

    fn optional<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        let (value, line) = self.entry(key)?;
        match parse(value) {
            Ok(value) => Some(value),
            Err(message) => {
                self.problem(key, line, message);
                None
            }
        }
    }

    fn required<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        if self.entry(key).is_none() {
            let hint = match self.input.syntax {
                Syntax::Toml => format!("missing; add `{key} = …` to the front matter"),
                Syntax::Json => format!("missing; add \"{key}\": … to the document"),
            };
            self.problem(key, None, hint);
            return None;
        }
        self.optional(key, parse)
    }

    fn image(&mut self, base: &Url) -> Option<Image> {
        let (value, line) = self.entry("image")?;
        let Value::Table(entries) = value else {
            let hint = match self.input.syntax {
                Syntax::Toml => "expected a table: image = { url = \"…\", alt = \"…\", type = \"image/jpeg\" }",
                Syntax::Json => {
                    "expected an object: \"image\": {\"url\": \"…\", \"alt\": \"…\", \"type\": \"image/jpeg\"}"
                }
            };
            self.problem("image", line, hint.to_owned());
            return None;
        };
        let mut problems = Vec::new();
        for (key, _) in entries {
            if !IMAGE_FIELDS.contains(&key.as_str()) {
                problems.push(format!("unknown key `{key}`; expected one of: {}", IMAGE_FIELDS.join(", ")));
            }
        }
        let text = |key: &str, problems: &mut Vec<String>| match value.get(key).map(str_of) {
            Some(Ok(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Some(Ok(_)) | None => {
                problems.push(format!("`{key}` is required"));
                None
            }
            Some(Err(e)) => {
                problems.push(format!("`{key}`: {e}"));
                None
            }
        };
        let number = |key: &str, problems: &mut Vec<String>| match value.get(key) {
            None => None,
            Some(Value::Integer(n)) if *n > 0 => Some(*n),
            Some(_) => {
                problems.push(format!("`{key}` must be a positive integer"));
                None
            }
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
            self.problem("image", line, message);
        }
        Some(Image { url: url?, alt: alt?, media_type: media_type?, length, width, height })
    }

    /// The body: characters feeds can carry, present for a full article
    /// and absent for a teaser.
    fn body(&mut self, kind: Kind) {
        let (body, body_line) = (self.input.body, self.input.body_line);
        for (index, line) in body.lines().enumerate() {
            if let Some(c) = line.chars().find(|&c| !is_xml_char(c)) {
                self.problem(
                    "body",
                    body_line.map(|first| first + index),
                    format!(
                        "contains the control character U+{:04X}, which XML feeds cannot carry; remove it",
                        u32::from(c)
                    ),
                );
            }
        }
        let has_body = !body.trim().is_empty();
        let message = match (kind, has_body, self.input.syntax) {
            (Kind::Full, false, Syntax::Toml) => {
                "a full article needs a Markdown body after the closing +++; use kind = \"teaser\" for a summary-only item"
            }
            (Kind::Full, false, Syntax::Json) => {
                "a full article needs a Markdown \"body\"; use \"kind\": \"teaser\" for a summary-only item"
            }
            (Kind::Teaser, true, Syntax::Toml) => {
                "a teaser has no body; remove the text after the closing +++ or use kind = \"full\""
            }
            (Kind::Teaser, true, Syntax::Json) => {
                "a teaser has no body; remove \"body\" (or make it null) or use \"kind\": \"full\""
            }
            _ => return,
        };
        self.problem("body", body_line, message.to_owned());
    }
}

fn str_of(value: &Value) -> Result<&str, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("expected a string, found {}", other.type_name())),
    }
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

fn strings_of(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of strings, e.g. [\"a\", \"b\"], found {}", value.type_name()));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("expected strings only, found {}", other.type_name())),
        })
        .collect()
}

fn tags_of(value: &Value) -> Result<Vec<Tag>, String> {
    let mut tags: Vec<Tag> = Vec::new();
    for raw in strings_of(value)? {
        let tag = Tag::parse(&raw)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

fn datetime_of(value: &Value) -> Result<DateTime<Utc>, String> {
    let raw = match value {
        Value::String(s) | Value::Datetime(s) => s,
        other => {
            return Err(format!(
                "expected an RFC 3339 date, e.g. \"2024-07-29T08:00:00Z\", found {}",
                other.type_name()
            ))
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
