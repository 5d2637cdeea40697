//! A typed client for the Kong Admin API (Kong Gateway 3.x, DB mode or hybrid control plane):
//! exactly the entities Gatekey uses, with Kong's error bodies decoded into [`KongError`],
//! timeouts on every call, an optional admin token header, a custom CA and client certificate,
//! and retries of idempotent calls only.
//!
//! The contract it is written against is `../shared/kong-admin-contract.md`; the tests in
//! `tests/contract.rs` run against the simulator and, with `KONG_ADMIN_URL`, a real Kong.

mod client;
mod error;
mod model;

pub use client::{AdminAuth, KongClient, KongConfig};
pub use error::KongError;
pub use model::{
    Acl, Consumer, KeyAuth, ListQuery, NewAcl, NewConsumer, NewKeyAuth, NewPlugin, NodeInfo,
    NodeStatus, Page, Plugin, Route, Service, TagFilter,
};
