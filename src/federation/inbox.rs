//! The inbox (personal and shared): verify, then act.
//!
//! Activities from a blocked domain (the signer's host or the actor's)
//! are refused with 403 before anything else, their actor never fetched.
//! Every other activity must carry a valid HTTP Signature, inside Mastodon's
//! replay window, from a key owned by the activity's `actor`, on the same
//! host; nothing is stored otherwise. An activity whose id was already
//! processed changes nothing.
//!
//! `Follow` stores a follower and queues a signed `Accept`; `Undo` takes
//! back a Follow, Like or Announce, resolved by what it undoes; `Delete` of
//! an actor removes it; `Like`, `Announce` and replies to our Notes are
//! counted, and a `Delete` or `Update` of a reply uncounts or moves it;
//! anything else is accepted and ignored.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use url::Url;

use super::activities::accept::Accept;
use super::activities::follow::Follow;
use super::activities::undo::Undone;
use super::activities::{Incoming, Reference};
use super::client::{Client, FetchError, RemoteActor};
use super::delivery;
use super::signature::{self, SignatureError};
use crate::config::Settings;
use crate::error::StoreError;
use crate::render::note;
use crate::store::{InteractionKind, Outgoing, RemoteActorRow, Store};

/// Cached actor documents are refetched after this long.
pub const ACTOR_TTL: TimeDelta = TimeDelta::hours(24);

/// Why an inbox request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The body is not an activity.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The signature is missing or wrong, or its key is not the actor's.
    #[error("signature refused: {0}")]
    Unauthorized(String),
    /// The sender's domain is blocked.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InboxError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            InboxError::BadRequest(_) => StatusCode::BAD_REQUEST,
            InboxError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            InboxError::Forbidden(_) => StatusCode::FORBIDDEN,
            InboxError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<SignatureError> for InboxError {
    fn from(error: SignatureError) -> Self {
        InboxError::Unauthorized(error.to_string())
    }
}

/// What the inbox needs.
#[derive(Clone)]
pub struct Inbox {
    /// The database.
    pub store: Store,
    /// Signed fetches of remote actors.
    pub client: Client,
    /// Settings (account, channel).
    pub settings: Arc<Settings>,
    /// Wakes the delivery workers.
    pub notify: Arc<Notify>,
}

/// Handles one POST to an inbox at `path`.
#[tracing::instrument(skip_all, fields(path), err(level = "info"))]
pub async fn receive(inbox: &Inbox, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<StatusCode, InboxError> {
    let params = signature::signature_params(headers)?;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| InboxError::BadRequest(format!("the body is not JSON: {e}")))?;
    let actor_id = id_of(&value["actor"]).ok_or_else(|| InboxError::BadRequest("no actor".into()))?;
    let actor_url = Url::parse(&actor_id).map_err(|e| InboxError::BadRequest(format!("actor is not a URL: {e}")))?;
    let key_url = Url::parse(&params.key_id).map_err(|_| InboxError::Unauthorized("keyId is not a URL".into()))?;
    let mut hosts: Vec<&str> = [key_url.host_str(), actor_url.host_str()].into_iter().flatten().collect();
    hosts.dedup();
    for host in hosts {
        if inbox.store.is_blocked(host).await? {
            return Err(InboxError::Forbidden(format!("{host} is on a blocked domain")));
        }
    }
    if key_url.host_str() != actor_url.host_str() {
        return Err(InboxError::Unauthorized(format!("keyId {} is not on the actor's host", params.key_id)));
    }
    let actor = verified_actor(inbox, &actor_url, path, headers, body).await?;
    // The host answers again: deliveries to it resume.
    inbox.store.record_host_success(&delivery::host_key(&actor_url)).await?;
    let activity: Incoming = serde_json::from_value(value)
        .map_err(|e| InboxError::BadRequest(format!("not an activity herald can read: {e}")))?;
    let Some((id, kind)) = activity.id_and_kind() else {
        return Ok(StatusCode::ACCEPTED);
    };
    // Mastodon's `invalid_origin?`: an actor speaks for its own host only, so
    // no server can claim (and void) another server's activity ids.
    if !same_host(id, actor_url.as_str()) {
        return Err(InboxError::BadRequest(format!("activity id {id} is not on the actor's host")));
    }
    let now = Utc::now();
    // A replayed or redelivered activity changes nothing.
    if !inbox.store.remember_activity(id, &actor.id, kind, now).await? {
        tracing::info!(kind, id, "activity already processed; ignored");
        return Ok(StatusCode::ACCEPTED);
    }
    tracing::info!(kind, id, actor = %actor.id, "activity received");
    let acted = act(inbox, &actor, &activity, now).await;
    if acted.is_err() {
        // Let a redelivery try again.
        if let Err(error) = inbox.store.forget_activity(id).await {
            tracing::warn!(%error, "could not forget a failed activity");
        }
    }
    acted.map(|()| StatusCode::ACCEPTED)
}

/// What an activity from `actor` (its signer) does.
async fn act(inbox: &Inbox, actor: &RemoteActorRow, activity: &Incoming, now: DateTime<Utc>) -> Result<(), InboxError> {
    let store = &inbox.store;
    let by = actor.id.as_str();
    match activity {
        Incoming::Follow(follow) => self::follow(inbox, actor, follow, now).await?,
        Incoming::Undo(undo) => self::undo(inbox, by, &undo.object, now).await?,
        Incoming::Like(like) => {
            if let Some(article) = our_article(inbox, Some(like.object.id())) {
                store.record_interaction(&like.id, &article, InteractionKind::Like, by, now).await?;
            }
        }
        Incoming::Announce(announce) => {
            if let Some(article) = our_article(inbox, Some(announce.object.id())) {
                store.record_interaction(&announce.id, &article, InteractionKind::Announce, by, now).await?;
            }
        }
        Incoming::Create(create) => {
            if let Some(post) = create.object.post().filter(|p| same_host(&p.id, by)) {
                if let Some(article) = our_article(inbox, post.in_reply_to.as_ref().map(Reference::id)) {
                    store.record_interaction(&post.id, &article, InteractionKind::Reply, by, now).await?;
                }
            }
        }
        Incoming::Update(update) => {
            // A reply edited: it counts for what it replies to now.
            if let Some(post) = update.object.post().filter(|p| same_host(&p.id, by)) {
                let now_replies_to = our_article(inbox, post.in_reply_to.as_ref().map(Reference::id));
                match store.interaction_by(&post.id, by).await? {
                    Some((InteractionKind::Reply, article)) if now_replies_to.as_deref() != Some(article.as_str()) => {
                        store.remove_interaction(by, InteractionKind::Reply, &article, Some(&post.id), now).await?;
                        if let Some(other) = now_replies_to {
                            store.record_interaction(&post.id, &other, InteractionKind::Reply, by, now).await?;
                        }
                    }
                    None => {
                        if let Some(article) = now_replies_to {
                            store.record_interaction(&post.id, &article, InteractionKind::Reply, by, now).await?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Incoming::Delete(delete) => {
            let object = delete.object.id();
            if object == by {
                store.remove_follower(by).await?;
            } else if let Some((InteractionKind::Reply, article)) = store.interaction_by(object, by).await? {
                store.remove_interaction(by, InteractionKind::Reply, &article, Some(object), now).await?;
            }
        }
        Incoming::Ignored => {}
    }
    Ok(())
}

/// Resolves an Undo by what it undoes (see [`super::activities::undo`]).
async fn undo(inbox: &Inbox, by: &str, undone: &Undone, now: DateTime<Utc>) -> Result<(), InboxError> {
    let store = &inbox.store;
    match undone {
        Undone::Id(id) => {
            if store.remove_follow(by, id).await? {
                return Ok(());
            }
            if let Some((kind @ (InteractionKind::Like | InteractionKind::Announce), article)) =
                store.interaction_by(id, by).await?
            {
                store.remove_interaction(by, kind, &article, Some(id), now).await?;
            }
        }
        Undone::Activity(embedded) => {
            // Only one's own activities can be undone.
            if embedded.actor.as_ref().is_some_and(|a| a.id() != by) {
                return Ok(());
            }
            let kind = match embedded.kind.as_str() {
                "Follow" => {
                    let stored = match &embedded.id {
                        Some(id) => store.remove_follow(by, id).await?,
                        None => false,
                    };
                    // The Follow was of the account, by the signer: undoing it
                    // needs no stored id (some servers mint a new one).
                    let of_us =
                        embedded.object.as_ref().is_some_and(|o| o.id() == inbox.settings.account.actor.as_str());
                    if !stored && of_us {
                        store.remove_follower(by).await?;
                    }
                    return Ok(());
                }
                "Like" => InteractionKind::Like,
                "Announce" => InteractionKind::Announce,
                _ => return Ok(()),
            };
            let known = match &embedded.id {
                Some(id) => store.interaction_by(id, by).await?.filter(|(k, _)| *k == kind),
                None => None,
            };
            match known {
                Some((_, article)) => {
                    store.remove_interaction(by, kind, &article, embedded.id.as_deref(), now).await?;
                }
                None => {
                    // Stored under another id: the same actor's interaction
                    // of that kind with that Note.
                    if let Some(article) = our_article(inbox, embedded.object.as_ref().map(Reference::id)) {
                        store.remove_interaction(by, kind, &article, None, now).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Verifies the request with the actor's key: the cached one first, then a
/// fresh fetch (the actor may have rotated its key).
async fn verified_actor(
    inbox: &Inbox,
    actor_url: &Url,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RemoteActorRow, InboxError> {
    let now = Utc::now();
    if let Some(cached) = inbox.store.remote_actor(actor_url.as_str()).await? {
        if now - cached.fetched_at < ACTOR_TTL
            && signature::verify("POST", path, headers, Some(body), &cached.public_pem, now).is_ok()
        {
            return Ok(cached);
        }
    }
    let fetched: RemoteActor = inbox
        .client
        .fetch_actor(actor_url)
        .await
        .map_err(|e: FetchError| InboxError::Unauthorized(format!("cannot fetch the signer's key: {e}")))?;
    if fetched.id != *actor_url {
        return Err(InboxError::Unauthorized("the fetched actor has another id".into()));
    }
    let row = RemoteActorRow {
        id: fetched.id.to_string(),
        inbox: fetched.inbox.to_string(),
        shared_inbox: fetched.shared_inbox.map(|u| u.to_string()),
        key_id: fetched.key_id,
        public_pem: fetched.public_pem,
        fetched_at: now,
    };
    let params = signature::verify("POST", path, headers, Some(body), &row.public_pem, now)?;
    if params.key_id != row.key_id && params.key_id.split('#').next() != Some(row.id.as_str()) {
        return Err(InboxError::Unauthorized("the signing key is not the actor's".into()));
    }
    inbox.store.cache_remote_actor(&row).await?;
    Ok(row)
}

async fn follow(inbox: &Inbox, actor: &RemoteActorRow, follow: &Follow, now: DateTime<Utc>) -> Result<(), InboxError> {
    let account = &inbox.settings.account;
    if follow.object.id() != account.actor.as_str() {
        return Ok(());
    }
    // One Accept per Follow id, so a repeated delivery of the same Follow is idempotent.
    let accept = Accept::of(account.actor.as_str(), follow.clone(), now);
    let accept = Outgoing::new(
        accept.envelope.id.clone(),
        "Accept",
        None,
        serde_json::to_string(&accept).map_err(|e| InboxError::BadRequest(e.to_string()))?,
    );
    inbox.store.add_follower(actor, &follow.id, &accept, now).await?;
    inbox.notify.notify_waiters();
    Ok(())
}

/// The article id behind one of our Note ids.
fn our_article(inbox: &Inbox, object: Option<&str>) -> Option<String> {
    let object = object?;
    let prefix = inbox.settings.channel.url("notes/");
    let key = object.strip_prefix(prefix.as_str())?;
    note::article_id_of(key.split(['/', '#']).next()?).map(|id| id.to_string())
}

/// Whether `id` is a URL on the same host (and port) as the URL `actor`.
fn same_host(id: &str, actor: &str) -> bool {
    let (Ok(id), Ok(actor)) = (Url::parse(id), Url::parse(actor)) else { return false };
    id.host_str() == actor.host_str() && id.port_or_known_default() == actor.port_or_known_default()
}

/// The id of an object given inline or by reference.
fn id_of(value: &Value) -> Option<String> {
    value.as_str().or_else(|| value["id"].as_str()).map(str::to_owned)
}
