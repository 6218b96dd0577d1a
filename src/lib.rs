//! herald: a feed syndication publisher. A newsroom writes an article once;
//! herald publishes it as RSS 2.0, Atom 1.0 and JSON Feed, and as
//! ActivityPub Notes from one federated account, all from one article model.
//!
//! Data flows one way: [`content`] (files) → [`store`] (database) →
//! [`render`] (pure) → [`http`] (readers), [`federation`] (inboxes) and
//! [`websub`] (subscribers), the last two through the durable delivery queue. [`activitystreams`] is the leaf
//! vocabulary both sides share, [`article`] and [`media`] the model;
//! [`startup`] wires a server together and [`cli`] is the command line.

pub mod activitystreams;
pub mod api;
pub mod article;
pub mod cli;
pub mod config;
pub mod content;
pub mod error;
pub mod federation;
pub mod http;
pub mod import;
pub mod media;
pub mod metrics;
pub mod publish;
pub mod render;
pub mod startup;
pub mod store;
pub mod websub;
