//! What publishing sends: the activity for each change to an article.

use crate::article::Article;
use crate::config::{Account, Channel};
use crate::render::note;
use crate::store::{Change, Outgoing};

/// The activity announcing `change` of `article` (at `revision`) to followers.
pub fn activity(channel: &Channel, account: &Account, change: Change, article: &Article, revision: i64) -> Outgoing {
    let (kind, doc) = match change {
        Change::Created => ("Create", note::create(channel, account, article)),
        Change::Updated => ("Update", note::update(channel, account, article, revision)),
        Change::Retracted => ("Delete", note::delete(channel, account, article, revision)),
    };
    Outgoing {
        id: doc["id"].as_str().unwrap_or_default().to_owned(),
        kind,
        article_id: Some(article.id.to_string()),
        body: doc.to_string(),
    }
}
