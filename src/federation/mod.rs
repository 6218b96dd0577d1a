//! ActivityPub: the publication's one account. This part holds the wire
//! documents of discovery (WebFinger, NodeInfo, host-meta), the actor and
//! its keypair; Notes themselves are rendered by [`crate::render::note`].
//!
//! Everything here is a pure function of settings, articles and the stored
//! key: no database, no clock, no network.

pub mod actor;
pub mod client;
pub mod delivery;
pub mod discovery;
pub mod inbox;
pub mod keys;
pub mod outbox;
pub mod signature;

/// The JSON-LD context of herald's actor and objects: ActivityStreams, the
/// security vocabulary (`publicKey`) and the Mastodon extensions it uses,
/// defined inline so that no peer has to fetch another context.
pub fn context() -> serde_json::Value {
    serde_json::json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
            "sensitive": "as:sensitive",
            "Hashtag": "as:Hashtag",
            "alsoKnownAs": { "@id": "as:alsoKnownAs", "@type": "@id" },
            "movedTo": { "@id": "as:movedTo", "@type": "@id" },
            "toot": "http://joinmastodon.org/ns#",
            "discoverable": "toot:discoverable",
            "indexable": "toot:indexable",
            "attributionDomains": { "@id": "toot:attributionDomains", "@type": "@id" },
            "schema": "http://schema.org#",
            "PropertyValue": "schema:PropertyValue",
            "value": "schema:value"
        }
    ])
}

/// The media type of ActivityPub documents. Mastodon refuses plain `application/json`.
pub const ACTIVITY_JSON: &str = "application/activity+json";

/// Whether an `Accept` header asks for ActivityStreams JSON
/// (`application/activity+json`, or `application/ld+json` with the AS profile).
pub fn wants_activity_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        match parts.next().map(str::to_ascii_lowercase).as_deref() {
            Some("application/activity+json") => true,
            Some("application/ld+json") => {
                parts.any(|p| p.replace(' ', "").contains("profile=\"https://www.w3.org/ns/activitystreams\""))
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_json_is_recognised_in_accept_headers() {
        assert!(wants_activity_json(Some("application/activity+json")));
        assert!(wants_activity_json(Some(
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\", text/html;q=0.1"
        )));
        assert!(!wants_activity_json(Some("application/ld+json")));
        assert!(!wants_activity_json(Some("text/html,application/xhtml+xml")));
        assert!(!wants_activity_json(None));
    }
}
