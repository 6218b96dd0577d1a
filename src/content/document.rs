//! An article as the publishing API receives it: one JSON object with the
//! front matter's fields (same names, same meaning) and `body`, the Markdown.
//!
//! The fields go through exactly the checks a file's do ([`super::fields`]);
//! only the hints are worded for JSON. A `null` field counts as absent, so a
//! JSON Merge Patch (RFC 7396) that nulls a field removes it.

use serde_json::{Map, Value as Json};

use super::fields::{self, Input, Problem, Syntax, Value};
use crate::article::Article;
use crate::config::Channel;

/// Parses an API document into an article; on failure, every problem, each
/// naming its field.
pub fn parse_document(doc: &Map<String, Json>, channel: &Channel) -> Result<Article, Vec<Problem>> {
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
        body,
        body_line: None,
    };
    match fields::article(&input, channel) {
        Ok(article) if problems.is_empty() => Ok(article),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
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
        let from_json = parse_document(&doc, &channel()).unwrap();
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
        let problems = parse_document(&doc, &channel()).unwrap_err();
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
        let problems = parse_document(&doc, &channel()).unwrap_err();
        assert_eq!(problems[0].field, "body");
        assert!(problems[0].message.starts_with("a teaser has no body; remove \"body\""), "{problems:?}");
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
