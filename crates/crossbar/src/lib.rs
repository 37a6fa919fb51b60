//! crossbar, the application: config, the HTTP surface, the request path, upstream clients.
//!
//! The request path, in the order a request meets it:
//! `ingress::<protocol>` (extract, read only what routing needs) → `pipeline::handle`
//! (route → attempt) → `pipeline::relay` (same protocol: bytes through, usage sniffed) or
//! `pipeline::translate` (decode → canonical → encode, streams via the protocol crate's
//! state machines) → `upstream` (pooled client per provider, auth, timeouts).

pub mod accounts;
pub mod admin;
pub mod agents;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod failure;
pub mod fleet;
pub mod gateway_key;
pub mod health_check;
pub mod ingress;
pub mod limits;
pub mod pipeline;
pub mod redis_conn;
pub mod routing;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod upstream;
pub mod usage;
