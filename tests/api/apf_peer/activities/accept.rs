//! <https://www.w3.org/ns/activitystreams#Accept>: herald accepts bob's Follow.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::AcceptType;
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;
use super::follow::Follow;
use super::Inbound;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accept {
    pub actor: ObjectId<DbUser>,
    /// The Follow, embedded as Mastodon and herald send it.
    pub object: Follow,
    #[serde(rename = "type")]
    kind: AcceptType,
    pub id: Url,
}

#[async_trait::async_trait]
impl Activity for Accept {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    /// Only the followed actor accepts, and only a Follow by bob.
    async fn verify(&self, data: &Data<Handle>) -> Result<(), Error> {
        verify_urls_match(self.actor.inner(), self.object.object.inner())?;
        verify_urls_match(self.object.actor.inner(), data.bob.ap_id.inner())?;
        Ok(())
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        data.record(Inbound::Accept(self));
        Ok(())
    }
}
