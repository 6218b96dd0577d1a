//! Markdown to sanitized HTML with absolute URLs.

use ammonia::UrlRelative;
use pulldown_cmark::{html, Options, Parser};
use url::Url;

/// Renders Markdown to HTML, sanitizes it (no scripts, styles or event
/// handlers) and rewrites every relative URL against `base`, the article's
/// canonical URL, so the HTML reads the same in a feed reader as on the site.
pub fn to_html(markdown: &str, base: &Url) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_SMART_PUNCTUATION;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    sanitize(&raw, base)
}

/// Sanitizes an HTML fragment and makes its URLs absolute against `base`.
pub fn sanitize(fragment: &str, base: &Url) -> String {
    ammonia::Builder::default()
        .url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .clean(fragment)
        .to_string()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.org/articles/mali").unwrap()
    }

    #[test]
    fn relative_links_and_images_become_absolute() {
        let html = to_html("[carte](../maps/mali.html) ![Carte](/img/mali.png)", &base());
        assert!(html.contains(r#"href="https://news.example.org/maps/mali.html""#), "{html}");
        assert!(html.contains(r#"src="https://news.example.org/img/mali.png""#), "{html}");
    }

    #[test]
    fn scripts_and_event_handlers_are_removed() {
        let html = to_html("hello <script>alert(1)</script><img src=x onerror=alert(1)>", &base());
        assert!(!html.contains("script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }
}
