//! Markdown to sanitized HTML with absolute URLs.

use std::borrow::Cow;

use ammonia::UrlRelative;
use pulldown_cmark::{html, Options, Parser};
use url::Url;

/// Gives the URL a relative URL of the body stands for when it names a
/// media file of the content directory (`![carte](img/carte.png)`), `None`
/// for any other.
pub type MediaUrl<'a> = dyn Fn(&str) -> Option<Url> + Send + Sync + 'a;

/// Renders Markdown to HTML, sanitizes it (no scripts, styles or event
/// handlers) and rewrites every relative URL against `base`, the article's
/// canonical URL, so the HTML reads the same in a feed reader as on the site.
pub fn to_html(markdown: &str, base: &Url) -> String {
    to_html_with(markdown, base, &|_| None)
}

/// [`to_html`], where a relative URL that `media` knows (a media file)
/// becomes the URL it gives instead of being resolved against `base`.
pub fn to_html_with(markdown: &str, base: &Url, media: &MediaUrl<'_>) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_SMART_PUNCTUATION;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    sanitize_with(&raw, base, media)
}

/// Sanitizes an HTML fragment and makes its URLs absolute against `base`.
pub fn sanitize(fragment: &str, base: &Url) -> String {
    sanitize_with(fragment, base, &|_| None)
}

fn sanitize_with(fragment: &str, base: &Url, media: &MediaUrl<'_>) -> String {
    ammonia::Builder::default()
        .url_relative(UrlRelative::Custom(Box::new(Resolve { base, media })))
        .clean(fragment)
        .to_string()
        .trim()
        .to_owned()
}

/// What `UrlRelative::RewriteWithBase` does (`base.join(url)`), media
/// files first.
struct Resolve<'a> {
    base: &'a Url,
    media: &'a MediaUrl<'a>,
}

impl<'a> ammonia::UrlRelativeEvaluate<'a> for Resolve<'a> {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        (self.media)(url).or_else(|| self.base.join(url).ok()).map(|url| Cow::Owned(url.into()))
    }
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
    fn relative_urls_naming_media_files_become_their_media_urls() {
        let media = |url: &str| {
            (url == "img/kidal.png").then(|| Url::parse("https://news.example.org/media/img/kidal.png?v=1").unwrap())
        };
        let html = to_html_with("![Kidal](img/kidal.png) [autre](autre)", &base(), &media);
        assert!(html.contains(r#"src="https://news.example.org/media/img/kidal.png?v=1""#), "{html}");
        assert!(html.contains(r#"href="https://news.example.org/articles/autre""#), "{html}");
    }

    #[test]
    fn scripts_and_event_handlers_are_removed() {
        let html = to_html("hello <script>alert(1)</script><img src=x onerror=alert(1)>", &base());
        assert!(!html.contains("script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }
}
