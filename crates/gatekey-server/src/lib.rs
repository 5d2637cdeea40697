//! The Gatekey HTTP service: axum routes over the adapters (token verifier, Kong client, MongoDB
//! store) and the pure policy in `gatekey-core`. `main.rs` is a thin CLI around [`startup`].

pub mod catalog;
pub mod config;
pub mod denials;
pub mod docs;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod issuing;
pub mod limits;
pub mod metrics;
pub mod proxy_secret;
pub mod reconciler;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod unread_body;
