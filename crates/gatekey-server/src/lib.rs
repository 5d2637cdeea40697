//! The Gatekey HTTP service: axum routes over the application services (`gatekey-app`), the token
//! verifier and the policy; configuration, startup and shutdown. The `gatekey` binary (crate
//! `gatekey`) is a thin CLI around [`startup`].

pub mod catalog;
pub mod config;
pub mod docs;
pub mod error;
pub mod extract;
pub mod ingest_secret;
pub mod metrics;
pub mod policy;
pub mod policy_file;
pub mod proxy_secret;
pub mod routes;
pub mod secret_digests;
pub mod secret_file;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod unread_body;
