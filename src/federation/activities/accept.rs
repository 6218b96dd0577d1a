//! `Accept` of a Follow: sent to the follower's inbox.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::follow::Follow;
use super::Envelope;

/// The Accept herald sends for a Follow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accept {
    /// Its id derives from the Follow's: one Accept per Follow, however
    /// often the Follow is delivered.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The Follow, as received.
    pub object: Follow,
}

impl Accept {
    /// The Accept of `follow` by the account `actor`.
    pub fn of(actor: &str, follow: Follow) -> Self {
        let hash = hex::encode(&Sha256::digest(follow.id.as_bytes())[..12]);
        Self { envelope: Envelope::new("Accept", format!("{actor}#accepts/follows/{hash}"), actor), object: follow }
    }
}
