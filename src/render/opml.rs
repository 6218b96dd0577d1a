//! `/feeds.opml`: every feed of the publication in OPML 2.0
//! (<http://opml.org/spec2.opml>), so that a reader or an aggregator can
//! subscribe to all of them, or pick some, in one step.
//!
//! Each feed (the main feeds, each tag, each author) is an outline holding
//! one `type="rss"` outline per format (OPML calls every feed `rss`); a
//! reader that imports outlines as folders shows one folder per feed.

use chrono::{DateTime, Utc};

use super::{escape, Format, Scope};
use crate::config::Channel;

/// Renders the OPML document of `scopes`, with `updated` as its date.
pub fn feeds(channel: &Channel, scopes: &[Scope], updated: DateTime<Utc>) -> Vec<u8> {
    let mut out = String::with_capacity(512 + scopes.len() * 768);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n<head>\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&channel.title)));
    out.push_str(&format!("<dateCreated>{}</dateCreated>\n", updated.to_rfc2822()));
    out.push_str(&format!("<ownerName>{}</ownerName>\n", escape(&channel.author)));
    out.push_str(&format!("<ownerId>{}</ownerId>\n", escape(channel.base_url.as_str())));
    out.push_str("<docs>http://opml.org/spec2.opml</docs>\n</head>\n<body>\n");
    for scope in scopes {
        let title = escape(&scope.title(channel)).into_owned();
        out.push_str(&format!("<outline text=\"{title}\" title=\"{title}\">\n"));
        for format in Format::ALL {
            out.push_str(&format!(
                "<outline type=\"rss\" version=\"{}\" text=\"{title} ({label})\" title=\"{title} ({label})\" \
                 xmlUrl=\"{}\" htmlUrl=\"{}\" language=\"{}\"/>\n",
                match format {
                    Format::Rss => "RSS2",
                    Format::Atom => "ATOM",
                    Format::Json => "JSONFEED",
                },
                escape(scope.feed_url(channel, format).as_str()),
                escape(scope.page_url(channel).as_str()),
                escape(channel.language.as_str()),
                label = format.label(),
            ));
        }
        out.push_str("</outline>\n");
    }
    out.push_str("</body>\n</opml>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::channel;
    use super::*;
    use crate::article::{AuthorKey, Tag};

    #[test]
    fn every_feed_is_an_outline_with_its_title_and_urls() {
        let scopes = [
            Scope::All,
            Scope::Tag(Tag::parse("mali").unwrap()),
            Scope::Author(AuthorKey::of("Anne <Dupont>").unwrap(), "Anne <Dupont>".to_owned()),
        ];
        let text = String::from_utf8(feeds(&channel(), &scopes, DateTime::UNIX_EPOCH)).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">"));
        assert_eq!(text.matches("xmlUrl=").count(), 9, "{text}");
        assert!(text.contains(r#"xmlUrl="https://news.example.org/tags/mali/feed.atom""#), "{text}");
        assert!(text.contains(r#"xmlUrl="https://news.example.org/authors/anne-dupont/feed.json""#), "{text}");
        assert!(text.contains("Anne &#60;Dupont&#62;") || text.contains("Anne &lt;Dupont&gt;"), "{text}");
        assert!(!text.contains("<Dupont>"), "{text}");
    }
}
