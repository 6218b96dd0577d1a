//! HTML pages (askama templates under `templates/`): the front page, tag
//! pages, article pages and the few message pages (404, 410, licence).
//!
//! Every page advertises the feeds with `<link rel="alternate">` so that a
//! reader given the site's address finds them (autodiscovery).

use askama::Template;

use super::{Format, Scope};
use crate::article::{Article, AuthorKey};
use crate::config::{Account, Channel};

/// A `<link rel="alternate">` to a feed.
pub struct FeedLink {
    /// Media type.
    pub media_type: &'static str,
    /// Human title.
    pub title: String,
    /// Short label for the footer.
    pub label: &'static str,
    /// Absolute URL.
    pub href: String,
}

/// The interface strings of the pages, in the channel's language.
pub struct Labels {
    /// Marks a teaser in lists.
    pub teaser: &'static str,
    /// Precedes the update time.
    pub updated: &'static str,
    /// Shown when nothing is published.
    pub empty: &'static str,
    /// Link back to the front page.
    pub home: &'static str,
    /// 404 heading and text.
    pub not_found: (&'static str, &'static str),
    /// 410 heading and text.
    pub gone: (&'static str, &'static str),
    /// Licence page heading.
    pub license: &'static str,
    /// How to follow the account, before its handle.
    pub follow_hint: &'static str,
    /// Before the list of a page's feeds.
    pub feeds: &'static str,
    /// The subscription page's title and links to it.
    pub subscribe: &'static str,
    /// Subscription page: heading and text on feed readers.
    pub in_a_reader: (&'static str, &'static str),
    /// Subscription page: WebSub.
    pub websub: &'static str,
    /// Subscription page: heading and text on e-mail.
    pub by_email: (&'static str, &'static str),
    /// Subscription page: heading, text, and the text before the
    /// interaction URL, on Mastodon.
    pub from_mastodon: (&'static str, &'static str, &'static str),
    /// Placeholder for the reader's own server.
    pub your_server: &'static str,
}

const FRENCH: Labels = Labels {
    teaser: "brève",
    updated: "mis à jour",
    empty: "Rien n’a encore été publié.",
    home: "Retour à l’accueil",
    not_found: ("Page introuvable", "Aucune page ne correspond à cette adresse."),
    gone: ("Article retiré", "Cet article a été retiré par la rédaction."),
    license: "Conditions de republication",
    follow_hint: "Pour suivre cette publication depuis Mastodon ou toute instance du fédivers, cherchez",
    feeds: "Fils :",
    subscribe: "S’abonner",
    in_a_reader: (
        "Dans un lecteur de flux",
        "Copiez l’une de ces adresses dans votre lecteur (Feedly, Inoreader, NetNewsWire, Miniflux…) ; \
         elles donnent les mêmes articles, dans trois formats. Le fichier OPML les contient toutes, \
         avec les fils par thème et par auteur.",
    ),
    websub: "Les fils annoncent un hub WebSub : les lecteurs qui le gèrent reçoivent chaque article dès sa publication.",
    by_email: (
        "Par courriel",
        "Ces services gratuits envoient chaque nouvel article par courriel à partir du fil (ils ne dépendent pas de nous) :",
    ),
    from_mastodon: (
        "Depuis Mastodon et le fédivers",
        "Cherchez ce compte dans votre instance et cliquez sur « Suivre » :",
        "Ou ouvrez, en remplaçant le nom de votre instance :",
    ),
    your_server: "votre-instance.example",
};

const ENGLISH: Labels = Labels {
    teaser: "teaser",
    updated: "updated",
    empty: "Nothing has been published yet.",
    home: "Back to the front page",
    not_found: ("Page not found", "No page matches this address."),
    gone: ("Article retracted", "The newsroom has retracted this article."),
    license: "Republishing terms",
    follow_hint: "To follow this publication from Mastodon or any fediverse server, search your instance for",
    feeds: "Feeds:",
    subscribe: "Subscribe",
    in_a_reader: (
        "In a feed reader",
        "Copy one of these addresses into your reader (Feedly, Inoreader, NetNewsWire, Miniflux…); they carry \
         the same articles in three formats. The OPML file lists them all, with the feeds per tag and per author.",
    ),
    websub: "The feeds name a WebSub hub: readers that use it get each article the moment it is published.",
    by_email: ("By e-mail", "These free services e-mail you each new article from the feed (they are not run by us):"),
    from_mastodon: (
        "From Mastodon and the fediverse",
        "Search your server for this account and press “Follow”:",
        "Or open, with your own server’s name:",
    ),
    your_server: "your-server.example",
};

fn labels(channel: &Channel) -> &'static Labels {
    if channel.language.as_str().split('-').next() == Some("fr") {
        &FRENCH
    } else {
        &ENGLISH
    }
}

fn feed_links(channel: &Channel, scope: &Scope) -> Vec<FeedLink> {
    Format::ALL
        .into_iter()
        .map(|format| FeedLink {
            media_type: format.link_type(),
            title: format!("{} ({})", scope.title(channel), format.label()),
            label: format.label(),
            href: scope.feed_url(channel, format).into(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    lang: &'a str,
    channel: &'a Channel,
    labels: &'static Labels,
    feeds: Vec<FeedLink>,
    heading: String,
    articles: Vec<&'a Article>,
}

#[derive(Template)]
#[template(path = "article.html")]
struct ArticlePage<'a> {
    lang: &'a str,
    channel: &'a Channel,
    labels: &'static Labels,
    feeds: Vec<FeedLink>,
    article: &'a Article,
    /// Each byline, with its author page.
    bylines: Vec<(&'a str, Option<String>)>,
    creator: String,
}

#[derive(Template)]
#[template(path = "subscribe.html")]
struct SubscribePage<'a> {
    lang: &'a str,
    channel: &'a Channel,
    labels: &'static Labels,
    feeds: Vec<FeedLink>,
    account: &'a Account,
    opml: String,
    handle: String,
    handle_uri: String,
    email_services: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage<'a> {
    lang: &'a str,
    channel: &'a Channel,
    labels: &'static Labels,
    feeds: Vec<FeedLink>,
    account: &'a Account,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    lang: &'a str,
    channel: &'a Channel,
    labels: &'static Labels,
    feeds: Vec<FeedLink>,
    heading: &'a str,
    message: &'a str,
}

fn render(template: &impl Template) -> Vec<u8> {
    // The templates are compiled in and their inputs are plain values, so
    // rendering cannot fail short of running out of memory.
    template.render().expect("rendering a compiled template to memory cannot fail").into_bytes()
}

/// The front page (`Scope::All`), a tag page or an author page: the
/// published articles, newest first, and the page's feeds.
pub fn index(channel: &Channel, scope: &Scope, articles: &[Article]) -> Vec<u8> {
    render(&IndexPage {
        lang: channel.language.as_str(),
        channel,
        labels: labels(channel),
        feeds: feed_links(channel, scope),
        heading: scope.title(channel),
        articles: super::visible(articles).collect(),
    })
}

/// An article page, with OpenGraph metadata for link previews and
/// `fediverse:creator`, so that Mastodon's preview card credits the account.
pub fn article(channel: &Channel, account: &Account, article: &Article) -> Vec<u8> {
    render(&ArticlePage {
        lang: article.language.as_str(),
        channel,
        labels: labels(channel),
        feeds: feed_links(channel, &Scope::All),
        bylines: super::authors(channel, article)
            .into_iter()
            .map(|name| (name, AuthorKey::of(name).map(|key| channel.url(&format!("authors/{key}")).to_string())))
            .collect(),
        creator: format!("@{}@{}", account.name, account.host),
        article,
    })
}

/// `/subscribe`: how to follow the publication in a feed reader, by
/// e-mail and from Mastodon, with every address ready to copy.
pub fn subscribe(channel: &Channel, account: &Account) -> Vec<u8> {
    let atom = Scope::All.feed_url(channel, Format::Atom);
    let encoded =
        |url: &str| percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC).to_string();
    let handle = format!("@{}@{}", account.name, account.host);
    render(&SubscribePage {
        lang: channel.language.as_str(),
        channel,
        labels: labels(channel),
        feeds: feed_links(channel, &Scope::All),
        account,
        opml: channel.url("feeds.opml").into(),
        handle_uri: encoded(&account.acct()),
        handle,
        email_services: vec![
            ("Blogtrottr", format!("https://blogtrottr.com/?subscribe={}", encoded(atom.as_str()))),
            ("FeedRabbit", format!("https://feedrabbit.com/subscriptions/new?url={}", encoded(atom.as_str()))),
        ],
    })
}

/// The HTML profile of the ActivityPub account, for browsers: its handle,
/// how to follow it, and the feeds.
pub fn profile(channel: &Channel, account: &Account) -> Vec<u8> {
    render(&ProfilePage {
        lang: channel.language.as_str(),
        channel,
        labels: labels(channel),
        feeds: feed_links(channel, &Scope::All),
        account,
    })
}

/// The 404 page.
pub fn not_found(channel: &Channel) -> Vec<u8> {
    let (heading, message) = labels(channel).not_found;
    message_page(channel, heading, message)
}

/// The 410 page of a retracted article.
pub fn gone(channel: &Channel) -> Vec<u8> {
    let (heading, message) = labels(channel).gone;
    message_page(channel, heading, message)
}

/// The licence page: the channel's rights statement.
pub fn license(channel: &Channel) -> Vec<u8> {
    message_page(channel, labels(channel).license, &channel.rights)
}

fn message_page(channel: &Channel, heading: &str, message: &str) -> Vec<u8> {
    render(&MessagePage {
        lang: channel.language.as_str(),
        channel,
        labels: labels(channel),
        feeds: feed_links(channel, &Scope::All),
        heading,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{channel, full, retracted, teaser};
    use super::*;

    #[test]
    fn the_front_page_advertises_every_feed_and_lists_published_articles() {
        let page = String::from_utf8(index(&channel(), &Scope::All, &[full(), teaser(), retracted()])).unwrap();
        assert!(page.contains(r#"<html lang="fr">"#));
        for (ty, href) in [
            ("application/rss+xml", "https://news.example.org/feed.rss"),
            ("application/atom+xml", "https://news.example.org/feed.atom"),
            ("application/feed+json", "https://news.example.org/feed.json"),
        ] {
            assert!(page.contains(&format!(r#"<link rel="alternate" type="{ty}""#)), "{ty}");
            assert!(page.contains(href), "{href}");
        }
        assert!(page.contains("Mali : l’embuscade de Tin Zaouatine &#38; ses suites"), "{page}");
        assert!(page.contains("https://news.example.org/articles/chili"));
        assert!(!page.contains("articles/retire"));
    }

    #[test]
    fn an_article_page_has_its_body_opengraph_and_escaped_text() {
        let account = crate::config::Settings::load_with_env(None, Vec::new()).unwrap().account;
        let page = String::from_utf8(article(&channel(), &account, &full())).unwrap();
        assert!(page.contains(r#"<meta name="fediverse:creator" content="@news@127.0.0.1:8080">"#), "{page}");
        assert!(page.contains("<p>Premier paragraphe.</p>"));
        assert!(page.contains(r#"<meta property="og:image" content="https://news.example.org/img/carte.jpg">"#));
        assert!(page.contains("un convoi &#60;tombe&#62;") || page.contains("un convoi &lt;tombe&gt;"), "{page}");
        assert!(page.contains(r#"href="https://news.example.org/tags/mali""#));
        assert!(
            page.contains(
                r#"<a href="https://news.example.org/authors/la-r%C3%A9daction" rel="author">La rédaction</a>"#
            ),
            "{page}"
        );
    }

    #[test]
    fn the_subscribe_page_has_every_address_to_copy() {
        let account = crate::config::Settings::load_with_env(None, Vec::new()).unwrap().account;
        let page = String::from_utf8(subscribe(&channel(), &account)).unwrap();
        for href in [
            "https://news.example.org/feed.rss",
            "https://news.example.org/feed.atom",
            "https://news.example.org/feed.json",
            "https://news.example.org/feeds.opml",
            "@news@127.0.0.1:8080",
            "https://blogtrottr.com/?subscribe=https%3A%2F%2Fnews%2Eexample%2Eorg%2Ffeed%2Eatom",
        ] {
            assert!(page.contains(&format!("value=\"{href}\"")) || page.contains(href), "{href}: {page}");
        }
    }

    #[test]
    fn an_author_page_lists_its_feeds() {
        let scope = Scope::Author(AuthorKey::of("La rédaction").unwrap(), "La rédaction".into());
        let page = String::from_utf8(index(&channel(), &scope, &[full()])).unwrap();
        assert!(page.contains("https://news.example.org/authors/la-r%C3%A9daction/feed.atom"), "{page}");
        assert!(page.contains(r#"<link rel="alternate" type="application/feed+json""#), "{page}");
    }
}
