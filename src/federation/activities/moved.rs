//! `Move`: the account moved to another one (`federation.moved_to`);
//! followers' servers move their follow there (Mastodon's account migration).

use serde::Serialize;

use super::Envelope;
use crate::activitystreams::PUBLIC;

/// The Move herald sends once to every follower.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// Its id is unique per target.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The account itself (what moves).
    pub object: String,
    /// Where to.
    pub target: String,
    /// Public.
    pub to: [&'static str; 1],
}

impl Move {
    /// The Move of `actor` to `target`; `tag` makes the id unique per target.
    pub fn of(actor: &str, target: &str, tag: &str) -> Self {
        Self {
            envelope: Envelope::new("Move", format!("{actor}#moves/{tag}"), actor),
            object: actor.to_owned(),
            target: target.to_owned(),
            to: [PUBLIC],
        }
    }
}
