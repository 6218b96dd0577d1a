//! Feed documents → article files, for `herald import`.
//!
//! Pure: [`Page::parse`] reads one RSS 2.0, Atom 1.0 or JSON Feed document
//! (with feed-rs) and finds the next page of its archive chain;
//! [`map_entry`] turns one entry into front matter and a Markdown body.
//! Nothing here reads files, the network or the clock: `cli::import` does,
//! and decides what is written where.

pub mod html;
mod page;

use std::collections::HashSet;

use chrono::Datelike;
use feed_rs::model::{Entry, Link, Text};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use url::Url;

pub use self::page::{Page, PageEntry};
use crate::article::{ArticleId, Image, Kind, Language, Slug, State, Tag};
use crate::content::FrontMatter;

/// Longest summary made from a body when an entry has none.
const SUMMARY_FROM_BODY: usize = 300;
/// Longest title made from a summary when an entry has none.
const TITLE_FROM_SUMMARY: usize = 100;

/// An entry as an article file, and what was changed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The front matter; its slug is a candidate the caller makes unique.
    pub front: FrontMatter,
    /// The Markdown body (HTML kept as it is); empty for a teaser.
    pub body: String,
    /// What was adapted: renamed or dropped tags, a derived id, …
    pub notes: Vec<String>,
}

impl Mapped {
    /// The article file's text.
    pub fn to_file(&self) -> String {
        self.front.to_file(&self.body)
    }
}

/// Maps one entry of `page` to an article.
///
/// - `id`: the guid / id as written when it is an absolute URI. A guid that
///   is not one (RSS allows `12345`) becomes `tag:{host},{year}:{guid}`, from
///   the feed's host and the year it was published: the same on every
///   import. An entry without a guid takes its link as id (readers key such
///   items on their link).
/// - `url`: the entry's link; `slug`: from the link's last path segment,
///   else the title, else a hash of the id.
/// - `kind`: `teaser` when the entry has no content (or a JSON Feed
///   `content_text` that only repeats the summary), else `full`, the HTML
///   content kept as the body.
/// - `tags`: categories lower-cased, other characters runs turned into `_`;
///   those with nothing left are dropped (and noted).
///
/// An error says why the entry cannot be an article (no date, no id…).
pub fn map_entry(item: &PageEntry, page: &Page) -> Result<Mapped, String> {
    let entry = &item.entry;
    let mut notes = Vec::new();
    let published = entry.published.or(entry.updated).ok_or("no date: neither published nor updated is given")?;
    let mut updated = entry.updated.unwrap_or(published);
    if updated < published {
        notes.push(format!("updated {} is before published; set to published", updated.to_rfc3339()));
        updated = published;
    }
    let link = entry_link(&entry.links, &page.base);
    let id = entry_id(entry, link.as_ref(), page, published.year(), &mut notes)?;

    let title = entry.title.as_ref().map(plain_text).map(|t| html::collapse_whitespace(&t)).unwrap_or_default();
    let summary = entry.summary.as_ref().map(plain_text).unwrap_or_default();
    let (image, content) = lead_image(item, page, &title, &mut notes);
    let (kind, body) = match content {
        Content::Html(html) if !html.trim().is_empty() => (Kind::Full, html::as_markdown(&html)),
        Content::Text(text) if !text.trim().is_empty() && text.trim() != summary.trim() => {
            (Kind::Full, html::as_markdown(&html::text_to_html(&text)))
        }
        _ => (Kind::Teaser, String::new()),
    };
    let summary = if summary.trim().is_empty() {
        let from_body = html::to_text(&body);
        if !from_body.is_empty() {
            notes.push("no summary: made from the start of the content".to_owned());
            html::truncate(&from_body, SUMMARY_FROM_BODY)
        } else {
            if !title.is_empty() {
                notes.push("no summary: the title stands for it".to_owned());
            }
            title.clone()
        }
    } else {
        summary.trim().to_owned()
    };
    let title = if title.is_empty() {
        if summary.is_empty() {
            return Err("no title, summary or content".to_owned());
        }
        notes.push("no title: made from the summary".to_owned());
        html::truncate(&html::collapse_whitespace(&summary), TITLE_FROM_SUMMARY)
    } else {
        title
    };

    let language = [item.language.as_deref(), entry.language.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|raw| Language::parse(raw).ok())
        .or_else(|| page.language.clone());
    let license =
        entry.links.iter().filter(|l| l.rel.as_deref() == Some("license")).find_map(|l| http_url(&l.href, &page.base));
    let slug = slug_for(link.as_ref(), &title, &id);
    let front = FrontMatter {
        id,
        slug,
        kind,
        title: xml_text(&title),
        summary: xml_text(&summary),
        authors: authors(entry),
        language,
        tags: tags(entry, &mut notes),
        image,
        published,
        updated,
        license,
        url: link,
        state: State::Published,
    };
    Ok(Mapped { front, body: xml_text(&body), notes })
}

/// The entry's page: its first `alternate` (or rel-less) http(s) link that
/// is not typed as something other than HTML (a JSON Feed attachment).
fn entry_link(links: &[Link], base: &Url) -> Option<Url> {
    links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .filter(|l| l.media_type.as_deref().is_none_or(|t| t.contains("html")))
        .find_map(|l| http_url(&l.href, base))
}

fn http_url(href: &str, base: &Url) -> Option<Url> {
    base.join(href.trim()).ok().filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// RFC 4151 `specific`: what may stand unescaped after `tag:…:`.
const TAG_SPECIFIC: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn entry_id(
    entry: &Entry,
    link: Option<&Url>,
    page: &Page,
    year: i32,
    notes: &mut Vec<String>,
) -> Result<ArticleId, String> {
    let raw = entry.id.trim();
    if raw.is_empty() {
        let link = link.ok_or("no guid and no link: nothing identifies it")?;
        notes.push(format!("no guid: its link {link} is its id"));
        return ArticleId::parse(link.as_str());
    }
    if let Ok(id) = ArticleId::parse(raw) {
        return Ok(id);
    }
    let host = link
        .and_then(Url::host_str)
        .or(page.host.as_deref())
        .ok_or_else(|| format!("guid {raw:?} is not a URI, and no host is known to make a tag: URI of it"))?;
    let tag = format!("tag:{host},{year}:{}", utf8_percent_encode(raw, TAG_SPECIFIC));
    let id = ArticleId::parse(&tag).map_err(|e| format!("guid {raw:?} is not a URI, and {e}"))?;
    notes.push(format!("guid {raw:?} is not a URI: its id is {id}"));
    Ok(id)
}

/// A Text construct as plain text: HTML ones (RSS `description`, Atom
/// `type="html"`) rendered to text, plain ones trimmed.
fn plain_text(text: &Text) -> String {
    if text.content_type.subty() == "plain" {
        text.content.trim().to_owned()
    } else {
        html::to_text(&text.content)
    }
}

/// What an entry's content is.
enum Content {
    Html(String),
    Text(String),
    None,
}

/// The lead image (enclosure, `media:content`, JSON Feed `image`) and the
/// content without herald's lead figure, which republishing adds back.
fn lead_image(item: &PageEntry, page: &Page, title: &str, notes: &mut Vec<String>) -> (Option<Image>, Content) {
    let content = entry_content(&item.entry, notes);
    let mut image = first_image(image_candidates(item), &page.base, notes);
    let content = match (content, &mut image) {
        (Content::Html(body), Some(image)) => match html::split_lead_figure(&body) {
            Some((figure, rest)) if figure.src == image.url.as_str() => {
                if !figure.alt.is_empty() {
                    image.alt = figure.alt;
                }
                if let (None, None, Some((w, h))) = (image.width, image.height, figure.size) {
                    image.width = Some(w);
                    image.height = Some(h);
                }
                Content::Html(rest.to_owned())
            }
            _ => Content::Html(body),
        },
        (content, _) => content,
    };
    if let Some(image) = &mut image {
        if image.alt.is_empty() {
            // herald requires an alt text; the headline is the best guess at what the image shows.
            image.alt = if title.is_empty() { "Image".to_owned() } else { title.to_owned() };
        }
    }
    (image, content)
}

fn entry_content(entry: &Entry, notes: &mut Vec<String>) -> Content {
    let Some(content) = &entry.content else { return Content::None };
    match (&content.body, content.content_type.subty().as_str()) {
        (Some(body), "plain") => Content::Text(body.clone()),
        (Some(body), _) => Content::Html(body.clone()),
        (None, _) => {
            if let Some(src) = &content.src {
                notes.push(format!("its content is only linked ({}); imported as a teaser", src.href));
            }
            Content::None
        }
    }
}

/// Every enclosure-like thing of an entry, in order of preference.
fn image_candidates(item: &PageEntry) -> Vec<Candidate> {
    let entry = &item.entry;
    let mut candidates: Vec<Candidate> = Vec::new();
    for media in &entry.media {
        let alt = media.description.as_ref().map(plain_text);
        for c in &media.content {
            if let Some(url) = &c.url {
                candidates.push(Candidate {
                    href: url.to_string(),
                    media_type: c.content_type.as_ref().map(ToString::to_string),
                    length: c.size,
                    size: (c.width, c.height),
                    alt: alt.clone(),
                });
            }
        }
    }
    // Atom enclosures, and JSON Feed attachments (feed-rs gives them no rel, only a type).
    let enclosures = entry
        .links
        .iter()
        .filter(|l| l.rel.as_deref() == Some("enclosure") || (l.rel.is_none() && l.media_type.is_some()));
    for link in enclosures {
        candidates.push(Candidate {
            href: link.href.clone(),
            media_type: link.media_type.clone(),
            length: link.length,
            size: (None, None),
            alt: link.title.clone(),
        });
    }
    if let Some(image) = &item.image {
        candidates.push(Candidate {
            href: image.clone(),
            media_type: None,
            length: None,
            size: (None, None),
            alt: None,
        });
    }
    candidates
}

/// The first candidate that is an image; the others are noted as left out.
fn first_image(candidates: Vec<Candidate>, base: &Url, notes: &mut Vec<String>) -> Option<Image> {
    for Candidate { href, media_type, length, size: (width, height), alt } in candidates {
        let Some(url) = http_url(&href, base) else { continue };
        let media_type = media_type.filter(|t| t.contains('/')).or_else(|| guess_image_type(&url));
        match media_type {
            Some(media_type) if media_type.starts_with("image/") && !media_type.contains(char::is_whitespace) => {
                let alt = alt.map(|a| html::collapse_whitespace(&a)).filter(|a| !a.is_empty()).unwrap_or_default();
                return Some(Image { url, alt, media_type, length: length.filter(|&l| l > 0), width, height });
            }
            other => {
                let note = format!(
                    "enclosure {url} ({}) is not an image; left out",
                    other.as_deref().unwrap_or("unknown type")
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    None
}

/// An enclosure, `media:content` or JSON Feed `image` that may be the lead image.
struct Candidate {
    href: String,
    media_type: Option<String>,
    length: Option<u64>,
    size: (Option<u32>, Option<u32>),
    alt: Option<String>,
}

fn guess_image_type(url: &Url) -> Option<String> {
    let extension = url.path().rsplit_once('.')?.1.to_ascii_lowercase();
    let media_type = match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => return None,
    };
    Some(media_type.to_owned())
}

fn authors(entry: &Entry) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for person in &entry.authors {
        let name = xml_text(&html::collapse_whitespace(&person.name));
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Categories as tags: lower case, runs of anything but letters and digits
/// turned into one `_` (`Sci-Fi` → `sci_fi`), duplicates dropped.
fn tags(entry: &Entry, notes: &mut Vec<String>) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    for category in &entry.categories {
        let raw = category.term.trim();
        if raw.is_empty() {
            continue;
        }
        match tag_of(raw) {
            Ok(tag) => {
                if tag.as_str() != raw.to_lowercase() {
                    notes.push(format!("category {raw:?} became the tag {tag}"));
                }
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            Err(message) => notes.push(message),
        }
    }
    tags
}

/// A category as a tag, or why it cannot be one.
pub fn tag_of(raw: &str) -> Result<Tag, String> {
    let mut out = String::new();
    for c in raw.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() {
        return Err(format!("category {raw:?} has no letters or digits; left out"));
    }
    Tag::parse(out).map_err(|_| format!("category {raw:?} is too long to be a tag (64 characters at most); left out"))
}

/// The slug: the link's last path segment, else the title, else a hash of the id.
fn slug_for(link: Option<&Url>, title: &str, id: &ArticleId) -> Slug {
    let from_link = link.and_then(|url| {
        let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
        let segment = percent_decode_str(segment).decode_utf8_lossy();
        let stem = match segment.rsplit_once('.') {
            Some((stem, ext)) if (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                stem.to_owned()
            }
            _ => segment.into_owned(),
        };
        (!matches!(stem.as_str(), "index" | "default")).then(|| slugify(&stem)).flatten()
    });
    from_link.or_else(|| slugify(title)).unwrap_or_else(|| {
        let hash = hex::encode(&Sha256::digest(id.as_str().as_bytes())[..4]);
        // Eight hex digits after a word always make a slug.
        Slug::parse(&format!("item-{hash}")).unwrap_or_else(|_| unreachable!("item-{{hex}} is a slug"))
    })
}

/// Text as a slug: accents dropped (NFKD), lower-case ASCII letters and
/// digits, every other run a single hyphen, at most [`Slug::MAX_LEN`].
pub fn slugify(text: &str) -> Option<Slug> {
    let mut out = String::new();
    for c in text.nfkd() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if unicode_normalization::char::is_combining_mark(c) {
            continue;
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    Slug::parse(cut_at_hyphen(out.trim_end_matches('-'), Slug::MAX_LEN)).ok()
}

fn cut_at_hyphen(slug: &str, max: usize) -> &str {
    if slug.len() <= max {
        return slug;
    }
    // ASCII only, so byte indices are character boundaries.
    let cut = &slug[..max];
    cut.rfind('-').map_or(cut, |i| &cut[..i]).trim_end_matches('-')
}

/// `slug`, or `slug-2`, `slug-3`… : the first one not in `taken`.
pub fn unique_slug(slug: &Slug, taken: &HashSet<String>) -> Slug {
    if !taken.contains(slug.as_str()) {
        return slug.clone();
    }
    (2u64..)
        .find_map(|n| {
            let suffix = format!("-{n}");
            let candidate = format!("{}{suffix}", cut_at_hyphen(slug.as_str(), Slug::MAX_LEN - suffix.len()));
            Slug::parse(&candidate).ok().filter(|s| !taken.contains(s.as_str()))
        })
        .unwrap_or_else(|| slug.clone())
}

/// Text without the control characters XML (and so herald's files) cannot carry.
fn xml_text(text: &str) -> String {
    text.chars().filter(|&c| crate::content::fields::is_xml_char(c)).collect()
}

#[cfg(test)]
mod tests;
