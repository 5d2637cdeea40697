//! A typed client for the Kong Admin API (Kong Gateway 3.x OSS, DB mode or a hybrid control
//! plane): exactly the entities Gatekey mints and checks (consumers, key-auth credentials, ACL
//! groups, consumer plugins, services, routes, plugins), Kong's error bodies decoded into one
//! [`KongError`], a deadline on every call, retries of idempotent calls only (with backoff and
//! jitter, within the caller's deadline), `PUT` creates to ids the caller derives
//! ([`EntityIds`]) so a mint's writes can be repeated safely, and the transport options a
//! protected Admin API needs (header token, extra CA, client certificate).
//!
//! Secrets (the admin token, credential keys, the client private key) have redacting `Debug`
//! output and never appear in log lines or decoded errors.
//!
//! The contract it is written against is `shared/kong-admin-contract.md`; `tests/contract.rs`
//! runs against the in-repo simulator and, when `KONG_ADMIN_URL` is set, against a real Kong.

mod client;
mod config;
mod error;
pub mod http_log;
mod ids;
mod model;
mod path;
mod rate_limiting;

pub use client::KongClient;
pub use config::{AdminAuth, KongConfig};
pub use error::KongError;
pub use ids::EntityIds;
pub use model::{
    Acl, Consumer, DatabaseStatus, EntityRef, KeyAuth, ListQuery, NewAcl, NewConsumer, NewKeyAuth,
    NewPlugin, NodeConfiguration, NodeInfo, NodeStatus, Page, Plugin, Route, Service, TagFilter,
};
pub use rate_limiting::{CounterPolicy, RateLimitWindows, RedisCounters, rate_limiting_plugin};
