//! <https://www.w3.org/ns/activitystreams#Delete>: herald retracts an
//! article; bob deletes his reply.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::DeleteType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::protocol::tombstone::Tombstone;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;
use super::Inbound;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delete {
    pub actor: ObjectId<DbUser>,
    #[serde(default, deserialize_with = "deserialize_one_or_many")]
    pub to: Vec<Url>,
    pub object: Deleted,
    #[serde(rename = "type")]
    kind: DeleteType,
    pub id: Url,
}

/// What a Delete names: a Tombstone (Mastodon, herald) or a bare id.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Deleted {
    Tombstone(Tombstone),
    Id(Url),
}

impl Deleted {
    pub fn id(&self) -> &Url {
        match self {
            Deleted::Tombstone(tombstone) => &tombstone.id,
            Deleted::Id(id) => id,
        }
    }
}

impl Delete {
    pub fn new(actor: ObjectId<DbUser>, object: Url, to: Vec<Url>, id: Url) -> Delete {
        Delete { actor, to, object: Deleted::Tombstone(Tombstone::new(object)), kind: DeleteType::Delete, id }
    }
}

#[async_trait::async_trait]
impl Activity for Delete {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    /// Only objects of the actor's own server.
    async fn verify(&self, _data: &Data<Handle>) -> Result<(), Error> {
        verify_domains_match(self.object.id(), self.actor.inner())?;
        Ok(())
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        data.record(Inbound::Delete(self));
        Ok(())
    }
}
