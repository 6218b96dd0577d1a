//! herald as the WebSub hub of its own feeds
//! (<https://www.w3.org/TR/websub/>), at `{base_url}websub`.
//!
//! - [`hub`]: subscription requests (§5.1), validated, answered 202, then
//!   the subscriber's intent verified (§5.3) before anything is stored.
//! - [`distribute_changes`]: after every change of the published site,
//!   each topic with live subscriptions (and the main feeds, when external
//!   hubs are configured) is compared with what was last distributed; a
//!   changed topic is queued once, however many instances notice it, to
//!   the same durable delivery queue as federation (§7), whose engine sends
//!   it with [`distribution_headers`].
//!
//! The hub never renders: the content distributed is the representation
//! the routes serve (`http::cache`), byte for byte, with its media type.

pub mod hub;

use std::collections::BTreeSet;

use aws_lc_rs::hmac;
use bytes::Bytes;
use chrono::Utc;
use url::Url;

use crate::config::Settings;
use crate::error::StoreError;
use crate::federation::client::SignedHeaders;
use crate::http::cache::SiteCache;
use crate::render::Format;
use crate::store::{Distribution, Store};

/// The media type of subscription requests and hub pings.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// herald's hub URL: `{base_url}websub`.
pub fn hub_url(settings: &Settings) -> Url {
    settings.channel.url("websub")
}

/// The headers of a distribution of `body` (the topic's content) to a
/// subscriber (§7): its media type, the hub and self links, and, when the
/// subscription has a secret, `X-Hub-Signature: sha256=<hex HMAC of body>`
/// (§8).
pub fn distribution_headers(
    hub: Option<&str>,
    topic: &str,
    media_type: &str,
    secret: Option<&str>,
    body: &[u8],
) -> SignedHeaders {
    let link = match hub {
        Some(hub) => format!("<{hub}>; rel=\"hub\", <{topic}>; rel=\"self\""),
        None => format!("<{topic}>; rel=\"self\""),
    };
    let mut headers = vec![("content-type", media_type.to_owned()), ("link", link)];
    if let Some(secret) = secret {
        headers.push(("x-hub-signature", signature(secret, body)));
    }
    headers
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// A topic's content as herald serves it now.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The bytes served.
    pub body: Bytes,
    /// Their `Content-Type`.
    pub media_type: String,
    /// Their strong tag (a content hash).
    pub tag: String,
}

/// The feed herald serves at `topic`, `None` when it serves none there.
pub async fn feed(cache: &SiteCache, topic: &Url) -> Result<Option<Feed>, StoreError> {
    Ok(cache.topic(topic).await?.map(|rep| Feed {
        body: rep.body().clone(),
        media_type: rep.content_type().to_str().unwrap_or("application/octet-stream").to_owned(),
        tag: rep.tag().to_owned(),
    }))
}

/// The main feeds (`feed.rss`, `feed.atom`, `feed.json`): the topics
/// external hubs are pinged about.
pub fn main_topics(settings: &Settings) -> Vec<String> {
    Format::ALL.into_iter().map(|f| settings.channel.url(&format!("feed.{}", f.extension())).to_string()).collect()
}

/// Queues a distribution of every topic whose content changed since it was
/// last distributed: topics with live subscriptions, and the main feeds
/// when `websub.hubs` names external hubs (they are pinged). Call it after
/// the site snapshot was rebuilt, and once at start (a change made while
/// herald was down goes out then). Returns the jobs queued.
#[tracing::instrument(skip_all, err)]
pub async fn distribute_changes(store: &Store, settings: &Settings, cache: &SiteCache) -> Result<u64, StoreError> {
    let now = Utc::now();
    let mut topics: BTreeSet<String> = store.websub_live_topics(now).await?.into_iter().collect();
    let main = if settings.websub.hubs.is_empty() { Vec::new() } else { main_topics(settings) };
    topics.extend(main.iter().cloned());
    let hubs: Vec<String> = settings.websub.hubs.iter().map(Url::to_string).collect();
    let mut queued = 0;
    for topic in topics {
        let Ok(url) = Url::parse(&topic) else { continue };
        // Read before the feed: a rebuild in between makes the revision
        // look older than the content, never newer.
        let revision = cache.snapshot().revision;
        // A tag feed whose articles are all retracted is served no more:
        // nothing to send until it is again.
        let Some(feed) = feed(cache, &url).await? else { continue };
        let Ok(body) = std::str::from_utf8(&feed.body) else {
            tracing::warn!(topic, "the feed is not UTF-8; not distributed");
            continue;
        };
        let distribution = Distribution {
            topic: &topic,
            tag: &feed.tag,
            revision,
            body,
            media_type: &feed.media_type,
            hubs: if main.contains(&topic) { &hubs } else { &[] },
        };
        if let Some(jobs) = store.distribute(&distribution, now).await? {
            tracing::info!(topic, jobs, "topic changed; distribution queued");
            queued += jobs;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(signature("Jefe", b"what do ya want for nothing?"), expected);
    }

    #[test]
    fn distributions_link_the_hub_and_the_topic_and_sign_only_with_a_secret() {
        let headers = distribution_headers(
            Some("https://h.example/websub"),
            "https://h.example/feed.atom",
            "application/atom+xml",
            None,
            b"x",
        );
        assert_eq!(
            headers[1].1,
            "<https://h.example/websub>; rel=\"hub\", <https://h.example/feed.atom>; rel=\"self\""
        );
        assert!(headers.iter().all(|(name, _)| *name != "x-hub-signature"));
        let signed = distribution_headers(None, "t", "m", Some("s"), b"x");
        assert_eq!(signed[2], ("x-hub-signature", signature("s", b"x")));
    }
}
