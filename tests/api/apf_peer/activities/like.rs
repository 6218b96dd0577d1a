//! <https://www.w3.org/ns/activitystreams#Like>: bob likes one of herald's Notes.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::LikeType;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Like {
    pub actor: ObjectId<DbUser>,
    pub object: Url,
    #[serde(rename = "type")]
    kind: LikeType,
    pub id: Url,
}

impl Like {
    pub fn new(actor: ObjectId<DbUser>, object: Url, id: Url) -> Like {
        Like { actor, object, kind: LikeType::Like, id }
    }
}

#[async_trait::async_trait]
impl Activity for Like {
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
        Err(super::not_received("Like"))
    }
}
