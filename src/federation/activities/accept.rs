//! `Accept` of a Follow: sent to the follower's inbox.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::follow::Follow;
use super::Envelope;

/// The Accept herald sends for a Follow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accept {
    /// Its id derives from the Follow's and the time it was accepted: a
    /// Follow id reused after an Undo (Misskey does) gets a new Accept;
    /// redeliveries of one Follow are filtered by the inbox before this.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The Follow, as received.
    pub object: Follow,
}

impl Accept {
    /// The Accept of `follow` by the account `actor`, accepted at `at`.
    pub fn of(actor: &str, follow: Follow, at: DateTime<Utc>) -> Self {
        let hash = hex::encode(&Sha256::digest(follow.id.as_bytes())[..12]);
        let id = format!("{actor}#accepts/follows/{hash}/{}", at.timestamp_micros());
        Self { envelope: Envelope::new("Accept", id, actor), object: follow }
    }
}
