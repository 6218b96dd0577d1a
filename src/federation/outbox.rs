//! What publishing sends: the activity for each change to an article.

use crate::article::Article;
use crate::config::{Account, Channel};
use crate::render::note;
use crate::store::{Change, Outgoing};

/// [`activity`] as the store's `Activities` callback: what publishing, the
/// scheduler and the API queue for each change.
pub fn activities<'a>(
    channel: &'a Channel,
    account: &'a Account,
) -> impl Fn(Change, &Article, i64) -> Option<Outgoing> + Send + Sync + 'a {
    move |change, article, revision| Some(activity(channel, account, change, article, revision))
}

/// The activity announcing `change` of `article` (at `revision`) to followers.
pub fn activity(channel: &Channel, account: &Account, change: Change, article: &Article, revision: i64) -> Outgoing {
    fn outgoing<T: serde::Serialize>(article: &Article, activity: note::NoteActivity<T>) -> Outgoing {
        let body = serde_json::to_string(&activity).expect("serializing a Note activity to memory cannot fail");
        Outgoing::new(activity.id, activity.kind, Some(article.id.to_string()), body)
    }
    match change {
        Change::Created => outgoing(article, note::create(channel, account, article)),
        Change::Updated => outgoing(article, note::update(channel, account, article, revision)),
        Change::Retracted => outgoing(article, note::delete(channel, account, article, revision)),
    }
}
