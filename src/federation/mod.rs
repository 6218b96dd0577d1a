//! ActivityPub: the publication's one account.
//!
//! - documents: discovery (WebFinger, NodeInfo, host-meta), the actor, and
//!   the typed activities herald sends and reads ([`activities`]); Notes
//!   themselves are rendered by [`crate::render::note`]. These are pure
//!   functions of settings, articles and the stored key.
//! - [`inbox`]: verifies signed activities ([`signature`]) and acts on them
//!   through the store.
//! - [`delivery`]: the engine that drains the durable queue to remote
//!   inboxes over [`client`]; [`outbox`] and [`profile`] decide what is
//!   queued for a publish or a change of the account.

pub use crate::activitystreams::{context, ACTIVITY_JSON};

pub mod activities;
pub mod actor;
pub mod blocks;
pub mod client;
pub mod delivery;
pub mod discovery;
pub mod inbox;
pub mod keys;
pub mod outbox;
pub mod profile;
pub mod signature;

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
