//! HTML and text as feeds carry them, turned into what an article file holds:
//! plain text for titles and summaries, a Markdown body that keeps HTML as
//! it is.

use std::borrow::Cow;

use crate::render::escape;

/// The text of an HTML fragment: tags dropped (scripts and styles with
/// their content), entities decoded, whitespace runs collapsed to one
/// space, as a browser shows it.
pub fn to_text(html: &str) -> String {
    // ammonia parses with html5ever, so every entity is decoded once parsed;
    // its serializer then escapes only `&`, `<`, `>` and U+00A0 in text,
    // which `unescape` undoes.
    let cleaned = ammonia::Builder::empty().clean(html).to_string();
    collapse_whitespace(&unescape(&cleaned))
}

/// Whitespace runs (newlines included) become one space; the ends are trimmed.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Undoes herald's own escaping ([`escape`]) and html5ever's serializer:
/// `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&nbsp;`, then `&amp;` last.
pub fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}

/// Plain text (JSON Feed `content_text`, Atom `type="text"`) as HTML
/// paragraphs, one per blank-line-separated block.
pub fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| format!("<p>{}</p>", escape(paragraph)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// CommonMark §4.6 condition 6: the tags that open an HTML block that runs
/// to the next blank line.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "search",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
];

/// An HTML fragment as a Markdown body that renders back to the same HTML.
///
/// Markdown passes an HTML block through untouched, but only from a line
/// that opens a block-level tag to the next blank line; past it, text would
/// be read as Markdown (`*`, `_`, smart quotes, indented code). So blank
/// lines become an empty comment (the sanitizer removes comments, so inside
/// `<pre>` the line comes back empty), and a fragment that does not open
/// with a block tag is wrapped in a `<div>`.
pub fn as_markdown(html: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in html.trim().lines() {
        lines.push(if line.trim().is_empty() { "<!-- -->" } else { line });
    }
    let body = lines.join("\n");
    if opens_html_block(&body) {
        body
    } else {
        format!("<div>\n{body}\n</div>")
    }
}

fn opens_html_block(html: &str) -> bool {
    let Some(rest) = html.strip_prefix('<') else { return false };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let name_len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = rest[..name_len].to_ascii_lowercase();
    let after = rest[name_len..].chars().next();
    BLOCK_TAGS.contains(&name.as_str()) && matches!(after, None | Some(' ' | '\t' | '\n' | '>' | '/'))
}

/// The lead image herald puts at the top of a full article's content
/// (`render::content_html`): `<figure><img src=… alt=…[ width=… height=…]></figure>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadFigure {
    /// `src`, unescaped.
    pub src: String,
    /// `alt`, unescaped.
    pub alt: String,
    /// `width` and `height`, when both are given.
    pub size: Option<(u32, u32)>,
}

/// Splits herald's lead figure off the start of `html`, if it is there in
/// exactly the form herald writes: republishing the body with the image
/// would otherwise show the figure twice.
pub fn split_lead_figure(html: &str) -> Option<(LeadFigure, &str)> {
    let rest = html.trim_start().strip_prefix("<figure><img src=\"")?;
    let (src, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(" alt=\"")?;
    let (alt, rest) = rest.split_once('"')?;
    let (attributes, body) = rest.split_once("></figure>")?;
    let size = if attributes.is_empty() {
        None
    } else {
        let rest = attributes.strip_prefix(" width=\"")?;
        let (width, rest) = rest.split_once('"')?;
        let height = rest.strip_prefix(" height=\"")?.strip_suffix('"')?;
        Some((width.parse().ok()?, height.parse().ok()?))
    };
    let figure = LeadFigure { src: unescape(src).into_owned(), alt: unescape(alt).into_owned(), size };
    Some((figure, body.strip_prefix('\n').unwrap_or(body)))
}

/// At most `max` characters of `text`, cut at a word boundary with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = cut.rfind(char::is_whitespace).filter(|&i| i > max / 2).map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_the_text_a_reader_sees() {
        assert_eq!(
            to_text("<p>Un convoi &lt;tombe&gt; &amp; <b>brûle</b></p>\n<p>Deux</p>"),
            "Un convoi <tombe> & brûle Deux"
        );
        assert_eq!(to_text("a<script>alert(1)</script> &eacute;t&#233; &quot;x&quot;"), "a été \"x\"");
        assert_eq!(to_text("Le 27 juillet, un convoi &lt;tombe&gt;"), "Le 27 juillet, un convoi <tombe>");
    }

    #[test]
    fn html_bodies_survive_markdown() {
        let url = url::Url::parse("https://news.example.org/articles/a").unwrap();
        for html in [
            "<p>Premier « paragraphe » avec *étoiles* et _tirets_.</p>\n<p>Second.</p>",
            "<table>\n<thead>\n<tr>\n<th>town</th>\n</tr>\n</thead>\n</table>",
            "<p>one</p>\n\n<p>after a blank line, \"quotes\" and *stars*</p>",
        ] {
            let rendered = crate::content::markdown::to_html(&as_markdown(html), &url);
            assert_eq!(rendered, html, "{html}");
        }
        let inline = "Text *not* emphasis and <b>bold</b>";
        let rendered = crate::content::markdown::to_html(&as_markdown(inline), &url);
        assert_eq!(rendered, format!("<div>\n{inline}\n</div>"));
        let pre = "<div><pre>a\n\n    b</pre></div>";
        let rendered = crate::content::markdown::to_html(&as_markdown(pre), &url);
        assert_eq!(rendered, pre);
    }

    #[test]
    fn herald_lead_figures_are_split_off() {
        let html = "<figure><img src=\"https://x.org/a.jpg?a=1&amp;b=2\" alt=\"Map &quot;N&quot;\" width=\"1200\" height=\"800\"></figure>\n<p>Body</p>";
        let (figure, body) = split_lead_figure(html).unwrap();
        assert_eq!(figure.src, "https://x.org/a.jpg?a=1&b=2");
        assert_eq!(figure.alt, "Map \"N\"");
        assert_eq!(figure.size, Some((1200, 800)));
        assert_eq!(body, "<p>Body</p>");
        assert!(split_lead_figure("<figure><img src=\"a\"></figure>").is_none());
        assert!(split_lead_figure("<p>x</p>").is_none());
    }

    #[test]
    fn truncation_cuts_at_a_word() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("one two three four", 12), "one two…");
    }
}
