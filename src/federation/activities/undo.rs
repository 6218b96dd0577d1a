//! `Undo` of a Follow, Like or Announce. It is resolved by what it undoes:
//! an embedded activity is checked against what herald stored under its id,
//! an id-only object is looked up among the activities herald received from
//! that same actor; an Undo of anything unknown changes nothing.

use serde::Deserialize;

use super::Reference;

/// An Undo as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Undo {
    /// Its id.
    pub id: String,
    /// Who takes something back.
    pub actor: Reference,
    /// What is undone.
    pub object: Undone,
}

/// The object of an Undo.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Undone {
    /// The undone activity inline (Mastodon does this).
    Activity(Embedded),
    /// Only the undone activity's id (some servers do this).
    Id(String),
}

/// An undone activity, inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Embedded {
    /// Its id, if it has one.
    #[serde(default)]
    pub id: Option<String>,
    /// `Follow`, `Like`, `Announce`…
    #[serde(rename = "type")]
    pub kind: String,
    /// Who did it: must be the Undo's actor.
    #[serde(default)]
    pub actor: Option<Reference>,
    /// What it was about.
    #[serde(default)]
    pub object: Option<Reference>,
}
