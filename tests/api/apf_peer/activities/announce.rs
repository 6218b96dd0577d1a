//! <https://www.w3.org/ns/activitystreams#Announce>: bob boosts one of herald's Notes.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::AnnounceType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Announce {
    pub actor: ObjectId<DbUser>,
    pub object: Url,
    #[serde(deserialize_with = "deserialize_one_or_many")]
    pub to: Vec<Url>,
    #[serde(default, deserialize_with = "deserialize_one_or_many")]
    pub cc: Vec<Url>,
    #[serde(rename = "type")]
    kind: AnnounceType,
    pub id: Url,
}

impl Announce {
    pub fn new(actor: ObjectId<DbUser>, object: Url, to: Vec<Url>, cc: Vec<Url>, id: Url) -> Announce {
        Announce { actor, object, to, cc, kind: AnnounceType::Announce, id }
    }
}

#[async_trait::async_trait]
impl Activity for Announce {
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
        Err(super::not_received("Announce"))
    }
}
