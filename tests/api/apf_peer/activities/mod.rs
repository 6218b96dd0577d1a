//! One wire type per activity, as in the crate's `examples/local_federation`.
//! bob's inbox takes the five that herald sends; the others bob only sends,
//! so their `receive` refuses.

use activitypub_federation::config::Data;
use activitypub_federation::traits::Activity;
use serde::Deserialize;
use url::Url;

use super::instance::{Error, Handle};

pub mod accept;
pub mod announce;
pub mod create;
pub mod delete;
pub mod follow;
pub mod like;
pub mod undo;
pub mod update;
pub mod update_actor;

/// What bob's inbox accepts. Anything else fails to parse and is recorded
/// as a rejection.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Inbound {
    Accept(accept::Accept),
    Create(create::Create),
    Update(update::Update),
    UpdateActor(update_actor::UpdateActor),
    Delete(delete::Delete),
}

#[async_trait::async_trait]
impl Activity for Inbound {
    type DataType = Handle;
    type Error = Error;

    fn id(&self) -> &Url {
        match self {
            Inbound::Accept(a) => a.id(),
            Inbound::Create(a) => a.id(),
            Inbound::Update(a) => a.id(),
            Inbound::UpdateActor(a) => a.id(),
            Inbound::Delete(a) => a.id(),
        }
    }

    fn actor(&self) -> &Url {
        match self {
            Inbound::Accept(a) => a.actor(),
            Inbound::Create(a) => a.actor(),
            Inbound::Update(a) => a.actor(),
            Inbound::UpdateActor(a) => a.actor(),
            Inbound::Delete(a) => a.actor(),
        }
    }

    async fn verify(&self, data: &Data<Handle>) -> Result<(), Error> {
        match self {
            Inbound::Accept(a) => a.verify(data).await,
            Inbound::Create(a) => a.verify(data).await,
            Inbound::Update(a) => a.verify(data).await,
            Inbound::UpdateActor(a) => a.verify(data).await,
            Inbound::Delete(a) => a.verify(data).await,
        }
    }

    async fn receive(self, data: &Data<Handle>) -> Result<(), Error> {
        match self {
            Inbound::Accept(a) => a.receive(data).await,
            Inbound::Create(a) => a.receive(data).await,
            Inbound::Update(a) => a.receive(data).await,
            Inbound::UpdateActor(a) => a.receive(data).await,
            Inbound::Delete(a) => a.receive(data).await,
        }
    }
}

/// The error of `receive` for an activity bob sends but does not take.
fn not_received(kind: &str) -> Error {
    Error(anyhow::anyhow!("bob sends {kind} activities but does not receive them"))
}
