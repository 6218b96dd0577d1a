//! <https://www.w3.org/ns/activitystreams#Update>: herald edits an article's Note.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::UpdateType;
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
pub struct Update {
    pub actor: ObjectId<DbUser>,
    #[serde(deserialize_with = "deserialize_one_or_many")]
    pub to: Vec<Url>,
    #[serde(default, deserialize_with = "deserialize_one_or_many")]
    pub cc: Vec<Url>,
    pub object: Note,
    #[serde(rename = "type")]
    kind: UpdateType,
    pub id: Url,
}

#[async_trait::async_trait]
impl Activity for Update {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    /// Only the Note's author updates it.
    async fn verify(&self, _data: &Data<Handle>) -> Result<(), Error> {
        verify_urls_match(self.object.attributed_to.inner(), self.actor.inner())?;
        verify_domains_match(&self.object.id, self.actor.inner())?;
        Ok(())
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        data.record(Inbound::Update(self));
        Ok(())
    }
}
