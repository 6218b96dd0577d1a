//! `Follow`: a remote actor follows the account; herald answers with an
//! [`Accept`](super::accept::Accept).

use serde::{Deserialize, Serialize};

use super::Reference;

/// A Follow as received (and echoed inside the Accept).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Follow {
    /// The Follow's id, remembered to resolve a later Undo.
    pub id: String,
    /// Always `Follow` when serialized.
    #[serde(rename = "type", default = "follow_type")]
    pub kind: String,
    /// Who follows.
    pub actor: Reference,
    /// Whom: the account's actor id.
    pub object: Reference,
}

fn follow_type() -> String {
    "Follow".to_owned()
}
