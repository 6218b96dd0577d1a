//! The one article model that every output is rendered from.
//!
//! Each value type here is valid by construction: holding a [`Slug`], an
//! [`ArticleId`] or a [`Language`] proves it was parsed. Nothing in this module
//! reads files, the database or the clock.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

/// The stable identity of an article: an absolute URI, typically a
/// `urn:uuid:` URN or a `tag:` URI (RFC 4151); imported articles keep the
/// `http(s)` URLs and other URIs their feeds used as guids.
///
/// It is the RSS `guid`, the Atom `id` and the JSON Feed `id` alike, and it is
/// never reused for another article (RFC 4287 §4.2.6: atom:id never changes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArticleId(String);

impl ArticleId {
    /// Parses an id. A bare UUID is accepted and normalised to `urn:uuid:…`
    /// (lower case), so the same article cannot appear under two spellings.
    /// Any other absolute URI (RFC 3986: a scheme, then no whitespace) is
    /// kept exactly as written, since feed readers compare ids as strings;
    /// `urn:uuid:` and `tag:` URIs must also be well-formed for their scheme.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let uuid_part = raw.strip_prefix("urn:uuid:").or_else(|| raw.strip_prefix("URN:UUID:")).unwrap_or(raw);
        if let Ok(uuid) = uuid::Uuid::parse_str(uuid_part) {
            if uuid_part.len() == 36 {
                return Ok(Self(format!("urn:uuid:{}", uuid.hyphenated())));
            }
        }
        let scheme = raw.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let valid = match scheme.as_deref() {
            // A urn:uuid: whose UUID did not parse above.
            Some("urn") if raw.to_ascii_lowercase().starts_with("urn:uuid:") => false,
            Some("tag") => raw.strip_prefix("tag:").is_some_and(is_tag_specific),
            _ => is_absolute_uri(raw),
        };
        if valid {
            return Ok(Self(raw.to_owned()));
        }
        Err(format!(
            "{raw:?} is not an absolute URI (a UUID, a tag URI or e.g. an https URL); \
             use e.g. \"urn:uuid:{}\" (new id from `uuidgen`) or \"tag:example.org,2024:slug\"",
            uuid::Uuid::new_v4()
        ))
    }

    /// The id as written in feeds.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ArticleId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ArticleId> for String {
    fn from(id: ArticleId) -> Self {
        id.0
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 4151: what follows `tag:` is `authorityName,date:specific`.
fn is_tag_specific(rest: &str) -> bool {
    rest.split_once(':')
        .and_then(|(entity, specific)| {
            let (authority, date) = entity.split_once(',')?;
            let date_ok = !date.is_empty() && date.len() <= 10 && date.chars().all(|c| c.is_ascii_digit() || c == '-');
            let authority_ok = !authority.is_empty() && !authority.contains(char::is_whitespace);
            let specific_ok =
                !specific.is_empty() && !specific.contains(char::is_whitespace) && !specific.contains(['<', '>', '"']);
            Some(date_ok && authority_ok && specific_ok)
        })
        .unwrap_or(false)
}

/// RFC 3986 §3.1 and §4.3: a scheme (a letter, then letters, digits, `+`,
/// `-` or `.`), a colon and something after it, without whitespace or
/// control characters (which `url` would silently strip, so they are
/// refused before it sees them).
fn is_absolute_uri(raw: &str) -> bool {
    let clean = !raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    clean && raw.split_once(':').is_some_and(|(_, rest)| !rest.is_empty()) && Url::parse(raw).is_ok()
}

/// The URL path segment of an article: lower-case ASCII letters and digits
/// separated by single hyphens, at most 120 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Longest slug accepted.
    pub const MAX_LEN: usize = 120;

    /// Parses a slug, e.g. `mali-embuscade-tin-zaouatine`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a slug: use lower-case ASCII letters and digits separated by single hyphens \
                 (at most {} characters), e.g. \"mali-embuscade-tin-zaouatine\"",
                Self::MAX_LEN
            ))
        }
    }

    /// The slug as it appears in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed BCP 47 language tag (`fr`, `en-GB`, `pt-BR`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    /// Parses a BCP 47 tag; the canonical case is kept as written by the
    /// `language-tags` crate (`en-gb` becomes `en-GB`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        match language_tags::LanguageTag::parse(raw) {
            Ok(tag) if tag.is_valid() => {
                Ok(Self(tag.canonicalize().map_or_else(|_| tag.to_string(), |t| t.to_string())))
            }
            _ => Err(format!("{raw:?} is not a BCP 47 language tag, e.g. \"fr\" or \"en-GB\"")),
        }
    }

    /// The tag as written in `xml:lang`, `<language>` and `contentMap`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Language> for String {
    fn from(lang: Language) -> Self {
        lang.0
    }
}

/// A tag (category, hashtag): Unicode letters, digits and underscores, stored
/// in lower case so that `Mali` and `mali` are one tag with one feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Parses a tag. Hyphens and spaces are refused because a tag is also a
    /// hashtag on the fediverse, where `#csp-dpa` would stop at the hyphen.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty() && raw.chars().count() <= 64 && raw.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ok {
            Ok(Self(raw.to_lowercase()))
        } else {
            Err(format!(
                "{raw:?} is not a tag: use letters, digits and underscores only (it doubles as a hashtag), e.g. \"sahel\""
            ))
        }
    }

    /// The tag in lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Tag> for String {
    fn from(tag: Tag) -> Self {
        tag.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The URL segment of an author's pages and feeds (`/authors/{key}`): the
/// byline in lower case, every run of characters other than letters and
/// digits turned into one hyphen (`La rédaction` → `la-rédaction`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorKey(String);

impl AuthorKey {
    /// The key of a byline; `None` when it has no letter or digit.
    pub fn of(name: &str) -> Option<Self> {
        let mut key = String::with_capacity(name.len());
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                key.push(c);
            } else if !key.is_empty() && !key.ends_with('-') {
                key.push('-');
            }
        }
        let key = key.trim_end_matches('-');
        (!key.is_empty()).then(|| Self(key.to_owned()))
    }

    /// Parses a key from a URL segment: it must be a key as [`AuthorKey::of`]
    /// makes them.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::of(raw).filter(|key| key.0 == raw)
    }

    /// The key as it appears in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an article has a body or is a teaser pointing elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Title, summary and a full body.
    Full,
    /// Title, summary and link only.
    Teaser,
}

impl Kind {
    /// The name used in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Teaser => "teaser",
        }
    }

    /// Parses `full` or `teaser`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "full" => Ok(Kind::Full),
            "teaser" => Ok(Kind::Teaser),
            other => Err(format!("{other:?} is not a kind: use \"full\" or \"teaser\"")),
        }
    }
}

/// Whether an article is shown or has been withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In the feeds and on the site.
    Published,
    /// Withdrawn: out of the feeds; its page answers 410 Gone.
    Retracted,
}

impl State {
    /// The name used in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Published => "published",
            State::Retracted => "retracted",
        }
    }

    /// Parses `published` or `retracted`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "published" => Ok(State::Published),
            "retracted" => Ok(State::Retracted),
            other => Err(format!("{other:?} is not a state: use \"published\" or \"retracted\"")),
        }
    }
}

/// The lead image of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Absolute URL of the image.
    pub url: Url,
    /// Alternative text, required: readers and screen readers show it.
    pub alt: String,
    /// Media type, e.g. `image/jpeg`.
    pub media_type: String,
    /// Size in bytes, when known (RSS `enclosure length`).
    pub length: Option<u64>,
    /// Width in pixels, when known.
    pub width: Option<u32>,
    /// Height in pixels, when known.
    pub height: Option<u32>,
}

/// One article, as every renderer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Stable id, never reused; survives slug and title changes.
    pub id: ArticleId,
    /// URL path segment of the article page.
    pub slug: Slug,
    /// Full article or teaser.
    pub kind: Kind,
    /// Headline (plain text).
    pub title: String,
    /// Standfirst / teaser (plain text).
    pub summary: String,
    /// Sanitized HTML body with absolute URLs; `None` for a teaser.
    pub body_html: Option<String>,
    /// Canonical URL.
    pub url: Url,
    /// Author names (a newsroom byline is fine).
    pub authors: Vec<String>,
    /// Language of the article.
    pub language: Language,
    /// Tags, in the order written, without duplicates.
    pub tags: Vec<Tag>,
    /// Lead image.
    pub image: Option<Image>,
    /// URL of the article's licence, when it differs from the channel's.
    pub license: Option<Url>,
    /// First publication; never moves once published.
    pub published: DateTime<Utc>,
    /// Last meaningful change; never before `published`.
    pub updated: DateTime<Utc>,
    /// Published or retracted.
    pub state: State,
}

impl Article {
    /// True when the article belongs in feeds and on the front page.
    pub fn is_published(&self) -> bool {
        self.state == State::Published
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_uuids_are_normalised_to_urns() {
        let id = ArticleId::parse("86F0943D-B849-48D0-B821-2B97A4C99FE8").unwrap();
        assert_eq!(id.as_str(), "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8");
    }

    #[test]
    fn tag_uris_are_accepted_and_garbage_is_not() {
        assert!(ArticleId::parse("tag:example.org,2024:mali").is_ok());
        assert!(ArticleId::parse("tag:example.org:mali").is_err());
        assert!(ArticleId::parse("article-1").is_err());
        assert!(ArticleId::parse("12345").is_err());
        assert!(ArticleId::parse("").is_err());
    }

    #[test]
    fn any_absolute_uri_is_an_id_kept_as_written() {
        for raw in [
            "https://Example.com/2024/08/mali?id=1#x",
            "http://example.com/p/1",
            "urn:isbn:0451450523",
            "mailto:desk@example.org",
            "did:web:example.com",
        ] {
            assert_eq!(ArticleId::parse(raw).unwrap().as_str(), raw);
        }
        for bad in
            ["https://example.com/a b", "/relative/path", "example.com/a", "urn:uuid:not-a-uuid", "x:", "1http://a"]
        {
            assert!(ArticleId::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            ArticleId::parse("URN:UUID:86F0943D-B849-48D0-B821-2B97A4C99FE8").unwrap().as_str(),
            "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8"
        );
    }

    #[test]
    fn note_keys_round_trip_for_every_kind_of_id() {
        use crate::render::note::{article_id_of, note_key};
        for raw in [
            "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8",
            "tag:example.org,2024:mali/1",
            "https://example.com/2024/08/mali?id=1&x=%20#frag",
            "urn:isbn:0451450523",
        ] {
            let id = ArticleId::parse(raw).unwrap();
            let key = note_key(&id);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%' || b == b'-'), "{key}");
            assert_eq!(article_id_of(&key), Some(id.clone()), "{raw}");
            // As axum's `Path` hands it over: decoded once already.
            let decoded = percent_encoding::percent_decode_str(&key).decode_utf8().unwrap();
            assert_eq!(article_id_of(&decoded), Some(id), "{raw}: decoded");
        }
        assert_eq!(article_id_of("12345"), None);
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_single_hyphens() {
        assert!(Slug::parse("mali-2024").is_ok());
        for bad in ["", "Mali", "mali--2024", "-mali", "mali-", "mali 2024", "été"] {
            assert!(Slug::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn languages_are_bcp47() {
        assert_eq!(Language::parse("fr").unwrap().as_str(), "fr");
        assert!(Language::parse("en-GB").is_ok());
        assert!(Language::parse("fr_FR").is_err());
        assert!(Language::parse("").is_err());
    }

    #[test]
    fn author_keys_are_lower_case_words_joined_by_hyphens() {
        assert_eq!(AuthorKey::of("La rédaction").unwrap().as_str(), "la-rédaction");
        assert_eq!(AuthorKey::of("  Jean-Luc  O'Brien ").unwrap().as_str(), "jean-luc-o-brien");
        assert!(AuthorKey::of(" — ").is_none());
        assert!(AuthorKey::parse("la-rédaction").is_some());
        for bad in ["La-rédaction", "la--rédaction", "-la", "la-", ""] {
            assert!(AuthorKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tags_are_hashtag_words_in_lower_case() {
        assert_eq!(Tag::parse("Mali").unwrap().as_str(), "mali");
        assert_eq!(Tag::parse("économie").unwrap().as_str(), "économie");
        assert!(Tag::parse("csp-dpa").is_err());
        assert!(Tag::parse("two words").is_err());
    }
}
