//! `Like` of one of the account's Notes: counted in the Note's `likes`.

use serde::Deserialize;

use super::Reference;

/// A Like as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Like {
    /// Its id, remembered so that an Undo naming it only by id resolves.
    pub id: String,
    /// Who likes.
    pub actor: Reference,
    /// The Note liked.
    pub object: Reference,
}
