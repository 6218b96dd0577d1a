//! The inbox (personal and shared): verify, then act.
//!
//! Every activity must carry a valid HTTP Signature from a key owned by the
//! activity's `actor`, on the same host; nothing is stored otherwise.
//! `Follow` stores a follower and queues a signed `Accept`; `Undo(Follow)`
//! and `Delete` of an actor remove it; `Like`, `Announce` and replies to our
//! Notes are counted; anything else is accepted and ignored.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use url::Url;

use super::client::{Client, FetchError, RemoteActor};
use super::signature::{self, SignatureError};
use crate::config::Settings;
use crate::error::StoreError;
use crate::render::note;
use crate::store::{Outgoing, RemoteActorRow, Store};

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
    let activity: Value =
        serde_json::from_slice(body).map_err(|e| InboxError::BadRequest(format!("the body is not JSON: {e}")))?;
    let actor_id = id_of(&activity["actor"]).ok_or_else(|| InboxError::BadRequest("no actor".into()))?;
    let actor_url = Url::parse(&actor_id).map_err(|e| InboxError::BadRequest(format!("actor is not a URL: {e}")))?;
    let key_url = Url::parse(&params.key_id).map_err(|_| InboxError::Unauthorized("keyId is not a URL".into()))?;
    if key_url.host_str() != actor_url.host_str() {
        return Err(InboxError::Unauthorized(format!("keyId {} is not on the actor's host", params.key_id)));
    }
    let actor = verified_actor(inbox, &actor_url, path, headers, body).await?;
    // The host answers again: deliveries to it resume.
    inbox.store.record_host_success(actor_url.host_str().unwrap_or_default()).await?;
    let kind = activity["type"].as_str().unwrap_or_default();
    tracing::info!(kind, actor = %actor.id, "activity received");
    let now = Utc::now();
    match kind {
        "Follow" => follow(inbox, &actor, &activity, now).await?,
        "Undo" => {
            let object = &activity["object"];
            let undone_follow = object["type"] == "Follow" || object.is_string();
            let by_follower = object["actor"].as_str().is_none_or(|a| a == actor_id);
            if undone_follow && by_follower {
                inbox.store.remove_follower(&actor_id).await?;
            }
        }
        "Delete" if id_of(&activity["object"]).as_deref() == Some(actor_id.as_str()) => {
            inbox.store.remove_follower(&actor_id).await?;
        }
        "Like" | "Announce" => {
            if let Some(article) = our_article(inbox, id_of(&activity["object"])) {
                let kind = if kind == "Like" { "like" } else { "announce" };
                let id = id_of(&activity["id"]).unwrap_or_default();
                inbox.store.record_interaction(&id, &article, kind, &actor_id, now).await?;
            }
        }
        "Create" => {
            let object = &activity["object"];
            if let Some(article) = our_article(inbox, id_of(&object["inReplyTo"])) {
                let id = id_of(&object["id"]).or_else(|| id_of(&activity["id"])).unwrap_or_default();
                inbox.store.record_interaction(&id, &article, "reply", &actor_id, now).await?;
            }
        }
        _ => {}
    }
    Ok(StatusCode::ACCEPTED)
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

async fn follow(inbox: &Inbox, actor: &RemoteActorRow, activity: &Value, now: DateTime<Utc>) -> Result<(), InboxError> {
    let account = &inbox.settings.account;
    if id_of(&activity["object"]).as_deref() != Some(account.actor.as_str()) {
        return Ok(());
    }
    let follow_id = id_of(&activity["id"]).ok_or_else(|| InboxError::BadRequest("a Follow needs an id".into()))?;
    let mut object = activity.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("@context");
        map.remove("signature");
    }
    // One Accept per Follow id, so a repeated delivery of the same Follow is idempotent.
    let hash = hex::encode(&Sha256::digest(follow_id.as_bytes())[..12]);
    let accept = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{}#accepts/follows/{hash}", account.actor),
        "type": "Accept",
        "actor": account.actor,
        "object": object,
    });
    let accept = Outgoing {
        id: accept["id"].as_str().unwrap_or_default().to_owned(),
        kind: "Accept",
        article_id: None,
        body: accept.to_string(),
    };
    inbox.store.add_follower(actor, &follow_id, &accept, now).await?;
    inbox.notify.notify_waiters();
    Ok(())
}

/// The article id behind one of our Note ids (or article URLs).
fn our_article(inbox: &Inbox, object: Option<String>) -> Option<String> {
    let object = object?;
    let prefix = inbox.settings.channel.url("notes/");
    let key = object.strip_prefix(prefix.as_str())?;
    note::article_id_of(key.split(['/', '#']).next()?).map(|id| id.to_string())
}

/// The id of an object given inline or by reference.
fn id_of(value: &Value) -> Option<String> {
    value.as_str().or_else(|| value["id"].as_str()).map(str::to_owned)
}
