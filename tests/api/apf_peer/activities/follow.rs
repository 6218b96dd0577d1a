//! <https://www.w3.org/ns/activitystreams#Follow>: bob follows herald's account.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::FollowType;
use activitypub_federation::traits::Activity;
use serde::{Deserialize, Serialize};
use url::Url;

use super::super::instance::{Error, Handle};
use super::super::person::DbUser;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Follow {
    pub actor: ObjectId<DbUser>,
    pub object: ObjectId<DbUser>,
    #[serde(rename = "type")]
    kind: FollowType,
    pub id: Url,
}

impl Follow {
    pub fn new(actor: ObjectId<DbUser>, object: ObjectId<DbUser>, id: Url) -> Follow {
        Follow { actor, object, kind: FollowType::Follow, id }
    }
}

#[async_trait::async_trait]
impl Activity for Follow {
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
        Err(super::not_received("Follow"))
    }
}
