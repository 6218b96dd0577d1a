//! <https://www.w3.org/ns/activitystreams#Create>: herald publishes an
//! article's Note; bob replies to one.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::CreateType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::protocol::verification::{verify_domains_match, verify_urls_match};
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::note::Note;
use super::super::person::DbUser;
use super::Inbound;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Create {
    pub actor: ObjectId<DbUser>,
    #[serde(deserialize_with = "deserialize_one_or_many")]
    pub to: Vec<Url>,
    #[serde(default, deserialize_with = "deserialize_one_or_many")]
    pub cc: Vec<Url>,
    pub object: Note,
    #[serde(rename = "type")]
    kind: CreateType,
    pub id: Url,
}

impl Create {
    pub fn new(note: Note, id: Url) -> Create {
        Create {
            actor: note.attributed_to.clone(),
            to: note.to.clone(),
            cc: note.cc.clone(),
            object: note,
            kind: CreateType::Create,
            id,
        }
    }
}

#[async_trait::async_trait]
impl Activity for Create {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    /// The Note is the actor's own, on the actor's server.
    async fn verify(&self, _data: &Data<Handle>) -> Result<(), Error> {
        verify_urls_match(self.object.attributed_to.inner(), self.actor.inner())?;
        verify_domains_match(&self.object.id, self.actor.inner())?;
        Ok(())
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        data.record(Inbound::Create(self));
        Ok(())
    }
}
