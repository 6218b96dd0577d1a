//! Discovery documents: WebFinger (RFC 7033), host-meta (RFC 6415) and
//! NodeInfo 2.1 (<https://nodeinfo.diaspora.software/protocol>).

use serde_json::{json, Value};
use url::Url;

use crate::config::{Account, Channel};

/// Media type of WebFinger answers.
pub const JRD: &str = "application/jrd+json";
/// Media type of NodeInfo 2.1 documents.
pub const NODEINFO: &str = "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"";

/// Whether `resource` names the account: `acct:name@host` (case-insensitive,
/// with or without `acct:`) or the actor's URL.
pub fn is_account(account: &Account, resource: &str) -> bool {
    let resource = resource.trim();
    if resource == account.actor.as_str() {
        return true;
    }
    let acct = resource.strip_prefix("acct:").unwrap_or(resource);
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    match acct.rsplit_once('@') {
        Some((name, host)) => {
            name.eq_ignore_ascii_case(account.name.as_str()) && host.eq_ignore_ascii_case(&account.host)
        }
        None => false,
    }
}

/// The JRD for the account.
pub fn webfinger(channel: &Channel, account: &Account) -> Value {
    json!({
        "subject": account.acct(),
        "aliases": [account.actor, channel.base_url],
        "links": [
            { "rel": "self", "type": super::ACTIVITY_JSON, "href": account.actor },
            { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": account.actor },
        ]
    })
}

/// host-meta (XRD) pointing older software at WebFinger.
pub fn host_meta(channel: &Channel) -> String {
    let template = format!("{}.well-known/webfinger?resource={{uri}}", channel.base_url);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n  \
         <Link rel=\"lrdd\" type=\"{}\" template=\"{}\"/>\n</XRD>\n",
        JRD,
        crate::render::escape(&template)
    )
}

/// `/.well-known/nodeinfo`: where the NodeInfo document is.
pub fn nodeinfo_links(channel: &Channel) -> Value {
    let href: Url = channel.url("nodeinfo/2.1");
    json!({ "links": [{ "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": href }] })
}

/// `/nodeinfo/2.1`: software, protocols and usage.
pub fn nodeinfo(channel: &Channel, local_posts: i64) -> Value {
    json!({
        "version": "2.1",
        "software": {
            "name": "herald",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": ["atom1.0", "rss2.0"] },
        "openRegistrations": false,
        "usage": {
            "users": { "total": 1, "activeMonth": 1, "activeHalfyear": 1 },
            "localPosts": local_posts,
        },
        "metadata": { "nodeName": channel.title, "nodeDescription": channel.description },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> Settings {
        Settings::load_with_env(None, [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())])
            .unwrap()
    }

    #[test]
    fn webfinger_resources_match_the_account_only() {
        let account = settings().account;
        for yes in [
            "acct:news@news.example.org",
            "acct:NEWS@News.Example.org",
            "news@news.example.org",
            "https://news.example.org/users/news",
        ] {
            assert!(is_account(&account, yes), "{yes}");
        }
        for no in [
            "acct:other@news.example.org",
            "acct:news@example.org",
            "acct:news",
            "https://news.example.org/users/other",
            "",
        ] {
            assert!(!is_account(&account, no), "{no}");
        }
    }

    #[test]
    fn the_jrd_links_the_actor() {
        let settings = settings();
        let jrd = webfinger(&settings.channel, &settings.account);
        assert_eq!(jrd["subject"], "acct:news@news.example.org");
        assert_eq!(jrd["links"][0]["type"], "application/activity+json");
        assert_eq!(jrd["links"][0]["href"], "https://news.example.org/users/news");
    }
}
