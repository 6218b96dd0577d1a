//! herald's integration tests: one binary, the real server on 127.0.0.1:0,
//! a real SQLite file in a temporary directory, the real `herald` binary for
//! CLI tests, and independent validators (feedparser, jing).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod apf_peer;
mod api;
mod cli;
mod common;
mod copy;
mod crash;
mod deploy;
mod federation;
mod feeds;
mod golden;
mod history;
mod import;
mod inbox;
mod instances;
mod interop;
mod latency;
mod media;
mod ops;
mod pg;
mod publish;
mod queue;
mod schedule;
mod store;
mod validators;
mod websub;
