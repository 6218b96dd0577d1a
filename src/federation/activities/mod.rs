//! The ActivityStreams activities herald reads and sends, one file per
//! type (as in activitypub-federation-rust's `examples/`): serde types, so
//! that a field herald relies on is checked when the document is parsed.
//!
//! Incoming activities parse into [`Incoming`], whose [`Incoming::Ignored`]
//! arm takes every type herald does not act on.

use serde::{Deserialize, Serialize};

pub mod accept;
pub mod announce;
pub mod create;
pub mod delete;
pub mod follow;
pub mod like;
pub mod moved;
pub mod undo;
pub mod update;

/// An object given by its id, or inline with an `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Reference {
    /// `"https://…"`
    Id(String),
    /// `{ "id": "https://…", … }`
    Object {
        /// The object's id.
        id: String,
    },
}

impl Reference {
    /// The id, however it was given.
    pub fn id(&self) -> &str {
        match self {
            Reference::Id(id) | Reference::Object { id } => id,
        }
    }
}

/// An activity received in an inbox, by its `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum Incoming {
    /// Someone follows the account.
    Follow(follow::Follow),
    /// Someone takes back a Follow, Like or Announce.
    Undo(undo::Undo),
    /// Someone likes a Note.
    Like(like::Like),
    /// Someone boosts a Note.
    Announce(announce::Announce),
    /// A new object, perhaps a reply to a Note.
    Create(create::Create),
    /// An edited object, perhaps a reply.
    Update(update::Update),
    /// A deleted object (a reply) or actor.
    Delete(delete::Delete),
    /// Any other type: accepted and ignored.
    #[serde(other)]
    Ignored,
}

impl Incoming {
    /// The activity's id and type name (`None` for an ignored type).
    pub fn id_and_kind(&self) -> Option<(&str, &'static str)> {
        Some(match self {
            Incoming::Follow(a) => (a.id.as_str(), "Follow"),
            Incoming::Undo(a) => (a.id.as_str(), "Undo"),
            Incoming::Like(a) => (a.id.as_str(), "Like"),
            Incoming::Announce(a) => (a.id.as_str(), "Announce"),
            Incoming::Create(a) => (a.id.as_str(), "Create"),
            Incoming::Update(a) => (a.id.as_str(), "Update"),
            Incoming::Delete(a) => (a.id.as_str(), "Delete"),
            Incoming::Ignored => return None,
        })
    }
}

/// What every activity the account sends starts with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// The JSON-LD context.
    #[serde(rename = "@context")]
    pub context: serde_json::Value,
    /// The activity's id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The account's actor id.
    pub actor: String,
}

impl Envelope {
    /// An activity `id` of type `kind` by the account `actor`.
    pub fn new(kind: &'static str, id: String, actor: &str) -> Self {
        Self { context: crate::activitystreams::context(), id, kind, actor: actor.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_ignored_and_known_ones_need_their_fields() {
        let block: Incoming = serde_json::from_str(r#"{"type":"Block","id":"x","actor":"a","object":"b"}"#).unwrap();
        assert!(matches!(block, Incoming::Ignored));
        let like: Incoming =
            serde_json::from_str(r#"{"type":"Like","id":"l","actor":{"id":"a"},"object":"https://n/notes/1"}"#)
                .unwrap();
        assert_eq!(like.id_and_kind(), Some(("l", "Like")));
        let Incoming::Like(like) = like else { panic!() };
        assert_eq!(like.actor.id(), "a");
        assert!(serde_json::from_str::<Incoming>(r#"{"type":"Like","actor":"a","object":"o"}"#).is_err());
    }
}
