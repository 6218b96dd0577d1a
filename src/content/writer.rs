//! Writes article files: the inverse of [`super::front_matter`].
//!
//! [`FrontMatter::to_file`] produces text that [`super::parse_article`]
//! accepts and reads back to the same values (the tests below check it).
//! This module writes strings only; where a file lands is the caller's job.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use url::Url;

use crate::article::{ArticleId, Image, Kind, Language, Slug, State, Tag};

/// The front matter of one article file, every key as the README documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatter {
    /// `id`.
    pub id: ArticleId,
    /// `slug`.
    pub slug: Slug,
    /// `kind`: a teaser has no body.
    pub kind: Kind,
    /// `title`, plain text.
    pub title: String,
    /// `summary`, plain text.
    pub summary: String,
    /// `authors`; omitted when empty (the channel's byline is used).
    pub authors: Vec<String>,
    /// `language`; omitted for the channel's.
    pub language: Option<Language>,
    /// `tags`.
    pub tags: Vec<Tag>,
    /// `image`, with an absolute URL.
    pub image: Option<Image>,
    /// `published`.
    pub published: DateTime<Utc>,
    /// `updated`; written even when equal to `published`.
    pub updated: DateTime<Utc>,
    /// `license`, when not the channel's.
    pub license: Option<Url>,
    /// `url`, when not `{base_url}articles/{slug}`.
    pub url: Option<Url>,
    /// `state`.
    pub state: State,
}

impl FrontMatter {
    /// The whole file: `+++`, the TOML keys in the documented order, `+++`,
    /// then `body` (ignored for a teaser, which has none).
    pub fn to_file(&self, body: &str) -> String {
        let mut out = String::with_capacity(512 + body.len());
        out.push_str("+++\n");
        let mut key = |name: &str, value: String| {
            let _ = writeln!(out, "{name} = {value}");
        };
        key("id", string(self.id.as_str()));
        key("slug", string(self.slug.as_str()));
        key("kind", string(self.kind.as_str()));
        key("title", string(&self.title));
        key("summary", string(&self.summary));
        if !self.authors.is_empty() {
            key("authors", array(self.authors.iter().map(String::as_str)));
        }
        if let Some(language) = &self.language {
            key("language", string(language.as_str()));
        }
        if !self.tags.is_empty() {
            key("tags", array(self.tags.iter().map(Tag::as_str)));
        }
        if let Some(image) = &self.image {
            key("image", inline_image(image));
        }
        key("published", string(&date(self.published)));
        key("updated", string(&date(self.updated)));
        if let Some(license) = &self.license {
            key("license", string(license.as_str()));
        }
        if let Some(url) = &self.url {
            key("url", string(url.as_str()));
        }
        key("state", string(self.state.as_str()));
        out.push_str("+++\n");
        if self.kind == Kind::Full {
            out.push('\n');
            out.push_str(body.trim());
            out.push('\n');
        }
        out
    }
}

/// RFC 3339 in UTC with `Z`, with fractions of a second only when there are
/// any: how front matter (and the API, which uses its fields) writes times.
pub fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A TOML basic string with every control character escaped. Hand-written
/// rather than `toml_edit`'s display, which may choose a multi-line string:
/// each key must stay on one line, because the `+++` that closes the front
/// matter is found line by line and errors name a key's line.
fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn array<'a>(values: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", values.map(string).collect::<Vec<_>>().join(", "))
}

fn inline_image(image: &Image) -> String {
    let mut out = format!(
        "{{ url = {}, alt = {}, type = {}",
        string(image.url.as_str()),
        string(&image.alt),
        string(&image.media_type)
    );
    for (name, value) in
        [("length", image.length), ("width", image.width.map(u64::from)), ("height", image.height.map(u64::from))]
    {
        if let Some(value) = value {
            let _ = write!(out, ", {name} = {value}");
        }
    }
    out.push_str(" }");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::config::{Channel, Settings};
    use crate::content::fields::FIELDS;
    use crate::content::parse_article;

    fn channel() -> Channel {
        let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
        Settings::load_with_env(None, env).unwrap().channel
    }

    fn front() -> FrontMatter {
        FrontMatter {
            id: ArticleId::parse("https://blog.example.com/2024/08/mali").unwrap(),
            slug: Slug::parse("mali").unwrap(),
            kind: Kind::Full,
            title: "Mali : « l’embuscade » \"quoted\" \\ back\nslash".into(),
            summary: "Line one.\nLine two +++\n+++\ttab".into(),
            authors: vec!["Ann \"A\" Author".into(), "B".into()],
            language: Some(Language::parse("en-GB").unwrap()),
            tags: vec![Tag::parse("mali").unwrap(), Tag::parse("sahel").unwrap()],
            image: Some(Image {
                url: Url::parse("https://blog.example.com/img/a.jpg").unwrap(),
                alt: "A \"map\"".into(),
                media_type: "image/jpeg".into(),
                length: Some(1234),
                width: Some(1200),
                height: None,
            }),
            published: Utc.with_ymd_and_hms(2024, 8, 5, 8, 0, 0).unwrap(),
            updated: Utc.with_ymd_and_hms(2024, 8, 6, 9, 30, 0).unwrap() + chrono::TimeDelta::milliseconds(250),
            license: Some(Url::parse("https://creativecommons.org/licenses/by/4.0/").unwrap()),
            url: Some(Url::parse("https://blog.example.com/2024/08/mali.html").unwrap()),
            state: State::Published,
        }
    }

    #[test]
    fn a_written_file_parses_back_to_the_same_values() {
        let front = front();
        let text = front.to_file("<p>Body</p>\n");
        let article = parse_article(Path::new("a.md"), &text, &channel()).unwrap();
        assert_eq!(article.id, front.id);
        assert_eq!(article.slug, front.slug);
        assert_eq!(article.title, front.title);
        // The parser trims, and keeps what is inside.
        assert_eq!(article.summary, front.summary.trim());
        assert_eq!(article.authors, front.authors);
        assert_eq!(Some(article.language), front.language);
        assert_eq!(article.tags, front.tags);
        assert_eq!(article.image, front.image);
        assert_eq!(article.published, front.published);
        assert_eq!(article.updated, front.updated);
        assert_eq!(article.license, front.license);
        assert_eq!(Some(article.url), front.url);
        assert_eq!(article.body_html.as_deref(), Some("<p>Body</p>"));
    }

    #[test]
    fn keys_come_in_the_documented_order_one_per_line() {
        let text = front().to_file("body");
        let keys: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|line| *line != "+++")
            .map(|line| line.split(" = ").next().unwrap())
            .collect();
        let expected: Vec<&str> = FIELDS.iter().copied().filter(|f| keys.contains(f)).collect();
        assert_eq!(keys, expected);
        assert_eq!(keys.len(), FIELDS.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

        /// Any text herald can carry (XML characters, quotes, backslashes,
        /// newlines, `+++` lines) survives the writer and the parser.
        #[test]
        fn any_text_is_read_back_as_written(
            title in "[^\\p{Cc}\u{FFFE}\u{FFFF}]{1,40}",
            summary in "([^\\p{Cc}\u{FFFE}\u{FFFF}]|\n|\t|\\+\\+\\+\n){1,80}",
            author in "[^\\p{Cc}\u{FFFE}\u{FFFF}]{1,20}",
        ) {
            proptest::prop_assume!(!title.trim().is_empty() && !summary.trim().is_empty() && !author.trim().is_empty());
            let front = FrontMatter { title: title.clone(), summary: summary.clone(), authors: vec![author.clone()], ..front() };
            let article = parse_article(Path::new("a.md"), &front.to_file("body"), &channel()).unwrap();
            proptest::prop_assert_eq!(article.title, title.trim());
            proptest::prop_assert_eq!(article.summary, summary.trim());
            proptest::prop_assert_eq!(article.authors, vec![author.trim().to_owned()]);
        }
    }

    #[test]
    fn a_teaser_has_no_body_and_optional_keys_are_left_out() {
        let front = FrontMatter {
            kind: Kind::Teaser,
            authors: Vec::new(),
            language: None,
            tags: Vec::new(),
            image: None,
            license: None,
            url: None,
            ..front()
        };
        let text = front.to_file("ignored");
        assert!(text.ends_with("state = \"published\"\n+++\n"), "{text}");
        assert!(!text.contains("authors") && !text.contains("image") && !text.contains("url ="), "{text}");
        let article = parse_article(Path::new("a.md"), &text, &channel()).unwrap();
        assert_eq!(article.kind, Kind::Teaser);
        assert_eq!(article.url.as_str(), "https://news.example.org/articles/mali");
    }
}
