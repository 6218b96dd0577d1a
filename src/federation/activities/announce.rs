//! `Announce` (a boost) of one of the account's Notes: counted in its `shares`.

use serde::Deserialize;

use super::Reference;

/// An Announce as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Announce {
    /// Its id, remembered so that an Undo naming it only by id resolves.
    pub id: String,
    /// Who boosts.
    pub actor: Reference,
    /// The Note boosted.
    pub object: Reference,
}
