//! Actors as bob's instance knows them: bob himself (with his private key)
//! and herald's account, fetched and cached. <https://www.w3.org/ns/activitystreams#Person>

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::http_signatures::generate_actor_keypair;
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::protocol::verification::{verify_domains_match, verify_urls_match};
use activitypub_federation::traits::{Actor, Object};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::instance::{Error, Handle};

/// An actor in bob's "database".
#[derive(Clone, Debug)]
pub struct DbUser {
    pub name: String,
    pub ap_id: ObjectId<DbUser>,
    pub inbox: Url,
    pub shared_inbox: Option<Url>,
    public_key: String,
    // Only bob's own.
    private_key: Option<String>,
    last_refreshed_at: DateTime<Utc>,
}

impl DbUser {
    /// A local user `name` on `domain` (`host:port`), with a fresh keypair.
    pub fn local(name: &str, domain: &str) -> Result<DbUser, Error> {
        let keypair = generate_actor_keypair()?;
        Ok(DbUser {
            name: name.to_owned(),
            ap_id: Url::parse(&format!("http://{domain}/{name}"))?.into(),
            inbox: Url::parse(&format!("http://{domain}/{name}/inbox"))?,
            shared_inbox: None,
            public_key: keypair.public_key,
            private_key: Some(keypair.private_key),
            last_refreshed_at: Utc::now(),
        })
    }
}

/// The actor types FEDERATION.md says herald's account may have, and bob's.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum ActorKind {
    Person,
    Service,
    Organization,
    Application,
    Group,
}

impl Person {
    /// The actor's id.
    pub fn id(&self) -> &Url {
        self.id.inner()
    }

    /// Its public key, PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key.public_key_pem
    }
}

/// An actor document.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[serde(rename = "type")]
    kind: ActorKind,
    id: ObjectId<DbUser>,
    preferred_username: String,
    inbox: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoints: Option<Endpoints>,
    public_key: PublicKey,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    shared_inbox: Url,
}

#[async_trait::async_trait]
impl Object for DbUser {
    type DataType = Handle;
    type Kind = Person;
    type Error = Error;

    fn id(&self) -> &Url {
        self.ap_id.inner()
    }

    fn last_refreshed_at(&self) -> Option<DateTime<Utc>> {
        Some(self.last_refreshed_at)
    }

    async fn read_from_id(object_id: Url, data: &Data<Self::DataType>) -> Result<Option<Self>, Self::Error> {
        if *data.bob.ap_id.inner() == object_id {
            return Ok(Some(data.bob.clone()));
        }
        Ok(data.actors.lock().unwrap().iter().find(|u| *u.ap_id.inner() == object_id).cloned())
    }

    async fn into_json(self, _data: &Data<Self::DataType>) -> Result<Self::Kind, Self::Error> {
        Ok(Person {
            kind: ActorKind::Person,
            id: self.ap_id.clone(),
            preferred_username: self.name.clone(),
            inbox: self.inbox.clone(),
            endpoints: None,
            public_key: self.public_key(),
        })
    }

    async fn verify(json: &Self::Kind, expected_domain: &Url, _data: &Data<Self::DataType>) -> Result<(), Self::Error> {
        verify_domains_match(json.id.inner(), expected_domain)?;
        verify_urls_match(&json.public_key.owner, json.id.inner())?;
        Ok(())
    }

    async fn from_json(json: Self::Kind, data: &Data<Self::DataType>) -> Result<Self, Self::Error> {
        let user = DbUser {
            name: json.preferred_username,
            ap_id: json.id,
            inbox: json.inbox,
            shared_inbox: json.endpoints.map(|e| e.shared_inbox),
            public_key: json.public_key.public_key_pem,
            private_key: None,
            last_refreshed_at: Utc::now(),
        };
        let mut actors = data.actors.lock().unwrap();
        actors.retain(|u| u.ap_id != user.ap_id);
        actors.push(user.clone());
        Ok(user)
    }
}

impl Actor for DbUser {
    fn public_key_pem(&self) -> &str {
        &self.public_key
    }

    fn private_key_pem(&self) -> Option<String> {
        self.private_key.clone()
    }

    fn inbox(&self) -> Url {
        self.inbox.clone()
    }

    fn shared_inbox(&self) -> Option<Url> {
        self.shared_inbox.clone()
    }
}
