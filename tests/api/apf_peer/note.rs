//! Notes: herald's articles, and bob's reply to one.
//! <https://www.w3.org/ns/activitystreams#Note>

use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::object::NoteType;
use activitypub_federation::kinds::public;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::person::DbUser;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    #[serde(rename = "type")]
    kind: NoteType,
    pub id: Url,
    pub attributed_to: ObjectId<DbUser>,
    #[serde(deserialize_with = "deserialize_one_or_many")]
    pub to: Vec<Url>,
    #[serde(default, deserialize_with = "deserialize_one_or_many")]
    pub cc: Vec<Url>,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    pub published: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
}

impl Note {
    /// A public reply by `author` to `parent`, addressed to its author too.
    pub fn reply(id: Url, author: ObjectId<DbUser>, parent: &Note, content: &str) -> Note {
        Note {
            kind: NoteType::Note,
            id,
            attributed_to: author,
            to: vec![public()],
            cc: vec![parent.attributed_to.inner().clone()],
            content: content.to_owned(),
            in_reply_to: Some(parent.id.clone()),
            url: None,
            published: Utc::now(),
            updated: None,
        }
    }
}
