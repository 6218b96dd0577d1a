//! ActivityStreams 2.0 vocabulary shared by the renderers and the federation
//! code: the JSON-LD context, the media type and the public collection. A
//! leaf module: it imports nothing of herald's.

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

/// The public addressing collection (`to` of public posts).
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
