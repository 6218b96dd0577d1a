//! `Update`: received for an edited reply (its count follows what it now
//! replies to); sent for the account's actor when its profile or key
//! changes, so that remote servers refresh it at once.

use serde::{Deserialize, Serialize};

use super::create::Posted;
use super::{Envelope, Reference};
use crate::activitystreams::PUBLIC;

/// An Update as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update {
    /// Its id.
    pub id: String,
    /// Who updated the object.
    pub actor: Reference,
    /// The object as it is now.
    pub object: Posted,
}

/// The Update of the account's actor that herald sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorUpdate {
    /// Its id is unique per version of the actor.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// Public.
    pub to: [&'static str; 1],
    /// The actor document, without its `@context`.
    pub object: serde_json::Value,
}

impl ActorUpdate {
    /// The Update of `actor_doc` (the actor as served), for its version `version`.
    pub fn of(actor_doc: &serde_json::Value, actor: &str, version: &str) -> Self {
        let mut object = actor_doc.clone();
        if let Some(map) = object.as_object_mut() {
            map.remove("@context");
        }
        Self { envelope: Envelope::new("Update", format!("{actor}#updates/{version}"), actor), to: [PUBLIC], object }
    }
}
