//! <https://www.w3.org/ns/activitystreams#Undo>: bob takes back a Follow,
//! Like or Announce, embedding it whole as Lemmy and Mastodon do.

use std::fmt::Debug;

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::UndoType;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Undo<A> {
    pub actor: ObjectId<DbUser>,
    pub object: A,
    #[serde(rename = "type")]
    kind: UndoType,
    pub id: Url,
}

impl<A: Activity> Undo<A> {
    /// Undoes `object`, by its own actor.
    pub fn new(object: A, id: Url) -> Undo<A> {
        Undo { actor: object.actor().clone().into(), object, kind: UndoType::Undo, id }
    }
}

#[async_trait::async_trait]
impl<A> Activity for Undo<A>
where
    A: Activity + Debug + Send + Sync,
{
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, _data: &Data<Handle>) -> Result<(), Error> {
        Ok(())
    }

    async fn receive(self, _data: &Data<Handle>) -> Result<(), Error> {
        Err(super::not_received("Undo"))
    }
}
