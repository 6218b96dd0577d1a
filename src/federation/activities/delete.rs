//! `Delete` received: of the sender's own actor (it stops following), or of
//! a reply (no longer counted).

use serde::Deserialize;

use super::Reference;

/// A Delete as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delete {
    /// Its id.
    pub id: String,
    /// Who deletes.
    pub actor: Reference,
    /// What: an actor or object id, or a Tombstone with the id.
    pub object: Reference,
}
