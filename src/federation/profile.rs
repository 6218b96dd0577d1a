//! Telling followers when the account changes, as Mastodon does on a profile
//! edit: when the actor document (name, summary, icon, header, aliases,
//! `discoverable`/`indexable`, key…) differs from the one followers were last
//! sent — a new configuration at start, or `herald key rotate` — an `Update`
//! of the actor goes to every follower inbox, once. When
//! `federation.moved_to` is set, a `Move` goes out once per target.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::activities::moved::Move;
use super::activities::update::ActorUpdate;
use super::actor;
use crate::config::Settings;
use crate::error::StoreError;
use crate::store::{Outgoing, Store};

/// `account_state` names.
const ACTOR_VERSION: &str = "actor_version";
const MOVED_TO: &str = "moved_to";

/// What [`announce_changes`] queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Announced {
    /// Jobs of an `Update` of the actor.
    pub update: u64,
    /// Jobs of a `Move`.
    pub moved: u64,
}

/// Queues an `Update` of the actor if it changed since followers last heard
/// of it, and a `Move` if the account moved to a new target. On the first
/// start the actor's version is only recorded. `retired_key` is the key a
/// rotation just retired: the Update is signed with it, since followers'
/// servers hold that key (Lemmy, for one, does not refetch an actor for a
/// day), and learn the new one from the Update itself.
#[tracing::instrument(skip_all, err)]
pub async fn announce_changes(
    store: &Store,
    settings: &Settings,
    retired_key: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Announced, StoreError> {
    let (channel, account) = (&settings.channel, &settings.account);
    let Some((key, _)) = store.actor_key().await? else { return Ok(Announced::default()) };
    let created = store.account_created().await?.unwrap_or_else(Utc::now);
    let doc = actor::actor(channel, account, &key.public_pem, created);
    let version = short_hash(doc.to_string().as_bytes());
    let update = ActorUpdate::of(&doc, account.actor.as_str(), &version);
    let mut announced = Announced {
        update: store
            .announce_once(
                ACTOR_VERSION,
                &version,
                false,
                &Outgoing { signing_key: retired_key, ..outgoing("Update", &update.envelope.id, &update)? },
                now,
            )
            .await?,
        moved: 0,
    };
    if let Some(target) = &account.moved_to {
        let moved = Move::of(account.actor.as_str(), target.as_str(), &short_hash(target.as_str().as_bytes()));
        announced.moved = store
            .announce_once(MOVED_TO, target.as_str(), true, &outgoing("Move", &moved.envelope.id, &moved)?, now)
            .await?;
    }
    if announced != Announced::default() {
        tracing::info!(update = announced.update, moved = announced.moved, "account change queued to followers");
    }
    Ok(announced)
}

fn outgoing(kind: &'static str, id: &str, activity: &impl serde::Serialize) -> Result<Outgoing, StoreError> {
    let body = serde_json::to_string(activity)
        .map_err(|e| StoreError::Corrupt { id: id.to_owned(), message: format!("cannot serialize: {e}") })?;
    Ok(Outgoing::new(id.to_owned(), kind, None, body))
}

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}
