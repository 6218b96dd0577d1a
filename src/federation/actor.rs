//! The actor document of the publication's account.
//! <https://www.w3.org/TR/activitypub/#actor-objects>

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::config::{Account, Channel};
use crate::render::escape;

/// The actor as served at `/users/{account}`. `public_pem` is the stored
/// public key; `published` is when the account first existed.
pub fn actor(channel: &Channel, account: &Account, public_pem: &str, published: DateTime<Utc>) -> Value {
    let site = channel.base_url.as_str();
    let host = channel.base_url.host_str().unwrap_or_default();
    let mut actor = json!({
        "@context": super::context(),
        "id": account.actor,
        "type": account.actor_type,
        "preferredUsername": account.name.as_str(),
        "name": account.display_name,
        "summary": format!("<p>{}</p>", escape(&account.summary)),
        "url": site,
        "inbox": account.inbox,
        "outbox": account.outbox,
        "followers": account.followers,
        "following": account.following,
        "endpoints": { "sharedInbox": account.shared_inbox },
        "publicKey": {
            "id": account.key_id(),
            "owner": account.actor,
            "publicKeyPem": public_pem,
        },
        "published": published.to_rfc3339_opts(SecondsFormat::Secs, true),
        "manuallyApprovesFollowers": false,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "attachment": [{
            "type": "PropertyValue",
            "name": "Website",
            "value": format!(
                "<a href=\"{0}\" rel=\"me nofollow noopener noreferrer\" target=\"_blank\">{1}</a>",
                escape(site),
                escape(host)
            ),
        }],
        "attributionDomains": [host],
    });
    let object = actor.as_object_mut().expect("a json! object is an object");
    if let Some(icon) = &account.icon {
        object.insert("icon".into(), json!({ "type": "Image", "url": icon }));
    }
    if let Some(header) = &account.header {
        object.insert("image".into(), json!({ "type": "Image", "url": header }));
    }
    if !account.also_known_as.is_empty() {
        object.insert("alsoKnownAs".into(), json!(account.also_known_as));
    }
    if let Some(moved_to) = &account.moved_to {
        object.insert("movedTo".into(), json!(moved_to));
    }
    actor
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn the_actor_has_what_mastodon_needs() {
        let settings = Settings::load_with_env(
            None,
            [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())],
        )
        .unwrap();
        let published = DateTime::from_timestamp(1_722_844_800, 0).unwrap();
        let doc = actor(&settings.channel, &settings.account, "PEM", published);
        assert_eq!(doc["id"], "https://news.example.org/users/news");
        assert_eq!(doc["type"], "Service");
        assert_eq!(doc["preferredUsername"], "news");
        assert_eq!(doc["endpoints"]["sharedInbox"], "https://news.example.org/inbox");
        assert_eq!(doc["publicKey"]["id"], "https://news.example.org/users/news#main-key");
        assert_eq!(doc["publicKey"]["owner"], doc["id"]);
        assert_eq!(doc["manuallyApprovesFollowers"], false);
        assert_eq!(doc["attributionDomains"][0], "news.example.org");
        assert_eq!(doc["attachment"][0]["type"], "PropertyValue");
        assert_eq!(doc["published"], "2024-08-05T08:00:00Z");
        assert!(doc.get("movedTo").is_none());
    }
}
