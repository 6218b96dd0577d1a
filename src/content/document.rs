//! An article as the publishing API receives it: one JSON object with the
//! front matter's fields (same names, same meaning) and `body`, the Markdown.
//!
//! The fields go through exactly the checks a file's do ([`super::fields`]);
//! only the hints are worded for JSON. A `null` field counts as absent, so a
//! JSON Merge Patch (RFC 7396) that nulls a field removes it.
//!
//! An `image.url` that names a media file (`img/carte.png`,
//! `/media/img/carte.png`: uploaded with `POST /api/media` or published
//! from the content directory) is resolved as a file's is, from what the
//! caller's look-up knows; so are the body's links to media files. The
//! API finds what to look up with [`media_named`] first.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

use super::fields::{self, Input, MediaLookup, Problem, Syntax, Value};
use crate::article::Article;
use crate::config::Channel;
use crate::media::{MediaInfo, MediaPath};

/// Parses an API document into an article; on failure, every problem, each
/// naming its field.
pub fn parse_document(
    doc: &Map<String, Json>,
    channel: &Channel,
    media: &MediaLookup<'_>,
) -> Result<Article, Vec<Problem>> {
    let mut problems = Vec::new();
    let body = match doc.get("body") {
        None | Some(Json::Null) => "",
        Some(Json::String(body)) => body.as_str(),
        Some(other) => {
            problems.push(Problem {
                field: "body".to_owned(),
                line: None,
                message: format!("expected a string of Markdown, found {}", json_type(other)),
            });
            ""
        }
    };
    let input = Input {
        syntax: Syntax::Json,
        fields: doc
            .iter()
            .filter(|(key, value)| key.as_str() != "body" && !value.is_null())
            .map(|(key, value)| (key.clone(), value_of(value), None))
            .collect(),
        key_lines: Vec::new(),
        body,
        body_line: None,
    };
    match fields::article(&input, channel, media) {
        Ok(article) if problems.is_empty() => Ok(article),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// The media files `doc` names, which [`parse_document`] will ask its
/// look-up about: its `image.url` when that is a media path, and the
/// relative links and images of its body that name files of a kind herald
/// publishes. Found by parsing once with a look-up that takes notes and
/// pretends every such file exists (the body is rendered only when the
/// fields are sound), so it is what the real parse asks.
pub fn media_named(doc: &Map<String, Json>, channel: &Channel) -> BTreeSet<MediaPath> {
    let named = Mutex::new(BTreeSet::new());
    let note = |path: &MediaPath| {
        let media_type = path.media_type().ok_or_else(String::new)?;
        if let Ok(mut named) = named.lock() {
            named.insert(path.clone());
        }
        let dimension = media_type.starts_with("image/").then_some(1);
        Ok(MediaInfo {
            content_type: media_type.to_owned(),
            size: 1,
            sha256: "0".repeat(64),
            width: dimension,
            height: dimension,
        })
    };
    // The outcome of this parse is the real parse's business.
    let _ = parse_document(doc, channel, &note);
    named.into_inner().unwrap_or_default()
}

/// The message for a media path no file is stored at.
pub fn no_such_media(path: &MediaPath) -> String {
    format!(
        "no media file is stored at {path:?}: upload it first with `POST /api/media?path={path}`, \
         or give the image's absolute http(s) URL"
    )
}

/// Applies a JSON Merge Patch (RFC 7396 §2) to `target`: objects merge key
/// by key, `null` removes a key, anything else replaces. Written out rather
/// than taken from a crate: it is the RFC's ten-line algorithm.
pub fn merge_patch(target: &mut Json, patch: &Json) {
    let Json::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Json::Object(Map::new());
    }
    if let Json::Object(object) = target {
        for (key, value) in patch {
            if value.is_null() {
                object.remove(key);
            } else {
                merge_patch(object.entry(key.clone()).or_insert(Json::Null), value);
            }
        }
    }
}

fn value_of(value: &Json) -> Value {
    match value {
        Json::String(s) => Value::String(s.clone()),
        Json::Number(n) => n.as_i64().map_or(Value::Other("number"), Value::Integer),
        Json::Array(items) => Value::Array(items.iter().map(value_of).collect()),
        Json::Object(entries) => {
            Value::Table(entries.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), value_of(v))).collect())
        }
        other => Value::Other(json_type(other)),
    }
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use serde_json::json;

    fn channel() -> Channel {
        let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
        Settings::load_with_env(None, env).unwrap().channel
    }

    fn object(value: Json) -> Map<String, Json> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_good_document_becomes_the_same_article_as_the_same_file() {
        let doc = object(json!({
            "id": "86f0943d-b849-48d0-b821-2b97a4c99fe8",
            "slug": "mali",
            "title": "Titre",
            "summary": "Résumé",
            "tags": ["Mali", "sahel", "mali"],
            "published": "2024-08-05T08:00:00+02:00",
            "image": {"url": "/img/a.jpg", "alt": "Une carte", "type": "image/jpeg", "length": 1200},
            "body": "Premier [lien](../autre).\n"
        }));
        let from_json = parse_document(&doc, &channel(), &none).unwrap();
        let file = "+++\nid = \"urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8\"\nslug = \"mali\"\ntitle = \"Titre\"\n\
                    summary = \"Résumé\"\ntags = [\"Mali\", \"sahel\", \"mali\"]\npublished = \"2024-08-05T08:00:00+02:00\"\n\
                    image = { url = \"/img/a.jpg\", alt = \"Une carte\", type = \"image/jpeg\", length = 1200 }\n+++\n\
                    Premier [lien](../autre).\n";
        let from_file = super::super::parse_article(std::path::Path::new("a.md"), file, &channel()).unwrap();
        assert_eq!(from_json, from_file);
    }

    #[test]
    fn every_bad_field_is_reported_with_json_hints() {
        let doc = object(json!({
            "slug": "Not A Slug",
            "title": 3,
            "summary": "",
            "published": "27/07/2024",
            "image": {"url": "/a.jpg", "type": "jpeg"},
            "colour": "red",
            "body": "text"
        }));
        let problems = parse_document(&doc, &channel(), &none).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for field in ["colour", "id", "slug", "title", "summary", "published", "image"] {
            assert!(fields.contains(&field), "{field}: {problems:#?}");
        }
        let id = problems.iter().find(|p| p.field == "id").unwrap();
        assert_eq!(id.message, "missing; add \"id\": … to the document");
        assert!(problems.iter().all(|p| p.line.is_none()));
    }

    #[test]
    fn teasers_and_full_articles_are_checked_on_the_body_field() {
        let doc = object(json!({
            "id": "tag:example.org,2024:a", "slug": "a", "title": "T", "summary": "S",
            "published": "2024-08-05T08:00:00Z", "kind": "teaser", "body": "text"
        }));
        let problems = parse_document(&doc, &channel(), &none).unwrap_err();
        assert_eq!(problems[0].field, "body");
        assert!(problems[0].message.starts_with("a teaser has no body; remove \"body\""), "{problems:?}");
    }

    fn none(path: &MediaPath) -> Result<MediaInfo, String> {
        Err(no_such_media(path))
    }

    #[test]
    fn an_image_given_as_a_media_path_is_looked_up_and_filled_from_the_file() {
        let png = MediaInfo {
            content_type: "image/png".to_owned(),
            size: 1234,
            sha256: "ab".repeat(32),
            width: Some(640),
            height: Some(480),
        };
        let known = |path: &MediaPath| {
            if path.as_str() == "img/carte.png" {
                Ok(png.clone())
            } else {
                none(path)
            }
        };
        for url in ["img/carte.png", "/media/img/carte.png"] {
            let doc = object(json!({
                "id": "tag:example.org,2024:a", "slug": "a", "title": "T", "summary": "S",
                "published": "2024-08-05T08:00:00Z", "kind": "full",
                "image": {"url": url, "alt": "Une carte"},
                "body": "Voir [la carte](img/carte.png), [le PDF](docs/rapport.pdf) et [la suite](../suite)."
            }));
            let named: Vec<String> = media_named(&doc, &channel()).iter().map(|p| p.to_string()).collect();
            assert_eq!(named, ["docs/rapport.pdf", "img/carte.png"]);
            let article = parse_document(&doc, &channel(), &known).unwrap();
            let image = article.image.unwrap();
            assert_eq!(image.url.as_str(), "https://news.example.org/media/img/carte.png?v=abababababab");
            assert_eq!(
                (image.media_type.as_str(), image.length, image.width, image.height),
                ("image/png", Some(1234), Some(640), Some(480))
            );
            let html = article.body_html.unwrap();
            assert!(html.contains("href=\"https://news.example.org/media/img/carte.png?v=abababababab\""), "{html}");
            assert!(!html.contains("/media/docs/"), "an unknown file is a relative link as written: {html}");

            let problems = parse_document(&doc, &channel(), &none).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:#?}");
            assert_eq!(problems[0].field, "image.url");
            assert!(
                problems[0].message.contains("upload it first with `POST /api/media?path=img/carte.png`"),
                "{problems:#?}"
            );
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // RFC 7396 §3, the example.
        let mut target = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
                                "tags": ["example", "sample"], "content": "This will be unchanged"});
        let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
                           "author": {"familyName": null}, "tags": ["example"]});
        merge_patch(&mut target, &patch);
        assert_eq!(
            target,
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                   "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
    }
}
