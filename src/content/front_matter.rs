//! One article file: TOML front matter between `+++` lines, then Markdown.
//!
//! Every problem is reported with the line of the field at fault, and all of
//! them are reported, not only the first.

use std::path::Path;

use toml_edit::{ImDocument, Item, Table};

use super::fields::{self, Input, Syntax, Value};
use crate::article::Article;
use crate::config::Channel;
use crate::error::ContentError;

/// Parses one article file. `path` is only used in messages; `channel`
/// supplies the base URL (default canonical URL, relative links) and the
/// default language.
///
/// On failure every problem found is returned, each with its line (the
/// opening `+++`, line 1, for a missing field).
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
    let table = doc.as_table();
    let input = Input {
        syntax: Syntax::Toml,
        fields: table
            .iter()
            .map(|(key, item)| (key.to_owned(), value_of(item), Some(key_line(front, table, key))))
            .collect(),
        body,
        body_line: Some(body_line),
    };
    fields::article(&input, channel).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| ContentError::Field {
                path: path.to_owned(),
                line: p.line.unwrap_or(1),
                field: p.field,
                message: p.message,
            })
            .collect()
    })
}

/// A TOML item as a neutral field value.
fn value_of(item: &Item) -> Value {
    match item {
        Item::Value(value) => toml_value(value),
        Item::Table(table) => Value::Table(table.iter().map(|(k, v)| (k.to_owned(), value_of(v))).collect()),
        Item::ArrayOfTables(array) => Value::Array(
            array.iter().map(|t| Value::Table(t.iter().map(|(k, v)| (k.to_owned(), value_of(v))).collect())).collect(),
        ),
        Item::None => Value::Other("none"),
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

fn toml_value(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as Toml;
    match value {
        Toml::String(s) => Value::String(s.value().clone()),
        Toml::Integer(n) => Value::Integer(*n.value()),
        Toml::Datetime(d) => Value::Datetime(d.value().to_string()),
        Toml::Array(array) => Value::Array(array.iter().map(toml_value).collect()),
        Toml::InlineTable(table) => Value::Table(table.iter().map(|(k, v)| (k.to_owned(), toml_value(v))).collect()),
        other => Value::Other(other.type_name()),
    }
}

/// The file line of `key` in `table` (line 1, the opening `+++`, when unknown).
fn key_line(front: &str, table: &Table, key: &str) -> usize {
    table.key(key).and_then(|k| k.span()).map_or(1, |span| 1 + line_of(front, span.start))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::Tag;
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
