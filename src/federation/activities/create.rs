//! `Create` of an object: a reply to one of the account's Notes is counted
//! in its `replies`; anything else is ignored.

use serde::Deserialize;

use super::Reference;

/// A Create as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Create {
    /// Its id.
    pub id: String,
    /// Who created the object.
    pub actor: Reference,
    /// The object, inline (a Note) or by id.
    pub object: Posted,
}

/// The object of a Create or Update: what herald needs of a post.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Posted {
    /// Inline.
    Object(Post),
    /// By id only: herald does not fetch it.
    Id(String),
}

/// A post (Note, Article, Question…), as far as replies go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    /// Its id: a reply is recorded under it.
    pub id: String,
    /// What it replies to.
    #[serde(default)]
    pub in_reply_to: Option<Reference>,
}

impl Posted {
    /// The post, when given inline.
    pub fn post(&self) -> Option<&Post> {
        match self {
            Posted::Object(post) => Some(post),
            Posted::Id(_) => None,
        }
    }
}
