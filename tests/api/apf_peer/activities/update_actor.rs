//! <https://www.w3.org/ns/activitystreams#Update> of an actor: herald's
//! profile or key changed. bob stores the new actor, key included, as a
//! Lemmy instance would.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::UpdateType;
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::{Activity, Object};
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::{DbUser, Person};
use super::Inbound;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateActor {
    pub actor: ObjectId<DbUser>,
    pub object: Person,
    #[serde(rename = "type")]
    kind: UpdateType,
    pub id: Url,
}

#[async_trait::async_trait]
impl Activity for UpdateActor {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    /// An actor updates itself only.
    async fn verify(&self, data: &Data<Handle>) -> Result<(), Error> {
        verify_urls_match(self.object.id(), self.actor.inner())?;
        DbUser::verify(&self.object, self.actor.inner(), data).await
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        DbUser::from_json(self.object.clone(), data).await?;
        data.record(Inbound::UpdateActor(self));
        Ok(())
    }
}
